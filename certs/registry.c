/* The registry (registry.h): organisations, persons and affiliations, and the helpers of
 * registry_internal.h. Officers and proofings are in registry_officer.c. */
#include <stdlib.h>
#include <string.h>
#include "certs/lifecycle.h"
#include "certs/registry_internal.h"
#include "core/audit.h"
#include "core/db.h"
#include "core/log.h"
#include "policy/identity_numbers.h"

/* ---- helpers (registry_internal.h) ---- */

int reg_tx_begin(PGconn *c, struct reg_tx *tx, efos_err *e)
{
	tx->own = PQtransactionStatus(c) == PQTRANS_IDLE;
	return tx->own ? db_begin(c, e) : 0;
}

int reg_tx_end(PGconn *c, struct reg_tx *tx, int rc, efos_err *e)
{
	if (!tx->own)
		return rc;
	tx->own = false;
	if (rc != 0) {
		db_rollback(c);
		return rc;
	}
	if (db_commit(c, e) != 0) {
		db_rollback(c);
		return -1;
	}
	return 0;
}

int reg_audit(PGconn *c, const struct registry_actor *who, const char *action, const char *object,
	      json_t *details, efos_err *e)
{
	char *d = NULL;
	if (details != NULL) {
		d = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(details);
		if (d == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	if (who->officer_id > 0 && d != NULL) {
		/* the officer id beside the subject: the actor text alone may not be unique */
		json_t *j = json_loads(d, 0, NULL);
		free(d);
		d = NULL;
		if (j != NULL) {
			json_object_set_new(j, "officer_id", json_integer(who->officer_id));
			d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
			json_decref(j);
		}
	}
	struct audit_event ev = {
		.node = who->node ? who->node : "efos", .actor = who->name ? who->name : "unknown",
		.action = action, .object = object, .outcome = "success", .details = d,
	};
	int rc = audit_append(c, &ev, e);
	free(d);
	return rc;
}

int reg_text_check(const char *field, const char *s, efos_err *e)
{
	if (s == NULL || *s == '\0')
		return efos_fail(e, EFOS_E_INVALID, "%s is missing", field);
	size_t chars = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned ch = *p;
		int len = ch < 0x80 ? 1 : (ch & 0xe0) == 0xc0 ? 2 : (ch & 0xf0) == 0xe0 ? 3 : (ch & 0xf8) == 0xf0 ? 4 : 0;
		if (len == 0 || (len == 2 && ch < 0xc2) || (len == 4 && ch > 0xf4))
			return efos_fail(e, EFOS_E_INVALID, "%s is not valid UTF-8", field);
		unsigned cp = len == 1 ? ch : ch & (0x7fu >> len);
		for (int i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return efos_fail(e, EFOS_E_INVALID, "%s is not valid UTF-8", field);
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && cp < 0x10000))
			return efos_fail(e, EFOS_E_INVALID, "%s is not valid UTF-8", field);
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			return efos_fail(e, EFOS_E_INVALID, "%s contains a control character", field);
		p += len;
		if (++chars > 256)
			return efos_fail(e, EFOS_E_INVALID, "%s is longer than 256 characters", field);
	}
	if (s[0] == ' ' || s[strlen(s) - 1] == ' ')
		return efos_fail(e, EFOS_E_INVALID, "%s starts or ends with a space", field);
	return 0;
}

