/* idp_response_build(): a Response for a test SP (an RSA key generated here, wrapped as the SP's
 * encryption key) is
 *   - signed: verified in-process with core/xml (our strict verifier) and with `xmlsec1 --verify`;
 *   - encrypted: decrypted in-process with xmlsec and with `xmlsec1 --decrypt --privkey-pem`;
 *   - schema-valid: the Response and the decrypted Assertion pass `xmllint --schema` with the
 *     OASIS SAML schemas (tests/schemas/saml-protocol-efos.xsd);
 * and carries exactly what the spec asks (§1.6). Also: algorithm choice (GCM when listed, CBC
 * when nothing is), holder-of-key, error responses, NameIDs, signMessageDigest, the SAD JWT
 * (verified with OpenSSL, every claim checked), the auto-POST form. */
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmlenc.h>
#include <xmlsec/keysmngr.h>
#include <xmlsec/crypto.h>
#include <xmlsec/xmltree.h>
#include "core/xml.h"
#include "hsm/bridge.h"
#include "idp/metadata_store.h"
#include "idp/response.h"
#include "idp/sad.h"
#include "idp/xmlenc.h"
#include "test_fs_common.h"
#include "test_hsm_common.h"

#define IDP_ID "https://idp.efos.example.se"
#define SP_ID "https://sp.example.se/shibboleth"
#define ACS "https://sp.example.se/Shibboleth.sso/SAML2/POST"
#define SIGSVC_ID "https://sign.example.se/sigservice"
#define LOA4 "http://id.elegnamnden.se/loa/1.0/loa4"

static struct hsm *H;
static struct hsm_key *KSIGN, *KEC;
static X509 *SIGN_CERT;
static char *SIGN_CERT_B64;
static EVP_PKEY *SPKEY;
static struct idp_nameid_secret *SECRET;
static char tmpdir[256], sp_pem[300], idp_cert_pem[300];

static const char *const SCOPES[] = { "2021006883" };
static const char *const SP_ECS[] = { "http://id.elegnamnden.se/ec/1.0/loa4-pnr",
				      "http://id.swedenconnect.se/ec/1.0/loa4-orgid",
				      "http://id.elegnamnden.se/st/1.0/public-sector-sp" };

/* ---- fixtures -------------------------------------------------------------------------------- */

static X509 *self_signed(EVP_PKEY *pub, EVP_PKEY *signer, const char *cn, const char *serial_number)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_NAME *n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"SE", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	if (serial_number != NULL)
		X509_NAME_add_entry_by_txt(n, "serialNumber", MBSTRING_UTF8, (const unsigned char *)serial_number, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_NAME_free(n);
	X509_set_pubkey(x, pub);
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

static int setup(void **state)
{
	efos_err e = { 0 };
	xmlInitParser();
	if (xmlSecInit() < 0 || xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0)
		return -1;
	H = test_hsm_open(2);
	KSIGN = test_session_key(H, HSM_KEY_RSA, 2048, "idp-resp-sign");
	KEC = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "idp-resp-ec");
	EVP_PKEY *hk = hsm_evp_pkey(KSIGN, &e);
	assert_non_null(hk);
	SIGN_CERT = self_signed(hsm_key_public(KSIGN), hk, "EFOS IdP signing", NULL);
	EVP_PKEY_free(hk);
	SIGN_CERT_B64 = test_cert_b64(SIGN_CERT);

	test_tmpdir_make(tmpdir, sizeof tmpdir, "efos-idp-resp");
	SPKEY = EVP_RSA_gen(2048);
	assert_non_null(SPKEY);
	snprintf(sp_pem, sizeof sp_pem, "%s/sp.pem", tmpdir);
	FILE *f = fopen(sp_pem, "w");
	PEM_write_PrivateKey(f, SPKEY, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	snprintf(idp_cert_pem, sizeof idp_cert_pem, "%s/idp.pem", tmpdir);
	f = fopen(idp_cert_pem, "w");
	PEM_write_X509(f, SIGN_CERT);
	fclose(f);

	unsigned char secret[32];
	memset(secret, 0x5a, sizeof secret);
	assert_int_equal(idp_nameid_secret_new(secret, sizeof secret, &SECRET, &e), 0);
	return 0;
}

static int teardown(void **state)
{
	if (test_tmpdir_remove(tmpdir) != 0)
		return -1;
	idp_nameid_secret_free(SECRET);
	EVP_PKEY_free(SPKEY);
	free(SIGN_CERT_B64);
	X509_free(SIGN_CERT);
	hsm_key_free(KEC);
	hsm_key_free(KSIGN);
	hsm_close(H);
	xmlSecCryptoShutdown();
	xmlSecCryptoAppShutdown();
	xmlSecShutdown();
	return 0;
}

static struct idp_response_keys keys(void)
{
	return (struct idp_response_keys){
		.idp_entity_id = IDP_ID,
		.sign_key = KSIGN,
		.sign_cert_b64 = SIGN_CERT_B64,
		.nameid_secret = SECRET,
		.scopes = SCOPES,
		.n_scopes = 1,
	};
}

static struct idp_sp make_sp(const struct idp_sp_enc_method *m, size_t nm, bool want_signed)
{
	return (struct idp_sp){
		.entity_id = SP_ID,
		.want_assertions_signed = want_signed,
		.encryption_keys = &SPKEY,
		.n_encryption_keys = 1,
		.enc_methods = m,
		.n_enc_methods = nm,
		.entity_categories = SP_ECS,
		.n_entity_categories = 3,
	};
}

static struct idp_authn_request make_req(const struct idp_sp *sp)
{
	return (struct idp_authn_request){
		.id = (char *)"_6c3a4f8b2a1d9e0f7b5c3a1e",
		.issuer = (char *)sp->entity_id,
		.sp = sp,
		.acs_url = (char *)ACS,
		.chosen_loa = (char *)LOA4,
	};
}

static struct idp_affiliation AFFS[] = {
	{ (char *)"vlindman@2021006883", (char *)"2021006883", (char *)"Försäkringskassan" },
};

static struct idp_subject make_subject(void)
{
	return (struct idp_subject){
		.person_id = 4711,
		.pnr = (char *)"195006262546",
		.given_name = (char *)"Valfrid",
		.surname = (char *)"Lindeman",
		.display_name = (char *)"Valfrid Lindeman",
		.affiliations = AFFS,
		.n_affiliations = 1,
		.authn_instant = time(NULL) - 30,
		.loa = (char *)LOA4,
		.client_address = (char *)"192.0.2.7",
	};
}

/* ---- helpers --------------------------------------------------------------------------------- */

static char *b64_decode(const char *b64, size_t *len)
{
	size_t n = strlen(b64);
	unsigned char *out = malloc(n + 1);
	int l = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
	assert_true(l > 0);
	while (n > 0 && b64[n - 1] == '=') {
		n--;
		l--;
	}
	out[l] = '\0';
	*len = (size_t)l;
	return (char *)out;
}

static bool schema_valid(const char *file)
{
	const char *top = getenv("EFOS_TOP");
	return test_run("xmllint --nonet --noout --schema '%s/tests/schemas/saml-protocol-efos.xsd' '%s' >'%s/xmllint.log' 2>&1 "
		   "|| { cat '%s/xmllint.log' >&2; false; }",
		   top ? top : ".", file, tmpdir, tmpdir) == 0;
}

static xmlXPathObjectPtr xp(xmlDocPtr doc, xmlNodePtr ctxnode, const char *expr)
{
	xmlXPathContextPtr c = xmlXPathNewContext(doc);
	xmlXPathRegisterNs(c, BAD_CAST "samlp", BAD_CAST SAML_NS_PROTOCOL);
	xmlXPathRegisterNs(c, BAD_CAST "saml", BAD_CAST SAML_NS_ASSERTION);
	xmlXPathRegisterNs(c, BAD_CAST "ds", BAD_CAST "http://www.w3.org/2000/09/xmldsig#");
	xmlXPathRegisterNs(c, BAD_CAST "xenc", BAD_CAST "http://www.w3.org/2001/04/xmlenc#");
	xmlXPathRegisterNs(c, BAD_CAST "xenc11", BAD_CAST "http://www.w3.org/2009/xmlenc11#");
	xmlXPathRegisterNs(c, BAD_CAST "dsig11", BAD_CAST "http://www.w3.org/2009/xmldsig11#");
	if (ctxnode != NULL)
		c->node = ctxnode;
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, c);
	xmlXPathFreeContext(c);
	assert_non_null(o);
	return o;
}

