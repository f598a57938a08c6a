/* The state of a federated signing between the two browser round trips (db/0007_fedsign.sql):
 * created at the SignRequest intake, claimed exactly once by the IdP's answer at the ACS.
 * Also the SignRequest replay check (requester + RequestID, unique while the row exists), the
 * assertion replay cache and the sweeper of expired rows. Shared by every efosd node.
 *
 * The transaction id is 32 random bytes in hex (the RelayState we give the IdP); the database
 * keeps only its SHA-256. */
#ifndef EFOS_SIGNER_FEDSIGN_TX_H
#define EFOS_SIGNER_FEDSIGN_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <libpq-fe.h>
#include "core/err.h"

#define FEDSIGN_TX_ID_LEN 64   /* hex characters */

struct fedsign_tx_new {
	const char *requester;
	const char *request_id;
	const char *return_url;
	const char *relay_state;          /* the requester's, may be NULL */
	const unsigned char *request_xml; /* the EidSignRequest as received */
	size_t request_xml_len;
	time_t expires_at;                /* now + signer.tx_lifetime */
	time_t replay_until;              /* until when the RequestID could still be accepted */
};

/* Inserts a transaction in state 'sent' (inside the caller's transaction or autocommit) and
 * writes its id to id (FEDSIGN_TX_ID_LEN + 1 bytes). -1 with EFOS_E_CONFLICT when the requester
 * used this RequestID before (a replay); EFOS_E_UNAVAILABLE when the database is down. */
int fedsign_tx_create(PGconn *c, const struct fedsign_tx_new *t, char *id, efos_err *e);

/* Records where the request went (the IdP, the AuthnRequest's ID, the SADRequest's ID or NULL). */
int fedsign_tx_set_sent(PGconn *c, const char *id, const char *idp, const char *authn_request_id,
			const char *sad_request_id, efos_err *e);

/* Marks the transaction failed (an error SignResponse was posted at the intake). */
int fedsign_tx_fail(PGconn *c, const char *id, efos_err *e);

struct fedsign_tx {
	char *requester, *request_id, *return_url, *relay_state;
	unsigned char *request_xml;
	size_t request_xml_len;
	char *idp, *authn_request_id, *sad_request_id;   /* sad_request_id may be NULL */
	time_t sent_at, expires_at;
};

enum fedsign_claim { FEDSIGN_CLAIMED, FEDSIGN_UNKNOWN, FEDSIGN_USED, FEDSIGN_EXPIRED };

/* Takes the transaction for its one ACS step: state sent -> done, atomically, so a second post
 * (to any node) finds FEDSIGN_USED. *out is filled for CLAIMED and EXPIRED (so an error can
 * still be posted to the requester). -1 only for database errors. */
int fedsign_tx_claim(PGconn *c, const char *id, enum fedsign_claim *st, struct fedsign_tx *out, efos_err *e);
void fedsign_tx_clear(struct fedsign_tx *t);

/* Stores (idp, assertion id) until expires_at; -1 with EFOS_E_CONFLICT when seen before. */
int fedsign_assertion_replay(PGconn *c, const char *idp, const char *assertion_id, time_t expires_at,
			     efos_err *e);

/* Deletes transactions past both their lifetime and replay window, and expired assertion
 * entries. *deleted (may be NULL) gets the number of rows. */
int fedsign_sweep(PGconn *c, long *deleted, efos_err *e);

#endif
