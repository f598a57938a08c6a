/* idp/metadata_store: parsing an SP EntityDescriptor into struct idp_sp; a broken entity is
 * skipped without spoiling the rest; signed aggregates (signed here with a key in the test HSM)
 * are accepted only with a valid signature by one of several certificates and a future
 * validUntil; the store keeps the last good copy (in memory and on disk) when a download is
 * refused or fails, and loads it at start; lock-free snapshot lookups; and a generated, signed
 * aggregate of 10,000 SPs loads (time and memory printed, not asserted). */
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <microhttpd.h>
#include <libxml/parser.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "core/config.h"
#include "core/log.h"
#include "hsm/bridge.h"
#include "idp/metadata_store.h"
#include "test_hsm_common.h"

#define NS_MD "urn:oasis:names:tc:SAML:2.0:metadata"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"

static struct hsm *H;
static struct hsm_key *FEDKEY;        /* the "federation operator" key (EC P-256, in the HSM) */
static X509 *FEDCERT, *OTHERCERT;
static char tmpdir[256];
static char *SP_CERT_B64;             /* one SP certificate (RSA-2048), base64 DER */

/* ---- helpers ---------------------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		assert_true(k >= 0);
		if (b->p != NULL && (size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->n + (size_t)k + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
}

static X509 *make_cert(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME *n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_NAME_free(n);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400L * 800);
	X509_gmtime_adj(X509_getm_notAfter(x), -86400L);   /* expired: MetaIOP says it does not matter */
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

static char *cert_b64(X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	char *b = malloc(4 * ((size_t)n + 2) / 3 + 4);
	EVP_EncodeBlock((unsigned char *)b, der, n);
	OPENSSL_free(der);
	return b;
}

static X509 *hsm_self_signed(struct hsm_key *k)
{
	efos_err e = { 0 };
	EVP_PKEY *priv = hsm_evp_pkey(k, &e);
	assert_non_null(priv);
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME *n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"Test federation operator", -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_NAME_free(n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, hsm_key_public(k));
	assert_true(X509_sign(x, priv, EVP_sha256()) > 0);
	EVP_PKEY_free(priv);
	return x;
}

