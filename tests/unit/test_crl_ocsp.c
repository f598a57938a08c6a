/* certs/crl.c and certs/ocsp.c against the test PostgreSQL and SoftHSM: a throwaway CA (key in
 * the HSM, session object) and its certificates are inserted inside a transaction that each
 * test rolls back, so nothing stays in the shared database (the CRL's audit event included).
 *
 * CRL: v2, signed by the CA key, cRLNumber monotonic and stored with the CRL, AKI = the CA's
 * SKI, entries for revoked (reason, unspecified left out) and hold (certificateHold), expired
 * entries kept one period then dropped, crl_dirty cleared, audit event written; the publisher's
 * conditional step issues only when dirty, forced, missing or near nextUpdate.
 * OCSP: good / revoked with time and reason / hold / unknown, SHA-1 and SHA-256 CertIDs,
 * nonce echoed, response verifies against the delegated signer and the CA, responderID by key,
 * malformedRequest, unauthorized, tryLater without a database, reuse of nonce-less answers
 * (byte-identical) and their invalidation, the GET encoding. */
#include <pthread.h>
#include <unistd.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include "certs/crl.h"
#include "certs/ocsp.h"
#include "certs/service.h"
#include "core/db.h"
#include "hsm/bridge.h"
#include "test_hsm_common.h"

static struct hsm *H;
static struct hsm_key *ca_key, *ocsp_key;
static EVP_PKEY *ca_pk, *ocsp_pk;
static X509 *ca_cert, *ocsp_cert, *other_ca_cert;
static PGconn *C;
static struct certs_ca CA;
static char ca_name[40];

/* serials of the fixture (big-endian magnitude) */
static const unsigned char S_GOOD[] = { 0x11, 0x22, 0x33, 0x44 };
static const unsigned char S_REVOKED[] = { 0x55, 0x66, 0x77 };
static const unsigned char S_HOLD[] = { 0x01, 0x02 };
static const unsigned char S_UNSPEC[] = { 0x0a, 0x0b };
static const unsigned char S_OLD[] = { 0x0c, 0x0d };      /* expired two periods ago: dropped */
static const unsigned char S_RECENT[] = { 0x0e, 0x0f };   /* expired 10 min ago: kept */
static const unsigned char S_HIGH[] = { 0x80, 0x01 };     /* stored with a leading zero byte */
static const unsigned char S_NONE[] = { 0x7f, 0x7f, 0x7f };

