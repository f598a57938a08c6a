/* POST /api/v1/validate/signature (sigval_api.h, docs/validation-api.md).
 *
 * The caller -> the request (JSON {"signature", "document"?, "format"?} or a raw body whose
 * Content-Type or ?format= names the format, else detected from its first bytes) -> the
 * validator of that format with certs_validate() as the certificate step -> the report as
 * JSON. Nothing changes state, so nothing is audited; the verdict is logged with the request
 * id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "certs/validate.h"
#include "core/base64.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"
#include "signer/api_client.h"
#include "signer/sigval.h"
#include "signer/sigval_api.h"

static int validate_cert(void *arg, X509 *leaf, STACK_OF(X509) *untrusted, time_t at, struct certs_validation *r,
			 efos_err *e)
{
	return certs_validate(arg, leaf, untrusted, CERTS_PURPOSE_ANY, at, r, e);
}

struct val_req {
	char format[8];                /* "" = detect */
	const unsigned char *sig;
	size_t sig_len;
	unsigned char *sig_buf, *doc_buf;
	const unsigned char *doc;
	size_t doc_len;
};

static int set_format(struct val_req *v, const char *f, char *why, size_t cap)
{
	if (strcmp(f, "cms") && strcmp(f, "xml") && strcmp(f, "pdf"))
		return snprintf(why, cap, "format \"%.40s\" is not supported (cms, xml or pdf)", f), -1;
	snprintf(v->format, sizeof v->format, "%s", f);
	return 0;
}

