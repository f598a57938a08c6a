/* Decisions of the federated signing flow (see fedsign_check.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "signer/fedsign_check.h"
#include "signer/sad_verify.h"

/* True when the csig Version (e.g. "1.4") is below 1.5. Absent means 1.1. */
static bool before_1_5(const char *version)
{
	int maj = 1, min = 1;
	if (version != NULL && sscanf(version, "%d.%d", &maj, &min) < 1)
		return true;
	return maj < 1 || (maj == 1 && min < 5);
}

void fedsign_result(struct dss_result *res, const char *version, const char *major, const char *minor,
		    const char *fmt, ...)
{
	res->major = major;
	res->minor = minor;
	if (minor != NULL && before_1_5(version)) {
		if (strcmp(minor, DSS_MINOR_AUTHN_FAILED) == 0)
			res->minor = DSS_MINOR_USER_MISMATCH;
		else if (strcmp(minor, DSS_MINOR_SECURITY_VIOLATION) == 0)
			res->minor = DSS_MINOR_GENERAL_ERROR;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof res->message, fmt, ap);
	va_end(ap);
}

static bool eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

void fedsign_result_from_status(struct dss_result *res, const char *version, const char *status,
				const char *sub_status)
{
	if (eq(sub_status, SP_STATUS_CANCEL))
		fedsign_result(res, version, DSS_MAJOR_RESPONDER, DSS_MINOR_USER_CANCEL,
			       "the user cancelled the signing at the identity provider");
	else if (eq(sub_status, SAML_STATUS_NO_AUTHN_CONTEXT))
		fedsign_result(res, version, DSS_MAJOR_RESPONDER, DSS_MINOR_UNSUPPORTED_LOA,
			       "the identity provider cannot authenticate the user at the requested level of assurance");
	else if (eq(sub_status, SAML_STATUS_UNKNOWN_PRINCIPAL))
		fedsign_result(res, version, DSS_MAJOR_RESPONDER, DSS_MINOR_USER_MISMATCH,
			       "the user who authenticated is not the signer named in the request");
	else if (eq(sub_status, SAML_STATUS_FRAUD) || eq(sub_status, SAML_STATUS_POSSIBLE_FRAUD))
		fedsign_result(res, version, DSS_MAJOR_RESPONDER, DSS_MINOR_SECURITY_VIOLATION,
			       "the identity provider stopped the authentication (suspected fraud)");
	else
		fedsign_result(res, version, DSS_MAJOR_RESPONDER, DSS_MINOR_AUTHN_FAILED,
			       "the authentication at the identity provider failed (%s%s%s)", status ? status : "no status",
			       sub_status ? " / " : "", sub_status ? sub_status : "");
}

int fedsign_want_sad(enum fedsign_sad_policy p, const struct dss_sign_request *req, const struct sig_idp *idp,
		     struct dss_result *res)
{
	bool sscd = eq(req->cert_type, "QC/SSCD");
	if (sscd) {
		/* §1.12: both a SADRequest and a SignMessage, from an IdP that issues SADs. */
		if (req->sign_message_xml == NULL) {
			fedsign_result(res, req->version, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED,
				       "a QC/SSCD certificate needs a SignMessage in the request");
			return -1;
		}
		if (!idp->scal2 || p == FEDSIGN_SAD_NEVER) {
			fedsign_result(res, req->version, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED,
				       "a QC/SSCD certificate needs Signature Activation Data, which %s",
				       p == FEDSIGN_SAD_NEVER ? "this service is configured not to ask for"
							      : "the identity provider does not issue (no scal2)");
			return -1;
		}
		return 1;
	}
	switch (p) {
	case FEDSIGN_SAD_NEVER: return 0;
	case FEDSIGN_SAD_ALWAYS: return idp->scal2 ? 1 : 0;
	case FEDSIGN_SAD_WHEN_REQUIRED: default: return idp->scal2 && req->sign_message_xml != NULL ? 1 : 0;
	}
}

static const struct dss_attr *find_attr(const struct dss_attr *a, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (eq(a[i].name, name))
			return &a[i];
	return NULL;
}

int fedsign_check_assertion(const struct dss_sign_request *req, const struct sp_assertion *a,
			    const struct sig_idp *idp, const struct fedsign_assertion_ctx *x, struct dss_result *res)
{
	/* csig:Signer: each named attribute must be in the assertion with that value. */
	for (size_t i = 0; i < req->n_signer; i++) {
		const struct dss_attr *want = &req->signer[i];
		const struct dss_attr *got = find_attr(a->attrs, a->n_attrs, want->name);
		bool match = false;
		for (size_t j = 0; got != NULL && j < want->n_values && !match; j++)
			for (size_t k = 0; k < got->n_values && !match; k++)
				match = eq(want->values[j], got->values[k]);
		if (!match) {
			fedsign_result(res, req->version, DSS_MAJOR_RESPONDER, DSS_MINOR_USER_MISMATCH,
				       "the authenticated user's %s does not match the signer named in the request",
				       want->friendly_name ? want->friendly_name : want->name);
			return -1;
		}
	}
	/* The sign message: its digest is the IdP's statement that it was shown and accepted. */
	if (req->sign_message_xml != NULL) {
		const char *d = a->sign_message_digest;
		if (d == NULL && req->sign_message_must_show) {
			fedsign_result(res, req->version, DSS_MAJOR_RESPONDER, DSS_MINOR_SIGMESSAGE_ERROR,
				       "the identity provider did not confirm that the sign message was shown "
				       "(no signMessageDigest), and the request says it must be");
			return -1;
		}
		char why[256];
		if (d != NULL && req->sign_message_text != NULL &&
		    sign_message_digest_check(d, req->sign_message_text, req->sign_message_text_len, why, sizeof why) != 0) {
			fedsign_result(res, req->version, DSS_MAJOR_RESPONDER, DSS_MINOR_SIGMESSAGE_ERROR,
				       "the sign message the user saw is not the one requested: %s", why);
			return -1;
		}
	}
	/* The SAD (§5.3); a failure counts as a user mismatch (§5.4, the reference service). */
	if (x->sad_request_id != NULL) {
		char why[256];
		if (a->sad == NULL) {
			fedsign_result(res, req->version, DSS_MAJOR_RESPONDER, DSS_MINOR_USER_MISMATCH,
				       "the identity provider returned no Signature Activation Data (SAD) although it was "
				       "requested");
			return -1;
		}
		struct sad_expect se = {
			.sp_entity_id = x->sp_entity_id,
			.sad_request_id = x->sad_request_id,
			.sign_request_id = req->request_id,
			.doc_count = (int)req->n_tasks,
			.skew_s = x->skew_s,
			.now = x->now,
		};
		if (sad_verify(a->sad, idp, a, &se, why, sizeof why) != 0) {
			fedsign_result(res, req->version, DSS_MAJOR_RESPONDER, DSS_MINOR_USER_MISMATCH,
				       "the Signature Activation Data is not valid: %s", why);
			return -1;
		}
	}
	return 0;
}
