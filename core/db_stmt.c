/* Prepared-statement cache per connection: see db_stmt.h. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libpq-events.h>
#include "core/db_stmt.h"

struct stmt {
	uint64_t hash;
	char *sql;
	char name[24];
};

struct stmt_cache {
	struct stmt *v;
	int n, max;
	unsigned long serial;   /* names are never reused on one server session */
	bool purge;             /* server-side statements to DEALLOCATE before the next prepare */
};

static const char EVENT_NAME[] = "efos-stmt-cache";

static void cache_clear(struct stmt_cache *sc)
{
	for (int i = 0; i < sc->n; i++)
		free(sc->v[i].sql);
	sc->n = 0;
}

static int event_proc(PGEventId id, void *info, void *arg)
{
	(void)arg;
	if (id == PGEVT_CONNRESET) {
		/* A new server session: none of the statements exist there. */
		struct stmt_cache *sc = PQinstanceData(((PGEventConnReset *)info)->conn, event_proc);
		if (sc != NULL) {
			cache_clear(sc);
			sc->purge = false;
		}
	} else if (id == PGEVT_CONNDESTROY) {
		struct stmt_cache *sc = PQinstanceData(((PGEventConnDestroy *)info)->conn, event_proc);
		if (sc != NULL) {
			cache_clear(sc);
			free(sc->v);
			free(sc);
		}
	}
	return 1;
}

bool db_stmt_attach(PGconn *c, int max)
{
	struct stmt_cache *sc = calloc(1, sizeof *sc);
	if (sc == NULL || max <= 0 || (sc->v = calloc((size_t)max, sizeof *sc->v)) == NULL) {
		free(sc);
		return false;
	}
	sc->max = max;
	if (!PQregisterEventProc(c, event_proc, EVENT_NAME, NULL) || !PQsetInstanceData(c, event_proc, sc)) {
		free(sc->v);
		free(sc);
		return false;
	}
	return true;
}

/* Only single statements that are planned: transaction control and the like gain nothing. */
static bool cacheable(const char *sql)
{
	while (isspace((unsigned char)*sql))
		sql++;
	static const char *const kw[] = { "SELECT", "INSERT", "UPDATE", "DELETE", "WITH" };
	for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
		size_t n = strlen(kw[i]);
		if (strncasecmp(sql, kw[i], n) == 0 && (isspace((unsigned char)sql[n]) || sql[n] == '('))
			return true;
	}
	return false;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static const char *sqlstate(const PGresult *r)
{
	const char *ss = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return ss ? ss : "";
}

/* After a statement's plan went stale or vanished: forget all of them (the server side is
 * deallocated as soon as no transaction is open, see purge_if_idle). */
static void forget_all(struct stmt_cache *sc)
{
	cache_clear(sc);
	sc->purge = true;
}

static void purge_if_idle(PGconn *c, struct stmt_cache *sc)
{
	if (!sc->purge || PQtransactionStatus(c) != PQTRANS_IDLE)
		return;
	PQclear(PQexec(c, "DEALLOCATE ALL"));
	sc->purge = false;
}

bool db_stmt_exec(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **out)
{
	struct stmt_cache *sc = PQinstanceData(c, event_proc);
	if (sc == NULL || !cacheable(sql))
		return false;
	purge_if_idle(c, sc);
	uint64_t h = fnv1a(sql);
	struct stmt *s = NULL;
	for (int i = 0; i < sc->n && s == NULL; i++)
		if (sc->v[i].hash == h && strcmp(sc->v[i].sql, sql) == 0)
			s = &sc->v[i];
	if (s == NULL) {
		if (sc->n >= sc->max || sc->purge)
			return false;
		s = &sc->v[sc->n];
		if ((s->sql = strdup(sql)) == NULL)
			return false;
		snprintf(s->name, sizeof s->name, "efos_%lu", ++sc->serial);
		s->hash = h;
		PGresult *p = PQprepare(c, s->name, sql, nparams, NULL);
		if (PQresultStatus(p) != PGRES_COMMAND_OK) {
			/* The statement's own error (or a broken connection): the caller reports it. */
			free(s->sql);
			*out = p;
			return true;
		}
		PQclear(p);
		sc->n++;
	}
	PGresult *r = PQexecPrepared(c, s->name, nparams, params, NULL, NULL, 0);
	const char *ss = sqlstate(r);
	/* 0A000: "cached plan must not change result type"; 26000: the statement is gone. */
	if (strcmp(ss, "0A000") == 0 || strcmp(ss, "26000") == 0) {
		forget_all(sc);
		if (PQtransactionStatus(c) == PQTRANS_IDLE) {
			/* Nothing was done: run it once more, unprepared. */
			PQclear(r);
			purge_if_idle(c, sc);
			r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
		}
	}
	*out = r;
	return true;
}
