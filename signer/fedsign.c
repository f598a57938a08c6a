/* The federated signing flow (see fedsign.h and docs/signing-service.md, "The flow").
 *
 * Three levels of failure, as dss_request.h explains: a request that is not authentic gets an
 * HTML error page and nothing is posted anywhere; an authentic request that cannot be served
 * gets an error SignResponse posted to its (registered) return URL; from then on every failure
 * (at the IdP, in the assertion, in issuance or signing) also ends in an error SignResponse.
 * The per-request key is destroyed on every path once it exists. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include "core/audit.h"
#include "core/base64.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "certs/profile.h"
#include "certs/service.h"
#include "hsm/hsm.h"
#include "idp/metadata_routes.h"
#include "idp/metadata_store.h"
#include "idp/pages.h"
#include "signer/dss_request.h"
#include "signer/dss_response.h"
#include "signer/fedsign.h"
#include "signer/fedsign_check.h"
#include "signer/fedsign_idps.h"
#include "signer/fedsign_metadata.h"
#include "signer/fedsign_tx.h"
#include "signer/sign_task.h"
#include "signer/signer_cert.h"
#include "signer/sp_authn.h"
#include "signer/sp_response.h"

#define BINDING_POST_XML "POST/XML/1.0"
#define SIGNER_PROFILE "signer"
#define MAX_RELAY_STATE 1024
#define MAX_RETURN_URLS 32
#define SWEEP_INTERVAL_S 60

/* Everything the handlers share; set before the server starts, read-only while it runs. */
struct fedsign {
	struct efos_ctx *ctx;
	const struct efos_config *cfg;
	struct hsm_key *sign_key, *enc_key;
	X509 *sign_cert, *enc_cert;
	char *sign_cert_b64;
	struct certs_service *own_certs;     /* loaded here when the node has no ca role */
	const struct certs_ca *sign_ca;
	STACK_OF(X509) *ca_chain;          /* sign_ca ... root, borrowed from the CA service */
	const struct cert_profile *profile;
	struct fedsign_idps *idps;
	struct fedsign_md *md;
	struct idp_md_store *requesters;
	enum fedsign_sad_policy sad;
	int rsa_bits;
	char acs_url[1024];
};

static struct fedsign *g;
static _Atomic int64_t last_sweep;

/* ---- small helpers ---------------------------------------------------------------------------- */

static void error_page(struct http_response *resp, int status, const char *what)
{
	char *msg = idp_html_escape(what);
	char *html = NULL;
	if (msg != NULL &&
	    asprintf(&html, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			    "<title>Signing not possible</title><link rel=\"stylesheet\" href=\"/static/efos.css\">"
			    "</head><body><main><h1>The signing cannot be done</h1><p>%s</p>"
			    "<p>Go back to the service you came from and start the signing again.</p></main>"
			    "</body></html>\n", msg) < 0)
		html = NULL;
	free(msg);
	idp_page_send(resp, status, html, NULL, NULL);
}

static void audit_event(PGconn *c, const char *action, const char *outcome, const char *requester,
			const char *request_id, const char *details)
{
	efos_err e = { 0 };
	struct audit_event ev = {
		.node = g->cfg->node_name, .actor = requester, .action = action, .object = request_id,
		.outcome = outcome, .details = details,
	};
	if (audit_append(c, &ev, &e) != 0)
		log_error("audit %s: %s", action, e.msg);
}

/* The error SignResponse, auto-posted to the requester. */
static void post_result(struct http_response *resp, const char *return_url, const char *relay_state,
			const char *request_id, const char *version, const struct dss_result *res)
{
	efos_err e = { 0 };
	char *b64 = NULL, *nonce = idp_page_nonce();
	struct dss_response_key k = { .key = g->sign_key, .cert_b64 = g->sign_cert_b64 };
	struct dss_response_params p = { .request_id = request_id, .version = version, .result = res };
	if (dss_response_build(&k, &p, &b64, &e) != 0) {
		log_error("signing service: cannot build the error SignResponse for %s: %s", request_id, e.msg);
		free(nonce);
		error_page(resp, e.code == EFOS_E_UNAVAILABLE ? 503 : 500,
			   "The signing service could not answer the requesting service (internal error).");
		return;
	}
	log_info("signing service: request %s refused: %s %s: %s", request_id, res->major,
		 res->minor ? res->minor : "", res->message);
	char *html = dss_response_post_form(return_url, b64, relay_state, nonce);
	idp_page_send(resp, 200, html, nonce, return_url);
	free(b64);
	free(nonce);
}

