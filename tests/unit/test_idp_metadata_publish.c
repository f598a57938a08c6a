/* idp_md_build_signed(): the IdP's EntityDescriptor, signed with a key in the test HSM (EC P-256
 * and RSA-2048), validates against the OASIS SAML metadata schema and its extensions
 * (tests/schemas/saml-metadata-efos.xsd, xmllint), its signature verifies with xmlsec1 and with
 * core/xml's verifier, it holds what the Swedish eID Framework asks for, and a tampered copy
 * fails verification. */
#include <sys/stat.h>
#include <unistd.h>
#include <libxml/parser.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "core/xml.h"
#include "hsm/bridge.h"
#include "idp/metadata_publish.h"
#include "test_fs_common.h"
#include "test_hsm_common.h"

static struct hsm *H;
static char tmpdir[256];

static const char *top(void)
{
	const char *t = getenv("EFOS_TOP");
	return t ? t : ".";
}

static const char *const scopes[] = { "2021006883", "5562265719" };
static const char *const psel[] = { "urn:oid:1.2.752.29.4.13", "urn:oid:1.2.752.201.3.1" };

static void check_one(enum hsm_key_kind kind, int bits_or_nid, const char *sigalg_frag)
{
	efos_err e = { 0 };
	struct hsm_key *k = test_session_key(H, kind, bits_or_nid, "md-test");
	struct hsm_key *enc = test_session_key(H, HSM_KEY_RSA, 2048, "md-enc");
	X509 *cert = test_hsm_self_signed(k, "EFOS metadata test");
	X509 *next = test_hsm_self_signed(enc, "EFOS next signing");
	X509 *encc = test_hsm_self_signed(enc, "EFOS encryption");
	struct idp_md_info in = {
		.entity_id = "https://idp.efos.example.se/idp",
		.public_url = "https://idp.efos.example.se",
		.mtls_public_url = "https://idp.efos.example.se:8444",
		.want_authn_requests_signed = true,
		.validity_s = 7 * 86400,
		.cache_duration_s = 3600,
		.signing_cert = cert,
		.signing_cert_next = next,
		.encryption_cert = encc,
		.display_name_sv = "EFOS – E-identitet för offentlig sektor",
		.display_name_en = "EFOS <eID> & co",
		.description_sv = "Inloggning med EFOS-kort",
		.description_en = "Login with the EFOS card",
		.logo_url = "https://idp.efos.example.se/logo.svg",
		.logo_width = 100,
		.logo_height = 80,
		.org_name = "Försäkringskassan",
		.org_display_name_sv = "Försäkringskassan",
		.org_display_name_en = "Swedish Social Insurance Agency",
		.org_url = "https://www.forsakringskassan.se",
		.org_number = "2021005521",
		.contact_technical = "efos-teknik@example.se",
		.contact_support = "mailto:efos-support@example.se",
		.principal_selection = psel,
		.n_principal_selection = 2,
		.scopes = scopes,
		.n_scopes = 2,
	};
	char *xml = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	if (idp_md_build_signed(&in, now, k, cert, &xml, &len, &e) != 0)
		fail_msg("idp_md_build_signed: %s", e.msg);
	assert_int_equal(strlen(xml), len);

	/* content */
	const char *must[] = {
		"entityID=\"https://idp.efos.example.se/idp\"", "validUntil=\"", "cacheDuration=\"PT3600S\"",
		"<saml:AttributeValue>http://id.elegnamnden.se/loa/1.0/loa4</saml:AttributeValue>",
		"Name=\"urn:oasis:names:tc:SAML:attribute:assurance-certification\"",
		"Name=\"http://macedir.org/entity-category\"",
		">http://id.swedenconnect.se/ec/1.0/loa4-orgid<", ">http://id.elegnamnden.se/ec/1.0/loa4-pnr<",
		">http://id.swedenconnect.se/ec/1.0/loa4-name<", ">http://id.elegnamnden.se/sprop/1.0/scal2<",
		">http://id.swedenconnect.se/contract/sc/prepaid-auth-2021<",
		"<shibmd:Scope regexp=\"false\">2021006883</shibmd:Scope>",
		"<shibmd:Scope regexp=\"false\">5562265719</shibmd:Scope>",
		"<psc:MatchValue Name=\"urn:oid:1.2.752.29.4.13\"/>",
		"WantAuthnRequestsSigned=\"true\"",
		"<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>",
		"<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>",
		"Location=\"https://idp.efos.example.se/idp/sso/redirect\"",
		"Location=\"https://idp.efos.example.se/idp/sso/post\"",
		"hoksso:ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\"",
		"Location=\"https://idp.efos.example.se:8444/idp/hok/sso/redirect\"",
		"<md:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#aes256-gcm\"/>",
		"<md:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\"/>",
		"<alg:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>",
		"<alg:SigningMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\" MinKeySize=\"256\"/>",
		"<mdorgext:OrganizationNumber>2021005521</mdorgext:OrganizationNumber>",
		"EFOS &lt;eID&gt; &amp; co",
		"<md:EmailAddress>mailto:efos-teknik@example.se</md:EmailAddress>",
		"<md:EmailAddress>mailto:efos-support@example.se</md:EmailAddress>",
		sigalg_frag,
	};
	for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
		if (strstr(xml, must[i]) == NULL)
			fail_msg("the metadata lacks %s:\n%s", must[i], xml);
	/* two signing KeyDescriptors, one encryption */
	size_t nsig = 0;
	for (const char *p = xml; (p = strstr(p, "use=\"signing\"")) != NULL; p++)
		nsig++;
	assert_int_equal(nsig, 2);
	assert_non_null(strstr(xml, "use=\"encryption\""));
	assert_null(strstr(xml, "aes192"));

	/* schema and xmlsec1 */
	char f[512], cf[512], tf[512];
	snprintf(f, sizeof f, "%s/idp.xml", tmpdir);
	snprintf(cf, sizeof cf, "%s/md.crt", tmpdir);
	snprintf(tf, sizeof tf, "%s/tampered.xml", tmpdir);
	test_write_file(f, xml, len);
	test_write_cert(cf, cert);
	if (test_run("xmllint --nonet --noout --schema '%s/tests/schemas/saml-metadata-efos.xsd' '%s' 2>'%s/xmllint.log'",
		top(), f, tmpdir) != 0) {
		test_run("grep -v 'Skipping import' '%s/xmllint.log' >&2", tmpdir);
		fail_msg("schema validation failed for %s", f);
	}
	if (test_run("xmlsec1 --verify --pubkey-cert-pem '%s' --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor "
		"'%s' >'%s/xmlsec.log' 2>&1", cf, f, tmpdir) != 0) {
		test_run("cat '%s/xmlsec.log' >&2", tmpdir);
		fail_msg("xmlsec1 does not verify %s", f);
	}

	/* core/xml's strict verifier, with the key from "configuration" */
	xmlDocPtr doc = NULL;
	struct xml_limits lim = xml_limits_message;
	assert_int_equal(xml_parse_untrusted(xml, len, &lim, &doc, &e), 0);
	assert_int_equal(xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, &e), 0);
	EVP_PKEY *keys[1] = { X509_get0_pubkey(cert) };
	if (xml_dsig_verify_element(xmlDocGetRootElement(doc), NULL, keys, 1, &xml_dsig_policy_saml, &e) == NULL)
		fail_msg("xml_dsig_verify_element: %s", e.msg);
	xmlFreeDoc(doc);

	/* tampered: a scope changed */
	char *t = strstr(xml, "5562265719");
	t[0] = '9';
	test_write_file(tf, xml, len);
	assert_int_not_equal(test_run("xmlsec1 --verify --pubkey-cert-pem '%s' --id-attr:ID "
				 "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor '%s' >/dev/null 2>&1", cf, tf), 0);

	free(xml);
	X509_free(cert);
	X509_free(next);
	X509_free(encc);
	hsm_key_free(k);
	hsm_key_free(enc);
}

