/* XML Encryption of the Assertion with OpenSSL EVP: see xmlenc.h. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include "idp/assertion.h"
#include "idp/metadata_store.h"
#include "idp/xmlenc.h"

#define NS_XENC "http://www.w3.org/2001/04/xmlenc#"
#define NS_XENC11 "http://www.w3.org/2009/xmlenc11#"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define XENC_TYPE_ELEMENT "http://www.w3.org/2001/04/xmlenc#Element"

static const struct data_alg {
	const char *uri;
	const EVP_CIPHER *(*cipher)(void);
	bool gcm;
} data_algs[] = {   /* our preference order */
	{ XENC_AES256_GCM, EVP_aes_256_gcm, true },
	{ XENC_AES128_GCM, EVP_aes_128_gcm, true },
	{ XENC_AES256_CBC, EVP_aes_256_cbc, false },
	{ XENC_AES128_CBC, EVP_aes_128_cbc, false },
};
#define DATA_DEFAULT 2   /* aes256-cbc: mandatory, every SP decrypts it */

static const struct md_alg {
	const char *uri;
	const EVP_MD *(*md)(void);
} oaep_digests[] = {
	{ "http://www.w3.org/2000/09/xmldsig#sha1", EVP_sha1 },   /* allowed inside OAEP only (§1.10) */
	{ "http://www.w3.org/2001/04/xmlenc#sha256", EVP_sha256 },
	{ "http://www.w3.org/2001/04/xmldsig-more#sha384", EVP_sha384 },
	{ "http://www.w3.org/2001/04/xmlenc#sha512", EVP_sha512 },
}, mgfs[] = {
	{ "http://www.w3.org/2009/xmlenc11#mgf1sha1", EVP_sha1 },
	{ "http://www.w3.org/2009/xmlenc11#mgf1sha224", EVP_sha224 },
	{ "http://www.w3.org/2009/xmlenc11#mgf1sha256", EVP_sha256 },
	{ "http://www.w3.org/2009/xmlenc11#mgf1sha384", EVP_sha384 },
	{ "http://www.w3.org/2009/xmlenc11#mgf1sha512", EVP_sha512 },
};

static const struct md_alg *find_md(const struct md_alg *t, size_t n, const char *uri)
{
	for (size_t i = 0; uri != NULL && i < n; i++)
		if (strcmp(t[i].uri, uri) == 0)
			return &t[i];
	return NULL;
}
#define FIND_DIGEST(u) find_md(oaep_digests, sizeof oaep_digests / sizeof oaep_digests[0], (u))
#define FIND_MGF(u) find_md(mgfs, sizeof mgfs / sizeof mgfs[0], (u))

static const struct data_alg *find_data(const char *uri)
{
	for (size_t i = 0; uri != NULL && i < sizeof data_algs / sizeof data_algs[0]; i++)
		if (strcmp(data_algs[i].uri, uri) == 0)
			return &data_algs[i];
	return NULL;
}

int idp_xmlenc_choose(const struct idp_sp *sp, struct idp_enc_choice *out, efos_err *e)
{
	*out = (struct idp_enc_choice){ 0 };
	if (sp == NULL)
		return efos_fail(e, EFOS_E_INVALID, "no SP to encrypt for");
	for (size_t i = 0; i < sp->n_encryption_keys && out->key == NULL; i++) {
		EVP_PKEY *k = sp->encryption_keys[i];
		if (k != NULL && EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048)
			out->key = k;
	}
	if (out->key == NULL)
		return efos_fail(e, EFOS_E_INVALID, "SP %s has no RSA (>= 2048 bits) encryption key in its metadata",
				 sp->entity_id);

	/* data: our preference among what the SP lists; the mandatory CBC when nothing matches */
	for (size_t p = 0; p < sizeof data_algs / sizeof data_algs[0] && out->data_alg == NULL; p++)
		for (size_t i = 0; i < sp->n_enc_methods; i++)
			if (sp->enc_methods[i].algorithm && strcmp(sp->enc_methods[i].algorithm, data_algs[p].uri) == 0) {
				out->data_alg = data_algs[p].uri;
				break;
			}
	if (out->data_alg == NULL)
		out->data_alg = data_algs[DATA_DEFAULT].uri;

	/* key transport: the SP's first supported declaration, else rsa-oaep-mgf1p / SHA-1 */
	for (size_t i = 0; i < sp->n_enc_methods && out->kt_alg == NULL; i++) {
		const struct idp_sp_enc_method *m = &sp->enc_methods[i];
		if (m->algorithm == NULL)
			continue;
		const struct md_alg *d = m->digest ? FIND_DIGEST(m->digest) : &oaep_digests[0];
		if (d == NULL)
			continue;
		if (strcmp(m->algorithm, XENC_RSA_OAEP_MGF1P) == 0) {
			out->kt_alg = XENC_RSA_OAEP_MGF1P;
			out->oaep_digest = d->uri;
		} else if (strcmp(m->algorithm, XENC11_RSA_OAEP) == 0) {
			const struct md_alg *g = m->mgf ? FIND_MGF(m->mgf) : &mgfs[0];
			if (g == NULL)
				continue;
			out->kt_alg = XENC11_RSA_OAEP;
			out->oaep_digest = d->uri;
			out->mgf = g->uri;
		}
	}
	if (out->kt_alg == NULL) {
		out->kt_alg = XENC_RSA_OAEP_MGF1P;
		out->oaep_digest = oaep_digests[0].uri;
	}
	return 0;
}