/* The audit details of a refusal: the result, no personal data. */
static void refusal_details(char *buf, size_t cap, const struct dss_result *res)
{
	char major[256], minor[256], msg[600];
	json_escape(major, sizeof major, res->major);
	json_escape(minor, sizeof minor, res->minor ? res->minor : "");
	json_escape(msg, sizeof msg, res->message);
	snprintf(buf, cap, "{\"result_major\":\"%s\",\"result_minor\":\"%s\",\"message\":\"%s\"}", major, minor, msg);
}

/* The per-request keys on /metrics: a leak shows as efos_signer_keys_live above 0 when no
 * signing is in progress (the keys are session objects no other program can list). */
static void render_signer_keys(struct metrics_buf *b)
{
	unsigned long made, gone;
	signer_keys_counts(&made, &gone);
	metrics_buf_printf(b,
		"# HELP efos_signer_keys_created_total Per-request signing keys generated in the HSM.\n"
		"# TYPE efos_signer_keys_created_total counter\n"
		"efos_signer_keys_created_total %lu\n"
		"# HELP efos_signer_keys_destroyed_total Per-request signing keys destroyed after use.\n"
		"# TYPE efos_signer_keys_destroyed_total counter\n"
		"efos_signer_keys_destroyed_total %lu\n"
		"# HELP efos_signer_keys_live Per-request signing keys in the HSM now.\n"
		"# TYPE efos_signer_keys_live gauge\n"
		"efos_signer_keys_live %lu\n", made, gone, made >= gone ? made - gone : 0);
}

static void maybe_sweep(PGconn *c)
{
	int64_t now = (int64_t)time(NULL), prev = atomic_load(&last_sweep);
	if (now - prev < SWEEP_INTERVAL_S || !atomic_compare_exchange_strong(&last_sweep, &prev, now))
		return;
	efos_err e = { 0 };
	long n = 0;
	if (fedsign_sweep(c, &n, &e) != 0)
		log_warn("%s", e.msg);
	else if (n > 0)
		log_debug("signing service: %ld expired rows swept", n);
}

/* ---- requesters: SPs of the IdP's metadata store --------------------------------------------- */

struct lookup {
	const struct idp_md_snapshot *snap;
	const char *urls[MAX_RETURN_URLS];
};

static int requester_lookup(void *arg, const char *entity_id, struct dss_requester *out)
{
	struct lookup *l = arg;
	const struct idp_sp *sp = idp_md_snapshot_find(l->snap, entity_id);
	if (sp == NULL || sp->n_signing_keys == 0)
		return -1;
	size_t n = 0;
	for (size_t i = 0; i < sp->n_acs && n < MAX_RETURN_URLS; i++)
		l->urls[n++] = sp->acs[i].location;
	out->keys = sp->signing_keys;
	out->n_keys = sp->n_signing_keys;
	out->return_urls = l->urls;
	out->n_return_urls = n;
	return 0;
}

static void intake_opts(struct dss_intake_opts *o, struct lookup *l, time_t now)
{
	*o = (struct dss_intake_opts){
		.own_entity_id = g->cfg->signer_entity_id,
		.lookup = requester_lookup,
		.lookup_arg = l,
		.max_age_s = g->cfg->signer_max_request_age_s,
		.skew_s = g->cfg->signer_clock_skew_s,
		.now = now,
	};
}

/* ---- POST /sign/request ------------------------------------------------------------------------ */

/* The LoAs of the request that the IdP is certified for (into out); 0 when none. */
static size_t supported_loas(const struct dss_sign_request *r, const struct sig_idp *idp, const char **out,
			     size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_loas && n < cap; i++)
		if (sig_idp_has_assurance(idp, r->loas[i]))
			out[n++] = r->loas[i];
	return n;
}

