/* signer/signer_cert.c against the test HSM and PostgreSQL: the per-request signer certificate
 * carries serialNumber and the mapped names, the RFC 7773 extension decodes to a SAMLAuthContext
 * with the authentication's values and one AttributeMapping per assertion-sourced attribute
 * (defaults not listed), the profile's policies, QC statements for QC/SSCD, and chains to the
 * sign CA; the key is gone after signer_cert_destroy; a Required attribute without value and a
 * missing serialNumber source are refused with RequesterError; the sweep removes leftover
 * efos-sig-* keys. Each test runs in a rolled-back transaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/ec.h>
#include <openssl/x509v3.h>
#include "certs/issue.h"
#include "certs/profile.h"
#include "certs/service.h"
#include "core/db.h"
#include "hsm/bridge.h"
#include "signer/signer_cert.h"
#include "test_ca_common.h"

#define POLICY_SIGNER "2.25.123836948378678934782901549661384433962"
#define PNR "urn:oid:1.2.752.29.4.13"
#define ALG_RSA "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define ALG_EC "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"

static struct hsm *h;
static struct cert_profiles *profiles;
static PGconn *conn;

static struct test_ca root, sign;
static STACK_OF(X509) *ca_chain;   /* sign, root: what efosd builds once at start */
static struct cert_profile signer_profile;

static int group_setup(void **state)
{
	profiles = test_profiles_load();
	if (profiles == NULL || test_db_open(&conn) != 0)
		return -1;
	h = test_hsm_open(2);
	certs_set_audit_node("unit-test");
	xmlInitParser();
	return 0;
}

static int group_teardown(void **state)
{
	PQfinish(conn);
	hsm_close(h);
	cert_profiles_free(profiles);
	return 0;
}

static int setup(void **state)
{
	static int n;
	efos_err e = { 0 };
	if (db_begin(conn, &e) != 0)
		return -1;
	snprintf(root.name, sizeof root.name, "ut-sroot-%d-%d", (int)getpid() % 100000, n);
	snprintf(sign.name, sizeof sign.name, "ut-sign-%d-%d", (int)getpid() % 100000, n++);
	test_ca_make(conn, h, profiles, &root, "root-ca", NULL);
	test_ca_make(conn, h, profiles, &sign, "sign-ca", &root);
	signer_profile = *cert_profile_get(profiles, "signer");
	signer_profile.issuer = sign.name;
	ca_chain = sk_X509_new_null();
	if (ca_chain == NULL || !sk_X509_push(ca_chain, sign.ca.cert) || !sk_X509_push(ca_chain, root.ca.cert))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	sk_X509_free(ca_chain);
	ca_chain = NULL;
	db_rollback(conn);
	test_ca_free(&sign);
	test_ca_free(&root);
	return 0;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static char *v_pnr[] = { "197309069289" }, *v_given[] = { "Valfrid" }, *v_sn[] = { "Lindeman" },
	    *v_display[] = { "Valfrid <Lindeman> & Co" }, *v_o[] = { "Skatteverket" },
	    *v_aff[] = { "vlindman@2021005448" }, *v_mail[] = { "valfrid@example.se" };
static struct dss_attr assertion[] = {
	{ PNR, "personalIdentityNumber", v_pnr, 1 },
	{ "urn:oid:2.5.4.42", "givenName", v_given, 1 },
	{ "urn:oid:2.5.4.4", "sn", v_sn, 1 },
	{ "urn:oid:2.16.840.1.113730.3.1.241", "displayName", v_display, 1 },
	{ "urn:oid:2.5.4.10", "o", v_o, 1 },
	{ "urn:oid:1.2.752.201.3.1", "orgAffiliation", v_aff, 1 },
	{ "urn:oid:0.9.2342.19200300.100.1.3", "mail", v_mail, 1 },
};

static struct signer_cert_request make_req(const struct dss_sign_request *q, const struct dss_attr *attrs, size_t n)
{
	return (struct signer_cert_request){ .req = q, .attrs = attrs, .n_attrs = n,
					     .idp = "https://idp.efos.test/idp", .authn_instant = 1700000000,
					     .loa = "http://id.elegnamnden.se/loa/1.0/loa4",
					     .assertion_id = "_a1b2c3d4e5f6", .service_id = "https://sign.efos.test/sign",
					     .actor = "test", .ca_chain = ca_chain };
}

static const char *name_entry(X509 *x, int nid, char *buf, size_t cap)
{
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), nid, buf, (int)cap) < 0)
		return NULL;
	return buf;
}

