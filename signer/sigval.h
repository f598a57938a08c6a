/* Signature validation: CMS/CAdES (sigval_cms.c), XML-DSig/XAdES (sigval_xml.c) and PDF/PAdES
 * (sigval_pdf.c) signatures checked cryptographically, then their signer certificates through
 * a certificate-validation callback (certs/validate.h in the daemon, a test PKI in unit tests).
 * Served by POST /api/v1/validate/signature (sigval_api.c, docs/validation-api.md).
 *
 * Every signature found gets one verdict: valid; invalid (it must not be relied on: reason
 * says why); indeterminate (it could not be decided now: unknown CA, revocation status
 * unavailable, no signer certificate). The reason strings are a fixed set (the SIGVAL_R_*
 * below, documented one by one in docs/validation-api.md); detail says more for a person.
 *
 * Input that is not a signature at all (not CMS, not XML with a ds:Signature, not a PDF with a
 * signature field) is an error (EFOS_E_INVALID: 400), not a report. */
#ifndef EFOS_SIGNER_SIGVAL_H
#define EFOS_SIGNER_SIGVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>
#include "certs/validate.h"
#include "core/err.h"

/* Bounds on untrusted input. */
#define SIGVAL_MAX_SIGNATURE_BYTES (4u * 1024u * 1024u)  /* a CMS, an XML document, a PDF */
#define SIGVAL_MAX_SIGNATURES 32u                        /* per document */
#define SIGVAL_MAX_CERTS 32                              /* certificates carried in one CMS */

enum sigval_result { SIGVAL_VALID = 0, SIGVAL_INVALID, SIGVAL_INDETERMINATE };

/* The reasons (stable strings). */
#define SIGVAL_R_SIGNED_REVISION     "signed revision only"        /* valid PDF signature, later revisions exist */
#define SIGVAL_R_DIGEST_MISMATCH     "message digest mismatch"     /* the content is not what was signed */
#define SIGVAL_R_REF_DIGEST_MISMATCH "reference digest mismatch"   /* XML: a Reference's digest does not match */
#define SIGVAL_R_SIG_MISMATCH        "signature value mismatch"    /* does not verify with the signer's key */
#define SIGVAL_R_SIGNING_CERT        "signing certificate mismatch" /* signingCertificate(V2) names another cert */
#define SIGVAL_R_MALFORMED           "malformed signature"         /* structure refused (detail says what) */
#define SIGVAL_R_ALGORITHM           "algorithm not allowed"       /* SHA-1, MD5, small keys, unknown transforms */
#define SIGVAL_R_BYTE_RANGE          "byte range invalid"          /* PDF: ByteRange does not cover the file but /Contents */
#define SIGVAL_R_CERT_INVALID        "certificate invalid"         /* the certificate path is invalid (certificate.reason) */
#define SIGVAL_R_CERT_REVOKED        "certificate revoked"         /* revoked or on hold at the validation time */
#define SIGVAL_R_TIMESTAMP_INVALID   "timestamp invalid"           /* B-T: the signature timestamp does not verify */
#define SIGVAL_R_NO_SIGNER_CERT      "signer certificate not found" /* indeterminate */
#define SIGVAL_R_UNKNOWN_CA          "unknown CA"                  /* indeterminate: no path to a trusted CA */
#define SIGVAL_R_CERT_EXPIRED        "certificate expired"         /* indeterminate: expired, no proof the signature is older */
#define SIGVAL_R_REVOCATION_UNAVAIL  "revocation status unavailable" /* indeterminate */
#define SIGVAL_R_UNSUPPORTED        "unsupported signature type"  /* indeterminate: e.g. a PDF document timestamp */
#define SIGVAL_R_VALIDATION_UNAVAIL  "certificate validation unavailable" /* indeterminate: this node cannot validate */

/* Validates a certificate (with the untrusted certificates the signature carried) at time at
 * (0: now) for any purpose. The contract of certs_validate_chain: -1 only when no verdict. */
typedef int (*sigval_cert_fn)(void *arg, X509 *leaf, STACK_OF(X509) *untrusted, time_t at,
			      struct certs_validation *r, efos_err *e);

