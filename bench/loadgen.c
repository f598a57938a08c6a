/* loadgen: the HTTPS load generator of `make bench` (bench/README.md). Not a benchmark itself
 * (its name has no bench_ prefix, so scripts/run-bench.sh does not run it): the row scripts
 * under bench/ drive it.
 *
 * One "operation" is a request and the redirects it leads to, followed until a final answer;
 * it counts as done only when that answer is 200 and its body holds --expect (a login counts
 * only when the page carries the SAMLResponse form). Each of --concurrency threads keeps one
 * keep-alive TLS connection per origin and runs operations back to back: a closed loop, as a
 * browser population with no think time. Requests to the origin named by --fresh-tls get a
 * new TLS connection (a full handshake, with the client key) per operation: the card login.
 *
 * The client key may live in a PKCS#11 token (--key-uri, through hsm/'s OpenSSL bridge), so a
 * SoftHSM "card" signs the TLS handshake as a real card would, and its cost is part of the row.
 *
 * Prints one line: ops_per_s p50_ms p99_ms ok errors seconds exhausted (requests ran out).
 * --timeline FILE also writes, per 0.1 s from the start (warm-up included), the wall-clock time
 * (Unix seconds) and the operations that ended then, ok and failed: the metadata row reads the
 * login rate inside the window of a refresh from it. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "hsm/bridge.h"
#include "hsm/hsm.h"

#define MAX_HDRS 8
#define MAX_ORIGINS 4
#define RESP_MAX (4u << 20)

static struct {
	const char *url, *urls_file, *method, *body_file, *ctype, *cacert, *cert, *key, *key_uri, *module;
	const char *pin_env, *cookie, *expect, *fresh_origin, *sign_requests, *timeline;
	const char *hdrs[MAX_HDRS];
	int n_hdrs, concurrency, follow;
	double duration, warmup;
	long max_ops;
	bool verbose;
} opt = { .method = "GET", .concurrency = 1, .duration = 3, .warmup = 1, .pin_env = "EFOS_LOADGEN_PIN" };

static char **urls;          /* --urls: each used once */
static size_t n_urls;
static atomic_size_t next_url;
static char *body;
static size_t body_len;
static SSL_CTX *ssl_ctx;
static double t_start, t_count, t_end;
static atomic_int exhausted;
static atomic_long errors_reported;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

#define TL_SLICE 0.1
static atomic_long *tl_ok, *tl_err;   /* --timeline: per slice since t_start */
static size_t tl_n;
static double tl_wall0;               /* the wall clock at t_start */

static void tl_count(double t1, bool ok)
{
	if (tl_ok == NULL || t1 < t_start)
		return;
	size_t i = (size_t)((t1 - t_start) / TL_SLICE);
	if (i < tl_n)
		atomic_fetch_add_explicit(ok ? &tl_ok[i] : &tl_err[i], 1, memory_order_relaxed);
}

static int tl_write(const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	size_t last = 0;
	for (size_t i = 0; i < tl_n; i++)
		if (atomic_load(&tl_ok[i]) || atomic_load(&tl_err[i]))
			last = i + 1;
	for (size_t i = 0; i < last; i++)
		fprintf(f, "%.3f %ld %ld\n", tl_wall0 + i * TL_SLICE, atomic_load(&tl_ok[i]), atomic_load(&tl_err[i]));
	return fclose(f);
}

struct thread_res {
	uint32_t *lat_us;
	size_t n, cap;
	long ok, errors;
	double last_done;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The first few failures are printed (to stderr, for the row's raw output); later ones are
 * only counted. */
__attribute__((format(printf, 1, 2))) static void report_error(const char *fmt, ...)
{
	if (atomic_fetch_add(&errors_reported, 1) >= 5)
		return;
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&err_lock);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&err_lock);
	va_end(ap);
}

/* ---- URLs ---------------------------------------------------------------------------------- */

struct url {
	char host[256];
	char port[8];
	const char *path;    /* points into the URL string */
};

static int url_parse(const char *u, struct url *out)
{
	if (strncmp(u, "https://", 8) != 0)
		return -1;
	const char *h = u + 8, *slash = strchr(h, '/');
	if (slash == NULL)
		slash = h + strlen(h);
	const char *colon = memchr(h, ':', (size_t)(slash - h));
	size_t hl = (size_t)((colon ? colon : slash) - h);
	if (hl == 0 || hl >= sizeof out->host)
		return -1;
	memcpy(out->host, h, hl);
	out->host[hl] = '\0';
	if (colon != NULL) {
		size_t pl = (size_t)(slash - colon - 1);
		if (pl == 0 || pl >= sizeof out->port)
			return -1;
		memcpy(out->port, colon + 1, pl);
		out->port[pl] = '\0';
	} else
		strcpy(out->port, "443");
	out->path = *slash ? slash : "/";
	return 0;
}

