/* hsm/: the only code that calls PKCS#11. A `struct hsm` is one loaded module and one token,
 * logged in once, with a pool of sessions so that concurrent requests sign in parallel.
 * Keys are referred to by attributes (CKA_ID / CKA_LABEL / type), never by a cached object
 * handle across sessions. On CKR_SESSION_HANDLE_INVALID, CKR_DEVICE_ERROR,
 * CKR_TOKEN_NOT_PRESENT and kin, the sessions are dropped, the module re-initialised, the
 * token logged in again and the operation retried once. */
#ifndef EFOS_HSM_HSM_H
#define EFOS_HSM_HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include "core/err.h"

struct hsm;
struct hsm_key;

/* module: path of the PKCS#11 library; token_uri: RFC 7512 URI naming the token
 * (token=, serial=, manufacturer=, model=, slot-id=); pin: user PIN (the caller wipes it;
 * hsm keeps a copy, wiped at hsm_close, to log in again after a recovery). A pin-value in
 * the URI is refused (see hsm/uri.h). Several struct hsm may share one module. */
int hsm_open(const char *module, const char *token_uri, const char *pin, int nsessions,
	     struct hsm **out, efos_err *e);
void hsm_close(struct hsm *h);

enum hsm_key_kind { HSM_KEY_RSA, HSM_KEY_EC };
struct hsm_keygen_params {
	enum hsm_key_kind kind;
	int bits;             /* RSA: 2048, 3072, 4096 */
	int curve_nid;        /* EC: NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1 */
	const char *label;    /* CKA_LABEL */
	const unsigned char *id; size_t id_len; /* CKA_ID; NULL: random 16 bytes */
	bool token_object;    /* CKA_TOKEN: persistent (true) or session key (false; it is lost
	                       * when the module is re-initialised after a failure) */
};
/* CKA_SENSITIVE true, CKA_EXTRACTABLE false, CKA_SIGN (and CKA_DECRYPT for RSA). */
int hsm_keygen(struct hsm *h, const struct hsm_keygen_params *p, struct hsm_key **out, efos_err *e);
/* The key-type names of the configuration and efosctl: rsa:2048 rsa:3072 rsa:4096 ec:p256
 * ec:p384 ec:p521. Sets kind, bits and curve_nid of p; -1 for any other name. */
int hsm_key_type_parse(const char *name, struct hsm_keygen_params *p);

/* key_uri: RFC 7512 object URI (object=LABEL and/or id=%01%02, type=private optional).
 * Fails with EFOS_E_NOTFOUND when no private key matches, EFOS_E_INVALID when several do. */
int hsm_key_find(struct hsm *h, const char *key_uri, struct hsm_key **out, efos_err *e);
void hsm_key_free(struct hsm_key *k);
/* Deletes the private and public key objects from the token and frees k. */
int hsm_key_destroy(struct hsm_key *k, efos_err *e);
/* Added (signer: per-request keys): the distinct CKA_LABELs of the key objects (private or
 * public) that start with prefix (malloc'd; free with hsm_labels_free), and the deletion of
 * every key object labelled exactly label (*n, may be NULL, gets how many objects). Deleting
 * by label is for leftovers: no struct hsm_key of that label may be in use (sessions cache
 * object handles). */
int hsm_key_labels(struct hsm *h, const char *prefix, char ***labels, size_t *n, efos_err *e);
void hsm_labels_free(char **labels, size_t n);
int hsm_key_destroy_by_label(struct hsm *h, const char *label, size_t *n, efos_err *e);
enum hsm_key_kind hsm_key_kind(const struct hsm_key *k);
int hsm_key_bits(const struct hsm_key *k);
/* The public half as an OpenSSL key (owned by k, valid while k lives). */
EVP_PKEY *hsm_key_public(const struct hsm_key *k);
/* CKA_ID and label of the key. */
const unsigned char *hsm_key_id(const struct hsm_key *k, size_t *len);
const char *hsm_key_label(const struct hsm_key *k);

enum hsm_padding {
	HSM_PAD_PKCS1,   /* RSA PKCS#1 v1.5 (CKM_RSA_PKCS over a DigestInfo) */
	HSM_PAD_PSS,     /* RSA-PSS, native CKM_RSA_PKCS_PSS, salt length = digest length */
	HSM_PAD_ECDSA,   /* ECDSA (CKM_ECDSA over the digest) */
};
enum hsm_sig_format { HSM_SIG_DER, HSM_SIG_RAW }; /* ECDSA: DER (X.509/CMS) or r||s (XML-DSig, JWS) */

/* Signs a precomputed digest. md: the digest algorithm (EVP_sha256()...). sig must hold at
 * least hsm_sig_max_len(k) bytes; *siglen is set to the length written. */
int hsm_sign_digest(struct hsm_key *k, const EVP_MD *md, enum hsm_padding pad,
		    enum hsm_sig_format fmt, const unsigned char *dgst, size_t dlen,
		    unsigned char *sig, size_t *siglen, efos_err *e);
/* Hashes msg with md and signs it. */
int hsm_sign(struct hsm_key *k, const EVP_MD *md, enum hsm_padding pad, enum hsm_sig_format fmt,
	     const unsigned char *msg, size_t len, unsigned char *sig, size_t *siglen, efos_err *e);
size_t hsm_sig_max_len(const struct hsm_key *k);

/* RSA-OAEP decrypt (CKM_RSA_PKCS_OAEP); oaep_md and mgf1_md e.g. EVP_sha1(). inlen must be
 * the modulus size; out must hold hsm_sig_max_len(k) bytes; *outlen is set on return. */
int hsm_decrypt_oaep(struct hsm_key *k, const EVP_MD *oaep_md, const EVP_MD *mgf1_md,
		     const unsigned char *in, size_t inlen, unsigned char *out, size_t *outlen,
		     efos_err *e);

/* Health: a test signature with the given key; updates the state read by hsm_get_stats. */
int hsm_probe(struct hsm *h, struct hsm_key *probe_key, efos_err *e);

struct hsm_stats {
	long ops;           /* sign/decrypt/keygen operations attempted */
	long errors;        /* operations that failed */
	long recoveries;    /* times the module was re-initialised */
	int sessions;       /* pool size */
	int sessions_busy;  /* in use now */
	bool probe_ok;      /* result of the last probe */
	long probe_time;    /* unix time of the last probe */
};
void hsm_get_stats(struct hsm *h, struct hsm_stats *st);
/* Added: the last probe's duration and its error message ("ok" when it succeeded). */
void hsm_probe_status(struct hsm *h, long *latency_ms, char *msg, size_t cap);

#endif
