/* policy/roles.c: the role → action matrix (the database part is in test_registry.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "policy/roles.h"

static void test_names(void **state)
{
	(void)state;
	for (int a = 0; a < POLICY_N_ACTIONS; a++) {
		enum policy_action back;
		assert_int_equal(policy_action_parse(policy_action_name((enum policy_action)a), &back), 0);
		assert_int_equal(back, a);
	}
	for (int r = 0; r < POLICY_N_ROLES; r++) {
		enum policy_role back;
		assert_int_equal(policy_role_parse(policy_role_name((enum policy_role)r), &back), 0);
		assert_int_equal(back, r);
	}
	enum policy_action a;
	enum policy_role r;
	assert_int_equal(policy_action_parse("card.destroy", &a), -1);
	assert_int_equal(policy_action_parse(NULL, &a), -1);
	assert_int_equal(policy_role_parse("root", &r), -1);
	assert_string_equal(policy_action_name(POLICY_CARD_ENROLL), "card.enroll");
	assert_string_equal(policy_action_name((enum policy_action)99), "?");
}

/* The matrix of roles.h, row by row: "x" where allowed (per organisation). */
static void test_matrix(void **state)
{
	(void)state;
	static const struct { enum policy_action a; const char *ro, *oa, *ca; } m[] = {
		{ POLICY_REGISTRY_READ, "x", "x", "x" },
		{ POLICY_PERSON_WRITE, "x", "x", "x" },
		{ POLICY_PERSON_SUSPEND, "x", "x", "x" },
		{ POLICY_AFFILIATION_WRITE, "x", "x", "x" },
		{ POLICY_PROOFING_WRITE, "x", "", "x" },
		{ POLICY_CARD_ENROLL, "x", "", "x" },
		{ POLICY_CARD_SUSPEND, "x", "x", "x" },
		{ POLICY_CARD_RESUME, "x", "", "x" },
		{ POLICY_CARD_REVOKE, "x", "x", "x" },
		{ POLICY_CARD_UNBLOCK, "x", "", "x" },
		{ POLICY_CARD_RENEW, "x", "", "x" },
		{ POLICY_ORG_WRITE, "", "", "x" },
		{ POLICY_OFFICER_WRITE, "", "", "x" },
		{ POLICY_CA_ADMIN, "", "", "x" },
	};
	assert_int_equal(sizeof m / sizeof m[0], POLICY_N_ACTIONS);
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
		const char *name = policy_action_name(m[i].a);
		/* as global rows (org_id NULL) */
		if (policy_role_allows(POLICY_ROLE_REGISTRATION_OFFICER, true, m[i].a) != (m[i].ro[0] == 'x'))
			fail_msg("registration_officer (global) and %s", name);
		if (policy_role_allows(POLICY_ROLE_ORG_ADMIN, true, m[i].a) != (m[i].oa[0] == 'x'))
			fail_msg("org_admin (global) and %s", name);
		assert_true(policy_role_allows(POLICY_ROLE_CA_ADMIN, true, m[i].a));
		/* bound to one organisation: never the global-only actions */
		bool global_only = m[i].a == POLICY_ORG_WRITE || m[i].a == POLICY_OFFICER_WRITE || m[i].a == POLICY_CA_ADMIN;
		if (policy_role_allows(POLICY_ROLE_REGISTRATION_OFFICER, false, m[i].a) != (m[i].ro[0] == 'x'))
			fail_msg("registration_officer (one org) and %s", name);
		if (policy_role_allows(POLICY_ROLE_ORG_ADMIN, false, m[i].a) != (m[i].oa[0] == 'x'))
			fail_msg("org_admin (one org) and %s", name);
		if (policy_role_allows(POLICY_ROLE_CA_ADMIN, false, m[i].a) == global_only)
			fail_msg("ca_admin (one org) and %s", name);
	}
	assert_false(policy_role_allows((enum policy_role)7, true, POLICY_REGISTRY_READ));
	assert_false(policy_role_allows(POLICY_ROLE_CA_ADMIN, true, (enum policy_action)99));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_matrix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
