/* The HTTP face of credential validation (certs/validate.h):
 *
 *   POST /api/v1/validate/certificate   (client certificate required)
 *     body: JSON {"certificate": PEM or base64 DER, "chain": [PEM or base64 DER, ...],
 *                 "purpose": "card-auth" | "any" (default "any"),
 *                 "at": "2025-01-31T12:00:00Z" or seconds since the epoch (default now)}
 *           or PEM certificates (leaf first, then intermediates).
 *     200 {"valid", "outcome", "reason", "message", "loa": [...], "person", "affiliations",
 *          "card", "certificate", "chain": [subjects]}; 400 for input that is not a certificate.
 *     Who may call it: for now any API client whose TLS client certificate validates to an EFOS
 *     CA and is not revoked or suspended (checked here with the same validator). Authorisation
 *     per organisation (which agency may look up whom) is a later issue's concern.
 *
 *   GET /idp/card/whoami   (client certificate presented: the card, on the mTLS listener, or
 *                           through the trusted proxy's header)
 *     certs_card_login() on the presented chain: 200 {"person", "loa": LoA URI, "affiliations",
 *     "card", "certificate"}; 403 {"error", "reason", "outcome"} with the exact reason; 503
 *     when the status cannot be established now (indeterminate).
 *
 * The validation API is an HTTP_ROUTE_CLIENT_CERT route: core/http verifies the API client's
 * chain against tls.client_ca (current time, purpose TLS client) before it runs. The card
 * login is an HTTP_ROUTE_CLIENT_CERT_RAW route: it gets the chain as presented, whether or not
 * it verified there, so that certs_card_login() judges every card certificate itself and names
 * the exact reason for a refusal (expired, untrusted_issuer, wrong_key_usage, suspended,
 * revoked...) instead of the TLS layer's OpenSSL message. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "certs/validate.h"
#include "core/ctx.h"
#include "core/http.h"
#include "core/log.h"

#define MAX_CHAIN 10

/* ------------------------------------------------------------------------------ input */

static X509 *der_cert(const unsigned char *d, size_t n)
{
	const unsigned char *q = d;
	X509 *x = d2i_X509(NULL, &q, (long)n);
	if (x != NULL && q != d + n) {   /* trailing bytes: not one certificate */
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* Base64 (whitespace allowed) to bytes; NULL when it is not base64. */
static unsigned char *b64_decode(const char *s, size_t *outlen)
{
	size_t n = strlen(s), k = 0;
	char *clean = malloc(n + 1);
	unsigned char *out = NULL;
	if (clean == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)s[i]))
			clean[k++] = s[i];
	clean[k] = '\0';
	if (k == 0 || k % 4 != 0)
		goto out;
	out = malloc(k / 4 * 3 + 1);
	if (out == NULL)
		goto out;
	int len = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)k);
	if (len < 0) {
		free(out);
		out = NULL;
		goto out;
	}
	size_t pad = (clean[k - 1] == '=') + (k > 1 && clean[k - 2] == '=');
	*outlen = (size_t)len - pad;
out:
	free(clean);
	return out;
}

/* Appends every certificate of text (PEM, one or more; or base64 DER) to out. */
static int parse_certs(const char *text, STACK_OF(X509) *out, char *why, size_t whylen)
{
	if (strstr(text, "-----BEGIN") != NULL) {
		BIO *b = BIO_new_mem_buf(text, -1);
		X509 *x;
		int n = 0;
		if (b == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
			if (sk_X509_num(out) >= MAX_CHAIN + 1 || !sk_X509_push(out, x)) {
				X509_free(x);
				BIO_free(b);
				snprintf(why, whylen, "too many certificates (at most %d in a chain)", MAX_CHAIN);
				return -1;
			}
			n++;
		}
		BIO_free(b);
		ERR_clear_error();
		if (n == 0) {
			snprintf(why, whylen, "no PEM certificate could be read (is it a CERTIFICATE block?)");
			return -1;
		}
		return 0;
	}
	size_t len = 0;
	unsigned char *der = b64_decode(text, &len);
	X509 *x = der ? der_cert(der, len) : NULL;
	free(der);
	ERR_clear_error();
	if (x == NULL) {
		snprintf(why, whylen, "not a PEM certificate nor base64 of a DER certificate");
		return -1;
	}
	if (sk_X509_num(out) >= MAX_CHAIN + 1 || !sk_X509_push(out, x)) {
		X509_free(x);
		snprintf(why, whylen, "too many certificates (at most %d in a chain)", MAX_CHAIN);
		return -1;
	}
	return 0;
}