static bool ext_has_oid(X509 *x, const char *ext_oid, const char *oid)
{
	ASN1_OBJECT *eo = OBJ_txt2obj(ext_oid, 1), *o = OBJ_txt2obj(oid, 1);
	int idx = X509_get_ext_by_OBJ(x, eo, -1);
	unsigned char *der = NULL;
	int n = i2d_ASN1_OBJECT(o, &der);
	bool found = false;
	if (idx >= 0) {
		const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(x, idx));
		found = memmem(ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os), der, (size_t)n) != NULL;
	}
	OPENSSL_free(der);
	ASN1_OBJECT_free(eo);
	ASN1_OBJECT_free(o);
	return found;
}

static void assert_chains(const struct signer_cert *sc)
{
	assert_int_equal(sk_X509_num(sc->chain), 2);
	assert_int_equal(X509_cmp(sk_X509_value(sc->chain, 0), sign.ca.cert), 0);
	assert_int_equal(X509_cmp(sk_X509_value(sc->chain, 1), root.ca.cert), 0);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, root.ca.cert);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	assert_true(X509_STORE_CTX_init(ctx, st, sc->cert, sc->chain));
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_add0_policy(vp, OBJ_txt2obj(POLICY_SIGNER, 1));
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_EXPLICIT_POLICY);
	int ok = X509_verify_cert(ctx);
	if (ok != 1)
		fail_msg("verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
}

/* The AttributeMapping elements of the saci XML: "Type Ref Name=value" lines. */
static void saci_check(X509 *x, const char *expect_mappings)
{
	efos_err e = { 0 };
	char *xml = signer_cert_auth_context_xml(x, &e);
	if (xml == NULL)
		fail_msg("auth context: %s", e.msg);
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	xmlNodePtr root_el = xmlDocGetRootElement(doc);
	assert_string_equal((const char *)root_el->name, "SAMLAuthContext");
	assert_string_equal((const char *)root_el->ns->href, "http://id.elegnamnden.se/auth-cont/1.0/saci");
	xmlNodePtr aci = xmlFirstElementChild(root_el), ida = xmlNextElementSibling(aci);
	assert_string_equal((const char *)aci->name, "AuthContextInfo");
	const char *want[][2] = { { "IdentityProvider", "https://idp.efos.test/idp" },
				  { "AuthenticationInstant", "2023-11-14T22:13:20Z" },
				  { "AuthnContextClassRef", "http://id.elegnamnden.se/loa/1.0/loa4" },
				  { "AssertionRef", "_a1b2c3d4e5f6" },
				  { "ServiceID", "https://sign.efos.test/sign" } };
	for (size_t i = 0; i < 5; i++) {
		xmlChar *v = xmlGetProp(aci, BAD_CAST want[i][0]);
		assert_non_null(v);
		assert_string_equal((const char *)v, want[i][1]);
		xmlFree(v);
	}
	char got[2048] = "";
	for (xmlNodePtr am = xmlFirstElementChild(ida); am; am = xmlNextElementSibling(am)) {
		xmlNodePtr a = xmlFirstElementChild(am), v = xmlFirstElementChild(a);
		xmlChar *t = xmlGetProp(am, BAD_CAST "Type"), *r = xmlGetProp(am, BAD_CAST "Ref"),
			*n = xmlGetProp(a, BAD_CAST "Name"), *c = xmlNodeGetContent(v);
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s %s %s=%s\n", t, r, n, c);
		xmlFree(t), xmlFree(r), xmlFree(n), xmlFree(c);
	}
	assert_string_equal(got, expect_mappings);
	xmlFreeDoc(doc);
	free(xml);
}

