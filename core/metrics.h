/* Prometheus metrics: HTTP request counters and latency histogram (per server, lock-free on
 * the hot path: relaxed atomic adds into arrays sized before the server starts), and the text
 * rendering of HSM and database pool state. */
#ifndef EFOS_CORE_METRICS_H
#define EFOS_CORE_METRICS_H

#include <stdbool.h>
#include <stddef.h>

struct metrics_http;
struct hsm_stats;
struct db_pool_stats;

/* A growing text buffer for the exposition format. On allocation failure `oom` is set and
 * further writes are dropped. */
struct metrics_buf {
	char *data;
	size_t len, cap;
	bool oom;
};
void metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void metrics_buf_free(struct metrics_buf *b);

struct metrics_http *metrics_http_new(void);
void metrics_http_free(struct metrics_http *m);
/* Registers a route label (the same label twice gives the same index); only before the
 * server starts. Returns the index, or -1 when the table is full. */
int metrics_http_label(struct metrics_http *m, const char *label);
/* Counts one answered request; safe from any thread, no locks. */
void metrics_http_observe(struct metrics_http *m, int label, int status, double seconds);
/* efos_http_requests_total{route,status} and efos_http_request_duration_seconds. */
void metrics_http_render(const struct metrics_http *m, struct metrics_buf *b);

/* Metrics of other modules (idp/: the SP metadata index), appended to /metrics after the
 * platform's own. Registered once at start-up, before the server serves (not thread-safe);
 * the same function twice counts once. -1 when the table (8) is full. */
typedef void (*metrics_render_fn)(struct metrics_buf *b);
int metrics_register(metrics_render_fn fn);
void metrics_render_registered(struct metrics_buf *b);

/* efos_hsm_operations_total, efos_hsm_errors_total, efos_hsm_recoveries_total, efos_hsm_up,
 * efos_hsm_sessions(_busy). st NULL: no HSM configured (up 0). */
void metrics_hsm_render(const struct hsm_stats *st, bool up, struct metrics_buf *b);
/* efos_db_pool_size, efos_db_pool_in_use, efos_db_pool_waits_total,
 * efos_db_pool_acquire_failures_total, efos_db_up. st NULL: no database configured. */
void metrics_db_render(const struct db_pool_stats *st, bool up, struct metrics_buf *b);

#endif
