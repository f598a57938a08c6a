/* policy_attribute_release(): entity categories both sides declare, RequestedAttributes, the
 * privacy rule, scopes, coordination numbers, the notice. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <string.h>
#include <cmocka.h>
#include "policy/attribute_release.h"

static const char *const idp_ecs[] = { EC_LOA4_ORGID, EC_LOA4_PNR, EC_LOA4_NAME };
static const char *const scopes[] = { "2021006883", "5562265719" };
static const struct policy_release_idp IDP = { idp_ecs, 3, scopes, 2, NULL, NULL };

static const struct policy_affiliation affs[] = {
	{ "vlindman@2021006883", "2021006883", "Försäkringskassan" },
	{ "val@1234567897", "1234567897", "Unpublished AB" },    /* not one of our scopes */
	{ "v.lindman@5562265719", "5562265719", "Skatteverket" },
};

static struct policy_person person(void)
{
	return (struct policy_person){
		.pnr = "195006262546",
		.given_name = "Valfrid",
		.surname = "Lindeman",
		.display_name = "Valfrid Lindeman",
		.affiliations = affs,
		.n_affiliations = 3,
		.loa = "http://id.elegnamnden.se/loa/1.0/loa4",
	};
}

static const struct policy_attr *find(const struct policy_release *r, const char *name)
{
	return policy_release_find(r, name);
}

static void has_value(const struct policy_release *r, const char *name, const char *v)
{
	const struct policy_attr *a = find(r, name);
	assert_non_null(a);
	for (size_t i = 0; i < a->n_values; i++)
		if (strcmp(a->values[i], v) == 0)
			return;
	fail_msg("%s has no value %s", name, v);
}

static void test_loa4_pnr(void **state)
{
	const char *ecs[] = { EC_LOA4_PNR, "http://id.elegnamnden.se/st/1.0/public-sector-sp" };
	struct policy_release_sp sp = { .entity_categories = ecs, .n_entity_categories = 2 };
	struct policy_person p = person();
	struct policy_release r;
	efos_err e = { 0 };
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	has_value(&r, ATTR_PERSONAL_IDENTITY_NUMBER, "195006262546");
	has_value(&r, ATTR_SN, "Lindeman");
	has_value(&r, ATTR_GIVEN_NAME, "Valfrid");
	has_value(&r, ATTR_DISPLAY_NAME, "Valfrid Lindeman");
	has_value(&r, ATTR_DATE_OF_BIRTH, "1950-06-26");
	assert_null(find(&r, ATTR_ORG_AFFILIATION));
	assert_null(find(&r, ATTR_O));
	assert_null(find(&r, ATTR_USER_CERTIFICATE));
	assert_int_equal(r.n_attrs, 5);
	assert_int_equal(r.kind, POLICY_RELEASE_PNR_ONLY);
	assert_string_equal(find(&r, ATTR_PERSONAL_IDENTITY_NUMBER)->friendly_name, "personalIdentityNumber");
	assert_int_equal(strlen(r.set_id), 64);
	policy_release_free(&r);
}

static void test_loa4_orgid(void **state)
{
	const char *ecs[] = { EC_LOA4_ORGID };
	struct policy_release_sp sp = { .entity_categories = ecs, .n_entity_categories = 1 };
	struct policy_person p = person();
	struct policy_release r;
	efos_err e = { 0 };
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	const struct policy_attr *a = find(&r, ATTR_ORG_AFFILIATION);
	assert_non_null(a);
	assert_int_equal(a->n_values, 2);   /* the unpublished organisation is left out */
	has_value(&r, ATTR_ORG_AFFILIATION, "vlindman@2021006883");
	has_value(&r, ATTR_ORG_AFFILIATION, "v.lindman@5562265719");
	has_value(&r, ATTR_O, "Försäkringskassan");
	has_value(&r, ATTR_ORGANIZATION_IDENTIFIER, "2021006883");
	has_value(&r, ATTR_DISPLAY_NAME, "Valfrid Lindeman");
	assert_null(find(&r, ATTR_PERSONAL_IDENTITY_NUMBER));
	assert_null(find(&r, ATTR_DATE_OF_BIRTH));
	assert_null(find(&r, ATTR_SN));
	assert_int_equal(r.kind, POLICY_RELEASE_ORG_ONLY);
	policy_release_free(&r);

	/* preferred organisation for the single-valued o / organizationIdentifier */
	p.preferred_orgnr = "5562265719";
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	has_value(&r, ATTR_O, "Skatteverket");
	has_value(&r, ATTR_ORGANIZATION_IDENTIFIER, "5562265719");
	assert_int_equal(find(&r, ATTR_O)->n_values, 1);
	policy_release_free(&r);

	/* no affiliation in a published scope: the org identity cannot be delivered */
	p.n_affiliations = 0;
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), POLICY_RELEASE_REFUSED);
	assert_int_equal(r.refusal, POLICY_REFUSE_NO_ORG_IDENTITY);
	assert_int_equal(r.n_attrs, 0);
	assert_true(strlen(policy_refusal_text(r.refusal, "sv")) > 10);
	policy_release_free(&r);
	p.affiliations = &affs[1];   /* only the unpublished one */
	p.n_affiliations = 1;
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), POLICY_RELEASE_REFUSED);
	policy_release_free(&r);
}

