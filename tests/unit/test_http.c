/* The HTTP server against a real TLS client: routing, limits (413, 431, 503) with the server
 * still serving afterwards, client certificates on the mTLS listener and through a trusted
 * proxy header (verified, and raw: as presented, for the route to validate itself), no TLS session resumption on the mTLS listener, request ids, security
 * headers, /metrics and /healthz. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <time.h>
#include "core/config.h"
#include "core/ctx.h"
#include "core/health.h"
#include "core/http.h"
#include "core/log.h"
#include "test_http_util.h"

static char dir[128];
static struct tcert server, client_ca, client, rogue, ca_intermediate_user, expired, sign_only,
	no_eku_usage;

/* A certificate of client_ca with the given keyUsage and EKU (NULL: none), valid from
 * now+from_s to now+to_s. */
static void make_custom(struct tcert *c, const char *cn, const char *ku, const char *eku, long from_s, long to_s)
{
	c->key = t_keygen();
	c->cert = X509_new();
	X509_set_version(c->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c->cert), 1000 + (long)(cn[0]));
	X509_gmtime_adj(X509_getm_notBefore(c->cert), from_s);
	X509_gmtime_adj(X509_getm_notAfter(c->cert), to_s);
	X509_set_pubkey(c->cert, c->key);
	X509_NAME *name = X509_get_subject_name(c->cert);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"EFOS test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c->cert, X509_get_subject_name(client_ca.cert));
	t_ext(c->cert, client_ca.cert, NID_basic_constraints, "critical,CA:FALSE");
	t_ext(c->cert, client_ca.cert, NID_key_usage, ku);
	if (eku != NULL)
		t_ext(c->cert, client_ca.cert, NID_ext_key_usage, eku);
	X509_sign(c->cert, client_ca.key, EVP_sha256());
}

/* ---------------------------------------------------------------- handlers */

static void h_hello(struct http_request *req, struct http_response *resp)
{
	http_resp_body(resp, "text/plain", "hello", 5);
}

static void h_echo(struct http_request *req, struct http_response *resp)
{
	char n[32];
	snprintf(n, sizeof n, "%zu", req->body_len);
	http_resp_header(resp, "X-Body-Len", n);
	http_resp_body(resp, "application/octet-stream", req->body, req->body_len);
}

static void h_card(struct http_request *req, struct http_response *resp)
{
	char subj[256] = "";
	X509 *leaf = sk_X509_value(req->client_chain, 0);
	X509_NAME_oneline(X509_get_subject_name(leaf), subj, sizeof subj);
	http_resp_body(resp, "text/plain", subj, strlen(subj));
}

/* HTTP_ROUTE_CLIENT_CERT_RAW: reports what the handler got. */
static void h_raw(struct http_request *req, struct http_response *resp)
{
	char subj[256] = "", out[768];
	X509 *leaf = sk_X509_value(req->client_chain_presented, 0);
	if (leaf != NULL)
		X509_NAME_oneline(X509_get_subject_name(leaf), subj, sizeof subj);
	int n = snprintf(out, sizeof out, "subject=%s\npresented=%d\nverified=%s\nerror=%s\n", subj,
			 sk_X509_num(req->client_chain_presented), req->client_chain ? "yes" : "no",
			 req->client_verify_error ? req->client_verify_error : "-");
	http_resp_body(resp, "text/plain", out, (size_t)n);
}

static void h_form(struct http_request *req, struct http_response *resp)
{
	const char *a = http_req_query(req, "a");
	const char *b = http_req_query(req, "b");
	char out[256];
	int n = snprintf(out, sizeof out, "a=%s b=%s", a ? a : "-", b ? b : "-");
	http_resp_body(resp, "text/plain", out, (size_t)n);
}

static void h_fail(struct http_request *req, struct http_response *resp)
{
	efos_err e;
	efos_fail(&e, EFOS_E_UNAVAILABLE, "database unreachable");
	http_resp_from_err(resp, &e);
}

static void h_slow(struct http_request *req, struct http_response *resp)
{
	usleep(800 * 1000);
	http_resp_body(resp, "text/plain", "slow", 4);
}

