/* Inside signer_cert: the attribute mapping (signer_cert_map.c) and the certificate
 * extensions of the signer profile (signer_cert_ext.c). */
#ifndef EFOS_SIGNER_SIGNER_CERT_INTERNAL_H
#define EFOS_SIGNER_SIGNER_CERT_INTERNAL_H

#include <stdbool.h>
#include <openssl/x509.h>
#include "core/err.h"
#include "signer/dss.h"
#include "signer/signer_cert.h"

/* Longest attribute value taken into a certificate (characters of UTF-8). */
#define SIGNER_VALUE_MAX 256

/* One certificate name/attribute and where its value came from. */
struct signer_mapping {
	enum dss_cert_name_type type;  /* rdn, san, sda */
	char ref[64];                  /* OID ("2.5.4.5") or SAN tag ("1") */
	const char *value;             /* borrowed: from the assertion or the request's default */
	const struct dss_attr *source; /* the assertion attribute, NULL when a default was used */
	const char *source_value;      /* the value as received (may differ from value: orgAffiliation) */
};

struct signer_map {
	struct signer_mapping m[64];
	size_t n;
	char derived[SIGNER_VALUE_MAX * 4 + 1];  /* organizationIdentifier derived from orgAffiliation */
};

/* The mapping of the request (RequestedCertAttributes, or the default one). On failure res
 * says why (Required attribute without value, no serialNumber source...). */
int signer_map_build(const struct signer_cert_request *r, struct signer_map *out, struct dss_result *res,
		     efos_err *e);

/* The subject of the rdn mappings, in mapping order. */
int signer_subject_build(const struct signer_map *m, X509_NAME **out, efos_err *e);

/* The extensions the mapping and request need beyond the profile's: subjectAltName (san),
 * subjectDirectoryAttributes (sda), the RFC 7773 authentication context, qcStatements for QC
 * and QC/SSCD. *exts is a new stack (sk_X509_EXTENSION_pop_free(.., X509_EXTENSION_free)). */
int signer_exts_build(const struct signer_cert_request *r, const struct signer_map *m,
		      STACK_OF(X509_EXTENSION) **exts, efos_err *e);

/* The saci:SAMLAuthContext XML (malloc'd) of the request and mapping. */
char *signer_saci_xml(const struct signer_cert_request *r, const struct signer_map *m, efos_err *e);

/* Valid UTF-8 without control characters, at most max characters. */
bool signer_utf8_ok(const char *s, size_t max);

#endif
