/* hsm_evp_pkey(): OpenSSL signs X.509 certificates, requests, CRLs, CMS and OCSP responses
 * with a key that stays in the token; each result verifies with the public key. RSA-2048
 * and P-256, SHA-256. */
#include <openssl/cms.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include "hsm/bridge.h"
#include "test_hsm_common.h"

static struct hsm *H;

static X509 *self_signed(EVP_PKEY *signer, EVP_PKEY *pub, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	assert_non_null(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pub);
	X509_NAME_free(name);
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

static void bridge_all(struct hsm_key *k)
{
	efos_err e = { 0 };
	EVP_PKEY *pub = hsm_key_public(k);
	EVP_PKEY *pk = hsm_evp_pkey(k, &e);
	if (pk == NULL)
		fail_msg("hsm_evp_pkey: %s", e.msg);

	/* certificate */
	X509 *cert = self_signed(pk, pub, "EFOS bridge test");
	assert_int_equal(X509_verify(cert, pub), 1);
	X509 *other = self_signed(pk, pub, "other");
	ASN1_INTEGER_set(X509_get_serialNumber(other), 43); /* changed after signing */
	assert_int_not_equal(X509_verify(other, pub), 1);
	X509_free(other);

	/* request */
	X509_REQ *req = X509_REQ_new();
	X509_REQ_set_subject_name(req, X509_get_subject_name(cert));
	X509_REQ_set_pubkey(req, pub);
	assert_true(X509_REQ_sign(req, pk, EVP_sha256()) > 0);
	assert_int_equal(X509_REQ_verify(req, pub), 1);
	X509_REQ_free(req);

	/* CRL */
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_adj(NULL, time(NULL), 0, 0);
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(cert));
	X509_CRL_set1_lastUpdate(crl, now);
	assert_true(X509_CRL_sign(crl, pk, EVP_sha256()) > 0);
	assert_int_equal(X509_CRL_verify(crl, pub), 1);
	ASN1_TIME_free(now);
	X509_CRL_free(crl);

	/* CMS, verified against the certificate as trust anchor */
	static const char data[] = "document to seal";
	BIO *in = BIO_new_mem_buf(data, sizeof data - 1);
	CMS_ContentInfo *cms = CMS_sign(cert, pk, NULL, in, CMS_BINARY | CMS_DETACHED);
	BIO_free(in);
	assert_non_null(cms);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_add_cert(store, cert);
	in = BIO_new_mem_buf(data, sizeof data - 1);
	if (CMS_verify(cms, NULL, store, in, NULL, CMS_BINARY) != 1)
		fail_msg("CMS_verify failed");
	BIO_free(in);
	in = BIO_new_mem_buf("document to seaL", 16);
	assert_int_not_equal(CMS_verify(cms, NULL, store, in, NULL, CMS_BINARY), 1);
	BIO_free(in);
	CMS_ContentInfo_free(cms);

	/* OCSP response */
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	assert_int_equal(OCSP_basic_sign(bs, cert, pk, EVP_sha256(), NULL, 0), 1);
	STACK_OF(X509) *certs = sk_X509_new_null();
	sk_X509_push(certs, cert);
	assert_int_equal(OCSP_basic_verify(bs, certs, store, OCSP_TRUSTOTHER), 1);
	sk_X509_free(certs);
	OCSP_BASICRESP_free(bs);

	X509_STORE_free(store);
	X509_free(cert);
	EVP_PKEY_free(pk);
}

/* Every one of those signatures went through the token (the bridged key has no private half). */
static void check_ops(struct hsm_key *k)
{
	struct hsm_stats st0, st1;
	hsm_get_stats(H, &st0);
	bridge_all(k);
	hsm_get_stats(H, &st1);
	assert_int_equal(st1.ops - st0.ops, 6); /* 2 certificates, request, CRL, CMS, OCSP */
	assert_int_equal(st1.errors, st0.errors);
}

static void test_bridge_rsa2048(void **state)
{
	struct hsm_key *k = test_session_key(H, HSM_KEY_RSA, 2048, "test-bridge-rsa");
	check_ops(k);
	hsm_key_free(k);
}

static void test_bridge_p256(void **state)
{
	struct hsm_key *k = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "test-bridge-ec");
	check_ops(k);
	hsm_key_free(k);
}

static int setup(void **state)
{
	H = test_hsm_open(2);
	return 0;
}

static int teardown(void **state)
{
	hsm_close(H);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bridge_rsa2048),
		cmocka_unit_test(test_bridge_p256),
	};
	return cmocka_run_group_tests_name("bridge_openssl", tests, setup, teardown);
}