static X509 *make_cert(EVP_PKEY *signer, X509 *issuer, EVP_PKEY *pub, const char *cn, bool ca, bool ocsp)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_version(x, X509_VERSION_3);
	unsigned char sr[8];
	RAND_bytes(sr, sizeof sr);
	sr[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(sr, sizeof sr, NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pub);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	const char *exts[][2] = {
		{ "basicConstraints", ca ? "critical,CA:TRUE" : "critical,CA:FALSE" },
		{ "keyUsage", ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature" },
		{ "subjectKeyIdentifier", "hash" },
		{ "extendedKeyUsage", ocsp ? "OCSPSigning" : NULL },
	};
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		if (exts[i][1] == NULL)
			continue;
		X509_EXTENSION *ext = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_NAME_free(name);
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

static void sql_ok(const char *sql, int n, const char *const *params)
{
	efos_err e = { 0 };
	PGresult *r = db_exec(C, sql, n, params, &e);
	if (r == NULL)
		fail_msg("%s: %s", sql, e.msg);
	PQclear(r);
}

static char *sql_text(const char *sql, int n, const char *const *params)
{
	efos_err e = { 0 };
	PGresult *r = db_exec(C, sql, n, params, &e);
	if (r == NULL)
		fail_msg("%s: %s", sql, e.msg);
	char *v = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return v;
}

static char *hex(const unsigned char *p, size_t n)
{
	char *s = malloc(2 * n + 1);
	for (size_t i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", p[i]);
	s[2 * n] = '\0';
	return s;
}

static void add_cert(const unsigned char *serial, size_t len, const char *status, const char *reason,
		     const char *not_after, const char *revoked_at)
{
	char id[32];
	snprintf(id, sizeof id, "%ld", CA.id);
	char *h = hex(serial, len);
	const char *params[] = { h, id, status, reason, not_after, revoked_at };
	sql_ok("INSERT INTO certificates (serial, ca_id, profile, subject, cert_sha256, not_before, not_after, der, "
	       "status, revocation_reason, revoked_at) VALUES (decode($1, 'hex'), $2::bigint, 'test', "
	       "'CN=test', sha256(decode($1, 'hex') || int8send($2::bigint)), now() - interval '1 day', $5::timestamptz, '\\x00', $3, "
	       "$4::smallint, $6::timestamptz)", 6, params);
	free(h);
}

/* A transaction with the CA row and its certificates; rolled back by teardown. */
static int fixture_up(void **state)
{
	efos_err e = { 0 };
	db_rollback(C);   /* a previous fixture that failed half-way */
	assert_int_equal(db_begin(C, &e), 0);
	unsigned char *der = NULL;
	int dl = i2d_X509(ca_cert, &der);
	char *cder = hex(der, (size_t)dl);
	OPENSSL_free(der);
	unsigned char nh[20], kh[20];
	unsigned int l = 0;
	X509_NAME_digest(X509_get_subject_name(ca_cert), EVP_sha1(), nh, &l);
	X509_pubkey_digest(ca_cert, EVP_sha1(), kh, &l);
	char *hnh = hex(nh, 20), *hkh = hex(kh, 20);
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca_cert);
	char *hski = hex(ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
	snprintf(ca_name, sizeof ca_name, "t-crl-%d", (int)getpid());
	const char *params[] = { ca_name, cder, hski, hnh, hkh };
	char *id = sql_text("INSERT INTO cas (name, cert_der, key_uri, subject, ski, name_hash_sha1, key_hash_sha1) "
			    "VALUES ($1, decode($2, 'hex'), 'pkcs11:object=test', 'CN=test', decode($3, 'hex'), "
			    "decode($4, 'hex'), decode($5, 'hex')) RETURNING id", 5, params);
	CA.id = atol(id);
	free(id);
	free(cder);
	free(hnh);
	free(hkh);
	free(hski);
	add_cert(S_GOOD, sizeof S_GOOD, "good", NULL, "2099-01-01", NULL);
	add_cert(S_REVOKED, sizeof S_REVOKED, "revoked", "1", "2099-01-01", "2024-05-01 12:00:00+00");
	add_cert(S_HOLD, sizeof S_HOLD, "hold", NULL, "2099-01-01", "2024-06-01 08:00:00+00");
	add_cert(S_UNSPEC, sizeof S_UNSPEC, "revoked", "0", "2099-01-01", "2024-05-02 12:00:00+00");
	add_cert(S_OLD, sizeof S_OLD, "revoked", "4", "2020-01-01", "2019-05-02 12:00:00+00");
	char recent[64];
	char *r = sql_text("SELECT (now() - interval '10 minutes')::text", 0, NULL);
	snprintf(recent, sizeof recent, "%s", r);
	free(r);
	add_cert(S_RECENT, sizeof S_RECENT, "revoked", "3", recent, "2024-05-03 12:00:00+00");
	unsigned char high_stored[] = { 0x00, 0x80, 0x01 };
	add_cert(high_stored, sizeof high_stored, "good", NULL, "2099-01-01", NULL);
	return 0;
}

static int fixture_down(void **state)
{
	db_rollback(C);
	return 0;
}

static int setup(void **state)
{
	const char *top = getenv("EFOS_TOP") ? getenv("EFOS_TOP") : ".";
	const char *pg = getenv("EFOS_TEST_PG"), *pg_owner = getenv("EFOS_TEST_PG_OWNER");
	if (pg == NULL || pg_owner == NULL) {
		fprintf(stderr, "EFOS_TEST_PG* not set: source var/test/env\n");
		return -1;
	}
	char dir[512];
	snprintf(dir, sizeof dir, "%s/db", top);
	PGconn *oc = NULL;
	efos_err e = { 0 };
	int applied;
	if (db_connect(pg_owner, NULL, 5, &oc, &e) < 0 || db_migrate(oc, dir, &applied, &e) < 0) {
		fprintf(stderr, "migrations: %s\n", e.msg);
		PQfinish(oc);
		return -1;
	}
	PQfinish(oc);
	if (db_connect(pg, NULL, 5, &C, &e) < 0) {
		fprintf(stderr, "db_connect: %s\n", e.msg);
		return -1;
	}
	H = test_hsm_open(2);
	ca_key = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "test-crl-ca");
	ocsp_key = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "test-crl-ocsp");
	ca_pk = hsm_evp_pkey(ca_key, &e);
	ocsp_pk = hsm_evp_pkey(ocsp_key, &e);
	if (ca_pk == NULL || ocsp_pk == NULL)
		return -1;
	ca_cert = make_cert(ca_pk, NULL, hsm_key_public(ca_key), "EFOS Test CRL CA", true, false);
	ocsp_cert = make_cert(ca_pk, ca_cert, hsm_key_public(ocsp_key), "EFOS Test OCSP", false, true);
	/* same name, other key: not our CA */
	EVP_PKEY *k = EVP_EC_gen("P-256");
	other_ca_cert = make_cert(k, NULL, k, "EFOS Test CRL CA", true, false);
	EVP_PKEY_free(k);
	CA.name = ca_name;
	CA.cert = ca_cert;
	CA.signer = ca_pk;
	return 0;
}

static int teardown(void **state)
{
	X509_free(ca_cert);
	X509_free(ocsp_cert);
	X509_free(other_ca_cert);
	EVP_PKEY_free(ca_pk);
	EVP_PKEY_free(ocsp_pk);
	hsm_key_free(ca_key);
	hsm_key_free(ocsp_key);
	hsm_close(H);
	PQfinish(C);
	return 0;
}

/* ----- CRL ------------------------------------------------------------------------------- */

static int entry_reason(X509_REVOKED *rev)
{
	int crit = 0;
	ASN1_ENUMERATED *r = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
	if (r == NULL)
		return -1;
	int v = (int)ASN1_ENUMERATED_get(r);
	ASN1_ENUMERATED_free(r);
	return v;
}

static X509_REVOKED *find_entry(X509_CRL *crl, const unsigned char *s, size_t n)
{
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
	for (int i = 0; i < sk_X509_REVOKED_num(revs); i++) {
		X509_REVOKED *rev = sk_X509_REVOKED_value(revs, i);
		const ASN1_INTEGER *ser = X509_REVOKED_get0_serialNumber(rev);
		if ((size_t)ASN1_STRING_length(ser) == n && memcmp(ASN1_STRING_get0_data(ser), s, n) == 0)
			return rev;
	}
	return NULL;
}

static long crl_number_of(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	assert_non_null(n);
	long v = ASN1_INTEGER_get(n);
	ASN1_INTEGER_free(n);
	return v;
}

static void test_crl_build(void **state)
{
	efos_err e = { 0 };
	unsigned char *der = NULL;
	size_t len = 0;
	if (certs_crl_build(C, &CA, 3600, &der, &len, &e) != 0)
		fail_msg("certs_crl_build: %s", e.msg);
	const unsigned char *p = der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(X509_CRL_verify(crl, hsm_key_public(ca_key)), 1);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca_cert)), 0);
	assert_int_equal(crl_number_of(crl), 1);
	int diff_day = 0, diff_sec = 0;
	assert_true(ASN1_TIME_diff(&diff_day, &diff_sec, X509_CRL_get0_lastUpdate(crl), X509_CRL_get0_nextUpdate(crl)));
	assert_int_equal(diff_day * 86400 + diff_sec, 3600);
	AUTHORITY_KEYID *akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(akid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(ca_cert)), 0);
	AUTHORITY_KEYID_free(akid);

	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 4);
	assert_null(find_entry(crl, S_GOOD, sizeof S_GOOD));
	assert_null(find_entry(crl, S_OLD, sizeof S_OLD));
	X509_REVOKED *rv = find_entry(crl, S_REVOKED, sizeof S_REVOKED);
	assert_non_null(rv);
	assert_int_equal(entry_reason(rv), CRL_REASON_KEY_COMPROMISE);
	ASN1_TIME *want = ASN1_TIME_set(NULL, 1714564800);   /* 2024-05-01 12:00:00Z */
	assert_int_equal(ASN1_TIME_compare(X509_REVOKED_get0_revocationDate(rv), want), 0);
	ASN1_TIME_free(want);
	assert_int_equal(entry_reason(find_entry(crl, S_HOLD, sizeof S_HOLD)), CRL_REASON_CERTIFICATE_HOLD);
	assert_int_equal(entry_reason(find_entry(crl, S_UNSPEC, sizeof S_UNSPEC)), -1);
	assert_int_equal(entry_reason(find_entry(crl, S_RECENT, sizeof S_RECENT)), CRL_REASON_AFFILIATION_CHANGED);
	X509_CRL_free(crl);

	/* stored with its number, dirty cleared, audited */
	char id[32];
	snprintf(id, sizeof id, "%ld", CA.id);
	const char *params[] = { id };
	(void)params;
	char *h = hex(der, len);
	const char *p2[] = { id, h };
	char *row = sql_text("SELECT crl_number || ' ' || crl_dirty || ' ' || (crl_der = decode($2, 'hex')) || ' ' || "
		       "(crl_next_update - crl_this_update = interval '1 hour') FROM cas WHERE id = $1", 2, p2);
	assert_string_equal(row, "1 false true true");
	free(row);
	free(h);
	const char *p3[] = { ca_name };
	row = sql_text("SELECT count(*) FROM audit_log WHERE action = 'crl.issue' AND object = $1 "
		       "AND details->>'crl_number' = '1'", 1, p3);
	assert_string_equal(row, "1");
	free(row);
	free(der);

	/* the next one: number 2, the new revocation listed */
	sql_ok("UPDATE certificates SET status = 'revoked', revocation_reason = 4, revoked_at = now() "
	       "WHERE serial = '\\x11223344'", 0, NULL);
	assert_int_equal(certs_crl_build(C, &CA, 3600, &der, &len, &e), 0);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_int_equal(crl_number_of(crl), 2);
	assert_int_equal(entry_reason(find_entry(crl, S_GOOD, sizeof S_GOOD)), CRL_REASON_SUPERSEDED);
	X509_CRL_free(crl);
	free(der);
}

