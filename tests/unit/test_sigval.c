/* signer/sigval*.c with an in-memory PKI: CAdES made by signer/seal.c (as the seal API makes
 * them) validate; a changed document is invalid "message digest mismatch"; a substituted signer
 * certificate (same issuer and serial, another key; or the same key re-certified) is invalid;
 * an unknown CA is indeterminate "unknown CA"; no revocation answer is indeterminate; B-T
 * timestamps are checked (imprint over the signature value); input that is no signature is
 * refused. XML: signatures made by the xmlsec1 command (tests/unit/... fixtures generated here)
 * with a certificate of the test CA validate, a changed copy is invalid.
 *
 * The certificate step is certs_validate_chain() with the test CA as the only trust anchor.
 * The test CA publishes no CRL or OCSP, so the validator answers "revocation_unavailable" for
 * its leaves; when the test says revocation is "good" the callback turns exactly that answer
 * into valid, standing in for a CRL that lists nothing (certs/ revocation is tested in
 * test_validate.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "signer/pades.h"
#include "signer/seal.h"
#include "signer/sigval.h"
#include "signer/tsa.h"
#include "pdf_fixtures.h"
#include "test_seal_common.h"

static EVP_PKEY *ca_key, *other_ca_key, *ec_key, *rsa_key, *tsa_key, *other_key;
static X509 *ca_cert, *other_ca_cert, *ec_cert, *rsa_cert, *tsa_cert, *unknown_cert;
static struct signer_tsa *tsa;
static unsigned char doc[2048];
static bool revocation_good = true;

/* ---- the certificate step ----------------------------------------------------------------- */

static int validate_cb(void *arg, X509 *leaf, STACK_OF(X509) *untrusted, time_t at, struct certs_validation *r,
		       efos_err *e)
{
	STACK_OF(X509) *anchors = sk_X509_new_null();
	sk_X509_push(anchors, ca_cert);
	struct certs_validate_params p = { .purpose = CERTS_PURPOSE_ANY, .at = at, .anchors = anchors };
	int rc = certs_validate_chain(&p, leaf, untrusted, r, e);
	sk_X509_free(anchors);
	if (rc == 0 && revocation_good && r->outcome == CERTS_VAL_INDETERMINATE &&
	    r->reason == CERTS_VR_REVOCATION_UNAVAILABLE) {
		r->outcome = CERTS_VAL_VALID;
		r->reason = CERTS_VR_OK;
		r->message[0] = '\0';
	}
	return rc;
}

static const struct sigval_ctx vc = { validate_cb, NULL };

static int setup(void **state)
{
	ca_key = EVP_EC_gen("P-256");
	other_ca_key = EVP_EC_gen("P-256");
	ec_key = EVP_EC_gen("P-256");
	tsa_key = EVP_EC_gen("P-256");
	other_key = EVP_EC_gen("P-256");
	rsa_key = EVP_RSA_gen(2048);
	if (!ca_key || !other_ca_key || !ec_key || !tsa_key || !rsa_key || !other_key)
		return -1;
	ca_cert = test_make_cert(ca_key, "Test CA", NULL, NULL, ca_key, "critical,keyCertSign,cRLSign", NULL, true, 1);
	other_ca_cert = test_make_cert(other_ca_key, "Other CA", NULL, NULL, other_ca_key, "critical,keyCertSign,cRLSign", NULL, true, 2);
	ec_cert = test_make_cert(ec_key, "Seal EC", NULL, ca_cert, ca_key, "critical,digitalSignature,nonRepudiation", NULL, false, 3);
	rsa_cert = test_make_cert(rsa_key, "Seal RSA", NULL, ca_cert, ca_key, "critical,digitalSignature,nonRepudiation", NULL, false, 4);
	tsa_cert = test_make_cert(tsa_key, "TSA", NULL, ca_cert, ca_key, "critical,digitalSignature", "critical,timeStamping", false, 5);
	unknown_cert = test_make_cert(other_key, "Seal of an unknown CA", NULL, other_ca_cert, other_ca_key,
				 "critical,digitalSignature,nonRepudiation", NULL, false, 6);
	RAND_bytes(doc, sizeof doc);
	STACK_OF(X509) *chain = sk_X509_new_null();
	sk_X509_push(chain, ca_cert);
	struct signer_tsa_params tp = { .cert = tsa_cert, .chain = chain, .key = tsa_key, .policy_oid = "1.2.3.4",
					.accuracy_ms = 1500 };
	efos_err e = { 0 };
	int rc = signer_tsa_new(&tp, &tsa, &e);
	sk_X509_free(chain);
	return rc;
}

