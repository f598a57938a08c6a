/* The OCSP responder (RFC 6960, with the RFC 5019 habits relying parties expect) and the own-CA
 * revocation status lookup.
 *
 * For each CertID of a request (hash SHA-1, SHA-256, SHA-384 or SHA-512): the issuer is found
 * by issuerNameHash + issuerKeyHash among the CAs added to the responder; the serial is looked
 * up in `certificates` of that CA: good, revoked (revocationTime, reason unless unspecified),
 * hold (answered revoked with reason certificateHold, RFC 6960 §2.2), not found: unknown (we do
 * not use the "extended revoked" answer of §2.2; a serial this CA never issued is `unknown`).
 *
 * Whole-response errors: DER that does not parse, trailing bytes, no or too many CertIDs:
 * malformedRequest; no CertID of the request names a CA of ours: unauthorized; the database or
 * the HSM failing: tryLater. A CertID of an unknown issuer beside known ones is answered
 * unknown. The response is signed by the delegated OCSP signer of the first known CA's
 * (certs_ocsp_signer(); the CA key itself when it has none) with its certificate included,
 * responderID byKey, thisUpdate now, nextUpdate now + validity; CertIDs of a CA with another
 * signer are answered unknown. The nonce extension is echoed.
 *
 * Reuse: a signed answer to a request without a nonce is kept (bounded cache, thread-safe) and
 * returned again, byte for byte, to a request for the same CertIDs for reuse_window_s seconds,
 * unless a CA it speaks for changed in between (certs_ocsp_responder_invalidate, called by the
 * CRL publisher on certs_crl_notify and on crl_dirty / CRL number changes seen in the DB). */
#ifndef EFOS_CERTS_OCSP_H
#define EFOS_CERTS_OCSP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <libpq-fe.h>
#include <openssl/x509.h>
#include "core/err.h"

struct certs_ca;
struct db_pool;

#define CERTS_OCSP_MAX_REQUEST 16384  /* bytes of DER; larger requests are malformedRequest */
#define CERTS_OCSP_MAX_CERTIDS 16

/* ----- own-CA status, straight from the database (also for certs/ validation) ------------ */

enum certs_cert_status { CERTS_STATUS_GOOD, CERTS_STATUS_REVOKED, CERTS_STATUS_HOLD, CERTS_STATUS_UNKNOWN };

struct certs_status_info {
	enum certs_cert_status status;
	time_t revoked_at;       /* REVOKED, HOLD: when (0 if the database has no time) */
	int reason;              /* REVOKED: RFC 5280 CRLReason, -1 when none stored; HOLD: 6 */
	time_t not_after;        /* the certificate's notAfter (0 when UNKNOWN) */
};

/* Status of the certificate with this serial issued by CA ca_id: UNKNOWN when that CA never
 * issued it (or serial is negative / longer than 20 bytes). -1 (e: UNAVAILABLE when the
 * connection failed, else INTERNAL) only when the database could not answer. */
int certs_ocsp_status_lookup(PGconn *c, long ca_id, const ASN1_INTEGER *serial,
			     struct certs_status_info *out, efos_err *e);

/* ----- the responder --------------------------------------------------------------------- */

struct certs_ocsp_responder;

/* validity_s: nextUpdate - thisUpdate of each answer; reuse_window_s: 0 = never reuse;
 * cache_slots: bound of the reuse cache (0 = a default of 1024). */
int certs_ocsp_responder_new(int validity_s, int reuse_window_s, size_t cache_slots,
			     struct certs_ocsp_responder **out, efos_err *e);
void certs_ocsp_responder_free(struct certs_ocsp_responder *r);

/* Adds a CA to answer for (not thread-safe: before the first certs_ocsp_respond). The
 * responder keeps pointers to ca, signer_cert and signer_key (up-referenced: it frees its
 * references); signer_cert/signer_key NULL = the CA signs with its own key (ca->signer; a CA
 * with neither is answered tryLater). */
int certs_ocsp_responder_add_ca(struct certs_ocsp_responder *r, const struct certs_ca *ca,
				X509 *signer_cert, EVP_PKEY *signer_key, efos_err *e);

/* Drops every reusable answer that speaks for CA ca_id (thread-safe, cheap: bumps the CA's
 * generation). */
void certs_ocsp_responder_invalidate(struct certs_ocsp_responder *r, long ca_id);

struct certs_ocsp_result {
	int response_status;     /* OCSP_RESPONSE_STATUS_* of the answer */
	bool reused;             /* the answer came from the reuse cache */
	bool cacheable;          /* no nonce, successful: HTTP caches may keep it until next_update */
	time_t produced_at, next_update;  /* of a successful answer */
};

/* Answers one DER OCSPRequest. Always produces a DER OCSPResponse in *out (malloc'd, the
 * caller frees) unless memory runs out (-1). db: the pool to take a connection from (a failing
 * database gives tryLater). res may be NULL. */
int certs_ocsp_respond(struct certs_ocsp_responder *r, struct db_pool *db,
		       const unsigned char *req, size_t req_len, unsigned char **out,
		       size_t *out_len, struct certs_ocsp_result *res, efos_err *e);

/* The same with a connection the caller holds (NULL = the database is unavailable: tryLater).
 * *conn_broken is set when the connection failed and should be released as broken. */
int certs_ocsp_respond_conn(struct certs_ocsp_responder *r, PGconn *c,
			    const unsigned char *req, size_t req_len, unsigned char **out,
			    size_t *out_len, struct certs_ocsp_result *res, bool *conn_broken,
			    efos_err *e);

/* GET form (RFC 6960 appendix A.1): decodes the URL path remainder after "/ocsp/" — base64
 * (standard or URL-safe alphabet, padding optional), possibly %-encoded — into DER. -1 when it
 * is not base64 or longer than CERTS_OCSP_MAX_REQUEST. *der is malloc'd. */
int certs_ocsp_decode_get(const char *path_rest, unsigned char **der, size_t *len, efos_err *e);

#endif
