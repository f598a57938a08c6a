/* Credential validation (see certs/validate.h).
 *
 * Order of the checks, so that the reason given is the most specific one:
 *   1. RFC 5280 path building and validation with OpenSSL (X509_verify_cert): trust anchor,
 *      signatures, validity at the requested time, basic constraints and path length, CA key
 *      usage, name chaining and name constraints, unknown critical extensions, RFC 5280
 *      strictness (X509_V_FLAG_X509_STRICT), key sizes and digests (auth level 2: RSA >= 2048,
 *      no SHA-1), certificate policies (X509_V_FLAG_POLICY_CHECK; for card-auth also
 *      X509_V_FLAG_EXPLICIT_POLICY with the high-assurance OID as the user-initial-policy-set).
 *      A purpose (EKU) or policy failure is noted by the verify callback and the walk goes on,
 *      so that a harder failure (expired, untrusted, bad signature) wins, and usage is reported
 *      before policy.
 *   2. The leaf's usage for the purpose (keyUsage digitalSignature, EKU clientAuth), then the
 *      policy.
 *   3. Revocation of every certificate of the path below the anchor: a certificate issued by an
 *      EFOS CA from the database (certificate status, then the card and its holder); one of
 *      another CA by OCSP (AIA, with a nonce, signature and responder authorisation checked by
 *      OCSP_basic_verify), else by its CRL (CDP; signature checked; cached until nextUpdate).
 *   4. The mapping (card, person, affiliations) and the LoA from policy/loa.c. */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "certs/profile.h"
#include "certs/service.h"
#include "certs/validate.h"
#include "certs/validate_memo.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"

#define OCSP_RESPONSE_MAX   (64 * 1024)
#define CRL_MAX             (16 * 1024 * 1024)
#define CRL_CACHE_SLOTS     64
#define OCSP_CLOCK_SKEW_S   300
#define CARD_AUTH_PROFILE   "card-auth"

/* ------------------------------------------------------------------------------ names */

static const char *const reason_codes[] = {
	[CERTS_VR_OK] = "ok",
	[CERTS_VR_MALFORMED] = "malformed",
	[CERTS_VR_EXPIRED] = "expired",
	[CERTS_VR_NOT_YET_VALID] = "not_yet_valid",
	[CERTS_VR_UNTRUSTED] = "untrusted_issuer",
	[CERTS_VR_BAD_SIGNATURE] = "bad_signature",
	[CERTS_VR_CA_CONSTRAINTS] = "ca_constraints",
	[CERTS_VR_WRONG_KEY_USAGE] = "wrong_key_usage",
	[CERTS_VR_POLICY] = "policy_not_acceptable",
	[CERTS_VR_CRITICAL_EXTENSION] = "unknown_critical_extension",
	[CERTS_VR_WEAK_CRYPTO] = "weak_key_or_algorithm",
	[CERTS_VR_REVOKED] = "revoked",
	[CERTS_VR_SUSPENDED] = "suspended",
	[CERTS_VR_CARD_NOT_ACTIVE] = "card_not_active",
	[CERTS_VR_UNKNOWN_CERTIFICATE] = "unknown_certificate",
	[CERTS_VR_NOT_A_CARD] = "not_a_card_credential",
	[CERTS_VR_REVOCATION_UNAVAILABLE] = "revocation_unavailable",
	[CERTS_VR_INVALID] = "invalid",
};

const char *certs_val_reason_code(enum certs_val_reason r)
{
	if ((size_t)r < sizeof reason_codes / sizeof reason_codes[0] && reason_codes[r] != NULL)
		return reason_codes[r];
	return "invalid";
}

const char *certs_val_outcome_name(enum certs_val_outcome o)
{
	switch (o) {
	case CERTS_VAL_VALID: return "valid";
	case CERTS_VAL_INVALID: return "invalid";
	case CERTS_VAL_INDETERMINATE: return "indeterminate";
	}
	return "invalid";
}

static const char *crl_reason_name(int reason)
{
	static const char *const names[] = {
		"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", "(7)", "removeFromCRL",
		"privilegeWithdrawn", "aACompromise",
	};
	if (reason >= 0 && (size_t)reason < sizeof names / sizeof names[0])
		return names[reason];
	return "unspecified";
}

/* ------------------------------------------------------------------------------ helpers */

static void time_iso(time_t t, char buf[32])
{
	struct tm tm;
	if (t == 0 || gmtime_r(&t, &tm) == NULL || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "?");
}

static time_t asn1_time_t(const ASN1_TIME *a)
{
	struct tm tm;
	if (a == NULL || !ASN1_TIME_to_tm(a, &tm))
		return 0;
	return timegm(&tm);
}

