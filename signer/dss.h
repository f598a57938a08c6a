/* The data of one federated signing (spec §7: DSS extension 09, DSS profile 07), shared by the
 * modules of the signing service:
 *
 *   signer/dss_request.c   EidSignRequest -> struct dss_sign_request (parse + §7.2 checks)
 *   signer/sp_*.c          the AuthnRequest to the IdP and the assertion that comes back
 *   signer/signer_cert.c   the per-request key and signer certificate (§7.6)
 *   signer/sign_task.c     signs every dss_sign_task (XML / PDF / CMS)
 *   signer/dss_response.c  struct dss_result + tasks -> the signed SignResponse
 *   signer/fedsign_*.c     the HTTP flow and its state in PostgreSQL
 *
 * Types only; no functions. Strings are NUL-terminated UTF-8, owned by the struct that holds
 * them (freed by dss_request_free for a parsed request). */
#ifndef EFOS_SIGNER_DSS_H
#define EFOS_SIGNER_DSS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* ---- result codes (§7.5) ---------------------------------------------------------------------- */

#define DSS_PROFILE "http://id.elegnamnden.se/csig/1.1/dss-ext/profile"

#define DSS_MAJOR_SUCCESS        "urn:oasis:names:tc:dss:1.0:resultmajor:Success"
#define DSS_MAJOR_REQUESTER      "urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError"
#define DSS_MAJOR_RESPONDER      "urn:oasis:names:tc:dss:1.0:resultmajor:ResponderError"
#define DSS_MAJOR_INSUFFICIENT   "urn:oasis:names:tc:dss:1.0:resultmajor:InsufficientInformation"

#define DSS_MINOR_REQ_EXPIRED        "http://id.elegnamnden.se/sig-status/1.0/req-expired"
#define DSS_MINOR_USER_MISMATCH      "http://id.elegnamnden.se/sig-status/1.0/user-mismatch"
#define DSS_MINOR_UNSUPPORTED_LOA    "http://id.elegnamnden.se/sig-status/1.0/unsupported-loa"
#define DSS_MINOR_SIGMESSAGE_ERROR   "http://id.elegnamnden.se/sig-status/1.0/sigmessage-error"
#define DSS_MINOR_USER_CANCEL        "http://id.elegnamnden.se/sig-status/1.0/user-cancel"
#define DSS_MINOR_AUTHN_FAILED       "http://id.swedenconnect.se/sig-status/1.1/authn-failed"
#define DSS_MINOR_SECURITY_VIOLATION "http://id.swedenconnect.se/sig-status/1.1/security-violation"
#define DSS_MINOR_NOT_SUPPORTED      "urn:oasis:names:tc:dss:1.0:resultminor:NotSupported"
#define DSS_MINOR_GENERAL_ERROR      "urn:oasis:names:tc:dss:1.0:resultminor:GeneralError"
#define DSS_MINOR_KEY_LOOKUP_FAILED  "urn:oasis:names:tc:dss:1.0:resultminor:invalid:KeyLookupFailed"

/* The outcome to report: major always set; minor may be NULL; message is for a person (English,
 * no personal data), "" when none. */
struct dss_result {
	const char *major;
	const char *minor;
	char message[256];
};

/* ---- SAML attributes (csig:Signer, the assertion, SignerAssertionInfo) ------------------------- */

struct dss_attr {
	char *name;                    /* saml:Attribute/@Name, e.g. urn:oid:1.2.752.29.4.13 */
	char *friendly_name;           /* may be NULL */
	char **values;                 /* the AttributeValue texts */
	size_t n_values;
};

/* ---- csig:CertRequestProperties/csig:RequestedCertAttributes ----------------------------------- */

enum dss_cert_name_type { DSS_NAME_RDN, DSS_NAME_SAN, DSS_NAME_SDA };

struct dss_cert_attr_source {
	char *name;                    /* csig:SamlAttributeName text */
	int order;                     /* @Order (default 0): the lowest present in the assertion wins */
};

