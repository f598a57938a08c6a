/* Wiring of the AuthnRequest intake to this node's configuration, database and HSM
 * (idp/authn_request.h). Kept apart from idp/authn_request.c so that the intake itself
 * depends on neither (the fuzz target links it with stand-ins). */
#include <stdlib.h>
#include <string.h>
#include "core/config.h"
#include "hsm/hsm.h"
#include "idp/authn_request.h"
#include "idp/replay.h"

int idp_intake_hsm_oaep(void *arg, const EVP_MD *oaep_md, const EVP_MD *mgf1_md, const unsigned char *in,
			size_t inlen, unsigned char *out, size_t outcap, size_t *outlen, efos_err *e)
{
	const struct idp_hsm_enc_keys *ks = arg;
	if (ks == NULL || ks->n == 0)
		return efos_fail(e, EFOS_E_CONFIG, "no encryption key configured (idp.encryption_key)");
	efos_err last = { 0 };
	for (size_t i = 0; i < ks->n; i++) {
		struct hsm_key *k = ks->keys[i];
		if (k == NULL)
			continue;
		size_t cap = hsm_sig_max_len(k), n = 0;
		if (inlen != cap)
			continue; /* not this key's modulus size */
		unsigned char *buf = malloc(cap);
		if (buf == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		int rc = hsm_decrypt_oaep(k, oaep_md, mgf1_md, in, inlen, buf, &n, &last);
		if (rc == 0 && n <= outcap) {
			memcpy(out, buf, n);
			*outlen = n;
			efos_wipe(buf, cap);
			free(buf);
			return 0;
		}
		efos_wipe(buf, cap);
		free(buf);
	}
	return efos_fail(e, last.code != EFOS_E_NONE ? last.code : EFOS_E_AUTH,
			 "the key could not be decrypted with any of our encryption keys%s%s",
			 last.msg[0] ? ": " : "", last.msg);
}

void idp_intake_params_from_config(const struct efos_config *cfg, struct db_pool *db,
				   const struct idp_hsm_enc_keys *enc, struct idp_intake_params *p)
{
	*p = (struct idp_intake_params){ 0 };
	p->entity_id = cfg->idp_entity_id ? cfg->idp_entity_id : cfg->http_public_url;
	p->clock_skew_s = cfg->idp_clock_skew_s;
	p->max_age_s = cfg->idp_max_request_age_s > 0 ? cfg->idp_max_request_age_s : IDP_INTAKE_DEFAULT_MAX_AGE_S;
	p->require_signed = cfg->idp_require_signed_requests || cfg->idp_want_authn_requests_signed;
	p->supported_loa = idp_our_loas;
	p->entity_categories = idp_our_entity_categories;
	p->max_sign_message_bytes = IDP_SIGN_MESSAGE_MAX_BYTES;
	if (db != NULL) {
		p->replay_fn = idp_replay_pool_fn;
		p->replay_arg = db;
	}
	if (enc != NULL && enc->n > 0) {
		p->oaep_fn = idp_intake_hsm_oaep;
		p->oaep_arg = (void *)enc;
	}
}
