/* NameIDs: see nameid.h and docs/idp.md ("NameID"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "core/config.h"
#include "idp/metadata_store.h"
#include "idp/nameid.h"

#define NAMEID_SECRET_MIN 32
#define NAMEID_SECRET_MAX 4096
#define NAMEID_DOMAIN "efos-nameid-v1"

struct idp_nameid_secret {
	size_t len;
	unsigned char key[];
};

int idp_nameid_secret_new(const unsigned char *secret, size_t len, struct idp_nameid_secret **out, efos_err *e)
{
	*out = NULL;
	if (secret == NULL || len < NAMEID_SECRET_MIN || len > NAMEID_SECRET_MAX)
		return efos_fail(e, EFOS_E_CONFIG, "the NameID secret must be %d to %d bytes (it is %zu)", NAMEID_SECRET_MIN,
				 NAMEID_SECRET_MAX, secret == NULL ? (size_t)0 : len);
	struct idp_nameid_secret *s = malloc(sizeof *s + len);
	if (s == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	s->len = len;
	memcpy(s->key, secret, len);
	*out = s;
	return 0;
}

int idp_nameid_secret_load(const char *file, const char *env, struct idp_nameid_secret **out, efos_err *e)
{
	char *secret = NULL;
	*out = NULL;
	if (config_read_secret(file, env, false, &secret, e) < 0)
		return efos_wrap(e, "idp.nameid_secret_file / idp.nameid_secret_env");
	int rc = idp_nameid_secret_new((const unsigned char *)secret, strlen(secret), out, e);
	efos_free_secret(secret);
	if (rc < 0)
		return efos_wrap(e, "idp.nameid_secret_file / idp.nameid_secret_env");
	return 0;
}

void idp_nameid_secret_free(struct idp_nameid_secret *s)
{
	if (s == NULL)
		return;
	efos_wipe(s->key, s->len);
	free(s);
}

int idp_nameid_choose_format(const struct idp_sp *sp, const char *requested, const char **format, efos_err *e)
{
	if (requested != NULL && strcmp(requested, IDP_NAMEID_PERSISTENT) == 0) {
		*format = IDP_NAMEID_PERSISTENT;
		return 0;
	}
	if (requested != NULL && strcmp(requested, IDP_NAMEID_TRANSIENT) == 0) {
		*format = IDP_NAMEID_TRANSIENT;
		return 0;
	}
	if (requested != NULL && *requested != '\0' && strcmp(requested, IDP_NAMEID_UNSPECIFIED) != 0) {
		*format = NULL;
		return efos_fail(e, EFOS_E_INVALID, "NameIDPolicy Format %s is not supported (persistent or transient)",
				 requested);
	}
	/* unspecified: the SP's metadata preference, else persistent (spec §1.3) */
	for (size_t i = 0; sp != NULL && i < sp->n_name_id_formats; i++) {
		const char *f = sp->name_id_formats[i];
		if (f != NULL && strcmp(f, IDP_NAMEID_PERSISTENT) == 0) {
			*format = IDP_NAMEID_PERSISTENT;
			return 0;
		}
		if (f != NULL && strcmp(f, IDP_NAMEID_TRANSIENT) == 0) {
			*format = IDP_NAMEID_TRANSIENT;
			return 0;
		}
	}
	*format = IDP_NAMEID_PERSISTENT;
	return 0;
}

/* base64url without padding; out holds 4 * ceil(len / 3) + 1 bytes. */
static void b64url(const unsigned char *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	size_t n = strlen(out);
	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

int idp_nameid_make(const struct idp_nameid_secret *s, const char *format, const char *idp_entity_id,
		    const char *sp_entity_id, long person_id, struct idp_nameid *out, efos_err *e)
{
	*out = (struct idp_nameid){ 0 };
	if (format == NULL || idp_entity_id == NULL || sp_entity_id == NULL)
		return efos_fail(e, EFOS_E_INVALID, "NameID: format, IdP and SP entityIDs are required");
	out->name_qualifier = idp_entity_id;
	out->sp_name_qualifier = sp_entity_id;

	if (strcmp(format, IDP_NAMEID_TRANSIENT) == 0) {
		unsigned char r[20];
		if (RAND_bytes(r, sizeof r) != 1)
			return efos_fail(e, EFOS_E_INTERNAL, "NameID: the random generator failed");
		out->value[0] = '_';
		for (size_t i = 0; i < sizeof r; i++)
			snprintf(out->value + 1 + 2 * i, 3, "%02x", r[i]);
		out->format = IDP_NAMEID_TRANSIENT;
		return 0;
	}
	if (strcmp(format, IDP_NAMEID_PERSISTENT) != 0)
		return efos_fail(e, EFOS_E_INVALID, "NameID format %s is not supported", format);
	if (s == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "persistent NameIDs need idp.nameid_secret_file or idp.nameid_secret_env");
	if (person_id <= 0)
		return efos_fail(e, EFOS_E_INVALID, "NameID: no person id");

	/* HMAC input: domain NUL person-id NUL sp-entityID (NULs keep the fields apart) */
	char pid[24];
	int pl = snprintf(pid, sizeof pid, "%ld", person_id);
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0;
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_construct_end() };
	bool ok = c != NULL && EVP_MAC_init(c, s->key, s->len, params) == 1 &&
		  EVP_MAC_update(c, (const unsigned char *)NAMEID_DOMAIN, sizeof NAMEID_DOMAIN) == 1 &&
		  EVP_MAC_update(c, (const unsigned char *)pid, (size_t)pl + 1) == 1 &&
		  EVP_MAC_update(c, (const unsigned char *)sp_entity_id, strlen(sp_entity_id)) == 1 &&
		  EVP_MAC_final(c, mac, &maclen, sizeof mac) == 1;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	if (!ok || maclen != 32)
		return efos_fail(e, EFOS_E_INTERNAL, "NameID: HMAC-SHA256 failed");
	b64url(mac, maclen, out->value);   /* 43 characters */
	efos_wipe(mac, sizeof mac);
	out->format = IDP_NAMEID_PERSISTENT;
	return 0;
}
