/* signer/xades.c and signer/xades_fed.c with SoftHSM keys (RSA-2048 and P-256):
 *   - enveloped, enveloping (binary and XML) and detached (document and hash-only) signatures
 *     verify with the xmlsec1 command against the CA (--trusted-pem), and a tampered copy does
 *     not; the ds:Signature validates against the XAdES XSD (tests/schemas/xades-efos.xsd);
 *     SigningCertificateV2 holds the certificate's SHA-256 and a DER IssuerSerial;
 *   - refusals: not XML, a DOCTYPE, an Id clash, detached without a URI, a digest of the wrong
 *     length;
 *   - xades_fed_update: a requester-style SignedInfo + AdESObject gets SigningCertificateV2,
 *     the new SignedInfo's digest is the digest of the new SignedProperties (computed here
 *     with an XPath node set, independently of core/xml_c14n), and the signature assembled
 *     from the outputs verifies with xmlsec1; inclusive c14n, a missing SignedProperties
 *     Reference and a missing Target are refused. */
#include <sys/stat.h>
#include <unistd.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <openssl/ess.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "hsm/hsm.h"
#include "signer/xades.h"
#include "test_hsm_common.h"

#define DSIG "http://www.w3.org/2000/09/xmldsig#"
static struct hsm *H;
static struct hsm_key *KRSA, *KEC;
static EVP_PKEY *ca_key;
static X509 *ca_cert, *rsa_cert, *ec_cert;
static char tmpdir[512], schema[600];

static const char xml_doc[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<beslut xmlns=\"urn:example:beslut\" xmlns:x=\"urn:example:x\" Id=\"b1\">\n"
	"  <!-- a comment stays, unsigned -->\n"
	"  <diarienummer>2026/1234</diarienummer>\n"
	"  <text x:lang=\"sv\">Ansökan beviljas &amp; ärendet avslutas.</text>\n"
	"</beslut>\n";
static const unsigned char bin_doc[] = { 0x25, 0x50, 0x44, 0x46, 0x00, 0xff, 0x10, 'd', 'a', 't', 'a', '<', '&' };

static X509 *make_cert(EVP_PKEY *pub, const char *cn, bool ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX v3;
	static long serial = 4711;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"SE", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, ca ? n : X509_get_subject_name(ca_cert));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pub);
	X509V3_set_ctx(&v3, ca ? x : ca_cert, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,nonRepudiation");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

static char *path(const char *name)
{
	static char p[4][700];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", tmpdir, name);
	return p[i];
}

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(path(name), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* xmlsec1 in tmpdir (so a detached Reference to "document.bin" resolves there). */
static bool xmlsec_verify(const char *name)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "cd '%s' && xmlsec1 --verify --trusted-pem ca.pem "
		 "--id-attr:Id '" XADES_NS ":SignedProperties' '%s' >>xmlsec.log 2>&1", tmpdir, name);
	return system(cmd) == 0;
}

static xmlNodePtr find_el(xmlDocPtr doc, const char *ns, const char *name)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	char expr[200];
	snprintf(expr, sizeof expr, "//*[local-name()='%s' and namespace-uri()='%s']", name, ns);
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	xmlNodePtr n = o && o->nodesetval && o->nodesetval->nodeNr > 0 ? o->nodesetval->nodeTab[0] : NULL;
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return n;
}

static size_t b64dec(const xmlChar *b64, unsigned char *out)
{
	int len = xmlStrlen(b64);
	int n = EVP_DecodeBlock(out, b64, len);
	assert_true(n >= 0);
	for (int i = len - 1; i >= 0 && b64[i] == '='; i--)
		n--;
	return (size_t)n;
}

/* The ds:Signature alone validates against the XAdES schema; CertDigest and IssuerSerialV2
 * describe cert. */
