/* Swedish identity numbers, checked before anything is stored:
 *   personnummer        12 digits YYYYMMDDNNNC (no hyphen), C = Luhn check digit over the last
 *                       10 digits, YYYYMMDD a real date not in the future (SKV 704);
 *   samordningsnummer   the same with 60 added to the day (61..91); flagged as such;
 *   organisationsnummer 10 digits (no hyphen), Luhn over all 10, third digit >= 2 so that it can
 *                       never be read as a personnummer's month (SKV 709).
 * Error messages name the number and exactly what is wrong:
 *   "personnummer 197001011234: checksum digit is wrong (expected 3)". */
#ifndef EFOS_POLICY_IDENTITY_NUMBERS_H
#define EFOS_POLICY_IDENTITY_NUMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

struct policy_pnr_info {
	bool is_coordination_number;   /* samordningsnummer: day + 60 */
	int birth_year, birth_month, birth_day;   /* the real date (day without the + 60) */
};

/* Checks a personnummer or samordningsnummer (12 digits). info may be NULL.
 * EFOS_E_INVALID with the reason on failure. */
int policy_pnr_check(const char *pnr, struct policy_pnr_info *info, efos_err *e);

/* Checks an organisationsnummer (10 digits). EFOS_E_INVALID with the reason on failure. */
int policy_orgnr_check(const char *orgnr, efos_err *e);

/* The Luhn check digit (0..9) for the n decimal digits at d (weights 2,1,2,... from the left,
 * as Skatteverket computes it); -1 when d holds a non-digit. */
int policy_luhn_digit(const char *d, size_t n);

#endif