static void fmt_time(time_t t, char *buf, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* An SP EntityDescriptor. */
static void add_sp(struct sbuf *b, const char *eid, const char *cert, const char *acs_loc, bool ars, const char *extra_ext)
{
	sb_add(b,
	       "<md:EntityDescriptor xmlns:md=\"" NS_MD "\" entityID=\"%s\">"
	       "<md:Extensions><mdattr:EntityAttributes xmlns:mdattr=\"urn:oasis:names:tc:SAML:metadata:attribute\">"
	       "<saml:Attribute xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" Name=\"http://macedir.org/entity-category\" "
	       "NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">"
	       "<saml:AttributeValue>http://id.elegnamnden.se/ec/1.0/loa4-pnr</saml:AttributeValue>"
	       "<saml:AttributeValue>http://id.swedenconnect.se/contract/sc/prepaid-auth-2021</saml:AttributeValue>"
	       "<saml:AttributeValue>http://id.elegnamnden.se/st/1.0/public-sector-sp</saml:AttributeValue>"
	       "</saml:Attribute></mdattr:EntityAttributes>%s</md:Extensions>"
	       "<md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
	       "AuthnRequestsSigned=\"%s\" WantAssertionsSigned=\"true\">"
	       "<md:Extensions><mdui:UIInfo xmlns:mdui=\"urn:oasis:names:tc:SAML:metadata:ui\">"
	       "<mdui:DisplayName xml:lang=\"sv\">Testtjänsten</mdui:DisplayName>"
	       "<mdui:DisplayName xml:lang=\"en\">The test service</mdui:DisplayName></mdui:UIInfo></md:Extensions>"
	       "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"" NS_DS "\"><ds:X509Data><ds:X509Certificate>%s"
	       "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
	       "<md:KeyDescriptor use=\"encryption\"><ds:KeyInfo xmlns:ds=\"" NS_DS "\"><ds:X509Data><ds:X509Certificate>%s"
	       "</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
	       "<md:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#aes256-gcm\"/>"
	       "<md:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\">"
	       "<ds:DigestMethod xmlns:ds=\"" NS_DS "\" Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>"
	       "</md:EncryptionMethod></md:KeyDescriptor>"
	       "<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"
	       "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" "
	       "Location=\"%s\" index=\"0\" isDefault=\"true\"/>"
	       "<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser\" "
	       "xmlns:hoksso=\"urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser\" "
	       "hoksso:ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"%s/hok\" index=\"1\"/>"
	       "<md:AttributeConsumingService index=\"0\"><md:ServiceName xml:lang=\"sv\">T</md:ServiceName>"
	       "<md:RequestedAttribute Name=\"urn:oid:2.5.4.42\" isRequired=\"true\"/></md:AttributeConsumingService>"
	       "</md:SPSSODescriptor>"
	       "<md:Organization><md:OrganizationName xml:lang=\"sv\">Myndigheten</md:OrganizationName>"
	       "<md:OrganizationDisplayName xml:lang=\"sv\">Myndigheten</md:OrganizationDisplayName>"
	       "<md:OrganizationURL xml:lang=\"sv\">https://myndigheten.example.se</md:OrganizationURL></md:Organization>"
	       "</md:EntityDescriptor>\n",
	       eid, extra_ext ? extra_ext : "", ars ? "true" : "false", cert, cert, acs_loc, acs_loc);
}

static const char SIG_TEMPLATE[] =
	"<ds:Signature xmlns:ds=\"" NS_DS "\"><ds:SignedInfo>"
	"<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>"
	"<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"/>"
	"<ds:Reference URI=\"#_agg\"><ds:Transforms>"
	"<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>"
	"<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>"
	"<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/>"
	"</ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>";

static void aggregate_open(struct sbuf *b, time_t valid_until, bool signed_)
{
	char vu[32];
	fmt_time(valid_until, vu, sizeof vu);
	sb_add(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		  "<md:EntitiesDescriptor xmlns:md=\"" NS_MD "\" ID=\"_agg\" Name=\"urn:test:federation\" validUntil=\"%s\">%s\n",
	       vu, signed_ ? SIG_TEMPLATE : "");
	sb_add(b, "<!-- a comment, as real aggregates have -->\n");
}

/* Signs the aggregate with key (HSM) through hsm_xmldsig_sign; returns the signed bytes. */
static char *sign_aggregate(const char *xml, size_t len, struct hsm_key *key, size_t *outlen)
{
	efos_err e = { 0 };
	xmlDocPtr doc = xmlReadMemory(xml, (int)len, "agg.xml", NULL, XML_PARSE_NONET | XML_PARSE_HUGE);
	assert_non_null(doc);
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlAttrPtr ida = xmlHasProp(root, BAD_CAST "ID");
	xmlAddID(NULL, doc, BAD_CAST "_agg", ida);
	xmlNodePtr sig = xmlFirstElementChild(root);
	if (hsm_xmldsig_sign(sig, key, &e) != 0)
		fail_msg("hsm_xmldsig_sign: %s", e.msg);
	xmlChar *out = NULL;
	int olen = 0;
	xmlDocDumpMemoryEnc(doc, &out, &olen, "UTF-8");
	xmlFreeDoc(doc);
	char *r = malloc((size_t)olen + 1);
	memcpy(r, out, (size_t)olen);
	r[olen] = '\0';
	xmlFree(out);
	*outlen = (size_t)olen;
	return r;
}

static char *good_aggregate(time_t valid_until, const char *acs_host, size_t *len)
{
	struct sbuf b = { 0 };
	char loc[256];
	aggregate_open(&b, valid_until, true);
	snprintf(loc, sizeof loc, "https://%s/acs", acs_host);
	add_sp(&b, "https://sp1.example.se/sp", SP_CERT_B64, loc, true, NULL);
	add_sp(&b, "https://sp2.example.se/sp", SP_CERT_B64, loc, false, NULL);
	sb_add(&b, "</md:EntitiesDescriptor>\n");
	char *s = sign_aggregate(b.p, b.n, FEDKEY, len);
	free(b.p);
	return s;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static struct idp_md_parse_opts feed_opts(EVP_PKEY **keys, size_t n)
{
	struct idp_md_parse_opts o = {
		.source = "test-feed", .max_bytes = 256u << 20, .require_signature = true, .trusted_keys = keys,
		.n_trusted_keys = n, .require_valid_until = true, .now = time(NULL),
	};
	return o;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_parse_sp(void **state)
{
	struct sbuf b = { 0 };
	efos_err e = { 0 };
	add_sp(&b, "https://sp.example.se/shibboleth", SP_CERT_B64, "https://sp.example.se/Shibboleth.sso/SAML2/POST", true,
	       "<alg:SigningMethod xmlns:alg=\"urn:oasis:names:tc:SAML:metadata:algsupport\" "
	       "Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>");
	struct idp_md_parse_opts o = { .source = "file.xml", .now = time(NULL) };
	struct idp_md_batch *batch = NULL;
	size_t skipped = 99;
	if (idp_md_parse(b.p, b.n, &o, &batch, &skipped, &e) != 0)
		fail_msg("idp_md_parse: %s", e.msg);
	assert_int_equal(skipped, 0);
	assert_int_equal(idp_md_batch_count(batch), 1);
	const struct idp_sp *sp = idp_md_batch_sp(batch, 0);
	assert_string_equal(sp->entity_id, "https://sp.example.se/shibboleth");
	assert_string_equal(sp->source, "file.xml");
	assert_true(sp->authn_requests_signed);
	assert_true(sp->want_assertions_signed);
	assert_int_equal(sp->n_signing_keys, 1);
	assert_int_equal(sp->n_encryption_keys, 1);
	assert_int_equal(EVP_PKEY_get_base_id(sp->encryption_keys[0]), EVP_PKEY_RSA);
	assert_int_equal(sp->n_enc_methods, 2);
	assert_string_equal(sp->enc_methods[0].algorithm, "http://www.w3.org/2009/xmlenc11#aes256-gcm");
	assert_null(sp->enc_methods[0].digest);
	assert_string_equal(sp->enc_methods[1].digest, "http://www.w3.org/2001/04/xmlenc#sha256");
	assert_int_equal(sp->n_signing_methods, 1);
	assert_int_equal(sp->n_acs, 2);
	assert_int_equal(sp->acs[1].binding, IDP_BINDING_HOK);
	assert_int_equal(sp->acs[1].hok_protocol_binding, IDP_BINDING_POST);
	const struct idp_sp_acs *a = idp_sp_find_acs(sp, -1, IDP_BINDING_OTHER);
	assert_non_null(a);
	assert_int_equal(a->index, 0);
	assert_string_equal(a->location, "https://sp.example.se/Shibboleth.sso/SAML2/POST");
	assert_int_equal(idp_sp_find_acs(sp, 1, IDP_BINDING_OTHER)->binding, IDP_BINDING_HOK);
	assert_null(idp_sp_find_acs(sp, 5, IDP_BINDING_OTHER));
	assert_null(idp_sp_find_acs(sp, 1, IDP_BINDING_POST));
	assert_int_equal(sp->n_entity_categories, 3);
	assert_true(idp_sp_has_category(sp, "http://id.elegnamnden.se/ec/1.0/loa4-pnr"));
	assert_true(idp_sp_has_category(sp, "http://id.swedenconnect.se/contract/sc/prepaid-auth-2021"));
	assert_false(idp_sp_has_category(sp, "http://id.elegnamnden.se/sprop/1.0/scal2"));
	assert_string_equal(sp->display_name_sv, "Testtjänsten");
	assert_string_equal(sp->display_name_en, "The test service");
	assert_string_equal(sp->org_display_name_sv, "Myndigheten");
	assert_int_equal(sp->n_name_id_formats, 1);
	assert_int_equal(sp->n_requested_attrs, 1);
	assert_string_equal(sp->requested_attrs[0].name, "urn:oid:2.5.4.42");
	assert_true(sp->requested_attrs[0].is_required);
	idp_md_batch_free(batch);

	/* an IdP-only entity is no SP: ignored, not "skipped" */
	const char idp[] = "<md:EntityDescriptor xmlns:md=\"" NS_MD "\" entityID=\"https://idp\"><md:IDPSSODescriptor "
			   "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"><md:SingleSignOnService "
			   "Binding=\"x\" Location=\"https://idp/sso\"/></md:IDPSSODescriptor></md:EntityDescriptor>";
	assert_int_equal(idp_md_parse(idp, sizeof idp - 1, &o, &batch, &skipped, &e), 0);
	assert_int_equal(idp_md_batch_count(batch), 0);
	assert_int_equal(skipped, 0);
	idp_md_batch_free(batch);

	/* not metadata; a DOCTYPE */
	const char bad[] = "<foo/>";
	assert_int_equal(idp_md_parse(bad, sizeof bad - 1, &o, &batch, NULL, &e), -1);
	const char dtd[] = "<!DOCTYPE x [<!ENTITY a \"b\">]><md:EntityDescriptor xmlns:md=\"" NS_MD "\" entityID=\"&a;\"/>";
	assert_int_equal(idp_md_parse(dtd, sizeof dtd - 1, &o, &batch, NULL, &e), -1);
	free(b.p);
}

/* Broken entities (bad certificate, weak key, only an http ACS, no ACS, comment in the entity
 * category, duplicate entityID) are skipped; the good ones are kept. */
static void test_broken_entity_skipped(void **state)
{
	efos_err e = { 0 };
	struct sbuf b = { 0 };
	EVP_PKEY *weak = EVP_RSA_gen(1024);
	X509 *wx = make_cert(weak, "weak");
	char *weak_b64 = cert_b64(wx);
	aggregate_open(&b, time(NULL) + 3600, true);
	add_sp(&b, "https://good1.example.se", SP_CERT_B64, "https://good1.example.se/acs", true, NULL);
	add_sp(&b, "https://badcert.example.se", "bm90IGEgY2VydGlmaWNhdGU=", "https://badcert.example.se/acs", true, NULL);
	add_sp(&b, "https://weak.example.se", weak_b64, "https://weak.example.se/acs", true, NULL);
	add_sp(&b, "https://httpacs.example.se", SP_CERT_B64, "http://httpacs.example.se/acs", false, NULL);
	add_sp(&b, "https://good2.example.se", SP_CERT_B64, "https://good2.example.se/acs", false, NULL);
	add_sp(&b, "https://good1.example.se", SP_CERT_B64, "https://evil.example.se/acs", false, NULL);
	sb_add(&b, "<md:EntityDescriptor entityID=\"https://noacs.example.se\"><md:SPSSODescriptor "
		   "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"/></md:EntityDescriptor>");
	sb_add(&b, "<md:EntityDescriptor entityID=\"https://comment.example.se\"><md:Extensions><mdattr:EntityAttributes "
		   "xmlns:mdattr=\"urn:oasis:names:tc:SAML:metadata:attribute\"><saml:Attribute "
		   "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" Name=\"http://macedir.org/entity-category\">"
		   "<saml:AttributeValue>http://id.elegnamnden.se/ec/1.0/loa4<!---->-pnr</saml:AttributeValue>"
		   "</saml:Attribute></mdattr:EntityAttributes></md:Extensions><md:SPSSODescriptor "
		   "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"><md:AssertionConsumerService "
		   "Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"https://c/acs\" index=\"0\"/>"
		   "</md:SPSSODescriptor></md:EntityDescriptor>");
	sb_add(&b, "</md:EntitiesDescriptor>");
	size_t len;
	char *signed_ = sign_aggregate(b.p, b.n, FEDKEY, &len);
	EVP_PKEY *keys[] = { X509_get0_pubkey(FEDCERT) };
	struct idp_md_parse_opts o = feed_opts(keys, 1);
	struct idp_md_batch *batch = NULL;
	size_t skipped = 0;
	if (idp_md_parse(signed_, len, &o, &batch, &skipped, &e) != 0)
		fail_msg("idp_md_parse: %s", e.msg);
	assert_int_equal(idp_md_batch_count(batch), 2);
	assert_string_equal(idp_md_batch_sp(batch, 0)->entity_id, "https://good1.example.se");
	assert_string_equal(idp_md_batch_sp(batch, 0)->acs[0].location, "https://good1.example.se/acs");
	assert_string_equal(idp_md_batch_sp(batch, 1)->entity_id, "https://good2.example.se");
	assert_int_equal(skipped, 6);
	idp_md_batch_free(batch);
	free(signed_);
	free(b.p);
	free(weak_b64);
	X509_free(wx);
	EVP_PKEY_free(weak);
}

/* Signature rules: missing, tampered, wrong key refused; any one of several keys accepted;
 * expired and validUntil-less aggregates refused. */
static void test_aggregate_signature_and_validity(void **state)
{
	efos_err e = { 0 };
	struct idp_md_batch *batch = NULL;
	size_t len;
	char *good = good_aggregate(time(NULL) + 3600, "sp.example.se", &len);
	EVP_PKEY *right[] = { X509_get0_pubkey(FEDCERT) };
	EVP_PKEY *wrong[] = { X509_get0_pubkey(OTHERCERT) };
	EVP_PKEY *both[] = { X509_get0_pubkey(OTHERCERT), X509_get0_pubkey(FEDCERT) };

	struct idp_md_parse_opts o = feed_opts(right, 1);
	assert_int_equal(idp_md_parse(good, len, &o, &batch, NULL, &e), 0);
	assert_int_equal(idp_md_batch_count(batch), 2);
	idp_md_batch_free(batch);

	o = feed_opts(both, 2);   /* any of several (rollover) */
	if (idp_md_parse(good, len, &o, &batch, NULL, &e) != 0)
		fail_msg("any-of-several: %s", e.msg);
	idp_md_batch_free(batch);

	o = feed_opts(wrong, 1);
	assert_int_equal(idp_md_parse(good, len, &o, &batch, NULL, &e), -1);
	assert_null(batch);
	assert_int_equal(e.code, EFOS_E_AUTH);

	/* tampered: an ACS location changed after signing */
	char *t = strstr(good, "https://sp.example.se/acs");
	assert_non_null(t);
	memcpy(t + 8, "ev", 2);
	o = feed_opts(right, 1);
	assert_int_equal(idp_md_parse(good, len, &o, &batch, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "signature"));
	free(good);

	/* unsigned */
	struct sbuf b = { 0 };
	aggregate_open(&b, time(NULL) + 3600, false);
	add_sp(&b, "https://x.example.se", SP_CERT_B64, "https://x.example.se/acs", false, NULL);
	sb_add(&b, "</md:EntitiesDescriptor>");
	assert_int_equal(idp_md_parse(b.p, b.n, &o, &batch, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "not signed"));
	free(b.p);

	/* expired (correctly signed) */
	good = good_aggregate(time(NULL) - 10, "sp.example.se", &len);
	assert_int_equal(idp_md_parse(good, len, &o, &batch, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "expired"));
	free(good);

	/* no validUntil */
	memset(&b, 0, sizeof b);
	sb_add(&b, "<md:EntitiesDescriptor xmlns:md=\"" NS_MD "\" ID=\"_agg\">%s", SIG_TEMPLATE);
	add_sp(&b, "https://x.example.se", SP_CERT_B64, "https://x.example.se/acs", false, NULL);
	sb_add(&b, "</md:EntitiesDescriptor>");
	char *s = sign_aggregate(b.p, b.n, FEDKEY, &len);
	assert_int_equal(idp_md_parse(s, len, &o, &batch, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "validUntil"));
	free(s);
	free(b.p);
}

/* ---- the store against a tiny HTTP server ------------------------------------------------- */

static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;
static char *served;
static size_t served_len;
static int served_status = 200;

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			     const char *version, const char *upload, size_t *upload_size, void **ptr)
{
	pthread_mutex_lock(&served_lock);
	struct MHD_Response *r = MHD_create_response_from_buffer(served_len, served ? served : (char *)"",
								 MHD_RESPMEM_MUST_COPY);
	int status = served_status;
	pthread_mutex_unlock(&served_lock);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void set_served(char *doc, size_t len, int status)
{
	pthread_mutex_lock(&served_lock);
	free(served);
	served = doc;
	served_len = len;
	served_status = status;
	pthread_mutex_unlock(&served_lock);
}

static int lookup(struct idp_md_store *st, const char *eid, char *acs, size_t cap)
{
	const struct idp_md_snapshot *s = idp_md_acquire(st);
	const struct idp_sp *sp = idp_md_snapshot_find(s, eid);
	int found = sp != NULL;
	if (sp && acs)
		snprintf(acs, cap, "%s", sp->acs[0].location);
	idp_md_release(s);
	return found;
}

static void test_store_last_good(void **state)
{
	efos_err e = { 0 };
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve, NULL,
						MHD_OPTION_END);
	assert_non_null(d);
	int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
	char url[128], certf[512], otherf[512], cachedir[512], localf[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/sp.xml", port);
	snprintf(certf, sizeof certf, "%s/fed.pem", tmpdir);
	snprintf(otherf, sizeof otherf, "%s/other.pem", tmpdir);
	snprintf(cachedir, sizeof cachedir, "%s/cache", tmpdir);
	snprintf(localf, sizeof localf, "%s/local-sp.xml", tmpdir);
	mkdir(cachedir, 0700);
	FILE *f = fopen(certf, "w");
	PEM_write_X509(f, FEDCERT);
	fclose(f);
	f = fopen(otherf, "w");
	PEM_write_X509(f, OTHERCERT);
	fclose(f);
	struct sbuf lb = { 0 };
	add_sp(&lb, "https://local.example.se/sp", SP_CERT_B64, "https://local.example.se/acs", false, NULL);
	/* a local file wins over the feed for the same entityID */
	char *lbx = NULL;
	assert_true(asprintf(&lbx, "<md:EntitiesDescriptor xmlns:md=\"" NS_MD "\">%s</md:EntitiesDescriptor>", lb.p) > 0);
	write_file(localf, lbx, strlen(lbx));
	free(lbx);
	free(lb.p);

	size_t len;
	char *good = good_aggregate(time(NULL) + 3600, "good.example.se", &len);
	char *good_copy = malloc(len);
	memcpy(good_copy, good, len);
	size_t good_len = len;
	set_served(good, len, 200);

	struct efos_config cfg = { 0 };
	cfg.idp_sp_metadata_files[0] = localf;
	cfg.n_idp_sp_metadata_files = 1;
	cfg.idp_federation_feeds[0] = url;
	cfg.n_idp_federation_feeds = 1;
	cfg.idp_federation_certs[0] = otherf;      /* any of several */
	cfg.idp_federation_certs[1] = certf;
	cfg.n_idp_federation_certs = 2;
	cfg.idp_metadata_cache_dir = cachedir;
	cfg.idp_metadata_refresh_s = 3600;
	cfg.idp_metadata_max_bytes = 1 << 20;
	cfg.idp_metadata_fetch_timeout_s = 5;

	struct idp_md_store *st = NULL;
	if (idp_md_store_start(&cfg, &st, &e) != 0)
		fail_msg("idp_md_store_start: %s", e.msg);
	assert_true(lookup(st, "https://local.example.se/sp", NULL, 0));
	for (int i = 0; i < 100 && idp_md_store_rounds(st) < 1; i++)
		usleep(50000);
	assert_true(idp_md_store_rounds(st) >= 1);
	char acs[256];
	assert_true(lookup(st, "https://sp1.example.se/sp", acs, sizeof acs));
	assert_string_equal(acs, "https://good.example.se/acs");
	assert_true(lookup(st, "https://local.example.se/sp", NULL, 0));
	assert_false(lookup(st, "https://unknown.example.se", NULL, 0));

	char cachefile[1024];
	snprintf(cachefile, sizeof cachefile, "%s", cachedir);
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "ls %s/feed-*.xml >/dev/null", cachedir);
	assert_int_equal(system(cmd), 0);

	/* a snapshot held across a swap stays valid */
	const struct idp_md_snapshot *held = idp_md_acquire(st);

	/* expired -> refused, last good kept */
	char *expired = good_aggregate(time(NULL) - 5, "expired.example.se", &len);
	set_served(expired, len, 200);
	idp_md_store_refresh(st);
	assert_true(lookup(st, "https://sp1.example.se/sp", acs, sizeof acs));
	assert_string_equal(acs, "https://good.example.se/acs");

	/* bad signature -> refused, last good kept */
	char *tampered = good_aggregate(time(NULL) + 3600, "tampered.example.se", &len);
	memcpy(strstr(tampered, "https://tampered.example.se") + 8, "ev", 2);
	set_served(tampered, len, 200);
	idp_md_store_refresh(st);
	assert_true(lookup(st, "https://sp1.example.se/sp", acs, sizeof acs));
	assert_string_equal(acs, "https://good.example.se/acs");

	/* server down -> last good kept */
	set_served(NULL, 0, 503);
	idp_md_store_refresh(st);
	assert_true(lookup(st, "https://sp1.example.se/sp", NULL, 0));

	/* a new good copy replaces it */
	char *newer = good_aggregate(time(NULL) + 7200, "newer.example.se", &len);
	set_served(newer, len, 200);
	idp_md_store_refresh(st);
	assert_true(lookup(st, "https://sp1.example.se/sp", acs, sizeof acs));
	assert_string_equal(acs, "https://newer.example.se/acs");
	assert_non_null(idp_md_snapshot_find(held, "https://sp2.example.se/sp"));
	assert_string_equal(idp_md_snapshot_find(held, "https://sp1.example.se/sp")->acs[0].location,
			    "https://good.example.se/acs");
	idp_md_release(held);

	/* idp_md_store_wake (efosd's SIGHUP): the refresh thread runs a round now, not at the next
	 * idp.metadata_refresh (an hour away) */
	char *woken = good_aggregate(time(NULL) + 7200, "woken.example.se", &len);
	set_served(woken, len, 200);
	unsigned long before = idp_md_store_rounds(st);
	idp_md_store_wake(st);
	for (int i = 0; i < 200 && idp_md_store_rounds(st) == before; i++)
		usleep(50000);
	assert_true(idp_md_store_rounds(st) > before);
	assert_true(lookup(st, "https://sp1.example.se/sp", acs, sizeof acs));
	assert_string_equal(acs, "https://woken.example.se/acs");
	struct idp_md_store_stats stats;
	idp_md_store_get_stats(st, &stats);
	const struct idp_md_snapshot *cur = idp_md_acquire(st);
	assert_int_equal(stats.entities, idp_md_snapshot_count(cur));
	idp_md_release(cur);
	assert_true(stats.entities >= 2);             /* the feed's SPs and the local file's */
	assert_int_equal(stats.rounds, idp_md_store_rounds(st));
	assert_true(stats.refused >= 3);              /* expired, tampered, 503 above */
	assert_true(stats.last_index_seconds > 0);    /* built by a round, timed from its start */
	assert_true(stats.last_index >= time(NULL) - 60 && stats.last_round >= stats.last_index);
	/* and the thread goes back to waiting: no further round without a reason */
	before = idp_md_store_rounds(st);
	usleep(300000);
	assert_int_equal(idp_md_store_rounds(st), before);
	/* the same entities signed again (the check at start below expects "newer" in the cache) */
	set_served(good_aggregate(time(NULL) + 7201, "newer.example.se", &len), len, 200);
	idp_md_store_wake(st);
	for (int i = 0; i < 200 && idp_md_store_rounds(st) == before; i++)
		usleep(50000);
	assert_true(lookup(st, "https://sp1.example.se/sp", acs, sizeof acs));
	assert_string_equal(acs, "https://newer.example.se/acs");
	idp_md_store_wake(NULL);
	idp_md_store_stop(st);

	/* at start with the feed down: the last good copy from disk */
	set_served(NULL, 0, 404);
	st = NULL;
	if (idp_md_store_start(&cfg, &st, &e) != 0)
		fail_msg("idp_md_store_start: %s", e.msg);
	assert_true(lookup(st, "https://sp1.example.se/sp", acs, sizeof acs));
	assert_string_equal(acs, "https://newer.example.se/acs");
	idp_md_store_stop(st);

	/* only the wrong certificate configured: the cached copy is not used either */
	cfg.n_idp_federation_certs = 1;
	st = NULL;
	assert_int_equal(idp_md_store_start(&cfg, &st, &e), 0);
	assert_false(lookup(st, "https://sp1.example.se/sp", NULL, 0));
	assert_true(lookup(st, "https://local.example.se/sp", NULL, 0));
	idp_md_store_stop(st);

	/* a broken local file is a start-up error */
	write_file(localf, "<md:EntityDescriptor", 20);
	st = NULL;
	assert_int_equal(idp_md_store_start(&cfg, &st, &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFIG);

	free(good_copy);
	(void)good_len;
	set_served(NULL, 0, 404);
	MHD_stop_daemon(d);
}

/* 10,000 SPs, each with its own EC P-256 certificate, in one signed aggregate. Prints the time
 * and memory; asserts only that it works. */
static long rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_10000_entities(void **state)
{
	enum { N = 10000 };
	efos_err e = { 0 };
	struct sbuf b = { 0 };
	double t0 = now_s();
	aggregate_open(&b, time(NULL) + 86400, true);
	/* 200 distinct EC P-256 certificates, used in turn (making 10,000 keys would only time
	 * OpenSSL's key generation; each entity's certificate is parsed on its own anyway). */
	enum { NCERTS = 200 };
	char *certs[NCERTS];
	for (int i = 0; i < NCERTS; i++) {
		EVP_PKEY *k = EVP_EC_gen("P-256");
		X509 *x = make_cert(k, "sp");
		certs[i] = cert_b64(x);
		X509_free(x);
		EVP_PKEY_free(k);
	}
	for (int i = 0; i < N; i++) {
		char eid[96], loc[128];
		snprintf(eid, sizeof eid, "https://sp%05d.kommun.example.se/sp", i);
		snprintf(loc, sizeof loc, "https://sp%05d.kommun.example.se/acs", i);
		add_sp(&b, eid, certs[i % NCERTS], loc, i % 2 == 0, NULL);
	}
	for (int i = 0; i < NCERTS; i++)
		free(certs[i]);
	sb_add(&b, "</md:EntitiesDescriptor>\n");
	size_t len;
	char *signed_ = sign_aggregate(b.p, b.n, FEDKEY, &len);
	free(b.p);
	double t1 = now_s();
	char path[512];
	snprintf(path, sizeof path, "%s/agg10k.xml", tmpdir);
	write_file(path, signed_, len);

	long rss0 = rss_kb();
	size_t heap0 = mallinfo2().uordblks;
	EVP_PKEY *keys[] = { X509_get0_pubkey(FEDCERT) };
	struct idp_md_parse_opts o = feed_opts(keys, 1);
	struct idp_md_batch *batch = NULL;
	double t2 = now_s();
	log_init("test", LOG_LVL_DEBUG);   /* the phase timings */
	if (idp_md_parse(signed_, len, &o, &batch, NULL, &e) != 0)
		fail_msg("idp_md_parse (10,000): %s", e.msg);
	double t3 = now_s();
	log_init("test", LOG_LVL_INFO);
	long rss1 = rss_kb();
	size_t heap1 = mallinfo2().uordblks;
	assert_int_equal(idp_md_batch_count(batch), N);
	free(signed_);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("# 10,000-SP aggregate: %.1f MB generated+signed in %.2f s; verified+parsed+indexed in %.2f s; "
	       "heap held by the 10,000 parsed SPs %.1f MB (%.1f KB each; DOM freed); RSS before %ld MB, after %ld MB; "
	       "peak RSS of this test process %ld MB\n",
	       len / 1e6, t1 - t0, t3 - t2, (double)(heap1 - heap0) / 1e6, (double)(heap1 - heap0) / N / 1e3,
	       rss0 / 1024, rss1 / 1024, ru.ru_maxrss / 1024);

	const struct idp_sp *sp = NULL;
	for (size_t i = 0; i < idp_md_batch_count(batch); i++)
		if (strcmp(idp_md_batch_sp(batch, i)->entity_id, "https://sp09999.kommun.example.se/sp") == 0)
			sp = idp_md_batch_sp(batch, i);
	assert_non_null(sp);
	assert_int_equal(EVP_PKEY_get_base_id(sp->signing_keys[0]), EVP_PKEY_EC);
	idp_md_batch_free(batch);
}

static int setup(void **state)
{
	xmlInitParser();
	H = test_hsm_open(2);
	FEDKEY = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "fed-md");
	FEDCERT = hsm_self_signed(FEDKEY);
	EVP_PKEY *other = EVP_EC_gen("P-256");
	OTHERCERT = make_cert(other, "other operator");
	EVP_PKEY_free(other);
	EVP_PKEY *spk = EVP_RSA_gen(2048);
	X509 *spx = make_cert(spk, "sp");
	SP_CERT_B64 = cert_b64(spx);
	X509_free(spx);
	EVP_PKEY_free(spk);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/efos-test-spmd-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return -1;
	X509_free(FEDCERT);
	X509_free(OTHERCERT);
	free(SP_CERT_B64);
	hsm_key_free(FEDKEY);
	hsm_close(H);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_sp),
		cmocka_unit_test(test_broken_entity_skipped),
		cmocka_unit_test(test_aggregate_signature_and_validity),
		cmocka_unit_test(test_store_last_good),
		cmocka_unit_test(test_10000_entities),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
