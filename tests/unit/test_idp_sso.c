/* The login flow's pure parts: the sign-message renderers (text, markdown subset, the HTML
 * whitelist: anything else escaped), HTML escaping, the SSO reuse rules (spec §1.5, §1.12, §6.2)
 * and the JSON round trip of a login transaction's request and subject. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "idp/login_tx.h"
#include "idp/pages.h"
#include "idp/session.h"

static char *render(enum idp_sig_msg_mime m, const char *s)
{
	efos_err e = { 0 };
	char *out = idp_sign_message_html(m, s, &e);
	assert_non_null(out);
	return out;
}

static void test_escape(void **state)
{
	(void)state;
	char *s = idp_html_escape("<a href=\"x\">'&'</a>");
	assert_string_equal(s, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
	free(s);
	s = idp_html_escape(NULL);
	assert_string_equal(s, "");
	free(s);
}

static void test_text(void **state)
{
	(void)state;
	char *s = render(IDP_SIGMSG_TEXT, "Jag godkänner <b>detta</b>\nrad 2");
	assert_string_equal(s, "Jag godkänner &lt;b&gt;detta&lt;/b&gt;<br>rad 2");
	free(s);
}

static void test_markdown(void **state)
{
	(void)state;
	char *s = render(IDP_SIGMSG_MARKDOWN, "# Avtal\n\nJag **godkänner** *villkoren*.\n\n- ett\n- två <script>\n");
	assert_string_equal(s, "<h2>Avtal</h2><p>Jag <strong>godkänner</strong> <em>villkoren</em>.</p>"
			       "<ul><li>ett</li><li>två &lt;script&gt;</li></ul>");
	free(s);
	s = render(IDP_SIGMSG_MARKDOWN, "[länk](javascript:alert(1)) <img src=x onerror=y>");
	assert_null(strstr(s, "<img"));
	assert_null(strstr(s, "<a"));
	free(s);
}

static void test_html_whitelist(void **state)
{
	(void)state;
	char *s = render(IDP_SIGMSG_HTML, "<h1 style=\"color: red\">Rubrik</h1><p>Text&nbsp;här<br/>rad</p><ul><li>a</li></ul>");
	assert_string_equal(s, "<h1 style=\"color: red\">Rubrik</h1><p>Text&nbsp;här<br>rad</p><ul><li>a</li></ul>");
	free(s);
	/* not on the list, or with attributes that are not allowed: shown as text */
	s = render(IDP_SIGMSG_HTML, "<script>alert(1)</script><p onclick=\"x()\">p</p><a href=\"https://e\">a</a>");
	assert_null(strstr(s, "<script"));
	assert_null(strstr(s, "<a "));
	assert_null(strstr(s, "<p onclick"));
	assert_non_null(strstr(s, "&lt;script&gt;"));
	free(s);
	/* style that loads something */
	s = render(IDP_SIGMSG_HTML, "<div style=\"background:url(https://e/x)\">d</div><i class=\"x\">i</i>");
	assert_null(strstr(s, "<div"));
	assert_null(strstr(s, "<i "));
	free(s);
	/* entities outside the five are escaped */
	s = render(IDP_SIGMSG_HTML, "&copy; &amp; &#x3c;");
	assert_string_equal(s, "&amp;copy; &amp; &amp;#x3c;");
	free(s);
	/* bad UTF-8 cannot be shown */
	efos_err e = { 0 };
	assert_null(idp_sign_message_html(IDP_SIGMSG_TEXT, "\xff\xfe", &e));
}

static X509 *make_cert(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	EVP_PKEY_free(k);
	return x;
}

static void test_session_reuse_rules(void **state)
{
	(void)state;
	X509 *c1 = make_cert(), *c2 = make_cert();
	struct idp_sso_session s = { .id = 1, .person_id = 7, .hok = false, .authn_instant = 1000, .expires_at = 1000 + 3600 };
	snprintf(s.loa, sizeof s.loa, "http://id.elegnamnden.se/loa/1.0/loa4");
	idp_cert_sha256(c1, s.cert_sha256);
	struct idp_authn_request r = { .chosen_loa = (char *)"http://id.elegnamnden.se/loa/1.0/loa4" };
	const char *why;
	assert_true(idp_session_reusable(&s, &r, NULL, 2000, 3600, &why));
	r.force_authn = true;
	assert_false(idp_session_reusable(&s, &r, NULL, 2000, 3600, &why));
	r.force_authn = false;
	r.is_sigservice = true;
	assert_false(idp_session_reusable(&s, &r, NULL, 2000, 3600, &why));
	r.is_sigservice = false;
	r.has_sign_message = true;
	assert_false(idp_session_reusable(&s, &r, NULL, 2000, 3600, &why));
	r.has_sign_message = false;
	/* 60 minutes since the card, whatever is configured */
	assert_false(idp_session_reusable(&s, &r, NULL, 1000 + 3600, 7200, &why));
	assert_false(idp_session_reusable(&s, &r, NULL, 1000 + 600, 300, &why));
	/* another LoA */
	r.chosen_loa = (char *)"http://id.swedenconnect.se/loa/1.0/loa4-nonresident";
	assert_false(idp_session_reusable(&s, &r, NULL, 2000, 3600, &why));
	r.chosen_loa = (char *)"http://id.elegnamnden.se/loa/1.0/loa4";
	/* WebSSO session, HoK request */
	r.hok = true;
	assert_false(idp_session_reusable(&s, &r, c1, 2000, 3600, &why));
	/* HoK session: the same certificate only */
	s.hok = true;
	assert_true(idp_session_reusable(&s, &r, c1, 2000, 3600, &why));
	assert_false(idp_session_reusable(&s, &r, c2, 2000, 3600, &why));
	assert_false(idp_session_reusable(&s, &r, NULL, 2000, 3600, &why));
	/* HoK session, WebSSO request */
	r.hok = false;
	assert_false(idp_session_reusable(&s, &r, NULL, 2000, 3600, &why));
	X509_free(c1);
	X509_free(c2);
}

