/* A card's life after enrollment (issue 3): suspend (certificateHold on its certificates) and
 * resume, revoke with an RFC 5280 reason (all its certificates), renew (new certificates for the
 * same card keys, the old ones superseded), replace (a new card for the same person, the old
 * one revoked), and the server-side record of an officer-authorised PIN unblock (the unblock
 * itself happens on the card, in efosctl, with the card's SO PIN / PUK).
 *
 * Each step checks the officer's role for the organisation of the card's affiliation
 * (policy/roles.h), writes audit events with who, what and why in its transaction, and
 * refuses with a message that says why ("card 12 is suspended already"). The card_id
 * functions run their own transaction on an idle c and notify the CRL publisher after commit.
 *
 * Reasons (lifecycle_reason_parse): card-lost (keyCompromise), affiliation-ended
 * (affiliationChanged), key-compromise / keyCompromise, superseded, cessation /
 * cessationOfOperation, unspecified. */
#ifndef EFOS_CERTS_LIFECYCLE_H
#define EFOS_CERTS_LIFECYCLE_H

#include <libpq-fe.h>
#include "certs/enroll.h"
#include "certs/revoke.h"
#include "core/err.h"

struct efos_ctx;
struct registry_actor;

int lifecycle_reason_parse(const char *s, enum cert_revocation_reason *out, efos_err *e);

int lifecycle_suspend(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		      const char *why, efos_err *e);
int lifecycle_resume(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		     const char *why, efos_err *e);
int lifecycle_revoke(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		     enum cert_revocation_reason reason, const char *why, efos_err *e);

/* New card-auth and card-sign certificates (status good) for the keys already on the card:
 * each CSR must verify and carry the same public key as the card's current certificate of
 * that use; the old certificates are revoked (superseded). */
int lifecycle_renew(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		    const char *token_serial, const char *const csr[ENROLL_N_KEYS],
		    const size_t csr_len[ENROLL_N_KEYS], const char *why, struct enroll_card_certs *out,
		    efos_err *e);

/* A new card (pending, as enroll_begin) for the person and organisation of card_id, which is
 * revoked with reason in the same transaction; confirmed with enroll_confirm. */
int lifecycle_replace(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		      const char *token_serial, const char *const csr[ENROLL_N_KEYS],
		      const size_t csr_len[ENROLL_N_KEYS], enum cert_revocation_reason reason,
		      const char *why, struct enroll_card_certs *out, efos_err *e);

/* The audited authorisation of a PIN unblock of card_id (active or suspended; the token serial
 * must be the card's). */
int lifecycle_unblock_record(PGconn *c, const struct registry_actor *who, long card_id,
			     const char *token_serial, const char *why, efos_err *e);

/* Cards follow the registry (called by certs/registry.c inside its transaction; who->name
 * and why go into each card's audit event; the CRL publisher picks the change up through the
 * CAs' crl_dirty flag, set by certs/revoke.h):
 *   suspending a person / an organisation suspends their live cards: active cards become
 *     suspended (certificateHold) with suspended_reason "person suspended: WHY" /
 *     "organisation suspended: WHY"; pending cards are revoked (cessationOfOperation: an
 *     enrollment in progress is never completed for a suspended person);
 *   resuming a person / an organisation resumes the cards suspended for that reason, when the
 *     card's person, organisation and affiliation are all active again (cards an officer
 *     suspended separately stay suspended);
 *   ending an affiliation revokes the cards enrolled for it (affiliationChanged). */
int lifecycle_suspend_cards_of_person(PGconn *c, long person_id, const struct registry_actor *who,
				      const char *why, efos_err *e);
int lifecycle_suspend_cards_of_org(PGconn *c, long org_id, const struct registry_actor *who,
				   const char *why, efos_err *e);
int lifecycle_resume_cards_of_person(PGconn *c, long person_id, const struct registry_actor *who,
				     const char *why, efos_err *e);
int lifecycle_resume_cards_of_org(PGconn *c, long org_id, const struct registry_actor *who,
				  const char *why, efos_err *e);
int lifecycle_revoke_cards_of_affiliation(PGconn *c, long affiliation_id,
					  const struct registry_actor *who, const char *why, efos_err *e);

#endif
