/* core/xml: untrusted parsing, ID registration, strict XML-DSig verification.
 *
 * A receiver (the function receive() below, what idp/ and an SP do with a Response) parses,
 * registers IDs, takes the one Assertion, verifies its signature with the trusted key and
 * reads the NameID from the element the verifier returned. A document signed by xmlsec with an
 * in-memory key verifies; so do documents signed by hsm_xmldsig_sign (RSA, RSA-PSS, P-256 in
 * the test token) and by the xmlsec1 command. Then each attack that broke a SAML library is
 * sent and must be refused with its own message. */
#include <sys/stat.h>
#include <unistd.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/templates.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/openssl/evp.h>
#include <openssl/pem.h>
#include "core/xml.h"
#include "hsm/bridge.h"
#include "test_hsm_common.h"

#define NS_SAMLP "urn:oasis:names:tc:SAML:2.0:protocol"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"

static EVP_PKEY *K_IDP, *K_EVIL, *K_EC, *K_WEAK;
static char tmpdir[512];

static const char response_text[] =
	"<samlp:Response xmlns:samlp=\"" NS_SAMLP "\" xmlns:saml=\"" NS_SAML "\" ID=\"_r1\" Version=\"2.0\" "
	"IssueInstant=\"2026-01-01T00:00:00Z\">"
	"<saml:Issuer>https://idp.example.se</saml:Issuer>"
	"<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>"
	"<saml:Assertion xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"_a1\" Version=\"2.0\" "
	"IssueInstant=\"2026-01-01T00:00:00Z\">"
	"<saml:Issuer>https://idp.example.se</saml:Issuer>"
	"<saml:Subject><saml:NameID>user@good.com</saml:NameID></saml:Subject>"
	"<saml:AttributeStatement><saml:Attribute Name=\"urn:oid:2.5.4.42\">"
	"<saml:AttributeValue xsi:type=\"xs:string\">Åsa</saml:AttributeValue>"
	"</saml:Attribute></saml:AttributeStatement>"
	"</saml:Assertion></samlp:Response>";

/* ---- helpers ------------------------------------------------------------------------- */

static EVP_PKEY *gen_rsa(unsigned bits)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	assert_non_null(k);
	return k;
}

static xmlNodePtr find_el(xmlDocPtr doc, const char *name, int nth)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	char expr[128];
	snprintf(expr, sizeof expr, "//*[local-name()='%s']", name);
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	xmlNodePtr n = o && o->nodesetval && o->nodesetval->nodeNr > nth ? o->nodesetval->nodeTab[nth] : NULL;
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return n;
}

static xmlDocPtr parse_ok(const char *text, size_t len, bool comments)
{
	struct xml_limits lim = xml_limits_message;
	lim.allow_comments = comments;
	xmlDocPtr doc = NULL;
	efos_err e = { 0 };
	if (xml_parse_untrusted(text, len, &lim, &doc, &e) != 0)
		fail_msg("parse: %s", e.msg);
	return doc;
}

static xmlDocPtr response_doc(void)
{
	xmlDocPtr doc = parse_ok(response_text, sizeof response_text - 1, false);
	efos_err e = { 0 };
	assert_int_equal(xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, &e), 0);
	return doc;
}

/* An xmlsec signature template placed after target's first child (its Issuer). */
static xmlNodePtr add_template(xmlNodePtr target, const char *uri, xmlSecTransformId sigm,
			       xmlSecTransformId digest, const char *prefixes)
{
	xmlNodePtr sig = xmlSecTmplSignatureCreateNsPref(target->doc, xmlSecTransformExclC14NId, sigm, NULL, BAD_CAST "ds");
	assert_non_null(sig);
	xmlAddNextSibling(xmlFirstElementChild(target), sig);
	xmlNodePtr ref = xmlSecTmplSignatureAddReference(sig, digest, NULL, BAD_CAST uri, NULL);
	assert_non_null(xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId));
	xmlNodePtr t = xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId);
	if (prefixes)
		assert_int_equal(xmlSecTmplTransformAddC14NInclNamespaces(t, BAD_CAST prefixes), 0);
	return sig;
}

static void xmlsec_sign(xmlNodePtr sig, EVP_PKEY *k)
{
	EVP_PKEY_up_ref(k);
	xmlSecKeyDataPtr data = xmlSecOpenSSLEvpKeyAdopt(k);
	assert_non_null(data);
	xmlSecKeyPtr key = xmlSecKeyCreate();
	assert_int_equal(xmlSecKeySetValue(key, data), 0);
	xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
	ctx->signKey = key;
	if (xmlSecDSigCtxSign(ctx, sig) != 0)
		fail_msg("xmlsec sign failed");
	xmlSecDSigCtxDestroy(ctx);
}

/* The Response with its Assertion signed by k (xmlsec, in memory). */
static xmlDocPtr signed_response(EVP_PKEY *k, xmlSecTransformId sigm, xmlSecTransformId digest)
{
	xmlDocPtr doc = response_doc();
	xmlNodePtr a = find_el(doc, "Assertion", 0);
	xmlsec_sign(add_template(a, "#_a1", sigm, digest, NULL), k);
	return doc;
}

static __attribute__((noinline)) char *dump(xmlDocPtr doc, size_t *len)
{
	xmlChar *out = NULL;
	int n = 0;
	xmlDocDumpMemory(doc, &out, &n);
	assert_non_null(out);
	*len = (size_t)n;
	return (char *)out;
}

