/* The admin API (admin_api.h): thin JSON handlers over certs/registry.h, authorised by
 * policy/roles.h. The handlers parse, authorise, call the registry (which checks the input and
 * audits the change in its transaction) and render; nothing here touches the tables. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "certs/admin_api.h"
#include "certs/registry.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"
#include "policy/identity_numbers.h"
#include "policy/roles.h"

#define ADMIN_PREFIX "/api/v1/admin"
#define MAX_SEGS 4

struct admin_req {
	struct http_request *req;
	struct http_response *resp;
	PGconn *c;
	struct registry_officer officer;
	struct registry_actor who;
	json_t *body;                 /* the request's JSON object, or NULL */
	char pathbuf[256];
	char *seg[MAX_SEGS];          /* path segments after the collection */
	size_t nseg;
	efos_err e;
};

typedef int (*admin_fn)(struct admin_req *a);

/* ---- responses ---- */

static int reply(struct admin_req *a, int status, json_t *j)
{
	if (j == NULL)
		return efos_fail(&a->e, EFOS_E_INTERNAL, "out of memory building the response");
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (s == NULL)
		return efos_fail(&a->e, EFOS_E_INTERNAL, "out of memory building the response");
	http_resp_status(a->resp, status);
	http_resp_body_take(a->resp, "application/json", s, strlen(s));
	return 0;
}

static json_t *org_json(const struct registry_org *o)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)o->id, "orgnr", o->orgnr, "name", o->name,
			 "status", o->status, "created_at", o->created_at);
}

static json_t *person_json(const struct registry_person *p)
{
	return json_pack("{s:I, s:s, s:b, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)p->id, "pnr", p->pnr,
			 "coordination_number", p->is_coordination_number, "given_name", p->given_name,
			 "surname", p->surname, "display_name", p->display_name, "status", p->status,
			 "created_at", p->created_at);
}

static json_t *aff_json(const struct registry_affiliation *f)
{
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s?}", "id", (json_int_t)f->id,
			 "person_id", (json_int_t)f->person_id, "orgnr", f->orgnr, "org_name", f->org_name,
			 "local_id", f->local_id, "org_affiliation", f->org_affiliation,
			 "title", f->title[0] ? f->title : NULL, "status", f->status, "created_at", f->created_at,
			 "ended_at", f->ended_at[0] ? f->ended_at : NULL);
}

static json_t *proof_json(const struct registry_proofing *p)
{
	return json_pack("{s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:b}", "id", (json_int_t)p->id,
			 "person_id", (json_int_t)p->person_id, "officer_id", (json_int_t)p->officer_id,
			 "method", p->method, "document_type", p->document_type, "document_number",
			 p->document_number, "proofed_at", p->proofed_at, "valid_until", p->valid_until,
			 "valid", p->valid);
}

static json_t *officer_json(PGconn *c, const struct registry_officer *o, efos_err *e)
{
	struct registry_officer_role *roles = NULL;
	size_t n = 0;
	if (registry_officer_roles(c, o->id, &roles, &n, e) != 0)
		return NULL;
	json_t *jr = json_array();
	for (size_t i = 0; jr != NULL && i < n; i++)
		json_array_append_new(jr, json_pack("{s:s, s:s?}", "role", roles[i].role, "orgnr",
						    roles[i].orgnr[0] ? roles[i].orgnr : NULL));
	free(roles);
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:b, s:s, s:o}", "id", (json_int_t)o->id, "name", o->name,
			      "cert_subject", o->cert_subject, "cert_sha256", o->cert_sha256, "active", o->active,
			      "created_at", o->created_at, "roles", jr);
	if (j == NULL)
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return j;
}

/* ---- input ---- */

/* A string member of the body; required: missing is an error. */
static int body_str(struct admin_req *a, const char *key, bool required, const char **out)
{
	*out = NULL;
	json_t *v = a->body ? json_object_get(a->body, key) : NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return efos_fail(&a->e, EFOS_E_INVALID, "\"%s\" is missing from the request", key);
		return 0;
	}
	if (!json_is_string(v))
		return efos_fail(&a->e, EFOS_E_INVALID, "\"%s\" must be a string", key);
	*out = json_string_value(v);
	if (strlen(*out) != json_string_length(v))
		return efos_fail(&a->e, EFOS_E_INVALID, "\"%s\" contains a NUL character", key);
	return 0;
}