static const struct http_route routes[] = {
	{ "GET", "/slow", 0, h_slow, "slow" },
	{ "GET", "/hello", 0, h_hello, "hello" },
	{ "POST", "/echo", 0, h_echo, "echo" },
	{ "GET", "/card", HTTP_ROUTE_CLIENT_CERT, h_card, "card" },
	{ "GET", "/raw", HTTP_ROUTE_CLIENT_CERT_RAW, h_raw, "raw" },
	{ "GET", "/files/", HTTP_ROUTE_PREFIX, h_hello, "files" },
	{ "POST", "/form", 0, h_form, "form" },
	{ "GET", "/fail", 0, h_fail, "fail" },
};

/* ---------------------------------------------------------------- fixture */

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof sa);
	socklen_t sl = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd);
	return ntohs(sa.sin_port);
}

static void base_config(struct efos_config *c)
{
	memset(c, 0, sizeof *c);
	c->node_name = "test";
	c->http_listen_addr = "127.0.0.1";
	c->http_listen_port = 0;
	c->http_mtls_addr = "127.0.0.1";
	c->http_mtls_port = free_port();
	c->http_public_url = "https://127.0.0.1";
	c->http_mtls_public_url = "https://card.example.se";
	c->http_threads = 2;
	c->http_max_connections = 64;
	c->http_max_body_bytes = 4096;
	c->http_max_header_bytes = 4096;
	c->http_request_timeout_s = 10;
	c->tls_cert = server.cert_path;
	c->tls_key = server.key_path;
	c->tls_client_ca = client_ca.cert_path;
	c->hsm_probe_interval_s = 1;
}

struct fixture {
	struct efos_config cfg;
	struct efos_ctx ctx;
	struct http_server *srv;
	int port, mport;
};

static void start(struct fixture *f)
{
	efos_err e = { 0 };
	memset(&f->ctx, 0, sizeof f->ctx);
	f->srv = NULL;
	f->ctx.cfg = &f->cfg;
	struct http_server_opts o = { .cfg = &f->cfg, .ctx = &f->ctx };
	int rc = http_server_create(&o, &f->srv, &e);
	if (rc != 0)
		fprintf(stderr, "create: %s\n", e.msg);
	assert_int_equal(rc, 0);
	assert_int_equal(http_server_add_routes(f->srv, routes, sizeof routes / sizeof routes[0], &e), 0);
	assert_int_equal(http_server_add_routes(f->srv, health_routes, health_n_routes, &e), 0);
	rc = http_server_start(f->srv, &e);
	if (rc != 0)
		fprintf(stderr, "start: %s\n", e.msg);
	assert_int_equal(rc, 0);
	f->port = http_server_port(f->srv, false);
	f->mport = http_server_port(f->srv, true);
	assert_true(f->port > 0);
}

static void stop(struct fixture *f)
{
	http_server_destroy(f->srv);
	f->srv = NULL;
}

static int group_setup(void **state)
{
	log_init("test", LOG_LVL_DEBUG);
	signal(SIGPIPE, SIG_IGN);   /* the server may close before we finish writing */
	t_mkdtemp(dir, sizeof dir);
	t_make_cert(&server, "localhost", NULL, false, "serverAuth", "DNS:localhost,IP:127.0.0.1");
	t_write(&server, dir, "server");
	t_make_cert(&client_ca, "EFOS test client CA", NULL, true, NULL, NULL);
	t_write(&client_ca, dir, "client-ca");
	t_make_cert(&client, "Anna Andersson", &client_ca, false, "clientAuth", NULL);
	t_write(&client, dir, "client");
	t_make_cert(&rogue, "Mallory", NULL, false, "clientAuth", NULL);
	t_write(&rogue, dir, "rogue");
	/* right CA, but a server-only certificate: purpose sslclient must refuse it */
	t_make_cert(&ca_intermediate_user, "Server Only", &client_ca, false, "serverAuth", NULL);
	/* right CA, but expired an hour ago */
	make_custom(&expired, "Expired Eriksson", "critical,digitalSignature", "clientAuth", -7200, -3600);
	/* right CA, but a signature (nonRepudiation) certificate */
	make_custom(&sign_only, "Signing Svensson", "critical,nonRepudiation", NULL, -3600, 86400);
	/* right CA and keyUsage, but no clientAuth EKU */
	make_custom(&no_eku_usage, "Email Ek", "critical,digitalSignature", "emailProtection", -3600, 86400);
	return 0;
}

