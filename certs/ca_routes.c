/* GET /ca/<name>.crt: the CA certificates named by the caIssuers URLs of the AIA extension
 * (RFC 5280 §4.2.2.1: a single DER certificate, application/pkix-cert). */
#include <stdio.h>
#include <string.h>
#include <openssl/x509.h>
#include "certs/ca_routes.h"
#include "certs/service.h"
#include "core/ctx.h"

static void ca_cert_get(struct http_request *req, struct http_response *resp)
{
	const char *name = req->path + strlen("/ca/");
	size_t n = strlen(name);
	char ca_name[40];
	if (n <= 4 || n - 4 >= sizeof ca_name || strcmp(name + n - 4, ".crt") != 0) {
		http_resp_error(resp, 404, "not found: /ca/<name>.crt");
		return;
	}
	memcpy(ca_name, name, n - 4);
	ca_name[n - 4] = '\0';
	if (strspn(ca_name, "abcdefghijklmnopqrstuvwxyz0123456789-") != n - 4) {
		http_resp_error(resp, 404, "not found: no such CA");
		return;
	}
	if (req->ctx == NULL || req->ctx->certs == NULL) {
		http_resp_error(resp, 503, "the CA service is not running on this node");
		return;
	}
	const struct certs_ca *ca = certs_ca_by_name(req->ctx->certs, ca_name);
	if (ca == NULL) {
		http_resp_error(resp, 404, "not found: no CA named %s", ca_name);
		return;
	}
	unsigned char *der = NULL;
	int len = i2d_X509(ca->cert, &der);
	if (len <= 0) {
		http_resp_error(resp, 500, "cannot encode the CA certificate");
		return;
	}
	int rc = http_resp_body(resp, "application/pkix-cert", der, (size_t)len);
	OPENSSL_free(der);
	if (rc != 0) {
		http_resp_error(resp, 500, "out of memory");
		return;
	}
	http_resp_header(resp, "Cache-Control", "public, max-age=3600");
	http_resp_status(resp, 200);
}

const struct http_route certs_ca_routes[] = {
	{ "GET", "/ca/", HTTP_ROUTE_PREFIX, ca_cert_get, "ca_cert" },
};
const size_t certs_ca_n_routes = sizeof certs_ca_routes / sizeof certs_ca_routes[0];
