/* core/audit.c: appending in the caller's transaction, the chain, and verification that names
 * the row a superuser altered, deleted or inserted. Tampering is done inside a superuser
 * transaction that is rolled back (verify runs on that connection, seeing the tampered rows),
 * except for the efosctl test, which commits and then restores the row exactly. */
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
#include <sys/wait.h>
#include <unistd.h>
#include "core/audit.h"
#include "core/db.h"

static const char *pg, *pg_owner, *pg_super, *top;
static char tdir[256];

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

static long sql_long(PGconn *c, const char *sql)
{
	efos_err e = { 0 };
	PGresult *r = db_exec(c, sql, 0, NULL, &e);
	if (r == NULL)
		fail_msg("%s: %s", sql, e.msg);
	long v = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static int setup(void **state)
{
	pg = getenv("EFOS_TEST_PG");
	pg_owner = getenv("EFOS_TEST_PG_OWNER");
	pg_super = getenv("EFOS_TEST_PG_SUPER");
	top = getenv("EFOS_TOP");
	if (top == NULL)
		top = ".";
	if (pg == NULL || pg_owner == NULL || pg_super == NULL) {
		fprintf(stderr, "EFOS_TEST_PG* not set: source var/test/env\n");
		return -1;
	}
	snprintf(tdir, sizeof tdir, "/tmp/efos-test-audit.XXXXXX");
	if (mkdtemp(tdir) == NULL)
		return -1;
	/* The real schema, as the owner (a no-op when another test applied it already). */
	char dir[512];
	snprintf(dir, sizeof dir, "%s/db", top);
	PGconn *c = NULL;
	efos_err e = { 0 };
	int applied;
	if (db_connect(pg_owner, NULL, 5, &c, &e) < 0 || db_migrate(c, dir, &applied, &e) < 0) {
		fprintf(stderr, "migrations: %s\n", e.msg);
		PQfinish(c);
		return -1;
	}
	PQfinish(c);
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void append_ok(PGconn *c, const char *action, const char *object, const char *details)
{
	struct audit_event ev = { .node = "test-node", .actor = "test:Åsa Öberg", .action = action,
				  .object = object, .outcome = "success", .details = details };
	efos_err e = { 0 };
	if (audit_append(c, &ev, &e) < 0)
		fail_msg("audit_append: %s", e.msg);
}

static void verify(PGconn *c, struct audit_verify_result *r)
{
	efos_err e = { 0 };
	if (audit_verify(c, r, &e) < 0)
		fail_msg("audit_verify: %s", e.msg);
}

static void expect_intact(PGconn *c)
{
	struct audit_verify_result r;
	verify(c, &r);
	if (r.first_bad_id != 0)
		fail_msg("chain broken: %s", r.problem);
}

static void expect_broken(PGconn *c, long id, const char *what)
{
	struct audit_verify_result r;
	verify(c, &r);
	if (r.first_bad_id != id || strstr(r.problem, what) == NULL)
		fail_msg("expected row %ld \"%s\", got row %ld: %s", id, what, r.first_bad_id, r.problem);
}

static void test_append_in_transaction(void **state)
{
	PGconn *c = connect_or_fail(pg);
	efos_err e = { 0 };
	long before = sql_long(c, "SELECT last_id FROM audit_chain_head");
	/* Committed with the change. */
	assert_int_equal(db_begin(c, &e), 0);
	append_ok(c, "test.one", "obj-1", "{\"b\": 1, \"a\": [1, 2.50, \"x\\u00e9\"], \"nested\": {\"z\": null}}");
	append_ok(c, "test.two", NULL, NULL);
	assert_int_equal(db_commit(c, &e), 0);
	/* Rolled back with the change: leaves no row and no gap. */
	assert_int_equal(db_begin(c, &e), 0);
	append_ok(c, "test.rolled-back", "obj-2", "{}");
	db_rollback(c);
	/* Outside a transaction: the statement is its own. */
	append_ok(c, "test.three", "obj-3", "{\"k\": \"v\"}");
	assert_int_equal(sql_long(c, "SELECT last_id FROM audit_chain_head"), before + 3);
	assert_int_equal(sql_long(c, "SELECT count(*) FROM audit_log WHERE action = 'test.rolled-back'"), 0);
	/* Bad input is refused. */
	struct audit_event bad = { .node = "n", .actor = "a", .action = "x", .outcome = "maybe" };
	assert_int_equal(audit_append(c, &bad, &e), -1);
	bad.outcome = "failure";
	bad.details = "[1, 2]";
	assert_int_equal(audit_append(c, &bad, &e), -1);
	bad.details = "{not json";
	assert_int_equal(audit_append(c, &bad, &e), -1);
	expect_intact(c);
	struct audit_verify_result r;
	verify(c, &r);
	assert_true(r.rows_checked >= 3);
	assert_int_equal(r.rows_checked, sql_long(c, "SELECT max(id) FROM audit_log"));
	long last;
	char hex[65];
	assert_int_equal(audit_head(c, &last, hex, &e), 0);
	assert_int_equal(last, before + 3);
	assert_int_equal(strlen(hex), 64);
	PQfinish(c);
}

/* efosd's role can only append, through audit_append(). */
static void test_role_cannot_rewrite(void **state)
{
	PGconn *c = connect_or_fail(pg);
	append_ok(c, "test.perm", "x", NULL);
	const char *stmts[] = {
		"UPDATE audit_log SET actor = 'someone else'",
		"DELETE FROM audit_log",
		"TRUNCATE audit_log",
		"INSERT INTO audit_log SELECT * FROM audit_log ORDER BY id DESC LIMIT 1",
		"UPDATE audit_chain_head SET last_id = 0",
	};
	for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
		PGresult *r = PQexec(c, stmts[i]);
		const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (ss == NULL || strcmp(ss, "42501") != 0)
			fail_msg("%s: expected permission denied, got %s", stmts[i], PQresultErrorMessage(r));
		assert_non_null(strstr(PQresultErrorMessage(r), "permission denied"));
		PQclear(r);
	}
	/* Nor can the owner by accident. */
	PGconn *o = connect_or_fail(pg_owner);
	PGresult *r = PQexec(o, "DELETE FROM audit_log WHERE id = 1");
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_non_null(strstr(PQresultErrorMessage(r), "append-only"));
	PQclear(r);
	PQfinish(o);
	expect_intact(c);
	PQfinish(c);
}

struct appender {
	int n, ok;
};

static void *appender_main(void *arg)
{
	struct appender *a = arg;
	PGconn *c = NULL;
	efos_err e;
	if (db_connect(pg, NULL, 5, &c, &e) < 0)
		return NULL;
	for (int i = 0; i < a->n; i++) {
		struct audit_event ev = { .node = "t", .actor = "thread", .action = "test.concurrent",
					  .outcome = "success", .details = "{\"i\": 1}" };
		if (db_begin(c, &e) == 0 && audit_append(c, &ev, &e) == 0 && db_commit(c, &e) == 0)
			a->ok++;
		else
			db_rollback(c);
	}
	PQfinish(c);
	return NULL;
}

static void test_concurrent_appends(void **state)
{
	PGconn *c = connect_or_fail(pg);
	long before = sql_long(c, "SELECT last_id FROM audit_chain_head");
	pthread_t th[6];
	struct appender a[6];
	for (int i = 0; i < 6; i++) {
		a[i] = (struct appender){ .n = 30 };
		pthread_create(&th[i], NULL, appender_main, &a[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].ok, 30);
	}
	assert_int_equal(sql_long(c, "SELECT last_id FROM audit_chain_head"), before + 180);
	/* Times follow ids. */
	assert_int_equal(sql_long(c, "SELECT count(*) FROM (SELECT at < lag(at) OVER (ORDER BY id) AS back "
				     "FROM audit_log) x WHERE back"), 0);
	expect_intact(c);
	PQfinish(c);
}

/* A superuser transaction in which triggers are off; rolled back by the caller. */
static PGconn *tamper_begin(void)
{
	PGconn *s = connect_or_fail(pg_super);
	sql_ok(s, "BEGIN");
	sql_ok(s, "SET LOCAL session_replication_role = replica");
	/* Enough rows to tamper in the middle. */
	sql_ok(s, "SELECT audit_append('n', 'a', 'test.tamper', 'o', 'success', '{}') FROM generate_series(1, 3)");
	return s;
}

static void tamper_end(PGconn *s)
{
	sql_ok(s, "ROLLBACK");
	PQfinish(s);
}

static void test_tamper_altered(void **state)
{
	PGconn *s = tamper_begin();
	long k = sql_long(s, "SELECT max(id) - 1 FROM audit_log");
	char sql[256];
	snprintf(sql, sizeof sql, "UPDATE audit_log SET details = '{\"amount\": 1000000}' WHERE id = %ld", k);
	sql_ok(s, sql);
	expect_broken(s, k, "altered");
	tamper_end(s);
	/* Any field: the time, by a microsecond. */
	s = tamper_begin();
	k = sql_long(s, "SELECT max(id) - 1 FROM audit_log");
	snprintf(sql, sizeof sql, "UPDATE audit_log SET at = at + interval '1 microsecond' WHERE id = %ld", k);
	sql_ok(s, sql);
	expect_broken(s, k, "altered");
	tamper_end(s);
}

static void test_tamper_deleted(void **state)
{
	PGconn *s = tamper_begin();
	long k = sql_long(s, "SELECT max(id) - 1 FROM audit_log");
	char sql[256], what[64];
	snprintf(sql, sizeof sql, "DELETE FROM audit_log WHERE id = %ld", k);
	sql_ok(s, sql);
	snprintf(what, sizeof what, "row %ld deleted (gap after %ld)", k, k - 1);
	expect_broken(s, k, what);
	tamper_end(s);
	/* The last row: no gap, but the chain head knows. */
	s = tamper_begin();
	long last = sql_long(s, "SELECT max(id) FROM audit_log");
	snprintf(sql, sizeof sql, "DELETE FROM audit_log WHERE id = %ld", last);
	sql_ok(s, sql);
	expect_broken(s, last, "deleted");
	tamper_end(s);
}

static void test_tamper_inserted(void **state)
{
	PGconn *s = tamper_begin();
	long last = sql_long(s, "SELECT max(id) FROM audit_log");
	/* A row after the end, linked to the last row, with a correctly computed hash: only the
	 * chain head shows it was not appended through audit_append. */
	sql_ok(s, "INSERT INTO audit_log SELECT id + 1, at, node, actor, 'cert.revoke', object, outcome, details, "
		  "hash, sha256(hash) FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)");
	char what[64];
	snprintf(what, sizeof what, "row %ld inserted", last + 1);
	expect_broken(s, last + 1, what);
	tamper_end(s);
	/* A row replaced in the middle: it does not link to its predecessor. */
	s = tamper_begin();
	long k = sql_long(s, "SELECT max(id) - 1 FROM audit_log");
	char sql[512];
	snprintf(sql, sizeof sql, "UPDATE audit_log SET prev_hash = sha256('forged') WHERE id = %ld", k);
	sql_ok(s, sql);
	snprintf(what, sizeof what, "row %ld inserted", k);
	expect_broken(s, k, what);
	tamper_end(s);
}

static const char *efosctl(void)
{
	static char p[512];
	const char *bin = getenv("EFOS_BIN");
	snprintf(p, sizeof p, "%s/efosctl", bin ? bin : "bin");
	return p;
}

static int run_efosctl(const char *conf, const char *args, char *out, size_t outlen)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "'%s' -c '%s' %s 2>&1", efosctl(), conf, args);
	FILE *fp = popen(cmd, "r");
	assert_non_null(fp);
	size_t n = fread(out, 1, outlen - 1, fp);
	out[n] = '\0';
	int st = pclose(fp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `efosctl audit verify` names a row that a superuser altered (committed), exits 3; after
 * the row is restored it says intact and exits 0. */
static void test_efosctl_audit_verify(void **state)
{
	if (access(efosctl(), X_OK) != 0)
		skip();
	const char *module = getenv("EFOS_TEST_HSM_MODULE");
	char conf[400], p[400], out[2048];
	snprintf(p, sizeof p, "%s/dummy.pem", tdir);
	FILE *fp = fopen(p, "w");
	fputs("x\n", fp);
	fclose(fp);
	snprintf(conf, sizeof conf, "%s/efos.conf", tdir);
	fp = fopen(conf, "w");
	fprintf(fp, "http.listen = 127.0.0.1:8443\ntls.cert = dummy.pem\ntls.key = dummy.pem\n"
		"db.conninfo = \"%s\"\nhsm.module = %s\nhsm.token = pkcs11:token=efos-hsm\n"
		"hsm.pin_env = EFOS_TEST_HSM_PIN\nhsm.probe_key = pkcs11:object=efos-probe\n"
		"db.migrations_dir = %s/db\n", pg, module ? module : p, top);
	fclose(fp);

	PGconn *c = connect_or_fail(pg);
	append_ok(c, "test.cli", "a", "{\"n\": 1}");
	append_ok(c, "test.cli", "b", "{\"n\": 2}");
	long k = sql_long(c, "SELECT max(id) - 1 FROM audit_log");
	PQfinish(c);

	int rc = run_efosctl(conf, "audit verify", out, sizeof out);
	if (rc != 0 || strstr(out, "audit chain intact: ") == NULL)
		fail_msg("efosctl audit verify (intact): exit %d: %s", rc, out);

	PGconn *s = connect_or_fail(pg_super);
	char sql[256];
	sql_ok(s, "SET session_replication_role = replica");
	snprintf(sql, sizeof sql, "UPDATE audit_log SET actor = 'mallory' WHERE id = %ld", k);
	sql_ok(s, sql);
	rc = run_efosctl(conf, "audit verify", out, sizeof out);
	char want[128];
	snprintf(want, sizeof want, "audit chain broken at row %ld: altered", k);
	/* Restore before asserting, so later tests see an intact chain either way. */
	snprintf(sql, sizeof sql, "UPDATE audit_log SET actor = 'test:Åsa Öberg' WHERE id = %ld", k);
	sql_ok(s, sql);
	PQfinish(s);
	if (rc != 3 || strstr(out, want) == NULL)
		fail_msg("efosctl audit verify (altered): exit %d, expected 3 and \"%s\": %s", rc, want, out);
	rc = run_efosctl(conf, "audit verify", out, sizeof out);
	if (rc != 0 || strstr(out, "audit chain intact: ") == NULL)
		fail_msg("efosctl audit verify (restored): exit %d: %s", rc, out);

	/* The other commands that only read. */
	rc = run_efosctl(conf, "db status", out, sizeof out);
	if (rc != 0 || strstr(out, "up to date") == NULL)
		fail_msg("efosctl db status: exit %d: %s", rc, out);
	assert_int_equal(run_efosctl(conf, "audit verify --help", out, sizeof out), 0);
	assert_non_null(strstr(out, "usage: efosctl"));
	assert_int_equal(run_efosctl(conf, "audit frobnicate", out, sizeof out), 2);
	assert_int_equal(run_efosctl(conf, "nosuch", out, sizeof out), 2);
	assert_int_equal(run_efosctl("/nonexistent.conf", "audit verify", out, sizeof out), 1);
	assert_non_null(strstr(out, "/nonexistent.conf:0: "));
}

/* `efosctl init` on the test token and database, then `hsm keygen` with the configuration it
 * wrote: keys, files, audit events. */
static void test_efosctl_init_and_keygen(void **state)
{
	if (access(efosctl(), X_OK) != 0)
		skip();
	const char *module = getenv("EFOS_TEST_HSM_MODULE");
	const char *token = getenv("EFOS_TEST_HSM_TOKEN");
	if (module == NULL || token == NULL || getenv("EFOS_TEST_HSM_PIN") == NULL)
		skip();
	char cmd[2048], out[4096], dir[400], conf[500];
	snprintf(dir, sizeof dir, "%s/install", tdir);
	snprintf(conf, sizeof conf, "%s/efos.conf", dir);
	const char *label = strstr(token, "token=") ? strstr(token, "token=") + 6 : "efos-hsm";
	snprintf(cmd, sizeof cmd, "init --dir '%s' --module '%s' --token-label '%.*s' "
		 "--pin-env EFOS_TEST_HSM_PIN --db-conninfo '%s' --db-admin-conninfo '%s' "
		 "--migrations-dir '%s/db' --listen 127.0.0.1:18443",
		 dir, module, (int)strcspn(label, ";"), label, pg, pg_owner, top);
	int rc = run_efosctl("/nonexistent", cmd, out, sizeof out);
	if (rc != 0)
		fail_msg("efosctl init: exit %d: %s", rc, out);
	assert_non_null(strstr(out, "probe key pkcs11:"));
	assert_non_null(strstr(out, "wrote "));
	assert_int_equal(access(conf, R_OK), 0);
	/* Never over an existing configuration. */
	assert_int_equal(run_efosctl("/nonexistent", cmd, out, sizeof out), 1);
	assert_non_null(strstr(out, "exists already"));

	rc = run_efosctl(conf, "config check", out, sizeof out);
	if (rc != 0)
		fail_msg("config check of the written file: exit %d: %s", rc, out);

	char klabel[64], args[128];
	snprintf(klabel, sizeof klabel, "test-keygen-%d", (int)getpid());
	snprintf(args, sizeof args, "hsm keygen --label %s --type ec:p256", klabel);
	rc = run_efosctl(conf, args, out, sizeof out);
	if (rc != 0 || strncmp(out, "pkcs11:", 7) != 0 || strstr(out, klabel) == NULL)
		fail_msg("hsm keygen: exit %d: %s", rc, out);
	out[strcspn(out, "\n")] = '\0';
	PGconn *c = connect_or_fail(pg);
	const char *params[] = { out };
	efos_err e;
	PGresult *r = db_exec(c, "SELECT count(*) FROM audit_log WHERE action = 'hsm.keygen' AND object = $1",
			      1, params, &e);
	assert_non_null(r);
	assert_string_equal(PQgetvalue(r, 0, 0), "1");
	PQclear(r);
	assert_true(sql_long(c, "SELECT count(*) FROM audit_log WHERE action = 'installation.init'") >= 1);
	expect_intact(c);
	PQfinish(c);
	/* The same label again is refused; a bad type is a usage error. */
	assert_int_equal(run_efosctl(conf, args, out, sizeof out), 1);
	assert_int_equal(run_efosctl(conf, "hsm keygen --label x --type dsa:1024", out, sizeof out), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_in_transaction),
		cmocka_unit_test(test_role_cannot_rewrite),
		cmocka_unit_test(test_concurrent_appends),
		cmocka_unit_test(test_tamper_altered),
		cmocka_unit_test(test_tamper_deleted),
		cmocka_unit_test(test_tamper_inserted),
		cmocka_unit_test(test_efosctl_audit_verify),
		cmocka_unit_test(test_efosctl_init_and_keygen),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
