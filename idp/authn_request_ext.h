/* Internal to the AuthnRequest intake (idp/authn_request.c, idp/authn_request_ext.c): the
 * parsers of the parts of a request that are read only after its signature has been verified
 * (RequestedAuthnContext, NameIDPolicy, Scoping, and the Swedish extensions in
 * samlp:Extensions: csig:SignMessage, sap:SADRequest, psc:PrincipalSelection), and the small
 * XML helpers both files share. Not for other modules: use idp/authn_request.h.
 *
 * Every parser returns 0 (fine, fields of out filled), IDP_INTAKE_ANSWERABLE (st filled: a SAML
 * error the SP gets after the user acknowledges it) or -1 with e (an internal failure: out of
 * memory, a library error). */
#ifndef EFOS_IDP_AUTHN_REQUEST_EXT_H
#define EFOS_IDP_AUTHN_REQUEST_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <libxml/tree.h>
#include "core/err.h"
#include "idp/authn_request.h"
#include "idp/types.h"

#define IDP_NS_SAMLP "urn:oasis:names:tc:SAML:2.0:protocol"
#define IDP_NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define IDP_NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define IDP_NS_XENC "http://www.w3.org/2001/04/xmlenc#"
#define IDP_NS_CSIG "http://id.elegnamnden.se/csig/1.1/dss-ext/ns"
#define IDP_NS_SAP "http://id.elegnamnden.se/csig/1.1/sap/ns"
#define IDP_NS_PSC "http://id.swedenconnect.se/authn/1.0/principal-selection/ns"
#define IDP_NS_HOKSSO "urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser"

/* What the extension parsers need besides the element. */
struct idp_ext_ctx {
	const struct idp_intake_params *p;
	const struct idp_sp *sp;
	const char *issuer;
	bool we_declare_scal2;
};

/* samlp:Extensions: SignMessage, SADRequest, PrincipalSelection (others are ignored). */
int idp_areq_parse_extensions(xmlNodePtr ext, const struct idp_ext_ctx *c, struct idp_authn_request *out,
			      struct idp_status *st, efos_err *e);
/* samlp:RequestedAuthnContext: Comparison, ClassRefs, the LoA chosen from p->supported_loa. */
int idp_areq_parse_rac(xmlNodePtr rac, const struct idp_ext_ctx *c, struct idp_authn_request *out,
		       struct idp_status *st, efos_err *e);

/* ---- shared helpers ------------------------------------------------------------------------ */

bool idp_areq_is_el(xmlNodePtr n, const char *ns, const char *name);
/* True for a text node of XML whitespace only. */
bool idp_areq_is_blank(xmlNodePtr n);
/* The strict text content (xml_text_content_strict) of elem, XML whitespace trimmed, as a
 * malloc'd string; NULL with e set when it holds anything but text or exceeds max bytes. */
char *idp_areq_text(xmlNodePtr elem, size_t max, efos_err *e);
/* The unqualified attribute name of n as a malloc'd string, or NULL when absent. */
char *idp_areq_attr(xmlNodePtr n, const char *name);
/* xs:boolean: "true"/"1" or "false"/"0". -1 for anything else. */
int idp_areq_parse_bool(const char *s, bool *out);
/* Sets st and returns IDP_INTAKE_ANSWERABLE. */
int idp_areq_answer(struct idp_status *st, const char *top, const char *second, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Strict base64 (RFC 4648 alphabet, '=' padding only at the end, XML whitespace skipped) into a
 * new buffer of at most max bytes (plus a NUL). -1 on any error. */
int idp_areq_base64_decode(const char *in, size_t len, size_t max, unsigned char **out, size_t *outlen);
/* True when s[0..len) is well-formed UTF-8 without NUL or C0 controls other than TAB/LF/CR. */
bool idp_areq_utf8_ok(const unsigned char *s, size_t len);
/* True when the NULL-terminated list holds s. */
bool idp_areq_in_list(const char *const *list, const char *s);

#endif