/* What a receiver does with a Response. Returns 0 and the NameID (xmlFree) or -1 with e. */
static int receive_with(const char *xml, size_t len, EVP_PKEY *const *keys, size_t nkeys, bool comments,
			char **nameid, efos_err *e)
{
	struct xml_limits lim = xml_limits_message;
	lim.allow_comments = comments;
	xmlDocPtr doc = NULL;
	xmlNodePtr a = NULL, v = NULL, subj = NULL, nid = NULL;
	xmlChar *text = NULL;
	int rc = -1;
	*nameid = NULL;
	if (xml_parse_untrusted(xml, len, &lim, &doc, e) < 0)
		return -1;
	if (xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, e) < 0 ||
	    xml_find_unique_child(xmlDocGetRootElement(doc), NS_SAML, "Assertion", &a, e) < 0)
		goto out;
	if ((v = xml_dsig_verify_element(a, NULL, keys, nkeys, &xml_dsig_policy_saml, e)) == NULL)
		goto out;
	assert_ptr_equal(v, a);
	if (xml_find_unique_child(v, NS_SAML, "Subject", &subj, e) < 0 ||
	    xml_find_unique_child(subj, NS_SAML, "NameID", &nid, e) < 0 || xml_text_content_strict(nid, &text, e) < 0)
		goto out;
	*nameid = (char *)text;
	rc = 0;
out:
	xmlFreeDoc(doc);
	return rc;
}

static int receive(const char *xml, size_t len, char **nameid, efos_err *e)
{
	return receive_with(xml, len, &K_IDP, 1, false, nameid, e);
}

static void expect_ok(const char *xml, size_t len, const char *want_nameid)
{
	efos_err e = { 0 };
	char *nameid = NULL;
	if (receive(xml, len, &nameid, &e) != 0)
		fail_msg("expected to verify, got: %s", e.msg);
	assert_string_equal(nameid, want_nameid);
	xmlFree(nameid);
}

static void expect_refused_doc(xmlDocPtr doc, const char *what)
{
	size_t len;
	char *xml = dump(doc, &len);
	efos_err e = { 0 };
	char *nameid = NULL;
	int rc = receive(xml, len, &nameid, &e);
	if (rc == 0)
		fail_msg("expected refusal (%s), but it verified; NameID %s", what, nameid);
	if (strstr(e.msg, what) == NULL)
		fail_msg("expected '%s' in: %s", what, e.msg);
	print_message("# refused as expected: %s\n", e.msg);
	xmlFree(xml);
}

static xmlNodePtr new_evil_assertion(xmlDocPtr doc, const char *id, const char *who)
{
	xmlNodePtr a = xmlNewDocNode(doc, NULL, BAD_CAST "Assertion", NULL);
	xmlSetNs(a, xmlSearchNsByHref(doc, xmlDocGetRootElement(doc), BAD_CAST NS_SAML));
	xmlSetProp(a, BAD_CAST "ID", BAD_CAST id);
	xmlSetProp(a, BAD_CAST "Version", BAD_CAST "2.0");
	xmlNewChild(a, a->ns, BAD_CAST "Issuer", BAD_CAST "https://idp.example.se");
	xmlNodePtr s = xmlNewChild(a, a->ns, BAD_CAST "Subject", NULL);
	xmlNewChild(s, a->ns, BAD_CAST "NameID", BAD_CAST who);
	return a;
}

static xmlNodePtr add_extensions(xmlDocPtr doc)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr ext = xmlNewDocNode(doc, root->ns, BAD_CAST "Extensions", NULL);
	xmlAddNextSibling(xmlFirstElementChild(root), ext);
	return ext;
}

/* ---- the good path --------------------------------------------------------------------- */

static void test_valid_rsa_and_ec(void **state)
{
	size_t len;
	xmlDocPtr doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	char *xml = dump(doc, &len);
	expect_ok(xml, len, "user@good.com");

	/* several trusted keys (a rollover): any one of them may verify */
	EVP_PKEY *keys[] = { K_EC, K_EVIL, K_IDP };
	efos_err e = { 0 };
	char *nameid = NULL;
	assert_int_equal(receive_with(xml, len, keys, 3, false, &nameid, &e), 0);
	xmlFree(nameid);

	/* the content changed after signing */
	char *t = strstr(xml, "user@good.com");
	memcpy(t, "user@evil.com", 13);
	assert_int_equal(receive(xml, len, &nameid, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);
	assert_non_null(strstr(e.msg, "digest"));
	xmlFree(xml);
	xmlFreeDoc(doc);

	doc = signed_response(K_EC, xmlSecTransformEcdsaSha384Id, xmlSecTransformSha512Id);
	xml = dump(doc, &len);
	assert_int_equal(receive_with(xml, len, &K_EC, 1, false, &nameid, &e), 0);
	assert_string_equal(nameid, "user@good.com");
	xmlFree(nameid);
	xmlFree(xml);
	xmlFreeDoc(doc);

	/* InclusiveNamespaces, sha512 with rsa-sha512 */
	doc = response_doc();
	xmlsec_sign(add_template(find_el(doc, "Assertion", 0), "#_a1", xmlSecTransformRsaSha512Id,
				 xmlSecTransformSha384Id, "xs xsi"), K_IDP);
	xml = dump(doc, &len);
	expect_ok(xml, len, "user@good.com");
	xmlFree(xml);
	xmlFreeDoc(doc);
}

/* The Response signed instead of the Assertion: verify the Response, then read from it. */
static void test_valid_signed_response(void **state)
{
	xmlDocPtr doc = response_doc();
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlsec_sign(add_template(root, "#_r1", xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id, NULL), K_IDP);
	size_t len;
	char *xml = dump(doc, &len);
	xmlFreeDoc(doc);
	doc = parse_ok(xml, len, false);
	efos_err e = { 0 };
	assert_int_equal(xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, &e), 0);
	root = xmlDocGetRootElement(doc);
	xmlNodePtr v = xml_dsig_verify_element(root, NULL, &K_IDP, 1, &xml_dsig_policy_saml, &e);
	if (v == NULL)
		fail_msg("%s", e.msg);
	assert_ptr_equal(v, root);
	/* the Assertion is not signed itself */
	xmlNodePtr a = NULL;
	assert_int_equal(xml_find_unique_child(v, NS_SAML, "Assertion", &a, &e), 0);
	assert_null(xml_dsig_verify_element(a, NULL, &K_IDP, 1, &xml_dsig_policy_saml, &e));
	assert_non_null(strstr(e.msg, "not signed"));
	xmlFreeDoc(doc);
	xmlFree(xml);
}

