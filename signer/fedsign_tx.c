/* Signing transactions in PostgreSQL (see fedsign_tx.h). Every statement is parameterised. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "core/base64.h"
#include "core/db.h"
#include "signer/fedsign_tx.h"

static void id_hash_hex(const char *id, char out[65])
{
	unsigned char md[32];
	EVP_Digest(id, strlen(id), md, NULL, EVP_sha256(), NULL);
	for (size_t i = 0; i < sizeof md; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool is_tx_id(const char *id)
{
	if (id == NULL || strlen(id) != FEDSIGN_TX_ID_LEN)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int fedsign_tx_create(PGconn *c, const struct fedsign_tx_new *t, char *id, efos_err *e)
{
	unsigned char r[32];
	if (RAND_bytes(r, sizeof r) != 1)
		return efos_fail(e, EFOS_E_INTERNAL, "no random bytes for the signing transaction");
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
	char h[65], exp[32], rep[32];
	id_hash_hex(id, h);
	snprintf(exp, sizeof exp, "%" PRId64, (int64_t)t->expires_at);
	snprintf(rep, sizeof rep, "%" PRId64, (int64_t)t->replay_until);
	char *xml = b64_encode(t->request_xml, t->request_xml_len);
	if (xml == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	/* A row whose replay window and lifetime both passed (not swept yet) is no longer a reason
	 * to refuse the RequestID: it is replaced. Otherwise nothing is inserted: a replay. */
	const char *p[8] = { h, t->requester, t->request_id, t->return_url, t->relay_state, xml, exp, rep };
	PGresult *res = db_exec(c,
		"INSERT INTO sign_tx (id_hash, requester, request_id, return_url, relay_state, request_xml, state, "
		"expires_at, replay_until) VALUES (decode($1, 'hex'), $2, $3, $4, $5, decode($6, 'base64'), 'sent', "
		"to_timestamp($7::bigint), to_timestamp($8::bigint)) "
		"ON CONFLICT (requester, request_id) DO UPDATE SET id_hash = EXCLUDED.id_hash, "
		"return_url = EXCLUDED.return_url, relay_state = EXCLUDED.relay_state, "
		"request_xml = EXCLUDED.request_xml, state = 'sent', idp = NULL, authn_request_id = NULL, "
		"sad_request_id = NULL, sent_at = now(), expires_at = EXCLUDED.expires_at, "
		"replay_until = EXCLUDED.replay_until, finished_at = NULL "
		"WHERE GREATEST(sign_tx.expires_at, sign_tx.replay_until) < now()",
		8, p, e);
	free(xml);
	if (res == NULL)
		return efos_wrap(e, "storing the signing transaction");
	bool inserted = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	if (!inserted)
		return efos_fail(e, EFOS_E_CONFLICT, "the RequestID %s was already used by %s (replay)", t->request_id,
				 t->requester);
	return 0;
}

static int exec_tx(PGconn *c, const char *sql, int n, const char *const *p, const char *what, efos_err *e)
{
	PGresult *r = db_exec(c, sql, n, p, e);
	if (r == NULL)
		return efos_wrap(e, "%s", what);
	PQclear(r);
	return 0;
}

int fedsign_tx_set_sent(PGconn *c, const char *id, const char *idp, const char *authn_request_id,
			const char *sad_request_id, efos_err *e)
{
	char h[65];
	id_hash_hex(id, h);
	const char *p[4] = { h, idp, authn_request_id, sad_request_id };
	return exec_tx(c, "UPDATE sign_tx SET idp = $2, authn_request_id = $3, sad_request_id = $4 "
			  "WHERE id_hash = decode($1, 'hex')", 4, p, "recording the AuthnRequest", e);
}

int fedsign_tx_fail(PGconn *c, const char *id, efos_err *e)
{
	char h[65];
	id_hash_hex(id, h);
	const char *p[1] = { h };
	return exec_tx(c, "UPDATE sign_tx SET state = 'failed', finished_at = now() WHERE id_hash = decode($1, 'hex')",
		       1, p, "closing the signing transaction", e);
}

static char *dup_or_null(PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? NULL : strdup(PQgetvalue(r, 0, col));
}

/* TX_COLS start at column o of r. */

#define TX_COLS "requester, request_id, return_url, relay_state, encode(request_xml, 'base64'), idp, " \
		"authn_request_id, sad_request_id, extract(epoch FROM sent_at)::bigint, " \
		"extract(epoch FROM expires_at)::bigint"

