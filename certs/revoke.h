/* Revocation status changes of stored certificates, shared by the lifecycle commands,
 * enrollment clean-up and the admin API. Each runs in the caller's transaction and writes an
 * audit event; the caller calls certs_crl_notify() after commit. */
#ifndef EFOS_CERTS_REVOKE_H
#define EFOS_CERTS_REVOKE_H

#include <libpq-fe.h>
#include <stddef.h>
#include "core/err.h"

/* RFC 5280 CRLReason values we use. */
enum cert_revocation_reason {
	CRL_REASON_UNSPECIFIED = 0, CRL_REASON_KEY_COMPROMISE = 1, CRL_REASON_CA_COMPROMISE = 2,
	CRL_REASON_AFFILIATION_CHANGED = 3, CRL_REASON_SUPERSEDED = 4,
	CRL_REASON_CESSATION_OF_OPERATION = 5, CRL_REASON_CERTIFICATE_HOLD = 6,
};
/* "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "unspecified",
 * and the aliases "card-lost" (keyCompromise), "affiliation-ended" (affiliationChanged). */
int cert_reason_parse(const char *s, enum cert_revocation_reason *out);
const char *cert_reason_name(enum cert_revocation_reason r);

/* serial: big-endian bytes. Revoke (final) / hold / release hold. Refuses to change a revoked
 * certificate. *ca_id (may be NULL) is set for certs_crl_notify. */
int certs_revoke_serial(PGconn *c, const unsigned char *serial, size_t len,
			enum cert_revocation_reason reason, const char *actor, const char *why,
			long *ca_id, efos_err *e);
int certs_hold_serial(PGconn *c, const unsigned char *serial, size_t len, const char *actor,
		      const char *why, long *ca_id, efos_err *e);
int certs_release_hold_serial(PGconn *c, const unsigned char *serial, size_t len,
			      const char *actor, const char *why, long *ca_id, efos_err *e);

#endif