static void subject_str(X509 *x, char *buf, size_t len)
{
	buf[0] = '\0';
	if (x == NULL || len == 0)
		return;
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		int n = BIO_read(b, buf, (int)len - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

static void issuer_str(X509 *x, char *buf, size_t len)
{
	buf[0] = '\0';
	if (x == NULL || len == 0)
		return;
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_issuer_name(x), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		int n = BIO_read(b, buf, (int)len - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

static void serial_hex(X509 *x, char *buf, size_t len)
{
	buf[0] = '\0';
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL;
	if (h != NULL)
		snprintf(buf, len, "%s", h);
	OPENSSL_free(h);
	BN_free(bn);
}

/* Copies s into d, cut to fit. */
static void copy_cut(char *d, size_t n, const char *s)
{
	size_t k = strnlen(s, n - 1);
	memcpy(d, s, k);
	d[k] = '\0';
}

static void verdict(struct certs_validation *r, enum certs_val_outcome o, enum certs_val_reason why,
		    int depth, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void verdict(struct certs_validation *r, enum certs_val_outcome o, enum certs_val_reason why,
		    int depth, const char *fmt, ...)
{
	va_list ap;
	r->outcome = o;
	r->reason = why;
	r->error_depth = depth;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof r->message, fmt, ap);
	va_end(ap);
}

static void validation_init(struct certs_validation *r)
{
	memset(r, 0, sizeof *r);
	r->outcome = CERTS_VAL_INVALID;
	r->reason = CERTS_VR_INVALID;
	r->error_depth = -1;
	r->revocation_reason = -1;
	snprintf(r->message, sizeof r->message, "not validated");
}

void certs_validation_free(struct certs_validation *r)
{
	if (r == NULL)
		return;
	sk_X509_pop_free(r->chain, X509_free);
	free(r->profile);
	for (size_t i = 0; i < r->n_policy_oids; i++)
		free(r->policy_oids[i]);
	free(r->policy_oids);
	free(r->person.pnr);
	free(r->person.given_name);
	free(r->person.surname);
	free(r->person.display_name);
	free(r->person.status);
	free(r->card.token_serial);
	free(r->card.status);
	for (size_t i = 0; i < r->n_affiliations; i++) {
		struct certs_val_affiliation *a = &r->affiliations[i];
		free(a->local_id);
		free(a->org_affiliation);
		free(a->orgnr);
		free(a->org_name);
		free(a->title);
	}
	free(r->affiliations);
	memset(r, 0, sizeof *r);
	r->error_depth = -1;
	r->revocation_reason = -1;
}

static const struct certs_val_ca *efos_ca_of(const struct certs_validate_params *p, X509 *x)
{
	for (size_t i = 0; x != NULL && i < p->n_efos_cas; i++)
		if (p->efos_cas[i].cert != NULL && X509_cmp(p->efos_cas[i].cert, x) == 0)
			return &p->efos_cas[i];
	return NULL;
}

/* ------------------------------------------------------------------------------ path */

struct vstate {
	int purpose_depth;   /* first X509_V_ERR_INVALID_PURPOSE seen, -1 = none */
	bool policy_failed;  /* X509_V_ERR_NO_EXPLICIT_POLICY */
};

/* Purpose and policy failures are noted and the walk continues (see the top of the file);
 * every other failure stops it. */
static int verify_cb(int ok, X509_STORE_CTX *sc)
{
	if (ok)
		return 1;
	struct vstate *vs = X509_STORE_CTX_get_app_data(sc);
	switch (X509_STORE_CTX_get_error(sc)) {
	case X509_V_ERR_INVALID_PURPOSE:
		if (vs->purpose_depth < 0)
			vs->purpose_depth = X509_STORE_CTX_get_error_depth(sc);
		return 1;
	case X509_V_ERR_NO_EXPLICIT_POLICY:
		vs->policy_failed = true;
		return 1;
	default:
		return 0;
	}
}

static enum certs_val_reason map_x509_err(int err)
{
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return CERTS_VR_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return CERTS_VR_NOT_YET_VALID;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
	case X509_V_ERR_SUBJECT_ISSUER_MISMATCH:
	case X509_V_ERR_AKID_SKID_MISMATCH:
	case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		return CERTS_VR_UNTRUSTED;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
		return CERTS_VR_BAD_SIGNATURE;
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
	case X509_V_ERR_INVALID_NON_CA:
	case X509_V_ERR_PERMITTED_VIOLATION:
	case X509_V_ERR_EXCLUDED_VIOLATION:
	case X509_V_ERR_SUBTREE_MINMAX:
	case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
	case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
	case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
		return CERTS_VR_CA_CONSTRAINTS;
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
		return CERTS_VR_WRONG_KEY_USAGE;
	case X509_V_ERR_NO_EXPLICIT_POLICY:
	case X509_V_ERR_INVALID_POLICY_EXTENSION:
		return CERTS_VR_POLICY;
	case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
		return CERTS_VR_CRITICAL_EXTENSION;
	case X509_V_ERR_EE_KEY_TOO_SMALL:
	case X509_V_ERR_CA_KEY_TOO_SMALL:
	case X509_V_ERR_CA_MD_TOO_WEAK:
		return CERTS_VR_WEAK_CRYPTO;
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
	case X509_V_ERR_INVALID_EXTENSION:
	case X509_V_ERR_SIGNATURE_ALGORITHM_MISMATCH:
	case X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY:
	case X509_V_ERR_CA_BCONS_NOT_CRITICAL:
	case X509_V_ERR_CA_CERT_MISSING_KEY_USAGE:
	case X509_V_ERR_ISSUER_NAME_EMPTY:
	case X509_V_ERR_SUBJECT_NAME_EMPTY:
	case X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL:
	case X509_V_ERR_EMPTY_SUBJECT_ALT_NAME:
	case X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER:
	case X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER:
	case X509_V_ERR_AUTHORITY_KEY_IDENTIFIER_CRITICAL:
	case X509_V_ERR_SUBJECT_KEY_IDENTIFIER_CRITICAL:
	case X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA:
	case X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN:
	case X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA:
	case X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3:
		return CERTS_VR_MALFORMED;
	default:
		return CERTS_VR_INVALID;
	}
}

/* The first critical extension of x that OpenSSL does not process. */
static void unknown_critical_oid(X509 *x, char *buf, size_t len)
{
	snprintf(buf, len, "?");
	for (int i = 0; x != NULL && i < X509_get_ext_count(x); i++) {
		X509_EXTENSION *ex = X509_get_ext(x, i);
		if (X509_EXTENSION_get_critical(ex) && !X509_supported_extension(ex)) {
			OBJ_obj2txt(buf, (int)len, X509_EXTENSION_get_object(ex), 1);
			return;
		}
	}
}

static void path_failure(struct certs_validation *r, X509_STORE_CTX *sc)
{
	int err = X509_STORE_CTX_get_error(sc);
	int depth = X509_STORE_CTX_get_error_depth(sc);
	X509 *x = X509_STORE_CTX_get_current_cert(sc);
	enum certs_val_reason why = map_x509_err(err);
	const char *what = depth > 0 ? "the issuing CA certificate" : "the certificate";
	const char *ossl = X509_verify_cert_error_string(err);
	char subj[256], iss[256], t[32], oid[96];
	subject_str(x, subj, sizeof subj);
	issuer_str(x, iss, sizeof iss);
	switch (why) {
	case CERTS_VR_EXPIRED:
		time_iso(asn1_time_t(X509_get0_notAfter(x)), t);
		verdict(r, CERTS_VAL_INVALID, why, depth, "%s %s expired at %s", what, subj, t);
		break;
	case CERTS_VR_NOT_YET_VALID:
		time_iso(asn1_time_t(X509_get0_notBefore(x)), t);
		verdict(r, CERTS_VAL_INVALID, why, depth, "%s %s is not valid before %s", what, subj, t);
		break;
	case CERTS_VR_UNTRUSTED:
		verdict(r, CERTS_VAL_INVALID, why, depth,
			"%s %s was issued by %s, which is not an EFOS CA or a configured trust anchor "
			"(unknown issuer / untrusted root: %s)", what, subj, iss, ossl);
		break;
	case CERTS_VR_BAD_SIGNATURE:
		verdict(r, CERTS_VAL_INVALID, why, depth,
			"the signature on %s %s does not verify with the key of its issuer %s (%s)",
			what, subj, iss, ossl);
		break;
	case CERTS_VR_CRITICAL_EXTENSION:
		unknown_critical_oid(x, oid, sizeof oid);
		verdict(r, CERTS_VAL_INVALID, why, depth,
			"%s %s has a critical extension %s that is not understood, so it must be refused",
			what, subj, oid);
		break;
	case CERTS_VR_CA_CONSTRAINTS:
		verdict(r, CERTS_VAL_INVALID, why, depth, "%s %s breaks a CA constraint: %s", what, subj, ossl);
		break;
	case CERTS_VR_WEAK_CRYPTO:
		verdict(r, CERTS_VAL_INVALID, why, depth,
			"%s %s uses a key or signature algorithm below policy (RSA >= 2048, EC >= 256, "
			"no SHA-1): %s", what, subj, ossl);
		break;
	case CERTS_VR_POLICY:
		verdict(r, CERTS_VAL_INVALID, why, depth, "certificate policies: %s (%s)", ossl, subj);
		break;
	default:
		verdict(r, CERTS_VAL_INVALID, why, depth, "%s %s: %s", what, subj, ossl);
		break;
	}
}

static bool tree_accepts(X509_STORE_CTX *sc, const ASN1_OBJECT *oid)
{
	X509_POLICY_TREE *t = X509_STORE_CTX_get0_policy_tree(sc);
	if (t == NULL || oid == NULL)
		return false;
	STACK_OF(X509_POLICY_NODE) *auth = X509_policy_tree_get0_policies(t);
	for (int i = 0; i < sk_X509_POLICY_NODE_num(auth); i++) {
		const ASN1_OBJECT *po = X509_policy_node_get0_policy(sk_X509_POLICY_NODE_value(auth, i));
		if (po != NULL && (OBJ_cmp(po, oid) == 0 || OBJ_obj2nid(po) == NID_any_policy))
			return true;
	}
	return false;
}

/* The leaf's certificatePolicies into r->policy_oids; *validated: those the path accepts
 * (policy tree; or `known`, n_known flags remembered from an earlier validation of the same
 * path), as a parallel flag array the caller frees. */
static int leaf_policies(struct certs_validation *r, X509 *leaf, X509_STORE_CTX *sc, const bool *known,
			 size_t n_known, bool **validated)
{
	*validated = NULL;
	int crit = 0;
	CERTIFICATEPOLICIES *cp = X509_get_ext_d2i(leaf, NID_certificate_policies, &crit, NULL);
	if (cp == NULL)
		return 0;
	int n = sk_POLICYINFO_num(cp);
	r->policy_oids = calloc((size_t)n + 1, sizeof *r->policy_oids);
	*validated = calloc((size_t)n + 1, sizeof **validated);
	if (r->policy_oids == NULL || *validated == NULL) {
		CERTIFICATEPOLICIES_free(cp);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		POLICYINFO *pi = sk_POLICYINFO_value(cp, i);
		char buf[128];
		OBJ_obj2txt(buf, sizeof buf, pi->policyid, 1);
		r->policy_oids[r->n_policy_oids] = strdup(buf);
		if (r->policy_oids[r->n_policy_oids] == NULL) {
			CERTIFICATEPOLICIES_free(cp);
			return -1;
		}
		(*validated)[r->n_policy_oids] = known != NULL ? (size_t)i < n_known && known[i]
							       : tree_accepts(sc, pi->policyid);
		r->n_policy_oids++;
	}
	CERTIFICATEPOLICIES_free(cp);
	return 0;
}

static bool has_card_auth_usage(X509 *leaf)
{
	uint32_t fl = X509_get_extension_flags(leaf);
	uint32_t ku = X509_get_key_usage(leaf), xku = X509_get_extended_key_usage(leaf);
	return (fl & EXFLAG_KUSAGE) && (ku & X509v3_KU_DIGITAL_SIGNATURE) &&
	       (fl & EXFLAG_XKUSAGE) && (xku & XKU_SSL_CLIENT);
}

static void describe_usage(X509 *leaf, char *buf, size_t len)
{
	static const struct { uint32_t bit; const char *name; } kus[] = {
		{ X509v3_KU_DIGITAL_SIGNATURE, "digitalSignature" }, { X509v3_KU_NON_REPUDIATION, "nonRepudiation" },
		{ X509v3_KU_KEY_ENCIPHERMENT, "keyEncipherment" }, { X509v3_KU_DATA_ENCIPHERMENT, "dataEncipherment" },
		{ X509v3_KU_KEY_AGREEMENT, "keyAgreement" }, { X509v3_KU_KEY_CERT_SIGN, "keyCertSign" },
		{ X509v3_KU_CRL_SIGN, "cRLSign" },
	};
	static const struct { uint32_t bit; const char *name; } xkus[] = {
		{ XKU_SSL_SERVER, "serverAuth" }, { XKU_SSL_CLIENT, "clientAuth" }, { XKU_SMIME, "emailProtection" },
		{ XKU_CODE_SIGN, "codeSigning" }, { XKU_OCSP_SIGN, "OCSPSigning" }, { XKU_TIMESTAMP, "timeStamping" },
	};
	uint32_t fl = X509_get_extension_flags(leaf);
	uint32_t ku = X509_get_key_usage(leaf), xku = X509_get_extended_key_usage(leaf);
	size_t n = 0;
	n += (size_t)snprintf(buf + n, len - n, "keyUsage ");
	if (!(fl & EXFLAG_KUSAGE))
		n += (size_t)snprintf(buf + n, len > n ? len - n : 0, "absent");
	else {
		bool first = true;
		for (size_t i = 0; i < sizeof kus / sizeof kus[0] && n < len; i++)
			if (ku & kus[i].bit) {
				n += (size_t)snprintf(buf + n, len - n, "%s%s", first ? "" : ",", kus[i].name);
				first = false;
			}
	}
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, ", extendedKeyUsage ");
	if (n >= len)
		return;
	if (!(fl & EXFLAG_XKUSAGE))
		snprintf(buf + n, len - n, "absent");
	else {
		bool first = true;
		for (size_t i = 0; i < sizeof xkus / sizeof xkus[0] && n < len; i++)
			if (xku & xkus[i].bit) {
				n += (size_t)snprintf(buf + n, len - n, "%s%s", first ? "" : ",", xkus[i].name);
				first = false;
			}
		if (first && n < len)
			snprintf(buf + n, len - n, "(other purposes)");
	}
}

/* ------------------------------------------------------------------------------ fetching */

struct membuf {
	unsigned char *p;
	size_t n, max;
	bool too_big;
};

static size_t on_data(char *ptr, size_t sz, size_t nm, void *ud)
{
	struct membuf *m = ud;
	size_t k = sz * nm;
	if (m->n + k > m->max) {
		m->too_big = true;
		return 0;
	}
	unsigned char *q = realloc(m->p, m->n + k + 1);
	if (q == NULL)
		return 0;
	m->p = q;
	memcpy(m->p + m->n, ptr, k);
	m->n += k;
	return k;
}

/* GET (body NULL) or POST url; 0 with *out (malloc'd) on HTTP 200, else -1 with why. */
static int http_fetch(const char *url, const char *ctype, const unsigned char *body, size_t blen,
		      long timeout_s, size_t max, unsigned char **out, size_t *outlen, char *why,
		      size_t whylen)
{
	struct membuf m = { .max = max };
	struct curl_slist *hdrs = NULL;
	int rc = -1;
	long status = 0;
	*out = NULL;
	*outlen = 0;
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
		snprintf(why, whylen, "%s is not an http(s) URL", url);
		return -1;
	}
	CURL *h = curl_easy_init();
	if (h == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "efos-validate");
	if (body != NULL) {
		char ct[96];
		snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
		hdrs = curl_slist_append(NULL, ct);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)blen);
	}
	CURLcode cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (m.too_big)
		snprintf(why, whylen, "%s: answer larger than %zu bytes", url, max);
	else if (cc != CURLE_OK)
		snprintf(why, whylen, "%s: %s", url, curl_easy_strerror(cc));
	else if (status != 200)
		snprintf(why, whylen, "%s answered HTTP %ld", url, status);
	else {
		*out = m.p;
		*outlen = m.n;
		m.p = NULL;
		rc = 0;
	}
	free(m.p);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return rc;
}