static int parse_time(json_t *v, time_t *out, char *why, size_t whylen)
{
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*out = (time_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		struct tm tm = { 0 };
		const char *s = json_string_value(v);
		const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
		if (end != NULL && (*end == 'Z' || strcmp(end, "+00:00") == 0) &&
		    (*end != 'Z' || end[1] == '\0')) {
			*out = timegm(&tm);
			return 0;
		}
	}
	snprintf(why, whylen, "\"at\" must be a UTC time like \"2025-01-31T12:00:00Z\" or seconds since the epoch");
	return -1;
}

struct vreq {
	STACK_OF(X509) *certs;    /* leaf first */
	enum certs_val_purpose purpose;
	time_t at;
};

static int parse_request(const struct http_request *req, struct vreq *v, char *why, size_t whylen)
{
	const char *body = (const char *)req->body;
	size_t i = 0;
	while (i < req->body_len && isspace((unsigned char)body[i]))
		i++;
	if (req->body_len == 0 || i == req->body_len) {
		snprintf(why, whylen, "empty body: send JSON {\"certificate\": \"...\"} or PEM certificates");
		return -1;
	}
	if (memchr(body, '\0', req->body_len) != NULL) {
		snprintf(why, whylen, "the body holds a NUL byte: send JSON or PEM text");
		return -1;
	}
	if (body[i] != '{')
		return parse_certs(body, v->certs, why, whylen);

	json_error_t je;
	json_t *root = json_loadb(body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	int rc = -1;
	if (root == NULL || !json_is_object(root)) {
		snprintf(why, whylen, "the body is not a JSON object: %s (line %d)", root ? "not an object" : je.text, je.line);
		goto out;
	}
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val) {
		if (strcmp(key, "certificate") != 0 && strcmp(key, "chain") != 0 &&
		    strcmp(key, "purpose") != 0 && strcmp(key, "at") != 0) {
			snprintf(why, whylen, "unknown member \"%.64s\" (allowed: certificate, chain, purpose, at)", key);
			goto out;
		}
	}
	json_t *cert = json_object_get(root, "certificate");
	if (!json_is_string(cert)) {
		snprintf(why, whylen, "\"certificate\" (a PEM certificate or base64 DER) is required");
		goto out;
	}
	char w[160];
	if (parse_certs(json_string_value(cert), v->certs, w, sizeof w) != 0) {
		snprintf(why, whylen, "\"certificate\": %s", w);
		goto out;
	}
	json_t *chain = json_object_get(root, "chain");
	if (chain != NULL && !json_is_null(chain)) {
		if (!json_is_array(chain) || json_array_size(chain) > MAX_CHAIN) {
			snprintf(why, whylen, "\"chain\" must be an array of at most %d certificates", MAX_CHAIN);
			goto out;
		}
		size_t idx;
		json_t *c;
		json_array_foreach(chain, idx, c) {
			if (!json_is_string(c) || parse_certs(json_string_value(c), v->certs, w, sizeof w) != 0) {
				snprintf(why, whylen, "\"chain\"[%zu]: %s", idx,
					 json_is_string(c) ? w : "must be a string (PEM or base64 DER)");
				goto out;
			}
		}
	}
	json_t *purpose = json_object_get(root, "purpose");
	if (purpose != NULL && !json_is_null(purpose)) {
		const char *p = json_is_string(purpose) ? json_string_value(purpose) : "";
		if (strcmp(p, "card-auth") == 0)
			v->purpose = CERTS_PURPOSE_CARD_AUTH;
		else if (strcmp(p, "any") == 0)
			v->purpose = CERTS_PURPOSE_ANY;
		else {
			snprintf(why, whylen, "\"purpose\" must be \"card-auth\" or \"any\"");
			goto out;
		}
	}
	json_t *at = json_object_get(root, "at");
	if (at != NULL && !json_is_null(at) && parse_time(at, &v->at, why, whylen) != 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ------------------------------------------------------------------------------ output */

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static void name_str(const X509_NAME *n, char *buf, size_t len)
{
	buf[0] = '\0';
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		int k = BIO_read(b, buf, (int)len - 1);
		buf[k > 0 ? k : 0] = '\0';
	}
	BIO_free(b);
}

static json_t *jtime(time_t t)
{
	char buf[32];
	struct tm tm;
	if (t == 0 || gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(buf);
}

static json_t *jasn1_time(const ASN1_TIME *a)
{
	struct tm tm;
	if (a == NULL || !ASN1_TIME_to_tm(a, &tm))
		return json_null();
	return jtime(timegm(&tm));
}

static json_t *person_json(const struct certs_validation *r)
{
	if (!r->has_person)
		return json_null();
	return json_pack("{s:I, s:o, s:b, s:o, s:o, s:o, s:o}",
			 "id", (json_int_t)r->person.id,
			 "personal_identity_number", jstr(r->person.pnr),
			 "coordination_number", r->person.coordination_number,
			 "given_name", jstr(r->person.given_name),
			 "surname", jstr(r->person.surname),
			 "display_name", jstr(r->person.display_name),
			 "status", jstr(r->person.status));
}

static json_t *affiliations_json(const struct certs_validation *r)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < r->n_affiliations; i++) {
		const struct certs_val_affiliation *f = &r->affiliations[i];
		json_array_append_new(a, json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}",
			"org_affiliation", jstr(f->org_affiliation), "local_id", jstr(f->local_id),
			"orgnr", jstr(f->orgnr), "organisation", jstr(f->org_name),
			"title", jstr(f->title), "of_card", f->of_card));
	}
	return a;
}