static void handle_request(struct http_request *req, struct http_response *resp)
{
	if (g == NULL) {
		http_resp_error(resp, 503, "the federated signing service is not configured on this node "
				"(signer.signing_key, signer.signing_cert)");
		return;
	}
	const char *binding = http_req_query(req, "Binding");
	const char *b64 = http_req_query(req, "EidSignRequest");
	const char *relay = http_req_query(req, "RelayState");
	if (binding == NULL || strcmp(binding, BINDING_POST_XML) != 0) {
		error_page(resp, 400, "The request did not use the binding POST/XML/1.0.");
		return;
	}
	if (b64 == NULL || (relay != NULL && strlen(relay) > MAX_RELAY_STATE)) {
		error_page(resp, 400, b64 == NULL ? "The request carried no EidSignRequest."
						  : "The request's RelayState is too long.");
		return;
	}
	size_t xml_len = 0;
	unsigned char *xml = b64_decode(b64, &xml_len);
	if (xml == NULL || xml_len == 0) {
		free(xml);
		error_page(resp, 400, "The EidSignRequest is not valid base64.");
		return;
	}

	time_t now = time(NULL);
	struct lookup l = { .snap = idp_md_acquire(g->requesters) };
	struct dss_intake_opts o;
	intake_opts(&o, &l, now);
	struct dss_sign_request *r = NULL;
	struct dss_result res = { 0 };
	efos_err e = { 0 };
	PGconn *c = NULL;
	char tx_id[FEDSIGN_TX_ID_LEN + 1] = "", details[2600];
	char *nonce = NULL;
	struct sp_authn_out ao = { 0 };
	int rc = dss_request_parse((const char *)xml, xml_len, &o, &r, &res, &e);
	if (rc < 0) {
		log_warn("signing service: untrusted SignRequest refused: %s", e.msg);
		/* Nobody's return URL can be trusted with it: the DSS result goes on the page. */
		char page[sizeof res.message + 256];
		snprintf(page, sizeof page, "%s (DSS result: %s%s%s)",
			 res.message[0] ? res.message : "The signature request could not be trusted.", res.major,
			 res.minor ? " " : "", res.minor ? res.minor : "");
		error_page(resp, 400, page);
		goto out;
	}
	if (db_acquire(g->ctx->db, &c, &e) != 0) {
		res = (struct dss_result){ DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "the service is unavailable" };
		post_result(resp, r->return_url, relay, r->request_id, r->version, &res);
		goto out;
	}
	maybe_sweep(c);
	if (rc == DSS_INTAKE_REFUSED && r->unauthenticated) {
		/* not the requester's request: answered, audited, but no RequestID is taken */
		log_warn("signing service: SignRequest %s in the name of %s refused: %s", r->request_id, r->requester,
			 res.message);
		refusal_details(details, sizeof details, &res);
		audit_event(c, "sign.refused", "denied", r->requester, r->request_id, details);
		post_result(resp, r->return_url, relay, r->request_id, r->version, &res);
		goto out;
	}
	struct fedsign_tx_new t = {
		.requester = r->requester,
		.request_id = r->request_id,
		.return_url = r->return_url,
		.relay_state = relay,
		.request_xml = xml,
		.request_xml_len = xml_len,
		.expires_at = now + g->cfg->signer_tx_lifetime_s,
		/* A RequestID stays taken as long as the request could still pass the age check. */
		.replay_until = now + g->cfg->signer_max_request_age_s + 2L * g->cfg->signer_clock_skew_s,
	};
	if (r->not_on_or_after > 0 && r->not_on_or_after + g->cfg->signer_clock_skew_s > t.replay_until)
		t.replay_until = r->not_on_or_after + g->cfg->signer_clock_skew_s;
	if (db_begin(c, &e) != 0)
		goto db_fail;
	if (fedsign_tx_create(c, &t, tx_id, &e) != 0) {
		if (e.code != EFOS_E_CONFLICT)
			goto db_fail;
		db_rollback(c);
		fedsign_result(&res, r->version, DSS_MAJOR_REQUESTER, NULL,
			       "the RequestID was already used: a SignRequest is accepted once");
		if (db_begin(c, &e) == 0) {
			refusal_details(details, sizeof details, &res);
			audit_event(c, "sign.refused", "denied", r->requester, r->request_id, details);
			db_commit(c, &e);
		}
		post_result(resp, r->return_url, relay, r->request_id, r->version, &res);
		goto out;
	}
	const struct sig_idp *idp = NULL;
	const char *loas[DSS_MAX_LOAS];
	size_t n_loas = 0;
	int want_sad = 0;
	if (rc == DSS_INTAKE_REFUSED) {
		/* res says why */
	} else if ((idp = fedsign_idps_find(g->idps, r->idp)) == NULL) {
		fedsign_result(&res, r->version, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED,
			       "the identity provider named in the request is not one this service trusts");
		rc = DSS_INTAKE_REFUSED;
	} else if ((n_loas = supported_loas(r, idp, loas, DSS_MAX_LOAS)) == 0) {
		fedsign_result(&res, r->version, DSS_MAJOR_RESPONDER, DSS_MINOR_UNSUPPORTED_LOA,
			       "the identity provider is not certified for the requested level of assurance");
		rc = DSS_INTAKE_REFUSED;
	} else if ((want_sad = fedsign_want_sad(g->sad, r, idp, &res)) < 0) {
		rc = DSS_INTAKE_REFUSED;
	}
	if (rc == DSS_INTAKE_REFUSED) {
		refusal_details(details, sizeof details, &res);
		if (fedsign_tx_fail(c, tx_id, &e) != 0)
			goto db_fail;
		audit_event(c, "sign.refused", "denied", r->requester, r->request_id, details);
		if (db_commit(c, &e) != 0)
			goto db_fail;
		post_result(resp, r->return_url, relay, r->request_id, r->version, &res);
		goto out;
	}

	char sad_id[48] = "";
	if (want_sad) {
		unsigned char rb[20];
		if (RAND_bytes(rb, sizeof rb) != 1)
			goto internal;
		sad_id[0] = '_';
		for (size_t i = 0; i < sizeof rb; i++)
			snprintf(sad_id + 1 + 2 * i, 3, "%02x", rb[i]);
	}
	struct sp_authn_params ap = {
		.sp_entity_id = g->cfg->signer_entity_id,
		.acs_url = g->acs_url,
		.idp = idp,
		.loas = loas,
		.n_loas = n_loas,
		.sign_message_xml = r->sign_message_xml,
		.sad_request_id = want_sad ? sad_id : NULL,
		.sign_request_id = r->request_id,
		.doc_count = (int)r->n_tasks,
		.signer = r->signer,
		.n_signer = r->n_signer,
		.requester_id = r->requester,
		.now = now,
	};
	nonce = idp_page_nonce();
	if (nonce == NULL || sp_authn_build(g->sign_key, g->sign_cert_b64, &ap, tx_id, nonce, &ao, &e) != 0) {
		log_error("signing service: cannot build the AuthnRequest to %s: %s", idp->entity_id, e.msg);
		goto internal;
	}
	if (fedsign_tx_set_sent(c, tx_id, idp->entity_id, ao.id, want_sad ? sad_id : NULL, &e) != 0)
		goto db_fail;
	{
		char rq[1100], ip[1100];
		json_escape(rq, sizeof rq, r->requester);
		json_escape(ip, sizeof ip, idp->entity_id);
		snprintf(details, sizeof details, "{\"requester\":\"%s\",\"idp\":\"%s\",\"tasks\":%zu,\"sad\":%s,"
			 "\"sign_message\":%s}", rq, ip, r->n_tasks, want_sad ? "true" : "false",
			 r->sign_message_xml ? "true" : "false");
	}
	audit_event(c, "sign.request", "success", r->requester, r->request_id, details);
	if (db_commit(c, &e) != 0)
		goto db_fail;
	idp_page_send(resp, 200, ao.post_form_html, nonce, idp->sso_post_url);
	ao.post_form_html = NULL;   /* taken */
	goto out;

internal:
	db_rollback(c);
	fedsign_result(&res, r->version, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR,
		       "the signing service could not send the authentication request");
	post_result(resp, r->return_url, relay, r->request_id, r->version, &res);
	goto out;
db_fail:
	log_error("signing service: database: %s", e.msg);
	db_rollback(c);
	fedsign_result(&res, r->version, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR,
		       "the signing service is temporarily unavailable");
	post_result(resp, r->return_url, relay, r->request_id, r->version, &res);
out:
	if (c != NULL)
		db_release(g->ctx->db, c, db_conn_broken(c));
	sp_authn_out_free(&ao);
	free(nonce);
	dss_request_free(r);
	idp_md_release(l.snap);
	free(xml);
}

