/* What a handler reads from a request: headers, query and form arguments; plus the request
 * id and the per-request state's release. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include "core/http_internal.h"

void http_request_id_new(char out[HTTP_REQID_MAX])
{
	unsigned char r[8];
	if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
		/* Never fails on Linux once booted; a counter keeps ids unique if it does. */
		static atomic_ullong ctr;
		unsigned long long v = atomic_fetch_add(&ctr, 1) ^ (unsigned long long)(uintptr_t)out;
		memcpy(r, &v, sizeof r);
	}
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

struct hdr_sum { size_t n; };

static enum MHD_Result add_header_len(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct hdr_sum *s = cls;
	s->n += strlen(key) + (value ? strlen(value) : 0) + 4;   /* ": " and CRLF */
	return MHD_YES;
}

size_t http_request_header_bytes(struct MHD_Connection *c, const char *method, const char *url)
{
	struct hdr_sum s = { strlen(method) + strlen(url) + 12 };  /* " HTTP/1.1\r\n" */
	MHD_get_connection_values(c, MHD_HEADER_KIND, add_header_len, &s);
	return s.n;
}

const char *http_req_header(const struct http_request *r, const char *name)
{
	const struct http_req_state *st = r->impl;
	return MHD_lookup_connection_value(st->mhd, MHD_HEADER_KIND, name);
}

/* application/x-www-form-urlencoded bodies: parsed on first lookup, kept until the end of
 * the request. */
static void parse_form(struct http_req_state *st)
{
	st->form_parsed = true;
	const char *ct = MHD_lookup_connection_value(st->mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 || st->body == NULL)
		return;
	size_t n = 1;
	for (size_t i = 0; i < st->body_len; i++)
		n += st->body[i] == '&';
	st->form = calloc(n, sizeof *st->form);
	if (st->form == NULL)
		return;
	const char *p = (const char *)st->body, *end = p + st->body_len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		const char *eq = memchr(p, '=', (size_t)(amp - p));
		const char *kend = eq ? eq : amp;
		char *k = http_url_decode(p, (size_t)(kend - p), true);
		char *v = eq ? http_url_decode(eq + 1, (size_t)(amp - eq - 1), true) : strdup("");
		if (k != NULL && v != NULL && k[0] != '\0' && st->n_form < n) {
			st->form[st->n_form].name = k;
			st->form[st->n_form].value = v;
			st->n_form++;
		} else {
			free(k);
			free(v);
		}
		p = amp + 1;
	}
}

const char *http_req_query(const struct http_request *r, const char *name)
{
	struct http_req_state *st = r->impl;
	const char *v = MHD_lookup_connection_value(st->mhd, MHD_GET_ARGUMENT_KIND, name);
	if (v != NULL)
		return v;
	if (!st->form_parsed)
		parse_form(st);
	for (size_t i = 0; i < st->n_form; i++)
		if (strcmp(st->form[i].name, name) == 0)
			return st->form[i].value;
	return NULL;
}

const char *http_req_raw_query(const struct http_request *r)
{
	const struct http_req_state *st = r->impl;
	return st != NULL ? st->raw_query : NULL;
}

void http_req_state_free(struct http_req_state *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->n_form; i++) {
		free(st->form[i].name);
		free(st->form[i].value);
	}
	free(st->form);
	free(st->raw_query);
	free(st->pending_msg);
	sk_X509_pop_free(st->proxy_chain, X509_free);
	sk_X509_pop_free(st->proxy_presented, X509_free);
	free(st->body);
	free(st->path);
	free(st);
}
