/* signer/pades.c with in-memory keys (the HSM path: tests/integration/t_seal_pades.sh).
 *
 * Each signed PDF is checked by three independent readers: our own pdf_signatures (the
 * signature covers the file but its /Contents), `openssl cms -verify` over the ByteRange cut
 * out by this test's own scan of the file, and poppler's `pdfsig` with an NSS database that
 * trusts the test CA (its "Signature Validation:" line: pdfsig exits 0 even on a mismatch).
 * Classic xref (RSA, B-B), xref stream + object stream (ECDSA, B-T), a second signature on a
 * signed PDF (both verify), a tampered copy (fails), malformed input (EFOS_E_INVALID), and
 * the CMS's signed attributes (no signing-time; signingCertificateV2). */
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
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "signer/pades.h"
#include "signer/pdf.h"
#include "signer/tsa.h"
#include "pdf_fixtures.h"
#include "test_seal_common.h"

static EVP_PKEY *ca_key, *ec_key, *rsa_key, *tsa_key;
static X509 *ca_cert, *ec_cert, *rsa_cert, *tsa_cert;
static STACK_OF(X509) *chain;
static struct signer_tsa *tsa;
static char dir[] = "/tmp/test_pades.XXXXXX";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int setup(void **state)
{
	ca_key = EVP_EC_gen("P-256");
	ec_key = EVP_EC_gen("P-256");
	tsa_key = EVP_EC_gen("P-256");
	rsa_key = EVP_RSA_gen(2048);
	ca_cert = test_make_cert(ca_key, "PAdES Test CA", "EFOS test", NULL, ca_key, "critical,keyCertSign,cRLSign", NULL, true, 0);
	ec_cert = test_make_cert(ec_key, "Seal EC", "EFOS test", ca_cert, ca_key, "critical,digitalSignature,nonRepudiation", NULL, false, 0);
	rsa_cert = test_make_cert(rsa_key, "Seal RSA", "EFOS test", ca_cert, ca_key, "critical,digitalSignature,nonRepudiation", NULL, false, 0);
	tsa_cert = test_make_cert(tsa_key, "TSA", "EFOS test", ca_cert, ca_key, "critical,digitalSignature", "critical,timeStamping", false, 0);
	chain = sk_X509_new_null();
	sk_X509_push(chain, ca_cert);
	struct signer_tsa_params tp = { .cert = tsa_cert, .chain = chain, .key = tsa_key, .policy_oid = "1.2.3.4",
					.accuracy_ms = 1000 };
	efos_err e = { 0 };
	if (signer_tsa_new(&tp, &tsa, &e) != 0 || mkdtemp(dir) == NULL)
		return -1;
	char path[512];
	snprintf(path, sizeof path, "%s/ca.pem", dir);
	FILE *fp = fopen(path, "w");
	PEM_write_X509(fp, ca_cert);
	fclose(fp);
	/* An NSS database trusting the CA, for pdfsig. */
	if (sh("mkdir -p %s/nss && certutil -N -d sql:%s/nss --empty-password && "
	       "certutil -A -d sql:%s/nss -n ca -t CT,C,C -i %s/ca.pem", dir, dir, dir, dir) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	if (getenv("TEST_PADES_KEEP") == NULL)   /* set it to look at the files afterwards */
		sh("rm -rf %s", dir);
	else
		fprintf(stderr, "files kept in %s\n", dir);
	signer_tsa_free(tsa);
	sk_X509_free(chain);
	X509_free(ca_cert); X509_free(ec_cert); X509_free(rsa_cert); X509_free(tsa_cert);
	EVP_PKEY_free(ca_key); EVP_PKEY_free(ec_key); EVP_PKEY_free(rsa_key); EVP_PKEY_free(tsa_key);
	return 0;
}

static void write_file(const char *name, const void *d, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(d, 1, n, fp), n);
	fclose(fp);
}

