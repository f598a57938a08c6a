/* AuthnRequest intake (spec §1.5): one SAML AuthnRequest received over HTTP-Redirect (query
 * string signature) or HTTP-POST (enveloped signature), checked completely, and turned into a
 * struct idp_authn_request (idp/types.h) that the SSO flow acts on.
 *
 * Three outcomes, and why (docs/idp-requests.md):
 *   IDP_INTAKE_OK          the request is trusted and can be satisfied: *out is filled.
 *   IDP_INTAKE_ANSWERABLE  the request is trusted (known SP, signature verified whenever one is
 *                          required or present, Destination ours, fresh, not replayed, ACS
 *                          resolved against metadata) but cannot be satisfied: *answerable has the
 *                          SAML status (§1.9) and *out enough to address the error Response
 *                          (id, issuer, sp, acs_url, relay_state, ...). The SSO flow shows the
 *                          error and, after the user acknowledges it, POSTs the error Response.
 *   -1                     untrusted or not a request at all: e says why (EFOS_E_INVALID,
 *                          EFOS_E_AUTH, EFOS_E_TOOBIG; EFOS_E_UNAVAILABLE when the replay cache
 *                          (PostgreSQL) is down; EFOS_E_INTERNAL). Show a plain error page with
 *                          e->msg and the HTTP status efos_err_http_status(e->code); NEVER send a
 *                          SAML response: we cannot trust the ACS of a message we could not
 *                          authenticate. *out is empty.
 * In every case the caller calls idp_authn_request_free(out) afterwards (safe on an empty one).
 *
 * Order of the checks (cheap and structural before cryptographic, everything before the replay
 * cache is touched so a forged message cannot burn a legitimate ID):
 *   decode (base64 / DEFLATE, bounded) → safe parse (no DTD, limits, no comments) → shape
 *   (one samlp:AuthnRequest root, Version 2.0, ID, IssueInstant, Destination, one Issuer) →
 *   Issuer known → signature (required per AuthnRequestsSigned, idp.require_signed_requests and
 *   for sigservice SPs; a present signature is always verified; SHA-1 refused; keys from metadata
 *   only; a ds:Signature inside a Redirect message refused) → data read ONLY from the verified
 *   element → Destination → IssueInstant age/skew → ACS → SP encryption key → replay cache →
 *   answerable checks (NameIDPolicy, RequestedAuthnContext, entity categories and contracts,
 *   Extensions: SignMessage, SADRequest, PrincipalSelection). */
#ifndef EFOS_IDP_AUTHN_REQUEST_H
#define EFOS_IDP_AUTHN_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>
#include "core/err.h"
#include "idp/metadata_store.h"
#include "idp/types.h"

struct db_pool;
struct hsm_key;
struct efos_config;
struct xml_dsig_policy;

#define IDP_INTAKE_OK 0
#define IDP_INTAKE_ANSWERABLE 1

/* SAML status URIs used for answerable errors. */
#define IDP_STATUS_REQUESTER "urn:oasis:names:tc:SAML:2.0:status:Requester"
#define IDP_STATUS_RESPONDER "urn:oasis:names:tc:SAML:2.0:status:Responder"
#define IDP_STATUS_NO_AUTHN_CONTEXT "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
#define IDP_STATUS_INVALID_NAMEID_POLICY "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
#define IDP_STATUS_REQUEST_UNSUPPORTED "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported"
#define IDP_STATUS_REQUEST_DENIED "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
#define IDP_STATUS_NO_PASSIVE "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
#define IDP_STATUS_AUTHN_FAILED "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
#define IDP_STATUS_UNKNOWN_PRINCIPAL "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"

#define IDP_LOA4 "http://id.elegnamnden.se/loa/1.0/loa4"
#define IDP_EC_SIGSERVICE "http://id.elegnamnden.se/st/1.0/sigservice"

/* Defaults (configuration: idp.clock_skew, idp.max_request_age). */
#define IDP_INTAKE_DEFAULT_SKEW_S 60
#define IDP_INTAKE_DEFAULT_MAX_AGE_S 180
/* Largest decoded SignMessage (bytes of UTF-8) we accept and show. */
#define IDP_SIGN_MESSAGE_MAX_BYTES (64u * 1024u)

/* The replay cache: stores (issuer, id) until expires_at. 0 = first use; -1 with
 * EFOS_E_CONFLICT = seen before; -1 with another code (EFOS_E_UNAVAILABLE) = cannot tell. */
typedef int (*idp_replay_fn)(void *arg, const char *issuer, const char *id, time_t expires_at,
			     efos_err *e);

/* Key transport decryption for an encrypted SignMessage (RSA-OAEP). Returns 0 and the key in
 * out[0..*outlen) (out holds outcap bytes), or -1. */
