/* certs/registry*.c and policy_officer_may against the test database: each test runs inside a
 * transaction that it rolls back (the registry joins the caller's transaction), except
 * test_own_transaction, which commits a randomly numbered organisation. Numbers are random and
 * valid, so that rows other tests committed never collide. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "certs/registry.h"
#include "core/db.h"
#include "policy/identity_numbers.h"
#include "policy/roles.h"

static PGconn *conn;
static const struct registry_actor local = { .node = "test", .name = "test:registry", .officer_id = 0 };

static int setup(void **state)
{
	(void)state;
	const char *pg = getenv("EFOS_TEST_PG"), *owner = getenv("EFOS_TEST_PG_OWNER"), *top = getenv("EFOS_TOP");
	if (pg == NULL || owner == NULL) {
		fprintf(stderr, "EFOS_TEST_PG* not set: source var/test/env\n");
		return -1;
	}
	char dir[512];
	snprintf(dir, sizeof dir, "%s/db", top ? top : ".");
	efos_err e = { 0 };
	PGconn *c = NULL;
	int applied;
	if (db_connect(owner, NULL, 5, &c, &e) < 0 || db_migrate(c, dir, &applied, &e) < 0) {
		fprintf(stderr, "migrations: %s\n", e.msg);
		PQfinish(c);
		return -1;
	}
	PQfinish(c);
	if (db_connect(pg, NULL, 5, &conn, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	PQfinish(conn);
	return 0;
}

static int begin(void **state)
{
	(void)state;
	efos_err e;
	return db_begin(conn, &e);
}

static int rollback(void **state)
{
	(void)state;
	db_rollback(conn);
	return 0;
}

static void rand_orgnr(char out[11])
{
	char b[32];
	snprintf(b, sizeof b, "20%01d%06d", (2 + rand() % 8) % 10, rand() % 1000000);
	memcpy(out, b, 9);
	out[9] = (char)('0' + policy_luhn_digit(out, 9));
	out[10] = '\0';
}

static void rand_pnr(char out[13], bool coord)
{
	char b[48];
	snprintf(b, sizeof b, "19%02d%02d%02d%03d", (40 + rand() % 50) % 100, (1 + rand() % 12) % 100,
		 (1 + rand() % 28 + (coord ? 60 : 0)) % 100, rand() % 1000);
	memcpy(out, b, 11);
	out[11] = (char)('0' + policy_luhn_digit(out + 2, 9));
	out[12] = '\0';
}

/* A self-signed EC certificate with clientAuth (ca: a CA certificate instead); PEM, malloc'd. */
static char *make_cert(const char *cn, bool ca, bool client_auth)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	assert_non_null(k);
	ASN1_INTEGER_set(X509_get_serialNumber(x), rand());
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"SE", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	X509V3_CTX v;
	X509V3_set_ctx(&v, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v, NID_ext_key_usage, client_auth ? "clientAuth" : "serverAuth");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	char *data;
	long len = BIO_get_mem_data(b, &data);
	char *pem = strndup(data, (size_t)len);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
	return pem;
}

static X509 *pem_x509(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	return x;
}

