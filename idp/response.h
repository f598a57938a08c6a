/* The samlp:Response the IdP POSTs to the SP's ACS (spec §1.6, §1.9; docs/idp-responses.md).
 *
 * Success:
 *   1. attribute release (idp_release_for_login → policy/attribute_release.h) — the flow does
 *      this BEFORE the notice page and passes the same release to idp_response_build;
 *   2. NameID (idp/nameid.h), signMessageDigest when a sign message was shown and accepted, the
 *      SAD JWT when a SADRequest came (idp/sad.h);
 *   3. the Assertion (idp/assertion.h), signed (enveloped, exc-c14n, our signing key in the
 *      HSM) only when the SP's metadata says WantAssertionsSigned="true" (§1.6: MAY otherwise;
 *      one RSA signature per login is the floor we keep);
 *   4. encrypted for the SP (idp/xmlenc.h): exactly one saml:EncryptedAssertion;
 *   5. the Response (ID, InResponseTo, Version, IssueInstant, Destination = ACS, Issuer,
 *      Status Success) signed (enveloped, exc-c14n, SignatureMethod rsa-sha256 / ecdsa-sha256
 *      by key type unless the SP's alg:SigningMethod lists another we support, digest sha256
 *      unless its alg:DigestMethod lists another), with our certificate in KeyInfo;
 *   6. serialised (UTF-8, no formatting) and base64'd for the SAMLResponse form field.
 * Error: the same Response with the idp_status (§1.9) and no assertion, signed.
 *
 * Everything here is re-entrant; struct idp_response_keys is read-only after start-up and shared
 * by all threads. */
#ifndef EFOS_IDP_RESPONSE_H
#define EFOS_IDP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "core/err.h"
#include "idp/assertion.h"
#include "idp/nameid.h"
#include "idp/types.h"
#include "policy/attribute_release.h"

struct hsm_key;

#define SAML_STATUS_SUCCESS "urn:oasis:names:tc:SAML:2.0:status:Success"

/* What the IdP signs and encrypts with. All borrowed; built once at start-up by the flow
 * (idp.entity_id, idp.signing_key + idp.signing_cert, idp.encryption_key, idp.nameid_secret_*,
 * idp.assertion_lifetime) and kept for the life of the process. */
struct idp_response_keys {
	const char *idp_entity_id;
	struct hsm_key *sign_key;          /* signs Responses, Assertions and SADs */
	const char *sign_cert_b64;         /* base64 DER of its certificate, one line (ds:X509Certificate) */
	struct hsm_key *enc_key;           /* our encryption key (SignMessage decryption at intake); may be NULL */
	const struct idp_nameid_secret *nameid_secret;
	int assertion_lifetime_s;          /* 0: IDP_ASSERTION_DEFAULT_LIFETIME_S (also the SAD lifetime) */
	/* What our metadata declares (attribute release): service ECs (NULL/0: loa4-orgid, loa4-pnr,
	 * loa4-name, what idp/metadata_publish.c publishes) and shibmd:Scope values: a fixed list, or
	 * scope_ok asked per organisation number (the published list changes at run time; the
	 * callback must be thread-safe). */
	const char *const *entity_categories;
	size_t n_entity_categories;
	const char *const *scopes;
	size_t n_scopes;
	bool (*scope_ok)(void *arg, const char *orgnr);
	void *scope_arg;
};

/* Per login. */
struct idp_response_opts {
	const char *session_index;         /* the SSO session's index (random, not the cookie); NULL: none */
	bool sign_message_shown;           /* the sign message in req was displayed AND accepted */
	time_t now;                        /* 0: time(NULL) (tests pin it) */
};

struct idp_response_out {
	char *b64;                         /* SAMLResponse value (malloc'd) */
	size_t b64_len;
	char response_id[IDP_ID_LEN];      /* for the audit event */
	char assertion_id[IDP_ID_LEN];     /* "" for an error response */
	char name_id[64];                  /* the NameID sent ("" for an error) */
};
void idp_response_out_free(struct idp_response_out *o);

/* Attribute release for this login: maps the SP's metadata (entity categories,
 * RequestedAttributes), the request (PrincipalSelection names for sigservice SPs), our
 * published ECs and scopes and the subject onto policy_attribute_release(). Same returns:
 * 0, POLICY_RELEASE_REFUSED (rel->refusal; answer with idp_refusal_status after the user
 * acknowledges policy_refusal_text), -1. Free rel with policy_release_free. */
int idp_release_for_login(const struct idp_response_keys *k, const struct idp_authn_request *req,
			  const struct idp_subject *subj, struct policy_release *rel, efos_err *e);

/* The SAML status for a refused release: Responder + RequestDenied for a coordination number
 * (§1.6.2: no assertion), Responder + RequestDenied for an undeliverable required attribute,
 * with a StatusMessage naming the rule (no personal data). */
void idp_refusal_status(enum policy_refusal r, struct idp_status *st);

/* Builds, signs, encrypts and signs again (see the top of this file). req must be a validated
 * request (id, issuer, sp, acs_url, chosen_loa); subj the card login; rel the release decided
 * by idp_release_for_login (0 returned). Returns 0 with *out filled, or -1: EFOS_E_INVALID (a
 * missing input, an SP without a usable encryption key), EFOS_E_UNAVAILABLE (the HSM),
 * EFOS_E_INTERNAL. */
int idp_response_build(const struct idp_response_keys *k, const struct idp_authn_request *req,
		       const struct idp_subject *subj, const struct policy_release *rel,
		       const struct idp_response_opts *o, struct idp_response_out *out, efos_err *e);

/* An error Response (§1.9): st->top must be Requester, Responder or VersionMismatch; second and
 * message optional. No assertion. Needs req->id (InResponseTo; may be NULL), req->acs_url
 * (Destination) and req->sp or NULL (signature algorithm preference). now 0: time(NULL). */
int idp_response_build_error(const struct idp_response_keys *k, const struct idp_authn_request *req,
			     const struct idp_status *st, time_t now, struct idp_response_out *out,
			     efos_err *e);

/* The HTML page that POSTs SAMLResponse (+ RelayState when non-NULL) to acs_url: a form with a
 * visible "Fortsätt / Continue" submit button (works without JavaScript) and, when script_nonce
 * is non-NULL, a <script nonce="..."> that submits it (CSP: script-src 'nonce-...'); with NULL
 * there is no script at all. Every value is HTML-escaped. Returns a malloc'd string or NULL. */
char *idp_response_post_form(const char *acs_url, const char *saml_response_b64, const char *relay_state,
			     const char *script_nonce);

#endif