typedef int (*idp_oaep_decrypt_fn)(void *arg, const EVP_MD *oaep_md, const EVP_MD *mgf1_md,
				   const unsigned char *in, size_t inlen, unsigned char *out,
				   size_t outcap, size_t *outlen, efos_err *e);

/* What this node is; set once at start (idp_intake_params_from_config) and shared read-only by
 * all request threads. Strings and arrays are borrowed. */
struct idp_intake_params {
	const char *entity_id;            /* ours: Issuer of our responses, SignMessage DisplayEntity */
	int clock_skew_s;                 /* idp.clock_skew */
	int max_age_s;                    /* idp.max_request_age: now - IssueInstant <= this + skew */
	bool require_signed;              /* idp.require_signed_requests (or WantAuthnRequestsSigned) */
	const struct xml_dsig_policy *sig_policy; /* NULL: xml_dsig_policy_saml (SHA-1 never allowed) */
	const char *const *supported_loa; /* NULL-terminated; NULL: { IDP_LOA4 } */
	const char *const *entity_categories; /* NULL-terminated: our service ECs, service properties
					   (scal2) and contracts; NULL: the ones we publish */
	size_t max_sign_message_bytes;    /* 0: IDP_SIGN_MESSAGE_MAX_BYTES */

	/* The replay cache (required: without it every request is refused with EFOS_E_INTERNAL,
	 * a request is never accepted unchecked): idp_replay_pool_fn with the struct db_pool *
	 * (idp/replay.h), or a stand-in in tests and fuzzing. */
	idp_replay_fn replay_fn;
	void *replay_arg;

	/* Key transport for an encrypted SignMessage: idp_intake_hsm_oaep with a struct
	 * idp_hsm_enc_keys (our encryption keys in the HSM), or a stand-in in tests. NULL: an
	 * encrypted SignMessage is answered Requester/RequestUnsupported. */
	idp_oaep_decrypt_fn oaep_fn;
	void *oaep_arg;
};

/* One received request. */
struct idp_intake_input {
	enum idp_binding binding;         /* IDP_BINDING_REDIRECT or IDP_BINDING_POST */
	/* Redirect: the raw query string (after '?'), exactly as received, not decoded. */
	const char *query;
	size_t query_len;
	/* POST: the SAMLRequest form value (base64, already form-decoded) and RelayState (or NULL). */
	const char *saml_request;
	size_t saml_request_len;
	const char *relay_state;
	/* The URL the request was received at, as published in our metadata (Destination must
	 * equal it exactly), and whether that is a holder-of-key endpoint. */
	const char *endpoint_url;
	bool hok;
	/* SP metadata: the snapshot (held by the caller for as long as *out is used: out->sp
	 * points into it), or, when md is NULL, a fixed list (tests, fuzzing). */
	const struct idp_md_snapshot *md;
	const struct idp_sp *const *sps;
	size_t n_sps;
	time_t now;
};

/* Checks one request; see the top of this file. out and answerable are always written (zeroed
 * first). */
int idp_authn_request_intake(const struct idp_intake_params *p, const struct idp_intake_input *in,
			     struct idp_authn_request *out, struct idp_status *answerable, efos_err *e);

/* ---- wiring (idp/authn_request_setup.c) ------------------------------------------------- */

/* Our encryption keys in the HSM: the current one first, then the previous one during a
 * rollover (spec §1.2: keep decrypting with both until every peer has the new metadata). */
struct idp_hsm_enc_keys {
	struct hsm_key *const *keys;
	size_t n;
};
/* An idp_oaep_decrypt_fn over hsm_decrypt_oaep; arg is a struct idp_hsm_enc_keys *; each key
 * is tried in turn. */
int idp_intake_hsm_oaep(void *arg, const EVP_MD *oaep_md, const EVP_MD *mgf1_md, const unsigned char *in,
			size_t inlen, unsigned char *out, size_t outcap, size_t *outlen, efos_err *e);

/* Fills p from the configuration (idp.entity_id, idp.clock_skew, idp.max_request_age,
 * idp.require_signed_requests || idp.want_authn_requests_signed) with our published LoAs and
 * entity categories, the replay cache over db (idp_replay_pool_fn) and, when enc is not NULL
 * and holds keys, the HSM key transport (idp_intake_hsm_oaep). db and enc are borrowed and
 * must outlive p. */
void idp_intake_params_from_config(const struct efos_config *cfg, struct db_pool *db,
				   const struct idp_hsm_enc_keys *enc, struct idp_intake_params *p);

/* The entity categories and LoAs this IdP declares (NULL-terminated, static). */
extern const char *const idp_our_entity_categories[];
extern const char *const idp_our_loas[];

#endif