static void assert_key_gone(const char *label)
{
	char uri[200];
	snprintf(uri, sizeof uri, "pkcs11:object=%s", label);
	struct hsm_key *k = NULL;
	efos_err e = { 0 };
	assert_int_equal(hsm_key_find(h, uri, &k, &e), -1);
	assert_int_equal(e.code, EFOS_E_NOTFOUND);
}

/* Before it is destroyed the key is in the HSM (as a session object, not in the token's storage). */
static void assert_key_present(const char *label)
{
	char uri[200];
	snprintf(uri, sizeof uri, "pkcs11:object=%s", label);
	struct hsm_key *k = NULL;
	efos_err e = { 0 };
	if (hsm_key_find(h, uri, &k, &e) != 0)
		fail_msg("the new key %s is not in the HSM: %s", label, e.msg);
	hsm_key_free(k);
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_default_mapping_rsa(void **state)
{
	struct dss_sign_request q = { .sig_alg = ALG_RSA, .cert_type = "PKC" };
	struct signer_cert_request r = make_req(&q, assertion, sizeof assertion / sizeof assertion[0]);
	struct signer_cert sc;
	struct dss_result res = { 0 };
	efos_err e = { 0 };
	if (signer_cert_issue(conn, h, &sign.ca, &signer_profile, &r, &sc, &res, &e) != 0)
		fail_msg("issue: %s (%s)", e.msg, res.message);
	char buf[256];
	assert_string_equal(name_entry(sc.cert, NID_serialNumber, buf, sizeof buf), "197309069289");
	assert_string_equal(name_entry(sc.cert, NID_givenName, buf, sizeof buf), "Valfrid");
	assert_string_equal(name_entry(sc.cert, NID_surname, buf, sizeof buf), "Lindeman");
	assert_string_equal(name_entry(sc.cert, NID_commonName, buf, sizeof buf), "Valfrid <Lindeman> & Co");
	assert_string_equal(name_entry(sc.cert, NID_countryName, buf, sizeof buf), "SE");
	assert_string_equal(name_entry(sc.cert, NID_organizationName, buf, sizeof buf), "Skatteverket");
	assert_string_equal(name_entry(sc.cert, NID_organizationIdentifier, buf, sizeof buf), "2021005448");
	assert_int_equal(hsm_key_kind(sc.key), HSM_KEY_RSA);
	assert_int_equal(hsm_key_bits(sc.key), 2048);
	assert_true(X509_get_key_usage(sc.cert) & KU_NON_REPUDIATION);
	assert_true(X509_get_key_usage(sc.cert) & KU_DIGITAL_SIGNATURE);
	assert_true(ext_has_oid(sc.cert, "2.5.29.32", POLICY_SIGNER));
	assert_int_equal(X509_get_ext_by_NID(sc.cert, NID_qcStatements, -1), -1);
	GENERAL_NAMES *san = X509_get_ext_d2i(sc.cert, NID_subject_alt_name, NULL, NULL);
	assert_non_null(san);
	assert_int_equal(sk_GENERAL_NAME_value(san, 0)->type, GEN_EMAIL);
	GENERAL_NAMES_free(san);
	saci_check(sc.cert, "rdn 2.5.4.10 urn:oid:2.5.4.10=Skatteverket\n"
			    "rdn 2.5.4.97 urn:oid:1.2.752.201.3.1=vlindman@2021005448\n"
			    "rdn 2.5.4.4 urn:oid:2.5.4.4=Lindeman\n"
			    "rdn 2.5.4.42 urn:oid:2.5.4.42=Valfrid\n"
			    "rdn 2.5.4.5 urn:oid:1.2.752.29.4.13=197309069289\n"
			    "rdn 2.5.4.3 urn:oid:2.16.840.1.113730.3.1.241=Valfrid <Lindeman> & Co\n"
			    "san 1 urn:oid:0.9.2342.19200300.100.1.3=valfrid@example.se\n");
	assert_chains(&sc);
	assert_int_equal(sc.n_mapped, 7);
	assert_string_equal(sc.mapped[0].name, "urn:oid:2.5.4.10");
	/* stored and audited in the transaction */
	unsigned char serial[20];
	size_t slen;
	char hex[64], sql_serial[70];
	certs_serial_bytes(sc.cert, serial, sizeof serial, &slen);
	certs_hex(serial, slen, hex);
	snprintf(sql_serial, sizeof sql_serial, "\\x%s", hex);
	const char *p[] = { sql_serial };
	PGresult *pr = db_exec(conn, "SELECT profile FROM certificates WHERE serial = $1::bytea", 1, p, &e);
	assert_non_null(pr);
	assert_int_equal(PQntuples(pr), 1);
	assert_string_equal(PQgetvalue(pr, 0, 0), "signer");
	PQclear(pr);

	char label[64];
	snprintf(label, sizeof label, "%s", hsm_key_label(sc.key));
	assert_int_equal(strncmp(label, SIGNER_KEY_LABEL_PREFIX, strlen(SIGNER_KEY_LABEL_PREFIX)), 0);
	assert_key_present(label);
	unsigned long made, gone, made2, gone2;
	signer_keys_counts(&made, &gone);
	signer_cert_destroy(&sc);
	signer_keys_counts(&made2, &gone2);
	assert_int_equal(made2, made);
	assert_int_equal(gone2, gone + 1);
	assert_null(sc.key);
	assert_key_gone(label);
}

static void test_requested_qc_sscd_ec(void **state)
{
	struct dss_cert_attr_source s_pnr = { PNR, 0 }, s_cn[] = { { "urn:oid:2.5.4.3", 0 },
				     { "urn:oid:2.16.840.1.113730.3.1.241", 1 } },
				    s_c = { "urn:oid:2.5.4.6", 0 }, s_dob = { "urn:oid:1.3.6.1.5.5.7.9.1", 0 };
	struct dss_cert_attr ca[] = {
		{ "2.5.4.5", DSS_NAME_RDN, "serialNumber", NULL, true, &s_pnr, 1 },
		{ "2.5.4.3", DSS_NAME_RDN, "commonName", NULL, false, s_cn, 2 },
		{ "2.5.4.6", DSS_NAME_RDN, "country", "SE", false, &s_c, 1 },
		{ "1.3.6.1.5.5.7.9.1", DSS_NAME_SDA, "dateOfBirth", NULL, false, &s_dob, 1 },
	};
	struct dss_sign_request q = { .sig_alg = ALG_EC, .cert_type = "QC/SSCD", .cert_attrs = ca, .n_cert_attrs = 4 };
	struct signer_cert_request r = make_req(&q, assertion, sizeof assertion / sizeof assertion[0]);
	struct signer_cert sc;
	struct dss_result res = { 0 };
	efos_err e = { 0 };
	if (signer_cert_issue(conn, h, &sign.ca, &signer_profile, &r, &sc, &res, &e) != 0)
		fail_msg("issue: %s (%s)", e.msg, res.message);
	assert_int_equal(hsm_key_kind(sc.key), HSM_KEY_EC);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(sc.cert)), 3);
	assert_true(ext_has_oid(sc.cert, "1.3.6.1.5.5.7.1.3", "0.4.0.1862.1.1"));
	assert_true(ext_has_oid(sc.cert, "1.3.6.1.5.5.7.1.3", "0.4.0.1862.1.6.1"));
	assert_true(ext_has_oid(sc.cert, "1.3.6.1.5.5.7.1.3", "0.4.0.1862.1.4"));
	/* The default C and the absent dateOfBirth are not listed; displayName fills CN. */
	saci_check(sc.cert, "rdn 2.5.4.5 urn:oid:1.2.752.29.4.13=197309069289\n"
			    "rdn 2.5.4.3 urn:oid:2.16.840.1.113730.3.1.241=Valfrid <Lindeman> & Co\n");
	assert_chains(&sc);
	char label[64];
	snprintf(label, sizeof label, "%s", hsm_key_label(sc.key));
	signer_cert_destroy(&sc);
	assert_key_gone(label);
}

