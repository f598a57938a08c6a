/* The SAD JWT (spec §5.2): JSON with jansson, the JWS signature through hsm_sign. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "hsm/hsm.h"
#include "idp/sad.h"

/* base64url without padding of len bytes; malloc'd. */
static char *b64url(const unsigned char *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	size_t n = strlen(out);
	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return out;
}

static char *b64url_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s == NULL)
		return NULL;
	char *r = b64url((const unsigned char *)s, strlen(s));
	free(s);
	return r;
}

static bool set_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, json_string(v)) == 0;
}

int idp_sad_build(struct hsm_key *k, const struct idp_sad_params *p, char **jwt, efos_err *e)
{
	json_t *hdr = NULL, *claims = NULL, *ext = NULL;
	char *h64 = NULL, *c64 = NULL, *s64 = NULL, *input = NULL;
	unsigned char *sig = NULL;
	int ret = -1;

	*jwt = NULL;
	if (k == NULL || p == NULL || p->iss == NULL || p->aud == NULL || p->sub == NULL || p->attr == NULL ||
	    p->loa == NULL || p->irt == NULL || p->reqid == NULL || p->docs < 1)
		return efos_fail(e, EFOS_E_INVALID,
				 "SAD: iss, aud, sub, attr, loa, irt, reqid and docs >= 1 are all required");
	const char *ver = p->ver != NULL ? p->ver : "1.0";
	if (strcmp(ver, "1.0") != 0)
		return efos_fail(e, EFOS_E_INVALID, "SAD: version %s is not supported (1.0)", ver);

	/* the algorithm by key type (JWS: RS256 PKCS#1 v1.5; ESnnn raw r||s) */
	const char *alg;
	const EVP_MD *md;
	enum hsm_padding pad;
	if (hsm_key_kind(k) == HSM_KEY_RSA) {
		alg = "RS256", md = EVP_sha256(), pad = HSM_PAD_PKCS1;
	} else {
		int bits = hsm_key_bits(k);
		pad = HSM_PAD_ECDSA;
		if (bits <= 256)
			alg = "ES256", md = EVP_sha256();
		else if (bits <= 384)
			alg = "ES384", md = EVP_sha384();
		else
			alg = "ES512", md = EVP_sha512();
	}

	time_t now = p->now ? p->now : time(NULL);
	int life = p->lifetime_s > 0 ? p->lifetime_s : IDP_SAD_DEFAULT_LIFETIME_S;
	unsigned char rnd[16];
	char jti[33];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return efos_fail(e, EFOS_E_INTERNAL, "SAD: the random generator failed");
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(jti + 2 * i, 3, "%02x", rnd[i]);

	hdr = json_object();
	claims = json_object();
	ext = json_object();
	bool ok = hdr && claims && ext && set_str(hdr, "typ", "JWT") && set_str(hdr, "alg", alg) &&
		  (p->kid == NULL || set_str(hdr, "kid", p->kid)) &&
		  set_str(claims, "sub", p->sub) && set_str(claims, "aud", p->aud) && set_str(claims, "iss", p->iss) &&
		  json_object_set_new(claims, "exp", json_integer((json_int_t)now + life)) == 0 &&
		  json_object_set_new(claims, "iat", json_integer((json_int_t)now)) == 0 &&
		  set_str(claims, "jti", jti) &&
		  set_str(ext, "ver", ver) && set_str(ext, "irt", p->irt) && set_str(ext, "attr", p->attr) &&
		  set_str(ext, "loa", p->loa) && set_str(ext, "reqid", p->reqid) &&
		  json_object_set_new(ext, "docs", json_integer(p->docs)) == 0;
	if (ok) {
		ok = json_object_set(claims, "seElnSadext", ext) == 0;
	}
	if (!ok || (h64 = b64url_json(hdr)) == NULL || (c64 = b64url_json(claims)) == NULL) {
		/* json_string() refuses invalid UTF-8 */
		efos_fail(e, EFOS_E_INVALID, "SAD: a claim is not valid UTF-8 (or out of memory)");
		goto out;
	}
	size_t ilen = strlen(h64) + 1 + strlen(c64);
	if ((input = malloc(ilen + 1)) == NULL || (sig = malloc(hsm_sig_max_len(k))) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	snprintf(input, ilen + 1, "%s.%s", h64, c64);
	size_t siglen = hsm_sig_max_len(k);
	if (hsm_sign(k, md, pad, HSM_SIG_RAW, (const unsigned char *)input, ilen, sig, &siglen, e) < 0) {
		efos_wrap(e, "SAD signature");
		goto out;
	}
	if ((s64 = b64url(sig, siglen)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	size_t jlen = ilen + 1 + strlen(s64);
	if ((*jwt = malloc(jlen + 1)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	snprintf(*jwt, jlen + 1, "%s.%s", input, s64);
	ret = 0;
out:
	json_decref(hdr);
	json_decref(claims);
	json_decref(ext);
	free(h64);
	free(c64);
	free(s64);
	free(input);
	free(sig);
	return ret;
}
