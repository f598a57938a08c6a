/* core/xml_redirect: the SAML HTTP-Redirect binding. A signed AuthnRequest query verifies with
 * the SP's key (RSA and ECDSA, parameters in any order, the sender's own %-encoding); a
 * changed RelayState or SigAlg fails; SHA-1 and HMAC SigAlgs are refused; malformed queries,
 * deflate bombs and truncated streams are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>
#include <libxml/parser.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include "core/xml.h"
#include "core/xml_redirect.h"

#define ALG_RSA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define ALG_RSA512 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
#define ALG_ECDSA256 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define ALG_RSA1 "http://www.w3.org/2000/09/xmldsig#rsa-sha1"

static EVP_PKEY *K_SP, *K_EC, *K_OTHER;

static const char authn_request[] =
	"<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
	"xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_req1\" Version=\"2.0\" "
	"IssueInstant=\"2026-01-01T00:00:00Z\" Destination=\"https://idp.example.se/idp/sso\">"
	"<saml:Issuer>https://sp.example.se</saml:Issuer></samlp:AuthnRequest>";

/* ---- the sender's side --------------------------------------------------------------------- */

static size_t raw_deflate(const void *in, size_t len, unsigned char *out, size_t cap)
{
	z_stream zs = { 0 };
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t n = zs.total_out;
	deflateEnd(&zs);
	return n;
}

static void b64(const unsigned char *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* Percent-encodes everything but unreserved characters, hex in the given case. */
static void url_encode(const char *in, char *out, bool lower)
{
	static const char *const hex[2] = { "0123456789ABCDEF", "0123456789abcdef" };
	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-_.~", c)) {
			*out++ = (char)c;
		} else {
			*out++ = '%';
			*out++ = hex[lower][c >> 4];
			*out++ = hex[lower][c & 15];
		}
	}
	*out = '\0';
}

static size_t sign_raw(EVP_PKEY *k, const EVP_MD *md, const char *data, unsigned char *sig)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	size_t n = 1024;
	assert_int_equal(EVP_DigestSignInit(m, NULL, md, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(m, sig, &n, (const unsigned char *)data, strlen(data)), 1);
	EVP_MD_CTX_free(m);
	if (EVP_PKEY_is_a(k, "EC")) { /* DER -> r||s */
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		assert_non_null(es);
		size_t half = (size_t)(EVP_PKEY_get_bits(k) + 7) / 8;
		BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)half);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, (int)half);
		ECDSA_SIG_free(es);
		n = 2 * half;
	}
	return n;
}

/* A query string as an SP would send it: SAMLRequest[&RelayState]&SigAlg&Signature, or with
 * the Signature first when reorder. Returns malloc'd text. */
static char *make_query(EVP_PKEY *k, const EVP_MD *md, const char *sigalg, const char *relay, bool lower,
			bool reorder)
{
	unsigned char defl[4096], sig[1024];
	char b[8192], enc_req[16384], enc_relay[1024] = "", enc_alg[512], signed_part[20000], enc_sig[4096];
	size_t dl = raw_deflate(authn_request, strlen(authn_request), defl, sizeof defl);
	b64(defl, dl, b);
	url_encode(b, enc_req, lower);
	url_encode(sigalg, enc_alg, lower);
	if (relay)
		url_encode(relay, enc_relay, lower);
	snprintf(signed_part, sizeof signed_part, "SAMLRequest=%s%s%s&SigAlg=%s", enc_req, relay ? "&RelayState=" : "",
		 enc_relay, enc_alg);
	size_t sl = sign_raw(k, md, signed_part, sig);
	b64(sig, sl, b);
	url_encode(b, enc_sig, lower);
	char *q = malloc(40000);
	if (reorder)
		snprintf(q, 40000, "Signature=%s&SigAlg=%s&foo=bar%s%s&SAMLRequest=%s", enc_sig, enc_alg,
			 relay ? "&RelayState=" : "", enc_relay, enc_req);
	else
		snprintf(q, 40000, "%s&Signature=%s", signed_part, enc_sig);
	return q;
}

