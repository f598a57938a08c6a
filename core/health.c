/* Health of the node: the HSM (a test signature through hsm_probe) and the database
 * (db_ping). A background thread refreshes both every hsm.probe_interval seconds; /healthz
 * re-checks inline when a result is older than it may be (database: 2 s, HSM: twice the
 * interval), one inline check at a time. Outages are reported, never fatal: when the token
 * or PostgreSQL comes back, the next check turns green without a restart. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/health.h"
#include "core/log.h"
#include "core/metrics.h"
#include "hsm/hsm.h"

#define HEALTH_DB_MAX_AGE_MS 2000
#define HEALTH_DEFAULT_INTERVAL_S 2

struct health_check {
	const char *name;
	pthread_mutex_t run_lock;   /* one check of this kind at a time */
	pthread_mutex_t lock;       /* guards msg */
	atomic_bool ok;
	atomic_bool ever;           /* checked at least once */
	atomic_llong when_ms;       /* monotonic time of the last check */
	char msg[256];
};

struct health {
	struct efos_ctx *ctx;
	int interval_s;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct health_check db, hsm;
};

static _Atomic(struct health *) the_health;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void record(struct health_check *c, bool ok, const char *msg)
{
	bool was = atomic_load(&c->ok), ever = atomic_load(&c->ever);
	pthread_mutex_lock(&c->lock);
	snprintf(c->msg, sizeof c->msg, "%s", ok ? "ok" : msg);
	pthread_mutex_unlock(&c->lock);
	atomic_store(&c->ok, ok);
	atomic_store(&c->when_ms, now_ms());
	atomic_store(&c->ever, true);
	if (ever && was != ok) {
		if (ok)
			log_info("%s is back", c->name);
		else
			log_error("%s check failed: %s", c->name, msg);
	} else if (!ever && !ok) {
		log_error("%s check failed: %s", c->name, msg);
	}
}

static void check_hsm(struct health *h)
{
	efos_err e = { 0 };
	if (h->ctx->hsm == NULL || h->ctx->probe_key == NULL) {
		record(&h->hsm, false, "no HSM configured");
		return;
	}
	if (hsm_probe(h->ctx->hsm, h->ctx->probe_key, &e) == 0)
		record(&h->hsm, true, NULL);
	else
		record(&h->hsm, false, e.msg[0] ? e.msg : "test signature failed");
}

static void check_db(struct health *h)
{
	efos_err e = { 0 };
	if (h->ctx->db == NULL) {
		record(&h->db, false, "no database configured");
		return;
	}
	if (db_ping(h->ctx->db, &e) == 0)
		record(&h->db, true, NULL);
	else
		record(&h->db, false, e.msg[0] ? e.msg : "database does not answer");
}

/* Re-checks when the last result is older than max_age_ms; concurrent callers wait for the
 * one check in progress instead of starting their own. */
static void refresh(struct health *h, struct health_check *c, long long max_age_ms,
		    void (*check)(struct health *))
{
	if (atomic_load(&c->ever) && now_ms() - atomic_load(&c->when_ms) <= max_age_ms)
		return;
	pthread_mutex_lock(&c->run_lock);
	if (!atomic_load(&c->ever) || now_ms() - atomic_load(&c->when_ms) > max_age_ms)
		check(h);
	pthread_mutex_unlock(&c->run_lock);
}

