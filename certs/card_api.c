/* The enrollment and card API (certs/card_api.h): thin JSON handlers over certs/enroll.h and
 * certs/lifecycle.h, which check, authorise and audit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "certs/card_api.h"
#include "certs/card_db.h"
#include "certs/enroll.h"
#include "certs/lifecycle.h"
#include "certs/registry.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"

#define BODY_MAX (256 * 1024)

struct card_req {
	struct http_request *req;
	struct http_response *resp;
	struct efos_ctx *ctx;
	PGconn *c;
	struct registry_officer officer;
	struct registry_actor who;
	json_t *body;
	const char *action;          /* audit action of a refusal */
	char object[80];             /* audit object of a refusal */
	efos_err e;
};

/* ---- JSON ---- */

static char *x509_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL, *data;
	if (b != NULL && PEM_write_bio_X509(b, x)) {
		long n = BIO_get_mem_data(b, &data);
		s = strndup(data, (size_t)n);
	}
	BIO_free(b);
	return s;
}

static void x509_serial_hex(X509 *x, char *out, size_t cap)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL;
	snprintf(out, cap, "%s", h ? h : "");
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	OPENSSL_free(h);
	BN_free(bn);
}

static json_t *issued_json(const struct enroll_card_certs *r)
{
	json_t *issued = json_object(), *chain = json_array();
	for (int k = 0; k < ENROLL_N_KEYS; k++) {
		X509 *x = r->cert[k];
		if (x == NULL)
			continue;
		char serial[64], sha_hex[65], *pem = x509_pem(x);
		unsigned char sha[32];
		unsigned int n = 0;
		X509_digest(x, EVP_sha256(), sha, &n);
		for (unsigned i = 0; i < 32; i++)
			sprintf(sha_hex + 2 * i, "%02x", sha[i]);
		x509_serial_hex(x, serial, sizeof serial);
		json_object_set_new(issued, enroll_key_name(k),
				    json_pack("{s:s?, s:s, s:s, s:s}", "pem", pem, "serial", serial, "sha256", sha_hex,
					      "profile", enroll_key_profile(k)));
		free(pem);
	}
	for (int i = 0; r->chain != NULL && i < sk_X509_num(r->chain); i++) {
		char *pem = x509_pem(sk_X509_value(r->chain, i));
		if (pem != NULL)
			json_array_append_new(chain, json_string(pem));
		free(pem);
	}
	return json_pack("{s:I, s:s, s:s, s:s?, s:o, s:o}", "card_id", (json_int_t)r->card_id, "status", r->status,
			 "token_serial", r->token_serial, "pending_until", r->pending_until[0] ? r->pending_until : NULL,
			 "issued", issued, "chain", chain);
}

static const char *nz(const char *s) { return s && *s ? s : NULL; }

static json_t *card_json(PGconn *c, const struct card_row *card, efos_err *e)
{
	struct card_cert *certs = NULL;
	size_t n = 0;
	if (card_db_certs(c, card->id, &certs, &n, e) < 0)
		return NULL;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?}", "profile", certs[i].profile,
						     "serial", certs[i].serial_hex, "status", certs[i].status,
						     "sha256", certs[i].sha256, "not_after", certs[i].not_after,
						     "revoked_at", nz(certs[i].revoked_at),
						     "revocation_reason", certs[i].reason >= 0
						     ? cert_reason_name((enum cert_revocation_reason)certs[i].reason) : NULL));
	free(certs);
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s?, s:s?, s:s?, s:s?, s:o}",
			      "card_id", (json_int_t)card->id, "status", card->status, "token_serial", card->token_serial,
			      "pnr", card->pnr, "orgnr", card->orgnr, "person_id", (json_int_t)card->person_id,
			      "affiliation_id", (json_int_t)card->affiliation_id, "enrolled_by", (json_int_t)card->enrolled_by,
			      "created_at", card->created_at, "pending_until", nz(card->pending_until),
			      "confirmed_at", nz(card->confirmed_at), "revoked_at", nz(card->revoked_at),
			      "suspended_reason", nz(card->suspended_reason), "certificates", arr);
	if (j == NULL)
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return j;
}

static int reply(struct card_req *a, int status, json_t *j)
{
	if (j == NULL)
		return a->e.code != EFOS_E_NONE ? -1 : efos_fail(&a->e, EFOS_E_INTERNAL, "out of memory building the response");
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (s == NULL)
		return efos_fail(&a->e, EFOS_E_INTERNAL, "out of memory building the response");
	http_resp_status(a->resp, status);
	http_resp_body_take(a->resp, "application/json", s, strlen(s));
	return 0;
}

static int reply_card(struct card_req *a, long card_id)
{
	struct card_row card;
	if (card_db_get(a->c, card_id, false, &card, &a->e) < 0)
		return -1;
	return reply(a, 200, card_json(a->c, &card, &a->e));
}