static int teardown(void **state)
{
	signer_tsa_free(tsa);
	X509_free(ca_cert); X509_free(other_ca_cert); X509_free(ec_cert); X509_free(rsa_cert);
	X509_free(tsa_cert); X509_free(unknown_cert);
	EVP_PKEY_free(ca_key); EVP_PKEY_free(other_ca_key); EVP_PKEY_free(ec_key); EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(tsa_key); EVP_PKEY_free(other_key);
	return 0;
}

static void cades(X509 *cert, EVP_PKEY *key, enum seal_packaging pk, bool bt, struct seal_result *out)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	sk_X509_push(chain, ca_cert);
	struct seal_signer s = { .cert = cert, .chain = chain, .key = key };
	struct seal_cades_params p = { .packaging = pk, .md = EVP_sha256(), .document = doc, .document_len = sizeof doc,
				       .timestamp = bt ? test_tsa_stamp : NULL, .timestamp_arg = tsa };
	efos_err e = { 0 };
	if (seal_cades_sign(&s, &p, out, &e) != 0)
		fail_msg("seal_cades_sign: %s", e.msg);
	sk_X509_free(chain);
}

static void cms_report(const unsigned char *der, size_t len, const unsigned char *d, size_t dlen,
		       struct sigval_report *r)
{
	efos_err e = { 0 };
	memset(r, 0, sizeof *r);
	if (sigval_cms(&vc, der, len, d, dlen, r, &e) != 0)
		fail_msg("sigval_cms: %s", e.msg);
	assert_int_equal(r->n, 1);
}

/* ---- CMS ----------------------------------------------------------------------------------- */

static void test_cades_valid(void **state)
{
	struct seal_result res;
	struct sigval_report r;
	cades(ec_cert, ec_key, SEAL_DETACHED, false, &res);
	cms_report(res.der, res.der_len, doc, sizeof doc, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_VALID);
	assert_int_equal(r.result, SIGVAL_VALID);
	assert_string_equal(r.sigs[0].level, "B-B");
	assert_string_equal(r.sigs[0].subject, "CN=Seal EC");
	assert_string_equal(r.sigs[0].issuer, "CN=Test CA");
	assert_string_equal(r.sigs[0].serial, "03");
	assert_int_equal(strlen(r.sigs[0].signing_time), 20);
	assert_string_equal(r.format, "cms");
	sigval_report_free(&r);
	seal_result_free(&res);

	cades(rsa_cert, rsa_key, SEAL_ENVELOPING, false, &res);
	cms_report(res.der, res.der_len, NULL, 0, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_VALID);
	sigval_report_free(&r);
	seal_result_free(&res);
}

