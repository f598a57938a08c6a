/* efosd: the EFOS daemon. Reads the configuration, opens the HSM and the database, checks the
 * schema, serves HTTPS until SIGTERM/SIGINT, then stops gracefully. SIGHUP refreshes the SP
 * metadata (local files and federation feeds) now instead of at the next idp.metadata_refresh.
 *
 *   efosd [-c FILE] [--check-config] [--version] [--help]
 *
 * Exit status: 0 stopped normally (or configuration OK), 1 configuration or start-up error.
 * Secrets (HSM PIN, database password) come from files or environment variables named in the
 * configuration, never from the command line, and are wiped right after use. If the database
 * or the HSM is unreachable at start, efosd refuses to start; once running, outages turn
 * /healthz and the affected requests into 503 and heal by themselves. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/health.h"
#include "core/http.h"
#include "core/log.h"
#include "hsm/hsm.h"
#include "certs/admin_api.h"
#include "certs/ca_routes.h"
#include "certs/crl_ocsp_http.h"
#include "certs/service.h"
#include "certs/validate.h"
#include "certs/card_api.h"
#include "certs/enroll.h"
#include "idp/metadata_routes.h"
#include "idp/metadata_store.h"
#include "signer/fedsign.h"
#include "signer/seal_api.h"
#include "signer/sigval_api.h"
#include "idp/sso.h"

#define DEFAULT_CONFIG "/etc/efos/efos.conf"
#ifndef EFOS_VERSION
#define EFOS_VERSION "0.1.0"
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1 };

static const char usage[] =
	"usage: efosd [-c FILE] [--check-config]\n"
	"\n"
	"  -c, --config FILE   configuration file (default: " DEFAULT_CONFIG ")\n"
	"  --check-config      read and validate the configuration, then exit (0: valid)\n"
	"  --version           print the version\n"
	"  -h, --help          this text\n"
	"\n"
	"Secrets (hsm.pin_file / hsm.pin_env, db.password_file / db.password_env) are named in the\n"
	"configuration file, never given on the command line.\n"
	"Signals: SIGTERM or SIGINT stop the server gracefully; SIGHUP refreshes the SP metadata\n"
	"(idp.sp_metadata_files, idp.federation_feeds) now.\n"
	"Exit status: 0 normal stop, 1 configuration or start-up error.\n";

/* The running node: everything start-up opened, closed in reverse order by node_close. */
struct node {
	struct efos_config cfg;
	bool cfg_loaded;
	struct efos_ctx ctx;
	struct hsm_key *tls_key;
	struct http_server *http;
	struct health *health;
	struct enroll_sweeper *enroll_sweeper;   /* abandons unconfirmed card enrollments (ca role) */
};

/* ---------------------------------------------------------------------------------------------
 * The routes efosd serves. Each role adds its table here (idp/, signer/, certs/ export
 * `const struct http_route X_routes[]` and `X_n_routes`); a role's routes are added only when
 * node.roles enables it. Routes are matched in the order added. */
static int add_routes(struct node *n, efos_err *e)
{
	if (http_server_add_routes(n->http, health_routes, health_n_routes, e) != 0)
		return -1;
	if (config_has_role(&n->cfg, "admin") && http_server_add_routes(n->http, admin_routes, admin_n_routes, e) != 0)
		return -1;
	if (config_has_role(&n->cfg, "ca") && http_server_add_routes(n->http, certs_ca_routes, certs_ca_n_routes, e) != 0)
		return -1;
	if (config_has_role(&n->cfg, "ca") && http_server_add_routes(n->http, certs_crl_ocsp_routes, certs_crl_ocsp_n_routes, e) != 0)
		return -1;
	if ((config_has_role(&n->cfg, "ca") || config_has_role(&n->cfg, "idp")) && http_server_add_routes(n->http, certs_validate_routes, certs_validate_n_routes, e) != 0)
		return -1;   /* POST /api/v1/validate/certificate, GET /idp/card/whoami (certs/validate.h) */
	if (config_has_role(&n->cfg, "ca") && http_server_add_routes(n->http, certs_card_routes, certs_card_n_routes, e) != 0)
		return -1;
	if ((config_has_role(&n->cfg, "idp") || config_has_role(&n->cfg, "metadata")) &&
	    http_server_add_routes(n->http, idp_metadata_routes, idp_metadata_n_routes, e) != 0)
		return -1;   /* GET /metadata/idp.xml (idp/metadata_routes.h) */
	if (config_has_role(&n->cfg, "idp") && http_server_add_routes(n->http, idp_sso_routes, idp_sso_n_routes, e) != 0)
		return -1;   /* the login flow: /idp/sso/..., /idp/login/... (idp/sso.h) */
	if (config_has_role(&n->cfg, "signer") && http_server_add_routes(n->http, signer_seal_routes, signer_seal_n_routes, e) != 0)
		return -1;   /* POST /api/v1/sign, POST /tsa (signer/seal_api.h) */
	if (config_has_role(&n->cfg, "signer") && http_server_add_routes(n->http, signer_sigval_routes, signer_sigval_n_routes, e) != 0)
		return -1;   /* POST /api/v1/validate/signature (signer/sigval_api.h) */
	if (config_has_role(&n->cfg, "signer") && http_server_add_routes(n->http, signer_fedsign_routes, signer_fedsign_n_routes, e) != 0)
		return -1;   /* /sign/request, /sign/acs, /metadata/sigservice.xml (signer/fedsign.h) */
	/* Later issues:
	 * if (config_has_role(&n->cfg, "idp") && http_server_add_routes(n->http, idp_routes, idp_n_routes, e) != 0)
	 *         return -1;
	 * signer: signer_routes; ca: certs_routes (CRL, OCSP, enrollment); admin: admin_routes;
	 * metadata: metadata_routes. */
	return 0;
}