static int parse_json(struct http_request *req, struct val_req *v, char *why, size_t cap)
{
	json_error_t je;
	json_t *root = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	const char *k;
	json_t *x;
	int rc = -1;
	if (root == NULL)
		return snprintf(why, cap, "the request body is not valid JSON: %s (line %d, column %d)", je.text,
				je.line, je.column), -1;
	if (!json_is_object(root)) {
		snprintf(why, cap, "the request body must be a JSON object");
		goto out;
	}
	json_object_foreach(root, k, x) {
		if (strcmp(k, "signature") && strcmp(k, "document") && strcmp(k, "format")) {
			snprintf(why, cap, "unknown member \"%.60s\" (signature, document, format)", k);
			goto out;
		}
		if (!json_is_string(x)) {
			snprintf(why, cap, "\"%s\" must be a string", k);
			goto out;
		}
		const char *s = json_string_value(x);
		if (!strcmp(k, "format")) {
			if (set_format(v, s, why, cap) != 0)
				goto out;
		} else if (!strcmp(k, "signature")) {
			if ((v->sig_buf = b64_decode(s, &v->sig_len)) == NULL) {
				snprintf(why, cap, "\"signature\" is not base64");
				goto out;
			}
			v->sig = v->sig_buf;
		} else {
			if ((v->doc_buf = b64_decode(s, &v->doc_len)) == NULL) {
				snprintf(why, cap, "\"document\" is not base64");
				goto out;
			}
			v->doc = v->doc_buf;
		}
	}
	if (v->sig == NULL) {
		snprintf(why, cap, "\"signature\" (base64 of the signature, signed XML or PDF) is missing");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static int parse_request(struct http_request *req, struct val_req *v, char *why, size_t cap)
{
	const char *ct = http_req_header(req, "Content-Type");
	const char *q = http_req_query(req, "format");
	if (ct != NULL && strncasecmp(ct, "application/json", 16) == 0) {
		if (parse_json(req, v, why, cap) != 0)
			return -1;
	} else {
		v->sig = req->body;
		v->sig_len = req->body_len;
		if (q != NULL) {
			if (set_format(v, q, why, cap) != 0)
				return -1;
		} else if (ct != NULL && strncasecmp(ct, "application/pdf", 15) == 0) {
			set_format(v, "pdf", why, cap);
		} else if (ct != NULL && (strncasecmp(ct, "application/xml", 15) == 0 || strncasecmp(ct, "text/xml", 8) == 0)) {
			set_format(v, "xml", why, cap);
		} else if (ct != NULL && (strncasecmp(ct, "application/pkcs7", 17) == 0 ||
					  strncasecmp(ct, "application/cms", 15) == 0)) {
			set_format(v, "cms", why, cap);
		}
	}
	if (v->sig_len == 0)
		return snprintf(why, cap, "the signature is empty"), -1;
	if (v->format[0] == '\0') {
		const char *f = sigval_detect_format(v->sig, v->sig_len);
		if (f == NULL)
			return snprintf(why, cap, "this is not a signature: neither a PDF, nor XML, nor a DER CMS "
					"(name the format with \"format\" if it is one)"), -1;
		snprintf(v->format, sizeof v->format, "%s", f);
	}
	if (v->doc != NULL && strcmp(v->format, "pdf") == 0)
		return snprintf(why, cap, "a PDF signature is inside the PDF: send the PDF as \"signature\" and no "
				"\"document\""), -1;
	return 0;
}

static json_t *sig_json(size_t i, const struct sigval_signature *s)
{
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "index", json_integer((json_int_t)i));
	json_object_set_new(o, "result", json_string(sigval_result_name(s->result)));
	if (s->reason[0])
		json_object_set_new(o, "reason", json_string(s->reason));
	if (s->detail[0])
		json_object_set_new(o, "detail", json_string(s->detail));
	if (s->subject[0] || s->serial[0])
		json_object_set_new(o, "signer", json_pack("{s:s, s:s, s:s}", "subject", s->subject, "serial",
							   s->serial, "issuer", s->issuer));
	if (s->cert_result[0])
		json_object_set_new(o, "certificate", json_pack("{s:s, s:s}", "result", s->cert_result, "reason",
								s->cert_reason));
	if (s->signing_time[0])
		json_object_set_new(o, "signing_time", json_string(s->signing_time));
	if (s->level[0])
		json_object_set_new(o, "level", json_string(s->level));
	if (s->ts.present) {
		json_t *t = json_pack("{s:s, s:b}", "result", sigval_result_name(s->ts.result), "valid",
				      s->ts.result == SIGVAL_VALID);
		if (t != NULL && s->ts.time[0])
			json_object_set_new(t, "time", json_string(s->ts.time));
		if (t != NULL && s->ts.tsa[0])
			json_object_set_new(t, "tsa", json_string(s->ts.tsa));
		if (t != NULL && s->ts.reason[0])
			json_object_set_new(t, "reason", json_string(s->ts.reason));
		if (t != NULL && s->ts.detail[0])
			json_object_set_new(t, "detail", json_string(s->ts.detail));
		json_object_set_new(o, "timestamp", t);
	}
	if (s->is_pdf) {
		json_object_set_new(o, "covers_whole_document", json_boolean(s->covers_whole_document));
		if (s->sub_filter[0])
			json_object_set_new(o, "sub_filter", json_string(s->sub_filter));
		if (s->field[0])
			json_object_set_new(o, "field", json_string(s->field));
	}
	return o;
}

static void respond(struct http_request *req, struct http_response *resp, const struct sigval_report *r)
{
	json_t *sigs = json_array();
	for (size_t i = 0; sigs != NULL && i < r->n; i++)
		json_array_append_new(sigs, sig_json(i, &r->sigs[i]));
	json_t *j = sigs ? json_pack("{s:s, s:s, s:o, s:s}", "format", r->format, "result",
				     sigval_result_name(r->result), "signatures", sigs, "request_id",
				     req->request_id ? req->request_id : "") : NULL;
	char *body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (body == NULL) {
		http_resp_error(resp, 500, "out of memory");
		return;
	}
	http_resp_status(resp, 200);
	http_resp_body_take(resp, "application/json", body, strlen(body));
}

static void handle_validate(struct http_request *req, struct http_response *resp)
{
	struct signer_api_client cl = { 0 };
	struct val_req v = { 0 };
	struct sigval_report r = { 0 };
	efos_err e = { 0 };
	PGconn *c = NULL;
	char why[512];

	if (db_acquire(req->ctx->db, &c, &e) != 0) {
		http_resp_header(resp, "Retry-After", "5");
		http_resp_from_err(resp, &e);
		return;
	}
	int auth = signer_api_client_authenticate(c, req, resp, "validation API", &cl);
	/* certs_validate takes its own connection: give this one back first */
	db_release(req->ctx->db, c, db_conn_broken(c));
	if (auth != 0)
		return;
	if (parse_request(req, &v, why, sizeof why) != 0) {
		http_resp_error(resp, 400, "%s", why);
		goto out;
	}
	struct sigval_ctx vc = { validate_cert, req->ctx };
	int rc;
	if (!strcmp(v.format, "cms"))
		rc = sigval_cms(&vc, v.sig, v.sig_len, v.doc, v.doc_len, &r, &e);
	else if (!strcmp(v.format, "xml"))
		rc = sigval_xml(&vc, v.sig, v.sig_len, v.doc, v.doc_len, &r, &e);
	else
		rc = sigval_pdf(&vc, v.sig, v.sig_len, &r, &e);
	if (rc != 0) {
		http_resp_from_err(resp, &e);
		goto out;
	}
	log_info("validation API: %s/%ld: %s signature(s) of %s: %zu, %s", cl.orgnr, cl.id, v.format,
		 req->request_id ? req->request_id : "-", r.n, sigval_result_name(r.result));
	respond(req, resp, &r);
out:
	sigval_report_free(&r);
	free(v.sig_buf);
	free(v.doc_buf);
}

const struct http_route signer_sigval_routes[] = {
	{ "POST", "/api/v1/validate/signature", HTTP_ROUTE_CLIENT_CERT, handle_validate, "validate_signature" },
};
const size_t signer_sigval_n_routes = sizeof signer_sigval_routes / sizeof signer_sigval_routes[0];
