/* Who is calling the signer's REST API (/api/v1/sign, /api/v1/validate/signature): the TLS
 * client certificate (verified by core/http against tls.client_ca) looked up by its SHA-256 in
 * api_clients. The client must be active, its organisation active, and the certificate not
 * revoked or on hold if EFOS issued it. One routine, so that every API route binds a caller to
 * its organisation the same way (docs/seal-api.md, docs/validation-api.md). */
#ifndef EFOS_SIGNER_API_CLIENT_H
#define EFOS_SIGNER_API_CLIENT_H

#include <stddef.h>
#include <libpq-fe.h>
#include "core/http.h"

struct signer_api_client {
	long id;
	long org_id;
	char orgnr[11];
	char subject[512];
	char key_names[1024];   /* comma-separated seal key names it may use */
	char formats[128];      /* comma-separated seal formats it may make */
};

/* 0: a registered, active client (cl filled). Otherwise the answer is written to resp (403 for
 * an unknown, disabled or revoked client, 503 when the database fails) and -1 returned. what
 * names the API in the 403 message ("seal API", "validation API"). */
int signer_api_client_authenticate(PGconn *c, struct http_request *req, struct http_response *resp,
				   const char *what, struct signer_api_client *cl);

#endif