static void test_crl_issue_conditions(void **state)
{
	efos_err e = { 0 };
	struct certs_crl_issue_opts o = { .validity_s = 3600, .reissue_before_s = 600 };
	bool issued = false;
	long n = 0;
	/* new CA: no CRL and dirty by default */
	assert_int_equal(certs_crl_issue(C, &CA, &o, &issued, &n, &e), 0);
	assert_true(issued);
	assert_int_equal(n, 1);
	/* current and clean: nothing */
	assert_int_equal(certs_crl_issue(C, &CA, &o, &issued, &n, &e), 0);
	assert_false(issued);
	assert_int_equal(n, 1);
	/* dirty */
	char id[32];
	snprintf(id, sizeof id, "%ld", CA.id);
	const char *params[] = { id };
	sql_ok("UPDATE cas SET crl_dirty = true WHERE id = $1", 1, params);
	assert_int_equal(certs_crl_issue(C, &CA, &o, &issued, &n, &e), 0);
	assert_true(issued);
	assert_int_equal(n, 2);
	/* forced */
	o.force = true;
	assert_int_equal(certs_crl_issue(C, &CA, &o, &issued, &n, &e), 0);
	assert_true(issued);
	assert_int_equal(n, 3);
	/* within reissue_before of nextUpdate */
	o.force = false;
	o.reissue_before_s = 3600 + 10;
	assert_int_equal(certs_crl_issue(C, &CA, &o, &issued, &n, &e), 0);
	assert_true(issued);
	assert_int_equal(n, 4);
	/* a CA whose key is elsewhere cannot */
	struct certs_ca nokey = CA;
	nokey.signer = NULL;
	o.force = true;
	assert_int_equal(certs_crl_issue(C, &nokey, &o, &issued, &n, &e), -1);
	assert_int_equal(e.code, EFOS_E_UNAVAILABLE);
}

