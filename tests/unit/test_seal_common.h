/* Shared by the seal unit tests that work with in-memory keys (test_seal, test_sigval,
 * test_pades): a small X.509 issuer for a test CA, its seal certificates and TSA, and a
 * timestamp callback over an in-process TSA with numbered tokens. Header-only because each
 * tests/unit/test_*.c is one program. */
#ifndef EFOS_TEST_SEAL_COMMON_H
#define EFOS_TEST_SEAL_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "signer/tsa.h"

/* A v3 certificate for pub, signed by issuer_key (self-signed when issuer is NULL), valid from
 * an hour ago for a day: basicConstraints (critical), keyUsage ku, extendedKeyUsage eku when
 * not NULL, the SKI and, for an issued certificate, the AKI. serial 0 takes the next of a
 * counter starting at 1. subject_o adds an O to the name when not NULL. */
static inline X509 *test_make_cert(EVP_PKEY *pub, const char *cn, const char *subject_o, X509 *issuer,
				   EVP_PKEY *issuer_key, const char *ku, const char *eku, bool ca, long serial)
{
	static long next = 1;
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX v3;
	assert_non_null(x);
	assert_non_null(n);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial ? serial : next++);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	if (subject_o != NULL)
		X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)subject_o, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pub);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	const struct {
		int nid;
		const char *value;
	} exts[] = {
		{ NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE" },
		{ NID_key_usage, ku },
		{ NID_ext_key_usage, eku },
		{ NID_subject_key_identifier, "hash" },
		{ NID_authority_key_identifier, issuer ? "keyid:always" : NULL },
	};
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		if (exts[i].value == NULL)
			continue;
		X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

/* The TSA's serial source: numbers from 100 up, so a test can predict the next token's. */
static uint64_t test_tsa_next_serial = 100;
static inline int test_tsa_serial(void *arg, uint64_t *serial, efos_err *e)
{
	*serial = test_tsa_next_serial++;
	return 0;
}

/* A seal_timestamp_fn: arg is the struct signer_tsa that stamps. */
static inline int test_tsa_stamp(void *arg, const EVP_MD *md, const unsigned char *data, size_t len,
				 unsigned char **token, size_t *token_len, efos_err *e)
{
	return signer_tsa_stamp(arg, md, data, len, test_tsa_serial, NULL, token, token_len, e);
}

#endif