static void check_structure(const unsigned char *xml, size_t len, X509 *cert)
{
	xmlDocPtr doc = xmlReadMemory((const char *)xml, (int)len, "s.xml", NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	xmlNodePtr sig = find_el(doc, DSIG, "Signature");
	assert_non_null(sig);
	xmlDocPtr alone = xmlNewDoc(BAD_CAST "1.0");
	xmlDocSetRootElement(alone, xmlDocCopyNode(sig, alone, 1));
	xmlSaveFile(path("sig-only.xml"), alone);
	xmlFreeDoc(alone);
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "xmllint --nonet --noout --schema '%s' '%s' >>'%s' 2>&1", schema,
		 path("sig-only.xml"), path("xmllint.log"));
	assert_int_equal(system(cmd), 0);

	xmlNodePtr cd = find_el(doc, XADES_NS, "CertDigest");
	assert_non_null(cd);
	xmlChar *v = xmlNodeGetContent(xmlLastElementChild(cd));
	unsigned char got[64], want[32], *der = NULL;
	assert_int_equal(b64dec(v, got), 32);
	int dl = i2d_X509(cert, &der);
	EVP_Digest(der, (size_t)dl, want, NULL, EVP_sha256(), NULL);
	assert_memory_equal(got, want, 32);
	OPENSSL_free(der);
	xmlFree(v);
	v = xmlNodeGetContent(find_el(doc, XADES_NS, "IssuerSerialV2"));
	unsigned char is[1024];
	size_t isl = b64dec(v, is);
	const unsigned char *p = is;
	ESS_ISSUER_SERIAL *ess = d2i_ESS_ISSUER_SERIAL(NULL, &p, (long)isl);
	assert_non_null(ess);
	assert_ptr_equal(p, is + isl);
	ESS_ISSUER_SERIAL_free(ess);
	xmlFree(v);
	xmlFreeDoc(doc);
}

static void sign_ok(struct hsm_key *k, X509 *cert, const struct xades_params *p, struct xades_result *r)
{
	struct xades_signer s = { .cert = cert, .chain = NULL, .key = k };
	efos_err e = { 0 };
	if (xades_sign(&s, p, r, &e) != 0)
		fail_msg("xades_sign: %s", e.msg);
	write_file("signed.xml", r->xml, r->xml_len);
	if (!xmlsec_verify("signed.xml"))
		fail_msg("xmlsec1 does not verify the signature; see %s/xmlsec.log", tmpdir);
	check_structure(r->xml, r->xml_len, cert);
}

/* Changes the first occurrence of from to to in a copy and expects xmlsec1 to refuse it. */
static void tampered_refused(const struct xades_result *r, const char *from, const char *to)
{
	char *copy = malloc(r->xml_len + 1);
	memcpy(copy, r->xml, r->xml_len);
	copy[r->xml_len] = '\0';
	char *at = strstr(copy, from);
	assert_non_null(at);
	assert_int_equal(strlen(from), strlen(to));
	memcpy(at, to, strlen(to));
	write_file("tampered.xml", copy, r->xml_len);
	free(copy);
	assert_false(xmlsec_verify("tampered.xml"));
}

static void enveloped(struct hsm_key *k, X509 *cert, const EVP_MD *md)
{
	struct xades_result r = { 0 };
	struct xades_params p = { .packaging = XADES_ENVELOPED, .md = md, .document = (const unsigned char *)xml_doc,
				  .document_len = sizeof xml_doc - 1 };
	sign_ok(k, cert, &p, &r);
	assert_non_null(strstr((char *)r.xml, "<!-- a comment stays, unsigned -->"));
	assert_non_null(strstr((char *)r.xml, "<ds:Signature"));
	tampered_refused(&r, "2026/1234", "2026/1235");
	tampered_refused(&r, "<xades:SigningTime>2", "<xades:SigningTime>1");
	xades_result_free(&r);
}

static void test_enveloped(void **state)
{
	enveloped(KRSA, rsa_cert, NULL);
	enveloped(KEC, ec_cert, EVP_sha384());
}

