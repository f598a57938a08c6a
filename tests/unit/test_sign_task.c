/* signer/sign_task.c with keys in the test HSM: CMS / PDF signed attributes get
 * signingCertificateV2 for our certificate (BES and PDF) and the signature verifies over the
 * returned DER with the certificate's key (RSA PKCS#1 and ECDSA DER); XML SignedInfo is signed
 * as is (RSA PKCS#1, RSA-PSS, ECDSA r||s) and verifies; an algorithm the key cannot do, an
 * unknown one, signed attributes without message-digest, non-DER bytes and a SignedInfo that
 * names another SignatureMethod are refused with the right DSS result and leave no signature. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include "certs/issue.h"
#include "certs/profile.h"
#include "certs/service.h"
#include "hsm/bridge.h"
#include "signer/sign_task.h"
#include "test_hsm_common.h"

#define ALG_RSA "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define ALG_PSS "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
#define ALG_EC "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"

static struct hsm *h;
static struct cert_profiles *profiles;
static struct hsm_key *ca_key, *rsa_key, *ec_key;
static struct certs_ca ca;
static X509 *rsa_cert, *ec_cert;

static X509 *issue(struct hsm_key *k, bool self)
{
	const char *prof = self ? "root-ca" : "signer";
	struct cert_issue_request req = {
		.profile = cert_profile_get(profiles, prof), .public_key = hsm_key_public(k),
		.subject = { .o = "EFOS unit test", .cn = "Signer", .given_name = "Anna", .surname = "Andersson",
			     .serial_number = "198001012384" },
	};
	unsigned char serial[16];
	efos_err e = { 0 };
	X509 *x = NULL;
	assert_int_equal(certs_serial_random(serial, &e), 0);
	if (certs_build(&ca, &req, serial, sizeof serial, &x, &e) != 0)
		fail_msg("certs_build %s: %s", prof, e.msg);
	return x;
}

static int group_setup(void **state)
{
	const char *top = getenv("EFOS_TOP");
	char path[512];
	efos_err e = { 0 };
	snprintf(path, sizeof path, "%s/etc/profiles.conf", top ? top : ".");
	if (cert_profiles_load(path, "https://efos.test", &profiles, &e) != 0) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	xmlInitParser();
	h = test_hsm_open(2);
	ca_key = test_session_key(h, HSM_KEY_EC, NID_X9_62_prime256v1, "ut-task-ca");
	rsa_key = test_session_key(h, HSM_KEY_RSA, 2048, "ut-task-rsa");
	ec_key = test_session_key(h, HSM_KEY_EC, NID_X9_62_prime256v1, "ut-task-ec");
	ca.name = "sign";
	ca.key = ca_key;
	ca.signer = hsm_evp_pkey(ca_key, &e);
	ca.cert = NULL;
	ca.cert = issue(ca_key, true);
	rsa_cert = issue(rsa_key, false);
	ec_cert = issue(ec_key, false);
	return 0;
}

static int group_teardown(void **state)
{
	X509_free(rsa_cert);
	X509_free(ec_cert);
	X509_free(ca.cert);
	EVP_PKEY_free(ca.signer);
	hsm_key_free(ca_key);
	hsm_key_free(rsa_key);
	hsm_key_free(ec_key);
	hsm_close(h);
	cert_profiles_free(profiles);
	return 0;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static void append(unsigned char *buf, size_t *n, const unsigned char *p, size_t len)
{
	memcpy(buf + *n, p, len);
	*n += len;
}

/* DER SignedAttributes: content-type id-data and a message-digest (when with_digest). */
static unsigned char *signed_attrs(bool with_digest, size_t *len)
{
	unsigned char body[512], *out = malloc(600), *der = NULL;
	size_t n = 0;
	X509_ATTRIBUTE *ct = X509_ATTRIBUTE_create(NID_pkcs9_contentType, V_ASN1_OBJECT, OBJ_nid2obj(NID_pkcs7_data));
	int l = i2d_X509_ATTRIBUTE(ct, &der);
	append(body, &n, der, (size_t)l);
	OPENSSL_free(der);
	der = NULL;
	X509_ATTRIBUTE_free(ct);
	if (with_digest) {
		unsigned char d[32];
		memset(d, 0x5a, sizeof d);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		ASN1_OCTET_STRING_set(os, d, sizeof d);
		X509_ATTRIBUTE *md = X509_ATTRIBUTE_create(NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, os);
		l = i2d_X509_ATTRIBUTE(md, &der);
		append(body, &n, der, (size_t)l);
		OPENSSL_free(der);
		X509_ATTRIBUTE_free(md);
	}
	assert_true(n < 128);
	out[0] = 0x31;
	out[1] = (unsigned char)n;
	memcpy(out + 2, body, n);
	*len = n + 2;
	return out;
}

