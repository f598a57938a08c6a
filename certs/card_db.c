/* The `cards` table and a card's certificates (certs/card_db.h). Parameterised SQL only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include "certs/card_db.h"
#include "core/audit.h"
#include "core/db.h"

#define TS(col) "coalesce(to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"

#define CARD_COLS \
	"c.id, c.person_id, c.affiliation_id, a.org_id, c.enrolled_by, c.token_serial, c.status, " \
	"p.pnr, o.orgnr, " TS("c.created_at") ", " TS("c.pending_until") ", " TS("c.confirmed_at") ", " \
	TS("c.revoked_at") ", coalesce(c.suspended_reason, ''), coalesce(c.pending_until < now(), false)"
#define CARD_FROM \
	" FROM cards c JOIN persons p ON p.id = c.person_id JOIN affiliations a ON a.id = c.affiliation_id" \
	" JOIN organisations o ON o.id = a.org_id"

static void cpy(char *dst, size_t cap, const PGresult *r, int row, int col)
{
	snprintf(dst, cap, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static void row_to_card(const PGresult *r, int i, struct card_row *out)
{
	memset(out, 0, sizeof *out);
	out->id = atol(PQgetvalue(r, i, 0));
	out->person_id = atol(PQgetvalue(r, i, 1));
	out->affiliation_id = atol(PQgetvalue(r, i, 2));
	out->org_id = atol(PQgetvalue(r, i, 3));
	out->enrolled_by = atol(PQgetvalue(r, i, 4));
	cpy(out->token_serial, sizeof out->token_serial, r, i, 5);
	cpy(out->status, sizeof out->status, r, i, 6);
	cpy(out->pnr, sizeof out->pnr, r, i, 7);
	cpy(out->orgnr, sizeof out->orgnr, r, i, 8);
	cpy(out->created_at, sizeof out->created_at, r, i, 9);
	cpy(out->pending_until, sizeof out->pending_until, r, i, 10);
	cpy(out->confirmed_at, sizeof out->confirmed_at, r, i, 11);
	cpy(out->revoked_at, sizeof out->revoked_at, r, i, 12);
	cpy(out->suspended_reason, sizeof out->suspended_reason, r, i, 13);
	out->pending_expired = PQgetvalue(r, i, 14)[0] == 't';
}

/* Runs a card query expected to give 0 or 1 row: returns 1 (filled), 0, or -1. */
static int one_card(PGconn *c, const char *sql, int np, const char *const *p, struct card_row *out, efos_err *e)
{
	PGresult *r = db_exec(c, sql, np, p, e);
	if (r == NULL)
		return -1;
	int n = PQntuples(r);
	if (n > 0)
		row_to_card(r, 0, out);
	PQclear(r);
	return n > 0 ? 1 : 0;
}

int card_db_get(PGconn *c, long id, bool for_update, struct card_row *out, efos_err *e)
{
	char ids[24];
	snprintf(ids, sizeof ids, "%ld", id);
	const char *p[] = { ids };
	int rc = one_card(c, for_update ? "SELECT " CARD_COLS CARD_FROM " WHERE c.id = $1::bigint FOR UPDATE OF c"
					: "SELECT " CARD_COLS CARD_FROM " WHERE c.id = $1::bigint", 1, p, out, e);
	if (rc == 0)
		return efos_fail(e, EFOS_E_NOTFOUND, "no card with id %ld", id);
	return rc < 0 ? -1 : 0;
}

int card_db_live_by_token(PGconn *c, const char *token_serial, struct card_row *out, efos_err *e)
{
	const char *p[] = { token_serial };
	return one_card(c, "SELECT " CARD_COLS CARD_FROM " WHERE c.token_serial = $1 AND "
			"c.status IN ('pending', 'active', 'suspended') ORDER BY c.id DESC LIMIT 1", 1, p, out, e);
}

int card_db_live_for_affiliation(PGconn *c, long affiliation_id, struct card_row *out, efos_err *e)
{
	char ids[24];
	snprintf(ids, sizeof ids, "%ld", affiliation_id);
	const char *p[] = { ids };
	return one_card(c, "SELECT " CARD_COLS CARD_FROM " WHERE c.affiliation_id = $1::bigint AND "
			"c.status IN ('pending', 'active', 'suspended') ORDER BY c.id DESC LIMIT 1", 1, p, out, e);
}

