/* saml:NameID (spec §1.3): persistent pseudonyms and transient identifiers.
 *
 * Persistent: derived, not stored (docs/idp.md, "NameID"):
 *   value = base64url-nopad( HMAC-SHA256( secret, "efos-nameid-v1" 0x00 person_id 0x00 SP entityID ) )
 * with person_id the registry's decimal person id. Stable for a person and an SP, different and
 * unlinkable across SPs (without the secret), reveals nothing of the identity, and costs no
 * database round trip. The secret (32..4096 bytes, idp.nameid_secret_file or _env) must be the
 * same on every node and never change: changing it changes every pseudonym.
 * NameQualifier = our entityID, SPNameQualifier = the SP's entityID.
 *
 * Transient: "_" + 40 hex digits (160 random bits), new for every assertion. */
#ifndef EFOS_IDP_NAMEID_H
#define EFOS_IDP_NAMEID_H

#include <stddef.h>
#include "core/err.h"

#define IDP_NAMEID_PERSISTENT  "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
#define IDP_NAMEID_TRANSIENT   "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
#define IDP_NAMEID_UNSPECIFIED "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

struct idp_sp;
struct idp_nameid_secret;

/* From a secret of len bytes (copied; the caller wipes its copy). At least 32 bytes. */
int idp_nameid_secret_new(const unsigned char *secret, size_t len, struct idp_nameid_secret **out,
			  efos_err *e);
/* From idp.nameid_secret_file / idp.nameid_secret_env (exactly one; see config_read_secret). */
int idp_nameid_secret_load(const char *file, const char *env, struct idp_nameid_secret **out, efos_err *e);
void idp_nameid_secret_free(struct idp_nameid_secret *s);   /* wipes */

struct idp_nameid {
	const char *format;            /* static: IDP_NAMEID_PERSISTENT or IDP_NAMEID_TRANSIENT */
	char value[64];
	const char *name_qualifier;    /* borrowed: our entityID */
	const char *sp_name_qualifier; /* borrowed: the SP's entityID */
};

/* The format to answer with: the request's NameIDPolicy/@Format when persistent or transient;
 * when absent or unspecified, the first of those two in the SP's md:NameIDFormat list, else
 * persistent (§1.3 default). Any other requested format: -1, EFOS_E_INVALID (answer
 * InvalidNameIDPolicy; intake normally refuses it first). sp may be NULL. */
int idp_nameid_choose_format(const struct idp_sp *sp, const char *requested, const char **format,
			     efos_err *e);

/* Fills out for person_id at the SP. idp_entity_id and sp_entity_id are borrowed by out. */
int idp_nameid_make(const struct idp_nameid_secret *s, const char *format, const char *idp_entity_id,
		    const char *sp_entity_id, long person_id, struct idp_nameid *out, efos_err *e);

#endif
