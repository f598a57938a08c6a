/* Prometheus text exposition of EFOS metrics. The HTTP counters are arrays of relaxed
 * atomics: a request adds to its (route, status) cell and to its histogram bucket without
 * taking a lock. Labels are registered while routes are added, before the server starts, so
 * the arrays never move while requests count into them. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/db.h"
#include "core/metrics.h"
#include "hsm/hsm.h"

#define METRICS_MAX_LABELS 256
#define STATUS_MIN 100
#define STATUS_MAX 599
#define N_STATUS (STATUS_MAX - STATUS_MIN + 1)

static const double bucket_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
#define N_BUCKETS (sizeof bucket_bounds / sizeof bucket_bounds[0])

struct metrics_route {
	char *label;
	atomic_long by_status[N_STATUS];
	atomic_long buckets[N_BUCKETS + 1];  /* non-cumulative; last is +Inf */
	atomic_long count;
	atomic_llong sum_us;
};

struct metrics_http {
	struct metrics_route *routes[METRICS_MAX_LABELS];
	int n;
};

void metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap * 2 : 4096;
		while (ncap - b->len <= (size_t)n)
			ncap *= 2;
		char *p = realloc(b->data, ncap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->data = p;
		b->cap = ncap;
	}
}

void metrics_buf_free(struct metrics_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

struct metrics_http *metrics_http_new(void)
{
	return calloc(1, sizeof(struct metrics_http));
}

void metrics_http_free(struct metrics_http *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->n; i++) {
		free(m->routes[i]->label);
		free(m->routes[i]);
	}
	free(m);
}

int metrics_http_label(struct metrics_http *m, const char *label)
{
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->routes[i]->label, label) == 0)
			return i;
	if (m->n >= METRICS_MAX_LABELS)
		return -1;
	struct metrics_route *r = calloc(1, sizeof *r);
	if (r == NULL)
		return -1;
	r->label = strdup(label);
	if (r->label == NULL) {
		free(r);
		return -1;
	}
	m->routes[m->n] = r;
	return m->n++;
}

void metrics_http_observe(struct metrics_http *m, int label, int status, double seconds)
{
	if (m == NULL || label < 0 || label >= m->n)
		return;
	struct metrics_route *r = m->routes[label];
	if (status < STATUS_MIN || status > STATUS_MAX)
		status = 500;
	atomic_fetch_add_explicit(&r->by_status[status - STATUS_MIN], 1, memory_order_relaxed);
	size_t b = 0;
	while (b < N_BUCKETS && seconds > bucket_bounds[b])
		b++;
	atomic_fetch_add_explicit(&r->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
	long long us = seconds > 0 ? (long long)(seconds * 1e6) : 0;
	atomic_fetch_add_explicit(&r->sum_us, us, memory_order_relaxed);
}

/* Label values are route names we chose, but escape them as the format requires anyway. */
static void label_escape(char *dst, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s != '\0' && n + 2 < cap; s++) {
		if (*s == '"' || *s == '\\')
			dst[n++] = '\\';
		else if (*s == '\n') {
			dst[n++] = '\\';
			dst[n++] = 'n';
			continue;
		}
		dst[n++] = *s;
	}
	dst[n] = '\0';
}

void metrics_http_render(const struct metrics_http *m, struct metrics_buf *b)
{
	char lab[256];
	metrics_buf_printf(b, "# HELP efos_http_requests_total HTTP requests answered, by route and status.\n"
			      "# TYPE efos_http_requests_total counter\n");
	for (int i = 0; m != NULL && i < m->n; i++) {
		const struct metrics_route *r = m->routes[i];
		label_escape(lab, sizeof lab, r->label);
		for (int s = 0; s < N_STATUS; s++) {
			long v = atomic_load_explicit(&r->by_status[s], memory_order_relaxed);
			if (v != 0)
				metrics_buf_printf(b, "efos_http_requests_total{route=\"%s\",status=\"%d\"} %ld\n",
						   lab, s + STATUS_MIN, v);
		}
	}
	metrics_buf_printf(b, "# HELP efos_http_request_duration_seconds Time from request headers to response queued.\n"
			      "# TYPE efos_http_request_duration_seconds histogram\n");
	for (int i = 0; m != NULL && i < m->n; i++) {
		const struct metrics_route *r = m->routes[i];
		long count = atomic_load_explicit(&r->count, memory_order_relaxed);
		if (count == 0)
			continue;
		label_escape(lab, sizeof lab, r->label);
		long cum = 0;
		for (size_t k = 0; k < N_BUCKETS; k++) {
			cum += atomic_load_explicit(&r->buckets[k], memory_order_relaxed);
			metrics_buf_printf(b, "efos_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %ld\n",
					   lab, bucket_bounds[k], cum);
		}
		cum += atomic_load_explicit(&r->buckets[N_BUCKETS], memory_order_relaxed);
		metrics_buf_printf(b, "efos_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %ld\n",
				   lab, cum);
		long long sum = atomic_load_explicit(&r->sum_us, memory_order_relaxed);
		metrics_buf_printf(b, "efos_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
				   lab, (double)sum / 1e6);
		/* The count written is the bucket total so that +Inf == count in one scrape. */
		metrics_buf_printf(b, "efos_http_request_duration_seconds_count{route=\"%s\"} %ld\n", lab, cum);
	}
}