static void sign(EVP_PKEY *key, X509 *cert, const unsigned char *pdf, size_t len, bool ts, struct pades_result *r)
{
	struct seal_signer s = { .cert = cert, .chain = chain, .key = key };
	struct pades_params p = { .pdf = pdf, .pdf_len = len, .md = EVP_sha256(),
				  .timestamp = ts ? test_tsa_stamp : NULL, .timestamp_arg = tsa };
	efos_err e = { 0 };
	if (pades_sign(&s, &p, r, &e) != 0)
		fail_msg("pades_sign: %s", e.msg);
	assert_true(r->pdf_len > len);
	assert_memory_equal(r->pdf, pdf, len);   /* an incremental update: the original untouched */
	assert_int_equal(r->timestamped, ts);
}

/* The n-th (0-based) /ByteRange in the file, found by a plain scan (not by signer/pdf.c). */
static void nth_byte_range(const unsigned char *pdf, size_t len, int n, size_t br[4])
{
	const unsigned char *p = pdf;
	for (int i = 0; i <= n; i++) {
		p = memmem(p, len - (size_t)(p - pdf), "/ByteRange [", 12);
		assert_non_null(p);
		p += 12;
	}
	assert_int_equal(sscanf((const char *)p, "%zu %zu %zu %zu", &br[0], &br[1], &br[2], &br[3]), 4);
}

/* openssl cms -verify over the n-th signature's ByteRange; true when it verifies. */
static bool openssl_verifies(const unsigned char *pdf, size_t len, int n)
{
	size_t br[4];
	nth_byte_range(pdf, len, n, br);
	assert_true(br[2] + br[3] <= len && br[1] < br[2]);
	unsigned char *ranges = malloc(br[1] + br[3]);
	memcpy(ranges, pdf + br[0], br[1]);
	memcpy(ranges + br[1], pdf + br[2], br[3]);
	write_file("ranges.bin", ranges, br[1] + br[3]);
	free(ranges);
	/* /Contents: the hex between the ranges, without < >; zero padding after the DER. */
	size_t hexlen = br[2] - br[1] - 2;
	unsigned char *der = malloc(hexlen / 2);
	for (size_t i = 0; i < hexlen / 2; i++) {
		unsigned v;
		assert_int_equal(sscanf((const char *)pdf + br[1] + 1 + 2 * i, "%2x", &v), 1);
		der[i] = (unsigned char)v;
	}
	write_file("sig.der", der, hexlen / 2);
	free(der);
	return sh("openssl cms -verify -binary -inform DER -in %s/sig.der -content %s/ranges.bin -CAfile %s/ca.pem "
		  "-purpose any -out /dev/null 2>/dev/null", dir, dir, dir) == 0;
}

/* pdfsig's verdict on every signature: the count of "Signature is Valid." with a trusted
 * certificate, and whether any line says the digest does not match. */
static void pdfsig(const unsigned char *pdf, size_t len, int *valid, int *total, bool *mismatch)
{
	write_file("doc.pdf", pdf, len);
	char cmd[1024], line[1024];
	snprintf(cmd, sizeof cmd, "pdfsig -nssdir sql:%s/nss %s/doc.pdf 2>&1", dir, dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	*valid = *total = 0;
	*mismatch = false;
	while (fgets(line, sizeof line, p) != NULL) {
		if (strstr(line, "Signature Validation:") != NULL) {
			(*total)++;
			if (strstr(line, "Signature is Valid.") != NULL)
				(*valid)++;
			if (strstr(line, "Digest Mismatch") != NULL)
				*mismatch = true;
		}
		if (strstr(line, "Certificate Validation:") != NULL && strstr(line, "Certificate is Trusted.") == NULL)
			fail_msg("pdfsig: %s", line);
	}
	pclose(p);
}

static void check_cms_attrs(const struct pdf_signature *s, bool ts)
{
	const unsigned char *p = s->contents;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)s->contents_len);
	assert_non_null(cms);
	assert_true(CMS_is_detached(cms));
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	assert_non_null(si);
	assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1) < 0);
	assert_true(CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, -1) >= 0);
	assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_contentType, -1) >= 0);
	assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_messageDigest, -1) >= 0);
	assert_int_equal(CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken, -1) >= 0, ts);
	CMS_ContentInfo_free(cms);
}

