/* The AuthnRequest the signing service (a SAML SP of type sigservice) sends to the IdP that the
 * SignRequest names (spec §7.1, §1.5, §5.1, §6.1, §8), over the HTTP-POST binding with an
 * enveloped signature (exc-c14n; SignatureMethod and DigestMethod: the IdP's first declared
 * alg:SigningMethod that fits our key and alg:DigestMethod that we support, else rsa-sha256 /
 * ecdsa-sha256 by key type and sha256; our certificate in KeyInfo) made through the HSM
 * (hsm/bridge.h).
 *
 * What it carries: ID (random, 160 bits), Version 2.0, IssueInstant, Destination = the IdP's
 * POST SSO URL, ForceAuthn="true" (§7.1: the signer authenticates for every signature),
 * ProtocolBinding HTTP-POST, AssertionConsumerServiceURL, Issuer, NameIDPolicy (persistent,
 * AllowCreate), RequestedAuthnContext Comparison="exact" with the requested LoAs, and
 * samlp:Extensions with csig:SignMessage (verbatim, as the requester sent it),
 * sap:SADRequest (when the IdP issues SADs) and psc:PrincipalSelection (a MatchValue for each
 * csig:Signer attribute whose name the IdP lists in its RequestedPrincipalSelection), and
 * Scoping/RequesterID = the SP that asked for the signature. */
#ifndef EFOS_SIGNER_SP_AUTHN_H
#define EFOS_SIGNER_SP_AUTHN_H

#include <stddef.h>
#include <time.h>
#include "core/err.h"
#include "signer/dss.h"
#include "signer/idp_md.h"

struct hsm_key;

#define SP_AUTHN_ID_LEN 48

struct sp_authn_params {
	const char *sp_entity_id;        /* ours: Issuer (and SADRequest RequesterID) */
	const char *acs_url;             /* our AssertionConsumerService (HTTP-POST) */
	const struct sig_idp *idp;       /* needs sso_post_url */
	const char *const *loas;         /* RequestedAuthnContext, exact (>= 1) */
	size_t n_loas;
	const char *sign_message_xml;    /* csig:SignMessage as received (standalone element), or NULL */
	const char *sad_request_id;      /* non-NULL: add sap:SADRequest with this ID */
	const char *sign_request_id;     /* SADRequest/SignRequestID (the DSS RequestID) */
	int doc_count;                   /* SADRequest/DocCount (>= 1) */
	const struct dss_attr *signer;   /* csig:Signer -> psc:PrincipalSelection (names the IdP lists) */
	size_t n_signer;
	const char *requester_id;        /* Scoping/RequesterID: the requesting SP; NULL: none */
	time_t now;                      /* IssueInstant; 0: time(NULL) */
};

struct sp_authn_out {
	char id[SP_AUTHN_ID_LEN];        /* the AuthnRequest's ID (InResponseTo of the answer) */
	char *saml_request_b64;          /* the SAMLRequest value (malloc'd) */
	char *post_form_html;            /* the auto-POST page to the IdP (malloc'd) */
};

/* Builds and signs the request and its POST page (relay_state and script_nonce may be NULL;
 * see core/saml_post.h). Returns 0 or -1: EFOS_E_INVALID (a missing or unusable parameter,
 * an IdP without a POST SSO endpoint, a SignMessage that is not one csig:SignMessage element),
 * EFOS_E_UNAVAILABLE (the HSM), EFOS_E_INTERNAL. */
int sp_authn_build(struct hsm_key *sign_key, const char *sign_cert_b64, const struct sp_authn_params *p,
		   const char *relay_state, const char *script_nonce, struct sp_authn_out *out, efos_err *e);
void sp_authn_out_free(struct sp_authn_out *o);

#endif
