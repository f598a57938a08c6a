/* The configuration file: `key = value` lines, `#` comments, optional quotes.
 *
 * Every key is one row of config_keys[] below: its name, its type (which says how the value is
 * parsed and checked), where it lands in struct efos_config, its default and whether it is
 * required. A later issue adds a key by adding a field to struct efos_config, a row here and a
 * paragraph in docs/configuration.md (tests/unit/test_config.c checks that every row is
 * documented).
 *
 * Every error stops loading and reads `FILE:LINE: key: what is wrong`. A required key that is
 * not set has no line: it is reported as `FILE:0: key: required but not set`. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/config.h"
#include "core/log.h"

#define CFG_LINE_MAX 4096
#define CFG_FILE_MAX (1024 * 1024)
#define SECRET_MAX 4096

enum cfg_type {
	CT_STRING,   /* any non-empty text */
	CT_NAME,     /* a token: letters, digits, . _ - (node names, header names) */
	CT_ENVNAME,  /* an environment variable name */
	CT_INT,      /* integer in [min, max] */
	CT_SIZE,     /* byte count in [min, max]; suffixes k, K, KiB, M, MiB, G, GiB */
	CT_DURATION, /* seconds in [min, max] (an int field); suffixes s, m, h, d */
	CT_BOOL,     /* true/false, yes/no, on/off, 1/0 */
	CT_ENUM,     /* one word of `values` */
	CT_LIST,     /* words separated by spaces or commas; each checked against `values` if set */
	CT_IPLIST,   /* list of IPv4/IPv6 addresses */
	CT_ADDR,     /* host:port or [v6]:port; the port lands at off2 */
	CT_URL,      /* https://host[:port][/path], no trailing slash kept */
	CT_FILE,     /* path of an existing regular file (relative: to the config file's directory) */
	CT_DIR,      /* path of an existing directory */
	CT_SECRETFILE, /* like CT_FILE, and not readable by every user */
	CT_NEWFILE,  /* a file that may not exist yet; its directory must */
	CT_FILE_OR_URI, /* a pkcs11: URI, or an existing file */
	CT_PKCS11,   /* a pkcs11: URI */
	CT_CONNINFO, /* libpq conninfo without a password */
};

#define CF_REQUIRED 1u

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t off;          /* field in struct efos_config */
	size_t off2;         /* CT_ADDR: the int port; CT_LIST/CT_IPLIST: the size_t count */
	long min, max;       /* CT_INT, CT_SIZE */
	const char *values;  /* CT_ENUM, CT_LIST: allowed words, space separated */
	const char *def;     /* default, parsed like a value from the file; NULL: none */
	unsigned flags;
};

#define F(field) offsetof(struct efos_config, field)
#define ROLES "idp signer ca admin metadata"