/* ---- connections --------------------------------------------------------------------------- */

struct conn {
	char origin[280];    /* host:port */
	int fd;
	SSL *ssl;
};

static void conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int conn_open(struct conn *c, const struct url *u)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	if (getaddrinfo(u->host, u->port, &hints, &ai) != 0 || ai == NULL)
		return -1;
	c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		freeaddrinfo(ai);
		conn_close(c);
		return -1;
	}
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct timeval tv = { .tv_sec = 30 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	c->ssl = SSL_new(ssl_ctx);
	if (c->ssl == NULL) {
		conn_close(c);
		return -1;
	}
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, u->host);
	if (SSL_connect(c->ssl) != 1) {
		char buf[256];
		ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
		report_error("TLS handshake with %s failed: %s", c->origin, buf);
		ERR_clear_error();
		conn_close(c);
		return -1;
	}
	return 0;
}

static int write_all(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		int w = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- one HTTP exchange --------------------------------------------------------------------- */

struct resp {
	char *buf;           /* headers + body as read */
	size_t len, cap;
	int status;
	char *body;
	size_t body_len, hdr_len;
	char location[8192];
	bool close;
};

static int resp_read_more(struct conn *c, struct resp *r)
{
	if (r->len + 16384 + 1 > r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 65536;
		if (ncap > RESP_MAX + 16384 + 1)
			return -1;
		char *nb = realloc(r->buf, ncap);
		if (nb == NULL)
			return -1;
		r->buf = nb;
		r->cap = ncap;
	}
	int n = SSL_read(c->ssl, r->buf + r->len, 16384);
	if (n <= 0)
		return -1;
	r->len += (size_t)n;
	r->buf[r->len] = '\0';
	return 0;
}

static const char *hdr_find(const char *hdrs, const char *end, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = hdrs; p && p < end; p = strstr(p, "\r\n")) {
		p += (p == hdrs) ? 0 : 2;
		if (p >= end)
			break;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		if (p == hdrs)
			p++;
	}
	return NULL;
}

/* What to send: method NULL = GET without a body; cookie NULL = none. */
struct req {
	const char *method, *body, *ctype, *cookie;
	size_t body_len;
};

/* Sends one request and reads the whole response (Content-Length or chunked). */
static int exchange(struct conn *c, const struct url *u, const struct req *q, struct resp *r)
{
	char head[16384];
	bool post = q->method != NULL;
	int hl = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: efos-loadgen\r\n"
			  "Accept: */*\r\n", post ? q->method : "GET", u->path, u->host, u->port);
	if (hl <= 0 || (size_t)hl >= sizeof head)
		return -1;
	for (int i = 0; i < opt.n_hdrs; i++)
		hl += snprintf(head + hl, sizeof head - (size_t)hl, "%s\r\n", opt.hdrs[i]);
	if (q->cookie != NULL && q->cookie[0] != '\0')
		hl += snprintf(head + hl, sizeof head - (size_t)hl, "Cookie: %s\r\n", q->cookie);
	if (post)
		hl += snprintf(head + hl, sizeof head - (size_t)hl, "Content-Type: %s\r\nContent-Length: %zu\r\n",
			       q->ctype ? q->ctype : "application/octet-stream", q->body_len);
	hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
	if ((size_t)hl >= sizeof head)
		return -1;
	if (write_all(c, head, (size_t)hl) != 0 ||
	    (post && q->body_len > 0 && write_all(c, q->body, q->body_len) != 0))
		return -1;

	r->len = 0;
	if (r->buf != NULL)
		r->buf[0] = '\0';   /* the previous answer must not be parsed again */
	r->location[0] = '\0';
	char *eoh;
	while ((eoh = r->buf ? strstr(r->buf, "\r\n\r\n") : NULL) == NULL)
		if (resp_read_more(c, r) != 0)
			return -1;
	if (sscanf(r->buf, "HTTP/1.%*d %d", &r->status) != 1)
		return -1;
	size_t hdr_len = (size_t)(eoh - r->buf) + 4;
	r->hdr_len = hdr_len;
	const char *loc = hdr_find(r->buf, eoh, "Location");
	if (loc != NULL) {
		size_t n = strcspn(loc, "\r\n");
		if (n >= sizeof r->location)
			return -1;
		memcpy(r->location, loc, n);
		r->location[n] = '\0';
	}
	const char *conn_h = hdr_find(r->buf, eoh, "Connection");
	r->close = conn_h != NULL && strncasecmp(conn_h, "close", 5) == 0;
	const char *cl = hdr_find(r->buf, eoh, "Content-Length");
	const char *te = hdr_find(r->buf, eoh, "Transfer-Encoding");
	if (cl != NULL) {
		size_t want = strtoul(cl, NULL, 10);
		if (want > RESP_MAX)
			return -1;
		while (r->len < hdr_len + want)
			if (resp_read_more(c, r) != 0)
				return -1;
		r->body = r->buf + hdr_len;
		r->body_len = want;
	} else if (te != NULL && strncasecmp(te, "chunked", 7) == 0) {
		/* de-chunk in place after the headers */
		size_t rd = hdr_len, wr = hdr_len;
		for (;;) {
			char *crlf;
			while ((crlf = strstr(r->buf + rd, "\r\n")) == NULL)
				if (resp_read_more(c, r) != 0)
					return -1;
			size_t csz = strtoul(r->buf + rd, NULL, 16);
			if (csz > RESP_MAX)
				return -1;
			size_t data = (size_t)(crlf - r->buf) + 2;
			while (r->len < data + csz + 2)
				if (resp_read_more(c, r) != 0)
					return -1;
			if (csz == 0)
				break;
			memmove(r->buf + wr, r->buf + data, csz);
			wr += csz;
			rd = data + csz + 2;
		}
		r->body = r->buf + hdr_len;
		r->body_len = wr - hdr_len;
		r->body[r->body_len] = '\0';
	} else {
		r->body = r->buf + hdr_len;
		r->body_len = r->len - hdr_len;
		r->close = true;
	}
	return 0;
}

