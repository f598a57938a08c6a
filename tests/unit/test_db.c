/* core/db.c and core/db_migrate.c against the test PostgreSQL (scripts/testenv.sh up):
 * the pool, parameterised queries, the prepared-statement cache, an outage and recovery,
 * migrations and schema checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "core/db.h"

static const char *pg, *pg_owner, *pg_super, *top, *testdir;
static char tdir[256];

static void must_env(void)
{
	pg = getenv("EFOS_TEST_PG");
	pg_owner = getenv("EFOS_TEST_PG_OWNER");
	pg_super = getenv("EFOS_TEST_PG_SUPER");
	testdir = getenv("EFOS_TEST_DIR");
	top = getenv("EFOS_TOP");
	if (top == NULL)
		top = ".";
}

static int setup(void **state)
{
	must_env();
	if (pg == NULL || pg_owner == NULL || pg_super == NULL || testdir == NULL) {
		fprintf(stderr, "EFOS_TEST_PG* not set: source var/test/env (scripts/testenv.sh up)\n");
		return -1;
	}
	snprintf(tdir, sizeof tdir, "/tmp/efos-test-db.XXXXXX");
	return mkdtemp(tdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[1024];
	/* If the outage test failed half way, leave the server running for the tests after us. */
	PGconn *c = NULL;
	efos_err e;
	if (db_connect(pg, NULL, 5, &c, &e) < 0) {
		snprintf(cmd, sizeof cmd, "\"%s/scripts/testenv.sh\" restart-pg \"%s\" >/dev/null 2>&1", top, testdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not restart the test PostgreSQL\n");
	}
	PQfinish(c);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
	return system(cmd) == 0 ? 0 : -1;
}

static PGconn *connect_or_fail(const char *ci)
{
	PGconn *c = NULL;
	efos_err e = { 0 };
	if (db_connect(ci, NULL, 5, &c, &e) < 0)
		fail_msg("db_connect(%s): %s", ci, e.msg);
	return c;
}

static void sql_ok(PGconn *c, const char *sql)
{
	efos_err e = { 0 };
	PGresult *r = db_exec(c, sql, 0, NULL, &e);
	if (r == NULL)
		fail_msg("%s: %s", sql, e.msg);
	PQclear(r);
}

/* ---- pool ---- */

static void test_pool_basics(void **state)
{
	struct db_pool *p;
	efos_err e = { 0 };
	if (db_pool_create(pg, NULL, 3, 2, &p, &e) < 0)
		fail_msg("db_pool_create: %s", e.msg);
	PGconn *c;
	assert_int_equal(db_acquire(p, &c, &e), 0);
	/* Parameters are data, never SQL. */
	const char *hostile = "x'); DROP TABLE schema_migrations; --";
	const char *params[] = { hostile, "42" };
	PGresult *r = db_exec(c, "SELECT $1::text, $2::int + 1", 2, params, &e);
	assert_non_null(r);
	assert_string_equal(PQgetvalue(r, 0, 0), hostile);
	assert_string_equal(PQgetvalue(r, 0, 1), "43");
	PQclear(r);
	/* A statement error is INTERNAL, names the SQLSTATE, and leaves the connection usable. */
	r = db_exec(c, "SELECT * FROM no_such_table", 0, NULL, &e);
	assert_null(r);
	assert_int_equal(e.code, EFOS_E_INTERNAL);
	assert_non_null(strstr(e.msg, "42P01"));
	assert_false(db_conn_broken(c));
	/* Transactions; releasing inside one rolls it back. */
	assert_int_equal(db_begin(c, &e), 0);
	sql_ok(c, "CREATE TEMP TABLE t_pool (x int)");
	db_release(p, c, false);
	assert_int_equal(db_acquire(p, &c, &e), 0);
	assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
	db_release(p, c, false);

	struct db_pool_stats st;
	db_pool_get_stats(p, &st);
	assert_int_equal(st.size, 3);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.acquires, 2);
	assert_int_equal(st.failures, 0);
	assert_int_equal(db_ping(p, &e), 0);
	db_pool_destroy(p);
}