static int count(xmlDocPtr doc, const char *expr)
{
	xmlXPathObjectPtr o = xp(doc, NULL, expr);
	int n = o->nodesetval ? o->nodesetval->nodeNr : 0;
	xmlXPathFreeObject(o);
	return n;
}

/* The string value of expr (an attribute or element), "" when nothing matches. */
static char *str(xmlDocPtr doc, const char *expr)
{
	static char buf[8][65536];
	static int slot;
	char *b = buf[slot++ % 8];
	xmlXPathObjectPtr o = xp(doc, NULL, expr);
	b[0] = '\0';
	if (o->nodesetval && o->nodesetval->nodeNr > 0) {
		xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
		snprintf(b, 65536, "%s", v ? (char *)v : "");
		xmlFree(v);
	}
	xmlXPathFreeObject(o);
	return b;
}

/* Verifies the signature of elem with our strict verifier and the IdP public key. */
static bool verify_inproc_key(xmlDocPtr doc, xmlNodePtr elem, struct hsm_key *k)
{
	efos_err e = { 0 };
	EVP_PKEY *pub = hsm_key_public(k);
	if (xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, &e) < 0) {
		fprintf(stderr, "# register ids: %s\n", e.msg);
		return false;
	}
	xmlNodePtr r = xml_dsig_verify_element(elem, NULL, &pub, 1, &xml_dsig_policy_saml, &e);
	if (r == NULL)
		fprintf(stderr, "# verify: %s\n", e.msg);
	return r == elem;
}

static bool verify_inproc(xmlDocPtr doc, xmlNodePtr elem)
{
	return verify_inproc_key(doc, elem, KSIGN);
}

static bool verify_cli(const char *file)
{
	return test_run("xmlsec1 --verify --trusted-pem '%s' --id-attr:ID 'urn:oasis:names:tc:SAML:2.0:protocol:Response' "
		   "--id-attr:ID 'urn:oasis:names:tc:SAML:2.0:assertion:Assertion' '%s' >'%s/verify.log' 2>&1 "
		   "|| { cat '%s/verify.log' >&2; false; }",
		   idp_cert_pem, file, tmpdir, tmpdir) == 0;
}

/* Decrypts the one EncryptedData of doc in place with xmlsec and the SP key. */
static void decrypt_inproc(xmlDocPtr doc)
{
	xmlSecKeysMngrPtr mngr = xmlSecKeysMngrCreate();
	assert_non_null(mngr);
	assert_int_equal(xmlSecCryptoAppDefaultKeysMngrInit(mngr), 0);
	xmlSecKeyPtr key = xmlSecCryptoAppKeyLoad(sp_pem, xmlSecKeyDataFormatPem, NULL, NULL, NULL);
	assert_non_null(key);
	assert_int_equal(xmlSecCryptoAppDefaultKeysMngrAdoptKey(mngr, key), 0);
	xmlSecEncCtxPtr ctx = xmlSecEncCtxCreate(mngr);
	xmlNodePtr ed = xmlSecFindNode(xmlDocGetRootElement(doc), xmlSecNodeEncryptedData, xmlSecEncNs);
	assert_non_null(ed);
	int rc = xmlSecEncCtxDecrypt(ctx, ed);
	assert_int_equal(rc, 0);
	assert_true(ctx->resultReplaced);
	xmlSecEncCtxDestroy(ctx);
	xmlSecKeysMngrDestroy(mngr);
}

struct built {
	char *xml;                 /* the Response as sent */
	size_t len;
	xmlDocPtr doc;             /* parsed (and, after decrypt(), decrypted in place) */
	xmlDocPtr adoc;            /* the decrypted Assertion alone */
	char resp_file[300], assertion_file[300];
};

static void parse_built(struct built *b, const struct idp_response_out *out)
{
	efos_err e = { 0 };
	b->xml = b64_decode(out->b64, &b->len);
	snprintf(b->resp_file, sizeof b->resp_file, "%s/response.xml", tmpdir);
	test_write_file(b->resp_file, b->xml, b->len);
	if (xml_parse_untrusted(b->xml, b->len, NULL, &b->doc, &e) < 0)
		fail_msg("our own Response does not pass the safe parser: %s", e.msg);
}

/* Decrypts, and puts the Assertion in its own document and file. */
static void decrypt(struct built *b)
{
	decrypt_inproc(b->doc);
	xmlXPathObjectPtr o = xp(b->doc, NULL, "/samlp:Response/saml:EncryptedAssertion/saml:Assertion");
	assert_int_equal(o->nodesetval->nodeNr, 1);
	b->adoc = xmlNewDoc(BAD_CAST "1.0");
	xmlDocSetRootElement(b->adoc, xmlDocCopyNode(o->nodesetval->nodeTab[0], b->adoc, 1));
	xmlXPathFreeObject(o);
	xmlChar *x = NULL;
	int len = 0;
	xmlDocDumpMemoryEnc(b->adoc, &x, &len, "UTF-8");
	snprintf(b->assertion_file, sizeof b->assertion_file, "%s/assertion.xml", tmpdir);
	test_write_file(b->assertion_file, (char *)x, (size_t)len);
	xmlFree(x);
}

static void built_free(struct built *b)
{
	free(b->xml);
	xmlFreeDoc(b->doc);
	xmlFreeDoc(b->adoc);
	*b = (struct built){ 0 };
}

static void build_ok(const struct idp_response_keys *k, const struct idp_authn_request *req,
		     const struct idp_subject *subj, const struct idp_response_opts *o, struct idp_response_out *out,
		     struct policy_release *rel)
{
	efos_err e = { 0 };
	int rc = idp_release_for_login(k, req, subj, rel, &e);
	if (rc != 0)
		fail_msg("release: %d %s %s", rc, e.msg, rel->refusal_detail);
	if (idp_response_build(k, req, subj, rel, o, out, &e) != 0)
		fail_msg("idp_response_build: %s", e.msg);
}

