/* Card enrollment, two-phase (issue 3):
 *
 *   begin    the officer's workstation sends the person, the organisation, the card's token
 *            serial and a CSR per card key (auth, sign), each signed by its key on the card.
 *            Checked in this order, each refusal with its own message: the officer may enroll
 *            for the organisation (card.enroll), the person is active with an active
 *            affiliation there, the person's identity proofing is valid, no live card has this
 *            token serial and the person has no other live card for this affiliation, each
 *            CSR's signature verifies (proof of possession), the keys differ and meet the
 *            profile's key policy. Then, in one transaction: the card (pending, pending_until =
 *            now + ca.enroll_pending_timeout), its card-auth and card-sign certificates issued
 *            with status "hold" (nothing usable before confirmation), the audit event.
 *   confirm  the workstation wrote the certificates onto the card and says so with their
 *            SHA-256: the card becomes active, its certificates are released from hold.
 *   sweep    pending cards past pending_until are abandoned and their certificates revoked
 *            (cessationOfOperation): a crash between begin and confirm leaves nothing usable
 *            and nothing half-done.
 *
 * Every function runs its own transaction on c (which must be idle), writes its audit events
 * in it, and calls certs_crl_notify() for the CAs whose revocation data changed after commit. */
#ifndef EFOS_CERTS_ENROLL_H
#define EFOS_CERTS_ENROLL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <libpq-fe.h>
#include <openssl/x509.h>
#include "core/err.h"
#include "certs/revoke.h"

struct efos_ctx;
struct certs_service;
struct registry_actor;

/* The keys of a card, in this order everywhere (JSON keys "auth", "sign"). */
enum enroll_key { ENROLL_KEY_AUTH, ENROLL_KEY_SIGN, ENROLL_N_KEYS };
/* "auth" / "sign", and the certificate profile of each ("card-auth" / "card-sign"). */
const char *enroll_key_name(enum enroll_key k);
const char *enroll_key_profile(enum enroll_key k);

struct enroll_begin_request {
	const char *pnr;              /* 12 digits */
	const char *orgnr;            /* 10 digits */
	const char *token_serial;     /* CK_TOKEN_INFO.serialNumber of the card */
	const char *csr[ENROLL_N_KEYS];     /* PEM or DER */
	size_t csr_len[ENROLL_N_KEYS];
	/* Replacement (certs/lifecycle.h: lifecycle_replace): the card this one replaces, revoked
	 * with replace_reason in the same transaction. 0 = a plain enrollment. */
	long replaces_card_id;
	enum cert_revocation_reason replace_reason;
	const char *why;              /* audit; may be NULL */
};

struct enroll_card_certs {
	long card_id;
	char status[16];              /* pending | active | ... */
	char token_serial[65];
	char pending_until[40];       /* "2025-01-31T12:00:00Z"; "" when not pending */
	X509 *cert[ENROLL_N_KEYS];    /* owned; enroll_card_certs_free */
	STACK_OF(X509) *chain;        /* issuing CA first, up to the root; owned */
};
void enroll_card_certs_free(struct enroll_card_certs *r);

/* The officer is who->officer_id (authenticated by the caller from the client chain). */
int enroll_begin(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who,
		 const struct enroll_begin_request *r, struct enroll_card_certs *out, efos_err *e);

/* sha256_hex: lower/upper-case hex SHA-256 of each certificate's DER as written on the card.
 * Confirming an active card with the same certificates again succeeds (idempotent). */
int enroll_confirm(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		   const char *token_serial, const char *const sha256_hex[ENROLL_N_KEYS],
		   struct enroll_card_certs *out, efos_err *e);

/* Abandons every pending card past pending_until (one transaction per card, rows locked with
 * SKIP LOCKED so that several nodes may sweep). *n_abandoned may be NULL. */
int enroll_sweep(PGconn *c, struct efos_ctx *ctx, const char *node, int *n_abandoned, efos_err *e);

/* The sweeper thread: enroll_sweep every few seconds (a quarter of ca.enroll_pending_timeout,
 * between 1 and 30 s). Started by efosd with the ca role after the certs service. */
struct enroll_sweeper;
int enroll_sweeper_start(struct efos_ctx *ctx, struct enroll_sweeper **out, efos_err *e);
void enroll_sweeper_stop(struct enroll_sweeper *s);

/* Shared by enroll.c and lifecycle.c: notifies the CRL publisher of each distinct CA id. */
void enroll_notify_cas(struct efos_ctx *ctx, const long *ca_ids, size_t n);

#endif
