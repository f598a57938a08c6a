/* SAML HTTP-Redirect binding: query parsing, bounded inflate, query-string signature
 * (see xml_redirect.h).
 *
 * The signature covers the URL-encoded octets as the sender wrote them. Re-encoding the
 * decoded values ourselves would make verification depend on which characters the sender
 * chose to escape (implementations differ: case of hex digits, '~', '+' for space), so we
 * keep the raw spans and never re-encode. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "core/hex.h"
#include "core/xml_alg.h"
#include "core/xml_redirect.h"

const struct xml_redirect_limits xml_redirect_limits_default = {
	.max_query = XML_REDIRECT_MAX_QUERY,
	.max_inflated = XML_REDIRECT_MAX_INFLATED,
	.max_relay_state = XML_REDIRECT_MAX_RELAY_STATE,
};

#define MAX_SIG_BYTES 1024

struct span {
	const char *p;   /* NULL when absent */
	size_t n;
};

enum param { P_REQUEST, P_RESPONSE, P_RELAY, P_SIGALG, P_SIGNATURE, P_COUNT };
static const char *const param_names[P_COUNT] = { "SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature" };

/* application/x-www-form-urlencoded value -> new NUL-terminated string; NUL bytes refused. */
static int url_decode(struct span s, const char *what, char **out, size_t *outlen, efos_err *e)
{
	char *d = malloc(s.n + 1);
	size_t o = 0;
	if (d == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= s.n) {
				free(d);
				return efos_fail(e, EFOS_E_INVALID, "SAML Redirect: %s has a truncated %%-escape", what);
			}
			int h = hex_digit(s.p[i + 1]), l = hex_digit(s.p[i + 2]);
			if (h < 0 || l < 0) {
				free(d);
				return efos_fail(e, EFOS_E_INVALID, "SAML Redirect: %s has a bad %%-escape", what);
			}
			c = (char)(h * 16 + l);
			i += 2;
		}
		if (c == '\0') {
			free(d);
			return efos_fail(e, EFOS_E_INVALID, "SAML Redirect: %s contains a NUL byte", what);
		}
		d[o++] = c;
	}
	d[o] = '\0';
	*out = d;
	if (outlen != NULL)
		*outlen = o;
	return 0;
}

