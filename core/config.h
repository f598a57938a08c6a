/* The one configuration file of efosd/efosctl: `key = value` lines, `#` comments.
 * Every key is described by a row in the table in config.c and documented in
 * docs/configuration.md. Errors read `FILE:LINE: key: what is wrong`. */
#ifndef EFOS_CORE_CONFIG_H
#define EFOS_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "core/err.h"

#define EFOS_CFG_MAX_LIST 16

struct efos_config {
	char *path;                 /* the file it was read from */

	/* node */
	char *node_name;            /* node.name, default: hostname */
	char *roles[EFOS_CFG_MAX_LIST]; /* node.roles: idp signer ca admin metadata */
	size_t n_roles;
	char *state_dir;            /* node.state_dir: files the node writes (cached metadata...) */

	/* http */
	char *http_listen_addr;     /* http.listen = 127.0.0.1:8443 (public TLS listener) */
	int http_listen_port;
	char *http_mtls_addr;       /* http.mtls_listen = 127.0.0.1:8444 (client certificates requested) */
	int http_mtls_port;         /* 0 = no mTLS listener */
	char *http_public_url;      /* http.public_url = https://idp.example.se */
	char *http_mtls_public_url; /* http.mtls_public_url */
	int http_threads;           /* http.threads */
	int http_max_connections;   /* http.max_connections (beyond: 503) */
	long http_max_body_bytes;   /* http.max_body_bytes (beyond: 413) */
	long http_max_header_bytes; /* http.max_header_bytes (beyond: 431) */
	int http_request_timeout_s; /* http.request_timeout */

	/* tls */
	char *tls_cert;             /* tls.cert: PEM, server certificate then chain */
	char *tls_key;              /* tls.key: PEM file path or a pkcs11: URI of a key in the HSM */
	char *tls_client_ca;        /* tls.client_ca: PEM trust anchors for client certificates */

	/* trusted reverse proxy */
	char *proxy_trusted[EFOS_CFG_MAX_LIST]; /* proxy.trusted_addresses: IPs whose header we believe */
	size_t n_proxy_trusted;
	char *proxy_cert_header;    /* proxy.client_cert_header: e.g. X-SSL-Client-Cert (URL-encoded PEM) */

	/* database */
	char *db_conninfo;          /* db.conninfo: libpq conninfo without the password */
	char *db_password_file;     /* db.password_file */
	char *db_password_env;      /* db.password_env */
	int db_pool_size;           /* db.pool_size */
	int db_connect_timeout_s;   /* db.connect_timeout */
	char *db_migrations_dir;    /* db.migrations_dir, default: PREFIX/db */
	char *db_admin_conninfo;    /* db.admin_conninfo: schema owner, used only by `efosctl db migrate` */
	char *db_admin_password_file; /* db.admin_password_file */
	char *db_admin_password_env;  /* db.admin_password_env */

	/* hsm */
	char *hsm_module;           /* hsm.module: path to the PKCS#11 module */
	char *hsm_token;            /* hsm.token: PKCS#11 URI naming the token */
	char *hsm_pin_file;         /* hsm.pin_file */
	char *hsm_pin_env;          /* hsm.pin_env */
	int hsm_sessions;           /* hsm.sessions: session pool size */
	char *hsm_probe_key;        /* hsm.probe_key: PKCS#11 URI of the key used by the health probe */
	int hsm_probe_interval_s;   /* hsm.probe_interval */

	/* ca (issue 3): certificate authority, CRL, OCSP, enrollment */
	char *ca_profiles_file;     /* ca.profiles_file: certificate profiles (docs/certificate-profiles.md) */
	char *ca_base_url;          /* ca.base_url: base of AIA/CDP URLs in certificates (default http.public_url) */
	int ca_crl_validity_s;      /* ca.crl_validity: nextUpdate - thisUpdate */
	int ca_crl_reissue_before_s; /* ca.crl_reissue_before: reissue this long before nextUpdate */
	int ca_ocsp_validity_s;     /* ca.ocsp_validity: nextUpdate of OCSP answers */
	int ca_ocsp_reuse_window_s; /* ca.ocsp_reuse_window: reuse a signed answer for nonce-less requests */
	int ca_enroll_pending_timeout_s; /* ca.enroll_pending_timeout: unconfirmed cards are revoked after */
	int ca_proofing_validity_days; /* ca.proofing_validity_days: how long an identity proofing counts */

	/* validation (issue 3) */
	char *validate_trust_anchors; /* validate.trust_anchors: PEM file of extra (non-EFOS) trust anchors */
	int validate_fetch_timeout_s; /* validate.fetch_timeout: OCSP/CRL fetches for other CAs */

	/* log */
	char *log_level;            /* log.level */
	char *log_file;             /* log.file: empty = stderr */
};

/* Reads and validates the file; on error returns -1 with e->msg "FILE:LINE: key: ...". */
int config_load(const char *path, struct efos_config *cfg, efos_err *e);
void config_free(struct efos_config *cfg);
bool config_has_role(const struct efos_config *cfg, const char *role);

/* Reads a secret named by a `*_file` or `*_env` pair: exactly one must be set (or neither if
 * optional). Trailing newline stripped. The caller wipes it with efos_free_secret(). */
int config_read_secret(const char *file, const char *env, bool optional, char **out, efos_err *e);

/* Added: the name of the i-th known key (NULL past the end), for docs checks and tooling. */
const char *config_key_at(size_t i);
/* Added: prints the effective configuration as `key = value` lines (secrets are only named). */
void config_print(const struct efos_config *cfg, FILE *fp);

#endif