void reg_copy(char *dst, size_t cap, const PGresult *r, int row, int col)
{
	snprintf(dst, cap, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

long reg_long(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : atol(PQgetvalue(r, row, col));
}

int reg_rows(PGconn *c, const char *sql, int np, const char *const *p, size_t elem_size,
	     reg_row_fn row, void **out, size_t *n, efos_err *e)
{
	*out = NULL;
	*n = 0;
	PGresult *r = db_exec(c, sql, np, p, e);
	if (r == NULL)
		return -1;
	int rows = PQntuples(r);
	unsigned char *v = calloc(rows ? (size_t)rows : 1, elem_size);
	if (v == NULL) {
		PQclear(r);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	for (int i = 0; i < rows; i++)
		row(r, i, v + (size_t)i * elem_size);
	PQclear(r);
	*out = v;
	*n = (size_t)rows;
	return 0;
}

int reg_row_one(PGconn *c, const char *sql, int np, const char *const *p, reg_row_fn row, void *dst,
		efos_err *e)
{
	PGresult *r = db_exec(c, sql, np, p, e);
	if (r == NULL)
		return -1;
	int rc = PQntuples(r) == 1 ? 0 : 1;
	if (rc == 0 && dst != NULL)
		row(r, 0, dst);
	PQclear(r);
	return rc;
}

void reg_ltoa(char buf[24], long v)
{
	snprintf(buf, 24, "%ld", v);
}

/* ---- cards follow the registry ----
 * Suspending a person or an organisation suspends their cards; resuming resumes the cards that
 * were suspended for that reason; ending an affiliation revokes the cards enrolled for it
 * (affiliationChanged). certs/lifecycle.h does it, in this transaction. */
static const char *why_or(const char *reason, const char *dflt)
{
	return reason != NULL && *reason != '\0' ? reason : dflt;
}

static int cards_follow_person(PGconn *c, const struct registry_actor *who, long person_id,
			       bool suspended, const char *reason, efos_err *e)
{
	return suspended ? lifecycle_suspend_cards_of_person(c, person_id, who, why_or(reason, "person suspended"), e)
			 : lifecycle_resume_cards_of_person(c, person_id, who, why_or(reason, "person resumed"), e);
}

static int cards_follow_org(PGconn *c, const struct registry_actor *who, long org_id,
			    bool suspended, const char *reason, efos_err *e)
{
	return suspended ? lifecycle_suspend_cards_of_org(c, org_id, who, why_or(reason, "organisation suspended"), e)
			 : lifecycle_resume_cards_of_org(c, org_id, who, why_or(reason, "organisation resumed"), e);
}

static int cards_follow_affiliation_end(PGconn *c, const struct registry_actor *who,
					long affiliation_id, const char *reason, efos_err *e)
{
	return lifecycle_revoke_cards_of_affiliation(c, affiliation_id, who, why_or(reason, "affiliation ended"), e);
}

/* ---- organisations ---- */

#define ORG_COLS "id, orgnr, name, status, " REG_TS("created_at")

static void org_row(const PGresult *r, int i, void *dst)
{
	struct registry_org *o = dst;
	memset(o, 0, sizeof *o);
	o->id = reg_long(r, i, 0);
	reg_copy(o->orgnr, sizeof o->orgnr, r, i, 1);
	reg_copy(o->name, sizeof o->name, r, i, 2);
	reg_copy(o->status, sizeof o->status, r, i, 3);
	reg_copy(o->created_at, sizeof o->created_at, r, i, 4);
}

static int org_one(PGconn *c, const char *sql, const char *param, const char *what,
		   struct registry_org *out, efos_err *e)
{
	const char *p[] = { param };
	int rc = reg_row_one(c, sql, 1, p, org_row, out, e);
	return rc == 1 ? efos_fail(e, EFOS_E_NOTFOUND, "no organisation %s", what) : rc;
}

int registry_org_get(PGconn *c, long id, struct registry_org *out, efos_err *e)
{
	char b[24], what[40];
	reg_ltoa(b, id);
	snprintf(what, sizeof what, "with id %ld", id);
	return org_one(c, "SELECT " ORG_COLS " FROM organisations WHERE id = $1", b, what, out, e);
}

int registry_org_get_by_orgnr(PGconn *c, const char *orgnr, struct registry_org *out, efos_err *e)
{
	if (policy_orgnr_check(orgnr, e) != 0)
		return -1;
	return org_one(c, "SELECT " ORG_COLS " FROM organisations WHERE orgnr = $1", orgnr, orgnr, out, e);
}

int registry_org_create(PGconn *c, const struct registry_actor *who, const char *orgnr,
			const char *name, struct registry_org *out, efos_err *e)
{
	if (policy_orgnr_check(orgnr, e) != 0 || reg_text_check("organisation name", name, e) != 0)
		return -1;
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	const char *p[] = { orgnr, name };
	char obj[32];
	PGresult *r = db_exec(c, "INSERT INTO organisations (orgnr, name) VALUES ($1, $2) RETURNING " ORG_COLS,
			      2, p, e);
	if (r == NULL) {
		if (e && e->code == EFOS_E_CONFLICT)
			efos_fail(e, EFOS_E_CONFLICT, "organisation %s is registered already", orgnr);
		goto out;
	}
	struct registry_org o;
	org_row(r, 0, &o);
	PQclear(r);
	snprintf(obj, sizeof obj, "org:%s", orgnr);
	if (reg_audit(c, who, "org.create", obj, json_pack("{s:s, s:I}", "name", name, "id", (json_int_t)o.id), e) != 0)
		goto out;
	if (out != NULL)
		*out = o;
	rc = 0;
out:
	return reg_tx_end(c, &tx, rc, e);
}

int registry_org_list(PGconn *c, long after_id, long limit, struct registry_org **out, size_t *n,
		      efos_err *e)
{
	char a[24], l[24];
	reg_ltoa(a, after_id);
	reg_ltoa(l, limit <= 0 || limit > 1000 ? 1000 : limit);
	const char *p[] = { a, l };
	void *v;
	if (reg_rows(c, "SELECT " ORG_COLS " FROM organisations WHERE id > $1 ORDER BY id LIMIT $2",
		     2, p, sizeof **out, org_row, &v, n, e) != 0)
		return -1;
	*out = v;
	return 0;
}

int registry_org_rename(PGconn *c, const struct registry_actor *who, long id, const char *name,
			efos_err *e)
{
	if (reg_text_check("organisation name", name, e) != 0)
		return -1;
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	char b[24], obj[32];
	reg_ltoa(b, id);
	const char *p[] = { b, name };
	PGresult *r = db_exec(c, "UPDATE organisations SET name = $2 WHERE id = $1 RETURNING orgnr", 2, p, e);
	if (r == NULL)
		goto out;
	if (PQntuples(r) != 1) {
		PQclear(r);
		efos_fail(e, EFOS_E_NOTFOUND, "no organisation with id %ld", id);
		goto out;
	}
	snprintf(obj, sizeof obj, "org:%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	rc = reg_audit(c, who, "org.rename", obj, json_pack("{s:s}", "name", name), e);
out:
	return reg_tx_end(c, &tx, rc, e);
}

/* Suspending or resuming an organisation or a person: the same steps on a different table. */
struct reg_status_target {
	const char *table;        /* organisations | persons (constants, never input) */
	const char *key_col;      /* orgnr | pnr: names the row in messages and the audit object */
	const char *noun;         /* for messages */
	const char *kind;         /* audit object and action prefix: org | person */
	int (*cards_follow)(PGconn *c, const struct registry_actor *who, long id, bool suspended,
			    const char *reason, efos_err *e);
};

static int reg_set_status(PGconn *c, const struct registry_actor *who, const struct reg_status_target *t,
			  long id, bool suspended, const char *reason, efos_err *e)
{
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	char b[24], obj[48], sql[128], key[32], action[32];
	reg_ltoa(b, id);
	const char *status = suspended ? "suspended" : "active";
	const char *p[] = { b, status };
	/* lock the row: two officers changing it at once see one winner */
	snprintf(sql, sizeof sql, "SELECT %s, status FROM %s WHERE id = $1 FOR UPDATE", t->key_col, t->table);
	PGresult *r = db_exec(c, sql, 1, p, e);
	if (r == NULL)
		goto out;
	if (PQntuples(r) != 1) {
		PQclear(r);
		efos_fail(e, EFOS_E_NOTFOUND, "no %s with id %ld is registered", t->noun, id);
		goto out;
	}
	snprintf(key, sizeof key, "%s", PQgetvalue(r, 0, 0));
	bool same = strcmp(PQgetvalue(r, 0, 1), status) == 0;
	PQclear(r);
	if (same) {
		efos_fail(e, EFOS_E_CONFLICT, "%s %s is %s already", t->noun, key, status);
		goto out;
	}
	snprintf(sql, sizeof sql, "UPDATE %s SET status = $2 WHERE id = $1", t->table);
	if ((r = db_exec(c, sql, 2, p, e)) == NULL)
		goto out;
	PQclear(r);
	snprintf(obj, sizeof obj, "%s:%s", t->kind, key);
	snprintf(action, sizeof action, "%s.%s", t->kind, suspended ? "suspend" : "resume");
	if (reg_audit(c, who, action, obj, json_pack("{s:s?}", "reason", reason), e) != 0)
		goto out;
	rc = t->cards_follow(c, who, id, suspended, reason, e);
out:
	return reg_tx_end(c, &tx, rc, e);
}

int registry_org_set_status(PGconn *c, const struct registry_actor *who, long id, bool suspended,
			    const char *reason, efos_err *e)
{
	static const struct reg_status_target t = { "organisations", "orgnr", "organisation", "org",
						    cards_follow_org };
	return reg_set_status(c, who, &t, id, suspended, reason, e);
}

/* ---- persons ---- */

#define PERSON_COLS "p.id, p.pnr, p.is_coordination_number, p.given_name, p.surname, p.display_name, " \
	"p.status, " REG_TS("p.created_at")

static void person_row(const PGresult *r, int i, void *dst)
{
	struct registry_person *p = dst;
	memset(p, 0, sizeof *p);
	p->id = reg_long(r, i, 0);
	reg_copy(p->pnr, sizeof p->pnr, r, i, 1);
	p->is_coordination_number = PQgetvalue(r, i, 2)[0] == 't';
	reg_copy(p->given_name, sizeof p->given_name, r, i, 3);
	reg_copy(p->surname, sizeof p->surname, r, i, 4);
	reg_copy(p->display_name, sizeof p->display_name, r, i, 5);
	reg_copy(p->status, sizeof p->status, r, i, 6);
	reg_copy(p->created_at, sizeof p->created_at, r, i, 7);
}

static int person_one(PGconn *c, const char *sql, const char *param, const char *what,
		      struct registry_person *out, efos_err *e)
{
	const char *p[] = { param };
	int rc = reg_row_one(c, sql, 1, p, person_row, out, e);
	return rc == 1 ? efos_fail(e, EFOS_E_NOTFOUND, "no person %s is registered", what) : rc;
}

int registry_person_get(PGconn *c, long id, struct registry_person *out, efos_err *e)
{
	char b[24], what[40];
	reg_ltoa(b, id);
	snprintf(what, sizeof what, "with id %ld", id);
	return person_one(c, "SELECT " PERSON_COLS " FROM persons p WHERE p.id = $1", b, what, out, e);
}

int registry_person_get_by_pnr(PGconn *c, const char *pnr, struct registry_person *out, efos_err *e)
{
	if (policy_pnr_check(pnr, NULL, e) != 0)
		return -1;
	char what[40];
	snprintf(what, sizeof what, "with personnummer %s", pnr);
	return person_one(c, "SELECT " PERSON_COLS " FROM persons p WHERE p.pnr = $1", pnr, what, out, e);
}

int registry_person_create(PGconn *c, const struct registry_actor *who, const char *pnr,
			   const char *given_name, const char *surname, const char *display_name,
			   struct registry_person *out, efos_err *e)
{
	struct policy_pnr_info info;
	char display[2 * REGISTRY_TEXT_MAX + 2];
	if (policy_pnr_check(pnr, &info, e) != 0 || reg_text_check("given name", given_name, e) != 0
	    || reg_text_check("surname", surname, e) != 0)
		return -1;
	if (display_name == NULL || *display_name == '\0') {
		snprintf(display, sizeof display, "%s %s", given_name, surname);
		display_name = display;
	}
	if (reg_text_check("display name", display_name, e) != 0)
		return -1;
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	char obj[32];
	const char *p[] = { pnr, info.is_coordination_number ? "true" : "false", given_name, surname, display_name };
	PGresult *r = db_exec(c, "INSERT INTO persons AS p (pnr, is_coordination_number, given_name, surname, "
			      "display_name) VALUES ($1, $2, $3, $4, $5) RETURNING " PERSON_COLS, 5, p, e);
	if (r == NULL) {
		if (e && e->code == EFOS_E_CONFLICT)
			efos_fail(e, EFOS_E_CONFLICT, "a person with %s %s is registered already",
				  info.is_coordination_number ? "samordningsnummer" : "personnummer", pnr);
		goto out;
	}
	struct registry_person pe;
	person_row(r, 0, &pe);
	PQclear(r);
	snprintf(obj, sizeof obj, "person:%s", pnr);
	if (reg_audit(c, who, "person.create", obj,
		      json_pack("{s:I, s:s, s:s, s:s, s:b}", "id", (json_int_t)pe.id, "given_name", given_name,
				"surname", surname, "display_name", display_name, "coordination_number",
				info.is_coordination_number), e) != 0)
		goto out;
	if (out != NULL)
		*out = pe;
	rc = 0;
out:
	return reg_tx_end(c, &tx, rc, e);
}

int registry_person_list(PGconn *c, long org_id, long after_id, long limit,
			 struct registry_person **out, size_t *n, efos_err *e)
{
	char o[24], a[24], l[24];
	reg_ltoa(o, org_id);
	reg_ltoa(a, after_id);
	reg_ltoa(l, limit <= 0 || limit > 1000 ? 1000 : limit);
	const char *p[] = { o, a, l };
	void *v;
	if (reg_rows(c, "SELECT " PERSON_COLS " FROM persons p WHERE p.id > $2 AND ($1::bigint = 0 OR "
			      "EXISTS (SELECT 1 FROM affiliations a WHERE a.person_id = p.id AND a.org_id = $1 "
			      "AND a.status = 'active')) ORDER BY p.id LIMIT $3",
		     3, p, sizeof **out, person_row, &v, n, e) != 0)
		return -1;
	*out = v;
	return 0;
}

int registry_person_update(PGconn *c, const struct registry_actor *who, long id,
			   const char *given_name, const char *surname, const char *display_name,
			   efos_err *e)
{
	if ((given_name && reg_text_check("given name", given_name, e) != 0)
	    || (surname && reg_text_check("surname", surname, e) != 0)
	    || (display_name && reg_text_check("display name", display_name, e) != 0))
		return -1;
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	char b[24], obj[32];
	reg_ltoa(b, id);
	const char *p[] = { b, given_name, surname, display_name };
	PGresult *r = db_exec(c, "UPDATE persons SET given_name = coalesce($2, given_name), "
			      "surname = coalesce($3, surname), display_name = coalesce($4, display_name) "
			      "WHERE id = $1 RETURNING pnr", 4, p, e);
	if (r == NULL)
		goto out;
	if (PQntuples(r) != 1) {
		PQclear(r);
		efos_fail(e, EFOS_E_NOTFOUND, "no person with id %ld is registered", id);
		goto out;
	}
	snprintf(obj, sizeof obj, "person:%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	rc = reg_audit(c, who, "person.update", obj,
		       json_pack("{s:s?, s:s?, s:s?}", "given_name", given_name, "surname", surname,
				 "display_name", display_name), e);
out:
	return reg_tx_end(c, &tx, rc, e);
}

int registry_person_set_status(PGconn *c, const struct registry_actor *who, long id, bool suspended,
			       const char *reason, efos_err *e)
{
	static const struct reg_status_target t = { "persons", "pnr", "person", "person", cards_follow_person };
	return reg_set_status(c, who, &t, id, suspended, reason, e);
}

/* ---- affiliations ---- */

#define AFF_COLS "a.id, a.person_id, a.org_id, o.orgnr, o.name, o.status, a.local_id, a.title, a.status, " \
	REG_TS("a.created_at") ", " REG_TS("a.ended_at")
#define AFF_FROM " FROM affiliations a JOIN organisations o ON o.id = a.org_id "

static void aff_row(const PGresult *r, int i, void *dst)
{
	struct registry_affiliation *a = dst;
	memset(a, 0, sizeof *a);
	a->id = reg_long(r, i, 0);
	a->person_id = reg_long(r, i, 1);
	a->org_id = reg_long(r, i, 2);
	reg_copy(a->orgnr, sizeof a->orgnr, r, i, 3);
	reg_copy(a->org_name, sizeof a->org_name, r, i, 4);
	reg_copy(a->org_status, sizeof a->org_status, r, i, 5);
	reg_copy(a->local_id, sizeof a->local_id, r, i, 6);
	reg_copy(a->title, sizeof a->title, r, i, 7);
	reg_copy(a->status, sizeof a->status, r, i, 8);
	reg_copy(a->created_at, sizeof a->created_at, r, i, 9);
	reg_copy(a->ended_at, sizeof a->ended_at, r, i, 10);
	snprintf(a->org_affiliation, sizeof a->org_affiliation, "%s@%s", a->local_id, a->orgnr);
}

static int local_id_check(const char *s, efos_err *e)
{
	if (s == NULL || *s == '\0')
		return efos_fail(e, EFOS_E_INVALID, "local id is missing (the organisation's own identifier "
				 "of the person, used in orgAffiliation local_id@orgnr)");
	size_t n = strlen(s);
	if (n > 64)
		return efos_fail(e, EFOS_E_INVALID, "local id is longer than 64 characters");
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
		      || ch == '.' || ch == '_' || ch == '-'))
			return efos_fail(e, EFOS_E_INVALID, "local id \"%.64s\": only letters A-Z a-z, digits and . _ - "
					 "are allowed", s);
	}
	return 0;
}

static int aff_query(PGconn *c, const char *where, int np, const char *const *p,
		     struct registry_affiliation **out, size_t *n, efos_err *e)
{
	char sql[512];
	snprintf(sql, sizeof sql, "SELECT " AFF_COLS AFF_FROM "%s ORDER BY a.id", where);
	void *v;
	if (reg_rows(c, sql, np, p, sizeof **out, aff_row, &v, n, e) != 0)
		return -1;
	*out = v;
	return 0;
}

int registry_affiliation_get(PGconn *c, long id, struct registry_affiliation *out, efos_err *e)
{
	char b[24];
	reg_ltoa(b, id);
	const char *p[] = { b };
	struct registry_affiliation *v;
	size_t n;
	if (aff_query(c, "WHERE a.id = $1", 1, p, &v, &n, e) != 0)
		return -1;
	int rc = n == 1 ? 0 : efos_fail(e, EFOS_E_NOTFOUND, "no affiliation with id %ld", id);
	if (rc == 0 && out != NULL)
		*out = v[0];
	free(v);
	return rc;
}

int registry_affiliation_find(PGconn *c, long person_id, long org_id,
			      struct registry_affiliation *out, efos_err *e)
{
	char a[24], b[24];
	reg_ltoa(a, person_id);
	reg_ltoa(b, org_id);
	const char *p[] = { a, b };
	struct registry_affiliation *v;
	size_t n;
	if (aff_query(c, "WHERE a.person_id = $1 AND a.org_id = $2 AND a.status = 'active'", 2, p, &v, &n, e) != 0)
		return -1;
	int rc = 0;
	if (n != 1) {
		struct registry_org o;
		struct registry_person pe;
		efos_err e2;
		if (registry_person_get(c, person_id, &pe, &e2) == 0 && registry_org_get(c, org_id, &o, &e2) == 0)
			rc = efos_fail(e, EFOS_E_NOTFOUND, "person %s has no active affiliation with organisation %s",
				       pe.pnr, o.orgnr);
		else
			rc = efos_fail(e, EFOS_E_NOTFOUND, "person id %ld has no active affiliation with organisation id %ld",
				       person_id, org_id);
	} else if (out != NULL) {
		*out = v[0];
	}
	free(v);
	return rc;
}

int registry_affiliation_list(PGconn *c, long person_id, long org_id, bool active_only,
			      struct registry_affiliation **out, size_t *n, efos_err *e)
{
	char a[24], b[24];
	reg_ltoa(a, person_id);
	reg_ltoa(b, org_id);
	const char *p[] = { a, b, active_only ? "true" : "false" };
	return aff_query(c, "WHERE ($1::bigint = 0 OR a.person_id = $1) AND ($2::bigint = 0 OR a.org_id = $2) "
			 "AND (NOT $3::boolean OR a.status = 'active')", 3, p, out, n, e);
}

int registry_affiliation_create(PGconn *c, const struct registry_actor *who, long person_id,
				long org_id, const char *local_id, const char *title,
				struct registry_affiliation *out, efos_err *e)
{
	if (local_id_check(local_id, e) != 0)
		return -1;
	if (title != NULL && *title == '\0')
		title = NULL;
	if (title != NULL && reg_text_check("title", title, e) != 0)
		return -1;
	struct registry_person pe;
	struct registry_org o;
	struct registry_affiliation a;
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	char pb[24], ob[24], obj[48];
	if (registry_person_get(c, person_id, &pe, e) != 0 || registry_org_get(c, org_id, &o, e) != 0)
		goto out;
	if (strcmp(o.status, "active") != 0) {
		efos_fail(e, EFOS_E_CONFLICT, "organisation %s is suspended: no new affiliations", o.orgnr);
		goto out;
	}
	efos_err e2;
	if (registry_affiliation_find(c, person_id, org_id, &a, &e2) == 0) {
		efos_fail(e, EFOS_E_CONFLICT, "person %s already has an active affiliation with organisation %s "
			  "(local id %s)", pe.pnr, o.orgnr, a.local_id);
		goto out;
	}
	reg_ltoa(pb, person_id);
	reg_ltoa(ob, org_id);
	const char *p[] = { pb, ob, local_id, title };
	PGresult *r = db_exec(c, "INSERT INTO affiliations (person_id, org_id, local_id, title) "
			      "VALUES ($1, $2, $3, $4) RETURNING id", 4, p, e);
	if (r == NULL) {
		if (e && e->code == EFOS_E_CONFLICT)
			efos_fail(e, EFOS_E_CONFLICT, "local id %s is already used in organisation %s", local_id, o.orgnr);
		goto out;
	}
	long id = reg_long(r, 0, 0);
	PQclear(r);
	if (registry_affiliation_get(c, id, &a, e) != 0)
		goto out;
	snprintf(obj, sizeof obj, "affiliation:%ld", id);
	if (reg_audit(c, who, "affiliation.create", obj,
		      json_pack("{s:s, s:s, s:s, s:s?}", "person", pe.pnr, "orgnr", o.orgnr, "local_id", local_id,
				"title", title), e) != 0)
		goto out;
	if (out != NULL)
		*out = a;
	rc = 0;
out:
	return reg_tx_end(c, &tx, rc, e);
}

int registry_affiliation_end(PGconn *c, const struct registry_actor *who, long id,
			     const char *reason, efos_err *e)
{
	if (reason != NULL && *reason != '\0' && reg_text_check("reason", reason, e) != 0)
		return -1;
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	char b[24], obj[48];
	struct registry_affiliation a;
	reg_ltoa(b, id);
	const char *p[] = { b };
	PGresult *r = db_exec(c, "UPDATE affiliations SET status = 'ended', ended_at = now() "
			      "WHERE id = $1 AND status = 'active' RETURNING id", 1, p, e);
	if (r == NULL)
		goto out;
	int rows = PQntuples(r);
	PQclear(r);
	if (registry_affiliation_get(c, id, &a, e) != 0)
		goto out;
	if (rows != 1) {
		efos_fail(e, EFOS_E_CONFLICT, "affiliation %ld (%s) has ended already", id, a.org_affiliation);
		goto out;
	}
	snprintf(obj, sizeof obj, "affiliation:%ld", id);
	if (reg_audit(c, who, "affiliation.end", obj,
		      json_pack("{s:s, s:s?}", "org_affiliation", a.org_affiliation, "reason", reason), e) != 0)
		goto out;
	rc = cards_follow_affiliation_end(c, who, id, reason, e);
out:
	return reg_tx_end(c, &tx, rc, e);
}

int registry_person_identity(PGconn *c, long person_id, struct registry_person *person,
			     struct registry_affiliation **affs, size_t *n_affs, efos_err *e)
{
	if (registry_person_get(c, person_id, person, e) != 0)
		return -1;
	if (affs == NULL)
		return 0;
	return registry_affiliation_list(c, person_id, 0, true, affs, n_affs, e);
}
