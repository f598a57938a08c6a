/* certs/issue.c and certs/revoke.c against the test HSM and PostgreSQL: certificates issued from
 * a CSR by a CA whose key is in the HSM verify (X509_verify and an X509_STORE chain with the
 * EFOS policy required), serials are positive 128-bit and a collision is retried, the key
 * policy refuses RSA-1024 and P-224, a forged CSR is refused, and revoke/hold/release follow
 * their rules. Every test runs in a transaction that is rolled back (the CA rows it makes do
 * not stay) with session keys in the HSM (gone when the test ends). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "certs/issue.h"
#include "certs/profile.h"
#include "certs/revoke.h"
#include "certs/service.h"
#include "core/db.h"
#include "hsm/bridge.h"
#include "test_ca_common.h"

#define POLICY_AUTH "2.25.195263442892063585598849581790911656791"

static struct hsm *h;
static struct cert_profiles *profiles;
static PGconn *conn;

static struct test_ca root, card;

static int group_setup(void **state)
{
	profiles = test_profiles_load();
	if (profiles == NULL || test_db_open(&conn) != 0)
		return -1;
	h = test_hsm_open(2);
	certs_set_audit_node("unit-test");
	return 0;
}

static int group_teardown(void **state)
{
	PQfinish(conn);
	hsm_close(h);
	cert_profiles_free(profiles);
	return 0;
}

/* Each test: a transaction with a fresh root and card CA, rolled back at the end. */
static int setup(void **state)
{
	efos_err e = { 0 };
	if (db_begin(conn, &e) != 0)
		return -1;
	static int n;
	snprintf(root.name, sizeof root.name, "ut-root-%d-%d", (int)getpid() % 100000, n++);
	test_ca_make(conn, h, profiles, &root, "root-ca", NULL);
	/* The card CA (make_card_ca) is issued with a profile copy naming this test root. */
	return 0;
}

static int teardown(void **state)
{
	db_rollback(conn);
	test_ca_free(&card);
	test_ca_free(&root);
	certs_issue_set_serial_source(NULL);
	return 0;
}

/* A profile copy whose issuer is the test CA's name (profiles name "root"/"card"). */
static struct cert_profile profile_for(const char *name, const struct certs_ca *ca)
{
	struct cert_profile p = *cert_profile_get(profiles, name);
	p.issuer = ca->name;
	return p;
}

/* The card CA under the test root (its profile copy names the root as issuer). */
static void make_card_ca(void)
{
	snprintf(card.name, sizeof card.name, "%.40s-card", root.name);
	test_ca_make(conn, h, profiles, &card, "card-ca", &root);
}

static EVP_PKEY *gen_key(const char *alg, int param)
{
	EVP_PKEY *k = NULL;
	if (!strcmp(alg, "RSA"))
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)param);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", OBJ_nid2sn(param));
	assert_non_null(k);
	return k;
}

/* A PEM CSR for key (signed by sign_with, normally the same key). */
static char *make_csr(EVP_PKEY *key, EVP_PKEY *sign_with, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)"csr", -1, -1, 0);
	assert_true(X509_REQ_set_subject_name(req, nm));
	assert_true(X509_REQ_set_pubkey(req, sign_with));
	assert_true(X509_REQ_sign(req, sign_with, EVP_sha256()) > 0);
	if (key != sign_with)
		assert_true(X509_REQ_set_pubkey(req, key));   /* forged: the signature is over another key */
	BIO *b = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_X509_REQ(b, req));
	char *data;
	long n = BIO_get_mem_data(b, &data);
	char *out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	BIO_free(b);
	X509_NAME_free(nm);
	X509_REQ_free(req);
	return out;
}

static const struct cert_subject_values person = {
	.o = "Testmyndigheten", .org_identifier = "2021000001", .given_name = "Anna", .surname = "Andersson",
	.serial_number = "198001012384", .cn = "Anna Andersson",
};

