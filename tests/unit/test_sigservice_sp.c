/* The signing service as a SAML SP (signer/idp_md, sp_authn, sp_response, sad_verify), tested
 * against OUR IdP's own code:
 *   - the IdP's metadata built and signed by idp/metadata_publish is parsed (and refused when
 *     tampered or signed by another key; broken entities skipped);
 *   - the AuthnRequest built by sp_authn is accepted by the IdP's intake (idp/authn_request.h)
 *     with every extension (SignMessage, SADRequest, PrincipalSelection, Scoping), is valid
 *     against the OASIS schema (xmllint) and its signature verifies with xmlsec1; the IdP's
 *     alg:SigningMethod/DigestMethod preferences are followed;
 *   - Responses built by the IdP's idp_response_build from that very request (signed, encrypted
 *     for our HSM key, with signMessageDigest and a SAD) are accepted, and refused when anything
 *     is off: InResponseTo, Audience, expiry, tampered ciphertext, no signature, another key,
 *     wrapped (XSW) assertions; a cancel status comes back as SP_RESPONSE_STATUS;
 *   - the SAD: valid (RSA and EC), and each of the ten checks failing on its own;
 *   - signMessageDigest: the spec's example, a mismatch, a refused algorithm. */
#include <unistd.h>
#include <libxml/parser.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/crypto.h>
#include "core/xml.h"
#include "hsm/bridge.h"
#include "idp/authn_request.h"
#include "idp/metadata_publish.h"
#include "idp/metadata_store.h"
#include "idp/response.h"
#include "idp/sad.h"
#include "policy/attribute_release.h"
#include "signer/idp_md.h"
#include "signer/sad_verify.h"
#include "signer/sp_authn.h"
#include "signer/sp_response.h"
#include "test_fs_common.h"
#include "test_hsm_common.h"

#define IDP_ID "https://idp.efos.example.se/idp"
#define IDP_POST "https://idp.efos.example.se/idp/sso/post"
#define SS_ID "https://sign.efos.example.se/sigservice"
#define SS_ACS "https://sign.efos.example.se/sign/acs"
#define REQUESTER "https://app.agency.example.se/sp"
#define LOA4 "http://id.elegnamnden.se/loa/1.0/loa4"
#define PNR "195006262546"
#define MSG "I hereby confirm that I want to join example.com as a customer"

static struct hsm *H;
static struct hsm_key *KIDP, *KOTHER, *KEC, *KSS, *KENC;
static X509 *IDP_CERT, *OTHER_CERT;
static char *SS_CERT_B64;
static char tmpdir[256], ss_cert_pem[300];
static char *MD_XML;
static size_t MD_LEN;
static struct sig_idp_set *SET;
static const struct sig_idp *IDP;
static struct idp_nameid_secret *SECRET;

/* ---- fixtures -------------------------------------------------------------------------------- */

static const char *const PSEL[] = { ATTR_PERSONAL_IDENTITY_NUMBER, ATTR_ORG_AFFILIATION };

static char *build_idp_metadata(struct hsm_key *k, X509 *cert, size_t *len)
{
	struct idp_md_info in = {
		.entity_id = IDP_ID,
		.public_url = "https://idp.efos.example.se",
		.want_authn_requests_signed = true,
		.validity_s = 7 * 86400,
		.cache_duration_s = 3600,
		.signing_cert = cert,
		.display_name_sv = "EFOS",
		.org_name = "Försäkringskassan",
		.org_display_name_sv = "Försäkringskassan",
		.org_display_name_en = "Swedish Social Insurance Agency",
		.display_name_en = "EFOS",
		.org_url = "https://www.forsakringskassan.se",
		.principal_selection = PSEL,
		.n_principal_selection = 2,
	};
	char *xml = NULL;
	efos_err e = { 0 };
	if (idp_md_build_signed(&in, time(NULL), k, cert, &xml, len, &e) != 0)
		fail_msg("idp_md_build_signed: %s", e.msg);
	return xml;
}

static int setup(void **state)
{
	efos_err e = { 0 };
	xmlInitParser();
	if (xmlSecInit() < 0 || xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0)
		return -1;
	H = test_hsm_open(2);
	KIDP = test_session_key(H, HSM_KEY_RSA, 2048, "sigsp-idp");
	KOTHER = test_session_key(H, HSM_KEY_RSA, 2048, "sigsp-other");
	KEC = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "sigsp-ec");
	KSS = test_session_key(H, HSM_KEY_RSA, 2048, "sigsp-ss-sign");
	KENC = test_session_key(H, HSM_KEY_RSA, 2048, "sigsp-ss-enc");
	IDP_CERT = test_hsm_self_signed(KIDP, "EFOS IdP");
	OTHER_CERT = test_hsm_self_signed(KOTHER, "Not the IdP");
	X509 *ss = test_hsm_self_signed(KSS, "EFOS signing service");
	SS_CERT_B64 = test_cert_b64(ss);
	test_tmpdir_make(tmpdir, sizeof tmpdir, "efos-sigsp");
	snprintf(ss_cert_pem, sizeof ss_cert_pem, "%s/ss.pem", tmpdir);
	FILE *f = fopen(ss_cert_pem, "w");
	assert_non_null(f);
	PEM_write_X509(f, ss);
	fclose(f);
	X509_free(ss);
	MD_XML = build_idp_metadata(KIDP, IDP_CERT, &MD_LEN);
	EVP_PKEY *trusted = X509_get0_pubkey(IDP_CERT);
	if (sig_idp_set_parse(MD_XML, MD_LEN, "idp.xml", &trusted, 1, 0, &SET, &e) != 0)
		fail_msg("sig_idp_set_parse: %s", e.msg);
	IDP = sig_idp_set_find(SET, IDP_ID);
	assert_non_null(IDP);
	unsigned char secret[32];
	memset(secret, 0x33, sizeof secret);
	assert_int_equal(idp_nameid_secret_new(secret, sizeof secret, &SECRET, &e), 0);
	return 0;
}