static bool verify(X509 *cert, int pss, const unsigned char *data, size_t len, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	bool ok = EVP_DigestVerifyInit(c, &pc, EVP_sha256(), NULL, X509_get0_pubkey(cert)) == 1;
	if (ok && pss)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) > 0;
	ok = ok && EVP_DigestVerify(c, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(c);
	return ok;
}

/* r||s (XML-DSig) to DER for OpenSSL. */
static unsigned char *raw_to_der(const unsigned char *raw, size_t n, size_t *dlen)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	ECDSA_SIG_set0(s, BN_bin2bn(raw, (int)n / 2, NULL), BN_bin2bn(raw + n / 2, (int)n / 2, NULL));
	unsigned char *der = NULL;
	*dlen = (size_t)i2d_ECDSA_SIG(s, &der);
	ECDSA_SIG_free(s);
	return der;
}

static bool has_signing_cert_v2(const unsigned char *tbs, size_t len, X509 *cert)
{
	unsigned char hash[32], *oid = NULL;
	unsigned int hl = 0;
	X509_digest(cert, EVP_sha256(), hash, &hl);
	int ol = i2d_ASN1_OBJECT(OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), &oid);
	bool ok = memmem(tbs, len, hash, hl) != NULL && memmem(tbs, len, oid, (size_t)ol) != NULL;
	OPENSSL_free(oid);
	return ok;
}

static struct dss_sign_task cms_task(enum dss_sig_type type, enum dss_ades_type ades, bool with_digest)
{
	struct dss_sign_task t = { .id = "t1", .sig_type = type, .ades_type = ades };
	t.tbs = signed_attrs(with_digest, &t.tbs_len);
	return t;
}

static void task_free(struct dss_sign_task *t)
{
	free(t->tbs);
	free(t->sig);
	free(t->ades_object);
}

static const char signed_info_fmt[] =
	"<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">"
	"<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:CanonicalizationMethod>"
	"<ds:SignatureMethod Algorithm=\"%s\"></ds:SignatureMethod>"
	"<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\">"
	"</ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod>"
	"<ds:DigestValue>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</ds:DigestValue></ds:Reference></ds:SignedInfo>";