static int parse_id(struct admin_req *a, const char *s, long *out)
{
	char *end = NULL;
	long v = s ? strtol(s, &end, 10) : 0;
	if (s == NULL || *s == '\0' || *end != '\0' || v <= 0 || v > 1000000000000L)
		return efos_fail(&a->e, EFOS_E_INVALID, "\"%.24s\" is not an id", s ? s : "");
	*out = v;
	return 0;
}

/* ---- authorisation ---- */

/* Writes the "denied" audit event of a refusal by policy (its own transaction). */
static void audit_denied(struct admin_req *a, const char *action, const char *object)
{
	efos_err e2;
	char *d = NULL;
	json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "reason", a->e.msg, "method", a->req->method, "path",
			      a->req->path, "officer_id", (json_int_t)a->officer.id);
	if (j != NULL) {
		d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
	}
	struct audit_event ev = {
		.node = a->who.node, .actor = a->who.name, .action = action, .object = object,
		.outcome = "denied", .details = d,
	};
	db_rollback(a->c);
	if (db_begin(a->c, &e2) != 0 || audit_append(a->c, &ev, &e2) != 0 || db_commit(a->c, &e2) != 0) {
		db_rollback(a->c);
		log_warn("could not audit a refused request: %s", e2.msg);
	}
	free(d);
}

static int may(struct admin_req *a, long org_id, enum policy_action act, const char *object)
{
	if (policy_officer_may(a->c, a->officer.id, org_id, act, &a->e) == 0)
		return 0;
	if (a->e.code == EFOS_E_AUTH)
		audit_denied(a, policy_action_name(act), object);
	return -1;
}

static int may_person(struct admin_req *a, const struct registry_person *p, enum policy_action act)
{
	if (policy_officer_may_for_person(a->c, a->officer.id, p->id, act, &a->e) == 0)
		return 0;
	if (a->e.code == EFOS_E_AUTH) {
		char obj[32];
		snprintf(obj, sizeof obj, "person:%s", p->pnr);
		audit_denied(a, policy_action_name(act), obj);
	}
	return -1;
}

/* The organisation named by orgnr (checked: a malformed number is 400, unknown is 404). */
static int org_by_nr(struct admin_req *a, const char *orgnr, struct registry_org *o)
{
	return registry_org_get_by_orgnr(a->c, orgnr, o, &a->e);
}

static int person_by_pnr(struct admin_req *a, const char *pnr, struct registry_person *p)
{
	return registry_person_get_by_pnr(a->c, pnr, p, &a->e);
}

/* ---- whoami ---- */

static int h_whoami(struct admin_req *a)
{
	if (a->nseg != 0 || strcmp(a->req->method, "GET") != 0)
		return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource");
	json_t *j = officer_json(a->c, &a->officer, &a->e);
	return j ? reply(a, 200, j) : -1;
}

/* ---- organisations ---- */

static int h_orgs(struct admin_req *a)
{
	const char *m = a->req->method;
	struct registry_org o;
	if (a->nseg == 0 && !strcmp(m, "POST")) {
		const char *orgnr, *name;
		if (body_str(a, "orgnr", true, &orgnr) || body_str(a, "name", true, &name))
			return -1;
		if (policy_orgnr_check(orgnr, &a->e) != 0)
			return -1;
		char obj[32];
		snprintf(obj, sizeof obj, "org:%s", orgnr);
		if (may(a, POLICY_ORG_GLOBAL, POLICY_ORG_WRITE, obj) != 0
		    || registry_org_create(a->c, &a->who, orgnr, name, &o, &a->e) != 0)
			return -1;
		return reply(a, 201, org_json(&o));
	}
	if (a->nseg == 0 && !strcmp(m, "GET")) {
		struct registry_org *v = NULL;
		size_t n = 0;
		if (may(a, POLICY_ORG_ANY, POLICY_REGISTRY_READ, "organisations") != 0
		    || registry_org_list(a->c, 0, 1000, &v, &n, &a->e) != 0)
			return -1;
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(arr, org_json(&v[i]));
		free(v);
		return reply(a, 200, json_pack("{s:o}", "organisations", arr));
	}
	if (a->nseg == 1 && !strcmp(m, "GET")) {
		if (org_by_nr(a, a->seg[0], &o) != 0 || may(a, o.id, POLICY_REGISTRY_READ, "organisation") != 0)
			return -1;
		return reply(a, 200, org_json(&o));
	}
	if (a->nseg == 2 && !strcmp(m, "POST") && (!strcmp(a->seg[1], "suspend") || !strcmp(a->seg[1], "resume"))) {
		bool suspend = !strcmp(a->seg[1], "suspend");
		const char *reason;
		if (body_str(a, "reason", false, &reason) || org_by_nr(a, a->seg[0], &o) != 0)
			return -1;
		char obj[32];
		snprintf(obj, sizeof obj, "org:%s", o.orgnr);
		if (may(a, POLICY_ORG_GLOBAL, POLICY_ORG_WRITE, obj) != 0
		    || registry_org_set_status(a->c, &a->who, o.id, suspend, reason, &a->e) != 0
		    || registry_org_get(a->c, o.id, &o, &a->e) != 0)
			return -1;
		return reply(a, 200, org_json(&o));
	}
	return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource: %s %s", m, a->req->path);
}