static size_t leftover_keys(void)
{
	char **labels = NULL;
	size_t n = 0;
	efos_err e = { 0 };
	assert_int_equal(hsm_key_labels(h, SIGNER_KEY_LABEL_PREFIX, &labels, &n, &e), 0);
	hsm_labels_free(labels, n);
	return n;
}

static void test_required_missing_refused(void **state)
{
	struct dss_cert_attr_source s_hsa = { "urn:oid:1.2.752.29.6.2.1", 0 }, s_pnr = { PNR, 0 };
	struct dss_cert_attr ca[] = {
		{ "2.5.4.5", DSS_NAME_RDN, NULL, NULL, true, &s_pnr, 1 },
		{ "2.5.4.45", DSS_NAME_RDN, "employeeHsaId", NULL, true, &s_hsa, 1 },
	};
	struct dss_sign_request q = { .sig_alg = ALG_RSA, .cert_type = "PKC", .cert_attrs = ca, .n_cert_attrs = 2 };
	struct signer_cert_request r = make_req(&q, assertion, sizeof assertion / sizeof assertion[0]);
	struct signer_cert sc;
	struct dss_result res = { 0 };
	efos_err e = { 0 };
	size_t before = leftover_keys();
	assert_int_equal(signer_cert_issue(conn, h, &sign.ca, &signer_profile, &r, &sc, &res, &e), -1);
	assert_string_equal(res.major, DSS_MAJOR_REQUESTER);
	assert_non_null(strstr(res.message, "employeeHsaId"));
	assert_null(sc.key);
	assert_null(sc.cert);
	assert_int_equal(leftover_keys(), before);

	/* Default mapping, no personnummer / prid / eidasPersonIdentifier: no serialNumber. */
	struct dss_sign_request q2 = { .sig_alg = ALG_RSA, .cert_type = "PKC" };
	r = make_req(&q2, assertion + 1, 3);
	memset(&res, 0, sizeof res);
	assert_int_equal(signer_cert_issue(conn, h, &sign.ca, &signer_profile, &r, &sc, &res, &e), -1);
	assert_string_equal(res.major, DSS_MAJOR_REQUESTER);
	assert_non_null(strstr(res.message, "serialNumber"));

	/* An unknown algorithm: NotSupported. */
	struct dss_sign_request q3 = { .sig_alg = "http://www.w3.org/2000/09/xmldsig#rsa-sha1", .cert_type = "PKC" };
	r = make_req(&q3, assertion, 1);
	assert_int_equal(signer_cert_issue(conn, h, &sign.ca, &signer_profile, &r, &sc, &res, &e), -1);
	assert_string_equal(res.minor, DSS_MINOR_NOT_SUPPORTED);
	assert_int_equal(leftover_keys(), before);
}