static long audit_count(const char *action, const char *object)
{
	const char *p[] = { action, object };
	efos_err e;
	PGresult *r = db_exec(conn, "SELECT count(*) FROM audit_log WHERE action = $1 AND object = $2", 2, p, &e);
	assert_non_null(r);
	long n = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

static void test_orgs(void **state)
{
	(void)state;
	char nr[11], obj[32];
	efos_err e = { 0 };
	struct registry_org o, o2;
	rand_orgnr(nr);
	assert_int_equal(registry_org_create(conn, &local, nr, "Testmyndigheten", &o, &e), 0);
	assert_string_equal(o.orgnr, nr);
	assert_string_equal(o.status, "active");
	snprintf(obj, sizeof obj, "org:%s", nr);
	assert_int_equal(audit_count("org.create", obj), 1);
	/* twice: 409; a bad number: 400 with its reason; a bad name */
	assert_int_equal(registry_org_create(conn, &local, nr, "Again", NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFLICT);
	assert_non_null(strstr(e.msg, "registered already"));
	db_rollback(conn);
	db_begin(conn, &e);
	assert_int_equal(registry_org_create(conn, &local, "2021000002", "X", NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	assert_non_null(strstr(e.msg, "checksum digit is wrong (expected 1)"));
	assert_int_equal(registry_org_create(conn, &local, nr, "", NULL, &e), -1);
	assert_string_equal(e.msg, "organisation name is missing");
	assert_int_equal(registry_org_create(conn, &local, nr, "Bad\x01name", NULL, &e), -1);
	assert_non_null(strstr(e.msg, "control character"));
	assert_int_equal(registry_org_create(conn, &local, nr, "Bad \xc3(", NULL, &e), -1);
	assert_non_null(strstr(e.msg, "not valid UTF-8"));
	/* get, rename, suspend, resume */
	assert_int_equal(registry_org_create(conn, &local, nr, "Myndigheten för åäö", &o, &e), 0);
	assert_int_equal(registry_org_get_by_orgnr(conn, nr, &o2, &e), 0);
	assert_int_equal(o2.id, o.id);
	assert_string_equal(o2.name, "Myndigheten för åäö");
	assert_int_equal(registry_org_rename(conn, &local, o.id, "Nya namnet", &e), 0);
	assert_int_equal(registry_org_set_status(conn, &local, o.id, true, "test", &e), 0);
	assert_int_equal(registry_org_set_status(conn, &local, o.id, true, "test", &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFLICT);
	db_rollback(conn);
	db_begin(conn, &e);
	assert_int_equal(registry_org_get(conn, 999999999, &o2, &e), -1);
	assert_int_equal(e.code, EFOS_E_NOTFOUND);
}

static void test_persons_affiliations(void **state)
{
	(void)state;
	char nr[11], pnr[13], cpnr[13];
	efos_err e = { 0 };
	struct registry_org o;
	struct registry_person p, cp;
	struct registry_affiliation a;
	rand_orgnr(nr);
	rand_pnr(pnr, false);
	rand_pnr(cpnr, true);
	assert_int_equal(registry_org_create(conn, &local, nr, "Org", &o, &e), 0);
	assert_int_equal(registry_person_create(conn, &local, pnr, "Anna", "Berg", NULL, &p, &e), 0);
	assert_string_equal(p.display_name, "Anna Berg");
	assert_false(p.is_coordination_number);
	assert_int_equal(registry_person_create(conn, &local, cpnr, "Sam", "Ordning", "S. Ordning", &cp, &e), 0);
	assert_true(cp.is_coordination_number);
	assert_string_equal(cp.display_name, "S. Ordning");
	assert_int_equal(registry_person_create(conn, &local, "197001011234", "A", "B", NULL, NULL, &e), -1);
	assert_string_equal(e.msg, "personnummer 197001011234: checksum digit is wrong (expected 3)");
	assert_int_equal(registry_person_get_by_pnr(conn, "19700101123", NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);

	assert_int_equal(registry_affiliation_create(conn, &local, p.id, o.id, "aberg", "Handläggare", &a, &e), 0);
	char want[40];
	snprintf(want, sizeof want, "aberg@%s", nr);
	assert_string_equal(a.org_affiliation, want);
	assert_string_equal(a.title, "Handläggare");
	assert_int_equal(registry_affiliation_create(conn, &local, cp.id, o.id, "bad id", NULL, NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	/* the same person twice in one organisation: 409 (checked before the insert) */
	assert_int_equal(registry_affiliation_create(conn, &local, p.id, o.id, "aberg2", NULL, NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFLICT);
	assert_non_null(strstr(e.msg, "already has an active affiliation"));

	/* the identity lookup for validation */
	struct registry_person who;
	struct registry_affiliation *affs = NULL;
	size_t n = 0;
	assert_int_equal(registry_person_identity(conn, p.id, &who, &affs, &n, &e), 0);
	assert_string_equal(who.pnr, pnr);
	assert_int_equal(n, 1);
	assert_string_equal(affs[0].org_affiliation, want);
	assert_string_equal(affs[0].org_name, "Org");
	free(affs);
	struct registry_person *list = NULL;
	assert_int_equal(registry_person_list(conn, o.id, 0, 0, &list, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].id, p.id);
	free(list);

	/* end it: status ended, and the person has no active affiliation left */
	assert_int_equal(registry_affiliation_end(conn, &local, a.id, "left", &e), 0);
	assert_int_equal(registry_affiliation_end(conn, &local, a.id, "left", &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFLICT);
	assert_int_equal(registry_affiliation_find(conn, p.id, o.id, NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_NOTFOUND);
	/* a new one after the end is allowed (new local id) */
	assert_int_equal(registry_affiliation_create(conn, &local, p.id, o.id, "aberg2", NULL, &a, &e), 0);
	assert_int_equal(registry_affiliation_find(conn, p.id, o.id, &a, &e), 0);

	/* update and suspend */
	assert_int_equal(registry_person_update(conn, &local, p.id, NULL, "Berg-Ek", NULL, &e), 0);
	assert_int_equal(registry_person_get(conn, p.id, &who, &e), 0);
	assert_string_equal(who.surname, "Berg-Ek");
	assert_string_equal(who.given_name, "Anna");
	assert_int_equal(registry_person_set_status(conn, &local, p.id, true, "test", &e), 0);
	assert_int_equal(registry_person_get(conn, p.id, &who, &e), 0);
	assert_string_equal(who.status, "suspended");
	assert_int_equal(registry_person_set_status(conn, &local, p.id, false, NULL, &e), 0);
	/* no affiliation with a suspended organisation */
	assert_int_equal(registry_org_set_status(conn, &local, o.id, true, NULL, &e), 0);
	assert_int_equal(registry_affiliation_create(conn, &local, cp.id, o.id, "sam", NULL, NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFLICT);
}

static void test_officers_and_policy(void **state)
{
	(void)state;
	char nr[11], nr2[11], pnr[13], pnr2[13];
	efos_err e = { 0 };
	struct registry_org o, o2;
	struct registry_person p, p2;
	struct registry_officer off, off2, got;
	rand_orgnr(nr);
	do rand_orgnr(nr2); while (!strcmp(nr, nr2));
	rand_pnr(pnr, false);
	do rand_pnr(pnr2, false); while (!strcmp(pnr, pnr2));
	assert_int_equal(registry_org_create(conn, &local, nr, "X", &o, &e), 0);
	assert_int_equal(registry_org_create(conn, &local, nr2, "Y", &o2, &e), 0);
	assert_int_equal(registry_person_create(conn, &local, pnr, "P", "X", NULL, &p, &e), 0);
	assert_int_equal(registry_person_create(conn, &local, pnr2, "P", "Y", NULL, &p2, &e), 0);
	assert_int_equal(registry_affiliation_create(conn, &local, p.id, o.id, "px", NULL, NULL, &e), 0);
	assert_int_equal(registry_affiliation_create(conn, &local, p2.id, o2.id, "py", NULL, NULL, &e), 0);

	char *pem = make_cert("Anna Officer", false, true), *pem2 = make_cert("Bo Admin", false, true);
	char *capem = make_cert("Some CA", true, true), *srv = make_cert("server", false, false);
	assert_int_equal(registry_officer_create(conn, &local, capem, strlen(capem), "CA", 0, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "CA certificate"));
	assert_int_equal(registry_officer_create(conn, &local, srv, strlen(srv), "S", 0, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "clientAuth"));
	assert_int_equal(registry_officer_create(conn, &local, "junk", 4, "J", 0, NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	assert_int_equal(registry_officer_create(conn, &local, pem, strlen(pem), "Anna Officer", p.id, &off, &e), 0);
	assert_string_equal(off.cert_subject, "CN=Anna Officer,C=SE");
	assert_int_equal(strlen(off.cert_sha256), 64);
	assert_int_equal(registry_officer_create(conn, &local, pem, strlen(pem), "Again", 0, NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFLICT);
	db_rollback(conn);
	db_begin(conn, &e);
	/* (the rollback took everything: make it again) */
	assert_int_equal(registry_org_create(conn, &local, nr, "X", &o, &e), 0);
	assert_int_equal(registry_org_create(conn, &local, nr2, "Y", &o2, &e), 0);
	assert_int_equal(registry_person_create(conn, &local, pnr, "P", "X", NULL, &p, &e), 0);
	assert_int_equal(registry_person_create(conn, &local, pnr2, "P", "Y", NULL, &p2, &e), 0);
	assert_int_equal(registry_affiliation_create(conn, &local, p.id, o.id, "px", NULL, NULL, &e), 0);
	assert_int_equal(registry_affiliation_create(conn, &local, p2.id, o2.id, "py", NULL, NULL, &e), 0);
	assert_int_equal(registry_officer_create(conn, &local, pem, strlen(pem), "Anna Officer", 0, &off, &e), 0);
	assert_int_equal(registry_officer_create(conn, &local, pem2, strlen(pem2), "Bo Admin", 0, &off2, &e), 0);

	/* from the chain: found by the leaf's fingerprint */
	X509 *leaf = pem_x509(pem);
	STACK_OF(X509) *chain = sk_X509_new_null();
	sk_X509_push(chain, leaf);
	assert_int_equal(registry_officer_from_chain(conn, chain, &got, &e), 0);
	assert_int_equal(got.id, off.id);
	assert_int_equal(registry_officer_from_chain(conn, NULL, &got, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);

	/* roles: Anna registration_officer in X only; Bo ca_admin everywhere */
	assert_int_equal(registry_officer_grant(conn, &local, off.id, "registration_officer", o.id, &e), 0);
	assert_int_equal(registry_officer_grant(conn, &local, off.id, "registration_officer", o.id, &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFLICT);
	db_rollback(conn);
	db_begin(conn, &e);
	assert_int_equal(registry_org_create(conn, &local, nr, "X", &o, &e), 0);
	assert_int_equal(registry_org_create(conn, &local, nr2, "Y", &o2, &e), 0);
	assert_int_equal(registry_person_create(conn, &local, pnr, "P", "X", NULL, &p, &e), 0);
	assert_int_equal(registry_person_create(conn, &local, pnr2, "P", "Y", NULL, &p2, &e), 0);
	assert_int_equal(registry_affiliation_create(conn, &local, p.id, o.id, "px", NULL, NULL, &e), 0);
	assert_int_equal(registry_affiliation_create(conn, &local, p2.id, o2.id, "py", NULL, NULL, &e), 0);
	assert_int_equal(registry_officer_create(conn, &local, pem, strlen(pem), "Anna Officer", 0, &off, &e), 0);
	assert_int_equal(registry_officer_create(conn, &local, pem2, strlen(pem2), "Bo Admin", 0, &off2, &e), 0);
	assert_int_equal(registry_officer_grant(conn, &local, off.id, "registration_officer", o.id, &e), 0);
	assert_int_equal(registry_officer_grant(conn, &local, off2.id, "ca_admin", 0, &e), 0);
	assert_int_equal(registry_officer_grant(conn, &local, off2.id, "superuser", 0, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);

	assert_int_equal(policy_officer_may(conn, off.id, o.id, POLICY_CARD_ENROLL, &e), 0);
	assert_int_equal(policy_officer_may(conn, off.id, o2.id, POLICY_CARD_ENROLL, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);
	char want[160];
	snprintf(want, sizeof want, "officer \"Anna Officer\" (id %ld) has no role allowing card.enroll for organisation %s",
		 off.id, nr2);
	assert_string_equal(e.msg, want);
	assert_int_equal(policy_officer_may(conn, off.id, POLICY_ORG_ANY, POLICY_PERSON_WRITE, &e), 0);
	assert_int_equal(policy_officer_may(conn, off.id, POLICY_ORG_GLOBAL, POLICY_ORG_WRITE, &e), -1);
	assert_int_equal(policy_officer_may(conn, off2.id, o2.id, POLICY_CARD_UNBLOCK, &e), 0);
	assert_int_equal(policy_officer_may(conn, off2.id, POLICY_ORG_GLOBAL, POLICY_OFFICER_WRITE, &e), 0);
	assert_int_equal(policy_officer_may_for_person(conn, off.id, p.id, POLICY_PROOFING_WRITE, &e), 0);
	assert_int_equal(policy_officer_may_for_person(conn, off.id, p2.id, POLICY_PROOFING_WRITE, &e), -1);
	assert_non_null(strstr(e.msg, nr2));
	assert_int_equal(policy_officer_may_for_person(conn, off.id, 999999999, POLICY_PROOFING_WRITE, &e), -1);
	assert_int_equal(e.code, EFOS_E_NOTFOUND);
	assert_int_equal(policy_officer_may(conn, 999999999, o.id, POLICY_CARD_ENROLL, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);

	struct registry_officer_role *roles = NULL;
	size_t n = 0;
	assert_int_equal(registry_officer_roles(conn, off.id, &roles, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(roles[0].orgnr, nr);
	free(roles);
	assert_int_equal(registry_officer_revoke(conn, &local, off.id, "registration_officer", o.id, &e), 0);
	assert_int_equal(policy_officer_may(conn, off.id, o.id, POLICY_CARD_ENROLL, &e), -1);
	assert_int_equal(registry_officer_revoke(conn, &local, off.id, "registration_officer", o.id, &e), -1);
	assert_int_equal(e.code, EFOS_E_NOTFOUND);
	db_rollback(conn);
	db_begin(conn, &e);

	/* a deactivated officer is refused everywhere */
	assert_int_equal(registry_officer_create(conn, &local, pem2, strlen(pem2), "Bo Admin", 0, &off2, &e), 0);
	assert_int_equal(registry_officer_grant(conn, &local, off2.id, "ca_admin", 0, &e), 0);
	assert_int_equal(registry_officer_set_active(conn, &local, off2.id, false, &e), 0);
	assert_int_equal(policy_officer_may(conn, off2.id, POLICY_ORG_GLOBAL, POLICY_ORG_WRITE, &e), -1);
	assert_non_null(strstr(e.msg, "deactivated"));
	X509 *leaf2 = pem_x509(pem2);
	sk_X509_set(chain, 0, leaf2);
	assert_int_equal(registry_officer_from_chain(conn, chain, &got, &e), -1);
	assert_non_null(strstr(e.msg, "deactivated"));
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	free(pem);
	free(pem2);
	free(capem);
	free(srv);
}

static void test_proofing(void **state)
{
	(void)state;
	char pnr[13];
	efos_err e = { 0 };
	struct registry_person p;
	struct registry_officer off;
	struct registry_proofing pr;
	rand_pnr(pnr, false);
	assert_int_equal(registry_person_create(conn, &local, pnr, "P", "Q", NULL, &p, &e), 0);
	char *pem = make_cert("Proofer", false, true);
	assert_int_equal(registry_officer_create(conn, &local, pem, strlen(pem), "Proofer", 0, &off, &e), 0);
	free(pem);
	struct registry_actor who = { .node = "test", .name = "CN=Proofer", .officer_id = off.id };

	assert_int_equal(registry_proofing_valid(conn, p.id, NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);
	assert_non_null(strstr(e.msg, "never proofed in person"));
	assert_int_equal(registry_proofing_record(conn, &local, p.id, "passport", "X1", true, 30, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "registered officer"));
	assert_int_equal(registry_proofing_record(conn, &who, p.id, "passport", "X1", false, 30, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "checked"));
	assert_int_equal(registry_proofing_record(conn, &who, p.id, "library_card", "X1", true, 30, NULL, &e), -1);
	assert_int_equal(registry_proofing_record(conn, &who, p.id, "passport", "X1;DROP", true, 30, NULL, &e), -1);
	assert_int_equal(registry_proofing_record(conn, &who, p.id, "passport", "AB 123-4", true, 30, &pr, &e), 0);
	assert_true(pr.valid);
	assert_int_equal(pr.officer_id, off.id);
	struct registry_proofing v;
	assert_int_equal(registry_proofing_valid(conn, p.id, &v, &e), 0);
	assert_int_equal(v.id, pr.id);
	/* expired: refused, naming when */
	efos_err e2;
	char id[24];
	snprintf(id, sizeof id, "%ld", pr.id);
	const char *prm[] = { id };
	PGresult *r = db_exec(conn, "UPDATE identity_proofings SET valid_until = now() - interval '1 day' WHERE id = $1",
			      1, prm, &e2);
	assert_non_null(r);
	PQclear(r);
	assert_int_equal(registry_proofing_valid(conn, p.id, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "expired at"));
	struct registry_proofing *list = NULL;
	size_t n = 0;
	assert_int_equal(registry_proofing_list(conn, p.id, &list, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_false(list[0].valid);
	free(list);
}

/* On an idle connection the registry commits its own transaction, audit event included. */
static void test_own_transaction(void **state)
{
	(void)state;
	char nr[11], obj[32];
	efos_err e = { 0 };
	struct registry_org o;
	db_rollback(conn);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	rand_orgnr(nr);
	if (registry_org_create(conn, &local, nr, "Committed", &o, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	snprintf(obj, sizeof obj, "org:%s", nr);
	assert_int_equal(audit_count("org.create", obj), 1);
	/* a failure rolls its own transaction back: nothing half-done */
	assert_int_equal(registry_org_create(conn, &local, nr, "Again", NULL, &e), -1);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	assert_int_equal(audit_count("org.create", obj), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_orgs, begin, rollback),
		cmocka_unit_test_setup_teardown(test_persons_affiliations, begin, rollback),
		cmocka_unit_test_setup_teardown(test_officers_and_policy, begin, rollback),
		cmocka_unit_test_setup_teardown(test_proofing, begin, rollback),
		cmocka_unit_test(test_own_transaction),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