static long prepared_count(PGconn *c, const char *like)
{
	efos_err e = { 0 };
	const char *params[] = { like };
	/* a query of the catalogue is itself cacheable: count only the statements asked about */
	PGresult *r = db_exec(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1 "
			      "AND statement NOT LIKE '%pg_prepared_statements%'", 1, params, &e);
	if (r == NULL)
		fail_msg("pg_prepared_statements: %s", e.msg);
	long n = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

static void test_statement_cache(void **state)
{
	struct db_pool *p;
	efos_err e = { 0 };
	assert_int_equal(db_pool_create(pg, NULL, 1, 2, &p, &e), 0);
	db_pool_cache_statements(p, 4);
	PGconn *c;
	assert_int_equal(db_acquire(p, &c, &e), 0);
	sql_ok(c, "CREATE TEMP TABLE t_sc (a int)");
	sql_ok(c, "INSERT INTO t_sc VALUES (1), (2)");
	/* Prepared once, executed twice, parameters still data. */
	const char *sel = "SELECT * FROM t_sc WHERE a = $1::int";
	const char *one[] = { "1" }, *hostile[] = { "1; DROP TABLE t_sc" };
	for (int i = 0; i < 2; i++) {
		PGresult *r = db_exec(c, sel, 1, one, &e);
		assert_non_null(r);
		assert_int_equal(PQntuples(r), 1);
		PQclear(r);
	}
	assert_int_equal(prepared_count(c, "%FROM t_sc WHERE%"), 1);
	assert_null(db_exec(c, sel, 1, hostile, &e));
	assert_non_null(strstr(e.msg, "22P02"));   /* invalid input syntax for type integer */
	/* The table changes under the prepared statement: it is run again unprepared, not failed. */
	sql_ok(c, "ALTER TABLE t_sc ADD COLUMN b text DEFAULT 'x'");
	PGresult *r = db_exec(c, sel, 1, one, &e);
	if (r == NULL)
		fail_msg("after ALTER TABLE: %s", e.msg);
	assert_int_equal(PQnfields(r), 2);
	PQclear(r);
	/* A statement that cannot be prepared reports its own error and is not kept. */
	assert_null(db_exec(c, "SELECT * FROM no_such_table_sc", 0, NULL, &e));
	assert_non_null(strstr(e.msg, "42P01"));
	assert_false(db_conn_broken(c));
	/* Full cache: the rest run unprepared, and correctly. */
	for (int i = 0; i < 8; i++) {
		char q[96], v[16];
		snprintf(q, sizeof q, "SELECT count(*) + %d FROM t_sc WHERE a <= $1::int", i);
		snprintf(v, sizeof v, "%d", 2);
		const char *pv[] = { v };
		r = db_exec(c, q, 1, pv, &e);
		assert_non_null(r);
		char want[16];
		snprintf(want, sizeof want, "%d", 2 + i);
		assert_string_equal(PQgetvalue(r, 0, 0), want);
		PQclear(r);
	}
	assert_true(prepared_count(c, "%FROM t_sc%") <= 4);
	/* BEGIN/COMMIT are never prepared. */
	assert_int_equal(db_begin(c, &e), 0);
	assert_int_equal(db_commit(c, &e), 0);
	assert_int_equal(prepared_count(c, "BEGIN%") + prepared_count(c, "COMMIT%"), 0);
	db_release(p, c, false);
	db_pool_destroy(p);
}

static void test_pool_exhausted(void **state)
{
	struct db_pool *p;
	efos_err e = { 0 };
	assert_int_equal(db_pool_create(pg, NULL, 1, 1, &p, &e), 0);
	PGconn *c, *c2;
	assert_int_equal(db_acquire(p, &c, &e), 0);
	time_t t0 = time(NULL);
	assert_int_equal(db_acquire(p, &c2, &e), -1);
	assert_int_equal(e.code, EFOS_E_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "busy"));
	assert_true(time(NULL) - t0 <= 3);
	db_release(p, c, false);
	assert_int_equal(db_acquire(p, &c2, &e), 0);
	assert_ptr_equal(c, c2);
	db_release(p, c2, false);
	db_pool_destroy(p);
}

static void test_pool_unreachable(void **state)
{
	struct db_pool *p = NULL;
	efos_err e = { 0 };
	assert_int_equal(db_pool_create("host=127.0.0.1 port=1 dbname=efos user=efos", NULL, 2, 2, &p, &e), -1);
	assert_null(p);
	assert_int_equal(e.code, EFOS_E_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "database unavailable: "));
	assert_int_equal(db_pool_create("host=x nosuch=1", NULL, 2, 2, &p, &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFIG);
}

struct worker {
	struct db_pool *p;
	int ok, n;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->n; i++) {
		PGconn *c;
		efos_err e;
		if (db_acquire(w->p, &c, &e) < 0)
			continue;
		char v[16];
		snprintf(v, sizeof v, "%d", i);
		const char *params[] = { v };
		PGresult *r = db_exec(c, "SELECT $1::int * 2", 1, params, &e);
		if (r != NULL && atoi(PQgetvalue(r, 0, 0)) == i * 2)
			w->ok++;
		PQclear(r);
		db_release(w->p, c, r == NULL && db_conn_broken(c));
	}
	return NULL;
}

