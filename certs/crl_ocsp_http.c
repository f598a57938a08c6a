/* HTTP front of the CRL publisher and the OCSP responder (certs/crl_ocsp_http.h).
 *
 * CRLs are served from the `cas` row; the DER is kept in memory per CA keyed by its CRL number,
 * so a request costs one small query (the number; the DER only when it changed). While the
 * database is down, a kept CRL is still served until its nextUpdate. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/ocsp.h>
#include "certs/crl.h"
#include "certs/crl_ocsp_http.h"
#include "certs/ocsp.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"

#define CRL_CACHE_CAS 16
#define CRL_MAX_AGE_S 300   /* HTTP caches refetch at least this often: revocations show quickly */

struct crl_cached {
	char name[33];
	long number;
	unsigned char *der;
	size_t len;
	time_t this_update, next_update;
};
static pthread_mutex_t crl_mu = PTHREAD_MUTEX_INITIALIZER;
static struct crl_cached crl_cache[CRL_CACHE_CAS];

static void http_date(time_t t, char *buf, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* "card.crl" -> "card"; false unless [a-z0-9-]{1,32}.crl */
static bool crl_name(const char *file, char name[33])
{
	size_t n = strlen(file);
	if (n < 5 || n > 36 || strcmp(file + n - 4, ".crl") != 0)
		return false;
	for (size_t i = 0; i < n - 4; i++) {
		char ch = file[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		name[i] = ch;
	}
	name[n - 4] = '\0';
	return true;
}

static struct crl_cached *cache_find_locked(const char *name, bool create)
{
	struct crl_cached *free_slot = NULL;
	for (size_t i = 0; i < CRL_CACHE_CAS; i++) {
		if (crl_cache[i].name[0] != '\0' && strcmp(crl_cache[i].name, name) == 0)
			return &crl_cache[i];
		if (free_slot == NULL && crl_cache[i].name[0] == '\0')
			free_slot = &crl_cache[i];
	}
	if (!create)
		return NULL;
	if (free_slot == NULL) {    /* more CAs than slots: reuse one (the CRL is refetched) */
		free_slot = &crl_cache[(size_t)time(NULL) % CRL_CACHE_CAS];
		free(free_slot->der);
	}
	memset(free_slot, 0, sizeof *free_slot);
	snprintf(free_slot->name, sizeof free_slot->name, "%s", name);
	free_slot->number = -1;
	return free_slot;
}

/* A copy of the kept CRL of name when its number is `number` (or any, number < 0) and it is
 * still valid. */
static bool cache_copy(const char *name, long number, time_t now, unsigned char **der, size_t *len,
		       time_t *this_upd, time_t *next_upd, long *num_out)
{
	bool ok = false;
	pthread_mutex_lock(&crl_mu);
	struct crl_cached *c = cache_find_locked(name, false);
	if (c != NULL && c->der != NULL && (number < 0 || c->number == number) && (number >= 0 || now < c->next_update) &&
	    (*der = malloc(c->len)) != NULL) {
		memcpy(*der, c->der, c->len);
		*len = c->len;
		*this_upd = c->this_update;
		*next_upd = c->next_update;
		*num_out = c->number;
		ok = true;
	}
	pthread_mutex_unlock(&crl_mu);
	return ok;
}

static long cached_number(const char *name)
{
	pthread_mutex_lock(&crl_mu);
	struct crl_cached *c = cache_find_locked(name, false);
	long n = (c != NULL && c->der != NULL) ? c->number : -1;
	pthread_mutex_unlock(&crl_mu);
	return n;
}

static void cache_put(const char *name, long number, const unsigned char *der, size_t len, time_t this_upd,
		      time_t next_upd)
{
	unsigned char *copy = malloc(len);
	if (copy == NULL)
		return;
	memcpy(copy, der, len);
	pthread_mutex_lock(&crl_mu);
	struct crl_cached *c = cache_find_locked(name, true);
	if (c->der != NULL && c->number > number) {   /* a newer one got there first */
		free(copy);
	} else {
		free(c->der);
		c->der = copy;
		c->len = len;
		c->number = number;
		c->this_update = this_upd;
		c->next_update = next_upd;
	}
	pthread_mutex_unlock(&crl_mu);
}

static void send_crl(struct http_response *resp, unsigned char *der, size_t len, long number, time_t this_upd,
		     time_t next_upd)
{
	char cc[64], lm[64], etag[48];
	time_t now = time(NULL);
	long age = next_upd > now ? (long)(next_upd - now) : 0;
	if (age > CRL_MAX_AGE_S)
		age = CRL_MAX_AGE_S;
	snprintf(cc, sizeof cc, "public, max-age=%ld, no-transform", age);
	http_date(this_upd, lm, sizeof lm);
	snprintf(etag, sizeof etag, "\"crl-%ld\"", number);
	http_resp_header(resp, "Cache-Control", cc);
	http_resp_header(resp, "Last-Modified", lm);
	http_resp_header(resp, "ETag", etag);
	http_resp_status(resp, 200);
	http_resp_body_take(resp, "application/pkix-crl", (char *)der, len);
}

static void crl_get(struct http_request *req, struct http_response *resp)
{
	char name[33];
	if (!crl_name(req->path + strlen("/crl/"), name)) {
		http_resp_error(resp, 404, "no such CRL: %s (CRLs are at /crl/<ca>.crl)", req->path);
		return;
	}
	struct efos_ctx *ctx = req->ctx;
	time_t now = time(NULL), this_upd = 0, next_upd = 0;
	unsigned char *der = NULL;
	size_t len = 0;
	long number = -1;
	PGconn *c = NULL;
	efos_err e = { 0 };
	if (db_acquire(ctx->db, &c, &e) != 0) {
		if (cache_copy(name, -1, now, &der, &len, &this_upd, &next_upd, &number)) {
			send_crl(resp, der, len, number, this_upd, next_upd);
			return;
		}
		http_resp_header(resp, "Retry-After", "5");
		http_resp_from_err(resp, &e);
		return;
	}
	char have[32];
	snprintf(have, sizeof have, "%ld", cached_number(name));
	const char *params[] = { name, have };
	PGresult *r = db_exec(c,
		"SELECT crl_number, coalesce(extract(epoch FROM crl_this_update)::bigint, 0), "
		"coalesce(extract(epoch FROM crl_next_update)::bigint, 0), "
		"CASE WHEN crl_number = $2::bigint THEN NULL ELSE crl_der END, crl_der IS NULL "
		"FROM cas WHERE name = $1", 2, params, &e);
	db_release(ctx->db, c, r == NULL && db_conn_broken(c));
	if (r == NULL) {
		http_resp_header(resp, "Retry-After", "5");
		http_resp_from_err(resp, &e);
		return;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		http_resp_error(resp, 404, "no CA named %s", name);
		return;
	}
	if (PQgetvalue(r, 0, 4)[0] == 't') {
		PQclear(r);
		http_resp_header(resp, "Retry-After", "2");
		http_resp_error(resp, 503, "the first CRL of CA %s is not issued yet", name);
		return;
	}
	number = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	this_upd = (time_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	next_upd = (time_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	if (!PQgetisnull(r, 0, 3)) {
		size_t blen = 0;
		unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 3), &blen);
		if (b != NULL) {
			cache_put(name, number, b, blen, this_upd, next_upd);
			PQfreemem(b);
		}
	}
	PQclear(r);
	if (!cache_copy(name, number, now, &der, &len, &this_upd, &next_upd, &number)) {
		http_resp_error(resp, 500, "CRL of CA %s: out of memory", name);
		return;
	}
	send_crl(resp, der, len, number, this_upd, next_upd);
}

static void ocsp_send(struct http_request *req, struct http_response *resp, const unsigned char *der, size_t len,
		      bool is_get)
{
	struct certs_ocsp_responder *r = req->ctx->certs ? certs_crl_publisher_ocsp(req->ctx->certs) : NULL;
	if (r == NULL) {
		http_resp_error(resp, 503, "this node's OCSP responder is not running");
		return;
	}
	unsigned char *out = NULL;
	size_t out_len = 0;
	struct certs_ocsp_result res;
	efos_err e = { 0 };
	if (certs_ocsp_respond(r, req->ctx->db, der, len, &out, &out_len, &res, &e) != 0) {
		http_resp_from_err(resp, &e);
		return;
	}
	int window = req->ctx->cfg->ca_ocsp_reuse_window_s;
	time_t now = time(NULL);
	if (is_get && res.cacheable && res.response_status == OCSP_RESPONSE_STATUS_SUCCESSFUL && window > 0) {
		/* RFC 5019 §6.2, bounded by the reuse window so HTTP caches see revocations as soon
		 * as our own cache does. */
		long age = (long)(res.produced_at + window - now);
		if (age > (long)(res.next_update - now))
			age = (long)(res.next_update - now);
		if (age < 0)
			age = 0;
		char cc[80], lm[64], ex[64];
		snprintf(cc, sizeof cc, "max-age=%ld, public, no-transform, must-revalidate", age);
		http_date(res.produced_at, lm, sizeof lm);
		http_date(now + age, ex, sizeof ex);
		http_resp_header(resp, "Cache-Control", cc);
		http_resp_header(resp, "Last-Modified", lm);
		http_resp_header(resp, "Expires", ex);
	} else {
		http_resp_header(resp, "Cache-Control", "no-cache, no-store");
	}
	http_resp_status(resp, 200);
	http_resp_body_take(resp, "application/ocsp-response", (char *)out, out_len);
}

static void ocsp_post(struct http_request *req, struct http_response *resp)
{
	/* Over-long bodies and wrong content types get malformedRequest from the responder. */
	ocsp_send(req, resp, req->body, req->body_len, false);
}

static void ocsp_get(struct http_request *req, struct http_response *resp)
{
	unsigned char *der = NULL;
	size_t len = 0;
	efos_err e = { 0 };
	if (certs_ocsp_decode_get(req->path + strlen("/ocsp/"), &der, &len, &e) != 0)
		len = 0;   /* answered malformedRequest */
	ocsp_send(req, resp, der, len, true);
	free(der);
}

const struct http_route certs_crl_ocsp_routes[] = {
	{ "GET", "/crl/", HTTP_ROUTE_PREFIX, crl_get, "crl" },
	{ "POST", "/ocsp", 0, ocsp_post, "ocsp" },
	{ "POST", "/ocsp/", HTTP_ROUTE_PREFIX, ocsp_post, "ocsp" },
	{ "GET", "/ocsp/", HTTP_ROUTE_PREFIX, ocsp_get, "ocsp_get" },
};
const size_t certs_crl_ocsp_n_routes = sizeof certs_crl_ocsp_routes / sizeof certs_crl_ocsp_routes[0];