static void test_ec(void **state)
{
	check_one(HSM_KEY_EC, NID_X9_62_prime256v1, "SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"");
}

static void test_rsa(void **state)
{
	check_one(HSM_KEY_RSA, 2048, "SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"");
}

/* Without HoK URL, next key, encryption key, logo, org number, contacts: still schema-valid. */
static void test_minimal(void **state)
{
	efos_err e = { 0 };
	struct hsm_key *k = test_session_key(H, HSM_KEY_EC, NID_X9_62_prime256v1, "md-min");
	X509 *cert = test_hsm_self_signed(k, "min");
	struct idp_md_info in = {
		.entity_id = "https://idp.example.se", .public_url = "https://idp.example.se",
		.validity_s = 3600, .cache_duration_s = 600, .signing_cert = cert,
		.display_name_sv = "EFOS", .org_name = "Org", .org_display_name_sv = "Org",
		.org_display_name_en = "Org", .org_url = "https://org.example.se",
	};
	char *xml = NULL;
	size_t len;
	assert_int_equal(idp_md_build_signed(&in, time(NULL), k, cert, &xml, &len, &e), 0);
	assert_null(strstr(xml, "hoksso:ProtocolBinding"));
	assert_null(strstr(xml, "<shibmd:Scope"));
	assert_null(strstr(xml, "RequestedPrincipalSelection"));
	assert_non_null(strstr(xml, "WantAuthnRequestsSigned=\"false\""));
	char f[512];
	snprintf(f, sizeof f, "%s/min.xml", tmpdir);
	test_write_file(f, xml, len);
	assert_int_equal(test_run("xmllint --nonet --noout --schema '%s/tests/schemas/saml-metadata-efos.xsd' '%s' 2>/dev/null",
			     top(), f), 0);
	/* missing mandatory input */
	in.org_name = NULL;
	free(xml);
	assert_int_equal(idp_md_build_signed(&in, time(NULL), k, cert, &xml, &len, &e), -1);
	assert_int_equal(e.code, EFOS_E_CONFIG);
	X509_free(cert);
	hsm_key_free(k);
}

static void test_time_format(void **state)
{
	char b[32];
	idp_md_format_time(0, b, sizeof b);
	assert_string_equal(b, "1970-01-01T00:00:00Z");
	idp_md_format_time(1767225600, b, sizeof b);
	assert_string_equal(b, "2026-01-01T00:00:00Z");
}

static int setup(void **state)
{
	xmlInitParser();
	H = test_hsm_open(2);
	test_tmpdir_make(tmpdir, sizeof tmpdir, "efos-test-idpmd");
	return 0;
}

static int teardown(void **state)
{
	hsm_close(H);
	test_tmpdir_remove(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_ec),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_minimal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
