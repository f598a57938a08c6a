/* hsm_evp_pkey(): an EVP_PKEY for OpenSSL's X.509, CMS, OCSP and TS code whose private-key
 * operations go to the token. OpenSSL 3 treats an RSA or EC_KEY with a non-default method
 * as a "foreign" legacy key and calls the method instead of a provider, so:
 *   RSA: priv_enc with RSA_PKCS1_PADDING receives the complete DigestInfo -> CKM_RSA_PKCS;
 *   EC:  sign / sign_sig receive the digest -> CKM_ECDSA, r||s converted to DER.
 * Anything else (raw RSA for PSS through OpenSSL, private decryption) is refused: RSA-PSS goes
 * through hsm_sign_digest(HSM_PAD_PSS) and OAEP through hsm_decrypt_oaep(), natively. */
#include <pthread.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include "core/log.h"
#include "hsm/bridge.h"
#include "hsm/internal.h"

static pthread_once_t methods_once = PTHREAD_ONCE_INIT;
static RSA_METHOD *rsa_method;
static EC_KEY_METHOD *ec_method;
static int rsa_ex_index = -1, ec_ex_index = -1;

static int rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	struct hsm_key *k = RSA_get_ex_data(rsa, rsa_ex_index);
	efos_err e;
	if (k == NULL)
		return -1;
	if (padding != RSA_PKCS1_PADDING) {
		log_error("HSM bridge: RSA padding %d is not supported; use hsm_sign_digest for PSS", padding);
		return -1;
	}
	CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
	size_t siglen = (size_t)RSA_size(rsa);
	if (hsm_sign_mechanism(k, &mech, from, (size_t)flen, to, &siglen, &e) < 0) {
		log_error("HSM bridge: RSA signature: %s", e.msg);
		return -1;
	}
	return (int)siglen;
}

static int rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	log_error("HSM bridge: RSA decryption through OpenSSL is not supported; use hsm_decrypt_oaep");
	return -1;
}

static ECDSA_SIG *ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
			      const BIGNUM *r, EC_KEY *ec)
{
	struct hsm_key *k = EC_KEY_get_ex_data(ec, ec_ex_index);
	unsigned char raw[2 * 66 + 8];
	size_t rawlen = sizeof raw;
	ECDSA_SIG *sig = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	efos_err e;

	if (k == NULL)
		return NULL;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	if (hsm_sign_mechanism(k, &mech, dgst, (size_t)dlen, raw, &rawlen, &e) < 0) {
		log_error("HSM bridge: ECDSA signature: %s", e.msg);
		return NULL;
	}
	sig = ECDSA_SIG_new();
	br = BN_bin2bn(raw, (int)(rawlen / 2), NULL);
	bs = BN_bin2bn(raw + rawlen / 2, (int)(rawlen / 2), NULL);
	if (sig == NULL || br == NULL || bs == NULL || !ECDSA_SIG_set0(sig, br, bs)) {
		ECDSA_SIG_free(sig);
		BN_free(br);
		BN_free(bs);
		return NULL;
	}
	return sig;
}

static int ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
		   unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	ECDSA_SIG *s = ec_sign_sig(dgst, dlen, kinv, r, ec);
	if (s == NULL)
		return 0;
	unsigned char *p = sig;
	int len = i2d_ECDSA_SIG(s, &p);
	ECDSA_SIG_free(s);
	if (len <= 0)
		return 0;
	*siglen = (unsigned int)len;
	return 1;
}

static int ec_sign_setup(EC_KEY *ec, BN_CTX *ctx, BIGNUM **kinv, BIGNUM **r)
{
	return 1; /* the token picks its own nonce */
}

static void methods_init(void)
{
	rsa_method = RSA_meth_dup(RSA_PKCS1_OpenSSL());
	if (rsa_method != NULL) {
		RSA_meth_set1_name(rsa_method, "efos-hsm");
		RSA_meth_set_priv_enc(rsa_method, rsa_priv_enc);
		RSA_meth_set_priv_dec(rsa_method, rsa_priv_dec);
	}
	ec_method = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (ec_method != NULL)
		EC_KEY_METHOD_set_sign(ec_method, ec_sign, ec_sign_setup, ec_sign_sig);
	rsa_ex_index = RSA_get_ex_new_index(0, "efos hsm_key", NULL, NULL, NULL);
	ec_ex_index = EC_KEY_get_ex_new_index(0, "efos hsm_key", NULL, NULL, NULL);
}

static EVP_PKEY *rsa_bridge(struct hsm_key *k, efos_err *e)
{
	BIGNUM *n = NULL, *ex = NULL;
	RSA *rsa = RSA_new();
	EVP_PKEY *pkey = NULL;

	if (rsa == NULL || !EVP_PKEY_get_bn_param(k->pub, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(k->pub, OSSL_PKEY_PARAM_RSA_E, &ex) ||
	    !RSA_set_method(rsa, rsa_method) || !RSA_set0_key(rsa, n, ex, NULL))
		goto fail;
	n = ex = NULL;
	/* No private exponent here: tell OpenSSL not to look for one. */
	RSA_set_flags(rsa, RSA_FLAG_EXT_PKEY);
	if (!RSA_set_ex_data(rsa, rsa_ex_index, k) || (pkey = EVP_PKEY_new()) == NULL ||
	    !EVP_PKEY_assign_RSA(pkey, rsa))
		goto fail;
	return pkey;
fail:
	BN_free(n);
	BN_free(ex);
	if (pkey == NULL || EVP_PKEY_get0_RSA(pkey) == NULL)
		RSA_free(rsa);
	EVP_PKEY_free(pkey);
	efos_fail(e, EFOS_E_INTERNAL, "HSM bridge: cannot build the RSA key for OpenSSL");
	return NULL;
}

static EVP_PKEY *ec_bridge(struct hsm_key *k, efos_err *e)
{
	unsigned char point[2 * 66 + 1];
	size_t plen = 0;
	EC_KEY *ec = EC_KEY_new_by_curve_name(k->curve_nid);
	EC_POINT *q = NULL;
	EVP_PKEY *pkey = NULL;

	if (ec == NULL || !EC_KEY_set_method(ec, ec_method) ||
	    !EVP_PKEY_get_octet_string_param(k->pub, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &plen) ||
	    (q = EC_POINT_new(EC_KEY_get0_group(ec))) == NULL ||
	    !EC_POINT_oct2point(EC_KEY_get0_group(ec), q, point, plen, NULL) ||
	    !EC_KEY_set_public_key(ec, q) || !EC_KEY_set_ex_data(ec, ec_ex_index, k) ||
	    (pkey = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_EC_KEY(pkey, ec))
		goto fail;
	EC_POINT_free(q);
	return pkey;
fail:
	EC_POINT_free(q);
	if (pkey == NULL || EVP_PKEY_get0_EC_KEY(pkey) == NULL)
		EC_KEY_free(ec);
	EVP_PKEY_free(pkey);
	efos_fail(e, EFOS_E_INTERNAL, "HSM bridge: cannot build the EC key for OpenSSL");
	return NULL;
}

EVP_PKEY *hsm_evp_pkey(struct hsm_key *k, efos_err *e)
{
	pthread_once(&methods_once, methods_init);
	if (rsa_method == NULL || ec_method == NULL || rsa_ex_index < 0 || ec_ex_index < 0) {
		efos_fail(e, EFOS_E_INTERNAL, "HSM bridge: cannot set up the OpenSSL key methods");
		return NULL;
	}
	return k->kind == HSM_KEY_RSA ? rsa_bridge(k, e) : ec_bridge(k, e);
}