static struct dss_sign_task xml_task(const char *alg)
{
	struct dss_sign_task t = { .sig_type = DSS_SIG_XML };
	char buf[2048];
	int n = snprintf(buf, sizeof buf, signed_info_fmt, alg);
	t.tbs = malloc((size_t)n);
	memcpy(t.tbs, buf, (size_t)n);
	t.tbs_len = (size_t)n;
	return t;
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_cms_bes_rsa_and_pdf_ec(void **state)
{
	struct dss_sign_task t[2] = { cms_task(DSS_SIG_CMS, DSS_ADES_BES, true), cms_task(DSS_SIG_CMS, DSS_ADES_NONE, true) };
	unsigned char *orig = malloc(t[1].tbs_len);
	memcpy(orig, t[1].tbs, t[1].tbs_len);
	size_t orig_len = t[1].tbs_len;
	struct dss_result res = { 0 };
	efos_err e = { 0 };
	if (sign_tasks(rsa_key, rsa_cert, ALG_RSA, t, 2, &res, &e) != 0)
		fail_msg("sign_tasks: %s", e.msg);
	/* BES: signingCertificateV2 added, the new bytes returned and signed. */
	assert_true(t[0].tbs_changed);
	assert_int_equal(t[0].tbs[0], 0x31);
	assert_true(has_signing_cert_v2(t[0].tbs, t[0].tbs_len, rsa_cert));
	assert_true(verify(rsa_cert, 0, t[0].tbs, t[0].tbs_len, t[0].sig, t[0].sig_len));
	assert_string_equal(t[0].sig_alg_uri, ALG_RSA);
	/* None: the bytes stay exactly as sent. */
	assert_false(t[1].tbs_changed);
	assert_int_equal(t[1].tbs_len, orig_len);
	assert_memory_equal(t[1].tbs, orig, orig_len);
	assert_true(verify(rsa_cert, 0, t[1].tbs, t[1].tbs_len, t[1].sig, t[1].sig_len));
	/* A tampered byte does not verify (the check can fail). */
	t[1].tbs[t[1].tbs_len - 1] ^= 1;
	assert_false(verify(rsa_cert, 0, t[1].tbs, t[1].tbs_len, t[1].sig, t[1].sig_len));
	task_free(&t[0]);
	task_free(&t[1]);
	free(orig);

	/* PDF with AdESType None still gets signingCertificateV2 (PAdES); ECDSA DER. */
	struct dss_sign_task p = cms_task(DSS_SIG_PDF, DSS_ADES_NONE, true);
	if (sign_tasks(ec_key, ec_cert, ALG_EC, &p, 1, &res, &e) != 0)
		fail_msg("sign_tasks pdf: %s", e.msg);
	assert_true(p.tbs_changed);
	assert_true(has_signing_cert_v2(p.tbs, p.tbs_len, ec_cert));
	assert_false(has_signing_cert_v2(p.tbs, p.tbs_len, rsa_cert));
	assert_true(verify(ec_cert, 0, p.tbs, p.tbs_len, p.sig, p.sig_len));
	task_free(&p);
}

/* The returned attributes and signature, put into a CMS SignedData the way a requester
 * assembles it, pass CMS_verify (what `openssl cms -verify` does) over the detached document. */
static void test_cms_signeddata_verifies(void **state)
{
	const char doc[] = "document to sign\n";
	unsigned char d[32], body[256];
	size_t n = 0;
	EVP_Digest(doc, sizeof doc - 1, d, NULL, EVP_sha256(), NULL);
	unsigned char *der = NULL;
	X509_ATTRIBUTE *ct = X509_ATTRIBUTE_create(NID_pkcs9_contentType, V_ASN1_OBJECT, OBJ_nid2obj(NID_pkcs7_data));
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(os, d, sizeof d);
	X509_ATTRIBUTE *md = X509_ATTRIBUTE_create(NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, os);
	int l = i2d_X509_ATTRIBUTE(ct, &der);
	append(body, &n, der, (size_t)l);
	OPENSSL_free(der);
	der = NULL;
	l = i2d_X509_ATTRIBUTE(md, &der);
	append(body, &n, der, (size_t)l);
	OPENSSL_free(der);
	X509_ATTRIBUTE_free(ct);
	X509_ATTRIBUTE_free(md);
	struct dss_sign_task t = { .sig_type = DSS_SIG_CMS, .ades_type = DSS_ADES_BES, .tbs = malloc(n + 2), .tbs_len = n + 2 };
	t.tbs[0] = 0x31;
	t.tbs[1] = (unsigned char)n;
	memcpy(t.tbs + 2, body, n);
	struct dss_result res = { 0 };
	efos_err e = { 0 };
	if (sign_tasks(rsa_key, rsa_cert, ALG_RSA, &t, 1, &res, &e) != 0)
		fail_msg("sign_tasks: %s", e.msg);

	/* A SignerInfo for our certificate whose signed attributes are the returned ones. */
	/* CMS_add1_signer wants the private key; CMS_PARTIAL: it does not sign with it. */
	EVP_PKEY *dummy = hsm_evp_pkey(rsa_key, &e);
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_DETACHED | CMS_BINARY);
	CMS_SignerInfo *si = CMS_add1_signer(cms, rsa_cert, dummy, EVP_sha256(),
					     CMS_PARTIAL | CMS_BINARY | CMS_NOATTR | CMS_NOSMIMECAP);
	assert_non_null(si);
	const unsigned char *p = t.tbs;
	long len;
	int tag, cls;
	ASN1_get_object(&p, &len, &tag, &cls, (long)t.tbs_len);
	const unsigned char *end = p + len;
	int count = 0;
	while (p < end) {
		X509_ATTRIBUTE *a = d2i_X509_ATTRIBUTE(NULL, &p, end - p);
		assert_non_null(a);
		assert_true(CMS_signed_add1_attr(si, a));
		X509_ATTRIBUTE_free(a);
		count++;
	}
	assert_int_equal(count, 3);
	assert_true(ASN1_STRING_set(CMS_SignerInfo_get0_signature(si), t.sig, (int)t.sig_len));
	/* CMS_verify re-encodes the attributes as DER: it verifies only if they are the very bytes
	 * that were signed. */
	BIO *content = BIO_new_mem_buf(doc, (int)sizeof doc - 1);
	X509_STORE *st = X509_STORE_new();
	int ok = CMS_verify(cms, NULL, st, content, NULL, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY | CMS_DETACHED);
	if (ok != 1)
		ERR_print_errors_fp(stderr);
	assert_int_equal(ok, 1);
	/* and a different document does not verify */
	BIO_free(content);
	content = BIO_new_mem_buf("other", 5);
	assert_int_not_equal(CMS_verify(cms, NULL, st, content, NULL, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY | CMS_DETACHED), 1);
	BIO_free(content);
	X509_STORE_free(st);
	CMS_ContentInfo_free(cms);
	EVP_PKEY_free(dummy);
	task_free(&t);
}

