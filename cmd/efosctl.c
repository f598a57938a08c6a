/* efosctl: sets up and administers an EFOS installation.
 *
 *   efosctl [-c FILE] config check [--show]
 *   efosctl [-c FILE] db migrate | db status
 *   efosctl [-c FILE] audit verify
 *   efosctl [-c FILE] hsm keygen --label L --type T
 *   efosctl init --dir DIR --module M --token-label L (--pin-env VAR | --pin-file F) ...
 *
 * Exit codes (docs/efosctl.md): 0 done, 1 failed, 2 usage error, 3 audit chain broken.
 * Secrets (PINs, passwords) come only from files or environment variables named in the
 * configuration or on the command line by name; never as argument values. Every action that
 * changes state writes an audit event in the same database transaction. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include "core/audit.h"
#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "hsm/bridge.h"
#include "hsm/hsm.h"
#include "hsm/uri.h"
#include "cmd/efosctl.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_AUDIT_BROKEN = 3 };

#define DEFAULT_CONFIG "/etc/efos/efos.conf"

const char *config_path;
char actor[128];

static const char usage_main[] =
	"usage: efosctl [-c FILE] COMMAND [ARGS]\n"
	"\n"
	"  config check [--show]   read and validate the configuration file\n"
	"  db migrate              apply the schema migrations (as db.admin_conninfo)\n"
	"  db status               compare the database's schema with this efosctl's\n"
	"  audit verify            walk the audit chain, name the first bad row\n"
	"  hsm keygen --label L --type T   generate a key pair in the HSM, print its URI\n"
	"  init --dir DIR ...      set up a new installation (efosctl init --help)\n"
	"  ca init|issue|list|export   the CAs and operator-issued certificates (efosctl ca --help)\n"
	"  cert revoke|hold|release    revocation status of a certificate (efosctl cert --help)\n"
	"  org|person|affiliation|proof|officer ...   the registry, as an officer (COMMAND --help)\n"
	"  seal key add|list, seal client add|list   seal API keys and clients (efosctl seal --help)\n"
	"  card enroll|confirm|suspend|resume|revoke|renew|replace|unblock|list|show\n"
	"                          smart cards, as a registration officer (efosctl card --help)\n"
	"\n"
	"  -c, --config FILE       configuration file (default: $EFOS_CONFIG or " DEFAULT_CONFIG ")\n"
	"  -h, --help              this text; COMMAND --help for each command\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 usage error, 3 audit chain broken.\n";

static int usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *usage, const char *fmt, ...)
{
	if (fmt != NULL) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "efosctl: ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		va_end(ap);
	}
	fputs(usage, stderr);
	return EXIT_USAGE;
}

static int fail(const efos_err *e)
{
	fprintf(stderr, "efosctl: %s\n", e->msg);
	return EXIT_FAIL;
}

/* Parses the options of a subcommand that only knows --help (and maybe a flag). Returns -1
 * when it printed help (exit 0), -2 on usage error. */
static int simple_opts(int argc, char **argv, const char *usage, const char *flag, bool *flag_set)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return -1;
		}
		if (flag != NULL && !strcmp(argv[i], flag)) {
			*flag_set = true;
			continue;
		}
		usage_error(usage, "unexpected argument: %s", argv[i]);
		return -2;
	}
	return 0;
}

static int load_config(struct efos_config *cfg, efos_err *e)
{
	if (config_load(config_path, cfg, e) < 0)
		return -1;
	enum log_level lvl = LOG_LVL_WARN;
	log_level_parse(cfg->log_level, &lvl);
	/* efosctl talks to a person: only warnings and errors, on stderr. */
	log_init(cfg->node_name, lvl < LOG_LVL_WARN ? LOG_LVL_WARN : lvl);
	return 0;
}

/* Connects as efosd does (admin=false) or as the schema owner (admin=true; falls back to
 * db.conninfo when db.admin_conninfo is not set). */
