/* The HTTP server: one libmicrohttpd daemon per listener (public; and mTLS, which requests a
 * client certificate and never resumes a TLS session), a thread pool each, and the request
 * life cycle: limits, request id, routing, client certificate, handler, access log, metrics.
 *
 * Life of a request (MHD access handler calls):
 *   1st call  headers are in: allocate state, pick the request id, check the connection,
 *             header and Content-Length limits, route it, find the client certificate;
 *             any refusal is answered right here, before the body is read.
 *   n calls   body bytes: appended up to http.max_body_bytes, then discarded (413).
 *   last call body complete: run the handler, queue its response.
 *   completed log line + metrics, free everything of the request. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include "core/config.h"
#include "core/http_internal.h"
#include "core/log.h"
#include "core/metrics.h"

#define HTTP_MTLS_PRIORITIES "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-DTLS-ALL:%NO_TICKETS"
#define HTTP_PUBLIC_PRIORITIES "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-DTLS-ALL"
#define HTTP_STOP_GRACE_MS 5000
/* Bodies past the limit are read and dropped up to this much more before the connection is
 * simply closed: enough to answer an honest chunked upload, bounded against a flood. */
#define HTTP_DISCARD_MAX (1L << 20)

/* ---------------------------------------------------------------- helpers */

static double elapsed_s(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void addr_to_string(const struct sockaddr *sa, char *buf, size_t len)
{
	socklen_t sl = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (getnameinfo(sa, sl, buf, (socklen_t)len, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(buf, len, "unknown");
	if (strncmp(buf, "::ffff:", 7) == 0 && strchr(buf + 7, '.') != NULL)
		memmove(buf, buf + 7, strlen(buf + 7) + 1);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_write(LOG_LVL_INFO, "\"component\":\"microhttpd\"", "%s", msg);
}

/* ---------------------------------------------------------------- connections */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_listener *lst = cls;
	struct http_server *s = lst->srv;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_add(&s->connections, 1);
		struct http_conn *conn = calloc(1, sizeof *conn);
		if (conn == NULL)
			return;   /* the cert callback and access handler refuse such a connection */
		conn->lst = lst;
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci != NULL && ci->client_addr != NULL)
			addr_to_string(ci->client_addr, conn->remote, sizeof conn->remote);
		else
			snprintf(conn->remote, sizeof conn->remote, "unknown");
		conn->trusted_proxy = http_proxy_is_trusted(s->cfg, conn->remote);
		*socket_context = conn;
	} else {
		atomic_fetch_sub(&s->connections, 1);
		struct http_conn *conn = *socket_context;
		if (conn != NULL) {
			sk_X509_pop_free(conn->tls_chain, X509_free);
			sk_X509_pop_free(conn->tls_presented, X509_free);
			free(conn->raw_query);
			free(conn);
			*socket_context = NULL;
		}
	}
}

/* ---------------------------------------------------------------- first call */

/* The TLS peer's chain, parsed and verified once per connection (conn->tls_presented as
 * presented, conn->tls_chain verified, conn->tls_why why not). */
static void tls_chain_check(struct http_req_state *st)
{
	struct http_conn *conn = st->conn;
	struct http_server *s = conn->lst->srv;
	if (!conn->lst->mtls || !s->tls_enabled || conn->chain_checked)
		return;
	conn->chain_checked = true;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(st->mhd, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci != NULL && ci->tls_session != NULL)
		conn->tls_chain = http_tls_peer_chain(&s->tls, ci->tls_session, &conn->tls_presented,
						      conn->tls_why, sizeof conn->tls_why);
	if (conn->tls_chain == NULL && conn->tls_why[0] != '\0')
		log_warn("%s", conn->tls_why);
}

/* The client's chain: the one presented over TLS; or, when that did not verify (or there is
 * none), the one in a trusted proxy's header. Sets client_chain (verified),
 * client_chain_presented and client_verify_error. */
