/* Certificate issuance: a profile, a public key (from a verified CSR or an HSM key), subject
 * values, the issuing CA's key in the HSM. Serial numbers are 128-bit random (positive,
 * unique: retried on collision). Each issued certificate is stored in `certificates` with an
 * audit event in the caller's transaction. */
#ifndef EFOS_CERTS_ISSUE_H
#define EFOS_CERTS_ISSUE_H

#include <openssl/x509.h>
#include <libpq-fe.h>
#include "core/err.h"
#include "certs/profile.h"

struct cert_subject_values {       /* NULL = not available */
	const char *c, *o, *ou, *cn, *given_name, *surname, *serial_number, *org_identifier,
		*title, *email;
};

struct cert_issue_request {
	const struct cert_profile *profile;
	EVP_PKEY *public_key;               /* the subject's public key */
	struct cert_subject_values subject;
	const char *const *dns_names;       /* subjectAltName dNSName / iPAddress for TLS profiles */
	size_t n_dns_names;
	long card_id;                        /* 0 = none */
	long person_id;                      /* 0 = none */
	const char *initial_status;          /* "good" or "hold" (pending enrollment) */
	const char *actor;                   /* for the audit event */
};

struct certs_ca;
/* Issues and stores the certificate (caller's transaction). *out is the new certificate. */
int certs_issue(PGconn *c, const struct certs_ca *ca, const struct cert_issue_request *req,
		X509 **out, efos_err *e);

/* Checks a public key against the profile's key policy (type, size): "RSA key of 1024 bits is
 * below the 2048 required by profile card-auth". */
int certs_key_policy_check(const struct cert_profile *p, EVP_PKEY *key, efos_err *e);

/* Parses a DER or PEM CSR and verifies its self-signature (proof of possession). */
int certs_csr_parse_verify(const unsigned char *data, size_t len, X509_REQ **out, efos_err *e);

#endif