static void enveloping(struct hsm_key *k, X509 *cert, bool as_xml)
{
	struct xades_result r = { 0 };
	struct xades_params p = { .packaging = XADES_ENVELOPING };
	if (as_xml) {
		p.document = (const unsigned char *)xml_doc;
		p.document_len = sizeof xml_doc - 1;
		p.document_is_xml = true;
	} else {
		p.document = bin_doc;
		p.document_len = sizeof bin_doc;
		p.mime_type = "application/pdf";
	}
	sign_ok(k, cert, &p, &r);
	if (as_xml) {
		tampered_refused(&r, "2026/1234", "2026/1235");
	} else {
		tampered_refused(&r, "JVBER", "JVBES");
		assert_non_null(strstr((char *)r.xml, "<xades:MimeType>application/pdf</xades:MimeType>"));
	}
	xades_result_free(&r);
}

static void test_enveloping(void **state)
{
	enveloping(KRSA, rsa_cert, false);
	enveloping(KEC, ec_cert, false);
	enveloping(KRSA, rsa_cert, true);
	enveloping(KEC, ec_cert, true);
}

static void detached(struct hsm_key *k, X509 *cert, bool hash_only)
{
	struct xades_result r = { 0 };
	struct xades_params p = { .packaging = XADES_DETACHED, .reference_uri = "document.bin", .md = EVP_sha512() };
	unsigned char d[64];
	if (hash_only) {
		EVP_Digest(bin_doc, sizeof bin_doc, d, NULL, EVP_sha512(), NULL);
		p.digest = d;
		p.digest_len = 64;
	} else {
		p.document = bin_doc;
		p.document_len = sizeof bin_doc;
	}
	write_file("document.bin", bin_doc, sizeof bin_doc);
	sign_ok(k, cert, &p, &r);
	assert_int_equal(r.digest_len, 64);
	unsigned char want[64];
	EVP_Digest(bin_doc, sizeof bin_doc, want, NULL, EVP_sha512(), NULL);
	assert_memory_equal(r.digest, want, 64);
	/* the document changed beside the signature */
	unsigned char other[sizeof bin_doc];
	memcpy(other, bin_doc, sizeof bin_doc);
	other[5] ^= 1;
	write_file("document.bin", other, sizeof other);
	assert_false(xmlsec_verify("signed.xml"));
	xades_result_free(&r);
}

static void test_detached(void **state)
{
	detached(KRSA, rsa_cert, false);
	detached(KEC, ec_cert, false);
	detached(KRSA, rsa_cert, true);
	detached(KEC, ec_cert, true);
}

static void refused(const struct xades_params *p, const char *what)
{
	struct xades_signer s = { .cert = rsa_cert, .key = KRSA };
	struct xades_result r = { 0 };
	efos_err e = { 0 };
	assert_int_equal(xades_sign(&s, p, &r, &e), -1);
	assert_null(r.xml);
	assert_int_equal(e.code, EFOS_E_INVALID);
	if (strstr(e.msg, what) == NULL)
		fail_msg("expected '%s' in: %s", what, e.msg);
}

static void test_refusals(void **state)
{
	static const char dtd[] = "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>";
	static const char clash[] = "<a><b Id=\"sig1-signedprops\"/></a>";
	struct xades_params p = { .packaging = XADES_ENVELOPED, .document = bin_doc, .document_len = sizeof bin_doc };
	refused(&p, "not XML");
	p.document = (const unsigned char *)dtd;
	p.document_len = sizeof dtd - 1;
	refused(&p, "DOCTYPE");
	p.document = (const unsigned char *)clash;
	p.document_len = sizeof clash - 1;
	p.signature_id = "sig1";
	refused(&p, "already uses an Id");
	p.signature_id = "1bad";
	refused(&p, "signature Id");
	struct xades_params d = { .packaging = XADES_DETACHED, .document = bin_doc, .document_len = sizeof bin_doc };
	refused(&d, "reference_uri");
	d.reference_uri = "#frag";
	refused(&d, "not a \"#fragment\"");
	d.reference_uri = "a b";
	refused(&d, "not a URI reference");
	unsigned char dg[20] = { 0 };
	struct xades_params h = { .packaging = XADES_DETACHED, .reference_uri = "x.pdf", .digest = dg, .digest_len = 20 };
	refused(&h, "a sha256 digest is 32 bytes");
	h.packaging = XADES_ENVELOPING;
	refused(&h, "only make a detached");
}

