/* The HTTP(S) server: libmicrohttpd with a thread pool, TLS (server key in a file or in the
 * HSM), an optional second listener that requests client certificates, a trusted-reverse-proxy
 * mode, limits (413/431/503), a routing table, a request id per request, JSON access logs,
 * Prometheus metrics. Handlers see a fully read, bounded request and fill a response. */
#ifndef EFOS_CORE_HTTP_H
#define EFOS_CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/x509.h>
#include "core/err.h"

struct efos_ctx;   /* core/ctx.h: what handlers share (config, db pool, hsm...) */
struct http_server;

struct http_request {
	const char *method;
	const char *path;            /* without the query string */
	const char *remote_addr;     /* the TCP peer (not the proxy's X-Forwarded-For) */
	const char *request_id;
	const unsigned char *body;   /* NUL-terminated for convenience; body_len excludes the NUL */
	size_t body_len;
	bool on_mtls_listener;
	/* The client certificate chain, leaf first, verified against tls.client_ca (or taken from
	 * the trusted proxy's header and verified the same way). NULL when none was presented or
	 * it did not verify. */
	STACK_OF(X509) *client_chain;
	/* The client certificate chain exactly as presented (TLS Certificate message, or the
	 * trusted proxy's header), leaf first, NOT verified; NULL when none was presented. Over
	 * TLS the peer proved possession of the leaf's key in the handshake (CertificateVerify);
	 * through the proxy header, the trusted proxy asserts it. For routes with
	 * HTTP_ROUTE_CLIENT_CERT_RAW, which validate it themselves. Owned by the server. */
	STACK_OF(X509) *client_chain_presented;
	/* Why client_chain_presented did not verify against tls.client_ca (OpenSSL's reason);
	 * NULL when it verified or none was presented. Informational for raw routes. */
	const char *client_verify_error;
	struct efos_ctx *ctx;
	void *impl;                  /* the server's private per-request state */
};

/* Header and query/form argument lookup; NULL when absent. */
const char *http_req_header(const struct http_request *r, const char *name);
const char *http_req_query(const struct http_request *r, const char *name);
/* The query string (after '?') exactly as received, not decoded (the SAML HTTP-Redirect
 * binding's signature covers these octets); NULL when the URL had none. */
const char *http_req_raw_query(const struct http_request *r);

struct http_response;
void http_resp_status(struct http_response *resp, int status);
/* Copies data. */
int http_resp_body(struct http_response *resp, const char *content_type, const void *data, size_t len);
/* Takes ownership of a malloc'd buffer. */
void http_resp_body_take(struct http_response *resp, const char *content_type, char *data, size_t len);
int http_resp_header(struct http_response *resp, const char *name, const char *value);
/* A JSON error body {"error": "...", "status": N, "request_id": "..."}. */
void http_resp_error(struct http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Maps e->code to a status and writes http_resp_error with e->msg. */
void http_resp_from_err(struct http_response *resp, const efos_err *e);

typedef void (*http_handler_fn)(struct http_request *req, struct http_response *resp);

enum http_route_flags {
	HTTP_ROUTE_PREFIX = 1 << 0,      /* path matches as a prefix ("/crl/") */
	HTTP_ROUTE_CLIENT_CERT = 1 << 1, /* needs a verified client certificate (mTLS listener or proxy) */
	/* Needs a client certificate to have been presented (mTLS listener, with proof of
	 * possession in the handshake; or the trusted proxy's header) but not that it verified
	 * against tls.client_ca: the handler gets client_chain_presented and client_verify_error
	 * and validates it itself (card login, which names the exact reason for a refusal:
	 * expired, unknown issuer, wrong key usage...). Without a certificate: 403 before the
	 * handler runs. */
	HTTP_ROUTE_CLIENT_CERT_RAW = 1 << 2,
};
struct http_route {
	const char *method;   /* "GET", "POST", or NULL for any */
	const char *path;
	unsigned flags;
	http_handler_fn fn;
	const char *name;     /* label for metrics and logs */
};

struct http_server_opts {
	const struct efos_config *cfg;
	struct efos_ctx *ctx;
	/* When tls.key is a pkcs11: URI, the server signs TLS handshakes through this key. */
	struct hsm_key *tls_hsm_key;
};

int http_server_create(const struct http_server_opts *o, struct http_server **out, efos_err *e);
/* Routes are matched in the order added; copy-free: the array must outlive the server. */
int http_server_add_routes(struct http_server *s, const struct http_route *routes, size_t n, efos_err *e);
int http_server_start(struct http_server *s, efos_err *e);
/* Stops accepting, lets requests in flight finish (bounded), then stops. */
void http_server_stop(struct http_server *s);
void http_server_destroy(struct http_server *s);

/* Additions (issue 2, efosd): */
/* The port a listener is bound to after http_server_start (useful with port 0); 0 if none. */
int http_server_port(const struct http_server *s, bool mtls);
/* Appends this server's request counters and latency histogram (Prometheus text) to b;
 * used by the /metrics handler (core/health.c). */
struct metrics_buf;
void http_req_render_metrics(const struct http_request *r, struct metrics_buf *b);

#endif
