/* The IdP metadata service of efosd: GET /metadata/idp.xml (roles idp and metadata) and the
 * SP metadata store (roles idp and signer) that the rest of idp/ looks SPs up in. */
#ifndef EFOS_IDP_METADATA_ROUTES_H
#define EFOS_IDP_METADATA_ROUTES_H

#include <stddef.h>
#include "core/err.h"
#include "core/http.h"

struct efos_ctx;
struct idp_md_store;
struct idp_md_publisher;
struct idp_md_current;

extern const struct http_route idp_metadata_routes[];
extern const size_t idp_metadata_n_routes;

/* Starts the publisher (when idp.metadata_key is set; with node role idp or metadata) and the
 * SP metadata store (with role idp or signer: the signing service's requesters are SPs). Without idp.metadata_key and idp.metadata_cert it logs a
 * warning and /metadata/idp.xml answers 503. Call once, before the HTTP server starts. */
int idp_metadata_service_start(struct efos_ctx *ctx, efos_err *e);
/* Stops both; call after the HTTP server has stopped. */
void idp_metadata_service_stop(void);

/* The running SP metadata store (NULL when neither role idp nor signer is on): idp_md_acquire()
 * on it. */
struct idp_md_store *idp_metadata_sp_store(void);
/* The running publisher (NULL when not publishing). */
struct idp_md_publisher *idp_metadata_publisher(void);

/* Answers a GET for a published metadata document: Cache-Control max-age = cacheDuration, the
 * ETag, and 304 when If-None-Match names it (or is "*"); otherwise 200 with the document.
 * Takes cur->xml. Shared by GET /metadata/idp.xml and the signing service's metadata. */
void idp_metadata_send(struct http_request *req, struct http_response *resp, struct idp_md_current *cur);

#endif
