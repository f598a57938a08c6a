/* Certificate profiles are configuration, not code: a profiles file (ca.profiles_file) with one
 * [section] per profile. See docs/certificate-profiles.md. */
#ifndef EFOS_CERTS_PROFILE_H
#define EFOS_CERTS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

#define CERT_PROFILE_MAX_LIST 16

/* Which subject attributes a profile puts in the certificate, in order. The values come from
 * the registry (person, organisation, affiliation) or from the CA operator's request. */
enum cert_subject_attr {
	SUBJ_C, SUBJ_O, SUBJ_OU, SUBJ_CN, SUBJ_GIVEN_NAME, SUBJ_SURNAME, SUBJ_SERIAL_NUMBER,
	SUBJ_ORG_IDENTIFIER, SUBJ_TITLE, SUBJ_EMAIL,
};

struct cert_profile {
	char *name;                 /* [card-auth] */
	char *issuer;               /* CA name that issues it: root, card, sign, ... ("self" for a root) */
	long validity_s;
	bool is_ca;
	int path_len;               /* CA only; -1 = unlimited */
	enum cert_subject_attr subject[CERT_PROFILE_MAX_LIST];
	size_t n_subject;
	unsigned key_usage;         /* X509v3_KU_* bits */
	bool key_usage_critical;
	char *ext_key_usage[CERT_PROFILE_MAX_LIST];  /* OIDs or short names (clientAuth, OCSPSigning...) */
	size_t n_ext_key_usage;
	char *policies[CERT_PROFILE_MAX_LIST];       /* certificate policy OIDs */
	size_t n_policies;
	char *ocsp_url;             /* AIA id-ad-ocsp; NULL = none */
	char *ca_issuers_url;       /* AIA id-ad-caIssuers */
	char *crl_url;              /* CRL distribution point */
	bool ocsp_nocheck;          /* id-pkix-ocsp-nocheck (OCSP signer) */
	/* key policy: allowed algorithms and minimum sizes */
	int min_rsa_bits;           /* 0 = RSA not allowed */
	int min_ec_bits;            /* 0 = EC not allowed (256, 384, 521) */
	/* Added: subject[i] may be left out when the request has no value ("attr?" in the file);
	 * a listed attribute without `?` and without a value makes certs_issue refuse. */
	bool subject_optional[CERT_PROFILE_MAX_LIST];
	/* Added (signer: TSA): `critical` among ext_key_usage's words marks the extension critical
	 * (RFC 3161 requires it for id-kp-timeStamping). */
	bool ext_key_usage_critical;
};

struct cert_profiles;

/* base_url replaces ${base_url} in URLs. Errors read "FILE:LINE: [section] key: what is wrong". */
int cert_profiles_load(const char *path, const char *base_url, struct cert_profiles **out, efos_err *e);
void cert_profiles_free(struct cert_profiles *p);
const struct cert_profile *cert_profile_get(const struct cert_profiles *p, const char *name);
/* Added: iteration over the loaded profiles (in file order). */
size_t cert_profiles_count(const struct cert_profiles *p);
const struct cert_profile *cert_profile_at(const struct cert_profiles *p, size_t i);

#endif