/* ---- POST /sign/acs ------------------------------------------------------------------------------ */

static void hex_of(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* The audit details of a completed signing: requester, task count, certificate serial and the
 * SHA-256 of every ToBeSignedBytes as signed. No personal data. */
static char *complete_details(const struct dss_sign_request *r, X509 *cert)
{
	char rq[1100], *serial = NULL;
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	if (bn != NULL)
		serial = BN_bn2hex(bn);
	BN_free(bn);
	json_escape(rq, sizeof rq, r->requester);
	size_t cap = 256 + strlen(rq) + r->n_tasks * 70;
	char *d = malloc(cap);
	if (d != NULL) {
		size_t o = (size_t)snprintf(d, cap, "{\"requester\":\"%s\",\"tasks\":%zu,\"cert_serial\":\"%s\","
					    "\"tbs_sha256\":[", rq, r->n_tasks, serial ? serial : "");
		for (size_t i = 0; i < r->n_tasks && o < cap; i++) {
			unsigned char md[32];
			char hex[65];
			EVP_Digest(r->tasks[i].tbs, r->tasks[i].tbs_len, md, NULL, EVP_sha256(), NULL);
			hex_of(md, sizeof md, hex);
			o += (size_t)snprintf(d + o, cap - o, "%s\"%s\"", i ? "," : "", hex);
		}
		if (o < cap)
			snprintf(d + o, cap - o, "]}");
	}
	OPENSSL_free(serial);
	return d;
}

static void handle_acs(struct http_request *req, struct http_response *resp)
{
	if (g == NULL) {
		http_resp_error(resp, 503, "the federated signing service is not configured on this node");
		return;
	}
	const char *saml = http_req_query(req, "SAMLResponse");
	const char *tx_id = http_req_query(req, "RelayState");
	efos_err e = { 0 };
	PGconn *c = NULL;
	struct fedsign_tx tx = { 0 };
	struct dss_sign_request *r = NULL;
	struct sp_assertion *a = NULL;
	struct signer_cert sc = { 0 };
	struct dss_result res = { 0 };
	struct lookup l = { .snap = NULL };
	X509 **chain = NULL;
	char *b64 = NULL, *nonce = NULL, *details = NULL;
	bool in_tx = false;

	if (saml == NULL || tx_id == NULL) {
		error_page(resp, 400, "The identity provider's answer is incomplete (SAMLResponse and RelayState are needed).");
		return;
	}
	if (db_acquire(g->ctx->db, &c, &e) != 0) {
		error_page(resp, 503, "The signing service is temporarily unavailable; start the signing again.");
		return;
	}
	enum fedsign_claim st;
	if (fedsign_tx_claim(c, tx_id, &st, &tx, &e) != 0) {
		log_error("signing service: %s", e.msg);
		error_page(resp, 503, "The signing service is temporarily unavailable; start the signing again.");
		goto out;
	}
	if (st == FEDSIGN_UNKNOWN || st == FEDSIGN_USED) {
		log_warn("signing service: an answer for a signing that is %s", st == FEDSIGN_USED ? "already finished" : "unknown");
		error_page(resp, 400, st == FEDSIGN_USED ? "This signing has already been completed or refused."
							 : "This signing is not known to the service.");
		goto out;
	}

	/* The request as it was accepted: parsed again with the clock of the intake. */
	l.snap = idp_md_acquire(g->requesters);
	struct dss_intake_opts o;
	intake_opts(&o, &l, tx.sent_at);
	if (dss_request_parse((const char *)tx.request_xml, tx.request_xml_len, &o, &r, &res, &e) != 0) {
		/* The requester left the metadata meanwhile (or its key changed): nothing is posted. */
		log_warn("signing service: the stored request %s no longer passes: %s", tx.request_id, e.msg);
		error_page(resp, 400, "The requesting service is no longer trusted.");
		goto out;
	}
	if (st == FEDSIGN_EXPIRED) {
		fedsign_result(&res, r->version, DSS_MAJOR_REQUESTER, DSS_MINOR_REQ_EXPIRED,
			       "the authentication took longer than the signing service waits (%d s)",
			       g->cfg->signer_tx_lifetime_s);
		goto refuse;
	}
	const struct sig_idp *idp = fedsign_idps_find(g->idps, tx.idp);
	if (idp == NULL) {
		fedsign_result(&res, r->version, DSS_MAJOR_RESPONDER, DSS_MINOR_AUTHN_FAILED,
			       "the identity provider is no longer trusted by the signing service");
		goto refuse;
	}
	struct sp_expect x = {
		.sp_entity_id = g->cfg->signer_entity_id,
		.acs_url = g->acs_url,
		.request_id = tx.authn_request_id,
		.loas = (const char *const *)r->loas,
		.n_loas = r->n_loas,
		.sent_at = tx.sent_at,
		.force_authn = true,
		.skew_s = g->cfg->signer_clock_skew_s,
	};
	int prc = sp_response_process(saml, strlen(saml), idp, g->enc_key, &x, &a, &e);
	if (prc < 0) {
		log_warn("signing service: the response from %s was refused: %s", idp->entity_id, e.msg);
		if (e.code == EFOS_E_UNAVAILABLE)
			fedsign_result(&res, r->version, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR,
				       "the signing service is temporarily unavailable");
		else
			fedsign_result(&res, r->version, DSS_MAJOR_RESPONDER, DSS_MINOR_AUTHN_FAILED,
				       "the identity provider's answer could not be accepted");
		goto refuse;
	}
	if (prc == SP_RESPONSE_STATUS) {
		fedsign_result_from_status(&res, r->version, a->status, a->sub_status);
		goto refuse;
	}
	if (fedsign_assertion_replay(c, a->issuer, a->id, a->not_on_or_after + g->cfg->signer_clock_skew_s, &e) != 0) {
		log_warn("signing service: %s", e.msg);
		fedsign_result(&res, r->version, DSS_MAJOR_RESPONDER,
			       e.code == EFOS_E_CONFLICT ? DSS_MINOR_SECURITY_VIOLATION : DSS_MINOR_GENERAL_ERROR,
			       e.code == EFOS_E_CONFLICT ? "the identity provider's assertion was used before"
							 : "the signing service is temporarily unavailable");
		goto refuse;
	}
	struct fedsign_assertion_ctx ax = {
		.sp_entity_id = g->cfg->signer_entity_id,
		.sad_request_id = tx.sad_request_id,
		.skew_s = g->cfg->signer_clock_skew_s,
	};
	if (fedsign_check_assertion(r, a, idp, &ax, &res) != 0)
		goto refuse;

	/* Key, certificate, signatures; the certificate and the audit event commit together. */
	if (db_begin(c, &e) != 0)
		goto db_fail;
	in_tx = true;
	struct signer_cert_request cr = {
		.req = r,
		.attrs = a->attrs,
		.n_attrs = a->n_attrs,
		.idp = a->issuer,
		.authn_instant = a->authn_instant,
		.loa = a->loa,
		.assertion_id = a->id,
		.service_id = g->cfg->signer_entity_id,
		.rsa_bits = g->rsa_bits,
		.ca_chain = g->ca_chain,
		.actor = r->requester,
	};
	if (signer_cert_issue(c, g->ctx->hsm, g->sign_ca, g->profile, &cr, &sc, &res, &e) != 0) {
		log_error("signing service: no signer certificate for %s: %s", r->request_id, e.msg);
		goto refuse;
	}
	if (sign_tasks(sc.key, sc.cert, r->sig_alg, r->tasks, r->n_tasks, &res, &e) != 0) {
		log_error("signing service: signing %s failed: %s", r->request_id, e.msg);
		goto refuse;
	}
	if ((details = complete_details(r, sc.cert)) == NULL)
		goto internal;
	audit_event(c, "sign.complete", "success", r->requester, r->request_id, details);
	if (db_commit(c, &e) != 0)
		goto db_fail;
	in_tx = false;

	int n_extra = sc.chain ? sk_X509_num(sc.chain) : 0;
	if ((chain = calloc((size_t)n_extra + 1, sizeof *chain)) == NULL)
		goto internal;
	chain[0] = sc.cert;
	for (int i = 0; i < n_extra; i++)
		chain[i + 1] = sk_X509_value(sc.chain, i);
	struct dss_signer_info si = {
		.idp = a->issuer,
		.authn_instant = a->authn_instant,
		.loa = a->loa,
		.service_id = g->cfg->signer_entity_id,
		.assertion_id = a->id,
		.attrs = sc.mapped,
		.n_attrs = sc.n_mapped,
		.assertion = a->xml,
		.assertion_len = a->xml_len,
	};
	res = (struct dss_result){ .major = DSS_MAJOR_SUCCESS };
	struct dss_response_key k = { .key = g->sign_key, .cert_b64 = g->sign_cert_b64 };
	struct dss_response_params p = {
		.request_id = r->request_id, .version = r->version, .result = &res, .signer = &si,
		.chain = chain, .n_chain = (size_t)n_extra + 1, .tasks = r->tasks, .n_tasks = r->n_tasks,
	};
	if (dss_response_build(&k, &p, &b64, &e) != 0) {
		log_error("signing service: cannot build the SignResponse for %s: %s", r->request_id, e.msg);
		goto internal;
	}
	signer_cert_destroy(&sc);   /* before the answer leaves: the key has done its one job */
	nonce = idp_page_nonce();
	log_info("signing service: request %s from %s signed (%zu task(s))", r->request_id, r->requester, r->n_tasks);
	idp_page_send(resp, 200, dss_response_post_form(r->return_url, b64, tx.relay_state, nonce), nonce,
		      r->return_url);
	goto out;

db_fail:
	log_error("signing service: database: %s", e.msg);
internal:
	fedsign_result(&res, r->version, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR,
		       "the signing service could not complete the signature");
refuse:
	signer_cert_destroy(&sc);
	if (in_tx)
		db_rollback(c);
	in_tx = false;
	{
		char d[1200];
		refusal_details(d, sizeof d, &res);
		if (db_begin(c, &e) == 0) {
			audit_event(c, "sign.refused", "denied", r->requester, r->request_id, d);
			if (db_commit(c, &e) != 0)
				log_error("signing service: audit: %s", e.msg);
		}
	}
	post_result(resp, r->return_url, tx.relay_state, r->request_id, r->version, &res);
out:
	signer_cert_destroy(&sc);   /* safe on a zeroed struct: every path ends without the key */
	if (in_tx)
		db_rollback(c);
	if (c != NULL)
		db_release(g->ctx->db, c, db_conn_broken(c));
	free(chain);
	free(details);
	free(b64);
	free(nonce);
	sp_assertion_free(a);
	dss_request_free(r);
	if (l.snap != NULL)
		idp_md_release(l.snap);
	fedsign_tx_clear(&tx);
}

/* ---- GET /metadata/sigservice.xml ---------------------------------------------------------------- */

static void handle_metadata(struct http_request *req, struct http_response *resp)
{
	if (g == NULL) {
		http_resp_error(resp, 503, "the signing service's metadata is not published by this node "
				"(signer.signing_key and signer.signing_cert are not configured)");
		return;
	}
	struct idp_md_current cur;
	efos_err e = { 0 };
	if (fedsign_md_get(g->md, &cur, &e) != 0) {
		http_resp_from_err(resp, &e);
		return;
	}
	idp_metadata_send(req, resp, &cur);
}

const struct http_route signer_fedsign_routes[] = {
	{ "GET", FEDSIGN_PATH_METADATA, 0, handle_metadata, "sigservice_metadata" },
	{ "POST", FEDSIGN_PATH_REQUEST, 0, handle_request, "sign_request" },
	{ "POST", FEDSIGN_PATH_ACS, 0, handle_acs, "sign_acs" },
};
const size_t signer_fedsign_n_routes = sizeof signer_fedsign_routes / sizeof signer_fedsign_routes[0];

/* ---- start / stop ------------------------------------------------------------------------------- */

static X509 *load_cert(const char *key, const char *path, efos_err *e)
{
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "%s: %s: cannot open", key, path);
		return NULL;
	}
	X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL)
		efos_fail(e, EFOS_E_CONFIG, "%s: %s: no PEM certificate in the file", key, path);
	return x;
}

