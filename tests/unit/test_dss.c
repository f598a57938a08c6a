/* signer/dss_request + signer/dss_response: SignRequests built and signed here (SoftHSM keys
 * through hsm_xmldsig_sign_enveloped, URI="") are accepted with every field read, or refused with the
 * DSS result of docs/signing-service.md "SignRequest checks"; unauthenticated ones (unsigned or
 * signed by another key, for a registered requester and return URL: security-violation, flagged);
 * untrusted ones (unsigned, another
 * key, unknown requester, unregistered return URL, signature not last, wrapped) give -1.
 * SignResponses validate against the DSS core + EidCentralSigDssExt schemas (xmllint,
 * tests/schemas/dss-efos.xsd), verify with core/xml's strict verifier and `xmlsec1 --verify`,
 * and error responses carry no chain, SignerAssertionInfo or SignatureObject. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <libxml/parser.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "core/xml.h"
#include "hsm/bridge.h"
#include "signer/dss_request.h"
#include "signer/dss_response.h"
#include "signer/dss_xml.h"
#include "test_fs_common.h"
#include "test_hsm_common.h"

#define NOW ((time_t)1790000000)
#define SERVICE "https://sign.efos.se/sign"
#define REQUESTER "https://app.agency.se/sp"
#define RETURN_URL "https://app.agency.se/sign/response"
#define IDP "https://idp.efos.se/idp"
#define GOOD_ID "f3b1c9e4-6a2d-4c8e-9b7a-0d5e2f1a8c36"
#define LOA4 "http://id.elegnamnden.se/loa/1.0/loa4"

static struct hsm *H;
static struct hsm_key *KREQ, *KOTHER, *KSVC, *KSVC_EC;
static X509 *SVC_CERT, *SVC_CERT_EC;
static char *SVC_CERT_B64, *SVC_CERT_EC_B64;
static char tmpdir[256];

/* ---- fixtures ------------------------------------------------------------------------------ */

static int setup(void **state)
{
	xmlInitParser();
	H = test_hsm_open(2);
	KREQ = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "dss-requester");
	KOTHER = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "dss-other");
	KSVC = test_session_key(H, HSM_KEY_RSA, 2048, "dss-service");
	KSVC_EC = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "dss-service-ec");
	SVC_CERT = test_hsm_self_signed(KSVC, "EFOS signing service");
	SVC_CERT_EC = test_hsm_self_signed(KSVC_EC, "EFOS signing service EC");
	SVC_CERT_B64 = test_cert_b64(SVC_CERT);
	SVC_CERT_EC_B64 = test_cert_b64(SVC_CERT_EC);
	test_tmpdir_make(tmpdir, sizeof tmpdir, "efos-dss");
	return 0;
}

static int teardown(void **state)
{
	if (test_tmpdir_remove(tmpdir) != 0)
		return -1;
	free(SVC_CERT_B64);
	free(SVC_CERT_EC_B64);
	X509_free(SVC_CERT);
	X509_free(SVC_CERT_EC);
	hsm_key_free(KREQ);
	hsm_key_free(KOTHER);
	hsm_key_free(KSVC);
	hsm_key_free(KSVC_EC);
	hsm_close(H);
	return 0;
}

static int lookup(void *arg, const char *entity_id, struct dss_requester *out)
{
	static EVP_PKEY *keys[1];
	static const char *const urls[] = { "https://app.agency.se/other", RETURN_URL };
	if (strcmp(entity_id, REQUESTER) != 0)
		return -1;
	keys[0] = hsm_key_public(KREQ);
	out->keys = keys;
	out->n_keys = 1;
	out->return_urls = urls;
	out->n_return_urls = 2;
	return 0;
}

static struct dss_intake_opts opts(void)
{
	return (struct dss_intake_opts){ .own_entity_id = SERVICE, .lookup = lookup, .now = NOW };
}

/* ---- building requests --------------------------------------------------------------------- */

/* The parts of a request a test changes; NULL fields take the defaults of a good request. */
struct req {
	const char *profile, *request_id, *version, *requester, *service, *audience, *idp;
	long age;                      /* seconds before NOW */
	const char *conditions_attrs;  /* extra attributes of saml:Conditions */
	const char *after_service;     /* RequestedSignatureAlgorithm ... SignMessage */
	const char *tasks;             /* the SignTaskData elements */
	bool unsigned_;
	struct hsm_key *key;
};

#define TBS_XML_B64 "PGRzOlNpZ25lZEluZm8geG1sbnM6ZHM9Imh0dHA6Ly93d3cudzMub3JnLzIwMDAvMDkveG1sZHNpZyMiPjwvZHM6U2lnbmVkSW5mbz4="
#define TBS_CMS_B64 "MQswCQYDVQQGEwJTRQ=="   /* a DER SET */
#define TASK_XML "<csig:SignTaskData SignTaskId=\"t1\" SigType=\"XML\" AdESType=\"BES\"><csig:ToBeSignedBytes>" TBS_XML_B64 \
		 "</csig:ToBeSignedBytes><csig:AdESObject><csig:SignatureId>sig-1</csig:SignatureId>" \
		 "<csig:AdESObjectBytes>PGRzOk9iamVjdC8+</csig:AdESObjectBytes></csig:AdESObject></csig:SignTaskData>"
