/* The AuthnRequest replay cache in PostgreSQL (idp/replay.h). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/db.h"
#include "core/log.h"
#include "idp/replay.h"

#define REPLAY_MAX_ISSUER 1024
#define REPLAY_MAX_ID 256
#define REPLAY_PURGE_INTERVAL_S 60

int idp_replay_check_and_store(PGconn *c, const char *issuer, const char *id, time_t expires_at,
			       efos_err *e)
{
	if (issuer == NULL || id == NULL || issuer[0] == '\0' || id[0] == '\0' ||
	    strlen(issuer) > REPLAY_MAX_ISSUER || strlen(id) > REPLAY_MAX_ID)
		return efos_fail(e, EFOS_E_INVALID, "replay cache: issuer or message ID empty or too long");
	char exp[32];
	snprintf(exp, sizeof exp, "%" PRId64, (int64_t)expires_at);
	const char *params[3] = { issuer, id, exp };
	/* Zero rows affected: the pair exists and has not expired, i.e. a replay. An expired row
	 * (a purge not run yet) is overwritten: the old message could not pass the age check any
	 * more, so a new one with the same ID is a different message. */
	PGresult *r = db_exec(c,
			      "INSERT INTO idp_replay (issuer, message_id, expires_at) "
			      "VALUES ($1, $2, to_timestamp($3::bigint)) "
			      "ON CONFLICT (issuer, message_id) DO UPDATE "
			      "SET expires_at = EXCLUDED.expires_at, received_at = now() "
			      "WHERE idp_replay.expires_at < now()",
			      3, params, e);
	if (r == NULL)
		return efos_wrap(e, "replay cache");
	const char *n = PQcmdTuples(r);
	bool inserted = n != NULL && strcmp(n, "1") == 0;
	PQclear(r);
	if (!inserted)
		return efos_fail(e, EFOS_E_CONFLICT, "the request ID %s from %s was already used (replay)", id, issuer);
	return 0;
}

int idp_replay_purge(PGconn *c, long *deleted, efos_err *e)
{
	PGresult *r = db_exec(c, "DELETE FROM idp_replay WHERE expires_at < now()", 0, NULL, e);
	if (r == NULL)
		return efos_wrap(e, "replay cache purge");
	if (deleted != NULL)
		*deleted = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

static _Atomic int64_t last_purge;

int idp_replay_pool_fn(void *arg, const char *issuer, const char *id, time_t expires_at, efos_err *e)
{
	struct db_pool *pool = arg;
	if (pool == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "replay cache: no database");
	PGconn *c;
	if (db_acquire(pool, &c, e) < 0)
		return efos_wrap(e, "replay cache");
	int rc = idp_replay_check_and_store(c, issuer, id, expires_at, e);
	bool broken = rc < 0 && e != NULL && e->code == EFOS_E_UNAVAILABLE;
	if (!broken) {
		int64_t now = (int64_t)time(NULL);
		int64_t prev = atomic_load(&last_purge);
		if (now - prev >= REPLAY_PURGE_INTERVAL_S &&
		    atomic_compare_exchange_strong(&last_purge, &prev, now)) {
			efos_err pe = { 0 };
			long n = 0;
			if (idp_replay_purge(c, &n, &pe) < 0)
				log_warn("%s", pe.msg);
			else if (n > 0)
				log_debug("replay cache: %ld expired entries purged", n);
			broken = db_conn_broken(c);
		}
	}
	db_release(pool, c, broken || db_conn_broken(c));
	return rc;
}