/* ------------------------------------------------------------------ xades_fed_update */

#define OBJ_DOC "<ds:Object xmlns:ds=\"" DSIG "\" Id=\"doc1\">Att underteckna</ds:Object>"

static const char fed_obj_fmt[] =
	"<ds:Object xmlns:ds=\"" DSIG "\"><xades:QualifyingProperties xmlns:xades=\"" XADES_NS "\" %s>"
	"<xades:SignedProperties Id=\"sp1\"><xades:SignedSignatureProperties>"
	"<xades:SigningTime>2026-11-24T10:00:00Z</xades:SigningTime>"
	"<xades:SigningCertificateV2><xades:Cert><xades:CertDigest><ds:DigestMethod "
	"Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue>AAAA</ds:DigestValue>"
	"</xades:CertDigest></xades:Cert></xades:SigningCertificateV2>"
	"</xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></ds:Object>";

static const char fed_si_fmt[] =
	"<ds:SignedInfo xmlns:ds=\"" DSIG "\"><ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>"
	"<ds:SignatureMethod Algorithm=\"%s\"/>"
	"<ds:Reference URI=\"#doc1\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>"
	"</ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue>%s</ds:DigestValue></ds:Reference>"
	"<ds:Reference %s URI=\"#sp1\"><ds:Transforms><ds:Transform Algorithm=\"%s\"/></ds:Transforms>"
	"<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference>"
	"</ds:SignedInfo>";

/* Exclusive c14n of the subtree of the first element {ns}name, through an XPath node set. */
static int c14n_subtree(xmlDocPtr doc, const char *ns, const char *name, xmlChar **out)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathRegisterNs(ctx, BAD_CAST "t", BAD_CAST ns);
	char expr[200];
	snprintf(expr, sizeof expr, "(//. | //@* | //namespace::*)[ancestor-or-self::t:%s]", name);
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	int n = xmlC14NDocDumpMemory(doc, o->nodesetval, XML_C14N_EXCLUSIVE_1_0, NULL, 0, out);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return n;
}

static char *sha256_b64(const void *d, size_t n)
{
	unsigned char h[32];
	static char out[64];
	EVP_Digest(d, n, h, NULL, EVP_sha256(), NULL);
	EVP_EncodeBlock((unsigned char *)out, h, 32);
	return out;
}

static void fed_inputs(const char *sigalg, const char *type_attr, const char *transform, const char *target,
		       char *si, size_t si_cap, char *obj, size_t obj_cap)
{
	xmlDocPtr d = xmlReadMemory(OBJ_DOC, sizeof OBJ_DOC - 1, "o.xml", NULL, 0);
	xmlChar *c = NULL;
	int n = c14n_subtree(d, DSIG, "Object", &c);
	assert_true(n > 0);
	char raw[4096];
	snprintf(raw, sizeof raw, fed_si_fmt, sigalg, sha256_b64(c, (size_t)n), type_attr, transform);
	xmlFree(c);
	xmlFreeDoc(d);
	/* ToBeSignedBytes are canonical */
	d = xmlReadMemory(raw, (int)strlen(raw), "si.xml", NULL, 0);
	n = xmlC14NDocDumpMemory(d, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &c);
	assert_true(n > 0 && (size_t)n < si_cap);
	memcpy(si, c, (size_t)n);
	si[n] = '\0';
	xmlFree(c);
	xmlFreeDoc(d);
	snprintf(obj, obj_cap, fed_obj_fmt, target);
}

