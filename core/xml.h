/* Safe XML for untrusted messages (SAML, metadata, DSS SignRequests) and strict XML-DSig
 * verification. docs/xml-security.md explains each rule and the attack it stops.
 *
 * The order a receiver follows:
 *   1. xml_parse_untrusted()   size, no DOCTYPE/entities/PIs, depth and node limits
 *   2. schema-shaped checks     the caller's, with xml_find_unique_child() for "exactly one"
 *   3. xml_register_ids()       IDs only on the element types that may carry them
 *   4. xml_dsig_verify_element() the one signature that covers the element to be used
 *   5. read data only from the element that 4 returned, text with xml_text_content_strict()
 *
 * Callers own the libxml2 documents. libxml2 must have been initialised (xmlInitParser) once,
 * before threads start; everything here is thread-safe after that. */
#ifndef EFOS_CORE_XML_H
#define EFOS_CORE_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include "core/err.h"

/* ---- 1. parsing ---------------------------------------------------------------------- */

struct xml_limits {
	size_t max_bytes;     /* refused before parsing when larger (EFOS_E_TOOBIG) */
	unsigned max_depth;   /* element nesting, the root element is depth 1 */
	size_t max_nodes;     /* elements + attributes + text/CDATA/comment nodes */
	bool allow_comments;  /* false: any comment is refused (protocol messages have none) */
};

/* Defaults for one protocol message (AuthnRequest, Response, SignRequest, SignMessage). */
#define XML_LIMITS_MESSAGE_BYTES (1024u * 1024u)
#define XML_LIMITS_MESSAGE_DEPTH 48u
#define XML_LIMITS_MESSAGE_NODES 100000u
/* Used when lim is NULL: the message defaults, comments refused. */
extern const struct xml_limits xml_limits_message;

/* Parses untrusted bytes into a document the caller frees with xmlFreeDoc.
 * Refused (EFOS_E_INVALID unless noted, message says what and on which line):
 *   larger than lim->max_bytes (EFOS_E_TOOBIG, before any parsing); a DOCTYPE of any kind
 *   (so no DTD, no entity declarations, no XXE, no billion laughs: the parser stops at
 *   "<!DOCTYPE"); entity references other than the five predefined ones; processing
 *   instructions; comments unless lim->allow_comments; nesting deeper than max_depth or more
 *   than max_nodes nodes (counted while parsing, so the tree is never built); malformed XML.
 * No network, no XInclude, no huge-text mode; CDATA sections are kept as CDATA nodes. */
int xml_parse_untrusted(const char *buf, size_t len, const struct xml_limits *lim, xmlDocPtr *out,
			efos_err *e);

/* ---- 2. shape ------------------------------------------------------------------------- */

/* The one child element {ns}name of parent. Zero or several are refused (several is how a
 * second, unsigned Assertion gets in beside the signed one). ns NULL: no namespace. */
int xml_find_unique_child(xmlNodePtr parent, const char *ns, const char *name, xmlNodePtr *out,
			  efos_err *e);

/* The node after n in a depth-first walk of root's subtree (start with n = root), without
 * going into the children of skip (NULL: none skipped; the ds:Signature being verified, whose
 * own content is not the message's); NULL after the last node. Flat, no recursion. */
xmlNodePtr xml_walk_next(xmlNodePtr n, xmlNodePtr root, xmlNodePtr skip);

/* The text of an element whose content must be text only (NameID, AttributeValue, Issuer,
 * SignatureValue...): text and CDATA nodes, concatenated. Refused when it holds a comment
 * (comment injection: "user@evil.com<!---->.good.com" keeps its signature because c14n drops
 * the comment, but a reader taking the first text node sees "user@evil.com"), a processing
 * instruction, an entity reference or a child element. The caller xmlFree()s *out. */
int xml_text_content_strict(xmlNodePtr elem, xmlChar **out, efos_err *e);

/* ---- 3. IDs --------------------------------------------------------------------------- */

/* An ID attribute: on elements {ns}element, the unqualified attribute attr. */
struct xml_id_rule {
	const char *ns;
	const char *element;
	const char *attr;
};

/* SAML protocol messages, assertions and metadata:
 * samlp:{AuthnRequest,Response,LogoutRequest,LogoutResponse,ArtifactResolve,ArtifactResponse}@ID,
 * saml:Assertion@ID, md:EntitiesDescriptor@ID, md:EntityDescriptor@ID. */
extern const struct xml_id_rule xml_id_rules_saml[];
extern const size_t xml_id_rules_saml_n;
/* DSS SignRequest / SignResponse (whole-document signatures, URI=""): none of their attributes
 * is an ID, so none is registered and any "#id" Reference is refused. */
extern const struct xml_id_rule xml_id_rules_dss[];
extern const size_t xml_id_rules_dss_n;

/* Registers as IDs exactly the attributes the rules name, after forgetting any ID the parser
 * registered on its own (xml:id). Refused: an empty or non-NCName value; a value used twice
 * among them (duplicate IDs); and any other ID-like attribute (ID, Id, id, xml:id, on an element
 * no rule covers) with the same value as a registered ID, since another library resolving
 * the Reference would pick that element: the ambiguity is the attack. */
