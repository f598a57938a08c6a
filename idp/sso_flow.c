/* The login flow (idp/sso.h; docs/idp.md):
 *
 *   SSO endpoint ── intake ──┬─ untrusted ─────────────► error page (400), no SAML response
 *                            ├─ answerable error ──────► error page, OK posts the error Response
 *                            ├─ SSO session reusable, notice remembered ─► the Response at once
 *                            └─ ok ─► login transaction ─┬─ SSO session reusable ─► /idp/login/next
 *                                                       ├─ IsPassive ────────────► NoPassive Response
 *                                                       └─ else ─► mTLS /idp/login/card
 *   /idp/login/card: certs_card_login on the TLS client chain → PrincipalSelection → SSO session
 *                    (not for signature services) + audit idp.login, one DB transaction
 *   /idp/login/next: sign-message page (once) → attribute release → notice page (unless
 *                    remembered for this SP and this release) → the Response, auto-POSTed
 *
 * The holder-of-key endpoints do the intake and the card login in one request, with the
 * certificate of that TLS connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/x509.h>
#include "certs/validate.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"
#include "idp/login_tx.h"
#include "idp/metadata_publish.h"
#include "idp/metadata_store.h"
#include "idp/pages.h"
#include "idp/session.h"
#include "idp/sso_internal.h"
#include "policy/loa.h"

#define STATUS_CANCEL "http://id.elegnamnden.se/status/1.0/cancel"

/* ---- small helpers ------------------------------------------------------------------------- */

static const char *sp_name(const struct idp_sp *sp, const char *issuer, const char *lang)
{
	if (sp != NULL) {
		const char *sv = sp->display_name_sv ? sp->display_name_sv : sp->org_display_name_sv;
		const char *en = sp->display_name_en ? sp->display_name_en : sp->org_display_name_en;
		const char *n = strcmp(lang, "en") == 0 ? (en ? en : sv) : (sv ? sv : en);
		if (n != NULL)
			return n;
	}
	return issuer ? issuer : "";
}

static void redirect(struct http_response *resp, const char *base, const char *path, const char *tx, const char *lang)
{
	char url[1024];
	snprintf(url, sizeof url, "%s%s?tx=%s&lang=%s", base, path, tx, lang);
	http_resp_status(resp, 303);
	http_resp_header(resp, "Location", url);
	http_resp_header(resp, "Cache-Control", "no-store");
	http_resp_header(resp, "Referrer-Policy", "no-referrer");
	http_resp_body(resp, "text/plain; charset=utf-8", url, strlen(url));
}

/* The language link in the page header: the same page in the other language, where that is a
 * plain GET (tx pages). */
static void lang_link(char *buf, size_t cap, const char *path, const char *tx, const char *lang)
{
	if (tx == NULL || path == NULL) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, cap, "%s?tx=%s&lang=%s", path, tx, strcmp(lang, "en") == 0 ? "sv" : "en");
}

/* An error page without a SAML answer (the request could not be trusted, or nothing is left
 * to answer). */
static void page_error_plain(struct http_response *resp, int status, const char *lang, const char *message,
			     const char *reason, const char *spn)
{
	const char *title = idp_pages_text("error_title", lang);
	struct idp_page_var v[] = {
		{ "title", title }, { "message", message }, { "reason", reason ? reason : "" },
		{ "sp_name", spn ? spn : "" }, { "no_return", "1" },
	};
	idp_page_send(resp, status, idp_page_render("error", lang, v, sizeof v / sizeof v[0]), NULL, NULL);
}

/* The scopes we publish now (the active organisations), for one login. */
struct scopes {
	char **v;
	size_t n;
};
static void scopes_free(struct scopes *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	*s = (struct scopes){ 0 };
}
static int scopes_load(PGconn *c, struct scopes *s, efos_err *e)
{
	*s = (struct scopes){ 0 };
	PGresult *r = db_exec(c, "SELECT orgnr FROM organisations WHERE status = 'active' ORDER BY orgnr", 0, NULL, e);
	if (r == NULL)
		return -1;
	int n = PQntuples(r);
	s->v = calloc((size_t)n + 1, sizeof *s->v);
	for (int i = 0; s->v != NULL && i < n; i++)
		if ((s->v[s->n] = strdup(PQgetvalue(r, i, 0))) != NULL)
			s->n++;
	PQclear(r);
	return s->v != NULL ? 0 : efos_fail(e, EFOS_E_INTERNAL, "out of memory");
}

static void keys_with_scopes(struct idp_response_keys *k, const struct scopes *s)
{
	*k = idp_sso_g.keys;
	k->scopes = (const char *const *)s->v;
	k->n_scopes = s->n;
}

/* Sends the auto-POST page: SAMLResponse (+ RelayState) to the ACS. */
static void page_post(struct http_response *resp, const char *lang, const char *acs, const char *b64,
		      const char *relay, const char *spn)
{
	char *nonce = idp_page_nonce();
	struct idp_page_var v[] = {
		{ "title", idp_pages_text("post_title", lang) }, { "acs_url", acs }, { "saml_response", b64 },
		{ "relay_state", relay ? relay : "" }, { "sp_name", spn ? spn : "" }, { "nonce", nonce ? nonce : "" },
	};
	idp_page_send(resp, 200, idp_page_render("post", lang, v, sizeof v / sizeof v[0]), nonce, acs);
	free(nonce);
}

/* An answerable error (§1.9): the error page with an OK button that POSTs the signed error
 * Response to the ACS (post_now: no page, POST at once: cancel, IsPassive). */
