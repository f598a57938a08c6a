/* A small HTTPS client for efosctl (officer workstation → efosd admin and enrollment APIs):
 * libcurl, TLS verified against a CA file, client certificate from a PEM file or from a
 * PKCS#11 token (the officer's card) through OpenSSL's pkcs11 engine. JSON in, JSON out. */
#ifndef EFOS_CORE_HTTP_CLIENT_H
#define EFOS_CORE_HTTP_CLIENT_H

#include <stddef.h>
#include "core/err.h"

struct http_client_opts {
	const char *base_url;     /* https://efos.example.se:8444 */
	const char *ca_file;      /* trust anchors for the server certificate */
	const char *cert_file;    /* client certificate (PEM) */
	const char *key;          /* PEM file path, or pkcs11: URI (engine) */
	const char *key_pin;      /* PIN for a pkcs11: key; not copied */
	long timeout_s;
	/* Added: */
	const char *pkcs11_module; /* PKCS#11 module for a pkcs11: key (NULL: the engine's default,
	                            * p11-kit's proxy, or MODULE_PATH from OPENSSL_CONF) */
	size_t max_response_bytes; /* bigger answers fail with EFOS_E_TOOBIG; 0 = 4 MiB */
	long connect_timeout_s;    /* 0 = min(timeout_s, 10) */
};

struct http_client_response {
	long status;
	char *body;               /* NUL-terminated, malloc'd */
	size_t body_len;
};

/* method "GET"/"POST"/"PUT"/"DELETE"; body may be NULL. On transport failure returns -1 with
 * EFOS_E_UNAVAILABLE; an HTTP error status is not a failure (look at resp->status).
 * Added: a client certificate or key that cannot be loaded (file, engine, PIN) is EFOS_E_CONFIG;
 * an answer over max_response_bytes is EFOS_E_TOOBIG. Thread-safe (one curl handle per call). */
int http_client_request(const struct http_client_opts *o, const char *method, const char *path,
			const char *content_type, const void *body, size_t body_len,
			struct http_client_response *resp, efos_err *e);
void http_client_response_free(struct http_client_response *resp);

#endif
