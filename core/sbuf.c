/* A growing string buffer with HTML escaping: see sbuf.h. */
#include <stdlib.h>
#include <string.h>
#include "core/sbuf.h"

void sbuf_add(struct sbuf *b, const char *s, size_t len)
{
	if (b->oom)
		return;
	if (b->n + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->n + len + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

void sbuf_str(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void sbuf_esc_n(struct sbuf *b, const char *s, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		const char *r = NULL;
		switch (s[i]) {
		case '&': r = "&amp;"; break;
		case '<': r = "&lt;"; break;
		case '>': r = "&gt;"; break;
		case '"': r = "&quot;"; break;
		case '\'': r = "&#39;"; break;
		default: break;
		}
		if (r != NULL) {
			sbuf_add(b, s + start, i - start);
			sbuf_str(b, r);
			start = i + 1;
		}
	}
	sbuf_add(b, s + start, len - start);
}

void sbuf_esc(struct sbuf *b, const char *s)
{
	if (s != NULL)
		sbuf_esc_n(b, s, strlen(s));
}

char *sbuf_take(struct sbuf *b)
{
	if (b->oom) {
		free(b->p);
		b->p = NULL;
		return NULL;
	}
	if (b->p == NULL)
		return strdup("");
	return b->p;
}
