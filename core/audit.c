/* The audit chain (schema and hash rule: db/0001_platform.sql).
 *
 * Appending is the SQL function audit_append(), which locks the chain head, takes the next id
 * (ids have no gaps), hashes and inserts: one round trip, inside the caller's transaction.
 * efosd's role can only append through that function; it has no INSERT, UPDATE or DELETE on
 * the table itself.
 *
 * Verifying is done here, independently of the database's own code: read every row in id
 * order, recompute each hash with OpenSSL from what the row holds now, and compare the chain
 * links and the chain head. The first row that does not fit is named. */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/audit.h"
#include "core/db.h"

#define AUDIT_HASH_LEN 32
#define AUDIT_BATCH "1000"
#define AUDIT_TIME_FMT "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"

static bool valid_outcome(const char *o)
{
	return o != NULL && (!strcmp(o, "success") || !strcmp(o, "failure") || !strcmp(o, "denied"));
}

int audit_append(PGconn *c, const struct audit_event *ev, efos_err *e)
{
	if (ev->node == NULL || ev->actor == NULL || ev->action == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "audit event needs node, actor and action");
	if (!valid_outcome(ev->outcome))
		return efos_fail(e, EFOS_E_INTERNAL, "audit event outcome must be success, failure or denied");
	const char *params[] = {
		ev->node, ev->actor, ev->action, ev->object ? ev->object : "", ev->outcome,
		ev->details ? ev->details : "{}",
	};
	PGresult *r = db_exec(c, "SELECT audit_append($1, $2, $3, $4, $5, $6)", 6, params, e);
	if (r == NULL)
		return efos_wrap(e, "writing audit event %s", ev->action);
	PQclear(r);
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* bytea in text form "\x0123..."; -1 unless exactly AUDIT_HASH_LEN bytes. */
static int decode_hash(const char *s, unsigned char out[AUDIT_HASH_LEN])
{
	if (s[0] != '\\' || s[1] != 'x' || strlen(s) != 2 + 2 * AUDIT_HASH_LEN)
		return -1;
	for (int i = 0; i < AUDIT_HASH_LEN; i++) {
		int hi = hexval(s[2 + 2 * i]), lo = hexval(s[3 + 2 * i]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int enc_field(EVP_MD_CTX *md, const char *s)
{
	size_t n = strlen(s);
	unsigned char len[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				 (unsigned char)(n >> 8), (unsigned char)n };
	return EVP_DigestUpdate(md, len, 4) == 1 && EVP_DigestUpdate(md, s, n) == 1 ? 0 : -1;
}

/* The row hash, as db/0001_platform.sql defines it. fields: id, at, node, actor, action,
 * object, outcome, details (text forms). */
static int row_hash(const unsigned char prev[AUDIT_HASH_LEN], const char *const fields[8],
		    unsigned char out[AUDIT_HASH_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int outlen = 0;
	int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
		 && EVP_DigestUpdate(md, prev, AUDIT_HASH_LEN) == 1 && enc_field(md, "efos-audit-v1") == 0;
	for (int i = 0; ok && i < 8; i++)
		ok = enc_field(md, fields[i]) == 0;
	ok = ok && EVP_DigestFinal_ex(md, out, &outlen) == 1 && outlen == AUDIT_HASH_LEN;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static void set_bad(struct audit_verify_result *r, long id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_bad(struct audit_verify_result *r, long id, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->problem, sizeof r->problem, fmt, ap);
	va_end(ap);
	r->first_bad_id = id;
}

/* Walks the chain inside the current transaction (a repeatable-read snapshot when we opened
 * it ourselves). Returns 0 when the walk finished (r says intact or where it broke). */
static int walk(PGconn *c, struct audit_verify_result *r, efos_err *e)
{
	PGresult *res = db_exec(c, "SELECT last_id, last_hash FROM audit_chain_head", 0, NULL, e);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		set_bad(r, 1, "the chain head (audit_chain_head) is missing");
		return 0;
	}
	long head_id = atol(PQgetvalue(res, 0, 0));
	unsigned char head_hash[AUDIT_HASH_LEN];
	int head_ok = decode_hash(PQgetvalue(res, 0, 1), head_hash);
	PQclear(res);

	unsigned char prev[AUDIT_HASH_LEN] = { 0 };
	long expect = 1;
	char after[24];
	for (;;) {
		snprintf(after, sizeof after, "%ld", expect - 1);
		const char *params[] = { after };
		res = db_exec(c, "SELECT id, to_char(at AT TIME ZONE 'UTC', " AUDIT_TIME_FMT "), node, "
			      "actor, action, object, outcome, details::text, prev_hash, hash "
			      "FROM audit_log WHERE id > $1 ORDER BY id LIMIT " AUDIT_BATCH, 1, params, e);
		if (res == NULL)
			return -1;
		int n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			long id = atol(PQgetvalue(res, i, 0));
			if (id > head_id) {
				set_bad(r, id, "row %ld inserted (the chain head ends at row %ld)", id, head_id);
				goto done;
			}
			if (id != expect) {
				if (id == expect + 1)
					set_bad(r, expect, "row %ld deleted (gap after %ld)", expect, expect - 1);
				else
					set_bad(r, expect, "rows %ld to %ld deleted (gap after %ld)", expect,
						id - 1, expect - 1);
				goto done;
			}
			unsigned char rprev[AUDIT_HASH_LEN], rhash[AUDIT_HASH_LEN], calc[AUDIT_HASH_LEN];
			if (decode_hash(PQgetvalue(res, i, 8), rprev) < 0
			    || decode_hash(PQgetvalue(res, i, 9), rhash) < 0) {
				set_bad(r, id, "row %ld altered (malformed hash)", id);
				goto done;
			}
			if (memcmp(rprev, prev, AUDIT_HASH_LEN) != 0) {
				if (id == 1)
					set_bad(r, id, "row 1 inserted (it does not start the chain)");
				else
					set_bad(r, id, "row %ld inserted (it does not link to row %ld; or row %ld "
						"was replaced and rehashed)", id, id - 1, id - 1);
				goto done;
			}
			const char *fields[8];
			for (int f = 0; f < 8; f++)
				fields[f] = PQgetvalue(res, i, f);
			if (row_hash(prev, fields, calc) < 0) {
				PQclear(res);
				return efos_fail(e, EFOS_E_INTERNAL, "SHA-256 failed");
			}
			if (memcmp(calc, rhash, AUDIT_HASH_LEN) != 0) {
				set_bad(r, id, "row %ld altered (its contents do not match its hash)", id);
				goto done;
			}
			memcpy(prev, rhash, AUDIT_HASH_LEN);
			r->rows_checked++;
			expect++;
		}
		PQclear(res);
		res = NULL;
		if (n == 0)
			break;
	}
	if (expect - 1 < head_id) {
		if (expect == head_id)
			set_bad(r, expect, "row %ld deleted (the chain head says the chain ends at row %ld)",
				expect, head_id);
		else
			set_bad(r, expect, "rows %ld to %ld deleted (the chain head says the chain ends at "
				"row %ld)", expect, head_id, head_id);
	} else if (head_ok < 0 || memcmp(head_hash, prev, AUDIT_HASH_LEN) != 0) {
		set_bad(r, head_id > 0 ? head_id : 1, "chain head altered (its hash is not row %ld's)",
			head_id);
	}
	return 0;
done:
	PQclear(res);
	return 0;
}

int audit_verify(PGconn *c, struct audit_verify_result *r, efos_err *e)
{
	memset(r, 0, sizeof *r);
	bool own_tx = PQtransactionStatus(c) == PQTRANS_IDLE;
	if (own_tx) {
		PGresult *res = db_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, e);
		if (res == NULL)
			return -1;
		PQclear(res);
	}
	int rc = walk(c, r, e);
	if (own_tx)
		db_rollback(c);
	if (rc == 0 && r->first_bad_id == 0)
		snprintf(r->problem, sizeof r->problem, "intact");
	return rc;
}

/* Added: the chain head (newest id and its hash as 64 hex digits), for operators who record
 * it outside the database: a superuser who rewrites the whole chain consistently can only be
 * caught by comparing with such a record. */
int audit_head(PGconn *c, long *last_id, char hex[65], efos_err *e)
{
	PGresult *res = db_exec(c, "SELECT last_id, encode(last_hash, 'hex') FROM audit_chain_head", 0, NULL, e);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return efos_fail(e, EFOS_E_INTERNAL, "audit chain head is missing");
	}
	*last_id = atol(PQgetvalue(res, 0, 0));
	snprintf(hex, 65, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}