static void test_cades_tampered(void **state)
{
	struct seal_result res;
	struct sigval_report r;
	cades(ec_cert, ec_key, SEAL_DETACHED, false, &res);
	doc[100] ^= 1;
	cms_report(res.der, res.der_len, doc, sizeof doc, &r);
	doc[100] ^= 1;
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);
	assert_string_equal(r.sigs[0].reason, "message digest mismatch");
	assert_int_equal(r.result, SIGVAL_INVALID);
	sigval_report_free(&r);
	/* a changed signed attribute: the signature value no longer verifies */
	unsigned char *copy = malloc(res.der_len);
	memcpy(copy, res.der, res.der_len);
	const unsigned char *sig_attr_time = NULL;
	/* the UTCTime of signingTime ("YYMMDDhhmmssZ"): the last one, after the certificates */
	for (size_t i = res.der_len - 15; i > 0; i--)
		if (res.der[i] == 0x17 && res.der[i + 1] == 13 && res.der[i + 14] == 'Z') {
			sig_attr_time = res.der + i;
			break;
		}
	assert_non_null(sig_attr_time);
	copy[sig_attr_time - res.der + 2] ^= 1;   /* year digit */
	cms_report(copy, res.der_len, doc, sizeof doc, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);
	assert_string_equal(r.sigs[0].reason, "signature value mismatch");
	sigval_report_free(&r);
	free(copy);
	seal_result_free(&res);
}

/* A CMS signed with key, carrying carried as the only certificate (CAdES attributes for signer). */
static void cms_with_cert(X509 *signer, EVP_PKEY *key, X509 *carried, unsigned char **der, size_t *len)
{
	BIO *in = BIO_new_mem_buf(doc, sizeof doc);
	unsigned int fl = CMS_BINARY | CMS_DETACHED | CMS_NOCERTS | CMS_CADES | CMS_NOSMIMECAP;
	CMS_ContentInfo *cms = CMS_sign(signer, key, NULL, in, fl);
	assert_non_null(cms);
	assert_int_equal(CMS_add1_cert(cms, carried), 1);
	unsigned char *p = NULL;
	int n = i2d_CMS_ContentInfo(cms, &p);
	assert_true(n > 0);
	*der = p;
	*len = (size_t)n;
	CMS_ContentInfo_free(cms);
	BIO_free(in);
}

static void test_cades_wrong_cert(void **state)
{
	struct sigval_report r;
	unsigned char *der;
	size_t len;
	/* the same issuer and serial as the signer's, another key: the signature does not verify */
	X509 *forged = test_make_cert(other_key, "Seal EC", NULL, ca_cert, ca_key, "critical,digitalSignature", NULL, false, 3);
	cms_with_cert(ec_cert, ec_key, forged, &der, &len);
	cms_report(der, len, doc, sizeof doc, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);
	assert_string_equal(r.sigs[0].reason, "signature value mismatch");
	sigval_report_free(&r);
	OPENSSL_free(der);
	X509_free(forged);
	/* the same key re-certified with another name: signingCertificateV2 tells them apart */
	X509 *recert = test_make_cert(ec_key, "Someone else", NULL, ca_cert, ca_key, "critical,digitalSignature", NULL, false, 3);
	cms_with_cert(ec_cert, ec_key, recert, &der, &len);
	cms_report(der, len, doc, sizeof doc, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);
	assert_string_equal(r.sigs[0].reason, "signing certificate mismatch");
	sigval_report_free(&r);
	OPENSSL_free(der);
	X509_free(recert);
	/* no certificate at all */
	cms_with_cert(ec_cert, ec_key, ca_cert, &der, &len);
	cms_report(der, len, doc, sizeof doc, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INDETERMINATE);
	assert_string_equal(r.sigs[0].reason, "signer certificate not found");
	sigval_report_free(&r);
	OPENSSL_free(der);
}

static void test_cades_unknown_ca(void **state)
{
	struct seal_result res;
	struct sigval_report r;
	cades(unknown_cert, other_key, SEAL_DETACHED, false, &res);
	cms_report(res.der, res.der_len, doc, sizeof doc, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INDETERMINATE);
	assert_string_equal(r.sigs[0].reason, "unknown CA");
	assert_string_equal(r.sigs[0].cert_reason, "untrusted_issuer");
	assert_int_equal(r.result, SIGVAL_INDETERMINATE);
	sigval_report_free(&r);
	seal_result_free(&res);

	revocation_good = false;
	cades(ec_cert, ec_key, SEAL_DETACHED, false, &res);
	cms_report(res.der, res.der_len, doc, sizeof doc, &r);
	revocation_good = true;
	assert_int_equal(r.sigs[0].result, SIGVAL_INDETERMINATE);
	assert_string_equal(r.sigs[0].reason, "revocation status unavailable");
	sigval_report_free(&r);
	seal_result_free(&res);
}