static void answer_error(struct http_response *resp, const char *lang, const struct idp_authn_request *r,
			 const struct idp_status *st, const char *message, const char *reason, bool post_now)
{
	struct idp_response_out out = { 0 };
	efos_err e = { 0 };
	const char *spn = sp_name(r->sp, r->issuer, lang);
	if (r->acs_url == NULL || idp_response_build_error(&idp_sso_g.keys, r, st, 0, &out, &e) != 0) {
		log_error("cannot build the error Response for %s: %s", r->issuer ? r->issuer : "?", e.msg);
		page_error_plain(resp, 500, lang, message, reason, spn);
		return;
	}
	log_write(LOG_LVL_INFO, NULL, "answering %s with %s%s%s (%s)", r->issuer ? r->issuer : "?", st->top,
		  st->second ? " / " : "", st->second ? st->second : "", st->message);
	if (post_now) {
		page_post(resp, lang, r->acs_url, out.b64, r->relay_state, spn);
	} else {
		struct idp_page_var v[] = {
			{ "title", idp_pages_text("error_title", lang) }, { "message", message },
			{ "reason", reason ? reason : "" }, { "sp_name", spn }, { "acs_url", r->acs_url },
			{ "saml_response", out.b64 }, { "relay_state", r->relay_state ? r->relay_state : "" },
		};
		idp_page_send(resp, 200, idp_page_render("error", lang, v, sizeof v / sizeof v[0]), NULL, r->acs_url);
	}
	idp_response_out_free(&out);
}

static void status_set(struct idp_status *st, const char *top, const char *second, const char *msg)
{
	*st = (struct idp_status){ .top = top, .second = second };
	snprintf(st->message, sizeof st->message, "%s", msg ? msg : "");
}

/* ---- database helpers ----------------------------------------------------------------------- */

static PGconn *db_get(struct http_response *resp, const char *lang)
{
	PGconn *c = NULL;
	efos_err e = { 0 };
	if (db_acquire(idp_sso_g.ctx->db, &c, &e) != 0) {
		http_resp_header(resp, "Retry-After", "5");
		page_error_plain(resp, 503, lang, "The login service is temporarily unavailable. Try again in a moment.",
				 e.msg, NULL);
		return NULL;
	}
	return c;
}

static void db_put(PGconn *c)
{
	if (c != NULL)
		db_release(idp_sso_g.ctx->db, c, db_conn_broken(c));
}

/* Deletes expired transactions and sessions at most once a minute per process. */
static void maybe_purge(PGconn *c)
{
	static time_t last;
	time_t now = time(NULL);
	if (now - __atomic_load_n(&last, __ATOMIC_RELAXED) < 60)
		return;
	__atomic_store_n(&last, now, __ATOMIC_RELAXED);
	efos_err e = { 0 };
	long a = 0, b = 0;
	if (idp_login_tx_purge(c, &a, &e) != 0 || idp_session_purge(c, &b, &e) != 0)
		log_warn("purging expired logins and sessions: %s", e.msg);
	else if (a + b > 0)
		log_debug("purged %ld expired logins and %ld expired SSO sessions", a, b);
}

/* The audit event of a login step. With touch_session > 0 it is written together with that
 * SSO session's last use, in one statement (idp_session_touch_audited); else appended in the
 * caller's transaction. */
static void audit_login_with(PGconn *c, const char *action, const char *outcome, const struct idp_authn_request *r,
			     const struct idp_subject *s, const char *extra_kv, long touch_session, efos_err *e_out)
{
	char actor[64] = "anonymous", details[1800], iss[600], rid[300], extra[700];
	if (s != NULL && s->person_id > 0)
		snprintf(actor, sizeof actor, "person:%ld", s->person_id);
	json_escape(iss, sizeof iss, r && r->issuer ? r->issuer : "");
	json_escape(rid, sizeof rid, r && r->id ? r->id : "");
	snprintf(extra, sizeof extra, "%s", extra_kv ? extra_kv : "");
	snprintf(details, sizeof details, "{\"sp\":\"%s\",\"request_id\":\"%s\",\"hok\":%s,\"force_authn\":%s%s%s}",
		 iss, rid, r && r->hok ? "true" : "false", r && r->force_authn ? "true" : "false",
		 extra[0] ? "," : "", extra);
	struct audit_event ev = {
		.node = idp_sso_g.ctx->cfg->node_name,
		.actor = actor,
		.action = action,
		.object = r && r->issuer ? r->issuer : "",
		.outcome = outcome,
		.details = details,
	};
	efos_err e = { 0 };
	int rc = touch_session > 0 ? idp_session_touch_audited(c, touch_session, &ev, e_out ? e_out : &e)
				   : audit_append(c, &ev, e_out ? e_out : &e);
	if (rc != 0 && e_out == NULL)
		log_error("audit %s: %s", action, e.msg);
}

static void audit_login(PGconn *c, const char *action, const char *outcome, const struct idp_authn_request *r,
			const struct idp_subject *s, const char *extra_kv, efos_err *e_out)
{
	audit_login_with(c, action, outcome, r, s, extra_kv, 0, e_out);
}

/* A failure audit in its own transaction (nothing else changes). */
static void audit_failure(PGconn *c, const struct idp_authn_request *r, const struct idp_subject *s,
			  const char *kv)
{
	efos_err e = { 0 };
	if (db_begin(c, &e) != 0) {
		log_error("audit idp.login failure: %s", e.msg);
		return;
	}
	audit_login(c, "idp.login", "failure", r, s, kv, NULL);
	if (db_commit(c, &e) != 0)
		log_error("audit idp.login failure: %s", e.msg);
}

/* ---- cookies ----------------------------------------------------------------------------------- */