static int teardown(void **state)
{
	if (test_tmpdir_remove(tmpdir) != 0)
		return -1;
	idp_nameid_secret_free(SECRET);
	sig_idp_set_free(SET);
	free(MD_XML);
	free(SS_CERT_B64);
	X509_free(IDP_CERT);
	X509_free(OTHER_CERT);
	hsm_key_free(KENC);
	hsm_key_free(KSS);
	hsm_key_free(KEC);
	hsm_key_free(KOTHER);
	hsm_key_free(KIDP);
	hsm_close(H);
	xmlSecCryptoShutdown();
	xmlSecCryptoAppShutdown();
	xmlSecShutdown();
	return 0;
}

/* ---- metadata -------------------------------------------------------------------------------- */

static void test_idp_metadata(void **state)
{
	assert_string_equal(IDP->sso_post_url, IDP_POST);
	assert_string_equal(IDP->sso_redirect_url, "https://idp.efos.example.se/idp/sso/redirect");
	assert_int_equal(IDP->n_signing_keys, 1);
	assert_int_equal(EVP_PKEY_eq(IDP->signing_keys[0], X509_get0_pubkey(IDP_CERT)), 1);
	assert_true(IDP->scal2);
	assert_true(sig_idp_has_assurance(IDP, LOA4));
	assert_true(sig_idp_has_category(IDP, "http://id.elegnamnden.se/ec/1.0/loa4-pnr"));
	assert_int_equal(IDP->n_principal_selection, 2);
	assert_string_equal(IDP->principal_selection[0], ATTR_PERSONAL_IDENTITY_NUMBER);
	assert_int_equal(sig_idp_set_count(SET), 1);
	assert_true(IDP->n_signing_methods >= 3);
	assert_string_equal(IDP->signing_methods[0], "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
	assert_true(IDP->n_digest_methods >= 1);

	efos_err e = { 0 };
	struct sig_idp_set *s = NULL;
	/* signed by another key than the trusted one */
	EVP_PKEY *other = X509_get0_pubkey(OTHER_CERT);
	assert_int_equal(sig_idp_set_parse(MD_XML, MD_LEN, "idp.xml", &other, 1, 0, &s, &e), -1);
	assert_non_null(strstr(e.msg, "signature"));
	/* tampered */
	char *t = strdup(MD_XML);
	char *p = strstr(t, "/idp/sso/post");
	assert_non_null(p);
	p[1] = 'x';
	EVP_PKEY *trusted = X509_get0_pubkey(IDP_CERT);
	assert_int_equal(sig_idp_set_parse(t, strlen(t), "idp.xml", &trusted, 1, 0, &s, &e), -1);
	/* untrusted parse (no keys) still reads it */
	assert_int_equal(sig_idp_set_parse(t, strlen(t), "idp.xml", NULL, 0, 0, &s, &e), 0);
	assert_string_equal(sig_idp_set_find(s, IDP_ID)->sso_post_url, "https://idp.efos.example.se/xdp/sso/post");
	sig_idp_set_free(s);
	free(t);
	/* an aggregate: our IdP, a broken IdP (bad certificate), an SP (ignored) */
	const char *body = strstr(MD_XML, "<md:EntityDescriptor");
	assert_non_null(body);
	char *agg = NULL;
	assert_true(asprintf(&agg,
		"<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
		"xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">%s"
		"<md:EntityDescriptor entityID=\"https://broken.example.se\"><md:IDPSSODescriptor "
		"protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"><md:KeyDescriptor use=\"signing\">"
		"<ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
		"</md:KeyDescriptor><md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" "
		"Location=\"https://broken.example.se/sso\"/></md:IDPSSODescriptor></md:EntityDescriptor>"
		"<md:EntityDescriptor entityID=\"https://sp.example.se\"><md:SPSSODescriptor "
		"protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"/></md:EntityDescriptor>"
		"</md:EntitiesDescriptor>", body) > 0);
	assert_int_equal(sig_idp_set_parse(agg, strlen(agg), "agg", NULL, 0, 0, &s, &e), 0);
	assert_int_equal(sig_idp_set_count(s), 1);
	assert_non_null(sig_idp_set_find(s, IDP_ID));
	assert_null(sig_idp_set_find(s, "https://broken.example.se"));
	assert_null(sig_idp_set_find(s, "https://sp.example.se"));
	sig_idp_set_free(s);
	free(agg);
	/* not metadata, and a DOCTYPE */
	assert_int_equal(sig_idp_set_parse("<a/>", 4, "x", NULL, 0, 0, &s, &e), -1);
	const char *dt = "<!DOCTYPE x [<!ENTITY a \"b\">]><md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\"/>";
	assert_int_equal(sig_idp_set_parse(dt, strlen(dt), "x", NULL, 0, 0, &s, &e), -1);
}

/* ---- the signing service's SP metadata as our IdP sees it, and the intake --------------------- */

static EVP_PKEY *SS_SIGN_PUB, *SS_ENC_PUB;
static const char *const SS_ECS[] = { "http://id.elegnamnden.se/st/1.0/sigservice",
				      "http://id.elegnamnden.se/ec/1.0/loa4-pnr",
				      "http://id.swedenconnect.se/contract/sc/prepaid-auth-2021" };
static struct idp_sp_acs SS_ACS_EP = { .index = 0, .is_default = true, .is_default_set = true,
				       .binding = IDP_BINDING_POST,
				       .binding_uri = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
				       .location = SS_ACS };
static struct idp_sp SS_SP;

static void init_ss_sp(void)
{
	SS_SIGN_PUB = hsm_key_public(KSS);
	SS_ENC_PUB = hsm_key_public(KENC);
	SS_SP = (struct idp_sp){
		.entity_id = SS_ID,
		.authn_requests_signed = true,
		.signing_keys = &SS_SIGN_PUB,
		.n_signing_keys = 1,
		.encryption_keys = &SS_ENC_PUB,
		.n_encryption_keys = 1,
		.acs = &SS_ACS_EP,
		.n_acs = 1,
		.entity_categories = SS_ECS,
		.n_entity_categories = 3,
	};
}

static int no_replay(void *arg, const char *issuer, const char *id, time_t exp, efos_err *e)
{
	return 0;
}

static const char *const LOAS[] = { LOA4 };
static char *unb64(const char *b64);

static char *sign_message_xml(void)
{
	char b64[200];
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)MSG, (int)strlen(MSG));
	char *x = NULL;
	assert_true(asprintf(&x, "<csig:SignMessage xmlns:csig=\"http://id.elegnamnden.se/csig/1.1/dss-ext/ns\" "
				 "MustShow=\"true\" DisplayEntity=\"%s\"><csig:Message>%s</csig:Message></csig:SignMessage>",
			     IDP_ID, b64) > 0);
	return x;
}