/* ---- parsing ----------------------------------------------------------------------------- */

static void expect_parse_refused(const char *text, const struct xml_limits *lim, enum efos_errcode code,
				 const char *what)
{
	xmlDocPtr doc = NULL;
	efos_err e = { 0 };
	assert_int_equal(xml_parse_untrusted(text, strlen(text), lim, &doc, &e), -1);
	assert_null(doc);
	assert_int_equal(e.code, code);
	if (strstr(e.msg, what) == NULL)
		fail_msg("expected '%s' in: %s", what, e.msg);
	print_message("# refused as expected: %s\n", e.msg);
}

static void test_parse_doctype_entities(void **state)
{
	static const char laughs[] =
		"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
		"<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		"<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
		"<!ENTITY lol9 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n]>\n"
		"<samlp:Response xmlns:samlp=\"" NS_SAMLP "\">&lol9;</samlp:Response>";
	expect_parse_refused(laughs, NULL, EFOS_E_INVALID, "DOCTYPE");
	static const char xxe[] =
		"<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
	expect_parse_refused(xxe, NULL, EFOS_E_INVALID, "DOCTYPE is not allowed");
	static const char ext_dtd[] = "<!DOCTYPE r SYSTEM \"http://evil.example/x.dtd\"><r/>";
	expect_parse_refused(ext_dtd, NULL, EFOS_E_INVALID, "DOCTYPE");
	static const char param[] = "<!DOCTYPE r [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><r/>";
	expect_parse_refused(param, NULL, EFOS_E_INVALID, "DOCTYPE");
	/* the same in UTF-16: the refusal is in the parser, not a byte search */
	static const char u16[] = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
	char wide[2 * sizeof u16 + 2] = { (char)0xff, (char)0xfe };
	for (size_t i = 0; i < sizeof u16 - 1; i++)
		wide[2 + 2 * i] = u16[i], wide[3 + 2 * i] = 0;
	xmlDocPtr wdoc = NULL;
	efos_err we = { 0 };
	assert_int_equal(xml_parse_untrusted(wide, 2 * sizeof u16, NULL, &wdoc, &we), -1);
	assert_non_null(strstr(we.msg, "DOCTYPE"));
	/* an entity in an attribute value */
	expect_parse_refused("<r a=\"&x;\"/>", NULL, EFOS_E_INVALID, "entity");
	/* no DOCTYPE but an entity reference */
	expect_parse_refused("<r>&x;</r>", NULL, EFOS_E_INVALID, "entity");
	/* the predefined ones are plain text */
	xmlDocPtr doc = parse_ok("<r>a&amp;b&lt;&#65;</r>", 23, false);
	xmlChar *t = NULL;
	efos_err e = { 0 };
	assert_int_equal(xml_text_content_strict(xmlDocGetRootElement(doc), &t, &e), 0);
	assert_string_equal((char *)t, "a&b<A");
	xmlFree(t);
	xmlFreeDoc(doc);
}

static void test_parse_limits(void **state)
{
	struct xml_limits lim = xml_limits_message;
	lim.max_depth = 10;
	char deep[4096] = "";
	for (int i = 0; i < 11; i++)
		strcat(deep, "<a>");
	for (int i = 0; i < 11; i++)
		strcat(deep, "</a>");
	expect_parse_refused(deep, &lim, EFOS_E_INVALID, "nested deeper than 10");
	/* 10 is fine */
	xmlDocPtr doc = NULL;
	efos_err e = { 0 };
	assert_int_equal(xml_parse_untrusted(deep + 3, strlen(deep) - 7, &lim, &doc, &e), 0);
	xmlFreeDoc(doc);
	/* libxml2's own limit is far above ours; the default is XML_LIMITS_MESSAGE_DEPTH */
	size_t n = 5000, off = 0;
	char *huge = malloc(n * 7 + 1);
	for (size_t i = 0; i < n; i++, off += 3)
		memcpy(huge + off, "<a>", 3);
	for (size_t i = 0; i < n; i++, off += 4)
		memcpy(huge + off, "</a>", 4);
	huge[off] = '\0';
	expect_parse_refused(huge, NULL, EFOS_E_INVALID, "nested deeper than 48");

	lim = xml_limits_message;
	lim.max_bytes = 100;
	expect_parse_refused(huge, &lim, EFOS_E_TOOBIG, "more than the limit of 100");
	free(huge);

	lim = xml_limits_message;
	lim.max_nodes = 50;
	char wide[4096] = "<r>";
	for (int i = 0; i < 60; i++)
		strcat(wide, "<b/>");
	strcat(wide, "</r>");
	expect_parse_refused(wide, &lim, EFOS_E_INVALID, "more than 50 nodes");
	/* attributes count too */
	char attrs[4096] = "<r";
	for (int i = 0; i < 60; i++)
		sprintf(attrs + strlen(attrs), " a%d=\"x\"", i);
	strcat(attrs, "/>");
	expect_parse_refused(attrs, &lim, EFOS_E_INVALID, "more than 50 nodes");
	/* a long text is one node, however libxml2 splits its delivery */
	char *text = malloc(200000);
	strcpy(text, "<r>");
	memset(text + 3, 'x', 150000);
	strcpy(text + 150003, "</r>");
	lim.max_nodes = 2;
	assert_int_equal(xml_parse_untrusted(text, strlen(text), &lim, &doc, &e), 0);
	xmlFreeDoc(doc);
	free(text);

	expect_parse_refused("<r><?php evil() ?></r>", NULL, EFOS_E_INVALID, "processing instruction");
	expect_parse_refused("<?xml-stylesheet href=\"x\"?><r/>", NULL, EFOS_E_INVALID, "processing instruction");
	expect_parse_refused("<r><!-- x --></r>", NULL, EFOS_E_INVALID, "comments are not allowed");
	expect_parse_refused("<r><a></r>", NULL, EFOS_E_INVALID, "line 1");
	expect_parse_refused("", NULL, EFOS_E_INVALID, "empty");
	expect_parse_refused("<r xmlns:x=\"urn:x\"><x:a/><y:b/></r>", NULL, EFOS_E_INVALID, "XML");
	expect_parse_refused("<r/>\n<r/>", NULL, EFOS_E_INVALID, "line 2");

	/* CDATA is kept and read as text */
	doc = parse_ok("<r>a<![CDATA[<b>]]>c</r>", 24, false);
	xmlChar *t = NULL;
	assert_int_equal(xml_text_content_strict(xmlDocGetRootElement(doc), &t, &e), 0);
	assert_string_equal((char *)t, "a<b>c");
	xmlFree(t);
	xmlFreeDoc(doc);
}

