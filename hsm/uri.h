/* RFC 7512 PKCS#11 URIs: "pkcs11:token=efos-hsm;object=ca%20key;type=private".
 * Path attributes understood: token, manufacturer, serial, model, slot-id, slot-description,
 * slot-manufacturer (which token) and object, id, type (which object); values are %XX-decoded.
 * The query attributes module-name / module-path are ignored (the module is configured
 * separately). pin-value and pin-source are refused: a PIN must come from a file or the
 * environment named in the configuration, never from a URI that ends up in configs and logs.
 * Any other attribute is refused, so a typo cannot silently match a different token. */
#ifndef EFOS_HSM_URI_H
#define EFOS_HSM_URI_H

#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

struct hsm_uri {
	char *token, *manufacturer, *serial, *model;   /* NULL: not given */
	char *slot_description, *slot_manufacturer;
	bool has_slot;
	unsigned long slot;                            /* slot-id */
	char *object;                                  /* CKA_LABEL */
	unsigned char *id; size_t id_len;              /* CKA_ID; id != NULL when given */
	char *type;                                    /* private, public, cert, secret-key, data */
};

/* Fills u (zeroed first); on failure u holds nothing to free. */
int hsm_uri_parse(const char *uri, struct hsm_uri *u, efos_err *e);
void hsm_uri_free(struct hsm_uri *u);
/* Compares a blank-padded PKCS#11 info field (e.g. CK_TOKEN_INFO.label) with want. */
/* RFC 7512 percent-encoding of an attribute value (unreserved characters kept), NUL-terminated. */
void hsm_uri_pct_encode(char *dst, size_t cap, const unsigned char *s, size_t n);
/* token_uri;object=LABEL[;id=%..];type=private: the URI of a private key in the token (the
 * token URI's query part dropped). id may be NULL. */
void hsm_uri_private_key(char *dst, size_t cap, const char *token_uri, const char *label, const unsigned char *id,
			 size_t id_len);
bool hsm_uri_field_eq(const unsigned char *field, size_t field_len, const char *want);

#endif