static void find_client_chain(struct http_req_state *st)
{
	struct http_conn *conn = st->conn;
	struct http_server *s = conn->lst->srv;
	const struct efos_config *cfg = s->cfg;
	tls_chain_check(st);
	STACK_OF(X509) *chain = conn->tls_chain, *presented = conn->tls_presented;
	const char *why = conn->tls_why;
	if (cfg->proxy_cert_header != NULL && cfg->proxy_cert_header[0] != '\0') {
		const char *hv = MHD_lookup_connection_value(st->mhd, MHD_HEADER_KIND, cfg->proxy_cert_header);
		if (hv != NULL && hv[0] != '\0') {
			if (!conn->trusted_proxy) {
				log_warn("ignored %s header from %s, which is not in proxy.trusted_addresses",
					 cfg->proxy_cert_header, conn->remote);
			} else if (chain == NULL) {
				st->proxy_chain = http_proxy_chain_from_header(&s->tls, hv, &st->proxy_presented,
									       st->proxy_why, sizeof st->proxy_why);
				if (st->proxy_chain == NULL)
					log_warn("%s header from proxy %s: %s", cfg->proxy_cert_header,
						 conn->remote, st->proxy_why);
				chain = st->proxy_chain;
				presented = st->proxy_presented;
				why = st->proxy_why;
			}
		}
	}
	st->req.client_chain = chain;
	st->req.client_chain_presented = presented;
	st->req.client_verify_error = NULL;
	if (presented != NULL && chain == NULL)
		st->req.client_verify_error = why[0] ? why : "client certificate not accepted";
	if (presented != NULL && sk_X509_num(presented) > 0)
		http_tls_subject(sk_X509_value(presented, 0), st->subject, sizeof st->subject);
	st->client_verified = chain != NULL;
}

/* A refusal that does not depend on the body. Without a body it is answered at once. With a
 * body it is answered once the body is read (and discarded): so that a body over the limit is
 * still reported as 413 whatever the URL, and the client is not cut off mid-upload. */
static enum MHD_Result refuse(struct http_req_state *st, int status, const char *hdr, const char *val,
			      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result refuse(struct http_req_state *st, int status, const char *hdr, const char *val,
			      const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!st->has_body)
		return http_answer_error(st, status, hdr, val, "%s", msg);
	st->pending_status = status;
	st->pending_msg = strdup(msg);
	st->pending_hdr = hdr;
	snprintf(st->pending_val, sizeof st->pending_val, "%s", val ? val : "");
	return st->pending_msg ? MHD_YES : MHD_NO;
}

