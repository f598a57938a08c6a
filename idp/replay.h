/* The AuthnRequest replay cache (spec §1.5, §10: "replay cache on request ID"), in PostgreSQL
 * so that every efosd node behind the load balancer shares it (table idp_replay, db/0004_idp.sql).
 * A request's (Issuer, ID) is stored until the request could no longer pass the age check
 * (IssueInstant + idp.max_request_age + idp.clock_skew); a second request with the same pair
 * before then is a replay. */
#ifndef EFOS_IDP_REPLAY_H
#define EFOS_IDP_REPLAY_H

#include <libpq-fe.h>
#include <time.h>
#include "core/err.h"

struct db_pool;

/* Stores (issuer, id) until expires_at. 0: first use. -1 with EFOS_E_CONFLICT: seen before
 * (a replay); with EFOS_E_UNAVAILABLE: the database is down (the caller answers 503: a request
 * is never accepted without the check); EFOS_E_INVALID: issuer or id empty or too long. An
 * expired row for the same pair (not purged yet) is replaced, not counted as a replay. */
int idp_replay_check_and_store(PGconn *c, const char *issuer, const char *id, time_t expires_at,
			       efos_err *e);

/* Deletes expired rows; *deleted (may be NULL) gets the count. */
int idp_replay_purge(PGconn *c, long *deleted, efos_err *e);

/* An idp_replay_fn (idp/authn_request.h) over a pool: arg is the struct db_pool *. It acquires
 * a connection, runs idp_replay_check_and_store, and at most once a minute per process also
 * runs idp_replay_purge (so no separate timer is needed; a purge failure is only logged). */
int idp_replay_pool_fn(void *arg, const char *issuer, const char *id, time_t expires_at, efos_err *e);

#endif