/* ---- one operation: request, redirects, final answer ---------------------------------------- */

/* ---- cookies (the --sign-requests browser: one jar per transaction) -------------------------- */

#define JAR_MAX 16

struct jar {
	int n;
	struct { char name[64], value[1024]; } c[JAR_MAX];
	char header[JAR_MAX * 1100];
};

/* Takes every Set-Cookie of the last answer's headers (name=value; attributes ignored: both
 * listeners are one host, and cookies do not depend on the port). */
static void jar_take(struct jar *j, const struct resp *r)
{
	const char *end = r->buf + r->hdr_len;
	for (const char *p = r->buf; p != NULL && p < end; p = strstr(p, "\r\n")) {
		p += 2;
		if (p >= end || strncasecmp(p, "Set-Cookie:", 11) != 0)
			continue;
		p += 11;
		while (*p == ' ')
			p++;
		size_t nl = strcspn(p, "=;\r\n"), vl;
		if (p[nl] != '=' || nl == 0 || nl >= sizeof j->c[0].name)
			continue;
		const char *v = p + nl + 1;
		vl = strcspn(v, ";\r\n");
		if (vl >= sizeof j->c[0].value)
			continue;
		int i = 0;
		while (i < j->n && !(strlen(j->c[i].name) == nl && strncmp(j->c[i].name, p, nl) == 0))
			i++;
		if (i == JAR_MAX)
			continue;
		if (i == j->n)
			j->n++;
		memcpy(j->c[i].name, p, nl);
		j->c[i].name[nl] = '\0';
		memcpy(j->c[i].value, v, vl);
		j->c[i].value[vl] = '\0';
	}
}

static const char *jar_header(struct jar *j)
{
	size_t o = 0;
	j->header[0] = '\0';
	for (int i = 0; i < j->n; i++)
		o += (size_t)snprintf(j->header + o, sizeof j->header - o, "%s%s=%s", i ? "; " : "",
				      j->c[i].name, j->c[i].value);
	return j->header;
}

/* ---- one operation: request, redirects, final answer ---------------------------------------- */

struct worker {
	struct conn conns[MAX_ORIGINS];
	struct resp r;
	struct thread_res res;
	struct jar jar;
	char page_url[8192];   /* the URL of the last final answer (relative form actions) */
	pthread_t tid;
};

static struct conn *conn_for(struct worker *w, const struct url *u)
{
	char origin[280];
	snprintf(origin, sizeof origin, "%s:%s", u->host, u->port);
	struct conn *free_slot = NULL;
	for (int i = 0; i < MAX_ORIGINS; i++) {
		if (strcmp(w->conns[i].origin, origin) == 0)
			return &w->conns[i];
		if (free_slot == NULL && w->conns[i].origin[0] == '\0')
			free_slot = &w->conns[i];
	}
	if (free_slot == NULL)
		return NULL;
	snprintf(free_slot->origin, sizeof free_slot->origin, "%s", origin);
	return free_slot;
}

/* The request q to start_url, then its redirects (GET) up to --follow; the final answer in w->r
 * and its URL in w->page_url. With a jar, its cookies go out and Set-Cookie comes in at every
 * hop (q->cookie is ignored). -1 when there is no final answer. */
