/* dss:SignResponse (spec §7.4): builds the signed response that carries the result, the
 * signer's assertion info, the certificate chain and the signature of every task, and the
 * auto-POST page that delivers it to the requester's return URL (§7.1 step 6).
 * An error response carries the Result only: no SignerAssertionInfo, chain or SignatureObject. */
#ifndef EFOS_SIGNER_DSS_RESPONSE_H
#define EFOS_SIGNER_DSS_RESPONSE_H

#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>
#include "core/err.h"
#include "hsm/hsm.h"
#include "signer/dss.h"

/* csig:SignerAssertionInfo */
struct dss_signer_info {
	const char *idp;                       /* ContextInfo/IdentityProvider */
	time_t authn_instant;                  /* ContextInfo/AuthenticationInstant */
	const char *loa;                       /* ContextInfo/saml:AuthnContextClassRef */
	const char *service_id;                /* ContextInfo/ServiceID: our entityID */
	const char *assertion_id;              /* ContextInfo/AssertionRef (MUST per profile) */
	const struct dss_attr *attrs;          /* the attributes mapped into the certificate */
	size_t n_attrs;
	const unsigned char *assertion;        /* csig:SamlAssertions/csig:Assertion bytes, or NULL */
	size_t assertion_len;
};

struct dss_response_params {
	const char *request_id;                /* echo the request's */
	const char *version;                   /* the request's csig Version (NULL: "1.1") */
	const struct dss_result *result;
	const struct dss_signer_info *signer;  /* success only */
	X509 *const *chain;                    /* success only: signer cert first ... root */
	size_t n_chain;
	const struct dss_sign_task *tasks;     /* success only: with sig/sig_alg_uri set */
	size_t n_tasks;
	time_t now;                            /* 0: time(NULL) */
};

/* Our signing key in the HSM and its certificate (DER base64, no PEM armour), borrowed. */
struct dss_response_key {
	struct hsm_key *key;
	const char *cert_b64;
};

/* The signed dss:SignResponse, base64 (the EidSignResponse form value); *b64 malloc'd. */
int dss_response_build(const struct dss_response_key *k, const struct dss_response_params *p,
		       char **b64, efos_err *e);

/* The same, the XML itself (for tests and logs); *xml malloc'd, NUL-terminated. */
int dss_response_build_xml(const struct dss_response_key *k, const struct dss_response_params *p,
			   char **xml, size_t *xml_len, efos_err *e);

/* The auto-POST page (Binding=POST/XML/1.0, RelayState, EidSignResponse) with a visible submit
 * button (works without JavaScript) and, when script_nonce != NULL, a <script nonce> that
 * submits it. Every value is HTML-escaped. malloc'd; NULL only when out of memory. */
char *dss_response_post_form(const char *return_url, const char *b64, const char *relay_state,
			     const char *script_nonce);

#endif
