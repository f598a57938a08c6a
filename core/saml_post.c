/* The HTTP-POST binding's auto-submitting page: see saml_post.h. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "core/saml_post.h"

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap : 1024);
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void put_escaped(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': puts_(b, "&amp;"); break;
		case '<': puts_(b, "&lt;"); break;
		case '>': puts_(b, "&gt;"); break;
		case '"': puts_(b, "&quot;"); break;
		case '\'': puts_(b, "&#39;"); break;
		default: put(b, s, 1);
		}
	}
}

char *saml_post_form(const char *action, const char *field, const char *value, const char *relay_state,
		     const char *script_nonce)
{
	struct sbuf b = { 0 };
	if (action == NULL || field == NULL || value == NULL)
		return NULL;
	puts_(&b, "<!DOCTYPE html>\n<html lang=\"sv\"><head><meta charset=\"utf-8\">"
		  "<meta name=\"referrer\" content=\"no-referrer\"><title>EFOS</title></head>\n<body>\n"
		  "<form method=\"post\" action=\"");
	put_escaped(&b, action);
	puts_(&b, "\">\n<input type=\"hidden\" name=\"");
	put_escaped(&b, field);
	puts_(&b, "\" value=\"");
	put_escaped(&b, value);
	puts_(&b, "\">\n");
	if (relay_state != NULL) {
		puts_(&b, "<input type=\"hidden\" name=\"RelayState\" value=\"");
		put_escaped(&b, relay_state);
		puts_(&b, "\">\n");
	}
	puts_(&b, "<p>Du skickas vidare till tjänsten. / You are being sent on to the service.</p>\n"
		  "<button type=\"submit\">Fortsätt / Continue</button>\n</form>\n");
	if (script_nonce != NULL) {
		puts_(&b, "<script nonce=\"");
		put_escaped(&b, script_nonce);
		puts_(&b, "\">document.forms[0].submit();</script>\n");
	}
	puts_(&b, "</body></html>\n");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
