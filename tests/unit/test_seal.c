/* signer/seal.c and signer/tsa.c with in-memory keys (the HSM path is covered by
 * tests/integration/t_seal.sh): CAdES detached, enveloping and hash-only verify with CMS_verify
 * and carry signingCertificateV2; refusals of inconsistent requests; the TSA grants, echoes the
 * nonce, numbers tokens from the serial source, rejects garbage with badDataFormat; B-T adds a
 * token whose imprint is the digest of the signature value. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "signer/seal.h"
#include "signer/tsa.h"
#include "test_seal_common.h"

static EVP_PKEY *ca_key, *ec_key, *rsa_key, *tsa_key;
static X509 *ca_cert, *ec_cert, *rsa_cert, *tsa_cert;
static struct signer_tsa *tsa;
static unsigned char doc[1024];

static int serial_down(void *arg, uint64_t *serial, efos_err *e)
{
	return efos_fail(e, EFOS_E_UNAVAILABLE, "database down");
}

static int setup(void **state)
{
	ca_key = EVP_EC_gen("P-256");
	ec_key = EVP_EC_gen("P-256");
	tsa_key = EVP_EC_gen("P-256");
	rsa_key = EVP_RSA_gen(2048);
	if (!ca_key || !ec_key || !tsa_key || !rsa_key)
		return -1;
	ca_cert = test_make_cert(ca_key, "Test CA", NULL, NULL, ca_key, "critical,keyCertSign,cRLSign", NULL, true, 0);
	ec_cert = test_make_cert(ec_key, "Seal EC", NULL, ca_cert, ca_key, "critical,digitalSignature,nonRepudiation", NULL, false, 0);
	rsa_cert = test_make_cert(rsa_key, "Seal RSA", NULL, ca_cert, ca_key, "critical,digitalSignature,nonRepudiation", NULL, false, 0);
	tsa_cert = test_make_cert(tsa_key, "TSA", NULL, ca_cert, ca_key, "critical,digitalSignature", "critical,timeStamping", false, 0);
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
	X509_free(ca_cert); X509_free(ec_cert); X509_free(rsa_cert); X509_free(tsa_cert);
	EVP_PKEY_free(ca_key); EVP_PKEY_free(ec_key); EVP_PKEY_free(rsa_key); EVP_PKEY_free(tsa_key);
	return 0;
}

static CMS_ContentInfo *parse(const struct seal_result *r)
{
	const unsigned char *p = r->der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)r->der_len);
	assert_non_null(cms);
	return cms;
}

/* Verifies cms (with content when detached) to ca_cert; returns the signer info. */
static void verify(CMS_ContentInfo *cms, const unsigned char *content, size_t len, bool expect_ok)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, ca_cert);
	X509_VERIFY_PARAM_set_purpose(X509_STORE_get0_param(st), X509_PURPOSE_ANY);
	BIO *in = content ? BIO_new_mem_buf(content, (int)len) : NULL;
	BIO *out = BIO_new(BIO_s_mem());
	int ok = CMS_verify(cms, NULL, st, in, out, CMS_BINARY);
	if (expect_ok && ok != 1)
		fail_msg("CMS_verify failed");
	if (!expect_ok)
		assert_int_not_equal(ok, 1);
	if (ok == 1 && content == NULL) {   /* enveloping: the content is the document */
		char *d;
		long n = BIO_get_mem_data(out, &d);
		assert_int_equal(n, sizeof doc);
		assert_memory_equal(d, doc, sizeof doc);
	}
	ERR_clear_error();
	BIO_free(in);
	BIO_free(out);
	X509_STORE_free(st);
}

static CMS_SignerInfo *signer_info(CMS_ContentInfo *cms)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	assert_int_equal(sk_CMS_SignerInfo_num(sis), 1);
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);
	/* CAdES B: these four signed attributes */
	assert_true(CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, -1) >= 0);
	assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1) >= 0);
	assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_contentType, -1) >= 0);
	assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_messageDigest, -1) >= 0);
	return si;
}

static void sign_ok(EVP_PKEY *key, X509 *cert, const struct seal_cades_params *p, struct seal_result *r)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	sk_X509_push(chain, ca_cert);
	struct seal_signer s = { .cert = cert, .chain = chain, .key = key };
	efos_err e = { 0 };
	if (seal_cades_sign(&s, p, r, &e) != 0)
		fail_msg("seal_cades_sign: %s", e.msg);
	sk_X509_free(chain);
}

static void test_detached_ec(void **state)
{
	struct seal_cades_params p = { .packaging = SEAL_DETACHED, .md = EVP_sha256(), .document = doc,
				       .document_len = sizeof doc };
	struct seal_result r;
	sign_ok(ec_key, ec_cert, &p, &r);
	CMS_ContentInfo *cms = parse(&r);
	assert_true(CMS_is_detached(cms));
	signer_info(cms);
	verify(cms, doc, sizeof doc, true);
	unsigned char changed[sizeof doc];
	memcpy(changed, doc, sizeof doc);
	changed[10] ^= 1;
	verify(cms, changed, sizeof changed, false);
	unsigned char d[32];
	SHA256(doc, sizeof doc, d);
	assert_int_equal(r.digest_len, 32);
	assert_memory_equal(r.digest, d, 32);
	assert_false(r.timestamped);
	CMS_ContentInfo_free(cms);
	seal_result_free(&r);
}