static void check_ours(const struct pades_result *r, size_t nsigs)
{
	struct pdf_doc *d;
	efos_err e = { 0 };
	const struct pdf_signature *sigs;
	size_t n;
	if (pdf_open(r->pdf, r->pdf_len, &d, &e) != 0 || pdf_signatures(d, &sigs, &n, &e) != 0)
		fail_msg("reading the signed PDF: %s", e.msg);
	assert_int_equal(n, nsigs);
	/* The newest signature covers the whole file. */
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		assert_true(sigs[i].covers_whole_file_but_contents);
		assert_string_equal(sigs[i].sub_filter, "ETSI.CAdES.detached");
		assert_non_null(sigs[i].field_name);
		if (sigs[i].revision_end == r->pdf_len) {
			found = true;
			assert_memory_equal(sigs[i].byte_range, r->byte_range, sizeof r->byte_range);
			check_cms_attrs(&sigs[i], r->timestamped);
		}
	}
	assert_true(found);
	pdf_close(d);
}

static void test_classic_rsa(void **state)
{
	size_t len;
	unsigned char *pdf = fx_pdf_classic(&len);
	struct pades_result r;
	sign(rsa_key, rsa_cert, pdf, len, false, &r);
	check_ours(&r, 1);
	assert_true(memmem(r.pdf + len, r.pdf_len - len, "\nxref\n", 6) != NULL);
	assert_true(openssl_verifies(r.pdf, r.pdf_len, 0));
	int valid, total;
	bool mismatch;
	pdfsig(r.pdf, r.pdf_len, &valid, &total, &mismatch);
	assert_int_equal(total, 1);
	assert_int_equal(valid, 1);

	/* Tampered: one byte of the original page content changed. */
	unsigned char *t = malloc(r.pdf_len);
	memcpy(t, r.pdf, r.pdf_len);
	unsigned char *hello = memmem(t, len, "Hello EFOS", 10);
	assert_non_null(hello);
	hello[0] = 'J';
	assert_false(openssl_verifies(t, r.pdf_len, 0));
	pdfsig(t, r.pdf_len, &valid, &total, &mismatch);
	assert_int_equal(total, 1);
	assert_int_equal(valid, 0);
	assert_true(mismatch);
	free(t);
	pades_result_free(&r);
	free(pdf);
}

static void test_xref_stream_ec_bt_then_second(void **state)
{
	size_t len;
	unsigned char *pdf = fx_pdf_xref_stream(&len);
	struct pades_result r1, r2;
	sign(ec_key, ec_cert, pdf, len, true, &r1);
	check_ours(&r1, 1);
	assert_true(memmem(r1.pdf + len, r1.pdf_len - len, "/Type /XRef", 11) != NULL);
	assert_true(openssl_verifies(r1.pdf, r1.pdf_len, 0));
	int valid, total;
	bool mismatch;
	pdfsig(r1.pdf, r1.pdf_len, &valid, &total, &mismatch);
	assert_int_equal(total, 1);
	assert_int_equal(valid, 1);

	/* A second signature on the signed PDF: both verify. */
	sign(rsa_key, rsa_cert, r1.pdf, r1.pdf_len, false, &r2);
	check_ours(&r2, 2);
	assert_true(openssl_verifies(r2.pdf, r2.pdf_len, 0));
	assert_true(openssl_verifies(r2.pdf, r2.pdf_len, 1));
	pdfsig(r2.pdf, r2.pdf_len, &valid, &total, &mismatch);
	assert_int_equal(total, 2);
	assert_int_equal(valid, 2);
	pades_result_free(&r1);
	pades_result_free(&r2);
	free(pdf);
}

