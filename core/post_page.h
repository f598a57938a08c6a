/* The auto-submitting HTML form page of the HTTP-POST bindings: SAML (Bindings §3.5, a
 * SAMLRequest/SAMLResponse) and the DSS signing protocol (an EidSignResponse back to the
 * signature requester). A visible submit button makes it work without JavaScript; with a
 * script_nonce it submits itself (CSP: script-src 'nonce-...'). Every value is HTML-escaped. */
#ifndef EFOS_CORE_POST_PAGE_H
#define EFOS_CORE_POST_PAGE_H

#include <stddef.h>

struct post_field {
	const char *name;
	const char *value;   /* NULL: the field is left out */
};

/* The page POSTing the hidden fields (in order) to action, with notice as the visible text
 * above the button. script_nonce NULL: no script at all. Returns a malloc'd string, or NULL
 * when action/notice is missing or memory runs out. */
char *post_page(const char *action, const struct post_field *fields, size_t nfields, const char *notice,
		const char *script_nonce);

#endif
