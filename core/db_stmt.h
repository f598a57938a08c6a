/* Per-connection cache of prepared statements (used by core/db.c only).
 *
 * A statement sent with PQexecParams is parsed, analysed and planned by PostgreSQL every time;
 * on an SSO login that was about a third of the database's CPU (docs/performance.md). A
 * connection with a cache prepares each distinct SELECT/INSERT/UPDATE/DELETE/WITH text once
 * (PQprepare, a server-side named statement) and then only binds and executes it. The cache
 * lives with the PGconn (libpq's event API): a reset connection starts empty, PQfinish frees it.
 * Statements whose plan went stale (a migration changed a table's columns) or that the server
 * no longer knows (DISCARD ALL behind a proxy) are dropped and the statement is run unprepared. */
#ifndef EFOS_CORE_DB_STMT_H
#define EFOS_CORE_DB_STMT_H

#include <libpq-fe.h>
#include <stdbool.h>

/* Gives c a cache of at most max statements (max > 0); false when libpq refused (the
 * connection then simply runs statements unprepared). */
bool db_stmt_attach(PGconn *c, int max);
/* Runs sql through c's cache. Returns false (and does nothing) when c has no cache or the
 * statement is not cacheable (not a plain DML/SELECT, or the cache is full); otherwise true
 * with *out set to the result (which may be an error result, or NULL when out of memory). */
bool db_stmt_exec(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **out);

#endif
