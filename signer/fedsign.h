/* The federated signing service of efosd (role signer; spec §7.1; docs/signing-service.md):
 *
 *   GET  /metadata/sigservice.xml  its signed SP metadata (signer/fedsign_metadata.h)
 *   POST /sign/request             Binding=POST/XML/1.0, RelayState, EidSignRequest: the
 *                                  SignRequest intake; answers the auto-POST AuthnRequest page
 *                                  to the IdP named in the request, an error SignResponse posted
 *                                  back to the requester, or (request not authentic) an error page
 *   POST /sign/acs                 SAMLResponse, RelayState (our transaction): the IdP's answer;
 *                                  answers the auto-POST SignResponse page to the requester
 *
 * Requesters are the SPs of the metadata the IdP consumes (idp/metadata_store.h): their signing
 * keys verify SignRequests, their AssertionConsumerService Locations are the return URLs they
 * may use. The state between the two steps is in PostgreSQL (signer/fedsign_tx.h). */
#ifndef EFOS_SIGNER_FEDSIGN_H
#define EFOS_SIGNER_FEDSIGN_H

#include <stddef.h>
#include "core/err.h"
#include "core/http.h"

struct efos_ctx;

extern const struct http_route signer_fedsign_routes[];
extern const size_t signer_fedsign_n_routes;

/* Loads the keys (signer.signing_key / signer.encryption_key), the signer certificate profile
 * and its CA, the trusted IdPs, signs the metadata, removes per-request keys a crash left in the
 * HSM. Without signer.signing_key the routes answer 503 (a warning is logged). Call after
 * idp_metadata_service_start (it uses the SP metadata store and the IdP's publisher) and before
 * the HTTP server starts. EFOS_E_CONFIG for an incomplete or inconsistent configuration. */
int signer_fedsign_service_start(struct efos_ctx *ctx, efos_err *e);
/* After the HTTP server stopped, before the HSM closes. */
void signer_fedsign_service_stop(void);

#endif