static X509 *issue_card_auth(EVP_PKEY *pub, const char *status, efos_err *e)
{
	struct cert_profile p = profile_for("card-auth", &card.ca);
	struct cert_issue_request req = { .profile = &p, .public_key = pub, .subject = person,
					  .initial_status = status, .actor = "test" };
	X509 *x = NULL;
	if (certs_issue(conn, &card.ca, &req, &x, e) != 0)
		return NULL;
	return x;
}

static void test_issue_from_csr_verifies(void **state)
{
	make_card_ca();
	EVP_PKEY *k = gen_key("EC", NID_X9_62_prime256v1);
	size_t len;
	char *pem = make_csr(k, k, &len);
	X509_REQ *req = NULL;
	efos_err e = { 0 };
	if (certs_csr_parse_verify((unsigned char *)pem, len, &req, &e) != 0)
		fail_msg("csr: %s", e.msg);
	X509 *x = issue_card_auth(X509_REQ_get0_pubkey(req), "good", &e);
	if (x == NULL)
		fail_msg("issue: %s", e.msg);

	/* Signed by the card CA's HSM key. */
	assert_int_equal(X509_verify(x, X509_get0_pubkey(card.ca.cert)), 1);
	assert_int_equal(X509_verify(card.ca.cert, X509_get0_pubkey(root.ca.cert)), 1);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);

	/* The chain, with the EFOS high-assurance policy required. */
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, root.ca.cert);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	sk_X509_push(untrusted, card.ca.cert);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	assert_true(X509_STORE_CTX_init(ctx, st, x, untrusted));
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_X509_STRICT | X509_V_FLAG_EXPLICIT_POLICY | X509_V_FLAG_POLICY_CHECK);
	X509_VERIFY_PARAM_add0_policy(vp, OBJ_txt2obj(POLICY_AUTH, 1));
	X509_VERIFY_PARAM_set_purpose(vp, X509_PURPOSE_SSL_CLIENT);
	int ok = X509_verify_cert(ctx);
	if (ok != 1)
		fail_msg("chain: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);

	/* The same certificate does not qualify as a TLS server. */
	ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, st, x, untrusted);
	X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(ctx), X509_PURPOSE_SSL_SERVER);
	assert_int_not_equal(X509_verify_cert(ctx), 1);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(st);

	/* Subject and extensions. */
	char *subj = certs_name_string(X509_get_subject_name(x));
	assert_string_equal(subj, "CN=Anna Andersson,serialNumber=198001012384,GN=Anna,SN=Andersson,"
			    "organizationIdentifier=2021000001,O=Testmyndigheten,C=SE");
	free(subj);
	assert_true(X509_get_key_usage(x) == KU_DIGITAL_SIGNATURE);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
	int crit = -1;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_false(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_non_null(X509_get0_subject_key_id(x));
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x), X509_get0_subject_key_id(card.ca.cert)), 0);

	/* Stored with the audit event in this transaction. */
	unsigned char sb[20];
	size_t sl;
	char hex[41], sql[256];
	assert_int_equal(certs_serial_bytes(x, sb, sizeof sb, &sl), 0);
	certs_hex(sb, sl, hex);
	snprintf(sql, sizeof sql, "SELECT status, profile, (SELECT count(*) FROM audit_log WHERE action = 'cert.issue' "
		 "AND object = '%s') FROM certificates WHERE serial = '\\x%s'", hex, hex);
	PGresult *r = db_exec(conn, sql, 0, NULL, &e);
	assert_non_null(r);
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 0), "good");
	assert_string_equal(PQgetvalue(r, 0, 1), "card-auth");
	assert_string_equal(PQgetvalue(r, 0, 2), "1");
	PQclear(r);

	X509_free(x);
	X509_REQ_free(req);
	free(pem);
	EVP_PKEY_free(k);
}