#define TASK_PDF "<csig:SignTaskData SignTaskId=\"t2\" SigType=\"PDF\"><csig:ToBeSignedBytes>" TBS_CMS_B64 \
		 "</csig:ToBeSignedBytes></csig:SignTaskData>"
#define MSG_B64 "SGVqIMOlw6TDtg==" /* "Hej åäö" */
#define GOOD_EXTRA                                                                                               \
	"<csig:RequestedSignatureAlgorithm>http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256</csig:RequestedSignatureAlgorithm>" \
	"<csig:CertRequestProperties CertType=\"QC/SSCD\">"                                                      \
	"<saml:AuthnContextClassRef>" LOA4 "</saml:AuthnContextClassRef>"                                         \
	"<saml:AuthnContextClassRef>http://id.swedenconnect.se/loa/1.0/uncertified-loa3</saml:AuthnContextClassRef>" \
	"<csig:RequestedCertAttributes>"                                                                          \
	"<csig:RequestedCertAttribute CertAttributeRef=\"2.5.4.5\" FriendlyName=\"serialNumber\" Required=\"true\">" \
	"<csig:SamlAttributeName>urn:oid:1.2.752.29.4.13</csig:SamlAttributeName></csig:RequestedCertAttribute>" \
	"<csig:RequestedCertAttribute CertAttributeRef=\"2.5.4.3\" CertNameType=\"rdn\">"                      \
	"<csig:SamlAttributeName Order=\"1\">urn:oid:2.5.4.3</csig:SamlAttributeName>"                         \
	"<csig:SamlAttributeName>urn:oid:2.16.840.1.113730.3.1.241</csig:SamlAttributeName></csig:RequestedCertAttribute>" \
	"<csig:RequestedCertAttribute CertAttributeRef=\"2.5.4.6\" DefaultValue=\"SE\" Required=\"true\"/>"     \
	"</csig:RequestedCertAttributes></csig:CertRequestProperties>"                                           \
	"<csig:SignMessage MustShow=\"true\" DisplayEntity=\"" IDP "\" MimeType=\"text\">"                        \
	"<csig:Message>" MSG_B64 "</csig:Message></csig:SignMessage>"

static char *request_xml(const struct req *q)
{
	char when[32], *xml = NULL;
	dss_format_datetime(NOW - q->age, when, sizeof when);
	char version[64] = "";
	const char *v = q->version ? q->version : "1.5";
	if (strcmp(v, "-") != 0)
		snprintf(version, sizeof version, " Version=\"%s\"", v);
	int n = asprintf(&xml,
		"<dss:SignRequest xmlns:dss=\"urn:oasis:names:tc:dss:1.0:core:schema\" "
		"xmlns:csig=\"http://id.elegnamnden.se/csig/1.1/dss-ext/ns\" "
		"xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" Profile=\"%s\" RequestID=\"%s\">"
		"<dss:OptionalInputs><csig:SignRequestExtension%s>"
		"<csig:RequestTime>%s</csig:RequestTime>"
		"<saml:Conditions%s><saml:AudienceRestriction><saml:Audience>%s</saml:Audience></saml:AudienceRestriction></saml:Conditions>"
		"<csig:Signer><saml:Attribute Name=\"urn:oid:1.2.752.29.4.13\" FriendlyName=\"personalIdentityNumber\">"
		"<saml:AttributeValue>197001011234</saml:AttributeValue></saml:Attribute></csig:Signer>"
		"<csig:IdentityProvider Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:entity\">%s</csig:IdentityProvider>"
		"<csig:SignRequester Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:entity\">%s</csig:SignRequester>"
		"<csig:SignService Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:entity\">%s</csig:SignService>"
		"%s</csig:SignRequestExtension></dss:OptionalInputs>"
		"<dss:InputDocuments><dss:Other><csig:SignTasks>%s</csig:SignTasks></dss:Other></dss:InputDocuments>"
		"</dss:SignRequest>",
		q->profile ? q->profile : DSS_PROFILE, q->request_id ? q->request_id : GOOD_ID, version, when,
		q->conditions_attrs ? q->conditions_attrs : "", q->audience ? q->audience : RETURN_URL,
		q->idp ? q->idp : IDP, q->requester ? q->requester : REQUESTER, q->service ? q->service : SERVICE,
		q->after_service ? q->after_service : GOOD_EXTRA, q->tasks ? q->tasks : TASK_XML TASK_PDF);
	assert_true(n > 0);
	return xml;
}

/* The request, signed by q->key (default the requester's) as the last child of OptionalInputs. */
static char *signed_request(const struct req *q)
{
	char *xml = request_xml(q);
	if (q->unsigned_)
		return xml;
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	free(xml);
	xmlNodePtr oi = xmlDocGetRootElement(doc)->children;
	/* as a Signature Requestor signs: URI="", last child of OptionalInputs */
	struct hsm_xmldsig_enveloped t = { .target = oi,
					   .sig_alg = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
					   .digest_alg = "http://www.w3.org/2001/04/xmlenc#sha256" };
	efos_err e = { 0 };
	if (hsm_xmldsig_sign_enveloped(&t, q->key ? q->key : KREQ, &e) != 0)
		fail_msg("signing the request: %s", e.msg);
	xmlChar *mem = NULL;
	int len = 0;
	xmlDocDumpMemory(doc, &mem, &len);
	xml = strndup((const char *)mem, (size_t)len);
	xmlFree(mem);
	xmlFreeDoc(doc);
	return xml;
}

