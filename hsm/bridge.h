/* Bridges that let OpenSSL and xmlsec sign with a key held in the HSM. The private key never
 * leaves the token: every signature goes through hsm_sign_digest(). */
#ifndef EFOS_HSM_BRIDGE_H
#define EFOS_HSM_BRIDGE_H

#include <openssl/evp.h>
#include <libxml/tree.h>
#include "hsm/hsm.h"

/* An EVP_PKEY whose private operations (RSA PKCS#1 v1.5 signatures, ECDSA) go to the HSM;
 * usable with X509_sign, X509_REQ_sign, X509_CRL_sign, CMS_sign, OCSP_basic_sign, TS.
 * The caller EVP_PKEY_free()s it; k must outlive it. */
EVP_PKEY *hsm_evp_pkey(struct hsm_key *k, efos_err *e);

/* XML-DSig: signs the <ds:Signature> template node `sig_node` (an xmlsec template already
 * placed in its document, with its References) using k: digests the references and
 * canonicalises SignedInfo with xmlsec/libxml2, then signs through the HSM and writes
 * SignatureValue. The template's KeyInfo is left as the caller filled it (put the
 * certificate's base64 there once; do not have xmlsec attach it per signature). */
int hsm_xmldsig_sign(xmlNodePtr sig_node, struct hsm_key *k, efos_err *e);

/* An enveloped signature the SAML way, built and signed in one call (the IdP's Responses and
 * Assertions, the signing service's AuthnRequests): a ds:Signature inserted right after `after`
 * (the Issuer) in `target`, SignedInfo = exc-c14n, sig_alg, one Reference "#id" with the
 * enveloped-signature and exc-c14n transforms (InclusiveNamespaces PrefixList when
 * inclusive_prefixes is non-NULL) and digest_alg; KeyInfo/X509Data/X509Certificate = cert_b64,
 * or no KeyInfo when cert_b64 is NULL. Signed through hsm_xmldsig_sign with k.
 * The DSS way (SignRequest, SignResponse): id NULL gives Reference URI="" (the whole document)
 * and after NULL puts the signature as the last child of target (dss:OptionalOutputs). */
struct hsm_xmldsig_enveloped {
	xmlNodePtr target;
	xmlNodePtr after;
	const char *id;
	const char *sig_alg;
	const char *digest_alg;
	const char *inclusive_prefixes;
	const char *cert_b64;
};
int hsm_xmldsig_sign_enveloped(const struct hsm_xmldsig_enveloped *p, struct hsm_key *k, efos_err *e);
/* The same as hsm_xmldsig_sign, for signatures that also cover data outside the document (XAdES
 * detached, a hash-only request): a Reference whose URI is neither "" nor "#id" is taken as the
 * caller prepared it (DigestMethod and DigestValue over the raw octets, which the caller
 * computed; no Transforms); every other Reference is digested as usual. */
int hsm_xmldsig_sign_detached(xmlNodePtr sig_node, struct hsm_key *k, efos_err *e);

#endif