static int connect_db(const struct efos_config *cfg, bool admin, PGconn **out, efos_err *e)
{
	const char *ci = cfg->db_conninfo, *pf = cfg->db_password_file, *pe = cfg->db_password_env;
	if (admin && cfg->db_admin_conninfo != NULL) {
		ci = cfg->db_admin_conninfo;
		pf = cfg->db_admin_password_file;
		pe = cfg->db_admin_password_env;
	}
	char *pw = NULL;
	if (config_read_secret(pf, pe, true, &pw, e) < 0)
		return efos_wrap(e, "database password");
	int rc = db_connect(ci, pw, cfg->db_connect_timeout_s, out, e);
	efos_free_secret(pw);
	return rc;
}

static int audit_event(PGconn *c, const struct efos_config *cfg, const char *action,
		       const char *object, const char *outcome, const char *details, efos_err *e)
{
	struct audit_event ev = {
		.node = cfg->node_name, .actor = actor, .action = action, .object = object,
		.outcome = outcome, .details = details,
	};
	return audit_append(c, &ev, e);
}

/* ---- config check ---- */

static const char usage_config_check[] =
	"usage: efosctl [-c FILE] config check [--show]\n"
	"Reads the configuration file and checks every key, the files it names and that the\n"
	"secrets it names (hsm.pin_*, db.password_*) can be read. --show prints the effective\n"
	"configuration, defaults included (secrets are only named, never printed).\n";

static int cmd_config_check(int argc, char **argv)
{
	bool show = false;
	int o = simple_opts(argc, argv, usage_config_check, "--show", &show);
	if (o < 0)
		return o == -1 ? EXIT_OK : EXIT_USAGE;
	struct efos_config cfg;
	efos_err e = { 0 };
	if (load_config(&cfg, &e) < 0)
		return fail(&e);
	char *s = NULL;
	int rc = EXIT_OK;
	if (config_read_secret(cfg.hsm_pin_file, cfg.hsm_pin_env, false, &s, &e) < 0) {
		efos_wrap(&e, "%s: hsm PIN", cfg.path);
		rc = fail(&e);
	}
	efos_free_secret(s);
	s = NULL;
	if (rc == EXIT_OK && config_read_secret(cfg.db_password_file, cfg.db_password_env, true, &s, &e) < 0) {
		efos_wrap(&e, "%s: database password", cfg.path);
		rc = fail(&e);
	}
	efos_free_secret(s);
	if (rc == EXIT_OK) {
		if (show)
			config_print(&cfg, stdout);
		printf("%s: configuration ok\n", cfg.path);
	}
	config_free(&cfg);
	return rc;
}

/* ---- db ---- */

static const char usage_db_migrate[] =
	"usage: efosctl [-c FILE] db migrate\n"
	"Applies the migrations of db.migrations_dir that the database does not have yet, each in\n"
	"its own transaction with its audit event (schema.migrate). Connects as db.admin_conninfo\n"
	"(the schema owner), or db.conninfo when that is not set.\n";

static int migrate_hook(PGconn *c, int version, const char *name, void *arg, efos_err *e)
{
	const struct efos_config *cfg = arg;
	char object[160], details[96];
	snprintf(object, sizeof object, "%04d_%s", version, name);
	snprintf(details, sizeof details, "{\"version\": %d}", version);
	return audit_event(c, cfg, "schema.migrate", object, "success", details, e);
}

static int run_migrations(const struct efos_config *cfg, PGconn *c, efos_err *e)
{
	int before, applied;
	if (db_schema_version(c, &before, e) < 0)
		return -1;
	int rc = db_migrate_ex(c, cfg->db_migrations_dir, migrate_hook, (void *)cfg, &applied, e);
	/* Print what was applied (also what committed before a later failure). */
	char b[16];
	snprintf(b, sizeof b, "%d", before);
	const char *params[] = { b };
	efos_err e2;
	PGresult *r = db_exec(c, "SELECT version, name FROM schema_migrations WHERE version > $1 "
			      "ORDER BY version", 1, params, &e2);
	for (int i = 0; r != NULL && i < PQntuples(r); i++)
		printf("applied %04d_%s\n", atoi(PQgetvalue(r, i, 0)), PQgetvalue(r, i, 1));
	PQclear(r);
	if (rc < 0)
		return -1;
	int now;
	if (db_schema_version(c, &now, e) < 0)
		return -1;
	printf("database schema at version %d%s\n", now, applied == 0 ? " (up to date)" : "");
	return 0;
}

