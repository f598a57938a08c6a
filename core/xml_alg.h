/* The XML-DSig algorithms EFOS accepts, shared by signing (hsm/), XML signature verification
 * and the HTTP-Redirect query signature. Anything not in these tables is refused: SHA-1,
 * HMAC, DSA, inclusive c14n. */
#ifndef EFOS_CORE_XML_ALG_H
#define EFOS_CORE_XML_ALG_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>

enum xml_sig_kind { XML_SIG_RSA_PKCS1, XML_SIG_RSA_PSS, XML_SIG_ECDSA };

struct xml_sig_alg {
	const char *uri;
	enum xml_sig_kind kind;
	const EVP_MD *(*md)(void);
};

struct xml_digest_alg {
	const char *uri;
	const EVP_MD *(*md)(void);
};

/* NULL when uri is not an accepted SignatureMethod / DigestMethod / SigAlg. */
const struct xml_sig_alg *xml_sig_alg_find(const char *uri);
const struct xml_digest_alg *xml_digest_alg_find(const char *uri);

/* A short reason for a refused algorithm URI ("SHA-1 is refused", "HMAC is refused", ...)
 * so the error names the attack class rather than just "unsupported". */
const char *xml_alg_refusal(const char *uri);

/* True when uri is in list (NULL-terminated); a NULL list allows everything in the tables. */
bool xml_alg_in_list(const char *uri, const char *const *list);

/* Checks that key suits alg (RSA key for RSA algorithms, EC key for ECDSA) and is strong
 * enough (RSA >= min_rsa_bits, EC >= min_ec_bits; 0 means 2048 / 256). On refusal returns
 * false with why set to a static sentence. */
bool xml_alg_key_ok(EVP_PKEY *key, const struct xml_sig_alg *alg, unsigned min_rsa_bits,
		    unsigned min_ec_bits, const char **why);

/* Verifies sig over data with key and alg, the XML-DSig way: PKCS#1 v1.5, PSS with MGF1 of
 * the same digest and salt = digest length, ECDSA as r||s (each half the curve order size).
 * Returns 1 when it verifies, 0 when it does not (or the signature is malformed). */
int xml_alg_verify(EVP_PKEY *key, const struct xml_sig_alg *alg, const unsigned char *data,
		   size_t len, const unsigned char *sig, size_t siglen);

/* An ECDSA signature as XML-DSig and JWS write it, r||s with each half the size of key's curve
 * order, as the DER OpenSSL verifies (OPENSSL_free() it; *derlen set). NULL when siglen does not
 * fit the key or memory runs out. */
unsigned char *xml_alg_ecdsa_raw_to_der(EVP_PKEY *key, const unsigned char *sig, size_t siglen, size_t *derlen);

#endif