/* ---- persons ---- */

static int person_full(struct admin_req *a, const struct registry_person *p, int status)
{
	struct registry_affiliation *affs = NULL;
	struct registry_proofing *proofs = NULL;
	size_t na = 0, np = 0;
	if (registry_affiliation_list(a->c, p->id, 0, false, &affs, &na, &a->e) != 0)
		return -1;
	if (registry_proofing_list(a->c, p->id, &proofs, &np, &a->e) != 0) {
		free(affs);
		return -1;
	}
	json_t *j = person_json(p), *ja = json_array(), *jp = json_array();
	for (size_t i = 0; ja && i < na; i++)
		json_array_append_new(ja, aff_json(&affs[i]));
	for (size_t i = 0; jp && i < np; i++)
		json_array_append_new(jp, proof_json(&proofs[i]));
	free(affs);
	free(proofs);
	if (j != NULL) {
		json_object_set_new(j, "affiliations", ja ? ja : json_null());
		json_object_set_new(j, "proofings", jp ? jp : json_null());
	} else {
		json_decref(ja);
		json_decref(jp);
	}
	return reply(a, status, j);
}

static int h_persons(struct admin_req *a)
{
	const char *m = a->req->method;
	struct registry_person p;
	struct registry_org o;
	if (a->nseg == 0 && !strcmp(m, "POST")) {
		const char *pnr, *given, *sur, *disp, *orgnr;
		if (body_str(a, "pnr", true, &pnr) || body_str(a, "given_name", true, &given)
		    || body_str(a, "surname", true, &sur) || body_str(a, "display_name", false, &disp)
		    || body_str(a, "orgnr", false, &orgnr))
			return -1;
		if (policy_pnr_check(pnr, NULL, &a->e) != 0)
			return -1;
		long org_id = POLICY_ORG_ANY;
		if (orgnr != NULL) {
			if (org_by_nr(a, orgnr, &o) != 0)
				return -1;
			org_id = o.id;
		}
		char obj[32];
		snprintf(obj, sizeof obj, "person:%s", pnr);
		if (may(a, org_id, POLICY_PERSON_WRITE, obj) != 0
		    || registry_person_create(a->c, &a->who, pnr, given, sur, disp, &p, &a->e) != 0)
			return -1;
		return person_full(a, &p, 201);
	}
	if (a->nseg == 0 && !strcmp(m, "GET")) {
		const char *orgnr = http_req_query(a->req, "orgnr");
		long org_id = 0;
		if (orgnr != NULL) {
			if (org_by_nr(a, orgnr, &o) != 0 || may(a, o.id, POLICY_REGISTRY_READ, "persons") != 0)
				return -1;
			org_id = o.id;
		} else if (may(a, POLICY_ORG_GLOBAL, POLICY_REGISTRY_READ, "persons") != 0) {
			return -1;
		}
		struct registry_person *v = NULL;
		size_t n = 0;
		if (registry_person_list(a->c, org_id, 0, 1000, &v, &n, &a->e) != 0)
			return -1;
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(arr, person_json(&v[i]));
		free(v);
		return reply(a, 200, json_pack("{s:o}", "persons", arr));
	}
	if (a->nseg >= 1 && person_by_pnr(a, a->seg[0], &p) != 0)
		return -1;
	if (a->nseg == 1 && !strcmp(m, "GET")) {
		if (may_person(a, &p, POLICY_REGISTRY_READ) != 0)
			return -1;
		return person_full(a, &p, 200);
	}
	if (a->nseg == 1 && !strcmp(m, "POST")) {
		const char *given, *sur, *disp;
		if (body_str(a, "given_name", false, &given) || body_str(a, "surname", false, &sur)
		    || body_str(a, "display_name", false, &disp))
			return -1;
		if (!given && !sur && !disp)
			return efos_fail(&a->e, EFOS_E_INVALID, "nothing to change: give given_name, surname or display_name");
		if (may_person(a, &p, POLICY_PERSON_WRITE) != 0
		    || registry_person_update(a->c, &a->who, p.id, given, sur, disp, &a->e) != 0
		    || registry_person_get(a->c, p.id, &p, &a->e) != 0)
			return -1;
		return person_full(a, &p, 200);
	}
	if (a->nseg == 2 && !strcmp(m, "POST") && (!strcmp(a->seg[1], "suspend") || !strcmp(a->seg[1], "resume"))) {
		const char *reason;
		if (body_str(a, "reason", false, &reason) || may_person(a, &p, POLICY_PERSON_SUSPEND) != 0
		    || registry_person_set_status(a->c, &a->who, p.id, !strcmp(a->seg[1], "suspend"), reason, &a->e) != 0
		    || registry_person_get(a->c, p.id, &p, &a->e) != 0)
			return -1;
		return person_full(a, &p, 200);
	}
	return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource: %s %s", m, a->req->path);
}