static int cmd_db_migrate(int argc, char **argv)
{
	int o = simple_opts(argc, argv, usage_db_migrate, NULL, NULL);
	if (o < 0)
		return o == -1 ? EXIT_OK : EXIT_USAGE;
	struct efos_config cfg;
	efos_err e = { 0 };
	PGconn *c = NULL;
	int rc = EXIT_FAIL;
	if (load_config(&cfg, &e) < 0)
		return fail(&e);
	if (connect_db(&cfg, true, &c, &e) < 0 || run_migrations(&cfg, c, &e) < 0)
		fail(&e);
	else
		rc = EXIT_OK;
	PQfinish(c);
	config_free(&cfg);
	return rc;
}

static const char usage_db_status[] =
	"usage: efosctl [-c FILE] db status\n"
	"Prints the database's schema version and the newest migration this efosctl knows.\n"
	"Exit status 0 when they match (efosd would start), 1 when the schema is behind or ahead.\n";

static int cmd_db_status(int argc, char **argv)
{
	int o = simple_opts(argc, argv, usage_db_status, NULL, NULL);
	if (o < 0)
		return o == -1 ? EXIT_OK : EXIT_USAGE;
	struct efos_config cfg;
	efos_err e = { 0 };
	PGconn *c = NULL;
	int rc = EXIT_FAIL, have, need;
	if (load_config(&cfg, &e) < 0)
		return fail(&e);
	if (connect_db(&cfg, false, &c, &e) < 0 || db_schema_version(c, &have, &e) < 0
	    || db_migrations_newest(cfg.db_migrations_dir, &need, &e) < 0) {
		fail(&e);
		goto out;
	}
	printf("database schema at version %d; this efosctl knows up to %d: ", have, need);
	if (have == need) {
		printf("up to date\n");
		rc = EXIT_OK;
	} else if (have < need) {
		printf("behind (run `efosctl db migrate`)\n");
	} else {
		printf("ahead (upgrade efosd and efosctl)\n");
	}
out:
	PQfinish(c);
	config_free(&cfg);
	return rc;
}

/* ---- audit ---- */

static const char usage_audit_verify[] =
	"usage: efosctl [-c FILE] audit verify\n"
	"Walks the audit chain in id order, recomputing every row's hash, and names the first row\n"
	"altered, inserted or deleted. Prints the chain head (id and hash): record it elsewhere to\n"
	"detect later a rewrite of the whole chain.\n"
	"Exit status 0 intact, 3 broken, 1 when the database could not be read.\n";

static int cmd_audit_verify(int argc, char **argv)
{
	int o = simple_opts(argc, argv, usage_audit_verify, NULL, NULL);
	if (o < 0)
		return o == -1 ? EXIT_OK : EXIT_USAGE;
	struct efos_config cfg;
	efos_err e = { 0 };
	PGconn *c = NULL;
	int rc = EXIT_FAIL;
	struct audit_verify_result r;
	if (load_config(&cfg, &e) < 0)
		return fail(&e);
	if (connect_db(&cfg, false, &c, &e) < 0 || audit_verify(c, &r, &e) < 0) {
		fail(&e);
		goto out;
	}
	if (r.first_bad_id == 0) {
		long last = 0;
		char hex[65] = "";
		if (audit_head(c, &last, hex, &e) < 0) {
			fail(&e);
			goto out;
		}
		printf("audit chain intact: %ld rows (head: row %ld, hash %s)\n", r.rows_checked, last, hex);
		rc = EXIT_OK;
	} else {
		/* problem reads "row N altered (...)": print "... at row N: altered (...)". */
		const char *what = r.problem;
		char prefix[40];
		snprintf(prefix, sizeof prefix, "row %ld ", r.first_bad_id);
		if (strncmp(what, prefix, strlen(prefix)) == 0)
			what += strlen(prefix);
		printf("audit chain broken at row %ld: %s\n", r.first_bad_id, what);
		rc = EXIT_AUDIT_BROKEN;
	}
out:
	PQfinish(c);
	config_free(&cfg);
	return rc;
}

/* ---- hsm ---- */

