/* hsm_xmldsig_sign(): a SAML-like document signed with HSM keys (RSA-2048 PKCS#1, RSA-PSS,
 * P-256) verifies (a) with xmlsec in-process using the public key and (b) with the xmlsec1
 * command; a tampered document fails both. Unsupported templates are refused. */
#include <sys/stat.h>
#include <unistd.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/templates.h>
#include <xmlsec/crypto.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/errors.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include "hsm/bridge.h"
#include "test_hsm_common.h"

#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
static struct hsm *H;
static struct hsm_key *KRSA, *KEC;
static char pem_rsa[4096], pem_ec[1024];
static char tmpdir[512];

static const char doc_text[] =
	"<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_r1\" Version=\"2.0\" "
	"IssueInstant=\"2026-01-01T00:00:00Z\">"
	"<saml:Issuer xmlns:saml=\"" NS_SAML "\">https://idp.example.se</saml:Issuer>"
	"<saml:Assertion xmlns:saml=\"" NS_SAML "\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"_a1\" Version=\"2.0\" "
	"IssueInstant=\"2026-01-01T00:00:00Z\">"
	"<saml:Issuer>https://idp.example.se</saml:Issuer>"
	"<saml:Subject><saml:NameID>197001011234</saml:NameID></saml:Subject>"
	"<!-- comments are not signed -->"
	"<saml:AttributeStatement><saml:Attribute Name=\"urn:oid:2.5.4.42\">"
	"<saml:AttributeValue xsi:type=\"xs:string\">Åsa</saml:AttributeValue>"
	"</saml:Attribute></saml:AttributeStatement>"
	"</saml:Assertion></samlp:Response>";

static void pub_pem(struct hsm_key *k, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(b, hsm_key_public(k)), 1);
	int n = BIO_read(b, out, (int)cap - 1);
	assert_true(n > 0);
	out[n] = '\0';
	BIO_free(b);
}

static xmlNodePtr find_el(xmlDocPtr doc, const char *name)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	char expr[128];
	snprintf(expr, sizeof expr, "//*[local-name()='%s']", name);
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	xmlNodePtr n = o && o->nodesetval && o->nodesetval->nodeNr > 0 ? o->nodesetval->nodeTab[0] : NULL;
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return n;
}

static void register_ids(xmlDocPtr doc)
{
	xmlNodePtr nodes[2] = { xmlDocGetRootElement(doc), find_el(doc, "Assertion") };
	for (int i = 0; i < 2; i++) {
		xmlAttrPtr a = xmlHasProp(nodes[i], BAD_CAST "ID");
		xmlChar *v = xmlNodeListGetString(doc, a->children, 1);
		xmlAddID(NULL, doc, v, a);
		xmlFree(v);
	}
}

/* Puts a signature template in the Assertion (after its Issuer) or the Response. */
static xmlNodePtr add_template(xmlDocPtr doc, bool whole_document, xmlSecTransformId c14n,
			       xmlSecTransformId sigm, xmlSecTransformId digest, const char *prefixes)
{
	xmlNodePtr target = whole_document ? xmlDocGetRootElement(doc) : find_el(doc, "Assertion");
	xmlNodePtr sig = xmlSecTmplSignatureCreateNsPref(doc, c14n, sigm, NULL, BAD_CAST "ds");
	xmlNodePtr issuer = xmlFirstElementChild(target);
	xmlAddNextSibling(issuer, sig);
	xmlNodePtr ref = xmlSecTmplSignatureAddReference(sig, digest, NULL,
							 BAD_CAST (whole_document ? "" : "#_a1"), NULL);
	assert_non_null(xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId));
	xmlNodePtr t = xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId);
	if (prefixes)
		assert_int_equal(xmlSecTmplTransformAddC14NInclNamespaces(t, BAD_CAST prefixes), 0);
	return sig;
}

