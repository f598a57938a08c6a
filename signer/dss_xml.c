/* Helpers of signer/dss_xml.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "core/base64.h"
#include "core/utf8.h"
#include "core/xml.h"
#include "signer/dss_xml.h"

bool dss_is_el(xmlNodePtr n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL && n->ns->href != NULL &&
	       strcmp((const char *)n->name, name) == 0 && strcmp((const char *)n->ns->href, ns) == 0;
}

char *dss_attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
	if (v == NULL)
		return NULL;
	char *s = strdup((const char *)v);
	xmlFree(v);
	return s;
}

static bool xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int dss_text(xmlNodePtr el, size_t max, bool trim, char **out, efos_err *e)
{
	xmlChar *raw = NULL;
	*out = NULL;
	if (xml_text_content_strict(el, &raw, e) < 0)
		return -1;
	const char *s = raw ? (const char *)raw : "";
	size_t len = strlen(s);
	if (trim) {
		while (len > 0 && xml_space(*s))
			s++, len--;
		while (len > 0 && xml_space(s[len - 1]))
			len--;
	}
	if (len > max) {
		xmlFree(raw);
		return efos_fail(e, EFOS_E_TOOBIG, "<%s> is longer than %zu bytes", (const char *)el->name, max);
	}
	*out = strndup(s, len);
	xmlFree(raw);
	if (*out == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int dss_b64_decode(const char *in, size_t max, unsigned char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	size_t inlen = strlen(in);
	/* 3 bytes per 4 characters, whitespace only makes the input longer */
	unsigned char *buf = malloc(inlen / 4 * 3 + 4);
	if (buf == NULL)
		return -1;
	unsigned acc = 0;
	size_t n = 0, pad = 0;
	int have = 0;
	for (size_t i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		if (xml_space((char)c))
			continue;
		if (c == '=') {
			pad++;
			if (pad > 2)
				goto bad;
			continue;
		}
		int v = b64_value(c);
		if (v < 0 || pad > 0)          /* '=' only at the very end */
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		if (++have == 4) {
			buf[n++] = (unsigned char)(acc >> 16);
			buf[n++] = (unsigned char)(acc >> 8);
			buf[n++] = (unsigned char)acc;
			acc = 0;
			have = 0;
		}
		if (n > max)
			goto bad;
	}
	/* have + pad must complete a quantum; the unused low bits must be zero (canonical). */
	if ((have + (int)pad) % 4 != 0 || (have == 0 && pad != 0))
		goto bad;
	if (have == 2) {
		if (acc & 0xf)
			goto bad;
		buf[n++] = (unsigned char)(acc >> 4);
	} else if (have == 3) {
		if (acc & 0x3)
			goto bad;
		buf[n++] = (unsigned char)(acc >> 10);
		buf[n++] = (unsigned char)(acc >> 2);
	}
	if (n > max)
		goto bad;
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
bad:
	free(buf);
	return -1;
}

char *dss_b64_encode(const unsigned char *d, size_t n)
{
	return b64_encode(d, n);
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int dss_parse_datetime(const char *s, time_t *out)
{
	/* YYYY-MM-DDThh:mm:ss */
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -1;
	struct tm tm = { 0 };
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    se < 0 || se > 59)
		return -1;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		const char *f = p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == f || p - f > 9)
			return -1;
	}
	long off = 0;
	if (*p == 'Z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh = digits(p + 1, 2), om = digits(p + 4, 2);
		if (oh < 0 || oh > 14 || om < 0 || om > 59)
			return -1;
		off = (oh * 3600L + om * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;   /* a time without a zone is not a point in time */
	}
	if (*p != '\0')
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	struct tm back;
	if (gmtime_r(&t, &back) == NULL || back.tm_mday != d)   /* 31 February */
		return -1;
	*out = t - off;
	return 0;
}

void dss_format_datetime(time_t t, char *buf, size_t cap)
{
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "1970-01-01T00:00:00Z");
}

bool dss_utf8_ok(const unsigned char *s, size_t len)
{
	/* DEL too: it has no place in a message a person reads */
	return utf8_text_ok(s, len) && (len == 0 || memchr(s, 0x7f, len) == NULL);
}
