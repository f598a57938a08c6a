/* The `cards` table and a card's certificates, for certs/enroll.c, certs/lifecycle.c and
 * certs/card_api.c only. Every function runs in the caller's transaction; the ones that change
 * a certificate's status go through certs/revoke.h (which audits each certificate) and record
 * the CA ids whose CRL must be reissued in notify[] (at most cap; the caller calls
 * enroll_notify_cas after commit). */
#ifndef EFOS_CERTS_CARD_DB_H
#define EFOS_CERTS_CARD_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/x509.h>
#include "certs/registry.h"
#include "certs/revoke.h"
#include "core/err.h"
#include "policy/roles.h"

struct card_row {
	long id, person_id, affiliation_id, org_id, enrolled_by;
	char token_serial[65];
	char status[16];              /* pending | active | suspended | revoked | abandoned */
	char pnr[13], orgnr[11];
	char created_at[40], pending_until[40], confirmed_at[40], revoked_at[40]; /* "" when NULL */
	char suspended_reason[300];
	bool pending_expired;         /* pending_until is in the past */
};

struct card_cert {
	unsigned char serial[20];
	size_t serial_len;
	char serial_hex[41];
	long ca_id;
	char profile[32];
	char status[16];              /* good | hold | revoked */
	char sha256[65];
	char not_after[40], revoked_at[40];
	int reason;                   /* CRLReason, -1 when none */
};

/* EFOS_E_NOTFOUND "no card with id N". for_update: SELECT ... FOR UPDATE of the card row. */
int card_db_get(PGconn *c, long id, bool for_update, struct card_row *out, efos_err *e);
/* 1 and *out when a live (pending/active/suspended) card has this token serial, else 0. */
int card_db_live_by_token(PGconn *c, const char *token_serial, struct card_row *out, efos_err *e);
/* 1 and *out when the affiliation has a live card, else 0. */
int card_db_live_for_affiliation(PGconn *c, long affiliation_id, struct card_row *out, efos_err *e);
/* Cards by filter (NULL = any): pnr, orgnr, status. At most 1000, ordered by id. */
int card_db_list(PGconn *c, const char *pnr, const char *orgnr, const char *status,
		 struct card_row **out, size_t *n, efos_err *e);
/* Live cards of a person / of an organisation (for suspension), locked FOR UPDATE. */
int card_db_live_of(PGconn *c, long person_id, long org_id, struct card_row **out, size_t *n, efos_err *e);
/* The oldest pending card past pending_until, locked (SKIP LOCKED): 1, or 0 when none. */
int card_db_next_expired_pending(PGconn *c, struct card_row *out, efos_err *e);

/* The card's certificates, oldest first (malloc'd array). */
int card_db_certs(PGconn *c, long card_id, struct card_cert **out, size_t *n, efos_err *e);
X509 *card_db_cert_x509(PGconn *c, const struct card_cert *cc, efos_err *e);
X509 *card_db_x509_from_hex(const char *hex);

int card_db_insert_pending(PGconn *c, const char *token_serial, long person_id, long affiliation_id,
			   long officer_id, int timeout_s, long *card_id, efos_err *e);
/* active (confirmed_at = now when it was pending), suspended (with reason), revoked or
 * abandoned (revoked_at = now); pending_until is cleared. */
int card_db_set_status(PGconn *c, long card_id, const char *status, const char *reason, efos_err *e);

/* The officer's role allows a for the organisation of the card's affiliation. */
int card_db_officer_may(PGconn *c, long officer_id, const struct card_row *card, enum policy_action a,
			efos_err *e);
/* audit_append with who's node/name; details (JSON object, may be NULL) is consumed. */
int card_db_audit(PGconn *c, const struct registry_actor *who, const char *action, const char *object,
		  const char *outcome, json_t *details, efos_err *e);

int card_db_cert_hold(PGconn *c, const struct registry_actor *who, const struct card_cert *cc,
		      const char *why, efos_err *e);
int card_db_cert_release(PGconn *c, const struct registry_actor *who, const struct card_cert *cc,
			 const char *why, efos_err *e);
int card_db_cert_revoke(PGconn *c, const struct registry_actor *who, const struct card_cert *cc,
			enum cert_revocation_reason reason, const char *why, efos_err *e);

/* The card revoked with reason (all its certificates that are not revoked yet), audited as
 * action (card.revoke, card.replace...). */
int card_db_revoke_card(PGconn *c, const struct registry_actor *who, struct card_row *card,
			enum cert_revocation_reason reason, const char *why, const char *action,
			long *notify, size_t *n_notify, size_t cap, efos_err *e);
/* The card suspended: certificateHold on its good certificates, audited as action. */
int card_db_suspend_card(PGconn *c, const struct registry_actor *who, struct card_row *card,
			 const char *why, const char *action, long *notify, size_t *n_notify, size_t cap,
			 efos_err *e);
/* A pending card past its time: abandoned, certificates revoked (cessationOfOperation). */
int card_db_abandon_card(PGconn *c, const struct registry_actor *who, struct card_row *card,
			 long *notify, size_t *n_notify, size_t cap, efos_err *e);

#endif
