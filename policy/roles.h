/* Who may do what: officers' roles (officer_roles: registration_officer, org_admin, ca_admin;
 * each for one organisation, or for every organisation when org_id is NULL) mapped to actions.
 *
 *   action            registration_officer  org_admin  ca_admin
 *   registry.read             x                 x         x
 *   person.write              x                 x         x      persons, names
 *   person.suspend            x                 x         x      (suspends the person's cards)
 *   affiliation.write         x                 x         x
 *   proofing.write            x                           x      in-person identity proofing
 *   card.enroll               x                           x
 *   card.suspend              x                 x         x
 *   card.resume               x                           x
 *   card.revoke               x                 x         x
 *   card.unblock              x                           x      PIN unblock with the SO PIN
 *   card.renew                x                           x      renew / replace
 *   org.write                                             x      organisations, their status
 *   officer.write                                         x      officers and their roles
 *   ca.admin                                              x      CA operations
 *
 * ca_admin is only meaningful for every organisation (org_id NULL): a ca_admin row bound to one
 * organisation grants what org_admin and registration_officer grant there, nothing global.
 * Persons are not owned by an organisation: an action on a person is allowed when the officer's
 * role allows it in an organisation where the person has an active affiliation (or for a person
 * with no active affiliation yet, in any organisation). policy/ decides; callers enforce. */
#ifndef EFOS_POLICY_ROLES_H
#define EFOS_POLICY_ROLES_H

#include <stdbool.h>
#include <libpq-fe.h>
#include "core/err.h"

enum policy_action {
	POLICY_REGISTRY_READ,
	POLICY_PERSON_WRITE,
	POLICY_PERSON_SUSPEND,
	POLICY_AFFILIATION_WRITE,
	POLICY_PROOFING_WRITE,
	POLICY_CARD_ENROLL,
	POLICY_CARD_SUSPEND,
	POLICY_CARD_RESUME,
	POLICY_CARD_REVOKE,
	POLICY_CARD_UNBLOCK,
	POLICY_CARD_RENEW,
	POLICY_ORG_WRITE,
	POLICY_OFFICER_WRITE,
	POLICY_CA_ADMIN,
	POLICY_N_ACTIONS
};

enum policy_role {
	POLICY_ROLE_REGISTRATION_OFFICER,
	POLICY_ROLE_ORG_ADMIN,
	POLICY_ROLE_CA_ADMIN,
	POLICY_N_ROLES
};

/* org_id arguments: an organisation's id (> 0), or one of these. */
#define POLICY_ORG_GLOBAL 0L   /* needs a role for every organisation (org_id NULL) */
#define POLICY_ORG_ANY   (-1L) /* a role allowing it in at least one organisation is enough */

/* "card.enroll"; "?" when out of range. */
const char *policy_action_name(enum policy_action a);
int policy_action_parse(const char *s, enum policy_action *out);
/* "registration_officer" */
const char *policy_role_name(enum policy_role r);
int policy_role_parse(const char *s, enum policy_role *out);

/* The matrix above. global: the role row has org_id NULL. */
bool policy_role_allows(enum policy_role r, bool global, enum policy_action a);

/* 0 when the (active) officer has a role allowing a for the organisation org_id (or see
 * POLICY_ORG_*); else -1 with EFOS_E_AUTH "officer \"Anna Berg\" (id 3) has no role allowing
 * card.enroll for organisation 2021000001", or another code when the database failed. */
int policy_officer_may(PGconn *c, long officer_id, long org_id, enum policy_action a, efos_err *e);

/* The same for an action on a person (see above). EFOS_E_NOTFOUND when no such person. */
int policy_officer_may_for_person(PGconn *c, long officer_id, long person_id, enum policy_action a,
				  efos_err *e);

#endif
