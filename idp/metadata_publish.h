/* The IdP's own SAML metadata (GET /metadata/idp.xml): one md:EntityDescriptor built from the
 * configuration and the active organisations, signed with the metadata key in the HSM
 * (enveloped, exc-c14n, rsa-sha256 or ecdsa-sha256 by key type), and cached. The document is
 * rebuilt and signed again only when its inputs change (organisations are polled) or when it
 * is older than idp.metadata_resign; requests get the cached bytes, never a fresh signature.
 *
 * What goes in and where, and which rule of the Swedish eID Framework asks for it:
 * docs/idp-metadata.md. */
#ifndef EFOS_IDP_METADATA_PUBLISH_H
#define EFOS_IDP_METADATA_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>
#include "core/err.h"

struct efos_ctx;
struct hsm_key;

/* Paths this IdP serves. The HoK endpoints are on the mTLS listener (http.mtls_public_url). */
#define IDP_PATH_METADATA         "/metadata/idp.xml"
#define IDP_PATH_SSO_REDIRECT     "/idp/sso/redirect"
#define IDP_PATH_SSO_POST         "/idp/sso/post"
#define IDP_PATH_HOK_SSO_REDIRECT "/idp/hok/sso/redirect"
#define IDP_PATH_HOK_SSO_POST     "/idp/hok/sso/post"

#define IDP_MD_CONTENT_TYPE "application/samlmetadata+xml"

/* Entity attributes of the IdP (spec §1.2, §4, §9.1). */
#define IDP_ATTR_ASSURANCE_CERTIFICATION "urn:oasis:names:tc:SAML:attribute:assurance-certification"
#define IDP_ATTR_ENTITY_CATEGORY "http://macedir.org/entity-category"
#define IDP_EC_LOA4_ORGID "http://id.swedenconnect.se/ec/1.0/loa4-orgid"
#define IDP_EC_LOA4_PNR   "http://id.elegnamnden.se/ec/1.0/loa4-pnr"
#define IDP_EC_LOA4_NAME  "http://id.swedenconnect.se/ec/1.0/loa4-name"
#define IDP_SPROP_SCAL2   "http://id.elegnamnden.se/sprop/1.0/scal2"
#define IDP_CONTRACT_PREPAID_AUTH_2021 "http://id.swedenconnect.se/contract/sc/prepaid-auth-2021"

/* Everything the EntityDescriptor is built from. Strings and certificates are borrowed. */
struct idp_md_info {
	const char *entity_id;
	const char *public_url;           /* SSO endpoints: public_url + IDP_PATH_SSO_* */
	const char *mtls_public_url;      /* HoK endpoints; NULL: none published */
	bool want_authn_requests_signed;
	long validity_s;                  /* validUntil = now + validity_s */
	long cache_duration_s;            /* cacheDuration */
	X509 *signing_cert;               /* KeyDescriptor use="signing" (required) */
	X509 *signing_cert_next;          /* second use="signing" during a rollover, or NULL */
	X509 *encryption_cert;            /* use="encryption" with EncryptionMethods, or NULL */
	const char *display_name_sv, *display_name_en;
	const char *description_sv, *description_en;   /* NULL: left out */
	const char *logo_url;             /* NULL: no mdui:Logo */
	int logo_width, logo_height;
	const char *org_name;             /* md:OrganizationName (sv and en) */
	const char *org_display_name_sv, *org_display_name_en;
	const char *org_url;
	const char *org_number;           /* mdorgext:OrganizationNumber, or NULL */
	const char *contact_technical;    /* e-mail, or NULL */
	const char *contact_support;      /* e-mail, or NULL */
	const char *const *principal_selection; /* psc:MatchValue Names */
	size_t n_principal_selection;
	const char *const *scopes;        /* shibmd:Scope values: 10-digit organisation numbers */
	size_t n_scopes;
	/* Added (the signing service's own metadata, signer/fedsign_metadata.c): when sp_acs_url is
	 * set the document describes an SP instead: SPSSODescriptor (AuthnRequestsSigned and
	 * WantAssertionsSigned true, one HTTP-POST AssertionConsumerService at sp_acs_url), the
	 * entity categories sp_entity_categories, no assurance certification, no SSO endpoints,
	 * scopes or principal selection. */
	const char *sp_acs_url;
	const char *const *sp_entity_categories;
	size_t n_sp_entity_categories;
};

/* Builds the EntityDescriptor for in at time now and signs it with key (its certificate
 * key_cert goes into the signature's KeyInfo). *xml is malloc'd, NUL-terminated, UTF-8. */
int idp_md_build_signed(const struct idp_md_info *in, time_t now, struct hsm_key *key, X509 *key_cert,
			char **xml, size_t *len, efos_err *e);

/* ---- the publisher: a cached signed document kept current by a background thread ---------- */

struct idp_md_publisher;

/* Reads idp.* from ctx->cfg, finds idp.metadata_key in ctx->hsm, builds and signs the first
 * document (reading the organisations from ctx->db), then starts the thread that polls the
 * organisations every idp.metadata_org_poll and re-signs when they change or the document is
 * older than idp.metadata_resign. EFOS_E_CONFIG when the configuration is incomplete or the
 * certificate does not match the key. */
int idp_md_publisher_start(struct efos_ctx *ctx, struct idp_md_publisher **out, efos_err *e);
void idp_md_publisher_stop(struct idp_md_publisher *p);

/* Rebuilds and re-signs now (reads the organisations again). */
int idp_md_publisher_rebuild(struct idp_md_publisher *p, efos_err *e);

/* A copy of the current document. *xml is malloc'd; etag (quoted, for the ETag header) and
 * valid_until may be NULL. */
struct idp_md_current {
	char *xml;
	size_t len;
	char etag[48];
	time_t signed_at;
	time_t valid_until;
	long cache_duration_s;
};
int idp_md_publisher_get(struct idp_md_publisher *p, struct idp_md_current *out, efos_err *e);
/* When the current document was signed (0: none yet): a reader that keeps a parsed copy asks
 * this before copying the document again. */
time_t idp_md_publisher_signed_at(struct idp_md_publisher *p);

/* Fills out with a copy of a signed metadata document (xml NUL-terminated after len bytes) and
 * what caches need (ETag, validUntil = signed_at + validity_s, cacheDuration). For every
 * publisher of this shape (the IdP's here, the signing service's signer/fedsign_metadata.c).
 * -1 with e when memory runs out. */
int idp_md_current_fill(struct idp_md_current *out, const char *xml, size_t len, const char *etag,
			time_t signed_at, const struct idp_md_info *info, efos_err *e);

/* Formats t as xs:dateTime in UTC ("2026-01-31T12:00:00Z"); buf holds at least 21 bytes. */
void idp_md_format_time(time_t t, char *buf, size_t cap);

#endif
