/* core/http_client.h with libcurl. TLS: the server is verified against o->ca_file (peer and
 * host name); the client certificate is a PEM file and its key a PEM file or a key on a
 * PKCS#11 token (the officer's card) through OpenSSL's pkcs11 engine (libp11). */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <openssl/engine.h>
#include "core/http_client.h"

#define DEFAULT_MAX_RESPONSE (4u * 1024 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

struct sink {
	char *p;
	size_t len, cap, max;
	bool too_big;
};

static size_t sink_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	if (n > s->max - s->len) {
		s->too_big = true;
		return 0;   /* aborts the transfer */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *q = realloc(s->p, cap);
		if (q == NULL)
			return 0;
		s->p = q;
		s->cap = cap;
	}
	memcpy(s->p + s->len, data, n);
	s->len += n;
	s->p[s->len] = '\0';
	return n;
}

/* Makes the "pkcs11" engine that curl will find by id use this module and PIN. curl looks the
 * engine up with ENGINE_by_id, which returns the instance in OpenSSL's engine list: we put a
 * configured one there. Serialised: the engine list is process-wide. */
static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;

static int engine_prepare(const char *module, const char *pin, efos_err *e)
{
	pthread_mutex_lock(&engine_lock);
	int rc = 0;
	ENGINE *eng = ENGINE_by_id("pkcs11");
	if (eng == NULL) {
		rc = efos_fail(e, EFOS_E_CONFIG, "OpenSSL's pkcs11 engine is not installed (Debian package "
			       "libengine-pkcs11-openssl)");
		goto out;
	}
	if (module != NULL && *module != '\0' && !ENGINE_ctrl_cmd_string(eng, "MODULE_PATH", module, 0)) {
		rc = efos_fail(e, EFOS_E_CONFIG, "pkcs11 engine: cannot use module %s", module);
		goto out;
	}
	if (pin != NULL && !ENGINE_ctrl_cmd_string(eng, "PIN", pin, 0)) {
		rc = efos_fail(e, EFOS_E_CONFIG, "pkcs11 engine: cannot set the PIN");
		goto out;
	}
	ENGINE_add(eng);   /* fails harmlessly when an engine with this id is listed already */
out:
	if (eng != NULL)
		ENGINE_free(eng);
	pthread_mutex_unlock(&engine_lock);
	return rc;
}

static int transport_error(CURLcode rc, const char *url, const char *errbuf,
			   const struct http_client_opts *o, efos_err *e)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	switch (rc) {
	case CURLE_SSL_CERTPROBLEM:
		return efos_fail(e, EFOS_E_CONFIG, "client certificate %s: %s", o->cert_file ? o->cert_file : "", detail);
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
		return efos_fail(e, EFOS_E_CONFIG, "client key %s (pkcs11 engine): %s", o->key ? o->key : "", detail);
	case CURLE_SSL_CACERT_BADFILE:
		return efos_fail(e, EFOS_E_CONFIG, "CA file %s: %s", o->ca_file ? o->ca_file : "", detail);
	case CURLE_PEER_FAILED_VERIFICATION:
		return efos_fail(e, EFOS_E_UNAVAILABLE, "%s: the server's certificate is not trusted by %s: %s", url,
				 o->ca_file ? o->ca_file : "the system CAs", detail);
	case CURLE_OPERATION_TIMEDOUT:
		return efos_fail(e, EFOS_E_UNAVAILABLE, "%s: no answer within %ld s", url, o->timeout_s);
	default:
		return efos_fail(e, EFOS_E_UNAVAILABLE, "%s: %s", url, detail);
	}
}

int http_client_request(const struct http_client_opts *o, const char *method, const char *path,
			const char *content_type, const void *body, size_t body_len,
			struct http_client_response *resp, efos_err *e)
{
	memset(resp, 0, sizeof *resp);
	if (o == NULL || o->base_url == NULL || *o->base_url == '\0')
		return efos_fail(e, EFOS_E_CONFIG, "no server URL given");
	if (strncmp(o->base_url, "https://", 8) != 0 && strncmp(o->base_url, "http://", 7) != 0)
		return efos_fail(e, EFOS_E_CONFIG, "server URL %s: must start with https://", o->base_url);
	if (method == NULL || path == NULL || path[0] != '/')
		return efos_fail(e, EFOS_E_INTERNAL, "http_client_request: bad method or path");
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return efos_fail(e, EFOS_E_INTERNAL, "libcurl initialisation failed");

	bool engine_key = o->key != NULL && strncmp(o->key, "pkcs11:", 7) == 0;
	if (engine_key && engine_prepare(o->pkcs11_module, o->key_pin, e) != 0)
		return -1;

	size_t blen = strlen(o->base_url);
	while (blen > 0 && o->base_url[blen - 1] == '/')
		blen--;
	size_t ulen = blen + strlen(path) + 1;
	char *url = malloc(ulen);
	if (url == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	snprintf(url, ulen, "%.*s%s", (int)blen, o->base_url, path);

	int rc = -1;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink sink = { .max = o->max_response_bytes ? o->max_response_bytes : DEFAULT_MAX_RESPONSE };
	struct curl_slist *hdrs = NULL;
	CURL *h = curl_easy_init();
	if (h == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	long timeout = o->timeout_s > 0 ? o->timeout_s : 30;
	long ctimeout = o->connect_timeout_s > 0 ? o->connect_timeout_s : (timeout < 10 ? timeout : 10);
	char ct[160];
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (body != NULL) {
		snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/json");
		hdrs = curl_slist_append(hdrs, ct);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, ctimeout);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "efosctl");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink.max);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file != NULL && *o->ca_file != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	if (o->cert_file != NULL && *o->cert_file != '\0') {
		curl_easy_setopt(h, CURLOPT_SSLCERT, o->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (o->key != NULL && *o->key != '\0') {
		if (engine_key) {
			if (curl_easy_setopt(h, CURLOPT_SSLENGINE, "pkcs11") != CURLE_OK) {
				efos_fail(e, EFOS_E_CONFIG, "libcurl cannot use OpenSSL's pkcs11 engine for key %s", o->key);
				goto out;
			}
			curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "ENG");
		} else {
			curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
		}
		curl_easy_setopt(h, CURLOPT_SSLKEY, o->key);
		if (o->key_pin != NULL)
			curl_easy_setopt(h, CURLOPT_KEYPASSWD, o->key_pin);
	}
	if (strcmp(method, "GET") == 0 && body == NULL)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}

	CURLcode cr = curl_easy_perform(h);
	if (sink.too_big || cr == CURLE_FILESIZE_EXCEEDED) {
		efos_fail(e, EFOS_E_TOOBIG, "%s: the answer is larger than %zu bytes", url, sink.max);
		goto out;
	}
	if (cr != CURLE_OK) {
		transport_error(cr, url, errbuf, o, e);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (sink.p == NULL && (sink.p = calloc(1, 1)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	resp->body = sink.p;
	resp->body_len = sink.len;
	sink.p = NULL;
	rc = 0;
out:
	if (h != NULL) {
		/* the PIN was handed to curl: let it go before the handle is freed */
		curl_easy_setopt(h, CURLOPT_KEYPASSWD, NULL);
		curl_easy_cleanup(h);
	}
	curl_slist_free_all(hdrs);
	free(sink.p);
	free(url);
	return rc;
}

void http_client_response_free(struct http_client_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}