int xml_register_ids(xmlDocPtr doc, const struct xml_id_rule *rules, size_t n, efos_err *e);

/* ---- 4. signatures -------------------------------------------------------------------- */

enum xml_dsig_ref {
	XML_DSIG_REF_ID,        /* Reference URI="#<registered ID of signed_elem>" (SAML) */
	XML_DSIG_REF_DOCUMENT,  /* Reference URI="" and signed_elem is the root element (DSS) */
};

struct xml_dsig_policy {
	enum xml_dsig_ref ref;
	/* false: the ds:Signature is a direct child of signed_elem (enveloped, SAML). true: it
	 * may be any descendant (DSS: last child of dss:OptionalInputs); the caller passes it. */
	bool signature_in_descendant;
	/* exc-c14n#WithComments accepted as CanonicalizationMethod and transform. */
	bool allow_with_comments;
	/* NULL-terminated subsets of the built-in allow-lists (core/xml_alg.c), or NULL for all
	 * of them; a URI outside the built-in list is never allowed, whatever is listed here. */
	const char *const *sig_algs;
	const char *const *digest_algs;
	unsigned min_rsa_bits;  /* 0: 2048 */
	unsigned min_ec_bits;   /* 0: 256 */
};

/* The SAML policy: #ID, signature a direct child, no WithComments, all built-in algorithms. */
extern const struct xml_dsig_policy xml_dsig_policy_saml;
/* The DSS SignRequest policy: URI="", signature anywhere under the root (the caller passes it). */
extern const struct xml_dsig_policy xml_dsig_policy_dss;

/* Verifies the one signature that covers signed_elem and returns signed_elem, or NULL with e
 * set (EFOS_E_AUTH when the signature is well-formed but does not verify with any key,
 * EFOS_E_INVALID for everything refused by the rules). sig is the ds:Signature to check, or
 * NULL to take the single ds:Signature child of signed_elem.
 *
 * Rules: sig placement per the policy; SignedInfo = CanonicalizationMethod (exc-c14n),
 * SignatureMethod (allow-list, no HMAC, no SHA-1, no parameters), exactly one Reference; the
 * Reference URI is "#<ID>" resolved through the registered IDs to signed_elem itself (pointer
 * equality) or "" per the policy; transforms exactly enveloped-signature then exc-c14n
 * (InclusiveNamespaces allowed); DigestMethod sha256/384/512; no ds:Object. KeyInfo is never
 * read: the signature must verify with one of keys[0..nkeys) (from metadata or configuration;
 * RSA >= 2048 bits, EC >= 256 bits; keys of the wrong type or too small are skipped). */
xmlNodePtr xml_dsig_verify_element(xmlNodePtr signed_elem, xmlNodePtr sig, EVP_PKEY *const *keys,
				   size_t nkeys, const struct xml_dsig_policy *pol, efos_err *e);

/* ---- 4b. a validator's check (signer/sigval_xml.c) --------------------------------------- */

#define XML_DSIG_MAX_REFS 8
#define XML_DSIG_SIGNED_PROPERTIES_TYPE "http://uri.etsi.org/01903#SignedProperties"

struct xml_dsig_ref_check {
	char uri[200];
	bool signed_properties;   /* Type="http://uri.etsi.org/01903#SignedProperties" (XAdES) */
	bool external;            /* neither "" nor "#id": the external (detached) document */
	xmlNodePtr target;        /* what a same-document Reference resolved to (root for "") */
	bool digest_ok;
};

struct xml_dsig_check {
	bool signature_ok;        /* SignatureValue verifies with the key over the canonical SignedInfo */
	size_t n_refs;
	struct xml_dsig_ref_check refs[XML_DSIG_MAX_REFS];
};

/* Checks the ds:Signature sig with key, for a validator: the key comes from the signature's
 * own KeyInfo certificate and the caller decides trust afterwards by that certificate's path.
 * The algorithm rules of xml_dsig_verify_element hold (exc-c14n SignedInfo, allow-listed
 * SignatureMethod and DigestMethod without parameters, RSA >= 2048, EC >= 256); the shape may
 * be wider, as XAdES needs: ds:Object children; up to XML_DSIG_MAX_REFS References, each
 *   URI=""      the whole document: enveloped-signature (if sig is inside), then exc-c14n
 *   URI="#id"   an ID registered by the caller (xml_register_ids): optional enveloped-signature
 *               (when sig is inside that element), then exc-c14n
 *   other       the external document (detached): no transforms, its bytes are digested;
 *               refused (EFOS_E_INVALID) when external is NULL
 * Returns 0 when the signature could be checked: out says whether the signature value and each
 * Reference's digest verified. -1 with e when the signature is refused by the rules (*alg_refused
 * true when the refusal is about an algorithm or a key). */
int xml_dsig_check_signature(xmlNodePtr sig, EVP_PKEY *key, const unsigned char *external, size_t external_len,
			     struct xml_dsig_check *out, bool *alg_refused, efos_err *e);

#endif
