/* What signer/xades.c (seal signatures) and signer/xades_fed.c (the federated update) share:
 * the algorithm URIs and the xades:SigningCertificateV2 element. Not for other modules. */
#ifndef EFOS_SIGNER_XADES_INTERNAL_H
#define EFOS_SIGNER_XADES_INTERNAL_H

#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "core/err.h"

/* DigestMethod URI of md (sha256/384/512), NULL for any other digest. */
const char *xades_digest_uri(const EVP_MD *md);

/* The element xades:SigningCertificateV2/xades:Cert with CertDigest (SHA-256 of the DER
 * certificate) and IssuerSerialV2 (base64 DER of RFC 5035 IssuerSerial: the issuer as a
 * directoryName, the serial number), in the namespace xades (its prefix reused), built in doc.
 * ds: the ds namespace in scope where the element will go, or NULL to declare one on it. */
xmlNodePtr xades_signing_cert_v2(xmlDocPtr doc, xmlNsPtr xades, xmlNsPtr ds, X509 *cert, efos_err *e);

#endif