static char *SIGNER_VALUES[] = { (char *)PNR };
static struct dss_attr SIGNER[] = {
	{ .name = (char *)ATTR_PERSONAL_IDENTITY_NUMBER, .values = SIGNER_VALUES, .n_values = 1 },
	{ .name = (char *)"urn:oid:2.5.4.42", .values = SIGNER_VALUES, .n_values = 1 },  /* not asked for: left out */
};

/* Builds our AuthnRequest and runs it through the IdP's intake: req is the validated request. */
static void request_and_intake(struct sp_authn_out *o, struct idp_authn_request *req, time_t now)
{
	efos_err e = { 0 };
	char *sm = sign_message_xml();
	struct sp_authn_params p = {
		.sp_entity_id = SS_ID, .acs_url = SS_ACS, .idp = IDP, .loas = LOAS, .n_loas = 1,
		.sign_message_xml = sm, .sad_request_id = "_sad7f3a", .sign_request_id = "req-4711", .doc_count = 2,
		.signer = SIGNER, .n_signer = 2, .requester_id = REQUESTER, .now = now,
	};
	if (sp_authn_build(KSS, SS_CERT_B64, &p, "relay-1", "n0nce", o, &e) != 0)
		fail_msg("sp_authn_build: %s", e.msg);
	free(sm);
	struct idp_intake_params ip = { .entity_id = IDP_ID, .clock_skew_s = 60, .max_age_s = 180,
					.require_signed = true, .replay_fn = no_replay };
	const struct idp_sp *sps[] = { &SS_SP };
	struct idp_intake_input in = {
		.binding = IDP_BINDING_POST, .saml_request = o->saml_request_b64,
		.saml_request_len = strlen(o->saml_request_b64), .relay_state = "relay-1",
		.endpoint_url = IDP_POST, .sps = sps, .n_sps = 1, .now = now,
	};
	struct idp_status st;
	int rc = idp_authn_request_intake(&ip, &in, req, &st, &e);
	if (rc != IDP_INTAKE_OK)
		fail_msg("intake: rc %d: %s / %s %s", rc, e.msg, st.second ? st.second : "", st.message);
}