static void test_cades_bt(void **state)
{
	struct seal_result res;
	struct sigval_report r;
	cades(ec_cert, ec_key, SEAL_DETACHED, true, &res);
	cms_report(res.der, res.der_len, doc, sizeof doc, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_VALID);
	assert_string_equal(r.sigs[0].level, "B-T");
	assert_true(r.sigs[0].ts.present);
	assert_int_equal(r.sigs[0].ts.result, SIGVAL_VALID);
	assert_string_equal(r.sigs[0].ts.tsa, "CN=TSA");
	assert_int_equal(strlen(r.sigs[0].ts.time), 20);
	sigval_report_free(&r);
	/* the token's TSTInfo changed: its signature no longer matches */
	unsigned char *copy = malloc(res.der_len);
	memcpy(copy, res.der, res.der_len);
	size_t hits = 0;
	for (size_t i = 0; i + 17 < res.der_len; i++)  /* GeneralizedTime of the TSTInfo "YYYYMMDDhhmmss" */
		if (copy[i] == 0x18 && copy[i + 1] >= 15 && copy[i + 1] <= 19 && copy[i + 2] == '2' && copy[i + 3] == '0') {
			copy[i + 5] ^= 1;
			hits++;
		}
	assert_true(hits >= 1);
	cms_report(copy, res.der_len, doc, sizeof doc, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);
	assert_string_equal(r.sigs[0].reason, "timestamp invalid");
	assert_int_equal(r.sigs[0].ts.result, SIGVAL_INVALID);
	sigval_report_free(&r);
	free(copy);
	seal_result_free(&res);
}

static void test_not_a_signature(void **state)
{
	struct sigval_report r = { 0 };
	efos_err e = { 0 };
	struct seal_result res;
	assert_int_equal(sigval_cms(&vc, (const unsigned char *)"hello", 5, NULL, 0, &r, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	assert_non_null(strstr(e.msg, "not a DER CMS"));
	cades(ec_cert, ec_key, SEAL_DETACHED, false, &res);
	assert_int_equal(sigval_cms(&vc, res.der, res.der_len, NULL, 0, &r, &e), -1);
	assert_non_null(strstr(e.msg, "detached"));
	assert_int_equal(sigval_cms(&vc, res.der, res.der_len - 1, doc, sizeof doc, &r, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	sigval_report_free(&r);
	seal_result_free(&res);
	assert_string_equal(sigval_detect_format((const unsigned char *)"%PDF-1.7", 8), "pdf");
	assert_string_equal(sigval_detect_format((const unsigned char *)"\n <a/>", 6), "xml");
	assert_string_equal(sigval_detect_format((const unsigned char *)"\x30\x82", 2), "cms");
	assert_null(sigval_detect_format((const unsigned char *)"hello", 5));
}

/* ---- XML (signed by the xmlsec1 command) -------------------------------------------------- */

#define DS "http://www.w3.org/2000/09/xmldsig#"

static char tmpdir[64];

static void write_file(const char *name, const void *d, size_t n)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, n, f), n);
	fclose(f);
}

static unsigned char *read_file(const char *name, size_t *n)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	unsigned char *b = malloc(1 << 20);
	*n = fread(b, 1, 1 << 20, f);
	fclose(f);
	b[*n] = 0;
	return b;
}