/* ---- IDs ------------------------------------------------------------------------------------ */

static void test_ids(void **state)
{
	efos_err e = { 0 };
	/* xml:id is registered by libxml2 itself; xml_register_ids forgets it */
	static const char t1[] = "<r xmlns:saml=\"" NS_SAML "\"><x xml:id=\"_q\"/><saml:Assertion ID=\"_a\"/></r>";
	xmlDocPtr doc = parse_ok(t1, sizeof t1 - 1, false);
	assert_non_null(xmlGetID(doc, BAD_CAST "_q"));
	assert_int_equal(xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, &e), 0);
	assert_null(xmlGetID(doc, BAD_CAST "_q"));
	assert_non_null(xmlGetID(doc, BAD_CAST "_a"));
	xmlFreeDoc(doc);

	static const char t2[] = "<r xmlns:saml=\"" NS_SAML "\"><saml:Assertion ID=\"_a\"/><saml:Assertion ID=\"_a\"/></r>";
	doc = parse_ok(t2, sizeof t2 - 1, false);
	assert_int_equal(xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, &e), -1);
	assert_non_null(strstr(e.msg, "duplicate ID"));
	xmlFreeDoc(doc);

	static const char t3[] = "<r xmlns:saml=\"" NS_SAML "\"><saml:Assertion ID=\"_a\"/><y Id=\"_a\"/></r>";
	doc = parse_ok(t3, sizeof t3 - 1, false);
	assert_int_equal(xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, &e), -1);
	assert_non_null(strstr(e.msg, "the ID of another element"));
	xmlFreeDoc(doc);

	static const char t4[] = "<r xmlns:saml=\"" NS_SAML "\"><saml:Assertion ID=\"#x(/)\"/></r>";
	doc = parse_ok(t4, sizeof t4 - 1, false);
	assert_int_equal(xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, &e), -1);
	assert_non_null(strstr(e.msg, "not a valid ID"));
	xmlFreeDoc(doc);

	/* an Assertion in another namespace is not an Assertion */
	static const char t5[] = "<r xmlns:saml=\"urn:evil\"><saml:Assertion ID=\"_a\"/></r>";
	doc = parse_ok(t5, sizeof t5 - 1, false);
	assert_int_equal(xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, &e), 0);
	assert_null(xmlGetID(doc, BAD_CAST "_a"));
	xmlFreeDoc(doc);

	xmlNodePtr c = NULL;
	static const char t6[] = "<r xmlns:saml=\"" NS_SAML "\"><saml:Assertion/><saml:Assertion/></r>";
	doc = parse_ok(t6, sizeof t6 - 1, false);
	assert_int_equal(xml_find_unique_child(xmlDocGetRootElement(doc), NS_SAML, "Assertion", &c, &e), -1);
	assert_non_null(strstr(e.msg, "2 <Assertion> children"));
	assert_int_equal(xml_find_unique_child(xmlDocGetRootElement(doc), NS_SAML, "Subject", &c, &e), -1);
	assert_non_null(strstr(e.msg, "no <Subject>"));
	xmlFreeDoc(doc);
}

/* ---- signature wrapping ---------------------------------------------------------------------- */

/* XSW7-style: the signed Assertion moved into samlp:Extensions, an unsigned evil one in its place. */
static void test_xsw_moved_to_extensions(void **state)
{
	xmlDocPtr doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlNodePtr orig = find_el(doc, "Assertion", 0);
	xmlNodePtr evil = new_evil_assertion(doc, "_evil", "admin@good.com");
	xmlAddNextSibling(orig, evil);
	xmlUnlinkNode(orig);
	xmlAddChild(add_extensions(doc), orig);
	expect_refused_doc(doc, "is not signed");
	xmlFreeDoc(doc);
}

