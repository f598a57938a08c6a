/* Signatures and decryption with a key on the token: RSA PKCS#1 v1.5 (CKM_RSA_PKCS over a
 * DigestInfo built here), RSA-PSS with the token's own CKM_RSA_PKCS_PSS (never raw RSA, which
 * many HSMs refuse), ECDSA (CKM_ECDSA, r||s converted to DER on request), RSA-OAEP, and the
 * health probe. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/ecdsa.h>
#include <openssl/objects.h>
#include "core/log.h"
#include "hsm/internal.h"

struct hash_info {
	int nid;
	CK_MECHANISM_TYPE ckm;
	CK_RSA_PKCS_MGF_TYPE mgf;
	unsigned char prefix[19]; /* DER DigestInfo up to the digest (RFC 8017 section 9.2) */
	size_t prefix_len;
};

static const struct hash_info hashes[] = {
	{ NID_sha1, CKM_SHA_1, CKG_MGF1_SHA1,
	  { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14 }, 15 },
	{ NID_sha224, CKM_SHA224, CKG_MGF1_SHA224,
	  { 0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c }, 19 },
	{ NID_sha256, CKM_SHA256, CKG_MGF1_SHA256,
	  { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 }, 19 },
	{ NID_sha384, CKM_SHA384, CKG_MGF1_SHA384,
	  { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 }, 19 },
	{ NID_sha512, CKM_SHA512, CKG_MGF1_SHA512,
	  { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 }, 19 },
};

static const struct hash_info *hash_lookup(const EVP_MD *md)
{
	int nid = md ? EVP_MD_get_type(md) : NID_undef;
	for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++)
		if (hashes[i].nid == nid)
			return &hashes[i];
	return NULL;
}

size_t hsm_sig_max_len(const struct hsm_key *k)
{
	/* RSA: the modulus size; EC: the largest DER ECDSA-Sig-Value, which exceeds r||s. */
	return (size_t)EVP_PKEY_get_size(k->pub);
}

/* ---- one mechanism, one C_SignInit + C_Sign ---- */

struct sign_arg {
	struct hsm_key *k;
	CK_MECHANISM *mech;
	const unsigned char *data;
	size_t dlen;
	unsigned char *sig;
	CK_ULONG siglen;      /* in: capacity, out: length */
	CK_ULONG cap;
};

static CK_RV sign_op(struct hsm *h, struct hsm_session *s, void *argp, efos_err *e)
{
	struct sign_arg *a = argp;
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	CK_OBJECT_HANDLE obj;
	CK_RV rv;

	for (int tries = 0; tries < 2; tries++) {
		if ((rv = hsm_session_find_key(h, s, a->k, CKO_PRIVATE_KEY, &obj, e)) != CKR_OK)
			return rv;
		rv = fl->C_SignInit(s->handle, a->mech, obj);
		/* A cached handle the token no longer knows (key re-created elsewhere): look again. */
		if (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID) {
			hsm_session_forget_key(s, a->k);
			continue;
		}
		break;
	}
	if (rv != CKR_OK)
		return rv;
	a->siglen = a->cap;
	return fl->C_Sign(s->handle, (CK_BYTE_PTR)a->data, a->dlen, a->sig, &a->siglen);
}

int hsm_sign_mechanism(struct hsm_key *k, CK_MECHANISM *mech, const unsigned char *data,
		       size_t dlen, unsigned char *sig, size_t *siglen, efos_err *e)
{
	struct sign_arg a = { k, mech, data, dlen, sig, 0, (CK_ULONG)*siglen };
	if (hsm_run(k->h, "signature", true, sign_op, &a, e) < 0)
		return -1;
	*siglen = a.siglen;
	return 0;
}

int hsm_ecdsa_raw_to_der(const unsigned char *raw, size_t rawlen, unsigned char *der,
			 size_t *derlen, efos_err *e)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)(rawlen / 2), NULL);
	BIGNUM *s = BN_bin2bn(raw + rawlen / 2, (int)(rawlen / 2), NULL);
	int ret = -1;

	if (es == NULL || r == NULL || s == NULL || rawlen % 2 != 0 || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		efos_fail(e, EFOS_E_INTERNAL, "HSM: cannot encode the ECDSA signature");
		goto out;
	}
	unsigned char *p = der;
	int len = i2d_ECDSA_SIG(es, &p);
	if (len <= 0) {
		efos_fail(e, EFOS_E_INTERNAL, "HSM: cannot encode the ECDSA signature");
		goto out;
	}
	*derlen = (size_t)len;
	ret = 0;
