/* The signature report and the certificate step shared by every format (sigval.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include "signer/sigval.h"

const char *sigval_result_name(enum sigval_result r)
{
	switch (r) {
	case SIGVAL_VALID: return "valid";
	case SIGVAL_INVALID: return "invalid";
	default: return "indeterminate";
	}
}

void sigval_report_free(struct sigval_report *r)
{
	if (r == NULL)
		return;
	free(r->sigs);
	r->sigs = NULL;
	r->n = 0;
}

struct sigval_signature *sigval_report_add(struct sigval_report *r, efos_err *e)
{
	if (r->n >= SIGVAL_MAX_SIGNATURES) {
		efos_fail(e, EFOS_E_INVALID, "more than %u signatures in one document", SIGVAL_MAX_SIGNATURES);
		return NULL;
	}
	struct sigval_signature *n = realloc(r->sigs, (r->n + 1) * sizeof *n);
	if (n == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		return NULL;
	}
	r->sigs = n;
	memset(&n[r->n], 0, sizeof n[r->n]);
	return &n[r->n++];
}

void sigval_report_finish(struct sigval_report *r)
{
	r->result = SIGVAL_VALID;
	for (size_t i = 0; i < r->n; i++) {
		if (r->sigs[i].result == SIGVAL_INVALID)
			r->result = SIGVAL_INVALID;
		else if (r->sigs[i].result == SIGVAL_INDETERMINATE && r->result == SIGVAL_VALID)
			r->result = SIGVAL_INDETERMINATE;
	}
}

void sigval_set(struct sigval_signature *s, enum sigval_result res, const char *reason, const char *fmt, ...)
{
	s->result = res;
	snprintf(s->reason, sizeof s->reason, "%s", reason ? reason : "");
	s->detail[0] = '\0';
	if (fmt != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->detail, sizeof s->detail, fmt, ap);
		va_end(ap);
	}
}

static void name_str(const X509_NAME *n, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	out[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		int k = BIO_read(b, out, (int)cap - 1);
		out[k > 0 ? k : 0] = '\0';
	}
	BIO_free(b);
}

void sigval_describe_cert(struct sigval_signature *s, X509 *cert)
{
	name_str(X509_get_subject_name(cert), s->subject, sizeof s->subject);
	name_str(X509_get_issuer_name(cert), s->issuer, sizeof s->issuer);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL;
	snprintf(s->serial, sizeof s->serial, "%s", h ? h : "");
	OPENSSL_free(h);
	BN_free(bn);
}

int sigval_check_cert(const struct sigval_ctx *vc, struct sigval_signature *s, X509 *cert,
		      STACK_OF(X509) *untrusted, time_t at, efos_err *e)
{
	struct certs_validation r;
	efos_err ce = { 0 };
	if (vc->validate_cert(vc->arg, cert, untrusted, at, &r, &ce) != 0) {
		certs_validation_free(&r);
		if (ce.code == EFOS_E_UNAVAILABLE || ce.code == EFOS_E_CONFIG) {
			sigval_set(s, SIGVAL_INDETERMINATE, SIGVAL_R_VALIDATION_UNAVAIL, "%s", ce.msg);
			return 0;
		}
		*e = ce;
		return -1;
	}
	snprintf(s->cert_result, sizeof s->cert_result, "%s", certs_val_outcome_name(r.outcome));
	snprintf(s->cert_reason, sizeof s->cert_reason, "%s", certs_val_reason_code(r.reason));
	if (r.outcome == CERTS_VAL_INDETERMINATE) {
		sigval_set(s, SIGVAL_INDETERMINATE, SIGVAL_R_REVOCATION_UNAVAIL, "%s", r.message);
	} else if (r.outcome == CERTS_VAL_INVALID) {
		switch (r.reason) {
		case CERTS_VR_UNTRUSTED:
			sigval_set(s, SIGVAL_INDETERMINATE, SIGVAL_R_UNKNOWN_CA, "%s", r.message);
			break;
		case CERTS_VR_EXPIRED:
			sigval_set(s, SIGVAL_INDETERMINATE, SIGVAL_R_CERT_EXPIRED, "%s (no signature timestamp "
				   "proves that the signature was made while it was valid)", r.message);
			break;
		case CERTS_VR_REVOKED:
		case CERTS_VR_SUSPENDED:
			sigval_set(s, SIGVAL_INVALID, SIGVAL_R_CERT_REVOKED, "%s", r.message);
			break;
		case CERTS_VR_REVOCATION_UNAVAILABLE:
			sigval_set(s, SIGVAL_INDETERMINATE, SIGVAL_R_REVOCATION_UNAVAIL, "%s", r.message);
			break;
		default:
			sigval_set(s, SIGVAL_INVALID, SIGVAL_R_CERT_INVALID, "%s", r.message);
		}
	}
	certs_validation_free(&r);
	return 0;
}

const char *sigval_detect_format(const unsigned char *d, size_t len)
{
	size_t i = 0;
	if (len >= 5 && memcmp(d, "%PDF-", 5) == 0)
		return "pdf";
	if (len >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF)
		i = 3;
	while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
		i++;
	if (i < len && d[i] == '<')
		return "xml";
	if (len >= 2 && d[0] == 0x30)
		return "cms";
	return NULL;
}
