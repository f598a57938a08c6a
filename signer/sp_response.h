/* The samlp:Response the IdP POSTs back to the signing service (spec §1.7, all ten steps, and
 * DESIGN "XML signature rules"): base64 decoded (bounded), parsed with core/xml (no DTD,
 * limits, no comments), shape checked, IDs registered, the Response signature verified with
 * the IdP's metadata keys only (strict verifier), Status read, exactly one EncryptedAssertion
 * decrypted (RSA-OAEP through the HSM, AES-GCM/CBC with OpenSSL) or one plain Assertion that is
 * signed, the Assertion parsed again and its signature verified when present (required when the
 * Response was unsigned), then every condition checked: Issuer, InResponseTo, Destination and
 * Recipient, SubjectConfirmation (bearer or holder-of-key) NotOnOrAfter, Audience, Conditions
 * window, AuthnContextClassRef, IssueInstant age, AuthnInstant for ForceAuthn.
 * Data is read only from the verified elements. Assertion replay is the caller's job: it stores
 * a->id until a->not_on_or_after. */
#ifndef EFOS_SIGNER_SP_RESPONSE_H
#define EFOS_SIGNER_SP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "core/err.h"
#include "signer/dss.h"
#include "signer/idp_md.h"

struct hsm_key;

#define SP_ATTR_SIGN_MESSAGE_DIGEST "urn:oid:1.2.752.201.3.14"
#define SP_ATTR_SAD "urn:oid:1.2.752.201.3.12"
#define SP_STATUS_SUCCESS "urn:oasis:names:tc:SAML:2.0:status:Success"
#define SP_STATUS_CANCEL "http://id.elegnamnden.se/status/1.0/cancel"

/* Largest SAMLResponse form value accepted (base64 characters). */
#define SP_RESPONSE_MAX_B64 (1400u * 1024u)

struct sp_expect {
	const char *sp_entity_id;        /* Audience */
	const char *acs_url;             /* Destination and Recipient */
	const char *request_id;          /* the AuthnRequest's ID: InResponseTo */
	const char *const *loas;         /* AuthnContextClassRef must be one of these */
	size_t n_loas;
	time_t sent_at;                  /* when the AuthnRequest was sent */
	bool force_authn;                /* it said ForceAuthn="true": AuthnInstant >= sent_at - skew */
	int skew_s;                      /* allowed clock skew (0: 60) */
	int max_age_s;                   /* IssueInstant not older than this + skew (0: 300) */
	time_t now;                      /* 0: time(NULL) */
};

struct sp_assertion {
	char *status;                    /* top-level StatusCode */
	char *sub_status;                /* second-level StatusCode, NULL when absent */
	char *status_message;            /* StatusMessage, NULL when absent */
	char *id;                        /* Assertion/@ID (for the replay cache) */
	char *issuer;
	time_t issue_instant;
	time_t authn_instant;
	char *loa;                       /* AuthnContextClassRef */
	char *name_id;
	struct dss_attr *attrs;
	size_t n_attrs;
	const char *sign_message_digest; /* the attribute's first value (points into attrs), or NULL */
	const char *sad;                 /* likewise for the SAD */
	unsigned char *xml;              /* the saml:Assertion bytes as decrypted (or as received) */
	size_t xml_len;
	time_t not_on_or_after;          /* the earliest of Conditions and SubjectConfirmationData */
};

#define SP_RESPONSE_STATUS 1   /* authentic Response whose Status is not Success: status fields only */

/* Processes one SAMLResponse form value. idp: the IdP the request went to (its metadata keys
 * are the only ones trusted). decrypt_key: our encryption key in the HSM, or NULL (an encrypted
 * assertion is then refused). Returns 0 with *out (every check passed), SP_RESPONSE_STATUS
 * with *out holding only the status fields, or -1 (*out NULL; e says which check failed:
 * EFOS_E_AUTH for signatures, EFOS_E_INVALID for everything else, EFOS_E_TOOBIG,
 * EFOS_E_UNAVAILABLE when the HSM is down). */
int sp_response_process(const char *saml_response_b64, size_t len, const struct sig_idp *idp,
			struct hsm_key *decrypt_key, const struct sp_expect *x, struct sp_assertion **out,
			efos_err *e);
void sp_assertion_free(struct sp_assertion *a);

/* The first value of attribute name in a, or NULL. */
const char *sp_assertion_attr(const struct sp_assertion *a, const char *name);

#endif
