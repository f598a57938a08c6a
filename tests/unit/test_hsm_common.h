/* Shared by the hsm/ unit tests: the test token from the environment that
 * scripts/testenv.sh writes (source var/test/env), and verification helpers. */
#ifndef EFOS_TEST_HSM_COMMON_H
#define EFOS_TEST_HSM_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include "hsm/hsm.h"

static inline const char *test_env(const char *name)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0') {
		fprintf(stderr, "%s is not set: run `scripts/testenv.sh up` and source var/test/env\n", name);
		fail_msg("%s is not set: run `scripts/testenv.sh up` and source var/test/env", name);
	}
	return v;
}

static inline struct hsm *test_hsm_open(int nsessions)
{
	struct hsm *h = NULL;
	efos_err e = { 0 };
	int rc = hsm_open(test_env("EFOS_TEST_HSM_MODULE"), test_env("EFOS_TEST_HSM_TOKEN"),
			  test_env("EFOS_TEST_HSM_PIN"), nsessions, &h, &e);
	if (rc != 0)
		fail_msg("hsm_open: %s", e.msg);
	return h;
}

/* A session key (CKA_TOKEN false): gone when the test's sessions close, nothing to clean. */
static inline struct hsm_key *test_session_key(struct hsm *h, enum hsm_key_kind kind, int bits_or_nid,
					       const char *label)
{
	struct hsm_keygen_params p = { .kind = kind, .label = label, .token_object = false };
	if (kind == HSM_KEY_RSA)
		p.bits = bits_or_nid;
	else
		p.curve_nid = bits_or_nid;
	struct hsm_key *k = NULL;
	efos_err e = { 0 };
	if (hsm_keygen(h, &p, &k, &e) != 0)
		fail_msg("hsm_keygen %s: %s", label, e.msg);
	return k;
}

/* Verifies sig over dgst with pub as OpenSSL sees it: PKCS#1 v1.5, PSS with salt = digest
 * length, or DER ECDSA. */
static inline bool test_verify_digest(EVP_PKEY *pub, const EVP_MD *md, enum hsm_padding pad,
				      const unsigned char *dgst, size_t dlen,
				      const unsigned char *sig, size_t siglen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
	bool ok = ctx != NULL && EVP_PKEY_verify_init(ctx) > 0 &&
		  EVP_PKEY_CTX_set_signature_md(ctx, md) > 0;
	if (ok && pad == HSM_PAD_PKCS1)
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
	if (ok && pad == HSM_PAD_PSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)dlen) > 0 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
	ok = ok && EVP_PKEY_verify(ctx, sig, siglen, dgst, dlen) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

#endif