static void test_sweep(void **state)
{
	efos_err e = { 0 };
	const char *labels[] = { SIGNER_KEY_LABEL_PREFIX "ut-left-1", SIGNER_KEY_LABEL_PREFIX "ut-left-2" };
	for (size_t i = 0; i < 2; i++) {
		struct hsm_keygen_params p = { .kind = HSM_KEY_EC, .curve_nid = NID_X9_62_prime256v1,
					       .label = labels[i], .token_object = true };
		struct hsm_key *k = NULL;
		if (hsm_keygen(h, &p, &k, &e) != 0)
			fail_msg("keygen: %s", e.msg);
		hsm_key_free(k);
	}
	/* A key of another prefix stays. */
	struct hsm_keygen_params other = { .kind = HSM_KEY_EC, .curve_nid = NID_X9_62_prime256v1,
					   .label = "ut-keep-efos-sig-x", .token_object = true };
	struct hsm_key *keep = NULL;
	assert_int_equal(hsm_keygen(h, &other, &keep, &e), 0);
	assert_true(leftover_keys() >= 2);
	size_t n = 0;
	if (signer_keys_sweep(h, &n, &e) != 0)
		fail_msg("sweep: %s", e.msg);
	assert_true(n >= 2);
	assert_int_equal(leftover_keys(), 0);
	assert_key_gone(labels[0]);
	assert_key_gone(labels[1]);
	struct hsm_key *found = NULL;
	assert_int_equal(hsm_key_find(h, "pkcs11:object=ut-keep-efos-sig-x", &found, &e), 0);
	hsm_key_free(found);
	assert_int_equal(hsm_key_destroy(keep, &e), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_mapping_rsa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requested_qc_sscd_ec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_required_missing_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
	};
	return cmocka_run_group_tests_name("signer_cert", tests, group_setup, group_teardown);
}