static int many_cards(PGconn *c, const char *sql, int np, const char *const *p, struct card_row **out,
		      size_t *n, efos_err *e)
{
	*out = NULL;
	*n = 0;
	PGresult *r = db_exec(c, sql, np, p, e);
	if (r == NULL)
		return -1;
	int rows = PQntuples(r);
	struct card_row *a = calloc(rows ? (size_t)rows : 1, sizeof *a);
	if (a == NULL) {
		PQclear(r);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	for (int i = 0; i < rows; i++)
		row_to_card(r, i, &a[i]);
	PQclear(r);
	*out = a;
	*n = (size_t)rows;
	return 0;
}

int card_db_list(PGconn *c, const char *pnr, const char *orgnr, const char *status,
		 struct card_row **out, size_t *n, efos_err *e)
{
	const char *p[] = { pnr, orgnr, status };
	return many_cards(c, "SELECT " CARD_COLS CARD_FROM " WHERE ($1::text IS NULL OR p.pnr = $1) AND "
			  "($2::text IS NULL OR o.orgnr = $2) AND ($3::text IS NULL OR c.status = $3) "
			  "ORDER BY c.id LIMIT 1000", 3, p, out, n, e);
}

int card_db_live_of(PGconn *c, long person_id, long org_id, struct card_row **out, size_t *n, efos_err *e)
{
	char ps[24], os[24];
	snprintf(ps, sizeof ps, "%ld", person_id);
	snprintf(os, sizeof os, "%ld", org_id);
	const char *p[] = { ps, os };
	return many_cards(c, "SELECT " CARD_COLS CARD_FROM " WHERE ($1::bigint = 0 OR c.person_id = $1::bigint) "
			  "AND ($2::bigint = 0 OR a.org_id = $2::bigint) AND "
			  "c.status IN ('pending', 'active', 'suspended') ORDER BY c.id FOR UPDATE OF c",
			  2, p, out, n, e);
}

int card_db_next_expired_pending(PGconn *c, struct card_row *out, efos_err *e)
{
	return one_card(c, "SELECT " CARD_COLS CARD_FROM " WHERE c.status = 'pending' AND c.pending_until < now() "
			"ORDER BY c.pending_until LIMIT 1 FOR UPDATE OF c SKIP LOCKED", 0, NULL, out, e);
}

static int unhex(const char *h, unsigned char *out, size_t cap, size_t *len)
{
	size_t n = strlen(h);
	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*len = n / 2;
	return 0;
}

int card_db_certs(PGconn *c, long card_id, struct card_cert **out, size_t *n, efos_err *e)
{
	char ids[24];
	snprintf(ids, sizeof ids, "%ld", card_id);
	const char *p[] = { ids };
	*out = NULL;
	*n = 0;
	PGresult *r = db_exec(c, "SELECT encode(serial, 'hex'), ca_id, profile, status, encode(cert_sha256, 'hex'), "
			      TS("not_after") ", " TS("revoked_at") ", coalesce(revocation_reason, -1) "
			      "FROM certificates WHERE card_id = $1::bigint ORDER BY issued_at, serial", 1, p, e);
	if (r == NULL)
		return -1;
	int rows = PQntuples(r);
	struct card_cert *a = calloc(rows ? (size_t)rows : 1, sizeof *a);
	if (a == NULL) {
		PQclear(r);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	for (int i = 0; i < rows; i++) {
		cpy(a[i].serial_hex, sizeof a[i].serial_hex, r, i, 0);
		unhex(a[i].serial_hex, a[i].serial, sizeof a[i].serial, &a[i].serial_len);
		a[i].ca_id = atol(PQgetvalue(r, i, 1));
		cpy(a[i].profile, sizeof a[i].profile, r, i, 2);
		cpy(a[i].status, sizeof a[i].status, r, i, 3);
		cpy(a[i].sha256, sizeof a[i].sha256, r, i, 4);
		cpy(a[i].not_after, sizeof a[i].not_after, r, i, 5);
		cpy(a[i].revoked_at, sizeof a[i].revoked_at, r, i, 6);
		a[i].reason = atoi(PQgetvalue(r, i, 7));
	}
	PQclear(r);
	*out = a;
	*n = (size_t)rows;
	return 0;
}

X509 *card_db_x509_from_hex(const char *hex)
{
	size_t n = strlen(hex) / 2, len = 0;
	unsigned char *der = malloc(n ? n : 1);
	X509 *x = NULL;
	if (der != NULL && unhex(hex, der, n, &len) == 0) {
		const unsigned char *p = der;
		x = d2i_X509(NULL, &p, (long)len);
	}
	free(der);
	return x;
}

X509 *card_db_cert_x509(PGconn *c, const struct card_cert *cc, efos_err *e)
{
	const char *p[] = { cc->serial_hex };
	PGresult *r = db_exec(c, "SELECT encode(der, 'hex') FROM certificates WHERE serial = decode($1, 'hex')", 1, p, e);
	if (r == NULL)
		return NULL;
	X509 *x = PQntuples(r) == 1 ? card_db_x509_from_hex(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	if (x == NULL)
		efos_fail(e, EFOS_E_INTERNAL, "certificate %s cannot be read from the database", cc->serial_hex);
	return x;
}

int card_db_insert_pending(PGconn *c, const char *token_serial, long person_id, long affiliation_id,
			   long officer_id, int timeout_s, long *card_id, efos_err *e)
{
	char ps[24], as[24], os[24], ts[24];
	snprintf(ps, sizeof ps, "%ld", person_id);
	snprintf(as, sizeof as, "%ld", affiliation_id);
	snprintf(os, sizeof os, "%ld", officer_id);
	snprintf(ts, sizeof ts, "%d", timeout_s);
	const char *p[] = { token_serial, ps, as, os, ts };
	/* The partial unique index on live token serials decides a race between two officers. */
	PGresult *r = db_exec(c, "INSERT INTO cards (token_serial, person_id, affiliation_id, status, enrolled_by, "
			      "pending_until) VALUES ($1, $2::bigint, $3::bigint, 'pending', $4::bigint, "
			      "now() + make_interval(secs => $5::int)) "
			      "ON CONFLICT (token_serial) WHERE status IN ('pending', 'active', 'suspended') DO NOTHING "
			      "RETURNING id", 5, p, e);
	if (r == NULL)
		return -1;
	int n = PQntuples(r);
	if (n == 1)
		*card_id = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (n != 1)
		return efos_fail(e, EFOS_E_CONFLICT, "card already active: token serial %s was enrolled a moment ago "
				 "by another request", token_serial);
	return 0;
}

int card_db_set_status(PGconn *c, long card_id, const char *status, const char *reason, efos_err *e)
{
	char ids[24];
	snprintf(ids, sizeof ids, "%ld", card_id);
	const char *p[] = { ids, status, reason };
	PGresult *r = db_exec(c, "UPDATE cards SET status = $2, pending_until = NULL, "
			      "confirmed_at = CASE WHEN status = 'pending' AND $2 = 'active' THEN now() ELSE confirmed_at END, "
			      "revoked_at = CASE WHEN $2 IN ('revoked', 'abandoned') THEN now() ELSE revoked_at END, "
			      "suspended_reason = CASE WHEN $2 = 'suspended' THEN $3 WHEN $2 = 'active' THEN NULL "
			      "ELSE suspended_reason END WHERE id = $1::bigint", 3, p, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int card_db_officer_may(PGconn *c, long officer_id, const struct card_row *card, enum policy_action a,
			efos_err *e)
{
	if (policy_officer_may(c, officer_id, card->org_id, a, e) < 0)
		return efos_wrap(e, "card %ld (organisation %s)", card->id, card->orgnr);
	return 0;
}

int card_db_audit(PGconn *c, const struct registry_actor *who, const char *action, const char *object,
		  const char *outcome, json_t *details, efos_err *e)
{
	char *d = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(details);
	struct audit_event ev = {
		.node = who->node ? who->node : "efos", .actor = who->name ? who->name : "efos",
		.action = action, .object = object, .outcome = outcome, .details = d,
	};
	int rc = audit_append(c, &ev, e);
	free(d);
	return rc;
}

int card_db_cert_hold(PGconn *c, const struct registry_actor *who, const struct card_cert *cc,
		      const char *why, efos_err *e)
{
	return certs_hold_serial(c, cc->serial, cc->serial_len, who->name, why, NULL, e);
}

int card_db_cert_release(PGconn *c, const struct registry_actor *who, const struct card_cert *cc,
			 const char *why, efos_err *e)
{
	return certs_release_hold_serial(c, cc->serial, cc->serial_len, who->name, why, NULL, e);
}

int card_db_cert_revoke(PGconn *c, const struct registry_actor *who, const struct card_cert *cc,
			enum cert_revocation_reason reason, const char *why, efos_err *e)
{
	return certs_revoke_serial(c, cc->serial, cc->serial_len, reason, who->name, why, NULL, e);
}

static void note(long *notify, size_t *n, size_t cap, long ca_id)
{
	for (size_t i = 0; i < *n; i++)
		if (notify[i] == ca_id)
			return;
	if (*n < cap)
		notify[(*n)++] = ca_id;
}

/* Revokes every certificate of the card that is not revoked yet. */
static int revoke_all(PGconn *c, const struct registry_actor *who, long card_id,
		      enum cert_revocation_reason reason, const char *why, long *notify, size_t *n_notify,
		      size_t cap, int *count, efos_err *e)
{
	struct card_cert *certs = NULL;
	size_t n = 0;
	*count = 0;
	if (card_db_certs(c, card_id, &certs, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(certs[i].status, "revoked") == 0)
			continue;
		if (card_db_cert_revoke(c, who, &certs[i], reason, why, e) < 0) {
			free(certs);
			return -1;
		}
		note(notify, n_notify, cap, certs[i].ca_id);
		(*count)++;
	}
	free(certs);
	return 0;
}

int card_db_revoke_card(PGconn *c, const struct registry_actor *who, struct card_row *card,
			enum cert_revocation_reason reason, const char *why, const char *action,
			long *notify, size_t *n_notify, size_t cap, efos_err *e)
{
	if (strcmp(card->status, "revoked") == 0 || strcmp(card->status, "abandoned") == 0)
		return efos_fail(e, EFOS_E_CONFLICT, "card %ld is %s already", card->id, card->status);
	int count;
	char cid[24];
	snprintf(cid, sizeof cid, "%ld", card->id);
	if (revoke_all(c, who, card->id, reason, why, notify, n_notify, cap, &count, e) < 0 ||
	    card_db_set_status(c, card->id, "revoked", NULL, e) < 0)
		return -1;
	json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:i}", "token_serial", card->token_serial,
			      "previous_status", card->status, "reason", cert_reason_name(reason),
			      "why", why ? why : "", "certificates_revoked", count);
	if (card_db_audit(c, who, action, cid, "success", d, e) < 0)
		return -1;
	snprintf(card->status, sizeof card->status, "revoked");
	return 0;
}

int card_db_suspend_card(PGconn *c, const struct registry_actor *who, struct card_row *card,
			 const char *why, const char *action, long *notify, size_t *n_notify, size_t cap,
			 efos_err *e)
{
	struct card_cert *certs = NULL;
	size_t n = 0;
	int count = 0;
	char cid[24];
	snprintf(cid, sizeof cid, "%ld", card->id);
	if (card_db_certs(c, card->id, &certs, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(certs[i].status, "good") != 0)
			continue;
		if (card_db_cert_hold(c, who, &certs[i], why, e) < 0) {
			free(certs);
			return -1;
		}
		note(notify, n_notify, cap, certs[i].ca_id);
		count++;
	}
	free(certs);
	if (card_db_set_status(c, card->id, "suspended", why, e) < 0)
		return -1;
	json_t *d = json_pack("{s:s, s:s, s:s, s:i}", "token_serial", card->token_serial,
			      "previous_status", card->status, "why", why ? why : "", "certificates_held", count);
	if (card_db_audit(c, who, action, cid, "success", d, e) < 0)
		return -1;
	snprintf(card->status, sizeof card->status, "suspended");
	return 0;
}

int card_db_abandon_card(PGconn *c, const struct registry_actor *who, struct card_row *card,
			 long *notify, size_t *n_notify, size_t cap, efos_err *e)
{
	int count;
	char cid[24], why[200];
	snprintf(cid, sizeof cid, "%ld", card->id);
	snprintf(why, sizeof why, "enrollment not confirmed before %s", card->pending_until);
	if (revoke_all(c, who, card->id, CRL_REASON_CESSATION_OF_OPERATION, why, notify, n_notify, cap,
		       &count, e) < 0 ||
	    card_db_set_status(c, card->id, "abandoned", NULL, e) < 0)
		return -1;
	json_t *d = json_pack("{s:s, s:s, s:s, s:i}", "token_serial", card->token_serial, "pending_until",
			      card->pending_until, "why", why, "certificates_revoked", count);
	if (card_db_audit(c, who, "card.abandon", cid, "success", d, e) < 0)
		return -1;
	snprintf(card->status, sizeof card->status, "abandoned");
	return 0;
}