static int fetch(struct worker *w, const char *start_url, const struct req *q, struct jar *jar)
{
	char *url_buf = w->page_url;
	snprintf(url_buf, sizeof w->page_url, "%s", start_url);
	for (int hop = 0; hop <= opt.follow; hop++) {
		struct url u;
		if (url_parse(url_buf, &u) != 0) {
			report_error("not an https URL: %.200s", url_buf);
			return -1;
		}
		struct conn *c = conn_for(w, &u);
		if (c == NULL)
			return -1;
		struct req hq = hop == 0 ? *q : (struct req){ .cookie = q->cookie };
		if (jar != NULL)
			hq.cookie = jar_header(jar);
		/* a kept connection may have been closed by the server: one retry on a fresh one */
		int tries = c->ssl != NULL ? 2 : 1;
		int ok = -1;
		while (tries-- > 0) {
			if (c->ssl == NULL && conn_open(c, &u) != 0)
				break;
			ok = exchange(c, &u, &hq, &w->r);
			if (ok == 0)
				break;
			conn_close(c);
		}
		if (ok != 0) {
			report_error("no answer from %s", c->origin);
			return -1;
		}
		if (w->r.close)
			conn_close(c);
		if (jar != NULL)
			jar_take(jar, &w->r);
		if (w->r.status >= 300 && w->r.status < 400 && w->r.location[0] != '\0') {
			char next[8192];
			int n = w->r.location[0] == '/' ?
				snprintf(next, sizeof next, "https://%.280s%.7900s", c->origin, w->r.location) :
				snprintf(next, sizeof next, "%s", w->r.location);
			if (n < 0 || (size_t)n >= sizeof next) {
				report_error("redirect target too long");
				return -1;
			}
			memcpy(url_buf, next, (size_t)n + 1);
			continue;
		}
		return 0;
	}
	report_error("more than %d redirects", opt.follow);
	return -1;
}

/* Every operation ends with new TLS to --fresh-tls (the next one does the card handshake again). */
static void close_fresh(struct worker *w)
{
	if (opt.fresh_origin != NULL)
		for (int i = 0; i < MAX_ORIGINS; i++)
			if (strcmp(w->conns[i].origin, opt.fresh_origin) == 0)
				conn_close(&w->conns[i]);
}

static int one_op(struct worker *w, const char *start_url)
{
	struct req q = { .method = strcmp(opt.method, "GET") != 0 ? opt.method : NULL, .body = body,
			 .body_len = body_len, .ctype = opt.ctype, .cookie = opt.cookie };
	int rc = -1;
	if (fetch(w, start_url, &q, NULL) != 0)
		goto out;
	if (w->r.status != 200) {
		report_error("answer %d: %.4000s", w->r.status, w->r.body ? w->r.body : "");
		goto out;
	}
	if (opt.expect != NULL && (w->r.body == NULL || memmem(w->r.body, w->r.body_len, opt.expect,
								 strlen(opt.expect)) == NULL)) {
		report_error("200 without \"%s\": %.300s", opt.expect, w->r.body ? w->r.body : "");
		goto out;
	}
	rc = 0;
out:
	close_fresh(w);
	return rc;
}

/* ---- --sign-requests: one federated signing as a browser does it ----------------------------- */

/* The first HTML form of a page: its action and the fields a click on its first named button
 * (the primary one: "accept", "continue") submits. Values are HTML-unescaped. */
#define FORM_MAX_FIELDS 12

struct form {
	char action[2048];
	int n;
	struct { char name[64]; char *value; size_t len; } f[FORM_MAX_FIELDS];
	char store[RESP_MAX / 2];   /* unescaped values */
	size_t used;
};

/* The value of attribute NAME inside the tag [tag, end): unescaped into dst (NUL-terminated);
 * its length, or -1 when absent or too long. */
static long attr_value(const char *tag, const char *end, const char *name, char *dst, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *p = tag + 1; p + nl + 2 < end; p++) {
		if ((p[-1] != ' ' && p[-1] != '\n' && p[-1] != '\t') || strncmp(p, name, nl) != 0 || p[nl] != '=' ||
		    (p[nl + 1] != '"' && p[nl + 1] != '\''))
			continue;
		char quote = p[nl + 1];
		const char *v = p + nl + 2, *ve = memchr(v, quote, (size_t)(end - v));
		if (ve == NULL)
			return -1;
		size_t o = 0;
		while (v < ve) {
			if (o + 5 >= cap)
				return -1;
			if (*v != '&') {
				dst[o++] = *v++;
				continue;
			}
			const char *semi = memchr(v, ';', (size_t)(ve - v));
			if (semi == NULL || semi - v > 10)
				return -1;
			if (strncmp(v, "&amp;", 5) == 0) dst[o++] = '&';
			else if (strncmp(v, "&lt;", 4) == 0) dst[o++] = '<';
			else if (strncmp(v, "&gt;", 4) == 0) dst[o++] = '>';
			else if (strncmp(v, "&quot;", 6) == 0) dst[o++] = '"';
			else if (strncmp(v, "&apos;", 6) == 0) dst[o++] = '\'';
			else if (v[1] == '#') {
				unsigned long cp = v[2] == 'x' || v[2] == 'X' ? strtoul(v + 3, NULL, 16) : strtoul(v + 2, NULL, 10);
				if (cp == 0 || cp > 0x7f)
					return -1;   /* only ASCII is expected in form fields and URLs */
				dst[o++] = (char)cp;
			} else
				return -1;
			v = semi + 1;
		}
		dst[o] = '\0';
		return (long)o;
	}
	return -1;
}