/* Everything §1.6 asks of a successful response and its assertion. */
static void check_success_shape(struct built *b, const struct idp_response_out *out, bool hok)
{
	xmlDocPtr d = b->doc;
	assert_string_equal(str(d, "/samlp:Response/@ID"), out->response_id);
	assert_string_equal(str(d, "/samlp:Response/@InResponseTo"), "_6c3a4f8b2a1d9e0f7b5c3a1e");
	assert_string_equal(str(d, "/samlp:Response/@Destination"), ACS);
	assert_string_equal(str(d, "/samlp:Response/@Version"), "2.0");
	assert_string_equal(str(d, "/samlp:Response/saml:Issuer"), IDP_ID);
	assert_string_equal(str(d, "/samlp:Response/samlp:Status/samlp:StatusCode/@Value"), SAML_STATUS_SUCCESS);
	assert_int_equal(count(d, "/samlp:Response/saml:EncryptedAssertion"), 1);
	assert_int_equal(count(d, "/samlp:Response/saml:Assertion"), 0);
	assert_int_equal(count(d, "/samlp:Response/ds:Signature"), 1);
	/* the Response signature is the second child, after Issuer */
	assert_int_equal(count(d, "/samlp:Response/*[2][self::ds:Signature]"), 1);

	xmlDocPtr a = b->adoc;
	assert_string_equal(str(a, "/saml:Assertion/@ID"), out->assertion_id);
	assert_int_equal(strlen(out->assertion_id), 41);
	assert_string_equal(str(a, "/saml:Assertion/saml:Issuer"), IDP_ID);
	assert_string_equal(str(a, "//saml:Subject/saml:NameID"), out->name_id);
	assert_string_equal(str(a, "//saml:Subject/saml:NameID/@NameQualifier"), IDP_ID);
	assert_string_equal(str(a, "//saml:Subject/saml:NameID/@SPNameQualifier"), SP_ID);
	assert_int_equal(count(a, "//saml:SubjectConfirmation"), 1);
	assert_string_equal(str(a, "//saml:SubjectConfirmation/@Method"),
			    hok ? "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key" : "urn:oasis:names:tc:SAML:2.0:cm:bearer");
	assert_string_equal(str(a, "//saml:SubjectConfirmationData/@InResponseTo"), "_6c3a4f8b2a1d9e0f7b5c3a1e");
	assert_string_equal(str(a, "//saml:SubjectConfirmationData/@Recipient"), ACS);
	assert_string_equal(str(a, "//saml:SubjectConfirmationData/@Address"), "192.0.2.7");
	assert_true(strlen(str(a, "//saml:SubjectConfirmationData/@NotOnOrAfter")) == 20);
	assert_true(strlen(str(a, "//saml:Conditions/@NotBefore")) == 20);
	assert_true(strlen(str(a, "//saml:Conditions/@NotOnOrAfter")) == 20);
	assert_string_equal(str(a, "//saml:Conditions/saml:AudienceRestriction/saml:Audience"), SP_ID);
	assert_int_equal(count(a, "//saml:AuthnStatement"), 1);
	assert_string_equal(str(a, "//saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef"), LOA4);
	assert_string_equal(str(a, "//saml:AuthnStatement/@SessionIndex"), "sess-1");
	assert_int_equal(count(a, "//saml:AttributeStatement"), 1);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_nameid(void **state)
{
	efos_err e = { 0 };
	struct idp_nameid a, b, c, d;
	assert_int_equal(idp_nameid_make(SECRET, IDP_NAMEID_PERSISTENT, IDP_ID, SP_ID, 4711, &a, &e), 0);
	assert_int_equal(idp_nameid_make(SECRET, IDP_NAMEID_PERSISTENT, IDP_ID, SP_ID, 4711, &b, &e), 0);
	assert_int_equal(idp_nameid_make(SECRET, IDP_NAMEID_PERSISTENT, IDP_ID, SIGSVC_ID, 4711, &c, &e), 0);
	assert_int_equal(idp_nameid_make(SECRET, IDP_NAMEID_PERSISTENT, IDP_ID, SP_ID, 4712, &d, &e), 0);
	assert_string_equal(a.value, b.value);        /* stable */
	assert_string_not_equal(a.value, c.value);    /* per SP */
	assert_string_not_equal(a.value, d.value);    /* per person */
	assert_int_equal(strlen(a.value), 43);
	assert_null(strpbrk(a.value, "+/="));   /* base64url, no padding */
	assert_string_equal(a.format, IDP_NAMEID_PERSISTENT);
	assert_string_equal(a.sp_name_qualifier, SP_ID);
	/* a different secret: different pseudonyms */
	struct idp_nameid_secret *s2 = NULL;
	unsigned char sec2[40] = { 1 };
	assert_int_equal(idp_nameid_secret_new(sec2, sizeof sec2, &s2, &e), 0);
	assert_int_equal(idp_nameid_make(s2, IDP_NAMEID_PERSISTENT, IDP_ID, SP_ID, 4711, &b, &e), 0);
	assert_string_not_equal(a.value, b.value);
	idp_nameid_secret_free(s2);
	assert_int_equal(idp_nameid_secret_new(sec2, 16, &s2, &e), -1);   /* too short */

	/* transient: random every time */
	assert_int_equal(idp_nameid_make(SECRET, IDP_NAMEID_TRANSIENT, IDP_ID, SP_ID, 4711, &a, &e), 0);
	assert_int_equal(idp_nameid_make(SECRET, IDP_NAMEID_TRANSIENT, IDP_ID, SP_ID, 4711, &b, &e), 0);
	assert_string_not_equal(a.value, b.value);
	assert_int_equal(strlen(a.value), 41);

	/* format choice */
	const char *f;
	assert_int_equal(idp_nameid_choose_format(NULL, NULL, &f, &e), 0);
	assert_string_equal(f, IDP_NAMEID_PERSISTENT);
	assert_int_equal(idp_nameid_choose_format(NULL, IDP_NAMEID_TRANSIENT, &f, &e), 0);
	assert_string_equal(f, IDP_NAMEID_TRANSIENT);
	const char *const fmts[] = { "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", IDP_NAMEID_TRANSIENT };
	struct idp_sp sp = { .n_name_id_formats = 2, .name_id_formats = fmts };
	assert_int_equal(idp_nameid_choose_format(&sp, IDP_NAMEID_UNSPECIFIED, &f, &e), 0);
	assert_string_equal(f, IDP_NAMEID_TRANSIENT);
	assert_int_equal(idp_nameid_choose_format(&sp, fmts[0], &f, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
}

static void test_sign_message_digest(void **state)
{
	efos_err e = { 0 };
	char *v = NULL;
	const char *msg = "I hereby confirm that I want to join example.com as a customer";
	assert_int_equal(idp_sign_message_digest(msg, strlen(msg), NULL, &v, &e), 0);
	/* the verified example of spec §6.3 */
	assert_string_equal(v, "http://www.w3.org/2001/04/xmlenc#sha256;0yKaSVsYeh+PX2Q6diqO2w89+a3Dm303tp3AVjgxwj0=");
	free(v);
	assert_int_equal(idp_sign_message_digest(msg, strlen(msg), "http://www.w3.org/2000/09/xmldsig#sha1", &v, &e), -1);
}

static void test_enc_choice(void **state)
{
	efos_err e = { 0 };
	struct idp_enc_choice c;
	struct idp_sp sp = make_sp(NULL, 0, false);

	/* nothing listed: the mandatory CBC and rsa-oaep-mgf1p with SHA-1 */
	assert_int_equal(idp_xmlenc_choose(&sp, &c, &e), 0);
	assert_string_equal(c.data_alg, XENC_AES256_CBC);
	assert_string_equal(c.kt_alg, XENC_RSA_OAEP_MGF1P);
	assert_string_equal(c.oaep_digest, "http://www.w3.org/2000/09/xmldsig#sha1");
	assert_null(c.mgf);
	assert_ptr_equal(c.key, SPKEY);

	/* GCM listed (after CBC in the SP's order): our preference wins */
	struct idp_sp_enc_method m1[] = { { XENC_AES128_CBC, NULL, NULL }, { XENC_AES128_GCM, NULL, NULL },
					  { XENC_AES256_GCM, NULL, NULL }, { XENC_RSA_OAEP_MGF1P, NULL, NULL } };
	sp = make_sp(m1, 4, false);
	assert_int_equal(idp_xmlenc_choose(&sp, &c, &e), 0);
	assert_string_equal(c.data_alg, XENC_AES256_GCM);
	assert_string_equal(c.kt_alg, XENC_RSA_OAEP_MGF1P);
	sp.n_enc_methods = 2;
	assert_int_equal(idp_xmlenc_choose(&sp, &c, &e), 0);
	assert_string_equal(c.data_alg, XENC_AES128_GCM);
	sp.n_enc_methods = 1;
	assert_int_equal(idp_xmlenc_choose(&sp, &c, &e), 0);
	assert_string_equal(c.data_alg, XENC_AES128_CBC);

	/* only AES-192: not ours, so the mandatory CBC */
	struct idp_sp_enc_method m2[] = { { "http://www.w3.org/2009/xmlenc11#aes192-gcm", NULL, NULL } };
	sp = make_sp(m2, 1, false);
	assert_int_equal(idp_xmlenc_choose(&sp, &c, &e), 0);
	assert_string_equal(c.data_alg, XENC_AES256_CBC);

	/* declared OAEP digests and MGF are honoured */
	struct idp_sp_enc_method m3[] = {
		{ XENC_RSA_OAEP_MGF1P, "http://www.w3.org/2001/04/xmlenc#sha256", NULL } };
	sp = make_sp(m3, 1, false);
	assert_int_equal(idp_xmlenc_choose(&sp, &c, &e), 0);
	assert_string_equal(c.kt_alg, XENC_RSA_OAEP_MGF1P);
	assert_string_equal(c.oaep_digest, "http://www.w3.org/2001/04/xmlenc#sha256");
	struct idp_sp_enc_method m4[] = {
		{ "http://www.w3.org/2001/04/xmlenc#rsa-1_5", NULL, NULL },   /* refused: not ours */
		{ XENC11_RSA_OAEP, "http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2009/xmlenc11#mgf1sha256" } };
	sp = make_sp(m4, 2, false);
	assert_int_equal(idp_xmlenc_choose(&sp, &c, &e), 0);
	assert_string_equal(c.kt_alg, XENC11_RSA_OAEP);
	assert_string_equal(c.mgf, "http://www.w3.org/2009/xmlenc11#mgf1sha256");

	/* an SP with only an EC key cannot be encrypted for */
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	sp = make_sp(NULL, 0, false);
	sp.encryption_keys = &ec;
	assert_int_equal(idp_xmlenc_choose(&sp, &c, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	EVP_PKEY_free(ec);
}

/* The default: an SP listing aes256-gcm and rsa-oaep-mgf1p, bearer, persistent NameID. */
static void test_response_gcm(void **state)
{
	struct idp_sp_enc_method m[] = { { XENC_AES256_GCM, NULL, NULL }, { XENC_AES128_CBC, NULL, NULL },
					 { XENC_RSA_OAEP_MGF1P, "http://www.w3.org/2000/09/xmldsig#sha1", NULL } };
	struct idp_sp sp = make_sp(m, 3, false);
	struct idp_authn_request req = make_req(&sp);
	struct idp_subject subj = make_subject();
	struct idp_response_keys k = keys();
	struct idp_response_opts o = { .session_index = "sess-1" };
	struct idp_response_out out;
	struct policy_release rel;
	struct built b = { 0 };

	build_ok(&k, &req, &subj, &o, &out, &rel);
	parse_built(&b, &out);
	assert_string_equal(str(b.doc, "//xenc:EncryptedData/xenc:EncryptionMethod/@Algorithm"), XENC_AES256_GCM);
	assert_string_equal(str(b.doc, "//xenc:EncryptedKey/xenc:EncryptionMethod/@Algorithm"), XENC_RSA_OAEP_MGF1P);
	assert_string_equal(str(b.doc, "//xenc:EncryptedKey/@Recipient"), SP_ID);
	assert_true(schema_valid(b.resp_file));
	assert_true(verify_cli(b.resp_file));
	assert_true(verify_inproc(b.doc, xmlDocGetRootElement(b.doc)));

	/* the xmlsec1 command decrypts it too */
	assert_int_equal(test_run("xmlsec1 --decrypt --privkey-pem '%s' --output '%s/dec.xml' '%s' >'%s/dec.log' 2>&1 && "
			     "grep -q 'Valfrid Lindeman' '%s/dec.xml'",
			     sp_pem, tmpdir, b.resp_file, tmpdir, tmpdir), 0);

	decrypt(&b);
	check_success_shape(&b, &out, false);
	assert_true(schema_valid(b.assertion_file));
	assert_int_equal(count(b.adoc, "/saml:Assertion/ds:Signature"), 0);   /* not wanted: not signed */
	xmlDocPtr a = b.adoc;
	assert_string_equal(str(a, "//saml:NameID/@Format"), IDP_NAMEID_PERSISTENT);
	assert_string_equal(str(a, "//saml:Attribute[@Name='urn:oid:1.2.752.29.4.13']/saml:AttributeValue"), "195006262546");
	assert_string_equal(str(a, "//saml:Attribute[@Name='urn:oid:1.2.752.29.4.13']/@NameFormat"),
			    "urn:oasis:names:tc:SAML:2.0:attrname-format:uri");
	assert_string_equal(str(a, "//saml:Attribute[@Name='urn:oid:1.2.752.29.4.13']/@FriendlyName"), "personalIdentityNumber");
	assert_string_equal(str(a, "//saml:Attribute[@Name='urn:oid:1.2.752.201.3.1']/saml:AttributeValue"),
			    "vlindman@2021006883");
	assert_string_equal(str(a, "//saml:Attribute[@Name='urn:oid:2.5.4.10']/saml:AttributeValue"), "Försäkringskassan");
	assert_string_equal(str(a, "//saml:Attribute[@Name='urn:oid:2.16.840.1.113730.3.1.241']/saml:AttributeValue"),
			    "Valfrid Lindeman");
	assert_string_equal(str(a, "//saml:Attribute[@FriendlyName='displayName']/saml:AttributeValue/@*[local-name()='type']"),
			    "xs:string");
	assert_int_equal(count(a, "//saml:Attribute[@Name='urn:oid:1.2.752.201.3.14']"), 0);
	assert_int_equal(count(a, "//saml:Attribute[@Name='urn:oid:1.2.752.201.3.12']"), 0);
	built_free(&b);

	/* the same login again: same pseudonym, new IDs */
	struct idp_response_out out2;
	assert_int_equal(idp_response_build(&k, &req, &subj, &rel, &o, &out2, &(efos_err){ 0 }), 0);
	assert_string_equal(out.name_id, out2.name_id);
	assert_string_not_equal(out.response_id, out2.response_id);
	assert_string_not_equal(out.assertion_id, out2.assertion_id);
	idp_response_out_free(&out2);
	idp_response_out_free(&out);
	policy_release_free(&rel);
}

/* No EncryptionMethod at all: AES-256-CBC; WantAssertionsSigned: the Assertion is signed too. */
static void test_response_cbc_signed_assertion(void **state)
{
	struct idp_sp sp = make_sp(NULL, 0, true);
	struct idp_authn_request req = make_req(&sp);
	req.name_id_format = (char *)IDP_NAMEID_TRANSIENT;
	struct idp_subject subj = make_subject();
	struct idp_response_keys k = keys();
	struct idp_response_opts o = { .session_index = "sess-1" };
	struct idp_response_out out;
	struct policy_release rel;
	struct built b = { 0 };

	build_ok(&k, &req, &subj, &o, &out, &rel);
	parse_built(&b, &out);
	assert_string_equal(str(b.doc, "//xenc:EncryptedData/xenc:EncryptionMethod/@Algorithm"), XENC_AES256_CBC);
	assert_string_equal(str(b.doc, "//xenc:EncryptedKey/xenc:EncryptionMethod/@Algorithm"), XENC_RSA_OAEP_MGF1P);
	assert_string_equal(str(b.doc, "//xenc:EncryptedKey/xenc:EncryptionMethod/ds:DigestMethod/@Algorithm"),
			    "http://www.w3.org/2000/09/xmldsig#sha1");
	assert_true(schema_valid(b.resp_file));
	assert_true(verify_cli(b.resp_file));
	assert_true(verify_inproc(b.doc, xmlDocGetRootElement(b.doc)));
	assert_int_equal(test_run("xmlsec1 --decrypt --privkey-pem '%s' --output '%s/dec.xml' '%s' >'%s/dec.log' 2>&1",
			     sp_pem, tmpdir, b.resp_file, tmpdir), 0);

	decrypt(&b);
	check_success_shape(&b, &out, false);
	assert_true(schema_valid(b.assertion_file));
	assert_string_equal(str(b.adoc, "//saml:NameID/@Format"), IDP_NAMEID_TRANSIENT);
	assert_int_equal(count(b.adoc, "/saml:Assertion/*[2][self::ds:Signature]"), 1);
	assert_string_equal(str(b.adoc, "//ds:Transform/*[local-name()='InclusiveNamespaces']/@PrefixList"), "xs");
	assert_true(verify_cli(b.assertion_file));
	assert_true(verify_inproc(b.adoc, xmlDocGetRootElement(b.adoc)));
	built_free(&b);
	idp_response_out_free(&out);
	policy_release_free(&rel);
}

/* Unwraps the key (RSA-OAEP with oaep/mgf1 digests) and decrypts the EncryptedData of b with
 * OpenSSL alone; returns the plaintext (malloc'd). */
static char *decrypt_openssl(struct built *b, const EVP_MD *oaep, const EVP_MD *mgf1, const EVP_CIPHER *ciph)
{
	unsigned char wk[512], key[512], ct[16384];
	const char *wk64 = str(b->doc, "//xenc:EncryptedKey/xenc:CipherData/xenc:CipherValue");
	int wklen = EVP_DecodeBlock(wk, (const unsigned char *)wk64, (int)strlen(wk64));
	for (size_t i = strlen(wk64); i > 0 && wk64[i - 1] == '='; i--)
		wklen--;   /* EVP_DecodeBlock counts the padding */
	assert_int_equal(wklen, 256);
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(SPKEY, NULL);
	size_t klen = sizeof key;
	assert_true(EVP_PKEY_decrypt_init(pc) > 0);
	EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING);
	EVP_PKEY_CTX_set_rsa_oaep_md(pc, oaep);
	EVP_PKEY_CTX_set_rsa_mgf1_md(pc, mgf1);
	int drc = EVP_PKEY_decrypt(pc, key, &klen, wk, (size_t)wklen);
	if (drc != 1)
		ERR_print_errors_fp(stderr);
	assert_int_equal(drc, 1);
	EVP_PKEY_CTX_free(pc);
	assert_int_equal((int)klen, EVP_CIPHER_get_key_length(ciph));
	const char *ct64 = str(b->doc, "//xenc:EncryptedData/xenc:CipherData/xenc:CipherValue");
	assert_true(strlen(ct64) > 100 && strlen(ct64) < 4 * sizeof ct / 3);
	int ctlen = EVP_DecodeBlock(ct, (const unsigned char *)ct64, (int)strlen(ct64));
	size_t l = strlen(ct64);
	while (l > 0 && ct64[l - 1] == '=') {
		l--;
		ctlen--;
	}
	unsigned char *pt = malloc((size_t)ctlen + 1);
	EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0;
	assert_int_equal(EVP_DecryptInit_ex(cc, ciph, NULL, key, ct), 1);
	assert_int_equal(EVP_DecryptUpdate(cc, pt, &n1, ct + 12, ctlen - 12 - 16), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, 16, ct + ctlen - 16), 1);
	assert_int_equal(EVP_DecryptFinal_ex(cc, pt + n1, &n2), 1);
	EVP_CIPHER_CTX_free(cc);
	pt[n1 + n2] = '\0';
	return (char *)pt;
}

/* OAEP with a declared SHA-256 digest (rsa-oaep-mgf1p + ds:DigestMethod), and xmlenc11#rsa-oaep
 * with MGF1-SHA256: decrypted with OpenSSL (xmlsec 1.2 supports neither; SPs built on it do not
 * declare them). */
static void test_response_oaep_variants(void **state)
{
	efos_err e = { 0 };
	struct idp_sp_enc_method m[] = { { XENC_AES128_GCM, NULL, NULL },
					 { XENC_RSA_OAEP_MGF1P, "http://www.w3.org/2001/04/xmlenc#sha256", NULL } };
	struct idp_sp sp = make_sp(m, 2, false);
	struct idp_authn_request req = make_req(&sp);
	struct idp_subject subj = make_subject();
	struct idp_response_keys k = keys();
	struct idp_response_opts o = { .session_index = "sess-1" };
	struct idp_response_out out;
	struct policy_release rel;
	struct built b = { 0 };

	build_ok(&k, &req, &subj, &o, &out, &rel);
	parse_built(&b, &out);
	assert_string_equal(str(b.doc, "//xenc:EncryptedKey/xenc:EncryptionMethod/ds:DigestMethod/@Algorithm"),
			    "http://www.w3.org/2001/04/xmlenc#sha256");
	assert_true(schema_valid(b.resp_file));
	char *pt = decrypt_openssl(&b, EVP_sha256(), EVP_sha1(), EVP_aes_128_gcm());
	assert_true(strncmp(pt, "<saml:Assertion", 15) == 0);
	assert_non_null(strstr(pt, out.assertion_id));
	free(pt);
	built_free(&b);
	idp_response_out_free(&out);

	struct idp_sp_enc_method m2[] = { { XENC_AES256_GCM, NULL, NULL },
					  { XENC11_RSA_OAEP, "http://www.w3.org/2001/04/xmlenc#sha256",
					    "http://www.w3.org/2009/xmlenc11#mgf1sha256" } };
	sp = make_sp(m2, 2, false);
	assert_int_equal(idp_response_build(&k, &req, &subj, &rel, &o, &out, &e), 0);
	parse_built(&b, &out);
	assert_true(schema_valid(b.resp_file));
	assert_string_equal(str(b.doc, "//xenc:EncryptedKey/xenc:EncryptionMethod/@Algorithm"), XENC11_RSA_OAEP);
	assert_string_equal(str(b.doc, "//xenc:EncryptedKey/xenc:EncryptionMethod/xenc11:MGF/@Algorithm"),
			    "http://www.w3.org/2009/xmlenc11#mgf1sha256");
	pt = decrypt_openssl(&b, EVP_sha256(), EVP_sha256(), EVP_aes_256_gcm());
	assert_non_null(strstr(pt, out.assertion_id));
	/* the plaintext is a complete Assertion document on its own */
	xmlDocPtr ad = NULL;
	assert_int_equal(xml_parse_untrusted(pt, strlen(pt), NULL, &ad, &e), 0);
	assert_string_equal(str(ad, "/saml:Assertion/saml:Issuer"), IDP_ID);
	xmlFreeDoc(ad);
	free(pt);
	built_free(&b);
	idp_response_out_free(&out);
	policy_release_free(&rel);
}

/* Holder-of-key: the card certificate when it reveals nothing more than the release, else its key. */
static void test_response_hok(void **state)
{
	struct idp_sp sp = make_sp(NULL, 0, false);
	struct idp_authn_request req = make_req(&sp);
	req.hok = true;
	struct idp_subject subj = make_subject();
	EVP_PKEY *card = EVP_RSA_gen(2048);
	subj.card_cert = self_signed(card, card, "Valfrid Lindeman", "195006262546");
	struct idp_response_keys k = keys();
	struct idp_response_opts o = { .session_index = "sess-1" };
	struct idp_response_out out;
	struct policy_release rel;
	struct built b = { 0 };

	/* loa4-pnr + loa4-orgid: CN (displayName) and serialNumber (pnr) are released */
	build_ok(&k, &req, &subj, &o, &out, &rel);
	parse_built(&b, &out);
	assert_true(schema_valid(b.resp_file));
	decrypt(&b);
	check_success_shape(&b, &out, true);
	assert_true(schema_valid(b.assertion_file));
	assert_string_equal(str(b.adoc, "//saml:SubjectConfirmationData/@*[local-name()='type']"),
			    "saml:KeyInfoConfirmationDataType");
	char *cb64 = test_cert_b64(subj.card_cert);
	assert_string_equal(str(b.adoc, "//saml:SubjectConfirmationData/ds:KeyInfo/ds:X509Data/ds:X509Certificate"), cb64);
	free(cb64);
	built_free(&b);
	idp_response_out_free(&out);
	policy_release_free(&rel);

	/* an orgid-only SP: the personnummer in the certificate is not released -> KeyValue only */
	const char *const ecs[] = { "http://id.swedenconnect.se/ec/1.0/loa4-orgid" };
	sp.entity_categories = ecs;
	sp.n_entity_categories = 1;
	build_ok(&k, &req, &subj, &o, &out, &rel);
	parse_built(&b, &out);
	decrypt(&b);
	assert_true(schema_valid(b.assertion_file));
	assert_int_equal(count(b.adoc, "//ds:X509Certificate"), 0);
	assert_int_equal(count(b.adoc, "//saml:Attribute[@Name='urn:oid:1.2.752.29.4.13']"), 0);
	assert_int_equal(count(b.adoc, "//saml:SubjectConfirmationData/ds:KeyInfo/ds:KeyValue/ds:RSAKeyValue/ds:Modulus"), 1);
	assert_null(strstr(b.xml, "195006262546"));
	xmlChar *x = NULL;
	int xl = 0;
	xmlDocDumpMemory(b.adoc, &x, &xl);
	assert_null(strstr((char *)x, "195006262546"));
	xmlFree(x);
	built_free(&b);
	idp_response_out_free(&out);
	policy_release_free(&rel);

	/* an EC card key: dsig11:ECKeyValue */
	X509_free(subj.card_cert);
	EVP_PKEY *eckey = EVP_EC_gen("P-256");
	subj.card_cert = self_signed(eckey, eckey, "Valfrid Lindeman", "195006262546");
	build_ok(&k, &req, &subj, &o, &out, &rel);
	parse_built(&b, &out);
	decrypt(&b);
	assert_true(schema_valid(b.assertion_file));
	assert_string_equal(str(b.adoc, "//dsig11:ECKeyValue/dsig11:NamedCurve/@URI"), "urn:oid:1.2.840.10045.3.1.7");
	assert_int_equal(count(b.adoc, "//dsig11:ECKeyValue/dsig11:PublicKey"), 1);
	built_free(&b);
	idp_response_out_free(&out);
	policy_release_free(&rel);
	X509_free(subj.card_cert);
	EVP_PKEY_free(eckey);
	EVP_PKEY_free(card);
}

static void test_error_response(void **state)
{
	efos_err e = { 0 };
	struct idp_sp sp = make_sp(NULL, 0, false);
	struct idp_authn_request req = make_req(&sp);
	struct idp_response_keys k = keys();
	struct idp_status st = { .top = "urn:oasis:names:tc:SAML:2.0:status:Requester",
				 .second = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext" };
	snprintf(st.message, sizeof st.message, "LoA <loa3> & others are not supported");
	struct idp_response_out out;
	struct built b = { 0 };

	assert_int_equal(idp_response_build_error(&k, &req, &st, 0, &out, &e), 0);
	assert_string_equal(out.assertion_id, "");
	parse_built(&b, &out);
	assert_true(schema_valid(b.resp_file));
	assert_true(verify_cli(b.resp_file));
	assert_true(verify_inproc(b.doc, xmlDocGetRootElement(b.doc)));
	assert_string_equal(str(b.doc, "/samlp:Response/samlp:Status/samlp:StatusCode/@Value"), st.top);
	assert_string_equal(str(b.doc, "/samlp:Response/samlp:Status/samlp:StatusCode/samlp:StatusCode/@Value"), st.second);
	assert_string_equal(str(b.doc, "/samlp:Response/samlp:Status/samlp:StatusMessage"), st.message);
	assert_string_equal(str(b.doc, "/samlp:Response/@InResponseTo"), req.id);
	assert_string_equal(str(b.doc, "/samlp:Response/@Destination"), ACS);
	assert_int_equal(count(b.doc, "//saml:Assertion | //saml:EncryptedAssertion"), 0);
	built_free(&b);
	idp_response_out_free(&out);

	/* a refused release maps to Responder / RequestDenied */
	idp_refusal_status(POLICY_REFUSE_COORDINATION_NUMBER, &st);
	assert_string_equal(st.top, "urn:oasis:names:tc:SAML:2.0:status:Responder");
	assert_string_equal(st.second, "urn:oasis:names:tc:SAML:2.0:status:RequestDenied");
	assert_int_equal(idp_response_build_error(&k, &req, &st, 0, &out, &e), 0);
	idp_response_out_free(&out);

	/* an EC signing key: ecdsa-sha256; an SP preferring rsa-sha512 does not change that */
	const char *const sm[] = { "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
				   "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" };
	sp.signing_methods = sm;
	sp.n_signing_methods = 2;
	k.sign_key = KEC;
	k.sign_cert_b64 = NULL;
	assert_int_equal(idp_response_build_error(&k, &req, &st, 0, &out, &e), 0);
	parse_built(&b, &out);
	assert_true(schema_valid(b.resp_file));
	assert_string_equal(str(b.doc, "//ds:SignatureMethod/@Algorithm"), "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384");
	assert_int_equal(count(b.doc, "//ds:KeyInfo"), 0);
	assert_true(verify_inproc_key(b.doc, xmlDocGetRootElement(b.doc), KEC));
	built_free(&b);
	idp_response_out_free(&out);
	k = keys();
	sp.n_signing_methods = 1;   /* rsa-sha512 for our RSA key */
	assert_int_equal(idp_response_build_error(&k, &req, &st, 0, &out, &e), 0);
	parse_built(&b, &out);
	assert_string_equal(str(b.doc, "//ds:SignatureMethod/@Algorithm"), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512");
	assert_true(verify_inproc(b.doc, xmlDocGetRootElement(b.doc)));
	assert_true(verify_cli(b.resp_file));
	built_free(&b);
	idp_response_out_free(&out);

	/* only the three top-level codes of §1.9 */
	st.top = "urn:oasis:names:tc:SAML:2.0:status:Success";
	assert_int_equal(idp_response_build_error(&k, &req, &st, 0, &out, &e), -1);
	st.top = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed";
	assert_int_equal(idp_response_build_error(&k, &req, &st, 0, &out, &e), -1);
	assert_null(out.b64);
}

/* A refused release never becomes an assertion; coordination numbers need the SP's opt-in. */
static void test_refusals(void **state)
{
	efos_err e = { 0 };
	struct idp_sp sp = make_sp(NULL, 0, false);
	struct idp_authn_request req = make_req(&sp);
	struct idp_subject subj = make_subject();
	subj.pnr = (char *)"195006862541";
	subj.is_coordination_number = true;
	struct idp_response_keys k = keys();
	struct idp_response_out out;
	struct policy_release rel;
	assert_int_equal(idp_release_for_login(&k, &req, &subj, &rel, &e), POLICY_RELEASE_REFUSED);
	assert_int_equal(rel.refusal, POLICY_REFUSE_COORDINATION_NUMBER);
	assert_int_equal(idp_response_build(&k, &req, &subj, &rel, NULL, &out, &e), -1);
	assert_null(out.b64);
	policy_release_free(&rel);

	/* a sign message with MustShow that was not shown: no response */
	subj = make_subject();
	req.has_sign_message = true;
	req.sign_message_must_show = true;
	req.sign_message = (char *)"Jag skriver under";
	assert_int_equal(idp_release_for_login(&k, &req, &subj, &rel, &e), 0);
	struct idp_response_opts o = { .sign_message_shown = false };
	assert_int_equal(idp_response_build(&k, &req, &subj, &rel, &o, &out, &e), -1);
	assert_non_null(strstr(e.msg, "MustShow"));
	policy_release_free(&rel);

	/* an SP without an RSA encryption key */
	struct idp_sp sp2 = make_sp(NULL, 0, false);
	sp2.n_encryption_keys = 0;
	req = make_req(&sp2);
	assert_int_equal(idp_release_for_login(&k, &req, &subj, &rel, &e), 0);
	assert_int_equal(idp_response_build(&k, &req, &subj, &rel, NULL, &out, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	policy_release_free(&rel);
}

/* ---- SAD -------------------------------------------------------------------------------------- */

static unsigned char *b64url_decode(const char *s, size_t n, size_t *outlen)
{
	char *t = malloc(n + 4);
	size_t i;
	for (i = 0; i < n; i++)
		t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	size_t pad = (4 - n % 4) % 4;
	for (size_t j = 0; j < pad; j++)
		t[i++] = '=';
	t[i] = '\0';
	unsigned char *out = malloc(i + 1);
	int l = EVP_DecodeBlock(out, (unsigned char *)t, (int)i);
	assert_true(l >= 0);
	*outlen = (size_t)l - pad;
	out[*outlen] = '\0';
	free(t);
	return out;
}

/* Verifies the JWS with OpenSSL and returns the claims. */
static json_t *verify_jwt(const char *jwt, EVP_PKEY *pub, const char *alg)
{
	const char *d1 = strchr(jwt, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));
	assert_null(strchr(jwt, '='));
	size_t hl, cl, sl;
	unsigned char *h = b64url_decode(jwt, (size_t)(d1 - jwt), &hl);
	unsigned char *c = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &cl);
	unsigned char *s = b64url_decode(d2 + 1, strlen(d2 + 1), &sl);
	json_t *hdr = json_loads((char *)h, 0, NULL);
	assert_non_null(hdr);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")), alg);
	assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
	json_decref(hdr);

	unsigned char *sig = s;
	size_t siglen = sl;
	unsigned char *der = NULL;
	if (strcmp(alg, "ES256") == 0) {   /* r||s -> DER for OpenSSL */
		assert_int_equal(sl, 64);
		ECDSA_SIG *es = ECDSA_SIG_new();
		ECDSA_SIG_set0(es, BN_bin2bn(s, 32, NULL), BN_bin2bn(s + 32, 32, NULL));
		int dl = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		sig = der;
		siglen = (size_t)dl;
	}
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(mc, NULL, EVP_sha256(), NULL, pub), 1);
	assert_int_equal(EVP_DigestVerify(mc, sig, siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
	EVP_MD_CTX_free(mc);
	OPENSSL_free(der);
	json_t *claims = json_loads((char *)c, 0, NULL);
	assert_non_null(claims);
	free(h);
	free(c);
	free(s);
	return claims;
}

static void check_claims(json_t *cl, time_t now, const char *sub, const char *attr)
{
	assert_int_equal(json_object_size(cl), 7);
	assert_string_equal(json_string_value(json_object_get(cl, "sub")), sub);
	assert_string_equal(json_string_value(json_object_get(cl, "aud")), SIGSVC_ID);
	assert_string_equal(json_string_value(json_object_get(cl, "iss")), IDP_ID);
	json_int_t iat = json_integer_value(json_object_get(cl, "iat"));
	json_int_t exp = json_integer_value(json_object_get(cl, "exp"));
	assert_true(iat >= now - 5 && iat <= now + 5);
	assert_int_equal(exp - iat, 300);
	assert_true(strlen(json_string_value(json_object_get(cl, "jti"))) >= 16);
	json_t *x = json_object_get(cl, "seElnSadext");
	assert_true(json_is_object(x));
	assert_int_equal(json_object_size(x), 6);
	assert_string_equal(json_string_value(json_object_get(x, "ver")), "1.0");
	assert_string_equal(json_string_value(json_object_get(x, "irt")), "_sadreq-1");
	assert_string_equal(json_string_value(json_object_get(x, "attr")), attr);
	assert_string_equal(json_string_value(json_object_get(x, "loa")), LOA4);
	assert_string_equal(json_string_value(json_object_get(x, "reqid")), "signreq-42");
	assert_true(json_is_integer(json_object_get(x, "docs")));
	assert_int_equal(json_integer_value(json_object_get(x, "docs")), 3);
}

static void test_sad(void **state)
{
	efos_err e = { 0 };
	time_t now = time(NULL);
	struct idp_sad_params p = { .iss = IDP_ID, .aud = SIGSVC_ID, .sub = "195006262546",
				    .attr = "urn:oid:1.2.752.29.4.13", .loa = LOA4, .irt = "_sadreq-1",
				    .reqid = "signreq-42", .docs = 3, .now = now };
	char *jwt = NULL;
	assert_int_equal(idp_sad_build(KSIGN, &p, &jwt, &e), 0);
	json_t *cl = verify_jwt(jwt, hsm_key_public(KSIGN), "RS256");
	check_claims(cl, now, "195006262546", "urn:oid:1.2.752.29.4.13");
	json_decref(cl);
	free(jwt);

	assert_int_equal(idp_sad_build(KEC, &p, &jwt, &e), 0);
	cl = verify_jwt(jwt, hsm_key_public(KEC), "ES256");
	check_claims(cl, now, "195006262546", "urn:oid:1.2.752.29.4.13");
	json_decref(cl);
	free(jwt);

	p.ver = "2.0";
	assert_int_equal(idp_sad_build(KSIGN, &p, &jwt, &e), -1);
	p.ver = NULL;
	p.docs = 0;
	assert_int_equal(idp_sad_build(KSIGN, &p, &jwt, &e), -1);
}

/* A signature service: the sign message was shown, a SAD was requested. */
static void test_sigservice_response(void **state)
{
	const char *const ecs[] = { "http://id.elegnamnden.se/st/1.0/sigservice", "http://id.elegnamnden.se/ec/1.0/loa4-pnr" };
	struct idp_sp_enc_method m[] = { { XENC_AES256_GCM, NULL, NULL } };
	struct idp_sp sp = make_sp(m, 1, true);
	sp.entity_id = SIGSVC_ID;
	sp.entity_categories = ecs;
	sp.n_entity_categories = 2;
	struct idp_authn_request req = make_req(&sp);
	req.is_sigservice = true;
	req.force_authn = true;
	req.has_sign_message = true;
	req.sign_message_must_show = true;
	req.sign_message = (char *)"I hereby confirm that I want to join example.com as a customer";
	req.sad_requested = true;
	req.sad_request_id = (char *)"_sadreq-1";
	req.sad_sign_request_id = (char *)"signreq-42";
	req.sad_doc_count = 3;
	req.sad_requester_id = (char *)SIGSVC_ID;
	struct idp_subject subj = make_subject();
	struct idp_response_keys k = keys();
	struct idp_response_opts o = { .session_index = "sess-1", .sign_message_shown = true };
	struct idp_response_out out;
	struct policy_release rel;
	struct built b = { 0 };

	build_ok(&k, &req, &subj, &o, &out, &rel);
	parse_built(&b, &out);
	assert_true(schema_valid(b.resp_file));
	assert_true(verify_cli(b.resp_file));
	decrypt(&b);
	assert_true(schema_valid(b.assertion_file));
	assert_true(verify_inproc(b.adoc, xmlDocGetRootElement(b.adoc)));
	assert_string_equal(str(b.adoc, "//saml:Attribute[@Name='urn:oid:1.2.752.201.3.14']/saml:AttributeValue"),
			    "http://www.w3.org/2001/04/xmlenc#sha256;0yKaSVsYeh+PX2Q6diqO2w89+a3Dm303tp3AVjgxwj0=");
	assert_string_equal(str(b.adoc, "//saml:Attribute[@Name='urn:oid:1.2.752.201.3.14']/@FriendlyName"),
			    "signMessageDigest");
	const char *sad = str(b.adoc, "//saml:Attribute[@Name='urn:oid:1.2.752.201.3.12']/saml:AttributeValue");
	assert_true(strlen(sad) > 100);
	json_t *cl = verify_jwt(sad, hsm_key_public(KSIGN), "RS256");
	check_claims(cl, time(NULL), "195006262546", "urn:oid:1.2.752.29.4.13");
	/* §5.3 rule 7 and 8: sub is the value of attr in the assertion; loa is the ClassRef */
	assert_string_equal(str(b.adoc, "//saml:Attribute[@Name='urn:oid:1.2.752.29.4.13']/saml:AttributeValue"),
			    json_string_value(json_object_get(cl, "sub")));
	assert_string_equal(str(b.adoc, "//saml:AuthnContextClassRef"),
			    json_string_value(json_object_get(json_object_get(cl, "seElnSadext"), "loa")));
	json_decref(cl);
	built_free(&b);
	idp_response_out_free(&out);
	policy_release_free(&rel);
}

/* A tampered Response fails both verifiers. */
static void test_tampered(void **state)
{
	struct idp_sp sp = make_sp(NULL, 0, false);
	struct idp_authn_request req = make_req(&sp);
	struct idp_subject subj = make_subject();
	struct idp_response_keys k = keys();
	struct idp_response_opts o = { .session_index = "sess-1" };
	struct idp_response_out out;
	struct policy_release rel;
	struct built b = { 0 };
	build_ok(&k, &req, &subj, &o, &out, &rel);
	parse_built(&b, &out);
	char *d = strstr(b.xml, "Destination=\"https://sp.");
	assert_non_null(d);
	d[21] = 'x';
	test_write_file(b.resp_file, b.xml, b.len);
	assert_false(verify_cli(b.resp_file));
	xmlFreeDoc(b.doc);
	efos_err e = { 0 };
	assert_int_equal(xml_parse_untrusted(b.xml, b.len, NULL, &b.doc, &e), 0);
	assert_false(verify_inproc(b.doc, xmlDocGetRootElement(b.doc)));
	built_free(&b);
	idp_response_out_free(&out);
	policy_release_free(&rel);
}

static void test_post_form(void **state)
{
	char *h = idp_response_post_form("https://sp.example.se/acs?a=1&b=\"2\"", "PHNhbWxw+/=", "rs<script>", NULL);
	assert_non_null(h);
	assert_non_null(strstr(h, "action=\"https://sp.example.se/acs?a=1&amp;b=&quot;2&quot;\""));
	assert_non_null(strstr(h, "name=\"SAMLResponse\" value=\"PHNhbWxw+/=\""));
	assert_non_null(strstr(h, "name=\"RelayState\" value=\"rs&lt;script&gt;\""));
	assert_non_null(strstr(h, "<button type=\"submit\">"));
	assert_null(strstr(h, "<script"));
	free(h);
	h = idp_response_post_form(ACS, "AAAA", NULL, "n0nce\"x");
	assert_non_null(strstr(h, "<script nonce=\"n0nce&quot;x\">document.forms[0].submit();</script>"));
	assert_null(strstr(h, "RelayState"));
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nameid),
		cmocka_unit_test(test_sign_message_digest),
		cmocka_unit_test(test_enc_choice),
		cmocka_unit_test(test_response_gcm),
		cmocka_unit_test(test_response_cbc_signed_assertion),
		cmocka_unit_test(test_response_oaep_variants),
		cmocka_unit_test(test_response_hok),
		cmocka_unit_test(test_error_response),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_sad),
		cmocka_unit_test(test_sigservice_response),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_post_form),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
