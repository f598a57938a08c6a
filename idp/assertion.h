/* The saml:Assertion of a successful login (spec §1.6), built with libxml2 node by node: every
 * value from the request, the subject or the SP is set as text content or as an attribute
 * through libxml2 (never pasted into markup). The Assertion is its own document so that it can
 * be signed (when the SP wants it) and then serialised for encryption (idp/xmlenc.h).
 *
 *   <saml:Assertion ID="_<160 random bits hex>" Version="2.0" IssueInstant=now>
 *     <saml:Issuer>our entityID</saml:Issuer>
 *     [<ds:Signature> when signed]
 *     <saml:Subject>
 *       <saml:NameID Format NameQualifier SPNameQualifier>pseudonym</saml:NameID>
 *       <saml:SubjectConfirmation Method="...cm:bearer" | "...cm:holder-of-key">
 *         <saml:SubjectConfirmationData [xsi:type="saml:KeyInfoConfirmationDataType"]
 *             NotOnOrAfter=now+lifetime Recipient=ACS InResponseTo=request ID Address=client IP>
 *           [HoK: <ds:KeyInfo><ds:X509Data><ds:X509Certificate>card cert</...> or <ds:KeyValue>]
 *     <saml:Conditions NotBefore=now-skew NotOnOrAfter=now+lifetime>
 *       <saml:AudienceRestriction><saml:Audience>SP entityID</saml:Audience>
 *     <saml:AuthnStatement AuthnInstant=card time SessionIndex>
 *       <saml:AuthnContext><saml:AuthnContextClassRef>loa4</...>
 *     <saml:AttributeStatement>  (left out when there is no attribute: the schema needs >= 1)
 *       <saml:Attribute Name="urn:oid:..." NameFormat="...:uri" FriendlyName>
 *         <saml:AttributeValue xsi:type="xs:string">...</saml:AttributeValue>...
 *       + signMessageDigest and sad when given
 *
 * HoK KeyInfo (§1.6.1): the card certificate as ds:X509Certificate when every value of its
 * subject DN (except C) is among the released attribute values and it has no
 * subjectAltName; otherwise only its public key (ds:KeyValue), so the certificate never leaks
 * identity data that was not released. */
#ifndef EFOS_IDP_ASSERTION_H
#define EFOS_IDP_ASSERTION_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <libxml/tree.h>
#include "core/err.h"
#include "idp/nameid.h"
#include "idp/types.h"
#include "policy/attribute_release.h"

#define SAML_NS_ASSERTION "urn:oasis:names:tc:SAML:2.0:assertion"
#define SAML_NS_PROTOCOL  "urn:oasis:names:tc:SAML:2.0:protocol"
#define SAML_CM_BEARER    "urn:oasis:names:tc:SAML:2.0:cm:bearer"
#define SAML_CM_HOK       "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"

/* "_" + 40 hex digits + NUL */
#define IDP_ID_LEN 42
/* Writes a fresh random ID (160 bits) into out[IDP_ID_LEN]. -1 if the RNG fails. */
int idp_new_id(char out[IDP_ID_LEN], efos_err *e);

/* Defaults (configuration idp.assertion_lifetime). */
#define IDP_ASSERTION_DEFAULT_LIFETIME_S 300
#define IDP_ASSERTION_NOT_BEFORE_SKEW_S 10

struct idp_assertion_in {
	const char *idp_entity_id;
	const struct idp_authn_request *req;   /* id, issuer, acs_url, hok, chosen_loa */
	const struct idp_subject *subj;        /* authn_instant, loa, client_address, card_cert */
	const struct policy_release *attrs;    /* may be NULL or empty */
	const struct idp_nameid *nameid;
	const char *session_index;             /* NULL: no SessionIndex */
	const char *sign_message_digest;       /* "<uri>;<base64>" or NULL */
	const char *sad;                       /* JWT or NULL */
	time_t now;
	int lifetime_s;                        /* 0: IDP_ASSERTION_DEFAULT_LIFETIME_S */
};

/* Builds the (unsigned) Assertion as the root of a new document *doc (caller frees); its ID in
 * id_out. EFOS_E_INVALID when a required input is missing (request ID, ACS, LoA, ...). */
int idp_assertion_build(const struct idp_assertion_in *in, xmlDocPtr *doc, char id_out[IDP_ID_LEN], efos_err *e);

/* signMessageDigest value (spec §6.3): "<digest URI>;<Base64(digest(msg))>", msg the UTF-8
 * bytes of the message as shown (decrypted). digest_uri NULL: xmlenc#sha256; sha384/sha512 are
 * accepted. *out malloc'd. */
int idp_sign_message_digest(const char *msg, size_t len, const char *digest_uri, char **out, efos_err *e);

/* Formats t as xs:dateTime in UTC with a Z ("2026-01-31T12:00:00Z"); cap >= 21. */
void idp_format_time(time_t t, char *buf, size_t cap);

#endif
