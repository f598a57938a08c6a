/* core/config.c: every error class names FILE:LINE: key; defaults; quoting; secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/config.h"

static char tdir[256];
static char conf[300];

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
}

static int setup(void **state)
{
	snprintf(tdir, sizeof tdir, "/tmp/efos-test-config.XXXXXX");
	if (mkdtemp(tdir) == NULL)
		return -1;
	char p[400];
	snprintf(p, sizeof p, "%s/cert.pem", tdir);
	write_file(p, "cert\n", 0644);
	snprintf(p, sizeof p, "%s/key.pem", tdir);
	write_file(p, "key\n", 0600);
	snprintf(p, sizeof p, "%s/module.so", tdir);
	write_file(p, "module\n", 0644);
	snprintf(p, sizeof p, "%s/pin", tdir);
	write_file(p, "1234\n", 0600);
	snprintf(p, sizeof p, "%s/open-pin", tdir);
	write_file(p, "1234\n", 0644);
	snprintf(p, sizeof p, "%s/migrations", tdir);
	mkdir(p, 0755);
	snprintf(conf, sizeof conf, "%s/efos.conf", tdir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The minimal valid configuration: 9 lines. Lines are numbered from 1. A line whose key is
 * `omit` is left out; `extra` is appended (after line 9). */
static void write_conf(const char *omit, const char *extra)
{
	const char *lines[] = {
		"# minimal",
		"http.listen = 127.0.0.1:8443",
		"tls.cert = cert.pem",
		"tls.key = key.pem",
		"db.conninfo = host=127.0.0.1 dbname=efos user=efos",
		"hsm.module = module.so",
		"hsm.token = pkcs11:token=efos-hsm",
		"hsm.pin_file = pin",
		"hsm.probe_key = pkcs11:token=efos-hsm;object=efos-probe",
	};
	FILE *fp = fopen(conf, "w");
	assert_non_null(fp);
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		if (omit != NULL && strncmp(lines[i], omit, strlen(omit)) == 0
		    && lines[i][strlen(omit)] == ' ')
			fputs("# (left out)\n", fp);
		else
			fprintf(fp, "%s\n", lines[i]);
	}
	if (extra != NULL)
		fputs(extra, fp);
	fclose(fp);
}

/* Loads and expects failure with exactly "CONF:LINE: key: " followed by what contains `what`. */
static void expect_error(int line, const char *key, const char *what)
{
	struct efos_config cfg;
	efos_err e = { 0 };
	int rc = config_load(conf, &cfg, &e);
	if (rc == 0)
		config_free(&cfg);
	assert_int_equal(rc, -1);
	assert_int_equal(e.code, EFOS_E_CONFIG);
	char prefix[512];
	snprintf(prefix, sizeof prefix, "%s:%d: %s: ", conf, line, key);
	if (strncmp(e.msg, prefix, strlen(prefix)) != 0 || strstr(e.msg, what) == NULL)
		fail_msg("expected \"%s...%s...\", got \"%s\"", prefix, what, e.msg);
}

static void load_ok(struct efos_config *cfg)
{
	efos_err e = { 0 };
	if (config_load(conf, cfg, &e) != 0)
		fail_msg("config_load: %s", e.msg);
}

