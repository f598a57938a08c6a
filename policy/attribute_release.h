/* Attribute release (spec §1.6.2, §3, §4, §9; anslutningsregler §2.1.2, §2.3, §3.7): which
 * attributes of the logged-in person go to one SP, and the notice the user must see before
 * they are sent.
 *
 * Inputs, all already established by the caller (policy/ never parses XML):
 *   - the SP's entity categories and RequestedAttributes (from its metadata),
 *   - the entity categories and shibmd:Scope values our IdP publishes,
 *   - the person (registry data from the card login).
 *
 * The rules, in order:
 *   1. Service ECs count only when BOTH the SP and the IdP declare them; each maps to its
 *      attribute set (spec §4.2, §3.2): loa4-orgid -> org-person-01 (displayName,
 *      orgAffiliation, o, organizationIdentifier), loa4-pnr -> pnr-01 (sn, givenName,
 *      displayName, personalIdentityNumber, dateOfBirth), loa4-name -> natural-person-01 (sn,
 *      givenName, displayName). loa2/loa3 variants and other sets are never matched (EFOS is
 *      a loa4 IdP).
 *   2. Plus each md:RequestedAttribute we can provide (the table in attribute_release.c:
 *      the attributes above and userCertificate); unknown names are skipped. A required one
 *      that we cannot provide refuses the login (POLICY_REFUSE_REQUIRED_ATTRIBUTE).
 *   3. For signature services (st/1.0/sigservice), also the attributes the sign request names
 *      in psc:PrincipalSelection (the service already holds those values).
 *   4. Nothing else (privacy rule §1.6.2). An SP without categories and without
 *      RequestedAttributes gets no attribute at all (pseudonymous NameID only).
 *   5. orgAffiliation only for affiliations whose organisation number is one of our published
 *      scopes; o and organizationIdentifier (single-valued) from the preferred affiliation
 *      (preferred_orgnr when it is in scope, else the first in-scope one). When the org
 *      identity is to be released and no affiliation is in scope: POLICY_REFUSE_NO_ORG_IDENTITY.
 *   6. personalIdentityNumber: never with a loa*-nonresident LoA or when the person has none
 *      (then a required one refuses with POLICY_REFUSE_REQUIRED_ATTRIBUTE); a coordination
 *      number only to SPs declaring general-ec/1.0/accepts-coordination-number, otherwise the
 *      login fails with POLICY_REFUSE_COORDINATION_NUMBER (the flow tells the user that a
 *      personnummer is required; no assertion is issued).
 *
 * Every string in the result is owned by the result (policy_release_free). */
#ifndef EFOS_POLICY_ATTRIBUTE_RELEASE_H
#define EFOS_POLICY_ATTRIBUTE_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

/* Attribute names (spec §3.1; NameFormat urn:oasis:names:tc:SAML:2.0:attrname-format:uri). */
#define ATTR_NAME_FORMAT_URI "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
#define ATTR_SN                       "urn:oid:2.5.4.4"
#define ATTR_GIVEN_NAME               "urn:oid:2.5.4.42"
#define ATTR_DISPLAY_NAME             "urn:oid:2.16.840.1.113730.3.1.241"
#define ATTR_PERSONAL_IDENTITY_NUMBER "urn:oid:1.2.752.29.4.13"
#define ATTR_DATE_OF_BIRTH            "urn:oid:1.3.6.1.5.5.7.9.1"
#define ATTR_O                        "urn:oid:2.5.4.10"
#define ATTR_ORGANIZATION_IDENTIFIER  "urn:oid:2.5.4.97"
#define ATTR_ORG_AFFILIATION          "urn:oid:1.2.752.201.3.1"
#define ATTR_USER_CERTIFICATE         "urn:oid:1.2.752.201.3.10"
#define ATTR_SAD                      "urn:oid:1.2.752.201.3.12"
#define ATTR_SIGN_MESSAGE_DIGEST      "urn:oid:1.2.752.201.3.14"

/* Entity categories this module reads. */
#define EC_LOA4_ORGID "http://id.swedenconnect.se/ec/1.0/loa4-orgid"
#define EC_LOA4_PNR   "http://id.elegnamnden.se/ec/1.0/loa4-pnr"
#define EC_LOA4_NAME  "http://id.swedenconnect.se/ec/1.0/loa4-name"
#define EC_ST_SIGSERVICE "http://id.elegnamnden.se/st/1.0/sigservice"
#define EC_ACCEPTS_COORDINATION_NUMBER "http://id.swedenconnect.se/general-ec/1.0/accepts-coordination-number"

/* One md:RequestedAttribute of the SP. */
struct policy_requested_attr {
	const char *name;
	bool is_required;
};

