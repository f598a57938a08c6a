/* EidSignRequest intake (spec §7.2): parses a dss:SignRequest received from a Signature
 * Requestor, verifies its signature with the requester's metadata keys and makes every check
 * of the DSS extension profile, each with its own DSS result (docs/signing-service.md,
 * "SignRequest checks").
 *
 * The outcome has three levels because an error SignResponse may only be posted back to a
 * return URL that an authentic request named:
 *   accepted   -> the flow goes on to the IdP;
 *   refused    -> the request is authentic but not acceptable: an error SignResponse is posted;
 *   untrusted  -> not authentic (or not addressed to a registered URL): an error page only.
 * Replay (a RequestID seen before) is checked by the flow in the database, not here. */
#ifndef EFOS_SIGNER_DSS_REQUEST_H
#define EFOS_SIGNER_DSS_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>
#include "core/err.h"
#include "signer/dss.h"

/* What the flow knows about a registered requester (from its SP metadata). Borrowed. */
struct dss_requester {
	EVP_PKEY *const *keys;                 /* its signing keys */
	size_t n_keys;
	const char *const *return_urls;        /* URLs a SignResponse may be posted to */
	size_t n_return_urls;
};

/* Fills *out for entity_id: 0 found, -1 unknown. out's pointers must stay valid until
 * dss_request_parse returns. */
typedef int (*dss_requester_lookup_fn)(void *arg, const char *entity_id, struct dss_requester *out);

struct dss_intake_opts {
	const char *own_entity_id;             /* csig:SignService must equal it */
	dss_requester_lookup_fn lookup;
	void *lookup_arg;
	int max_age_s;                         /* 0: 180. RequestTime older than this (+skew): req-expired */
	int skew_s;                            /* 0: 60 (negative: none) */
	time_t now;                            /* 0: time(NULL) */
	size_t max_tasks;                      /* 0: 20 (never more than DSS_MAX_TASKS) */
	/* Accepted csig:RequestedSignatureAlgorithm URIs; NULL: rsa-sha256/384/512,
	 * ecdsa-sha256/384/512, rsa-pss-sha256 (sha256-rsa-MGF1). */
	const char *const *supported_sig_algs;
	size_t n_supported_sig_algs;
};

/* Hard bounds, whatever the options say. */
#define DSS_MAX_TASKS           100u
#define DSS_MAX_TBS_BYTES       (64u * 1024u)   /* one ToBeSignedBytes / AdESObjectBytes, decoded */
#define DSS_MAX_ATTRS           64u             /* csig:Signer attributes, RequestedCertAttributes */
#define DSS_MAX_ATTR_VALUES     16u             /* values of one attribute, sources of one cert attribute */
#define DSS_MAX_LOAS            16u             /* AuthnContextClassRefs */
#define DSS_MAX_SIGN_MESSAGE    (64u * 1024u)   /* the csig:SignMessage element, serialised */

#define DSS_INTAKE_REFUSED 1

/* Parses and checks an EidSignRequest (the decoded XML, not the base64). Returns
 *   0                   accepted: *out is the request (dss_request_free);
 *   DSS_INTAKE_REFUSED  authentic (signature verified with the requester's key, return URL
 *                       registered) but refused: *out is set, with at least request_id,
 *                       version, return_url and requester, so the flow can post an error
 *                       SignResponse; res says why;
 *   -1                  untrusted (not XML, shape wrong, no or bad signature, unknown requester,
 *                       return URL not registered...): *out NULL, res filled for an error page,
 *                       e says what in detail (for the log). */
int dss_request_parse(const char *xml, size_t len, const struct dss_intake_opts *o,
		      struct dss_sign_request **out, struct dss_result *res, efos_err *e);

void dss_request_free(struct dss_sign_request *r);

/* True when id looks random enough for a RequestID: at least 20 bytes and none of the
 * low-entropy patterns documented in docs/signing-service.md. Exposed for tests and the flow. */
bool dss_request_id_acceptable(const char *id);

#endif