/* Two "nodes" (connections, threads) issuing the same CA's CRL at once: the row lock gives
 * every CRL its own number, consecutive, none lost. Committed for real, then removed. */
struct node_arg { const char *ci; int n; int fails; };

static void *node_main(void *p)
{
	struct node_arg *a = p;
	PGconn *c = NULL;
	efos_err e = { 0 };
	if (db_connect(a->ci, NULL, 5, &c, &e) < 0) {
		a->fails = a->n;
		return NULL;
	}
	for (int i = 0; i < a->n; i++)
		if (certs_crl_build(c, &CA, 600, NULL, NULL, &e) != 0) {
			fprintf(stderr, "certs_crl_build: %s\n", e.msg);
			a->fails++;
		}
	PQfinish(c);
	return NULL;
}

static void test_crl_two_nodes(void **state)
{
	assert_int_equal(fixture_up(state), 0);
	efos_err e = { 0 };
	assert_int_equal(db_commit(C, &e), 0);
	struct node_arg a[2] = { { getenv("EFOS_TEST_PG"), 5, 0 }, { getenv("EFOS_TEST_PG"), 5, 0 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, node_main, &a[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	char id[32];
	snprintf(id, sizeof id, "%ld", CA.id);
	const char *params[] = { id }, *pn[] = { ca_name };
	char *num = sql_text("SELECT crl_number FROM cas WHERE id = $1", 1, params);
	char *distinct = sql_text("SELECT count(DISTINCT details->>'crl_number') || '/' || count(*) || '/' || "
				  "max((details->>'crl_number')::int) FROM audit_log WHERE action = 'crl.issue' AND object = $1",
				  1, pn);
	sql_ok("DELETE FROM certificates WHERE ca_id = $1", 1, params);
	sql_ok("DELETE FROM cas WHERE id = $1", 1, params);
	assert_int_equal(a[0].fails + a[1].fails, 0);
	assert_string_equal(num, "10");
	assert_string_equal(distinct, "10/10/10");
	free(num);
	free(distinct);
}

/* ----- OCSP ------------------------------------------------------------------------------ */

static struct certs_ocsp_responder *responder(int reuse)
{
	struct certs_ocsp_responder *r = NULL;
	efos_err e = { 0 };
	assert_int_equal(certs_ocsp_responder_new(600, reuse, 16, &r, &e), 0);
	assert_int_equal(certs_ocsp_responder_add_ca(r, &CA, ocsp_cert, ocsp_pk, &e), 0);
	return r;
}

static unsigned char *request(X509 *issuer, const EVP_MD *md, const unsigned char *const *serials,
			      const size_t *lens, int n, bool nonce, size_t *len)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	for (int i = 0; i < n; i++) {
		BIGNUM *bn = BN_bin2bn(serials[i], (int)lens[i], NULL);
		ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
		OCSP_CERTID *cid = OCSP_cert_id_new(md, X509_get_subject_name(issuer), X509_get0_pubkey_bitstr(issuer), ai);
		assert_non_null(OCSP_request_add0_id(req, cid));
		ASN1_INTEGER_free(ai);
		BN_free(bn);
	}
	if (nonce)
		assert_int_equal(OCSP_request_add1_nonce(req, NULL, -1), 1);
	unsigned char *der = NULL;
	int l = i2d_OCSP_REQUEST(req, &der);
	assert_true(l > 0);
	unsigned char *copy = malloc((size_t)l);
	memcpy(copy, der, (size_t)l);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	*len = (size_t)l;
	return copy;
}

static unsigned char *request1(X509 *issuer, const EVP_MD *md, const unsigned char *s, size_t sl, bool nonce,
			       size_t *len)
{
	const unsigned char *ss[] = { s };
	size_t ls[] = { sl };
	return request(issuer, md, ss, ls, 1, nonce, len);
}

static OCSP_RESPONSE *answer(struct certs_ocsp_responder *r, PGconn *c, const unsigned char *req, size_t len,
			     struct certs_ocsp_result *res)
{
	unsigned char *out = NULL;
	size_t out_len = 0;
	efos_err e = { 0 };
	bool broken = false;
	assert_int_equal(certs_ocsp_respond_conn(r, c, req, len, &out, &out_len, res, &broken, &e), 0);
	assert_false(broken);
	const unsigned char *p = out;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)out_len);
	assert_non_null(resp);
	assert_int_equal(OCSP_response_status(resp), res->response_status);
	free(out);
	return resp;
}