static int b64_decode(const char *in, size_t inlen, size_t max_out, const char *what, unsigned char **out,
		      size_t *outlen, efos_err *e)
{
	size_t cap = inlen / 4 * 3 + 3;
	unsigned char *buf = malloc(cap);
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int n1 = 0, n2 = 0, ret = -1;
	if (buf == NULL || ctx == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (inlen > (size_t)INT32_MAX / 2) {
		efos_fail(e, EFOS_E_TOOBIG, "SAML Redirect: %s is too long", what);
		goto out;
	}
	EVP_DecodeInit(ctx);
	if (inlen == 0 || EVP_DecodeUpdate(ctx, buf, &n1, (const unsigned char *)in, (int)inlen) < 0 ||
	    EVP_DecodeFinal(ctx, buf + n1, &n2) != 1 || n1 + n2 == 0) {
		efos_fail(e, EFOS_E_INVALID, "SAML Redirect: %s is not base64", what);
		goto out;
	}
	if ((size_t)(n1 + n2) > max_out) {
		efos_fail(e, EFOS_E_INVALID, "SAML Redirect: %s is longer than %zu bytes", what, max_out);
		goto out;
	}
	*out = buf;
	*outlen = (size_t)(n1 + n2);
	buf = NULL;
	ret = 0;
out:
	EVP_ENCODE_CTX_free(ctx);
	free(buf);
	return ret;
}

int xml_redirect_inflate(const unsigned char *in, size_t inlen, size_t max_out, unsigned char **out,
			 size_t *outlen, efos_err *e)
{
	z_stream zs = { 0 };
	unsigned char *buf = NULL;
	size_t cap = 0;
	int ret = -1, zrc;

	*out = NULL;
	if (inlen > UINT32_MAX || max_out > UINT32_MAX - 1)
		return efos_fail(e, EFOS_E_TOOBIG, "SAML Redirect: message too large");
	if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
		return efos_fail(e, EFOS_E_INTERNAL, "SAML Redirect: inflate init failed");
	/* Grow geometrically up to max_out + 1: one byte over the limit is how we see it. */
	cap = inlen * 4 + 64 < max_out + 1 ? inlen * 4 + 64 : max_out + 1;
	if ((buf = malloc(cap + 1)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)inlen;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	for (;;) {
		zrc = inflate(&zs, Z_NO_FLUSH);
		if (zrc == Z_STREAM_END)
			break;
		if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
			efos_fail(e, EFOS_E_INVALID, "SAML Redirect: the message is not valid DEFLATE data");
			goto out;
		}
		if (zs.avail_out == 0) {
			if (zs.total_out > max_out) {
				efos_fail(e, EFOS_E_TOOBIG, "SAML Redirect: the inflated message is larger than %zu bytes", max_out);
				goto out;
			}
			size_t ncap = cap * 2 < max_out + 1 ? cap * 2 : max_out + 1;
			unsigned char *nb = realloc(buf, ncap + 1);
			if (nb == NULL) {
				efos_fail(e, EFOS_E_INTERNAL, "out of memory");
				goto out;
			}
			buf = nb;
			zs.next_out = buf + cap;
			zs.avail_out = (uInt)(ncap - cap);
			cap = ncap;
			continue;
		}
		/* Output space left, no error, no end: the input ran out mid-stream. */
		efos_fail(e, EFOS_E_INVALID, "SAML Redirect: the DEFLATE data is truncated");
		goto out;
	}
	if (zs.total_out > max_out) {
		efos_fail(e, EFOS_E_TOOBIG, "SAML Redirect: the inflated message is larger than %zu bytes", max_out);
		goto out;
	}
	if (zs.avail_in != 0) {
		efos_fail(e, EFOS_E_INVALID, "SAML Redirect: data after the end of the DEFLATE stream");
		goto out;
	}
	buf[zs.total_out] = '\0';
	*out = buf;
	*outlen = zs.total_out;
	buf = NULL;
	ret = 0;
out:
	inflateEnd(&zs);
	free(buf);
	return ret;
}

void xml_redirect_msg_free(struct xml_redirect_msg *m)
{
	if (m == NULL)
		return;
	free(m->xml);
	free(m->relay_state);
	free(m->sig_alg);
	free(m->signature);
	free(m->signed_octets);
	memset(m, 0, sizeof *m);
}

int xml_redirect_parse(const char *query, size_t len, const struct xml_redirect_limits *lim,
		       struct xml_redirect_msg *out, efos_err *e)
{
	struct span p[P_COUNT] = { { 0 } };
	char *msg_text = NULL;
	unsigned char *deflated = NULL;
	size_t msg_len = 0, deflated_len = 0;

	memset(out, 0, sizeof *out);
	if (lim == NULL)
		lim = &xml_redirect_limits_default;
	if (len > lim->max_query)
		return efos_fail(e, EFOS_E_TOOBIG, "SAML Redirect: query string of %zu bytes is over the limit of %zu",
				 len, lim->max_query);
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && query[j] != '&')
			j++;
		const char *eq = memchr(query + i, '=', j - i);
		size_t nlen = eq ? (size_t)(eq - (query + i)) : j - i;
		for (int k = 0; k < P_COUNT; k++) {
			if (strlen(param_names[k]) != nlen || memcmp(query + i, param_names[k], nlen) != 0)
				continue;
			if (p[k].p != NULL)
				return efos_fail(e, EFOS_E_INVALID, "SAML Redirect: parameter %s is given twice", param_names[k]);
			p[k].p = eq ? eq + 1 : query + j;
			p[k].n = eq ? (size_t)(query + j - (eq + 1)) : 0;
		}
		i = j + 1;
	}
	if ((p[P_REQUEST].p != NULL) == (p[P_RESPONSE].p != NULL))
		return efos_fail(e, EFOS_E_INVALID, "SAML Redirect: exactly one of SAMLRequest and SAMLResponse is required");
	if ((p[P_SIGALG].p != NULL) != (p[P_SIGNATURE].p != NULL))
		return efos_fail(e, EFOS_E_INVALID, "SAML Redirect: Signature and SigAlg come together or not at all");
	out->is_response = p[P_RESPONSE].p != NULL;
	enum param mp = out->is_response ? P_RESPONSE : P_REQUEST;

	if (url_decode(p[mp], param_names[mp], &msg_text, &msg_len, e) < 0)
		goto fail;
	if (b64_decode(msg_text, msg_len, lim->max_query, param_names[mp], &deflated, &deflated_len, e) < 0)
		goto fail;
	if (xml_redirect_inflate(deflated, deflated_len, lim->max_inflated, &out->xml, &out->xml_len, e) < 0)
		goto fail;
	if (p[P_RELAY].p != NULL) {
		size_t rl = 0;
		if (url_decode(p[P_RELAY], "RelayState", &out->relay_state, &rl, e) < 0)
			goto fail;
		if (rl > lim->max_relay_state) {
			efos_fail(e, EFOS_E_INVALID, "SAML Redirect: RelayState of %zu bytes is over the limit of %zu", rl,
				  lim->max_relay_state);
			goto fail;
		}
	}
	if (p[P_SIGALG].p != NULL) {
		char *sig_text = NULL;
		size_t sig_text_len = 0;
		if (url_decode(p[P_SIGALG], "SigAlg", &out->sig_alg, NULL, e) < 0 ||
		    url_decode(p[P_SIGNATURE], "Signature", &sig_text, &sig_text_len, e) < 0)
			goto fail;
		int rc = b64_decode(sig_text, sig_text_len, MAX_SIG_BYTES, "Signature", &out->signature,
				    &out->signature_len, e);
		free(sig_text);
		if (rc < 0)
			goto fail;
		/* name=value[&RelayState=value]&SigAlg=value, raw */
		size_t n = strlen(param_names[mp]) + 1 + p[mp].n + sizeof "&SigAlg=" - 1 + p[P_SIGALG].n;
		if (p[P_RELAY].p != NULL)
			n += sizeof "&RelayState=" - 1 + p[P_RELAY].n;
		if ((out->signed_octets = malloc(n + 1)) == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto fail;
		}
		char *w = out->signed_octets;
		w += sprintf(w, "%s=", param_names[mp]);
		memcpy(w, p[mp].p, p[mp].n);
		w += p[mp].n;
		if (p[P_RELAY].p != NULL) {
			w += sprintf(w, "&RelayState=");
			memcpy(w, p[P_RELAY].p, p[P_RELAY].n);
			w += p[P_RELAY].n;
		}
		w += sprintf(w, "&SigAlg=");
		memcpy(w, p[P_SIGALG].p, p[P_SIGALG].n);
		w += p[P_SIGALG].n;
		*w = '\0';
		out->signed_len = (size_t)(w - out->signed_octets);
	}
	free(msg_text);
	free(deflated);
	return 0;
