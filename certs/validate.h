/* Credential validation: RFC 5280 path building and validation of a certificate to the trust
 * anchors (the EFOS root CAs and validate.trust_anchors), then revocation (EFOS CAs: straight
 * from the database, certificate and card status; other CAs: OCSP with a nonce, else the CRL,
 * cached until its nextUpdate), then the mapping to card, person and affiliations, and the
 * levels of assurance policy/loa.c derives from the validated facts.
 *
 * The answer is always one of three outcomes with an exact reason: valid; invalid (the
 * credential must be refused, and reason says why); indeterminate (the status could not be
 * established now, for example an OCSP responder did not answer: refuse, but try again later).
 * Functions return -1 (with e) only when no verdict could be reached at all (out of memory, a
 * bug); a refusal is a verdict, not an error.
 *
 * Used by the card login (certs_card_login: the IdP calls it with the TLS client chain) and by
 * POST /api/v1/validate/certificate (certs/validate_http.c). */
#ifndef EFOS_CERTS_VALIDATE_H
#define EFOS_CERTS_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <libpq-fe.h>
#include <openssl/x509.h>
#include "core/err.h"
#include "core/http.h"
#include "policy/loa.h"

struct efos_ctx;

enum certs_val_outcome {
	CERTS_VAL_VALID = 0,
	CERTS_VAL_INVALID,
	CERTS_VAL_INDETERMINATE,
};

/* Why a credential was refused. certs_val_reason_code() gives the stable string used in JSON
 * answers and logs (in quotes below). */
enum certs_val_reason {
	CERTS_VR_OK = 0,               /* "ok" */
	CERTS_VR_MALFORMED,            /* "malformed": not a parseable or RFC 5280-conforming certificate */
	CERTS_VR_EXPIRED,              /* "expired" (leaf or a CA in the path) */
	CERTS_VR_NOT_YET_VALID,        /* "not_yet_valid" */
	CERTS_VR_UNTRUSTED,            /* "untrusted_issuer": no path to a trust anchor (unknown CA) */
	CERTS_VR_BAD_SIGNATURE,        /* "bad_signature" */
	CERTS_VR_CA_CONSTRAINTS,       /* "ca_constraints": basic constraints, path length, keyCertSign, name constraints */
	CERTS_VR_WRONG_KEY_USAGE,      /* "wrong_key_usage": keyUsage / extendedKeyUsage unfit for the purpose */
	CERTS_VR_POLICY,               /* "policy_not_acceptable": certificate policies */
	CERTS_VR_CRITICAL_EXTENSION,   /* "unknown_critical_extension" */
	CERTS_VR_WEAK_CRYPTO,          /* "weak_key_or_algorithm" */
	CERTS_VR_REVOKED,              /* "revoked" (revocation_reason, revoked_at) */
	CERTS_VR_SUSPENDED,            /* "suspended": certificateHold, or the holder is suspended */
	CERTS_VR_CARD_NOT_ACTIVE,      /* "card_not_active": the card is pending, suspended, revoked or abandoned */
	CERTS_VR_UNKNOWN_CERTIFICATE,  /* "unknown_certificate": signed by an EFOS CA, yet not in its records */
	CERTS_VR_NOT_A_CARD,           /* "not_a_card_credential": valid, but not an EFOS card's authentication certificate */
	CERTS_VR_REVOCATION_UNAVAILABLE, /* "revocation_unavailable" (outcome indeterminate) */
	CERTS_VR_INVALID,              /* "invalid": any other path validation failure (message says which) */
};

enum certs_val_purpose {
	CERTS_PURPOSE_ANY = 0,         /* path, validity, revocation; no usage requirement */
	CERTS_PURPOSE_CARD_AUTH,       /* + keyUsage digitalSignature, EKU clientAuth, the card-auth policy */
};

/* An EFOS CA known to the validator (from ctx->certs, or made in a unit test). */
struct certs_val_ca {
	X509 *cert;
	long id;                       /* cas.id: certificates.ca_id of what it issued */
	const char *name;
};