struct sigval_ctx {
	sigval_cert_fn validate_cert;
	void *arg;
};

struct sigval_timestamp {
	bool present;
	enum sigval_result result;
	char reason[48];
	char detail[512];
	char time[32];                 /* genTime, ISO 8601 UTC; "" when unreadable */
	char tsa[256];                 /* the TSA certificate's subject */
};

struct sigval_signature {
	enum sigval_result result;
	char reason[48];               /* a SIGVAL_R_* string; "" for a plain valid signature */
	char detail[512];
	char subject[256], issuer[256], serial[80];  /* the signer certificate ("" when not found) */
	char signing_time[32];         /* claimed signing time (CMS signingTime, XAdES SigningTime) */
	char level[16];                /* "B-B", "B-T", "XML-DSig", "CMS" */
	struct sigval_timestamp ts;
	/* certificate path verdict (certs_val_reason_code), "" when not reached */
	char cert_result[16], cert_reason[32];
	/* PDF only */
	bool is_pdf;
	bool covers_whole_document;
	char sub_filter[48];
	char field[64];
};

struct sigval_report {
	char format[8];                /* "cms" | "xml" | "pdf" */
	struct sigval_signature *sigs;
	size_t n;
	enum sigval_result result;     /* worst of the signatures: invalid > indeterminate > valid */
};

void sigval_report_free(struct sigval_report *r);
/* Appends a signature (zeroed) to r; NULL when out of memory or over SIGVAL_MAX_SIGNATURES. */
struct sigval_signature *sigval_report_add(struct sigval_report *r, efos_err *e);
/* Sets r->result from the signatures. */
void sigval_report_finish(struct sigval_report *r);

/* Sets the verdict of s (reason a SIGVAL_R_* string; detail printf-style, may be NULL). */
void sigval_set(struct sigval_signature *s, enum sigval_result res, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

const char *sigval_result_name(enum sigval_result r);  /* valid | invalid | indeterminate */

/* Fills subject, issuer, serial of s from cert. */
void sigval_describe_cert(struct sigval_signature *s, X509 *cert);

/* Validates cert's path at time at and folds the answer into s (which must be VALID so far:
 * the cryptographic checks come first). untrusted: the certificates the signature carried. */
int sigval_check_cert(const struct sigval_ctx *vc, struct sigval_signature *s, X509 *cert,
		      STACK_OF(X509) *untrusted, time_t at, efos_err *e);

/* ---- by format --------------------------------------------------------------------------- */

/* A DER CMS SignedData (CAdES): every SignerInfo into r. document: the detached content (NULL
 * when the CMS holds its content). EFOS_E_INVALID when der is not a CMS SignedData, or it is
 * detached and no document was given. */
int sigval_cms(const struct sigval_ctx *vc, const unsigned char *der, size_t len,
	       const unsigned char *document, size_t doc_len, struct sigval_report *r, efos_err *e);

/* One SignerInfo-level check used by the PDF validator too: appends one signature per
 * SignerInfo of der over the detached content (content, len). */
int sigval_cms_detached(const struct sigval_ctx *vc, const unsigned char *der, size_t der_len,
			const unsigned char *content, size_t content_len, struct sigval_report *r,
			efos_err *e);

/* An XML document with one or more ds:Signature (XML-DSig, XAdES enveloped / enveloping /
 * detached). document: the external document that a detached signature's Reference names
 * (the one Reference whose URI is neither "" nor "#id"), or NULL. */
int sigval_xml(const struct sigval_ctx *vc, const unsigned char *xml, size_t len,
	       const unsigned char *document, size_t doc_len, struct sigval_report *r, efos_err *e);

/* A PDF with signature fields (PAdES, adbe.pkcs7.detached). */
int sigval_pdf(const struct sigval_ctx *vc, const unsigned char *pdf, size_t len, struct sigval_report *r,
	       efos_err *e);

/* "cms" | "xml" | "pdf" by the first bytes (PDF header, '<' after optional BOM/whitespace,
 * DER SEQUENCE); NULL when none fits. */
const char *sigval_detect_format(const unsigned char *d, size_t len);

#endif
