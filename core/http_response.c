/* Responses: what a handler fills (status, body, headers), turned into an MHD response with
 * the default security headers, the request id and, for errors, a JSON body. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/http_internal.h"
#include "core/log.h"

void http_response_init(struct http_response *r, const char *request_id)
{
	memset(r, 0, sizeof *r);
	r->status = 200;
	r->request_id = request_id;
}

void http_response_clear(struct http_response *r)
{
	free(r->content_type);
	free(r->body);
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	const char *id = r->request_id;
	http_response_init(r, id);
}

void http_resp_status(struct http_response *resp, int status)
{
	resp->status = status;
}

static int set_content_type(struct http_response *resp, const char *content_type)
{
	char *ct = content_type ? strdup(content_type) : NULL;
	if (content_type != NULL && ct == NULL)
		return -1;
	free(resp->content_type);
	resp->content_type = ct;
	return 0;
}

int http_resp_body(struct http_response *resp, const char *content_type, const void *data, size_t len)
{
	char *copy = malloc(len + 1);
	if (copy == NULL)
		return -1;
	if (len > 0)
		memcpy(copy, data, len);
	copy[len] = '\0';
	if (set_content_type(resp, content_type) != 0) {
		free(copy);
		return -1;
	}
	free(resp->body);
	resp->body = copy;
	resp->body_len = len;
	return 0;
}

void http_resp_body_take(struct http_response *resp, const char *content_type, char *data, size_t len)
{
	if (set_content_type(resp, content_type) != 0) {
		free(data);
		data = NULL;
		len = 0;
		resp->status = 500;
	}
	free(resp->body);
	resp->body = data;
	resp->body_len = data ? len : 0;
}

int http_resp_header(struct http_response *resp, const char *name, const char *value)
{
	if (strchr(name, '\n') || strchr(name, '\r') || strchr(value, '\n') || strchr(value, '\r'))
		return -1;   /* no header injection */
	for (size_t i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0) {
			char *v = strdup(value);
			if (v == NULL)
				return -1;
			free(resp->headers[i].value);
			resp->headers[i].value = v;
			return 0;
		}
	if (resp->n_headers >= HTTP_RESP_MAX_HEADERS)
		return -1;
	char *n = strdup(name), *v = strdup(value);
	if (n == NULL || v == NULL) {
		free(n);
		free(v);
		return -1;
	}
	resp->headers[resp->n_headers].name = n;
	resp->headers[resp->n_headers].value = v;
	resp->n_headers++;
	return 0;
}

static void resp_verror(struct http_response *resp, int status, const char *fmt, va_list ap)
{
	char msg[1024], esc[2048], rid[HTTP_REQID_MAX * 2];
	vsnprintf(msg, sizeof msg, fmt, ap);
	json_escape(esc, sizeof esc, msg);
	json_escape(rid, sizeof rid, resp->request_id ? resp->request_id : "");
	char *body = NULL;
	int n = asprintf(&body, "{\"error\":\"%s\",\"status\":%d,\"request_id\":\"%s\"}\n", esc, status, rid);
	resp->status = status;
	if (n < 0) {
		http_resp_body_take(resp, NULL, NULL, 0);
		return;
	}
	http_resp_body_take(resp, "application/json", body, (size_t)n);
}

void http_resp_error(struct http_response *resp, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	resp_verror(resp, status, fmt, ap);
	va_end(ap);
}

void http_resp_from_err(struct http_response *resp, const efos_err *e)
{
	int status = efos_err_http_status(e->code);
	if (status < 400)
		status = 500;
	/* Internal details stay in the log; the client gets a generic sentence for 500s. */
	if (status == 500) {
		log_error("internal error: %s", e->msg);
		http_resp_error(resp, 500, "internal error; quote the request id when reporting it");
	} else {
		http_resp_error(resp, status, "%s", e->msg);
	}
}

static bool has_header(const struct http_response *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return true;
	return false;
}

enum MHD_Result http_response_queue(struct http_req_state *st, struct http_response *r)
{
	struct MHD_Response *mr;
	size_t len = r->body_len;
	if (r->status < 100 || r->status > 599) {
		log_error("handler set HTTP status %d; answering 500", r->status);
		http_resp_error(r, 500, "internal error; quote the request id when reporting it");
		len = r->body_len;
	}
	if (r->body != NULL) {
		mr = MHD_create_response_from_buffer(len, r->body, MHD_RESPMEM_MUST_FREE);
		if (mr != NULL)
			r->body = NULL;   /* MHD owns it now */
	} else {
		mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (mr == NULL) {
		http_response_clear(r);
		return MHD_NO;
	}
	if (r->content_type != NULL)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	for (size_t i = 0; i < r->n_headers; i++)
		MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
	/* Defaults a handler may override by setting the header itself. */
	if (!has_header(r, "Cache-Control"))
		MHD_add_response_header(mr, "Cache-Control", "no-store");
	if (!has_header(r, "Content-Security-Policy"))
		MHD_add_response_header(mr, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	if (!has_header(r, "X-Frame-Options"))
		MHD_add_response_header(mr, "X-Frame-Options", "DENY");
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
	if (st->conn != NULL && st->conn->lst->srv->tls_enabled)
		MHD_add_response_header(mr, "Strict-Transport-Security", "max-age=31536000");
	MHD_add_response_header(mr, "X-Request-Id", st->id);
	/* Over the soft connection limit, do not keep this connection. */
	if (r->status == 503 || r->status == 413 || r->status == 431)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");

	enum MHD_Result ret = MHD_queue_response(st->mhd, (unsigned)r->status, mr);
	MHD_destroy_response(mr);
	if (ret == MHD_YES) {
		st->answered = true;
		st->status = r->status;
		st->resp_bytes = len;
	}
	http_response_clear(r);
	return ret;
}

enum MHD_Result http_answer_error(struct http_req_state *st, int status, const char *extra_header,
				  const char *extra_value, const char *fmt, ...)
{
	struct http_response r;
	http_response_init(&r, st->id);
	va_list ap;
	va_start(ap, fmt);
	resp_verror(&r, status, fmt, ap);
	va_end(ap);
	if (extra_header != NULL)
		http_resp_header(&r, extra_header, extra_value);
	return http_response_queue(st, &r);
}