static int open_hsm(struct node *n, efos_err *e)
{
	const struct efos_config *c = &n->cfg;
	char *pin = NULL;
	if (config_read_secret(c->hsm_pin_file, c->hsm_pin_env, false, &pin, e) != 0)
		return efos_wrap(e, "HSM PIN");
	int rc = hsm_open(c->hsm_module, c->hsm_token, pin, c->hsm_sessions, &n->ctx.hsm, e);
	efos_free_secret(pin);
	if (rc != 0)
		return efos_wrap(e, "cannot open the HSM (%s, %s)", c->hsm_module, c->hsm_token);
	if (hsm_key_find(n->ctx.hsm, c->hsm_probe_key, &n->ctx.probe_key, e) != 0)
		return efos_wrap(e, "hsm.probe_key %s", c->hsm_probe_key);
	if (hsm_probe(n->ctx.hsm, n->ctx.probe_key, e) != 0)
		return efos_wrap(e, "the HSM test signature failed");
	if (c->tls_key != NULL && strncmp(c->tls_key, "pkcs11:", 7) == 0 &&
	    hsm_key_find(n->ctx.hsm, c->tls_key, &n->tls_key, e) != 0)
		return efos_wrap(e, "tls.key %s", c->tls_key);
	return 0;
}

static int open_db(struct node *n, efos_err *e)
{
	const struct efos_config *c = &n->cfg;
	char *password = NULL;
	PGconn *conn = NULL;
	if (config_read_secret(c->db_password_file, c->db_password_env, true, &password, e) != 0)
		return efos_wrap(e, "database password");
	int rc = db_pool_create(c->db_conninfo, password, c->db_pool_size, c->db_connect_timeout_s,
			       &n->ctx.db, e);
	efos_free_secret(password);
	if (rc != 0)
		return efos_wrap(e, "cannot connect to the database");
	db_pool_cache_statements(n->ctx.db, c->db_statement_cache);
	if (db_acquire(n->ctx.db, &conn, e) != 0)
		return efos_wrap(e, "cannot connect to the database");
	rc = db_schema_check(conn, c->db_migrations_dir, e);
	db_release(n->ctx.db, conn, false);
	if (rc != 0)
		return efos_wrap(e, "database schema (run `efosctl db migrate`)");
	return 0;
}

static void log_listening(const struct node *n)
{
	const struct efos_config *c = &n->cfg;
	char kv[1024], url[256], murl[256];
	json_escape(url, sizeof url, c->http_public_url ? c->http_public_url : "");
	int len = snprintf(kv, sizeof kv, "\"event\":\"listening\",\"port\":%d,\"public_url\":\"%s\"",
			   http_server_port(n->http, false), url);
	if (c->http_mtls_port != 0 && len > 0 && (size_t)len < sizeof kv) {
		json_escape(murl, sizeof murl, c->http_mtls_public_url ? c->http_mtls_public_url : "");
		snprintf(kv + len, sizeof kv - (size_t)len, ",\"mtls_port\":%d,\"mtls_public_url\":\"%s\"",
			 http_server_port(n->http, true), murl);
	}
	if (c->http_mtls_port != 0)
		log_write(LOG_LVL_INFO, kv, "listening on %s (%s:%d) and, with client certificates, %s (%s:%d)",
			  c->http_public_url ? c->http_public_url : "", c->http_listen_addr ? c->http_listen_addr : "*",
			  http_server_port(n->http, false), c->http_mtls_public_url ? c->http_mtls_public_url : "",
			  c->http_mtls_addr ? c->http_mtls_addr : "*", http_server_port(n->http, true));
	else
		log_write(LOG_LVL_INFO, kv, "listening on %s (%s:%d)", c->http_public_url ? c->http_public_url : "",
			  c->http_listen_addr ? c->http_listen_addr : "*", http_server_port(n->http, false));
}