/* ---- affiliations ---- */

static int h_affiliations(struct admin_req *a)
{
	const char *m = a->req->method;
	struct registry_person p;
	struct registry_org o;
	struct registry_affiliation f;
	if (a->nseg == 0 && !strcmp(m, "POST")) {
		const char *pnr, *orgnr, *local_id, *title;
		if (body_str(a, "pnr", true, &pnr) || body_str(a, "orgnr", true, &orgnr)
		    || body_str(a, "local_id", true, &local_id) || body_str(a, "title", false, &title))
			return -1;
		if (person_by_pnr(a, pnr, &p) != 0 || org_by_nr(a, orgnr, &o) != 0)
			return -1;
		char obj[32];
		snprintf(obj, sizeof obj, "person:%s", pnr);
		if (may(a, o.id, POLICY_AFFILIATION_WRITE, obj) != 0
		    || registry_affiliation_create(a->c, &a->who, p.id, o.id, local_id, title, &f, &a->e) != 0)
			return -1;
		return reply(a, 201, aff_json(&f));
	}
	if (a->nseg == 0 && !strcmp(m, "GET")) {
		const char *pnr = http_req_query(a->req, "pnr"), *orgnr = http_req_query(a->req, "orgnr");
		long pid = 0, oid = 0;
		if (pnr == NULL && orgnr == NULL)
			return efos_fail(&a->e, EFOS_E_INVALID, "give ?pnr= or ?orgnr=");
		if (orgnr != NULL) {
			if (org_by_nr(a, orgnr, &o) != 0 || may(a, o.id, POLICY_REGISTRY_READ, "affiliations") != 0)
				return -1;
			oid = o.id;
		}
		if (pnr != NULL) {
			if (person_by_pnr(a, pnr, &p) != 0 || (orgnr == NULL && may_person(a, &p, POLICY_REGISTRY_READ) != 0))
				return -1;
			pid = p.id;
		}
		struct registry_affiliation *v = NULL;
		size_t n = 0;
		if (registry_affiliation_list(a->c, pid, oid, false, &v, &n, &a->e) != 0)
			return -1;
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(arr, aff_json(&v[i]));
		free(v);
		return reply(a, 200, json_pack("{s:o}", "affiliations", arr));
	}
	if (a->nseg == 2 && !strcmp(m, "POST") && !strcmp(a->seg[1], "end")) {
		long id;
		const char *reason;
		if (parse_id(a, a->seg[0], &id) || body_str(a, "reason", false, &reason)
		    || registry_affiliation_get(a->c, id, &f, &a->e) != 0)
			return -1;
		char obj[40];
		snprintf(obj, sizeof obj, "affiliation:%ld", id);
		if (may(a, f.org_id, POLICY_AFFILIATION_WRITE, obj) != 0
		    || registry_affiliation_end(a->c, &a->who, id, reason, &a->e) != 0
		    || registry_affiliation_get(a->c, id, &f, &a->e) != 0)
			return -1;
		return reply(a, 200, aff_json(&f));
	}
	return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource: %s %s", m, a->req->path);
}