static enum MHD_Result first_call(struct http_listener *lst, struct MHD_Connection *c,
				  const char *url, const char *method, void **req_cls)
{
	struct http_server *s = lst->srv;
	const struct efos_config *cfg = s->cfg;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct http_conn *conn = ci ? ci->socket_context : NULL;
	if (conn == NULL)
		return MHD_NO;
	struct http_req_state *st = calloc(1, sizeof *st);
	if (st == NULL)
		return MHD_NO;
	clock_gettime(CLOCK_MONOTONIC, &st->start);
	atomic_fetch_add(&s->in_flight, 1);
	*req_cls = st;
	st->mhd = c;
	st->raw_query = conn->raw_query;   /* taken from the URI log callback (may be NULL) */
	conn->raw_query = NULL;
	st->conn = conn;
	st->label = s->label_unmatched;

	const char *rid = conn->trusted_proxy ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id") : NULL;
	if (rid != NULL && http_proxy_request_id_ok(rid))
		snprintf(st->id, sizeof st->id, "%s", rid);
	else
		http_request_id_new(st->id);
	log_set_request_id(st->id);

	const char *q = strchr(url, '?');   /* MHD already strips it; be sure */
	st->path = q ? strndup(url, (size_t)(q - url)) : strdup(url);
	if (st->path == NULL)
		return MHD_NO;
	st->req.method = method;
	st->req.path = st->path;
	st->req.remote_addr = conn->remote;
	st->req.request_id = st->id;
	st->req.body = (const unsigned char *)"";
	st->req.on_mtls_listener = lst->mtls;
	st->req.ctx = s->ctx;
	st->req.impl = st;

	/* Limits first: they do not depend on what is asked. */
	int conns = atomic_load(&s->connections);
	if (cfg->http_max_connections > 0 && conns > cfg->http_max_connections)
		return http_answer_error(st, 503, "Retry-After", "1",
					 "the server is at its connection limit (%d); try again shortly",
					 cfg->http_max_connections);
	size_t hb = http_request_header_bytes(c, method, url);
	if (cfg->http_max_header_bytes > 0 && hb > (size_t)cfg->http_max_header_bytes)
		return http_answer_error(st, 431, NULL, NULL,
					 "request headers too large: %zu bytes, the limit is %ld",
					 hb, cfg->http_max_header_bytes);
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (cfg->http_max_body_bytes > 0 &&
		    (errno != 0 || end == cl || v > (unsigned long long)cfg->http_max_body_bytes)) {
			/* Answering and closing while the client still sends makes the kernel reset
			 * the connection, and the client may never read the 413. So a body that is
			 * not much larger is read and dropped first; a client that waits for
			 * "100 Continue", or a huge body, is answered at once. */
			bool waits = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT) != NULL;
			if (errno == 0 && end != cl && !waits &&
			    v <= (unsigned long long)cfg->http_max_body_bytes + HTTP_DISCARD_MAX) {
				st->has_body = true;
				st->too_big = true;
				return MHD_YES;
			}
			return http_answer_error(st, 413, NULL, NULL,
						 "request body too large: %s bytes, the limit is %ld",
						 cl, cfg->http_max_body_bytes);
		}
		st->has_body = v > 0;
	}
	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		st->has_body = true;

	char allow[64];
	switch (http_route_match(&s->routes, method, st->path, &st->route, &st->label, allow, sizeof allow)) {
	case HTTP_MATCH_NOT_FOUND:
		st->label = s->label_unmatched;
		return refuse(st, 404, NULL, NULL, "no such resource: %s", st->path);
	case HTTP_MATCH_BAD_METHOD:
		return refuse(st, 405, "Allow", allow, "method %s not allowed on %s (allowed: %s)",
					 method, st->path, allow);
	case HTTP_MATCH_OK:
		break;
	}

	find_client_chain(st);
	bool raw = (st->route->flags & HTTP_ROUTE_CLIENT_CERT_RAW) != 0;
	if (raw && st->req.client_chain_presented == NULL) {
		if (!lst->mtls && cfg->http_mtls_public_url != NULL && cfg->http_mtls_public_url[0] != '\0')
			return refuse(st, 403, NULL, NULL,
						 "this resource needs a client certificate (your EFOS card); "
						 "use %s%s", cfg->http_mtls_public_url, st->path);
		if (!lst->mtls)
			return refuse(st, 403, NULL, NULL,
						 "this resource needs a client certificate (your EFOS card), "
						 "which this address does not ask for");
		return refuse(st, 403, NULL, NULL,
					 "this resource needs a client certificate (your EFOS card): %s",
					 conn->tls_why[0] ? conn->tls_why :
					 st->proxy_why[0] ? st->proxy_why : "none was presented");
	}
	if (!raw && (st->route->flags & HTTP_ROUTE_CLIENT_CERT) && st->req.client_chain == NULL) {
		if (!lst->mtls && cfg->http_mtls_public_url != NULL && cfg->http_mtls_public_url[0] != '\0')
			return refuse(st, 403, NULL, NULL,
						 "this resource needs a client certificate (your EFOS card); "
						 "use %s%s", cfg->http_mtls_public_url, st->path);
		if (!lst->mtls)
			return refuse(st, 403, NULL, NULL,
						 "this resource needs a client certificate (your EFOS card), "
						 "which this address does not ask for");
		return refuse(st, 403, NULL, NULL,
					 "this resource needs a valid client certificate (your EFOS card): %s",
					 st->req.client_verify_error ? st->req.client_verify_error :
					 conn->tls_why[0] ? conn->tls_why :
					 st->proxy_why[0] ? st->proxy_why : "none was presented");
	}
	return MHD_YES;
}

/* ---------------------------------------------------------------- body, handler */

static enum MHD_Result take_body(struct http_req_state *st, const char *data, size_t *size)
{
	const struct efos_config *cfg = st->conn->lst->srv->cfg;
	size_t n = *size, max = cfg->http_max_body_bytes > 0 ? (size_t)cfg->http_max_body_bytes : SIZE_MAX / 4;
	*size = 0;
	st->body_len += n;   /* counts bytes received, kept or not */
	if (st->body_len > max && !st->too_big) {
		st->too_big = true;
		free(st->body);
		st->body = NULL;
		st->body_cap = 0;
	}
	if (st->answered || st->too_big || st->pending_status != 0)
		/* read and dropped; a flood past the limit is cut off */
		return st->body_len > max + HTTP_DISCARD_MAX ? MHD_NO : MHD_YES;
	if (st->body_len + 1 > st->body_cap) {
		size_t cap = st->body_cap ? st->body_cap : 4096;
		while (cap < st->body_len + 1)
			cap *= 2;
		unsigned char *p = realloc(st->body, cap);
		if (p == NULL)
			return MHD_NO;
		st->body = p;
		st->body_cap = cap;
	}
	memcpy(st->body + st->body_len - n, data, n);
	st->body[st->body_len] = '\0';
	return MHD_YES;
}

