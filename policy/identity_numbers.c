/* Swedish personnummer, samordningsnummer and organisationsnummer (Skatteverket SKV 704 and
 * SKV 709). The messages quote the number: they go to the officer who typed it. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "policy/identity_numbers.h"

int policy_luhn_digit(const char *d, size_t n)
{
	int sum = 0;
	for (size_t i = 0; i < n; i++) {
		if (d[i] < '0' || d[i] > '9')
			return -1;
		int v = (d[i] - '0') * ((i % 2 == 0) ? 2 : 1);
		sum += v > 9 ? v - 9 : v;
	}
	return (10 - sum % 10) % 10;
}

/* The number, bounded and made printable, for a message. */
static void quote(char *dst, size_t cap, const char *s)
{
	size_t o = 0;
	for (size_t i = 0; s[i] != '\0' && o + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i >= 20) {
			if (o + 4 < cap)
				memcpy(dst + o, "...", 3), o += 3;
			break;
		}
		dst[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	dst[o] = '\0';
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int two(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && leap(y) ? 29 : d[m - 1];
}

int policy_pnr_check(const char *pnr, struct policy_pnr_info *info, efos_err *e)
{
	char q[32];
	if (pnr == NULL || *pnr == '\0')
		return efos_fail(e, EFOS_E_INVALID, "personnummer is missing");
	quote(q, sizeof q, pnr);
	size_t len = strlen(pnr);
	if (len == 13 && (pnr[8] == '-' || pnr[8] == '+'))
		return efos_fail(e, EFOS_E_INVALID,
				 "personnummer %s: give the 12 digits without hyphen (YYYYMMDDNNNC)", q);
	if (len == 10 || len == 11)
		return efos_fail(e, EFOS_E_INVALID,
				 "personnummer %s: give all 12 digits, century included (YYYYMMDDNNNC)", q);
	if (len != 12 || !all_digits(pnr, 12))
		return efos_fail(e, EFOS_E_INVALID,
				 "personnummer %s: must be 12 digits YYYYMMDDNNNC (no hyphen)", q);

	int year = two(pnr) * 100 + two(pnr + 2), month = two(pnr + 4), day = two(pnr + 6);
	bool coord = day > 60;
	const char *what = coord ? "samordningsnummer" : "personnummer";
	if (coord)
		day -= 60;
	if (year < 1850)
		return efos_fail(e, EFOS_E_INVALID, "%s %s: year %d is not plausible", what, q, year);
	if (month < 1 || month > 12)
		return efos_fail(e, EFOS_E_INVALID, "%s %s: month %02d does not exist", what, q, month);
	if (day < 1 || day > days_in_month(year, month)) {
		if (coord)
			return efos_fail(e, EFOS_E_INVALID,
					 "samordningsnummer %s: day %02d (birth day %02d + 60) does not exist in %04d-%02d",
					 q, day + 60, day, year, month);
		return efos_fail(e, EFOS_E_INVALID, "personnummer %s: day %02d does not exist in %04d-%02d",
				 q, day, year, month);
	}
	/* one day of slack: a birth may be "today" in Sweden while it is still yesterday in UTC */
	time_t tomorrow = time(NULL) + 86400;
	struct tm tm;
	gmtime_r(&tomorrow, &tm);
	long limit = (long)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
	if ((long)year * 10000 + month * 100 + day > limit)
		return efos_fail(e, EFOS_E_INVALID, "%s %s: the date of birth %04d-%02d-%02d is in the future",
				 what, q, year, month, day);

	int want = policy_luhn_digit(pnr + 2, 9);
	if (want != pnr[11] - '0')
		return efos_fail(e, EFOS_E_INVALID, "%s %s: checksum digit is wrong (expected %d)", what, q,
				 want);
	if (info != NULL) {
		info->is_coordination_number = coord;
		info->birth_year = year;
		info->birth_month = month;
		info->birth_day = day;
	}
	return 0;
}

int policy_orgnr_check(const char *orgnr, efos_err *e)
{
	char q[32];
	if (orgnr == NULL || *orgnr == '\0')
		return efos_fail(e, EFOS_E_INVALID, "organisationsnummer is missing");
	quote(q, sizeof q, orgnr);
	size_t len = strlen(orgnr);
	if (len == 11 && orgnr[6] == '-')
		return efos_fail(e, EFOS_E_INVALID,
				 "organisationsnummer %s: give the 10 digits without hyphen", q);
	if (len == 12 && all_digits(orgnr, 12) && orgnr[0] == '1' && orgnr[1] == '6')
		return efos_fail(e, EFOS_E_INVALID,
				 "organisationsnummer %s: give the 10 digits without the 16 prefix", q);
	if (len != 10 || !all_digits(orgnr, 10))
		return efos_fail(e, EFOS_E_INVALID, "organisationsnummer %s: must be 10 digits (no hyphen)", q);
	if (orgnr[2] < '2')
		return efos_fail(e, EFOS_E_INVALID,
				 "organisationsnummer %s: the third digit must be 2 or more (otherwise it is a "
				 "personnummer, not an organisationsnummer)", q);
	int want = policy_luhn_digit(orgnr, 9);
	if (want != orgnr[9] - '0')
		return efos_fail(e, EFOS_E_INVALID, "organisationsnummer %s: checksum digit is wrong (expected %d)",
				 q, want);
	return 0;
}
