/* Shared by the unit tests that issue certificates from CAs whose keys are in the test HSM
 * (certs/, signer/): the certificate profiles from $EFOS_TOP/etc/profiles.conf, and a test CA
 * (a session key in SoftHSM, a self-signed root or a certificate issued by a parent test CA,
 * and its row in `cas` so certs_issue can record what it issues). Header-only because each
 * tests/unit/test_*.c is one program. */
#ifndef EFOS_TEST_CA_COMMON_H
#define EFOS_TEST_CA_COMMON_H

#include <string.h>
#include <openssl/ec.h>
#include <openssl/x509.h>
#include "certs/issue.h"
#include "certs/profile.h"
#include "certs/service.h"
#include "hsm/bridge.h"
#include "test_db_common.h"
#include "test_hsm_common.h"

/* The profiles with https://efos.test as the base URL; NULL with the reason on stderr. */
static inline struct cert_profiles *test_profiles_load(void)
{
	const char *top = getenv("EFOS_TOP") ? getenv("EFOS_TOP") : ".";
	char path[512];
	snprintf(path, sizeof path, "%s/etc/profiles.conf", top);
	struct cert_profiles *ps = NULL;
	efos_err e = { 0 };
	if (cert_profiles_load(path, "https://efos.test", &ps, &e) != 0) {
		fprintf(stderr, "%s\n", e.msg);
		return NULL;
	}
	return ps;
}

/* name is the CA's name (the `cas` row, the certificate's CN, the HSM key label); the caller
 * sets it before test_ca_make. */
struct test_ca {
	struct certs_ca ca;
	struct hsm_key *key;
	char name[48];
};

/* The CA's row in `cas` (hashes and key URI are placeholders these tests do not use). */
static inline void test_ca_insert(PGconn *conn, struct test_ca *t, long parent)
{
	unsigned char *der = NULL;
	int len = i2d_X509(t->ca.cert, &der);
	assert_true(len > 0);
	char *hex = malloc(2 * (size_t)len + 3), parent_s[24], *subject = certs_name_string(X509_get_subject_name(t->ca.cert));
	assert_non_null(hex);
	hex[0] = '\\';
	hex[1] = 'x';
	certs_hex(der, (size_t)len, hex + 2);
	snprintf(parent_s, sizeof parent_s, "%ld", parent);
	const char *params[] = { t->name, parent ? parent_s : NULL, hex, subject };
	efos_err e = { 0 };
	PGresult *r = db_exec(conn, "INSERT INTO cas (name, parent_id, cert_der, key_uri, subject, ski, name_hash_sha1, "
			      "key_hash_sha1) VALUES ($1, $2::bigint, $3::bytea, 'pkcs11:object=test', $4, '\\x00', "
			      "'\\x00', '\\x00') RETURNING id", 4, params, &e);
	if (r == NULL)
		fail_msg("insert ca %s: %s", t->name, e.msg);
	t->ca.id = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	free(hex);
	free(subject);
	OPENSSL_free(der);
}

/* A P-256 CA named t->name under profile: self-signed when parent is NULL, else issued by
 * parent with a profile copy whose issuer is the parent's name; its row inserted. */
static inline void test_ca_make(PGconn *conn, struct hsm *h, const struct cert_profiles *profiles,
				struct test_ca *t, const char *profile, struct test_ca *parent)
{
	efos_err e = { 0 };
	t->key = test_session_key(h, HSM_KEY_EC, NID_X9_62_prime256v1, t->name);
	t->ca.name = t->name;
	t->ca.key = t->key;
	t->ca.signer = hsm_evp_pkey(t->key, &e);
	assert_non_null(t->ca.signer);
	const struct cert_profile *base = cert_profile_get(profiles, profile);
	if (base == NULL)
		fail_msg("no profile %s in etc/profiles.conf", profile);
	struct cert_profile p = *base;
	if (parent != NULL)
		p.issuer = parent->name;
	struct cert_issue_request req = { .profile = &p, .public_key = hsm_key_public(t->key),
					  .subject = { .o = "EFOS unit test", .cn = t->name },
					  .initial_status = "good", .actor = "test" };
	X509 *x = NULL;
	if (parent == NULL) {
		unsigned char serial[16];
		assert_int_equal(certs_serial_random(serial, &e), 0);
		if (certs_build(&t->ca, &req, serial, sizeof serial, &x, &e) != 0)
			fail_msg("certs_build root %s: %s", t->name, e.msg);
	} else if (certs_issue(conn, &parent->ca, &req, &x, &e) != 0) {
		fail_msg("certs_issue %s: %s", t->name, e.msg);
	}
	t->ca.cert = x;
	test_ca_insert(conn, t, parent ? parent->ca.id : 0);
}

static inline void test_ca_free(struct test_ca *t)
{
	X509_free(t->ca.cert);
	EVP_PKEY_free(t->ca.signer);
	hsm_key_free(t->key);
	memset(t, 0, sizeof *t);
}

#endif