/* ------------------------------------------------------------------------------ OCSP, CRL */

enum rev_state { REV_GOOD, REV_REVOKED, REV_UNAVAILABLE };

struct rev_answer {
	enum rev_state state;
	int reason;
	time_t revoked_at;
	char why[520];
};

static char *first_ocsp_url(X509 *x)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(x);
	char *url = NULL;
	for (int i = 0; i < sk_OPENSSL_STRING_num(urls) && url == NULL; i++) {
		const char *u = sk_OPENSSL_STRING_value(urls, i);
		if (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0)
			url = strdup(u);
	}
	X509_email_free(urls);
	return url;
}

static int ocsp_check(const struct certs_validate_params *p, X509_STORE *store, STACK_OF(X509) *chain,
		      X509 *x, X509 *issuer, struct rev_answer *a)
{
	int rc = -1;
	char *url = first_ocsp_url(x);
	OCSP_CERTID *id = NULL, *id2 = NULL;
	OCSP_REQUEST *req = NULL;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	unsigned char *der = NULL, *ans = NULL;
	size_t anslen = 0;
	if (url == NULL) {
		snprintf(a->why, sizeof a->why, "no OCSP URL in the certificate");
		return -1;
	}
	id = OCSP_cert_to_id(EVP_sha1(), x, issuer);
	id2 = id ? OCSP_CERTID_dup(id) : NULL;
	req = OCSP_REQUEST_new();
	if (id2 == NULL || req == NULL || OCSP_request_add0_id(req, id2) == NULL) {
		OCSP_CERTID_free(id2);
		snprintf(a->why, sizeof a->why, "out of memory");
		goto out;
	}
	if (!OCSP_request_add1_nonce(req, NULL, -1)) {
		snprintf(a->why, sizeof a->why, "out of memory");
		goto out;
	}
	int dlen = i2d_OCSP_REQUEST(req, &der);
	if (dlen <= 0) {
		snprintf(a->why, sizeof a->why, "cannot encode the OCSP request");
		goto out;
	}
	char why[200];
	if (http_fetch(url, "application/ocsp-request", der, (size_t)dlen, p->fetch_timeout_s,
		       OCSP_RESPONSE_MAX, &ans, &anslen, why, sizeof why) != 0) {
		snprintf(a->why, sizeof a->why, "OCSP %s", why);
		goto out;
	}
	const unsigned char *q = ans;
	resp = d2i_OCSP_RESPONSE(NULL, &q, (long)anslen);
	if (resp == NULL || q != ans + anslen) {
		snprintf(a->why, sizeof a->why, "OCSP %s: the answer is not an OCSP response", url);
		goto out;
	}
	int st = OCSP_response_status(resp);
	if (st != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		snprintf(a->why, sizeof a->why, "OCSP %s answered %s", url, OCSP_response_status_str(st));
		goto out;
	}
	bs = OCSP_response_get1_basic(resp);
	if (bs == NULL) {
		snprintf(a->why, sizeof a->why, "OCSP %s: not a basic OCSP response", url);
		goto out;
	}
	/* The response must be signed by the CA itself or by a responder the CA delegated to
	 * (id-kp-OCSPSigning, issued directly by the CA), chained to our anchors. */
	if (OCSP_basic_verify(bs, chain, store, 0) <= 0) {
		snprintf(a->why, sizeof a->why, "OCSP %s: the response signature or the responder "
			 "is not trusted", url);
		goto out;
	}
	int status = 0, reason = -1;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	if (!OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd)) {
		snprintf(a->why, sizeof a->why, "OCSP %s: no answer for this certificate", url);
		goto out;
	}
	switch (OCSP_check_nonce(req, bs)) {
	case 1:
		break;
	case -1:
		/* The responder did not echo our nonce (pre-signed answers, RFC 5019): accept only
		 * an answer produced just now. */
		if (!OCSP_check_validity(thisupd, nextupd, OCSP_CLOCK_SKEW_S, OCSP_CLOCK_SKEW_S)) {
			snprintf(a->why, sizeof a->why, "OCSP %s: no nonce in the answer and it is not fresh", url);
			goto out;
		}
		break;
	default:
		snprintf(a->why, sizeof a->why, "OCSP %s: the nonce of the answer does not match the request", url);
		goto out;
	}
	if (!OCSP_check_validity(thisupd, nextupd, OCSP_CLOCK_SKEW_S, -1)) {
		snprintf(a->why, sizeof a->why, "OCSP %s: the answer is outside its validity period", url);
		goto out;
	}
	if (status == V_OCSP_CERTSTATUS_GOOD) {
		a->state = REV_GOOD;
		rc = 0;
	} else if (status == V_OCSP_CERTSTATUS_REVOKED) {
		a->state = REV_REVOKED;
		a->reason = reason < 0 ? 0 : reason;
		a->revoked_at = asn1_time_t(rev);
		rc = 0;
	} else {
		snprintf(a->why, sizeof a->why, "OCSP %s: the responder does not know the certificate", url);
	}
