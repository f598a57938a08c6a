/* certs/profile.c: the default profiles (etc/profiles.conf) all load with the fields the issue
 * asks for, and every kind of mistake is reported as "FILE:LINE: [section] key: what". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/x509v3.h>
#include "certs/profile.h"

#define POLICY_AUTH "2.25.195263442892063585598849581790911656791"
#define POLICY_SIGN "2.25.123836948378678934782901549661384433962"

static char defaults_path[512];

static int setup(void **state)
{
	const char *top = getenv("EFOS_TOP");
	snprintf(defaults_path, sizeof defaults_path, "%s/etc/profiles.conf", top ? top : ".");
	return 0;
}

static bool has(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

static void test_defaults_load(void **state)
{
	struct cert_profiles *ps = NULL;
	efos_err e = { 0 };
	int rc = cert_profiles_load(defaults_path, "https://efos.example.se/", &ps, &e);
	if (rc != 0)
		fail_msg("%s", e.msg);
	static const char *const names[] = { "root-ca", "card-ca", "sign-ca", "ocsp-signer", "card-auth",
					     "card-sign", "card-enc", "tls-server", "saml-signing",
					     "agency-seal", "officer", "signer", "tsa", "api-client" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (cert_profile_get(ps, names[i]) == NULL)
			fail_msg("default profile %s missing", names[i]);
	assert_int_equal(cert_profiles_count(ps), sizeof names / sizeof names[0]);
	assert_null(cert_profile_get(ps, "nope"));
	/* RFC 3161 §2.3: the TSA's only EKU, timeStamping, critical. */
	assert_true(cert_profile_get(ps, "tsa")->ext_key_usage_critical);
	assert_int_equal(cert_profile_get(ps, "tsa")->n_ext_key_usage, 1);
	assert_false(cert_profile_get(ps, "api-client")->ext_key_usage_critical);

	const struct cert_profile *p = cert_profile_get(ps, "root-ca");
	assert_string_equal(p->issuer, "self");
	assert_true(p->is_ca);
	assert_int_equal(p->path_len, 1);
	assert_int_equal(p->validity_s, 20L * 365 * 86400);
	assert_int_equal(p->key_usage, X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN);
	assert_true(p->key_usage_critical);

	p = cert_profile_get(ps, "card-auth");
	assert_string_equal(p->issuer, "card");
	assert_false(p->is_ca);
	assert_int_equal(p->key_usage, X509v3_KU_DIGITAL_SIGNATURE);
	assert_true(has(p->ext_key_usage, p->n_ext_key_usage, "clientAuth"));
	assert_true(has(p->policies, p->n_policies, POLICY_AUTH));
	assert_string_equal(p->ocsp_url, "https://efos.example.se/ocsp");
	assert_string_equal(p->ca_issuers_url, "https://efos.example.se/ca/${issuer}.crt");
	assert_string_equal(p->crl_url, "https://efos.example.se/crl/${issuer}.crl");
	assert_int_equal(p->min_rsa_bits, 2048);
	assert_int_equal(p->min_ec_bits, 256);
	/* C O organizationIdentifier surname givenName serialNumber CN, none optional */
	assert_int_equal(p->n_subject, 7);
	assert_int_equal(p->subject[0], SUBJ_C);
	assert_int_equal(p->subject[5], SUBJ_SERIAL_NUMBER);
	assert_int_equal(p->subject[6], SUBJ_CN);
	for (size_t i = 0; i < p->n_subject; i++)
		assert_false(p->subject_optional[i]);

	p = cert_profile_get(ps, "card-sign");
	assert_int_equal(p->key_usage, X509v3_KU_NON_REPUDIATION);
	assert_true(has(p->policies, p->n_policies, POLICY_SIGN));
	assert_false(has(p->policies, p->n_policies, POLICY_AUTH));

	p = cert_profile_get(ps, "card-enc");
	assert_int_equal(p->key_usage, X509v3_KU_KEY_ENCIPHERMENT);
	assert_int_equal(p->min_ec_bits, 0);   /* key transport: RSA only */

	p = cert_profile_get(ps, "ocsp-signer");
	assert_true(p->ocsp_nocheck);
	assert_string_equal(p->issuer, "any");
	assert_true(has(p->ext_key_usage, p->n_ext_key_usage, "OCSPSigning"));
	assert_true(p->validity_s <= 90L * 86400);
	assert_null(p->ocsp_url);

	p = cert_profile_get(ps, "tls-server");
	assert_true(has(p->ext_key_usage, p->n_ext_key_usage, "serverAuth"));
	assert_true(p->subject_optional[1]);   /* O? */

	p = cert_profile_get(ps, "officer");
	assert_true(has(p->ext_key_usage, p->n_ext_key_usage, "clientAuth"));
	assert_false(has(p->policies, p->n_policies, POLICY_AUTH));  /* not a LoA 4 card */
	cert_profiles_free(ps);
}

/* Writes text to a temporary file and loads it; returns the error message ("" if it loaded). */
static char errbuf[EFOS_ERR_MSG_MAX];
static char tmppath[64];
static const char *load_text(const char *text, const char *base_url)
{
	snprintf(tmppath, sizeof tmppath, "/tmp/efos-profiles.XXXXXX");
	int fd = mkstemp(tmppath);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct cert_profiles *ps = NULL;
	efos_err e = { 0 };
	int rc = cert_profiles_load(tmppath, base_url, &ps, &e);
	unlink(tmppath);
	cert_profiles_free(ps);
	if (rc == 0)
		return "";
	/* strip the temporary path: "PATH:LINE: ..." -> ":LINE: ..." */
	size_t pl = strlen(tmppath);
	snprintf(errbuf, sizeof errbuf, "%s", strncmp(e.msg, tmppath, pl) == 0 ? e.msg + pl : e.msg);
	return errbuf;
}

