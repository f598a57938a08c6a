/* The signing service's own SAML metadata (GET /metadata/sigservice.xml): an SP of service type
 * sigservice (spec §1.2, §4.4), built and signed by idp/metadata_publish.c's machinery with
 * signer.signing_key, cached, and signed again lazily when older than idp.metadata_resign.
 * On a node that also runs the IdP, every (re)signed document is handed to the IdP's SP
 * metadata store, so the IdP trusts its neighbour without any file to copy.
 * docs/signing-service.md, "Metadata". */
#ifndef EFOS_SIGNER_FEDSIGN_METADATA_H
#define EFOS_SIGNER_FEDSIGN_METADATA_H

#include <openssl/x509.h>
#include "core/err.h"
#include "idp/metadata_publish.h"

struct efos_config;
struct hsm_key;
struct idp_md_store;

#define FEDSIGN_PATH_METADATA "/metadata/sigservice.xml"
#define FEDSIGN_PATH_REQUEST  "/sign/request"
#define FEDSIGN_PATH_ACS      "/sign/acs"

#define FEDSIGN_ST_SIGSERVICE "http://id.elegnamnden.se/st/1.0/sigservice"
#define FEDSIGN_ST_PUBLIC_SECTOR "http://id.elegnamnden.se/st/1.0/public-sector-sp"

struct fedsign_md;

/* Builds and signs the first document. key/sign_cert/enc_cert are borrowed and must outlive m.
 * inject: the IdP's SP metadata store on this node, or NULL. scal2: declare the scal2 service
 * property (only when every AuthnRequest carries a SADRequest, i.e. signer.sad = always). */
int fedsign_md_start(const struct efos_config *c, struct hsm_key *key, X509 *sign_cert, X509 *enc_cert,
		     bool scal2, struct idp_md_store *inject, struct fedsign_md **out, efos_err *e);
void fedsign_md_stop(struct fedsign_md *m);

/* A copy of the current document (re-signed first when it is older than the resign interval). */
int fedsign_md_get(struct fedsign_md *m, struct idp_md_current *out, efos_err *e);

#endif