out:
	ERR_clear_error();
	free(url);
	free(ans);
	OPENSSL_free(der);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	return rc;
}

/* CRLs of other CAs, by URL, until their nextUpdate. The signature is checked against the
 * issuer on every use (cheap), so a URL shared by mistake cannot lend one CA's CRL to another. */
static struct crl_slot {
	char *url;
	X509_CRL *crl;
	time_t next_update, used;
} crl_cache[CRL_CACHE_SLOTS];
static pthread_mutex_t crl_lock = PTHREAD_MUTEX_INITIALIZER;

static X509_CRL *crl_cache_get(const char *url, time_t now)
{
	X509_CRL *c = NULL;
	pthread_mutex_lock(&crl_lock);
	for (size_t i = 0; i < CRL_CACHE_SLOTS; i++)
		if (crl_cache[i].url != NULL && strcmp(crl_cache[i].url, url) == 0 &&
		    crl_cache[i].next_update > now) {
			c = crl_cache[i].crl;
			X509_CRL_up_ref(c);
			crl_cache[i].used = now;
			break;
		}
	pthread_mutex_unlock(&crl_lock);
	return c;
}

static void crl_cache_put(const char *url, X509_CRL *crl, time_t next_update, time_t now)
{
	pthread_mutex_lock(&crl_lock);
	size_t slot = 0;
	for (size_t i = 0; i < CRL_CACHE_SLOTS; i++) {
		if (crl_cache[i].url != NULL && strcmp(crl_cache[i].url, url) == 0) {
			slot = i;
			break;
		}
		if (crl_cache[i].used < crl_cache[slot].used)
			slot = i;   /* least recently used (or empty: used 0) */
	}
	char *u = strdup(url);
	if (u != NULL) {
		free(crl_cache[slot].url);
		X509_CRL_free(crl_cache[slot].crl);
		X509_CRL_up_ref(crl);
		crl_cache[slot] = (struct crl_slot){ u, crl, next_update, now };
	}
	pthread_mutex_unlock(&crl_lock);
}

static char *first_crl_url(X509 *x)
{
	STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	char *url = NULL;
	for (int i = 0; i < sk_DIST_POINT_num(dps) && url == NULL; i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
		if (dp->distpoint == NULL || dp->distpoint->type != 0)
			continue;
		GENERAL_NAMES *gns = dp->distpoint->name.fullname;
		for (int j = 0; j < sk_GENERAL_NAME_num(gns) && url == NULL; j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(gns, j);
			if (gn->type != GEN_URI)
				continue;
			const char *u = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
			if (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0)
				url = strdup(u);
		}
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	return url;
}

static X509_CRL *crl_parse(const unsigned char *d, size_t n)
{
	const unsigned char *q = d;
	X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)n);
	if (crl == NULL) {
		BIO *b = BIO_new_mem_buf(d, (int)n);
		crl = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
	}
	ERR_clear_error();
	return crl;
}

static int crl_check(const struct certs_validate_params *p, X509 *x, X509 *issuer, struct rev_answer *a)
{
	int rc = -1;
	char *url = first_crl_url(x);
	unsigned char *d = NULL;
	size_t n = 0;
	X509_CRL *crl = NULL;
	time_t now = time(NULL);
	if (url == NULL) {
		snprintf(a->why, sizeof a->why, "no CRL distribution point in the certificate");
		return -1;
	}
	crl = crl_cache_get(url, now);
	if (crl == NULL) {
		char why[200];
		if (http_fetch(url, NULL, NULL, 0, p->fetch_timeout_s, CRL_MAX, &d, &n, why, sizeof why) != 0) {
			snprintf(a->why, sizeof a->why, "CRL %s", why);
			goto out;
		}
		crl = crl_parse(d, n);
		if (crl == NULL) {
			snprintf(a->why, sizeof a->why, "CRL %s: not a CRL", url);
			goto out;
		}
	}
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0 ||
	    X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1) {
		snprintf(a->why, sizeof a->why, "CRL %s is not signed by the certificate's issuer", url);
		goto out;
	}
	time_t next = asn1_time_t(X509_CRL_get0_nextUpdate(crl));
	if (next == 0 || next <= now) {
		snprintf(a->why, sizeof a->why, "CRL %s is out of date (nextUpdate passed or absent)", url);
		goto out;
	}
	if (d != NULL)
		crl_cache_put(url, crl, next, now);
	X509_REVOKED *rev = NULL;
	if (X509_CRL_get0_by_cert(crl, &rev, x) == 1 && rev != NULL) {
		a->state = REV_REVOKED;
		a->revoked_at = asn1_time_t(X509_REVOKED_get0_revocationDate(rev));
		ASN1_ENUMERATED *re = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
		a->reason = re ? (int)ASN1_ENUMERATED_get(re) : 0;
		ASN1_ENUMERATED_free(re);
	} else {
		a->state = REV_GOOD;
	}
	rc = 0;