/* Signs template tmpl (a file text) with rsa_key / rsa_cert through the xmlsec1 command. */
static unsigned char *xmlsec_sign(const char *tmpl, size_t *n)
{
	char cmd[1024];
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/test_sigval.XXXXXX");
		assert_non_null(mkdtemp(tmpdir));
		char path[256];
		snprintf(path, sizeof path, "%s/key.pem", tmpdir);
		FILE *f = fopen(path, "w");
		PEM_write_PrivateKey(f, rsa_key, NULL, NULL, 0, NULL, NULL);
		fclose(f);
		snprintf(path, sizeof path, "%s/cert.pem", tmpdir);
		f = fopen(path, "w");
		PEM_write_X509(f, rsa_cert);
		fclose(f);
	}
	write_file("tmpl.xml", tmpl, strlen(tmpl));
	snprintf(cmd, sizeof cmd, "cd %s && xmlsec1 --sign --privkey-pem key.pem,cert.pem "
		 "--id-attr:Id 'http://uri.etsi.org/01903/v1.3.2#:SignedProperties' --output out.xml tmpl.xml "
		 ">xmlsec.log 2>&1", tmpdir);
	if (system(cmd) != 0)
		fail_msg("xmlsec1 --sign failed (see %s/xmlsec.log)", tmpdir);
	return read_file("out.xml", n);
}

static void xml_report(const unsigned char *x, size_t n, struct sigval_report *r)
{
	efos_err e = { 0 };
	memset(r, 0, sizeof *r);
	if (sigval_xml(&vc, x, n, NULL, 0, r, &e) != 0)
		fail_msg("sigval_xml: %s", e.msg);
	assert_int_equal(r->n, 1);
	assert_string_equal(r->format, "xml");
}

static const char sig_head[] =
	"<ds:Signature xmlns:ds=\"" DS "\" Id=\"sig1\"><ds:SignedInfo>"
	"<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>"
	"<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>"
	"<ds:Reference URI=\"\"><ds:Transforms>"
	"<ds:Transform Algorithm=\"" DS "enveloped-signature\"/>"
	"<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>"
	"<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/></ds:Reference>";