/* ---- input ---- */

static int body_str(struct card_req *a, const char *key, bool required, const char **out)
{
	*out = NULL;
	json_t *v = a->body ? json_object_get(a->body, key) : NULL;
	if (v == NULL || json_is_null(v))
		return required ? efos_fail(&a->e, EFOS_E_INVALID, "\"%s\" is missing from the request", key) : 0;
	if (!json_is_string(v))
		return efos_fail(&a->e, EFOS_E_INVALID, "\"%s\" must be a string", key);
	*out = json_string_value(v);
	if (strlen(*out) != json_string_length(v))
		return efos_fail(&a->e, EFOS_E_INVALID, "\"%s\" contains a NUL character", key);
	return 0;
}

static int body_csrs(struct card_req *a, const char *csr[ENROLL_N_KEYS], size_t len[ENROLL_N_KEYS])
{
	json_t *o = a->body ? json_object_get(a->body, "csrs") : NULL;
	if (!json_is_object(o))
		return efos_fail(&a->e, EFOS_E_INVALID, "\"csrs\" must be an object {\"auth\": PEM, \"sign\": PEM}");
	for (int k = 0; k < ENROLL_N_KEYS; k++) {
		json_t *v = json_object_get(o, enroll_key_name(k));
		if (!json_is_string(v))
			return efos_fail(&a->e, EFOS_E_INVALID, "\"csrs.%s\" is missing (a PEM CSR signed by the card's %s key)",
					 enroll_key_name(k), enroll_key_name(k));
		csr[k] = json_string_value(v);
		len[k] = json_string_length(v);
	}
	return 0;
}

static int body_id(struct card_req *a, const char *key, long *out)
{
	json_t *v = a->body ? json_object_get(a->body, key) : NULL;
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return efos_fail(&a->e, EFOS_E_INVALID, "\"%s\" must be a positive integer", key);
	*out = (long)json_integer_value(v);
	return 0;
}

/* ---- handlers ---- */

static int h_begin(struct card_req *a)
{
	struct enroll_begin_request r = { 0 };
	struct enroll_card_certs out;
	a->action = "card.enroll.begin";
	if (body_str(a, "pnr", true, &r.pnr) < 0 || body_str(a, "orgnr", true, &r.orgnr) < 0 ||
	    body_str(a, "token_serial", true, &r.token_serial) < 0 || body_csrs(a, r.csr, r.csr_len) < 0)
		return -1;
	snprintf(a->object, sizeof a->object, "token:%.64s", r.token_serial);
	if (enroll_begin(a->c, a->ctx, &a->who, &r, &out, &a->e) < 0)
		return -1;
	int rc = reply(a, 201, issued_json(&out));
	enroll_card_certs_free(&out);
	return rc;
}

static int h_confirm(struct card_req *a)
{
	long card_id = 0;
	const char *serial, *sha[ENROLL_N_KEYS];
	struct enroll_card_certs out;
	a->action = "card.enroll.confirm";
	if (body_id(a, "card_id", &card_id) < 0)
		return -1;
	snprintf(a->object, sizeof a->object, "%ld", card_id);
	if (body_str(a, "token_serial", true, &serial) < 0)
		return -1;
	json_t *o = json_object_get(a->body, "cert_sha256");
	for (int k = 0; k < ENROLL_N_KEYS; k++)
		if ((sha[k] = json_string_value(json_object_get(o, enroll_key_name(k)))) == NULL)
			return efos_fail(&a->e, EFOS_E_INVALID, "\"cert_sha256.%s\" is missing", enroll_key_name(k));
	if (enroll_confirm(a->c, a->ctx, &a->who, card_id, serial, sha, &out, &a->e) < 0)
		return -1;
	int rc = reply(a, 200, issued_json(&out));
	enroll_card_certs_free(&out);
	return rc;
}

static int h_list(struct card_req *a)
{
	const char *pnr = http_req_query(a->req, "pnr"), *orgnr = http_req_query(a->req, "orgnr");
	const char *status = http_req_query(a->req, "status");
	struct card_row *cards = NULL;
	size_t n = 0;
	a->action = "card.list";
	/* Reading cards: registry.read in the organisation asked for, else in any. */
	long org_id = POLICY_ORG_ANY;
	if (orgnr != NULL) {
		struct registry_org org;
		if (registry_org_get_by_orgnr(a->c, orgnr, &org, &a->e) < 0)
			return -1;
		org_id = org.id;
	}
	if (policy_officer_may(a->c, a->who.officer_id, org_id, POLICY_REGISTRY_READ, &a->e) < 0)
		return -1;
	if (card_db_list(a->c, pnr, orgnr, status, &cards, &n, &a->e) < 0)
		return -1;
	json_t *arr = json_array();
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* only cards of organisations the officer may read */
		efos_err ignore;
		if (orgnr == NULL && policy_officer_may(a->c, a->who.officer_id, cards[i].org_id, POLICY_REGISTRY_READ, &ignore) < 0)
			continue;
		json_t *j = card_json(a->c, &cards[i], &a->e);
		if (j == NULL)
			rc = -1;
		else
			json_array_append_new(arr, j);
	}
	free(cards);
	if (rc < 0) {
		json_decref(arr);
		return -1;
	}
	return reply(a, 200, json_pack("{s:o}", "cards", arr));
}

