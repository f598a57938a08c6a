/* Signature Activation Data (spec §5.2, SAP spec 13): a JWS compact JWT the IdP issues in the
 * `sad` attribute (urn:oid:1.2.752.201.3.12) when a signature service sent a sap:SADRequest.
 *
 * Header {"typ":"JWT","alg":A[,"kid":K]}: A = RS256 for an RSA key (PKCS#1 v1.5, SHA-256),
 * ES256 / ES384 / ES512 for a P-256 / P-384 / P-521 key (r||s). Signed with the IdP's signing
 * key (the one in our metadata's KeyDescriptor use="signing") through hsm_sign.
 * Claims, exactly: sub, aud, iss, exp, iat, jti, and seElnSadext {ver, irt, attr, loa, reqid, docs}.
 * All three parts base64url without padding. */
#ifndef EFOS_IDP_SAD_H
#define EFOS_IDP_SAD_H

#include <time.h>
#include "core/err.h"

struct hsm_key;

#define IDP_SAD_DEFAULT_LIFETIME_S 300

struct idp_sad_params {
	const char *iss;       /* our entityID */
	const char *aud;       /* the signature service: sap:RequesterID (= AuthnRequest Issuer) */
	const char *sub;       /* the value of attribute `attr` in the assertion */
	const char *attr;      /* e.g. urn:oid:1.2.752.29.4.13 */
	const char *loa;       /* the AuthnContextClassRef of the assertion */
	const char *irt;       /* sap:SADRequest/@ID */
	const char *reqid;     /* sap:SignRequestID */
	int docs;              /* sap:DocCount (>= 1) */
	const char *ver;       /* sap:RequestedVersion; NULL: "1.0" (the only version defined) */
	const char *kid;       /* NULL: no kid in the header */
	time_t now;            /* iat; 0: time(NULL) */
	int lifetime_s;        /* exp = iat + this; 0: IDP_SAD_DEFAULT_LIFETIME_S */
};

/* Builds and signs the SAD. *jwt is malloc'd (the caller frees it). EFOS_E_INVALID when a
 * parameter is missing or the version is not 1.0. */
int idp_sad_build(struct hsm_key *k, const struct idp_sad_params *p, char **jwt, efos_err *e);

#endif