static int form_parse(const char *page, size_t len, struct form *fm)
{
	const char *end = page + len, *f = memmem(page, len, "<form", 5);
	fm->n = 0;
	fm->used = 0;
	if (f == NULL)
		return -1;
	const char *fe = memmem(f, (size_t)(end - f), "</form>", 7);
	const char *te = memchr(f, '>', (size_t)(end - f));
	if (fe == NULL || te == NULL || attr_value(f, te, "action", fm->action, sizeof fm->action) < 0)
		return -1;
	bool button = false;
	for (const char *p = te; p < fe && fm->n < FORM_MAX_FIELDS; p++) {
		bool is_input = strncmp(p, "<input", 6) == 0, is_button = !button && strncmp(p, "<button", 7) == 0;
		if (!is_input && !is_button)
			continue;
		const char *e = memchr(p, '>', (size_t)(fe - p));
		if (e == NULL)
			return -1;
		char type[32];
		if (is_input && (attr_value(p, e, "type", type, sizeof type) < 0 || strcmp(type, "hidden") != 0))
			continue;   /* checkboxes stay unticked */
		if (attr_value(p, e, "name", fm->f[fm->n].name, sizeof fm->f[fm->n].name) < 0) {
			p = e;
			continue;
		}
		char *dst = fm->store + fm->used;
		long vl = attr_value(p, e, "value", dst, sizeof fm->store - fm->used);
		if (vl < 0)
			return -1;
		fm->f[fm->n].value = dst;
		fm->f[fm->n].len = (size_t)vl;
		fm->used += (size_t)vl + 1;
		fm->n++;
		button |= is_button;
		p = e;
	}
	return 0;
}

static const struct form *form_field(const struct form *fm, const char *name, const char **v, size_t *len)
{
	for (int i = 0; i < fm->n; i++)
		if (strcmp(fm->f[i].name, name) == 0) {
			*v = fm->f[i].value;
			*len = fm->f[i].len;
			return fm;
		}
	return NULL;
}

/* application/x-www-form-urlencoded value appended to dst at *o */
static int urlenc_append(char *dst, size_t cap, size_t *o, const char *s, size_t n)
{
	static const char hexd[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (*o + 4 >= cap)
			return -1;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~')
			dst[(*o)++] = (char)ch;
		else {
			dst[(*o)++] = '%';
			dst[(*o)++] = hexd[ch >> 4];
			dst[(*o)++] = hexd[ch & 15];
		}
	}
	dst[*o] = '\0';
	return 0;
}

static int form_body(const struct form *fm, char *dst, size_t cap, size_t *len)
{
	size_t o = 0;
	for (int i = 0; i < fm->n; i++) {
		if (o + 2 >= cap)
			return -1;
		if (i)
			dst[o++] = '&';
		if (urlenc_append(dst, cap, &o, fm->f[i].name, strlen(fm->f[i].name)) != 0 || o + 2 >= cap)
			return -1;
		dst[o++] = '=';
		if (urlenc_append(dst, cap, &o, fm->f[i].value, fm->f[i].len) != 0)
			return -1;
	}
	*len = o;
	return 0;
}

/* Per worker: the parsed form, the next POST body, the decoded SignResponse. */
struct fed_buf {
	struct form fm;
	char body[RESP_MAX];
	unsigned char xml[RESP_MAX];
};

/* One transaction: POST /sign/request with a pre-made EidSignRequest, then every page's form as
 * the browser submits it (the AuthnRequest to the IdP, the card login on the mTLS listener via
 * redirects, the sign-message page's "accept", a consent page's "continue", the SAMLResponse to
 * /sign/acs) until a page carries EidSignResponse; done when its ResultMajor is Success. */