struct certs_validate_params {
	enum certs_val_purpose purpose;
	time_t at;                     /* validation time; 0 = now */
	STACK_OF(X509) *anchors;       /* trust anchors (self-signed roots) */
	STACK_OF(X509) *intermediates; /* known CA certificates offered for path building; may be NULL */
	const struct certs_val_ca *efos_cas;  /* EFOS CAs (roots and issuing CAs) */
	size_t n_efos_cas;
	/* The EFOS high-assurance policy OID (card-auth profile); required for CARD_AUTH. */
	const char *card_auth_policy;
	PGconn *db;                    /* EFOS status and mapping; NULL: EFOS-issued -> indeterminate */
	long fetch_timeout_s;          /* OCSP/CRL fetches of other CAs; <= 0: no fetch (indeterminate) */
};

struct certs_val_person {
	long id;
	char *pnr;                     /* 12 digits */
	bool coordination_number;      /* pnr is a samordningsnummer */
	char *given_name, *surname, *display_name;
	char *status;                  /* active | suspended */
};

struct certs_val_affiliation {
	long id;
	char *local_id;
	char *org_affiliation;         /* local_id@orgnr (framework §9.2) */
	char *orgnr;                   /* 10 digits */
	char *org_name;
	char *title;                   /* may be NULL */
	bool of_card;                  /* the affiliation the card was issued for */
};

struct certs_val_card {
	long id;
	char *token_serial;
	char *status;                  /* pending | active | suspended | revoked | abandoned */
	long affiliation_id;
};

struct certs_validation {
	enum certs_val_outcome outcome;
	enum certs_val_reason reason;
	char message[512];             /* for the user or operator; "" when valid */
	int error_depth;               /* certificate in the path the refusal is about (0 = leaf); -1 */

	STACK_OF(X509) *chain;         /* leaf first, to the anchor; NULL when no path was built */
	bool efos_issued;              /* the leaf was issued by an EFOS CA */
	const char *efos_ca_name;      /* points into params (efos_cas[i].name) */
	char *profile;                 /* certificates.profile of an EFOS certificate, else NULL */
	char cert_status[16];          /* good | hold | revoked (EFOS: database; others: OCSP/CRL) */
	char revocation_source[16];    /* "database" | "ocsp" | "crl" | "" */
	int revocation_reason;         /* RFC 5280 CRLReason, -1 when not revoked */
	time_t revoked_at;             /* 0 when not revoked */

	char **policy_oids;            /* certificate policies of the leaf (validated path) */
	size_t n_policy_oids;
	bool card_auth_usage;          /* KU digitalSignature + EKU clientAuth */

	bool has_person, has_card;
	struct certs_val_person person;
	struct certs_val_card card;
	struct certs_val_affiliation *affiliations;  /* the person's active affiliations */
	size_t n_affiliations;

	struct loa_set loa;            /* what policy/loa.c says it qualifies for */
};

/* Validates leaf with the untrusted certificates (may be NULL) offered by the presenter.
 * r is initialised here; free it with certs_validation_free even on error. */
int certs_validate_chain(const struct certs_validate_params *p, X509 *leaf,
			 STACK_OF(X509) *untrusted, struct certs_validation *r, efos_err *e);
void certs_validation_free(struct certs_validation *r);

/* The same with the node's trust: the EFOS CAs of ctx->certs (roots as anchors, issuing CAs for
 * path building), validate.trust_anchors, validate.fetch_timeout, the card-auth profile's
 * policy OID, a database connection from the pool. */
int certs_validate(struct efos_ctx *ctx, X509 *leaf, STACK_OF(X509) *untrusted,
		   enum certs_val_purpose purpose, time_t at, struct certs_validation *r, efos_err *e);

/* Card login: chain is the TLS client chain, leaf first, as presented (http_request.client_chain_presented). Valid
 * only for an EFOS card-auth certificate of an active card, with the person mapped and a LoA;
 * otherwise invalid/indeterminate with the exact reason. */
int certs_card_login(struct efos_ctx *ctx, STACK_OF(X509) *chain, struct certs_validation *r,
		     efos_err *e);

const char *certs_val_outcome_name(enum certs_val_outcome o);   /* valid | invalid | indeterminate */
const char *certs_val_reason_code(enum certs_val_reason r);

/* Routes (certs/validate_http.c):
 *   POST /api/v1/validate/certificate   mTLS API client; JSON or PEM body
 *   GET  /idp/card/whoami               mTLS card login check */
extern const struct http_route certs_validate_routes[];
extern const size_t certs_validate_n_routes;

#endif