static void test_authn_request(void **state)
{
	init_ss_sp();
	struct sp_authn_out o;
	struct idp_authn_request req;
	time_t now = time(NULL);
	request_and_intake(&o, &req, now);
	assert_string_equal(req.id, o.id);
	assert_true(strlen(o.id) >= 33);   /* "_" + 160 bits in hex */
	assert_string_equal(req.issuer, SS_ID);
	assert_string_equal(req.acs_url, SS_ACS);
	assert_true(req.force_authn);
	assert_true(req.is_sigservice);
	assert_string_equal(req.chosen_loa, LOA4);
	assert_true(req.has_sign_message);
	assert_true(req.sign_message_must_show);
	assert_string_equal(req.sign_message, MSG);
	assert_true(req.sad_requested);
	assert_string_equal(req.sad_request_id, "_sad7f3a");
	assert_string_equal(req.sad_sign_request_id, "req-4711");
	assert_int_equal(req.sad_doc_count, 2);
	assert_string_equal(req.sad_requester_id, SS_ID);
	assert_int_equal(req.n_principal, 1);
	assert_string_equal(req.principal_attr_names[0], ATTR_PERSONAL_IDENTITY_NUMBER);
	assert_string_equal(req.principal_attr_values[0], PNR);
	assert_int_equal(req.n_requester_ids, 1);
	assert_string_equal(req.requester_ids[0], REQUESTER);
	/* the page posts to the IdP, escaped, with the nonce'd script and a button */
	assert_non_null(strstr(o.post_form_html, "action=\"" IDP_POST "\""));
	assert_non_null(strstr(o.post_form_html, "name=\"SAMLRequest\""));
	assert_non_null(strstr(o.post_form_html, "name=\"RelayState\" value=\"relay-1\""));
	assert_non_null(strstr(o.post_form_html, "<script nonce=\"n0nce\">"));
	assert_non_null(strstr(o.post_form_html, "<button type=\"submit\">"));
	/* the algorithms are the IdP's first declared ones that fit our RSA key */
	char *areq = unb64(o.saml_request_b64);
	/* independent checks: the OASIS schema (xmllint) and the signature (xmlsec1) */
	char path[400], cmd[2048];
	snprintf(path, sizeof path, "%s/authnrequest.xml", tmpdir);
	FILE *fx = fopen(path, "w");
	assert_non_null(fx);
	fputs(areq, fx);
	fclose(fx);
	const char *top = getenv("EFOS_TOP");
	snprintf(cmd, sizeof cmd, "xmllint --nonet --noout --schema '%s/tests/schemas/saml-protocol-efos.xsd' '%s' >&2",
		 top ? top : ".", path);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "xmlsec1 --verify --trusted-pem '%s' --id-attr:ID "
		 "'urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest' '%s' >/dev/null 2>&1", ss_cert_pem, path);
	assert_int_equal(system(cmd), 0);
	assert_non_null(strstr(areq, "SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\""));
	assert_non_null(strstr(areq, "ForceAuthn=\"true\""));
	assert_non_null(strstr(areq, "Comparison=\"exact\""));
	free(areq);
	idp_authn_request_free(&req);

	/* tampered after signing: the IdP refuses it */
	size_t n = strlen(o.saml_request_b64);
	unsigned char *x = malloc(n);
	int xl = EVP_DecodeBlock(x, (unsigned char *)o.saml_request_b64, (int)n);
	char *f = strstr((char *)x, "req-4711");
	assert_non_null(f);
	f[4] = '9';
	char *b = malloc(n + 8);
	EVP_EncodeBlock((unsigned char *)b, x, xl - (o.saml_request_b64[n - 1] == '=') - (o.saml_request_b64[n - 2] == '='));
	struct idp_intake_params ip = { .entity_id = IDP_ID, .clock_skew_s = 60, .max_age_s = 180,
					.require_signed = true, .replay_fn = no_replay };
	const struct idp_sp *sps[] = { &SS_SP };
	struct idp_intake_input in = { .binding = IDP_BINDING_POST, .saml_request = b, .saml_request_len = strlen(b),
				       .endpoint_url = IDP_POST, .sps = sps, .n_sps = 1, .now = now };
	struct idp_status st;
	efos_err e = { 0 };
	assert_int_equal(idp_authn_request_intake(&ip, &in, &req, &st, &e), -1);
	idp_authn_request_free(&req);
	free(x);
	free(b);
	sp_authn_out_free(&o);

	/* the IdP prefers rsa-sha512 and sha384 (SHA-1 listed first is skipped): used, and accepted */
	static const char *const sigm[] = { "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
					    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
					    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" };
	static const char *const digm[] = { "http://www.w3.org/2000/09/xmldsig#sha1",
					    "http://www.w3.org/2001/04/xmldsig-more#sha384" };
	struct sig_idp pref = *IDP;
	pref.signing_methods = sigm;
	pref.n_signing_methods = 3;
	pref.digest_methods = digm;
	pref.n_digest_methods = 2;
	struct sp_authn_params pp = { .sp_entity_id = SS_ID, .acs_url = SS_ACS, .idp = &pref, .loas = LOAS, .n_loas = 1,
				      .now = now };
	if (sp_authn_build(KSS, SS_CERT_B64, &pp, NULL, NULL, &o, &e) != 0)
		fail_msg("sp_authn_build (preferences): %s", e.msg);
	char *areq2 = unb64(o.saml_request_b64);
	assert_non_null(strstr(areq2, "Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512\""));
	assert_non_null(strstr(areq2, "DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#sha384\""));
	assert_null(strstr(areq2, "<samlp:Extensions"));   /* nothing to put there */
	free(areq2);
	in.saml_request = o.saml_request_b64;
	in.saml_request_len = strlen(o.saml_request_b64);
	if (idp_authn_request_intake(&ip, &in, &req, &st, &e) != IDP_INTAKE_OK)
		fail_msg("intake (preferences): %s / %s", e.msg, st.message);
	idp_authn_request_free(&req);
	sp_authn_out_free(&o);

	/* bad parameters */
	struct sp_authn_params p = { .sp_entity_id = SS_ID, .acs_url = SS_ACS, .idp = IDP, .loas = LOAS, .n_loas = 0 };
	assert_int_equal(sp_authn_build(KSS, NULL, &p, NULL, NULL, &o, &e), -1);
	p.n_loas = 1;
	p.sign_message_xml = "<notsignmessage/>";
	assert_int_equal(sp_authn_build(KSS, NULL, &p, NULL, NULL, &o, &e), -1);
	assert_non_null(strstr(e.msg, "csig:SignMessage"));
	p.sign_message_xml = NULL;
	p.sad_request_id = "_x";   /* no SignRequestID */
	assert_int_equal(sp_authn_build(KSS, NULL, &p, NULL, NULL, &o, &e), -1);
}

/* ---- responses --------------------------------------------------------------------------------- */

static struct idp_affiliation AFFS[] = {
	{ (char *)"vlindman@2021006883", (char *)"2021006883", (char *)"Försäkringskassan" },
};

struct flow {
	struct sp_authn_out o;
	struct idp_authn_request req;
	struct idp_response_out r;
	struct sp_expect x;
	time_t now;
};

/* What the signing service's metadata may declare: AES-256-GCM and xenc11 RSA-OAEP (without it,
 * our IdP uses AES-256-CBC and rsa-oaep-mgf1p). SHA-1 inside OAEP: SoftHSM 2.6 does OAEP with
 * SHA-1 only (other digests are the token's choice; hsm/sign.c). */
static const struct idp_sp_enc_method GCM_OAEP256[] = {
	{ .algorithm = "http://www.w3.org/2009/xmlenc11#aes256-gcm" },
	{ .algorithm = "http://www.w3.org/2009/xmlenc11#rsa-oaep", .digest = "http://www.w3.org/2000/09/xmldsig#sha1",
	  .mgf = "http://www.w3.org/2009/xmlenc11#mgf1sha1" },
};

