/* SSO sessions and remembered attribute-release approvals (tables idp_sso_sessions and
 * idp_release_consents, db/0005_idp_sessions.sql; docs/idp.md "Sessions").
 *
 * A session is created by a card login (never for a signature service) and lets the same
 * browser log in to another SP without using the card again, for at most idp.sso_max_age
 * (<= 60 minutes, the federation rule) counted from the card operation, never extended by use.
 * The browser holds only a random 256-bit token in a cookie; the database holds its SHA-256,
 * the person, the card certificate (validated again at every reuse: a card revoked or
 * suspended meanwhile ends the session), the LoA and whether the login was holder-of-key.
 *
 * Whether a session may answer a given request is decided by idp_session_reusable (spec §1.5
 * "SSO ... MUST NOT happen when", §1.12, §6.2). */
#ifndef EFOS_IDP_SESSION_H
#define EFOS_IDP_SESSION_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <time.h>
#include <openssl/x509.h>
#include "core/err.h"
#include "idp/types.h"

struct audit_event;   /* core/audit.h */

#define IDP_SESSION_COOKIE "efos_idp_sso"
#define IDP_SSO_MAX_AGE_LIMIT_S 3600     /* federation rule: never more */

struct idp_sso_session {
	long id;
	long person_id;
	unsigned char cert_sha256[32];
	X509 *card_cert;                  /* owned */
	char loa[128];
	bool hok;
	time_t authn_instant;
	time_t expires_at;
};
void idp_sso_session_free(struct idp_sso_session *s);

/* Stores a session for subj (person_id, card_cert, loa, authn_instant), valid until
 * authn_instant + max_age_s (capped at IDP_SSO_MAX_AGE_LIMIT_S). token receives the cookie value
 * (64 hex digits); *expires_at the end. Runs in the caller's transaction if any. */
int idp_session_create(PGconn *c, const struct idp_subject *subj, bool hok, int max_age_s,
		       char token[65], time_t *expires_at, efos_err *e);

/* The live session for a cookie token: 0 and *out filled; 1 when there is none (unknown,
 * malformed or expired token); -1 on a database error. */
int idp_session_find(PGconn *c, const char *token, time_t now, struct idp_sso_session *out, efos_err *e);

/* Ends a session (its card was refused on reuse, or logout). */
int idp_session_delete(PGconn *c, long id, efos_err *e);

/* Marks a reuse (last_used_at; the expiry never moves). */
int idp_session_touch(PGconn *c, long id, efos_err *e);

/* The same with its audit event ev, in one statement (so one transaction and one round trip,
 * and the audit chain's head is locked for that statement only). EFOS_E_NOTFOUND when the
 * session no longer exists (ended meanwhile): then nothing is written. */
int idp_session_touch_audited(PGconn *c, long id, const struct audit_event *ev, efos_err *e);

/* Deletes expired sessions. */
int idp_session_purge(PGconn *c, long *deleted, efos_err *e);

/* May session s answer request r now? hok_cert is the client certificate of the current TLS
 * connection for a request on a holder-of-key endpoint (else NULL). On false, *why (static
 * text, for logs and docs) says which rule refused. */
bool idp_session_reusable(const struct idp_sso_session *s, const struct idp_authn_request *r, X509 *hok_cert,
			  time_t now, int max_age_s, const char **why);

/* Remembered approval of the attribute-release notice for (person, SP) with exactly this
 * release set (policy_release.set_id). */
int idp_consent_is_remembered(PGconn *c, long person_id, const char *sp_entity_id, const char *set_id,
			      bool *yes, efos_err *e);
int idp_consent_remember(PGconn *c, long person_id, const char *sp_entity_id, const char *set_id, efos_err *e);
int idp_consent_forget(PGconn *c, long person_id, const char *sp_entity_id, efos_err *e);

/* SHA-256 of the DER of x. */
int idp_cert_sha256(X509 *x, unsigned char out[32]);

#endif
