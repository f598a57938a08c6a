/* The public route of role `ca` that serves the CA certificates (AIA caIssuers):
 *
 *   GET /ca/<name>.crt   the CA's certificate, DER (application/pkix-cert); 404 unknown CA
 */
#ifndef EFOS_CERTS_CA_ROUTES_H
#define EFOS_CERTS_CA_ROUTES_H

#include <stddef.h>
#include "core/http.h"

extern const struct http_route certs_ca_routes[];
extern const size_t certs_ca_n_routes;

#endif