static void flow_run(struct flow *f, bool assertion_signed, bool gcm)
{
	efos_err e = { 0 };
	init_ss_sp();
	SS_SP.want_assertions_signed = assertion_signed;
	if (gcm) {
		SS_SP.enc_methods = GCM_OAEP256;
		SS_SP.n_enc_methods = 2;
	}
	f->now = time(NULL);
	request_and_intake(&f->o, &f->req, f->now);
	struct idp_response_keys k = { .idp_entity_id = IDP_ID, .sign_key = KIDP, .sign_cert_b64 = NULL,
				       .nameid_secret = SECRET };
	struct idp_subject subj = {
		.person_id = 4711, .pnr = (char *)PNR, .given_name = (char *)"Valfrid", .surname = (char *)"Lindeman",
		.display_name = (char *)"Valfrid Lindeman", .affiliations = AFFS, .n_affiliations = 1,
		.authn_instant = f->now, .loa = (char *)LOA4, .client_address = (char *)"192.0.2.7",
	};
	struct policy_release rel;
	if (idp_release_for_login(&k, &f->req, &subj, &rel, &e) != 0)
		fail_msg("release: %s", e.msg);
	struct idp_response_opts ro = { .sign_message_shown = true, .now = f->now };
	if (idp_response_build(&k, &f->req, &subj, &rel, &ro, &f->r, &e) != 0)
		fail_msg("idp_response_build: %s", e.msg);
	policy_release_free(&rel);
	f->x = (struct sp_expect){ .sp_entity_id = SS_ID, .acs_url = SS_ACS, .request_id = f->o.id, .loas = LOAS,
				   .n_loas = 1, .sent_at = f->now, .force_authn = true, .skew_s = 60, .max_age_s = 180,
				   .now = f->now + 2 };
}

static void flow_free(struct flow *f)
{
	sp_authn_out_free(&f->o);
	idp_authn_request_free(&f->req);
	idp_response_out_free(&f->r);
}

static char *unb64(const char *b64)
{
	size_t n = strlen(b64);
	unsigned char *x = malloc(n + 1);
	int l = EVP_DecodeBlock(x, (const unsigned char *)b64, (int)n);
	assert_true(l > 0);
	l -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
	x[l] = '\0';
	return (char *)x;
}

static char *b64(const char *s)
{
	size_t n = strlen(s);
	char *o = malloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)o, (const unsigned char *)s, (int)n);
	return o;
}

/* Processes xml (plain text) as a SAMLResponse; returns the rc and leaves the error in e. */
static int process_xml(const char *xml, const struct sig_idp *idp, const struct sp_expect *x, efos_err *e)
{
	char *v = b64(xml);
	struct sp_assertion *a = NULL;
	int rc = sp_response_process(v, strlen(v), idp, KENC, x, &a, e);
	sp_assertion_free(a);
	free(v);
	return rc;
}

/* Removes the ds:Signature element that starts at the first "<ds:Signature" after `from`. */
static void strip_signature(char *xml, const char *from)
{
	char *s = strstr(strstr(xml, from), "<ds:Signature");
	assert_non_null(s);
	char *end = strstr(s, "</ds:Signature>");
	assert_non_null(end);
	end += strlen("</ds:Signature>");
	memmove(s, end, strlen(end) + 1);
}

static void response_success(bool gcm)
{
	struct flow f;
	flow_run(&f, false, gcm);
	char *plain = unb64(f.r.b64);
	assert_non_null(strstr(plain, gcm ? "xmlenc11#aes256-gcm" : "xmlenc#aes256-cbc"));
	assert_non_null(strstr(plain, gcm ? "xmlenc11#rsa-oaep" : "xmlenc#rsa-oaep-mgf1p"));
	free(plain);
	efos_err e = { 0 };
	struct sp_assertion *a = NULL;
	int rc = sp_response_process(f.r.b64, f.r.b64_len, IDP, KENC, &f.x, &a, &e);
	if (rc != 0)
		fail_msg("sp_response_process: %s", e.msg);
	assert_string_equal(a->status, SP_STATUS_SUCCESS);
	assert_string_equal(a->id, f.r.assertion_id);
	assert_string_equal(a->issuer, IDP_ID);
	assert_string_equal(a->loa, LOA4);
	assert_string_equal(a->name_id, f.r.name_id);
	assert_string_equal(sp_assertion_attr(a, ATTR_PERSONAL_IDENTITY_NUMBER), PNR);
	assert_non_null(a->sign_message_digest);
	assert_non_null(a->sad);
	assert_true(a->not_on_or_after > f.now);
	assert_non_null(a->xml);
	assert_non_null(strstr((char *)a->xml, f.r.assertion_id));
	char why[300];
	assert_int_equal(sign_message_digest_check(a->sign_message_digest, (const unsigned char *)MSG, strlen(MSG), why,
						   sizeof why), 0);
	struct sad_expect sx = { .sp_entity_id = SS_ID, .sad_request_id = "_sad7f3a", .sign_request_id = "req-4711",
				 .doc_count = 2, .now = f.now };
	if (sad_verify(a->sad, IDP, a, &sx, why, sizeof why) != 0)
		fail_msg("sad_verify: %s", why);
	sp_assertion_free(a);

	/* without an HSM key the encrypted assertion is refused cleanly */
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, IDP, NULL, &f.x, &a, &e), -1);
	assert_null(a);
	assert_non_null(strstr(e.msg, "decryption key"));
	flow_free(&f);
}

static void test_response_success(void **state)
{
	response_success(false);   /* AES-256-CBC, rsa-oaep-mgf1p SHA-1 */
	response_success(true);    /* AES-256-GCM, xenc11 rsa-oaep with an explicit MGF */
}