static int open_hsm(const char *module, const char *token, const char *pin_file, const char *pin_env,
		    struct hsm **h, efos_err *e)
{
	char *pin = NULL;
	if (config_read_secret(pin_file, pin_env, false, &pin, e) < 0)
		return efos_wrap(e, "HSM PIN");
	int rc = hsm_open(module, token, pin, 1, h, e);
	efos_free_secret(pin);
	return rc;
}

static const char usage_hsm_keygen[] =
	"usage: efosctl [-c FILE] hsm keygen --label LABEL --type TYPE\n"
	"Generates a key pair in the configured token (hsm.token), non-extractable, and prints its\n"
	"PKCS#11 URI. TYPE: rsa:2048 rsa:3072 rsa:4096 ec:p256 ec:p384 ec:p521.\n"
	"Refuses a label that a key in the token already has. Audited as hsm.keygen.\n";

static int cmd_hsm_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' }, { "type", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *label = NULL, *type = NULL;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': label = optarg; break;
		case 't': type = optarg; break;
		case 'h': fputs(usage_hsm_keygen, stdout); return EXIT_OK;
		default: return usage_error(usage_hsm_keygen, NULL);
		}
	}
	if (optind < argc)
		return usage_error(usage_hsm_keygen, "unexpected argument: %s", argv[optind]);
	struct hsm_keygen_params p = { .token_object = true };
	if (label == NULL || type == NULL)
		return usage_error(usage_hsm_keygen, "--label and --type are required");
	if (hsm_key_type_parse(type, &p) < 0)
		return usage_error(usage_hsm_keygen, "unknown key type: %s", type);
	if (*label == '\0' || strlen(label) > 64)
		return usage_error(usage_hsm_keygen, "bad label: %s", label);
	p.label = label;

	struct efos_config cfg;
	efos_err e = { 0 };
	PGconn *c = NULL;
	struct hsm *h = NULL;
	struct hsm_key *k = NULL;
	int rc = EXIT_FAIL;
	char uri[1024], details[256];
	if (load_config(&cfg, &e) < 0)
		return fail(&e);
	/* The database first: no key is made that could not be audited. */
	if (connect_db(&cfg, false, &c, &e) < 0 || db_schema_check(c, cfg.db_migrations_dir, &e) < 0
	    || open_hsm(cfg.hsm_module, cfg.hsm_token, cfg.hsm_pin_file, cfg.hsm_pin_env, &h, &e) < 0)
		goto out;
	hsm_uri_private_key(uri, sizeof uri, cfg.hsm_token, label, NULL, 0);
	if (hsm_key_find(h, uri, &k, &e) == 0 || e.code != EFOS_E_NOTFOUND) {
		if (k != NULL)
			efos_fail(&e, EFOS_E_CONFLICT, "a key labelled \"%s\" already exists in the token", label);
		goto out;
	}
	if (db_begin(c, &e) < 0 || hsm_keygen(h, &p, &k, &e) < 0)
		goto out;
	size_t idlen;
	const unsigned char *id = hsm_key_id(k, &idlen);
	hsm_uri_private_key(uri, sizeof uri, cfg.hsm_token, label, id, idlen);
	snprintf(details, sizeof details, "{\"type\": \"%s\"}", type);
	if (audit_event(c, &cfg, "hsm.keygen", uri, "success", details, &e) < 0 || db_commit(c, &e) < 0) {
		efos_err e2;
		if (hsm_key_destroy(k, &e2) < 0)
			fprintf(stderr, "efosctl: could not remove the unaudited key %s: %s\n", uri, e2.msg);
		k = NULL;
		goto out;
	}
	printf("%s\n", uri);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		fail(&e);
	db_rollback(c);
	hsm_key_free(k);
	hsm_close(h);
	PQfinish(c);
	config_free(&cfg);
	return rc;
}

/* ---- init ---- */