static void test_enveloping_rsa_sha512(void **state)
{
	struct seal_cades_params p = { .packaging = SEAL_ENVELOPING, .md = EVP_sha512(), .document = doc,
				       .document_len = sizeof doc };
	struct seal_result r;
	sign_ok(rsa_key, rsa_cert, &p, &r);
	CMS_ContentInfo *cms = parse(&r);
	assert_false(CMS_is_detached(cms));
	signer_info(cms);
	verify(cms, NULL, 0, true);
	assert_int_equal(r.digest_len, 64);
	CMS_ContentInfo_free(cms);
	seal_result_free(&r);
}

static void test_hash_only(void **state)
{
	unsigned char d[48];
	SHA384(doc, sizeof doc, d);
	struct seal_cades_params p = { .packaging = SEAL_DETACHED, .md = EVP_sha384(), .digest = d, .digest_len = sizeof d };
	struct seal_result r;
	sign_ok(rsa_key, rsa_cert, &p, &r);
	CMS_ContentInfo *cms = parse(&r);
	assert_true(CMS_is_detached(cms));
	signer_info(cms);
	verify(cms, doc, sizeof doc, true);   /* against the document it never saw */
	CMS_ContentInfo_free(cms);
	seal_result_free(&r);
}

static void test_refusals(void **state)
{
	unsigned char d[32] = { 0 };
	struct seal_signer s = { .cert = ec_cert, .key = ec_key };
	struct seal_result r;
	efos_err e = { 0 };
	struct seal_cades_params p = { .packaging = SEAL_ENVELOPING, .md = EVP_sha256(), .digest = d, .digest_len = 32 };
	assert_int_equal(seal_cades_sign(&s, &p, &r, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	p.packaging = SEAL_DETACHED;
	p.md = EVP_sha512();
	assert_int_equal(seal_cades_sign(&s, &p, &r, &e), -1);
	assert_non_null(strstr(e.msg, "a sha512 digest is 64 bytes"));
	p.document = doc;
	p.document_len = sizeof doc;
	assert_int_equal(seal_cades_sign(&s, &p, &r, &e), -1);   /* both */
	p.md = NULL;
	assert_int_equal(seal_cades_sign(&s, &p, &r, &e), -1);
	assert_null(seal_md_by_name("sha1"));
	assert_null(seal_md_by_name("md5"));
	assert_ptr_equal(seal_md_by_name("SHA-256"), EVP_sha256());
	assert_ptr_equal(seal_md_by_name("sha512"), EVP_sha512());
}

/* ---- TSA ---- */

static TS_RESP *respond(const unsigned char *req, size_t len, signer_tsa_serial_fn fn, int *status)
{
	unsigned char *out = NULL;
	size_t out_len = 0;
	int sf = 0;
	efos_err e = { 0 };
	if (signer_tsa_respond(tsa, req, len, fn, NULL, &out, &out_len, status, &sf, &e) != 0)
		fail_msg("signer_tsa_respond: %s", e.msg);
	const unsigned char *p = out;
	TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)out_len);
	assert_non_null(resp);
	free(out);
	return resp;
}