static int h_card(struct card_req *a, long card_id, const char *op)
{
	const char *why = NULL, *reason = NULL, *serial = NULL;
	snprintf(a->object, sizeof a->object, "%ld", card_id);
	if (op == NULL) {
		struct card_row card;
		a->action = "card.show";
		if (strcmp(a->req->method, "GET") != 0 && strcmp(a->req->method, "HEAD") != 0)
			return efos_fail(&a->e, EFOS_E_INVALID, "use GET to read a card");
		if (card_db_get(a->c, card_id, false, &card, &a->e) < 0 ||
		    card_db_officer_may(a->c, a->who.officer_id, &card, POLICY_REGISTRY_READ, &a->e) < 0)
			return -1;
		return reply(a, 200, card_json(a->c, &card, &a->e));
	}
	if (strcmp(a->req->method, "POST") != 0)
		return efos_fail(&a->e, EFOS_E_INVALID, "use POST for /%s", op);
	if (body_str(a, "why", false, &why) < 0 || body_str(a, "reason", false, &reason) < 0 ||
	    body_str(a, "token_serial", false, &serial) < 0)
		return -1;
	if (strcmp(op, "suspend") == 0) {
		a->action = "card.suspend";
		return lifecycle_suspend(a->c, a->ctx, &a->who, card_id, why, &a->e) < 0 ? -1 : reply_card(a, card_id);
	}
	if (strcmp(op, "resume") == 0) {
		a->action = "card.resume";
		return lifecycle_resume(a->c, a->ctx, &a->who, card_id, why, &a->e) < 0 ? -1 : reply_card(a, card_id);
	}
	if (strcmp(op, "revoke") == 0) {
		enum cert_revocation_reason rr;
		a->action = "card.revoke";
		if (lifecycle_reason_parse(reason, &rr, &a->e) < 0 ||
		    lifecycle_revoke(a->c, a->ctx, &a->who, card_id, rr, why, &a->e) < 0)
			return -1;
		return reply_card(a, card_id);
	}
	if (strcmp(op, "unblock") == 0) {
		a->action = "card.pin.unblock";
		if (serial == NULL)
			return efos_fail(&a->e, EFOS_E_INVALID, "\"token_serial\" is missing from the request");
		return lifecycle_unblock_record(a->c, &a->who, card_id, serial, why, &a->e) < 0 ? -1 : reply_card(a, card_id);
	}
	if (strcmp(op, "renew") == 0 || strcmp(op, "replace") == 0) {
		const char *csr[ENROLL_N_KEYS];
		size_t len[ENROLL_N_KEYS];
		struct enroll_card_certs out;
		bool replace = op[2] == 'p';
		a->action = replace ? "card.replace" : "card.renew";
		if (serial == NULL)
			return efos_fail(&a->e, EFOS_E_INVALID, "\"token_serial\" is missing from the request");
		if (body_csrs(a, csr, len) < 0)
			return -1;
		int rc;
		if (replace) {
			enum cert_revocation_reason rr = CRL_REASON_SUPERSEDED;
			if (reason != NULL && lifecycle_reason_parse(reason, &rr, &a->e) < 0)
				return -1;
			rc = lifecycle_replace(a->c, a->ctx, &a->who, card_id, serial, csr, len, rr, why, &out, &a->e);
		} else {
			rc = lifecycle_renew(a->c, a->ctx, &a->who, card_id, serial, csr, len, why, &out, &a->e);
		}
		if (rc < 0)
			return -1;
		rc = reply(a, replace ? 201 : 200, issued_json(&out));
		enroll_card_certs_free(&out);
		return rc;
	}
	return efos_fail(&a->e, EFOS_E_NOTFOUND, "no card operation \"%.32s\" (suspend, resume, revoke, renew, "
			 "replace, unblock)", op);
}

