/* The seal API and the timestamp authority of role signer (docs/seal-api.md):
 *
 *   POST /api/v1/sign   mTLS API client (api_clients: bound to an organisation, to the names
 *                       of its seal keys and to the formats it may use); JSON or raw body;
 *                       CAdES baseline B / B-T, detached, enveloping or hash-only; PAdES B-B / B-T
 *                       (signer/pades.h).
 *   POST /tsa           RFC 3161 (application/timestamp-query -> application/timestamp-reply)
 *
 * The service holds what the routes share: the TSA (signer.tsa_key, signer.tsa_cert) and a
 * cache of the seal keys found in the HSM (rows of seal_keys, loaded on first use). */
#ifndef EFOS_SIGNER_SEAL_API_H
#define EFOS_SIGNER_SEAL_API_H

#include <stddef.h>
#include "core/err.h"
#include "core/http.h"

struct efos_ctx;
struct signer_tsa;

extern const struct http_route signer_seal_routes[];
extern const size_t signer_seal_n_routes;

/* Loads the TSA when signer.tsa_key is set (a key or certificate that does not fit refuses the
 * start); without it, /tsa and B-T requests answer 503. Call once before the HTTP server
 * starts, with node role signer. */
int signer_seal_service_start(struct efos_ctx *ctx, efos_err *e);
/* After the HTTP server stopped; before the HSM closes. Safe when never started. */
void signer_seal_service_stop(void);

/* The running TSA, NULL when not configured (or the service not started). */
struct signer_tsa *signer_seal_tsa(void);

#endif
