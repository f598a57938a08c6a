/* SAD and signMessageDigest checks: see sad_verify.h. JSON with jansson, signatures with
 * OpenSSL EVP against the IdP's metadata keys. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include "core/xml_alg.h"
#include "signer/sad_verify.h"

#define DEFAULT_SKEW_S 60

static int why_fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_fail(char *why, size_t cap, const char *fmt, ...)
{
	if (why != NULL && cap > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* base64url without padding (RFC 7515 §2) into a new buffer (NUL-terminated); -1 on error. */
static int b64url_decode(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	*out = NULL;
	if (n % 4 == 1)
		return -1;
	size_t padded = (n + 3) / 4 * 4;
	char *t = malloc(padded + 1);
	unsigned char *d = malloc(padded / 4 * 3 + 1);
	if (t == NULL || d == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			goto fail;
		t[i] = c;
	}
	for (size_t i = n; i < padded; i++)
		t[i] = '=';
	t[padded] = '\0';
	int dl = padded ? EVP_DecodeBlock(d, (unsigned char *)t, (int)padded) : 0;
	if (dl < 0)
		goto fail;
	*outlen = (size_t)dl - (padded - n);
	d[*outlen] = '\0';
	free(t);
	*out = d;
	return 0;
fail:
	free(t);
	free(d);
	return -1;
}

/* 1 when sig verifies over data with key for alg (RS256, ES256/384/512), else 0. */
static int jws_verify(EVP_PKEY *key, const char *alg, const unsigned char *data, size_t len, const unsigned char *sig,
		      size_t siglen)
{
	const EVP_MD *md = NULL;
	bool ec = false;
	int want_bits = 0;
	if (strcmp(alg, "RS256") == 0)
		md = EVP_sha256();
	else if (strcmp(alg, "ES256") == 0)
		md = EVP_sha256(), ec = true, want_bits = 256;
	else if (strcmp(alg, "ES384") == 0)
		md = EVP_sha384(), ec = true, want_bits = 384;
	else if (strcmp(alg, "ES512") == 0)
		md = EVP_sha512(), ec = true, want_bits = 521;
	else
		return 0;
	if (ec ? !EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_bits(key) != want_bits
	       : !EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) < 2048)
		return 0;
	unsigned char *der = NULL;
	size_t derlen = 0;
	if (ec) {   /* JWS ES* values are r||s like XML-DSig's; the key's size was checked above */
		if ((der = xml_alg_ecdsa_raw_to_der(key, sig, siglen, &derlen)) == NULL)
			return 0;
		sig = der;
		siglen = derlen;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
		 EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int check_claims(json_t *cl, const struct sig_idp *idp, const struct sp_assertion *a,
			const struct sad_expect *x, char *why, size_t cap)
{
	json_t *ext = json_object_get(cl, "seElnSadext");
	if (!json_is_object(ext))
		return why_fail(why, cap, "SAD: no seElnSadext claim");
	const char *ver = x->version ? x->version : "1.0";
	/* 2 */
	if (!same(jstr(ext, "ver"), ver))
		return why_fail(why, cap, "SAD check 2 (version): seElnSadext.ver is not the requested version %s", ver);
	/* 3 */
	if (!same(jstr(cl, "aud"), x->sp_entity_id))
		return why_fail(why, cap, "SAD check 3 (audience): aud is not our entityID");
	/* 4 */
	const char *iss = jstr(cl, "iss");
	if (!same(iss, a->issuer) || !same(iss, idp->entity_id))
		return why_fail(why, cap, "SAD check 4 (issuer): iss is not the assertion's issuer");
	/* 5 */
	json_t *iat = json_object_get(cl, "iat"), *exp = json_object_get(cl, "exp");
	time_t now = x->now ? x->now : time(NULL);
	int skew = x->skew_s > 0 ? x->skew_s : DEFAULT_SKEW_S;
	if (!json_is_integer(iat) || !json_is_integer(exp))
		return why_fail(why, cap, "SAD check 5 (validity): iat and exp must be integers");
	if (json_integer_value(iat) > (json_int_t)now + skew)
		return why_fail(why, cap, "SAD check 5 (validity): iat is in the future");
	if (json_integer_value(exp) <= (json_int_t)now - skew)
		return why_fail(why, cap, "SAD check 5 (validity): the SAD has expired (exp)");
	if (json_integer_value(exp) < json_integer_value(iat))
		return why_fail(why, cap, "SAD check 5 (validity): exp is before iat");
	/* 6 */
	if (!same(jstr(ext, "irt"), x->sad_request_id))
		return why_fail(why, cap, "SAD check 6 (in response to): irt is not our SADRequest ID");
	/* 7 */
	const char *sub = jstr(cl, "sub"), *attr = jstr(ext, "attr");
	bool found = false;
	for (size_t i = 0; sub != NULL && attr != NULL && i < a->n_attrs && !found; i++)
		if (same(a->attrs[i].name, attr))
			for (size_t j = 0; j < a->attrs[i].n_values && !found; j++)
				found = same(a->attrs[i].values[j], sub);
	if (!found)
		return why_fail(why, cap, "SAD check 7 (subject): sub is not a value of the assertion's attribute %.200s",
				attr ? attr : "(none named)");
	/* 8 */
	if (!same(jstr(ext, "loa"), a->loa))
		return why_fail(why, cap, "SAD check 8 (LoA): loa is not the assertion's AuthnContextClassRef");
	/* 9 */
	if (!same(jstr(ext, "reqid"), x->sign_request_id))
		return why_fail(why, cap, "SAD check 9 (request): reqid is not the SignRequest's RequestID");
	/* 10 */
	json_t *docs = json_object_get(ext, "docs");
	if (!json_is_integer(docs) || json_integer_value(docs) != x->doc_count)
		return why_fail(why, cap, "SAD check 10 (documents): docs is not the number of documents to sign (%d)",
				x->doc_count);
	return 0;
}

int sad_verify(const char *jwt, const struct sig_idp *idp, const struct sp_assertion *a,
	       const struct sad_expect *x, char *why, size_t cap)
{
	unsigned char *hdr = NULL, *body = NULL, *sig = NULL;
	size_t hlen = 0, blen = 0, slen = 0;
	json_t *jh = NULL, *jc = NULL;
	int ret = -1;

	if (jwt == NULL)
		return why_fail(why, cap, "SAD: the assertion has no sad attribute");
	if (idp == NULL || a == NULL || x == NULL)
		return why_fail(why, cap, "SAD: the IdP, the assertion and the expectations are required");
	size_t n = strnlen(jwt, SAD_MAX_LEN + 1);
	if (n > SAD_MAX_LEN)
		return why_fail(why, cap, "SAD: longer than %u characters", SAD_MAX_LEN);
	const char *d1 = memchr(jwt, '.', n), *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - jwt)) : NULL;
	if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - jwt)) != NULL)
		return why_fail(why, cap, "SAD: not a JWS compact serialisation (three dot-separated parts)");
	if (b64url_decode(jwt, (size_t)(d1 - jwt), &hdr, &hlen) != 0 ||
	    b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &body, &blen) != 0 ||
	    b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - jwt), &sig, &slen) != 0) {
		why_fail(why, cap, "SAD: a part is not base64url");
		goto out;
	}
	json_error_t je;
	if ((jh = json_loadb((const char *)hdr, hlen, JSON_REJECT_DUPLICATES, &je)) == NULL || !json_is_object(jh)) {
		why_fail(why, cap, "SAD check 1 (signature): the JWS header is not a JSON object");
		goto out;
	}
	const char *alg = jstr(jh, "alg");
	if (alg == NULL || (strcmp(alg, "RS256") != 0 && strcmp(alg, "ES256") != 0 && strcmp(alg, "ES384") != 0 &&
			    strcmp(alg, "ES512") != 0)) {
		why_fail(why, cap, "SAD check 1 (signature): algorithm %.40s is not allowed (RS256, ES256/384/512)",
			 alg ? alg : "(none)");
		goto out;
	}
	if (json_object_get(jh, "crit") != NULL) {
		why_fail(why, cap, "SAD check 1 (signature): a critical header extension is not understood");
		goto out;
	}
	/* 1: the signature over "header.claims" with a signing key from the IdP's metadata */
	bool ok = false;
	for (size_t i = 0; i < idp->n_signing_keys && !ok; i++)
		ok = jws_verify(idp->signing_keys[i], alg, (const unsigned char *)jwt, (size_t)(d2 - jwt), sig, slen) == 1;
	if (!ok) {
		why_fail(why, cap, "SAD check 1 (signature): it does not verify with any signing key in the metadata of %.200s",
			 idp->entity_id);
		goto out;
	}
	/* the claims are read only once the signature holds */
	if ((jc = json_loadb((const char *)body, blen, JSON_REJECT_DUPLICATES, &je)) == NULL || !json_is_object(jc)) {
		why_fail(why, cap, "SAD: the claims are not a JSON object");
		goto out;
	}
	ret = check_claims(jc, idp, a, x, why, cap);
