/* Private to idp/sso_flow.c and idp/sso_routes.c: the running login service. */
#ifndef EFOS_IDP_SSO_INTERNAL_H
#define EFOS_IDP_SSO_INTERNAL_H

#include <stdbool.h>
#include "core/http.h"
#include "idp/authn_request.h"
#include "idp/response.h"

struct efos_ctx;
struct hsm_key;
struct idp_md_store;

struct idp_sso_svc {
	struct efos_ctx *ctx;
	bool ready;                       /* keys and secret loaded: the flow can answer */
	char not_ready_why[256];
	struct idp_md_store *store;
	struct idp_intake_params intake;
	struct hsm_key *enc_keys[2];
	struct idp_hsm_enc_keys enc;
	struct hsm_key *sign_key;
	char *sign_cert_b64;
	struct idp_nameid_secret *nameid;
	struct idp_response_keys keys;    /* scopes are filled per login (they change at run time) */
	int sso_max_age_s;                /* 0: no SSO */
	int tx_lifetime_s;
	const char *entity_id;
	const char *public_url, *mtls_public_url;
	const char *cookie_domain;
	char *css;                        /* web/static/efos.css */
	size_t css_len;
};

extern struct idp_sso_svc idp_sso_g;

void idp_sso_handle_redirect(struct http_request *req, struct http_response *resp);
void idp_sso_handle_post(struct http_request *req, struct http_response *resp);
void idp_sso_handle_hok_redirect(struct http_request *req, struct http_response *resp);
void idp_sso_handle_hok_post(struct http_request *req, struct http_response *resp);
void idp_sso_handle_card(struct http_request *req, struct http_response *resp);
void idp_sso_handle_next(struct http_request *req, struct http_response *resp);
void idp_sso_handle_sign(struct http_request *req, struct http_response *resp);
void idp_sso_handle_consent(struct http_request *req, struct http_response *resp);

#endif