out:
	ECDSA_SIG_free(es);
	return ret;
}

/* ---- the public signing API ---- */

int hsm_sign_digest(struct hsm_key *k, const EVP_MD *md, enum hsm_padding pad,
		    enum hsm_sig_format fmt, const unsigned char *dgst, size_t dlen,
		    unsigned char *sig, size_t *siglen, efos_err *e)
{
	const struct hash_info *hi = hash_lookup(md);
	unsigned char buf[1024]; /* DigestInfo in, raw r||s out */
	size_t len;
	CK_MECHANISM mech = { 0 };
	CK_RSA_PKCS_PSS_PARAMS pss;

	if (hi == NULL)
		return efos_fail(e, EFOS_E_INVALID, "HSM sign: unsupported digest algorithm");
	if ((size_t)EVP_MD_get_size(md) != dlen)
		return efos_fail(e, EFOS_E_INVALID, "HSM sign: digest is %zu bytes, %s needs %d",
				 dlen, EVP_MD_get0_name(md), EVP_MD_get_size(md));
	if ((pad == HSM_PAD_ECDSA) != (k->kind == HSM_KEY_EC))
		return efos_fail(e, EFOS_E_INVALID, "HSM sign: %s key cannot sign with %s",
				 k->kind == HSM_KEY_EC ? "an EC" : "an RSA",
				 pad == HSM_PAD_ECDSA ? "ECDSA" : "an RSA padding");
	size_t cap = hsm_sig_max_len(k);

	switch (pad) {
	case HSM_PAD_PKCS1:
		memcpy(buf, hi->prefix, hi->prefix_len);
		memcpy(buf + hi->prefix_len, dgst, dlen);
		mech.mechanism = CKM_RSA_PKCS;
		*siglen = cap;
		return hsm_sign_mechanism(k, &mech, buf, hi->prefix_len + dlen, sig, siglen, e);
	case HSM_PAD_PSS:
		pss.hashAlg = hi->ckm;
		pss.mgf = hi->mgf;
		pss.sLen = dlen;
		mech.mechanism = CKM_RSA_PKCS_PSS;
		mech.pParameter = &pss;
		mech.ulParameterLen = sizeof pss;
		*siglen = cap;
		return hsm_sign_mechanism(k, &mech, dgst, dlen, sig, siglen, e);
	case HSM_PAD_ECDSA:
		mech.mechanism = CKM_ECDSA;
		len = sizeof buf;
		if (hsm_sign_mechanism(k, &mech, dgst, dlen, buf, &len, e) < 0)
			return -1;
		if (fmt == HSM_SIG_DER)
			return hsm_ecdsa_raw_to_der(buf, len, sig, siglen, e);
		memcpy(sig, buf, len);
		*siglen = len;
		return 0;
	}
	return efos_fail(e, EFOS_E_INVALID, "HSM sign: unknown padding");
}

int hsm_sign(struct hsm_key *k, const EVP_MD *md, enum hsm_padding pad, enum hsm_sig_format fmt,
	     const unsigned char *msg, size_t len, unsigned char *sig, size_t *siglen, efos_err *e)
{
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	if (md == NULL || EVP_Digest(msg, len, dgst, &dlen, md, NULL) != 1)
		return efos_fail(e, EFOS_E_INTERNAL, "HSM sign: cannot hash the message");
	return hsm_sign_digest(k, md, pad, fmt, dgst, dlen, sig, siglen, e);
}

/* ---- RSA-OAEP ---- */

struct decrypt_arg {
	struct hsm_key *k;
	CK_MECHANISM *mech;
	const unsigned char *in;
	size_t inlen;
	unsigned char *out;
	CK_ULONG outlen;
	CK_ULONG cap;
	char what[64];
};

