/* The HTTP-POST binding's page (SAML Bindings §3.5): an HTML form that a browser POSTs to the
 * next party, used by the IdP (SAMLResponse to an SP's ACS) and the signing service
 * (SAMLRequest to an IdP). A visible submit button makes it work without JavaScript; with a
 * script_nonce it submits itself (CSP: script-src 'nonce-...'). Every value is HTML-escaped. */
#ifndef EFOS_CORE_SAML_POST_H
#define EFOS_CORE_SAML_POST_H

/* The page POSTing field=value (+ RelayState when relay_state is non-NULL) to action. field is
 * "SAMLResponse" or "SAMLRequest". script_nonce NULL: no script at all. Returns a malloc'd
 * string, or NULL when an argument is missing or memory runs out. */
char *saml_post_form(const char *action, const char *field, const char *value, const char *relay_state,
		     const char *script_nonce);

#endif
