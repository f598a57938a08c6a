/* Revocation status changes of stored certificates, shared by the lifecycle commands,
 * enrollment clean-up and the admin API. Each runs in the caller's transaction and writes an
 * audit event; the caller calls certs_crl_notify() after commit. */
#ifndef EFOS_CERTS_REVOKE_H
#define EFOS_CERTS_REVOKE_H

#include <libpq-fe.h>
#include <stddef.h>
#include "core/err.h"

/* RFC 5280 CRLReason values we use. OpenSSL's <openssl/x509v3.h> defines CRL_REASON_UNSPECIFIED
 * (0) ... CRL_REASON_AA_COMPROMISE (10) as macros with these very values, so an enum with those
 * names cannot coexist with it: this header includes it and the enum type gets its own
 * constant names. CRL_REASON_KEY_COMPROMISE etc. (the macros) remain what callers write. */
#include <openssl/x509v3.h>
enum cert_revocation_reason {
	CERT_RR_UNSPECIFIED = CRL_REASON_UNSPECIFIED, CERT_RR_KEY_COMPROMISE = CRL_REASON_KEY_COMPROMISE,
	CERT_RR_CA_COMPROMISE = CRL_REASON_CA_COMPROMISE,
	CERT_RR_AFFILIATION_CHANGED = CRL_REASON_AFFILIATION_CHANGED, CERT_RR_SUPERSEDED = CRL_REASON_SUPERSEDED,
	CERT_RR_CESSATION_OF_OPERATION = CRL_REASON_CESSATION_OF_OPERATION,
	CERT_RR_CERTIFICATE_HOLD = CRL_REASON_CERTIFICATE_HOLD,
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

/* Added: parses a serial in hex ("0x" prefix and ':' separators allowed) into its stored form
 * (big-endian, no leading zero bytes). -1 when it is not 1-20 bytes of hex. */
int certs_serial_parse_hex(const char *s, unsigned char *out, size_t cap, size_t *len);

#endif