out:
	ERR_clear_error();
	X509_CRL_free(crl);
	free(d);
	free(url);
	return rc;
}

/* Another CA's certificate: OCSP first, its CRL when OCSP gives no answer. */
static void foreign_status(const struct certs_validate_params *p, X509_STORE *store,
			   STACK_OF(X509) *chain, X509 *x, X509 *issuer, struct rev_answer *a,
			   char *src, size_t srclen)
{
	char why_ocsp[256] = "";   /* a->why, cut */
	memset(a, 0, sizeof *a);
	a->state = REV_UNAVAILABLE;
	if (p->fetch_timeout_s <= 0) {
		snprintf(a->why, sizeof a->why, "fetching OCSP answers and CRLs is disabled (validate.fetch_timeout)");
		return;
	}
	if (ocsp_check(p, store, chain, x, issuer, a) == 0) {
		snprintf(src, srclen, "ocsp");
		return;
	}
	copy_cut(why_ocsp, sizeof why_ocsp, a->why);
	a->state = REV_UNAVAILABLE;
	if (crl_check(p, x, issuer, a) == 0) {
		snprintf(src, srclen, "crl");
		return;
	}
	a->state = REV_UNAVAILABLE;
	char why_crl[256];
	copy_cut(why_crl, sizeof why_crl, a->why);
	snprintf(a->why, sizeof a->why, "%s; %s", why_ocsp, why_crl);
}

/* ------------------------------------------------------------------------------ EFOS */