static int h_cards(struct card_req *a)
{
	const char *p = a->req->path + strlen("/api/v1/cards");
	if (*p == '\0' || strcmp(p, "/") == 0) {
		if (strcmp(a->req->method, "GET") != 0 && strcmp(a->req->method, "HEAD") != 0)
			return efos_fail(&a->e, EFOS_E_INVALID, "use GET to list cards (enroll with POST /api/v1/enroll/begin)");
		return h_list(a);
	}
	if (*p != '/')
		return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource");
	p++;
	char *end;
	long id = strtol(p, &end, 10);
	if (end == p || id <= 0 || (*end != '\0' && *end != '/'))
		return efos_fail(&a->e, EFOS_E_NOTFOUND, "\"%.24s\" is not a card id", p);
	const char *op = *end == '/' ? end + 1 : NULL;
	if (op != NULL && (*op == '\0' || strchr(op, '/') != NULL))
		return efos_fail(&a->e, EFOS_E_NOTFOUND, "no such resource");
	return h_card(a, id, op);
}

/* ---- the frame: officer, body, refusal audit ---- */

static void audit_refusal(struct card_req *a)
{
	efos_err e2;
	json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "reason", a->e.msg, "method", a->req->method,
			      "path", a->req->path, "officer_id", (json_int_t)a->officer.id);
	char *d = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	struct audit_event ev = {
		.node = a->who.node, .actor = a->who.name, .action = a->action ? a->action : "card",
		.object = a->object[0] ? a->object : "-",
		.outcome = a->e.code == EFOS_E_AUTH ? "denied" : "failure", .details = d,
	};
	db_rollback(a->c);
	if (db_begin(a->c, &e2) != 0 || audit_append(a->c, &ev, &e2) != 0 || db_commit(a->c, &e2) != 0) {
		db_rollback(a->c);
		log_warn("could not audit a refused card request: %s", e2.msg);
	}
	free(d);
}

static void run(struct http_request *req, struct http_response *resp, int (*fn)(struct card_req *))
{
	struct card_req a = { .req = req, .resp = resp, .ctx = req->ctx };
	bool authenticated = false;
	if (a.ctx == NULL || a.ctx->db == NULL) {
		http_resp_error(resp, 503, "the card API needs the database");
		return;
	}
	if (db_acquire(a.ctx->db, &a.c, &a.e) != 0) {
		http_resp_from_err(resp, &a.e);
		return;
	}
	int rc = registry_officer_from_chain(a.c, req->client_chain, &a.officer, &a.e);
	if (rc == 0) {
		authenticated = true;
		a.who.node = a.ctx->cfg && a.ctx->cfg->node_name ? a.ctx->cfg->node_name : "efosd";
		a.who.name = a.officer.cert_subject;
		a.who.officer_id = a.officer.id;
		if (req->body_len > BODY_MAX) {
			rc = efos_fail(&a.e, EFOS_E_TOOBIG, "request body larger than 256 KiB");
		} else if (req->body_len > 0) {
			json_error_t je;
			a.body = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
			if (a.body == NULL)
				rc = efos_fail(&a.e, EFOS_E_INVALID, "request body is not valid JSON: %s (line %d, column %d)",
					       je.text, je.line, je.column);
			else if (!json_is_object(a.body))
				rc = efos_fail(&a.e, EFOS_E_INVALID, "request body must be a JSON object");
		}
	}
	if (rc == 0)
		rc = fn(&a);
	if (rc != 0) {
		if (a.e.code == EFOS_E_NONE)
			efos_fail(&a.e, EFOS_E_INTERNAL, "request failed without a reason");
		log_write(a.e.code == EFOS_E_INTERNAL ? LOG_LVL_ERROR : LOG_LVL_WARN, NULL, "card API refused %s %s: %s",
			  req->method, req->path, a.e.msg);
		if (authenticated && a.e.code != EFOS_E_UNAVAILABLE && !db_conn_broken(a.c))
			audit_refusal(&a);
		http_resp_from_err(resp, &a.e);
	}
	db_rollback(a.c);
	json_decref(a.body);
	db_release(a.ctx->db, a.c, db_conn_broken(a.c));
}

static void route_begin(struct http_request *req, struct http_response *resp) { run(req, resp, h_begin); }
static void route_confirm(struct http_request *req, struct http_response *resp) { run(req, resp, h_confirm); }
static void route_cards(struct http_request *req, struct http_response *resp) { run(req, resp, h_cards); }

const struct http_route certs_card_routes[] = {
	{ "POST", "/api/v1/enroll/begin", HTTP_ROUTE_CLIENT_CERT, route_begin, "enroll_begin" },
	{ "POST", "/api/v1/enroll/confirm", HTTP_ROUTE_CLIENT_CERT, route_confirm, "enroll_confirm" },
	{ NULL, "/api/v1/cards", HTTP_ROUTE_PREFIX | HTTP_ROUTE_CLIENT_CERT, route_cards, "cards" },
};
const size_t certs_card_n_routes = sizeof certs_card_routes / sizeof certs_card_routes[0];