static void fed_roundtrip(struct hsm_key *k, X509 *cert, const char *sigalg, enum hsm_padding pad)
{
	char si[4096], obj[4096];
	fed_inputs(sigalg, "Type=\"" XADES_SIGNED_PROPS_TYPE "\"", "http://www.w3.org/2001/10/xml-exc-c14n#",
		   "Target=\"#sig1\"", si, sizeof si, obj, sizeof obj);
	unsigned char *nsi = NULL, *nobj = NULL;
	size_t nsi_len = 0, nobj_len = 0;
	efos_err e = { 0 };
	if (xades_fed_update(cert, (unsigned char *)si, strlen(si), (unsigned char *)obj, strlen(obj), &nsi, &nsi_len,
			     &nobj, &nobj_len, &e) != 0)
		fail_msg("xades_fed_update: %s", e.msg);
	assert_null(strstr((char *)nobj, "AAAA"));   /* the old SigningCertificateV2 is gone */
	assert_non_null(strstr((char *)nobj, "IssuerSerialV2"));

	/* the SignedProperties reference digest is the digest of the new SignedProperties */
	xmlDocPtr od = xmlReadMemory((char *)nobj, (int)nobj_len, "o.xml", NULL, 0);
	assert_non_null(od);
	xmlChar *c = NULL;
	int n = c14n_subtree(od, XADES_NS, "SignedProperties", &c);
	assert_true(n > 0);
	char want[64];
	snprintf(want, sizeof want, "%s", sha256_b64(c, (size_t)n));
	xmlFree(c);
	xmlFreeDoc(od);
	xmlDocPtr sd = xmlReadMemory((char *)nsi, (int)nsi_len, "s.xml", NULL, 0);
	assert_non_null(sd);
	xmlNodePtr ref2 = xmlLastElementChild(xmlDocGetRootElement(sd));
	xmlChar *got = xmlNodeGetContent(xmlLastElementChild(ref2));
	assert_string_equal((char *)got, want);
	xmlFree(got);
	/* and the new SignedInfo bytes are canonical */
	n = xmlC14NDocDumpMemory(sd, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &c);
	assert_int_equal((size_t)n, nsi_len);
	assert_memory_equal(c, nsi, nsi_len);
	xmlFree(c);
	xmlFreeDoc(sd);

	/* sign the bytes as the signing service does and assemble the requester's signature */
	unsigned char sig[512];
	size_t siglen = sizeof sig;
	if (hsm_sign(k, EVP_sha256(), pad, HSM_SIG_RAW, nsi, nsi_len, sig, &siglen, &e) != 0)
		fail_msg("hsm_sign: %s", e.msg);
	char sigb64[1024], certb64[4096];
	EVP_EncodeBlock((unsigned char *)sigb64, sig, (int)siglen);
	unsigned char *der = NULL;
	int dl = i2d_X509(cert, &der);
	EVP_EncodeBlock((unsigned char *)certb64, der, dl);
	OPENSSL_free(der);
	size_t cap = nsi_len + nobj_len + 8192;
	char *full = malloc(cap);
	int fl = snprintf(full, cap, "<ds:Signature xmlns:ds=\"" DSIG "\" Id=\"sig1\">%.*s<ds:SignatureValue>%s"
			  "</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate>"
			  "</ds:X509Data></ds:KeyInfo>" OBJ_DOC "%.*s</ds:Signature>", (int)nsi_len, (char *)nsi,
			  sigb64, certb64, (int)nobj_len, (char *)nobj);
	write_file("fed.xml", full, (size_t)fl);
	if (!xmlsec_verify("fed.xml"))
		fail_msg("the assembled federated XAdES does not verify; see %s/xmlsec.log", tmpdir);
	check_structure((unsigned char *)full, (size_t)fl, cert);
	/* the input SignedInfo (old digest) no longer matches the updated object */
	fl = snprintf(full, cap, "<ds:Signature xmlns:ds=\"" DSIG "\" Id=\"sig1\">%s<ds:SignatureValue>%s"
		      "</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate>"
		      "</ds:X509Data></ds:KeyInfo>" OBJ_DOC "%.*s</ds:Signature>", si, sigb64, certb64,
		      (int)nobj_len, (char *)nobj);
	write_file("fed-old.xml", full, (size_t)fl);
	assert_false(xmlsec_verify("fed-old.xml"));
	free(full);
	free(nsi);
	free(nobj);
}