static void set_str(char **dst, PGresult *res, int row, int col)
{
	free(*dst);
	*dst = PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

/* Columns of the affiliation part of efos_status's query (and of the query below): a.id,
 * a.local_id, a.title, a.status, o.orgnr, o.name, o.status. */
#define AFF_SQL_COLS "a.id, a.local_id, a.title, a.status, o.orgnr, o.name, o.status"
#define AFF_COL0 15   /* where they start in efos_status's rows */

/* The holder's active affiliations (and the card's own, whatever its state, to check it):
 * from the rows efos_status read with the certificate's status (one round trip for both:
 * every SSO reuse checks the card again), or, without them, with a query of their own.
 * Rows whose a.id is NULL (a holder without affiliations) are skipped. */
static int load_affiliations(PGconn *c, PGresult *with_status, struct certs_validation *r, bool *card_aff_ok,
			     char *card_aff_why, size_t whylen, efos_err *e)
{
	int o = 0;
	PGresult *res = with_status;
	if (res != NULL) {
		o = AFF_COL0;
	} else {
		char pid[24], aid[24];
		snprintf(pid, sizeof pid, "%ld", r->person.id);
		snprintf(aid, sizeof aid, "%ld", r->has_card ? r->card.affiliation_id : 0L);
		const char *params[] = { pid, aid };
		res = db_exec(c,
			"SELECT " AFF_SQL_COLS " "
			"FROM affiliations a JOIN organisations o ON o.id = a.org_id "
			"WHERE a.person_id = $1 AND (a.status = 'active' OR a.id = $2) ORDER BY a.id",
			2, params, e);
		if (res == NULL)
			return -1;
	}
	int rc = 0;
	int n = PQntuples(res);
	*card_aff_ok = !r->has_card;
	r->affiliations = calloc((size_t)n + 1, sizeof *r->affiliations);
	if (r->affiliations == NULL) {
		rc = efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (PQgetisnull(res, i, o))
			continue;
		long id = atol(PQgetvalue(res, i, o));
		bool active = strcmp(PQgetvalue(res, i, o + 3), "active") == 0;
		bool org_active = strcmp(PQgetvalue(res, i, o + 6), "active") == 0;
		if (r->has_card && id == r->card.affiliation_id) {
			*card_aff_ok = active && org_active;
			if (!active)
				snprintf(card_aff_why, whylen, "the affiliation the card was issued for (%s@%s) has ended",
					 PQgetvalue(res, i, o + 1), PQgetvalue(res, i, o + 4));
			else if (!org_active)
				snprintf(card_aff_why, whylen, "the organisation %s (%s) is suspended",
					 PQgetvalue(res, i, o + 5), PQgetvalue(res, i, o + 4));
		}
		if (!active || !org_active)
			continue;
		struct certs_val_affiliation *a = &r->affiliations[r->n_affiliations++];
		a->id = id;
		set_str(&a->local_id, res, i, o + 1);
		set_str(&a->title, res, i, o + 2);
		set_str(&a->orgnr, res, i, o + 4);
		set_str(&a->org_name, res, i, o + 5);
		a->of_card = r->has_card && id == r->card.affiliation_id;
		if (a->local_id != NULL && a->orgnr != NULL &&
		    asprintf(&a->org_affiliation, "%s@%s", a->local_id, a->orgnr) < 0)
			a->org_affiliation = NULL;
		if (a->local_id == NULL || a->orgnr == NULL || a->org_name == NULL || a->org_affiliation == NULL) {
			rc = efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
	}
out:
	if (res != with_status)
		PQclear(res);
	return rc;
}

/* A certificate issued by EFOS CA ca: its record, its card, its holder. Returns 1 with the
 * verdict set when it must be refused, 0 when it may be used, -1 when the database could not
 * answer. */
static int efos_status(const struct certs_validate_params *p, struct certs_validation *r, X509 *x,
		       int depth, const struct certs_val_ca *ca, time_t at, PGresult **aff_rows, efos_err *e)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char hex[65], caid[24], serial[64], subj[256], t[32], st[16];
	if (!X509_digest(x, EVP_sha256(), md, &mdlen) || mdlen != 32)
		return efos_fail(e, EFOS_E_INTERNAL, "cannot hash the certificate");
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(caid, sizeof caid, "%ld", ca->id);
	serial_hex(x, serial, sizeof serial);
	subject_str(x, subj, sizeof subj);
	const char *params[] = { hex, caid };
	/* One round trip: the certificate, its card, its holder (the certificate's person, else
	 * the card's) and the holder's affiliations (load_affiliations: one row each, the
	 * certificate's columns repeated; one row with NULLs when there is none). */
	PGresult *res = db_exec(p->db,
		"SELECT c.status, c.revocation_reason, floor(extract(epoch FROM c.revoked_at))::bigint, "
		"       c.profile, c.card_id, k.status, k.token_serial, k.affiliation_id, "
		"       p.id, p.pnr, p.is_coordination_number, p.given_name, p.surname, "
		"       p.display_name, p.status, " AFF_SQL_COLS " "
		"FROM certificates c LEFT JOIN cards k ON k.id = c.card_id "
		"     LEFT JOIN persons p ON p.id = coalesce(c.person_id, k.person_id) "
		"     LEFT JOIN (affiliations a JOIN organisations o ON o.id = a.org_id) "
		"            ON a.person_id = p.id AND (a.status = 'active' OR a.id = k.affiliation_id) "
		"WHERE c.cert_sha256 = decode($1, 'hex') AND c.ca_id = $2 ORDER BY a.id",
		2, params, e);
	if (res == NULL)
		return -1;
	if (PQntuples(res) < 1) {   /* cert_sha256 is UNIQUE: the rows are of one certificate */
		PQclear(res);
		verdict(r, CERTS_VAL_INVALID, CERTS_VR_UNKNOWN_CERTIFICATE, depth,
			"certificate %s (serial %s) is signed by the EFOS CA '%s' but the CA has no record "
			"of issuing it", subj, serial, ca->name ? ca->name : "?");
		return 1;
	}
	snprintf(st, sizeof st, "%s", PQgetvalue(res, 0, 0));
	int reason = PQgetisnull(res, 0, 1) ? -1 : atoi(PQgetvalue(res, 0, 1));
	time_t revoked_at = PQgetisnull(res, 0, 2) ? 0 : (time_t)atoll(PQgetvalue(res, 0, 2));
	if (depth == 0) {
		r->efos_issued = true;
		r->efos_ca_name = ca->name;
		set_str(&r->profile, res, 0, 3);
		snprintf(r->cert_status, sizeof r->cert_status, "%s", st);
		snprintf(r->revocation_source, sizeof r->revocation_source, "database");
		if (!PQgetisnull(res, 0, 4)) {
			r->has_card = true;
			r->card.id = atol(PQgetvalue(res, 0, 4));
			set_str(&r->card.status, res, 0, 5);
			set_str(&r->card.token_serial, res, 0, 6);
			r->card.affiliation_id = atol(PQgetvalue(res, 0, 7));
		}
		if (!PQgetisnull(res, 0, 8)) {
			r->has_person = true;
			r->person.id = atol(PQgetvalue(res, 0, 8));
			set_str(&r->person.pnr, res, 0, 9);
			r->person.coordination_number = strcmp(PQgetvalue(res, 0, 10), "t") == 0;
			set_str(&r->person.given_name, res, 0, 11);
			set_str(&r->person.surname, res, 0, 12);
			set_str(&r->person.display_name, res, 0, 13);
			set_str(&r->person.status, res, 0, 14);
		}
	}
	if (depth == 0 && aff_rows != NULL && *aff_rows == NULL)
		*aff_rows = res;   /* load_affiliations reads them if the certificate may be used */
	else
		PQclear(res);
	if ((r->has_card && r->card.status == NULL) ||
	    (r->has_person && (r->person.pnr == NULL || r->person.status == NULL)))
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");

	/* Revoked after the validation time asked for: it was not revoked then. Without a time
	 * (now), revoked is revoked. */
	if (strcmp(st, "revoked") == 0 && (p->at == 0 || revoked_at == 0 || revoked_at <= at)) {
		r->revocation_reason = reason < 0 ? 0 : reason;
		r->revoked_at = revoked_at;
		time_iso(revoked_at, t);
		verdict(r, CERTS_VAL_INVALID, CERTS_VR_REVOKED, depth,
			"certificate %s (serial %s) was revoked at %s, reason %s", subj, serial, t,
			crl_reason_name(r->revocation_reason));
		return 1;
	}
	if (depth > 0)
		return 0;
	const char *card = r->has_card ? r->card.status : "active";
	const char *token = r->card.token_serial ? r->card.token_serial : "?";
	if (strcmp(card, "active") != 0 && strcmp(card, "suspended") != 0) {
		verdict(r, CERTS_VAL_INVALID, CERTS_VR_CARD_NOT_ACTIVE, 0,
			"the card %ld (token %s) is %s, so its certificates may not be used", r->card.id,
			token, strcmp(card, "pending") == 0 ? "pending: its enrollment was never confirmed" : card);
		return 1;
	}
	if (strcmp(st, "hold") == 0) {
		r->revocation_reason = 6;
		r->revoked_at = revoked_at;
		verdict(r, CERTS_VAL_INVALID, CERTS_VR_SUSPENDED, 0,
			"certificate %s (serial %s) is suspended (certificateHold)%s", subj, serial,
			strcmp(card, "suspended") == 0 ? ": the card is suspended" : "");
		return 1;
	}
	if (strcmp(card, "suspended") == 0) {
		verdict(r, CERTS_VAL_INVALID, CERTS_VR_CARD_NOT_ACTIVE, 0,
			"the card %ld (token %s) is suspended", r->card.id, token);
		return 1;
	}
	if (r->has_person && strcmp(r->person.status, "active") != 0) {
		verdict(r, CERTS_VAL_INVALID, CERTS_VR_SUSPENDED, 0,
			"the holder of certificate %s (person %ld) is suspended", subj, r->person.id);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------------------ the whole */

int certs_validate_chain(const struct certs_validate_params *p, X509 *leaf,
			 STACK_OF(X509) *untrusted, struct certs_validation *r, efos_err *e)
{
	int rc = -1;
	X509_STORE *store = NULL;
	X509_STORE_CTX *sc = NULL;
	STACK_OF(X509) *all = NULL;
	bool *validated = NULL;
	char **vpol = NULL;
	PGresult *aff_rows = NULL;   /* the holder's affiliations, read with the leaf's status */
	struct vstate vs = { .purpose_depth = -1 };
	time_t at = p->at != 0 ? p->at : time(NULL);
	ASN1_OBJECT *ha = NULL;

	validation_init(r);
	if (leaf == NULL)
		return efos_fail(e, EFOS_E_INVALID, "no certificate to validate");
	if (p->purpose == CERTS_PURPOSE_CARD_AUTH &&
	    (p->card_auth_policy == NULL || (ha = OBJ_txt2obj(p->card_auth_policy, 1)) == NULL))
		return efos_fail(e, EFOS_E_CONFIG, "the EFOS high-assurance policy OID is not configured "
				 "(the card-auth certificate profile has no policies)");
	if (ha == NULL && p->card_auth_policy != NULL)
		ha = OBJ_txt2obj(p->card_auth_policy, 1);

	store = X509_STORE_new();
	sc = X509_STORE_CTX_new();
	all = sk_X509_new_null();
	if (store == NULL || sc == NULL || all == NULL)
		goto oom;
	for (int i = 0; i < sk_X509_num(p->anchors); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(p->anchors, i)))
			goto oom;
	/* offered by the presenter first, then the CAs we know */
	for (int i = 0; i < sk_X509_num(untrusted); i++)
		if (!sk_X509_push(all, sk_X509_value(untrusted, i)))
			goto oom;
	for (int i = 0; i < sk_X509_num(p->intermediates); i++)
		if (!sk_X509_push(all, sk_X509_value(p->intermediates, i)))
			goto oom;
	if (!X509_STORE_CTX_init(sc, store, leaf, all))
		goto oom;
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(sc);
	X509_VERIFY_PARAM_set_time(vp, at);
	X509_VERIFY_PARAM_set_auth_level(vp, 2);
	X509_VERIFY_PARAM_set_depth(vp, 8);
	unsigned long flags = X509_V_FLAG_X509_STRICT | X509_V_FLAG_POLICY_CHECK | X509_V_FLAG_PARTIAL_CHAIN;
	if (p->purpose == CERTS_PURPOSE_CARD_AUTH) {
		ASN1_OBJECT *pol = OBJ_dup(ha);
		if (pol == NULL || !X509_VERIFY_PARAM_add0_policy(vp, pol)) {
			ASN1_OBJECT_free(pol);
			goto oom;
		}
		flags |= X509_V_FLAG_EXPLICIT_POLICY;
		X509_STORE_CTX_set_purpose(sc, X509_PURPOSE_SSL_CLIENT);
	}
	X509_VERIFY_PARAM_set_flags(vp, flags);
	X509_STORE_CTX_set_verify_cb(sc, verify_cb);
	X509_STORE_CTX_set_app_data(sc, &vs);

	/* The path: remembered from a validation of the same certificates a moment ago (only
	 * successes, only "now"; validate_memo.h), or built and checked by OpenSSL. */
	unsigned char mkey[32];
	struct path_memo_result mr = { 0 };
	bool memo = p->at == 0 && path_memo_key(leaf, p->anchors, p->intermediates, untrusted, p->purpose,
						 p->card_auth_policy, mkey);
	bool remembered = memo && path_memo_get(mkey, at, &mr);
	int ok = 1;
	if (remembered) {
		r->chain = mr.chain;
		mr.chain = NULL;
		vs.purpose_depth = mr.purpose_depth;
		vs.policy_failed = mr.policy_failed;
	} else {
		ok = X509_verify_cert(sc);
		r->chain = X509_STORE_CTX_get1_chain(sc);
	}
	if (ok != 1) {
		path_failure(r, sc);
		rc = 0;
		goto out;
	}
	r->card_auth_usage = has_card_auth_usage(leaf);
	if (leaf_policies(r, leaf, sc, remembered ? mr.validated : NULL, mr.n_validated, &validated) != 0) {
		free(mr.validated);
		goto oom;
	}
	free(mr.validated);
	if (memo && !remembered && r->chain != NULL) {
		struct path_memo_result put = {
			.chain = r->chain, .purpose_depth = vs.purpose_depth, .policy_failed = vs.policy_failed,
			.validated = validated, .n_validated = r->n_policy_oids,
		};
		path_memo_put(mkey, at, &put);
	}

	char subj[256], usage[256];
	subject_str(leaf, subj, sizeof subj);
	if (p->purpose == CERTS_PURPOSE_CARD_AUTH && !r->card_auth_usage) {
		describe_usage(leaf, usage, sizeof usage);
		verdict(r, CERTS_VAL_INVALID, CERTS_VR_WRONG_KEY_USAGE, 0,
			"certificate %s is not for authentication: it has %s (card login needs keyUsage "
			"digitalSignature and extendedKeyUsage clientAuth)", subj, usage);
		rc = 0;
		goto out;
	}
	if (vs.purpose_depth > 0) {
		X509 *ca = sk_X509_value(r->chain, vs.purpose_depth);
		subject_str(ca, subj, sizeof subj);
		verdict(r, CERTS_VAL_INVALID, CERTS_VR_WRONG_KEY_USAGE, vs.purpose_depth,
			"the issuing CA %s may not issue certificates for TLS client authentication "
			"(its extendedKeyUsage)", subj);
		rc = 0;
		goto out;
	}
	if (p->purpose == CERTS_PURPOSE_CARD_AUTH) {
		bool asserted = false;
		for (size_t i = 0; i < r->n_policy_oids; i++)
			if (strcmp(r->policy_oids[i], p->card_auth_policy) == 0 && validated[i])
				asserted = true;
		if (vs.policy_failed || !asserted) {
			char list[200] = "";
			size_t n = 0;
			for (size_t i = 0; i < r->n_policy_oids && n < sizeof list; i++)
				n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", r->policy_oids[i]);
			verdict(r, CERTS_VAL_INVALID, CERTS_VR_POLICY, 0,
				"certificate %s is not issued under the EFOS high-assurance policy %s "
				"(its policies: %s)", subj, p->card_auth_policy, n ? list : "none");
			rc = 0;
			goto out;
		}
	} else if (vs.policy_failed) {
		verdict(r, CERTS_VAL_INVALID, CERTS_VR_POLICY, 0,
			"the certification path of %s requires an explicit certificate policy that it does "
			"not have", subj);
		rc = 0;
		goto out;
	}

	/* Revocation, from the leaf up; the anchor is trusted as configured. */
	int n = sk_X509_num(r->chain);
	for (int i = 0; i + 1 < n; i++) {
		X509 *x = sk_X509_value(r->chain, i), *issuer = sk_X509_value(r->chain, i + 1);
		if (efos_ca_of(p, x) != NULL)
			continue;   /* an EFOS CA certificate: trusted as loaded from the cas table */
		const struct certs_val_ca *ca = efos_ca_of(p, issuer);
		if (ca != NULL) {
			if (p->db == NULL) {
				verdict(r, CERTS_VAL_INDETERMINATE, CERTS_VR_REVOCATION_UNAVAILABLE, i,
					"the status of the EFOS certificate cannot be checked: the database is "
					"unavailable");
				rc = 0;
				goto out;
			}
			int st = efos_status(p, r, x, i, ca, at, &aff_rows, e);
			if (st < 0 && e->code == EFOS_E_UNAVAILABLE) {
				verdict(r, CERTS_VAL_INDETERMINATE, CERTS_VR_REVOCATION_UNAVAILABLE, i,
					"the status of the EFOS certificate cannot be checked: %s", e->msg);
				rc = 0;
				goto out;
			}
			if (st != 0) {
				rc = st < 0 ? -1 : 0;
				goto out;
			}
			continue;
		}
		struct rev_answer a;
		char src[16] = "";
		foreign_status(p, store, r->chain, x, issuer, &a, src, sizeof src);
		char xs[256], serial[64], t[32];
		subject_str(x, xs, sizeof xs);
		serial_hex(x, serial, sizeof serial);
		if (i == 0) {
			snprintf(r->revocation_source, sizeof r->revocation_source, "%s", src);
			snprintf(r->cert_status, sizeof r->cert_status, "%s",
				 a.state == REV_GOOD ? "good" : a.state == REV_REVOKED ?
				 (a.reason == 6 ? "hold" : "revoked") : "");
		}
		if (a.state == REV_UNAVAILABLE) {
			verdict(r, CERTS_VAL_INDETERMINATE, CERTS_VR_REVOCATION_UNAVAILABLE, i,
				"the revocation status of %s cannot be established: %s", xs, a.why);
			rc = 0;
			goto out;
		}
		if (a.state == REV_REVOKED && (p->at == 0 || a.revoked_at == 0 || a.revoked_at <= at || a.reason == 6)) {
			r->revocation_reason = a.reason;
			r->revoked_at = a.revoked_at;
			time_iso(a.revoked_at, t);
			if (a.reason == 6)
				verdict(r, CERTS_VAL_INVALID, CERTS_VR_SUSPENDED, i,
					"certificate %s (serial %s) is suspended (certificateHold) since %s (%s)",
					xs, serial, t, src);
			else
				verdict(r, CERTS_VAL_INVALID, CERTS_VR_REVOKED, i,
					"certificate %s (serial %s) was revoked at %s, reason %s (%s)", xs, serial,
					t, crl_reason_name(a.reason), src);
			rc = 0;
			goto out;
		}
	}

	/* Valid. The holder's affiliations and the LoA. */
	if (r->has_person && p->db != NULL) {
		bool card_aff_ok = true;
		char why[256] = "";
		if (load_affiliations(p->db, aff_rows, r, &card_aff_ok, why, sizeof why, e) != 0) {
			if (e->code == EFOS_E_UNAVAILABLE) {
				verdict(r, CERTS_VAL_INDETERMINATE, CERTS_VR_REVOCATION_UNAVAILABLE, 0,
					"the card's holder cannot be looked up: %s", e->msg);
				rc = 0;
			}
			goto out;
		}
		if (!card_aff_ok) {
			verdict(r, CERTS_VAL_INVALID, strstr(why, "suspended") ? CERTS_VR_SUSPENDED :
				CERTS_VR_CARD_NOT_ACTIVE, 0, "%s", why[0] ? why : "the card's affiliation is not active");
			rc = 0;
			goto out;
		}
	}
	size_t nv = 0;
	vpol = calloc(r->n_policy_oids + 1, sizeof *vpol);
	if (vpol == NULL)
		goto oom;
	for (size_t i = 0; i < r->n_policy_oids; i++)
		if (validated[i])
			vpol[nv++] = r->policy_oids[i];
	struct loa_facts f = {
		.efos_issued = r->efos_issued,
		.card_active = r->has_card && r->has_person && r->card.status != NULL &&
			       strcmp(r->card.status, "active") == 0,
		.card_auth_usage = r->card_auth_usage,
		.policy_oids = (const char *const *)vpol,
		.n_policy_oids = nv,
		.high_assurance_oid = p->card_auth_policy,
		.id_type = !r->has_person || r->person.pnr == NULL || r->person.pnr[0] == '\0' ? LOA_ID_NONE :
			   r->person.coordination_number ? LOA_ID_SAMORDNINGSNUMMER : LOA_ID_PERSONNUMMER,
	};
	policy_loa_for_credential(&f, &r->loa);
	r->outcome = CERTS_VAL_VALID;
	r->reason = CERTS_VR_OK;
	r->error_depth = -1;
	r->message[0] = '\0';
	rc = 0;
	goto out;
oom:
	efos_fail(e, EFOS_E_INTERNAL, "out of memory while validating a certificate");
out:
	ERR_clear_error();
	PQclear(aff_rows);
	free(vpol);
	free(validated);
	ASN1_OBJECT_free(ha);
	sk_X509_free(all);
	X509_STORE_CTX_free(sc);
	X509_STORE_free(store);
	return rc;
}

/* ------------------------------------------------------------------------------ the node */

/* validate.trust_anchors, read once (the file is configuration). */
static pthread_mutex_t ta_lock = PTHREAD_MUTEX_INITIALIZER;
static char *ta_path;
static STACK_OF(X509) *ta_certs;

static int extra_anchors(const char *path, STACK_OF(X509) *into, efos_err *e)
{
	int rc = 0;
	if (path == NULL || path[0] == '\0')
		return 0;
	pthread_mutex_lock(&ta_lock);
	if (ta_path == NULL || strcmp(ta_path, path) != 0) {
		STACK_OF(X509) *certs = sk_X509_new_null();
		BIO *b = BIO_new_file(path, "r");
		X509 *x;
		if (certs == NULL || b == NULL) {
			rc = efos_fail(e, EFOS_E_CONFIG, "validate.trust_anchors %s: cannot read it", path);
			sk_X509_free(certs);
			BIO_free(b);
			goto out;
		}
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(certs, x))
				X509_free(x);
		BIO_free(b);
		ERR_clear_error();
		char *pcopy = strdup(path);
		if (pcopy == NULL) {
			sk_X509_pop_free(certs, X509_free);
			rc = efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
		free(ta_path);
		sk_X509_pop_free(ta_certs, X509_free);
		ta_path = pcopy;
		ta_certs = certs;
		if (sk_X509_num(certs) == 0)
			log_warn("validate.trust_anchors %s holds no PEM certificate", path);
	}
	for (int i = 0; i < sk_X509_num(ta_certs); i++) {
		X509 *x = sk_X509_value(ta_certs, i);
		if (!X509_up_ref(x) || !sk_X509_push(into, x)) {
			rc = efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			break;
		}
	}
out:
	pthread_mutex_unlock(&ta_lock);
	return rc;
}

static bool self_signed(X509 *x)
{
	return X509_check_issued(x, x) == X509_V_OK;
}

int certs_validate(struct efos_ctx *ctx, X509 *leaf, STACK_OF(X509) *untrusted,
		   enum certs_val_purpose purpose, time_t at, struct certs_validation *r, efos_err *e)
{
	int rc = -1;
	PGconn *conn = NULL;
	STACK_OF(X509) *anchors = sk_X509_new_null(), *inter = sk_X509_new_null();
	struct certs_val_ca *cas = NULL;
	validation_init(r);
	if (anchors == NULL || inter == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (ctx == NULL || ctx->certs == NULL) {
		efos_fail(e, EFOS_E_UNAVAILABLE, "certificate validation is not available on this node: "
			  "the EFOS CAs are not loaded (node.roles needs ca)");
		goto out;
	}
	size_t n = certs_ca_count(ctx->certs), k = 0;
	cas = calloc(n + 1, sizeof *cas);
	if (cas == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct certs_ca *ca = certs_ca_at(ctx->certs, i);
		if (ca == NULL || ca->cert == NULL)
			continue;
		cas[k++] = (struct certs_val_ca){ ca->cert, ca->id, ca->name };
		if (!sk_X509_push(self_signed(ca->cert) ? anchors : inter, ca->cert)) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
		X509_up_ref(ca->cert);
	}
	if (extra_anchors(ctx->cfg->validate_trust_anchors, anchors, e) != 0)
		goto out;
	const struct cert_profile *prof = cert_profile_get(certs_profiles(ctx->certs), CARD_AUTH_PROFILE);
	struct certs_validate_params p = {
		.purpose = purpose,
		.at = at,
		.anchors = anchors,
		.intermediates = inter,
		.efos_cas = cas,
		.n_efos_cas = k,
		.card_auth_policy = prof != NULL && prof->n_policies > 0 ? prof->policies[0] : NULL,
		.fetch_timeout_s = ctx->cfg->validate_fetch_timeout_s,
	};
	efos_err dbe = { 0 };
	if (db_acquire(ctx->db, &conn, &dbe) != 0) {
		log_warn("certificate validation without the database: %s", dbe.msg);
		conn = NULL;
	}
	p.db = conn;
	/* cas[i].name is the service's own string: r->efos_ca_name outlives this call */
	rc = certs_validate_chain(&p, leaf, untrusted, r, e);
out:
	if (conn != NULL)
		db_release(ctx->db, conn, db_conn_broken(conn));
	free(cas);
	sk_X509_pop_free(anchors, X509_free);
	sk_X509_pop_free(inter, X509_free);
	return rc;
}

int certs_card_login(struct efos_ctx *ctx, STACK_OF(X509) *chain, struct certs_validation *r,
		     efos_err *e)
{
	validation_init(r);
	if (chain == NULL || sk_X509_num(chain) == 0)
		return efos_fail(e, EFOS_E_AUTH, "no client certificate (your EFOS card) was presented");
	STACK_OF(X509) *rest = sk_X509_new_null();
	if (rest == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	for (int i = 1; i < sk_X509_num(chain); i++)
		if (!sk_X509_push(rest, sk_X509_value(chain, i))) {
			sk_X509_free(rest);
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		}
	X509 *leaf = sk_X509_value(chain, 0);
	int rc = certs_validate(ctx, leaf, rest, CERTS_PURPOSE_CARD_AUTH, 0, r, e);
	sk_X509_free(rest);
	if (rc != 0)
		return rc;
	if (r->outcome == CERTS_VAL_VALID &&
	    (!r->efos_issued || !r->has_card || !r->has_person ||
	     !(policy_loa_contains(&r->loa, LOA_URI_LOA4) ||
	       policy_loa_contains(&r->loa, LOA_URI_LOA4_NONRESIDENT)))) {
		char subj[256], why[256];
		subject_str(leaf, subj, sizeof subj);
		if (!r->efos_issued)
			snprintf(why, sizeof why, "it was not issued by an EFOS CA");
		else if (!r->has_card)
			snprintf(why, sizeof why, "it does not belong to a card (profile %s)",
				 r->profile ? r->profile : "?");
		else if (!r->has_person)
			snprintf(why, sizeof why, "its card has no holder in the registry");
		else
			snprintf(why, sizeof why, "it qualifies for no level of assurance");
		verdict(r, CERTS_VAL_INVALID, CERTS_VR_NOT_A_CARD, 0,
			"certificate %s is not an EFOS card's authentication certificate: %s", subj, why);
	}
	char kv[160], subj[256];
	subject_str(leaf, subj, sizeof subj);
	snprintf(kv, sizeof kv, "\"event\":\"card_login_check\",\"outcome\":\"%s\",\"reason\":\"%s\"",
		 certs_val_outcome_name(r->outcome), certs_val_reason_code(r->reason));
	log_write(r->outcome == CERTS_VAL_VALID ? LOG_LVL_INFO : LOG_LVL_WARN, kv, "card login %s: %s%s%s",
		  certs_val_outcome_name(r->outcome), subj, r->message[0] ? ": " : "", r->message);
	return 0;
}