/* XSW7/XSW5-style: the original Signature moved into the evil Assertion, which has another ID. */
static void test_xsw_signature_moved(void **state)
{
	xmlDocPtr doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlNodePtr orig = find_el(doc, "Assertion", 0);
	xmlNodePtr sig = find_el(doc, "Signature", 0);
	xmlNodePtr evil = new_evil_assertion(doc, "_evil", "admin@good.com");
	xmlAddNextSibling(orig, evil);
	xmlUnlinkNode(sig);
	xmlAddNextSibling(xmlFirstElementChild(evil), sig);
	xmlUnlinkNode(orig);
	xmlAddChild(add_extensions(doc), orig);
	expect_refused_doc(doc, "points at <Assertion>");
	xmlFreeDoc(doc);
}

/* XSW3: an evil Assertion beside the signed one: a second Assertion. */
static void test_xsw_second_assertion(void **state)
{
	xmlDocPtr doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlAddPrevSibling(find_el(doc, "Assertion", 0), new_evil_assertion(doc, "_evil", "admin@good.com"));
	expect_refused_doc(doc, "2 <Assertion> children");
	xmlFreeDoc(doc);
}

/* XSW with a copy that has the same ID, hidden in Extensions (which one does the Reference mean?). */
static void test_xsw_duplicate_id(void **state)
{
	xmlDocPtr doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlAddChild(add_extensions(doc), new_evil_assertion(doc, "_a1", "admin@good.com"));
	expect_refused_doc(doc, "duplicate ID \"_a1\"");
	xmlFreeDoc(doc);
	/* the same with a look-alike: an element no rule covers, carrying Id="_a1" */
	doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlNodePtr x = xmlNewChild(add_extensions(doc), NULL, BAD_CAST "Wrapper", NULL);
	xmlSetProp(x, BAD_CAST "Id", BAD_CAST "_a1");
	expect_refused_doc(doc, "the ID of another element");
	xmlFreeDoc(doc);
}

/* The Response's Signature (Reference #_r1) copied into an evil Assertion: it points at
 * another element than the one being verified. */
static void test_xsw_reference_to_other_element(void **state)
{
	xmlDocPtr doc = response_doc();
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr sig = add_template(root, "#_r1", xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id, NULL);
	xmlsec_sign(sig, K_IDP);
	xmlNodePtr orig = find_el(doc, "Assertion", 0);
	xmlNodePtr evil = new_evil_assertion(doc, "_evil", "admin@good.com");
	xmlAddNextSibling(orig, evil);
	xmlUnlinkNode(orig);
	xmlFreeNode(orig);
	xmlAddNextSibling(xmlFirstElementChild(evil), xmlCopyNode(sig, 1));
	expect_refused_doc(doc, "points at <Response>");
	xmlFreeDoc(doc);
}

/* XSW4: the evil Assertion wraps the original. A naive receiver that finds "the" Signature
 * anywhere below passes it in: it is not a child of the element being verified. */
static void test_xsw_wrapped_and_sig_not_child(void **state)
{
	xmlDocPtr doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlNodePtr orig = find_el(doc, "Assertion", 0);
	xmlNodePtr evil = new_evil_assertion(doc, "_evil", "admin@good.com");
	xmlAddNextSibling(orig, evil);
	xmlUnlinkNode(orig);
	xmlAddChild(evil, orig);
	expect_refused_doc(doc, "is not signed");

	size_t len;
	char *xml = dump(doc, &len);
	xmlDocPtr d2 = parse_ok(xml, len, false);
	efos_err e = { 0 };
	assert_int_equal(xml_register_ids(d2, xml_id_rules_saml, xml_id_rules_saml_n, &e), 0);
	xmlNodePtr a = NULL;
	assert_int_equal(xml_find_unique_child(xmlDocGetRootElement(d2), NS_SAML, "Assertion", &a, &e), 0);
	xmlNodePtr anysig = find_el(d2, "Signature", 0);
	assert_null(xml_dsig_verify_element(a, anysig, &K_IDP, 1, &xml_dsig_policy_saml, &e));
	assert_non_null(strstr(e.msg, "is not a child of <Assertion>"));
	print_message("# refused as expected: %s\n", e.msg);
	xmlFreeDoc(d2);
	xmlFree(xml);
	xmlFreeDoc(doc);
}

/* XSW8: the original Assertion hidden in a ds:Object of the evil Assertion's Signature. */
static void test_xsw_object(void **state)
{
	xmlDocPtr doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlNodePtr orig = find_el(doc, "Assertion", 0);
	xmlNodePtr sig = find_el(doc, "Signature", 0);
	xmlNodePtr evil = new_evil_assertion(doc, "_a1x", "admin@good.com");
	xmlAddNextSibling(orig, evil);
	xmlUnlinkNode(sig);
	xmlAddNextSibling(xmlFirstElementChild(evil), sig);
	xmlNodePtr obj = xmlNewChild(sig, sig->ns, BAD_CAST "Object", NULL);
	xmlUnlinkNode(orig);
	xmlAddChild(obj, orig);
	expect_refused_doc(doc, "ds:Object");
	xmlFreeDoc(doc);
}

/* ---- comment injection -------------------------------------------------------------------------- */

