/* XML-DSig algorithm allow-list and the one signature check (see xml_alg.h). */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include "core/xml_alg.h"

static const struct xml_sig_alg sig_algs[] = {
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", XML_SIG_RSA_PKCS1, EVP_sha256 },
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384", XML_SIG_RSA_PKCS1, EVP_sha384 },
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", XML_SIG_RSA_PKCS1, EVP_sha512 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1", XML_SIG_RSA_PSS, EVP_sha256 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1", XML_SIG_RSA_PSS, EVP_sha384 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1", XML_SIG_RSA_PSS, EVP_sha512 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", XML_SIG_ECDSA, EVP_sha256 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", XML_SIG_ECDSA, EVP_sha384 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512", XML_SIG_ECDSA, EVP_sha512 },
};

static const struct xml_digest_alg digest_algs[] = {
	{ "http://www.w3.org/2001/04/xmlenc#sha256", EVP_sha256 },
	{ "http://www.w3.org/2001/04/xmldsig-more#sha384", EVP_sha384 },
	{ "http://www.w3.org/2001/04/xmlenc#sha512", EVP_sha512 },
};

const struct xml_sig_alg *xml_sig_alg_find(const char *uri)
{
	for (size_t i = 0; uri != NULL && i < sizeof sig_algs / sizeof sig_algs[0]; i++)
		if (strcmp(uri, sig_algs[i].uri) == 0)
			return &sig_algs[i];
	return NULL;
}

const struct xml_digest_alg *xml_digest_alg_find(const char *uri)
{
	for (size_t i = 0; uri != NULL && i < sizeof digest_algs / sizeof digest_algs[0]; i++)
		if (strcmp(uri, digest_algs[i].uri) == 0)
			return &digest_algs[i];
	return NULL;
}

const char *xml_alg_refusal(const char *uri)
{
	if (uri == NULL)
		return "no Algorithm";
	if (strstr(uri, "hmac") != NULL)
		return "HMAC is refused (keys come from metadata, never shared secrets)";
	if (strstr(uri, "sha1") != NULL || strstr(uri, "SHA1") != NULL)
		return "SHA-1 is refused";
	if (strstr(uri, "dsa-") != NULL && strstr(uri, "ecdsa-") == NULL)
		return "DSA is refused";
	if (strstr(uri, "md5") != NULL)
		return "MD5 is refused";
	return "not in the allow-list";
}

bool xml_alg_in_list(const char *uri, const char *const *list)
{
	if (list == NULL)
		return true;
	for (; *list != NULL; list++)
		if (strcmp(uri, *list) == 0)
			return true;
	return false;
}

bool xml_alg_key_ok(EVP_PKEY *key, const struct xml_sig_alg *alg, unsigned min_rsa_bits,
		    unsigned min_ec_bits, const char **why)
{
	int bits = EVP_PKEY_get_bits(key);
	if (alg->kind == XML_SIG_ECDSA) {
		if (!EVP_PKEY_is_a(key, "EC")) {
			*why = "an ECDSA signature needs an EC key";
			return false;
		}
		if (bits < (int)(min_ec_bits ? min_ec_bits : 256)) {
			*why = "the EC key is smaller than the minimum";
			return false;
		}
		return true;
	}
	if (!EVP_PKEY_is_a(key, "RSA") && !EVP_PKEY_is_a(key, "RSA-PSS")) {
		*why = "an RSA signature needs an RSA key";
		return false;
	}
	if (bits < (int)(min_rsa_bits ? min_rsa_bits : 2048)) {
		*why = "the RSA key is smaller than the minimum";
		return false;
	}
	return true;
}

unsigned char *xml_alg_ecdsa_raw_to_der(EVP_PKEY *key, const unsigned char *sig, size_t siglen, size_t *derlen)
{
	int bits = EVP_PKEY_get_bits(key);
	size_t half = (size_t)(bits + 7) / 8;
	unsigned char *der = NULL;
	if (bits <= 0 || siglen != 2 * half)
		return NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	int n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return NULL;
	*derlen = (size_t)n;
	return der;
}

int xml_alg_verify(EVP_PKEY *key, const struct xml_sig_alg *alg, const unsigned char *data,
		   size_t len, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	int ok = 0;
	if (mctx == NULL)
		return 0;
	if (alg->kind == XML_SIG_ECDSA) {
		size_t derlen = 0;
		if ((der = xml_alg_ecdsa_raw_to_der(key, sig, siglen, &derlen)) == NULL)
			goto out;
		sig = der;
		siglen = derlen;
	}
	if (EVP_DigestVerifyInit(mctx, &pctx, alg->md(), NULL, key) != 1)
		goto out;
	if (alg->kind == XML_SIG_RSA_PKCS1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if (alg->kind == XML_SIG_RSA_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, alg->md()) != 1))
		goto out;
	ok = EVP_DigestVerify(mctx, sig, siglen, data, len) == 1;
out:
	if (!ok)
		ERR_clear_error(); /* a bad signature is an answer, not an error to leave queued */
	OPENSSL_free(der);
	EVP_MD_CTX_free(mctx);
	return ok;
}
