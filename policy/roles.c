/* Officers' roles → allowed actions (the matrix is in roles.h). The database holds who has
 * which role where; this file is the only place that says what a role allows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/db.h"
#include "policy/roles.h"

static const char *const action_names[POLICY_N_ACTIONS] = {
	[POLICY_REGISTRY_READ] = "registry.read",
	[POLICY_PERSON_WRITE] = "person.write",
	[POLICY_PERSON_SUSPEND] = "person.suspend",
	[POLICY_AFFILIATION_WRITE] = "affiliation.write",
	[POLICY_PROOFING_WRITE] = "proofing.write",
	[POLICY_CARD_ENROLL] = "card.enroll",
	[POLICY_CARD_SUSPEND] = "card.suspend",
	[POLICY_CARD_RESUME] = "card.resume",
	[POLICY_CARD_REVOKE] = "card.revoke",
	[POLICY_CARD_UNBLOCK] = "card.unblock",
	[POLICY_CARD_RENEW] = "card.renew",
	[POLICY_ORG_WRITE] = "org.write",
	[POLICY_OFFICER_WRITE] = "officer.write",
	[POLICY_CA_ADMIN] = "ca.admin",
};

static const char *const role_names[POLICY_N_ROLES] = {
	[POLICY_ROLE_REGISTRATION_OFFICER] = "registration_officer",
	[POLICY_ROLE_ORG_ADMIN] = "org_admin",
	[POLICY_ROLE_CA_ADMIN] = "ca_admin",
};

#define A(x) (1u << (x))
/* What each role allows within an organisation (or, for a global row, in every organisation). */
static const unsigned per_org[POLICY_N_ROLES] = {
	[POLICY_ROLE_REGISTRATION_OFFICER] = A(POLICY_REGISTRY_READ) | A(POLICY_PERSON_WRITE)
		| A(POLICY_PERSON_SUSPEND) | A(POLICY_AFFILIATION_WRITE) | A(POLICY_PROOFING_WRITE)
		| A(POLICY_CARD_ENROLL) | A(POLICY_CARD_SUSPEND) | A(POLICY_CARD_RESUME)
		| A(POLICY_CARD_REVOKE) | A(POLICY_CARD_UNBLOCK) | A(POLICY_CARD_RENEW),
	[POLICY_ROLE_ORG_ADMIN] = A(POLICY_REGISTRY_READ) | A(POLICY_PERSON_WRITE)
		| A(POLICY_PERSON_SUSPEND) | A(POLICY_AFFILIATION_WRITE) | A(POLICY_CARD_SUSPEND)
		| A(POLICY_CARD_REVOKE),
	/* a ca_admin row bound to one organisation: everything that organisation's roles allow */
	[POLICY_ROLE_CA_ADMIN] = A(POLICY_REGISTRY_READ) | A(POLICY_PERSON_WRITE)
		| A(POLICY_PERSON_SUSPEND) | A(POLICY_AFFILIATION_WRITE) | A(POLICY_PROOFING_WRITE)
		| A(POLICY_CARD_ENROLL) | A(POLICY_CARD_SUSPEND) | A(POLICY_CARD_RESUME)
		| A(POLICY_CARD_REVOKE) | A(POLICY_CARD_UNBLOCK) | A(POLICY_CARD_RENEW),
};
/* Actions that are not about one organisation: only a global ca_admin. */
static const unsigned global_only = A(POLICY_ORG_WRITE) | A(POLICY_OFFICER_WRITE) | A(POLICY_CA_ADMIN);
#undef A

const char *policy_action_name(enum policy_action a)
{
	return (unsigned)a < POLICY_N_ACTIONS ? action_names[a] : "?";
}

int policy_action_parse(const char *s, enum policy_action *out)
{
	for (int i = 0; s != NULL && i < POLICY_N_ACTIONS; i++)
		if (strcmp(s, action_names[i]) == 0) {
			*out = (enum policy_action)i;
			return 0;
		}
	return -1;
}

const char *policy_role_name(enum policy_role r)
{
	return (unsigned)r < POLICY_N_ROLES ? role_names[r] : "?";
}

int policy_role_parse(const char *s, enum policy_role *out)
{
	for (int i = 0; s != NULL && i < POLICY_N_ROLES; i++)
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum policy_role)i;
			return 0;
		}
	return -1;
}

bool policy_role_allows(enum policy_role r, bool global, enum policy_action a)
{
	if ((unsigned)r >= POLICY_N_ROLES || (unsigned)a >= POLICY_N_ACTIONS)
		return false;
	if (r == POLICY_ROLE_CA_ADMIN && global)
		return true;
	if (global_only & (1u << a))
		return false;
	return (per_org[r] & (1u << a)) != 0;
}

/* The officer's name, whether it is active, and its role rows. */
struct officer_roles {
	char name[300];
	bool active;
	size_t n;
	struct { enum policy_role role; long org_id; } *rows;
};

static void officer_roles_free(struct officer_roles *o)
{
	free(o->rows);
	o->rows = NULL;
}