static enum MHD_Result run_handler(struct http_req_state *st)
{
	const struct efos_config *cfg = st->conn->lst->srv->cfg;
	if (st->too_big)
		return http_answer_error(st, 413, NULL, NULL,
					 "request body too large: more than %ld bytes", cfg->http_max_body_bytes);
	if (st->pending_status != 0)
		return http_answer_error(st, st->pending_status, st->pending_hdr,
					 st->pending_hdr ? st->pending_val : NULL, "%s", st->pending_msg);
	if (st->body != NULL) {
		st->req.body = st->body;
		st->req.body_len = st->body_len;
	}
	struct http_response resp;
	http_response_init(&resp, st->id);
	st->route->fn(&st->req, &resp);
	return http_response_queue(st, &resp);
}

/* MHD hands the handler the path without the query string and the arguments decoded; the
 * SAML HTTP-Redirect binding needs the query exactly as sent (its signature covers the
 * encoded octets). This callback sees the whole request URI first: keep its query on the
 * connection (requests on one connection are sequential) for first_call to take. */
static void *on_uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct http_conn *conn = ci ? ci->socket_context : NULL;
	if (conn == NULL)
		return NULL;
	free(conn->raw_query);
	conn->raw_query = NULL;
	const char *q = uri ? strchr(uri, '?') : NULL;
	if (q != NULL)
		conn->raw_query = strdup(q + 1);
	return NULL;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **req_cls)
{
	struct http_listener *lst = cls;
	struct http_req_state *st = *req_cls;
	enum MHD_Result ret;
	if (st == NULL) {
		ret = first_call(lst, c, url, method, req_cls);
	} else {
		log_set_request_id(st->id);
		if (*upload_data_size > 0)
			ret = take_body(st, upload_data, upload_data_size);
		else if (st->answered)
			ret = MHD_YES;
		else
			ret = run_handler(st);
	}
	log_set_request_id(NULL);
	return ret;
}

/* ---------------------------------------------------------------- completion */

static const char *toe_name(enum MHD_RequestTerminationCode toe)
{
	switch (toe) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "ok";
	case MHD_REQUEST_TERMINATED_WITH_ERROR: return "error";
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "shutdown";
	case MHD_REQUEST_TERMINATED_READ_ERROR: return "read_error";
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client_abort";
	}
	return "unknown";
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_listener *lst = cls;
	struct http_server *s = lst->srv;
	struct http_req_state *st = *req_cls;
	if (st == NULL)
		return;
	*req_cls = NULL;
	double secs = elapsed_s(&st->start);
	if (st->answered)
		metrics_http_observe(s->metrics, st->label, st->status, secs);

	char path[512], subj[512], kv[1500];
	json_escape(path, sizeof path, st->path ? st->path : "");
	json_escape(subj, sizeof subj, st->subject);
	const char *route = st->route ? (st->route->name ? st->route->name : st->route->path) : "";
	char route_esc[128];
	json_escape(route_esc, sizeof route_esc, route);
	snprintf(kv, sizeof kv,
		 "\"event\":\"access\",\"method\":\"%s\",\"path\":\"%s\",\"route\":\"%s\",\"status\":%d,"
		 "\"bytes\":%zu,\"duration_ms\":%.3f,\"remote\":\"%s\",\"listener\":\"%s\"%s%s%s%s%s%s",
		 st->req.method ? st->req.method : "", path, route_esc, st->answered ? st->status : 0,
		 st->resp_bytes, secs * 1e3, st->conn ? st->conn->remote : "",
		 lst->mtls ? "mtls" : "public",
		 st->subject[0] ? ",\"client_cert\":\"" : "", st->subject[0] ? subj : "",
		 st->subject[0] ? "\"" : "",
		 st->subject[0] && !st->client_verified ? ",\"client_cert_verified\":false" : "",
		 toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? ",\"termination\":\"" : "",
		 toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? toe_name(toe) : "");
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		strncat(kv, "\"", sizeof kv - strlen(kv) - 1);
	log_set_request_id(st->id);
	log_write(LOG_LVL_INFO, kv, "%s %s %d", st->req.method ? st->req.method : "", st->path ? st->path : "",
		  st->answered ? st->status : 0);
	log_set_request_id(NULL);
	http_req_state_free(st);
	atomic_fetch_sub(&s->in_flight, 1);
}

