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
	/* Added (signer: signer certificates, whose names come from the request's attribute
	 * mapping): when set, the subject exactly as given, and the profile's subject list is not
	 * used; extensions added as given after the profile's (none may repeat one of those). */
	const X509_NAME *subject_name;
	X509_EXTENSION *const *extra_exts;
	size_t n_extra_exts;
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

/* ---- Added ---- */

/* Builds and signs a certificate without storing it: serial given, ca->cert NULL means
 * self-signed (req->public_key must then be the public half of ca->signer; ca init's root).
 * ${issuer} in the profile's URLs becomes ca->name. No key policy or issuer check here. */
int certs_build(const struct certs_ca *ca, const struct cert_issue_request *req,
		const unsigned char *serial, size_t serial_len, X509 **out, efos_err *e);
/* Stores x in `certificates` (status req->initial_status; 'hold' also sets revoked_at = now()
 * and reason certificateHold) and appends "cert.issue". Returns 0 stored, 1 when the serial
 * exists already (nothing stored, the transaction still usable), -1 on error. */
int certs_store(PGconn *c, long ca_id, const char *ca_name, X509 *x,
		const struct cert_issue_request *req, efos_err *e);
/* 16 random bytes, top bits 01: a positive 128-bit serial of exactly 16 bytes. */
int certs_serial_random(unsigned char serial[16], efos_err *e);
/* The certificate's serial as big-endian bytes (the `certificates.serial` form). */
int certs_serial_bytes(const X509 *x, unsigned char *buf, size_t cap, size_t *len);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void certs_hex(const unsigned char *b, size_t n, char *out);
/* RFC 2253 form of a name (UTF-8 kept), malloc'd; NULL when out of memory. */
char *certs_name_string(const X509_NAME *nm);
/* The `node` of the audit events written by certs/ (default "efos"; efosd and efosctl set
 * their node name). */
void certs_set_audit_node(const char *node);
const char *certs_audit_node(void);
/* Tests only: replaces the serial random source (NULL restores RAND_bytes). */
void certs_issue_set_serial_source(int (*fn)(unsigned char *buf, int n));

#endif
