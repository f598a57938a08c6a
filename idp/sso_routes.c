/* The login service of efosd: start-up wiring and the route table (idp/sso.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "core/base64.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/log.h"
#include "hsm/hsm.h"
#include "idp/metadata_publish.h"
#include "idp/metadata_routes.h"
#include "idp/nameid.h"
#include "idp/pages.h"
#include "idp/sso.h"
#include "idp/sso_internal.h"

struct idp_sso_svc idp_sso_g;

static void not_ready(const char *why, const char *unused)
{
	(void)unused;
	snprintf(idp_sso_g.not_ready_why, sizeof idp_sso_g.not_ready_why, "%s", why);
	log_warn("IdP login flow disabled (its routes answer 503): %s", idp_sso_g.not_ready_why);
}

static char *cert_file_b64(const char *path, efos_err *e)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "%s: cannot read", path);
		return NULL;
	}
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "%s: not a PEM certificate", path);
		return NULL;
	}
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	X509_free(x);
	char *b64 = n > 0 ? b64_encode(der, (size_t)n) : NULL;
	OPENSSL_free(der);
	if (b64 == NULL)
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return b64;
}

static void load_css(void)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/static/efos.css", idp_pages_dir());
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		log_warn("%s: cannot read; the IdP pages will have no style sheet", path);
		return;
	}
	char *buf = malloc(128 * 1024);
	size_t n = buf ? fread(buf, 1, 128 * 1024, f) : 0;
	fclose(f);
	idp_sso_g.css = buf;
	idp_sso_g.css_len = n;
}

int idp_sso_service_start(struct efos_ctx *ctx, efos_err *e)
{
	const struct efos_config *c = ctx->cfg;
	struct idp_sso_svc *s = &idp_sso_g;
	*s = (struct idp_sso_svc){ 0 };
	s->ctx = ctx;
	if (!config_has_role(c, "idp"))
		return 0;
	if (idp_pages_load(c->idp_web_dir, e) != 0)
		return -1;
	load_css();
	s->store = idp_metadata_sp_store();
	s->entity_id = c->idp_entity_id ? c->idp_entity_id : c->http_public_url;
	s->public_url = c->http_public_url;
	s->mtls_public_url = c->http_mtls_public_url;
	s->cookie_domain = c->idp_cookie_domain;
	s->sso_max_age_s = c->idp_sso_max_age_s;
	s->tx_lifetime_s = c->idp_login_tx_lifetime_s > 0 ? c->idp_login_tx_lifetime_s : 600;

	/* Encryption keys (encrypted SignMessages): optional. */
	const char *enc_uris[2] = { c->idp_encryption_key, c->idp_encryption_key_previous };
	for (int i = 0; i < 2; i++) {
		if (enc_uris[i] == NULL)
			continue;
		if (hsm_key_find(ctx->hsm, enc_uris[i], &s->enc_keys[s->enc.n], e) != 0)
			return efos_wrap(e, "idp.encryption_key%s %s", i ? "_previous" : "", enc_uris[i]);
		s->enc.n++;
	}
	s->enc.keys = s->enc_keys;
	idp_intake_params_from_config(c, ctx->db, &s->enc, &s->intake);

	const char *sign_uri = c->idp_signing_key ? c->idp_signing_key : c->idp_metadata_key;
	const char *sign_cert = c->idp_signing_cert ? c->idp_signing_cert : c->idp_metadata_cert;
	if (s->store == NULL) {
		not_ready("the SP metadata store is not running", NULL);
		return 0;
	}
	if (sign_uri == NULL || sign_cert == NULL) {
		not_ready("set idp.signing_key and idp.signing_cert (or idp.metadata_key and idp.metadata_cert)", NULL);
		return 0;
	}
	if (hsm_key_find(ctx->hsm, sign_uri, &s->sign_key, e) != 0)
		return efos_wrap(e, "idp.signing_key %s", sign_uri);
	if ((s->sign_cert_b64 = cert_file_b64(sign_cert, e)) == NULL)
		return efos_wrap(e, "idp.signing_cert");
	if (c->idp_nameid_secret_file == NULL && c->idp_nameid_secret_env == NULL) {
		not_ready("set idp.nameid_secret_file or idp.nameid_secret_env (persistent NameIDs)", NULL);
		return 0;
	}
	if (idp_nameid_secret_load(c->idp_nameid_secret_file, c->idp_nameid_secret_env, &s->nameid, e) != 0)
		return efos_wrap(e, "idp.nameid_secret");
	if (c->http_mtls_public_url == NULL || c->http_mtls_port == 0) {
		not_ready("the card login needs the client-certificate listener (http.mtls_listen)", NULL);
		return 0;
	}
	s->keys = (struct idp_response_keys){
		.idp_entity_id = s->entity_id,
		.sign_key = s->sign_key,
		.sign_cert_b64 = s->sign_cert_b64,
		.enc_key = s->enc.n > 0 ? s->enc_keys[0] : NULL,
		.nameid_secret = s->nameid,
		.assertion_lifetime_s = c->idp_assertion_lifetime_s,
	};
	s->ready = true;
	log_info("IdP login flow ready: SSO %s, login transactions %d s, pages from %s",
		 s->sso_max_age_s > 0 ? "on" : "off", s->tx_lifetime_s, idp_pages_dir());
	return 0;
}

void idp_sso_service_stop(void)
{
	struct idp_sso_svc *s = &idp_sso_g;
	for (size_t i = 0; i < s->enc.n; i++)
		hsm_key_free(s->enc_keys[i]);
	if (s->sign_key != NULL)
		hsm_key_free(s->sign_key);
	free(s->sign_cert_b64);
	idp_nameid_secret_free(s->nameid);
	free(s->css);
	idp_pages_unload();
	*s = (struct idp_sso_svc){ 0 };
}

static void handle_css(struct http_request *req, struct http_response *resp)
{
	if (idp_sso_g.css == NULL) {
		http_resp_error(resp, 404, "no style sheet");
		return;
	}
	http_resp_header(resp, "Cache-Control", "public, max-age=3600");
	http_resp_header(resp, "X-Content-Type-Options", "nosniff");
	http_resp_body(resp, "text/css; charset=utf-8", idp_sso_g.css, idp_sso_g.css_len);
}

const struct http_route idp_sso_routes[] = {
	{ "GET", IDP_PATH_SSO_REDIRECT, 0, idp_sso_handle_redirect, "idp_sso_redirect" },
	{ "POST", IDP_PATH_SSO_POST, 0, idp_sso_handle_post, "idp_sso_post" },
	{ "GET", IDP_PATH_HOK_SSO_REDIRECT, HTTP_ROUTE_CLIENT_CERT_RAW, idp_sso_handle_hok_redirect, "idp_hok_sso_redirect" },
	{ "POST", IDP_PATH_HOK_SSO_POST, HTTP_ROUTE_CLIENT_CERT_RAW, idp_sso_handle_hok_post, "idp_hok_sso_post" },
	{ "GET", "/idp/login/card", HTTP_ROUTE_CLIENT_CERT_RAW, idp_sso_handle_card, "idp_login_card" },
	{ "GET", "/idp/login/next", 0, idp_sso_handle_next, "idp_login_next" },
	{ "POST", "/idp/login/sign", 0, idp_sso_handle_sign, "idp_login_sign" },
	{ "POST", "/idp/login/consent", 0, idp_sso_handle_consent, "idp_login_consent" },
	{ "GET", "/static/efos.css", 0, handle_css, "static_css" },
};
const size_t idp_sso_n_routes = sizeof idp_sso_routes / sizeof idp_sso_routes[0];
