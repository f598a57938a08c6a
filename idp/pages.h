/* The IdP's pages (docs/idp.md "Pages"): server-rendered HTML from the templates in
 * web/idp/NAME.html, in Swedish or English, usable without JavaScript.
 *
 * Template language (deliberately tiny):
 *   {{name}}        the variable's value, HTML-escaped (& < > " ' all escaped: safe in text and
 *                   in quoted attributes)
 *   {{_key}}        the text `key` of the message catalogue (pages.c) in the page's language,
 *                   HTML-escaped
 *   {{{name}}}      the variable's value as is: only for HTML this module built itself from
 *                   escaped parts (attribute lists, the sanitised sign message)
 *   {{?name}}...{{/name}}   the part between is kept only when the variable is set and non-empty
 * Every page is the body template placed into layout.html.
 *
 * Responses carry Content-Security-Policy (no inline script except the one auto-submit script
 * with a per-response nonce; forms only to ourselves and the SP's ACS), no-store caching,
 * frame-ancestors 'none', Referrer-Policy no-referrer (the transaction id is in URLs). */
#ifndef EFOS_IDP_PAGES_H
#define EFOS_IDP_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"
#include "core/http.h"
#include "idp/types.h"

struct idp_page_var {
	const char *name;
	const char *value;
};

/* Loads every template of dir (NULL or "auto": web/ beside the program, then
 * PREFIX/share/efos/web) once at start. */
int idp_pages_load(const char *dir, efos_err *e);
void idp_pages_unload(void);
/* The directory the templates came from (for the static files). */
const char *idp_pages_dir(void);

/* "sv" or "en": ?lang= (or the form's lang), else the Accept-Language preference, else "sv". */
const char *idp_pages_lang(const struct http_request *req);

/* The catalogue text key in lang ("" when unknown). */
const char *idp_pages_text(const char *key, const char *lang);

/* Renders body template `name` into the layout. vars are borrowed. Returns a malloc'd string
 * or NULL (out of memory, unknown template). */
char *idp_page_render(const char *name, const char *lang, const struct idp_page_var *vars, size_t n);

/* A fresh script nonce for idp_page_send (16 random bytes as 32 hex digits), malloc'd; NULL
 * when the random generator or memory fails. */
char *idp_page_nonce(void);

/* Sends html (taken) with status and the security headers. nonce: the script nonce the page
 * uses (NULL: no script allowed). form_target: an extra form-action source (the ACS URL) or
 * NULL. */
void idp_page_send(struct http_response *resp, int status, char *html, const char *nonce,
		   const char *form_target);

/* HTML escaping of s (NULL -> ""), malloc'd. */
char *idp_html_escape(const char *s);

/* The sign message as safe HTML for the sign-message page: text (escaped, line breaks kept),
 * markdown (a safe subset: paragraphs, # headings, **bold**, *italic*, - and 1. lists, line
 * breaks; everything else literal text, all escaped) or HTML (spec §6.2 whitelist: h1-h4 div
 * span p table tr td b strong with only a style attribute whose value is restricted to simple
 * declarations; i u br ol ul li without attributes; the five entities; anything else is shown
 * as escaped text, never interpreted). NULL with e when it cannot be shown faithfully (bad
 * UTF-8, forbidden markup in HTML: a script, an external reference): the caller treats a
 * MustShow message as not displayable. */
char *idp_sign_message_html(enum idp_sig_msg_mime mime, const char *msg, efos_err *e);

#endif