static void test_pool_concurrent(void **state)
{
	struct db_pool *p;
	efos_err e = { 0 };
	assert_int_equal(db_pool_create(pg, NULL, 3, 10, &p, &e), 0);
	pthread_t th[8];
	struct worker w[8];
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .p = p, .n = 100 };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].ok, 100);
	}
	struct db_pool_stats st;
	db_pool_get_stats(p, &st);
	assert_int_equal(st.acquires, 800);
	assert_int_equal(st.in_use, 0);
	assert_true(st.waits > 0);
	db_pool_destroy(p);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* PostgreSQL stops and comes back under a pool: while it is down, acquire/exec/ping fail with
 * UNAVAILABLE ("database unavailable: ..."); afterwards every connection works again, with no
 * action from the caller. */
static void test_outage_and_recovery(void **state)
{
	struct db_pool *p;
	efos_err e = { 0 };
	assert_int_equal(db_pool_create(pg, NULL, 2, 2, &p, &e), 0);
	db_pool_cache_statements(p, 16);   /* a reset connection must forget its statements */
	PGconn *held;
	assert_int_equal(db_acquire(p, &held, &e), 0);
	assert_int_equal(db_ping(p, &e), 0);

	/* Stop the server. */
	assert_int_equal(run("bash -c '. \"%s/scripts/lib-env.sh\" && pg_down \"%s\"' >/dev/null 2>&1",
			     top, testdir), 0);
	/* A connection held across the outage: its statement fails as UNAVAILABLE. */
	PGresult *r = db_exec(held, "SELECT 1", 0, NULL, &e);
	assert_null(r);
	assert_int_equal(e.code, EFOS_E_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "database unavailable: "));
	assert_true(db_conn_broken(held));
	db_release(p, held, true);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(db_ping(p, &e), -1);
		assert_int_equal(e.code, EFOS_E_UNAVAILABLE);
		assert_non_null(strstr(e.msg, "database unavailable: "));
		PGconn *c;
		assert_int_equal(db_acquire(p, &c, &e), -1);
		assert_int_equal(e.code, EFOS_E_UNAVAILABLE);
	}
	struct db_pool_stats st;
	db_pool_get_stats(p, &st);
	assert_int_equal(st.in_use, 0);
	assert_true(st.failures >= 6);

	/* Start it again (restart-pg starts a stopped server). */
	assert_int_equal(run("\"%s/scripts/testenv.sh\" restart-pg \"%s\" >/dev/null 2>&1", top, testdir), 0);
	/* Both connections work, at the same time, on the first try. */
	PGconn *a, *b;
	if (db_acquire(p, &a, &e) < 0)
		fail_msg("after restart: %s", e.msg);
	if (db_acquire(p, &b, &e) < 0)
		fail_msg("after restart: %s", e.msg);
	sql_ok(a, "SELECT 1");
	sql_ok(b, "SELECT 2");
	db_release(p, a, false);
	db_release(p, b, false);

	/* A restart while the pool sits idle: the stale connections are noticed on acquire and
	 * reset, so no request fails after the server is back. */
	assert_int_equal(run("\"%s/scripts/testenv.sh\" restart-pg \"%s\" >/dev/null 2>&1", top, testdir), 0);
	for (int i = 0; i < 4; i++)
		if (db_ping(p, &e) < 0)
			fail_msg("ping %d after an idle restart: %s", i, e.msg);
	db_pool_destroy(p);
}

/* ---- migrations ---- */

static const char *mdb = "efos_test_migrations";

static char *conninfo_db(const char *base, const char *db)
{
	static char buf[2][512];
	static int which;
	char *out = buf[which++ & 1];
	snprintf(out, 512, "%s dbname=%s", base, db);  /* libpq: the last dbname wins */
	return out;
}

static void write_migration(const char *dir, const char *file, const char *sql)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", dir, file);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(sql, fp);
	fclose(fp);
}

