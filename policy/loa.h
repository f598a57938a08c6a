/* Levels of assurance: which Swedish eID Framework LoA URIs (the registry, spec 03; EFOS as an
 * employee eID at LoA 4) a validated credential qualifies for.
 *
 * policy/ never parses a certificate or a protocol message: the caller (certs/validate.c)
 * hands over the facts it has already established by RFC 5280 validation and the registry
 * lookup, and gets back the set of URIs. Whether a URI is then *released* to a given SP
 * (coordination numbers, non-resident rules, attribute release) is the IdP's decision. */
#ifndef EFOS_POLICY_LOA_H
#define EFOS_POLICY_LOA_H

#include <stdbool.h>
#include <stddef.h>

#define LOA_URI_LOA2 "http://id.elegnamnden.se/loa/1.0/loa2"
#define LOA_URI_LOA3 "http://id.elegnamnden.se/loa/1.0/loa3"
#define LOA_URI_LOA4 "http://id.elegnamnden.se/loa/1.0/loa4"
#define LOA_URI_LOA4_NONRESIDENT "http://id.swedenconnect.se/loa/1.0/loa4-nonresident"

/* What kind of Swedish identity number the holder has in the registry. */
enum loa_id_type {
	LOA_ID_NONE = 0,          /* neither personnummer nor samordningsnummer */
	LOA_ID_PERSONNUMMER,
	LOA_ID_SAMORDNINGSNUMMER, /* coordination number (day + 60) */
};

/* The validated facts about one credential. Every flag must already be proven by the caller:
 * "present" means present in a certificate whose path validated (signatures, validity,
 * revocation) to an EFOS trust anchor. */
struct loa_facts {
	bool efos_issued;            /* issued by an EFOS CA (found in the certificates table) */
	bool card_active;            /* the certificate belongs to a card whose status is active */
	bool card_auth_usage;        /* keyUsage digitalSignature and extendedKeyUsage clientAuth */
	const char *const *policy_oids;  /* certificate policy OIDs the leaf asserts (validated) */
	size_t n_policy_oids;
	/* The EFOS high-assurance policy OID (from the card-auth certificate profile, which is
	 * configuration, not code); NULL = unknown, and then nothing qualifies. */
	const char *high_assurance_oid;
	enum loa_id_type id_type;
};

#define LOA_MAX_URIS 4
struct loa_set {
	const char *uris[LOA_MAX_URIS];  /* static strings (the LOA_URI_* constants) */
	size_t n;
};

/* Fills out with the LoA URIs the credential qualifies for (possibly none, n == 0).
 *   EFOS card-auth certificate, active card, high-assurance policy, holder with a
 *   personnummer                                   -> loa4
 *   ... holder with a samordningsnummer             -> loa4 (the IdP releases the number only
 *                                                      to SPs that accept coordination numbers)
 *   ... holder with neither                         -> loa4-nonresident (the registry always has
 *                                                      one of the two today; kept for completeness:
 *                                                      personalIdentityNumber must then not be
 *                                                      released)
 *   anything else (other policy, not on an active card, not for authentication, not EFOS)
 *                                                   -> nothing
 * eidas-* URIs are never returned: only the Swedish eIDAS connector may issue them. */
void policy_loa_for_credential(const struct loa_facts *f, struct loa_set *out);

/* True when set contains uri (exact match). */
bool policy_loa_contains(const struct loa_set *set, const char *uri);

/* A one-line reason why f qualifies for nothing ("certificate policy 1.2.3 is not the EFOS
 * high-assurance policy 1.2.752..."), or "" when it qualifies. */
const char *policy_loa_why_none(const struct loa_facts *f, char *buf, size_t len);

#endif