static int parse_verify(const char *q, EVP_PKEY *k, efos_err *e)
{
	struct xml_redirect_msg m;
	if (xml_redirect_parse(q, strlen(q), NULL, &m, e) < 0)
		return -1;
	int rc = xml_redirect_verify(&m, &k, 1, NULL, e);
	xml_redirect_msg_free(&m);
	return rc;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_good_signature(void **state)
{
	efos_err e = { 0 };
	char *q = make_query(K_SP, EVP_sha256(), ALG_RSA256, "ss:mem:4b1e/x?y=1&z", false, false);
	struct xml_redirect_msg m;
	if (xml_redirect_parse(q, strlen(q), NULL, &m, &e) != 0)
		fail_msg("%s", e.msg);
	assert_false(m.is_response);
	assert_string_equal(m.relay_state, "ss:mem:4b1e/x?y=1&z");
	assert_string_equal(m.sig_alg, ALG_RSA256);
	assert_string_equal((char *)m.xml, authn_request);
	if (xml_redirect_verify(&m, &K_SP, 1, NULL, &e) != 0)
		fail_msg("%s", e.msg);
	/* several keys in metadata: one of them verifies */
	EVP_PKEY *keys[] = { K_EC, K_OTHER, K_SP };
	assert_int_equal(xml_redirect_verify(&m, keys, 3, NULL, &e), 0);
	/* the inflated message parses under the usual limits */
	xmlDocPtr doc = NULL;
	assert_int_equal(xml_parse_untrusted((char *)m.xml, m.xml_len, NULL, &doc, &e), 0);
	xmlFreeDoc(doc);
	xml_redirect_msg_free(&m);
	free(q);

	/* another order in the URL, lower-case hex, an unsigned extra parameter */
	q = make_query(K_SP, EVP_sha256(), ALG_RSA256, "https://sp.example.se/x?a=1", true, true);
	if (parse_verify(q, K_SP, &e) != 0)
		fail_msg("%s", e.msg);
	free(q);
	/* no RelayState */
	q = make_query(K_SP, EVP_sha512(), ALG_RSA512, NULL, false, false);
	assert_int_equal(parse_verify(q, K_SP, &e), 0);
	free(q);
	/* ECDSA, r||s */
	q = make_query(K_EC, EVP_sha256(), ALG_ECDSA256, "r", false, false);
	if (parse_verify(q, K_EC, &e) != 0)
		fail_msg("%s", e.msg);
	free(q);
}

static void replace(char *q, const char *from, const char *to)
{
	char *p = strstr(q, from);
	assert_non_null(p);
	size_t fl = strlen(from), tl = strlen(to);
	memmove(p + tl, p + fl, strlen(p + fl) + 1);
	memcpy(p, to, tl);
}

static void test_tampering_fails(void **state)
{
	efos_err e = { 0 };
	char *q = make_query(K_SP, EVP_sha256(), ALG_RSA256, "state1", false, false);
	replace(q, "RelayState=state1", "RelayState=state2");
	assert_int_equal(parse_verify(q, K_SP, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);
	assert_non_null(strstr(e.msg, "does not verify"));
	free(q);

	/* SigAlg changed to another allowed algorithm */
	q = make_query(K_SP, EVP_sha256(), ALG_RSA256, "state1", false, false);
	replace(q, "rsa-sha256", "rsa-sha512");
	assert_int_equal(parse_verify(q, K_SP, &e), -1);
	assert_non_null(strstr(e.msg, "does not verify"));
	free(q);

	/* RelayState removed */
	q = make_query(K_SP, EVP_sha256(), ALG_RSA256, "state1", false, false);
	replace(q, "&RelayState=state1", "");
	assert_int_equal(parse_verify(q, K_SP, &e), -1);
	free(q);

	/* the SAMLRequest re-encoded (same decoded value, other octets): the signature is over
	 * the octets as sent, so it fails rather than guessing */
	q = make_query(K_SP, EVP_sha256(), ALG_RSA256, "state1", false, false);
	char *end = strstr(q, "&RelayState="), *p = strstr(q, "%2B");
	if (p == NULL || p > end)
		p = strstr(q, "%2F");
	if (p != NULL && p < end) {
		p[2] = (char)(p[2] + ('a' - 'A'));
		assert_int_equal(parse_verify(q, K_SP, &e), -1);
	}
	free(q);

	/* a key not in metadata */
	q = make_query(K_OTHER, EVP_sha256(), ALG_RSA256, "state1", false, false);
	assert_int_equal(parse_verify(q, K_SP, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);
	free(q);
}

static void test_sha1_and_hmac_refused(void **state)
{
	efos_err e = { 0 };
	char *q = make_query(K_SP, EVP_sha1(), ALG_RSA1, "s", false, false);
	assert_int_equal(parse_verify(q, K_SP, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	assert_non_null(strstr(e.msg, "SHA-1 is refused"));
	free(q);
	q = make_query(K_SP, EVP_sha256(), ALG_RSA256, "s", false, false);
	replace(q, "xmldsig-more%23rsa-sha256", "xmldsig-more%23hmac-sha256");
	assert_int_equal(parse_verify(q, K_SP, &e), -1);
	assert_non_null(strstr(e.msg, "HMAC is refused"));
	free(q);
	/* a policy that narrows the list */
	static const char *const only_ec[] = { ALG_ECDSA256, NULL };
	struct xml_dsig_policy pol = xml_dsig_policy_saml;
	pol.sig_algs = only_ec;
	q = make_query(K_SP, EVP_sha256(), ALG_RSA256, "s", false, false);
	struct xml_redirect_msg m;
	assert_int_equal(xml_redirect_parse(q, strlen(q), NULL, &m, &e), 0);
	assert_int_equal(xml_redirect_verify(&m, &K_SP, 1, &pol, &e), -1);
	assert_non_null(strstr(e.msg, "not allowed by this profile"));
	xml_redirect_msg_free(&m);
	free(q);
}

static void expect_parse_refused(const char *q, const struct xml_redirect_limits *lim, enum efos_errcode code,
				 const char *what)
{
	struct xml_redirect_msg m;
	efos_err e = { 0 };
	assert_int_equal(xml_redirect_parse(q, strlen(q), lim, &m, &e), -1);
	assert_null(m.xml);
	assert_int_equal(e.code, code);
	if (strstr(e.msg, what) == NULL)
		fail_msg("expected '%s' in: %s", what, e.msg);
}

static void test_malformed(void **state)
{
	efos_err e = { 0 };
	char *q = make_query(K_SP, EVP_sha256(), ALG_RSA256, "s", false, false);
	char *dup = malloc(strlen(q) * 2 + 2);
	sprintf(dup, "%s&%s", q, q);
	expect_parse_refused(dup, NULL, EFOS_E_INVALID, "given twice");
	free(dup);
	expect_parse_refused("RelayState=x", NULL, EFOS_E_INVALID, "exactly one of SAMLRequest");
	expect_parse_refused("SAMLRequest=AA&SAMLResponse=AA", NULL, EFOS_E_INVALID, "exactly one of SAMLRequest");
	expect_parse_refused("SAMLRequest=AAAA&Signature=AAAA", NULL, EFOS_E_INVALID, "together");
	expect_parse_refused("SAMLRequest=%ZZ", NULL, EFOS_E_INVALID, "bad %-escape");
	expect_parse_refused("SAMLRequest=AA%2", NULL, EFOS_E_INVALID, "truncated %-escape");
	expect_parse_refused("SAMLRequest=AA%00", NULL, EFOS_E_INVALID, "NUL");
	expect_parse_refused("SAMLRequest=!!!!", NULL, EFOS_E_INVALID, "not base64");
	expect_parse_refused("SAMLRequest=AAAA", NULL, EFOS_E_INVALID, "DEFLATE");

	/* unsigned: parses, does not verify */
	char *unsigned_q = strdup(q);
	*strstr(unsigned_q, "&SigAlg=") = '\0';
	struct xml_redirect_msg m;
	assert_int_equal(xml_redirect_parse(unsigned_q, strlen(unsigned_q), NULL, &m, &e), 0);
	assert_null(m.signed_octets);
	assert_int_equal(xml_redirect_verify(&m, &K_SP, 1, NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_AUTH);
	assert_non_null(strstr(e.msg, "not signed"));
	xml_redirect_msg_free(&m);
	free(unsigned_q);

	struct xml_redirect_limits lim = xml_redirect_limits_default;
	lim.max_query = 100;
	expect_parse_refused(q, &lim, EFOS_E_TOOBIG, "over the limit");
	lim = xml_redirect_limits_default;
	lim.max_relay_state = 0;
	expect_parse_refused(q, &lim, EFOS_E_INVALID, "RelayState of 1 bytes");
	free(q);
}

static void test_inflate_bounds(void **state)
{
	/* a deflate bomb: 10 MB of zeros compresses to ~10 KB */
	size_t big = 10u * 1024u * 1024u;
	unsigned char *zeros = calloc(1, big), *defl = malloc(64 * 1024);
	size_t dl = raw_deflate(zeros, big, defl, 64 * 1024);
	unsigned char *out = NULL;
	size_t outlen = 0;
	efos_err e = { 0 };
	assert_int_equal(xml_redirect_inflate(defl, dl, XML_REDIRECT_MAX_INFLATED, &out, &outlen, &e), -1);
	assert_int_equal(e.code, EFOS_E_TOOBIG);
	assert_null(out);
	/* truncated */
	assert_int_equal(xml_redirect_inflate(defl, dl / 2, big, &out, &outlen, &e), -1);
	assert_non_null(strstr(e.msg, "truncated"));
	/* exactly at the limit is fine; one over is not */
	dl = raw_deflate(zeros, 1000, defl, 64 * 1024);
	assert_int_equal(xml_redirect_inflate(defl, dl, 1000, &out, &outlen, &e), 0);
	assert_int_equal(outlen, 1000);
	free(out);
	assert_int_equal(xml_redirect_inflate(defl, dl, 999, &out, &outlen, &e), -1);
	/* trailing data after the stream */
	defl[dl] = 'x';
	assert_int_equal(xml_redirect_inflate(defl, dl + 1, 1000, &out, &outlen, &e), -1);
	assert_non_null(strstr(e.msg, "after the end"));
	free(zeros);
	free(defl);
}

static int setup(void **state)
{
	xmlInitParser();
	K_SP = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	K_OTHER = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	K_EC = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return K_SP && K_OTHER && K_EC ? 0 : -1;
}

static int teardown(void **state)
{
	EVP_PKEY_free(K_SP);
	EVP_PKEY_free(K_OTHER);
	EVP_PKEY_free(K_EC);
	xmlCleanupParser();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_signature),
		cmocka_unit_test(test_tampering_fails),
		cmocka_unit_test(test_sha1_and_hmac_refused),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_inflate_bounds),
	};
	return cmocka_run_group_tests_name("xml_redirect", tests, setup, teardown);
}
