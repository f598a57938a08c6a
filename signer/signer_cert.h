/* The per-request signing key and signer certificate of federated signing (spec §7.6, §9.2).
 * After the user authenticated, a FRESH key pair is generated in the HSM for this one request
 * (a session object labelled efos-sig-<random hex>: it never reaches the token's storage, and
 * the HSM drops it by itself when efosd's session ends, so a crash cannot leave it behind),
 * certified by the `sign` CA with the user's identity from
 * the assertion (serialNumber, the requested or default attribute mapping, the RFC 7773
 * authentication-context extension with saci:SAMLAuthContext, the profile's policies, QC
 * statements for CertType QC and QC/SSCD), used for every SignTaskData (signer/sign_task.h)
 * and destroyed with signer_cert_destroy. */
#ifndef EFOS_SIGNER_SIGNER_CERT_H
#define EFOS_SIGNER_SIGNER_CERT_H

#include <stddef.h>
#include <time.h>
#include <libpq-fe.h>
#include <openssl/x509.h>
#include "core/err.h"
#include "signer/dss.h"

struct hsm;
struct hsm_key;
struct certs_ca;
struct cert_profile;

/* The label prefix of per-request signing keys in the HSM. */
#define SIGNER_KEY_LABEL_PREFIX "efos-sig-"

/* The RFC 7773 authentication-context extension and its SAML context type. */
#define SIGNER_OID_AUTH_CONTEXT "1.2.752.201.5.1"
#define SIGNER_SACI_CONTEXT_TYPE "http://id.elegnamnden.se/auth-cont/1.0/saci"

struct signer_cert_request {
	const struct dss_sign_request *req;   /* cert_type, cert_attrs, sig_alg */
	const struct dss_attr *attrs;         /* the assertion's attributes */
	size_t n_attrs;
	const char *idp;                      /* the asserting IdP's entityID */
	time_t authn_instant;                 /* AuthnStatement/@AuthnInstant */
	const char *loa;                      /* AuthnContextClassRef of the assertion */
	const char *assertion_id;             /* Assertion/@ID */
	const char *service_id;               /* our entityID (AuthContextInfo/@ServiceID) */
	int rsa_bits;                         /* RSA key size for rsa-* algorithms; 0 = 2048 */
	const char *actor;                    /* audit actor; NULL = "signer" */
	STACK_OF(X509) *ca_chain;             /* the issuing CA, its issuer, ... the root (borrowed; built
	                                       * once at start-up with certs_ca_chain); NULL: the issuing
	                                       * CA's certificate only */
};

struct signer_cert {
	struct hsm_key *key;                  /* the fresh key (token object, label efos-sig-<hex>) */
	X509 *cert;                           /* the signer certificate */
	STACK_OF(X509) *chain;                /* sign CA ... as far as known (the sign CA's cert) */
	struct dss_attr *mapped;              /* the SAML attributes that went into the certificate */
	size_t n_mapped;                      /* (for SignerAssertionInfo) */
};

/* Maps the attributes (RequestedCertAttributes, or when absent the default mapping:
 * serialNumber<-personnummer/prid/eidasPersonIdentifier, givenName, sn, CN<-displayName,
 * C<-"SE", O<-o, organizationIdentifier<-2.5.4.97 or orgAffiliation's org part), generates
 * the key (RSA rsa_bits for rsa-* algorithms, P-256 / P-384 / P-521 for ecdsa-sha256 /
 * -sha384 / -sha512), issues and stores the certificate with certs_store (audited, in c's
 * transaction, or in one of its own when c is not in one). On failure res is set: a Required attribute or the mandatory
 * serialNumber without value -> RequesterError/GeneralError naming the attribute; an unknown
 * or unusable signature algorithm -> RequesterError/NotSupported; key generation failure ->
 * ResponderError/KeyLookupFailed; issuance failure -> ResponderError/GeneralError. out is
 * zeroed first and left empty (key destroyed) on failure. */
int signer_cert_issue(PGconn *c, struct hsm *h, const struct certs_ca *sign_ca,
		      const struct cert_profile *profile, const struct signer_cert_request *r,
		      struct signer_cert *out, struct dss_result *res, efos_err *e);

/* Destroys the key in the HSM (always; a failure is logged) and frees everything; sc is
 * zeroed. Safe on a zeroed struct. */
void signer_cert_destroy(struct signer_cert *sc);

/* Destroys every key labelled efos-sig-* left in the token (token objects made by versions
 * before the keys became session objects, and a crash between keygen and destroy then): call
 * at start-up before serving. *n_destroyed (may be NULL) gets the count. */
int signer_keys_sweep(struct hsm *h, size_t *n_destroyed, efos_err *e);

/* Per-request keys generated and destroyed since start (for /metrics: created - destroyed is
 * the number alive, 0 when no signing is in progress). */
void signer_keys_counts(unsigned long *created, unsigned long *destroyed);

/* The saci:SAMLAuthContext XML of a certificate's 1.2.752.201.5.1 extension (malloc'd
 * NUL-terminated UTF-8), or NULL with e set when absent or malformed. For tests and the
 * validation report. */
char *signer_cert_auth_context_xml(X509 *cert, efos_err *e);

#endif
