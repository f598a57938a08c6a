/* The RFC 3161 timestamp authority of the signing service: the TSA key in the HSM, its
 * certificate (profile `tsa`: id-kp-timeStamping, critical) and chain, one policy OID
 * (signer.tsa_policy), an accuracy, SHA-256/384/512 message imprints, unique serial numbers
 * from a database sequence shared by every node (tsa_serial).
 *
 * OpenSSL's TS responder builds the answers: a request it cannot grant (bad encoding, an
 * unsupported hash, another policy, extensions) gets a rejection TimeStampResp with the
 * failInfo bit that says why, never an HTTP error. The token carries signingCertificateV2
 * (ESS, SHA-256) and, when the request asks for it (certReq), the TSA certificate and chain;
 * the request's nonce is echoed.
 *
 * Used by POST /tsa (application/timestamp-query -> application/timestamp-reply) and by the
 * seal API's B-T signatures (signer_tsa_stamp over the SignerInfo's signature value). */
#ifndef EFOS_SIGNER_TSA_H
#define EFOS_SIGNER_TSA_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "core/err.h"
#include "core/http.h"

struct signer_tsa;

struct signer_tsa_params {
	X509 *cert;                   /* the TSA certificate (up-ref'd) */
	STACK_OF(X509) *chain;        /* issuing CA, ... root (copied; may be NULL) */
	EVP_PKEY *key;                /* signs: hsm_evp_pkey() (up-ref'd) */
	const char *policy_oid;       /* dotted OID */
	int accuracy_ms;              /* 1..60000 */
};

/* Checks the certificate (timeStamping as its only, critical, EKU; it matches the key) and
 * the policy OID, and keeps them. */
int signer_tsa_new(const struct signer_tsa_params *p, struct signer_tsa **out, efos_err *e);
void signer_tsa_free(struct signer_tsa *t);

/* The serial number of the next token. Called only for a request that will be granted. */
typedef int (*signer_tsa_serial_fn)(void *arg, uint64_t *serial, efos_err *e);
/* signer_tsa_serial_fn over nextval('tsa_serial'); arg: a PGconn *. */
int signer_tsa_db_serial(void *arg, uint64_t *serial, efos_err *e);

/* Answers a DER TimeStampReq with a DER TimeStampResp (*resp malloc'd), granted or rejected;
 * *pki_status is its PKIStatus (0 granted, 2 rejection...). -1 (e set) only when no response
 * could be built at all. A serial-number failure (database down) is a rejection
 * (systemFailure), with e set for the caller's log and *serial_failed true. */
int signer_tsa_respond(struct signer_tsa *t, const unsigned char *req, size_t req_len,
		       signer_tsa_serial_fn serial, void *serial_arg, unsigned char **resp,
		       size_t *resp_len, int *pki_status, int *serial_failed, efos_err *e);

/* A TimeStampToken (DER ContentInfo, *token malloc'd) over data hashed with md, with the
 * certificates: for a CAdES signature-timestamp (id-aa-signatureTimeStampToken). */
int signer_tsa_stamp(struct signer_tsa *t, const EVP_MD *md, const unsigned char *data, size_t len,
		     signer_tsa_serial_fn serial, void *serial_arg, unsigned char **token,
		     size_t *token_len, efos_err *e);

/* POST /tsa (registered by signer/seal_api.c's route table; uses the TSA the signer service
 * started). */
void signer_tsa_http(struct http_request *req, struct http_response *resp);

#endif
