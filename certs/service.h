/* The CA as efosd runs it: the CAs loaded from the database with their HSM keys, the profiles,
 * the CRL publisher thread and the OCSP responder state. One per node, built at start-up. */
#ifndef EFOS_CERTS_SERVICE_H
#define EFOS_CERTS_SERVICE_H

#include <openssl/x509.h>
#include <libpq-fe.h>
#include "core/err.h"

struct efos_ctx;
struct hsm_key;
struct cert_profiles;

struct certs_ca {
	long id;
	char *name;               /* "root", "card", "sign", "ocsp"... */
	X509 *cert;
	struct hsm_key *key;      /* NULL when the key is not in this node's HSM */
	EVP_PKEY *signer;         /* hsm_evp_pkey(key), NULL when key is NULL */
};

struct certs_service;

/* Loads CAs from the `cas` table, finds their keys in ctx->hsm, loads ca.profiles_file, starts
 * the CRL publisher. */
int certs_service_start(struct efos_ctx *ctx, struct certs_service **out, efos_err *e);
void certs_service_stop(struct certs_service *s);

const struct certs_ca *certs_ca_by_name(const struct certs_service *s, const char *name);
const struct certs_ca *certs_ca_by_id(const struct certs_service *s, long id);
size_t certs_ca_count(const struct certs_service *s);
const struct certs_ca *certs_ca_at(const struct certs_service *s, size_t i);
const struct cert_profiles *certs_profiles(const struct certs_service *s);
/* Pushes ca, its issuer, ... up to the self-signed root (by X509_check_issued among the loaded
 * CAs; at most 8) onto out. The certificates are borrowed (owned by s). -1 when out of memory. */
int certs_ca_chain(const struct certs_service *s, const struct certs_ca *ca, STACK_OF(X509) *out);
/* The OCSP signer's certificate and key (profile ocsp-signer, issued by each CA or delegated). */
int certs_ocsp_signer(const struct certs_service *s, const struct certs_ca *ca, X509 **cert,
		      EVP_PKEY **key);

/* ---- Added ---- */
/* certs_ocsp_signer: the returned certificate and key are borrowed (owned by s, valid until
 * certs_service_stop); -1 when the CA has no delegated OCSP signer whose key is in this HSM. */

/* Loads the CAs (keys found in h; h may be NULL: no keys) and the profiles (profiles_file may
 * be NULL: no profiles) without starting the CRL publisher: for efosctl and tests. Free it with
 * certs_service_stop. A CA whose key is not in h gets key = signer = NULL (it cannot sign
 * here); a key that does not match the CA certificate is an error. */
struct hsm;
struct cert_profile;
int certs_service_load(PGconn *c, struct hsm *h, const char *profiles_file, const char *base_url,
		       struct certs_service **out, efos_err *e);
/* The CA that issues profile p (its `issuer`), NULL when it is not loaded or p is self/any. */
const struct certs_ca *certs_ca_for_profile(const struct certs_service *s, const struct cert_profile *p);

/* Tells the CRL publisher that a CA's revocation list changed; it reissues within seconds. */
void certs_crl_notify(struct certs_service *s, long ca_id);

#endif
