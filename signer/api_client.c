/* signer_api_client_authenticate (api_client.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "core/db.h"
#include "core/hex.h"
#include "core/log.h"
#include "signer/api_client.h"

int signer_api_client_authenticate(PGconn *c, struct http_request *req, struct http_response *resp,
				   const char *what, struct signer_api_client *cl)
{
	X509 *leaf = req->client_chain ? sk_X509_value(req->client_chain, 0) : NULL;
	unsigned char *der = NULL, sha[32];
	char shahex[65];
	efos_err e = { 0 };
	int n = leaf ? i2d_X509(leaf, &der) : -1;
	if (n <= 0 || !EVP_Digest(der, (size_t)n, sha, NULL, EVP_sha256(), NULL)) {
		OPENSSL_free(der);
		if (leaf == NULL)
			http_resp_error(resp, 403, "the %s needs a TLS client certificate", what);
		else
			http_resp_error(resp, 500, "internal error; quote the request id when reporting it");
		return -1;
	}
	OPENSSL_free(der);
	hex_encode(sha, sizeof sha, shahex);
	const char *params[] = { shahex };
	PGresult *r = db_exec(c,
		"SELECT a.id, a.org_id, o.orgnr, a.subject, array_to_string(a.key_names, ','), "
		"array_to_string(a.formats, ','), a.status, o.status, "
		"coalesce((SELECT status FROM certificates WHERE cert_sha256 = a.cert_sha256), '') "
		"FROM api_clients a JOIN organisations o ON o.id = a.org_id "
		"WHERE a.cert_sha256 = decode($1, 'hex')", 1, params, &e);
	if (r == NULL) {
		http_resp_from_err(resp, &e);
		return -1;
	}
	int rc = -1;
	if (PQntuples(r) != 1) {
		log_info("%s: client certificate %s is not registered", what, shahex);
		http_resp_error(resp, 403, "this client certificate (SHA-256 %s) is not registered for the %s; "
				"an operator binds it to an organisation with `efosctl seal client add`", shahex, what);
	} else if (strcmp(PQgetvalue(r, 0, 6), "active") != 0) {
		http_resp_error(resp, 403, "this API client is disabled");
	} else if (strcmp(PQgetvalue(r, 0, 7), "active") != 0) {
		http_resp_error(resp, 403, "the organisation of this API client is suspended");
	} else if (PQgetvalue(r, 0, 8)[0] != '\0' && strcmp(PQgetvalue(r, 0, 8), "good") != 0) {
		http_resp_error(resp, 403, "this client certificate is %s",
				strcmp(PQgetvalue(r, 0, 8), "hold") == 0 ? "suspended (on hold)" : "revoked");
	} else {
		cl->id = atol(PQgetvalue(r, 0, 0));
		cl->org_id = atol(PQgetvalue(r, 0, 1));
		snprintf(cl->orgnr, sizeof cl->orgnr, "%s", PQgetvalue(r, 0, 2));
		snprintf(cl->subject, sizeof cl->subject, "%s", PQgetvalue(r, 0, 3));
		snprintf(cl->key_names, sizeof cl->key_names, "%s", PQgetvalue(r, 0, 4));
		snprintf(cl->formats, sizeof cl->formats, "%s", PQgetvalue(r, 0, 5));
		rc = 0;
	}
	PQclear(r);
	return rc;
}