#define GOOD "issuer = card\nvalidity = 1y\nsubject = CN\nkey_usage = digitalSignature\nkeys = rsa:2048\n"

static void test_minimal_ok(void **state)
{
	assert_string_equal(load_text("# comment\n\n[p]\n" GOOD, NULL), "");
	assert_string_equal(load_text("[p]\nissuer = \"card\" # trailing\nvalidity = 3600\nsubject = CN, O\n"
				      "key_usage = critical, digitalSignature\nkeys = ec:P-384\n", NULL), "");
}

static void test_errors(void **state)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "[p]\n" GOOD "colour = blue\n", ":7: [p] colour: unknown key" },
		{ "[p]\n" GOOD "validity = 2y\n", ":7: [p] validity: set twice in this profile" },
		{ "[p]\nvalidity = 10 years\n", ":2: [p] validity: \"10 years\": expected a positive duration" },
		{ "[p]\nvalidity = -1d\n", ":2: [p] validity: \"-1d\"" },
		{ "issuer = card\n", ":1: issuer: outside any [profile] section" },
		{ "[p]\n" GOOD "[p]\n" GOOD, ":7: [p]: profile defined twice" },
		{ "[Bad Name]\n", ":1: [Bad Name]: a profile name is 1-64 of a-z 0-9 - _" },
		{ "[p\n", ":1: a section header reads [name]" },
		{ "[p]\njust words\n", ":2: [p]: expected `key = value` or [section]" },
		{ "[p]\nvalidity = 1y\nsubject = CN\nkey_usage = digitalSignature\nkeys = rsa:2048\n",
		  ":1: [p] issuer: required" },
		{ "[p]\nissuer = card\nvalidity = 1y\nsubject = CN\nkey_usage = digitalSignature\n[q]\n",
		  ":1: [p] keys: required" },
		{ "[p]\n" GOOD "ext_key_usage = clientAuth bogusAuth\n",
		  ":7: [p] ext_key_usage: \"bogusAuth\": not a known purpose" },
		{ "[p]\n" GOOD "policies = 1.2.x\n", ":7: [p] policies: \"1.2.x\": not a dotted OID" },
		{ "[p]\n" GOOD "ocsp_url = ${base_url}/ocsp\n",
		  ":7: [p] ocsp_url: ${base_url} is used but ca.base_url (or http.public_url) is not set" },
		{ "[p]\n" GOOD "crl_url = ftp://x/y.crl\n", ":7: [p] crl_url: not an http:// or https:// URL" },
		{ "[p]\n" GOOD "crl_url = ${nope}/y.crl\n", ":7: [p] crl_url: unknown variable" },
		{ "[p]\nissuer = card\nvalidity = 1y\nsubject = CN Nickname\n",
		  ":4: [p] subject: \"Nickname\": unknown attribute" },
		{ "[p]\nissuer = card\nvalidity = 1y\nsubject = CN CN\n", ":4: [p] subject: \"CN\" listed twice" },
		{ "[p]\nissuer = card\nkeys = rsa:1024\n",
		  ":3: [p] keys: rsa:1024: RSA minimum must be a number of bits from 2048 to 16384" },
		{ "[p]\nissuer = card\nkeys = ec:224\n", ":3: [p] keys: ec:224: EC minimum must be 256, 384 or 521" },
		{ "[p]\nissuer = card\nkey_usage = digitalSignature signEverything\n",
		  ":3: [p] key_usage: \"signEverything\": unknown key usage" },
		{ "[p]\nissuer = card\nvalidity = 1y\nsubject = CN\nkey_usage = keyCertSign\nkeys = rsa:2048\n",
		  ":1: [p] key_usage: keyCertSign is only for CA profiles (ca = true)" },
		{ "[p]\nissuer = card\nvalidity = 1y\nca = true\nsubject = CN\nkey_usage = cRLSign\nkeys = rsa:2048\n",
		  ":1: [p] key_usage: a CA profile needs keyCertSign" },
		{ "[p]\n" GOOD "path_len = 1\n", ":1: [p] path_len: only for CA profiles (ca = true)" },
		{ "[p]\n" GOOD "ocsp_nocheck = true\n",
		  ":1: [p] ocsp_nocheck: only for an OCSP signer profile (ext_key_usage = OCSPSigning)" },
		{ "[p]\n" GOOD "ca = maybe\n", ":7: [p] ca: \"maybe\": expected true or false" },
		{ "[p]\nissuer = Root CA\n", ":2: [p] issuer: \"Root CA\": a CA name" },
		{ "[p]\nissuer = \"card\n", ":2: [p] issuer: unbalanced quote" },
		{ "# nothing\n", "no profile defined" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = load_text(cases[i].text, NULL);
		if (strstr(got, cases[i].want) != got && !(cases[i].want[0] != ':' && strstr(got, cases[i].want)))
			fail_msg("case %zu: got \"%s\", want it to start with \"%s\"", i, got, cases[i].want);
	}
}

static void test_missing_file(void **state)
{
	struct cert_profiles *ps = NULL;
	efos_err e = { 0 };
	assert_int_equal(cert_profiles_load("/nonexistent/profiles.conf", NULL, &ps, &e), -1);
	assert_non_null(strstr(e.msg, "/nonexistent/profiles.conf: No such file"));
	assert_int_equal(e.code, EFOS_E_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_load),
		cmocka_unit_test(test_minimal_ok),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