out:
	json_decref(jh);
	json_decref(jc);
	free(hdr);
	free(body);
	free(sig);
	return ret;
}

int sign_message_digest_check(const char *attr_value, const unsigned char *msg, size_t len, char *why, size_t cap)
{
	static const struct {
		const char *uri;
		const EVP_MD *(*md)(void);
	} algs[] = {
		{ "http://www.w3.org/2001/04/xmlenc#sha256", EVP_sha256 },
		{ "http://www.w3.org/2001/04/xmldsig-more#sha384", EVP_sha384 },
		{ "http://www.w3.org/2001/04/xmlenc#sha512", EVP_sha512 },
	};
	if (attr_value == NULL)
		return why_fail(why, cap, "signMessageDigest: the assertion has none (the sign message was not shown "
				"and accepted)");
	if (msg == NULL)
		return why_fail(why, cap, "signMessageDigest: no sign message to compare with");
	const char *semi = strchr(attr_value, ';');
	if (semi == NULL)
		return why_fail(why, cap, "signMessageDigest: not \"DigestURI;base64\"");
	const EVP_MD *md = NULL;
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
		if (strlen(algs[i].uri) == (size_t)(semi - attr_value) && strncmp(attr_value, algs[i].uri, (size_t)(semi - attr_value)) == 0)
			md = algs[i].md();
	if (md == NULL)
		return why_fail(why, cap, "signMessageDigest: digest algorithm %.*s is not sha256, sha384 or sha512",
				(int)((semi - attr_value) > 100 ? 100 : (semi - attr_value)), attr_value);
	unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE + 4];
	unsigned int wl = 0;
	if (EVP_Digest(msg, len, want, &wl, md, NULL) != 1)
		return why_fail(why, cap, "signMessageDigest: digest computation failed");
	const char *b = semi + 1;
	size_t bl = strlen(b);
	if (bl != 4 * ((wl + 2) / 3) || EVP_DecodeBlock(got, (const unsigned char *)b, (int)bl) < (int)wl)
		return why_fail(why, cap, "signMessageDigest: the value is not base64 of a %u-byte digest", wl);
	if (CRYPTO_memcmp(want, got, wl) != 0)
		return why_fail(why, cap, "signMessageDigest: it does not match the sign message that was sent");
	return 0;
}
