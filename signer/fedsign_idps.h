/* The IdPs the signing service trusts: the metadata files of signer.idp_metadata_files (read at
 * start, trusted as the operator placed them), and, on a node that also runs the IdP, our own
 * IdP taken from the document /metadata/idp.xml serves (idp_metadata_publisher()): parsed again
 * whenever the publisher re-signs it, so a key rollover there needs nothing here.
 * A configured file wins over our own IdP on a doubled entityID. */
#ifndef EFOS_SIGNER_FEDSIGN_IDPS_H
#define EFOS_SIGNER_FEDSIGN_IDPS_H

#include "core/err.h"
#include "signer/idp_md.h"

struct efos_config;
struct idp_md_publisher;
struct fedsign_idps;

/* own: the running IdP metadata publisher, or NULL. */
int fedsign_idps_start(const struct efos_config *c, struct idp_md_publisher *own, struct fedsign_idps **out,
		       efos_err *e);
void fedsign_idps_stop(struct fedsign_idps *t);

/* The trusted IdP with this entityID, or NULL. The record stays valid until fedsign_idps_stop. */
const struct sig_idp *fedsign_idps_find(struct fedsign_idps *t, const char *entity_id);

#endif