static void test_serials(void **state)
{
	make_card_ca();
	EVP_PKEY *k = gen_key("EC", NID_X9_62_prime256v1);
	efos_err e = { 0 };
	enum { N = 40 };
	char seen[N][41];
	for (int i = 0; i < N; i++) {
		X509 *x = issue_card_auth(k, "good", &e);
		if (x == NULL)
			fail_msg("issue: %s", e.msg);
		const ASN1_INTEGER *ai = X509_get0_serialNumber(x);
		assert_int_equal(ASN1_STRING_type(ai), V_ASN1_INTEGER);   /* positive */
		unsigned char sb[20];
		size_t sl;
		assert_int_equal(certs_serial_bytes(x, sb, sizeof sb, &sl), 0);
		assert_int_equal(sl, 16);
		assert_int_equal(sb[0] & 0xc0, 0x40);
		certs_hex(sb, sl, seen[i]);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
		X509_free(x);
	}
	EVP_PKEY_free(k);
}

/* The serial source: the same bytes twice, then different ones. */
static int calls;
static int repeating_rand(unsigned char *buf, int n)
{
	memset(buf, calls < 2 ? 0x11 : 0x22, (size_t)n);
	buf[n - 1] = (unsigned char)(calls < 2 ? 1 : calls);
	calls++;
	return 1;
}

static void test_serial_collision_retried(void **state)
{
	make_card_ca();
	EVP_PKEY *k = gen_key("EC", NID_X9_62_prime256v1);
	efos_err e = { 0 };
	calls = 0;
	certs_issue_set_serial_source(repeating_rand);
	X509 *a = issue_card_auth(k, "good", &e);
	X509 *b = issue_card_auth(k, "good", &e);
	certs_issue_set_serial_source(NULL);
	if (a == NULL || b == NULL)
		fail_msg("issue: %s", e.msg);
	assert_int_equal(calls, 3);   /* the second issuance drew twice */
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b)), 0);
	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(k);
}

static void test_key_policy(void **state)
{
	const struct cert_profile *p = cert_profile_get(profiles, "card-auth");
	efos_err e = { 0 };
	EVP_PKEY *rsa1024 = gen_key("RSA", 1024), *rsa2048 = gen_key("RSA", 2048);
	EVP_PKEY *p224 = gen_key("EC", NID_secp224r1), *p256 = gen_key("EC", NID_X9_62_prime256v1);
	EVP_PKEY *p384 = gen_key("EC", NID_secp384r1);
	assert_int_equal(certs_key_policy_check(p, rsa1024, &e), -1);
	assert_string_equal(e.msg, "RSA key of 1024 bits is below the 2048 required by profile card-auth");
	assert_int_equal(e.code, EFOS_E_INVALID);
	assert_int_equal(certs_key_policy_check(p, p224, &e), -1);
	assert_string_equal(e.msg, "EC curve secp224r1 is not allowed by profile card-auth (NIST P-256, P-384, P-521 only)");
	assert_int_equal(certs_key_policy_check(p, rsa2048, &e), 0);
	assert_int_equal(certs_key_policy_check(p, p256, &e), 0);
	assert_int_equal(certs_key_policy_check(p, p384, &e), 0);
	/* card-enc: key transport, RSA only */
	assert_int_equal(certs_key_policy_check(cert_profile_get(profiles, "card-enc"), p256, &e), -1);
	assert_string_equal(e.msg, "EC keys are not allowed by profile card-enc");

	/* certs_issue applies it. */
	make_card_ca();
	X509 *x = issue_card_auth(rsa1024, "good", &e);
	assert_null(x);
	assert_string_equal(e.msg, "RSA key of 1024 bits is below the 2048 required by profile card-auth");
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(p224);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
}

