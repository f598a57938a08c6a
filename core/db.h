/* PostgreSQL: a fixed-size pool of libpq connections, and the migrations runner.
 * A connection that failed is reset on its next acquire, so service resumes by itself after
 * the database restarts; while it is down, db_acquire fails with EFOS_E_UNAVAILABLE (503). */
#ifndef EFOS_CORE_DB_H
#define EFOS_CORE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include "core/err.h"

struct db_pool;

struct db_pool_stats {
	int size;        /* connections in the pool */
	int in_use;      /* handed out right now */
	long acquires;   /* total successful acquires */
	long waits;      /* acquires that had to wait for a free connection */
	long failures;   /* acquires that failed (database unreachable) */
};

/* conninfo: libpq string; password: may be NULL (not kept after connecting: wiped by caller). */
int db_pool_create(const char *conninfo, const char *password, int size, int connect_timeout_s,
		   struct db_pool **out, efos_err *e);
void db_pool_destroy(struct db_pool *pool);
/* Waits up to the connect timeout for a free connection; checks it is alive. */
int db_acquire(struct db_pool *pool, PGconn **out, efos_err *e);
/* broken: the caller saw a connection-level failure; the connection is reset before reuse. */
void db_release(struct db_pool *pool, PGconn *conn, bool broken);
void db_pool_get_stats(struct db_pool *pool, struct db_pool_stats *st);
/* Gives every connection of the pool a cache of up to max_per_conn prepared statements
 * (core/db_stmt.h; 0: none). Call once, before the pool is used. */
void db_pool_cache_statements(struct db_pool *pool, int max_per_conn);
/* SELECT 1 through the pool: 0 when the database answers. */
int db_ping(struct db_pool *pool, efos_err *e);

/* Helpers: execute a parameterised statement; on failure fill e (UNAVAILABLE if the connection
 * is gone, else INTERNAL) and return NULL. The caller PQclear()s the result. */
PGresult *db_exec(PGconn *c, const char *sql, int nparams, const char *const *params, efos_err *e);
int db_begin(PGconn *c, efos_err *e);
int db_commit(PGconn *c, efos_err *e);
void db_rollback(PGconn *c);
/* True when the error means the connection (not the statement) failed. */
bool db_conn_broken(PGconn *c);

/* Migrations: files DIR/NNNN_name.sql applied in order, each in a transaction, recorded in
 * schema_migrations(version). */
int db_migrate(PGconn *c, const char *dir, int *applied, efos_err *e);
/* Compares the database's schema version with the newest file in dir: -1 with a message that
 * says "behind" or "ahead" and by which versions. */
int db_schema_check(PGconn *c, const char *dir, efos_err *e);

/* Added: one connection outside any pool (efosctl, tests). Same parameters as the pool:
 * connect_timeout, keepalives, application_name "efos"; password may be NULL. */
int db_connect(const char *conninfo, const char *password, int connect_timeout_s, PGconn **out,
	       efos_err *e);

/* Added: db_migrate, calling on_applied(c, version, name, arg) inside each migration's
 * transaction after its SQL ran (efosctl writes the "schema.migrate" audit event there, so the
 * event commits with the change). A non-zero return from on_applied rolls that migration back.
 * The file's SQL is run with PQexec (a migration is a script of several statements, read from
 * a file the operator installed, never built from input); every other query is parameterised.
 * Concurrent migrators are serialised with an advisory lock. Migration files must not contain
 * BEGIN/COMMIT. */
typedef int (*db_migrate_hook)(PGconn *c, int version, const char *name, void *arg, efos_err *e);
int db_migrate_ex(PGconn *c, const char *dir, db_migrate_hook on_applied, void *arg, int *applied,
		  efos_err *e);
/* Added: the database's schema version (0 when schema_migrations does not exist) and the
 * newest version among the files of dir. */
int db_schema_version(PGconn *c, int *version, efos_err *e);
int db_migrations_newest(const char *dir, int *version, efos_err *e);

#endif