void metrics_hsm_render(const struct hsm_stats *st, bool up, struct metrics_buf *b)
{
	struct hsm_stats zero = { 0 };
	if (st == NULL)
		st = &zero;
	metrics_buf_printf(b,
		"# HELP efos_hsm_operations_total PKCS#11 operations attempted (sign, decrypt, keygen).\n"
		"# TYPE efos_hsm_operations_total counter\n"
		"efos_hsm_operations_total %ld\n"
		"# HELP efos_hsm_errors_total PKCS#11 operations that failed.\n"
		"# TYPE efos_hsm_errors_total counter\n"
		"efos_hsm_errors_total %ld\n"
		"# HELP efos_hsm_recoveries_total Times the PKCS#11 module was re-initialised after a failure.\n"
		"# TYPE efos_hsm_recoveries_total counter\n"
		"efos_hsm_recoveries_total %ld\n"
		"# HELP efos_hsm_sessions PKCS#11 sessions in the pool.\n"
		"# TYPE efos_hsm_sessions gauge\n"
		"efos_hsm_sessions %d\n"
		"# HELP efos_hsm_sessions_busy PKCS#11 sessions in use.\n"
		"# TYPE efos_hsm_sessions_busy gauge\n"
		"efos_hsm_sessions_busy %d\n"
		"# HELP efos_hsm_up 1 when the last HSM test signature succeeded.\n"
		"# TYPE efos_hsm_up gauge\n"
		"efos_hsm_up %d\n",
		st->ops, st->errors, st->recoveries, st->sessions, st->sessions_busy, up ? 1 : 0);
}

#define MAX_RENDERERS 8
static metrics_render_fn renderers[MAX_RENDERERS];
static size_t n_renderers;

int metrics_register(metrics_render_fn fn)
{
	for (size_t i = 0; i < n_renderers; i++)
		if (renderers[i] == fn)
			return 0;
	if (n_renderers == MAX_RENDERERS)
		return -1;
	renderers[n_renderers++] = fn;
	return 0;
}

void metrics_render_registered(struct metrics_buf *b)
{
	for (size_t i = 0; i < n_renderers; i++)
		renderers[i](b);
}

void metrics_db_render(const struct db_pool_stats *st, bool up, struct metrics_buf *b)
{
	struct db_pool_stats zero = { 0 };
	if (st == NULL)
		st = &zero;
	metrics_buf_printf(b,
		"# HELP efos_db_pool_size PostgreSQL connections in the pool.\n"
		"# TYPE efos_db_pool_size gauge\n"
		"efos_db_pool_size %d\n"
		"# HELP efos_db_pool_in_use PostgreSQL connections handed out.\n"
		"# TYPE efos_db_pool_in_use gauge\n"
		"efos_db_pool_in_use %d\n"
		"# HELP efos_db_pool_waits_total Acquires that waited for a free connection.\n"
		"# TYPE efos_db_pool_waits_total counter\n"
		"efos_db_pool_waits_total %ld\n"
		"# HELP efos_db_pool_acquire_failures_total Acquires that failed (database unreachable).\n"
		"# TYPE efos_db_pool_acquire_failures_total counter\n"
		"efos_db_pool_acquire_failures_total %ld\n"
		"# HELP efos_db_up 1 when the database answered the last check.\n"
		"# TYPE efos_db_up gauge\n"
		"efos_db_up %d\n",
		st->size, st->in_use, st->waits, st->failures, up ? 1 : 0);
}
