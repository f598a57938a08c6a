/* A short memory of successful path validations (used by certs/validate.c only).
 *
 * An SSO login re-validates the card's certificate path at every request (a revoked card, an
 * ended affiliation or a suspended holder must end the session at once). The status part of
 * that is a database read; the path part (X509_verify_cert: two P-256 signature checks, policy
 * tree) cannot change for the same certificates within their validity, and was ≈ 13 % of an
 * SSO login's CPU. A success is remembered, keyed by the SHA-256 of the leaf and the
 * fingerprints of every certificate offered to the path builder (anchors, known CAs, what the
 * presenter sent) and the purpose and policy asked for, for at most MEMO_TTL_S and never past
 * the earliest notAfter of the path. Only validations "now" are remembered or answered; a
 * failure is never remembered; revocation is never remembered (it is not part of this). */
#ifndef EFOS_CERTS_VALIDATE_MEMO_H
#define EFOS_CERTS_VALIDATE_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>

/* What a successful X509_verify_cert left behind that validate.c uses afterwards. */
struct path_memo_result {
	STACK_OF(X509) *chain;      /* leaf first, anchor last (the caller owns a reference) */
	int purpose_depth;          /* verify callback: first invalid-purpose depth, -1 none */
	bool policy_failed;         /* verify callback: no explicit policy */
	bool *validated;            /* per leaf policy (certificatePolicies order): accepted */
	size_t n_validated;
};

/* The key of one validation. Returns false when it cannot be computed (then do not memoise). */
bool path_memo_key(X509 *leaf, STACK_OF(X509) *anchors, STACK_OF(X509) *intermediates,
		   STACK_OF(X509) *untrusted, int purpose, const char *policy, unsigned char key[32]);
/* On a hit, fills out (chain up-referenced, validated malloc'd: the caller frees both). */
bool path_memo_get(const unsigned char key[32], time_t now, struct path_memo_result *out);
/* Remembers a success (copies what it needs). */
void path_memo_put(const unsigned char key[32], time_t now, const struct path_memo_result *res);
/* Forgets everything (tests; a change of trust). */
void path_memo_clear(void);
/* Validations answered from memory since start (tests, diagnostics). */
unsigned long path_memo_hits(void);

#endif
