/* The certificate profiles file: INI-like, one [section] per profile, `key = value` lines,
 * `#` comments, values optionally in double quotes. Lists are words separated by spaces or
 * commas. Every error stops loading and reads "FILE:LINE: [section] key: what is wrong".
 * What each key means: docs/certificate-profiles.md. */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include "certs/profile.h"

#define PROFILES_MAX 64
#define LINE_MAX_LEN 4096
#define FILE_MAX_BYTES (256 * 1024)

struct cert_profiles {
	struct cert_profile p[PROFILES_MAX];
	size_t n;
};

/* What loading carries: the file, the line, the section, for error messages. */
struct pstate {
	const char *file;
	int line;
	const char *base_url;
	struct cert_profile *cur;
	unsigned seen;          /* bit per key of keys[] seen in the current section */
	int section_line;
	efos_err *e;
};

static int perr(struct pstate *st, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int perr(struct pstate *st, const char *key, const char *fmt, ...)
{
	char what[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	const char *sec = st->cur != NULL ? st->cur->name : NULL;
	if (sec != NULL && key != NULL)
		return efos_fail(st->e, EFOS_E_CONFIG, "%s:%d: [%s] %s: %s", st->file, st->line, sec, key, what);
	if (sec != NULL)
		return efos_fail(st->e, EFOS_E_CONFIG, "%s:%d: [%s]: %s", st->file, st->line, sec, what);
	if (key != NULL)
		return efos_fail(st->e, EFOS_E_CONFIG, "%s:%d: %s: %s", st->file, st->line, key, what);
	return efos_fail(st->e, EFOS_E_CONFIG, "%s:%d: %s", st->file, st->line, what);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Splits a list value in place: words separated by spaces or commas. */
static size_t split_words(char *v, char **words, size_t cap, bool *overflow)
{
	size_t n = 0;
	*overflow = false;
	for (char *save = NULL, *w = strtok_r(v, " \t,", &save); w != NULL; w = strtok_r(NULL, " \t,", &save)) {
		if (n == cap) {
			*overflow = true;
			break;
		}
		words[n++] = w;
	}
	return n;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const t[] = { "true", "yes", "on", "1" }, *const f[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (!strcmp(v, t[i]))
			return *out = true, true;
		if (!strcmp(v, f[i]))
			return *out = false, true;
	}
	return false;
}

/* "10y", "3y", "90d", "12h", "30m", "3600s", "3600": seconds. A year counts 365 days. */
static bool parse_validity(const char *v, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno != 0 || end == v || n <= 0 || v[0] == '-' || v[0] == '+')
		return false;
	long mul;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		mul = 1;
	else if (!strcmp(end, "m"))
		mul = 60;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else if (!strcmp(end, "d"))
		mul = 86400;
	else if (!strcmp(end, "y"))
		mul = 365L * 86400;
	else
		return false;
	if (n > 100L * 365 * 86400 / mul)   /* at most 100 years */
		return false;
	*out = n * mul;
	return true;
}

static const struct { const char *name; enum cert_subject_attr a; } subject_names[] = {
	{ "C", SUBJ_C }, { "O", SUBJ_O }, { "OU", SUBJ_OU }, { "CN", SUBJ_CN },
	{ "givenName", SUBJ_GIVEN_NAME }, { "surname", SUBJ_SURNAME }, { "SN", SUBJ_SURNAME },
	{ "serialNumber", SUBJ_SERIAL_NUMBER }, { "organizationIdentifier", SUBJ_ORG_IDENTIFIER },
	{ "title", SUBJ_TITLE }, { "emailAddress", SUBJ_EMAIL },
};

static const struct { const char *name; unsigned bit; } ku_names[] = {
	{ "digitalSignature", X509v3_KU_DIGITAL_SIGNATURE }, { "nonRepudiation", X509v3_KU_NON_REPUDIATION },
	{ "contentCommitment", X509v3_KU_NON_REPUDIATION }, { "keyEncipherment", X509v3_KU_KEY_ENCIPHERMENT },
	{ "dataEncipherment", X509v3_KU_DATA_ENCIPHERMENT }, { "keyAgreement", X509v3_KU_KEY_AGREEMENT },
	{ "keyCertSign", X509v3_KU_KEY_CERT_SIGN }, { "cRLSign", X509v3_KU_CRL_SIGN },
	{ "encipherOnly", X509v3_KU_ENCIPHER_ONLY }, { "decipherOnly", X509v3_KU_DECIPHER_ONLY },
};

static const char *const eku_names[] = {
	"clientAuth", "serverAuth", "OCSPSigning", "emailProtection", "codeSigning", "timeStamping",
};

/* A dotted OID with at least two arcs that OpenSSL accepts. */
static bool is_dotted_oid(const char *s)
{
	if (!isdigit((unsigned char)s[0]) || strchr(s, '.') == NULL)
		return false;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			return false;
	if (strstr(s, "..") != NULL || s[strlen(s) - 1] == '.')
		return false;
	ASN1_OBJECT *o = OBJ_txt2obj(s, 1);
	ASN1_OBJECT_free(o);
	return o != NULL;
}

static int set_str(struct pstate *st, const char *key, char **dst, const char *v)
{
	free(*dst);
	if ((*dst = strdup(v)) == NULL)
		return efos_fail(st->e, EFOS_E_INTERNAL, "out of memory");
	return 0;
}

/* Expands ${base_url} (load time); ${issuer} is left for issuance time (certs_issue). */
static int set_url(struct pstate *st, const char *key, char **dst, const char *v)
{
	if (!strcmp(v, "none") || *v == '\0') {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	char buf[1024];
	size_t o = 0;
	for (const char *p = v; *p;) {
		if (!strncmp(p, "${base_url}", 11)) {
			if (st->base_url == NULL)
				return perr(st, key, "${base_url} is used but ca.base_url (or http.public_url) is not set");
			size_t bl = strlen(st->base_url);
			while (bl > 0 && st->base_url[bl - 1] == '/')
				bl--;
			if (o + bl >= sizeof buf)
				return perr(st, key, "URL too long");
			memcpy(buf + o, st->base_url, bl);
			o += bl;
			p += 11;
		} else if (!strncmp(p, "${issuer}", 9)) {
			if (o + 9 >= sizeof buf)
				return perr(st, key, "URL too long");
			memcpy(buf + o, p, 9);
			o += 9;
			p += 9;
		} else if (p[0] == '$' && p[1] == '{') {
			return perr(st, key, "unknown variable in \"%s\" (known: ${base_url}, ${issuer})", v);
		} else {
			if (o + 1 >= sizeof buf)
				return perr(st, key, "URL too long");
			if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>')
				return perr(st, key, "URL contains a space or an invalid character: \"%s\"", v);
			buf[o++] = *p++;
		}
	}
	buf[o] = '\0';
	if (strncmp(buf, "http://", 7) != 0 && strncmp(buf, "https://", 8) != 0)
		return perr(st, key, "not an http:// or https:// URL: \"%s\"", buf);
	return set_str(st, key, dst, buf);
}

enum pkey {
	K_ISSUER, K_VALIDITY, K_CA, K_PATH_LEN, K_SUBJECT, K_KEY_USAGE, K_KEY_USAGE_CRITICAL,
	K_EXT_KEY_USAGE, K_POLICIES, K_OCSP_URL, K_CA_ISSUERS_URL, K_CRL_URL, K_OCSP_NOCHECK, K_KEYS,
	K_COUNT,
};
static const char *const key_names[K_COUNT] = {
	"issuer", "validity", "ca", "path_len", "subject", "key_usage", "key_usage_critical",
	"ext_key_usage", "policies", "ocsp_url", "ca_issuers_url", "crl_url", "ocsp_nocheck", "keys",
};

/* "rsa:2048 ec:256" (also ec:p256, ec:P-256, ec:prime256v1...): the minimum sizes. */
static int parse_keys(struct pstate *st, struct cert_profile *p, char *v)
{
	char *w[CERT_PROFILE_MAX_LIST];
	bool over;
	size_t n = split_words(v, w, CERT_PROFILE_MAX_LIST, &over);
	p->min_rsa_bits = p->min_ec_bits = 0;
	if (n == 0 || over)
		return perr(st, "keys", "expected a list like \"rsa:2048 ec:256\"");
	for (size_t i = 0; i < n; i++) {
		char *colon = strchr(w[i], ':');
		if (colon == NULL)
			return perr(st, "keys", "\"%s\": expected rsa:BITS or ec:BITS", w[i]);
		*colon = '\0';
		const char *sz = colon + 1;
		if (!strcmp(w[i], "rsa")) {
			int bits = atoi(sz);
			if (strspn(sz, "0123456789") != strlen(sz) || bits < 2048 || bits > 16384)
				return perr(st, "keys", "rsa:%s: RSA minimum must be a number of bits from 2048 to 16384", sz);
			p->min_rsa_bits = bits;
		} else if (!strcmp(w[i], "ec")) {
			if (!strcmp(sz, "256") || !strcasecmp(sz, "p256") || !strcasecmp(sz, "P-256") || !strcmp(sz, "prime256v1"))
				p->min_ec_bits = 256;
			else if (!strcmp(sz, "384") || !strcasecmp(sz, "p384") || !strcasecmp(sz, "P-384") || !strcmp(sz, "secp384r1"))
				p->min_ec_bits = 384;
			else if (!strcmp(sz, "521") || !strcasecmp(sz, "p521") || !strcasecmp(sz, "P-521") || !strcmp(sz, "secp521r1"))
				p->min_ec_bits = 521;
			else
				return perr(st, "keys", "ec:%s: EC minimum must be 256, 384 or 521 (NIST P curves)", sz);
		} else {
			return perr(st, "keys", "\"%s\": unknown key algorithm (rsa, ec)", w[i]);
		}
	}
	return 0;
}

static int set_key(struct pstate *st, const char *key, char *v)
{
	struct cert_profile *p = st->cur;
	int k;
	for (k = 0; k < K_COUNT; k++)
		if (!strcmp(key, key_names[k]))
			break;
	if (k == K_COUNT)
		return perr(st, key, "unknown key (known: issuer validity ca path_len subject key_usage "
			    "key_usage_critical ext_key_usage policies ocsp_url ca_issuers_url crl_url "
			    "ocsp_nocheck keys)");
	if (st->seen & (1u << k))
		return perr(st, key, "set twice in this profile");
	st->seen |= 1u << k;

	char *w[CERT_PROFILE_MAX_LIST + 1];
	bool over;
	size_t n;
	switch ((enum pkey)k) {
	case K_ISSUER:
		if (*v == '\0' || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v) || strlen(v) > 32)
			return perr(st, key, "\"%s\": a CA name (a-z 0-9 -), \"self\" or \"any\"", v);
		return set_str(st, key, &p->issuer, v);
	case K_VALIDITY:
		if (!parse_validity(v, &p->validity_s))
			return perr(st, key, "\"%s\": expected a positive duration like 10y, 3y, 90d, 12h or "
				    "seconds (at most 100 years)", v);
		return 0;
	case K_CA:
		if (!parse_bool(v, &p->is_ca))
			return perr(st, key, "\"%s\": expected true or false", v);
		return 0;
	case K_PATH_LEN: {
		char *end;
		long pl = strtol(v, &end, 10);
		if (!strcmp(v, "unlimited") || !strcmp(v, "none"))
			pl = -1;
		else if (*v == '\0' || *end != '\0' || pl < 0 || pl > 16)
			return perr(st, key, "\"%s\": expected 0..16 or unlimited", v);
		p->path_len = (int)pl;
		return 0;
	}
	case K_SUBJECT:
		n = split_words(v, w, CERT_PROFILE_MAX_LIST, &over);
		if (over)
			return perr(st, key, "more than %d attributes", CERT_PROFILE_MAX_LIST);
		if (n == 0)
			return perr(st, key, "empty");
		p->n_subject = 0;
		for (size_t i = 0; i < n; i++) {
			size_t j, wl = strlen(w[i]);
			bool opt = wl > 1 && w[i][wl - 1] == '?';
			if (opt)
				w[i][wl - 1] = '\0';
			for (j = 0; j < sizeof subject_names / sizeof subject_names[0]; j++)
				if (!strcmp(w[i], subject_names[j].name))
					break;
			if (j == sizeof subject_names / sizeof subject_names[0])
				return perr(st, key, "\"%s\": unknown attribute (C O OU CN givenName surname "
					    "serialNumber organizationIdentifier title emailAddress)", w[i]);
			for (size_t m = 0; m < p->n_subject; m++)
				if (p->subject[m] == subject_names[j].a)
					return perr(st, key, "\"%s\" listed twice", w[i]);
			p->subject_optional[p->n_subject] = opt;
			p->subject[p->n_subject++] = subject_names[j].a;
		}
		return 0;
	case K_KEY_USAGE:
		n = split_words(v, w, CERT_PROFILE_MAX_LIST, &over);
		if (over || n == 0)
			return perr(st, key, "expected a list of key usages");
		p->key_usage = 0;
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(w[i], "critical")) {
				p->key_usage_critical = true;
				continue;
			}
			size_t j;
			for (j = 0; j < sizeof ku_names / sizeof ku_names[0]; j++)
				if (!strcmp(w[i], ku_names[j].name))
					break;
			if (j == sizeof ku_names / sizeof ku_names[0])
				return perr(st, key, "\"%s\": unknown key usage (digitalSignature nonRepudiation "
					    "keyEncipherment dataEncipherment keyAgreement keyCertSign cRLSign "
					    "encipherOnly decipherOnly)", w[i]);
			p->key_usage |= ku_names[j].bit;
		}
		if (p->key_usage == 0)
			return perr(st, key, "no key usage given");
		return 0;
	case K_KEY_USAGE_CRITICAL:
		if (!parse_bool(v, &p->key_usage_critical))
			return perr(st, key, "\"%s\": expected true or false", v);
		return 0;
	case K_EXT_KEY_USAGE:
		n = split_words(v, w, CERT_PROFILE_MAX_LIST, &over);
		if (over)
			return perr(st, key, "more than %d purposes", CERT_PROFILE_MAX_LIST);
		for (size_t i = 0; i < n; i++) {
			bool known = false;
			if (!strcmp(w[i], "critical")) {
				p->ext_key_usage_critical = true;
				continue;
			}
			for (size_t j = 0; j < sizeof eku_names / sizeof eku_names[0]; j++)
				known |= !strcmp(w[i], eku_names[j]);
			if (!known && !is_dotted_oid(w[i]))
				return perr(st, key, "\"%s\": not a known purpose (clientAuth serverAuth OCSPSigning "
					    "emailProtection codeSigning timeStamping) nor a dotted OID", w[i]);
			for (size_t m = 0; m < p->n_ext_key_usage; m++)
				if (!strcmp(p->ext_key_usage[m], w[i]))
					return perr(st, key, "\"%s\" listed twice", w[i]);
			if ((p->ext_key_usage[p->n_ext_key_usage] = strdup(w[i])) == NULL)
				return efos_fail(st->e, EFOS_E_INTERNAL, "out of memory");
			p->n_ext_key_usage++;
		}
		return 0;
	case K_POLICIES:
		n = split_words(v, w, CERT_PROFILE_MAX_LIST, &over);
		if (over)
			return perr(st, key, "more than %d policies", CERT_PROFILE_MAX_LIST);
		for (size_t i = 0; i < n; i++) {
			if (!is_dotted_oid(w[i]) && strcmp(w[i], "anyPolicy") != 0)
				return perr(st, key, "\"%s\": not a dotted OID (nor anyPolicy)", w[i]);
			const char *oid = strcmp(w[i], "anyPolicy") == 0 ? "2.5.29.32.0" : w[i];
			for (size_t m = 0; m < p->n_policies; m++)
				if (!strcmp(p->policies[m], oid))
					return perr(st, key, "\"%s\" listed twice", w[i]);
			if ((p->policies[p->n_policies] = strdup(oid)) == NULL)
				return efos_fail(st->e, EFOS_E_INTERNAL, "out of memory");
			p->n_policies++;
		}
		return 0;
	case K_OCSP_URL:
		return set_url(st, key, &p->ocsp_url, v);
	case K_CA_ISSUERS_URL:
		return set_url(st, key, &p->ca_issuers_url, v);
	case K_CRL_URL:
		return set_url(st, key, &p->crl_url, v);
	case K_OCSP_NOCHECK:
		if (!parse_bool(v, &p->ocsp_nocheck))
			return perr(st, key, "\"%s\": expected true or false", v);
		return 0;
	case K_KEYS:
		return parse_keys(st, p, v);
	case K_COUNT:
		break;
	}
	return 0;
}