static void node_close(struct node *n)
{
	if (n->http != NULL)
		http_server_destroy(n->http);   /* stops first: no request uses what follows */
	health_stop(n->health);
	enroll_sweeper_stop(n->enroll_sweeper);
	idp_sso_service_stop();             /* the login flow's keys and pages */
	idp_metadata_service_stop();        /* IdP metadata publisher, SP metadata store */
	signer_fedsign_service_stop();      /* federated signing keys: before the HSM closes */
	signer_seal_service_stop();         /* seal keys and TSA key: before the HSM closes */
	certs_service_stop(n->ctx.certs);   /* before the HSM and the database it uses */
	if (n->tls_key != NULL)
		hsm_key_free(n->tls_key);
	if (n->ctx.probe_key != NULL)
		hsm_key_free(n->ctx.probe_key);
	if (n->ctx.hsm != NULL)
		hsm_close(n->ctx.hsm);
	if (n->ctx.db != NULL)
		db_pool_destroy(n->ctx.db);
	if (n->cfg_loaded)
		config_free(&n->cfg);
}

/* SIGTERM/SIGINT/SIGHUP are blocked in every thread (the mask is inherited) and taken here by
 * sigwait, so no handler runs in the middle of a request. SIGHUP wakes the SP metadata refresh
 * thread (the round runs there, the logins go on) and waiting goes on. */
static int wait_for_stop_signal(const sigset_t *set)
{
	int sig = 0;
	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			return sig;
		struct idp_md_store *st = idp_metadata_sp_store();
		if (st != NULL) {
			log_write(LOG_LVL_INFO, "\"event\":\"sp_metadata.refresh_requested\"",
				  "received SIGHUP: refreshing the SP metadata now");
			idp_md_store_wake(st);
		} else {
			log_info("received SIGHUP: this node keeps no SP metadata (roles idp, signer); nothing to do");
		}
	}
}

int main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	bool check_only = false;
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'C': check_only = true; break;
		case 'V': printf("efosd %s\n", EFOS_VERSION); return EXIT_OK;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: fputs(usage, stderr); return EXIT_FAIL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "efosd: unexpected argument '%s'\n%s", argv[optind], usage);
		return EXIT_FAIL;
	}

	struct node n = { 0 };
	efos_err e = { 0 };
	int status = EXIT_FAIL;

	if (config_load(path, &n.cfg, &e) != 0) {
		fprintf(stderr, "%s\n", e.msg);
		return EXIT_FAIL;
	}
	n.cfg_loaded = true;
	n.ctx.cfg = &n.cfg;
	if (check_only) {
		printf("%s: OK\n", path);
		config_free(&n.cfg);
		return EXIT_OK;
	}

	enum log_level lvl = LOG_LVL_INFO;
	if (n.cfg.log_level != NULL && log_level_parse(n.cfg.log_level, &lvl) != 0)
		lvl = LOG_LVL_INFO;   /* config_load validated it */
	log_init(n.cfg.node_name, lvl);
	if (n.cfg.log_file != NULL && n.cfg.log_file[0] != '\0' && log_open_file(n.cfg.log_file) != 0) {
		fprintf(stderr, "efosd: log.file %s: cannot open for appending\n", n.cfg.log_file);
		goto out;
	}

	/* Before any thread exists: signals are for sigwait only; broken pipes are errors. */
	sigset_t stopset;
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGINT);
	sigaddset(&stopset, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stopset, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_info("efosd %s starting with %s", EFOS_VERSION, path);
	if (open_hsm(&n, &e) != 0 || open_db(&n, &e) != 0 ||
	    (config_has_role(&n.cfg, "ca") && certs_service_start(&n.ctx, &n.ctx.certs, &e) != 0) ||
	    (config_has_role(&n.cfg, "ca") && enroll_sweeper_start(&n.ctx, &n.enroll_sweeper, &e) != 0) ||
	    idp_metadata_service_start(&n.ctx, &e) != 0 || idp_sso_service_start(&n.ctx, &e) != 0 ||
	    (config_has_role(&n.cfg, "signer") && signer_seal_service_start(&n.ctx, &e) != 0) ||
	    (config_has_role(&n.cfg, "signer") && signer_fedsign_service_start(&n.ctx, &e) != 0)) {
		log_error("refusing to start: %s", e.msg);
		goto out;
	}
	struct http_server_opts o = { .cfg = &n.cfg, .ctx = &n.ctx, .tls_hsm_key = n.tls_key };
	if (http_server_create(&o, &n.http, &e) != 0 || add_routes(&n, &e) != 0 ||
	    health_start(&n.ctx, &n.health, &e) != 0 || http_server_start(n.http, &e) != 0) {
		log_error("refusing to start: %s", e.msg);
		goto out;
	}
	log_listening(&n);

	int sig = wait_for_stop_signal(&stopset);
	log_info("received %s: stopping (finishing requests in flight)", sig == SIGINT ? "SIGINT" : "SIGTERM");
	http_server_stop(n.http);
	status = EXIT_OK;
out:
	node_close(&n);
	if (status == EXIT_OK)
		log_info("stopped");
	return status;
}
