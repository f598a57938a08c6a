/* IdP metadata as the signing service needs it (spec §7.1: the signing service is a SAML SP of
 * type sigservice that sends the signer to the IdP named in the SignRequest).
 *
 * One md:EntityDescriptor or an md:EntitiesDescriptor (nested ones included) is parsed with
 * core/xml (no DTD, limits) into compact struct sig_idp records: keys as EVP_PKEY (parsed once,
 * from KeyDescriptor certificates through core/saml_md.h, the same code the IdP uses for SP
 * metadata), SSO endpoints, entity categories, assurance certifications, the
 * psc:RequestedPrincipalSelection attribute names and the alg:SigningMethod / alg:DigestMethod
 * lists (spec §1.5: the SP picks its request's algorithms from them). Entities without an IDPSSODescriptor are
 * ignored; a broken one (no usable signing key, a bad certificate) is skipped with a warning and
 * spoils nothing else. When trusted keys are given, the root element's signature must verify
 * with one of them (federation feed) and validUntil, when present, must not have passed.
 * No libxml2 document is kept; the set is immutable and may be shared by threads. */
#ifndef EFOS_SIGNER_IDP_MD_H
#define EFOS_SIGNER_IDP_MD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>
#include "core/err.h"

#define SIG_EC_SCAL2 "http://id.elegnamnden.se/sprop/1.0/scal2"

/* One IdP; every pointer lives as long as the set it came from. */
struct sig_idp {
	const char *entity_id;
	const char *sso_post_url;        /* SingleSignOnService HTTP-POST Location (NULL if none) */
	const char *sso_redirect_url;    /* HTTP-Redirect Location (NULL if none) */
	EVP_PKEY **signing_keys;         /* use="signing" or no use (>= 1) */
	size_t n_signing_keys;
	EVP_PKEY *encryption_key;        /* the first use="encryption" or no-use key, may be NULL */
	const char *const *entity_categories;   /* mdattr entity-category values */
	size_t n_entity_categories;
	const char *const *assurance_certs;     /* assurance-certification values (LoA URIs) */
	size_t n_assurance_certs;
	const char *const *principal_selection; /* psc:RequestedPrincipalSelection MatchValue@Name */
	size_t n_principal_selection;
	bool scal2;                      /* entity category SIG_EC_SCAL2 (the IdP issues SADs) */
	const char *const *signing_methods;     /* alg:SigningMethod (entity and role level), in order */
	size_t n_signing_methods;
	const char *const *digest_methods;      /* alg:DigestMethod */
	size_t n_digest_methods;
};

struct sig_idp_set;

/* Parses buf (see the top of this file). trusted/n_trusted: when n_trusted > 0 the root's one
 * ds:Signature must verify with one of these keys. now: for validUntil (0: time(NULL)).
 * Returns 0 with *out (possibly holding no IdP), or -1 (EFOS_E_INVALID / EFOS_E_AUTH /
 * EFOS_E_TOOBIG) when the document is not metadata or its signature or validity fails. */
int sig_idp_set_parse(const char *buf, size_t len, const char *source, EVP_PKEY *const *trusted,
		      size_t n_trusted, time_t now, struct sig_idp_set **out, efos_err *e);
/* The IdP with this entityID, or NULL. */
const struct sig_idp *sig_idp_set_find(const struct sig_idp_set *s, const char *entity_id);
size_t sig_idp_set_count(const struct sig_idp_set *s);
const struct sig_idp *sig_idp_set_get(const struct sig_idp_set *s, size_t i);
void sig_idp_set_free(struct sig_idp_set *s);

/* True when idp declares the entity category / assurance certification uri. */
bool sig_idp_has_category(const struct sig_idp *idp, const char *uri);
bool sig_idp_has_assurance(const struct sig_idp *idp, const char *uri);

#endif