static xmlChar *b64(const unsigned char *d, size_t n)
{
	xmlChar *s = xmlMalloc(4 * ((n + 2) / 3) + 1);
	if (s != NULL)
		EVP_EncodeBlock(s, d, (int)n);
	return s;
}

/* RSA-OAEP of the session key. */
static int wrap_key(const struct idp_enc_choice *c, const unsigned char *key, size_t klen, unsigned char **out,
		    size_t *outlen, efos_err *e)
{
	const struct md_alg *d = FIND_DIGEST(c->oaep_digest);
	const struct md_alg *g = c->mgf ? FIND_MGF(c->mgf) : &mgfs[0];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(c->key, NULL);
	int ret = -1;
	*out = NULL;
	if (d == NULL || g == NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-Enc: unsupported OAEP digest or MGF");
		goto out;
	}
	if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, d->md()) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, g->md()) <= 0 ||
	    EVP_PKEY_encrypt(ctx, NULL, outlen, key, klen) <= 0 || (*out = malloc(*outlen)) == NULL ||
	    EVP_PKEY_encrypt(ctx, *out, outlen, key, klen) <= 0) {
		efos_fail(e, EFOS_E_INTERNAL, "XML-Enc: RSA-OAEP key transport failed");
		free(*out);
		*out = NULL;
		goto out;
	}
	ret = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* IV || ciphertext [|| tag] of plain with a fresh key of the cipher's size. */
static int encrypt_data(const struct data_alg *da, const unsigned char *plain, size_t plen, unsigned char *key,
			unsigned char **out, size_t *outlen, efos_err *e)
{
	const EVP_CIPHER *ciph = da->cipher();
	int klen = EVP_CIPHER_get_key_length(ciph);
	int ivlen = da->gcm ? 12 : 16;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char *buf = malloc((size_t)ivlen + plen + 32);
	int n1 = 0, n2 = 0, ret = -1;
	*out = NULL;
	if (ctx == NULL || buf == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (RAND_bytes(key, klen) != 1 || RAND_bytes(buf, ivlen) != 1) {
		efos_fail(e, EFOS_E_INTERNAL, "XML-Enc: the random generator failed");
		goto out;
	}
	if (EVP_EncryptInit_ex(ctx, ciph, NULL, NULL, NULL) != 1 ||
	    (da->gcm && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ivlen, NULL) != 1) ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, buf) != 1 ||
	    EVP_EncryptUpdate(ctx, buf + ivlen, &n1, plain, (int)plen) != 1 ||
	    EVP_EncryptFinal_ex(ctx, buf + ivlen + n1, &n2) != 1 ||
	    (da->gcm && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, buf + ivlen + n1 + n2) != 1)) {
		efos_fail(e, EFOS_E_INTERNAL, "XML-Enc: %s encryption failed", da->uri);
		goto out;
	}
	*outlen = (size_t)ivlen + (size_t)n1 + (size_t)n2 + (da->gcm ? 16 : 0);
	*out = buf;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

static xmlNodePtr add_cipher_value(xmlNodePtr parent, xmlNsPtr xenc, const unsigned char *d, size_t n)
{
	xmlChar *v = b64(d, n);
	if (v == NULL)
		return NULL;
	xmlNodePtr cd = xmlNewChild(parent, xenc, BAD_CAST "CipherData", NULL);
	xmlNodePtr cv = cd ? xmlNewChild(cd, xenc, BAD_CAST "CipherValue", NULL) : NULL;
	if (cv != NULL)
		xmlNodeAddContent(cv, v);   /* base64: nothing to escape, but set as text all the same */
	xmlFree(v);
	return cv;
}

