/* Trusted reverse proxy: when TLS ends at a proxy (nginx, HAProxy), the proxy forwards the
 * client certificate in a header (URL-encoded PEM, like nginx's $ssl_client_escaped_cert).
 * We believe that header only from the configured proxy addresses, and verify the chain it
 * carries exactly as we verify a chain presented to us over TLS. The proxy asserts that the
 * client proved possession of the key in its own handshake; the chain as carried is also
 * kept unverified for HTTP_ROUTE_CLIENT_CERT_RAW routes. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "core/config.h"
#include "core/http_internal.h"

/* Compares numerically so that "::ffff:10.0.0.1" and "10.0.0.1", or differently written
 * IPv6 addresses, match. An entry may be a CIDR block ("10.0.0.0/8"). */
static bool addr_match(const char *entry, const char *addr)
{
	unsigned char a[16], b[16];
	int fa, fb, bits = -1;
	char ebuf[INET6_ADDRSTRLEN + 8];
	snprintf(ebuf, sizeof ebuf, "%s", entry);
	char *slash = strchr(ebuf, '/');
	if (slash != NULL) {
		*slash = '\0';
		char *end;
		long v = strtol(slash + 1, &end, 10);
		if (*end != '\0' || v < 0 || v > 128)
			return false;
		bits = (int)v;
	}
	fa = strchr(ebuf, ':') ? AF_INET6 : AF_INET;
	fb = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fa, ebuf, a) != 1 || inet_pton(fb, addr, b) != 1)
		return false;
	size_t la = fa == AF_INET ? 4 : 16, lb = fb == AF_INET ? 4 : 16;
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	/* bring IPv4-mapped IPv6 down to IPv4 */
	if (la == 16 && memcmp(a, mapped, 12) == 0) {
		memmove(a, a + 12, 4);
		la = 4;
		if (bits >= 96)
			bits -= 96;
	}
	if (lb == 16 && memcmp(b, mapped, 12) == 0) {
		memmove(b, b + 12, 4);
		lb = 4;
	}
	if (la != lb)
		return false;
	if (bits < 0 || (size_t)bits > la * 8)
		bits = (int)la * 8;
	int full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool http_proxy_is_trusted(const struct efos_config *cfg, const char *addr)
{
	for (size_t i = 0; i < cfg->n_proxy_trusted; i++)
		if (cfg->proxy_trusted[i] != NULL && addr_match(cfg->proxy_trusted[i], addr))
			return true;
	return false;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *http_url_decode(const char *s, size_t len, bool plus_space)
{
	char *out = malloc(len + 1);
	size_t n = 0;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int h, l;
			if (i + 2 >= len || (h = hexval((unsigned char)s[i + 1])) < 0 ||
			    (l = hexval((unsigned char)s[i + 2])) < 0) {
				free(out);
				return NULL;
			}
			out[n++] = (char)(h * 16 + l);
			i += 2;
		} else if (s[i] == '+' && plus_space) {
			out[n++] = ' ';
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	return out;
}

STACK_OF(X509) *http_proxy_chain_from_header(const struct http_tls *t, const char *value,
					     STACK_OF(X509) **presented, char *why, size_t whylen)
{
	STACK_OF(X509) *all = NULL, *untrusted = NULL, *chain = NULL;
	BIO *bio = NULL;
	*presented = NULL;
	why[0] = '\0';
	char *pem = http_url_decode(value, strlen(value), false);
	if (pem == NULL) {
		snprintf(why, whylen, "client certificate header is not URL-encoded PEM");
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, -1);
	all = sk_X509_new_null();
	untrusted = sk_X509_new_null();
	if (bio == NULL || all == NULL || untrusted == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	X509 *x;
	for (int i = 0; i < 10 && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL; i++) {
		if (!sk_X509_push(all, x)) {
			X509_free(x);
			snprintf(why, whylen, "out of memory");
			goto out;
		}
		if (i > 0 && !sk_X509_push(untrusted, x)) {   /* borrowed from all */
			snprintf(why, whylen, "out of memory");
			goto out;
		}
	}
	if (sk_X509_num(all) == 0) {
		snprintf(why, whylen, "client certificate header holds no PEM certificate");
		goto out;
	}
	chain = http_tls_verify_chain(t, sk_X509_value(all, 0), untrusted, why, whylen);
	*presented = all;
	all = NULL;
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	sk_X509_pop_free(all, X509_free);
	BIO_free(bio);
	free(pem);
	return chain;
}

bool http_proxy_request_id_ok(const char *id)
{
	size_t n = 0;
	for (; id[n] != '\0'; n++) {
		unsigned char c = (unsigned char)id[n];
		if (n >= 64 || !(isalnum(c) || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}