static void test_defaults(void **state)
{
	write_conf(NULL, NULL);
	struct efos_config c;
	load_ok(&c);
	assert_string_equal(c.http_listen_addr, "127.0.0.1");
	assert_int_equal(c.http_listen_port, 8443);
	assert_null(c.http_mtls_addr);
	assert_int_equal(c.http_mtls_port, 0);
	assert_string_equal(c.http_public_url, "https://127.0.0.1:8443");
	assert_int_equal(c.http_threads, (int)sysconf(_SC_NPROCESSORS_ONLN));
	assert_int_equal(c.http_max_connections, 1024);
	assert_int_equal(c.http_max_body_bytes, 4 * 1024 * 1024);
	assert_int_equal(c.http_max_header_bytes, 16 * 1024);
	assert_int_equal(c.http_request_timeout_s, 30);
	assert_int_equal(c.db_pool_size, 8);
	assert_int_equal(c.db_connect_timeout_s, 5);
	assert_int_equal(c.hsm_sessions, 8);
	assert_int_equal(c.hsm_probe_interval_s, 2);
	assert_string_equal(c.log_level, "info");
	assert_null(c.log_file);
	assert_string_equal(c.ca_base_url, "https://127.0.0.1:8443");
	assert_int_equal(c.ca_crl_validity_s, 86400);
	assert_non_null(c.node_name);
	assert_non_null(c.db_migrations_dir);
	assert_int_equal(c.n_roles, 5);
	assert_true(config_has_role(&c, "idp"));
	assert_true(config_has_role(&c, "ca"));
	assert_false(config_has_role(&c, "nosuch"));
	/* Relative paths are resolved against the configuration file's directory. */
	char want[400];
	snprintf(want, sizeof want, "%s/cert.pem", tdir);
	assert_string_equal(c.tls_cert, want);
	snprintf(want, sizeof want, "%s/pin", tdir);
	assert_string_equal(c.hsm_pin_file, want);
	assert_null(c.hsm_pin_env);
	assert_string_equal(c.path, conf);
	config_free(&c);
}

static void test_values_quotes_comments(void **state)
{
	write_conf("tls.key", "node.name = \"node-1\"   # quoted, with a comment\n"
		   "node.roles = idp, signer metadata\n"
		   "http.max_body_bytes = 64KiB\n"
		   "http.max_header_bytes = 32768\n"
		   "http.mtls_listen = [::1]:8444\n"
		   "http.public_url = https://idp.example.se/\n"
		   "proxy.trusted_addresses = 10.0.0.1 ::1 192.168.0.0/16 fd00::/8\n"
		   "proxy.client_cert_header = X-SSL-Client-Cert\n"
		   "tls.key = 'pkcs11:token=efos-hsm;object=tls key#1'\n"
		   "log.level = debug\n"
		   "ca.ocsp_validity = 2h\n"
		   "\n"
		   "   # indented comment\n");
	struct efos_config c;
	load_ok(&c);
	assert_string_equal(c.node_name, "node-1");
	assert_int_equal(c.n_roles, 3);
	assert_string_equal(c.roles[1], "signer");
	assert_false(config_has_role(&c, "ca"));
	assert_int_equal(c.http_max_body_bytes, 65536);
	assert_int_equal(c.http_max_header_bytes, 32768);
	assert_string_equal(c.http_mtls_addr, "::1");
	assert_int_equal(c.http_mtls_port, 8444);
	assert_string_equal(c.http_mtls_public_url, "https://[::1]:8444");
	assert_string_equal(c.http_public_url, "https://idp.example.se");
	assert_int_equal(c.n_proxy_trusted, 4);
	assert_string_equal(c.proxy_trusted[2], "192.168.0.0/16");
	assert_string_equal(c.proxy_trusted[1], "::1");
	assert_string_equal(c.tls_key, "pkcs11:token=efos-hsm;object=tls key#1");
	assert_string_equal(c.log_level, "debug");
	assert_int_equal(c.ca_ocsp_validity_s, 7200);
	FILE *fp = fopen("/dev/null", "w");
	config_print(&c, fp);
	fclose(fp);
	config_free(&c);
}

static void test_unknown_key(void **state)
{
	write_conf(NULL, "http.thread = 4\n");
	expect_error(10, "http.thread", "unknown key (did you mean http.threads?)");
	write_conf(NULL, "threads = 4\n");
	expect_error(10, "threads", "did you mean http.threads?");
	write_conf(NULL, "completely.different = 4\n");
	expect_error(10, "completely.different", "unknown key");
}