/* Defaults that depend on the machine ("auto") are filled in by apply_auto_defaults(). */
static const struct cfg_key config_keys[] = {
	{ "node.name", CT_NAME, F(node_name), 0, 0, 0, NULL, "auto", 0 },
	{ "node.roles", CT_LIST, F(roles), F(n_roles), 0, 0, ROLES, ROLES, 0 },
	{ "node.state_dir", CT_DIR, F(state_dir), 0, 0, 0, NULL, NULL, 0 },

	{ "http.listen", CT_ADDR, F(http_listen_addr), F(http_listen_port), 0, 0, NULL, NULL, CF_REQUIRED },
	{ "http.mtls_listen", CT_ADDR, F(http_mtls_addr), F(http_mtls_port), 0, 0, NULL, NULL, 0 },
	{ "http.public_url", CT_URL, F(http_public_url), 0, 0, 0, NULL, "auto", 0 },
	{ "http.mtls_public_url", CT_URL, F(http_mtls_public_url), 0, 0, 0, NULL, "auto", 0 },
	{ "http.threads", CT_INT, F(http_threads), 0, 1, 1024, NULL, "auto", 0 },
	{ "http.max_connections", CT_INT, F(http_max_connections), 0, 1, 1000000, NULL, "1024", 0 },
	{ "http.max_body_bytes", CT_SIZE, F(http_max_body_bytes), 0, 1024, 1L << 30, NULL, "4MiB", 0 },
	{ "http.max_header_bytes", CT_SIZE, F(http_max_header_bytes), 0, 1024, 1L << 20, NULL, "16KiB", 0 },
	{ "http.request_timeout", CT_INT, F(http_request_timeout_s), 0, 1, 3600, NULL, "30", 0 },

	{ "tls.cert", CT_FILE, F(tls_cert), 0, 0, 0, NULL, NULL, CF_REQUIRED },
	{ "tls.key", CT_FILE_OR_URI, F(tls_key), 0, 0, 0, NULL, NULL, CF_REQUIRED },
	{ "tls.client_ca", CT_FILE, F(tls_client_ca), 0, 0, 0, NULL, NULL, 0 },

	{ "proxy.trusted_addresses", CT_IPLIST, F(proxy_trusted), F(n_proxy_trusted), 0, 0, NULL, NULL, 0 },
	{ "proxy.client_cert_header", CT_NAME, F(proxy_cert_header), 0, 0, 0, NULL, NULL, 0 },

	{ "db.conninfo", CT_CONNINFO, F(db_conninfo), 0, 0, 0, NULL, NULL, CF_REQUIRED },
	{ "db.password_file", CT_SECRETFILE, F(db_password_file), 0, 0, 0, NULL, NULL, 0 },
	{ "db.password_env", CT_ENVNAME, F(db_password_env), 0, 0, 0, NULL, NULL, 0 },
	{ "db.pool_size", CT_INT, F(db_pool_size), 0, 1, 1000, NULL, "8", 0 },
	{ "db.statement_cache", CT_INT, F(db_statement_cache), 0, 0, 1024, NULL, "128", 0 },
	{ "db.connect_timeout", CT_INT, F(db_connect_timeout_s), 0, 1, 300, NULL, "5", 0 },
	{ "db.migrations_dir", CT_DIR, F(db_migrations_dir), 0, 0, 0, NULL, "auto", 0 },
	{ "db.admin_conninfo", CT_CONNINFO, F(db_admin_conninfo), 0, 0, 0, NULL, NULL, 0 },
	{ "db.admin_password_file", CT_SECRETFILE, F(db_admin_password_file), 0, 0, 0, NULL, NULL, 0 },
	{ "db.admin_password_env", CT_ENVNAME, F(db_admin_password_env), 0, 0, 0, NULL, NULL, 0 },

	{ "hsm.module", CT_FILE, F(hsm_module), 0, 0, 0, NULL, NULL, CF_REQUIRED },
	{ "hsm.token", CT_PKCS11, F(hsm_token), 0, 0, 0, NULL, NULL, CF_REQUIRED },
	{ "hsm.pin_file", CT_SECRETFILE, F(hsm_pin_file), 0, 0, 0, NULL, NULL, 0 },
	{ "hsm.pin_env", CT_ENVNAME, F(hsm_pin_env), 0, 0, 0, NULL, NULL, 0 },
	{ "hsm.sessions", CT_INT, F(hsm_sessions), 0, 1, 256, NULL, "8", 0 },
	{ "hsm.probe_key", CT_PKCS11, F(hsm_probe_key), 0, 0, 0, NULL, NULL, CF_REQUIRED },
	{ "hsm.probe_interval", CT_INT, F(hsm_probe_interval_s), 0, 1, 3600, NULL, "2", 0 },

	{ "ca.profiles_file", CT_FILE, F(ca_profiles_file), 0, 0, 0, NULL, NULL, 0 },
	{ "ca.base_url", CT_URL, F(ca_base_url), 0, 0, 0, NULL, "auto", 0 },
	{ "ca.crl_validity", CT_DURATION, F(ca_crl_validity_s), 0, 60, 31 * 86400, NULL, "86400", 0 },
	{ "ca.crl_reissue_before", CT_DURATION, F(ca_crl_reissue_before_s), 0, 10, 30 * 86400, NULL, "3600", 0 },
	{ "ca.ocsp_validity", CT_DURATION, F(ca_ocsp_validity_s), 0, 10, 7 * 86400, NULL, "3600", 0 },
	{ "ca.ocsp_reuse_window", CT_DURATION, F(ca_ocsp_reuse_window_s), 0, 0, 3600, NULL, "60", 0 },
	{ "ca.enroll_pending_timeout", CT_DURATION, F(ca_enroll_pending_timeout_s), 0, 5, 7 * 86400, NULL, "900", 0 },
	{ "ca.proofing_validity_days", CT_INT, F(ca_proofing_validity_days), 0, 1, 3650, NULL, "30", 0 },

	{ "validate.trust_anchors", CT_FILE, F(validate_trust_anchors), 0, 0, 0, NULL, NULL, 0 },
	{ "validate.fetch_timeout", CT_DURATION, F(validate_fetch_timeout_s), 0, 1, 120, NULL, "5", 0 },

	/* idp: metadata we publish (issue 4; idp/metadata_publish.c) */
	{ "idp.entity_id", CT_STRING, F(idp_entity_id), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.metadata_key", CT_PKCS11, F(idp_metadata_key), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.metadata_cert", CT_FILE, F(idp_metadata_cert), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.signing_cert", CT_FILE, F(idp_signing_cert), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.signing_cert_next", CT_FILE, F(idp_signing_cert_next), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.encryption_cert", CT_FILE, F(idp_encryption_cert), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.want_authn_requests_signed", CT_BOOL, F(idp_want_authn_requests_signed), 0, 0, 0, NULL, "true", 0 },
	{ "idp.metadata_validity", CT_DURATION, F(idp_metadata_validity_s), 0, 3600, 365 * 86400, NULL, "7d", 0 },
	{ "idp.metadata_cache_duration", CT_DURATION, F(idp_metadata_cache_duration_s), 0, 60, 7 * 86400, NULL, "1h", 0 },
	{ "idp.metadata_resign", CT_DURATION, F(idp_metadata_resign_s), 0, 60, 180 * 86400, NULL, "1d", 0 },
	{ "idp.metadata_org_poll", CT_DURATION, F(idp_metadata_org_poll_s), 0, 1, 86400, NULL, "60", 0 },
	{ "idp.display_name_sv", CT_STRING, F(idp_display_name_sv), 0, 0, 0, NULL, "EFOS – E-identitet för offentlig sektor", 0 },
	{ "idp.display_name_en", CT_STRING, F(idp_display_name_en), 0, 0, 0, NULL, "EFOS – eID for the Swedish public sector", 0 },
	{ "idp.description_sv", CT_STRING, F(idp_description_sv), 0, 0, 0, NULL, "Inloggning med EFOS-kort för anställda i offentlig sektor", 0 },
	{ "idp.description_en", CT_STRING, F(idp_description_en), 0, 0, 0, NULL, "Login with the EFOS card for public sector employees", 0 },
	{ "idp.logo_url", CT_URL, F(idp_logo_url), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.logo_width", CT_INT, F(idp_logo_width), 0, 1, 10000, NULL, "100", 0 },
	{ "idp.logo_height", CT_INT, F(idp_logo_height), 0, 1, 10000, NULL, "100", 0 },
	{ "idp.organization_name", CT_STRING, F(idp_org_name), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.organization_display_name_sv", CT_STRING, F(idp_org_display_name_sv), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.organization_display_name_en", CT_STRING, F(idp_org_display_name_en), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.organization_url", CT_URL, F(idp_org_url), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.organization_number", CT_STRING, F(idp_org_number), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.contact_technical", CT_STRING, F(idp_contact_technical), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.contact_support", CT_STRING, F(idp_contact_support), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.principal_selection", CT_LIST, F(idp_principal_selection), F(n_idp_principal_selection), 0, 0, NULL,
	  "urn:oid:1.2.752.29.4.13 urn:oid:1.2.752.201.3.1", 0 },

	/* idp: SP metadata we consume (issue 4; idp/metadata_store.c) */
	{ "idp.sp_metadata_files", CT_LIST, F(idp_sp_metadata_files), F(n_idp_sp_metadata_files), 0, 0, NULL, NULL, 0 },
	{ "idp.federation_feeds", CT_LIST, F(idp_federation_feeds), F(n_idp_federation_feeds), 0, 0, NULL, NULL, 0 },
	{ "idp.federation_certs", CT_LIST, F(idp_federation_certs), F(n_idp_federation_certs), 0, 0, NULL, NULL, 0 },
	{ "idp.metadata_refresh", CT_DURATION, F(idp_metadata_refresh_s), 0, 1, 7 * 86400, NULL, "1h", 0 },
	{ "idp.metadata_cache_dir", CT_DIR, F(idp_metadata_cache_dir), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.metadata_max_bytes", CT_SIZE, F(idp_metadata_max_bytes), 0, 64 * 1024, 1L << 30, NULL, "64MiB", 0 },
	{ "idp.metadata_fetch_timeout", CT_DURATION, F(idp_metadata_fetch_timeout_s), 0, 1, 600, NULL, "30", 0 },

	/* idp: AuthnRequest intake (issue 4; idp/authn_request.c) */
	{ "idp.clock_skew", CT_DURATION, F(idp_clock_skew_s), 0, 0, 300, NULL, "60", 0 },
	{ "idp.max_request_age", CT_DURATION, F(idp_max_request_age_s), 0, 10, 3600, NULL, "180", 0 },
	{ "idp.require_signed_requests", CT_BOOL, F(idp_require_signed_requests), 0, 0, 0, NULL, "true", 0 },
	{ "idp.encryption_key", CT_PKCS11, F(idp_encryption_key), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.encryption_key_previous", CT_PKCS11, F(idp_encryption_key_previous), 0, 0, 0, NULL, NULL, 0 },

	/* idp: responses (issue 4; idp/response.c) */
	{ "idp.signing_key", CT_PKCS11, F(idp_signing_key), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.assertion_lifetime", CT_DURATION, F(idp_assertion_lifetime_s), 0, 30, 3600, NULL, "300", 0 },
	{ "idp.nameid_secret_file", CT_SECRETFILE, F(idp_nameid_secret_file), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.nameid_secret_env", CT_ENVNAME, F(idp_nameid_secret_env), 0, 0, 0, NULL, NULL, 0 },

	/* idp: the login flow, sessions and pages (issue 4; idp/sso_flow.c) */
	{ "idp.sso_max_age", CT_DURATION, F(idp_sso_max_age_s), 0, 0, 3600, NULL, "3600", 0 },
	{ "idp.login_tx_lifetime", CT_DURATION, F(idp_login_tx_lifetime_s), 0, 60, 3600, NULL, "600", 0 },
	{ "idp.web_dir", CT_DIR, F(idp_web_dir), 0, 0, 0, NULL, NULL, 0 },
	{ "idp.cookie_domain", CT_NAME, F(idp_cookie_domain), 0, 0, 0, NULL, NULL, 0 },

	/* signer: seal API and timestamp authority (issue 5; signer/seal_api.c, signer/tsa.c) */
	{ "signer.tsa_key", CT_PKCS11, F(signer_tsa_key), 0, 0, 0, NULL, NULL, 0 },
	{ "signer.tsa_cert", CT_FILE, F(signer_tsa_cert), 0, 0, 0, NULL, NULL, 0 },
	{ "signer.tsa_policy", CT_STRING, F(signer_tsa_policy), 0, 0, 0, NULL,
	  "2.25.330880156375854968336860488403852451671", 0 },
	{ "signer.tsa_accuracy", CT_INT, F(signer_tsa_accuracy_ms), 0, 1, 60000, NULL, "1000", 0 },
	{ "signer.key_rsa_bits", CT_INT, F(signer_key_rsa_bits), 0, 2048, 4096, NULL, "2048", 0 },

	/* signer: federated signing service (issue 5; signer/fedsign_*.c) */
	{ "signer.entity_id", CT_STRING, F(signer_entity_id), 0, 0, 0, NULL, "auto", 0 },
	{ "signer.signing_key", CT_PKCS11, F(signer_signing_key), 0, 0, 0, NULL, NULL, 0 },
	{ "signer.signing_cert", CT_FILE, F(signer_signing_cert), 0, 0, 0, NULL, NULL, 0 },
	{ "signer.encryption_key", CT_PKCS11, F(signer_encryption_key), 0, 0, 0, NULL, NULL, 0 },
	{ "signer.encryption_cert", CT_FILE, F(signer_encryption_cert), 0, 0, 0, NULL, NULL, 0 },
	{ "signer.idp_metadata_files", CT_LIST, F(signer_idp_metadata_files), F(n_signer_idp_metadata_files), 0, 0,
	  NULL, NULL, 0 },
	{ "signer.max_request_age", CT_DURATION, F(signer_max_request_age_s), 0, 10, 3600, NULL, "180", 0 },
	{ "signer.clock_skew", CT_DURATION, F(signer_clock_skew_s), 0, 0, 300, NULL, "60", 0 },
	{ "signer.tx_lifetime", CT_DURATION, F(signer_tx_lifetime_s), 0, 60, 3600, NULL, "600", 0 },
	{ "signer.sad", CT_ENUM, F(signer_sad), 0, 0, 0, "when-required always never", "when-required", 0 },
	{ "signer.metadata_validity", CT_DURATION, F(signer_metadata_validity_s), 0, 3600, 365 * 86400, NULL, "7d", 0 },
	{ "signer.metadata_cache_duration", CT_DURATION, F(signer_metadata_cache_duration_s), 0, 60, 7 * 86400, NULL,
	  "1h", 0 },
	{ "signer.display_name_sv", CT_STRING, F(signer_display_name_sv), 0, 0, 0, NULL,
	  "EFOS underskriftstjänst", 0 },
	{ "signer.display_name_en", CT_STRING, F(signer_display_name_en), 0, 0, 0, NULL,
	  "EFOS signing service", 0 },

	{ "log.level", CT_ENUM, F(log_level), 0, 0, 0, "debug info warn error", "info", 0 },
	{ "log.file", CT_NEWFILE, F(log_file), 0, 0, 0, NULL, NULL, 0 },
};
#define N_KEYS (sizeof config_keys / sizeof config_keys[0])

const char *config_key_at(size_t i)
{
	return i < N_KEYS ? config_keys[i].name : NULL;
}

/* Where each key was set (0: not set in the file). */
struct load_state {
	const char *path;
	char *dir;              /* the config file's directory, for relative paths */
	int line_of[N_KEYS];
	efos_err *e;
};

static int cfg_err(struct load_state *st, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int cfg_err(struct load_state *st, int line, const char *key, const char *fmt, ...)
{
	char what[EFOS_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return efos_fail(st->e, EFOS_E_CONFIG, "%s:%d: %s: %s", st->path, line, key, what);
}

/* ---- helpers ---- */

static char **str_field(struct efos_config *c, const struct cfg_key *k)
{
	return (char **)((char *)c + k->off);
}

static int *int_field(struct efos_config *c, size_t off)
{
	return (int *)((char *)c + off);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

static bool word_in(const char *w, size_t wlen, const char *words)
{
	const char *p = words;
	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		if (n == wlen && strncmp(p, w, n) == 0)
			return true;
		p += n;
		while (*p == ' ')
			p++;
	}
	return false;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The known key nearest to name: by edit distance, or the key whose last part equals name's
 * last part ("threads" -> "http.threads"). NULL when nothing is close. */
static const char *nearest_key(const char *name)
{
	const char *best = NULL;
	size_t bestd = (size_t)-1;
	const char *ndot = strrchr(name, '.');
	const char *nlast = ndot ? ndot + 1 : name;
	for (size_t i = 0; i < N_KEYS; i++) {
		size_t d = edit_distance(name, config_keys[i].name);
		const char *kdot = strrchr(config_keys[i].name, '.');
		if (kdot != NULL && strcmp(kdot + 1, nlast) == 0 && d > 1)
			d = 1;
		if (d < bestd) {
			bestd = d;
			best = config_keys[i].name;
		}
	}
	size_t limit = strlen(name) / 3 + 1;
	return bestd <= (limit < 3 ? limit : 3) ? best : NULL;
}

static int parse_long(const char *v, long *out)
{
	if (*v == '\0')
		return -1;
	errno = 0;
	char *end;
	long x = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v)
		return -1;
	*out = x;
	return 0;
}

static int parse_size(const char *v, long *out)
{
	errno = 0;
	char *end;
	if (!isdigit((unsigned char)*v))
		return -1;
	long x = strtol(v, &end, 10);
	if (errno != 0 || end == v)
		return -1;
	long mult = 1;
	if (*end != '\0') {
		if (strcmp(end, "k") == 0 || strcmp(end, "K") == 0 || strcmp(end, "KiB") == 0)
			mult = 1024;
		else if (strcmp(end, "M") == 0 || strcmp(end, "MiB") == 0)
			mult = 1024L * 1024;
		else if (strcmp(end, "G") == 0 || strcmp(end, "GiB") == 0)
			mult = 1024L * 1024 * 1024;
		else
			return -1;
	}
	if (x > LONG_MAX / mult)
		return -1;
	*out = x * mult;
	return 0;
}

static int parse_duration(const char *v, long *out)
{
	errno = 0;
	char *end;
	if (!isdigit((unsigned char)*v))
		return -1;
	long x = strtol(v, &end, 10);
	if (errno != 0 || end == v)
		return -1;
	long mult = 1;
	if (*end != '\0') {
		if (strcmp(end, "s") == 0)
			mult = 1;
		else if (strcmp(end, "m") == 0)
			mult = 60;
		else if (strcmp(end, "h") == 0)
			mult = 3600;
		else if (strcmp(end, "d") == 0)
			mult = 86400;
		else
			return -1;
	}
	if (x > LONG_MAX / mult)
		return -1;
	*out = x * mult;
	return 0;
}

static bool is_name(const char *v)
{
	if (*v == '\0' || strlen(v) > 128)
		return false;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return false;
	return true;
}

static bool is_envname(const char *v)
{
	if (*v == '\0' || isdigit((unsigned char)*v))
		return false;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

/* An IPv4/IPv6 address, optionally with a /prefix (CIDR block), as core/http_proxy.c matches. */
static bool is_ip(const char *v)
{
	unsigned char buf[16];
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(v, '/');
	size_t n = slash ? (size_t)(slash - v) : strlen(v);
	if (n == 0 || n >= sizeof addr)
		return false;
	memcpy(addr, v, n);
	addr[n] = '\0';
	int family = inet_pton(AF_INET, addr, buf) == 1 ? AF_INET
		   : inet_pton(AF_INET6, addr, buf) == 1 ? AF_INET6 : 0;
	if (family == 0)
		return false;
	if (slash == NULL)
		return true;
	char *end;
	long bits = strtol(slash + 1, &end, 10);
	return slash[1] != '\0' && *end == '\0' && bits >= 0 && bits <= (family == AF_INET ? 32 : 128);
}

/* Relative paths are taken relative to the config file's directory. Returns malloc'd. */
static char *resolve_path(struct load_state *st, const char *v)
{
	char *p;
	if (v[0] == '/' || st->dir == NULL)
		return strdup(v);
	if (asprintf(&p, "%s/%s", st->dir, v) < 0)
		return NULL;
	return p;
}

/* Splits a list value into words (space/comma separated). Returns count or -1 when too many. */
static int split_list(char *v, char **words, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *w = strtok_r(v, " \t,", &save); w != NULL; w = strtok_r(NULL, " \t,", &save)) {
		if (n == max)
			return -1;
		words[n++] = w;
	}
	return (int)n;
}

/* Parses host:port or [v6]:port. host is malloc'd into *host. */
static int parse_addr(const char *v, char **host, int *port)
{
	const char *colon;
	size_t hlen;
	const char *h = v;
	if (*v == '[') {
		const char *rb = strchr(v, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		h = v + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL || memchr(v, ':', (size_t)(colon - v)) != NULL)
			return -1;
		hlen = (size_t)(colon - v);
	}
	if (hlen == 0 || hlen > 255)
		return -1;
	long p;
	if (parse_long(colon + 1, &p) < 0 || p < 1 || p > 65535)
		return -1;
	char *hs = strndup(h, hlen);
	if (hs == NULL)
		return -1;
	for (const char *q = hs; *q; q++)
		if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-' && *q != ':' && *q != '_') {
			free(hs);
			return -1;
		}
	if (*v == '[' && !is_ip(hs)) {
		free(hs);
		return -1;
	}
	*host = hs;
	*port = (int)p;
	return 0;
}

static bool is_https_url(const char *v)
{
	if (strncmp(v, "https://", 8) != 0)
		return false;
	const char *host = v + 8;
	if (*host == '\0' || *host == '/' || *host == ':')
		return false;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\'
		    || *p == '?' || *p == '#' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

/* Secrets files must not be readable by every user of the machine. */
static int check_secret_mode(const char *path, const struct stat *sb, char *why, size_t n)
{
	if (!S_ISREG(sb->st_mode)) {
		snprintf(why, n, "%s is not a regular file", path);
		return -1;
	}
	if (sb->st_mode & (S_IROTH | S_IWOTH)) {
		snprintf(why, n, "%s is %s by every user (mode %04o); a secret must not be: "
			 "chmod o-rwx %s", path, (sb->st_mode & S_IROTH) ? "readable" : "writable",
			 (unsigned)(sb->st_mode & 07777), path);
		return -1;
	}
	return 0;
}

/* ---- one value ---- */

static int set_value(struct load_state *st, struct efos_config *c, const struct cfg_key *k,
		     const char *val, int line)
{
	char **sp = str_field(c, k);
	char tmp[CFG_LINE_MAX];
	struct stat sb;

	switch (k->type) {
	case CT_STRING:
		if (*val == '\0')
			return cfg_err(st, line, k->name, "empty value");
		break;
	case CT_NAME:
		if (!is_name(val))
			return cfg_err(st, line, k->name, "expected a name of letters, digits, '.', '_' "
				       "or '-' (at most 128), got \"%s\"", val);
		break;
	case CT_ENVNAME:
		if (!is_envname(val))
			return cfg_err(st, line, k->name, "expected the name of an environment variable "
				       "(letters, digits, '_'), got \"%s\"", val);
		break;
	case CT_INT:
	case CT_SIZE:
	case CT_DURATION: {
		long x;
		int rc = k->type == CT_INT ? parse_long(val, &x)
			 : k->type == CT_SIZE ? parse_size(val, &x) : parse_duration(val, &x);
		if (rc < 0)
			return cfg_err(st, line, k->name, k->type == CT_INT ? "expected an integer, got \"%s\""
				       : k->type == CT_SIZE ? "expected a size in bytes (e.g. 65536, 64KiB, 1MiB), got \"%s\""
				       : "expected a duration (e.g. 30, 30s, 5m, 6h, 1d), got \"%s\"", val);
		if (x < k->min || x > k->max)
			return cfg_err(st, line, k->name, "%ld%s is out of range: expected %ld to %ld%s",
				       x, k->type == CT_DURATION ? " s" : "", k->min, k->max,
				       k->type == CT_DURATION ? " seconds" : "");
		if (k->type != CT_SIZE)
			*int_field(c, k->off) = (int)x;
		else
			*(long *)((char *)c + k->off) = x;
		return 0;
	}
	case CT_BOOL: {
		bool b;
		if (!strcmp(val, "true") || !strcmp(val, "yes") || !strcmp(val, "on") || !strcmp(val, "1"))
			b = true;
		else if (!strcmp(val, "false") || !strcmp(val, "no") || !strcmp(val, "off") || !strcmp(val, "0"))
			b = false;
		else
			return cfg_err(st, line, k->name, "expected true or false, got \"%s\"", val);
		*(bool *)((char *)c + k->off) = b;
		return 0;
	}
	case CT_ENUM:
		if (!word_in(val, strlen(val), k->values))
			return cfg_err(st, line, k->name, "expected one of: %s; got \"%s\"", k->values, val);
		break;
	case CT_LIST:
	case CT_IPLIST: {
		char *words[EFOS_CFG_MAX_LIST];
		snprintf(tmp, sizeof tmp, "%s", val);
		int n = split_list(tmp, words, EFOS_CFG_MAX_LIST);
		if (n < 0)
			return cfg_err(st, line, k->name, "too many items (at most %d)", EFOS_CFG_MAX_LIST);
		for (int i = 0; i < n; i++) {
			if (k->type == CT_IPLIST && !is_ip(words[i]))
				return cfg_err(st, line, k->name, "expected IP addresses or CIDR blocks, got \"%s\"", words[i]);
			if (k->values != NULL && !word_in(words[i], strlen(words[i]), k->values))
				return cfg_err(st, line, k->name, "expected words from: %s; got \"%s\"",
					       k->values, words[i]);
			for (int j = 0; j < i; j++)
				if (strcmp(words[i], words[j]) == 0)
					return cfg_err(st, line, k->name, "\"%s\" is listed twice", words[i]);
		}
		char **arr = (char **)((char *)c + k->off);
		size_t *cnt = (size_t *)((char *)c + k->off2);
		for (size_t i = 0; i < *cnt; i++) {
			free(arr[i]);
			arr[i] = NULL;
		}
		*cnt = 0;
		for (int i = 0; i < n; i++) {
			if ((arr[i] = strdup(words[i])) == NULL)
				return efos_fail(st->e, EFOS_E_INTERNAL, "out of memory");
			*cnt = (size_t)i + 1;
		}
		return 0;
	}
	case CT_ADDR: {
		char *host;
		int port;
		if (parse_addr(val, &host, &port) < 0)
			return cfg_err(st, line, k->name, "expected ADDRESS:PORT (e.g. 127.0.0.1:8443 or "
				       "[::1]:8443), got \"%s\"", val);
		free(*sp);
		*sp = host;
		*int_field(c, k->off2) = port;
		return 0;
	}
	case CT_URL: {
		if (!is_https_url(val))
			return cfg_err(st, line, k->name, "expected an https:// URL without query or "
				       "fragment, got \"%s\"", val);
		free(*sp);
		*sp = strdup(val);
		if (*sp == NULL)
			return efos_fail(st->e, EFOS_E_INTERNAL, "out of memory");
		size_t n = strlen(*sp);
		while (n > 8 && (*sp)[n - 1] == '/')
			(*sp)[--n] = '\0';
		return 0;
	}
	case CT_PKCS11:
		if (strncmp(val, "pkcs11:", 7) != 0)
			return cfg_err(st, line, k->name, "expected a PKCS#11 URI (pkcs11:...), got \"%s\"", val);
		break;
	case CT_FILE_OR_URI:
		if (strncmp(val, "pkcs11:", 7) == 0)
			break;
		/* fall through */
	case CT_FILE:
	case CT_DIR:
	case CT_SECRETFILE:
	case CT_NEWFILE: {
		if (*val == '\0')
			return cfg_err(st, line, k->name, "expected a path, got an empty value");
		char *p = resolve_path(st, val);
		if (p == NULL)
			return efos_fail(st->e, EFOS_E_INTERNAL, "out of memory");
		int rc = 0;
		if (k->type == CT_NEWFILE) {
			char *slash = strrchr(p, '/');
			if (slash != NULL && slash != p) {
				*slash = '\0';
				if (stat(p, &sb) < 0 || !S_ISDIR(sb.st_mode))
					rc = cfg_err(st, line, k->name, "directory %s does not exist", p);
				*slash = '/';
			}
		} else if (stat(p, &sb) < 0) {
			rc = cfg_err(st, line, k->name, "%s: %s", p, strerror(errno));
		} else if (k->type == CT_DIR && !S_ISDIR(sb.st_mode)) {
			rc = cfg_err(st, line, k->name, "%s is not a directory", p);
		} else if (k->type != CT_DIR && !S_ISREG(sb.st_mode)) {
			rc = cfg_err(st, line, k->name, "%s is not a regular file", p);
		} else if (k->type == CT_SECRETFILE) {
			char why[EFOS_ERR_MSG_MAX / 2];
			if (check_secret_mode(p, &sb, why, sizeof why) < 0)
				rc = cfg_err(st, line, k->name, "%s", why);
		}
		if (rc < 0) {
			free(p);
			return rc;
		}
		free(*sp);
		*sp = p;
		return 0;
	}
	case CT_CONNINFO: {
		char *perr = NULL;
		PQconninfoOption *opts = PQconninfoParse(val, &perr);
		if (opts == NULL) {
			char msg[256];
			snprintf(msg, sizeof msg, "%s", perr ? perr : "out of memory");
			PQfreemem(perr);
			return cfg_err(st, line, k->name, "not a valid libpq connection string: %s", trim(msg));
		}
		bool has_pw = false;
		for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
			if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
				has_pw = true;
		PQconninfoFree(opts);
		if (has_pw)
			return cfg_err(st, line, k->name, "contains a password; put it in a file or an "
				       "environment variable (db.password_file / db.password_env) instead");
		break;
	}
	}
	free(*sp);
	*sp = strdup(val);
	if (*sp == NULL)
		return efos_fail(st->e, EFOS_E_INTERNAL, "out of memory");
	return 0;
}

/* ---- the file ---- */

/* Unquotes in place: "..." or '...' around the whole value; otherwise a `#` preceded by
 * whitespace starts a comment. Returns NULL on an unterminated quote. */
static char *unquote(char *v)
{
	if (*v == '"' || *v == '\'') {
		char q = *v;
		char *end = strchr(v + 1, q);
		if (end == NULL)
			return NULL;
		char *rest = trim(end + 1);
		if (*rest != '\0' && *rest != '#')
			return NULL;
		*end = '\0';
		return v + 1;
	}
	for (char *p = v; *p; p++)
		if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	return trim(v);
}

static const struct cfg_key *find_key(const char *name, size_t *idx)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0) {
			*idx = i;
			return &config_keys[i];
		}
	return NULL;
}

static int parse_line(struct load_state *st, struct efos_config *c, char *line, int lineno)
{
	char *s = trim(line);
	if (*s == '\0' || *s == '#')
		return 0;
	char *eq = strchr(s, '=');
	if (eq == NULL) {
		char word[64];
		snprintf(word, sizeof word, "%.*s", (int)strcspn(s, " \t"), s);
		return cfg_err(st, lineno, word, "expected \"key = value\"");
	}
	*eq = '\0';
	char *name = trim(s);
	if (*name == '\0')
		return cfg_err(st, lineno, "(none)", "expected \"key = value\", the key is missing");
	size_t idx;
	const struct cfg_key *k = find_key(name, &idx);
	if (k == NULL) {
		const char *near = nearest_key(name);
		if (near != NULL)
			return cfg_err(st, lineno, name, "unknown key (did you mean %s?)", near);
		return cfg_err(st, lineno, name, "unknown key (see docs/configuration.md)");
	}
	if (st->line_of[idx] != 0)
		return cfg_err(st, lineno, name, "set twice (first at line %d)", st->line_of[idx]);
	char *val = unquote(trim(eq + 1));
	if (val == NULL)
		return cfg_err(st, lineno, name, "unterminated quote, or text after the closing quote");
	st->line_of[idx] = lineno;
	return set_value(st, c, k, val, lineno);
}

static const struct cfg_key *key_by_name(const char *name, size_t *idx)
{
	return find_key(name, idx);
}

static int line_of(struct load_state *st, const char *name)
{
	size_t i;
	return key_by_name(name, &i) ? st->line_of[i] : 0;
}

static bool cfg_is_set(struct load_state *st, const char *name)
{
	return line_of(st, name) != 0;
}

/* At most one of a *_file / *_env pair; exactly one when required. */
static int check_pair(struct load_state *st, const char *file_key, const char *env_key, bool required)
{
	int lf = line_of(st, file_key), le = line_of(st, env_key);
	if (lf && le) {
		if (lf > le)
			return cfg_err(st, lf, file_key, "conflicts with %s (line %d): set exactly one",
				       env_key, le);
		return cfg_err(st, le, env_key, "conflicts with %s (line %d): set exactly one",
			       file_key, lf);
	}
	if (required && !lf && !le)
		return cfg_err(st, 0, file_key, "required but not set (or set %s)", env_key);
	return 0;
}

static int default_migrations_dir(char *buf, size_t n)
{
	/* Beside the program: PREFIX/bin/efosd -> PREFIX/db (a source tree), then
	 * PREFIX/share/efos/db (an installation). */
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	struct stat sb;
	if (len > 0) {
		exe[len] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			slash = strrchr(exe, '/');
			if (slash != NULL) {
				*slash = '\0';
				snprintf(buf, n, "%s/db", exe);
				if (stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode))
					return 0;
				snprintf(buf, n, "%s/share/efos/db", exe);
				if (stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode))
					return 0;
			}
		}
	}
	snprintf(buf, n, "/usr/share/efos/db");
	return 0;
}

static int apply_defaults(struct load_state *st, struct efos_config *c)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *k = &config_keys[i];
		if (st->line_of[i] != 0 || k->def == NULL)
			continue;
		char buf[PATH_MAX + 64];
		const char *def = k->def;
		if (strcmp(def, "auto") == 0) {
			if (strcmp(k->name, "node.name") == 0) {
				if (gethostname(buf, 64) < 0 || !is_name(buf))
					snprintf(buf, sizeof buf, "efos");
				buf[64] = '\0';
				char *dot = strchr(buf, '.');
				if (dot != NULL && dot != buf)
					*dot = '\0';
			} else if (strcmp(k->name, "http.threads") == 0) {
				long n = sysconf(_SC_NPROCESSORS_ONLN);
				snprintf(buf, sizeof buf, "%ld", n < 1 ? 1 : n > 1024 ? 1024 : n);
			} else if (strcmp(k->name, "db.migrations_dir") == 0) {
				default_migrations_dir(buf, sizeof buf);
				if ((*str_field(c, k) = strdup(buf)) == NULL)
					return efos_fail(st->e, EFOS_E_INTERNAL, "out of memory");
				continue;   /* not checked: efosctl/efosd report a missing dir when used */
			} else if (strcmp(k->name, "signer.entity_id") == 0) {
				if (c->http_public_url == NULL)
					continue;
				snprintf(buf, sizeof buf, "%s/sign", c->http_public_url);
			} else if (strcmp(k->name, "ca.base_url") == 0) {
				if (c->http_public_url == NULL)
					continue;
				snprintf(buf, sizeof buf, "%s", c->http_public_url);
			} else if (strcmp(k->name, "http.public_url") == 0 || strcmp(k->name, "http.mtls_public_url") == 0) {
				bool mtls = k->off == F(http_mtls_public_url);
				const char *h = mtls ? c->http_mtls_addr : c->http_listen_addr;
				int port = mtls ? c->http_mtls_port : c->http_listen_port;
				if (h == NULL)
					continue;
				if (!strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !strcmp(h, "*"))
					return cfg_err(st, line_of(st, mtls ? "http.mtls_listen" : "http.listen"),
						       k->name, "required when %s is a wildcard address: the URL "
						       "clients use to reach this service",
						       mtls ? "http.mtls_listen" : "http.listen");
				snprintf(buf, sizeof buf, strchr(h, ':') ? "https://[%s]:%d" : "https://%s:%d", h, port);
			} else {
				continue;
			}
			def = buf;
		}
		if (set_value(st, c, k, def, 0) < 0)
			return efos_wrap(st->e, "default of %s", k->name);
	}
	return 0;
}

