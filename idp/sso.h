/* The IdP's login flow in efosd (docs/idp.md): the SSO endpoints, the card step, the notice and
 * sign-message pages and the POST of the Response.
 *
 *   GET  /idp/sso/redirect, POST /idp/sso/post          public listener (WebSSO)
 *   GET  /idp/hok/sso/redirect, POST /idp/hok/sso/post  mTLS listener (holder-of-key WebSSO)
 *   GET  /idp/login/card?tx=                            mTLS listener: the card login
 *   GET  /idp/login/next?tx=                            the next page of an authenticated login
 *   POST /idp/login/sign, POST /idp/login/consent       the sign-message and notice forms
 *   GET  /static/efos.css
 */
#ifndef EFOS_IDP_SSO_H
#define EFOS_IDP_SSO_H

#include <stddef.h>
#include "core/err.h"
#include "core/http.h"

struct efos_ctx;

extern const struct http_route idp_sso_routes[];
extern const size_t idp_sso_n_routes;

/* With role idp: loads the page templates, the signing key (idp.signing_key, default
 * idp.metadata_key) and its certificate, the NameID secret and the encryption keys, and wires
 * the intake. A missing key or secret is not fatal: it is logged and the login routes answer
 * 503 saying what to configure. Call after idp_metadata_service_start (it uses the SP metadata
 * store), before the HTTP server starts. */
int idp_sso_service_start(struct efos_ctx *ctx, efos_err *e);
void idp_sso_service_stop(void);

#endif