static void test_orgid_and_pnr(void **state)
{
	const char *ecs[] = { EC_LOA4_ORGID, EC_LOA4_PNR };
	struct policy_release_sp sp = { .entity_categories = ecs, .n_entity_categories = 2 };
	struct policy_person p = person();
	struct policy_release r;
	efos_err e = { 0 };
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	assert_non_null(find(&r, ATTR_PERSONAL_IDENTITY_NUMBER));
	assert_non_null(find(&r, ATTR_ORG_AFFILIATION));
	assert_int_equal(r.kind, POLICY_RELEASE_ORG_AND_PNR);
	char set1[65];
	memcpy(set1, r.set_id, sizeof set1);
	policy_release_free(&r);

	/* with both ECs neither pnr nor orgAffiliation is required (every matched EC must require
	 * it): a person without a published affiliation still gets the pnr set */
	p.n_affiliations = 0;
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	assert_null(find(&r, ATTR_ORG_AFFILIATION));
	assert_non_null(find(&r, ATTR_PERSONAL_IDENTITY_NUMBER));
	assert_int_equal(r.kind, POLICY_RELEASE_PNR_ONLY);
	assert_string_not_equal(r.set_id, set1);   /* a different set: ask again */
	policy_release_free(&r);
}

static void test_nothing_without_categories(void **state)
{
	struct policy_release_sp sp = { 0 };
	struct policy_person p = person();
	struct policy_release r;
	efos_err e = { 0 };
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	assert_int_equal(r.n_attrs, 0);
	assert_int_equal(r.kind, POLICY_RELEASE_NOTHING);
	policy_release_free(&r);

	/* a category only the SP declares counts for nothing */
	static const char *const name_only[] = { EC_LOA4_NAME };
	struct policy_release_idp idp = { name_only, 1, scopes, 2, NULL, NULL };
	const char *ecs[] = { EC_LOA4_PNR, "http://id.elegnamnden.se/ec/1.0/loa3-pnr" };
	sp.entity_categories = ecs;
	sp.n_entity_categories = 2;
	assert_int_equal(policy_attribute_release(&sp, &idp, &p, &r, &e), 0);
	assert_int_equal(r.n_attrs, 0);
	policy_release_free(&r);
}

static void test_requested_attributes(void **state)
{
	struct policy_requested_attr req[] = {
		{ ATTR_GIVEN_NAME, false },
		{ "urn:oid:0.9.2342.19200300.100.1.3", false },   /* mail: we have none, not required */
		{ ATTR_SIGN_MESSAGE_DIGEST, true },               /* added by the response builder */
	};
	struct policy_release_sp sp = { .requested = req, .n_requested = 3 };
	struct policy_person p = person();
	struct policy_release r;
	efos_err e = { 0 };
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	assert_int_equal(r.n_attrs, 1);
	has_value(&r, ATTR_GIVEN_NAME, "Valfrid");
	assert_int_equal(r.kind, POLICY_RELEASE_NAME_ONLY);
	policy_release_free(&r);

	/* a required attribute we cannot provide refuses the login */
	req[1].is_required = true;
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), POLICY_RELEASE_REFUSED);
	assert_int_equal(r.refusal, POLICY_REFUSE_REQUIRED_ATTRIBUTE);
	assert_non_null(strstr(r.refusal_detail, "urn:oid:0.9.2342.19200300.100.1.3"));
	policy_release_free(&r);

	/* userCertificate only when requested */
	struct policy_requested_attr rc[] = { { ATTR_USER_CERTIFICATE, true } };
	struct policy_release_sp sp2 = { .requested = rc, .n_requested = 1 };
	p.user_certificate_b64 = "MIIB";
	assert_int_equal(policy_attribute_release(&sp2, &IDP, &p, &r, &e), 0);
	has_value(&r, ATTR_USER_CERTIFICATE, "MIIB");
	policy_release_free(&r);
}

