/* Key pairs on the token: generation, lookup by URI, deletion, and the public half as an
 * OpenSSL EVP_PKEY (built from CKA_MODULUS/CKA_PUBLIC_EXPONENT or CKA_EC_PARAMS/CKA_EC_POINT). */
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include "hsm/internal.h"

static uint64_t key_serial_counter;

uint64_t hsm_key_next_serial(void)
{
	return __atomic_add_fetch(&key_serial_counter, 1, __ATOMIC_RELAXED);
}

/* Reads one attribute into a new buffer (two-call pattern). */
static CK_RV get_attr(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE obj,
		      CK_ATTRIBUTE_TYPE type, unsigned char **out, size_t *outlen)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv = fl->C_GetAttributeValue(sess, obj, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (a.pValue == NULL)
		return CKR_HOST_MEMORY;
	rv = fl->C_GetAttributeValue(sess, obj, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*out = a.pValue;
	*outlen = a.ulValueLen;
	return CKR_OK;
}

static int rsa_public(const unsigned char *n, size_t nlen, const unsigned char *ex, size_t elen,
		      EVP_PKEY **out, efos_err *e)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL), *bn_e = BN_bin2bn(ex, (int)elen, NULL);
	int ret = -1;

	if (bld == NULL || bn_n == NULL || bn_e == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		efos_fail(e, EFOS_E_INTERNAL, "HSM: cannot build the RSA public key");
		goto out;
	}
	ret = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return ret;
}

/* ec_params: DER OID of a named curve; ec_point: DER OCTET STRING holding the point (or,
 * from some tokens, the bare point). */
static int ec_public(const unsigned char *ec_params, size_t plen, const unsigned char *ec_point,
		     size_t qlen, EVP_PKEY **out, int *nid_out, efos_err *e)
{
	const unsigned char *p = ec_params;
	ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &p, (long)plen);
	ASN1_OCTET_STRING *os = NULL;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;
	int ret = -1;

	int nid = oid ? OBJ_obj2nid(oid) : NID_undef;
	const char *group = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
	if (group == NULL) {
		efos_fail(e, EFOS_E_INVALID, "HSM: EC key on an unnamed or unknown curve");
		goto out;
	}
	p = ec_point;
	os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)qlen);
	if (os != NULL && p == ec_point + qlen) {
		ec_point = os->data;
		qlen = (size_t)os->length;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)ec_point, qlen);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		efos_fail(e, EFOS_E_INTERNAL, "HSM: cannot build the EC public key (%s)", group);
		goto out;
	}
	*nid_out = nid;
	ret = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
	return ret;
}

/* Fills k->pub (and kind details) from the token objects pub_obj / priv_obj. */
static CK_RV load_public(struct hsm *h, struct hsm_session *s, struct hsm_key *k,
			 CK_OBJECT_HANDLE priv_obj, CK_OBJECT_HANDLE pub_obj, bool have_pub, efos_err *e)
{
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	unsigned char *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	CK_RV rv;

	if (k->kind == HSM_KEY_RSA) {
		CK_OBJECT_HANDLE o = have_pub ? pub_obj : priv_obj;
		if ((rv = get_attr(fl, s->handle, o, CKA_MODULUS, &a, &alen)) != CKR_OK ||
		    (rv = get_attr(fl, s->handle, o, CKA_PUBLIC_EXPONENT, &b, &blen)) != CKR_OK)
			goto out;
		if (rsa_public(a, alen, b, blen, &k->pub, e) < 0)
			rv = HSM_RV_FAILED;
	} else {
		if ((rv = get_attr(fl, s->handle, priv_obj, CKA_EC_PARAMS, &a, &alen)) != CKR_OK)
			goto out;
		rv = have_pub ? get_attr(fl, s->handle, pub_obj, CKA_EC_POINT, &b, &blen)
			      : get_attr(fl, s->handle, priv_obj, CKA_EC_POINT, &b, &blen);
		if (rv == CKR_ATTRIBUTE_TYPE_INVALID && !have_pub) {
			efos_fail(e, EFOS_E_NOTFOUND, "HSM: EC key '%s' has no public key object on the token",
				  k->label ? k->label : "");
			rv = HSM_RV_FAILED;
		}
		if (rv != CKR_OK)
			goto out;
		if (ec_public(a, alen, b, blen, &k->pub, &k->curve_nid, e) < 0)
			rv = HSM_RV_FAILED;
	}
	if (rv == CKR_OK)
		k->bits = EVP_PKEY_get_bits(k->pub);
out:
	free(a);
	free(b);
	return rv;
}

