/* xades:SigningCertificateV2 and the algorithm URIs (xades_internal.h), shared by the seal
 * signatures and the federated update so both reference the signer certificate the same way. */
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include "core/base64.h"
#include "core/xml_c14n.h"
#include "signer/xades_internal.h"

const char *xades_digest_uri(const EVP_MD *md)
{
	switch (md ? EVP_MD_get_type(md) : NID_undef) {
	case NID_sha256: return "http://www.w3.org/2001/04/xmlenc#sha256";
	case NID_sha384: return "http://www.w3.org/2001/04/xmldsig-more#sha384";
	case NID_sha512: return "http://www.w3.org/2001/04/xmlenc#sha512";
	default: return NULL;
	}
}

/* DER of IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }
 * (RFC 5035), the value XAdES' IssuerSerialV2 carries base64-encoded. */
static unsigned char *issuer_serial_der(X509 *cert, int *len)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	X509_NAME *issuer = X509_NAME_dup(X509_get_issuer_name(cert));
	unsigned char *names_der = NULL, *serial_der = NULL, *out = NULL;
	int nl = -1, sl = -1;
	if (names == NULL || gn == NULL || issuer == NULL)
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_DIRNAME, issuer);
	issuer = NULL;
	if (!sk_GENERAL_NAME_push(names, gn))
		goto out;
	gn = NULL;
	nl = i2d_GENERAL_NAMES(names, &names_der);
	sl = i2d_ASN1_INTEGER(X509_get_serialNumber(cert), &serial_der);
	if (nl <= 0 || sl <= 0)
		goto out;
	int total = ASN1_object_size(1, nl + sl, V_ASN1_SEQUENCE);
	if (total <= 0 || (out = OPENSSL_malloc((size_t)total)) == NULL)
		goto out;
	unsigned char *p = out;
	ASN1_put_object(&p, 1, nl + sl, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	memcpy(p, names_der, (size_t)nl);
	memcpy(p + nl, serial_der, (size_t)sl);
	*len = total;
out:
	X509_NAME_free(issuer);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	OPENSSL_free(names_der);
	OPENSSL_free(serial_der);
	return out;
}

xmlNodePtr xades_signing_cert_v2(xmlDocPtr doc, xmlNsPtr xades, xmlNsPtr ds, X509 *cert, efos_err *e)
{
	unsigned char *der = NULL, *is = NULL, dgst[32];
	char *dgst_b64 = NULL, *is_b64 = NULL;
	int der_len = i2d_X509(cert, &der), is_len = 0;
	xmlNodePtr scv2 = NULL;

	if (der_len <= 0 || !EVP_Digest(der, (size_t)der_len, dgst, NULL, EVP_sha256(), NULL) ||
	    (is = issuer_serial_der(cert, &is_len)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "XAdES: cannot encode the signer certificate's digest and issuer/serial");
		goto out;
	}
	if ((dgst_b64 = b64_encode(dgst, sizeof dgst)) == NULL || (is_b64 = b64_encode(is, (size_t)is_len)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	scv2 = xmlNewDocNode(doc, xades, BAD_CAST "SigningCertificateV2", NULL);
	if (scv2 != NULL && ds == NULL)
		ds = xmlNewNs(scv2, BAD_CAST XML_NS_DSIG, BAD_CAST "ds");
	xmlNodePtr c = scv2 ? xmlNewChild(scv2, xades, BAD_CAST "Cert", NULL) : NULL;
	xmlNodePtr cd = c ? xmlNewChild(c, xades, BAD_CAST "CertDigest", NULL) : NULL;
	xmlNodePtr dm = cd && ds ? xmlNewChild(cd, ds, BAD_CAST "DigestMethod", NULL) : NULL;
	if (dm == NULL || xmlNewProp(dm, BAD_CAST "Algorithm", BAD_CAST xades_digest_uri(EVP_sha256())) == NULL ||
	    xmlNewTextChild(cd, ds, BAD_CAST "DigestValue", BAD_CAST dgst_b64) == NULL ||
	    xmlNewTextChild(c, xades, BAD_CAST "IssuerSerialV2", BAD_CAST is_b64) == NULL) {
		xmlFreeNode(scv2);
		scv2 = NULL;
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
out:
	OPENSSL_free(der);
	OPENSSL_free(is);
	free(dgst_b64);
	free(is_b64);
	return scv2;
}