/* ---- proofings ---- */

static int h_proofings(struct admin_req *a)
{
	const char *m = a->req->method;
	struct registry_person p;
	if (a->nseg == 0 && !strcmp(m, "POST")) {
		const char *pnr, *type, *number;
		json_t *checked = a->body ? json_object_get(a->body, "checked") : NULL;
		if (body_str(a, "pnr", true, &pnr) || body_str(a, "document_type", true, &type)
		    || body_str(a, "document_number", true, &number))
			return -1;
		if (checked != NULL && !json_is_boolean(checked))
			return efos_fail(&a->e, EFOS_E_INVALID, "\"checked\" must be true or false");
		if (person_by_pnr(a, pnr, &p) != 0 || may_person(a, &p, POLICY_PROOFING_WRITE) != 0)
			return -1;
		struct registry_proofing pr;
		int days = a->req->ctx && a->req->ctx->cfg ? a->req->ctx->cfg->ca_proofing_validity_days : 30;
		if (registry_proofing_record(a->c, &a->who, p.id, type, number, json_is_true(checked), days, &pr,
					     &a->e) != 0)
			return -1;
		return reply(a, 201, proof_json(&pr));
	}
	if (a->nseg == 0 && !strcmp(m, "GET")) {
		const char *pnr = http_req_query(a->req, "pnr");
		if (pnr == NULL)
			return efos_fail(&a->e, EFOS_E_INVALID, "give ?pnr=");
		if (person_by_pnr(a, pnr, &p) != 0 || may_person(a, &p, POLICY_REGISTRY_READ) != 0)
			return -1;
		struct registry_proofing *v = NULL;
		size_t n = 0;
		if (registry_proofing_list(a->c, p.id, &v, &n, &a->e) != 0)
			return -1;
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(arr, proof_json(&v[i]));
		free(v);
		return reply(a, 200, json_pack("{s:o}", "proofings", arr));
	}
	return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource: %s %s", m, a->req->path);
}

/* ---- officers ---- */

/* The organisation id of an optional "orgnr" (NULL/"" = every organisation: 0). */
static int role_org(struct admin_req *a, const char *orgnr, long *org_id)
{
	*org_id = 0;
	if (orgnr == NULL || *orgnr == '\0')
		return 0;
	struct registry_org o;
	if (org_by_nr(a, orgnr, &o) != 0)
		return -1;
	*org_id = o.id;
	return 0;
}

static int officer_reply(struct admin_req *a, long id, int status)
{
	struct registry_officer o;
	if (registry_officer_get(a->c, id, &o, &a->e) != 0)
		return -1;
	json_t *j = officer_json(a->c, &o, &a->e);
	return j ? reply(a, status, j) : -1;
}

