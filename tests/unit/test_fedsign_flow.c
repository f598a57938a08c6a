/* The decisions of the federated signing flow (signer/fedsign_check.h): IdP status -> DSS
 * result, the SAD policy, and the checks of an assertion against the SignRequest, including a
 * missing and a forged SAD (which an end-to-end test cannot produce: our IdP signs its SADs). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "signer/fedsign_check.h"

static char *pnr_vals[] = { "195006262546" };
static struct dss_attr pnr = { .name = "urn:oid:1.2.752.29.4.13", .values = pnr_vals, .n_values = 1 };
static char *other_vals[] = { "197001011234" };
static struct dss_attr other = { .name = "urn:oid:1.2.752.29.4.13", .values = other_vals, .n_values = 1 };

static void test_status_mapping(void **state)
{
	struct dss_result r;
	fedsign_result_from_status(&r, "1.5", "urn:oasis:names:tc:SAML:2.0:status:Responder", SP_STATUS_CANCEL);
	assert_string_equal(r.minor, DSS_MINOR_USER_CANCEL);
	fedsign_result_from_status(&r, "1.5", "x", SAML_STATUS_NO_AUTHN_CONTEXT);
	assert_string_equal(r.minor, DSS_MINOR_UNSUPPORTED_LOA);
	fedsign_result_from_status(&r, "1.5", "x", SAML_STATUS_UNKNOWN_PRINCIPAL);
	assert_string_equal(r.minor, DSS_MINOR_USER_MISMATCH);
	fedsign_result_from_status(&r, "1.5", "x", SAML_STATUS_FRAUD);
	assert_string_equal(r.minor, DSS_MINOR_SECURITY_VIOLATION);
	fedsign_result_from_status(&r, "1.4", "x", SAML_STATUS_POSSIBLE_FRAUD);
	assert_string_equal(r.minor, DSS_MINOR_GENERAL_ERROR);   /* before 1.5 */
	fedsign_result_from_status(&r, "1.5", "x", "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed");
	assert_string_equal(r.minor, DSS_MINOR_AUTHN_FAILED);
	fedsign_result_from_status(&r, NULL, "x", NULL);
	assert_string_equal(r.minor, DSS_MINOR_USER_MISMATCH);   /* no Version = 1.1 */
	assert_string_equal(r.major, DSS_MAJOR_RESPONDER);
}

static void test_sad_policy(void **state)
{
	struct dss_result r;
	struct sig_idp scal2 = { .scal2 = true }, plain = { .scal2 = false };
	struct dss_sign_request q = { .cert_type = "PKC", .sign_message_xml = "<csig:SignMessage/>" };
	assert_int_equal(fedsign_want_sad(FEDSIGN_SAD_WHEN_REQUIRED, &q, &scal2, &r), 1);
	assert_int_equal(fedsign_want_sad(FEDSIGN_SAD_WHEN_REQUIRED, &q, &plain, &r), 0);
	assert_int_equal(fedsign_want_sad(FEDSIGN_SAD_NEVER, &q, &scal2, &r), 0);
	q.sign_message_xml = NULL;
	assert_int_equal(fedsign_want_sad(FEDSIGN_SAD_WHEN_REQUIRED, &q, &scal2, &r), 0);
	assert_int_equal(fedsign_want_sad(FEDSIGN_SAD_ALWAYS, &q, &scal2, &r), 1);
	q.cert_type = "QC/SSCD";
	assert_int_equal(fedsign_want_sad(FEDSIGN_SAD_WHEN_REQUIRED, &q, &scal2, &r), -1);   /* no SignMessage */
	q.sign_message_xml = "<csig:SignMessage/>";
	assert_int_equal(fedsign_want_sad(FEDSIGN_SAD_WHEN_REQUIRED, &q, &plain, &r), -1);
	assert_string_equal(r.minor, DSS_MINOR_NOT_SUPPORTED);
	assert_int_equal(fedsign_want_sad(FEDSIGN_SAD_WHEN_REQUIRED, &q, &scal2, &r), 1);
}

static void test_assertion_checks(void **state)
{
	struct dss_result r;
	struct sig_idp idp = { .entity_id = "https://idp.example", .scal2 = true };
	struct dss_sign_request q = { .request_id = "r1", .version = "1.5", .signer = &pnr, .n_signer = 1, .n_tasks = 1 };
	struct sp_assertion a = { .attrs = &pnr, .n_attrs = 1, .issuer = "https://idp.example", .loa = "x" };
	struct fedsign_assertion_ctx x = { .sp_entity_id = "https://sig.example/sign" };
	assert_int_equal(fedsign_check_assertion(&q, &a, &idp, &x, &r), 0);
	/* another person than csig:Signer */
	a.attrs = &other;
	assert_int_equal(fedsign_check_assertion(&q, &a, &idp, &x, &r), -1);
	assert_string_equal(r.minor, DSS_MINOR_USER_MISMATCH);
	a.attrs = &pnr;
	/* MustShow without signMessageDigest */
	static unsigned char msg[] = "Jag skriver under.";
	q.sign_message_xml = "<csig:SignMessage/>";
	q.sign_message_must_show = true;
	q.sign_message_text = msg;
	q.sign_message_text_len = sizeof msg - 1;
	assert_int_equal(fedsign_check_assertion(&q, &a, &idp, &x, &r), -1);
	assert_string_equal(r.minor, DSS_MINOR_SIGMESSAGE_ERROR);
	/* a digest of another message */
	a.sign_message_digest = "http://www.w3.org/2001/04/xmlenc#sha256;47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
	assert_int_equal(fedsign_check_assertion(&q, &a, &idp, &x, &r), -1);
	assert_string_equal(r.minor, DSS_MINOR_SIGMESSAGE_ERROR);
	q.sign_message_xml = NULL;
	/* SAD requested but missing */
	x.sad_request_id = "_sad1";
	assert_int_equal(fedsign_check_assertion(&q, &a, &idp, &x, &r), -1);
	assert_string_equal(r.minor, DSS_MINOR_USER_MISMATCH);
	/* a forged SAD (not signed by the IdP's keys) */
	a.sad = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIn0.Zm9yZ2Vk";
	assert_int_equal(fedsign_check_assertion(&q, &a, &idp, &x, &r), -1);
	assert_string_equal(r.minor, DSS_MINOR_USER_MISMATCH);
	assert_non_null(strstr(r.message, "Signature Activation Data"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_mapping),
		cmocka_unit_test(test_sad_policy),
		cmocka_unit_test(test_assertion_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
