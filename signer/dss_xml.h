/* Small XML and encoding helpers shared by the DSS request parser and response builder
 * (signer/dss_request.c, signer/dss_response.c): namespaces, element matching, strict text,
 * strict base64 and xs:dateTime. Internal to signer/dss_*. */
#ifndef EFOS_SIGNER_DSS_XML_H
#define EFOS_SIGNER_DSS_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <libxml/tree.h>
#include "core/err.h"

#define DSS_NS_DSS  "urn:oasis:names:tc:dss:1.0:core:schema"
#define DSS_NS_CSIG "http://id.elegnamnden.se/csig/1.1/dss-ext/ns"
#define DSS_NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define DSS_NS_DS   "http://www.w3.org/2000/09/xmldsig#"
#define DSS_NS_XENC "http://www.w3.org/2001/04/xmlenc#"
#define DSS_NAMEID_ENTITY "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"

/* True when n is the element {ns}name. */
bool dss_is_el(xmlNodePtr n, const char *ns, const char *name);

/* The unqualified attribute `name` of n, malloc'd; NULL when absent. */
char *dss_attr(xmlNodePtr n, const char *name);

/* The text-only content of el (xml_text_content_strict: no comments, PIs, child elements), at
 * most max bytes, malloc'd; leading/trailing XML whitespace removed when trim. */
int dss_text(xmlNodePtr el, size_t max, bool trim, char **out, efos_err *e);

/* Strict base64 (RFC 4648 alphabet, '=' only at the end, XML whitespace skipped) of at most
 * max decoded bytes into a new buffer (one extra NUL byte after the data). -1 on any error. */
int dss_b64_decode(const char *in, size_t max, unsigned char **out, size_t *outlen);
/* Base64 without line breaks, malloc'd NUL-terminated; NULL when out of memory. */
char *dss_b64_encode(const unsigned char *d, size_t n);

/* xs:dateTime as the framework uses it: YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm). */
int dss_parse_datetime(const char *s, time_t *out);
/* "YYYY-MM-DDThh:mm:ssZ" into buf (at least 21 bytes). */
void dss_format_datetime(time_t t, char *buf, size_t cap);

/* True when s[0..len) is well-formed UTF-8 without NUL or C0 controls other than TAB/LF/CR. */
bool dss_utf8_ok(const unsigned char *s, size_t len);

#endif