static const char usage_init[] =
	"usage: efosctl init --dir DIR --module PATH --token-label LABEL (--pin-env VAR | --pin-file FILE)\n"
	"                    --db-conninfo CONNINFO [--db-admin-conninfo CONNINFO]\n"
	"                    [--db-password-env VAR | --db-password-file FILE]\n"
	"                    [--db-admin-password-env VAR | --db-admin-password-file FILE]\n"
	"                    [--listen ADDR:PORT] [--public-url URL] [--node NAME]\n"
	"                    [--tls-cert FILE --tls-key FILE|URI] [--migrations-dir DIR]\n"
	"Sets up a new installation: in the token (which must exist already: create it with the\n"
	"HSM's tool, e.g. softhsm2-util --init-token) the probe key efos-probe and, unless\n"
	"--tls-cert is given, the TLS key efos-tls with a self-signed certificate DIR/tls-cert.pem;\n"
	"the database schema (migrations, as the admin connection); and DIR/efos.conf, which it\n"
	"never overwrites. Keys already present are reused, so a failed init can be re-run.\n"
	"PINs and passwords are named by environment variable or file, never given as values.\n";

struct init_opts {
	const char *dir, *module, *token_label, *pin_env, *pin_file;
	const char *conninfo, *admin_conninfo, *pw_env, *pw_file, *admin_pw_env, *admin_pw_file;
	const char *listen, *public_url, *node, *tls_cert, *tls_key, *migrations_dir;
};

/* Finds LABEL in the token or generates it as an EC P-256 key. *made: generated now. */
static int ensure_key(struct hsm *h, const char *token_uri, const char *label, struct hsm_key **k,
		      bool *made, char *uri, size_t urilen, efos_err *e)
{
	*made = false;
	hsm_uri_private_key(uri, urilen, token_uri, label, NULL, 0);
	if (hsm_key_find(h, uri, k, e) == 0)
		return 0;
	if (e->code != EFOS_E_NOTFOUND)
		return -1;
	struct hsm_keygen_params p = { .kind = HSM_KEY_EC, .curve_nid = NID_X9_62_prime256v1,
				       .label = label, .token_object = true };
	if (hsm_keygen(h, &p, k, e) < 0)
		return -1;
	*made = true;
	return 0;
}