/* The checks that need the whole section. */
static int finish_section(struct pstate *st)
{
	struct cert_profile *p = st->cur;
	if (p == NULL)
		return 0;
	int line = st->line;
	st->line = st->section_line;
	int rc = -1;
	if (!(st->seen & (1u << K_ISSUER)))
		perr(st, "issuer", "required");
	else if (!(st->seen & (1u << K_VALIDITY)))
		perr(st, "validity", "required");
	else if (!(st->seen & (1u << K_SUBJECT)))
		perr(st, "subject", "required");
	else if (!(st->seen & (1u << K_KEY_USAGE)))
		perr(st, "key_usage", "required");
	else if (!(st->seen & (1u << K_KEYS)))
		perr(st, "keys", "required (the key policy, e.g. keys = rsa:2048 ec:256)");
	else if (p->is_ca && !(p->key_usage & X509v3_KU_KEY_CERT_SIGN))
		perr(st, "key_usage", "a CA profile needs keyCertSign");
	else if (!p->is_ca && (p->key_usage & X509v3_KU_KEY_CERT_SIGN))
		perr(st, "key_usage", "keyCertSign is only for CA profiles (ca = true)");
	else if (!p->is_ca && (st->seen & (1u << K_PATH_LEN)))
		perr(st, "path_len", "only for CA profiles (ca = true)");
	else if (!strcmp(p->issuer, "self") && !p->is_ca)
		perr(st, "issuer", "only a CA profile can be self-issued");
	else if (p->ocsp_nocheck && !(p->n_ext_key_usage == 1 && !strcmp(p->ext_key_usage[0], "OCSPSigning")))
		perr(st, "ocsp_nocheck", "only for an OCSP signer profile (ext_key_usage = OCSPSigning)");
	else
		rc = 0;
	st->line = line;
	return rc;
}

