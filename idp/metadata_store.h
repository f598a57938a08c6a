/* SP metadata the IdP consumes: local files (trusted as the operator placed them) and remote
 * signed aggregates (federation feeds), each SP parsed ONCE into a compact struct idp_sp
 * (keys as EVP_PKEY, ACS endpoints, entity categories, flags, display names) and indexed by
 * entityID. No libxml2 document is kept after indexing.
 *
 * Feeds: downloaded with libcurl (size-bounded), parsed with core/xml (no DTD, limits), the
 * signature on the root element checked with xml_dsig_verify_element against the configured
 * certificates (any one of them may sign), validUntil required and in the future. A feed that
 * fails any of this is refused and its last good copy stays in use; the last good copy is kept
 * on disk (idp.metadata_cache_dir) and loaded at start. A broken EntityDescriptor (bad key, no
 * usable ACS...) is skipped with a warning and spoils nothing else.
 *
 * Readers never lock: they take a reference to the current immutable snapshot
 * (idp_md_acquire), look up as many SPs as they like, and release it. The refresh thread
 * builds a new snapshot and swaps the pointer; the old one is freed when its last reader is
 * done (a grace period guarantees no reader is caught between loading the pointer and taking
 * its reference). */
#ifndef EFOS_IDP_METADATA_STORE_H
#define EFOS_IDP_METADATA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>
#include "core/err.h"

struct efos_ctx;
struct efos_config;

enum idp_binding {
	IDP_BINDING_OTHER = 0,
	IDP_BINDING_POST,        /* urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST */
	IDP_BINDING_REDIRECT,    /* urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect */
	IDP_BINDING_ARTIFACT,    /* urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact */
	IDP_BINDING_HOK,         /* holder-of-key:SSO:browser; hok_protocol_binding says which */
};

struct idp_sp_acs {
	unsigned index;
	bool is_default;               /* isDefault="true" */
	bool is_default_set;           /* isDefault present at all (the SAML default rules need it) */
	enum idp_binding binding;
	enum idp_binding hok_protocol_binding;  /* for IDP_BINDING_HOK: POST or REDIRECT */
	const char *binding_uri;
	const char *location;          /* an https:// URL */
};

struct idp_sp_enc_method {
	const char *algorithm;         /* md:EncryptionMethod/@Algorithm */
	const char *digest;            /* ds:DigestMethod/@Algorithm inside it (OAEP), or NULL */
	const char *mgf;               /* xenc11:MGF/@Algorithm inside it, or NULL */
};

struct idp_sp_req_attr {
	const char *name;              /* md:RequestedAttribute/@Name */
	bool is_required;
};

/* One SP, immutable once indexed; every pointer lives as long as the snapshot it came from. */
struct idp_sp {
	const char *entity_id;
	const char *source;            /* the file or feed URL it came from */
	time_t valid_until;            /* 0: none (the feed's validUntil still applies) */
	bool authn_requests_signed;    /* SPSSODescriptor/@AuthnRequestsSigned */
	bool want_assertions_signed;   /* SPSSODescriptor/@WantAssertionsSigned */

	EVP_PKEY **signing_keys;       /* use="signing" or no use: verify requests with any of them */
	size_t n_signing_keys;
	EVP_PKEY **encryption_keys;    /* use="encryption" or no use; the first is the one to use */
	size_t n_encryption_keys;
	const struct idp_sp_enc_method *enc_methods;  /* of the encryption KeyDescriptors, in order */
	size_t n_enc_methods;
	const char *const *signing_methods;   /* alg:SigningMethod (entity and role level) */
	size_t n_signing_methods;
	const char *const *digest_methods;    /* alg:DigestMethod */
	size_t n_digest_methods;

	const struct idp_sp_acs *acs;  /* in document order */
	size_t n_acs;
	const char *const *entity_categories; /* mdattr entity-category values */
	size_t n_entity_categories;
	const char *const *name_id_formats;
	size_t n_name_id_formats;
	const struct idp_sp_req_attr *requested_attrs;  /* AttributeConsumingService (the default/first) */
	size_t n_requested_attrs;
	const char *display_name_sv;   /* mdui:DisplayName, NULL when absent */
	const char *display_name_en;
	const char *org_display_name_sv; /* md:OrganizationDisplayName, a fallback for pages */
	const char *org_display_name_en;
};

/* True when sp declares the entity category uri. */
bool idp_sp_has_category(const struct idp_sp *sp, const char *uri);
/* The ACS for index (index >= 0) or the default one (index < 0: isDefault="true", else the first
 * without isDefault="false", else the first), restricted to binding unless IDP_BINDING_OTHER. */
const struct idp_sp_acs *idp_sp_find_acs(const struct idp_sp *sp, int index, enum idp_binding binding);

/* ---- snapshots ------------------------------------------------------------------------------ */

struct idp_md_snapshot;

