/* XAdES baseline B signatures (ETSI EN 319 132-1, XAdES 1.3.2 namespace) made with a key in
 * the HSM, for the seal API, and the XAdES update of a federated signing task (spec §7.3).
 *
 * Every signature is a ds:Signature Id="<sig id>" with
 *   SignedInfo     exc-c14n; rsa-sha256/384/512 or ecdsa-sha256/384/512 by key type and md;
 *                  one Reference to the document (Id="<sig id>-ref0") and one
 *                  Type="http://uri.etsi.org/01903#SignedProperties" to "#<sig id>-signedprops"
 *   KeyInfo        X509Data: the signer certificate, then its chain
 *   ds:Object      xades:QualifyingProperties Target="#<sig id>" / SignedProperties Id=...:
 *                  SigningTime, SigningCertificateV2 (CertDigest SHA-256 + IssuerSerialV2),
 *                  DataObjectFormat (MimeType) for the document reference
 * and the three packagings:
 *   enveloped    the document is XML; the ds:Signature is appended to its root element;
 *                Reference URI="" with the enveloped-signature transform, then exc-c14n
 *   enveloping   the document inside ds:Object Id="<sig id>-doc": base64 of any bytes, or
 *                (document_is_xml) the XML document's root element itself; URI="#<sig id>-doc"
 *   detached     Reference URI=<reference_uri> (a name/URL the client chose) over the bytes of
 *                the document, no transforms; or hash-only: the client gives the digest and
 *                the document never reaches us (the same signature as for the document)
 * SignedInfo and SignedProperties are canonicalised and signed by hsm_xmldsig_sign()
 * (hsm/bridge.h): EFOS's own exclusive c14n, the private key operation in the HSM. */
#ifndef EFOS_SIGNER_XADES_H
#define EFOS_SIGNER_XADES_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "core/err.h"

struct hsm_key;

#define XADES_NS "http://uri.etsi.org/01903/v1.3.2#"
#define XADES_NS_141 "http://uri.etsi.org/01903/v1.4.1#"
#define XADES_SIGNED_PROPS_TYPE "http://uri.etsi.org/01903#SignedProperties"

/* Largest document or XML input accepted (the seal API's body limit is lower). */
#define XADES_MAX_DOCUMENT (16u * 1024u * 1024u)

enum xades_packaging { XADES_ENVELOPED, XADES_ENVELOPING, XADES_DETACHED };

/* The sealing key: certificate, chain above it (may be NULL) and the HSM key. Borrowed. */
struct xades_signer {
	X509 *cert;
	STACK_OF(X509) *chain;
	struct hsm_key *key;
};

struct xades_params {
	enum xades_packaging packaging;
	const EVP_MD *md;                  /* digests and signature hash: sha256 (NULL), 384, 512 */
	const unsigned char *document;     /* NULL only for hash-only detached */
	size_t document_len;
	bool document_is_xml;              /* enveloping: put the XML itself in ds:Object */
	const unsigned char *digest;       /* hash-only detached: the document's digest by md */
	size_t digest_len;
	const char *reference_uri;         /* detached: required (a URI reference, no '#' start);
	                                    * ignored otherwise */
	const char *mime_type;             /* DataObjectFormat/MimeType; NULL: text/xml for XML,
	                                    * application/octet-stream otherwise */
	time_t signing_time;               /* 0: now */
	const char *signature_id;          /* the ds:Signature Id (an NCName of at most 40
	                                    * characters); NULL: "xades-" and 20 random hex digits */
};

struct xades_result {
	unsigned char *xml;                /* the signed XML document, UTF-8 (malloc'd) */
	size_t xml_len;
	unsigned char digest[EVP_MAX_MD_SIZE];  /* the document reference's digest value */
	size_t digest_len;
	char sig_id[48];                   /* the ds:Signature Id */
};

/* Signs as p says. EFOS_E_INVALID (message for the client) when the request cannot be signed
 * as asked: enveloped over something that is not XML (parsed with core/xml.h: no DTD, limits),
 * a document that already uses one of our Ids, detached without reference_uri, a digest of the
 * wrong length...; EFOS_E_UNAVAILABLE / EFOS_E_INTERNAL when the HSM failed. */
int xades_sign(const struct xades_signer *s, const struct xades_params *p, struct xades_result *out,
	       efos_err *e);
void xades_result_free(struct xades_result *r);

/* Federated XAdES (spec §7.3): the requester sent ToBeSignedBytes = c14n ds:SignedInfo and an
 * AdESObject (the ds:Object with xades:QualifyingProperties). Puts the signer certificate
 * (SigningCertificateV2: CertDigest SHA-256 + IssuerSerialV2; replacing any SigningCertificate/
 * V2 present) into SignedProperties, recomputes the digest of SignedProperties with the
 * Reference's own transforms and DigestMethod (exclusive c14n is required for that reference:
 * the AdESObject is canonicalised standalone, which equals its c14n inside the final
 * ds:Signature only under exclusive c14n; inclusive c14n is refused with a message saying so),
 * replaces that Reference's DigestValue in SignedInfo and re-canonicalises SignedInfo with its
 * CanonicalizationMethod. Returns both new byte strings (malloc'd, free()). EFOS_E_INVALID with
 * a clear message when the inputs are not what the spec says (no SignedProperties reference,
 * unparsable, wrong Target...). */
int xades_fed_update(X509 *cert, const unsigned char *si, size_t si_len,
		     const unsigned char *obj, size_t obj_len,
		     unsigned char **new_si, size_t *new_si_len,
		     unsigned char **new_obj, size_t *new_obj_len, efos_err *e);

#endif
