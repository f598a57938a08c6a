/* GnuTLS external private key backed by hsm/. GnuTLS hands us either a digest with the
 * signature algorithm it belongs to (sign_hash), or, for GNUTLS_SIGN_RSA_RAW, a PKCS#1
 * DigestInfo; both become one hsm_sign_digest() call. We register no sign_data callback, so
 * GnuTLS hashes the TLS 1.3 CertificateVerify input itself and calls sign_hash. */
#include <string.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include "core/log.h"
#include "hsm/gnutls_bridge.h"
#include "hsm/hsm.h"

static const EVP_MD *md_from_gnutls(gnutls_digest_algorithm_t d)
{
	switch (d) {
	case GNUTLS_DIG_SHA224: return EVP_sha224();
	case GNUTLS_DIG_SHA256: return EVP_sha256();
	case GNUTLS_DIG_SHA384: return EVP_sha384();
	case GNUTLS_DIG_SHA512: return EVP_sha512();
	default: return NULL;   /* SHA-1, MD5 and the rest: refused */
	}
}

static int sign_with(struct hsm_key *k, const EVP_MD *md, enum hsm_padding pad,
		     const unsigned char *dgst, size_t dlen, gnutls_datum_t *signature)
{
	efos_err e = { 0 };
	size_t cap = hsm_sig_max_len(k), siglen = cap;
	unsigned char *sig = gnutls_malloc(cap ? cap : 1);
	if (sig == NULL)
		return GNUTLS_E_MEMORY_ERROR;
	if (hsm_sign_digest(k, md, pad, HSM_SIG_DER, dgst, dlen, sig, &siglen, &e) != 0) {
		log_error("TLS handshake signature through the HSM failed: %s", e.msg);
		gnutls_free(sig);
		return GNUTLS_E_PK_SIGN_FAILED;
	}
	signature->data = sig;
	signature->size = (unsigned)siglen;
	return 0;
}

/* GNUTLS_SIGN_RSA_RAW: the input is a DER DigestInfo; take the digest algorithm and value
 * from it so that the HSM builds the same DigestInfo under CKM_RSA_PKCS. */
static int sign_digestinfo(struct hsm_key *k, const gnutls_datum_t *di, gnutls_datum_t *signature)
{
	const unsigned char *p = di->data;
	X509_SIG *xs = d2i_X509_SIG(NULL, &p, (long)di->size);
	int ret = GNUTLS_E_PK_SIGN_FAILED;
	if (xs == NULL || p != di->data + di->size) {
		log_error("TLS handshake: refusing a raw RSA signature that is not a DigestInfo");
		goto out;
	}
	const X509_ALGOR *alg;
	const ASN1_OCTET_STRING *dg;
	X509_SIG_get0(xs, &alg, &dg);
	const ASN1_OBJECT *obj;
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	const EVP_MD *md = EVP_get_digestbyobj(obj);
	if (md == NULL || EVP_MD_get_type(md) == NID_sha1 || EVP_MD_get_type(md) == NID_md5 ||
	    (size_t)ASN1_STRING_length(dg) != (size_t)EVP_MD_get_size(md)) {
		log_error("TLS handshake: refusing a raw RSA signature with digest %s",
			  md ? EVP_MD_get0_name(md) : "unknown");
		goto out;
	}
	ret = sign_with(k, md, HSM_PAD_PKCS1, ASN1_STRING_get0_data(dg),
			(size_t)ASN1_STRING_length(dg), signature);
out:
	X509_SIG_free(xs);
	return ret;
}

static int bridge_sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata,
			    unsigned int flags, const gnutls_datum_t *hash, gnutls_datum_t *signature)
{
	struct hsm_key *k = userdata;
	if (algo == GNUTLS_SIGN_RSA_RAW || (flags & GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA))
		return hsm_key_kind(k) == HSM_KEY_RSA ? sign_digestinfo(k, hash, signature)
						      : GNUTLS_E_INVALID_REQUEST;
	const EVP_MD *md = md_from_gnutls(gnutls_sign_get_hash_algorithm(algo));
	if (md == NULL || (size_t)EVP_MD_get_size(md) != hash->size)
		return GNUTLS_E_INVALID_REQUEST;
	enum hsm_padding pad;
	switch (gnutls_sign_get_pk_algorithm(algo)) {
	case GNUTLS_PK_RSA: pad = HSM_PAD_PKCS1; break;
	case GNUTLS_PK_RSA_PSS: pad = HSM_PAD_PSS; break;
	case GNUTLS_PK_ECDSA: pad = HSM_PAD_ECDSA; break;
	default: return GNUTLS_E_INVALID_REQUEST;
	}
	if ((pad == HSM_PAD_ECDSA) != (hsm_key_kind(k) == HSM_KEY_EC))
		return GNUTLS_E_INVALID_REQUEST;
	if (flags & GNUTLS_PRIVKEY_SIGN_FLAG_RSA_PSS)
		pad = HSM_PAD_PSS;
	return sign_with(k, md, pad, hash->data, hash->size, signature);
}

static int bridge_info(gnutls_privkey_t key, unsigned int flags, void *userdata)
{
	struct hsm_key *k = userdata;
	gnutls_pk_algorithm_t pk = hsm_key_kind(k) == HSM_KEY_EC ? GNUTLS_PK_ECDSA : GNUTLS_PK_RSA;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return (int)pk;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return hsm_key_bits(k);
	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO) {
		gnutls_sign_algorithm_t algo = GNUTLS_FLAGS_TO_SIGN_ALGO(flags);
		if (md_from_gnutls(gnutls_sign_get_hash_algorithm(algo)) == NULL)
			return 0;
		gnutls_pk_algorithm_t spk = gnutls_sign_get_pk_algorithm(algo);
		if (pk == GNUTLS_PK_RSA)
			/* rsa_pss_rsae_*: PSS with an rsaEncryption key (not rsa_pss_pss_*) */
			return spk == GNUTLS_PK_RSA ||
			       (spk == GNUTLS_PK_RSA_PSS && gnutls_sign_supports_pk_algorithm(algo, GNUTLS_PK_RSA));
		return spk == GNUTLS_PK_ECDSA;
	}
	return -1;
}

int hsm_gnutls_privkey(struct hsm_key *k, gnutls_privkey_t *out, efos_err *e)
{
	gnutls_privkey_t pk = NULL;
	int ret = gnutls_privkey_init(&pk);
	if (ret < 0)
		return efos_fail(e, EFOS_E_INTERNAL, "gnutls_privkey_init: %s", gnutls_strerror(ret));
	ret = gnutls_privkey_import_ext4(pk, k, NULL, bridge_sign_hash, NULL, NULL, bridge_info, 0);
	if (ret < 0) {
		gnutls_privkey_deinit(pk);
		return efos_fail(e, EFOS_E_INTERNAL, "cannot use the HSM key %s for TLS: %s",
				 hsm_key_label(k) ? hsm_key_label(k) : "", gnutls_strerror(ret));
	}
	*out = pk;
	return 0;
}