static void test_coordination_number(void **state)
{
	const char *ecs[] = { EC_LOA4_PNR };
	struct policy_release_sp sp = { .entity_categories = ecs, .n_entity_categories = 1 };
	struct policy_person p = person();
	p.pnr = "195006862541";     /* day 26 + 60 */
	p.is_coordination_number = true;
	struct policy_release r;
	efos_err e = { 0 };
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), POLICY_RELEASE_REFUSED);
	assert_int_equal(r.refusal, POLICY_REFUSE_COORDINATION_NUMBER);
	assert_int_equal(r.n_attrs, 0);
	assert_non_null(strstr(policy_refusal_text(r.refusal, "sv"), "samordningsnummer"));
	assert_non_null(strstr(policy_refusal_text(r.refusal, "en"), "coordination number"));
	policy_release_free(&r);

	/* an SP that accepts coordination numbers gets it */
	const char *ecs2[] = { EC_LOA4_PNR, EC_ACCEPTS_COORDINATION_NUMBER };
	sp.entity_categories = ecs2;
	sp.n_entity_categories = 2;
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	has_value(&r, ATTR_PERSONAL_IDENTITY_NUMBER, "195006862541");
	policy_release_free(&r);

	/* an org-only SP is not affected: no personnummer is released at all */
	const char *ecs3[] = { EC_LOA4_ORGID };
	sp.entity_categories = ecs3;
	sp.n_entity_categories = 1;
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	assert_null(find(&r, ATTR_PERSONAL_IDENTITY_NUMBER));
	policy_release_free(&r);
}

static void test_nonresident_no_pnr(void **state)
{
	const char *ecs[] = { EC_LOA4_PNR };
	struct policy_release_sp sp = { .entity_categories = ecs, .n_entity_categories = 1 };
	struct policy_person p = person();
	p.loa = "http://id.swedenconnect.se/loa/1.0/loa4-nonresident";
	struct policy_release r;
	efos_err e = { 0 };
	/* pnr-01 requires personalIdentityNumber, which a non-resident login never releases */
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), POLICY_RELEASE_REFUSED);
	assert_int_equal(r.refusal, POLICY_REFUSE_REQUIRED_ATTRIBUTE);
	policy_release_free(&r);
}

static void test_sigservice_principal_selection(void **state)
{
	const char *ecs[] = { EC_ST_SIGSERVICE, EC_LOA4_NAME };
	const char *psel[] = { ATTR_PERSONAL_IDENTITY_NUMBER };
	struct policy_release_sp sp = { .entity_categories = ecs, .n_entity_categories = 2,
					.principal_selection_names = psel, .n_principal_selection_names = 1 };
	struct policy_person p = person();
	struct policy_release r;
	efos_err e = { 0 };
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	has_value(&r, ATTR_PERSONAL_IDENTITY_NUMBER, "195006262546");
	has_value(&r, ATTR_SN, "Lindeman");
	policy_release_free(&r);

	/* not a sigservice: PrincipalSelection releases nothing */
	ecs[0] = "http://id.elegnamnden.se/st/1.0/public-sector-sp";
	assert_int_equal(policy_attribute_release(&sp, &IDP, &p, &r, &e), 0);
	assert_null(find(&r, ATTR_PERSONAL_IDENTITY_NUMBER));
	policy_release_free(&r);
}

static bool only_first(void *arg, const char *orgnr)
{
	return strcmp(orgnr, (const char *)arg) == 0;
}

static void test_scope_callback(void **state)
{
	const char *ecs[] = { EC_LOA4_ORGID };
	struct policy_release_sp sp = { .entity_categories = ecs, .n_entity_categories = 1 };
	struct policy_release_idp idp = IDP;
	idp.scope_ok = only_first;
	idp.scope_arg = (void *)"5562265719";
	struct policy_person p = person();
	struct policy_release r;
	efos_err e = { 0 };
	assert_int_equal(policy_attribute_release(&sp, &idp, &p, &r, &e), 0);
	assert_int_equal(find(&r, ATTR_ORG_AFFILIATION)->n_values, 1);
	has_value(&r, ATTR_ORG_AFFILIATION, "v.lindman@5562265719");
	policy_release_free(&r);
}

static void test_notice_texts(void **state)
{
	for (int k = POLICY_RELEASE_NOTHING; k <= POLICY_RELEASE_PNR_ONLY; k++) {
		const char *sv = policy_release_notice_text(k, "sv"), *en = policy_release_notice_text(k, "en");
		assert_true(strlen(sv) > 20 && strlen(en) > 20);
		assert_string_not_equal(sv, en);
	}
	assert_non_null(strstr(policy_release_notice_text(POLICY_RELEASE_ORG_AND_PNR, "sv"), "personnummer"));
	assert_non_null(strstr(policy_release_notice_text(POLICY_RELEASE_ORG_ONLY, "en"), "will not be sent"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loa4_pnr),
		cmocka_unit_test(test_loa4_orgid),
		cmocka_unit_test(test_orgid_and_pnr),
		cmocka_unit_test(test_nothing_without_categories),
		cmocka_unit_test(test_requested_attributes),
		cmocka_unit_test(test_coordination_number),
		cmocka_unit_test(test_nonresident_no_pnr),
		cmocka_unit_test(test_sigservice_principal_selection),
		cmocka_unit_test(test_scope_callback),
		cmocka_unit_test(test_notice_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