/* What the SP declares (borrowed). */
struct policy_release_sp {
	const char *const *entity_categories;
	size_t n_entity_categories;
	const struct policy_requested_attr *requested;
	size_t n_requested;
	/* Names from the request's psc:PrincipalSelection (used for sigservice SPs only). */
	const char *const *principal_selection_names;
	size_t n_principal_selection_names;
};

/* What our IdP publishes (borrowed). */
struct policy_release_idp {
	const char *const *entity_categories;  /* our service ECs (loa4-orgid, loa4-pnr, loa4-name) */
	size_t n_entity_categories;
	const char *const *scopes;             /* shibmd:Scope values (10-digit orgnr) */
	size_t n_scopes;
	/* Or, when set, asked instead of the list (the published scopes change at run time). */
	bool (*scope_ok)(void *arg, const char *orgnr);
	void *scope_arg;
};

struct policy_affiliation {
	const char *org_affiliation;   /* local-id@orgnr */
	const char *orgnr;             /* 10 digits */
	const char *org_name;
};

/* The person (borrowed). NULL strings are "not available". */
struct policy_person {
	const char *pnr;               /* 12 digits */
	bool is_coordination_number;
	const char *given_name, *surname, *display_name;
	const struct policy_affiliation *affiliations;
	size_t n_affiliations;
	const char *preferred_orgnr;   /* the organisation to answer o/organizationIdentifier for, or NULL */
	const char *loa;               /* the LoA URI of this login (loa4 or loa4-nonresident) */
	const char *user_certificate_b64; /* base64 DER of the card certificate, or NULL */
};

/* One released attribute. */
struct policy_attr {
	const char *name;              /* urn:oid:... (static) */
	const char *friendly_name;     /* static */
	const char *label_sv, *label_en; /* for the notice page (static) */
	char **values;                 /* owned */
	size_t n_values;
};

/* What the mandatory notice says will be sent (anslutningsregler §2.1.2). */
enum policy_release_kind {
	POLICY_RELEASE_NOTHING = 0,    /* no identity attribute (pseudonym only) */
	POLICY_RELEASE_NAME_ONLY,      /* names only */
	POLICY_RELEASE_ORG_ONLY,       /* organisational identity, no personnummer */
	POLICY_RELEASE_ORG_AND_PNR,    /* organisational identity and personnummer */
	POLICY_RELEASE_PNR_ONLY,       /* personnummer, no organisational identity */
};

/* Why a login cannot be answered with an assertion. */
enum policy_refusal {
	POLICY_REFUSE_NONE = 0,
	POLICY_REFUSE_COORDINATION_NUMBER, /* samordningsnummer, SP lacks accepts-coordination-number */
	POLICY_REFUSE_REQUIRED_ATTRIBUTE,  /* an isRequired attribute we cannot deliver */
	POLICY_REFUSE_NO_ORG_IDENTITY,     /* org identity required, no affiliation in a published scope */
};

struct policy_release {
	struct policy_attr *attrs;     /* in a fixed order (the table's), each name at most once */
	size_t n_attrs;
	enum policy_release_kind kind;
	enum policy_refusal refusal;   /* set when policy_attribute_release returned POLICY_RELEASE_REFUSED */
	char refusal_detail[160];      /* for logs: which attribute, which SP rule */
	char set_id[65];               /* hex SHA-256 of the released names: remember consent per SP and
					  ask again when it changes */
};

#define POLICY_RELEASE_REFUSED 1

/* Decides the release. Returns 0 (out filled), POLICY_RELEASE_REFUSED (out->refusal says why;
 * out has no attributes; show policy_refusal_text and send no assertion), or -1 with e set
 * (EFOS_E_INTERNAL: out of memory). Free out with policy_release_free in every case. */
int policy_attribute_release(const struct policy_release_sp *sp, const struct policy_release_idp *idp,
			     const struct policy_person *p, struct policy_release *out, efos_err *e);
void policy_release_free(struct policy_release *r);

/* The released attribute with this name, or NULL. */
const struct policy_attr *policy_release_find(const struct policy_release *r, const char *name);

/* Static text for the notice (lang "sv" or "en"; anything else is English), e.g. for
 * POLICY_RELEASE_ORG_AND_PNR: "Din organisationsidentitet och ditt personnummer skickas till
 * tjänsten." The page lists the attributes (label_sv/label_en and values) below it. */
const char *policy_release_notice_text(enum policy_release_kind kind, const char *lang);
/* Static text for the user when the login is refused. */
const char *policy_refusal_text(enum policy_refusal r, const char *lang);

#endif