static int check_required(struct load_state *st, struct efos_config *c)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if ((config_keys[i].flags & CF_REQUIRED) && st->line_of[i] == 0)
			return cfg_err(st, 0, config_keys[i].name, "required but not set");
	if (check_pair(st, "hsm.pin_file", "hsm.pin_env", true) < 0
	    || check_pair(st, "db.password_file", "db.password_env", false) < 0
	    || check_pair(st, "db.admin_password_file", "db.admin_password_env", false) < 0
	    || check_pair(st, "idp.nameid_secret_file", "idp.nameid_secret_env", false) < 0)
		return -1;
	if ((cfg_is_set(st, "db.admin_password_file") || cfg_is_set(st, "db.admin_password_env"))
	    && !cfg_is_set(st, "db.admin_conninfo")) {
		const char *k = cfg_is_set(st, "db.admin_password_file") ? "db.admin_password_file"
									 : "db.admin_password_env";
		return cfg_err(st, line_of(st, k), k, "needs db.admin_conninfo");
	}
	if (c->n_proxy_trusted > 0 && c->proxy_cert_header == NULL)
		return cfg_err(st, line_of(st, "proxy.trusted_addresses"), "proxy.trusted_addresses",
			       "needs proxy.client_cert_header");
	if (c->proxy_cert_header != NULL && c->n_proxy_trusted == 0)
		return cfg_err(st, line_of(st, "proxy.client_cert_header"), "proxy.client_cert_header",
			       "needs proxy.trusted_addresses (the proxies whose header is believed)");
	if (c->ca_crl_reissue_before_s >= c->ca_crl_validity_s) {
		const char *k = cfg_is_set(st, "ca.crl_reissue_before") ? "ca.crl_reissue_before" : "ca.crl_validity";
		return cfg_err(st, line_of(st, k), k, "ca.crl_reissue_before (%d s) must be shorter than "
			       "ca.crl_validity (%d s)", c->ca_crl_reissue_before_s, c->ca_crl_validity_s);
	}
	if (c->ca_ocsp_reuse_window_s > c->ca_ocsp_validity_s) {
		const char *k = cfg_is_set(st, "ca.ocsp_reuse_window") ? "ca.ocsp_reuse_window" : "ca.ocsp_validity";
		return cfg_err(st, line_of(st, k), k, "ca.ocsp_reuse_window (%d s) may not exceed "
			       "ca.ocsp_validity (%d s)", c->ca_ocsp_reuse_window_s, c->ca_ocsp_validity_s);
	}
	if ((c->signer_signing_key == NULL) != (c->signer_signing_cert == NULL)) {
		const char *k = c->signer_signing_key != NULL ? "signer.signing_key" : "signer.signing_cert";
		return cfg_err(st, line_of(st, k), k, "signer.signing_key and signer.signing_cert go together");
	}
	if ((c->signer_encryption_key == NULL) != (c->signer_encryption_cert == NULL)) {
		const char *k = c->signer_encryption_key != NULL ? "signer.encryption_key" : "signer.encryption_cert";
		return cfg_err(st, line_of(st, k), k, "signer.encryption_key and signer.encryption_cert go together");
	}
	if (cfg_is_set(st, "http.mtls_public_url") && c->http_mtls_addr == NULL)
		return cfg_err(st, line_of(st, "http.mtls_public_url"), "http.mtls_public_url",
			       "needs http.mtls_listen");
	if (c->http_mtls_addr != NULL && c->http_mtls_port == c->http_listen_port
	    && strcmp(c->http_mtls_addr, c->http_listen_addr) == 0)
		return cfg_err(st, line_of(st, "http.mtls_listen"), "http.mtls_listen",
			       "is the same address as http.listen");
	return 0;
}

