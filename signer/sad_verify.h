/* Checks of the Signature Activation Data (spec §5.3) and of signMessageDigest (§6.3) that the
 * signing service makes before it signs.
 *
 * sad_verify: the JWT (JWS compact, at most SAD_MAX_LEN characters) and the ten checks of §5.3,
 * numbered as there:
 *    1. the signature verifies with a signing key of the IdP's metadata (RS256, ES256/384/512;
 *       nothing else: no "none", no HMAC; a "crit" header is refused)
 *    2. seElnSadext.ver = the requested version (1.0)
 *    3. aud = our entityID
 *    4. iss = the assertion's Issuer (= the IdP's entityID)
 *    5. iat not in the future, exp not passed (both with skew)
 *    6. seElnSadext.irt = our SADRequest ID
 *    7. sub is a value of the assertion attribute named by seElnSadext.attr
 *    8. seElnSadext.loa = the assertion's AuthnContextClassRef
 *    9. seElnSadext.reqid = the SignRequest's RequestID
 *   10. seElnSadext.docs = its number of documents (DocCount)
 * Each failure has its own message, naming the check. */
#ifndef EFOS_SIGNER_SAD_VERIFY_H
#define EFOS_SIGNER_SAD_VERIFY_H

#include <stddef.h>
#include <time.h>
#include "signer/idp_md.h"
#include "signer/sp_response.h"

/* Largest SAD accepted (characters). */
#define SAD_MAX_LEN (16u * 1024u)

struct sad_expect {
	const char *sp_entity_id;        /* aud */
	const char *sad_request_id;      /* irt */
	const char *sign_request_id;     /* reqid */
	int doc_count;                   /* docs */
	const char *version;             /* ver; NULL: "1.0" */
	int skew_s;                      /* 0: 60 */
	time_t now;                      /* 0: time(NULL) */
};

/* 0 when the SAD is valid for this assertion and request; -1 with why (a sentence naming the
 * failed check) otherwise. */
int sad_verify(const char *jwt, const struct sig_idp *idp, const struct sp_assertion *a,
	       const struct sad_expect *x, char *why, size_t cap);

/* signMessageDigest (§6.3): attr_value is "DigestURI;base64(digest(msg))" with DigestURI one of
 * xmlenc#sha256, xmldsig-more#sha384, xmlenc#sha512; the digest of msg[0..len) is recomputed
 * and compared. 0 on match, -1 with why otherwise. */
int sign_message_digest_check(const char *attr_value, const unsigned char *msg, size_t len, char *why,
			      size_t cap);

#endif