static void test_tx_json(void **state)
{
	(void)state;
	char *names[] = { (char *)"urn:oid:1.2.752.29.4.13" }, *values[] = { (char *)"195006262546" };
	char *loas[] = { (char *)"http://id.elegnamnden.se/loa/1.0/loa4" };
	struct idp_authn_request r = {
		.id = (char *)"_abc", .issuer = (char *)"https://sp.example.se", .acs_url = (char *)"https://sp/acs",
		.relay_state = (char *)"rs\"<>", .force_authn = true, .requested_loa = loas, .n_requested_loa = 1,
		.chosen_loa = loas[0], .has_sign_message = true, .sign_message = (char *)"Skriv under ✓",
		.sign_message_mime = IDP_SIGMSG_MARKDOWN, .principal_attr_names = names, .principal_attr_values = values,
		.n_principal = 1, .is_sigservice = true, .issue_instant = 12345,
	};
	char *json = NULL;
	efos_err e = { 0 };
	assert_int_equal(idp_login_tx_request_to_json(&r, &json, &e), 0);
	struct idp_authn_request b;
	assert_int_equal(idp_login_tx_request_from_json(json, &b, &e), 0);
	assert_string_equal(b.id, "_abc");
	assert_string_equal(b.relay_state, "rs\"<>");
	assert_true(b.force_authn);
	assert_false(b.is_passive);
	assert_int_equal(b.n_principal, 1);
	assert_string_equal(b.principal_attr_values[0], "195006262546");
	assert_string_equal(b.sign_message, "Skriv under ✓");
	assert_int_equal(b.sign_message_mime, IDP_SIGMSG_MARKDOWN);
	assert_int_equal(b.issue_instant, 12345);
	assert_null(b.sp);
	idp_authn_request_free(&b);
	free(json);
	assert_int_not_equal(idp_login_tx_request_from_json("{\"id\":1}", &b, &e), 0);

	struct idp_affiliation af = { (char *)"vlindman@2021000001", (char *)"2021000001", (char *)"Demo" };
	X509 *c = make_cert();
	struct idp_subject s = { .person_id = 7, .pnr = (char *)"195006262546", .display_name = (char *)"Valfrid Lindeman",
				 .affiliations = &af, .n_affiliations = 1, .card_cert = c, .authn_instant = 99,
				 .loa = (char *)"http://id.elegnamnden.se/loa/1.0/loa4", .client_address = (char *)"127.0.0.1" };
	assert_int_equal(idp_login_tx_subject_to_json(&s, &json, &e), 0);
	struct idp_subject t;
	assert_int_equal(idp_login_tx_subject_from_json(json, &t, &e), 0);
	assert_int_equal(t.person_id, 7);
	assert_string_equal(t.affiliations[0].org_affiliation, "vlindman@2021000001");
	assert_int_equal(X509_cmp(t.card_cert, c), 0);
	assert_int_equal(t.authn_instant, 99);
	idp_subject_free(&t);
	free(json);
	X509_free(c);
}

static void test_ids(void **state)
{
	(void)state;
	char a[65], b[65];
	efos_err e = { 0 };
	assert_int_equal(idp_random_hex(a, 32, &e), 0);
	assert_int_equal(idp_random_hex(b, 32, &e), 0);
	assert_true(idp_is_hex64(a));
	assert_string_not_equal(a, b);
	assert_false(idp_is_hex64("zz"));
	assert_true(idp_str_ct_equal(a, a));
	assert_false(idp_str_ct_equal(a, b));
	assert_false(idp_str_ct_equal(a, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_html_whitelist),
		cmocka_unit_test(test_session_reuse_rules),
		cmocka_unit_test(test_tx_json),
		cmocka_unit_test(test_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