static void test_xml_dsig(void **state)
{
	char tmpl[4096];
	size_t n;
	struct sigval_report r;
	snprintf(tmpl, sizeof tmpl, "<doc xmlns=\"urn:test\"><amount>100</amount>%s</ds:SignedInfo>"
		 "<ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>"
		 "</ds:Signature></doc>", sig_head);
	unsigned char *x = xmlsec_sign(tmpl, &n);
	xml_report(x, n, &r);
	if (r.sigs[0].result != SIGVAL_VALID)
		fail_msg("%s: %s", r.sigs[0].reason, r.sigs[0].detail);
	assert_string_equal(r.sigs[0].level, "XML-DSig");
	assert_string_equal(r.sigs[0].subject, "CN=Seal RSA");
	sigval_report_free(&r);
	/* changed content */
	char *amount = strstr((char *)x, ">100<");
	assert_non_null(amount);
	amount[1] = '9';
	xml_report(x, n, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);
	assert_string_equal(r.sigs[0].reason, "reference digest mismatch");
	sigval_report_free(&r);
	/* changed SignedInfo: the signature value no longer verifies */
	amount[1] = '1';
	char *c = strstr((char *)x, "xmlenc#sha256");
	assert_non_null(c);
	memcpy(c + 10, "512", 3);   /* DigestMethod sha512: SignedInfo changes */
	efos_err e = { 0 };
	memset(&r, 0, sizeof r);
	assert_int_equal(sigval_xml(&vc, x, n, NULL, 0, &r, &e), 0);
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);   /* malformed (digest length) or mismatch */
	sigval_report_free(&r);
	free(x);
	/* no signature at all */
	memset(&r, 0, sizeof r);
	assert_int_equal(sigval_xml(&vc, (const unsigned char *)"<a/>", 4, NULL, 0, &r, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	assert_non_null(strstr(e.msg, "no ds:Signature"));
	/* a DOCTYPE is refused by core/xml */
	static const char dtd[] = "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>";
	assert_int_equal(sigval_xml(&vc, (const unsigned char *)dtd, sizeof dtd - 1, NULL, 0, &r, &e), -1);
	sigval_report_free(&r);
}

/* XAdES: a SignedProperties reference with SigningCertificateV2 (digest of cert). */
static void xades_template(char *out, size_t cap, X509 *named)
{
	unsigned char *der = NULL, d[32];
	int dl = i2d_X509(named, &der);
	EVP_Digest(der, (size_t)dl, d, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	char b64[64];
	EVP_EncodeBlock((unsigned char *)b64, d, 32);
	snprintf(out, cap, "<doc xmlns=\"urn:test\"><amount>100</amount>%s"
		 "<ds:Reference Type=\"http://uri.etsi.org/01903#SignedProperties\" URI=\"#sp1\"><ds:Transforms>"
		 "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>"
		 "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/></ds:Reference>"
		 "</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data>"
		 "</ds:KeyInfo><ds:Object><xades:QualifyingProperties xmlns:xades=\"http://uri.etsi.org/01903/v1.3.2#\" "
		 "Target=\"#sig1\"><xades:SignedProperties Id=\"sp1\"><xades:SignedSignatureProperties>"
		 "<xades:SigningTime>2026-01-02T03:04:05Z</xades:SigningTime><xades:SigningCertificateV2><xades:Cert>"
		 "<xades:CertDigest><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>"
		 "<ds:DigestValue>%s</ds:DigestValue></xades:CertDigest></xades:Cert></xades:SigningCertificateV2>"
		 "</xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></ds:Object>"
		 "</ds:Signature></doc>", sig_head, b64);
}

static void test_xades(void **state)
{
	char tmpl[8192];
	size_t n;
	struct sigval_report r;
	xades_template(tmpl, sizeof tmpl, rsa_cert);
	unsigned char *x = xmlsec_sign(tmpl, &n);
	xml_report(x, n, &r);
	if (r.sigs[0].result != SIGVAL_VALID)
		fail_msg("%s: %s", r.sigs[0].reason, r.sigs[0].detail);
	assert_string_equal(r.sigs[0].level, "B-B");
	assert_string_equal(r.sigs[0].signing_time, "2026-01-02T03:04:05Z");
	sigval_report_free(&r);
	/* a changed signed property */
	char *t = strstr((char *)x, "2026-01-02");
	assert_non_null(t);
	t[3] = '7';
	xml_report(x, n, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);
	assert_string_equal(r.sigs[0].reason, "reference digest mismatch");
	assert_non_null(strstr(r.sigs[0].detail, "SignedProperties"));
	sigval_report_free(&r);
	free(x);
	/* SigningCertificateV2 names another certificate than the KeyInfo's */
	xades_template(tmpl, sizeof tmpl, ec_cert);
	x = xmlsec_sign(tmpl, &n);
	xml_report(x, n, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);
	assert_string_equal(r.sigs[0].reason, "signing certificate mismatch");
	sigval_report_free(&r);
	free(x);
}

/* ---- PDF (signed by signer/pades.c) ------------------------------------------------------- */

static void pdf_report(const unsigned char *p, size_t n, struct sigval_report *r)
{
	efos_err e = { 0 };
	memset(r, 0, sizeof *r);
	if (sigval_pdf(&vc, p, n, r, &e) != 0)
		fail_msg("sigval_pdf: %s", e.msg);
	assert_string_equal(r->format, "pdf");
}

static void test_pades(void **state)
{
	size_t n;
	size_t n2;
	unsigned char *in = fx_pdf_classic(&n), *in2 = fx_pdf_xref_stream(&n2);
	STACK_OF(X509) *chain = sk_X509_new_null();
	sk_X509_push(chain, ca_cert);
	struct seal_signer s = { .cert = ec_cert, .chain = chain, .key = ec_key };
	struct pades_params p = { .pdf = in, .pdf_len = n, .md = EVP_sha256() };
	struct pades_result res;
	struct sigval_report r;
	efos_err e = { 0 };
	if (pades_sign(&s, &p, &res, &e) != 0)
		fail_msg("pades_sign: %s", e.msg);
	pdf_report(res.pdf, res.pdf_len, &r);
	assert_int_equal(r.n, 1);
	if (r.sigs[0].result != SIGVAL_VALID)
		fail_msg("%s: %s", r.sigs[0].reason, r.sigs[0].detail);
	assert_true(r.sigs[0].covers_whole_document);
	assert_string_equal(r.sigs[0].subject, "CN=Seal EC");
	sigval_report_free(&r);

	/* a byte of the signed revision changed */
	unsigned char *bad = malloc(res.pdf_len + 64);
	memcpy(bad, res.pdf, res.pdf_len);
	unsigned char *mb = memmem(bad, res.pdf_len, "MediaBox", 8);
	assert_non_null(mb);
	mb[0] = 'N';   /* outside the xref's concern: only the signed bytes change */
	pdf_report(bad, res.pdf_len, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);
	assert_string_equal(r.sigs[0].reason, "message digest mismatch");
	sigval_report_free(&r);

	/* a later revision appended: still valid for the signed revision */
	memcpy(bad, res.pdf, res.pdf_len);
	memcpy(bad + res.pdf_len, "\n% later\n", 9);
	pdf_report(bad, res.pdf_len + 9, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_VALID);
	assert_false(r.sigs[0].covers_whole_document);
	assert_string_equal(r.sigs[0].reason, "signed revision only");
	sigval_report_free(&r);

	/* a byte in the /Contents gap other than the hex string: the ByteRange no longer fits */
	memcpy(bad, res.pdf, res.pdf_len);
	/* ByteRange's second number one more: the gap no longer starts at the hex string's '<' */
	char want[32];
	snprintf(want, sizeof want, "%zu", res.byte_range[1]);
	unsigned char *brk = memmem(bad, res.pdf_len, "/ByteRange", 10);
	assert_non_null(brk);
	unsigned char *num = memmem(brk, 64, want, strlen(want));
	assert_non_null(num);
	num[strlen(want) - 1] = num[strlen(want) - 1] == '9' ? '8' : (unsigned char)(num[strlen(want) - 1] + 1);
	pdf_report(bad, res.pdf_len, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_INVALID);
	assert_string_equal(r.sigs[0].reason, "byte range invalid");
	sigval_report_free(&r);

	/* an unsigned PDF is not a signature */
	memset(&r, 0, sizeof r);
	assert_int_equal(sigval_pdf(&vc, in, n, &r, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	sigval_report_free(&r);
	free(bad);
	free(in);
	pades_result_free(&res);

	/* the same on a PDF with a cross-reference stream */
	p.pdf = in2;
	p.pdf_len = n2;
	if (pades_sign(&s, &p, &res, &e) != 0)
		fail_msg("pades_sign (xref stream): %s", e.msg);
	pdf_report(res.pdf, res.pdf_len, &r);
	assert_int_equal(r.sigs[0].result, SIGVAL_VALID);
	sigval_report_free(&r);
	pades_result_free(&res);
	free(in2);
	sk_X509_free(chain);
}

static int remove_tmpdir(void)
{
	if (tmpdir[0] != '\0') {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
		return system(cmd);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cades_valid),
		cmocka_unit_test(test_cades_tampered),
		cmocka_unit_test(test_cades_wrong_cert),
		cmocka_unit_test(test_cades_unknown_ca),
		cmocka_unit_test(test_cades_bt),
		cmocka_unit_test(test_not_a_signature),
		cmocka_unit_test(test_xml_dsig),
		cmocka_unit_test(test_xades),
		cmocka_unit_test(test_pades),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);
	remove_tmpdir();
	return rc;
}