struct dss_cert_attr {
	char *ref;                     /* @CertAttributeRef: an OID ("2.5.4.5") or a SAN tag ("1") */
	enum dss_cert_name_type type;  /* @CertNameType */
	char *friendly_name;           /* may be NULL */
	char *default_value;           /* may be NULL */
	bool required;
	struct dss_cert_attr_source *sources;
	size_t n_sources;
};

/* ---- csig:SignTaskData ------------------------------------------------------------------------- */

enum dss_sig_type { DSS_SIG_XML, DSS_SIG_PDF, DSS_SIG_CMS };
enum dss_ades_type { DSS_ADES_NONE, DSS_ADES_BES, DSS_ADES_EPES };

struct dss_sign_task {
	char *id;                      /* @SignTaskId, may be NULL when there is one task */
	enum dss_sig_type sig_type;
	enum dss_ades_type ades_type;
	char *processing_rules;        /* @ProcessingRules, NULL when absent */
	/* In: the ToBeSignedBytes (XML: c14n ds:SignedInfo; PDF/CMS: DER SignedAttributes SET).
	 * sign_task replaces them with the bytes actually signed when it changed them. */
	unsigned char *tbs;
	size_t tbs_len;
	char *signature_id;            /* csig:AdESObject/csig:SignatureId, NULL when absent */
	unsigned char *ades_object;    /* csig:AdESObject/csig:AdESObjectBytes (decoded), NULL when absent */
	size_t ades_object_len;
	/* Out (sign_task): the signature value and its algorithm URI (csig:Base64Signature@Type). */
	unsigned char *sig;
	size_t sig_len;
	const char *sig_alg_uri;       /* static string */
	bool tbs_changed;              /* tbs (and/or ades_object) were replaced */
};

/* ---- dss:SignRequest ----------------------------------------------------------------------------- */

struct dss_sign_request {
	char *request_id;              /* @RequestID */
	char *version;                 /* csig:SignRequestExtension/@Version ("1.1" when absent) */
	time_t request_time;           /* csig:RequestTime */
	time_t not_before;             /* saml:Conditions/@NotBefore, 0 when absent */
	time_t not_on_or_after;        /* saml:Conditions/@NotOnOrAfter, 0 when absent */
	char *return_url;              /* the one saml:Audience: where the SignResponse is posted */
	struct dss_attr *signer;       /* csig:Signer attributes (may be 0) */
	size_t n_signer;
	char *idp;                     /* csig:IdentityProvider */
	char *authn_profile;           /* csig:AuthnProfile, NULL when absent */
	char *requester;               /* csig:SignRequester */
	char *sign_service;            /* csig:SignService */
	char *sig_alg;                 /* csig:RequestedSignatureAlgorithm, or the default rsa-sha256 */
	char *cert_type;               /* CertRequestProperties/@CertType: "PKC" (default), "QC", "QC/SSCD" */
	char **loas;                   /* CertRequestProperties/saml:AuthnContextClassRef (one or more) */
	size_t n_loas;
	struct dss_cert_attr *cert_attrs;
	size_t n_cert_attrs;
	/* csig:SignMessage: the element as received, serialised standalone with its namespace
	 * declarations (copied verbatim into the AuthnRequest's Extensions); NULL when absent. */
	char *sign_message_xml;
	bool sign_message_must_show;
	char *sign_message_display_entity;
	/* The decoded csig:Message bytes (what signMessageDigest is computed over); NULL when the
	 * message is encrypted (the digest can then only be checked for presence). */
	unsigned char *sign_message_text;
	size_t sign_message_text_len;
	struct dss_sign_task *tasks;
	size_t n_tasks;
	/* Set on a DSS_INTAKE_REFUSED request that is NOT authentic (unsigned, or its signature is
	 * not the registered requester's) but names a registered requester and one of its registered
	 * return URLs: the refusal may be posted there, but nothing of it may be recorded as the
	 * requester's (RequestID replay state, ...). */
	bool unauthenticated;
};

#endif