static void test_response_refusals(void **state)
{
	struct flow f;
	flow_run(&f, false, false);
	efos_err e = { 0 };
	struct sp_assertion *a = NULL;
	struct sp_expect x;

	x = f.x;
	x.request_id = "_not_our_request";
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, IDP, KENC, &x, &a, &e), -1);
	assert_non_null(strstr(e.msg, "InResponseTo"));

	x = f.x;
	x.sp_entity_id = "https://another.example.se/sp";
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, IDP, KENC, &x, &a, &e), -1);
	assert_non_null(strstr(e.msg, "Audience"));

	x = f.x;
	x.acs_url = "https://sign.efos.example.se/other-acs";
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, IDP, KENC, &x, &a, &e), -1);
	assert_non_null(strstr(e.msg, "Destination"));

	x = f.x;
	x.now = f.now + 3 * 3600;   /* expired */
	x.max_age_s = 24 * 3600;
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, IDP, KENC, &x, &a, &e), -1);
	assert_non_null(strstr(e.msg, "NotOnOrAfter"));

	x = f.x;
	x.now = f.now + 600;        /* within the validity but too old */
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, IDP, KENC, &x, &a, &e), -1);
	assert_non_null(strstr(e.msg, "IssueInstant"));

	x = f.x;
	static const char *const loa3[] = { "http://id.elegnamnden.se/loa/1.0/loa3" };
	x.loas = loa3;
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, IDP, KENC, &x, &a, &e), -1);
	assert_non_null(strstr(e.msg, "AuthnContextClassRef"));

	x = f.x;
	x.sent_at = f.now + 300;    /* ForceAuthn: the authentication is older than the request */
	x.now = f.now + 302;
	x.max_age_s = 3600;
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, IDP, KENC, &x, &a, &e), -1);
	assert_non_null(strstr(e.msg, "AuthnInstant"));

	/* signed by another key than the one in the IdP's metadata */
	struct sig_idp other = *IDP;
	EVP_PKEY *ok = X509_get0_pubkey(OTHER_CERT);
	other.signing_keys = &ok;
	other.n_signing_keys = 1;
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, &other, KENC, &f.x, &a, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);

	/* from another IdP than the one asked */
	other = *IDP;
	other.entity_id = "https://other-idp.example.se";
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, &other, KENC, &f.x, &a, &e), -1);
	assert_non_null(strstr(e.msg, "Issuer"));

	char *xml = unb64(f.r.b64);
	/* tampered ciphertext (Response signed): the signature breaks */
	char *t = strdup(xml);
	char *cv = strstr(strstr(strstr(t, "<xenc:CipherValue>") + 1, "<xenc:CipherValue>"), ">") + 5;
	*cv = *cv == 'A' ? 'B' : 'A';
	assert_int_equal(process_xml(t, IDP, &f.x, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);
	free(t);

	/* unsigned: the Response signature removed, the Assertion was never signed */
	t = strdup(xml);
	strip_signature(t, "<samlp:Response");
	assert_int_equal(process_xml(t, IDP, &f.x, &e), -1);
	assert_non_null(strstr(e.msg, "neither"));
	free(t);

	/* XSW 1: a second (forged, plain) assertion beside the encrypted one */
	t = NULL;
	const char *ea = strstr(xml, "<saml:EncryptedAssertion");
	assert_non_null(ea);
	assert_true(asprintf(&t, "%.*s<saml:Assertion ID=\"_evil\" Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\">"
				 "<saml:Issuer>" IDP_ID "</saml:Issuer></saml:Assertion>%s",
			     (int)(ea - xml), xml, ea) > 0);
	assert_int_equal(process_xml(t, IDP, &f.x, &e), -1);
	free(t);
	/* XSW 2: the signed Response wrapped inside the Extensions of a forged one, whose own
	 * (unsigned) assertion is a copy of the encrypted one */
	const char *root = strstr(xml, "<samlp:Response");
	const char *root_end = strstr(root, "</samlp:Response>") + strlen("</samlp:Response>");
	const char *ea_end = strstr(ea, "</saml:EncryptedAssertion>") + strlen("</saml:EncryptedAssertion>");
	char ii[32];
	strftime(ii, sizeof ii, "%Y-%m-%dT%H:%M:%SZ", gmtime(&f.now));
	assert_true(asprintf(&t, "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
				 "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_evil\" Version=\"2.0\" "
				 "IssueInstant=\"%s\" Destination=\"" SS_ACS "\" InResponseTo=\"%s\"><samlp:Extensions>%.*s"
				 "</samlp:Extensions><samlp:Status><samlp:StatusCode "
				 "Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>%.*s</samlp:Response>",
			     ii, f.o.id, (int)(root_end - root), root, (int)(ea_end - ea), ea) > 0);
	assert_int_equal(process_xml(t, IDP, &f.x, &e), -1);
	assert_non_null(strstr(e.msg, "neither"));
	free(t);
	/* garbage */
	assert_int_equal(sp_response_process("!!!", 3, IDP, KENC, &f.x, &a, &e), -1);
	assert_int_equal(process_xml("<!DOCTYPE a [<!ENTITY b \"c\">]><a>&b;</a>", IDP, &f.x, &e), -1);
	free(xml);
	flow_free(&f);
}

/* The assertion signed, the Response signature removed: accepted; then the ciphertext tampered:
 * decryption (GCM tag / CBC padding) or the parse of the result refuses it. */
static void assertion_signed(bool gcm)
{
	struct flow f;
	flow_run(&f, true, gcm);
	efos_err e = { 0 };
	char *xml = unb64(f.r.b64);
	strip_signature(xml, "<samlp:Response");
	if (process_xml(xml, IDP, &f.x, &e) != 0)
		fail_msg("unsigned Response, signed assertion: %s", e.msg);
	char *cv = strstr(strstr(strstr(xml, "<xenc:CipherValue>") + 1, "<xenc:CipherValue>"), ">") + 30;
	*cv = *cv == 'A' ? 'B' : 'A';
	assert_int_equal(process_xml(xml, IDP, &f.x, &e), -1);
	assert_non_null(strstr(e.msg, "could not be decrypted"));
	free(xml);
	flow_free(&f);
}

static void test_response_assertion_signed(void **state)
{
	assertion_signed(false);
	assertion_signed(true);
}

