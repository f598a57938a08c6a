/* Shared by the unit tests that use the test token: the token from the environment that
 * scripts/testenv.sh writes (source var/test/env), session keys, verification helpers and a
 * self-signed certificate for an HSM key (for metadata, trust lists, SAML signing). */
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
#include <openssl/x509.h>
#include "hsm/bridge.h"
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

/* A self-signed v3 certificate for an HSM key (signed through the OpenSSL bridge), CN only,
 * serial 11, valid from an hour ago for a year. */
static inline X509 *test_hsm_self_signed(struct hsm_key *k, const char *cn)
{
	efos_err e = { 0 };
	EVP_PKEY *priv = hsm_evp_pkey(k, &e);
	if (priv == NULL)
		fail_msg("hsm_evp_pkey %s: %s", cn, e.msg);
	X509 *x = X509_new();
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 11);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_NAME *n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_NAME_free(n);
	X509_set_pubkey(x, hsm_key_public(k));
	assert_true(X509_sign(x, priv, EVP_sha256()) > 0);
	EVP_PKEY_free(priv);
	return x;
}

/* The certificate's DER in base64 on one line (as in ds:X509Certificate); the caller frees. */
static inline char *test_cert_b64(X509 *x)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	assert_true(len > 0);
	char *s = malloc(4 * ((size_t)len + 2) / 3 + 4);
	assert_non_null(s);
	EVP_EncodeBlock((unsigned char *)s, der, len);
	OPENSSL_free(der);
	return s;
}

#endif
