/* Private to core/http_*.c: the server, its listeners, per-connection and per-request state,
 * and the helpers the http files share. Nothing outside core/http_*.c includes this. */
#ifndef EFOS_CORE_HTTP_INTERNAL_H
#define EFOS_CORE_HTTP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <microhttpd.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <openssl/x509.h>
#include "core/http.h"

struct efos_config;
struct metrics_http;
struct hsm_key;

#define HTTP_REQID_MAX 65
#define HTTP_ADDR_MAX 64
#define HTTP_RESP_MAX_HEADERS 24

/* ---- TLS (http_tls.c) ---- */

struct http_tls {
	gnutls_pcert_st *pcerts;   /* server certificate then chain */
	unsigned n_pcerts;
	gnutls_privkey_t key;      /* from the PEM file, or the HSM through hsm/gnutls_bridge */
	char *client_ca_pem;       /* trust sent to MHD (CertificateRequest CA names) */
	X509_STORE *client_store;  /* verification of client chains (built once) */
};

int http_tls_load(struct http_tls *t, const struct efos_config *cfg, struct hsm_key *hsm_key,
		  efos_err *e);
void http_tls_free(struct http_tls *t);
/* The gnutls_certificate_retrieve_function2 handed to MHD. */
int http_tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
			   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			   gnutls_pcert_st **pcert, unsigned int *pcert_length,
			   gnutls_privkey_t *privkey);
/* The peer's chain of the TLS session: *presented gets it as presented (leaf first, not
 * verified; NULL when none was presented); the return value is the chain verified against
 * the client CA store, NULL when none was presented or it did not verify (why in why).
 * GnuTLS checked in the handshake that the peer holds the leaf's key; nothing else about the
 * presented chain is checked here. Caller frees both with sk_X509_pop_free(chain, X509_free). */
STACK_OF(X509) *http_tls_peer_chain(const struct http_tls *t, gnutls_session_t session,
				    STACK_OF(X509) **presented, char *why, size_t whylen);
/* Verifies leaf (+ untrusted intermediates) against the client CA store with purpose
 * sslclient at the current time; returns the verified chain (leaf first) or NULL. */
STACK_OF(X509) *http_tls_verify_chain(const struct http_tls *t, X509 *leaf,
				      STACK_OF(X509) *untrusted, char *why, size_t whylen);
/* "CN=...,O=..." of a certificate, for logs; writes "" on failure. */
void http_tls_subject(X509 *x, char *buf, size_t len);

/* ---- trusted reverse proxy (http_proxy.c) ---- */

bool http_proxy_is_trusted(const struct efos_config *cfg, const char *addr);
/* Decodes a URL-encoded PEM chain (nginx $ssl_client_escaped_cert) into *presented (leaf
 * first, not verified; NULL when the header is malformed) and verifies it; returns the
 * verified chain, or NULL with a reason when the header is malformed or the chain does not
 * verify. Caller frees both. */
STACK_OF(X509) *http_proxy_chain_from_header(const struct http_tls *t, const char *value,
					     STACK_OF(X509) **presented, char *why, size_t whylen);
/* A request id offered by a proxy is taken only if it is 1..64 of [A-Za-z0-9._-]. */
bool http_proxy_request_id_ok(const char *id);
/* URL-decodes (%XX and '+' as space when plus_space) into a new string; NULL on bad escapes. */
char *http_url_decode(const char *s, size_t len, bool plus_space);

/* ---- routes (http_route.c) ---- */

struct http_route_table {
	struct http_route_set {
		const struct http_route *routes;
		size_t n;
		int *metric_labels;  /* one per route */
	} *sets;
	size_t n_sets;
};

enum http_match { HTTP_MATCH_OK, HTTP_MATCH_NOT_FOUND, HTTP_MATCH_BAD_METHOD };
/* On HTTP_MATCH_BAD_METHOD, allow (cap bytes) lists the methods the path accepts. */
enum http_match http_route_match(const struct http_route_table *t, const char *method,
				 const char *path, const struct http_route **out, int *label,
				 char *allow, size_t cap);