static void profile_clear(struct cert_profile *p)
{
	free(p->name);
	free(p->issuer);
	for (size_t i = 0; i < p->n_ext_key_usage; i++)
		free(p->ext_key_usage[i]);
	for (size_t i = 0; i < p->n_policies; i++)
		free(p->policies[i]);
	free(p->ocsp_url);
	free(p->ca_issuers_url);
	free(p->crl_url);
	memset(p, 0, sizeof *p);
}

void cert_profiles_free(struct cert_profiles *ps)
{
	if (ps == NULL)
		return;
	for (size_t i = 0; i < ps->n; i++)
		profile_clear(&ps->p[i]);
	free(ps);
}

static int parse_line(struct pstate *st, struct cert_profiles *ps, char *line)
{
	char *s = trim(line);
	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		char *end = strchr(s, ']');
		if (end == NULL || trim(end + 1)[0] != '\0')
			return perr(st, NULL, "a section header reads [name]");
		*end = '\0';
		char *name = trim(s + 1);
		if (finish_section(st) < 0)
			return -1;
		st->cur = NULL;
		if (*name == '\0' || strlen(name) > 64 ||
		    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(name))
			return perr(st, NULL, "[%s]: a profile name is 1-64 of a-z 0-9 - _", name);
		for (size_t i = 0; i < ps->n; i++)
			if (!strcmp(ps->p[i].name, name))
				return perr(st, NULL, "[%s]: profile defined twice", name);
		if (ps->n == PROFILES_MAX)
			return perr(st, NULL, "more than %d profiles", PROFILES_MAX);
		struct cert_profile *p = &ps->p[ps->n++];
		memset(p, 0, sizeof *p);
		p->path_len = -1;
		p->key_usage_critical = true;
		if ((p->name = strdup(name)) == NULL)
			return efos_fail(st->e, EFOS_E_INTERNAL, "out of memory");
		st->cur = p;
		st->seen = 0;
		st->section_line = st->line;
		return 0;
	}
	char *eq = strchr(s, '=');
	if (eq == NULL)
		return perr(st, NULL, "expected `key = value` or [section]");
	*eq = '\0';
	char *key = trim(s), *val = trim(eq + 1);
	if (st->cur == NULL)
		return perr(st, key, "outside any [profile] section");
	if (val[0] == '"') {
		/* "quoted value" [# comment] */
		char *close = strchr(val + 1, '"');
		if (close == NULL)
			return perr(st, key, "unbalanced quote");
		char *rest = trim(close + 1);
		if (*rest != '\0' && *rest != '#')
			return perr(st, key, "text after the closing quote");
		*close = '\0';
		val++;
	} else {
		/* A trailing comment: " # ..." (URLs may contain '#' without a space before it). */
		char *hash = strstr(val, " #");
		if (hash == NULL)
			hash = strstr(val, "\t#");
		if (hash != NULL) {
			*hash = '\0';
			val = trim(val);
		}
		if (strchr(val, '"') != NULL)
			return perr(st, key, "unbalanced quote");
	}
	return set_key(st, key, val);
}