static void test_xml_rsa_pss_ec(void **state)
{
	struct dss_result res = { 0 };
	efos_err e = { 0 };
	struct dss_sign_task t = xml_task(ALG_RSA);
	if (sign_tasks(rsa_key, rsa_cert, ALG_RSA, &t, 1, &res, &e) != 0)
		fail_msg("xml rsa: %s", e.msg);
	assert_false(t.tbs_changed);
	assert_true(verify(rsa_cert, 0, t.tbs, t.tbs_len, t.sig, t.sig_len));
	task_free(&t);

	t = xml_task(ALG_PSS);
	if (sign_tasks(rsa_key, rsa_cert, ALG_PSS, &t, 1, &res, &e) != 0)
		fail_msg("xml pss: %s", e.msg);
	assert_true(verify(rsa_cert, 1, t.tbs, t.tbs_len, t.sig, t.sig_len));
	assert_false(verify(rsa_cert, 0, t.tbs, t.tbs_len, t.sig, t.sig_len));
	task_free(&t);

	t = xml_task(ALG_EC);
	if (sign_tasks(ec_key, ec_cert, ALG_EC, &t, 1, &res, &e) != 0)
		fail_msg("xml ec: %s", e.msg);
	assert_int_equal(t.sig_len, 64);   /* r||s of P-256 */
	size_t dl;
	unsigned char *der = raw_to_der(t.sig, t.sig_len, &dl);
	assert_true(verify(ec_cert, 0, t.tbs, t.tbs_len, der, dl));
	OPENSSL_free(der);
	task_free(&t);
}

static void test_refusals(void **state)
{
	struct dss_result res = { 0 };
	efos_err e = { 0 };
	/* The key cannot do it / unknown / SHA-1. */
	struct dss_sign_task t = cms_task(DSS_SIG_CMS, DSS_ADES_NONE, true);
	assert_int_equal(sign_tasks(rsa_key, rsa_cert, ALG_EC, &t, 1, &res, &e), -1);
	assert_string_equal(res.minor, DSS_MINOR_NOT_SUPPORTED);
	assert_int_equal(sign_tasks(rsa_key, rsa_cert, "http://www.w3.org/2000/09/xmldsig#rsa-sha1", &t, 1, &res, &e), -1);
	assert_string_equal(res.minor, DSS_MINOR_NOT_SUPPORTED);
	assert_null(t.sig);
	task_free(&t);

	/* No message-digest; the first task signed is undone when the second fails. */
	struct dss_sign_task two[2] = { cms_task(DSS_SIG_CMS, DSS_ADES_NONE, true), cms_task(DSS_SIG_CMS, DSS_ADES_BES, false) };
	two[1].id = "t2";
	assert_int_equal(sign_tasks(rsa_key, rsa_cert, ALG_RSA, two, 2, &res, &e), -1);
	assert_string_equal(res.major, DSS_MAJOR_REQUESTER);
	assert_non_null(strstr(res.message, "t2"));
	assert_non_null(strstr(res.message, "message-digest"));
	assert_null(two[0].sig);
	task_free(&two[0]);
	task_free(&two[1]);

	/* Not DER; trailing garbage. */
	t = cms_task(DSS_SIG_PDF, DSS_ADES_NONE, true);
	unsigned char *longer = realloc(t.tbs, t.tbs_len + 1);
	t.tbs = longer;
	t.tbs[t.tbs_len++] = 0;
	assert_int_equal(sign_tasks(rsa_key, rsa_cert, ALG_RSA, &t, 1, &res, &e), -1);
	assert_string_equal(res.major, DSS_MAJOR_REQUESTER);
	t.tbs[0] = 0x30;
	assert_int_equal(sign_tasks(rsa_key, rsa_cert, ALG_RSA, &t, 1, &res, &e), -1);
	assert_null(t.sig);
	task_free(&t);

	/* XML: SignedInfo names another algorithm; not a SignedInfo; a DOCTYPE. */
	t = xml_task("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512");
	assert_int_equal(sign_tasks(rsa_key, rsa_cert, ALG_RSA, &t, 1, &res, &e), -1);
	assert_non_null(strstr(res.message, "SignatureMethod"));
	task_free(&t);
	const char *bad[] = { "<x/>", "<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", "not xml" };
	for (size_t i = 0; i < 3; i++) {
		struct dss_sign_task x = { .sig_type = DSS_SIG_XML, .tbs = (unsigned char *)strdup(bad[i]),
					   .tbs_len = strlen(bad[i]) };
		assert_int_equal(sign_tasks(rsa_key, rsa_cert, ALG_RSA, &x, 1, &res, &e), -1);
		assert_string_equal(res.major, DSS_MAJOR_REQUESTER);
		assert_null(x.sig);
		task_free(&x);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cms_bes_rsa_and_pdf_ec),
		cmocka_unit_test(test_cms_signeddata_verifies),
		cmocka_unit_test(test_xml_rsa_pss_ec),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests_name("sign_task", tests, group_setup, group_teardown);
}