static json_t *card_json(const struct certs_validation *r)
{
	if (!r->has_card)
		return json_null();
	return json_pack("{s:I, s:o, s:o}", "id", (json_int_t)r->card.id,
			 "token_serial", jstr(r->card.token_serial), "status", jstr(r->card.status));
}

static json_t *certificate_json(const struct certs_validation *r, X509 *leaf)
{
	char subj[512], iss[512], serial[80] = "";
	name_str(X509_get_subject_name(leaf), subj, sizeof subj);
	name_str(X509_get_issuer_name(leaf), iss, sizeof iss);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL;
	if (h != NULL)
		snprintf(serial, sizeof serial, "%s", h);
	OPENSSL_free(h);
	BN_free(bn);
	json_t *pol = json_array();
	for (size_t i = 0; pol != NULL && i < r->n_policy_oids; i++)
		json_array_append_new(pol, json_string(r->policy_oids[i]));
	json_t *rev = json_null();
	if (r->revocation_reason >= 0)
		rev = json_pack("{s:i, s:o}", "reason", r->revocation_reason, "time", jtime(r->revoked_at));
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}",
			 "subject", subj, "issuer", iss, "serial", serial,
			 "not_before", jasn1_time(X509_get0_notBefore(leaf)),
			 "not_after", jasn1_time(X509_get0_notAfter(leaf)),
			 "efos_ca", jstr(r->efos_ca_name), "profile", jstr(r->profile),
			 "status", r->cert_status[0] ? json_string(r->cert_status) : json_null(),
			 "revocation_source", r->revocation_source[0] ? json_string(r->revocation_source) : json_null(),
			 "policies", pol ? pol : json_null(),
			 "card_auth_usage", r->card_auth_usage,
			 "revocation", rev);
}

static json_t *chain_json(const struct certs_validation *r)
{
	json_t *a = json_array();
	char subj[512];
	for (int i = 0; a != NULL && i < sk_X509_num(r->chain); i++) {
		name_str(X509_get_subject_name(sk_X509_value(r->chain, i)), subj, sizeof subj);
		json_array_append_new(a, json_string(subj));
	}
	return a;
}

static json_t *loa_json(const struct certs_validation *r)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < r->loa.n; i++)
		json_array_append_new(a, json_string(r->loa.uris[i]));
	return a;
}

static void send_json(struct http_response *resp, int status, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (s == NULL) {
		http_resp_error(resp, 500, "out of memory");
		return;
	}
	http_resp_status(resp, status);
	http_resp_header(resp, "Cache-Control", "no-store");
	http_resp_body_take(resp, "application/json", s, strlen(s));
}

static json_t *validation_json(const struct certs_validation *r, X509 *leaf)
{
	return json_pack("{s:b, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "valid", r->outcome == CERTS_VAL_VALID,
			 "outcome", certs_val_outcome_name(r->outcome),
			 "reason", certs_val_reason_code(r->reason),
			 "message", r->message,
			 "loa", loa_json(r),
			 "person", person_json(r),
			 "affiliations", affiliations_json(r),
			 "card", card_json(r),
			 "certificate", certificate_json(r, leaf),
			 "chain", chain_json(r));
}

/* ------------------------------------------------------------------------------ handlers */

