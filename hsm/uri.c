/* RFC 7512 PKCS#11 URI parsing. See hsm/uri.h for what is accepted and why pin-value is not. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/hex.h"
#include "hsm/uri.h"

/* Decodes s[0..n) with %XX escapes into a new buffer (NUL-terminated for string use). */
static int pct_decode(const char *s, size_t n, unsigned char **out, size_t *outlen,
		      bool binary, const char *attr, efos_err *e)
{
	unsigned char *buf = malloc(n + 1);
	size_t j = 0;
	if (buf == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n) {
				free(buf);
				return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: %s: truncated %%XX escape", attr);
			}
			int h1 = hex_digit((unsigned char)s[i + 1]), h2 = hex_digit((unsigned char)s[i + 2]);
			if (h1 < 0 || h2 < 0) {
				free(buf);
				return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: %s: bad %%XX escape", attr);
			}
			c = h1 << 4 | h2;
			i += 2;
		}
		if (c == 0 && !binary) {
			free(buf);
			return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: %s: contains a NUL byte", attr);
		}
		buf[j++] = (unsigned char)c;
	}
	buf[j] = '\0';
	*out = buf;
	*outlen = j;
	return 0;
}

static int set_str(char **dst, const char *v, size_t n, const char *attr, efos_err *e)
{
	unsigned char *d;
	size_t len;
	if (*dst != NULL)
		return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: %s given twice", attr);
	if (pct_decode(v, n, &d, &len, false, attr, e) < 0)
		return -1;
	*dst = (char *)d;
	return 0;
}

void hsm_uri_free(struct hsm_uri *u)
{
	if (u == NULL)
		return;
	free(u->token);
	free(u->manufacturer);
	free(u->serial);
	free(u->model);
	free(u->slot_description);
	free(u->slot_manufacturer);
	free(u->object);
	free(u->id);
	free(u->type);
	memset(u, 0, sizeof *u);
}

static int parse_attr(struct hsm_uri *u, const char *a, size_t n, bool query, efos_err *e)
{
	const char *eq = memchr(a, '=', n);
	if (n == 0)
		return 0; /* "pkcs11:" alone, or a trailing ';' */
	if (eq == NULL)
		return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: attribute '%.*s' has no '='", (int)n, a);
	size_t klen = (size_t)(eq - a);
	const char *v = eq + 1;
	size_t vlen = n - klen - 1;
	char key[32];
	if (klen == 0 || klen >= sizeof key)
		return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: bad attribute name '%.*s'", (int)klen, a);
	memcpy(key, a, klen);
	key[klen] = '\0';

	if (query) {
		if (strcmp(key, "pin-value") == 0 || strcmp(key, "pin-source") == 0)
			return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: %s is not accepted; "
					 "give the PIN through the configured PIN file or environment variable", key);
		if (strcmp(key, "module-name") == 0 || strcmp(key, "module-path") == 0)
			return 0;
		return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: unsupported query attribute '%s'", key);
	}
	if (strcmp(key, "token") == 0)
		return set_str(&u->token, v, vlen, key, e);
	if (strcmp(key, "manufacturer") == 0)
		return set_str(&u->manufacturer, v, vlen, key, e);
	if (strcmp(key, "serial") == 0)
		return set_str(&u->serial, v, vlen, key, e);
	if (strcmp(key, "model") == 0)
		return set_str(&u->model, v, vlen, key, e);
	if (strcmp(key, "slot-description") == 0)
		return set_str(&u->slot_description, v, vlen, key, e);
	if (strcmp(key, "slot-manufacturer") == 0)
		return set_str(&u->slot_manufacturer, v, vlen, key, e);
	if (strcmp(key, "object") == 0)
		return set_str(&u->object, v, vlen, key, e);
	if (strcmp(key, "type") == 0) {
		if (set_str(&u->type, v, vlen, key, e) < 0)
			return -1;
		static const char *const types[] = { "private", "public", "cert", "secret-key", "data" };
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
			if (strcmp(u->type, types[i]) == 0)
				return 0;
		return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: unknown type '%s'", u->type);
	}
	if (strcmp(key, "id") == 0) {
		if (u->id != NULL)
			return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: id given twice");
		return pct_decode(v, vlen, &u->id, &u->id_len, true, key, e);
	}
	if (strcmp(key, "slot-id") == 0) {
		char *s = NULL, *end;
		if (u->has_slot)
			return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: slot-id given twice");
		if (set_str(&s, v, vlen, key, e) < 0)
			return -1;
		errno = 0;
		unsigned long val = strtoul(s, &end, 10);
		bool bad = *s == '\0' || *end != '\0' || errno != 0 || *s == '-';
		free(s);
		if (bad)
			return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: slot-id must be a decimal number");
		u->has_slot = true;
		u->slot = val;
		return 0;
	}
	return efos_fail(e, EFOS_E_INVALID, "PKCS#11 URI: unsupported attribute '%s'", key);
}