fail:
	free(msg_text);
	free(deflated);
	xml_redirect_msg_free(out);
	return -1;
}

int xml_redirect_verify(const struct xml_redirect_msg *m, EVP_PKEY *const *keys, size_t nkeys,
			const struct xml_dsig_policy *pol, efos_err *e)
{
	if (pol == NULL)
		pol = &xml_dsig_policy_saml;
	if (m->sig_alg == NULL || m->signature == NULL || m->signed_octets == NULL)
		return efos_fail(e, EFOS_E_AUTH, "SAML Redirect: the message is not signed");
	const struct xml_sig_alg *sa = xml_sig_alg_find(m->sig_alg);
	if (sa == NULL || !xml_alg_in_list(m->sig_alg, pol->sig_algs))
		return efos_fail(e, EFOS_E_INVALID, "SAML Redirect: SigAlg %.100s refused (%s)", m->sig_alg,
				 sa ? "not allowed by this profile" : xml_alg_refusal(m->sig_alg));
	const char *why = "no trusted key is configured";
	size_t usable = 0;
	for (size_t i = 0; i < nkeys; i++) {
		if (keys[i] == NULL || !xml_alg_key_ok(keys[i], sa, pol->min_rsa_bits, pol->min_ec_bits, &why))
			continue;
		usable++;
		if (xml_alg_verify(keys[i], sa, (const unsigned char *)m->signed_octets, m->signed_len, m->signature,
				   m->signature_len) == 1)
			return 0;
	}
	if (usable == 0)
		return efos_fail(e, EFOS_E_AUTH, "SAML Redirect: none of the %zu trusted keys can check a %s signature: %s",
				 nkeys, m->sig_alg, why);
	return efos_fail(e, EFOS_E_AUTH, "SAML Redirect: the signature does not verify with any of the %zu trusted keys",
			 usable);
}
