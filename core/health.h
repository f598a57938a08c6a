/* /healthz and /metrics. A background thread signs a test digest on the HSM every
 * hsm.probe_interval seconds and pings the database; /healthz answers from those results
 * (re-checking inline when they are stale), /metrics renders them with the HTTP counters. */
#ifndef EFOS_CORE_HEALTH_H
#define EFOS_CORE_HEALTH_H

#include <stddef.h>
#include "core/err.h"
#include "core/http.h"

struct efos_ctx;
struct health;

/* Starts the checker for ctx (ctx->hsm/probe_key/db may be NULL: that part then reports
 * "not configured" and /healthz is 503). One per process: the route handlers find it. */
int health_start(struct efos_ctx *ctx, struct health **out, efos_err *e);
void health_stop(struct health *h);

/* GET /healthz and GET /metrics. */
extern const struct http_route health_routes[];
extern const size_t health_n_routes;

#endif