static int officer_create(struct admin_req *a)
{
	const char *name, *pem, *pnr;
	json_t *roles = a->body ? json_object_get(a->body, "roles") : NULL;
	if (body_str(a, "name", true, &name) || body_str(a, "cert_pem", true, &pem) || body_str(a, "pnr", false, &pnr))
		return -1;
	if (roles != NULL && !json_is_array(roles))
		return efos_fail(&a->e, EFOS_E_INVALID, "\"roles\" must be an array of {role, orgnr}");
	if (json_array_size(roles) > 64)
		return efos_fail(&a->e, EFOS_E_INVALID, "too many roles");
	if (may(a, POLICY_ORG_GLOBAL, POLICY_OFFICER_WRITE, "officer") != 0)
		return -1;
	struct registry_person p = { 0 };
	if (pnr != NULL && person_by_pnr(a, pnr, &p) != 0)
		return -1;
	/* the officer and its roles in one transaction */
	if (db_begin(a->c, &a->e) != 0)
		return -1;
	struct registry_officer o;
	if (registry_officer_create(a->c, &a->who, pem, strlen(pem), name, p.id, &o, &a->e) != 0)
		goto fail;
	size_t i;
	json_t *r;
	json_array_foreach(roles, i, r) {
		const char *role = json_string_value(json_object_get(r, "role"));
		json_t *jo = json_object_get(r, "orgnr");
		long org_id;
		if (!json_is_object(r) || role == NULL || (jo && !json_is_null(jo) && !json_is_string(jo))) {
			efos_fail(&a->e, EFOS_E_INVALID, "roles[%zu]: give {\"role\": \"...\", \"orgnr\": \"...\"}", i);
			goto fail;
		}
		if (role_org(a, json_string_value(jo), &org_id) != 0
		    || registry_officer_grant(a->c, &a->who, o.id, role, org_id, &a->e) != 0)
			goto fail;
	}
	if (db_commit(a->c, &a->e) != 0)
		goto fail;
	return officer_reply(a, o.id, 201);
fail:
	db_rollback(a->c);
	return -1;
}

static int h_officers(struct admin_req *a)
{
	const char *m = a->req->method;
	long id = 0;
	if (a->nseg == 0 && !strcmp(m, "POST"))
		return officer_create(a);
	if (a->nseg == 0 && !strcmp(m, "GET")) {
		if (may(a, POLICY_ORG_GLOBAL, POLICY_OFFICER_WRITE, "officers") != 0)
			return -1;
		struct registry_officer *v = NULL;
		size_t n = 0;
		if (registry_officer_list(a->c, &v, &n, &a->e) != 0)
			return -1;
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++) {
			json_t *j = officer_json(a->c, &v[i], &a->e);
			if (j == NULL) {
				json_decref(arr);
				free(v);
				return -1;
			}
			json_array_append_new(arr, j);
		}
		free(v);
		return reply(a, 200, json_pack("{s:o}", "officers", arr));
	}
	if (a->nseg >= 1 && parse_id(a, a->seg[0], &id) != 0)
		return -1;
	char obj[32];
	snprintf(obj, sizeof obj, "officer:%ld", id);
	if (a->nseg == 1 && !strcmp(m, "GET")) {
		if (id != a->officer.id && may(a, POLICY_ORG_GLOBAL, POLICY_OFFICER_WRITE, obj) != 0)
			return -1;
		return officer_reply(a, id, 200);
	}
	if (a->nseg == 2 && !strcmp(a->seg[1], "roles") && (!strcmp(m, "POST") || !strcmp(m, "DELETE"))) {
		bool grant = !strcmp(m, "POST");
		const char *role, *orgnr;
		if (grant) {
			if (body_str(a, "role", true, &role) || body_str(a, "orgnr", false, &orgnr))
				return -1;
		} else {
			role = http_req_query(a->req, "role");
			orgnr = http_req_query(a->req, "orgnr");
			if (role == NULL)
				return efos_fail(&a->e, EFOS_E_INVALID, "give ?role= (and ?orgnr= for one organisation)");
		}
		long org_id;
		if (may(a, POLICY_ORG_GLOBAL, POLICY_OFFICER_WRITE, obj) != 0 || role_org(a, orgnr, &org_id) != 0)
			return -1;
		if ((grant ? registry_officer_grant : registry_officer_revoke)(a->c, &a->who, id, role, org_id, &a->e) != 0)
			return -1;
		return officer_reply(a, id, 200);
	}
	if (a->nseg == 2 && !strcmp(m, "POST") && (!strcmp(a->seg[1], "activate") || !strcmp(a->seg[1], "deactivate"))) {
		if (may(a, POLICY_ORG_GLOBAL, POLICY_OFFICER_WRITE, obj) != 0)
			return -1;
		if (id == a->officer.id && !strcmp(a->seg[1], "deactivate"))
			return efos_fail(&a->e, EFOS_E_CONFLICT, "an officer cannot deactivate itself");
		if (registry_officer_set_active(a->c, &a->who, id, !strcmp(a->seg[1], "activate"), &a->e) != 0)
			return -1;
		return officer_reply(a, id, 200);
	}
	return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource: %s %s", m, a->req->path);
}

/* ---- the common part of every request ---- */