static int fedsign_op(struct worker *w, struct fed_buf *fb, const char *signreq_b64)
{
	static const char *const success = "urn:oasis:names:tc:dss:1.0:resultmajor:Success";
	int rc = -1;
	w->jar.n = 0;
	size_t o = 0;
	o = (size_t)snprintf(fb->body, sizeof fb->body, "Binding=POST%%2FXML%%2F1.0&RelayState=bench&EidSignRequest=");
	if (urlenc_append(fb->body, sizeof fb->body, &o, signreq_b64, strlen(signreq_b64)) != 0) {
		report_error("a SignRequest too long to send");
		goto out;
	}
	struct req q = { .method = "POST", .body = fb->body, .body_len = o,
			 .ctype = "application/x-www-form-urlencoded" };
	if (fetch(w, opt.url, &q, &w->jar) != 0)
		goto out;
	for (int step = 0; step < 8; step++) {
		if (w->r.status != 200) {
			report_error("step %d (%.200s): answer %d: %.300s", step, w->page_url, w->r.status,
				     w->r.body ? w->r.body : "");
			goto out;
		}
		if (form_parse(w->r.body, w->r.body_len, &fb->fm) != 0) {
			report_error("step %d (%.200s): a page without a form: %.300s", step, w->page_url, w->r.body);
			goto out;
		}
		const char *v;
		size_t vl;
		if (form_field(&fb->fm, "EidSignResponse", &v, &vl) != NULL) {
			if (vl / 4 * 3 + 3 > sizeof fb->xml)
				goto out;
			int n = EVP_DecodeBlock(fb->xml, (const unsigned char *)v, (int)vl);
			if (n <= 0) {
				report_error("an EidSignResponse that is not base64");
				goto out;
			}
			if (memmem(fb->xml, (size_t)n, success, strlen(success)) == NULL) {
				const unsigned char *m = memmem(fb->xml, (size_t)n, "ResultM", 7);
				report_error("a SignResponse without Success: %.300s", m ? (const char *)m : "(no ResultMajor)");
				goto out;
			}
			rc = 0;
			goto out;
		}
		/* the action: absolute, or a path on the page's origin */
		char target[8192];
		if (fb->fm.action[0] == '/') {
			struct url pu;
			if (url_parse(w->page_url, &pu) != 0)
				goto out;
			snprintf(target, sizeof target, "https://%s:%s%s", pu.host, pu.port, fb->fm.action);
		} else
			snprintf(target, sizeof target, "%s", fb->fm.action);
		size_t bl;
		if (form_body(&fb->fm, fb->body, sizeof fb->body, &bl) != 0)
			goto out;
		q.body_len = bl;
		if (fetch(w, target, &q, &w->jar) != 0)
			goto out;
	}
	report_error("no SignResponse after 8 pages (last %.200s)", w->page_url);
out:
	close_fresh(w);
	return rc;
}
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < MAX_ORIGINS; i++)
		w->conns[i].fd = -1;
	struct fed_buf *fb = NULL;
	if (opt.sign_requests != NULL && (fb = malloc(sizeof *fb)) == NULL) {
		report_error("out of memory");
		return NULL;
	}
	for (;;) {
		double t0 = now_s();
		if (t0 >= t_end)
			break;
		const char *u = opt.url;
		if (urls != NULL) {
			size_t i = atomic_fetch_add(&next_url, 1);
			if (i >= n_urls) {
				atomic_store(&exhausted, 1);
				break;
			}
			u = urls[i];
		}
		int rc = fb != NULL ? fedsign_op(w, fb, u) : one_op(w, u);
		double t1 = now_s();
		tl_count(t1, rc == 0);
		if (t0 < t_count)
			continue;
		if (rc != 0) {
			w->res.errors++;
			continue;
		}
		w->res.ok++;
		w->res.last_done = t1;
		if (w->res.n == w->res.cap) {
			size_t nc = w->res.cap ? w->res.cap * 2 : 4096;
			uint32_t *nl = realloc(w->res.lat_us, nc * sizeof *nl);
			if (nl == NULL)
				continue;
			w->res.lat_us = nl;
			w->res.cap = nc;
		}
		w->res.lat_us[w->res.n++] = (uint32_t)((t1 - t0) * 1e6);
	}
	for (int i = 0; i < MAX_ORIGINS; i++)
		conn_close(&w->conns[i]);
	free(fb);
	free(w->r.buf);
	return NULL;
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 65536, n = 0;
	char *b = malloc(cap + 1);
	size_t r;
	while (b != NULL && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *nb = realloc(b, cap * 2 + 1);
			if (nb == NULL) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (b != NULL) {
		b[n] = '\0';
		*len = n;
	}
	return b;
}

