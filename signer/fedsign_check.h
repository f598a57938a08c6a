/* The decisions of the federated signing flow that need no I/O, kept apart so that they can be
 * tested one by one (tests/unit/test_fedsign_flow.c): the DSS result for an IdP status (§7.5),
 * whether the AuthnRequest carries a SADRequest (§5.4), and the checks of a verified assertion
 * against the SignRequest before anything is signed: csig:Signer (§7.1 step 5), the sign
 * message (§6.3) and the SAD (§5.3). */
#ifndef EFOS_SIGNER_FEDSIGN_CHECK_H
#define EFOS_SIGNER_FEDSIGN_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include "signer/dss.h"
#include "signer/idp_md.h"
#include "signer/sp_response.h"

#define SAML_STATUS_NO_AUTHN_CONTEXT "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
#define SAML_STATUS_UNKNOWN_PRINCIPAL "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"
#define SAML_STATUS_FRAUD "http://id.elegnamnden.se/status/1.0/fraud"
#define SAML_STATUS_POSSIBLE_FRAUD "http://id.elegnamnden.se/status/1.0/possibleFraud"

/* Sets res to major/minor with a message; for a requester whose csig Version is below 1.5 the
 * codes that version does not know are replaced as the profile says (authn-failed ->
 * user-mismatch, security-violation -> GeneralError). */
void fedsign_result(struct dss_result *res, const char *version, const char *major, const char *minor,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The result for an IdP's non-Success status: cancel -> user-cancel, NoAuthnContext ->
 * unsupported-loa, UnknownPrincipal -> user-mismatch, fraud/possibleFraud ->
 * security-violation, anything else -> authn-failed. */
void fedsign_result_from_status(struct dss_result *res, const char *version, const char *status,
				const char *sub_status);

enum fedsign_sad_policy { FEDSIGN_SAD_WHEN_REQUIRED, FEDSIGN_SAD_ALWAYS, FEDSIGN_SAD_NEVER };

/* 1: send a SADRequest; 0: don't; -1: the request cannot be served (QC/SSCD needs a SAD and a
 * SignMessage, and an IdP that declares scal2; res says why). */
int fedsign_want_sad(enum fedsign_sad_policy p, const struct dss_sign_request *req, const struct sig_idp *idp,
		     struct dss_result *res);

struct fedsign_assertion_ctx {
	const char *sp_entity_id;        /* ours (the SAD's aud) */
	const char *sad_request_id;      /* the SADRequest we sent, NULL when none */
	int skew_s;
	time_t now;                      /* 0: time(NULL) */
};

/* The checks after sp_response_process succeeded: every csig:Signer attribute has a value equal
 * to one of the assertion's values for that attribute (else user-mismatch); with a SignMessage:
 * no signMessageDigest while MustShow -> sigmessage-error, a digest that does not match the
 * message -> sigmessage-error; with a SADRequest: no SAD or a SAD that fails sad_verify ->
 * user-mismatch. 0 when all pass, -1 with res set. */
int fedsign_check_assertion(const struct dss_sign_request *req, const struct sp_assertion *a,
			    const struct sig_idp *idp, const struct fedsign_assertion_ctx *x, struct dss_result *res);

#endif
