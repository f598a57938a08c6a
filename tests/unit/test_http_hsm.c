/* The HTTPS server with its TLS key in the HSM (hsm/gnutls_bridge): handshakes with TLS 1.3
 * (RSA-PSS, ECDSA) and TLS 1.2 (RSA PKCS#1 v1.5, RSA-PSS, ECDSA) all sign through the token.
 * Needs the SoftHSM test token (EFOS_TEST_HSM_* from scripts/testenv.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <strings.h>
#include "core/config.h"
#include "core/ctx.h"
#include "core/http.h"
#include "core/log.h"
#include "hsm/hsm.h"
#include "test_http_util.h"

static char dir[128];
static struct hsm *hsm;

static void h_hello(struct http_request *req, struct http_response *resp)
{
	http_resp_body(resp, "text/plain", "hello", 5);
}

static const struct http_route routes[] = {
	{ "GET", "/hello", 0, h_hello, "hello" },
};

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int group_setup(void **state)
{
	log_init("test", LOG_LVL_INFO);
	signal(SIGPIPE, SIG_IGN);
	if (!env("EFOS_TEST_HSM_MODULE") || !env("EFOS_TEST_HSM_TOKEN") || !env("EFOS_TEST_HSM_PIN")) {
		fprintf(stderr, "EFOS_TEST_HSM_* not set (run through make check)\n");
		return -1;
	}
	efos_err e = { 0 };
	if (hsm_open(env("EFOS_TEST_HSM_MODULE"), env("EFOS_TEST_HSM_TOKEN"), env("EFOS_TEST_HSM_PIN"), 4,
		     &hsm, &e) != 0) {
		fprintf(stderr, "hsm_open: %s\n", e.msg);
		return -1;
	}
	t_mkdtemp(dir, sizeof dir);
	return 0;
}

static int group_teardown(void **state)
{
	hsm_close(hsm);
	t_rmdir(dir);
	return 0;
}

/* A certificate for the HSM key's public half; who signed it does not matter to the client
 * (it does not verify the server here), only that the handshake signature verifies. */
static void write_cert_for(struct hsm_key *k, const char *path)
{
	EVP_PKEY *ca = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, hsm_key_public(k));
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, ca, EVP_sha256());
	FILE *fp = fopen(path, "w");
	PEM_write_X509(fp, x);
	fclose(fp);
	X509_free(x);
	EVP_PKEY_free(ca);
}

struct tls_case { int ver; const char *sigalgs; };

static void serve_with(struct hsm_key *k, const char *name, const struct tls_case *cases, size_t ncases)
{
	char cert[256];
	snprintf(cert, sizeof cert, "%s/%s.crt", dir, name);
	write_cert_for(k, cert);

	struct efos_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.http_listen_addr = "127.0.0.1";
	cfg.http_threads = 2;
	cfg.http_max_connections = 16;
	cfg.http_max_body_bytes = 4096;
	cfg.http_max_header_bytes = 4096;
	cfg.http_request_timeout_s = 10;
	cfg.tls_cert = cert;
	cfg.tls_key = "pkcs11:token=efos-hsm;object=test";
	struct efos_ctx ctx = { .cfg = &cfg, .hsm = hsm };
	struct http_server_opts o = { .cfg = &cfg, .ctx = &ctx, .tls_hsm_key = k };
	struct http_server *srv = NULL;
	efos_err e = { 0 };
	int rc = http_server_create(&o, &srv, &e);
	if (rc != 0)
		fprintf(stderr, "create: %s\n", e.msg);
	assert_int_equal(rc, 0);
	assert_int_equal(http_server_add_routes(srv, routes, 1, &e), 0);
	assert_int_equal(http_server_start(srv, &e), 0);
	int port = http_server_port(srv, false);
	struct hsm_stats before, after;
	hsm_get_stats(hsm, &before);

	for (size_t i = 0; i < ncases; i++) {
		struct tconn c;
		struct tresp r;
		rc = t_connect_opts(&c, port, NULL, NULL, cases[i].ver, cases[i].sigalgs);
		if (rc != 0)
			fprintf(stderr, "%s: handshake failed with %s %s\n", name,
				cases[i].ver == TLS1_2_VERSION ? "TLS 1.2" : "TLS 1.3", cases[i].sigalgs);
		assert_int_equal(rc, 0);
		const char *req = "GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
		t_write_all(&c, req, strlen(req));
		assert_int_equal(t_read_resp(&c, &r), 0);
		assert_int_equal(r.status, 200);
		t_resp_free(&r);
		t_close(&c);
	}
	hsm_get_stats(hsm, &after);
	/* every handshake signed on the token */
	assert_true(after.ops - before.ops >= (long)ncases);
	assert_int_equal(after.errors, before.errors);
	http_server_destroy(srv);
}

static void test_tls_key_in_hsm_ec(void **state)
{
	efos_err e = { 0 };
	struct hsm_key *k = NULL;
	struct hsm_keygen_params p = { .kind = HSM_KEY_EC, .curve_nid = NID_X9_62_prime256v1,
				       .label = "efos-test-tls-ec", .token_object = false };
	int rc = hsm_keygen(hsm, &p, &k, &e);
	if (rc != 0)
		fprintf(stderr, "keygen: %s\n", e.msg);
	assert_int_equal(rc, 0);
	static const struct tls_case cases[] = {
		{ 0, "ECDSA+SHA256" },
		{ TLS1_2_VERSION, "ECDSA+SHA256" },
		{ TLS1_2_VERSION, "ECDSA+SHA384" },
	};
	serve_with(k, "ec", cases, sizeof cases / sizeof cases[0]);
	hsm_key_free(k);
}

static void test_tls_key_in_hsm_rsa(void **state)
{
	efos_err e = { 0 };
	struct hsm_key *k = NULL;
	struct hsm_keygen_params p = { .kind = HSM_KEY_RSA, .bits = 2048, .label = "efos-test-tls-rsa",
				       .token_object = false };
	int rc = hsm_keygen(hsm, &p, &k, &e);
	if (rc != 0)
		fprintf(stderr, "keygen: %s\n", e.msg);
	assert_int_equal(rc, 0);
	static const struct tls_case cases[] = {
		{ 0, "rsa_pss_rsae_sha256" },            /* TLS 1.3: PSS only */
		{ 0, "rsa_pss_rsae_sha384" },
		{ TLS1_2_VERSION, "RSA+SHA256" },         /* PKCS#1 v1.5 */
		{ TLS1_2_VERSION, "rsa_pss_rsae_sha256" },
	};
	serve_with(k, "rsa", cases, sizeof cases / sizeof cases[0]);
	hsm_key_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_key_in_hsm_ec),
		cmocka_unit_test(test_tls_key_in_hsm_rsa),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
