/* The registry: organisations, persons, affiliations, officers and their roles, identity
 * proofings (db/0002_credentials.sql). Inputs are checked here (identity numbers by
 * policy/identity_numbers.h, names, local ids, document types) so that every caller (admin
 * API, efosctl, enrollment) refuses the same things with the same messages.
 *
 * Transactions: every function that changes something writes its audit event (action
 * "org.create", "person.suspend", ...; actor = who->name) in the same transaction. When c is
 * idle the function runs its own transaction; when the caller already opened one (c is in a
 * transaction), it runs inside it and the caller commits (so the admin API can suspend a
 * person and their cards atomically).
 *
 * Errors: EFOS_E_INVALID (bad input, message names the field), EFOS_E_NOTFOUND,
 * EFOS_E_CONFLICT (exists already / wrong state), EFOS_E_AUTH (officer lookup),
 * EFOS_E_UNAVAILABLE / EFOS_E_INTERNAL (database).
 *
 * Results are flat structs with fixed buffers: lists are one malloc'd array, freed with free(). */
#ifndef EFOS_CERTS_REGISTRY_H
#define EFOS_CERTS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include <openssl/x509.h>
#include "core/err.h"

#define REGISTRY_TEXT_MAX 1025      /* 256 characters of UTF-8, and the NUL */
#define REGISTRY_TIME_MAX 40        /* "2025-01-31T12:00:00Z" */

/* Who makes a change. */
struct registry_actor {
	const char *node;           /* audit node (cfg->node_name) */
	const char *name;           /* audit actor: the officer's certificate subject, "efosctl:local" */
	long officer_id;            /* the officer (0: a local operator on the server) */
};

struct registry_org {
	long id;
	char orgnr[11];
	char name[REGISTRY_TEXT_MAX];
	char status[16];            /* active | suspended */
	char created_at[REGISTRY_TIME_MAX];
};

struct registry_person {
	long id;
	char pnr[13];
	bool is_coordination_number;
	char given_name[REGISTRY_TEXT_MAX];
	char surname[REGISTRY_TEXT_MAX];
	char display_name[REGISTRY_TEXT_MAX];
	char status[16];            /* active | suspended */
	char created_at[REGISTRY_TIME_MAX];
};

struct registry_affiliation {
	long id, person_id, org_id;
	char orgnr[11];
	char org_name[REGISTRY_TEXT_MAX];
	char org_status[16];
	char local_id[65];
	char org_affiliation[80];   /* orgAffiliation value: local_id@orgnr */
	char title[REGISTRY_TEXT_MAX];   /* "" when none */
	char status[16];            /* active | ended */
	char created_at[REGISTRY_TIME_MAX];
	char ended_at[REGISTRY_TIME_MAX];  /* "" while active */
};

struct registry_officer_role {
	char role[24];              /* registration_officer | org_admin | ca_admin */
	long org_id;                /* 0 = every organisation */
	char orgnr[11];             /* "" for every organisation */
};

struct registry_officer {
	long id;
	char name[REGISTRY_TEXT_MAX];
	long person_id;             /* 0 = none */
	char cert_sha256[65];       /* hex, lower case */
	char cert_subject[REGISTRY_TEXT_MAX];
	bool active;
	char created_at[REGISTRY_TIME_MAX];
};

struct registry_proofing {
	long id, person_id, officer_id;
	char method[16];            /* in_person */
	char document_type[32];
	char document_number[65];
	char proofed_at[REGISTRY_TIME_MAX];
	char valid_until[REGISTRY_TIME_MAX];
	bool valid;                 /* valid_until is in the future */
};

/* ---- organisations ---- */
int registry_org_create(PGconn *c, const struct registry_actor *who, const char *orgnr,
			const char *name, struct registry_org *out, efos_err *e);
int registry_org_get(PGconn *c, long id, struct registry_org *out, efos_err *e);
int registry_org_get_by_orgnr(PGconn *c, const char *orgnr, struct registry_org *out, efos_err *e);
/* limit <= 0: 1000. Ordered by id, after after_id. */
int registry_org_list(PGconn *c, long after_id, long limit, struct registry_org **out, size_t *n,
		      efos_err *e);
int registry_org_rename(PGconn *c, const struct registry_actor *who, long id, const char *name,
			efos_err *e);
/* suspended = true/false; reason for the audit event (may be NULL). EFOS_E_CONFLICT when it
 * already has that status. Suspending an organisation suspends its cards (see registry.c). */
int registry_org_set_status(PGconn *c, const struct registry_actor *who, long id, bool suspended,
			    const char *reason, efos_err *e);

/* ---- persons ---- */
/* display_name NULL or "": "Given Surname". The personnummer is checked (samordningsnummer
 * flagged). */
int registry_person_create(PGconn *c, const struct registry_actor *who, const char *pnr,
			   const char *given_name, const char *surname, const char *display_name,
			   struct registry_person *out, efos_err *e);