static void *health_thread(void *arg)
{
	struct health *h = arg;
	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		pthread_mutex_unlock(&h->lock);
		pthread_mutex_lock(&h->hsm.run_lock);
		check_hsm(h);
		pthread_mutex_unlock(&h->hsm.run_lock);
		pthread_mutex_lock(&h->db.run_lock);
		check_db(h);
		pthread_mutex_unlock(&h->db.run_lock);
		pthread_mutex_lock(&h->lock);
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += h->interval_s;
		while (!h->stop && pthread_cond_timedwait(&h->cond, &h->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static void check_init(struct health_check *c, const char *name)
{
	c->name = name;
	pthread_mutex_init(&c->run_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->ok, false);
	atomic_init(&c->ever, false);
	atomic_init(&c->when_ms, 0);
	snprintf(c->msg, sizeof c->msg, "not checked yet");
}

int health_start(struct efos_ctx *ctx, struct health **out, efos_err *e)
{
	struct health *h = calloc(1, sizeof *h);
	if (h == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	h->ctx = ctx;
	h->interval_s = ctx->cfg && ctx->cfg->hsm_probe_interval_s > 0 ? ctx->cfg->hsm_probe_interval_s
								    : HEALTH_DEFAULT_INTERVAL_S;
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	check_init(&h->db, "database");
	check_init(&h->hsm, "HSM");
	struct health *expected = NULL;
	if (!atomic_compare_exchange_strong(&the_health, &expected, h)) {
		health_stop(h);
		return efos_fail(e, EFOS_E_INTERNAL, "a health checker is already running");
	}
	if (pthread_create(&h->thread, NULL, health_thread, h) != 0) {
		health_stop(h);
		return efos_fail(e, EFOS_E_INTERNAL, "cannot start the health check thread");
	}
	h->thread_started = true;
	*out = h;
	return 0;
}

void health_stop(struct health *h)
{
	if (h == NULL)
		return;
	struct health *expected = h;
	atomic_compare_exchange_strong(&the_health, &expected, NULL);
	if (h->thread_started) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	pthread_mutex_destroy(&h->db.run_lock);
	pthread_mutex_destroy(&h->db.lock);
	pthread_mutex_destroy(&h->hsm.run_lock);
	pthread_mutex_destroy(&h->hsm.lock);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* ---------------------------------------------------------------- handlers */

static void part_json(struct health_check *c, const char *key, char *out, size_t cap)
{
	char msg[256], esc[512];
	pthread_mutex_lock(&c->lock);
	snprintf(msg, sizeof msg, "%s", c->msg);
	pthread_mutex_unlock(&c->lock);
	if (atomic_load(&c->ok)) {
		snprintf(out, cap, "\"%s\":\"ok\"", key);
	} else {
		json_escape(esc, sizeof esc, msg);
		snprintf(out, cap, "\"%s\":\"fail\",\"%s_error\":\"%s\"", key, key, esc);
	}
}

static void handle_healthz(struct http_request *req, struct http_response *resp)
{
	struct health *h = atomic_load(&the_health);
	if (h == NULL || h->ctx != req->ctx) {
		http_resp_error(resp, 503, "health checks are not running");
		return;
	}
	refresh(h, &h->db, HEALTH_DB_MAX_AGE_MS, check_db);
	refresh(h, &h->hsm, 2LL * h->interval_s * 1000, check_hsm);
	bool ok = atomic_load(&h->db.ok) && atomic_load(&h->hsm.ok);
	char db[600], hsm[600], body[1300];
	part_json(&h->db, "db", db, sizeof db);
	part_json(&h->hsm, "hsm", hsm, sizeof hsm);
	int n = snprintf(body, sizeof body, "{\"status\":\"%s\",%s,%s}\n", ok ? "ok" : "fail", db, hsm);
	http_resp_status(resp, ok ? 200 : 503);
	if (!ok)
		http_resp_header(resp, "Retry-After", "2");
	http_resp_body(resp, "application/json", body, n > 0 ? (size_t)n : 0);
}

static void handle_metrics(struct http_request *req, struct http_response *resp)
{
	struct health *h = atomic_load(&the_health);
	struct efos_ctx *ctx = req->ctx;
	struct metrics_buf b = { 0 };
	http_req_render_metrics(req, &b);
	bool have = h != NULL && h->ctx == ctx;
	if (ctx != NULL && ctx->hsm != NULL) {
		struct hsm_stats st;
		hsm_get_stats(ctx->hsm, &st);
		metrics_hsm_render(&st, have && atomic_load(&h->hsm.ok), &b);
	} else {
		metrics_hsm_render(NULL, false, &b);
	}
	if (ctx != NULL && ctx->db != NULL) {
		struct db_pool_stats st;
		db_pool_get_stats(ctx->db, &st);
		metrics_db_render(&st, have && atomic_load(&h->db.ok), &b);
	} else {
		metrics_db_render(NULL, false, &b);
	}
	metrics_render_registered(&b);
	if (b.oom) {
		metrics_buf_free(&b);
		http_resp_error(resp, 500, "out of memory");
		return;
	}
	http_resp_body_take(resp, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
}

const struct http_route health_routes[] = {
	{ .method = "GET", .path = "/healthz", .flags = 0, .fn = handle_healthz, .name = "healthz" },
	{ .method = "GET", .path = "/metrics", .flags = 0, .fn = handle_metrics, .name = "metrics" },
};
const size_t health_n_routes = sizeof health_routes / sizeof health_routes[0];