/* A self-signed TLS certificate for the key, valid a year, with the listen host as CN and SAN. */
static int write_self_signed(struct hsm_key *k, const char *host, const char *path, efos_err *e)
{
	int rc = -1;
	EVP_PKEY *pk = hsm_evp_pkey(k, e);
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	FILE *fp = NULL;
	char san[600];
	unsigned char ipbuf[16];
	if (pk == NULL || x == NULL || nm == NULL)
		goto out;
	unsigned char serial[16];
	FILE *ur = fopen("/dev/urandom", "re");
	if (ur == NULL || fread(serial, 1, sizeof serial, ur) != sizeof serial) {
		if (ur)
			fclose(ur);
		efos_fail(e, EFOS_E_INTERNAL, "cannot read /dev/urandom");
		goto out;
	}
	fclose(ur);
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
	ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	BN_free(bn);
	bool is_ip = inet_pton(AF_INET, host, ipbuf) == 1 || inet_pton(AF_INET6, host, ipbuf) == 1;
	snprintf(san, sizeof san, "%s:%s", is_ip ? "IP" : "DNS", host);
	X509V3_CTX v3;
	X509_EXTENSION *ext = NULL;
	int ok = ai != NULL && X509_set_version(x, 2) && X509_set_serialNumber(x, ai)
		 && X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)host, -1, -1, 0)
		 && X509_set_subject_name(x, nm) && X509_set_issuer_name(x, nm)
		 && X509_gmtime_adj(X509_getm_notBefore(x), -300)
		 && X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600)
		 && X509_set_pubkey(x, hsm_key_public(k));
	ASN1_INTEGER_free(ai);
	if (ok) {
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		ok = ext != NULL && X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (!ok || X509_sign(x, pk, EVP_sha256()) <= 0) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot make the self-signed TLS certificate");
		goto out;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || (fp = fdopen(fd, "w")) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (!PEM_write_X509(fp, x)) {
		efos_fail(e, EFOS_E_INTERNAL, "%s: write failed", path);
		goto out;
	}
	rc = 0;
out:
	if (fp != NULL && fclose(fp) != 0 && rc == 0)
		rc = efos_fail(e, EFOS_E_INTERNAL, "%s: %s", path, strerror(errno));
	X509_NAME_free(nm);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

static void conf_kv(FILE *fp, const char *key, const char *val)
{
	if (val != NULL)
		fprintf(fp, "%s = \"%s\"\n", key, val);
}

static int write_config(const struct init_opts *o, const char *path, const char *final_path,
			const char *token_uri,
			const char *probe_uri, const char *tls_cert, const char *tls_key, efos_err *e)
{
	for (const char *const *v = (const char *const[]){ o->conninfo, o->admin_conninfo, o->module,
			tls_cert, tls_key, o->public_url, NULL }; *v != NULL; v++)
		if (strchr(*v, '"') != NULL || strchr(*v, '\n') != NULL)
			return efos_fail(e, EFOS_E_INVALID, "values may not contain quotes or newlines: %s", *v);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return efos_fail(e, EFOS_E_INTERNAL, "%s: %s", path, strerror(errno));
	FILE *fp = fdopen(fd, "w");
	if (fp == NULL) {
		close(fd);
		return efos_fail(e, EFOS_E_INTERNAL, "%s: %s", path, strerror(errno));
	}
	time_t now = time(NULL);
	char ts[32];
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(fp, "# EFOS configuration, written by efosctl init at %s.\n"
		"# Every key: docs/configuration.md. Check with: efosctl -c %s config check\n\n", ts, final_path);
	if (o->node)
		conf_kv(fp, "node.name", o->node);
	fprintf(fp, "node.state_dir = \"%s\"\n\n", o->dir);
	conf_kv(fp, "http.listen", o->listen);
	conf_kv(fp, "http.public_url", o->public_url);
	conf_kv(fp, "tls.cert", tls_cert);
	conf_kv(fp, "tls.key", tls_key);
	fputc('\n', fp);
	conf_kv(fp, "db.conninfo", o->conninfo);
	conf_kv(fp, "db.password_env", o->pw_env);
	conf_kv(fp, "db.password_file", o->pw_file);
	conf_kv(fp, "db.admin_conninfo", o->admin_conninfo);
	conf_kv(fp, "db.admin_password_env", o->admin_pw_env);
	conf_kv(fp, "db.admin_password_file", o->admin_pw_file);
	conf_kv(fp, "db.migrations_dir", o->migrations_dir);
	fputc('\n', fp);
	conf_kv(fp, "hsm.module", o->module);
	conf_kv(fp, "hsm.token", token_uri);
	conf_kv(fp, "hsm.pin_env", o->pin_env);
	conf_kv(fp, "hsm.pin_file", o->pin_file);
	conf_kv(fp, "hsm.probe_key", probe_uri);
	if (fclose(fp) != 0)
		return efos_fail(e, EFOS_E_INTERNAL, "%s: %s", path, strerror(errno));
	return 0;
}

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' }, { "module", required_argument, NULL, 'm' },
		{ "token-label", required_argument, NULL, 't' }, { "pin-env", required_argument, NULL, 'p' },
		{ "pin-file", required_argument, NULL, 'P' }, { "db-conninfo", required_argument, NULL, 'c' },
		{ "db-admin-conninfo", required_argument, NULL, 'a' },
		{ "db-password-env", required_argument, NULL, 'w' },
		{ "db-password-file", required_argument, NULL, 'W' },
		{ "db-admin-password-env", required_argument, NULL, 'x' },
		{ "db-admin-password-file", required_argument, NULL, 'X' },
		{ "listen", required_argument, NULL, 'l' }, { "public-url", required_argument, NULL, 'u' },
		{ "node", required_argument, NULL, 'n' }, { "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "migrations-dir", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct init_opts o = { .listen = "127.0.0.1:8443" };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': o.dir = optarg; break;
		case 'm': o.module = optarg; break;
		case 't': o.token_label = optarg; break;
		case 'p': o.pin_env = optarg; break;
		case 'P': o.pin_file = optarg; break;
		case 'c': o.conninfo = optarg; break;
		case 'a': o.admin_conninfo = optarg; break;
		case 'w': o.pw_env = optarg; break;
		case 'W': o.pw_file = optarg; break;
		case 'x': o.admin_pw_env = optarg; break;
		case 'X': o.admin_pw_file = optarg; break;
		case 'l': o.listen = optarg; break;
		case 'u': o.public_url = optarg; break;
		case 'n': o.node = optarg; break;
		case 'C': o.tls_cert = optarg; break;
		case 'K': o.tls_key = optarg; break;
		case 'M': o.migrations_dir = optarg; break;
		case 'h': fputs(usage_init, stdout); return EXIT_OK;
		default: return usage_error(usage_init, NULL);
		}
	}
	if (optind < argc)
		return usage_error(usage_init, "unexpected argument: %s", argv[optind]);
	if (!o.dir || !o.module || !o.token_label || !o.conninfo)
		return usage_error(usage_init, "--dir, --module, --token-label and --db-conninfo are required");
	if (!o.pin_env == !o.pin_file)
		return usage_error(usage_init, "give exactly one of --pin-env and --pin-file");
	if (!o.tls_cert != !o.tls_key)
		return usage_error(usage_init, "--tls-cert and --tls-key go together");
	if (o.pw_env && o.pw_file)
		return usage_error(usage_init, "give at most one of --db-password-env and --db-password-file");
	if (o.admin_pw_env && o.admin_pw_file)
		return usage_error(usage_init, "give at most one of --db-admin-password-env/-file");

	efos_err e = { 0 };
	struct hsm *h = NULL;
	struct hsm_key *probe = NULL, *tlsk = NULL;
	struct efos_config cfg;
	bool cfg_loaded = false;
	PGconn *c = NULL;
	int rc = EXIT_FAIL;
	char dir[PATH_MAX], conf[PATH_MAX + 16], tmpconf[PATH_MAX + 32], certpath[PATH_MAX + 32];
	char token_uri[512], probe_uri[1024], tls_uri[1024], label_enc[256];
	bool probe_made = false, tls_made = false;
	const char *tls_cert = o.tls_cert, *tls_key = o.tls_key;

	if (mkdir(o.dir, 0750) < 0 && errno != EEXIST) {
		efos_fail(&e, EFOS_E_INTERNAL, "%s: %s", o.dir, strerror(errno));
		goto out;
	}
	if (realpath(o.dir, dir) == NULL) {
		efos_fail(&e, EFOS_E_INTERNAL, "%s: %s", o.dir, strerror(errno));
		goto out;
	}
	o.dir = dir;
	snprintf(conf, sizeof conf, "%s/efos.conf", dir);
	snprintf(tmpconf, sizeof tmpconf, "%s/efos.conf.new", dir);
	if (access(conf, F_OK) == 0) {
		efos_fail(&e, EFOS_E_CONFLICT, "%s exists already: init never overwrites a configuration", conf);
		goto out;
	}
	unlink(tmpconf);
	hsm_uri_pct_encode(label_enc, sizeof label_enc, (const unsigned char *)o.token_label, strlen(o.token_label));
	snprintf(token_uri, sizeof token_uri, "pkcs11:token=%s", label_enc);

	/* 1. The token: it must exist; keys are made when missing. */
	if (open_hsm(o.module, token_uri, o.pin_file, o.pin_env, &h, &e) < 0)
		goto out;
	if (ensure_key(h, token_uri, "efos-probe", &probe, &probe_made, probe_uri, sizeof probe_uri, &e) < 0)
		goto out;
	printf("%s probe key %s\n", probe_made ? "generated" : "found", probe_uri);
	if (tls_cert == NULL) {
		if (ensure_key(h, token_uri, "efos-tls", &tlsk, &tls_made, tls_uri, sizeof tls_uri, &e) < 0)
			goto out;
		printf("%s TLS key %s\n", tls_made ? "generated" : "found", tls_uri);
		snprintf(certpath, sizeof certpath, "%s/tls-cert.pem", dir);
		if (access(certpath, F_OK) != 0) {
			char host[512];
			snprintf(host, sizeof host, "%s", o.listen);
			char *colon = strrchr(host, ':');
			if (colon)
				*colon = '\0';
			char *hp = host;
			if (*hp == '[') {
				hp++;
				hp[strcspn(hp, "]")] = '\0';
			}
			if (!strcmp(hp, "0.0.0.0") || !strcmp(hp, "::"))
				hp = "localhost";
			if (write_self_signed(tlsk, hp, certpath, &e) < 0)
				goto out;
			printf("wrote self-signed TLS certificate %s\n", certpath);
		}
		tls_cert = certpath;
		tls_key = tls_uri;
	}

	/* 2. The configuration, checked like efosd will read it. */
	if (write_config(&o, tmpconf, conf, token_uri, probe_uri, tls_cert, tls_key, &e) < 0)
		goto out;
	config_path = tmpconf;
	if (load_config(&cfg, &e) < 0)
		goto out;
	cfg_loaded = true;

	/* 3. The schema, and the audit events of what init did. */
	if (connect_db(&cfg, true, &c, &e) < 0 || run_migrations(&cfg, c, &e) < 0 || db_begin(c, &e) < 0)
		goto out;
	if ((probe_made && audit_event(c, &cfg, "hsm.keygen", probe_uri, "success", "{\"type\": \"ec:p256\"}", &e) < 0)
	    || (tls_made && audit_event(c, &cfg, "hsm.keygen", tls_uri, "success", "{\"type\": \"ec:p256\"}", &e) < 0)
	    || audit_event(c, &cfg, "installation.init", conf, "success", NULL, &e) < 0
	    || db_commit(c, &e) < 0)
		goto out;

	/* 4. Put the configuration in place, never over an existing one. */
	if (link(tmpconf, conf) < 0) {
		efos_fail(&e, EFOS_E_CONFLICT, "%s: %s", conf, strerror(errno));
		goto out;
	}
	unlink(tmpconf);
	printf("wrote %s\n", conf);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK) {
		fail(&e);
		unlink(tmpconf);
	}
	db_rollback(c);
	PQfinish(c);
	if (cfg_loaded)
		config_free(&cfg);
	hsm_key_free(probe);
	hsm_key_free(tlsk);
	hsm_close(h);
	return rc;
}