static void test_fed_update(void **state)
{
	fed_roundtrip(KRSA, rsa_cert, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", HSM_PAD_PKCS1);
	fed_roundtrip(KEC, ec_cert, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", HSM_PAD_ECDSA);
}

static void fed_refused(const char *type_attr, const char *transform, const char *target, const char *what)
{
	char si[4096], obj[4096];
	fed_inputs("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", type_attr, transform, target, si, sizeof si,
		   obj, sizeof obj);
	unsigned char *nsi = (unsigned char *)"x", *nobj = (unsigned char *)"x";
	size_t a, b;
	efos_err e = { 0 };
	assert_int_equal(xades_fed_update(rsa_cert, (unsigned char *)si, strlen(si), (unsigned char *)obj, strlen(obj),
					  &nsi, &a, &nobj, &b, &e), -1);
	assert_null(nsi);
	assert_null(nobj);
	assert_int_equal(e.code, EFOS_E_INVALID);
	if (strstr(e.msg, what) == NULL)
		fail_msg("expected '%s' in: %s", what, e.msg);
}

static void test_fed_refusals(void **state)
{
	const char *sp = "Type=\"" XADES_SIGNED_PROPS_TYPE "\"", *exc = "http://www.w3.org/2001/10/xml-exc-c14n#";
	fed_refused(sp, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315", "Target=\"#sig1\"", "exclusive c14n");
	fed_refused("Id=\"r2\"", exc, "Target=\"#sig1\"", "no Reference with Type");
	fed_refused(sp, exc, "", "Target");
	fed_refused(sp, "http://www.w3.org/2000/09/xmldsig#enveloped-signature", "Target=\"#sig1\"", "not supported");
	unsigned char *nsi, *nobj;
	size_t a, b;
	efos_err e = { 0 };
	static const char junk[] = "<ds:SignedInfo xmlns:ds=\"" DSIG "\"><ds:Foo/>";
	assert_int_equal(xades_fed_update(rsa_cert, (const unsigned char *)junk, sizeof junk - 1,
					  (const unsigned char *)junk, sizeof junk - 1, &nsi, &a, &nobj, &b, &e), -1);
	assert_non_null(strstr(e.msg, "ToBeSignedBytes"));
}

static int setup(void **state)
{
	xmlInitParser();
	snprintf(tmpdir, sizeof tmpdir, "%s/xades-%d", test_env("EFOS_TEST_DIR"), (int)getpid());
	mkdir(tmpdir, 0700);
	const char *top = getenv("EFOS_TOP");
	snprintf(schema, sizeof schema, "%s/tests/schemas/xades-efos.xsd", top && *top ? top : ".");
	H = test_hsm_open(2);
	KRSA = test_session_key(H, HSM_KEY_RSA, 2048, "test-xades-rsa");
	KEC = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "test-xades-ec");
	ca_key = EVP_EC_gen("P-256");
	ca_cert = make_cert(ca_key, "EFOS XAdES test CA", true);
	rsa_cert = make_cert(hsm_key_public(KRSA), "Myndigheten RSA-sigill", false);
	ec_cert = make_cert(hsm_key_public(KEC), "Myndigheten EC-sigill", false);
	FILE *f = fopen(path("ca.pem"), "w");
	assert_non_null(f);
	PEM_write_X509(f, ca_cert);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];
	hsm_key_free(KRSA);
	hsm_key_free(KEC);
	hsm_close(H);
	X509_free(rsa_cert);
	X509_free(ec_cert);
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return -1;
	xmlCleanupParser();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enveloped),
		cmocka_unit_test(test_enveloping),
		cmocka_unit_test(test_detached),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_fed_update),
		cmocka_unit_test(test_fed_refusals),
	};
	return cmocka_run_group_tests_name("xades", tests, setup, teardown);
}