/* Verifies the basic response against the CA as trust anchor; returns it (the caller frees).
 * flags: OCSP_NOCHECKS when a CertID of another issuer is in it (a delegated signer speaks
 * only for its own CA, so OpenSSL's issuer check refuses such a mixed answer). */
static OCSP_BASICRESP *verified_flags(OCSP_RESPONSE *resp, unsigned long flags)
{
	assert_int_equal(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
	assert_non_null(bs);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, ca_cert);
	int ok = OCSP_basic_verify(bs, NULL, st, flags);
	X509_STORE_free(st);
	if (ok != 1)
		fail_msg("OCSP_basic_verify failed");
	/* responderID byKey, the signer's */
	const ASN1_OCTET_STRING *rid_key = NULL;
	const X509_NAME *rid_name = NULL;
	assert_int_equal(OCSP_resp_get0_id(bs, &rid_key, &rid_name), 1);
	assert_non_null(rid_key);
	assert_null(rid_name);
	return bs;
}

static OCSP_BASICRESP *verified(OCSP_RESPONSE *resp)
{
	return verified_flags(resp, 0);
}

static int single_status(OCSP_BASICRESP *bs, int idx, int *reason, ASN1_GENERALIZEDTIME **rev)
{
	OCSP_SINGLERESP *sr = OCSP_resp_get0(bs, idx);
	assert_non_null(sr);
	ASN1_GENERALIZEDTIME *tu = NULL, *nu = NULL;
	int st = OCSP_single_get0_status(sr, reason, rev, &tu, &nu);
	assert_non_null(tu);
	assert_non_null(nu);
	return st;
}