/* ---------------------------------------------------------------- listeners */

static int bind_listener(struct http_listener *lst, const char *addr, int port, efos_err *e)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	char host[256], portstr[16];
	const char *h = addr;
	if (h == NULL || h[0] == '\0' || strcmp(h, "*") == 0)
		h = NULL;
	else if (h[0] == '[') {
		snprintf(host, sizeof host, "%s", h + 1);
		char *rb = strchr(host, ']');
		if (rb)
			*rb = '\0';
		h = host;
	}
	snprintf(portstr, sizeof portstr, "%d", port);
	int rc = getaddrinfo(h, portstr, &hints, &res);
	if (rc != 0)
		return efos_fail(e, EFOS_E_CONFIG, "%s: cannot resolve %s: %s",
				 lst->mtls ? "http.mtls_listen" : "http.listen", addr ? addr : "*", gai_strerror(rc));
	int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, res->ai_protocol);
	if (fd < 0) {
		efos_fail(e, EFOS_E_INTERNAL, "socket: %s", strerror(errno));
		goto fail;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 511) != 0) {
		efos_fail(e, EFOS_E_CONFIG, "%s: cannot listen on %s:%d: %s",
			  lst->mtls ? "http.mtls_listen" : "http.listen", addr ? addr : "*", port, strerror(errno));
		close(fd);
		goto fail;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		lst->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							    : ((struct sockaddr_in *)&ss)->sin_port);
	lst->fd = fd;
	freeaddrinfo(res);
	return 0;
fail:
	freeaddrinfo(res);
	return -1;
}

static int start_listener(struct http_server *s, struct http_listener *lst, efos_err *e)
{
	const struct efos_config *cfg = s->cfg;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (s->tls_enabled)
		flags |= MHD_USE_TLS;
	unsigned hard = 0;
	if (cfg->http_max_connections > 0)
		hard = (unsigned)cfg->http_max_connections + (unsigned)cfg->http_max_connections / 4 + 16;
	size_t mem = 32768;
	if (cfg->http_max_header_bytes > 0)
		mem = (size_t)cfg->http_max_header_bytes * 2 + 32768;

	struct MHD_OptionItem opts[16];
	size_t n = 0;
#define OPT(o, v, p) (opts[n++] = (struct MHD_OptionItem){ (o), (intptr_t)(v), (void *)(p) })
	OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, lst);   /* first, so MHD logs nothing itself */
	OPT(MHD_OPTION_LISTEN_SOCKET, lst->fd, NULL);
	if (cfg->http_threads > 1)
		OPT(MHD_OPTION_THREAD_POOL_SIZE, cfg->http_threads, NULL);
	if (hard > 0)
		OPT(MHD_OPTION_CONNECTION_LIMIT, hard, NULL);
	if (cfg->http_request_timeout_s > 0)
		OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->http_request_timeout_s, NULL);
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, NULL);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, lst);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, lst);
	OPT(MHD_OPTION_URI_LOG_CALLBACK, on_uri_log, lst);
	if (s->tls_enabled) {
		OPT(MHD_OPTION_HTTPS_CERT_CALLBACK, 0, http_tls_cert_callback);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, lst->mtls ? HTTP_MTLS_PRIORITIES : HTTP_PUBLIC_PRIORITIES);
		/* Trust on the daemon makes MHD ask for (not require) a client certificate. */
		if (lst->mtls && s->tls.client_ca_pem != NULL)
			OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, s->tls.client_ca_pem);
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	lst->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_access, lst,
				       MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (lst->daemon == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "cannot start the HTTP server on port %d (libmicrohttpd refused; see the log)",
				 lst->port);
	return 0;
}