static int split_path(struct admin_req *a, const char *collection)
{
	const char *rest = a->req->path + strlen(ADMIN_PREFIX) + strlen(collection);
	if (*rest != '\0' && *rest != '/')
		return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource: %s", a->req->path);
	if (strlen(rest) >= sizeof a->pathbuf)
		return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource");
	snprintf(a->pathbuf, sizeof a->pathbuf, "%s", rest);
	char *save = NULL;
	for (char *s = strtok_r(a->pathbuf, "/", &save); s != NULL; s = strtok_r(NULL, "/", &save)) {
		if (a->nseg == MAX_SEGS)
			return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource: %s", a->req->path);
		for (const char *p = s; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'
			      || *p == '_' || *p == '.'))
				return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource: %s", a->req->path);
		a->seg[a->nseg++] = s;
	}
	return 0;
}

static int parse_body(struct admin_req *a)
{
	if (a->req->body_len == 0)
		return 0;
	if (a->req->body_len > 256 * 1024)
		return efos_fail(&a->e, EFOS_E_TOOBIG, "request body larger than 256 KiB");
	json_error_t je;
	a->body = json_loadb((const char *)a->req->body, a->req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (a->body == NULL)
		return efos_fail(&a->e, EFOS_E_INVALID, "request body is not valid JSON: %s (line %d, column %d)",
				 je.text, je.line, je.column);
	if (!json_is_object(a->body))
		return efos_fail(&a->e, EFOS_E_INVALID, "request body must be a JSON object");
	return 0;
}

static void run(struct http_request *req, struct http_response *resp, const char *collection, admin_fn fn)
{
	struct admin_req a = { .req = req, .resp = resp };
	struct efos_ctx *ctx = req->ctx;
	if (ctx == NULL || ctx->db == NULL) {
		http_resp_error(resp, 503, "the admin API needs the database");
		return;
	}
	if (db_acquire(ctx->db, &a.c, &a.e) != 0) {
		http_resp_from_err(resp, &a.e);
		return;
	}
	int rc = registry_officer_from_chain(a.c, req->client_chain, &a.officer, &a.e);
	if (rc == 0) {
		a.who.node = ctx->cfg && ctx->cfg->node_name ? ctx->cfg->node_name : "efosd";
		a.who.name = a.officer.cert_subject;
		a.who.officer_id = a.officer.id;
		rc = split_path(&a, collection);
	}
	if (rc == 0)
		rc = parse_body(&a);
	if (rc == 0)
		rc = fn(&a);
	if (rc != 0) {
		if (a.e.code == EFOS_E_NONE)
			efos_fail(&a.e, EFOS_E_INTERNAL, "request failed without a reason");
		if (a.e.code == EFOS_E_AUTH)
			log_write(LOG_LVL_WARN, NULL, "admin API refused %s %s: %s", req->method, req->path, a.e.msg);
		http_resp_from_err(resp, &a.e);
	}
	db_rollback(a.c);   /* no-op unless a handler left a transaction open */
	json_decref(a.body);
	db_release(ctx->db, a.c, db_conn_broken(a.c));
}

#define HANDLER(name, coll, fn) \
	static void name(struct http_request *req, struct http_response *resp) { run(req, resp, coll, fn); }
HANDLER(route_whoami, "/whoami", h_whoami)
HANDLER(route_orgs, "/organisations", h_orgs)
HANDLER(route_persons, "/persons", h_persons)
HANDLER(route_affiliations, "/affiliations", h_affiliations)
HANDLER(route_proofings, "/proofings", h_proofings)
HANDLER(route_officers, "/officers", h_officers)

#define R(path, fn, label) \
	{ NULL, ADMIN_PREFIX path, HTTP_ROUTE_PREFIX | HTTP_ROUTE_CLIENT_CERT, fn, label }
const struct http_route admin_routes[] = {
	R("/whoami", route_whoami, "admin_whoami"),
	R("/organisations", route_orgs, "admin_organisations"),
	R("/persons", route_persons, "admin_persons"),
	R("/affiliations", route_affiliations, "admin_affiliations"),
	R("/proofings", route_proofings, "admin_proofings"),
	R("/officers", route_officers, "admin_officers"),
};
const size_t admin_n_routes = sizeof admin_routes / sizeof admin_routes[0];