static void test_bad_values(void **state)
{
	write_conf(NULL, "http.threads = many\n");
	expect_error(10, "http.threads", "expected an integer");
	write_conf(NULL, "http.threads = 0\n");
	expect_error(10, "http.threads", "out of range: expected 1 to 1024");
	write_conf(NULL, "http.max_body_bytes = 1 MB\n");
	expect_error(10, "http.max_body_bytes", "expected a size in bytes");
	write_conf(NULL, "log.level = verbose\n");
	expect_error(10, "log.level", "expected one of: debug info warn error");
	write_conf(NULL, "node.roles = idp sp\n");
	expect_error(10, "node.roles", "\"sp\"");
	write_conf(NULL, "node.roles = idp idp\n");
	expect_error(10, "node.roles", "listed twice");
	write_conf("http.listen", "http.listen = 8443\n");
	expect_error(10, "http.listen", "expected ADDRESS:PORT");
	write_conf("http.listen", "http.listen = 127.0.0.1:99999\n");
	expect_error(10, "http.listen", "expected ADDRESS:PORT");
	write_conf(NULL, "http.public_url = http://idp.example.se\n");
	expect_error(10, "http.public_url", "expected an https:// URL");
	write_conf("hsm.token", "hsm.token = efos-hsm\n");
	expect_error(10, "hsm.token", "expected a PKCS#11 URI");
	write_conf("tls.cert", "tls.cert = /nonexistent/cert.pem\n");
	expect_error(10, "tls.cert", "/nonexistent/cert.pem: No such file or directory");
	write_conf(NULL, "db.migrations_dir = cert.pem\n");
	expect_error(10, "db.migrations_dir", "is not a directory");
	write_conf("db.conninfo", "db.conninfo = host=x password=secret\n");
	expect_error(10, "db.conninfo", "contains a password");
	write_conf("db.conninfo", "db.conninfo = host=x nosuchoption=1\n");
	expect_error(10, "db.conninfo", "not a valid libpq connection string");
	write_conf(NULL, "db.password_env = 1BAD\n");
	expect_error(10, "db.password_env", "environment variable");
	write_conf(NULL, "proxy.trusted_addresses = proxy.example\n");
	expect_error(10, "proxy.trusted_addresses", "expected IP addresses");
	write_conf(NULL, "proxy.trusted_addresses = 10.0.0.0/33\n");
	expect_error(10, "proxy.trusted_addresses", "expected IP addresses or CIDR blocks");
	write_conf(NULL, "ca.crl_validity = 1 day\n");
	expect_error(10, "ca.crl_validity", "expected a duration (e.g. 30, 30s, 5m, 6h, 1d)");
	write_conf(NULL, "ca.crl_validity = 2h\nca.crl_reissue_before = 3h\n");
	expect_error(11, "ca.crl_reissue_before", "must be shorter than ca.crl_validity (7200 s)");
	write_conf(NULL, "log.file = /nonexistent/dir/efos.log\n");
	expect_error(10, "log.file", "does not exist");
}

static void test_syntax(void **state)
{
	write_conf(NULL, "just words\n");
	expect_error(10, "just", "expected \"key = value\"");
	write_conf(NULL, "node.name = \"unterminated\n");
	expect_error(10, "node.name", "unterminated quote");
	write_conf(NULL, "node.name = \"a\" b\n");
	expect_error(10, "node.name", "unterminated quote, or text after the closing quote");
}

static void test_duplicate(void **state)
{
	write_conf(NULL, "\nhttp.listen = 127.0.0.1:9443\n");
	expect_error(11, "http.listen", "set twice (first at line 2)");
}

static void test_required(void **state)
{
	const char *required[] = { "http.listen", "tls.cert", "tls.key", "db.conninfo", "hsm.module",
				   "hsm.token", "hsm.probe_key" };
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
		write_conf(required[i], NULL);
		expect_error(0, required[i], "required but not set");
	}
	write_conf("hsm.pin_file", NULL);
	expect_error(0, "hsm.pin_file", "required but not set (or set hsm.pin_env)");
	write_conf(NULL, "hsm.pin_env = EFOS_PIN\n");
	expect_error(10, "hsm.pin_env", "conflicts with hsm.pin_file (line 8): set exactly one");
	write_conf(NULL, "proxy.client_cert_header = X-Cert\n");
	expect_error(10, "proxy.client_cert_header", "needs proxy.trusted_addresses");
	write_conf("http.listen", "http.listen = 0.0.0.0:8443\n");
	expect_error(10, "http.public_url", "required when http.listen is a wildcard address");
}