static xmlDocPtr parse(const char *text, int len)
{
	xmlDocPtr doc = xmlReadMemory(text, len, "test.xml", NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	return doc;
}

/* (a) xmlsec in-process, on the serialised and re-parsed document */
static bool verify_xmlsec(const char *xml, int len, const char *pem)
{
	xmlDocPtr doc = parse(xml, len);
	register_ids(doc);
	xmlNodePtr sig = xmlSecFindNode(xmlDocGetRootElement(doc), xmlSecNodeSignature, xmlSecDSigNs);
	assert_non_null(sig);
	xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
	ctx->signKey = xmlSecCryptoAppKeyLoadMemory((const xmlSecByte *)pem, strlen(pem),
						    xmlSecKeyDataFormatPem, NULL, NULL, NULL);
	assert_non_null(ctx->signKey);
	bool ok = xmlSecDSigCtxVerify(ctx, sig) == 0 && ctx->status == xmlSecDSigStatusSucceeded;
	xmlSecDSigCtxDestroy(ctx);
	xmlFreeDoc(doc);
	return ok;
}

/* (b) the xmlsec1 command */
static bool verify_cli(const char *xml, int len, const char *pem)
{
	char xf[600], kf[600], cmd[2048];
	snprintf(xf, sizeof xf, "%s/signed.xml", tmpdir);
	snprintf(kf, sizeof kf, "%s/key.pem", tmpdir);
	FILE *f = fopen(xf, "w");
	fwrite(xml, 1, (size_t)len, f);
	fclose(f);
	f = fopen(kf, "w");
	fputs(pem, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "xmlsec1 --verify --pubkey-pem '%s' --id-attr:ID '" NS_SAML ":Assertion' "
		 "--id-attr:ID 'urn:oasis:names:tc:SAML:2.0:protocol:Response' '%s' >'%s/cli.log' 2>&1",
		 kf, xf, tmpdir);
	return system(cmd) == 0;
}

static void sign_and_check(struct hsm_key *k, const char *pem, bool whole_document, bool register_first,
			   xmlSecTransformId sigm, xmlSecTransformId digest, const char *prefixes)
{
	efos_err e = { 0 };
	xmlDocPtr doc = parse(doc_text, sizeof doc_text - 1);
	if (register_first)
		register_ids(doc);
	xmlNodePtr sig = add_template(doc, whole_document, xmlSecTransformExclC14NId, sigm, digest, prefixes);
	if (hsm_xmldsig_sign(sig, k, &e) != 0)
		fail_msg("hsm_xmldsig_sign: %s", e.msg);
	xmlChar *out = NULL;
	int len = 0;
	xmlDocDumpMemory(doc, &out, &len);
	assert_true(verify_xmlsec((char *)out, len, pem));
	assert_true(verify_cli((char *)out, len, pem));

	/* tampered: the NameID changed after signing */
	char *t = strstr((char *)out, "197001011234");
	assert_non_null(t);
	t[11] = '5';
	assert_false(verify_xmlsec((char *)out, len, pem));
	assert_false(verify_cli((char *)out, len, pem));
	xmlFree(out);
	xmlFreeDoc(doc);
}

static void test_rsa_sha256(void **state)
{
	sign_and_check(KRSA, pem_rsa, false, true, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id, NULL);
}

static void test_rsa_variants(void **state)
{
	/* ID not registered by the caller: resolved through the ID attribute */
	sign_and_check(KRSA, pem_rsa, false, false, xmlSecTransformRsaSha512Id, xmlSecTransformSha384Id, "xs");
	/* URI="" over the whole document */
	sign_and_check(KRSA, pem_rsa, true, true, xmlSecTransformRsaSha384Id, xmlSecTransformSha512Id, NULL);
}

static void test_ecdsa_p256(void **state)
{
	sign_and_check(KEC, pem_ec, false, true, xmlSecTransformEcdsaSha256Id, xmlSecTransformSha256Id, "xs xsi");
	sign_and_check(KEC, pem_ec, true, false, xmlSecTransformEcdsaSha512Id, xmlSecTransformSha256Id, NULL);
}

/* xmlsec 1.2.37 has no RSA-PSS, so SignedInfo is canonicalised here through XPath (the way
 * the XML-DSig spec defines the node set, not the callback hsm/ uses) and checked by OpenSSL. */
static void test_rsa_pss(void **state)
{
	efos_err e = { 0 };
	xmlDocPtr doc = parse(doc_text, sizeof doc_text - 1);
	register_ids(doc);
	xmlNodePtr sig = add_template(doc, false, xmlSecTransformExclC14NId, xmlSecTransformRsaSha256Id,
				      xmlSecTransformSha256Id, NULL);
	xmlNodePtr sm = find_el(doc, "SignatureMethod");
	xmlSetProp(sm, BAD_CAST "Algorithm", BAD_CAST "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1");
	if (hsm_xmldsig_sign(sig, KRSA, &e) != 0)
		fail_msg("hsm_xmldsig_sign: %s", e.msg);

	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathRegisterNs(ctx, BAD_CAST "ds", BAD_CAST "http://www.w3.org/2000/09/xmldsig#");
	xmlXPathObjectPtr o = xmlXPathEvalExpression(
		BAD_CAST "(//. | //@* | //namespace::*)[ancestor-or-self::ds:SignedInfo]", ctx);
	xmlChar *c14n = NULL;
	int clen = xmlC14NDocDumpMemory(doc, o->nodesetval, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &c14n);
	assert_true(clen > 0);
	xmlChar *b64 = xmlNodeGetContent(find_el(doc, "SignatureValue"));
	unsigned char sigbin[512];
	int b64len = xmlStrlen(b64);
	int siglen = EVP_DecodeBlock(sigbin, b64, b64len);
	for (int i = b64len - 1; i >= 0 && b64[i] == '='; i--)
		siglen--; /* EVP_DecodeBlock counts the padding */
	assert_int_equal(siglen, 256);
	unsigned char dgst[32];
	unsigned int dlen;
	EVP_Digest(c14n, (size_t)clen, dgst, &dlen, EVP_sha256(), NULL);
	assert_true(test_verify_digest(hsm_key_public(KRSA), EVP_sha256(), HSM_PAD_PSS, dgst, dlen, sigbin, 256));
	assert_false(test_verify_digest(hsm_key_public(KRSA), EVP_sha256(), HSM_PAD_PKCS1, dgst, dlen, sigbin, 256));
	xmlFree(b64);
	xmlFree(c14n);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
}

static void expect_refused(xmlSecTransformId c14n, xmlSecTransformId sigm, xmlSecTransformId digest,
			   struct hsm_key *k, const char *what)
{
	efos_err e = { 0 };
	xmlDocPtr doc = parse(doc_text, sizeof doc_text - 1);
	register_ids(doc);
	xmlNodePtr sig = add_template(doc, false, c14n, sigm, digest, NULL);
	assert_int_equal(hsm_xmldsig_sign(sig, k, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	if (strstr(e.msg, what) == NULL)
		fail_msg("expected '%s' in: %s", what, e.msg);
	xmlFreeDoc(doc);
}

static void test_refuses_unsupported(void **state)
{
	expect_refused(xmlSecTransformInclC14NId, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id, KRSA, "CanonicalizationMethod");
	expect_refused(xmlSecTransformExclC14NId, xmlSecTransformRsaSha1Id, xmlSecTransformSha256Id, KRSA, "SignatureMethod");
	expect_refused(xmlSecTransformExclC14NId, xmlSecTransformRsaSha256Id, xmlSecTransformSha1Id, KRSA, "DigestMethod");
	expect_refused(xmlSecTransformExclC14NId, xmlSecTransformEcdsaSha256Id, xmlSecTransformSha256Id, KRSA, "does not fit");

	/* a duplicate ID, not registered: refused rather than guessing which element is meant */
	efos_err e = { 0 };
	static const char dup[] = "<r><a ID=\"_x\"/><b ID=\"_x\"/></r>";
	xmlDocPtr doc = parse(dup, sizeof dup - 1);
	xmlNodePtr sig = xmlSecTmplSignatureCreateNsPref(doc, xmlSecTransformExclC14NId, xmlSecTransformRsaSha256Id, NULL, BAD_CAST "ds");
	xmlAddChild(xmlDocGetRootElement(doc), sig);
	xmlNodePtr ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL, BAD_CAST "#_x", NULL);
	xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId);
	assert_int_equal(hsm_xmldsig_sign(sig, KRSA, &e), -1);
	assert_non_null(strstr(e.msg, "several"));
	/* an XPointer URI */
	xmlSetProp(ref, BAD_CAST "URI", BAD_CAST "#xpointer(/)");
	assert_int_equal(hsm_xmldsig_sign(sig, KRSA, &e), -1);
	assert_non_null(strstr(e.msg, "not supported"));
	xmlFreeDoc(doc);
}

static int setup(void **state)
{
	xmlInitParser();
	xmlSecErrorsDefaultCallbackEnableOutput(0); /* tampered documents fail noisily otherwise */
	if (xmlSecInit() < 0 || xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0)
		fail_msg("xmlsec init failed");
	snprintf(tmpdir, sizeof tmpdir, "%s/xmldsig-%d", test_env("EFOS_TEST_DIR"), (int)getpid());
	mkdir(tmpdir, 0700);
	H = test_hsm_open(2);
	KRSA = test_session_key(H, HSM_KEY_RSA, 2048, "test-xmldsig-rsa");
	KEC = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "test-xmldsig-ec");
	pub_pem(KRSA, pem_rsa, sizeof pem_rsa);
	pub_pem(KEC, pem_ec, sizeof pem_ec);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];
	hsm_key_free(KRSA);
	hsm_key_free(KEC);
	hsm_close(H);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return -1;
	xmlSecCryptoShutdown();
	xmlSecCryptoAppShutdown();
	xmlSecShutdown();
	xmlCleanupParser();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsa_sha256),
		cmocka_unit_test(test_rsa_variants),
		cmocka_unit_test(test_ecdsa_p256),
		cmocka_unit_test(test_rsa_pss),
		cmocka_unit_test(test_refuses_unsupported),
	};
	return cmocka_run_group_tests_name("bridge_xmldsig", tests, setup, teardown);
}