static void test_migrations(void **state)
{
	PGconn *su = connect_or_fail(pg_super);
	char sql[256];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", mdb);
	sql_ok(su, sql);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s OWNER efos_owner", mdb);
	sql_ok(su, sql);

	char dir[400];
	snprintf(dir, sizeof dir, "%s/m", tdir);
	mkdir(dir, 0755);
	write_migration(dir, "0001_first.sql", "CREATE TABLE schema_migrations (version int PRIMARY KEY, "
			"name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());\n"
			"CREATE TABLE a (x int);\n");
	write_migration(dir, "0002_second.sql", "CREATE TABLE b (x int); INSERT INTO b VALUES (1), (2);\n");
	write_migration(dir, "README", "not a migration\n");

	PGconn *c = connect_or_fail(conninfo_db(pg_owner, mdb));
	efos_err e = { 0 };
	/* No schema_migrations table: behind at 0. */
	assert_int_equal(db_schema_check(c, dir, &e), -1);
	assert_string_equal(e.msg, "database schema is behind: at 0, this efosd needs 2 "
			    "(run `efosctl db migrate`)");
	int applied = -1;
	if (db_migrate(c, dir, &applied, &e) < 0)
		fail_msg("db_migrate: %s", e.msg);
	assert_int_equal(applied, 2);
	assert_int_equal(db_schema_check(c, dir, &e), 0);
	/* Again: nothing to do. */
	assert_int_equal(db_migrate(c, dir, &applied, &e), 0);
	assert_int_equal(applied, 0);

	/* Newer files: behind, by how much. */
	write_migration(dir, "0003_third.sql", "CREATE TABLE c3 (x int);\n");
	write_migration(dir, "0004_broken.sql", "CREATE TABLE d (x int);\nSELECT no_such_function();\n");
	assert_int_equal(db_schema_check(c, dir, &e), -1);
	assert_string_equal(e.msg, "database schema is behind: at 2, this efosd needs 4 "
			    "(run `efosctl db migrate`)");
	/* 0003 applies; 0004 fails and is rolled back by itself (table d does not exist). */
	assert_int_equal(db_migrate(c, dir, &applied, &e), -1);
	assert_non_null(strstr(e.msg, "0004_broken.sql"));
	assert_non_null(strstr(e.msg, "no_such_function"));
	assert_int_equal(applied, 1);
	int v;
	assert_int_equal(db_schema_version(c, &v, &e), 0);
	assert_int_equal(v, 3);
	PGresult *r = db_exec(c, "SELECT to_regclass('d') IS NULL, to_regclass('c3') IS NOT NULL", 0, NULL, &e);
	assert_non_null(r);
	assert_string_equal(PQgetvalue(r, 0, 0), "t");
	assert_string_equal(PQgetvalue(r, 0, 1), "t");
	PQclear(r);
	r = db_exec(c, "SELECT string_agg(version || ':' || name, ',' ORDER BY version) FROM schema_migrations",
		    0, NULL, &e);
	assert_string_equal(PQgetvalue(r, 0, 0), "1:first,2:second,3:third");
	PQclear(r);

	/* Ahead: the database knows more than these files. */
	char old[400];
	snprintf(old, sizeof old, "%s/o", tdir);
	mkdir(old, 0755);
	write_migration(old, "0001_first.sql", "SELECT 1;\n");
	assert_int_equal(db_schema_check(c, old, &e), -1);
	assert_string_equal(e.msg, "database schema is ahead: at 3, this efosd knows up to 1 (upgrade efosd)");

	/* A gap or a duplicate in the files is refused. */
	char bad[400];
	snprintf(bad, sizeof bad, "%s/gap", tdir);
	mkdir(bad, 0755);
	write_migration(bad, "0001_a.sql", "SELECT 1;\n");
	write_migration(bad, "0003_c.sql", "SELECT 1;\n");
	assert_int_equal(db_migrate(c, bad, &applied, &e), -1);
	assert_non_null(strstr(e.msg, "migration 0002 is missing"));
	write_migration(bad, "0002_b.sql", "SELECT 1;\n");
	write_migration(bad, "2_b2.sql", "SELECT 1;\n");
	assert_int_equal(db_schema_check(c, bad, &e), -1);
	assert_non_null(strstr(e.msg, "two migrations with version 2"));
	PQfinish(c);

	snprintf(sql, sizeof sql, "DROP DATABASE %s", mdb);
	sql_ok(su, sql);
	PQfinish(su);
}

/* The real migrations, applied as the schema owner to the shared test database. */
static void test_real_migrations(void **state)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/db", top);
	PGconn *c = connect_or_fail(pg_owner);
	efos_err e = { 0 };
	int applied;
	if (db_migrate(c, dir, &applied, &e) < 0)
		fail_msg("db_migrate %s: %s", dir, e.msg);
	assert_int_equal(db_schema_check(c, dir, &e), 0);
	PQfinish(c);
	/* efosd's role can read the version. */
	c = connect_or_fail(pg);
	if (db_schema_check(c, dir, &e) < 0)
		fail_msg("as efos: %s", e.msg);
	PQfinish(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_basics),
		cmocka_unit_test(test_statement_cache),
		cmocka_unit_test(test_pool_exhausted),
		cmocka_unit_test(test_pool_unreachable),
		cmocka_unit_test(test_pool_concurrent),
		cmocka_unit_test(test_migrations),
		cmocka_unit_test(test_real_migrations),
		cmocka_unit_test(test_outage_and_recovery),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