static int load_key_pair(struct efos_ctx *ctx, const char *key_name, const char *uri, const char *cert_name,
			 const char *path, struct hsm_key **key, X509 **cert, efos_err *e)
{
	if (hsm_key_find(ctx->hsm, uri, key, e) != 0)
		return efos_wrap(e, "%s %s", key_name, uri);
	if ((*cert = load_cert(cert_name, path, e)) == NULL)
		return -1;
	if (EVP_PKEY_eq(X509_get0_pubkey(*cert), hsm_key_public(*key)) != 1)
		return efos_fail(e, EFOS_E_CONFIG, "%s %s is not the certificate of %s %s", cert_name, path, key_name, uri);
	return 0;
}

static char *cert_b64(X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	char *out = n > 0 ? b64_encode(der, (size_t)n) : NULL;
	OPENSSL_free(der);
	return out;
}

static void fedsign_free(struct fedsign *f)
{
	if (f == NULL)
		return;
	fedsign_md_stop(f->md);
	fedsign_idps_stop(f->idps);
	if (f->own_certs != NULL)
		certs_service_stop(f->own_certs);
	if (f->sign_key != NULL)
		hsm_key_free(f->sign_key);
	if (f->enc_key != NULL)
		hsm_key_free(f->enc_key);
	sk_X509_free(f->ca_chain);   /* the stack only: its certificates are the CA service's */
	X509_free(f->sign_cert);
	X509_free(f->enc_cert);
	free(f->sign_cert_b64);
	free(f);
}