static void test_tsa_grant_and_reject(void **state)
{
	unsigned char d[32];
	SHA256(doc, sizeof doc, d);
	TS_REQ *rq = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL);
	TS_MSG_IMPRINT_set_algo(mi, alg);
	TS_MSG_IMPRINT_set_msg(mi, d, 32);
	TS_REQ_set_version(rq, 1);
	TS_REQ_set_msg_imprint(rq, mi);
	ASN1_INTEGER *nonce = ASN1_INTEGER_new();
	ASN1_INTEGER_set(nonce, 0x1234567);
	TS_REQ_set_nonce(rq, nonce);
	TS_REQ_set_cert_req(rq, 1);
	unsigned char *der = NULL;
	int n = i2d_TS_REQ(rq, &der);
	int status = -1;
	uint64_t first = test_tsa_next_serial;
	TS_RESP *resp = respond(der, (size_t)n, test_tsa_serial, &status);
	assert_int_equal(status, TS_STATUS_GRANTED);
	TS_TST_INFO *ti = TS_RESP_get_tst_info(resp);
	assert_int_equal(ASN1_INTEGER_cmp(TS_TST_INFO_get_nonce(ti), nonce), 0);
	assert_int_equal(ASN1_INTEGER_get(TS_TST_INFO_get_serial(ti)), (long)first);
	char pol[64];
	OBJ_obj2txt(pol, sizeof pol, TS_TST_INFO_get_policy_id(ti), 1);
	assert_string_equal(pol, "1.2.3.4");
	/* verifies like `openssl ts -verify`: imprint, nonce, signature, signer = TSA (EKU) */
	TS_VERIFY_CTX *vc = TS_REQ_to_TS_VERIFY_CTX(rq, NULL);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, ca_cert);
	TS_VERIFY_CTX_set_store(vc, st);
	if (TS_RESP_verify_response(vc, resp) != 1)
		fail_msg("TS_RESP_verify_response failed");
	TS_VERIFY_CTX_free(vc);
	TS_RESP_free(resp);
	/* serials are distinct */
	resp = respond(der, (size_t)n, test_tsa_serial, &status);
	assert_int_equal(ASN1_INTEGER_get(TS_TST_INFO_get_serial(TS_RESP_get_tst_info(resp))), (long)first + 1);
	TS_RESP_free(resp);
	/* serial source down: a rejection, not a token */
	resp = respond(der, (size_t)n, serial_down, &status);
	assert_int_equal(status, TS_STATUS_REJECTION);
	TS_RESP_free(resp);
	/* garbage: rejection, badDataFormat */
	resp = respond((const unsigned char *)"garbage", 7, test_tsa_serial, &status);
	assert_int_equal(status, TS_STATUS_REJECTION);
	assert_true(ASN1_BIT_STRING_get_bit(TS_STATUS_INFO_get0_failure_info(TS_RESP_get_status_info(resp)),
					    TS_INFO_BAD_DATA_FORMAT));
	TS_RESP_free(resp);
	OPENSSL_free(der);
	ASN1_INTEGER_free(nonce);
	TS_REQ_free(rq);
	TS_MSG_IMPRINT_free(mi);
	X509_ALGOR_free(alg);
}

static void test_b_t(void **state)
{
	struct seal_cades_params p = { .packaging = SEAL_DETACHED, .md = EVP_sha256(), .document = doc,
				       .document_len = sizeof doc, .timestamp = test_tsa_stamp, .timestamp_arg = tsa };
	struct seal_result r;
	sign_ok(ec_key, ec_cert, &p, &r);
	assert_true(r.timestamped);
	CMS_ContentInfo *cms = parse(&r);
	CMS_SignerInfo *si = signer_info(cms);
	verify(cms, doc, sizeof doc, true);
	int idx = CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken, -1);
	assert_true(idx >= 0);
	X509_ATTRIBUTE *a = CMS_unsigned_get_attr(si, idx);
	ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(a, 0);
	assert_int_equal(ASN1_TYPE_get(t), V_ASN1_SEQUENCE);
	const unsigned char *q = t->value.sequence->data;
	PKCS7 *tok = d2i_PKCS7(NULL, &q, t->value.sequence->length);
	assert_non_null(tok);
	TS_TST_INFO *ti = PKCS7_to_TS_TST_INFO(tok);
	assert_non_null(ti);
	ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
	unsigned char d[32];
	SHA256(sig->data, (size_t)sig->length, d);
	ASN1_OCTET_STRING *imprint = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(ti));
	assert_int_equal(imprint->length, 32);
	assert_memory_equal(imprint->data, d, 32);
	/* and the token verifies over the signature value */
	TS_VERIFY_CTX *vc = TS_VERIFY_CTX_new();
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, ca_cert);
	TS_VERIFY_CTX_set_store(vc, st);
	TS_VERIFY_CTX_set_flags(vc, TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_DATA);
	TS_VERIFY_CTX_set_data(vc, BIO_new_mem_buf(sig->data, sig->length));
	if (TS_RESP_verify_token(vc, tok) != 1)
		fail_msg("TS_RESP_verify_token failed");
	TS_VERIFY_CTX_free(vc);
	TS_TST_INFO_free(ti);
	PKCS7_free(tok);
	CMS_ContentInfo_free(cms);
	seal_result_free(&r);
}

static void test_tsa_cert_checks(void **state)
{
	struct signer_tsa *t = NULL;
	efos_err e = { 0 };
	/* a certificate without the critical timeStamping EKU is refused */
	struct signer_tsa_params tp = { .cert = ec_cert, .key = ec_key, .policy_oid = "1.2.3", .accuracy_ms = 1000 };
	assert_int_equal(signer_tsa_new(&tp, &t, &e), -1);
	assert_non_null(strstr(e.msg, "timeStamping"));
	/* the key must match */
	tp.cert = tsa_cert;
	assert_int_equal(signer_tsa_new(&tp, &t, &e), -1);
	assert_non_null(strstr(e.msg, "does not belong"));
	tp.key = tsa_key;
	tp.policy_oid = "not an oid";
	assert_int_equal(signer_tsa_new(&tp, &t, &e), -1);
	assert_null(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detached_ec),
		cmocka_unit_test(test_enveloping_rsa_sha512),
		cmocka_unit_test(test_hash_only),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_tsa_grant_and_reject),
		cmocka_unit_test(test_b_t),
		cmocka_unit_test(test_tsa_cert_checks),
	};
	return cmocka_run_group_tests_name("seal", tests, setup, teardown);
}
