/* The public routes of role `ca`: CRLs and the OCSP responder. No client certificate needed.
 *
 *   GET  /crl/<ca>.crl   the CA's current CRL, DER (application/pkix-crl); 404 unknown CA
 *   POST /ocsp           OCSPRequest DER (application/ocsp-request), at most 16 KiB
 *   GET  /ocsp/<base64>  RFC 6960 A.1: the DER request, base64 (standard or URL-safe), %-encoded
 *
 * OCSP errors are answered 200 with an OCSPResponse status (malformedRequest, unauthorized,
 * tryLater), as RFC 6960 wants; only a node that has no CA service answers 503. */
#ifndef EFOS_CERTS_CRL_OCSP_HTTP_H
#define EFOS_CERTS_CRL_OCSP_HTTP_H

#include <stddef.h>
#include "core/http.h"

extern const struct http_route certs_crl_ocsp_routes[];
extern const size_t certs_crl_ocsp_n_routes;

#endif
