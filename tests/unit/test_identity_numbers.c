/* policy/identity_numbers.c: personnummer, samordningsnummer, organisationsnummer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "policy/identity_numbers.h"

static void pnr_ok(const char *pnr, bool coord, int y, int m, int d)
{
	struct policy_pnr_info info;
	efos_err e = { 0 };
	if (policy_pnr_check(pnr, &info, &e) != 0)
		fail_msg("%s: %s", pnr, e.msg);
	assert_int_equal(info.is_coordination_number, coord);
	assert_int_equal(info.birth_year, y);
	assert_int_equal(info.birth_month, m);
	assert_int_equal(info.birth_day, d);
}

static void pnr_bad(const char *pnr, const char *want)
{
	efos_err e = { 0 };
	assert_int_equal(policy_pnr_check(pnr, NULL, &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	if (strstr(e.msg, want) == NULL)
		fail_msg("%s: message \"%s\" lacks \"%s\"", pnr ? pnr : "(null)", e.msg, want);
}

static void test_luhn(void **state)
{
	(void)state;
	assert_int_equal(policy_luhn_digit("700101123", 9), 3);
	assert_int_equal(policy_luhn_digit("500626254", 9), 6);
	assert_int_equal(policy_luhn_digit("202100000", 9), 1);
	assert_int_equal(policy_luhn_digit("556226571", 9), 9);
	assert_int_equal(policy_luhn_digit("12a", 3), -1);
}

static void test_pnr_valid(void **state)
{
	(void)state;
	pnr_ok("197001011233", false, 1970, 1, 1);
	pnr_ok("195006262546", false, 1950, 6, 26);
	pnr_ok("200002292381", false, 2000, 2, 29);       /* leap day (400-year rule) */
	pnr_ok("197001611230", true, 1970, 1, 1);         /* samordningsnummer: day + 60 */
	pnr_ok("199012912383", true, 1990, 12, 31);
}

static void test_pnr_invalid(void **state)
{
	(void)state;
	pnr_bad("197001011234", "personnummer 197001011234: checksum digit is wrong (expected 3)");
	pnr_bad("197001611231", "samordningsnummer 197001611231: checksum digit is wrong (expected 0)");
	pnr_bad("19700101-1233", "without hyphen");
	pnr_bad("7001011233", "give all 12 digits");
	pnr_bad("700101-1233", "give all 12 digits");
	pnr_bad("1970010112333", "must be 12 digits");
	pnr_bad("19700101123x", "must be 12 digits");
	pnr_bad("", "missing");
	pnr_bad(NULL, "missing");
	pnr_bad("197013011233", "month 13 does not exist");
	pnr_bad("197000011233", "month 00 does not exist");
	pnr_bad("197002301233", "day 30 does not exist in 1970-02");
	pnr_bad("190002291233", "day 29 does not exist in 1900-02");  /* 1900 is no leap year */
	pnr_bad("197001001233", "day 00 does not exist");
	pnr_bad("197002901233", "samordningsnummer 197002901233: day 90 (birth day 30 + 60) does not exist");
	pnr_bad("209901011233", "is in the future");
	pnr_bad("180001011233", "year 1800 is not plausible");
}

static void test_orgnr(void **state)
{
	(void)state;
	efos_err e = { 0 };
	assert_int_equal(policy_orgnr_check("2021000001", &e), 0);
	assert_int_equal(policy_orgnr_check("5562265719", &e), 0);
	assert_int_equal(policy_orgnr_check("2021005448", &e), 0);   /* Skatteverket */
	assert_int_equal(policy_orgnr_check("2021000002", &e), -1);
	assert_string_equal(e.msg, "organisationsnummer 2021000002: checksum digit is wrong (expected 1)");
	assert_int_equal(policy_orgnr_check("5510000002", &e), -1);
	assert_non_null(strstr(e.msg, "third digit must be 2 or more"));
	assert_int_equal(policy_orgnr_check("202100-0001", &e), -1);
	assert_non_null(strstr(e.msg, "without hyphen"));
	assert_int_equal(policy_orgnr_check("162021000001", &e), -1);
	assert_non_null(strstr(e.msg, "without the 16 prefix"));
	assert_int_equal(policy_orgnr_check("202100000", &e), -1);
	assert_non_null(strstr(e.msg, "must be 10 digits"));
	assert_int_equal(policy_orgnr_check("20210000O1", &e), -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	assert_int_equal(policy_orgnr_check(NULL, &e), -1);
	/* a message never carries more than a bounded, printable part of the input */
	char big[200];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[3] = '\n';
	assert_int_equal(policy_orgnr_check(big, &e), -1);
	assert_null(strchr(e.msg, '\n'));
	assert_true(strlen(e.msg) < 120);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_luhn),
		cmocka_unit_test(test_pnr_valid),
		cmocka_unit_test(test_pnr_invalid),
		cmocka_unit_test(test_orgnr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