int cert_profiles_load(const char *path, const char *base_url, struct cert_profiles **out, efos_err *e)
{
	*out = NULL;
	FILE *fp = fopen(path, "re");
	if (fp == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "%s: %s", path, strerror(errno));
	struct cert_profiles *ps = calloc(1, sizeof *ps);
	struct pstate st = { .file = path, .base_url = base_url, .e = e };
	char line[LINE_MAX_LEN];
	long total = 0;
	int rc = -1;
	if (ps == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	while (fgets(line, sizeof line, fp) != NULL) {
		st.line++;
		size_t len = strlen(line);
		total += (long)len;
		if (total > FILE_MAX_BYTES) {
			perr(&st, NULL, "file larger than %d bytes", FILE_MAX_BYTES);
			goto out;
		}
		if (len == sizeof line - 1 && line[len - 1] != '\n') {
			perr(&st, NULL, "line longer than %d characters", LINE_MAX_LEN - 2);
			goto out;
		}
		if (memchr(line, '\0', len) != NULL && strlen(line) != len) {
			perr(&st, NULL, "NUL byte in line");
			goto out;
		}
		if (parse_line(&st, ps, line) < 0)
			goto out;
	}
	if (ferror(fp)) {
		efos_fail(e, EFOS_E_CONFIG, "%s: read error", path);
		goto out;
	}
	if (finish_section(&st) < 0)
		goto out;
	if (ps->n == 0) {
		efos_fail(e, EFOS_E_CONFIG, "%s: no profile defined", path);
		goto out;
	}
	/* Issuers must name a CA profile's CA, "self" or "any": checked against the CAs at
	 * issuance (the CA names live in the database, not here). */
	*out = ps;
	ps = NULL;
	rc = 0;
out:
	fclose(fp);
	cert_profiles_free(ps);
	return rc;
}

const struct cert_profile *cert_profile_get(const struct cert_profiles *ps, const char *name)
{
	if (ps == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->p[i].name, name))
			return &ps->p[i];
	return NULL;
}

size_t cert_profiles_count(const struct cert_profiles *ps)
{
	return ps == NULL ? 0 : ps->n;
}

const struct cert_profile *cert_profile_at(const struct cert_profiles *ps, size_t i)
{
	return ps == NULL || i >= ps->n ? NULL : &ps->p[i];
}
