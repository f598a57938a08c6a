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

/* What hsm_xmldsig_sign_enveloped() puts in the signature it builds. */
struct hsm_xmldsig_enveloped {
	const char *ref_uri;            /* "#id" (SAML) or "" (the whole document: DSS) */
	const char *sig_alg;            /* SignatureMethod; NULL: rsa-sha256 or ecdsa-sha256 by key */
	const char *digest_alg;         /* DigestMethod; NULL: sha256 */
	const char *inclusive_prefixes; /* exc-c14n InclusiveNamespaces PrefixList of the transform, or NULL */
	const char *cert_b64;           /* KeyInfo/X509Data/X509Certificate, or NULL for no KeyInfo */
};

/* Builds an enveloped ds:Signature (exc-c14n; transforms enveloped-signature then exc-c14n; one
 * Reference) in parent, as the next sibling of `after` (a child of parent), or as parent's last
 * child when after is NULL, and signs it with k through hsm_xmldsig_sign(). */
int hsm_xmldsig_sign_enveloped(xmlNodePtr parent, xmlNodePtr after, const struct hsm_xmldsig_enveloped *t,
			       struct hsm_key *k, efos_err *e);
/* The same, for signatures that also cover data outside the document (XAdES detached, a
 * hash-only request): a Reference whose URI is neither "" nor "#id" is taken as the caller
 * prepared it (DigestMethod and DigestValue over the raw octets, which the caller computed;
 * no Transforms); every other Reference is digested as above. */
int hsm_xmldsig_sign_detached(xmlNodePtr sig_node, struct hsm_key *k, efos_err *e);

#endif