static bool cookie_get(const struct http_request *req, const char *name, char *out, size_t cap)
{
	const char *h = http_req_header(req, "Cookie");
	size_t nl = strlen(name);
	while (h != NULL && *h != '\0') {
		while (*h == ' ' || *h == ';')
			h++;
		const char *end = strchr(h, ';');
		size_t len = end ? (size_t)(end - h) : strlen(h);
		if (len > nl && strncmp(h, name, nl) == 0 && h[nl] == '=') {
			size_t vl = len - nl - 1;
			if (vl + 1 > cap)
				return false;
			memcpy(out, h + nl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		h = end;
	}
	return false;
}

/* SameSite=None: the SSO check runs on the request that comes from the SP, which under the
 * HTTP-POST binding is a cross-site POST; a Lax cookie would not be sent with it and SSO would
 * silently work for Redirect only. The cookie only ever lets a signed, replay-checked
 * AuthnRequest of a registered SP reach the notice page of the same person. */
static void cookie_set(struct http_response *resp, const char *token, long max_age)
{
	char v[512];
	const char *d = idp_sso_g.cookie_domain;
	snprintf(v, sizeof v, "%s=%s; Path=/idp; Max-Age=%ld; Secure; HttpOnly; SameSite=None%s%s", IDP_SESSION_COOKIE,
		 token, max_age, d ? "; Domain=" : "", d ? d : "");
	http_resp_header(resp, "Set-Cookie", v);
}

/* ---- subject ----------------------------------------------------------------------------------- */

static char *dupn(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int subject_from_validation(const struct certs_validation *v, X509 *leaf, const char *loa, time_t instant,
				   const char *addr, struct idp_subject *s)
{
	*s = (struct idp_subject){ 0 };
	s->person_id = v->person.id;
	s->pnr = dupn(v->person.pnr);
	s->is_coordination_number = v->person.coordination_number;
	s->given_name = dupn(v->person.given_name);
	s->surname = dupn(v->person.surname);
	s->display_name = dupn(v->person.display_name);
	if (v->n_affiliations > 0) {
		s->affiliations = calloc(v->n_affiliations, sizeof *s->affiliations);
		if (s->affiliations == NULL)
			return -1;
		/* the card's own affiliation first: it is the preferred organisation */
		size_t k = 0;
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < v->n_affiliations; i++) {
				if (v->affiliations[i].of_card != (pass == 0))
					continue;
				s->affiliations[k].org_affiliation = dupn(v->affiliations[i].org_affiliation);
				s->affiliations[k].orgnr = dupn(v->affiliations[i].orgnr);
				s->affiliations[k].org_name = dupn(v->affiliations[i].org_name);
				k++;
			}
		s->n_affiliations = k;
	}
	X509_up_ref(leaf);
	s->card_cert = leaf;
	s->authn_instant = instant;
	s->loa = dupn(loa);
	s->client_address = dupn(addr);
	return s->loa != NULL ? 0 : -1;
}

/* PrincipalSelection (spec §8): the values are alternatives; the login matches when one of the
 * values we can check (personalIdentityNumber, orgAffiliation) is the user's. Values of other
 * attributes are not checked. *checked tells whether there was anything to check. */
static bool principal_matches(const struct idp_authn_request *r, const struct idp_subject *s, bool *checked)
{
	*checked = false;
	for (size_t i = 0; i < r->n_principal; i++) {
		const char *n = r->principal_attr_names[i], *val = r->principal_attr_values[i];
		if (n == NULL || val == NULL)
			continue;
		if (strcmp(n, "urn:oid:1.2.752.29.4.13") == 0) {
			*checked = true;
			if (s->pnr != NULL && strcmp(s->pnr, val) == 0)
				return true;
		} else if (strcmp(n, "urn:oid:1.2.752.201.3.1") == 0) {
			*checked = true;
			for (size_t j = 0; j < s->n_affiliations; j++)
				if (s->affiliations[j].org_affiliation && strcmp(s->affiliations[j].org_affiliation, val) == 0)
					return true;
		}
	}
	return !*checked;
}

/* ---- the SSO endpoints --------------------------------------------------------------------------- */

static const char *client_addr(const struct http_request *req)
{
	return req->remote_addr ? req->remote_addr : "";
}

/* Validates the card (chain leaf first) and fills subj. Returns 0 (valid), 1 (refused: the page
 * is sent, the failure audited) or -1 (an error page is sent). */
static int card_login(struct http_request *req, struct http_response *resp, PGconn *c, const char *lang,
		      const struct idp_authn_request *r, STACK_OF(X509) *chain, struct idp_subject *subj, time_t now)
{
	struct certs_validation v;
	efos_err e = { 0 };
	struct idp_status st;
	int rc = certs_card_login(idp_sso_g.ctx, chain, &v, &e);
	if (rc != 0) {
		certs_validation_free(&v);
		if (e.code == EFOS_E_AUTH) {   /* no certificate at all */
			status_set(&st, IDP_STATUS_RESPONDER, IDP_STATUS_AUTHN_FAILED, "no client certificate");
			audit_failure(c, r, NULL, "\"reason\":\"no_certificate\"");
			answer_error(resp, lang, r, &st, e.msg, "no_certificate", false);
			return 1;
		}
		log_error("card login: %s", e.msg);
		page_error_plain(resp, efos_err_http_status(e.code), lang,
				 "Your card could not be checked right now. Try again in a moment.", e.msg,
				 sp_name(r->sp, r->issuer, lang));
		return -1;
	}
	if (v.outcome != CERTS_VAL_VALID) {
		char kv[200];
		snprintf(kv, sizeof kv, "\"reason\":\"%s\",\"outcome\":\"%s\"", certs_val_reason_code(v.reason),
			 certs_val_outcome_name(v.outcome));
		audit_failure(c, r, NULL, kv);
		status_set(&st, IDP_STATUS_RESPONDER, IDP_STATUS_AUTHN_FAILED, "the card was refused");
		answer_error(resp, lang, r, &st, v.message[0] ? v.message : "Your card was refused.",
			     certs_val_reason_code(v.reason), false);
		certs_validation_free(&v);
		return 1;
	}
	if (r->chosen_loa == NULL || !policy_loa_contains(&v.loa, r->chosen_loa)) {
		audit_failure(c, r, NULL, "\"reason\":\"loa\"");
		status_set(&st, IDP_STATUS_REQUESTER, IDP_STATUS_NO_AUTHN_CONTEXT,
			   "the credential does not qualify for the requested LoA");
		answer_error(resp, lang, r, &st, "Your card does not qualify for the level of assurance the service asked for.",
			     r->chosen_loa, false);
		certs_validation_free(&v);
		return 1;
	}
	rc = subject_from_validation(&v, sk_X509_value(chain, 0), r->chosen_loa, now, client_addr(req), subj);
	certs_validation_free(&v);
	if (rc != 0) {
		idp_subject_free(subj);
		page_error_plain(resp, 500, lang, "Out of memory.", NULL, NULL);
		return -1;
	}
	return 0;
}

/* After a card login: PrincipalSelection, then in one transaction the subject on the login,
 * the SSO session (not for signature services) and the audit event; then the next page. */
static void after_card(struct http_request *req, struct http_response *resp, PGconn *c, const char *lang,
		       struct idp_login_tx *tx, struct idp_subject *subj)
{
	const struct idp_authn_request *r = &tx->req;
	efos_err e = { 0 };
	bool checked;
	if (!principal_matches(r, subj, &checked)) {
		struct idp_status st;
		audit_failure(c, r, subj, "\"reason\":\"principal_selection_mismatch\"");
		status_set(&st, IDP_STATUS_REQUESTER, IDP_STATUS_UNKNOWN_PRINCIPAL,
			   "the authenticated user does not match the PrincipalSelection");
		efos_err fe = { 0 };
		(void)idp_login_tx_finish(c, tx->id, &fe);
		answer_error(resp, lang, r, &st, strcmp(lang, "en") == 0 ?
			     "You are not the person the service asked to log in (or to sign)." :
			     "Du är inte den person som tjänsten bad ska logga in (eller skriva under).",
			     "UnknownPrincipal", false);
		return;
	}
	char token[65] = "";
	time_t expires = 0;
	bool session = !r->is_sigservice && !r->has_sign_message && idp_sso_g.sso_max_age_s > 0;
	char kv[300];
	unsigned char h[32];
	char hx[65] = "";
	if (subj->card_cert != NULL && idp_cert_sha256(subj->card_cert, h) == 0)
		for (int i = 0; i < 32; i++)
			snprintf(hx + 2 * i, 3, "%02x", h[i]);
	snprintf(kv, sizeof kv, "\"sso\":false,\"cert_sha256\":\"%s\",\"loa\":\"%s\",\"session\":%s", hx,
		 subj->loa ? subj->loa : "", session ? "true" : "false");
	if (db_begin(c, &e) != 0 || idp_login_tx_set_subject(c, tx->id, subj, false, &e) != 0 ||
	    (session && idp_session_create(c, subj, r->hok, idp_sso_g.sso_max_age_s, token, &expires, &e) != 0)) {
		db_rollback(c);
		goto fail;
	}
	audit_login(c, "idp.login", "success", r, subj, kv, &e);
	if (e.code != EFOS_E_NONE || db_commit(c, &e) != 0) {
		db_rollback(c);
		goto fail;
	}
	log_write(LOG_LVL_INFO, NULL, "card login of person %ld for %s (session %s)", subj->person_id, r->issuer,
		  session ? "created" : "none");
	if (session)
		cookie_set(resp, token, (long)(expires - time(NULL)) > 0 ? (long)(expires - time(NULL)) : 1);
	redirect(resp, req->on_mtls_listener ? idp_sso_g.mtls_public_url : idp_sso_g.public_url, "/idp/login/next",
		 tx->id, lang);
	return;
fail:
	if (e.code == EFOS_E_NOTFOUND)
		page_error_plain(resp, 400, lang, e.msg, NULL, NULL);
	else
		page_error_plain(resp, efos_err_http_status(e.code), lang, "The login could not be recorded. Try again.",
				 e.msg, NULL);
}

static bool sso_answer_at_once(struct http_response *resp, PGconn *c, const char *lang,
			       const struct idp_authn_request *r, const struct idp_sso_session *s,
			       const struct idp_subject *subj);

/* The SSO session of the cookie, when it may answer r: the session in *s and the subject it
 * stands for in *subj (the card checked again: a card revoked or suspended since, a holder
 * suspended or an ended affiliation ends the session). false when there is none to reuse; *s
 * and *subj are then empty. Free both with idp_sso_session_free / idp_subject_free. */
static bool sso_subject(struct http_request *req, PGconn *c, const struct idp_authn_request *r, X509 *hok_cert,
			time_t now, struct idp_sso_session *s, struct idp_subject *subj)
{
	char token[80];
	*s = (struct idp_sso_session){ 0 };
	*subj = (struct idp_subject){ 0 };
	if (idp_sso_g.sso_max_age_s <= 0 || !cookie_get(req, IDP_SESSION_COOKIE, token, sizeof token))
		return false;
	efos_err e = { 0 };
	int rc = idp_session_find(c, token, now, s, &e);
	if (rc != 0) {
		if (rc < 0)
			log_warn("SSO session lookup: %s", e.msg);
		*s = (struct idp_sso_session){ 0 };
		return false;
	}
	const char *why = NULL;
	if (!idp_session_reusable(s, r, hok_cert, now, idp_sso_g.sso_max_age_s, &why)) {
		log_info("SSO session %ld not reused for %s: %s", s->id, r->issuer, why);
		idp_sso_session_free(s);
		*s = (struct idp_sso_session){ 0 };
		return false;
	}
	STACK_OF(X509) *chain = sk_X509_new_null();
	struct certs_validation v;
	bool ok = false;
	if (chain != NULL && sk_X509_push(chain, s->card_cert)) {
		rc = certs_card_login(idp_sso_g.ctx, chain, &v, &e);
		if (rc == 0 && v.outcome == CERTS_VAL_VALID && v.person.id == s->person_id &&
		    policy_loa_contains(&v.loa, s->loa) &&
		    subject_from_validation(&v, s->card_cert, s->loa, s->authn_instant, client_addr(req), subj) == 0)
			ok = true;
		else if (rc == 0 && v.outcome == CERTS_VAL_INVALID) {
			log_info("SSO session %ld ended: the card is no longer valid (%s)", s->id,
				 certs_val_reason_code(v.reason));
			(void)idp_session_delete(c, s->id, &e);
		}
		certs_validation_free(&v);
	}
	sk_X509_free(chain);
	bool checked;
	if (ok && !principal_matches(r, subj, &checked)) {
		log_info("SSO session %ld not reused: PrincipalSelection names someone else", s->id);
		ok = false;
	}
	if (!ok) {
		idp_subject_free(subj);
		idp_sso_session_free(s);
		*subj = (struct idp_subject){ 0 };
		*s = (struct idp_sso_session){ 0 };
	}
	return ok;
}

/* The SSO login on its way through /idp/login/next (a page to show there): the subject on the
 * login transaction, the session's last use and idp.login in one DB transaction, then 303.
 * true when it answered. */
static bool sso_via_next(struct http_request *req, struct http_response *resp, PGconn *c, const char *lang,
			 struct idp_login_tx *tx, const struct idp_sso_session *s, const struct idp_subject *subj)
{
	efos_err e = { 0 };
	char kv[200];
	snprintf(kv, sizeof kv, "\"sso\":true,\"session\":%ld,\"authn_instant\":%lld", s->id, (long long)s->authn_instant);
	if (db_begin(c, &e) != 0 || idp_login_tx_set_subject(c, tx->id, subj, true, &e) != 0 ||
	    idp_session_touch(c, s->id, &e) != 0) {
		db_rollback(c);
		log_error("SSO reuse: %s", e.msg);
		return false;
	}
	audit_login(c, "idp.login", "success", &tx->req, subj, kv, &e);
	if (e.code != EFOS_E_NONE || db_commit(c, &e) != 0) {
		db_rollback(c);
		log_error("SSO reuse: %s", e.msg);
		return false;
	}
	log_info("SSO session %ld reused for %s (person %ld)", s->id, tx->req.issuer, s->person_id);
	redirect(resp, req->on_mtls_listener ? idp_sso_g.mtls_public_url : idp_sso_g.public_url, "/idp/login/next",
		 tx->id, lang);
	return true;
}

static bool service_ready(struct http_response *resp, const char *lang)
{
	if (idp_sso_g.ready)
		return true;
	page_error_plain(resp, 503, lang, "The login service is not configured on this server.",
			 idp_sso_g.not_ready_why, NULL);
	return false;
}

static void sso_entry(struct http_request *req, struct http_response *resp, enum idp_binding binding, bool hok)
{
	const char *lang = idp_pages_lang(req);
	if (!service_ready(resp, lang))
		return;
	time_t now = time(NULL);
	const struct idp_md_snapshot *snap = idp_md_acquire(idp_sso_g.store);
	struct idp_authn_request ar = { 0 };
	struct idp_status st = { 0 };
	struct idp_login_tx tx = { 0 };
	struct idp_sso_session sess = { 0 };
	struct idp_subject subj = { 0 };
	efos_err e = { 0 };
	PGconn *c = NULL;
	char endpoint[1024];
	snprintf(endpoint, sizeof endpoint, "%s%s", hok ? idp_sso_g.mtls_public_url : idp_sso_g.public_url, req->path);
	struct idp_intake_input in = {
		.binding = binding,
		.endpoint_url = endpoint,
		.hok = hok,
		.md = snap,
		.now = now,
	};
	if (binding == IDP_BINDING_REDIRECT) {
		in.query = http_req_raw_query(req);
		in.query_len = in.query ? strlen(in.query) : 0;
	} else {
		in.saml_request = http_req_query(req, "SAMLRequest");
		in.saml_request_len = in.saml_request ? strlen(in.saml_request) : 0;
		in.relay_state = http_req_query(req, "RelayState");
	}
	int rc = idp_authn_request_intake(&idp_sso_g.intake, &in, &ar, &st, &e);
	if (rc < 0) {
		int status = e.code == EFOS_E_UNAVAILABLE ? 503 : e.code == EFOS_E_INTERNAL ? 500 :
			     e.code == EFOS_E_TOOBIG ? 413 : 400;
		log_write(LOG_LVL_WARN, NULL, "AuthnRequest refused (no SAML answer): %s", e.msg);
		page_error_plain(resp, status, lang, strcmp(lang, "en") == 0 ?
				 "The login request from the service could not be accepted." :
				 "Inloggningsbegäran från tjänsten kunde inte godtas.", e.msg, NULL);
		goto out;
	}
	if (rc == IDP_INTAKE_ANSWERABLE) {
		answer_error(resp, lang, &ar, &st, st.message[0] ? st.message : "The service's request cannot be satisfied.",
			     st.second ? st.second : st.top, false);
		goto out;
	}
	if ((c = db_get(resp, lang)) == NULL)
		goto out;
	maybe_purge(c);
	STACK_OF(X509) *chain = hok ? req->client_chain_presented : NULL;
	X509 *hok_cert = chain != NULL && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : NULL;
	bool sso = sso_subject(req, c, &ar, hok_cert, now, &sess, &subj);
	if (sso && sso_answer_at_once(resp, c, lang, &ar, &sess, &subj))
		goto out;
	if (idp_login_tx_create(c, &ar, idp_sso_g.tx_lifetime_s, now, &tx, &e) != 0) {
		page_error_plain(resp, efos_err_http_status(e.code), lang, "The login could not be started. Try again.",
				 e.msg, NULL);
		goto out;
	}
	/* the transaction as the later steps see it: the request, then the subject */
	tx.req = ar;
	ar = (struct idp_authn_request){ 0 };
	if (sso && sso_via_next(req, resp, c, lang, &tx, &sess, &subj))
		goto out;
	if (hok) {
		/* The card was presented in this TLS handshake: it is the login. */
		struct idp_subject card_subj = { 0 };
		if (card_login(req, resp, c, lang, &tx.req, chain, &card_subj, now) == 0)
			after_card(req, resp, c, lang, &tx, &card_subj);
		idp_subject_free(&card_subj);
		goto out;
	}
	if (tx.req.is_passive) {
		status_set(&st, IDP_STATUS_REQUESTER, IDP_STATUS_NO_PASSIVE, "no SSO session to answer a passive request");
		(void)idp_login_tx_finish(c, tx.id, &e);
		answer_error(resp, lang, &tx.req, &st, "", NULL, true);
		goto out;
	}
	redirect(resp, idp_sso_g.mtls_public_url, "/idp/login/card", tx.id, lang);
out:
	db_put(c);
	idp_subject_free(&subj);
	idp_sso_session_free(&sess);
	idp_login_tx_free(&tx);
	idp_authn_request_free(&ar);
	idp_md_release(snap);
}

void idp_sso_handle_redirect(struct http_request *req, struct http_response *resp)
{
	sso_entry(req, resp, IDP_BINDING_REDIRECT, false);
}

void idp_sso_handle_post(struct http_request *req, struct http_response *resp)
{
	sso_entry(req, resp, IDP_BINDING_POST, false);
}

void idp_sso_handle_hok_redirect(struct http_request *req, struct http_response *resp)
{
	sso_entry(req, resp, IDP_BINDING_REDIRECT, true);
}

void idp_sso_handle_hok_post(struct http_request *req, struct http_response *resp)
{
	sso_entry(req, resp, IDP_BINDING_POST, true);
}

/* ---- the later steps ------------------------------------------------------------------------------ */

/* Loads ?tx= (or the form's tx), with the SP looked up in snap. 0, or -1 with the page sent. */
static int tx_load(struct http_request *req, struct http_response *resp, PGconn *c, const char *lang,
		   const struct idp_md_snapshot *snap, struct idp_login_tx *tx)
{
	efos_err e = { 0 };
	const char *id = http_req_query(req, "tx");
	if (id == NULL || idp_login_tx_load(c, id, time(NULL), tx, &e) != 0) {
		int status = id == NULL || e.code == EFOS_E_INVALID || e.code == EFOS_E_NOTFOUND ? 400 :
			     efos_err_http_status(e.code);
		page_error_plain(resp, status, lang, id == NULL ? "No login is in progress." : e.msg, NULL, NULL);
		return -1;
	}
	tx->req.sp = idp_md_snapshot_find(snap, tx->req.issuer);
	if (tx->req.sp == NULL) {
		page_error_plain(resp, 400, lang, "The service is no longer registered with this identity provider.",
				 tx->req.issuer, NULL);
		return -1;
	}
	return 0;
}

static bool csrf_ok(struct http_request *req, struct http_response *resp, const char *lang, const struct idp_login_tx *tx)
{
	if (idp_str_ct_equal(http_req_query(req, "csrf"), tx->csrf))
		return true;
	page_error_plain(resp, 403, lang, "The form did not come from this login (missing or wrong token).", NULL, NULL);
	return false;
}

void idp_sso_handle_card(struct http_request *req, struct http_response *resp)
{
	const char *lang = idp_pages_lang(req);
	if (!service_ready(resp, lang))
		return;
	const struct idp_md_snapshot *snap = idp_md_acquire(idp_sso_g.store);
	struct idp_login_tx tx = { 0 };
	struct idp_subject subj = { 0 };
	PGconn *c = db_get(resp, lang);
	if (c == NULL || tx_load(req, resp, c, lang, snap, &tx) != 0)
		goto out;
	if (tx.state != IDP_TX_NEW) {
		/* already authenticated (a reload): go on */
		redirect(resp, idp_sso_g.mtls_public_url, "/idp/login/next", tx.id, lang);
		goto out;
	}
	if (card_login(req, resp, c, lang, &tx.req, req->client_chain_presented, &subj, time(NULL)) == 0)
		after_card(req, resp, c, lang, &tx, &subj);
	else {
		efos_err e = { 0 };
		(void)idp_login_tx_finish(c, tx.id, &e);
	}
out:
	idp_subject_free(&subj);
	idp_login_tx_free(&tx);
	db_put(c);
	idp_md_release(snap);
}

/* The attribute list of the notice page: escaped values in a table. */
static char *attributes_html(const struct policy_release *rel, const char *lang)
{
	size_t cap = 256;
	for (size_t i = 0; i < rel->n_attrs; i++) {
		cap += 200;
		for (size_t j = 0; j < rel->attrs[i].n_values; j++)
			cap += 6 * strlen(rel->attrs[i].values[j]) + 16;
	}
	char *out = malloc(cap);
	if (out == NULL)
		return NULL;
	size_t n = 0;
#define PUT(s) do { size_t l_ = strlen(s); if (n + l_ < cap) { memcpy(out + n, s, l_); n += l_; } } while (0)
	if (rel->n_attrs == 0) {
		out[0] = '\0';
		return out;
	}
	PUT("<table class=\"attrs\"><thead><tr><th>");
	PUT(idp_pages_text("attribute", lang));
	PUT("</th><th>");
	PUT(idp_pages_text("value", lang));
	PUT("</th></tr></thead><tbody>");
	for (size_t i = 0; i < rel->n_attrs; i++) {
		const struct policy_attr *a = &rel->attrs[i];
		char *label = idp_html_escape(strcmp(lang, "en") == 0 ? a->label_en : a->label_sv);
		PUT("<tr><td>");
		PUT(label ? label : "");
		free(label);
		PUT("</td><td>");
		for (size_t j = 0; j < a->n_values; j++) {
			char *v = idp_html_escape(a->values[j]);
			if (j > 0)
				PUT("<br>");
			/* userCertificate and sad are long: show only that they are sent */
			if (v != NULL && strlen(v) > 120) {
				v[117] = '\0';
				PUT(v);
				PUT("…");
			} else {
				PUT(v ? v : "");
			}
			free(v);
		}
		PUT("</td></tr>");
	}
	PUT("</tbody></table>");
#undef PUT
	out[n] = '\0';
	return out;
}

/* Builds the successful Response, ends the login with idp.assertion in one DB transaction and
 * sends the auto-POST page. The login ends with its transaction (tx_id), or, for an SSO login
 * answered at once (tx_id NULL, sess the session), with the session's last use: the one
 * change of such a login, audited with what idp.login would have said (session, instant), in
 * one statement. */
static void finish_success(struct http_response *resp, PGconn *c, const char *lang, const struct idp_authn_request *r,
			   const struct idp_subject *subj, const char *tx_id, bool sso, bool sign_shown,
			   const struct idp_sso_session *sess, const struct idp_response_keys *k,
			   const struct policy_release *rel)
{
	struct idp_response_out out = { 0 };
	efos_err e = { 0 };
	struct idp_response_opts o = { .sign_message_shown = sign_shown };
	if (idp_response_build(k, r, subj, rel, &o, &out, &e) != 0) {
		log_error("building the Response for %s: %s", r->issuer, e.msg);
		page_error_plain(resp, efos_err_http_status(e.code), lang, "The answer to the service could not be made.",
				 e.msg, sp_name(r->sp, r->issuer, lang));
		return;
	}
	char kv[600], sk[120] = "";
	if (sess != NULL)
		snprintf(sk, sizeof sk, ",\"session\":%ld,\"authn_instant\":%lld,\"direct\":true", sess->id,
			 (long long)sess->authn_instant);
	snprintf(kv, sizeof kv, "\"response_id\":\"%s\",\"assertion_id\":\"%s\",\"sso\":%s,\"sign_message\":%s,"
		 "\"release_set\":\"%s\"%s", out.response_id, out.assertion_id, sso ? "true" : "false",
		 o.sign_message_shown ? "true" : "false", rel->set_id, sk);
	if (sess != NULL) {
		/* the session's use and the event: one statement, so one transaction */
		audit_login_with(c, "idp.assertion", "success", r, subj, kv, sess->id, &e);
		if (e.code != EFOS_E_NONE) {
			page_error_plain(resp, e.code == EFOS_E_NOTFOUND ? 400 : 503, lang, "The login could not be finished.",
					 e.msg, NULL);
			idp_response_out_free(&out);
			return;
		}
	} else if (db_begin(c, &e) != 0 || idp_login_tx_finish(c, tx_id, &e) != 0) {
		db_rollback(c);
		page_error_plain(resp, 400, lang, e.code == EFOS_E_NOTFOUND ? e.msg : "The login could not be finished.",
				 NULL, NULL);
		idp_response_out_free(&out);
		return;
	} else {
		audit_login(c, "idp.assertion", "success", r, subj, kv, &e);
		if (e.code != EFOS_E_NONE || db_commit(c, &e) != 0) {
			db_rollback(c);
			page_error_plain(resp, 503, lang, "The login could not be finished.", e.msg, NULL);
			idp_response_out_free(&out);
			return;
		}
	}
	if (sess != NULL)
		log_info("SSO session %ld answered %s at once (person %ld)", sess->id, r->issuer, sess->person_id);
	page_post(resp, lang, r->acs_url, out.b64, r->relay_state, sp_name(r->sp, r->issuer, lang));
	idp_response_out_free(&out);
}

/* An SSO login with nothing to show (the notice remembered for this SP and this release; no
 * sign message, not a signature service, not ForceAuthn: idp_session_reusable refuses those)
 * is answered on the request that brought the AuthnRequest: no login transaction, no second
 * HTTP request. false when a page must be shown (or the release refused): the caller takes
 * the way through /idp/login/next, which shows it. */
static bool sso_answer_at_once(struct http_response *resp, PGconn *c, const char *lang,
			       const struct idp_authn_request *r, const struct idp_sso_session *s,
			       const struct idp_subject *subj)
{
	if (r->force_authn || r->is_sigservice || r->has_sign_message)
		return false;
	struct scopes sc;
	struct idp_response_keys k;
	struct policy_release rel = { 0 };
	efos_err e = { 0 };
	bool remembered = false, answered = false;
	if (scopes_load(c, &sc, &e) != 0) {
		log_warn("SSO answer at once: %s", e.msg);
		return false;
	}
	keys_with_scopes(&k, &sc);
	if (idp_release_for_login(&k, r, subj, &rel, &e) == 0 &&
	    idp_consent_is_remembered(c, subj->person_id, r->issuer, rel.set_id, &remembered, &e) == 0 && remembered) {
		finish_success(resp, c, lang, r, subj, NULL, true, false, s, &k, &rel);
		answered = true;
	}
	policy_release_free(&rel);
	scopes_free(&sc);
	return answered;
}

/* The next page of an authenticated login (see the top of this file). */
static void next_step(struct http_request *req, struct http_response *resp, PGconn *c, const char *lang,
		      struct idp_login_tx *tx, bool consent_given, bool remember)
{
	efos_err e = { 0 };
	struct idp_status st;
	const char *spn = sp_name(tx->req.sp, tx->req.issuer, lang);
	char link[200];
	if (tx->state != IDP_TX_AUTHENTICATED || !tx->has_subject) {
		page_error_plain(resp, 400, lang, "Nobody has logged in yet in this login.", NULL, spn);
		return;
	}
	/* 1. the sign message, once (spec §6.2: after PrincipalSelection, never from SSO) */
	if (tx->req.has_sign_message && !tx->sign_accepted) {
		char *html = tx->req.sign_message ? idp_sign_message_html(tx->req.sign_message_mime, tx->req.sign_message, &e) : NULL;
		if (html == NULL && tx->req.sign_message_must_show) {
			status_set(&st, IDP_STATUS_RESPONDER, IDP_STATUS_AUTHN_FAILED, "the sign message could not be displayed");
			(void)idp_login_tx_finish(c, tx->id, &e);
			answer_error(resp, lang, &tx->req, &st, "The message to sign cannot be displayed.", e.msg, false);
			return;
		}
		if (html != NULL) {
			lang_link(link, sizeof link, "/idp/login/next", tx->id, lang);
			struct idp_page_var v[] = {
				{ "title", idp_pages_text("sign_title", lang) }, { "sp_name", spn },
				{ "person_name", tx->subj.display_name }, { "message_html", html },
				{ "must_show", tx->req.sign_message_must_show ? "1" : "" }, { "tx", tx->id },
				{ "csrf", tx->csrf }, { "lang_link", link },
			};
			idp_page_send(resp, 200, idp_page_render("signmessage", lang, v, sizeof v / sizeof v[0]), NULL, NULL);
			free(html);
			return;
		}
	}
	/* 2. the attribute release */
	struct scopes sc;
	struct idp_response_keys k;
	struct policy_release rel = { 0 };
	if (scopes_load(c, &sc, &e) != 0) {
		page_error_plain(resp, efos_err_http_status(e.code), lang, "The login could not be finished.", e.msg, spn);
		return;
	}
	keys_with_scopes(&k, &sc);
	int rc = idp_release_for_login(&k, &tx->req, &tx->subj, &rel, &e);
	if (rc < 0) {
		page_error_plain(resp, 500, lang, "The login could not be finished.", e.msg, spn);
		goto out;
	}
	if (rc == POLICY_RELEASE_REFUSED) {
		idp_refusal_status(rel.refusal, &st);
		log_info("attribute release refused for %s: %s", tx->req.issuer, rel.refusal_detail);
		(void)idp_login_tx_finish(c, tx->id, &e);
		answer_error(resp, lang, &tx->req, &st, policy_refusal_text(rel.refusal, lang), rel.refusal_detail, false);
		goto out;
	}
	/* 3. the notice (mandatory for employee eIDs, also under SSO), unless remembered */
	bool remembered = false;
	if (!consent_given && idp_consent_is_remembered(c, tx->subj.person_id, tx->req.issuer, rel.set_id, &remembered, &e) != 0)
		log_warn("remembered consent lookup: %s", e.msg);
	if (consent_given && remember && idp_consent_remember(c, tx->subj.person_id, tx->req.issuer, rel.set_id, &e) != 0)
		log_warn("remembering the consent: %s", e.msg);
	if (!consent_given && !remembered) {
		if (tx->req.is_passive) {
			status_set(&st, IDP_STATUS_REQUESTER, IDP_STATUS_NO_PASSIVE,
				   "the attribute-release notice must be shown: not possible passively");
			(void)idp_login_tx_finish(c, tx->id, &e);
			answer_error(resp, lang, &tx->req, &st, "", NULL, true);
			goto out;
		}
		char *attrs = attributes_html(&rel, lang);
		lang_link(link, sizeof link, "/idp/login/next", tx->id, lang);
		struct idp_page_var v[] = {
			{ "title", idp_pages_text("consent_title", lang) }, { "sp_name", spn },
			{ "person_name", tx->subj.display_name },
			{ "notice", rel.n_attrs ? policy_release_notice_text(rel.kind, lang) : idp_pages_text("consent_nothing", lang) },
			{ "attributes", attrs ? attrs : "" }, { "tx", tx->id }, { "csrf", tx->csrf },
			{ "sso", tx->sso ? "1" : "" }, { "lang_link", link },
		};
		idp_page_send(resp, 200, idp_page_render("consent", lang, v, sizeof v / sizeof v[0]), NULL, NULL);
		free(attrs);
		goto out;
	}
	/* 4. the Response */
	finish_success(resp, c, lang, &tx->req, &tx->subj, tx->id, tx->sso, tx->req.has_sign_message && tx->sign_accepted,
		       NULL, &k, &rel);
out:
	policy_release_free(&rel);
	scopes_free(&sc);
}

void idp_sso_handle_next(struct http_request *req, struct http_response *resp)
{
	const char *lang = idp_pages_lang(req);
	if (!service_ready(resp, lang))
		return;
	const struct idp_md_snapshot *snap = idp_md_acquire(idp_sso_g.store);
	struct idp_login_tx tx = { 0 };
	PGconn *c = db_get(resp, lang);
	if (c != NULL && tx_load(req, resp, c, lang, snap, &tx) == 0)
		next_step(req, resp, c, lang, &tx, false, false);
	idp_login_tx_free(&tx);
	db_put(c);
	idp_md_release(snap);
}

static void user_cancelled(struct http_response *resp, PGconn *c, const char *lang, struct idp_login_tx *tx)
{
	struct idp_status st;
	efos_err e = { 0 };
	status_set(&st, IDP_STATUS_RESPONDER, STATUS_CANCEL, "the user cancelled");
	if (idp_login_tx_finish(c, tx->id, &e) != 0) {
		page_error_plain(resp, 400, lang, e.msg, NULL, NULL);
		return;
	}
	audit_failure(c, &tx->req, tx->has_subject ? &tx->subj : NULL, "\"reason\":\"cancel\"");
	answer_error(resp, lang, &tx->req, &st, "", NULL, true);
}

void idp_sso_handle_sign(struct http_request *req, struct http_response *resp)
{
	const char *lang = idp_pages_lang(req);
	if (!service_ready(resp, lang))
		return;
	const struct idp_md_snapshot *snap = idp_md_acquire(idp_sso_g.store);
	struct idp_login_tx tx = { 0 };
	efos_err e = { 0 };
	PGconn *c = db_get(resp, lang);
	if (c == NULL || tx_load(req, resp, c, lang, snap, &tx) != 0 || !csrf_ok(req, resp, lang, &tx))
		goto out;
	const char *action = http_req_query(req, "action");
	if (action != NULL && strcmp(action, "cancel") == 0) {
		user_cancelled(resp, c, lang, &tx);
		goto out;
	}
	if (action == NULL || strcmp(action, "accept") != 0 || !tx.req.has_sign_message || tx.state != IDP_TX_AUTHENTICATED) {
		page_error_plain(resp, 400, lang, "Unexpected form.", NULL, NULL);
		goto out;
	}
	if (idp_login_tx_set_sign_accepted(c, tx.id, &e) != 0) {
		page_error_plain(resp, 400, lang, e.msg, NULL, NULL);
		goto out;
	}
	tx.sign_accepted = true;
	next_step(req, resp, c, lang, &tx, false, false);
out:
	idp_login_tx_free(&tx);
	db_put(c);
	idp_md_release(snap);
}

void idp_sso_handle_consent(struct http_request *req, struct http_response *resp)
{
	const char *lang = idp_pages_lang(req);
	if (!service_ready(resp, lang))
		return;
	const struct idp_md_snapshot *snap = idp_md_acquire(idp_sso_g.store);
	struct idp_login_tx tx = { 0 };
	PGconn *c = db_get(resp, lang);
	if (c == NULL || tx_load(req, resp, c, lang, snap, &tx) != 0 || !csrf_ok(req, resp, lang, &tx))
		goto out;
	const char *action = http_req_query(req, "action");
	if (action != NULL && strcmp(action, "cancel") == 0) {
		user_cancelled(resp, c, lang, &tx);
		goto out;
	}
	if (action == NULL || strcmp(action, "continue") != 0) {
		page_error_plain(resp, 400, lang, "Unexpected form.", NULL, NULL);
		goto out;
	}
	const char *rem = http_req_query(req, "remember");
	next_step(req, resp, c, lang, &tx, true, rem != NULL && strcmp(rem, "1") == 0);
out:
	idp_login_tx_free(&tx);
	db_put(c);
	idp_md_release(snap);
}