/* Any API client whose certificate validates to an EFOS CA (see the top of the file). */
static int api_client_ok(struct http_request *req, struct http_response *resp)
{
	struct certs_validation r;
	efos_err e = { 0 };
	STACK_OF(X509) *chain = req->client_chain;
	STACK_OF(X509) *rest = sk_X509_new_null();
	int ok = 0;
	if (rest == NULL) {
		http_resp_error(resp, 500, "out of memory");
		return 0;
	}
	for (int i = 1; i < sk_X509_num(chain); i++)
		sk_X509_push(rest, sk_X509_value(chain, i));
	if (certs_validate(req->ctx, sk_X509_value(chain, 0), rest, CERTS_PURPOSE_ANY, 0, &r, &e) != 0)
		http_resp_from_err(resp, &e);
	else if (r.outcome == CERTS_VAL_INDETERMINATE) {
		http_resp_header(resp, "Retry-After", "5");
		http_resp_error(resp, 503, "the status of your client certificate cannot be checked now: %s", r.message);
	} else if (r.outcome != CERTS_VAL_VALID || !r.efos_issued)
		http_resp_error(resp, 403, "this API needs a client certificate issued by an EFOS CA that is "
				"valid now%s%s", r.message[0] ? ": " : "", r.message);
	else
		ok = 1;
	sk_X509_free(rest);
	certs_validation_free(&r);
	return ok;
}

static void handle_validate(struct http_request *req, struct http_response *resp)
{
	struct vreq v = { .certs = sk_X509_new_null(), .purpose = CERTS_PURPOSE_ANY };
	struct certs_validation r = { 0 };
	STACK_OF(X509) *rest = sk_X509_new_null();
	efos_err e = { 0 };
	char why[300];
	r.error_depth = -1;
	if (v.certs == NULL || rest == NULL) {
		http_resp_error(resp, 500, "out of memory");
		goto out;
	}
	if (!api_client_ok(req, resp))
		goto out;
	if (parse_request(req, &v, why, sizeof why) != 0) {
		http_resp_error(resp, 400, "%s", why);
		goto out;
	}
	for (int i = 1; i < sk_X509_num(v.certs); i++)
		sk_X509_push(rest, sk_X509_value(v.certs, i));
	X509 *leaf = sk_X509_value(v.certs, 0);
	if (certs_validate(req->ctx, leaf, rest, v.purpose, v.at, &r, &e) != 0) {
		http_resp_from_err(resp, &e);
		goto out;
	}
	send_json(resp, 200, validation_json(&r, leaf));
out:
	certs_validation_free(&r);
	sk_X509_free(rest);
	sk_X509_pop_free(v.certs, X509_free);
}

static void handle_whoami(struct http_request *req, struct http_response *resp)
{
	struct certs_validation r;
	efos_err e = { 0 };
	/* The card's chain as presented: core/http's own verdict (req->client_verify_error) is
	 * only logged; the validation decides, with EFOS's reasons. */
	STACK_OF(X509) *chain = req->client_chain_presented;
	if (req->client_verify_error != NULL)
		log_debug("card login: the TLS layer's check of the client certificate said: %s",
			  req->client_verify_error);
	if (certs_card_login(req->ctx, chain, &r, &e) != 0) {
		http_resp_from_err(resp, &e);
		certs_validation_free(&r);
		return;
	}
	X509 *leaf = sk_X509_value(chain, 0);
	if (r.outcome == CERTS_VAL_VALID) {
		const char *loa = policy_loa_contains(&r.loa, LOA_URI_LOA4) ? LOA_URI_LOA4 : r.loa.uris[0];
		send_json(resp, 200, json_pack("{s:o, s:s, s:o, s:o, s:o, s:o}",
			"person", person_json(&r), "loa", loa, "loa_all", loa_json(&r),
			"affiliations", affiliations_json(&r), "card", card_json(&r),
			"certificate", certificate_json(&r, leaf)));
	} else {
		int status = r.outcome == CERTS_VAL_INDETERMINATE ? 503 : 403;
		if (status == 503)
			http_resp_header(resp, "Retry-After", "5");
		send_json(resp, status, json_pack("{s:s, s:s, s:s, s:i, s:s, s:o}",
			"error", r.message, "reason", certs_val_reason_code(r.reason),
			"outcome", certs_val_outcome_name(r.outcome), "status", status,
			"request_id", req->request_id ? req->request_id : "",
			"certificate", certificate_json(&r, leaf)));
	}
	certs_validation_free(&r);
}

const struct http_route certs_validate_routes[] = {
	{ "POST", "/api/v1/validate/certificate", HTTP_ROUTE_CLIENT_CERT, handle_validate, "validate_certificate" },
	{ "GET", "/idp/card/whoami", HTTP_ROUTE_CLIENT_CERT_RAW, handle_whoami, "card_whoami" },
};
const size_t certs_validate_n_routes = sizeof certs_validate_routes / sizeof certs_validate_routes[0];