static void test_comment_injection(void **state)
{
	/* The IdP signs "user@evil.com.good.com"; the attacker inserts a comment. The signature
	 * still verifies (c14n drops comments), so the defence is reading the text strictly. */
	xmlDocPtr doc = response_doc();
	xmlNodePtr nid = find_el(doc, "NameID", 0);
	xmlNodeSetContent(nid, BAD_CAST "user@evil.com.good.com");
	xmlsec_sign(add_template(find_el(doc, "Assertion", 0), "#_a1", xmlSecTransformRsaSha256Id,
				 xmlSecTransformSha256Id, NULL), K_IDP);
	size_t len;
	char *xml = dump(doc, &len);
	char *p = strstr(xml, "user@evil.com.good.com");
	assert_non_null(p);
	size_t off = (size_t)(p - xml) + 13;
	char *evil = malloc(len + 8);
	memcpy(evil, xml, off);
	memcpy(evil + off, "<!---->", 7);
	memcpy(evil + off + 7, xml + off, len - off);
	len += 7;

	efos_err e = { 0 };
	char *nameid = NULL;
	/* profile without comments: refused at parse */
	assert_int_equal(receive(evil, len, &nameid, &e), -1);
	assert_non_null(strstr(e.msg, "comments are not allowed"));
	/* profile with comments: the signature verifies, the strict read refuses */
	assert_int_equal(receive_with(evil, len, &K_IDP, 1, true, &nameid, &e), -1);
	assert_non_null(strstr(e.msg, "comment injection"));
	print_message("# refused as expected: %s\n", e.msg);
	/* and the unmodified one reads the whole value */
	assert_int_equal(receive_with(xml, len - 7, &K_IDP, 1, true, &nameid, &e), 0);
	assert_string_equal(nameid, "user@evil.com.good.com");
	xmlFree(nameid);
	free(evil);
	xmlFree(xml);
	xmlFreeDoc(doc);
}

/* ---- keys and algorithms ------------------------------------------------------------------------- */