/* ---- main ---- */

struct command {
	const char *group, *name;
	int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "config", "check", cmd_config_check },
	{ "db", "migrate", cmd_db_migrate },
	{ "db", "status", cmd_db_status },
	{ "audit", "verify", cmd_audit_verify },
	{ "hsm", "keygen", cmd_hsm_keygen },
	{ "init", NULL, cmd_init },
	{ "ca", NULL, efosctl_ca },
	{ "cert", NULL, efosctl_cert },
	{ "card", NULL, efosctl_card },
	{ "org", NULL, efosctl_org },
	{ "person", NULL, efosctl_person },
	{ "affiliation", NULL, efosctl_affiliation },
	{ "proof", NULL, efosctl_proof },
	{ "officer", NULL, efosctl_officer },
	{ "seal", NULL, efosctl_seal },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	config_path = getenv("EFOS_CONFIG");
	while ((ch = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'h': fputs(usage_main, stdout); return EXIT_OK;
		default: return usage_error(usage_main, NULL);
		}
	}
	if (config_path == NULL || *config_path == '\0')
		config_path = DEFAULT_CONFIG;
	log_init("efosctl", LOG_LVL_WARN);
	struct passwd *pw = getpwuid(getuid());
	snprintf(actor, sizeof actor, "efosctl:%s", pw ? pw->pw_name : "unknown");

	if (optind >= argc)
		return usage_error(usage_main, "a command is needed");
	const char *group = argv[optind];
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		const struct command *cmd = &commands[i];
		if (strcmp(cmd->group, group) != 0)
			continue;
		if (cmd->name == NULL)
			return cmd->fn(argc - optind, argv + optind);
		if (optind + 1 >= argc)
			break;
		if (!strcmp(argv[optind + 1], "--help") || !strcmp(argv[optind + 1], "-h"))
			break;
		if (strcmp(cmd->name, argv[optind + 1]) == 0)
			return cmd->fn(argc - optind - 1, argv + optind + 1);
	}
	/* Unknown command, or a group without (or with an unknown) subcommand. */
	bool known_group = false;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		known_group |= strcmp(commands[i].group, group) == 0;
	if (!known_group)
		return usage_error(usage_main, "unknown command: %s", group);
	if (optind + 1 < argc && (!strcmp(argv[optind + 1], "--help") || !strcmp(argv[optind + 1], "-h"))) {
		fputs(usage_main, stdout);
		return EXIT_OK;
	}
	return usage_error(usage_main, optind + 1 < argc ? "unknown subcommand: %s" : "%s needs a subcommand",
			   optind + 1 < argc ? argv[optind + 1] : group);
}