/* The SP with this entityID in the snapshot, or NULL. Lock-free; no allocation. */
const struct idp_sp *idp_md_snapshot_find(const struct idp_md_snapshot *s, const char *entity_id);
size_t idp_md_snapshot_count(const struct idp_md_snapshot *s);

/* ---- parsing (exposed for tests and efosctl) ------------------------------------------------- */

/* The outcome of reading one metadata document. */
struct idp_md_batch;

struct idp_md_parse_opts {
	const char *source;            /* for messages and idp_sp.source */
	size_t max_bytes;
	bool require_signature;        /* feeds: true */
	EVP_PKEY *const *trusted_keys; /* feeds: any one of these must verify the root's signature */
	size_t n_trusted_keys;
	bool require_valid_until;      /* feeds: true (an aggregate without it could be replayed forever) */
	time_t now;
};

/* Parses buf (one md:EntityDescriptor or an md:EntitiesDescriptor, nested ones included).
 * The whole document is refused (-1) when it is not metadata, the signature is missing or does
 * not verify, or validUntil has passed; otherwise the usable SPs are in *out (broken entities
 * skipped with a warning each, counted in *skipped; entities without an SPSSODescriptor are
 * ignored). The caller frees *out with idp_md_batch_free (or hands it to a store). */
int idp_md_parse(const char *buf, size_t len, const struct idp_md_parse_opts *o, struct idp_md_batch **out,
		 size_t *skipped, efos_err *e);
void idp_md_batch_free(struct idp_md_batch *b);
size_t idp_md_batch_count(const struct idp_md_batch *b);
const struct idp_sp *idp_md_batch_sp(const struct idp_md_batch *b, size_t i);
time_t idp_md_batch_valid_until(const struct idp_md_batch *b);

/* Reads the PEM certificates of the files (any number per file) into public keys. */
int idp_md_load_trusted_keys(char *const *files, size_t nfiles, const char *config_dir, EVP_PKEY ***keys,
			     size_t *nkeys, efos_err *e);
void idp_md_free_keys(EVP_PKEY **keys, size_t n);

/* ---- the store --------------------------------------------------------------------------------- */

struct idp_md_store;

/* From ctx->cfg (idp.sp_metadata_files, idp.federation_feeds, idp.federation_certs,
 * idp.metadata_refresh, idp.metadata_cache_dir, idp.metadata_max_bytes,
 * idp.metadata_fetch_timeout): loads the local files and the feeds' last good copies from the
 * cache, then starts the refresh thread, whose first round downloads every feed at once.
 * A local file that cannot be read or parsed is a start-up error (EFOS_E_CONFIG); a feed that
 * cannot be fetched is not (it is logged and retried every refresh). */
int idp_md_store_start(const struct efos_config *cfg, struct idp_md_store **out, efos_err *e);
void idp_md_store_stop(struct idp_md_store *st);

/* Runs one refresh round now, in the caller's thread (tests; the thread does it periodically). */
void idp_md_store_refresh(struct idp_md_store *st);

/* Asks the refresh thread for a round now instead of at the next idp.metadata_refresh (efosd
 * does it on SIGHUP: an operator who replaced a local file or knows a feed changed). Returns at
 * once; the round logs what it loaded and, when the index changed, how many seconds after its
 * start the new index served (event sp_metadata.index). Safe from any thread; NULL: nothing. */
void idp_md_store_wake(struct idp_md_store *st);

/* The current snapshot with a reference held; never NULL (possibly empty). */
const struct idp_md_snapshot *idp_md_acquire(struct idp_md_store *st);
void idp_md_release(const struct idp_md_snapshot *s);

/* Adds (or replaces, by source name) a metadata document that this node itself produced, e.g.
 * the signing service's own SP metadata on a node that also runs the IdP. It is trusted like a
 * local file (no signature required), comes after the configured sources (they win on a doubled
 * entityID), is not refreshed, and is dropped at its validUntil unless added again. The index
 * is republished at once. -1 when the document does not parse (e says why). */
int idp_md_store_add_document(struct idp_md_store *st, const char *source, const char *xml, size_t len,
			      efos_err *e);

/* Number of refresh rounds completed (tests wait on it). */
unsigned long idp_md_store_rounds(struct idp_md_store *st);

/* What /metrics shows of the store (efos_sp_metadata_*, docs/idp-metadata.md). */
struct idp_md_store_stats {
	unsigned long rounds;          /* refresh rounds completed */
	unsigned long refused;         /* documents refused (bad signature, expired, download failed...) */
	size_t entities;               /* SPs in the index that serves */
	time_t last_round;             /* end of the last round (0: none yet) */
	time_t last_index;             /* when the index that serves was swapped in */
	double last_index_seconds;     /* from the start of that round until it served (0: built at start) */
};
void idp_md_store_get_stats(struct idp_md_store *st, struct idp_md_store_stats *out);

#endif