int registry_person_get(PGconn *c, long id, struct registry_person *out, efos_err *e);
/* The number is checked first: a malformed one is EFOS_E_INVALID with its reason. */
int registry_person_get_by_pnr(PGconn *c, const char *pnr, struct registry_person *out, efos_err *e);
/* org_id > 0: persons with an active affiliation there; 0: all. */
int registry_person_list(PGconn *c, long org_id, long after_id, long limit,
			 struct registry_person **out, size_t *n, efos_err *e);
/* NULL fields are left unchanged. */
int registry_person_update(PGconn *c, const struct registry_actor *who, long id,
			   const char *given_name, const char *surname, const char *display_name,
			   efos_err *e);
/* Suspending a person suspends their cards (see registry.c). */
int registry_person_set_status(PGconn *c, const struct registry_actor *who, long id, bool suspended,
			       const char *reason, efos_err *e);

/* ---- affiliations ---- */
/* local_id: [A-Za-z0-9._-]{1,64}, unique in the organisation; title may be NULL.
 * EFOS_E_CONFLICT when the person already has an active affiliation with the organisation,
 * when the local id is taken, or when the organisation is suspended. */
int registry_affiliation_create(PGconn *c, const struct registry_actor *who, long person_id,
				long org_id, const char *local_id, const char *title,
				struct registry_affiliation *out, efos_err *e);
int registry_affiliation_get(PGconn *c, long id, struct registry_affiliation *out, efos_err *e);
/* The person's active affiliation with the organisation; EFOS_E_NOTFOUND when none. */
int registry_affiliation_find(PGconn *c, long person_id, long org_id,
			      struct registry_affiliation *out, efos_err *e);
/* Ends it (status ended, ended_at now); reason is recorded in the audit event. */
int registry_affiliation_end(PGconn *c, const struct registry_actor *who, long id,
			     const char *reason, efos_err *e);
/* person_id > 0 and/or org_id > 0 filter; active_only: status active. Ordered by id. */
int registry_affiliation_list(PGconn *c, long person_id, long org_id, bool active_only,
			      struct registry_affiliation **out, size_t *n, efos_err *e);

/* For credential validation (E): the person and their active affiliations (orgAffiliation
 * local_id@orgnr, organisation name and number). affs may be NULL. */
int registry_person_identity(PGconn *c, long person_id, struct registry_person *person,
			     struct registry_affiliation **affs, size_t *n_affs, efos_err *e);

/* ---- officers ---- */
/* SHA-256 of the certificate's DER, lower-case hex. */
void registry_cert_sha256_hex(X509 *cert, char hex[65]);
/* From a PEM certificate (the officer's client certificate): fingerprint and subject.
 * person_id 0 = none. EFOS_E_CONFLICT when that certificate is registered already. */
int registry_officer_create(PGconn *c, const struct registry_actor *who, const char *cert_pem,
			    size_t cert_pem_len, const char *name, long person_id,
			    struct registry_officer *out, efos_err *e);
int registry_officer_get(PGconn *c, long id, struct registry_officer *out, efos_err *e);
int registry_officer_list(PGconn *c, struct registry_officer **out, size_t *n, efos_err *e);
int registry_officer_set_active(PGconn *c, const struct registry_actor *who, long id, bool active,
				efos_err *e);
/* role: registration_officer | org_admin | ca_admin; org_id 0 = every organisation.
 * grant: EFOS_E_CONFLICT when held already; revoke: EFOS_E_NOTFOUND when not held. */
int registry_officer_grant(PGconn *c, const struct registry_actor *who, long officer_id,
			   const char *role, long org_id, efos_err *e);
int registry_officer_revoke(PGconn *c, const struct registry_actor *who, long officer_id,
			    const char *role, long org_id, efos_err *e);
int registry_officer_roles(PGconn *c, long officer_id, struct registry_officer_role **out, size_t *n,
			   efos_err *e);
/* The active officer whose certificate is the chain's leaf (req->client_chain, already verified
 * by the TLS layer). EFOS_E_AUTH "the client certificate (CN=..., SHA-256 ab12...) is not a
 * registered officer" / "... is deactivated". */
int registry_officer_from_chain(PGconn *c, STACK_OF(X509) *chain, struct registry_officer *out,
				efos_err *e);

/* ---- identity proofing ---- */
/* document_type: passport | national_id_card | driving_licence | sis_id_card |
 * tax_agency_id_card; checked must be true (the officer saw and checked the document);
 * by who->officer_id (must be > 0); valid_until = now + validity_days
 * (cfg ca.proofing_validity_days). */
int registry_proofing_record(PGconn *c, const struct registry_actor *who, long person_id,
			     const char *document_type, const char *document_number, bool checked,
			     int validity_days, struct registry_proofing *out, efos_err *e);
/* 0 when the person has a proofing still valid (out, if non-NULL: the newest one); -1 with
 * EFOS_E_AUTH "person 19... has no valid identity proofing (the last one expired at ...)" /
 * "... was never proofed in person", or a database error. */
int registry_proofing_valid(PGconn *c, long person_id, struct registry_proofing *out, efos_err *e);
int registry_proofing_list(PGconn *c, long person_id, struct registry_proofing **out, size_t *n,
			   efos_err *e);

#endif