static void test_key_confusion(void **state)
{
	/* signed by the attacker, who puts the matching public key in KeyInfo */
	xmlDocPtr doc = response_doc();
	xmlNodePtr sig = add_template(find_el(doc, "Assertion", 0), "#_a1", xmlSecTransformRsaSha256Id,
				      xmlSecTransformSha256Id, NULL);
	xmlNodePtr ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL);
	assert_non_null(xmlSecTmplKeyInfoAddKeyValue(ki));
	xmlsec_sign(sig, K_EVIL);
	assert_non_null(find_el(doc, "Modulus", 0));
	expect_refused_doc(doc, "does not verify with any of the 1 trusted keys");
	xmlFreeDoc(doc);

	/* signed by a key that is not in the trusted list, no KeyInfo */
	doc = signed_response(K_EVIL, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	expect_refused_doc(doc, "does not verify with any");
	xmlFreeDoc(doc);

	/* an EC signature with only an RSA key trusted */
	doc = signed_response(K_EC, xmlSecTransformEcdsaSha256Id, xmlSecTransformSha256Id);
	expect_refused_doc(doc, "needs an EC key");
	xmlFreeDoc(doc);

	/* HMAC: a "key" the attacker knows (the public key bytes, say) */
	doc = response_doc();
	add_template(find_el(doc, "Assertion", 0), "#_a1", xmlSecTransformHmacSha256Id, xmlSecTransformSha256Id, NULL);
	expect_refused_doc(doc, "HMAC is refused");
	xmlFreeDoc(doc);

	/* a weak RSA key, even trusted, is refused */
	doc = signed_response(K_WEAK, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	size_t len;
	char *xml = dump(doc, &len);
	efos_err e = { 0 };
	char *nameid = NULL;
	assert_int_equal(receive_with(xml, len, &K_WEAK, 1, false, &nameid, &e), -1);
	assert_non_null(strstr(e.msg, "smaller than the minimum"));
	xmlFree(xml);
	xmlFreeDoc(doc);

	/* no keys at all */
	doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xml = dump(doc, &len);
	assert_int_equal(receive_with(xml, len, NULL, 0, false, &nameid, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);
	xmlFree(xml);
	xmlFreeDoc(doc);
}

static void test_sha1_refused(void **state)
{
	xmlDocPtr doc = signed_response(K_IDP, xmlSecTransformRsaSha1Id, xmlSecTransformSha256Id);
	expect_refused_doc(doc, "SHA-1 is refused");
	xmlFreeDoc(doc);
	doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha1Id);
	expect_refused_doc(doc, "DigestMethod http://www.w3.org/2000/09/xmldsig#sha1 refused (SHA-1 is refused)");
	xmlFreeDoc(doc);

	/* a profile that narrows the allow-list */
	static const char *const only_ec[] = { "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", NULL };
	struct xml_dsig_policy pol = xml_dsig_policy_saml;
	pol.sig_algs = only_ec;
	doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	efos_err e = { 0 };
	assert_null(xml_dsig_verify_element(find_el(doc, "Assertion", 0), NULL, &K_IDP, 1, &pol, &e));
	assert_non_null(strstr(e.msg, "not allowed by this profile"));
	xmlFreeDoc(doc);
}

static void test_transforms_refused(void **state)
{
	static const char *const bad[] = {
		"http://www.w3.org/TR/1999/REC-xpath-19991116",
		"http://www.w3.org/TR/1999/REC-xslt-19991116",
		"http://www.w3.org/2002/06/xmldsig-filter2",
		"http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		xmlDocPtr doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
		xmlNodePtr t = find_el(doc, "Transform", 1);
		xmlNodePtr extra = xmlNewDocNode(doc, t->ns, BAD_CAST "Transform", NULL);
		xmlSetProp(extra, BAD_CAST "Algorithm", BAD_CAST bad[i]);
		if (i == 0)
			xmlNewChild(extra, t->ns, BAD_CAST "XPath", BAD_CAST "not(ancestor-or-self::ds:Signature)");
		xmlAddPrevSibling(t, extra);
		expect_refused_doc(doc, "refused (only enveloped-signature and exc-c14n");
		xmlFreeDoc(doc);
	}
	/* exc-c14n#WithComments when the profile says without */
	xmlDocPtr doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlSetProp(find_el(doc, "Transform", 1), BAD_CAST "Algorithm",
		   BAD_CAST "http://www.w3.org/2001/10/xml-exc-c14n#WithComments");
	expect_refused_doc(doc, "without comments");
	xmlFreeDoc(doc);
	/* only exc-c14n, no enveloped-signature */
	doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlNodePtr t0 = find_el(doc, "Transform", 0);
	xmlUnlinkNode(t0);
	xmlFreeNode(t0);
	expect_refused_doc(doc, "exactly the transforms");
	xmlFreeDoc(doc);
	/* inclusive c14n for SignedInfo */
	doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlSetProp(find_el(doc, "CanonicalizationMethod", 0), BAD_CAST "Algorithm",
		   BAD_CAST "http://www.w3.org/TR/2001/REC-xml-c14n-20010315");
	expect_refused_doc(doc, "CanonicalizationMethod");
	xmlFreeDoc(doc);
	/* two References */
	doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlNodePtr ref = find_el(doc, "Reference", 0);
	xmlAddNextSibling(ref, xmlCopyNode(ref, 1));
	expect_refused_doc(doc, "exactly one Reference");
	xmlFreeDoc(doc);
}

static void test_reference_uri(void **state)
{
	/* URI="" (the whole document) where the profile demands #ID */
	xmlDocPtr doc = response_doc();
	xmlsec_sign(add_template(find_el(doc, "Assertion", 0), "", xmlSecTransformRsaSha256Id,
				 xmlSecTransformSha256Id, NULL), K_IDP);
	expect_refused_doc(doc, "URI=\"\" (whole document) refused");
	xmlFreeDoc(doc);
	/* an XPointer */
	doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlSetProp(find_el(doc, "Reference", 0), BAD_CAST "URI", BAD_CAST "#xpointer(id('_a1'))");
	expect_refused_doc(doc, "only \"#ID\"");
	xmlFreeDoc(doc);
	/* an ID nobody registered */
	doc = signed_response(K_IDP, xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id);
	xmlSetProp(find_el(doc, "Reference", 0), BAD_CAST "URI", BAD_CAST "#_nope");
	expect_refused_doc(doc, "not a registered ID");
	xmlFreeDoc(doc);
}

/* ---- DSS: the whole document, signature last in OptionalInputs ---------------------------------- */

#define NS_DSS "urn:oasis:names:tc:dss:1.0:core:schema"
static const char dss_text[] =
	"<dss:SignRequest xmlns:dss=\"" NS_DSS "\" Profile=\"http://id.elegnamnden.se/csig/1.1/dss-ext/profile\" "
	"RequestID=\"f6e7d061a23293b0053dc7b038a04dad\"><dss:OptionalInputs>"
	"<csig:SignRequestExtension xmlns:csig=\"http://id.elegnamnden.se/csig/1.1/dss-ext/ns\">"
	"<csig:RequestTime>2026-01-01T00:00:00.000Z</csig:RequestTime></csig:SignRequestExtension>"
	"</dss:OptionalInputs><dss:InputDocuments><dss:Other>tasks</dss:Other></dss:InputDocuments>"
	"</dss:SignRequest>";

static void test_dss_whole_document(void **state)
{
	xmlDocPtr doc = parse_ok(dss_text, sizeof dss_text - 1, false);
	efos_err e = { 0 };
	assert_int_equal(xml_register_ids(doc, xml_id_rules_dss, xml_id_rules_dss_n, &e), 0);
	xmlNodePtr oi = find_el(doc, "OptionalInputs", 0);
	xmlNodePtr sig = xmlSecTmplSignatureCreateNsPref(doc, xmlSecTransformExclC14NId, xmlSecTransformRsaSha256Id,
							 NULL, BAD_CAST "ds");
	xmlAddChild(oi, sig);
	xmlNodePtr ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL, BAD_CAST "", NULL);
	xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId);
	xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId);
	xmlsec_sign(sig, K_IDP);
	size_t len;
	char *xml = dump(doc, &len);
	xmlFreeDoc(doc);

	doc = parse_ok(xml, len, false);
	assert_int_equal(xml_register_ids(doc, xml_id_rules_dss, xml_id_rules_dss_n, &e), 0);
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr oin = NULL;
	assert_int_equal(xml_find_unique_child(root, NS_DSS, "OptionalInputs", &oin, &e), 0);
	xmlNodePtr last = xmlLastElementChild(oin);
	xmlNodePtr v = xml_dsig_verify_element(root, last, &K_IDP, 1, &xml_dsig_policy_dss, &e);
	if (v == NULL)
		fail_msg("%s", e.msg);
	assert_ptr_equal(v, root);
	/* the SAML policy refuses it: the signature is not a child, and URI="" */
	assert_null(xml_dsig_verify_element(root, last, &K_IDP, 1, &xml_dsig_policy_saml, &e));
	/* the DSS policy with the signature passed as NULL: no Signature child of the root */
	assert_null(xml_dsig_verify_element(root, NULL, &K_IDP, 1, &xml_dsig_policy_dss, &e));
	assert_non_null(strstr(e.msg, "not signed"));
	/* tampered */
	xmlNodeSetContent(find_el(doc, "Other", 0), BAD_CAST "other tasks");
	assert_null(xml_dsig_verify_element(root, last, &K_IDP, 1, &xml_dsig_policy_dss, &e));
	assert_non_null(strstr(e.msg, "digest"));
	/* a #ID reference where the whole document is required */
	xmlSetProp(find_el(doc, "Reference", 0), BAD_CAST "URI", BAD_CAST "#x");
	assert_null(xml_dsig_verify_element(root, last, &K_IDP, 1, &xml_dsig_policy_dss, &e));
	assert_non_null(strstr(e.msg, "must cover the whole document"));
	/* the signature outside the root cannot happen, but one outside the signed element can */
	assert_null(xml_dsig_verify_element(oin, last, &K_IDP, 1, &xml_dsig_policy_dss, &e));
	xmlFreeDoc(doc);
	xmlFree(xml);
}

