/* Base64 (RFC 4648, standard alphabet, '=' padding) for values that travel in JSON, HTML forms
 * and database columns. XML-embedded base64 with a size bound has its own readers next to the
 * protocol that bounds it (signer/dss_xml.h, idp/authn_request_ext.h). */
#ifndef EFOS_CORE_BASE64_H
#define EFOS_CORE_BASE64_H

#include <stddef.h>

/* One line, no line breaks. A malloc'd string, or NULL when memory runs out or n > 1 GiB. */
char *b64_encode(const unsigned char *d, size_t n);

/* Strict: whitespace (space, TAB, CR, LF) anywhere is skipped, padding is required, any other
 * character refused. A malloc'd buffer with a NUL after the *outlen bytes (free()), or NULL
 * when s is not base64 or memory runs out. "" decodes to an empty buffer (*outlen 0). */
unsigned char *b64_decode(const char *s, size_t *outlen);

#endif