static void test_csr_parsing(void **state)
{
	EVP_PKEY *a = gen_key("EC", NID_X9_62_prime256v1), *b = gen_key("EC", NID_X9_62_prime256v1);
	efos_err e = { 0 };
	X509_REQ *req = NULL;
	size_t len;
	/* Forged proof of possession: the key in the CSR is not the one that signed it. */
	char *forged = make_csr(b, a, &len);
	assert_int_equal(certs_csr_parse_verify((unsigned char *)forged, len, &req, &e), -1);
	assert_null(req);
	assert_string_equal(e.msg, "CSR signature does not verify with its public key: no proof of possession of "
			    "the private key");
	free(forged);
	/* DER: accepted; with trailing bytes: refused. */
	char *pem = make_csr(a, a, &len);
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509_REQ *r0 = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	unsigned char *der = NULL;
	int dlen = i2d_X509_REQ(r0, &der);
	assert_int_equal(certs_csr_parse_verify(der, (size_t)dlen, &req, &e), 0);
	X509_REQ_free(req);
	unsigned char *der2 = malloc((size_t)dlen + 1);
	memcpy(der2, der, (size_t)dlen);
	der2[dlen] = 0;
	assert_int_equal(certs_csr_parse_verify(der2, (size_t)dlen + 1, &req, &e), -1);
	assert_non_null(strstr(e.msg, "trailing data"));
	assert_int_equal(certs_csr_parse_verify((const unsigned char *)"garbage", 7, &req, &e), -1);
	assert_string_equal(e.msg, "not a PKCS#10 certificate request (PEM or DER)");
	assert_int_equal(certs_csr_parse_verify(NULL, 0, &req, &e), -1);
	free(der2);
	OPENSSL_free(der);
	X509_REQ_free(r0);
	free(pem);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

static void test_subject_and_issuer_checks(void **state)
{
	make_card_ca();
	EVP_PKEY *k = gen_key("EC", NID_X9_62_prime256v1);
	efos_err e = { 0 };
	/* A mandatory subject attribute without a value. */
	struct cert_profile p = profile_for("card-auth", &card.ca);
	struct cert_issue_request req = { .profile = &p, .public_key = k, .subject = { .cn = "Only CN" },
					  .initial_status = "good", .actor = "test" };
	X509 *x = NULL;
	assert_int_equal(certs_issue(conn, &card.ca, &req, &x, &e), -1);
	assert_string_equal(e.msg, "profile card-auth needs a value for the subject attribute O");
	/* The wrong CA for the profile. */
	req.profile = cert_profile_get(profiles, "card-auth");   /* issuer "card" */
	req.subject = person;
	assert_int_equal(certs_issue(conn, &root.ca, &req, &x, &e), -1);
	assert_non_null(strstr(e.msg, "profile card-auth is issued by CA card, not by ut-root"));
	/* A DNS name that is not one. */
	struct cert_profile tls = profile_for("tls-server", &card.ca);
	const char *bad[] = { "good.example", "bad name,DNS:evil.example" };
	req = (struct cert_issue_request){ .profile = &tls, .public_key = k, .subject = { .cn = "x" },
					   .dns_names = bad, .n_dns_names = 2, .initial_status = "good" };
	assert_int_equal(certs_issue(conn, &card.ca, &req, &x, &e), -1);
	assert_non_null(strstr(e.msg, "is neither a DNS host name nor an IP address"));
	EVP_PKEY_free(k);
}

static void test_revoke_hold_release(void **state)
{
	make_card_ca();
	EVP_PKEY *k = gen_key("EC", NID_X9_62_prime256v1);
	efos_err e = { 0 };
	X509 *x = issue_card_auth(k, "hold", &e);   /* a pending enrollment's certificate */
	if (x == NULL)
		fail_msg("issue: %s", e.msg);
	unsigned char sb[20];
	size_t sl;
	long ca_id = 0;
	assert_int_equal(certs_serial_bytes(x, sb, sizeof sb, &sl), 0);
	char hex[41], sql[200];
	certs_hex(sb, sl, hex);
	snprintf(sql, sizeof sql, "SELECT status || ' ' || coalesce(revocation_reason::text, '-') FROM certificates "
		 "WHERE serial = '\\x%s'", hex);
#define STATUS_IS(want) do { PGresult *r_ = db_exec(conn, sql, 0, NULL, &e); assert_non_null(r_); \
	assert_string_equal(PQgetvalue(r_, 0, 0), want); PQclear(r_); } while (0)
	STATUS_IS("hold 6");
	assert_int_equal(certs_hold_serial(conn, sb, sl, "test", "again", NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFLICT);
	assert_int_equal(certs_release_hold_serial(conn, sb, sl, "test", "confirmed", &ca_id, &e), 0);
	assert_int_equal(ca_id, card.ca.id);
	STATUS_IS("good -");
	assert_int_equal(certs_release_hold_serial(conn, sb, sl, "test", NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "is not on hold"));
	assert_int_equal(certs_hold_serial(conn, sb, sl, "test", "suspended", NULL, &e), 0);
	STATUS_IS("hold 6");
	assert_int_equal(certs_revoke_serial(conn, sb, sl, CRL_REASON_AFFILIATION_CHANGED, "test", "left", NULL, &e), 0);
	STATUS_IS("revoked 3");
	assert_int_equal(certs_revoke_serial(conn, sb, sl, CRL_REASON_KEY_COMPROMISE, "test", NULL, NULL, &e), -1);
	assert_string_equal(e.msg + strlen(e.msg) - strlen("revoked already (affiliationChanged): a revocation is final"),
			    "revoked already (affiliationChanged): a revocation is final");
	assert_int_equal(certs_release_hold_serial(conn, sb, sl, "test", NULL, NULL, &e), -1);
	/* certificateHold is not a final reason */
	assert_int_equal(certs_revoke_serial(conn, sb, sl, CRL_REASON_CERTIFICATE_HOLD, "test", NULL, NULL, &e), -1);
	unsigned char none[] = { 0x01, 0x02 };
	assert_int_equal(certs_revoke_serial(conn, none, 2, CRL_REASON_SUPERSEDED, "test", NULL, NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_NOTFOUND);

	snprintf(sql, sizeof sql, "SELECT string_agg(action, ' ' ORDER BY id) FROM audit_log WHERE object = '%s'", hex);
	STATUS_IS("cert.issue cert.release cert.hold cert.revoke");
	snprintf(sql, sizeof sql, "SELECT crl_dirty::text FROM cas WHERE id = %ld", card.ca.id);
	STATUS_IS("true");
#undef STATUS_IS
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_reasons_and_hex(void **state)
{
	enum cert_revocation_reason r;
	assert_int_equal(cert_reason_parse("card-lost", &r), 0);
	assert_int_equal(r, CRL_REASON_KEY_COMPROMISE);
	assert_int_equal(cert_reason_parse("affiliation-ended", &r), 0);
	assert_int_equal(r, CRL_REASON_AFFILIATION_CHANGED);
	assert_int_equal(cert_reason_parse("superseded", &r), 0);
	assert_int_equal(cert_reason_parse("lost", &r), -1);
	assert_string_equal(cert_reason_name(CRL_REASON_CESSATION_OF_OPERATION), "cessationOfOperation");
	unsigned char b[20];
	size_t n;
	assert_int_equal(certs_serial_parse_hex("0x00:0A:ff", b, sizeof b, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(b[0], 0x0a);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(certs_serial_parse_hex("abc", b, sizeof b, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(b[0], 0x0a);
	assert_int_equal(certs_serial_parse_hex("xyz", b, sizeof b, &n), -1);
	assert_int_equal(certs_serial_parse_hex("", b, sizeof b, &n), -1);
	assert_int_equal(certs_serial_parse_hex("0102030405060708091011121314151617181920ff", b, sizeof b, &n), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_issue_from_csr_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_collision_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csr_parsing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subject_and_issuer_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_hold_release, setup, teardown),
		cmocka_unit_test(test_reasons_and_hex),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