int config_load(const char *path, struct efos_config *cfg, efos_err *e)
{
	struct load_state st = { .path = path, .e = e };
	memset(cfg, 0, sizeof *cfg);
	FILE *fp = NULL;
	char *line = NULL;
	int rc = -1;

	if ((cfg->path = strdup(path)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	const char *slash = strrchr(path, '/');
	st.dir = slash == NULL ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	if (st.dir == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if ((fp = fopen(path, "re")) == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "%s:0: cannot read the configuration file: %s", path, strerror(errno));
		goto out;
	}
	if ((line = malloc(CFG_LINE_MAX + 2)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	int lineno = 0;
	long total = 0;
	/* strlen() stops at a NUL byte: what fgets() consumed is told by the file position
	 * (a file that cannot tell its position, a pipe, falls back to strlen). */
	off_t pos = ftello(fp);
	while (fgets(line, CFG_LINE_MAX + 2, fp) != NULL) {
		lineno++;
		size_t n = strlen(line);
		off_t next = ftello(fp);
		size_t got = pos >= 0 && next > pos ? (size_t)(next - pos) : n;
		pos = next;
		total += (long)got;
		if (total > CFG_FILE_MAX) {
			cfg_err(&st, lineno, "(file)", "the file is larger than %d bytes", CFG_FILE_MAX);
			goto out;
		}
		if (got != n) {
			cfg_err(&st, lineno, "(line)", "contains a NUL byte");
			goto out;
		}
		if (n == CFG_LINE_MAX + 1 && line[n - 1] != '\n') {
			cfg_err(&st, lineno, "(line)", "line longer than %d characters", CFG_LINE_MAX);
			goto out;
		}
		if (parse_line(&st, cfg, line, lineno) < 0)
			goto out;
	}
	if (ferror(fp)) {
		efos_fail(e, EFOS_E_CONFIG, "%s:%d: read error: %s", path, lineno, strerror(errno));
		goto out;
	}
	if (apply_defaults(&st, cfg) < 0 || check_required(&st, cfg) < 0)
		goto out;
	rc = 0;
out:
	if (fp != NULL)
		fclose(fp);
	free(line);
	free(st.dir);
	if (rc < 0)
		config_free(cfg);
	return rc;
}

void config_free(struct efos_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *k = &config_keys[i];
		if (k->type == CT_LIST || k->type == CT_IPLIST) {
			char **arr = (char **)((char *)cfg + k->off);
			size_t *cnt = (size_t *)((char *)cfg + k->off2);
			for (size_t j = 0; j < *cnt; j++)
				free(arr[j]);
		} else if (k->type != CT_INT && k->type != CT_SIZE && k->type != CT_BOOL
			   && k->type != CT_DURATION) {
			free(*str_field(cfg, k));
		}
	}
	free(cfg->path);
	memset(cfg, 0, sizeof *cfg);
}

bool config_has_role(const struct efos_config *cfg, const char *role)
{
	for (size_t i = 0; i < cfg->n_roles; i++)
		if (strcmp(cfg->roles[i], role) == 0)
			return true;
	return false;
}

/* Prints the effective configuration, one `key = value` per line (secrets are only ever named
 * here, never read). */
void config_print(const struct efos_config *cfg, FILE *fp)
{
	struct efos_config *c = (struct efos_config *)cfg;
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *k = &config_keys[i];
		fprintf(fp, "%s = ", k->name);
		switch (k->type) {
		case CT_INT:
		case CT_DURATION:
			fprintf(fp, "%d", *int_field(c, k->off));
			break;
		case CT_SIZE:
			fprintf(fp, "%ld", *(long *)((char *)c + k->off));
			break;
		case CT_BOOL:
			fprintf(fp, "%s", *(bool *)((char *)c + k->off) ? "true" : "false");
			break;
		case CT_LIST:
		case CT_IPLIST: {
			char **arr = (char **)((char *)c + k->off);
			size_t cnt = *(size_t *)((char *)c + k->off2);
			for (size_t j = 0; j < cnt; j++)
				fprintf(fp, "%s%s", j ? " " : "", arr[j]);
			break;
		}
		case CT_ADDR: {
			const char *h = *str_field(c, k);
			if (h != NULL)
				fprintf(fp, strchr(h, ':') ? "[%s]:%d" : "%s:%d", h, *int_field(c, k->off2));
			break;
		}
		default: {
			const char *s = *str_field(c, k);
			if (s != NULL)
				fprintf(fp, "%s", s);
		}
		}
		fputc('\n', fp);
	}
}

/* ---- secrets ---- */

static int strip_secret(char *buf, size_t *n)
{
	while (*n > 0 && (buf[*n - 1] == '\n' || buf[*n - 1] == '\r'))
		buf[--*n] = '\0';
	return *n == 0 ? -1 : 0;
}

int config_read_secret(const char *file, const char *env, bool optional, char **out, efos_err *e)
{
	*out = NULL;
	if (file != NULL && env != NULL)
		return efos_fail(e, EFOS_E_CONFIG, "both a secret file (%s) and an environment variable "
				 "(%s) are named: set exactly one", file, env);
	if (file == NULL && env == NULL) {
		if (optional)
			return 0;
		return efos_fail(e, EFOS_E_CONFIG, "no secret configured: name a file or an environment variable");
	}
	char buf[SECRET_MAX + 1];
	size_t n = 0;
	if (env != NULL) {
		const char *v = getenv(env);
		if (v == NULL)
			return efos_fail(e, EFOS_E_CONFIG, "environment variable %s is not set", env);
		n = strlen(v);
		if (n > SECRET_MAX)
			return efos_fail(e, EFOS_E_CONFIG, "environment variable %s is longer than %d bytes",
					 env, SECRET_MAX);
		memcpy(buf, v, n + 1);
		if (strip_secret(buf, &n) < 0) {
			efos_wipe(buf, sizeof buf);
			return efos_fail(e, EFOS_E_CONFIG, "environment variable %s is empty", env);
		}
	} else {
		int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return efos_fail(e, EFOS_E_CONFIG, "cannot read secret file %s: %s", file, strerror(errno));
		struct stat sb;
		char why[EFOS_ERR_MSG_MAX / 2];
		if (fstat(fd, &sb) < 0 || check_secret_mode(file, &sb, why, sizeof why) < 0) {
			close(fd);
			return efos_fail(e, EFOS_E_CONFIG, "refusing secret file: %s", why);
		}
		if (sb.st_mode & S_IRGRP)
			log_debug("secret file %s is readable by its group", file);
		for (;;) {
			ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				int err = errno;
				close(fd);
				efos_wipe(buf, sizeof buf);
				return efos_fail(e, EFOS_E_CONFIG, "cannot read secret file %s: %s", file, strerror(err));
			}
			if (r == 0)
				break;
			n += (size_t)r;
			if (n == sizeof buf - 1) {
				close(fd);
				efos_wipe(buf, sizeof buf);
				return efos_fail(e, EFOS_E_CONFIG, "secret file %s is larger than %d bytes",
						 file, SECRET_MAX);
			}
		}
		close(fd);
		buf[n] = '\0';
		if (memchr(buf, '\0', n) != NULL || strip_secret(buf, &n) < 0) {
			efos_wipe(buf, sizeof buf);
			return efos_fail(e, EFOS_E_CONFIG, "secret file %s is empty or not text", file);
		}
	}
	char *s = malloc(n + 1);
	if (s == NULL) {
		efos_wipe(buf, sizeof buf);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	memcpy(s, buf, n + 1);
	efos_wipe(buf, sizeof buf);
	*out = s;
	return 0;
}