int signer_fedsign_service_start(struct efos_ctx *ctx, efos_err *e)
{
	const struct efos_config *c = ctx->cfg;
	if (c->signer_signing_key == NULL) {
		log_warn("signer.signing_key is not set: federated signing (%s, %s, %s) answers 503",
			 FEDSIGN_PATH_REQUEST, FEDSIGN_PATH_ACS, FEDSIGN_PATH_METADATA);
		return 0;
	}
	if (c->signer_encryption_key == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "signer.encryption_key and signer.encryption_cert are needed with "
				 "signer.signing_key: the IdPs encrypt their assertions to the signing service");
	struct fedsign *f = calloc(1, sizeof *f);
	if (f == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	f->ctx = ctx;
	f->cfg = c;
	f->sad = strcmp(c->signer_sad, "always") == 0 ? FEDSIGN_SAD_ALWAYS
		 : strcmp(c->signer_sad, "never") == 0 ? FEDSIGN_SAD_NEVER : FEDSIGN_SAD_WHEN_REQUIRED;
	f->rsa_bits = c->signer_key_rsa_bits;
	snprintf(f->acs_url, sizeof f->acs_url, "%s%s", c->http_public_url, FEDSIGN_PATH_ACS);
	if (load_key_pair(ctx, "signer.signing_key", c->signer_signing_key, "signer.signing_cert",
			  c->signer_signing_cert, &f->sign_key, &f->sign_cert, e) != 0 ||
	    load_key_pair(ctx, "signer.encryption_key", c->signer_encryption_key, "signer.encryption_cert",
			  c->signer_encryption_cert, &f->enc_key, &f->enc_cert, e) != 0)
		goto fail;
	if (hsm_key_kind(f->enc_key) != HSM_KEY_RSA) {
		efos_fail(e, EFOS_E_CONFIG, "signer.encryption_key must be an RSA key (RSA-OAEP key transport)");
		goto fail;
	}
	if ((f->sign_cert_b64 = cert_b64(f->sign_cert)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto fail;
	}

	/* The CA that certifies signers: the node's own CA service, or loaded for this purpose. */
	const struct certs_service *certs = ctx->certs;
	if (certs == NULL) {
		PGconn *conn = NULL;
		if (db_acquire(ctx->db, &conn, e) != 0)
			goto fail;
		int rc = certs_service_load(conn, ctx->hsm, c->ca_profiles_file, c->ca_base_url, &f->own_certs, e);
		db_release(ctx->db, conn, rc != 0 && db_conn_broken(conn));
		if (rc != 0) {
			efos_wrap(e, "signer certificates");
			goto fail;
		}
		certs = f->own_certs;
	}
	f->profile = cert_profile_get(certs_profiles(certs), SIGNER_PROFILE);
	f->sign_ca = f->profile ? certs_ca_for_profile(certs, f->profile) : NULL;
	if (f->profile == NULL || f->sign_ca == NULL || f->sign_ca->key == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "federated signing needs the certificate profile \"%s\" in ca.profiles_file "
			  "and its issuing CA with its key in this node's HSM (%s)", SIGNER_PROFILE,
			  f->profile == NULL ? "no such profile" : "the CA or its key is not available");
		goto fail;
	}
	/* the chain every SignResponse carries, found once (not per signature) */
	if ((f->ca_chain = sk_X509_new_null()) == NULL || certs_ca_chain(certs, f->sign_ca, f->ca_chain) != 0) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto fail;
	}

	if ((f->requesters = idp_metadata_sp_store()) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "the SP metadata store (the requesters) is not running");
		goto fail;
	}
	if (fedsign_idps_start(c, idp_metadata_publisher(), &f->idps, e) != 0)
		goto fail;
	if (fedsign_md_start(c, f->sign_key, f->sign_cert, f->enc_cert, f->sad == FEDSIGN_SAD_ALWAYS,
			     config_has_role(c, "idp") ? f->requesters : NULL, &f->md, e) != 0)
		goto fail;
	if (metrics_register(render_signer_keys) != 0)
		log_warn("signing service: no room for its metrics on /metrics");
	size_t swept = 0;
	efos_err e2 = { 0 };
	if (signer_keys_sweep(ctx->hsm, &swept, &e2) != 0)
		log_warn("signing service: could not look for left-over signing keys: %s", e2.msg);
	else if (swept > 0)
		log_warn("signing service: %zu per-request key(s) left by an earlier crash destroyed", swept);
	g = f;
	log_info("signing service %s ready (%s)", c->signer_entity_id, FEDSIGN_PATH_REQUEST);
	return 0;
fail:
	fedsign_free(f);
	return -1;
}

void signer_fedsign_service_stop(void)
{
	fedsign_free(g);
	g = NULL;
}
