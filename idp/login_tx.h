/* A login transaction: one SAML login in progress, from the accepted AuthnRequest to the POST
 * of the Response to the SP, kept in PostgreSQL (table idp_login_tx, db/0005_idp_sessions.sql)
 * so that every step (SSO endpoint on the public listener, card step on the mTLS listener,
 * notice and sign-message pages) may be served by any efosd node.
 *
 * The transaction id is 256 random bits (64 hex digits) carried in the URL (?tx=) and in the
 * forms; only its SHA-256 is stored. A second random value, the CSRF token, is bound to the
 * transaction and must come back in every form POST. Rows live idp.login_tx_lifetime (default
 * 10 minutes) and are deleted when the login finishes (single use: a second "continue" finds
 * nothing), or by idp_login_tx_purge.
 *
 * The request (struct idp_authn_request without its sp pointer, which is looked up again in the
 * current metadata snapshot at each step) and, after authentication, the subject are stored as
 * JSON documents. */
#ifndef EFOS_IDP_LOGIN_TX_H
#define EFOS_IDP_LOGIN_TX_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <time.h>
#include "core/err.h"
#include "idp/types.h"

#define IDP_TX_ID_HEX 64          /* 32 random bytes as hex */
#define IDP_LOGIN_TX_DEFAULT_LIFETIME_S 600

enum idp_tx_state {
	IDP_TX_NEW = 0,               /* request accepted, nobody authenticated yet */
	IDP_TX_AUTHENTICATED,         /* subject known (card login or SSO session) */
};

struct idp_login_tx {
	char id[IDP_TX_ID_HEX + 1];
	char csrf[IDP_TX_ID_HEX + 1];
	enum idp_tx_state state;
	struct idp_authn_request req;  /* req.sp is NULL: resolve it in the current snapshot */
	bool has_subject;
	struct idp_subject subj;
	bool sso;                      /* the subject came from an SSO session (no card used now) */
	bool sign_accepted;            /* the sign message was shown and the user accepted it */
	time_t created_at, expires_at;
};

/* Stores a new transaction for req (copied to JSON; req is not modified). Fills tx->id,
 * tx->csrf and tx->expires_at (other members are left zero: the caller keeps using req). */
int idp_login_tx_create(PGconn *c, const struct idp_authn_request *req, int lifetime_s, time_t now,
			struct idp_login_tx *tx, efos_err *e);

/* Loads the transaction id. EFOS_E_NOTFOUND when it does not exist, is finished or expired;
 * EFOS_E_INVALID when id is not 64 hex digits. out is zeroed first; free it with
 * idp_login_tx_free in every case. */
int idp_login_tx_load(PGconn *c, const char *id, time_t now, struct idp_login_tx *out, efos_err *e);

/* Records who logged in (state -> authenticated). */
int idp_login_tx_set_subject(PGconn *c, const char *id, const struct idp_subject *s, bool sso, efos_err *e);

/* Records that the sign message was shown and accepted. */
int idp_login_tx_set_sign_accepted(PGconn *c, const char *id, efos_err *e);

/* Ends the transaction (deletes it). EFOS_E_NOTFOUND when it was already finished: the caller
 * must not send a second Response. */
int idp_login_tx_finish(PGconn *c, const char *id, efos_err *e);

/* Deletes expired transactions; *deleted may be NULL. */
int idp_login_tx_purge(PGconn *c, long *deleted, efos_err *e);

void idp_login_tx_free(struct idp_login_tx *tx);

/* JSON round trip of the request and the subject (exposed for unit tests). *json malloc'd. */
int idp_login_tx_request_to_json(const struct idp_authn_request *r, char **json, efos_err *e);
int idp_login_tx_request_from_json(const char *json, struct idp_authn_request *r, efos_err *e);
int idp_login_tx_subject_to_json(const struct idp_subject *s, char **json, efos_err *e);
int idp_login_tx_subject_from_json(const char *json, struct idp_subject *s, efos_err *e);

/* Helpers shared by the flow: n random bytes as 2n hex digits (out holds 2n+1); SHA-256 of a
 * NUL-terminated string as 32 bytes; constant-time string compare. */
int idp_random_hex(char *out, size_t nbytes, efos_err *e);
void idp_sha256_str(const char *s, unsigned char out[32]);
bool idp_str_ct_equal(const char *a, const char *b);
bool idp_is_hex64(const char *s);

#endif