static int officer_roles_load(PGconn *c, long officer_id, struct officer_roles *o, efos_err *e)
{
	char id[24];
	snprintf(id, sizeof id, "%ld", officer_id);
	const char *p[] = { id };
	memset(o, 0, sizeof *o);
	PGresult *r = db_exec(c, "SELECT o.name, o.active, r.role, coalesce(r.org_id, 0) "
			      "FROM officers o LEFT JOIN officer_roles r ON r.officer_id = o.id "
			      "WHERE o.id = $1", 1, p, e);
	if (r == NULL)
		return -1;
	int n = PQntuples(r);
	if (n == 0) {
		PQclear(r);
		return efos_fail(e, EFOS_E_AUTH, "officer %ld does not exist", officer_id);
	}
	snprintf(o->name, sizeof o->name, "%.256s", PQgetvalue(r, 0, 0));
	o->active = PQgetvalue(r, 0, 1)[0] == 't';
	o->rows = calloc((size_t)n, sizeof *o->rows);
	if (o->rows == NULL) {
		PQclear(r);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	for (int i = 0; i < n; i++) {
		enum policy_role role;
		if (PQgetisnull(r, i, 2) || policy_role_parse(PQgetvalue(r, i, 2), &role) != 0)
			continue;
		o->rows[o->n].role = role;
		o->rows[o->n].org_id = atol(PQgetvalue(r, i, 3));
		o->n++;
	}
	PQclear(r);
	if (!o->active) {
		officer_roles_free(o);
		return efos_fail(e, EFOS_E_AUTH, "officer \"%s\" (id %ld) is deactivated", o->name, officer_id);
	}
	return 0;
}

static bool roles_allow(const struct officer_roles *o, long org_id, enum policy_action a)
{
	for (size_t i = 0; i < o->n; i++) {
		bool global = o->rows[i].org_id == 0;
		if (!global && org_id != POLICY_ORG_ANY && o->rows[i].org_id != org_id)
			continue;
		if (policy_role_allows(o->rows[i].role, global, a))
			return true;
	}
	return false;
}

static void org_label(PGconn *c, long org_id, char *dst, size_t cap)
{
	if (org_id == POLICY_ORG_GLOBAL) {
		snprintf(dst, cap, "every organisation");
		return;
	}
	if (org_id == POLICY_ORG_ANY) {
		snprintf(dst, cap, "any organisation");
		return;
	}
	char id[24];
	snprintf(id, sizeof id, "%ld", org_id);
	const char *p[] = { id };
	efos_err e2;
	PGresult *r = db_exec(c, "SELECT orgnr FROM organisations WHERE id = $1", 1, p, &e2);
	if (r != NULL && PQntuples(r) == 1)
		snprintf(dst, cap, "organisation %s", PQgetvalue(r, 0, 0));
	else
		snprintf(dst, cap, "organisation id %ld", org_id);
	PQclear(r);
}

int policy_officer_may(PGconn *c, long officer_id, long org_id, enum policy_action a, efos_err *e)
{
	if ((unsigned)a >= POLICY_N_ACTIONS)
		return efos_fail(e, EFOS_E_INTERNAL, "unknown action %d", (int)a);
	struct officer_roles o;
	if (officer_roles_load(c, officer_id, &o, e) != 0)
		return -1;
	/* POLICY_ORG_GLOBAL: only rows for every organisation count (roles_allow matches them). */
	bool ok = roles_allow(&o, org_id, a);
	if (ok) {
		officer_roles_free(&o);
		return 0;
	}
	char where[64];
	org_label(c, org_id, where, sizeof where);
	efos_fail(e, EFOS_E_AUTH, "officer \"%s\" (id %ld) has no role allowing %s for %s", o.name,
		  officer_id, policy_action_name(a), where);
	officer_roles_free(&o);
	return -1;
}

int policy_officer_may_for_person(PGconn *c, long officer_id, long person_id, enum policy_action a,
				  efos_err *e)
{
	if ((unsigned)a >= POLICY_N_ACTIONS)
		return efos_fail(e, EFOS_E_INTERNAL, "unknown action %d", (int)a);
	char id[24];
	snprintf(id, sizeof id, "%ld", person_id);
	const char *p[] = { id };
	PGresult *r = db_exec(c, "SELECT p.pnr, a.org_id, o.orgnr FROM persons p "
			      "LEFT JOIN affiliations a ON a.person_id = p.id AND a.status = 'active' "
			      "LEFT JOIN organisations o ON o.id = a.org_id "
			      "WHERE p.id = $1 ORDER BY a.id", 1, p, e);
	if (r == NULL)
		return -1;
	int n = PQntuples(r);
	if (n == 0) {
		PQclear(r);
		return efos_fail(e, EFOS_E_NOTFOUND, "no person with id %ld", person_id);
	}
	struct officer_roles o;
	if (officer_roles_load(c, officer_id, &o, e) != 0) {
		PQclear(r);
		return -1;
	}
	bool ok = false, affiliated = !PQgetisnull(r, 0, 1);
	if (!affiliated)
		ok = roles_allow(&o, POLICY_ORG_ANY, a);
	for (int i = 0; affiliated && i < n && !ok; i++)
		ok = roles_allow(&o, atol(PQgetvalue(r, i, 1)), a);
	if (!ok) {
		char orgs[160] = "";
		size_t len = 0;
		for (int i = 0; affiliated && i < n && len + 12 < sizeof orgs; i++)
			len += (size_t)snprintf(orgs + len, sizeof orgs - len, "%s%s", i ? ", " : "",
						PQgetvalue(r, i, 2));
		if (affiliated)
			efos_fail(e, EFOS_E_AUTH, "officer \"%s\" (id %ld) has no role allowing %s for person %s "
				  "(affiliated with %s)", o.name, officer_id, policy_action_name(a),
				  PQgetvalue(r, 0, 0), orgs);
		else
			efos_fail(e, EFOS_E_AUTH, "officer \"%s\" (id %ld) has no role allowing %s in any organisation",
				  o.name, officer_id, policy_action_name(a));
	}
	officer_roles_free(&o);
	PQclear(r);
	return ok ? 0 : -1;
}