static void test_existing_form(void **state)
{
	size_t len;
	unsigned char *pdf = fx_pdf_acroform(&len);
	struct pades_result r;
	sign(ec_key, ec_cert, pdf, len, false, &r);
	check_ours(&r, 1);
	assert_true(openssl_verifies(r.pdf, r.pdf_len, 0));
	int valid, total;
	bool mismatch;
	pdfsig(r.pdf, r.pdf_len, &valid, &total, &mismatch);
	assert_int_equal(total, 1);
	assert_int_equal(valid, 1);
	/* The text field stays in the form and on the page; /Info and the first /ID are kept. */
	const unsigned char *upd = r.pdf + len;
	size_t ul = r.pdf_len - len;
	assert_non_null(memmem(upd, ul, "/Fields [6 0 R ", 15));
	assert_non_null(memmem(upd, ul, "/Annots [6 0 R ", 15));
	assert_non_null(memmem(upd, ul, "/DA (/Helv 0 Tf 0 g)", 20));
	assert_non_null(memmem(upd, ul, "/Info 8 0 R", 11));
	assert_non_null(memmem(upd, ul, "/ID [<0102>", 11));
	assert_true(upd[0] == '\n');   /* the original ended right after %%EOF */
	pades_result_free(&r);
	free(pdf);
}

static void test_bound_and_refusals(void **state)
{
	struct seal_signer s = { .cert = rsa_cert, .chain = chain, .key = rsa_key };
	size_t b = pades_contents_bound(&s, false), bt = pades_contents_bound(&s, true);
	assert_true(b > 256 + (size_t)i2d_X509(rsa_cert, NULL) + (size_t)i2d_X509(ca_cert, NULL));
	assert_true(bt > b);

	size_t len;
	unsigned char *pdf = fx_pdf_classic(&len);
	struct pades_params p = { .pdf = pdf, .pdf_len = len / 2, .md = EVP_sha256() };
	struct pades_result r;
	efos_err e = { 0 };
	assert_int_equal(pades_sign(&s, &p, &r, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	p.pdf = (const unsigned char *)"%PDF-1.4 but nothing else";
	p.pdf_len = 25;
	assert_int_equal(pades_sign(&s, &p, &r, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	p.pdf = pdf;
	p.pdf_len = len;
	p.md = NULL;
	assert_int_equal(pades_sign(&s, &p, &r, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	free(pdf);

	/* Certified with no changes allowed: refused; with form filling and signing allowed: signed. */
	const char *objs[] = {
		NULL,
		"<< /Type /Catalog /Pages 2 0 R /Perms << /DocMDP 4 0 R >> >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>",
		"<< /Type /Sig /Reference [<< /Type /SigRef /TransformMethod /DocMDP /TransformParams "
		"<< /Type /TransformParams /P 1 /V /1.2 >> >>] >>",
	};
	pdf = fx_pdf_objects(objs, 5, &len);
	p.pdf = pdf;
	p.pdf_len = len;
	p.md = EVP_sha256();
	assert_int_equal(pades_sign(&s, &p, &r, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	assert_non_null(strstr(e.msg, "DocMDP"));
	free(pdf);
	objs[4] = "<< /Type /Sig /Reference [<< /Type /SigRef /TransformMethod /DocMDP /TransformParams "
		  "<< /Type /TransformParams /P 2 /V /1.2 >> >>] >>";
	pdf = fx_pdf_objects(objs, 5, &len);
	p.pdf = pdf;
	p.pdf_len = len;
	if (pades_sign(&s, &p, &r, &e) != 0)
		fail_msg("DocMDP P 2: %s", e.msg);
	pades_result_free(&r);
	free(pdf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classic_rsa),
		cmocka_unit_test(test_xref_stream_ec_bt_then_second),
		cmocka_unit_test(test_existing_form),
		cmocka_unit_test(test_bound_and_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