static CK_RV decrypt_op(struct hsm *h, struct hsm_session *s, void *argp, efos_err *e)
{
	struct decrypt_arg *a = argp;
	CK_FUNCTION_LIST_PTR fl = h->mod->fl;
	CK_OBJECT_HANDLE obj;
	CK_RV rv;

	for (int tries = 0; tries < 2; tries++) {
		if ((rv = hsm_session_find_key(h, s, a->k, CKO_PRIVATE_KEY, &obj, e)) != CKR_OK)
			return rv;
		rv = fl->C_DecryptInit(s->handle, a->mech, obj);
		if (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID) {
			hsm_session_forget_key(s, a->k);
			continue;
		}
		break;
	}
	if (rv == CKR_ARGUMENTS_BAD || rv == CKR_MECHANISM_PARAM_INVALID || rv == CKR_MECHANISM_INVALID) {
		/* SoftHSM 2.6, for one, does OAEP with SHA-1 only */
		efos_fail(e, EFOS_E_INVALID, "HSM decrypt: the token refuses RSA-OAEP with %s (%s)",
			  a->what, hsm_rv_str(rv));
		return HSM_RV_FAILED;
	}
	if (rv != CKR_OK)
		return rv;
	a->outlen = a->cap;
	rv = fl->C_Decrypt(s->handle, (CK_BYTE_PTR)a->in, a->inlen, a->out, &a->outlen);
	/* Tokens report a ciphertext that does not decode (wrong key, tampering) in several
	 * ways, SoftHSM as CKR_GENERAL_ERROR. It is the sender's fault, and must never make us
	 * re-initialise the module: anyone could send such a ciphertext. */
	if (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED || rv == CKR_ENCRYPTED_DATA_INVALID ||
	    rv == CKR_ENCRYPTED_DATA_LEN_RANGE) {
		efos_fail(e, EFOS_E_INVALID, "HSM decrypt: the ciphertext does not decrypt with this key (%s)",
			  hsm_rv_str(rv));
		return HSM_RV_FAILED;
	}
	return rv;
}

int hsm_decrypt_oaep(struct hsm_key *k, const EVP_MD *oaep_md, const EVP_MD *mgf1_md,
		     const unsigned char *in, size_t inlen, unsigned char *out, size_t *outlen,
		     efos_err *e)
{
	const struct hash_info *hi = hash_lookup(oaep_md), *mi = hash_lookup(mgf1_md);
	if (k->kind != HSM_KEY_RSA)
		return efos_fail(e, EFOS_E_INVALID, "HSM decrypt: RSA-OAEP needs an RSA key");
	if (hi == NULL || mi == NULL)
		return efos_fail(e, EFOS_E_INVALID, "HSM decrypt: unsupported OAEP digest");
	size_t cap = hsm_sig_max_len(k);
	if (inlen != cap)
		return efos_fail(e, EFOS_E_INVALID, "HSM decrypt: ciphertext is %zu bytes, the key needs %zu",
				 inlen, cap);
	CK_RSA_PKCS_OAEP_PARAMS oaep = { hi->ckm, mi->mgf, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep };
	unsigned char *tmp = malloc(cap);
	if (tmp == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	struct decrypt_arg a = { k, &mech, in, inlen, tmp, 0, (CK_ULONG)cap, "" };
	snprintf(a.what, sizeof a.what, "%s, MGF1 %s", EVP_MD_get0_name(oaep_md), EVP_MD_get0_name(mgf1_md));
	int ret = hsm_run(k->h, "decryption", true, decrypt_op, &a, e);
	if (ret == 0) {
		memcpy(out, tmp, a.outlen);
		*outlen = a.outlen;
	}
	efos_wipe(tmp, cap);
	free(tmp);
	return ret;
}

/* ---- health probe ---- */

int hsm_probe(struct hsm *h, struct hsm_key *probe_key, efos_err *e)
{
	static const unsigned char dgst[32] = "efos hsm probe: fixed digest...";
	unsigned char sig[1024];
	size_t siglen = sizeof sig;
	efos_err err;
	long t0 = hsm_now_ms();

	efos_err_clear(&err);
	enum hsm_padding pad = probe_key->kind == HSM_KEY_EC ? HSM_PAD_ECDSA : HSM_PAD_PKCS1;
	int ret = hsm_sign_digest(probe_key, EVP_sha256(), pad, HSM_SIG_RAW, dgst, sizeof dgst,
				  sig, &siglen, &err);
	pthread_mutex_lock(&h->lock);
	h->probe_ok = ret == 0;
	h->probe_time = (long)time(NULL);
	h->probe_ms = hsm_now_ms() - t0;
	snprintf(h->probe_msg, sizeof h->probe_msg, "%s", ret == 0 ? "ok" : err.msg);
	pthread_mutex_unlock(&h->lock);
	if (ret < 0 && e != NULL)
		*e = err;
	return ret;
}