static void test_world_readable_secret(void **state)
{
	write_conf("hsm.pin_file", "hsm.pin_file = open-pin\n");
	expect_error(10, "hsm.pin_file", "readable by every user (mode 0644)");
	char p[400];
	snprintf(p, sizeof p, "%s/open-pin", tdir);
	char *s = (char *)1;
	efos_err e = { 0 };
	assert_int_equal(config_read_secret(p, NULL, false, &s, &e), -1);
	assert_null(s);
	assert_non_null(strstr(e.msg, "readable by every user"));
	assert_non_null(strstr(e.msg, "chmod o-rwx"));
}

static void test_secrets(void **state)
{
	char p[400];
	char *s = NULL;
	efos_err e = { 0 };
	snprintf(p, sizeof p, "%s/pin", tdir);
	assert_int_equal(config_read_secret(p, NULL, false, &s, &e), 0);
	assert_string_equal(s, "1234");   /* trailing newline stripped */
	efos_free_secret(s);

	setenv("EFOS_TEST_SECRET_X", "s3cret\n", 1);
	assert_int_equal(config_read_secret(NULL, "EFOS_TEST_SECRET_X", false, &s, &e), 0);
	assert_string_equal(s, "s3cret");
	efos_free_secret(s);
	unsetenv("EFOS_TEST_SECRET_X");

	assert_int_equal(config_read_secret(NULL, "EFOS_TEST_SECRET_X", false, &s, &e), -1);
	assert_non_null(strstr(e.msg, "EFOS_TEST_SECRET_X is not set"));
	assert_int_equal(config_read_secret(p, "EFOS_TEST_SECRET_X", false, &s, &e), -1);
	assert_non_null(strstr(e.msg, "set exactly one"));
	assert_int_equal(config_read_secret(NULL, NULL, true, &s, &e), 0);
	assert_null(s);
	assert_int_equal(config_read_secret(NULL, NULL, false, &s, &e), -1);
	snprintf(p, sizeof p, "%s/nonexistent", tdir);
	assert_int_equal(config_read_secret(p, NULL, false, &s, &e), -1);
	assert_non_null(strstr(e.msg, "No such file"));
	snprintf(p, sizeof p, "%s/empty-pin", tdir);
	write_file(p, "\n", 0600);
	assert_int_equal(config_read_secret(p, NULL, false, &s, &e), -1);
	assert_non_null(strstr(e.msg, "empty"));

	/* The configuration names the secrets; it does not read them. */
	write_conf("hsm.pin_file", "hsm.pin_env = EFOS_PIN\ndb.password_env = PGPASS_EFOS\n");
	struct efos_config c;
	load_ok(&c);
	assert_string_equal(c.hsm_pin_env, "EFOS_PIN");
	assert_string_equal(c.db_password_env, "PGPASS_EFOS");
	config_free(&c);
}

static void test_missing_file(void **state)
{
	struct efos_config c;
	efos_err e = { 0 };
	assert_int_equal(config_load("/nonexistent/efos.conf", &c, &e), -1);
	assert_string_equal(e.msg, "/nonexistent/efos.conf:0: cannot read the configuration file: "
			    "No such file or directory");
}

/* Every key of the table is documented in docs/configuration.md. */
static void test_every_key_documented(void **state)
{
	const char *top = getenv("EFOS_TOP");
	char p[512];
	snprintf(p, sizeof p, "%s/docs/configuration.md", top ? top : ".");
	FILE *fp = fopen(p, "r");
	if (fp == NULL)
		fail_msg("cannot open %s", p);
	static char doc[256 * 1024];
	size_t n = fread(doc, 1, sizeof doc - 1, fp);
	fclose(fp);
	doc[n] = '\0';
	size_t i;
	for (i = 0; config_key_at(i) != NULL; i++) {
		char needle[128];
		snprintf(needle, sizeof needle, "`%s`", config_key_at(i));
		if (strstr(doc, needle) == NULL)
			fail_msg("%s is not documented in %s", config_key_at(i), p);
	}
	assert_true(i >= 35);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values_quotes_comments),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_world_readable_secret),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_every_key_documented),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