static int fill(PGresult *r, int o, struct fedsign_tx *t, efos_err *e)
{
	memset(t, 0, sizeof *t);
	t->requester = dup_or_null(r, o + 0);
	t->request_id = dup_or_null(r, o + 1);
	t->return_url = dup_or_null(r, o + 2);
	t->relay_state = dup_or_null(r, o + 3);
	/* encode(..., 'base64') breaks lines: b64_decode skips them */
	t->request_xml = b64_decode(PQgetvalue(r, 0, o + 4), &t->request_xml_len);
	t->idp = dup_or_null(r, o + 5);
	t->authn_request_id = dup_or_null(r, o + 6);
	t->sad_request_id = dup_or_null(r, o + 7);
	t->sent_at = (time_t)strtoll(PQgetvalue(r, 0, o + 8), NULL, 10);
	t->expires_at = (time_t)strtoll(PQgetvalue(r, 0, o + 9), NULL, 10);
	if (t->requester == NULL || t->request_id == NULL || t->return_url == NULL || t->request_xml == NULL) {
		fedsign_tx_clear(t);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory reading the signing transaction");
	}
	return 0;
}

int fedsign_tx_claim(PGconn *c, const char *id, enum fedsign_claim *st, struct fedsign_tx *out, efos_err *e)
{
	memset(out, 0, sizeof *out);
	*st = FEDSIGN_UNKNOWN;
	if (!is_tx_id(id))
		return 0;
	char h[65];
	id_hash_hex(id, h);
	const char *p[1] = { h };
	PGresult *r = db_exec(c, "UPDATE sign_tx SET state = 'done', finished_at = now() "
			      "WHERE id_hash = decode($1, 'hex') AND state = 'sent' AND idp IS NOT NULL "
			      "AND expires_at > now() RETURNING " TX_COLS, 1, p, e);
	if (r == NULL)
		return efos_wrap(e, "claiming the signing transaction");
	if (PQntuples(r) == 1) {
		*st = FEDSIGN_CLAIMED;
		int rc = fill(r, 0, out, e);
		PQclear(r);
		return rc;
	}
	PQclear(r);
	/* Not claimable: say why. An expired one is closed too (its answer came too late). */
	r = db_exec(c, "UPDATE sign_tx SET state = CASE WHEN state = 'sent' THEN 'failed' ELSE state END, "
		    "finished_at = COALESCE(finished_at, now()) WHERE id_hash = decode($1, 'hex') "
		    "RETURNING state = 'failed' AND expires_at <= now(), " TX_COLS, 1, p, e);
	if (r == NULL)
		return efos_wrap(e, "reading the signing transaction");
	if (PQntuples(r) == 1) {
		*st = FEDSIGN_USED;
		if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
			if (fill(r, 1, out, e) != 0) {
				PQclear(r);
				return -1;
			}
			*st = FEDSIGN_EXPIRED;
		}
	}
	PQclear(r);
	return 0;
}

void fedsign_tx_clear(struct fedsign_tx *t)
{
	free(t->requester);
	free(t->request_id);
	free(t->return_url);
	free(t->relay_state);
	free(t->request_xml);
	free(t->idp);
	free(t->authn_request_id);
	free(t->sad_request_id);
	memset(t, 0, sizeof *t);
}

int fedsign_assertion_replay(PGconn *c, const char *idp, const char *assertion_id, time_t expires_at,
			     efos_err *e)
{
	if (idp == NULL || assertion_id == NULL || idp[0] == '\0' || assertion_id[0] == '\0' ||
	    strlen(idp) > 1024 || strlen(assertion_id) > 256)
		return efos_fail(e, EFOS_E_INVALID, "assertion replay cache: issuer or assertion ID empty or too long");
	char exp[32];
	snprintf(exp, sizeof exp, "%" PRId64, (int64_t)expires_at);
	const char *p[3] = { idp, assertion_id, exp };
	PGresult *r = db_exec(c, "INSERT INTO sign_assertion_replay (idp, assertion_id, expires_at) "
			      "VALUES ($1, $2, to_timestamp($3::bigint)) ON CONFLICT (idp, assertion_id) DO UPDATE "
			      "SET expires_at = EXCLUDED.expires_at, received_at = now() "
			      "WHERE sign_assertion_replay.expires_at < now()", 3, p, e);
	if (r == NULL)
		return efos_wrap(e, "assertion replay cache");
	bool inserted = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (!inserted)
		return efos_fail(e, EFOS_E_CONFLICT, "the assertion %s from %s was already used (replay)", assertion_id,
				 idp);
	return 0;
}

int fedsign_sweep(PGconn *c, long *deleted, efos_err *e)
{
	long n = 0;
	PGresult *r = db_exec(c, "DELETE FROM sign_tx WHERE GREATEST(expires_at, replay_until) < now()", 0, NULL, e);
	if (r == NULL)
		return efos_wrap(e, "sweeping signing transactions");
	n += strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	if ((r = db_exec(c, "DELETE FROM sign_assertion_replay WHERE expires_at < now()", 0, NULL, e)) == NULL)
		return efos_wrap(e, "sweeping the assertion replay cache");
	n += strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	if (deleted != NULL)
		*deleted = n;
	return 0;
}