/* Replaces the first `from` in s (which must be there) by `to`. */
static char *replace(char *s, const char *from, const char *to)
{
	char *p = strstr(s, from);
	assert_non_null(p);
	char *out = NULL;
	assert_true(asprintf(&out, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from)) > 0);
	free(s);
	return out;
}

static int parse(const char *xml, struct dss_intake_opts *o, struct dss_sign_request **r, struct dss_result *res,
		 efos_err *e)
{
	struct dss_intake_opts def = opts();
	return dss_request_parse(xml, strlen(xml), o ? o : &def, r, res, e);
}

/* A request refused with (major, minor) whose message contains `needle`. */
static void expect_refused(const struct req *q, struct dss_intake_opts *o, const char *major, const char *minor,
			   const char *needle)
{
	char *xml = signed_request(q);
	struct dss_sign_request *r = NULL;
	struct dss_result res;
	efos_err e = { 0 };
	int rc = parse(xml, o, &r, &res, &e);
	if (rc != DSS_INTAKE_REFUSED)
		fail_msg("expected a refusal (%s), got %d: %s", needle, rc, e.msg);
	assert_non_null(r);
	assert_string_equal(res.major, major);
	assert_non_null(res.minor);
	assert_string_equal(res.minor, minor);
	if (strstr(res.message, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", res.message, needle);
	/* what the error SignResponse needs */
	assert_non_null(r->request_id);
	assert_non_null(r->version);
	assert_string_equal(r->return_url, RETURN_URL);
	assert_string_equal(r->requester, REQUESTER);
	dss_request_free(r);
	free(xml);
}

static void expect_untrusted_xml(const char *xml, const char *needle)
{
	struct dss_sign_request *r = (void *)1;
	struct dss_result res;
	efos_err e = { 0 };
	int rc = parse(xml, NULL, &r, &res, &e);
	if (rc != -1)
		fail_msg("expected untrusted (%s), got %d", needle, rc);
	assert_null(r);
	assert_string_equal(res.major, DSS_MAJOR_REQUESTER);
	if (strstr(e.msg, needle) == NULL && strstr(res.message, needle) == NULL)
		fail_msg("error \"%s\" / \"%s\" lacks \"%s\"", e.msg, res.message, needle);
}

/* Not authentic, but in the name of a registered requester and to one of its return URLs: the
 * security-violation refusal may be posted there, flagged unauthenticated (nothing of it is the
 * requester's: no RequestID is taken). */
static void expect_unauthenticated_xml(const char *xml, const char *needle)
{
	struct dss_sign_request *r = NULL;
	struct dss_result res;
	efos_err e = { 0 };
	int rc = parse(xml, NULL, &r, &res, &e);
	if (rc != DSS_INTAKE_REFUSED)
		fail_msg("expected an unauthenticated refusal (%s), got %d: %s", needle, rc, e.msg);
	assert_non_null(r);
	assert_true(r->unauthenticated);
	assert_string_equal(res.major, DSS_MAJOR_REQUESTER);
	assert_non_null(res.minor);
	assert_string_equal(res.minor, DSS_MINOR_SECURITY_VIOLATION);
	assert_string_equal(r->return_url, RETURN_URL);
	assert_non_null(r->request_id);
	if (strstr(res.message, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", res.message, needle);
	dss_request_free(r);
}

static void expect_unauthenticated(const struct req *q, const char *needle)
{
	char *xml = signed_request(q);
	expect_unauthenticated_xml(xml, needle);
	free(xml);
}

static void expect_untrusted(const struct req *q, const char *needle)
{
	char *xml = signed_request(q);
	expect_untrusted_xml(xml, needle);
	free(xml);
}

/* ---- intake: accepted ---------------------------------------------------------------------- */

static void test_accepted(void **state)
{
	struct req q = { .age = 30 };
	char *xml = signed_request(&q);
	struct dss_sign_request *r = NULL;
	struct dss_result res;
	efos_err e = { 0 };
	int rc = parse(xml, NULL, &r, &res, &e);
	if (rc != 0)
		fail_msg("refused: %d %s / %s", rc, e.msg, res.message);
	assert_string_equal(res.major, DSS_MAJOR_SUCCESS);
	assert_string_equal(r->request_id, GOOD_ID);
	assert_string_equal(r->version, "1.5");
	assert_int_equal(r->request_time, NOW - 30);
	assert_string_equal(r->return_url, RETURN_URL);
	assert_string_equal(r->requester, REQUESTER);
	assert_string_equal(r->sign_service, SERVICE);
	assert_string_equal(r->idp, IDP);
	assert_null(r->authn_profile);
	assert_string_equal(r->sig_alg, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256");
	assert_int_equal(r->n_signer, 1);
	assert_string_equal(r->signer[0].name, "urn:oid:1.2.752.29.4.13");
	assert_string_equal(r->signer[0].friendly_name, "personalIdentityNumber");
	assert_int_equal(r->signer[0].n_values, 1);
	assert_string_equal(r->signer[0].values[0], "197001011234");
	assert_string_equal(r->cert_type, "QC/SSCD");
	assert_int_equal(r->n_loas, 2);
	assert_string_equal(r->loas[0], LOA4);
	assert_int_equal(r->n_cert_attrs, 3);
	assert_string_equal(r->cert_attrs[0].ref, "2.5.4.5");
	assert_true(r->cert_attrs[0].required);
	assert_int_equal(r->cert_attrs[0].type, DSS_NAME_RDN);
	assert_int_equal(r->cert_attrs[1].n_sources, 2);
	assert_int_equal(r->cert_attrs[1].sources[0].order, 1);
	assert_string_equal(r->cert_attrs[1].sources[1].name, "urn:oid:2.16.840.1.113730.3.1.241");
	assert_int_equal(r->cert_attrs[1].sources[1].order, 0);
	assert_string_equal(r->cert_attrs[2].default_value, "SE");
	assert_int_equal(r->cert_attrs[2].n_sources, 0);
	/* the SignMessage, standalone with its namespace, and its decoded text */
	assert_true(r->sign_message_must_show);
	assert_string_equal(r->sign_message_display_entity, IDP);
	assert_non_null(r->sign_message_xml);
	assert_non_null(strstr(r->sign_message_xml, "xmlns:csig=\"http://id.elegnamnden.se/csig/1.1/dss-ext/ns\""));
	assert_true(strncmp(r->sign_message_xml, "<csig:SignMessage", 17) == 0);
	xmlDocPtr smd = NULL;
	assert_int_equal(xml_parse_untrusted(r->sign_message_xml, strlen(r->sign_message_xml), NULL, &smd, &e), 0);
	xmlFreeDoc(smd);
	assert_int_equal(r->sign_message_text_len, strlen("Hej åäö"));
	assert_memory_equal(r->sign_message_text, "Hej åäö", r->sign_message_text_len);
	/* the tasks */
	assert_int_equal(r->n_tasks, 2);
	assert_string_equal(r->tasks[0].id, "t1");
	assert_int_equal(r->tasks[0].sig_type, DSS_SIG_XML);
	assert_int_equal(r->tasks[0].ades_type, DSS_ADES_BES);
	assert_true(r->tasks[0].tbs_len > 10 && memcmp(r->tasks[0].tbs, "<ds:SignedInfo", 14) == 0);
	assert_string_equal(r->tasks[0].signature_id, "sig-1");
	assert_int_equal(r->tasks[0].ades_object_len, strlen("<ds:Object/>"));
	assert_int_equal(r->tasks[1].sig_type, DSS_SIG_PDF);
	assert_int_equal(r->tasks[1].ades_type, DSS_ADES_NONE);
	assert_int_equal(r->tasks[1].tbs[0], 0x31);
	assert_null(r->tasks[1].ades_object);
	dss_request_free(r);
	free(xml);
}

/* Version absent (1.1), no optional parts: defaults. */
static void test_accepted_minimal(void **state)
{
	struct req q = { .version = "-", .after_service = "", .tasks = TASK_PDF };
	char *xml = signed_request(&q);
	struct dss_sign_request *r = NULL;
	struct dss_result res;
	efos_err e = { 0 };
	assert_int_equal(parse(xml, NULL, &r, &res, &e), 0);
	assert_string_equal(r->version, "1.1");
	assert_string_equal(r->sig_alg, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
	assert_string_equal(r->cert_type, "PKC");
	assert_int_equal(r->n_loas, 0);
	assert_null(r->sign_message_xml);
	assert_int_equal(r->n_tasks, 1);
	dss_request_free(r);
	free(xml);
}

/* ---- intake: refused (authentic, answered with an error SignResponse) ------------------------- */

static void test_refused_profile_id_version(void **state)
{
	struct req q = { .profile = "urn:oasis:names:tc:dss:1.0:profiles:XSS" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "Profile");
	q = (struct req){ .request_id = "a1b2c3d4e5f6" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "RequestID");
	q = (struct req){ .request_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "RequestID");
	q = (struct req){ .request_id = "1234567890123456789012345678901234567890123" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "RequestID");
	q = (struct req){ .version = "2.0" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "Version 2.0");
	/* more than one LoA needs 1.4 */
	q = (struct req){ .version = "1.2" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "1.4");
}

static void test_request_id_heuristic(void **state)
{
	assert_true(dss_request_id_acceptable(GOOD_ID));
	assert_true(dss_request_id_acceptable("_4f1c2a9b8e7d6c5b4a3f2e1d0c9b8a7f6"));     /* 128-bit hex with _ */
	assert_true(dss_request_id_acceptable("Zx9Qw3Er7Ty1Ui5Op2As6D"));                   /* 22 base62 */
	assert_false(dss_request_id_acceptable("Zx9Qw3Er7Ty1Ui5Op2As"));                    /* too short */
	assert_false(dss_request_id_acceptable("4f1c2a9b8e7d6c5b4a3f2e1d0c9b8a"));          /* hex, 120 bits */
	assert_false(dss_request_id_acceptable("12345678901234567890123456"));             /* digits, 86 bits */
	assert_false(dss_request_id_acceptable("abcdefghijklmnopqrstuvwxyzABCDEF"));        /* counting */
	assert_false(dss_request_id_acceptable("Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_Ab3_"));        /* repeated */
	assert_false(dss_request_id_acceptable("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab")); /* one character */
	assert_false(dss_request_id_acceptable(NULL));
}

static void test_refused_time(void **state)
{
	struct req q = { .age = 400 };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_REQ_EXPIRED, "older than 180");
	q = (struct req){ .age = -300 };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_REQ_EXPIRED, "future");
	/* within max age + skew: accepted */
	q = (struct req){ .age = 200 };
	char *xml = signed_request(&q);
	struct dss_sign_request *r = NULL;
	struct dss_result res;
	efos_err e = { 0 };
	assert_int_equal(parse(xml, NULL, &r, &res, &e), 0);
	dss_request_free(r);
	free(xml);
	/* a configured max age */
	struct dss_intake_opts o = opts();
	o.max_age_s = 60;
	o.skew_s = -1;
	q = (struct req){ .age = 61 };
	expect_refused(&q, &o, DSS_MAJOR_REQUESTER, DSS_MINOR_REQ_EXPIRED, "older than 60");
	/* Conditions honoured */
	q = (struct req){ .conditions_attrs = " NotOnOrAfter=\"2026-09-21T00:00:00Z\"" };   /* < NOW */
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_REQ_EXPIRED, "NotOnOrAfter");
	q = (struct req){ .conditions_attrs = " NotBefore=\"2027-01-01T00:00:00Z\"" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_REQ_EXPIRED, "NotBefore");
	q = (struct req){ .conditions_attrs = " NotBefore=\"yesterday\"" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "NotBefore");
}

static void test_refused_parties(void **state)
{
	struct req q = { .service = "https://other.sign.se/sign" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "another signing service");
	q = (struct req){ .idp = "not a uri" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "IdentityProvider");
	q = (struct req){ .after_service = "<csig:RequestedSignatureAlgorithm>http://www.w3.org/2000/09/xmldsig#rsa-sha1"
					   "</csig:RequestedSignatureAlgorithm>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "signature algorithm");
	q = (struct req){ .after_service = "<csig:CertRequestProperties CertType=\"XYZ\"/>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "CertType");
	q = (struct req){ .after_service = "<csig:CertRequestProperties CertType=\"QC/SSCD\"/>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "requires a csig:SignMessage");
	q = (struct req){ .after_service = "<csig:CertRequestProperties><csig:RequestedCertAttributes>"
					   "<csig:RequestedCertAttribute CertAttributeRef=\"2.5.4.5\"/>"
					   "</csig:RequestedCertAttributes></csig:CertRequestProperties>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "no SAML attribute");
}

static void test_refused_sign_message(void **state)
{
	struct req q = { .after_service = "<csig:SignMessage><csig:Message>not base64!</csig:Message></csig:SignMessage>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "base64");
	q = (struct req){ .after_service = "<csig:SignMessage MimeType=\"application/pdf\"><csig:Message>" MSG_B64
					   "</csig:Message></csig:SignMessage>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "MimeType");
	q = (struct req){ .after_service = "<csig:SignMessage><csig:Message>" MSG_B64 "</csig:Message><csig:Message>" MSG_B64
					   "</csig:Message></csig:SignMessage>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "exactly one");
	q = (struct req){ .after_service = "<csig:SignMessage><csig:EncryptedMessage><xenc:EncryptedData "
					   "xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"><xenc:CipherData><xenc:CipherValue>AAAA"
					   "</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></csig:EncryptedMessage></csig:SignMessage>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "DisplayEntity");
	q = (struct req){ .after_service = "<csig:SignMessage MustShow=\"yes\"><csig:Message>" MSG_B64
					   "</csig:Message></csig:SignMessage>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "MustShow");
}

static void test_refused_tasks(void **state)
{
	struct req q = { .tasks = "<csig:SignTaskData SigType=\"ASiC\"><csig:ToBeSignedBytes>" TBS_CMS_B64
				  "</csig:ToBeSignedBytes></csig:SignTaskData>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "SigType ASiC");
	q = (struct req){ .tasks = "<csig:SignTaskData SigType=\"CMS\" ProcessingRules=\"urn:example:rules\">"
				   "<csig:ToBeSignedBytes>" TBS_CMS_B64 "</csig:ToBeSignedBytes></csig:SignTaskData>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "ProcessingRules");
	q = (struct req){ .tasks = TASK_PDF TASK_PDF };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "used twice");
	q = (struct req){ .tasks = "<csig:SignTaskData SigType=\"CMS\"/>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "ToBeSignedBytes");
	q = (struct req){ .tasks = "<csig:SignTaskData SigType=\"CMS\"><csig:ToBeSignedBytes>" TBS_XML_B64
				   "</csig:ToBeSignedBytes></csig:SignTaskData>" };
	expect_refused(&q, NULL, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "SignedAttributes");
	struct dss_intake_opts o = opts();
	o.max_tasks = 1;
	q = (struct req){ 0 };
	expect_refused(&q, &o, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "More than 1 sign tasks");
}

/* ---- intake: untrusted (error page only) -------------------------------------------------- */

static void test_untrusted(void **state)
{
	struct req q = { .audience = "https://evil.example/collect" };
	expect_untrusted(&q, "not registered");
	q = (struct req){ .requester = "https://unknown.example/sp" };
	expect_untrusted(&q, "not registered");
	q = (struct req){ .unsigned_ = true };
	expect_unauthenticated(&q, "not signed");
	q = (struct req){ .key = KOTHER };
	expect_unauthenticated(&q, "signature is not valid");
	/* unsigned and to an unregistered URL: nobody to answer */
	q = (struct req){ .unsigned_ = true, .audience = "https://evil.example/collect" };
	expect_untrusted(&q, "not registered");
	expect_untrusted_xml("not xml", "XML");
	expect_untrusted_xml("<a/>", "not a dss:SignRequest");
}

static void test_untrusted_tampered(void **state)
{
	struct req q = { 0 };
	/* content changed after signing */
	char *xml = replace(signed_request(&q), TBS_CMS_B64, "MQswCQYDVQQGEwJOTw==");
	expect_unauthenticated_xml(xml, "signature is not valid");
	free(xml);
	/* the signature not last in OptionalInputs */
	xml = replace(signed_request(&q), "</dss:OptionalInputs>", "<dss:AdditionalProfile>urn:x</dss:AdditionalProfile></dss:OptionalInputs>");
	expect_untrusted_xml(xml, "last child");
	free(xml);
	/* XSW: the signed request wrapped inside an attacker's, which points elsewhere */
	char *orig = signed_request(&q);
	char *body = strstr(orig, "<dss:SignRequest");
	assert_non_null(body);
	struct req evil = { .audience = RETURN_URL, .unsigned_ = true };
	char *outer = request_xml(&evil);
	char *sig = strstr(orig, "<ds:Signature");
	char *end = strstr(orig, "</ds:Signature>");
	assert_non_null(sig);
	assert_non_null(end);
	int siglen = (int)(end + strlen("</ds:Signature>") - sig);
	char *wrapped = NULL;
	assert_true(asprintf(&wrapped, "<csig:OtherRequestInfo>%s</csig:OtherRequestInfo></csig:SignRequestExtension>%.*s",
			     body, siglen, sig) > 0);
	outer = replace(outer, "</csig:SignRequestExtension>", wrapped);
	char *moved = NULL;
	expect_untrusted_xml(outer, "second dss:SignRequest");
	free(wrapped);
	free(outer);
	/* the signature of the original moved into the attacker's request */
	struct req evil2 = { .tasks = "<csig:SignTaskData SigType=\"CMS\"><csig:ToBeSignedBytes>MQA=</csig:ToBeSignedBytes></csig:SignTaskData>",
			     .unsigned_ = true };
	outer = request_xml(&evil2);
	assert_true(asprintf(&moved, "%.*s</dss:OptionalInputs>", siglen, sig) > 0);
	outer = replace(outer, "</dss:OptionalInputs>", moved);
	expect_unauthenticated_xml(outer, "signature is not valid");
	free(moved);
	free(outer);
	/* a second ds:Signature hidden in OtherRequestInfo */
	xml = replace(signed_request(&q), "</csig:SignRequestExtension>",
		      "<csig:OtherRequestInfo><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></csig:OtherRequestInfo></csig:SignRequestExtension>");
	expect_untrusted_xml(xml, "ds:Signature inside");
	free(xml);
	/* an ID look-alike attribute */
	xml = replace(signed_request(&q), "<csig:SignTasks>", "<csig:SignTasks ID=\"x1\">");
	expect_unauthenticated_xml(xml, "signature is not valid");
	free(xml);
	free(orig);
}

/* ---- responses ----------------------------------------------------------------------------- */

static bool schema_valid(const char *file)
{
	return test_run("xmllint --nonet --noout --schema '%s/tests/schemas/dss-efos.xsd' '%s' >'%s/xmllint.log' 2>&1 "
		   "|| { grep -v 'Skipping import' '%s/xmllint.log' >&2; false; }",
		   getenv("EFOS_TOP") ? getenv("EFOS_TOP") : ".", file, tmpdir, tmpdir) == 0;
}

static bool xmlsec1_verifies(const char *file, X509 *cert)
{
	char pem[400];
	snprintf(pem, sizeof pem, "%s/svc.pem", tmpdir);
	FILE *f = fopen(pem, "w");
	PEM_write_X509(f, cert);
	fclose(f);
	return test_run("xmlsec1 --verify --trusted-pem '%s' '%s' >'%s/verify.log' 2>&1 || { cat '%s/verify.log' >&2; false; }",
		   pem, file, tmpdir, tmpdir) == 0;
}

/* Parses our own response and verifies it with the strict verifier (URI="", signature last in
 * OptionalOutputs). Returns the document (caller frees). */
static xmlDocPtr verify_inproc(const char *xml, size_t len, struct hsm_key *k)
{
	xmlDocPtr doc = NULL;
	efos_err e = { 0 };
	assert_int_equal(xml_parse_untrusted(xml, len, NULL, &doc, &e), 0);
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr oo = NULL, sig = NULL, last = NULL;
	for (xmlNodePtr c = root->children; c; c = c->next)
		if (dss_is_el(c, DSS_NS_DSS, "OptionalOutputs"))
			oo = c;
	assert_non_null(oo);
	for (xmlNodePtr c = oo->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			last = c;
	assert_true(dss_is_el(last, DSS_NS_DS, "Signature"));
	sig = last;
	assert_int_equal(xml_register_ids(doc, xml_id_rules_dss, xml_id_rules_dss_n, &e), 0);
	EVP_PKEY *pub = hsm_key_public(k);
	if (xml_dsig_verify_element(root, sig, &pub, 1, &xml_dsig_policy_dss, &e) != root)
		fail_msg("the SignResponse does not verify: %s", e.msg);
	return doc;
}

static struct dss_attr ATTRS[2];
static char *PNR[] = { "197001011234" };
static char *NAME[] = { "Åsa Tjänsteman" };

static void test_response_success(void **state)
{
	ATTRS[0] = (struct dss_attr){ .name = "urn:oid:1.2.752.29.4.13", .friendly_name = "personalIdentityNumber",
				      .values = PNR, .n_values = 1 };
	ATTRS[1] = (struct dss_attr){ .name = "urn:oid:2.16.840.1.113730.3.1.241", .values = NAME, .n_values = 1 };
	unsigned char tbs[] = { 0x31, 0x03, 0x02, 0x01, 0x05 };
	unsigned char sigv[64];
	memset(sigv, 0xab, sizeof sigv);
	struct dss_sign_task tasks[2] = {
		{ .id = "t1", .sig_type = DSS_SIG_XML, .ades_type = DSS_ADES_BES, .tbs = (unsigned char *)"<ds:SignedInfo/>",
		  .tbs_len = 16, .signature_id = "sig-1", .ades_object = (unsigned char *)"<ds:Object/>", .ades_object_len = 12,
		  .sig = sigv, .sig_len = sizeof sigv, .sig_alg_uri = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" },
		{ .id = "t2", .sig_type = DSS_SIG_PDF, .tbs = tbs, .tbs_len = sizeof tbs, .sig = sigv, .sig_len = sizeof sigv,
		  .sig_alg_uri = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" },
	};
	static const unsigned char assertion[] = "<saml:Assertion ID=\"_a1\"/>";
	struct dss_signer_info si = { .idp = IDP, .authn_instant = NOW - 20, .loa = LOA4, .service_id = SERVICE,
				      .assertion_id = "_a1", .attrs = ATTRS, .n_attrs = 2,
				      .assertion = assertion, .assertion_len = sizeof assertion - 1 };
	struct dss_result ok = { .major = DSS_MAJOR_SUCCESS };
	X509 *chain[2] = { SVC_CERT_EC, SVC_CERT };
	struct dss_response_params p = { .request_id = GOOD_ID, .version = "1.5", .result = &ok, .signer = &si,
					 .chain = chain, .n_chain = 2, .tasks = tasks, .n_tasks = 2, .now = NOW };
	for (int ec = 0; ec < 2; ec++) {
		struct dss_response_key k = { .key = ec ? KSVC_EC : KSVC, .cert_b64 = ec ? SVC_CERT_EC_B64 : SVC_CERT_B64 };
		char *xml = NULL;
		size_t len = 0;
		efos_err e = { 0 };
		if (dss_response_build_xml(&k, &p, &xml, &len, &e) != 0)
			fail_msg("build: %s", e.msg);
		char file[400];
		snprintf(file, sizeof file, "%s/resp-ok-%d.xml", tmpdir, ec);
		test_write_file(file, xml, len);
		assert_true(schema_valid(file));
		assert_true(xmlsec1_verifies(file, ec ? SVC_CERT_EC : SVC_CERT));
		xmlFreeDoc(verify_inproc(xml, len, k.key));
		assert_non_null(strstr(xml, ec ? "xmldsig-more#ecdsa-sha256" : "xmldsig-more#rsa-sha256"));
		assert_non_null(strstr(xml, "<csig:SignResponseExtension Version=\"1.5\">"));
		assert_non_null(strstr(xml, "<csig:ResponseTime>2026-09-21T"));
		assert_non_null(strstr(xml, "<csig:AssertionRef>_a1</csig:AssertionRef>"));
		assert_non_null(strstr(xml, "<csig:ServiceID>" SERVICE "</csig:ServiceID>"));
		assert_non_null(strstr(xml, "SignTaskId=\"t2\" SigType=\"PDF\" AdESType=\"None\""));
		assert_non_null(strstr(xml, "<csig:SignatureId>sig-1</csig:SignatureId>"));
		assert_non_null(strstr(xml, "<csig:ToBeSignedBytes>MQMCAQU=</csig:ToBeSignedBytes>"));
		assert_non_null(strstr(xml, "<csig:SignatureCertificateChain><csig:X509Certificate>"));
		/* the base64 form decodes to the same document */
		char *b64 = NULL;
		assert_int_equal(dss_response_build(&k, &p, &b64, &e), 0);
		unsigned char *dec = NULL;
		size_t dlen = 0;
		assert_int_equal(dss_b64_decode(b64, 1 << 20, &dec, &dlen), 0);
		assert_non_null(strstr((char *)dec, "<dss:SignResponse"));
		free(dec);
		free(b64);
		free(xml);
	}
	/* a success without what it needs is refused before signing */
	struct dss_response_key k = { .key = KSVC, .cert_b64 = SVC_CERT_B64 };
	char *xml = NULL;
	size_t len = 0;
	efos_err e = { 0 };
	p.n_chain = 0;
	assert_int_equal(dss_response_build_xml(&k, &p, &xml, &len, &e), -1);
	assert_non_null(strstr(e.msg, "chain"));
	p.n_chain = 2;
	tasks[1].sig = NULL;
	assert_int_equal(dss_response_build_xml(&k, &p, &xml, &len, &e), -1);
	assert_null(xml);
}

static void test_response_error(void **state)
{
	struct dss_result res = { .major = DSS_MAJOR_REQUESTER, .minor = DSS_MINOR_REQ_EXPIRED };
	snprintf(res.message, sizeof res.message, "The SignRequest is older than 180 s <&>");
	/* even when the caller passes success-only data, an error response carries none of it */
	X509 *chain[1] = { SVC_CERT };
	struct dss_response_params p = { .request_id = GOOD_ID, .version = "1.4", .result = &res, .chain = chain,
					 .n_chain = 1, .now = NOW };
	struct dss_response_key k = { .key = KSVC, .cert_b64 = SVC_CERT_B64 };
	char *xml = NULL;
	size_t len = 0;
	efos_err e = { 0 };
	if (dss_response_build_xml(&k, &p, &xml, &len, &e) != 0)
		fail_msg("build: %s", e.msg);
	char file[400];
	snprintf(file, sizeof file, "%s/resp-err.xml", tmpdir);
	test_write_file(file, xml, len);
	assert_true(schema_valid(file));
	assert_true(xmlsec1_verifies(file, SVC_CERT));
	xmlFreeDoc(verify_inproc(xml, len, KSVC));
	assert_non_null(strstr(xml, "<dss:ResultMinor>" DSS_MINOR_REQ_EXPIRED "</dss:ResultMinor>"));
	assert_non_null(strstr(xml, "<dss:ResultMessage xml:lang=\"en\">The SignRequest is older than 180 s &lt;&amp;&gt;"));
	assert_non_null(strstr(xml, "Version=\"1.4\""));
	assert_null(strstr(xml, "SignerAssertionInfo"));
	assert_null(strstr(xml, "SignatureCertificateChain"));
	assert_null(strstr(xml, "SignatureObject"));
	assert_null(strstr(xml, "SignTasks"));
	free(xml);
	/* a message cut inside a UTF-8 sequence loses the broken tail, not the response */
	memset(res.message, 'x', 254);
	res.message[254] = (char)0xc3;
	res.message[255] = '\0';
	assert_int_equal(dss_response_build_xml(&k, &p, &xml, &len, &e), 0);
	assert_non_null(strstr(xml, "xxxx</dss:ResultMessage>"));
	xmlFreeDoc(verify_inproc(xml, len, KSVC));
	free(xml);
}

static void test_post_form(void **state)
{
	char *page = dss_response_post_form("https://app.agency.se/sign/response?a=1&b=\"2\"", "PHg+", GOOD_ID, "n0nce");
	assert_non_null(page);
	assert_non_null(strstr(page, "action=\"https://app.agency.se/sign/response?a=1&amp;b=&quot;2&quot;\""));
	assert_non_null(strstr(page, "name=\"Binding\" value=\"POST/XML/1.0\""));
	assert_non_null(strstr(page, "name=\"RelayState\" value=\"" GOOD_ID "\""));
	assert_non_null(strstr(page, "name=\"EidSignResponse\" value=\"PHg+\""));
	assert_non_null(strstr(page, "<button type=\"submit\">"));
	assert_non_null(strstr(page, "<script nonce=\"n0nce\">document.forms[0].submit();</script>"));
	free(page);
	page = dss_response_post_form(RETURN_URL, "PHg+", NULL, NULL);
	assert_null(strstr(page, "<script"));
	assert_null(strstr(page, "RelayState"));
	free(page);
	assert_null(dss_response_post_form(NULL, "x", NULL, NULL));
}

/* Our own request (signed here) validates against the DSS schemas: the test data is real. */
static void test_request_schema_valid(void **state)
{
	struct req q = { 0 };
	char *xml = signed_request(&q);
	char file[400];
	snprintf(file, sizeof file, "%s/req.xml", tmpdir);
	test_write_file(file, xml, strlen(xml));
	assert_true(schema_valid(file));
	free(xml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_accepted_minimal),
		cmocka_unit_test(test_request_schema_valid),
		cmocka_unit_test(test_refused_profile_id_version),
		cmocka_unit_test(test_request_id_heuristic),
		cmocka_unit_test(test_refused_time),
		cmocka_unit_test(test_refused_parties),
		cmocka_unit_test(test_refused_sign_message),
		cmocka_unit_test(test_refused_tasks),
		cmocka_unit_test(test_untrusted),
		cmocka_unit_test(test_untrusted_tampered),
		cmocka_unit_test(test_response_success),
		cmocka_unit_test(test_response_error),
		cmocka_unit_test(test_post_form),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
