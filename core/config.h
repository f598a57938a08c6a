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
	int db_statement_cache;     /* db.statement_cache */
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

	/* idp (issue 4): metadata we publish (idp/metadata_publish.h) */
	char *idp_entity_id;        /* idp.entity_id, default http.public_url */
	char *idp_metadata_key;     /* idp.metadata_key: pkcs11: URI of the metadata signing key */
	char *idp_metadata_cert;    /* idp.metadata_cert: its certificate (PEM) */
	char *idp_signing_cert;     /* idp.signing_cert: KeyDescriptor use="signing" (PEM) */
	char *idp_signing_cert_next; /* idp.signing_cert_next: the next signing key during a rollover */
	char *idp_encryption_cert;  /* idp.encryption_cert: KeyDescriptor use="encryption" (PEM) */
	bool idp_want_authn_requests_signed; /* idp.want_authn_requests_signed */
	int idp_metadata_validity_s; /* idp.metadata_validity: validUntil = signing time + this */
	int idp_metadata_cache_duration_s; /* idp.metadata_cache_duration: cacheDuration, max-age */
	int idp_metadata_resign_s;  /* idp.metadata_resign: re-signed at least this often */
	int idp_metadata_org_poll_s; /* idp.metadata_org_poll: organisations (shibmd:Scope) polled */
	char *idp_display_name_sv;  /* idp.display_name_sv (mdui:DisplayName) */
	char *idp_display_name_en;  /* idp.display_name_en */
	char *idp_description_sv;   /* idp.description_sv (mdui:Description) */
	char *idp_description_en;   /* idp.description_en */
	char *idp_logo_url;         /* idp.logo_url (mdui:Logo) */
	int idp_logo_width;         /* idp.logo_width */
	int idp_logo_height;        /* idp.logo_height */
	char *idp_org_name;         /* idp.organization_name (md:OrganizationName, sv and en) */
	char *idp_org_display_name_sv; /* idp.organization_display_name_sv */
	char *idp_org_display_name_en; /* idp.organization_display_name_en */
	char *idp_org_url;          /* idp.organization_url, default http.public_url */
	char *idp_org_number;       /* idp.organization_number: 10 digits (mdorgext:OrganizationNumber) */
	char *idp_contact_technical; /* idp.contact_technical: e-mail address */
	char *idp_contact_support;  /* idp.contact_support: e-mail address */
	char *idp_principal_selection[EFOS_CFG_MAX_LIST]; /* idp.principal_selection: attribute names */
	size_t n_idp_principal_selection;

	/* idp (issue 4): SP metadata we consume (idp/metadata_store.h) */
	char *idp_sp_metadata_files[EFOS_CFG_MAX_LIST]; /* idp.sp_metadata_files */
	size_t n_idp_sp_metadata_files;
	char *idp_federation_feeds[EFOS_CFG_MAX_LIST];  /* idp.federation_feeds: URLs */
	size_t n_idp_federation_feeds;
	char *idp_federation_certs[EFOS_CFG_MAX_LIST];  /* idp.federation_certs: PEM files */
	size_t n_idp_federation_certs;
	int idp_metadata_refresh_s; /* idp.metadata_refresh */
	char *idp_metadata_cache_dir; /* idp.metadata_cache_dir, default node.state_dir/sp-metadata */
	long idp_metadata_max_bytes; /* idp.metadata_max_bytes */
	int idp_metadata_fetch_timeout_s; /* idp.metadata_fetch_timeout */

	/* idp (issue 4): AuthnRequest intake (idp/authn_request.h) */
	int idp_clock_skew_s;       /* idp.clock_skew */
	int idp_max_request_age_s;  /* idp.max_request_age */
	bool idp_require_signed_requests; /* idp.require_signed_requests */
	char *idp_encryption_key;   /* idp.encryption_key: pkcs11: URI (decrypts encrypted SignMessages) */
	char *idp_encryption_key_previous; /* idp.encryption_key_previous: during a rollover */

	/* idp (issue 4): responses (idp/response.h) */
	char *idp_signing_key;      /* idp.signing_key: pkcs11: URI of the key of idp.signing_cert */
	int idp_assertion_lifetime_s; /* idp.assertion_lifetime: NotOnOrAfter = now + this (and the SAD's exp) */
	char *idp_nameid_secret_file; /* idp.nameid_secret_file: HMAC key of persistent NameIDs */
	char *idp_nameid_secret_env;  /* idp.nameid_secret_env */

	/* idp (issue 4): the login flow, sessions and pages (idp/sso_flow.c, docs/idp.md) */
	int idp_sso_max_age_s;      /* idp.sso_max_age: SSO reuse at most this long after the card (<= 60 min) */
	int idp_login_tx_lifetime_s; /* idp.login_tx_lifetime: a login in progress expires after this */
	char *idp_web_dir;          /* idp.web_dir: page templates (idp/) and static files; auto: beside the program */
	char *idp_cookie_domain;    /* idp.cookie_domain: Domain of the SSO cookie when the two listeners' hosts differ */

	/* signer (issue 5): seal API and timestamp authority (signer/seal_api.c, signer/tsa.c) */
	char *signer_tsa_key;       /* signer.tsa_key: pkcs11: URI of the TSA's signing key */
	char *signer_tsa_cert;      /* signer.tsa_cert: PEM, the TSA certificate then its chain */
	char *signer_tsa_policy;    /* signer.tsa_policy: TSA policy OID of every token */
	int signer_tsa_accuracy_ms; /* signer.tsa_accuracy: accuracy of genTime, milliseconds */
	int signer_key_rsa_bits;    /* signer.key_rsa_bits: per-request RSA signing key size */

	/* signer (issue 5): federated signing service (signer/fedsign_*.c, docs/signing-service.md) */
	char *signer_entity_id;     /* signer.entity_id: the sigservice's SAML entityID, default public_url/sign */
	char *signer_signing_key;   /* signer.signing_key: pkcs11: URI (metadata, AuthnRequests, SignResponses) */
	char *signer_signing_cert;  /* signer.signing_cert: its certificate (PEM) */
	char *signer_encryption_key; /* signer.encryption_key: pkcs11: URI, RSA: assertions are encrypted to it */
	char *signer_encryption_cert; /* signer.encryption_cert: its certificate (PEM) */
	char *signer_idp_metadata_files[EFOS_CFG_MAX_LIST]; /* signer.idp_metadata_files: trusted IdPs */
	size_t n_signer_idp_metadata_files;
	int signer_max_request_age_s; /* signer.max_request_age: RequestTime at most this old */
	int signer_clock_skew_s;    /* signer.clock_skew */
	int signer_tx_lifetime_s;   /* signer.tx_lifetime: the user has this long to log in */
	char *signer_sad;           /* signer.sad: when-required | always | never */
	int signer_metadata_validity_s; /* signer.metadata_validity: validUntil of /metadata/sigservice.xml */
	int signer_metadata_cache_duration_s; /* signer.metadata_cache_duration */
	char *signer_display_name_sv; /* signer.display_name_sv (mdui:DisplayName) */
	char *signer_display_name_en; /* signer.display_name_en */

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