int http_route_table_add(struct http_route_table *t, struct metrics_http *m,
			 const struct http_route *routes, size_t n, efos_err *e);
void http_route_table_free(struct http_route_table *t);

/* ---- the server (http_server.c) ---- */

struct http_listener {
	struct http_server *srv;
	bool mtls;
	int fd;                       /* our bound socket, handed to MHD */
	int port;                     /* actually bound (useful with port 0) */
	struct MHD_Daemon *daemon;
};

struct http_server {
	const struct efos_config *cfg;
	struct efos_ctx *ctx;
	bool tls_enabled;
	struct http_tls tls;
	struct http_listener pub, mtls;
	struct http_route_table routes;
	struct metrics_http *metrics;
	int label_unmatched;          /* metrics label for 404/405/limit answers before routing */
	bool started;
	atomic_int connections;       /* open connections, both listeners (soft limit) */
	atomic_int in_flight;         /* requests between first access call and completion */
};

/* Per connection (MHD socket context): the TLS peer chain is verified once per connection. */
struct http_conn {
	struct http_listener *lst;
	char remote[HTTP_ADDR_MAX];
	bool trusted_proxy;
	bool chain_checked;
	STACK_OF(X509) *tls_chain;      /* verified; NULL when none or it did not verify */
	STACK_OF(X509) *tls_presented;  /* as presented, unverified; NULL when none */
	char tls_why[160];              /* why tls_presented did not verify */
	char *raw_query;                /* the next request's query string, as received (URI log callback) */
};

struct http_form_arg { char *name, *value; };

struct http_response {
	int status;
	char *content_type;
	char *body;
	size_t body_len;
	struct { char *name, *value; } headers[HTTP_RESP_MAX_HEADERS];
	size_t n_headers;
	const char *request_id;
};

/* Per request (MHD req_cls): everything is released in the completion callback. */
struct http_req_state {
	struct http_request req;
	struct MHD_Connection *mhd;
	struct http_conn *conn;
	struct timespec start;
	char id[HTTP_REQID_MAX];
	char *path;
	const struct http_route *route;
	int label;
	unsigned char *body;
	size_t body_len, body_cap;
	bool too_big;
	bool has_body;                /* Content-Length > 0 or Transfer-Encoding */
	int pending_status;           /* a refusal kept until the body is read (0: none) */
	char *pending_msg;
	const char *pending_hdr;
	char pending_val[64];
	bool answered;                /* a response has been queued */
	int status;
	size_t resp_bytes;
	STACK_OF(X509) *proxy_chain;  /* owned; TLS chains are owned by the connection */
	STACK_OF(X509) *proxy_presented;  /* owned: the proxy header's chain, unverified */
	char proxy_why[160];          /* why proxy_presented did not verify */
	char subject[256];            /* of the presented leaf, for the access log */
	bool client_verified;         /* the presented chain verified against tls.client_ca */
	struct http_form_arg *form;   /* parsed lazily from an urlencoded body */
	size_t n_form;
	bool form_parsed;
	char *raw_query;              /* after '?', exactly as received (not decoded); NULL: none */
};

/* ---- responses (http_response.c) ---- */

void http_response_init(struct http_response *r, const char *request_id);
void http_response_clear(struct http_response *r);
/* Converts to an MHD response with the default security headers and X-Request-Id, queues
 * it, and records status and size in st. Returns MHD_YES/MHD_NO. */
enum MHD_Result http_response_queue(struct http_req_state *st, struct http_response *r);
/* Convenience: a JSON error answered right away. */
enum MHD_Result http_answer_error(struct http_req_state *st, int status, const char *extra_header,
				  const char *extra_value, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* ---- request helpers (http_request.c) ---- */

void http_request_id_new(char out[HTTP_REQID_MAX]);
/* Request line + header lines, as MHD received them (approximately, for the 431 check). */
size_t http_request_header_bytes(struct MHD_Connection *c, const char *method, const char *url);
void http_req_state_free(struct http_req_state *st);

#endif