static int group_teardown(void **state)
{
	t_free_cert(&server);
	t_free_cert(&client_ca);
	t_free_cert(&client);
	t_free_cert(&rogue);
	t_free_cert(&ca_intermediate_user);
	t_free_cert(&expired);
	t_free_cert(&sign_only);
	t_free_cert(&no_eku_usage);
	t_rmdir(dir);
	return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_routing(void **state)
{
	struct fixture f;
	base_config(&f.cfg);
	start(&f);
	struct tresp r;

	assert_int_equal(t_request(f.port, NULL, "GET", "/hello", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello");
	const char *rid = t_header(&r, "X-Request-Id");
	assert_non_null(rid);
	assert_int_equal(strlen(rid), 16);
	assert_string_equal(t_header(&r, "X-Content-Type-Options"), "nosniff");
	assert_string_equal(t_header(&r, "Cache-Control"), "no-store");
	assert_string_equal(t_header(&r, "X-Frame-Options"), "DENY");
	assert_non_null(strstr(t_header(&r, "Content-Security-Policy"), "frame-ancestors 'none'"));
	assert_non_null(t_header(&r, "Strict-Transport-Security"));
	t_resp_free(&r);

	assert_int_equal(t_request(f.port, NULL, "GET", "/files/a/b.txt?x=1", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	t_resp_free(&r);

	assert_int_equal(t_request(f.port, NULL, "GET", "/nope", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.body, "\"error\""));
	assert_non_null(strstr(r.body, "\"status\":404"));
	assert_non_null(strstr(r.body, "\"request_id\""));
	assert_string_equal(t_header(&r, "Content-Type"), "application/json");
	t_resp_free(&r);

	assert_int_equal(t_request(f.port, NULL, "POST", "/hello", NULL, "x", 1, &r), 0);
	assert_int_equal(r.status, 405);
	assert_string_equal(t_header(&r, "Allow"), "GET");
	t_resp_free(&r);

	assert_int_equal(t_request(f.port, NULL, "GET", "/fail", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "database unreachable"));
	t_resp_free(&r);

	const char *form = "a=x%20y&b=1+2";
	assert_int_equal(t_request(f.port, NULL, "POST", "/form",
				   "Content-Type: application/x-www-form-urlencoded\r\n", form, strlen(form), &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "a=x y b=1 2");
	t_resp_free(&r);
	stop(&f);
}

static void test_body_limit(void **state)
{
	struct fixture f;
	base_config(&f.cfg);
	f.cfg.http_max_body_bytes = 1000;
	start(&f);
	struct tresp r;
	char *big = malloc(200000);
	memset(big, 'a', 200000);

	assert_int_equal(t_request(f.port, NULL, "POST", "/echo", NULL, big, 1000, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(t_header(&r, "X-Body-Len"), "1000");
	t_resp_free(&r);

	/* announced too big: refused before the body is read */
	assert_int_equal(t_request(f.port, NULL, "POST", "/echo", NULL, big, 200000, &r), 0);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.body, "too large"));
	assert_string_equal(t_header(&r, "Content-Type"), "application/json");
	t_resp_free(&r);

	/* chunked, no Content-Length: counted as it streams */
	struct tconn c;
	assert_int_equal(t_connect(&c, f.port, NULL, NULL), 0);
	const char *head = "POST /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n";
	assert_int_equal(t_write_all(&c, head, strlen(head)), 0);
	for (int i = 0; i < 3; i++) {
		char chunk[16];
		snprintf(chunk, sizeof chunk, "%x\r\n", 800);
		t_write_all(&c, chunk, strlen(chunk));
		t_write_all(&c, big, 800);
		t_write_all(&c, "\r\n", 2);
	}
	t_write_all(&c, "0\r\n\r\n", 5);
	assert_int_equal(t_read_resp(&c, &r), 0);
	assert_int_equal(r.status, 413);
	t_resp_free(&r);
	t_close(&c);

	/* a body to a route that takes none: still 413 when too large (read, then refused) */
	assert_int_equal(t_connect(&c, f.port, NULL, NULL), 0);
	head = "POST /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
	       "Transfer-Encoding: chunked\r\n\r\n";
	t_write_all(&c, head, strlen(head));
	t_write_all(&c, "bb8\r\n", 5);
	t_write_all(&c, big, 3000);
	t_write_all(&c, "\r\n0\r\n\r\n", 7);
	assert_int_equal(t_read_resp(&c, &r), 0);
	assert_int_equal(r.status, 413);
	t_resp_free(&r);
	t_close(&c);
	/* ...and 405 when within the limit */
	assert_int_equal(t_request(f.port, NULL, "POST", "/hello", NULL, big, 500, &r), 0);
	assert_int_equal(r.status, 405);
	t_resp_free(&r);

	/* and the server keeps serving */
	assert_int_equal(t_request(f.port, NULL, "GET", "/hello", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	t_resp_free(&r);
	free(big);
	stop(&f);
}

static void test_header_limit(void **state)
{
	struct fixture f;
	base_config(&f.cfg);
	f.cfg.http_max_header_bytes = 2048;
	start(&f);
	struct tresp r;
	char *hdr = malloc(300000);

	/* a little over the limit: our check, JSON body */
	int n = sprintf(hdr, "X-Big: ");
	memset(hdr + n, 'b', 3000);
	strcpy(hdr + n + 3000, "\r\n");
	assert_int_equal(t_request(f.port, NULL, "GET", "/hello", hdr, NULL, 0, &r), 0);
	assert_int_equal(r.status, 431);
	assert_non_null(strstr(r.body, "headers too large"));
	t_resp_free(&r);

	/* far over it: beyond the connection's memory, libmicrohttpd answers; still 431 */
	memset(hdr + n, 'b', 200000);
	strcpy(hdr + n + 200000, "\r\n");
	assert_int_equal(t_request(f.port, NULL, "GET", "/hello", hdr, NULL, 0, &r), 0);
	assert_int_equal(r.status, 431);
	assert_true(r.body_len > 0);
	t_resp_free(&r);

	assert_int_equal(t_request(f.port, NULL, "GET", "/hello", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	t_resp_free(&r);
	free(hdr);
	stop(&f);
}

static void test_connection_limit(void **state)
{
	struct fixture f;
	base_config(&f.cfg);
	f.cfg.http_max_connections = 3;
	start(&f);
	struct tconn held[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(t_connect(&held[i], f.port, NULL, NULL), 0);
	struct tresp r;
	assert_int_equal(t_request(f.port, NULL, "GET", "/hello", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "connection limit"));
	assert_non_null(t_header(&r, "Retry-After"));
	t_resp_free(&r);
	for (int i = 0; i < 3; i++)
		t_close(&held[i]);
	usleep(200 * 1000);   /* let the server see the closes */
	assert_int_equal(t_request(f.port, NULL, "GET", "/hello", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	t_resp_free(&r);
	stop(&f);
}

static void test_client_cert(void **state)
{
	struct fixture f;
	base_config(&f.cfg);
	start(&f);
	assert_true(f.mport > 0);
	struct tresp r;

	assert_int_equal(t_request(f.mport, &client, "GET", "/card", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "CN=Anna Andersson"));
	t_resp_free(&r);

	assert_int_equal(t_request(f.mport, NULL, "GET", "/card", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "client certificate"));
	t_resp_free(&r);

	assert_int_equal(t_request(f.mport, &rogue, "GET", "/card", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "not accepted"));
	t_resp_free(&r);

	assert_int_equal(t_request(f.mport, &ca_intermediate_user, "GET", "/card", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	t_resp_free(&r);

	/* routes without the flag work on the mTLS listener without a certificate */
	assert_int_equal(t_request(f.mport, NULL, "GET", "/hello", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	t_resp_free(&r);

	/* on the public listener: say where to go */
	assert_int_equal(t_request(f.port, &client, "GET", "/card", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "https://card.example.se/card"));
	t_resp_free(&r);
	stop(&f);
}

/* HTTP_ROUTE_CLIENT_CERT_RAW: the handler gets whatever was presented, with the platform's
 * verdict, and validates it itself; without a certificate, 403 before the handler. */
static void test_client_cert_raw(void **state)
{
	struct fixture f;
	base_config(&f.cfg);
	start(&f);
	struct tresp r;

	/* a certificate that verifies: both chains, no error */
	assert_int_equal(t_request(f.mport, &client, "GET", "/raw", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "subject=/O=EFOS test/CN=Anna Andersson\n"));
	assert_non_null(strstr(r.body, "presented=1\n"));
	assert_non_null(strstr(r.body, "verified=yes\n"));
	assert_non_null(strstr(r.body, "error=-\n"));
	t_resp_free(&r);

	/* self-signed (an issuer the server does not know): reaches the handler, with the reason */
	for (int v = 0; v < 2; v++) {
		struct tconn c;
		assert_int_equal(t_connect_opts(&c, f.mport, &rogue, NULL,
						v == 0 ? TLS1_2_VERSION : TLS1_3_VERSION, NULL), 0);
		const char *req = "GET /raw HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
		t_write_all(&c, req, strlen(req));
		assert_int_equal(t_read_resp(&c, &r), 0);
		t_close(&c);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.body, "CN=Mallory"));
		assert_non_null(strstr(r.body, "verified=no\n"));
		assert_non_null(strstr(r.body, "error=client certificate not accepted: self-signed certificate"));
		t_resp_free(&r);
	}
	/* ...while the verified-certificate route still refuses it */
	assert_int_equal(t_request(f.mport, &rogue, "GET", "/card", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	t_resp_free(&r);

	/* expired, wrong EKU, signature-only keyUsage: each reaches the handler with its reason */
	assert_int_equal(t_request(f.mport, &expired, "GET", "/raw", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "CN=Expired Eriksson"));
	assert_non_null(strstr(r.body, "error=client certificate not accepted: certificate has expired"));
	t_resp_free(&r);
	assert_int_equal(t_request(f.mport, &ca_intermediate_user, "GET", "/raw", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "CN=Server Only"));
	assert_non_null(strstr(r.body, "verified=no\n"));
	assert_non_null(strstr(r.body, "certificate purpose"));
	t_resp_free(&r);
	assert_int_equal(t_request(f.mport, &no_eku_usage, "GET", "/raw", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "CN=Email Ek"));
	assert_non_null(strstr(r.body, "certificate purpose"));
	t_resp_free(&r);
	/* nonRepudiation only (a signature certificate): GnuTLS refuses its CertificateVerify in
	 * the handshake (TLS 1.2: the handshake fails; TLS 1.3: the client thinks it is done, the
	 * server then drops the connection), so no route ever sees it */
	for (int v = 0; v < 2; v++) {
		struct tconn c;
		int rc = t_connect_opts(&c, f.mport, &sign_only, NULL, v == 0 ? TLS1_2_VERSION : TLS1_3_VERSION, NULL);
		if (rc == 0) {
			const char *req = "GET /raw HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
			t_write_all(&c, req, strlen(req));
			rc = t_read_resp(&c, &r);
			if (rc == 0)
				t_resp_free(&r);
		}
		if (c.ctx != NULL)
			t_close(&c);
		assert_int_not_equal(rc, 0);
	}

	/* no certificate: 403 before the handler */
	assert_int_equal(t_request(f.mport, NULL, "GET", "/raw", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "needs a client certificate"));
	assert_non_null(strstr(r.body, "none was presented"));
	assert_null(strstr(r.body, "subject="));
	t_resp_free(&r);

	/* the public listener does not ask for one: say where to go */
	assert_int_equal(t_request(f.port, &client, "GET", "/raw", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "https://card.example.se/raw"));
	t_resp_free(&r);
	stop(&f);

	/* through a trusted proxy's header: the chain as carried, with the verdict */
	char *esc = t_escaped_pem(rogue.cert), *hdr = NULL;
	assert_true(asprintf(&hdr, "X-SSL-Client-Cert: %s\r\n", esc) > 0);
	base_config(&f.cfg);
	f.cfg.http_max_header_bytes = 16384;
	f.cfg.proxy_trusted[0] = "127.0.0.1";
	f.cfg.n_proxy_trusted = 1;
	f.cfg.proxy_cert_header = "X-SSL-Client-Cert";
	start(&f);
	assert_int_equal(t_request(f.port, NULL, "GET", "/raw", hdr, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "CN=Mallory"));
	assert_non_null(strstr(r.body, "verified=no\n"));
	assert_non_null(strstr(r.body, "error=client certificate not accepted: self-signed certificate"));
	t_resp_free(&r);
	assert_int_equal(t_request(f.port, NULL, "GET", "/card", hdr, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	t_resp_free(&r);
	/* a header that holds no certificate is no certificate */
	assert_int_equal(t_request(f.port, NULL, "GET", "/raw", "X-SSL-Client-Cert: garbage\r\n", NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	t_resp_free(&r);
	stop(&f);

	/* from an address that is not a trusted proxy: ignored, so no certificate */
	base_config(&f.cfg);
	f.cfg.http_max_header_bytes = 16384;
	f.cfg.proxy_trusted[0] = "192.0.2.1";
	f.cfg.n_proxy_trusted = 1;
	f.cfg.proxy_cert_header = "X-SSL-Client-Cert";
	start(&f);
	assert_int_equal(t_request(f.port, NULL, "GET", "/raw", hdr, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	t_resp_free(&r);
	stop(&f);
	free(hdr);
	free(esc);
}

static void test_no_resumption_on_mtls(void **state)
{
	struct fixture f;
	base_config(&f.cfg);
	start(&f);
	struct tconn c;
	struct tresp r;
	assert_int_equal(t_connect(&c, f.mport, &client, NULL), 0);
	const char *req = "GET /card HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	t_write_all(&c, req, strlen(req));
	assert_int_equal(t_read_resp(&c, &r), 0);   /* reading lets TLS 1.3 tickets arrive */
	assert_int_equal(r.status, 200);
	t_resp_free(&r);
	SSL_SESSION *sess = SSL_get1_session(c.ssl);
	bool resumable = sess != NULL && SSL_SESSION_is_resumable(sess);
	t_close(&c);
	assert_false(resumable);
	if (sess != NULL) {
		struct tconn c2;
		assert_int_equal(t_connect(&c2, f.mport, &client, sess), 0);
		assert_false(SSL_session_reused(c2.ssl));
		t_close(&c2);
		SSL_SESSION_free(sess);
	}
	stop(&f);
}

static void test_proxy_header(void **state)
{
	struct fixture f;
	char *esc = t_escaped_pem(client.cert);
	char *hdr = NULL;
	assert_true(asprintf(&hdr, "X-SSL-Client-Cert: %s\r\nX-Request-Id: proxy-req-42\r\n", esc) > 0);
	char *rogue_esc = t_escaped_pem(rogue.cert);
	char *rogue_hdr = NULL;
	assert_true(asprintf(&rogue_hdr, "X-SSL-Client-Cert: %s\r\n", rogue_esc) > 0);
	struct tresp r;

	/* from a trusted address: believed, verified, request id kept */
	base_config(&f.cfg);
	f.cfg.http_max_header_bytes = 16384;
	f.cfg.proxy_trusted[0] = "10.0.0.0/8";
	f.cfg.proxy_trusted[1] = "127.0.0.1";
	f.cfg.n_proxy_trusted = 2;
	f.cfg.proxy_cert_header = "X-SSL-Client-Cert";
	start(&f);
	assert_int_equal(t_request(f.port, NULL, "GET", "/card", hdr, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "CN=Anna Andersson"));
	assert_string_equal(t_header(&r, "X-Request-Id"), "proxy-req-42");
	t_resp_free(&r);
	/* a chain that does not verify is not believed even from the proxy */
	assert_int_equal(t_request(f.port, NULL, "GET", "/card", rogue_hdr, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	t_resp_free(&r);
	stop(&f);

	/* from any other address: ignored (and the request id is ours) */
	base_config(&f.cfg);
	f.cfg.http_max_header_bytes = 16384;
	f.cfg.proxy_trusted[0] = "192.0.2.1";
	f.cfg.n_proxy_trusted = 1;
	f.cfg.proxy_cert_header = "X-SSL-Client-Cert";
	start(&f);
	assert_int_equal(t_request(f.port, NULL, "GET", "/card", hdr, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	assert_string_not_equal(t_header(&r, "X-Request-Id"), "proxy-req-42");
	t_resp_free(&r);
	stop(&f);
	free(hdr);
	free(esc);
	free(rogue_hdr);
	free(rogue_esc);
}

static void test_metrics_and_healthz(void **state)
{
	struct fixture f;
	base_config(&f.cfg);
	start(&f);
	struct tresp r;
	efos_err e = { 0 };

	assert_int_equal(t_request(f.port, NULL, "GET", "/hello", NULL, NULL, 0, &r), 0);
	t_resp_free(&r);
	assert_int_equal(t_request(f.port, NULL, "GET", "/nope", NULL, NULL, 0, &r), 0);
	t_resp_free(&r);

	/* no database and no HSM in this context: /healthz says so with 503 */
	struct health *h = NULL;
	assert_int_equal(health_start(&f.ctx, &h, &e), 0);
	assert_int_equal(t_request(f.port, NULL, "GET", "/healthz", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "\"status\":\"fail\""));
	assert_non_null(strstr(r.body, "\"db\":\"fail\""));
	assert_non_null(strstr(r.body, "no database configured"));
	assert_non_null(strstr(r.body, "\"hsm\":\"fail\""));
	t_resp_free(&r);

	assert_int_equal(t_request(f.port, NULL, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(t_header(&r, "Content-Type"), "text/plain"));
	assert_non_null(strstr(r.body, "efos_http_requests_total{route=\"hello\",status=\"200\"} 1"));
	assert_non_null(strstr(r.body, "efos_http_requests_total{route=\"unmatched\",status=\"404\"} 1"));
	assert_non_null(strstr(r.body, "efos_http_requests_total{route=\"healthz\",status=\"503\"} 1"));
	assert_non_null(strstr(r.body, "efos_http_request_duration_seconds_bucket{route=\"hello\",le=\"0.005\"}"));
	assert_non_null(strstr(r.body, "efos_http_request_duration_seconds_bucket{route=\"hello\",le=\"+Inf\"} 1"));
	assert_non_null(strstr(r.body, "efos_http_request_duration_seconds_count{route=\"hello\"} 1"));
	assert_non_null(strstr(r.body, "efos_hsm_operations_total"));
	assert_non_null(strstr(r.body, "efos_hsm_errors_total"));
	assert_non_null(strstr(r.body, "efos_hsm_recoveries_total"));
	assert_non_null(strstr(r.body, "efos_hsm_up 0"));
	assert_non_null(strstr(r.body, "efos_db_pool_size"));
	assert_non_null(strstr(r.body, "efos_db_pool_in_use"));
	assert_non_null(strstr(r.body, "efos_db_pool_waits_total"));
	assert_non_null(strstr(r.body, "efos_db_up 0"));
	t_resp_free(&r);
	health_stop(h);
	stop(&f);
}

static void test_plain_http_and_stop_idle(void **state)
{
	/* a server with requests done and keep-alive connections open stops promptly */
	struct fixture f;
	base_config(&f.cfg);
	start(&f);
	struct tconn c;
	assert_int_equal(t_connect(&c, f.port, NULL, NULL), 0);
	const char *req = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
	t_write_all(&c, req, strlen(req));
	char buf[512];
	assert_true(SSL_read(c.ssl, buf, sizeof buf) > 0);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	stop(&f);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true(b.tv_sec - a.tv_sec < 3);
	t_close(&c);
}

struct slow_arg { int port; int status; };

static void *slow_client(void *p)
{
	struct slow_arg *a = p;
	struct tresp r;
	t_request(a->port, NULL, "GET", "/slow", NULL, NULL, 0, &r);
	a->status = r.status;
	t_resp_free(&r);
	return NULL;
}

static void test_graceful_stop(void **state)
{
	/* a request in flight when the server stops still gets its answer */
	struct fixture f;
	base_config(&f.cfg);
	start(&f);
	struct slow_arg a = { f.port, 0 };
	pthread_t t;
	pthread_create(&t, NULL, slow_client, &a);
	usleep(300 * 1000);
	http_server_stop(f.srv);
	pthread_join(t, NULL);
	assert_int_equal(a.status, 200);
	/* no longer accepting */
	struct tconn c;
	assert_int_not_equal(t_connect(&c, f.port, NULL, NULL), 0);
	stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_connection_limit),
		cmocka_unit_test(test_client_cert),
		cmocka_unit_test(test_client_cert_raw),
		cmocka_unit_test(test_no_resumption_on_mtls),
		cmocka_unit_test(test_proxy_header),
		cmocka_unit_test(test_metrics_and_healthz),
		cmocka_unit_test(test_plain_http_and_stop_idle),
		cmocka_unit_test(test_graceful_stop),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
