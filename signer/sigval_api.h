/* POST /api/v1/validate/signature (docs/validation-api.md): an agency back-end, authenticated
 * by its mTLS API client certificate like the seal API (signer/api_client.h), sends a CMS,
 * XML or PDF signature (JSON with base64, or the raw body) and gets a report per signature
 * (signer/sigval.h). Role signer; the certificate step needs the EFOS CAs (role ca on the same
 * node), else signatures are indeterminate "certificate validation unavailable". */
#ifndef EFOS_SIGNER_SIGVAL_API_H
#define EFOS_SIGNER_SIGVAL_API_H

#include <stddef.h>
#include "core/http.h"

extern const struct http_route signer_sigval_routes[];
extern const size_t signer_sigval_n_routes;

#endif
