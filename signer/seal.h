/* CAdES baseline B (and B-T) signatures: CMS SignedData (RFC 5652) with the signed attributes
 * content-type, message-digest, signing-time and ESS signingCertificateV2 (RFC 5035, SHA-256
 * with issuerSerial), the signer certificate and its chain; ETSI EN 319 122-1.
 *
 *   detached     eContent absent; the document travels beside the .p7s
 *   enveloping   the document inside (eContent)
 *   hash-only    the caller gives the document's digest instead of the document (detached
 *                only): the SignedData is the same as for the detached document, made without
 *                ever seeing the document
 *
 * PAdES (signer/pades.c) uses the hash-only path with no_signing_time: the digest is over the
 * PDF's ByteRange and the signed attributes are content-type, message-digest and
 * signingCertificateV2 only.
 *
 * Digests SHA-256/384/512; RSA PKCS#1 v1.5 or ECDSA, as the key is. B-T adds the unsigned
 * attribute id-aa-signatureTimeStampToken: an RFC 3161 token over the SignerInfo's signature
 * value, from a callback (signer/tsa.h). */
#ifndef EFOS_SIGNER_SEAL_H
#define EFOS_SIGNER_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "core/err.h"

enum seal_packaging { SEAL_DETACHED, SEAL_ENVELOPING };

/* A key that seals: its certificate, the chain above it (issuing CA ... root, may be NULL) and
 * the private key (hsm_evp_pkey(), or an in-memory key in tests). Borrowed. */
struct seal_signer {
	X509 *cert;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
};

/* Returns a DER TimeStampToken (malloc'd) over data hashed with md. */
typedef int (*seal_timestamp_fn)(void *arg, const EVP_MD *md, const unsigned char *data, size_t len,
				 unsigned char **token, size_t *token_len, efos_err *e);

struct seal_cades_params {
	enum seal_packaging packaging;
	const EVP_MD *md;                  /* seal_md_by_name() */
	const unsigned char *document;     /* the document, or NULL for hash-only */
	size_t document_len;
	const unsigned char *digest;       /* hash-only: the document's digest by md */
	size_t digest_len;
	seal_timestamp_fn timestamp;       /* B-T when set */
	void *timestamp_arg;
	bool no_signing_time;              /* PAdES (EN 319 142-1 5.2.3): no signing-time attribute, the
					    * time is the PDF's /M; hash-only requests only */
};

struct seal_result {
	unsigned char *der;                /* the CMS ContentInfo (malloc'd; free()) */
	size_t der_len;
	unsigned char digest[EVP_MAX_MD_SIZE];  /* the message-digest attribute: what was signed */
	size_t digest_len;
	bool timestamped;
};

/* EFOS_E_INVALID for a request that cannot be signed as asked (a digest of the wrong length,
 * enveloping without a document, no document and no digest...), with a message for the
 * client; EFOS_E_UNAVAILABLE / EFOS_E_INTERNAL when the HSM or the TSA failed. */
int seal_cades_sign(const struct seal_signer *s, const struct seal_cades_params *p,
		    struct seal_result *out, efos_err *e);
void seal_result_free(struct seal_result *r);

/* "sha256" | "sha384" | "sha512" (also "SHA-256", "sha-256"...): NULL when not allowed. */
const EVP_MD *seal_md_by_name(const char *name);
/* "sha256"... for an allowed md. */
const char *seal_md_name(const EVP_MD *md);

#endif
