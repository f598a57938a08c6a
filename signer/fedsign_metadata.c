/* The sigservice metadata (see fedsign_metadata.h). The EntityDescriptor is the IdP metadata
 * builder's SP variant (idp_md_build_signed with sp_acs_url set): one builder and one signing
 * path for both documents. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "core/config.h"
#include "core/log.h"
#include "idp/metadata_store.h"
#include "signer/fedsign_metadata.h"

#define EC_LOA4_PNR   "http://id.elegnamnden.se/ec/1.0/loa4-pnr"
#define EC_LOA4_ORGID "http://id.swedenconnect.se/ec/1.0/loa4-orgid"
#define EC_LOA4_NAME  "http://id.swedenconnect.se/ec/1.0/loa4-name"
#define CONTRACT_PREPAID_AUTH_2021 "http://id.swedenconnect.se/contract/sc/prepaid-auth-2021"
#define SPROP_SCAL2   "http://id.elegnamnden.se/sprop/1.0/scal2"

struct fedsign_md {
	pthread_mutex_t lock;        /* guards the document and a re-signing */
	struct idp_md_info info;     /* strings borrowed from the configuration */
	const char *categories[8];
	char acs[1024];
	struct hsm_key *key;
	X509 *cert;
	struct idp_md_store *inject;
	long resign_s;
	char *xml;
	size_t len;
	char etag[48];
	time_t signed_at;
};

/* Signs a new document into m (lock held). The old one stays in use when this fails. */
static int resign(struct fedsign_md *m, efos_err *e)
{
	char *xml = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	if (idp_md_build_signed(&m->info, now, m->key, m->cert, &xml, &len, e) != 0)
		return efos_wrap(e, "signing service metadata");
	unsigned char md[32];
	EVP_Digest(xml, len, md, NULL, EVP_sha256(), NULL);
	free(m->xml);
	m->xml = xml;
	m->len = len;
	m->signed_at = now;
	snprintf(m->etag, sizeof m->etag, "\"");
	for (size_t i = 0; i < 16; i++)
		snprintf(m->etag + 1 + 2 * i, 3, "%02x", md[i]);
	strcat(m->etag, "\"");
	if (m->inject != NULL) {
		efos_err e2 = { 0 };
		/* The IdP keeps working with the previous copy if this fails; it is logged, not fatal. */
		if (idp_md_store_add_document(m->inject, FEDSIGN_PATH_METADATA, xml, len, &e2) != 0)
			log_error("the IdP could not take the signing service's metadata: %s", e2.msg);
	}
	return 0;
}

int fedsign_md_start(const struct efos_config *c, struct hsm_key *key, X509 *sign_cert, X509 *enc_cert,
		     bool scal2, struct idp_md_store *inject, struct fedsign_md **out, efos_err *e)
{
	*out = NULL;
	if (c->idp_org_name == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "idp.organization_name is required: the signing service's metadata "
				 "carries the same md:Organization as the IdP's");
	if (c->http_public_url == NULL || c->signer_entity_id == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "http.public_url is needed for the signing service's endpoints");
	struct fedsign_md *m = calloc(1, sizeof *m);
	if (m == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	pthread_mutex_init(&m->lock, NULL);
	m->key = key;
	m->cert = sign_cert;
	m->inject = inject;
	m->resign_s = c->idp_metadata_resign_s;
	if (m->resign_s <= 0 || m->resign_s >= c->signer_metadata_validity_s)
		m->resign_s = c->signer_metadata_validity_s / 2;
	size_t n = 0;
	m->categories[n++] = FEDSIGN_ST_SIGSERVICE;
	m->categories[n++] = FEDSIGN_ST_PUBLIC_SECTOR;
	m->categories[n++] = EC_LOA4_PNR;
	m->categories[n++] = EC_LOA4_ORGID;
	m->categories[n++] = EC_LOA4_NAME;
	m->categories[n++] = CONTRACT_PREPAID_AUTH_2021;
	if (scal2)
		m->categories[n++] = SPROP_SCAL2;   /* §4.3: only when every request carries a SADRequest */

	snprintf(m->acs, sizeof m->acs, "%s%s", c->http_public_url, FEDSIGN_PATH_ACS);
	const char *disp_sv = c->idp_org_display_name_sv ? c->idp_org_display_name_sv : c->idp_org_name;
	m->info = (struct idp_md_info){
		.entity_id = c->signer_entity_id,
		.public_url = c->http_public_url,
		.validity_s = c->signer_metadata_validity_s,
		.cache_duration_s = c->signer_metadata_cache_duration_s,
		.signing_cert = sign_cert,
		.encryption_cert = enc_cert,
		.display_name_sv = c->signer_display_name_sv,
		.display_name_en = c->signer_display_name_en,
		.org_name = c->idp_org_name,
		.org_display_name_sv = disp_sv,
		.org_display_name_en = c->idp_org_display_name_en ? c->idp_org_display_name_en : disp_sv,
		.org_url = c->idp_org_url ? c->idp_org_url : c->http_public_url,
		.org_number = c->idp_org_number,
		.contact_technical = c->idp_contact_technical,
		.contact_support = c->idp_contact_support,
		.sp_acs_url = m->acs,
		.sp_entity_categories = m->categories,
		.n_sp_entity_categories = n,
	};
	if (resign(m, e) != 0) {
		fedsign_md_stop(m);
		return -1;
	}
	*out = m;
	return 0;
}

void fedsign_md_stop(struct fedsign_md *m)
{
	if (m == NULL)
		return;
	free(m->xml);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int fedsign_md_get(struct fedsign_md *m, struct idp_md_current *out, efos_err *e)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&m->lock);
	if (time(NULL) - m->signed_at >= m->resign_s) {
		efos_err e2 = { 0 };
		if (resign(m, &e2) != 0)   /* the current copy is still valid for a while */
			log_error("%s; serving the copy signed at %ld", e2.msg, (long)m->signed_at);
	}
	int rc = idp_md_current_fill(out, m->xml, m->len, m->etag, m->signed_at, &m->info, e);
	pthread_mutex_unlock(&m->lock);
	return rc;
}