/* ---------------------------------------------------------------- public API */

int http_server_create(const struct http_server_opts *o, struct http_server **out, efos_err *e)
{
	const struct efos_config *cfg = o->cfg;
	struct http_server *s = calloc(1, sizeof *s);
	if (s == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	s->cfg = cfg;
	s->ctx = o->ctx;
	s->pub = (struct http_listener){ .srv = s, .mtls = false, .fd = -1 };
	s->mtls = (struct http_listener){ .srv = s, .mtls = true, .fd = -1 };
	atomic_init(&s->connections, 0);
	atomic_init(&s->in_flight, 0);
	s->metrics = metrics_http_new();
	if (s->metrics == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto fail;
	}
	s->label_unmatched = metrics_http_label(s->metrics, "unmatched");
	if (cfg->tls_cert != NULL && cfg->tls_cert[0] != '\0') {
		if (http_tls_load(&s->tls, cfg, o->tls_hsm_key, e) != 0)
			goto fail;
		s->tls_enabled = true;
	} else if (cfg->http_mtls_port != 0) {
		efos_fail(e, EFOS_E_CONFIG, "http.mtls_listen needs tls.cert and tls.key");
		goto fail;
	}
	if (cfg->http_mtls_port != 0 && s->tls.client_store == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "http.mtls_listen needs tls.client_ca (the CAs of client certificates)");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	http_server_destroy(s);
	return -1;
}

int http_server_add_routes(struct http_server *s, const struct http_route *routes, size_t n, efos_err *e)
{
	if (s->started)
		return efos_fail(e, EFOS_E_INTERNAL, "routes must be added before the server starts");
	return http_route_table_add(&s->routes, s->metrics, routes, n, e);
}

int http_server_start(struct http_server *s, efos_err *e)
{
	const struct efos_config *cfg = s->cfg;
	if (bind_listener(&s->pub, cfg->http_listen_addr, cfg->http_listen_port, e) != 0)
		goto fail;
	if (cfg->http_mtls_port != 0 &&
	    bind_listener(&s->mtls, cfg->http_mtls_addr, cfg->http_mtls_port, e) != 0)
		goto fail;
	if (start_listener(s, &s->pub, e) != 0)
		goto fail;
	if (cfg->http_mtls_port != 0 && start_listener(s, &s->mtls, e) != 0)
		goto fail;
	s->started = true;
	return 0;
fail:
	http_server_stop(s);
	return -1;
}

static void quiesce(struct http_listener *lst)
{
	if (lst->daemon != NULL) {
		MHD_socket fd = MHD_quiesce_daemon(lst->daemon);
		if (fd != MHD_INVALID_SOCKET && fd == lst->fd) {
			close(fd);
			lst->fd = -1;
		}
	}
}

static void stop_listener(struct http_listener *lst)
{
	if (lst->daemon != NULL) {
		MHD_stop_daemon(lst->daemon);
		lst->daemon = NULL;
	}
	if (lst->fd >= 0) {
		close(lst->fd);
		lst->fd = -1;
	}
}

void http_server_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	quiesce(&s->pub);
	quiesce(&s->mtls);
	struct timespec start, pause = { 0, 10 * 1000 * 1000 };
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (atomic_load(&s->in_flight) > 0 && elapsed_s(&start) * 1000 < HTTP_STOP_GRACE_MS)
		nanosleep(&pause, NULL);
	int left = atomic_load(&s->in_flight);
	if (left > 0)
		log_warn("stopping with %d request(s) still in flight after %d ms", left, HTTP_STOP_GRACE_MS);
	stop_listener(&s->pub);
	stop_listener(&s->mtls);
	s->started = false;
}

void http_server_destroy(struct http_server *s)
{
	if (s == NULL)
		return;
	http_server_stop(s);
	if (s->tls_enabled)
		http_tls_free(&s->tls);
	http_route_table_free(&s->routes);
	metrics_http_free(s->metrics);
	free(s);
}

int http_server_port(const struct http_server *s, bool mtls)
{
	return mtls ? s->mtls.port : s->pub.port;
}

void http_req_render_metrics(const struct http_request *r, struct metrics_buf *b)
{
	const struct http_req_state *st = r->impl;
	metrics_http_render(st->conn->lst->srv->metrics, b);
}