static void test_ocsp_statuses(void **state)
{
	struct certs_ocsp_responder *r = responder(0);
	const unsigned char *ss[] = { S_GOOD, S_REVOKED, S_HOLD, S_NONE, S_UNSPEC, S_HIGH };
	size_t ls[] = { sizeof S_GOOD, sizeof S_REVOKED, sizeof S_HOLD, sizeof S_NONE, sizeof S_UNSPEC, sizeof S_HIGH };
	const EVP_MD *mds[] = { EVP_sha1(), EVP_sha256() };
	for (int m = 0; m < 2; m++) {
		size_t len = 0;
		unsigned char *req = request(ca_cert, mds[m], ss, ls, 6, true, &len);
		struct certs_ocsp_result res;
		OCSP_RESPONSE *resp = answer(r, C, req, len, &res);
		OCSP_BASICRESP *bs = verified(resp);
		assert_int_equal(OCSP_resp_count(bs), 6);
		int reason = 0;
		ASN1_GENERALIZEDTIME *rev = NULL;
		assert_int_equal(single_status(bs, 0, &reason, &rev), V_OCSP_CERTSTATUS_GOOD);
		assert_int_equal(single_status(bs, 1, &reason, &rev), V_OCSP_CERTSTATUS_REVOKED);
		assert_int_equal(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
		ASN1_TIME *want = ASN1_TIME_set(NULL, 1714564800);
		assert_int_equal(ASN1_TIME_compare(rev, want), 0);
		ASN1_TIME_free(want);
		assert_int_equal(single_status(bs, 2, &reason, &rev), V_OCSP_CERTSTATUS_REVOKED);
		assert_int_equal(reason, OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
		assert_int_equal(single_status(bs, 3, &reason, &rev), V_OCSP_CERTSTATUS_UNKNOWN);
		assert_int_equal(single_status(bs, 4, &reason, &rev), V_OCSP_CERTSTATUS_REVOKED);
		assert_int_equal(reason, OCSP_REVOKED_STATUS_NOSTATUS);
		assert_int_equal(single_status(bs, 5, &reason, &rev), V_OCSP_CERTSTATUS_GOOD);
		/* nonce echoed */
		const unsigned char *p = req;
		OCSP_REQUEST *oreq = d2i_OCSP_REQUEST(NULL, &p, (long)len);
		assert_int_equal(OCSP_check_nonce(oreq, bs), 1);
		assert_false(res.reused);
		assert_false(res.cacheable);
		OCSP_REQUEST_free(oreq);
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(resp);
		free(req);
	}
	certs_ocsp_responder_free(r);
}

static void test_ocsp_errors(void **state)
{
	struct certs_ocsp_responder *r = responder(60);
	struct certs_ocsp_result res;
	/* random bytes, empty, trailing bytes */
	unsigned char junk[64];
	RAND_bytes(junk, sizeof junk);
	junk[0] = 0x05;
	OCSP_RESPONSE *resp = answer(r, C, junk, sizeof junk, &res);
	assert_int_equal(res.response_status, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	OCSP_RESPONSE_free(resp);
	resp = answer(r, C, NULL, 0, &res);
	assert_int_equal(res.response_status, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	OCSP_RESPONSE_free(resp);
	size_t len = 0;
	unsigned char *req = request1(ca_cert, EVP_sha256(), S_GOOD, sizeof S_GOOD, false, &len);
	unsigned char *longer = malloc(len + 1);
	memcpy(longer, req, len);
	longer[len] = 0;
	resp = answer(r, C, longer, len + 1, &res);
	assert_int_equal(res.response_status, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	OCSP_RESPONSE_free(resp);
	free(longer);
	/* no database: tryLater */
	resp = answer(r, NULL, req, len, &res);
	assert_int_equal(res.response_status, OCSP_RESPONSE_STATUS_TRYLATER);
	OCSP_RESPONSE_free(resp);
	free(req);
	/* unknown issuer (same name, other key) */
	req = request1(other_ca_cert, EVP_sha1(), S_GOOD, sizeof S_GOOD, true, &len);
	resp = answer(r, C, req, len, &res);
	assert_int_equal(res.response_status, OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	OCSP_RESPONSE_free(resp);
	free(req);
	/* MD5 CertID: not one we answer for */
	req = request1(ca_cert, EVP_md5(), S_GOOD, sizeof S_GOOD, true, &len);
	resp = answer(r, C, req, len, &res);
	assert_int_equal(res.response_status, OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	OCSP_RESPONSE_free(resp);
	free(req);
	/* known + unknown issuer: the unknown one is answered unknown */
	{
		OCSP_REQUEST *oq = OCSP_REQUEST_new();
		X509 *iss[] = { other_ca_cert, ca_cert };
		for (int i = 0; i < 2; i++) {
			BIGNUM *bn = BN_bin2bn(S_REVOKED, sizeof S_REVOKED, NULL);
			ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
			OCSP_request_add0_id(oq, OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(iss[i]),
								  X509_get0_pubkey_bitstr(iss[i]), ai));
			ASN1_INTEGER_free(ai);
			BN_free(bn);
		}
		unsigned char *d = NULL;
		int dl = i2d_OCSP_REQUEST(oq, &d);
		resp = answer(r, C, d, (size_t)dl, &res);
		OCSP_BASICRESP *bs = verified_flags(resp, OCSP_NOCHECKS);
		int reason;
		ASN1_GENERALIZEDTIME *rev;
		assert_int_equal(single_status(bs, 0, &reason, &rev), V_OCSP_CERTSTATUS_UNKNOWN);
		assert_int_equal(single_status(bs, 1, &reason, &rev), V_OCSP_CERTSTATUS_REVOKED);
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(resp);
		OPENSSL_free(d);
		OCSP_REQUEST_free(oq);
	}
	certs_ocsp_responder_free(r);
}

static void test_ocsp_reuse(void **state)
{
	struct certs_ocsp_responder *r = responder(60);
	size_t len = 0;
	unsigned char *req = request1(ca_cert, EVP_sha256(), S_GOOD, sizeof S_GOOD, false, &len);
	unsigned char *a = NULL, *b = NULL;
	size_t al = 0, bl = 0;
	struct certs_ocsp_result res;
	efos_err e = { 0 };
	bool broken;
	assert_int_equal(certs_ocsp_respond_conn(r, C, req, len, &a, &al, &res, &broken, &e), 0);
	assert_false(res.reused);
	assert_true(res.cacheable);
	sleep(1);   /* a re-signed answer would have a later producedAt */
	/* reused even without a database */
	assert_int_equal(certs_ocsp_respond_conn(r, NULL, req, len, &b, &bl, &res, &broken, &e), 0);
	assert_true(res.reused);
	assert_int_equal(res.response_status, OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_int_equal(al, bl);
	assert_memory_equal(a, b, al);
	free(b);
	/* with a nonce: never reused */
	size_t nl = 0;
	unsigned char *nreq = request1(ca_cert, EVP_sha256(), S_GOOD, sizeof S_GOOD, true, &nl);
	assert_int_equal(certs_ocsp_respond_conn(r, C, nreq, nl, &b, &bl, &res, &broken, &e), 0);
	assert_false(res.reused);
	free(b);
	free(nreq);
	/* the CA changed: the stored answer is dropped; the new one says revoked */
	sql_ok("UPDATE certificates SET status = 'revoked', revocation_reason = 1, revoked_at = now() "
	       "WHERE serial = '\\x11223344'", 0, NULL);
	certs_ocsp_responder_invalidate(r, CA.id);
	OCSP_RESPONSE *resp = answer(r, C, req, len, &res);
	assert_false(res.reused);
	OCSP_BASICRESP *bs = verified(resp);
	int reason;
	ASN1_GENERALIZEDTIME *rev;
	assert_int_equal(single_status(bs, 0, &reason, &rev), V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	/* the window passes: not reused (window 60 s: emulate with a responder of window 1) */
	free(a);
	free(req);
	certs_ocsp_responder_free(r);

	r = responder(1);
	req = request1(ca_cert, EVP_sha1(), S_REVOKED, sizeof S_REVOKED, false, &len);
	assert_int_equal(certs_ocsp_respond_conn(r, C, req, len, &a, &al, &res, &broken, &e), 0);
	sleep(2);
	assert_int_equal(certs_ocsp_respond_conn(r, C, req, len, &b, &bl, &res, &broken, &e), 0);
	assert_false(res.reused);
	free(a);
	free(b);
	free(req);
	certs_ocsp_responder_free(r);
}

static void test_status_lookup(void **state)
{
	efos_err e = { 0 };
	struct certs_status_info st;
	BIGNUM *bn = BN_bin2bn(S_HIGH, sizeof S_HIGH, NULL);
	ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
	assert_int_equal(certs_ocsp_status_lookup(C, CA.id, ai, &st, &e), 0);
	assert_int_equal(st.status, CERTS_STATUS_GOOD);
	assert_true(st.not_after > time(NULL));
	/* another CA's id: unknown */
	assert_int_equal(certs_ocsp_status_lookup(C, CA.id + 100000, ai, &st, &e), 0);
	assert_int_equal(st.status, CERTS_STATUS_UNKNOWN);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	bn = BN_bin2bn(S_HOLD, sizeof S_HOLD, NULL);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	assert_int_equal(certs_ocsp_status_lookup(C, CA.id, ai, &st, &e), 0);
	assert_int_equal(st.status, CERTS_STATUS_HOLD);
	assert_int_equal(st.reason, 6);
	assert_int_equal((long)st.revoked_at, 1717228800L);   /* 2024-06-01 08:00:00Z */
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	/* negative serial: unknown, no query */
	ai = ASN1_INTEGER_new();
	ASN1_INTEGER_set(ai, -5);
	assert_int_equal(certs_ocsp_status_lookup(C, CA.id, ai, &st, &e), 0);
	assert_int_equal(st.status, CERTS_STATUS_UNKNOWN);
	ASN1_INTEGER_free(ai);
}

static void test_get_decode(void **state)
{
	size_t len = 0;
	unsigned char *req = request1(ca_cert, EVP_sha1(), S_GOOD, sizeof S_GOOD, true, &len);
	char b64[1024];
	int n = EVP_EncodeBlock((unsigned char *)b64, req, (int)len);
	assert_true(n > 0);
	unsigned char *der = NULL;
	size_t dl = 0;
	efos_err e = { 0 };
	/* standard */
	assert_int_equal(certs_ocsp_decode_get(b64, &der, &dl, &e), 0);
	assert_int_equal(dl, len);
	assert_memory_equal(der, req, len);
	free(der);
	/* %-encoded standard, URL-safe without padding */
	char enc[3072] = "", url[1024] = "";
	size_t k = 0, u = 0;
	for (int i = 0; i < n; i++) {
		char ch = b64[i];
		if (ch == '+' || ch == '/' || ch == '=')
			k += (size_t)sprintf(enc + k, "%%%02X", ch);
		else
			enc[k++] = ch;
		if (ch != '=')
			url[u++] = ch == '+' ? '-' : ch == '/' ? '_' : ch;
	}
	enc[k] = url[u] = '\0';
	assert_int_equal(certs_ocsp_decode_get(enc, &der, &dl, &e), 0);
	assert_memory_equal(der, req, len);
	free(der);
	assert_int_equal(certs_ocsp_decode_get(url, &der, &dl, &e), 0);
	assert_int_equal(dl, len);
	assert_memory_equal(der, req, len);
	free(der);
	assert_int_equal(certs_ocsp_decode_get("not*base64", &der, &dl, &e), -1);
	assert_int_equal(certs_ocsp_decode_get("", &der, &dl, &e), -1);
	assert_int_equal(certs_ocsp_decode_get("%zz", &der, &dl, &e), -1);
	free(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crl_build, fixture_up, fixture_down),
		cmocka_unit_test_setup_teardown(test_crl_issue_conditions, fixture_up, fixture_down),
		cmocka_unit_test(test_crl_two_nodes),
		cmocka_unit_test_setup_teardown(test_ocsp_statuses, fixture_up, fixture_down),
		cmocka_unit_test_setup_teardown(test_ocsp_errors, fixture_up, fixture_down),
		cmocka_unit_test_setup_teardown(test_ocsp_reuse, fixture_up, fixture_down),
		cmocka_unit_test_setup_teardown(test_status_lookup, fixture_up, fixture_down),
		cmocka_unit_test(test_get_decode),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