static void test_response_status(void **state)
{
	init_ss_sp();
	struct flow f;
	f.now = time(NULL);
	request_and_intake(&f.o, &f.req, f.now);
	struct idp_response_keys k = { .idp_entity_id = IDP_ID, .sign_key = KIDP, .nameid_secret = SECRET };
	struct idp_status st = { .top = "urn:oasis:names:tc:SAML:2.0:status:Responder", .second = SP_STATUS_CANCEL };
	snprintf(st.message, sizeof st.message, "The user cancelled");
	efos_err e = { 0 };
	if (idp_response_build_error(&k, &f.req, &st, f.now, &f.r, &e) != 0)
		fail_msg("idp_response_build_error: %s", e.msg);
	struct sp_expect x = { .sp_entity_id = SS_ID, .acs_url = SS_ACS, .request_id = f.o.id, .loas = LOAS,
			       .n_loas = 1, .sent_at = f.now, .now = f.now };
	struct sp_assertion *a = NULL;
	assert_int_equal(sp_response_process(f.r.b64, f.r.b64_len, IDP, KENC, &x, &a, &e), SP_RESPONSE_STATUS);
	assert_string_equal(a->status, "urn:oasis:names:tc:SAML:2.0:status:Responder");
	assert_string_equal(a->sub_status, SP_STATUS_CANCEL);
	assert_string_equal(a->status_message, "The user cancelled");
	assert_null(a->id);
	sp_assertion_free(a);
	/* an unsigned error status is not believed */
	char *xml = unb64(f.r.b64);
	strip_signature(xml, "<samlp:Response");
	assert_int_equal(process_xml(xml, IDP, &x, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);
	free(xml);
	sp_authn_out_free(&f.o);
	idp_authn_request_free(&f.req);
	idp_response_out_free(&f.r);
}

/* A plain (unencrypted) Assertion signed by the IdP, in an unsigned Response: the fuzz seed made
 * by tests/fuzz/seeds_sp_response.sh with xmlsec1 (an independent signer), clock fixed at the
 * seed's time. Accepted; a changed NameID breaks the signature; the same Assertion unsigned is
 * refused. */
static char *slurp(const char *rel)
{
	const char *top = getenv("EFOS_TOP");
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", top ? top : ".", rel);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s (run from the top of the tree or set EFOS_TOP)", path);
	char *buf = calloc(1, 256 * 1024);
	size_t n = fread(buf, 1, 256 * 1024 - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void test_response_plain_signed_assertion(void **state)
{
	char *pem = slurp("tests/fuzz/sp_response_idp_cert.pem");
	char *xml = slurp("tests/fuzz/corpus/fuzz_sp_response/signed_assertion.xml");
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *c = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(c);
	EVP_PKEY *k = X509_get0_pubkey(c);
	static const char *const loa[] = { LOA4 };
	struct sig_idp idp = { .entity_id = "https://idp.example.se/idp", .signing_keys = &k, .n_signing_keys = 1 };
	struct sp_expect x = { .sp_entity_id = "https://sign.example.se/sigservice", .acs_url = "https://sign.example.se/sign/acs",
			       .request_id = "_req1", .loas = loa, .n_loas = 1, .sent_at = 1767225600, .force_authn = true,
			       .now = 1767225610 };
	efos_err e = { 0 };
	char *v = b64(xml);
	struct sp_assertion *a = NULL;
	if (sp_response_process(v, strlen(v), &idp, NULL, &x, &a, &e) != 0)
		fail_msg("plain signed assertion: %s", e.msg);
	assert_string_equal(a->id, "_a1");
	assert_string_equal(a->name_id, "abc123");
	assert_string_equal(sp_assertion_attr(a, ATTR_PERSONAL_IDENTITY_NUMBER), PNR);
	assert_non_null(strstr((char *)a->xml, "<saml:Assertion"));
	char why[200];
	assert_int_equal(sign_message_digest_check(a->sign_message_digest, (const unsigned char *)MSG, strlen(MSG), why,
						   sizeof why), 0);
	sp_assertion_free(a);
	free(v);
	/* a changed NameID */
	char *t = strdup(xml);
	memcpy(strstr(t, ">abc123<") + 1, "xyz", 3);
	assert_int_equal(process_xml(t, &idp, &x, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);
	free(t);
	/* the signature removed */
	t = strdup(xml);
	strip_signature(t, "<saml:Assertion");
	assert_int_equal(process_xml(t, &idp, &x, &e), -1);
	assert_non_null(strstr(e.msg, "must be signed"));
	free(t);
	/* too large to look at */
	assert_int_equal(sp_response_process(xml, SP_RESPONSE_MAX_B64 + 1, &idp, NULL, &x, &a, &e), -1);
	assert_int_equal(e.code, EFOS_E_TOOBIG);
	X509_free(c);
	free(pem);
	free(xml);
}

/* ---- SAD ------------------------------------------------------------------------------------------ */

static char *SAD_VALUES[] = { (char *)PNR };
static struct dss_attr SAD_ATTRS[] = { { .name = (char *)ATTR_PERSONAL_IDENTITY_NUMBER, .values = SAD_VALUES,
					 .n_values = 1 } };

static char *make_sad(struct hsm_key *k, const char *iss, const char *aud, time_t now)
{
	struct idp_sad_params p = { .iss = iss, .aud = aud, .sub = PNR, .attr = ATTR_PERSONAL_IDENTITY_NUMBER,
				    .loa = LOA4, .irt = "_sad1", .reqid = "req-1", .docs = 2, .now = now };
	char *jwt = NULL;
	efos_err e = { 0 };
	if (idp_sad_build(k, &p, &jwt, &e) != 0)
		fail_msg("idp_sad_build: %s", e.msg);
	return jwt;
}

static void sad_refused(const char *jwt, const struct sig_idp *idp, const struct sp_assertion *a,
			 const struct sad_expect *x, const char *check)
{
	char why[300] = "";
	assert_int_equal(sad_verify(jwt, idp, a, x, why, sizeof why), -1);
	if (strstr(why, check) == NULL)
		fail_msg("expected \"%s\", got \"%s\"", check, why);
}

static void test_sad(void **state)
{
	time_t now = time(NULL);
	struct sp_assertion a = { .issuer = (char *)IDP_ID, .loa = (char *)LOA4, .attrs = SAD_ATTRS, .n_attrs = 1 };
	struct sad_expect x = { .sp_entity_id = SS_ID, .sad_request_id = "_sad1", .sign_request_id = "req-1",
				.doc_count = 2, .now = now };
	char why[300] = "";
	char *good = make_sad(KIDP, IDP_ID, SS_ID, now);
	if (sad_verify(good, IDP, &a, &x, why, sizeof why) != 0)
		fail_msg("valid SAD: %s", why);

	/* EC (ES256) with an EC key in the metadata */
	char *ec = make_sad(KEC, IDP_ID, SS_ID, now);
	struct sig_idp eidp = *IDP;
	EVP_PKEY *keys[2] = { IDP->signing_keys[0], hsm_key_public(KEC) };
	eidp.signing_keys = keys;
	eidp.n_signing_keys = 2;
	if (sad_verify(ec, &eidp, &a, &x, why, sizeof why) != 0)
		fail_msg("ES256 SAD: %s", why);
	sad_refused(ec, IDP, &a, &x, "check 1 ");   /* EC key not in the metadata */
	free(ec);

	/* 1: another key; a tampered payload; alg none */
	char *bad = make_sad(KOTHER, IDP_ID, SS_ID, now);
	sad_refused(bad, IDP, &a, &x, "check 1 ");
	free(bad);
	char *t = strdup(good);
	char *dot = strchr(t, '.');
	dot[3] = dot[3] == 'A' ? 'B' : 'A';
	sad_refused(t, IDP, &a, &x, "check 1 ");
	free(t);
	const char *none = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.";
	sad_refused(none, IDP, &a, &x, "check 1 ");
	/* 2: version */
	struct sad_expect y = x;
	y.version = "1.1";
	sad_refused(good, IDP, &a, &y, "check 2 ");
	/* 3: audience */
	bad = make_sad(KIDP, IDP_ID, "https://other-sigservice.example.se", now);
	sad_refused(bad, IDP, &a, &x, "check 3 ");
	free(bad);
	/* 4: issuer */
	bad = make_sad(KIDP, "https://other-idp.example.se", SS_ID, now);
	sad_refused(bad, IDP, &a, &x, "check 4 ");
	free(bad);
	/* 5: expired, and issued in the future */
	y = x;
	y.now = now + 3600;
	sad_refused(good, IDP, &a, &y, "check 5 ");
	y.now = now - 3600;
	sad_refused(good, IDP, &a, &y, "check 5 ");
	/* 6: irt */
	y = x;
	y.sad_request_id = "_another";
	sad_refused(good, IDP, &a, &y, "check 6 ");
	/* 7: sub not in the assertion */
	char *other_v[] = { (char *)"197802031877" };
	struct dss_attr other_attrs[] = { { .name = (char *)ATTR_PERSONAL_IDENTITY_NUMBER, .values = other_v,
					    .n_values = 1 } };
	struct sp_assertion b = a;
	b.attrs = other_attrs;
	sad_refused(good, IDP, &b, &x, "check 7 ");
	/* 8: LoA */
	b = a;
	b.loa = (char *)"http://id.elegnamnden.se/loa/1.0/loa3";
	sad_refused(good, IDP, &b, &x, "check 8 ");
	/* 9: reqid */
	y = x;
	y.sign_request_id = "req-2";
	sad_refused(good, IDP, &a, &y, "check 9 ");
	/* 10: docs */
	y = x;
	y.doc_count = 3;
	sad_refused(good, IDP, &a, &y, "check 10 ");
	/* no SAD, garbage */
	assert_int_equal(sad_verify(NULL, IDP, &a, &x, why, sizeof why), -1);
	assert_int_equal(sad_verify("a.b", IDP, &a, &x, why, sizeof why), -1);
	assert_int_equal(sad_verify("a.b.c.d", IDP, &a, &x, why, sizeof why), -1);
	free(good);
}

static void test_sign_message_digest(void **state)
{
	char why[300];
	const char *v = "http://www.w3.org/2001/04/xmlenc#sha256;0yKaSVsYeh+PX2Q6diqO2w89+a3Dm303tp3AVjgxwj0=";
	assert_int_equal(sign_message_digest_check(v, (const unsigned char *)MSG, strlen(MSG), why, sizeof why), 0);
	assert_int_equal(sign_message_digest_check(v, (const unsigned char *)"I hereby", 8, why, sizeof why), -1);
	assert_non_null(strstr(why, "does not match"));
	const char *sha1 = "http://www.w3.org/2000/09/xmldsig#sha1;AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	assert_int_equal(sign_message_digest_check(sha1, (const unsigned char *)MSG, strlen(MSG), why, sizeof why), -1);
	assert_non_null(strstr(why, "not sha256"));
	assert_int_equal(sign_message_digest_check("no-semicolon", (const unsigned char *)MSG, strlen(MSG), why,
						   sizeof why), -1);
	assert_int_equal(sign_message_digest_check(NULL, (const unsigned char *)MSG, strlen(MSG), why, sizeof why), -1);
	/* sha512 computed here */
	unsigned char d[64];
	unsigned int dl = 0;
	EVP_Digest(MSG, strlen(MSG), d, &dl, EVP_sha512(), NULL);
	char b[200], val[300];
	EVP_EncodeBlock((unsigned char *)b, d, (int)dl);
	snprintf(val, sizeof val, "http://www.w3.org/2001/04/xmlenc#sha512;%s", b);
	assert_int_equal(sign_message_digest_check(val, (const unsigned char *)MSG, strlen(MSG), why, sizeof why), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idp_metadata),
		cmocka_unit_test(test_authn_request),
		cmocka_unit_test(test_response_success),
		cmocka_unit_test(test_response_refusals),
		cmocka_unit_test(test_response_assertion_signed),
		cmocka_unit_test(test_response_status),
		cmocka_unit_test(test_response_plain_signed_assertion),
		cmocka_unit_test(test_sad),
		cmocka_unit_test(test_sign_message_digest),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