static int load_urls(const char *path)
{
	size_t len;
	char *all = read_file(path, &len);
	if (all == NULL)
		return -1;
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += all[i] == '\n';
	urls = calloc(lines + 1, sizeof *urls);
	if (urls == NULL)
		return -1;
	for (char *save = NULL, *l = strtok_r(all, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (*l)
			urls[n_urls++] = l;
	return n_urls > 0 ? 0 : -1;
}

static struct hsm *card_hsm;
static struct hsm_key *card_key;

static int setup_tls(void)
{
	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ssl_ctx == NULL)
		return -1;
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET);
	if (opt.cacert != NULL) {
		if (SSL_CTX_load_verify_locations(ssl_ctx, opt.cacert, NULL) != 1) {
			fprintf(stderr, "loadgen: --cacert %s: not a readable PEM file\n", opt.cacert);
			return -1;
		}
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
	}
	if (opt.cert != NULL && SSL_CTX_use_certificate_chain_file(ssl_ctx, opt.cert) != 1) {
		fprintf(stderr, "loadgen: --cert %s: not a PEM certificate\n", opt.cert);
		return -1;
	}
	if (opt.key != NULL && SSL_CTX_use_PrivateKey_file(ssl_ctx, opt.key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "loadgen: --key %s: not a PEM private key matching --cert\n", opt.key);
		return -1;
	}
	if (opt.key_uri != NULL) {
		/* the card: the token named by the key URI; its PIN from the environment */
		efos_err e = { 0 };
		const char *pin = getenv(opt.pin_env);
		char tok[512];
		const char *semi = strchr(opt.key_uri, ';');
		snprintf(tok, sizeof tok, "%.*s", semi ? (int)(semi - opt.key_uri) : (int)strlen(opt.key_uri), opt.key_uri);
		if (opt.module == NULL || pin == NULL) {
			fprintf(stderr, "loadgen: --key-uri needs --module and the PIN in $%s\n", opt.pin_env);
			return -1;
		}
		if (hsm_open(opt.module, tok, pin, opt.concurrency, &card_hsm, &e) != 0 ||
		    hsm_key_find(card_hsm, opt.key_uri, &card_key, &e) != 0) {
			fprintf(stderr, "loadgen: the card key %s: %s\n", opt.key_uri, e.msg);
			return -1;
		}
		EVP_PKEY *pk = hsm_evp_pkey(card_key, &e);
		if (pk == NULL || SSL_CTX_use_PrivateKey(ssl_ctx, pk) != 1) {
			fprintf(stderr, "loadgen: the card key cannot be used for TLS: %s\n", pk ? "does it match --cert?" : e.msg);
			return -1;
		}
		EVP_PKEY_free(pk);
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen (--url URL | --urls FILE) [--method M --body FILE --content-type T] [--header 'K: V']...\n"
		"         [--cookie 'n=v'] [--cacert F] [--cert F (--key F | --key-uri URI --module SO)]\n"
		"         [--fresh-tls HOST:PORT] [--follow N] [--expect STRING] [--sign-requests FILE]\n"
		"         [--concurrency N] [--duration S] [--warmup S] [--pin-env VAR] [--timeline FILE]\n"
		"One operation = the request and up to N redirects; done when the final answer is 200 (and has STRING).\n"
		"--urls: one start URL per line, each used once (the run ends early when they run out).\n"
		"--fresh-tls: a new TLS connection to that origin for every operation (a full handshake).\n"
		"--sign-requests FILE: one base64 EidSignRequest per line, each used once; an operation is a\n"
		"  federated signing: POST --url (/sign/request), then each page's form as a browser submits it\n"
		"  (cookies kept per operation, redirects followed up to --follow), done when the page carries an\n"
		"  EidSignResponse whose ResultMajor is Success.\n"
		"--timeline: per 0.1 s, the wall-clock time and the operations that ended then (ok, failed).\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, field) if (strcmp(a, name) == 0 && v) { field = v; i++; continue; }
		OPT("--url", opt.url) OPT("--urls", opt.urls_file) OPT("--method", opt.method)
		OPT("--body", opt.body_file) OPT("--content-type", opt.ctype) OPT("--cacert", opt.cacert)
		OPT("--cert", opt.cert) OPT("--key", opt.key) OPT("--key-uri", opt.key_uri)
		OPT("--module", opt.module) OPT("--pin-env", opt.pin_env) OPT("--cookie", opt.cookie)
		OPT("--expect", opt.expect) OPT("--fresh-tls", opt.fresh_origin) OPT("--sign-requests", opt.sign_requests)
		OPT("--timeline", opt.timeline)
#undef OPT
		if (strcmp(a, "--header") == 0 && v && opt.n_hdrs < MAX_HDRS) { opt.hdrs[opt.n_hdrs++] = v; i++; continue; }
		if (strcmp(a, "--concurrency") == 0 && v) { opt.concurrency = atoi(v); i++; continue; }
		if (strcmp(a, "--follow") == 0 && v) { opt.follow = atoi(v); i++; continue; }
		if (strcmp(a, "--duration") == 0 && v) { opt.duration = atof(v); i++; continue; }
		if (strcmp(a, "--warmup") == 0 && v) { opt.warmup = atof(v); i++; continue; }
		usage();
		return 2;
	}
	if (opt.sign_requests != NULL && (opt.urls_file != NULL || opt.url == NULL)) {
		fprintf(stderr, "loadgen: --sign-requests needs --url (POST /sign/request) and no --urls\n");
		return 2;
	}
	if ((opt.url == NULL) == (opt.urls_file == NULL) || opt.concurrency < 1 || opt.concurrency > 1024 ||
	    opt.duration <= 0 || opt.warmup < 0 || opt.follow < 0 || opt.follow > 20) {
		usage();
		return 2;
	}
	if (opt.urls_file != NULL && load_urls(opt.urls_file) != 0) {
		fprintf(stderr, "loadgen: --urls %s: no URLs (missing or empty file)\n", opt.urls_file);
		return 2;
	}
	if (opt.sign_requests != NULL && load_urls(opt.sign_requests) != 0) {
		fprintf(stderr, "loadgen: --sign-requests %s: no requests (missing or empty file)\n", opt.sign_requests);
		return 2;
	}
	if (opt.body_file != NULL && (body = read_file(opt.body_file, &body_len)) == NULL) {
		fprintf(stderr, "loadgen: --body %s: cannot read it\n", opt.body_file);
		return 2;
	}
	if (setup_tls() != 0)
		return 2;

	struct worker *ws = calloc((size_t)opt.concurrency, sizeof *ws);
	if (ws == NULL)
		return 2;
	if (opt.timeline != NULL) {
		/* the ops that end after t_end (a slow last answer) get a minute of slices more */
		tl_n = (size_t)((opt.warmup + opt.duration + 60) / TL_SLICE) + 1;
		tl_ok = calloc(tl_n, sizeof *tl_ok);
		tl_err = calloc(tl_n, sizeof *tl_err);
		if (tl_ok == NULL || tl_err == NULL) {
			fprintf(stderr, "loadgen: --timeline: out of memory\n");
			return 2;
		}
	}
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	t_start = now_s();
	tl_wall0 = wall.tv_sec + wall.tv_nsec / 1e9;
	t_count = t_start + opt.warmup;
	t_end = t_count + opt.duration;
	for (int i = 0; i < opt.concurrency; i++)
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "loadgen: cannot start thread %d\n", i);
			return 2;
		}
	long ok = 0, errs = 0;
	size_t n = 0;
	double last = t_count;
	for (int i = 0; i < opt.concurrency; i++) {
		pthread_join(ws[i].tid, NULL);
		ok += ws[i].res.ok;
		errs += ws[i].res.errors;
		n += ws[i].res.n;
		if (ws[i].res.last_done > last)
			last = ws[i].res.last_done;
	}
	uint32_t *all = malloc((n ? n : 1) * sizeof *all);
	size_t k = 0;
	for (int i = 0; i < opt.concurrency; i++) {
		if (all != NULL && ws[i].res.n)
			memcpy(all + k, ws[i].res.lat_us, ws[i].res.n * sizeof *all);
		k += ws[i].res.n;
		free(ws[i].res.lat_us);
	}
	double p50 = 0, p99 = 0;
	if (all != NULL && n > 0) {
		qsort(all, n, sizeof *all, cmp_u32);
		p50 = all[(n - 1) / 2] / 1000.0;
		p99 = all[(size_t)((n - 1) * 0.99)] / 1000.0;
	}
	/* ran out of requests: the rate is over the time actually used */
	double secs = atomic_load(&exhausted) && last < t_end ? last - t_count : opt.duration;
	if (secs <= 0)
		secs = opt.duration;
	printf("ops_per_s=%.1f p50_ms=%.2f p99_ms=%.2f ok=%ld errors=%ld seconds=%.2f exhausted=%d concurrency=%d\n",
	       ok / secs, p50, p99, ok, errs, secs, atomic_load(&exhausted), opt.concurrency);
	if (opt.timeline != NULL && tl_write(opt.timeline) != 0)
		fprintf(stderr, "loadgen: --timeline %s: cannot write it\n", opt.timeline);
	free(tl_ok);
	free(tl_err);
	free(all);
	free(ws);
	SSL_CTX_free(ssl_ctx);
	if (card_key)
		hsm_key_free(card_key);
	if (card_hsm)
		hsm_close(card_hsm);
	return ok > 0 ? 0 : 1;
}