int idp_xmlenc_encrypt_assertion(xmlNodePtr elem, const struct idp_enc_choice *c, const char *recipient,
				 xmlDocPtr into, xmlNodePtr *out, efos_err *e)
{
	xmlBufferPtr ser = NULL;
	unsigned char key[32], *ct = NULL, *wk = NULL;
	size_t ctlen = 0, wklen = 0;
	xmlNodePtr ea = NULL;
	int ret = -1;

	*out = NULL;
	const struct data_alg *da = find_data(c->data_alg);
	if (da == NULL || c->key == NULL || c->kt_alg == NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-Enc: incomplete algorithm choice");
		goto out;
	}
	/* the element as it stands, with the namespace declarations it carries */
	if ((ser = xmlBufferCreate()) == NULL || xmlNodeDump(ser, elem->doc, elem, 0, 0) < 0) {
		efos_fail(e, EFOS_E_INTERNAL, "XML-Enc: could not serialise the assertion");
		goto out;
	}
	if (encrypt_data(da, xmlBufferContent(ser), (size_t)xmlBufferLength(ser), key, &ct, &ctlen, e) < 0)
		goto out;
	if (wrap_key(c, key, (size_t)EVP_CIPHER_get_key_length(da->cipher()), &wk, &wklen, e) < 0)
		goto out;

	ea = xmlNewDocNode(into, NULL, BAD_CAST "EncryptedAssertion", NULL);
	if (ea == NULL)
		goto oom;
	xmlNsPtr saml = NULL;
	xmlNodePtr root = xmlDocGetRootElement(into);
	if (root != NULL)
		saml = xmlSearchNsByHref(into, root, BAD_CAST SAML_NS_ASSERTION);
	if (saml == NULL && (saml = xmlNewNs(ea, BAD_CAST SAML_NS_ASSERTION, BAD_CAST "saml")) == NULL)
		goto oom;
	xmlSetNs(ea, saml);

	xmlNodePtr ed = xmlNewChild(ea, NULL, BAD_CAST "EncryptedData", NULL);
	xmlNsPtr xenc = ed ? xmlNewNs(ed, BAD_CAST NS_XENC, BAD_CAST "xenc") : NULL;
	if (xenc == NULL)
		goto oom;
	xmlSetNs(ed, xenc);
	xmlNewProp(ed, BAD_CAST "Type", BAD_CAST XENC_TYPE_ELEMENT);
	xmlNodePtr em = xmlNewChild(ed, xenc, BAD_CAST "EncryptionMethod", NULL);
	xmlNodePtr ki = xmlNewChild(ed, NULL, BAD_CAST "KeyInfo", NULL);
	xmlNsPtr ds = ki ? xmlNewNs(ki, BAD_CAST NS_DS, BAD_CAST "ds") : NULL;
	if (em == NULL || ds == NULL)
		goto oom;
	xmlNewProp(em, BAD_CAST "Algorithm", BAD_CAST da->uri);
	xmlSetNs(ki, ds);
	xmlNodePtr ek = xmlNewChild(ki, xenc, BAD_CAST "EncryptedKey", NULL);
	if (ek == NULL)
		goto oom;
	if (recipient != NULL)
		xmlNewProp(ek, BAD_CAST "Recipient", BAD_CAST recipient);
	xmlNodePtr kem = xmlNewChild(ek, xenc, BAD_CAST "EncryptionMethod", NULL);
	xmlNodePtr dm = kem ? xmlNewChild(kem, ds, BAD_CAST "DigestMethod", NULL) : NULL;
	if (dm == NULL)
		goto oom;
	xmlNewProp(kem, BAD_CAST "Algorithm", BAD_CAST c->kt_alg);
	xmlNewProp(dm, BAD_CAST "Algorithm", BAD_CAST c->oaep_digest);
	if (c->mgf != NULL) {
		xmlNodePtr mg = xmlNewChild(kem, NULL, BAD_CAST "MGF", NULL);
		xmlNsPtr x11 = mg ? xmlNewNs(mg, BAD_CAST NS_XENC11, BAD_CAST "xenc11") : NULL;
		if (x11 == NULL)
			goto oom;
		xmlSetNs(mg, x11);
		xmlNewProp(mg, BAD_CAST "Algorithm", BAD_CAST c->mgf);
	}
	if (add_cipher_value(ek, xenc, wk, wklen) == NULL || add_cipher_value(ed, xenc, ct, ctlen) == NULL)
		goto oom;
	*out = ea;
	ea = NULL;
	ret = 0;
	goto out;
oom:
	efos_fail(e, EFOS_E_INTERNAL, "XML-Enc: out of memory");
out:
	if (ea != NULL)
		xmlFreeNode(ea);
	efos_wipe(key, sizeof key);
	if (ct != NULL)
		free(ct);
	free(wk);
	if (ser != NULL) {
		efos_wipe((void *)xmlBufferContent(ser), (size_t)xmlBufferLength(ser));
		xmlBufferFree(ser);
	}
	return ret;
}