static struct hsm_key *key_new(struct hsm *h, enum hsm_key_kind kind)
{
	struct hsm_key *k = calloc(1, sizeof *k);
	if (k != NULL) {
		k->h = h;
		k->kind = kind;
		k->serial = hsm_key_next_serial();
	}
	return k;
}

void hsm_key_free(struct hsm_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pub);
	free(k->id);
	free(k->label);
	free(k);
}

/* ---- generation ---- */

struct keygen_arg {
	const struct hsm_keygen_params *p;
	struct hsm_key *k;
};

static CK_RV keygen_op(struct hsm *h, struct hsm_session *s, void *argp, efos_err *e)
{
	struct keygen_arg *arg = argp;
	const struct hsm_keygen_params *p = arg->p;
	struct hsm_key *k = arg->k;
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE, tok = p->token_object ? CK_TRUE : CK_FALSE;
	CK_ULONG bits = (CK_ULONG)p->bits;
	unsigned char exp[] = { 0x01, 0x00, 0x01 };
	unsigned char *ecparams = NULL;
	CK_OBJECT_HANDLE pub, priv;
	CK_MECHANISM mech = { 0 };
	CK_ULONG label_len = (CK_ULONG)strlen(k->label);
	CK_RV rv;

	CK_ATTRIBUTE pubt[8], privt[10];
	CK_ULONG np = 0, nv = 0;
	pubt[np++] = (CK_ATTRIBUTE){ CKA_TOKEN, &tok, sizeof tok };
	pubt[np++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof yes };
	pubt[np++] = (CK_ATTRIBUTE){ CKA_ID, k->id, k->id_len };
	pubt[np++] = (CK_ATTRIBUTE){ CKA_LABEL, k->label, label_len };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_TOKEN, &tok, sizeof tok };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof yes };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof yes };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &no, sizeof no };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof yes };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_ID, k->id, k->id_len };
	privt[nv++] = (CK_ATTRIBUTE){ CKA_LABEL, k->label, label_len };
	if (p->kind == HSM_KEY_RSA) {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pubt[np++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof bits };
		pubt[np++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, exp, sizeof exp };
		pubt[np++] = (CK_ATTRIBUTE){ CKA_ENCRYPT, &yes, sizeof yes };
		privt[nv++] = (CK_ATTRIBUTE){ CKA_DECRYPT, &yes, sizeof yes };
	} else {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		int len = i2d_ASN1_OBJECT(OBJ_nid2obj(p->curve_nid), &ecparams);
		if (len <= 0) {
			efos_fail(e, EFOS_E_INTERNAL, "HSM: cannot encode the curve OID");
			return HSM_RV_FAILED;
		}
		pubt[np++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, ecparams, (CK_ULONG)len };
	}
	EVP_PKEY_free(k->pub); /* from a first attempt that failed half-way */
	k->pub = NULL;
	rv = fl->C_GenerateKeyPair(s->handle, &mech, pubt, np, privt, nv, &pub, &priv);
	if (rv == CKR_OK)
		rv = load_public(h, s, k, priv, pub, true, e);
	OPENSSL_free(ecparams);
	return rv;
}