/* ---- interop: hsm_xmldsig_sign and the xmlsec1 command ------------------------------------------- */

static void hsm_sign_verify(struct hsm *h, enum hsm_key_kind kind, int bits_or_nid, const char *sigalg)
{
	struct hsm_key *k = test_session_key(h, kind, bits_or_nid, "test-xml-verify");
	efos_err e = { 0 };
	xmlDocPtr doc = response_doc();
	xmlNodePtr sig = add_template(find_el(doc, "Assertion", 0), "#_a1", xmlSecTransformRsaSha256Id,
				      xmlSecTransformSha256Id, "xs");
	xmlSetProp(find_el(doc, "SignatureMethod", 0), BAD_CAST "Algorithm", BAD_CAST sigalg);
	if (hsm_xmldsig_sign(sig, k, &e) != 0)
		fail_msg("hsm_xmldsig_sign: %s", e.msg);
	size_t len;
	char *xml = dump(doc, &len);
	EVP_PKEY *pub = hsm_key_public(k);
	char *nameid = NULL;
	if (receive_with(xml, len, &pub, 1, false, &nameid, &e) != 0)
		fail_msg("%s: %s", sigalg, e.msg);
	assert_string_equal(nameid, "user@good.com");
	xmlFree(nameid);
	xmlFree(xml);
	xmlFreeDoc(doc);
	hsm_key_free(k);
}

static void test_interop_hsm_bridge(void **state)
{
	struct hsm *h = test_hsm_open(1);
	hsm_sign_verify(h, HSM_KEY_RSA, 2048, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
	hsm_sign_verify(h, HSM_KEY_RSA, 2048, "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1");
	hsm_sign_verify(h, HSM_KEY_EC, NID_X9_62_prime256v1, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256");
	hsm_close(h);
}

static void test_interop_xmlsec1_command(void **state)
{
	char tf[600], kf[600], of[600], cmd[4096];
	snprintf(tf, sizeof tf, "%s/template.xml", tmpdir);
	snprintf(kf, sizeof kf, "%s/key.pem", tmpdir);
	snprintf(of, sizeof of, "%s/signed.xml", tmpdir);
	xmlDocPtr doc = response_doc();
	add_template(find_el(doc, "Assertion", 0), "#_a1", xmlSecTransformRsaSha256Id, xmlSecTransformSha256Id, NULL);
	assert_true(xmlSaveFile(tf, doc) > 0);
	xmlFreeDoc(doc);
	FILE *f = fopen(kf, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, K_IDP, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	snprintf(cmd, sizeof cmd, "xmlsec1 --sign --privkey-pem '%s' --id-attr:ID '" NS_SAML ":Assertion' "
		 "--output '%s' '%s' >'%s/cli.log' 2>&1", kf, of, tf, tmpdir);
	if (system(cmd) != 0)
		fail_msg("xmlsec1 --sign failed: see %s/cli.log", tmpdir);
	f = fopen(of, "rb");
	assert_non_null(f);
	static char buf[65536];
	size_t len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	expect_ok(buf, len, "user@good.com");
}

static int setup(void **state)
{
	xmlInitParser();
	xmlSecErrorsDefaultCallbackEnableOutput(0);
	if (xmlSecInit() < 0 || xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0)
		fail_msg("xmlsec init failed");
	K_IDP = gen_rsa(2048);
	K_EVIL = gen_rsa(2048);
	K_WEAK = gen_rsa(1024);
	K_EC = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(K_EC);
	const char *dir = getenv("EFOS_TEST_DIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/xml-%d", dir && *dir ? dir : "/tmp", (int)getpid());
	mkdir(tmpdir, 0700);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return -1;
	EVP_PKEY_free(K_IDP);
	EVP_PKEY_free(K_EVIL);
	EVP_PKEY_free(K_WEAK);
	EVP_PKEY_free(K_EC);
	xmlSecCryptoShutdown();
	xmlSecCryptoAppShutdown();
	xmlSecShutdown();
	xmlCleanupParser();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_rsa_and_ec),
		cmocka_unit_test(test_valid_signed_response),
		cmocka_unit_test(test_parse_doctype_entities),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_xsw_moved_to_extensions),
		cmocka_unit_test(test_xsw_signature_moved),
		cmocka_unit_test(test_xsw_second_assertion),
		cmocka_unit_test(test_xsw_duplicate_id),
		cmocka_unit_test(test_xsw_reference_to_other_element),
		cmocka_unit_test(test_xsw_wrapped_and_sig_not_child),
		cmocka_unit_test(test_xsw_object),
		cmocka_unit_test(test_comment_injection),
		cmocka_unit_test(test_key_confusion),
		cmocka_unit_test(test_sha1_refused),
		cmocka_unit_test(test_transforms_refused),
		cmocka_unit_test(test_reference_uri),
		cmocka_unit_test(test_dss_whole_document),
		cmocka_unit_test(test_interop_hsm_bridge),
		cmocka_unit_test(test_interop_xmlsec1_command),
	};
	return cmocka_run_group_tests_name("xml", tests, setup, teardown);
}