int hsm_uri_parse(const char *uri, struct hsm_uri *u, efos_err *e)
{
	memset(u, 0, sizeof *u);
	if (uri == NULL || strncasecmp(uri, "pkcs11:", 7) != 0)
		return efos_fail(e, EFOS_E_INVALID, "not a PKCS#11 URI (must start with 'pkcs11:')");
	const char *p = uri + 7;
	const char *q = strchr(p, '?');
	size_t plen = q ? (size_t)(q - p) : strlen(p);

	/* path: attributes separated by ';' */
	for (const char *a = p; a < p + plen;) {
		const char *end = memchr(a, ';', (size_t)(p + plen - a));
		size_t n = end ? (size_t)(end - a) : (size_t)(p + plen - a);
		if (parse_attr(u, a, n, false, e) < 0)
			goto fail;
		a += n + 1;
	}
	/* query: attributes separated by '&' */
	if (q != NULL) {
		const char *qs = q + 1, *qe = q + 1 + strlen(q + 1);
		for (const char *a = qs; a < qe;) {
			const char *end = memchr(a, '&', (size_t)(qe - a));
			size_t n = end ? (size_t)(end - a) : (size_t)(qe - a);
			if (parse_attr(u, a, n, true, e) < 0)
				goto fail;
			a += n + 1;
		}
	}
	return 0;
fail:
	hsm_uri_free(u);
	return -1;
}

bool hsm_uri_field_eq(const unsigned char *field, size_t field_len, const char *want)
{
	size_t n = field_len;
	while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\0'))
		n--;
	return strlen(want) == n && memcmp(field, want, n) == 0;
}

void hsm_uri_pct_encode(char *dst, size_t cap, const unsigned char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 4 < cap; i++) {
		unsigned char ch = s[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~')
			dst[o++] = (char)ch;
		else
			o += (size_t)snprintf(dst + o, cap - o, "%%%02X", ch);
	}
	if (cap > 0)
		dst[o] = '\0';
}

void hsm_uri_private_key(char *dst, size_t cap, const char *token_uri, const char *label, const unsigned char *id,
			 size_t id_len)
{
	char l[256], idb[200];
	hsm_uri_pct_encode(l, sizeof l, (const unsigned char *)(label ? label : ""), label ? strlen(label) : 0);
	size_t o = 0;
	idb[0] = '\0';
	for (size_t i = 0; i < id_len && o + 4 < sizeof idb; i++)
		o += (size_t)snprintf(idb + o, sizeof idb - o, "%%%02X", id[i]);
	size_t tl = strcspn(token_uri, "?");
	bool bare = tl > 0 && token_uri[tl - 1] == ':';   /* "pkcs11:" takes no ';' before object= */
	snprintf(dst, cap, "%.*s%sobject=%s%s%s;type=private", (int)tl, token_uri, bare ? "" : ";", l,
		 o ? ";id=" : "", idb);
}