int hsm_keygen(struct hsm *h, const struct hsm_keygen_params *p, struct hsm_key **out, efos_err *e)
{
	struct hsm_key *k = NULL;
	*out = NULL;
	if (p->kind == HSM_KEY_RSA && p->bits != 2048 && p->bits != 3072 && p->bits != 4096)
		return efos_fail(e, EFOS_E_INVALID, "HSM keygen: RSA key size must be 2048, 3072 or 4096 (got %d)", p->bits);
	if (p->kind == HSM_KEY_EC && p->curve_nid != NID_X9_62_prime256v1 &&
	    p->curve_nid != NID_secp384r1 && p->curve_nid != NID_secp521r1)
		return efos_fail(e, EFOS_E_INVALID, "HSM keygen: EC curve must be P-256, P-384 or P-521");
	if (p->label == NULL || p->label[0] == '\0')
		return efos_fail(e, EFOS_E_INVALID, "HSM keygen: a label is required");
	k = key_new(h, p->kind);
	if (k == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	k->label = strdup(p->label);
	k->id_len = p->id != NULL ? p->id_len : 16;
	k->id = malloc(k->id_len ? k->id_len : 1);
	if (k->label == NULL || k->id == NULL) {
		hsm_key_free(k);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	if (p->id != NULL)
		memcpy(k->id, p->id, p->id_len);
	else if (RAND_bytes(k->id, (int)k->id_len) != 1) {
		hsm_key_free(k);
		return efos_fail(e, EFOS_E_INTERNAL, "HSM keygen: no randomness for the key id");
	}
	struct keygen_arg arg = { p, k };
	if (hsm_run(h, "key generation", true, keygen_op, &arg, e) < 0) {
		hsm_key_free(k);
		return -1;
	}
	*out = k;
	return 0;
}

/* ---- lookup ---- */

struct find_arg {
	const struct hsm_uri *u;
	struct hsm_key *k;
};

static CK_RV find_op(struct hsm *h, struct hsm_session *s, void *argp, efos_err *e)
{
	struct find_arg *arg = argp;
	const struct hsm_uri *u = arg->u;
	struct hsm_key *k = arg->k;
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt;
	CK_ATTRIBUTE tmpl[3];
	CK_ULONG n = 0, nfound = 0;
	CK_OBJECT_HANDLE found[2], pub = CK_INVALID_HANDLE;
	CK_RV rv, rv2;
	unsigned char *buf = NULL;
	size_t len;

	/* A retry after recovery starts from scratch. */
	free(k->id);
	free(k->label);
	EVP_PKEY_free(k->pub);
	k->id = NULL, k->label = NULL, k->pub = NULL, k->id_len = 0;

	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
	if (u->object)
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, u->object, strlen(u->object) };
	if (u->id)
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, u->id, u->id_len };
	if ((rv = fl->C_FindObjectsInit(s->handle, tmpl, n)) != CKR_OK)
		return rv;
	rv = fl->C_FindObjects(s->handle, found, 2, &nfound);
	rv2 = fl->C_FindObjectsFinal(s->handle);
	if (rv == CKR_OK)
		rv = rv2;
	if (rv != CKR_OK)
		return rv;
	if (nfound == 0) {
		if ((rv = hsm_token_check(h)) != CKR_OK)
			return rv;
		efos_fail(e, EFOS_E_NOTFOUND, "HSM: no private key matches the URI");
		return HSM_RV_FAILED;
	}
	if (nfound > 1) {
		efos_fail(e, EFOS_E_INVALID, "HSM: several private keys match the URI; add id= or object=");
		return HSM_RV_FAILED;
	}

	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof kt };
	if ((rv = fl->C_GetAttributeValue(s->handle, found[0], &a, 1)) != CKR_OK)
		return rv;
	if (kt == CKK_RSA)
		k->kind = HSM_KEY_RSA;
	else if (kt == CKK_EC)
		k->kind = HSM_KEY_EC;
	else {
		efos_fail(e, EFOS_E_INVALID, "HSM: the key is neither RSA nor EC");
		return HSM_RV_FAILED;
	}
	/* Remember the key by its own CKA_ID and label, whatever the URI said. */
	if (get_attr(fl, s->handle, found[0], CKA_ID, &buf, &len) == CKR_OK) {
		k->id = buf;
		k->id_len = len;
	}
	if (get_attr(fl, s->handle, found[0], CKA_LABEL, &buf, &len) == CKR_OK) {
		k->label = strndup((char *)buf, len);
		free(buf);
	}
	if (k->id_len > 0) {
		cls = CKO_PUBLIC_KEY;
		CK_ATTRIBUTE pt[2] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_ID, k->id, k->id_len } };
		nfound = 0;
		if ((rv = fl->C_FindObjectsInit(s->handle, pt, 2)) != CKR_OK)
			return rv;
		rv = fl->C_FindObjects(s->handle, &pub, 1, &nfound);
		rv2 = fl->C_FindObjectsFinal(s->handle);
		if (rv == CKR_OK)
			rv = rv2;
		if (rv != CKR_OK)
			return rv;
	}
	return load_public(h, s, k, found[0], pub, nfound == 1, e);
}

