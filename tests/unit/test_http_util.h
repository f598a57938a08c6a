/* Helpers for the HTTP server tests: throwaway keys and certificates (server, client CA,
 * client, a rogue client), written to a temporary directory, and a small OpenSSL client that
 * speaks raw HTTP/1.1 over TLS so that tests control every byte (oversized headers, idle
 * connections, client certificates, session resumption). */
#ifndef EFOS_TEST_HTTP_UTIL_H
#define EFOS_TEST_HTTP_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct tcert {
	EVP_PKEY *key;
	X509 *cert;
	char cert_path[256], key_path[256];
};

static __attribute__((unused)) EVP_PKEY *t_keygen(void)
{
	return EVP_EC_gen("P-256");
}

static __attribute__((unused)) void t_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL) {
		fprintf(stderr, "extension %d=%s failed\n", nid, value);
		abort();
	}
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
}

/* issuer NULL: self-signed. */
static __attribute__((unused)) void t_make_cert(struct tcert *c, const char *cn, struct tcert *issuer, bool ca,
			const char *eku, const char *san)
{
	static long serial = 1;
	c->key = t_keygen();
	c->cert = X509_new();
	X509_set_version(c->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c->cert), serial++);
	X509_gmtime_adj(X509_getm_notBefore(c->cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c->cert), 86400);
	X509_set_pubkey(c->cert, c->key);
	X509_NAME *name = X509_get_subject_name(c->cert);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"EFOS test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509 *icert = issuer ? issuer->cert : c->cert;
	X509_set_issuer_name(c->cert, X509_get_subject_name(icert));
	t_ext(c->cert, icert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	t_ext(c->cert, icert, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	t_ext(c->cert, icert, NID_subject_key_identifier, "hash");
	if (eku)
		t_ext(c->cert, icert, NID_ext_key_usage, eku);
	if (san)
		t_ext(c->cert, icert, NID_subject_alt_name, san);
	X509_sign(c->cert, issuer ? issuer->key : c->key, EVP_sha256());
}

static __attribute__((unused)) void t_write(struct tcert *c, const char *dir, const char *name)
{
	snprintf(c->cert_path, sizeof c->cert_path, "%s/%s.crt", dir, name);
	snprintf(c->key_path, sizeof c->key_path, "%s/%s.key", dir, name);
	FILE *fp = fopen(c->cert_path, "w");
	PEM_write_X509(fp, c->cert);
	fclose(fp);
	fp = fopen(c->key_path, "w");
	PEM_write_PrivateKey(fp, c->key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
}

static __attribute__((unused)) void t_free_cert(struct tcert *c)
{
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
	memset(c, 0, sizeof *c);
}

/* A PEM certificate URL-encoded the way nginx's $ssl_client_escaped_cert is. */
static __attribute__((unused)) char *t_escaped_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	char *pem;
	long n = BIO_get_mem_data(b, &pem);
	char *out = malloc((size_t)n * 3 + 1), *o = out;
	for (long i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)pem[i];
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~')
			*o++ = (char)ch;
		else
			o += sprintf(o, "%%%02X", ch);
	}
	*o = '\0';
	BIO_free(b);
	return out;
}

/* ---------------------------------------------------------------- client */

struct tconn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

struct tresp {
	int status;
	char *head;   /* status line and headers */
	char *body;
	size_t body_len;
};

static __attribute__((unused)) void t_resp_free(struct tresp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* Connects and completes the TLS handshake; client cert/key optional; session optional
 * (to try resumption). Returns 0 on success. */
static __attribute__((unused)) int t_connect_opts(struct tconn *c, int port, const struct tcert *client, SSL_SESSION *sess,
			  int max_version, const char *sigalgs)
{
	memset(c, 0, sizeof *c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 15 };   /* a hung server fails the test, not the run */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(c->fd);
		return -1;
	}
	c->ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT);
	if (client != NULL) {
		SSL_CTX_use_certificate(c->ctx, client->cert);
		SSL_CTX_use_PrivateKey(c->ctx, client->key);
	}
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(c->ctx, max_version);
	if (sigalgs != NULL)
		SSL_CTX_set1_sigalgs_list(c->ctx, sigalgs);
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	if (sess != NULL)
		SSL_set_session(c->ssl, sess);
	if (SSL_connect(c->ssl) != 1) {
		ERR_print_errors_fp(stderr);
		return -1;
	}
	return 0;
}

static __attribute__((unused)) int t_connect(struct tconn *c, int port, const struct tcert *client, SSL_SESSION *sess)
{
	return t_connect_opts(c, port, client, sess, 0, NULL);
}

static __attribute__((unused)) void t_close(struct tconn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd > 0)
		close(c->fd);
	memset(c, 0, sizeof *c);
}

static __attribute__((unused)) int t_write_all(struct tconn *c, const char *data, size_t len)
{
	while (len > 0) {
		int n = SSL_write(c->ssl, data, len > 65536 ? 65536 : (int)len);
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until the peer closes (requests are sent with Connection: close). */
static __attribute__((unused)) int t_read_resp(struct tconn *c, struct tresp *r)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
		int n = SSL_read(c->ssl, buf + len, (int)(cap - len));
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	memset(r, 0, sizeof *r);
	char *sep = strstr(buf, "\r\n\r\n");
	if (sep == NULL || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
		free(buf);
		r->status = -1;
		return -1;
	}
	r->head = strndup(buf, (size_t)(sep - buf) + 2);
	r->body_len = len - (size_t)(sep + 4 - buf);
	r->body = malloc(r->body_len + 1);
	memcpy(r->body, sep + 4, r->body_len);
	r->body[r->body_len] = '\0';
	free(buf);
	return 0;
}

/* One request on a fresh connection. extra: more header lines, each ending in \r\n. */
static __attribute__((unused)) int t_request(int port, const struct tcert *client, const char *method, const char *path,
		     const char *extra, const char *body, size_t body_len, struct tresp *r)
{
	struct tconn c;
	memset(r, 0, sizeof *r);
	r->status = -1;
	if (t_connect(&c, port, client, NULL) != 0)
		return -1;
	char *head = NULL;
	int n;
	if (body != NULL)
		n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
				    "Content-Length: %zu\r\n%s\r\n", method, path, body_len, extra ? extra : "");
	else
		n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n",
			     method, path, extra ? extra : "");
	/* The server may answer (and close) before reading all we send: write errors are
	 * expected then, and the answer is still there to read. */
	if (n > 0 && t_write_all(&c, head, (size_t)n) == 0 && body != NULL)
		(void)t_write_all(&c, body, body_len);
	int rc = t_read_resp(&c, r);
	free(head);
	t_close(&c);
	return rc;
}

static __attribute__((unused)) const char *t_header(const struct tresp *r, const char *name)
{
	static __thread char val[512];
	size_t nl = strlen(name);
	for (const char *p = r->head; p && *p; ) {
		const char *eol = strstr(p, "\r\n");
		if (eol == NULL)
			break;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			snprintf(val, sizeof val, "%.*s", (int)(eol - v), v);
			return val;
		}
		p = eol + 2;
	}
	return NULL;
}

static __attribute__((unused)) void t_mkdtemp(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/efos-http-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
}

static __attribute__((unused)) void t_rmdir(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

#endif