int hsm_key_find(struct hsm *h, const char *key_uri, struct hsm_key **out, efos_err *e)
{
	struct hsm_uri u;
	struct hsm_key *k = NULL;
	int ret = -1;

	*out = NULL;
	if (hsm_uri_parse(key_uri, &u, e) < 0)
		return -1;
	if (u.type != NULL && strcmp(u.type, "private") != 0) {
		efos_fail(e, EFOS_E_INVALID, "HSM key URI: type=%s; a signing key is type=private", u.type);
		goto out;
	}
	if (u.object == NULL && u.id == NULL) {
		efos_fail(e, EFOS_E_INVALID, "HSM key URI names no key: give object= or id=");
		goto out;
	}
	if ((k = key_new(h, HSM_KEY_RSA)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	struct find_arg arg = { &u, k };
	if (hsm_run(h, "key lookup", false, find_op, &arg, e) < 0)
		goto out;
	*out = k;
	k = NULL;
	ret = 0;
out:
	hsm_key_free(k);
	hsm_uri_free(&u);
	return ret;
}

/* ---- deletion ---- */

static CK_RV destroy_op(struct hsm *h, struct hsm_session *s, void *argp, efos_err *e)
{
	struct hsm_key *k = argp;
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	CK_OBJECT_HANDLE obj;
	efos_err ignore;

	hsm_session_forget_key(s, k);
	CK_RV rv = hsm_session_find_key(h, s, k, CKO_PRIVATE_KEY, &obj, e);
	if (rv != CKR_OK)
		return rv;
	hsm_session_forget_key(s, k);
	if ((rv = fl->C_DestroyObject(s->handle, obj)) != CKR_OK)
		return rv;
	/* The public half may be absent (imported keys); that is not an error. */
	rv = hsm_session_find_key(h, s, k, CKO_PUBLIC_KEY, &obj, &ignore);
	if (rv == HSM_RV_FAILED)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	return fl->C_DestroyObject(s->handle, obj);
}

int hsm_key_destroy(struct hsm_key *k, efos_err *e)
{
	int ret = hsm_run(k->h, "key deletion", true, destroy_op, k, e);
	hsm_key_free(k);
	return ret;
}

/* ---- accessors ---- */

enum hsm_key_kind hsm_key_kind(const struct hsm_key *k) { return k->kind; }
int hsm_key_bits(const struct hsm_key *k) { return k->bits; }
EVP_PKEY *hsm_key_public(const struct hsm_key *k) { return k->pub; }
const char *hsm_key_label(const struct hsm_key *k) { return k->label; }

const unsigned char *hsm_key_id(const struct hsm_key *k, size_t *len)
{
	*len = k->id_len;
	return k->id;
}

int hsm_key_type_parse(const char *name, struct hsm_keygen_params *p)
{
	static const struct { const char *name; enum hsm_key_kind kind; int bits, nid; } types[] = {
		{ "rsa:2048", HSM_KEY_RSA, 2048, 0 }, { "rsa:3072", HSM_KEY_RSA, 3072, 0 },
		{ "rsa:4096", HSM_KEY_RSA, 4096, 0 }, { "ec:p256", HSM_KEY_EC, 0, NID_X9_62_prime256v1 },
		{ "ec:p384", HSM_KEY_EC, 0, NID_secp384r1 }, { "ec:p521", HSM_KEY_EC, 0, NID_secp521r1 },
	};
	for (size_t i = 0; name != NULL && i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(name, types[i].name)) {
			p->kind = types[i].kind;
			p->bits = types[i].bits;
			p->curve_nid = types[i].nid;
			return 0;
		}
	return -1;
}
