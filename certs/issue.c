/* Certificate issuance: builds an X.509 v3 certificate from a profile (certs/profile.h), a
 * public key and subject values, signs it with the issuing CA's key in the HSM (SHA-256:
 * sha256WithRSAEncryption or ecdsa-with-SHA256), stores it in `certificates` and writes the
 * "cert.issue" audit event, both in the caller's transaction.
 *
 * Serial numbers: 16 bytes from the CSPRNG with the top bits set to 01, so every serial is a
 * positive 128-bit integer of exactly 16 bytes (126 random bits). A collision is detected by
 * the primary key (INSERT ... ON CONFLICT DO NOTHING, which does not abort the transaction) and
 * retried with a fresh serial.
 *
 * Extensions are built from their ASN.1 structures, never from OpenSSL's text configuration
 * language, so no value (a DNS name, a URL) can inject another extension. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include "certs/issue.h"
#include "certs/service.h"
#include "core/audit.h"
#include "core/db.h"
#include "core/utf8.h"

#define SERIAL_LEN 16
#define SERIAL_TRIES 8
#define CSR_MAX_BYTES (64 * 1024)
#define BACKDATE_S 300   /* notBefore a few minutes back: tolerate clients' clock skew */

static char audit_node[64] = "efos";
static int (*serial_rand)(unsigned char *buf, int n) = RAND_bytes;

void certs_set_audit_node(const char *node)
{
	if (node != NULL && *node != '\0')
		snprintf(audit_node, sizeof audit_node, "%s", node);
}

const char *certs_audit_node(void)
{
	return audit_node;
}

void certs_issue_set_serial_source(int (*fn)(unsigned char *buf, int n))
{
	serial_rand = fn != NULL ? fn : RAND_bytes;
}

int certs_serial_random(unsigned char serial[16], efos_err *e)
{
	if (serial_rand(serial, SERIAL_LEN) != 1)
		return efos_fail(e, EFOS_E_INTERNAL, "the random generator failed (serial number)");
	serial[0] = (unsigned char)((serial[0] & 0x3f) | 0x40);
	return 0;
}

/* Lowercase hex of bytes, as certificates and audit events name serials. */
void certs_hex(const unsigned char *b, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int certs_serial_bytes(const X509 *x, unsigned char *buf, size_t cap, size_t *len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	int n = bn != NULL ? BN_num_bytes(bn) : -1;
	if (bn == NULL || n <= 0 || (size_t)n > cap || BN_is_negative(bn)) {
		BN_free(bn);
		return -1;
	}
	BN_bn2bin(bn, buf);
	*len = (size_t)n;
	BN_free(bn);
	return 0;
}

/* ---- key policy ---------------------------------------------------------------------------- */

int certs_key_policy_check(const struct cert_profile *p, EVP_PKEY *key, efos_err *e)
{
	if (key == NULL)
		return efos_fail(e, EFOS_E_INVALID, "no public key");
	int id = EVP_PKEY_get_base_id(key);
	int bits = EVP_PKEY_get_bits(key);
	if (id == EVP_PKEY_RSA) {
		if (p->min_rsa_bits == 0)
			return efos_fail(e, EFOS_E_INVALID, "RSA keys are not allowed by profile %s", p->name);
		if (bits < p->min_rsa_bits)
			return efos_fail(e, EFOS_E_INVALID, "RSA key of %d bits is below the %d required by profile %s",
					 bits, p->min_rsa_bits, p->name);
		if (bits > 16384)
			return efos_fail(e, EFOS_E_INVALID, "RSA key of %d bits is larger than 16384", bits);
		BIGNUM *ex = NULL;
		if (!EVP_PKEY_get_bn_param(key, "e", &ex))
			return efos_fail(e, EFOS_E_INVALID, "cannot read the RSA public exponent");
		bool ok = BN_is_odd(ex) && BN_num_bits(ex) > 16;   /* e >= 65537, odd */
		BN_free(ex);
		if (!ok)
			return efos_fail(e, EFOS_E_INVALID, "RSA public exponent must be odd and at least 65537");
		return 0;
	}
	if (id == EVP_PKEY_EC) {
		char curve[64] = "";
		size_t cl = 0;
		if (!EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof curve, &cl))
			return efos_fail(e, EFOS_E_INVALID, "cannot read the EC key's curve");
		int cbits;
		if (!strcmp(curve, "prime256v1") || !strcmp(curve, "P-256"))
			cbits = 256;
		else if (!strcmp(curve, "secp384r1") || !strcmp(curve, "P-384"))
			cbits = 384;
		else if (!strcmp(curve, "secp521r1") || !strcmp(curve, "P-521"))
			cbits = 521;
		else
			return efos_fail(e, EFOS_E_INVALID, "EC curve %s is not allowed by profile %s (NIST P-256, "
					 "P-384, P-521 only)", curve, p->name);
		if (p->min_ec_bits == 0)
			return efos_fail(e, EFOS_E_INVALID, "EC keys are not allowed by profile %s", p->name);
		if (cbits < p->min_ec_bits)
			return efos_fail(e, EFOS_E_INVALID, "EC key on %s (%d bits) is below the P-%d required by profile %s",
					 curve, cbits, p->min_ec_bits, p->name);
		return 0;
	}
	return efos_fail(e, EFOS_E_INVALID, "key type %s is not allowed by profile %s (RSA or EC only)",
			 OBJ_nid2sn(id), p->name);
}

/* ---- CSR ------------------------------------------------------------------------------------ */

int certs_csr_parse_verify(const unsigned char *data, size_t len, X509_REQ **out, efos_err *e)
{
	*out = NULL;
	if (data == NULL || len == 0)
		return efos_fail(e, EFOS_E_INVALID, "empty CSR");
	if (len > CSR_MAX_BYTES)
		return efos_fail(e, EFOS_E_TOOBIG, "CSR larger than %d bytes", CSR_MAX_BYTES);
	X509_REQ *req = NULL;
	static const char pem_tag[] = "-----BEGIN";
	if (len >= sizeof pem_tag - 1 && memmem(data, len, pem_tag, sizeof pem_tag - 1) != NULL) {
		BIO *b = BIO_new_mem_buf(data, (int)len);
		req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
	} else {
		const unsigned char *p = data;
		req = d2i_X509_REQ(NULL, &p, (long)len);
		if (req != NULL && p != data + len) {
			X509_REQ_free(req);
			ERR_clear_error();
			return efos_fail(e, EFOS_E_INVALID, "CSR has trailing data after its DER encoding");
		}
	}
	ERR_clear_error();
	if (req == NULL)
		return efos_fail(e, EFOS_E_INVALID, "not a PKCS#10 certificate request (PEM or DER)");
	EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
	if (pk == NULL) {
		X509_REQ_free(req);
		ERR_clear_error();
		return efos_fail(e, EFOS_E_INVALID, "CSR public key cannot be decoded");
	}
	int sig_nid = X509_REQ_get_signature_nid(req);
	int md_nid = NID_undef, pk_nid = NID_undef;
	if (!OBJ_find_sigid_algs(sig_nid, &md_nid, &pk_nid) || md_nid == NID_sha1 || md_nid == NID_md5 ||
	    md_nid == NID_undef) {
		X509_REQ_free(req);
		return efos_fail(e, EFOS_E_INVALID, "CSR signature algorithm %s is not allowed (SHA-256 or "
				 "stronger)", OBJ_nid2sn(sig_nid));
	}
	if (X509_REQ_verify(req, pk) != 1) {
		X509_REQ_free(req);
		ERR_clear_error();
		return efos_fail(e, EFOS_E_INVALID, "CSR signature does not verify with its public key: no "
				 "proof of possession of the private key");
	}
	*out = req;
	return 0;
}

/* ---- building ------------------------------------------------------------------------------- */

static const char *subject_value(const struct cert_subject_values *v, enum cert_subject_attr a)
{
	switch (a) {
	case SUBJ_C: return v->c != NULL ? v->c : "SE";
	case SUBJ_O: return v->o;
	case SUBJ_OU: return v->ou;
	case SUBJ_CN: return v->cn;
	case SUBJ_GIVEN_NAME: return v->given_name;
	case SUBJ_SURNAME: return v->surname;
	case SUBJ_SERIAL_NUMBER: return v->serial_number;
	case SUBJ_ORG_IDENTIFIER: return v->org_identifier;
	case SUBJ_TITLE: return v->title;
	case SUBJ_EMAIL: return v->email;
	}
	return NULL;
}

static const struct { int nid; const char *name; size_t max; } subject_info[] = {
	[SUBJ_C] = { NID_countryName, "C", 2 },
	[SUBJ_O] = { NID_organizationName, "O", 64 },
	[SUBJ_OU] = { NID_organizationalUnitName, "OU", 64 },
	[SUBJ_CN] = { NID_commonName, "CN", 64 },
	[SUBJ_GIVEN_NAME] = { NID_givenName, "givenName", 64 },
	[SUBJ_SURNAME] = { NID_surname, "surname", 64 },
	[SUBJ_SERIAL_NUMBER] = { NID_serialNumber, "serialNumber", 64 },
	[SUBJ_ORG_IDENTIFIER] = { NID_organizationIdentifier, "organizationIdentifier", 64 },
	[SUBJ_TITLE] = { NID_title, "title", 64 },
	[SUBJ_EMAIL] = { NID_pkcs9_emailAddress, "emailAddress", 128 },
};

static int build_subject(const struct cert_issue_request *req, X509_NAME **out, efos_err *e)
{
	const struct cert_profile *p = req->profile;
	X509_NAME *nm = X509_NAME_new();
	if (nm == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < p->n_subject; i++) {
		enum cert_subject_attr a = p->subject[i];
		if ((size_t)a >= sizeof subject_info / sizeof subject_info[0]) {
			X509_NAME_free(nm);
			return efos_fail(e, EFOS_E_INTERNAL, "profile %s: bad subject attribute", p->name);
		}
		const char *v = subject_value(&req->subject, a);
		const char *an = subject_info[a].name;
		if (v == NULL || *v == '\0') {
			if (p->subject_optional[i])
				continue;
			X509_NAME_free(nm);
			return efos_fail(e, EFOS_E_INVALID, "profile %s needs a value for the subject attribute %s",
					 p->name, an);
		}
		long chars = utf8_chars(v);
		if (chars < 0) {
			X509_NAME_free(nm);
			return efos_fail(e, EFOS_E_INVALID, "subject %s is not valid UTF-8 text", an);
		}
		if ((size_t)chars > subject_info[a].max) {
			X509_NAME_free(nm);
			return efos_fail(e, EFOS_E_INVALID, "subject %s is longer than %zu characters", an,
					 subject_info[a].max);
		}
		if (a == SUBJ_C && (strlen(v) != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z')) {
			X509_NAME_free(nm);
			return efos_fail(e, EFOS_E_INVALID, "subject C must be two capital letters (ISO 3166), not \"%s\"", v);
		}
		if (!X509_NAME_add_entry_by_NID(nm, subject_info[a].nid, MBSTRING_UTF8, (const unsigned char *)v, -1, -1, 0)) {
			X509_NAME_free(nm);
			ERR_clear_error();
			return efos_fail(e, EFOS_E_INVALID, "subject %s \"%s\" cannot be encoded (PrintableString "
					 "attributes allow only letters, digits, space and '()+,-./:=?)", an, v);
		}
	}
	if (X509_NAME_entry_count(nm) == 0) {
		X509_NAME_free(nm);
		return efos_fail(e, EFOS_E_INVALID, "profile %s: the subject would be empty", p->name);
	}
	*out = nm;
	return 0;
}

/* "${issuer}" in a profile URL becomes the issuing CA's name. */
static void expand_url(const char *tmpl, const char *issuer, char *out, size_t cap)
{
	size_t o = 0;
	for (const char *s = tmpl; *s && o + 1 < cap;) {
		if (!strncmp(s, "${issuer}", 9)) {
			int n = snprintf(out + o, cap - o, "%s", issuer);
			o += n > 0 ? (size_t)n : 0;
			if (o >= cap)
				o = cap - 1;
			s += 9;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
}

static GENERAL_NAME *uri_name(const char *uri)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	if (gn == NULL || s == NULL || !ASN1_STRING_set(s, uri, -1)) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_URI, s);
	return gn;
}

static int add_aia(X509 *x, const char *ocsp, const char *ca_issuers)
{
	AUTHORITY_INFO_ACCESS *aia = sk_ACCESS_DESCRIPTION_new_null();
	int ok = aia != NULL;
	const char *urls[2] = { ocsp, ca_issuers };
	const int nids[2] = { NID_ad_OCSP, NID_ad_ca_issuers };
	for (int i = 0; ok && i < 2; i++) {
		if (urls[i] == NULL)
			continue;
		ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();
		GENERAL_NAME *gn = uri_name(urls[i]);
		if (ad == NULL || gn == NULL) {
			ACCESS_DESCRIPTION_free(ad);
			GENERAL_NAME_free(gn);
			ok = 0;
			break;
		}
		ASN1_OBJECT_free(ad->method);
		ad->method = OBJ_nid2obj(nids[i]);
		GENERAL_NAME_free(ad->location);
		ad->location = gn;
		if (!sk_ACCESS_DESCRIPTION_push(aia, ad)) {
			ACCESS_DESCRIPTION_free(ad);
			ok = 0;
		}
	}
	ok = ok && X509_add1_ext_i2d(x, NID_info_access, aia, 0, X509V3_ADD_DEFAULT) == 1;
	AUTHORITY_INFO_ACCESS_free(aia);
	return ok;
}

static int add_cdp(X509 *x, const char *url)
{
	CRL_DIST_POINTS *cdp = sk_DIST_POINT_new_null();
	DIST_POINT *dp = DIST_POINT_new();
	DIST_POINT_NAME *dpn = DIST_POINT_NAME_new();
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = uri_name(url);
	int ok = cdp != NULL && dp != NULL && dpn != NULL && names != NULL && gn != NULL &&
		 sk_GENERAL_NAME_push(names, gn);
	if (ok) {
		gn = NULL;
		dpn->type = 0;
		dpn->name.fullname = names;
		names = NULL;
		dp->distpoint = dpn;
		dpn = NULL;
		ok = sk_DIST_POINT_push(cdp, dp);
		if (ok)
			dp = NULL;
	}
	ok = ok && X509_add1_ext_i2d(x, NID_crl_distribution_points, cdp, 0, X509V3_ADD_DEFAULT) == 1;
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	DIST_POINT_NAME_free(dpn);
	DIST_POINT_free(dp);
	CRL_DIST_POINTS_free(cdp);
	return ok;
}

static int add_policies(X509 *x, const struct cert_profile *p)
{
	CERTIFICATEPOLICIES *cps = sk_POLICYINFO_new_null();
	int ok = cps != NULL;
	for (size_t i = 0; ok && i < p->n_policies; i++) {
		POLICYINFO *pi = POLICYINFO_new();
		ASN1_OBJECT *oid = OBJ_txt2obj(p->policies[i], 1);
		if (pi == NULL || oid == NULL) {
			POLICYINFO_free(pi);
			ASN1_OBJECT_free(oid);
			ok = 0;
			break;
		}
		ASN1_OBJECT_free(pi->policyid);
		pi->policyid = oid;
		if (!sk_POLICYINFO_push(cps, pi)) {
			POLICYINFO_free(pi);
			ok = 0;
		}
	}
	ok = ok && X509_add1_ext_i2d(x, NID_certificate_policies, cps, 0, X509V3_ADD_DEFAULT) == 1;
	CERTIFICATEPOLICIES_free(cps);
	return ok;
}

static int add_eku(X509 *x, const struct cert_profile *p)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	int ok = eku != NULL;
	for (size_t i = 0; ok && i < p->n_ext_key_usage; i++) {
		/* Short names (clientAuth, OCSPSigning...) and dotted OIDs. */
		ASN1_OBJECT *o = OBJ_txt2obj(p->ext_key_usage[i], 0);
		if (o == NULL || !sk_ASN1_OBJECT_push(eku, o)) {
			ASN1_OBJECT_free(o);
			ok = 0;
		}
	}
	ok = ok && X509_add1_ext_i2d(x, NID_ext_key_usage, eku, p->ext_key_usage_critical,
				       X509V3_ADD_DEFAULT) == 1;
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return ok;
}

static int add_san(X509 *x, const char *const *names, size_t n, efos_err *e)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	if (gens == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *nm = names[i];
		unsigned char ip[16];
		int iplen = 0;
		if (inet_pton(AF_INET, nm, ip) == 1)
			iplen = 4;
		else if (inet_pton(AF_INET6, nm, ip) == 1)
			iplen = 16;
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_STRING *s = iplen ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
		if (!iplen) {
			/* A host name: letters, digits, hyphens, dots; a leading "*." wildcard label. */
			size_t l = strlen(nm);
			const char *h = !strncmp(nm, "*.", 2) ? nm + 2 : nm;
			if (l == 0 || l > 253 || strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != strlen(h)
			    || h[0] == '.' || h[0] == '-' || strstr(h, "..") != NULL) {
				GENERAL_NAME_free(gn);
				ASN1_STRING_free(s);
				sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
				return efos_fail(e, EFOS_E_INVALID, "\"%s\" is neither a DNS host name nor an IP address", nm);
			}
		}
		if (gn == NULL || s == NULL ||
		    !ASN1_STRING_set(s, iplen ? (const void *)ip : (const void *)nm, iplen ? iplen : -1)) {
			GENERAL_NAME_free(gn);
			ASN1_STRING_free(s);
			sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		}
		GENERAL_NAME_set0_value(gn, iplen ? GEN_IPADD : GEN_DNS, s);
		if (!sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		}
	}
	int ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
	sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
	return ok ? 0 : efos_fail(e, EFOS_E_INTERNAL, "cannot add subjectAltName");
}

/* id-pkix-ocsp-nocheck: extnValue is an encoded NULL (RFC 6960 §4.2.2.2.1). */
static int add_ocsp_nocheck(X509 *x)
{
	static const unsigned char asn1_null[] = { 0x05, 0x00 };
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int ok = os != NULL && ASN1_OCTET_STRING_set(os, asn1_null, sizeof asn1_null) &&
		 (ext = X509_EXTENSION_create_by_NID(NULL, NID_id_pkix_OCSP_noCheck, 0, os)) != NULL &&
		 X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	return ok;
}

static int add_ext_conf(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	int ok = ext != NULL && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

int certs_build(const struct certs_ca *ca, const struct cert_issue_request *req,
		const unsigned char *serial, size_t serial_len, X509 **out, efos_err *e)
{
	const struct cert_profile *p = req->profile;
	X509 *x = NULL;
	X509_NAME *subj = NULL;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn = NULL;
	char url[1024];
	bool self = ca->cert == NULL;
	int rc = -1;

	*out = NULL;
	if (ca->signer == NULL)
		return efos_fail(e, EFOS_E_UNAVAILABLE, "the key of CA %s is not in this node's HSM", ca->name);
	if (req->public_key == NULL)
		return efos_fail(e, EFOS_E_INVALID, "no public key to certify");
	if (self && EVP_PKEY_eq(req->public_key, ca->signer) != 1)
		return efos_fail(e, EFOS_E_INTERNAL, "a self-signed certificate must certify the signing key");
	if (req->subject_name != NULL) {
		if (X509_NAME_entry_count(req->subject_name) == 0 ||
		    (subj = X509_NAME_dup(req->subject_name)) == NULL)
			return efos_fail(e, EFOS_E_INVALID, "the subject name is empty");
	} else if (build_subject(req, &subj, e) < 0) {
		return -1;
	}
	if ((x = X509_new()) == NULL || (bn = BN_bin2bn(serial, (int)serial_len, NULL)) == NULL ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	time_t now = time(NULL);
	int ok = X509_set_version(x, X509_VERSION_3) && X509_set_serialNumber(x, sn) &&
		 X509_set_subject_name(x, subj) &&
		 X509_set_issuer_name(x, self ? subj : X509_get_subject_name(ca->cert)) &&
		 X509_time_adj_ex(X509_getm_notBefore(x), 0, -BACKDATE_S, &now) != NULL &&
		 X509_time_adj_ex(X509_getm_notAfter(x), 0, p->validity_s, &now) != NULL &&
		 X509_set_pubkey(x, req->public_key);
	if (!ok) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot set the certificate fields");
		goto out;
	}
	/* Never outlive the issuer (RFC 5280 does not forbid it, but path validation then fails
	 * before the certificate expires, which surprises everybody). */
	if (!self && ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca->cert)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(ca->cert))) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot set notAfter");
		goto out;
	}

	char bc[64];
	if (p->is_ca && p->path_len >= 0)
		snprintf(bc, sizeof bc, "critical,CA:TRUE,pathlen:%d", p->path_len);
	else
		snprintf(bc, sizeof bc, p->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	ok = add_ext_conf(x, self ? x : ca->cert, NID_basic_constraints, bc) &&
	     add_ext_conf(x, self ? x : ca->cert, NID_subject_key_identifier, "hash") &&
	     add_ext_conf(x, self ? x : ca->cert, NID_authority_key_identifier, "keyid:always");
	if (!ok) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot add basicConstraints / key identifiers (does the issuer "
			  "certificate have a subjectKeyIdentifier?)");
		goto out;
	}
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	ok = ku != NULL;
	for (int bit = 0; ok && bit < 9; bit++) {
		/* X509v3_KU_* are the bits of the first two octets, MSB first: KU bit n is
		 * 0x80 >> n in octet 0 for n < 8, and decipherOnly (bit 8) is 0x8000. */
		unsigned mask = bit < 8 ? (0x80u >> bit) : 0x8000u;
		if (p->key_usage & mask)
			ok = ASN1_BIT_STRING_set_bit(ku, bit, 1);
	}
	ok = ok && X509_add1_ext_i2d(x, NID_key_usage, ku, p->key_usage_critical, X509V3_ADD_DEFAULT) == 1;
	ASN1_BIT_STRING_free(ku);
	if (!ok || (p->n_ext_key_usage > 0 && !add_eku(x, p)) || (p->n_policies > 0 && !add_policies(x, p))) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot add keyUsage / extendedKeyUsage / certificatePolicies");
		goto out;
	}
	if (p->ocsp_url != NULL || p->ca_issuers_url != NULL) {
		char ocsp[1024];
		if (p->ocsp_url != NULL)
			expand_url(p->ocsp_url, ca->name, ocsp, sizeof ocsp);
		if (p->ca_issuers_url != NULL)
			expand_url(p->ca_issuers_url, ca->name, url, sizeof url);
		if (!add_aia(x, p->ocsp_url ? ocsp : NULL, p->ca_issuers_url ? url : NULL)) {
			efos_fail(e, EFOS_E_INTERNAL, "cannot add authorityInfoAccess");
			goto out;
		}
	}
	if (p->crl_url != NULL) {
		expand_url(p->crl_url, ca->name, url, sizeof url);
		if (!add_cdp(x, url)) {
			efos_fail(e, EFOS_E_INTERNAL, "cannot add cRLDistributionPoints");
			goto out;
		}
	}
	if (p->ocsp_nocheck && !add_ocsp_nocheck(x)) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot add id-pkix-ocsp-nocheck");
		goto out;
	}
	if (req->n_dns_names > 0 && add_san(x, req->dns_names, req->n_dns_names, e) < 0)
		goto out;
	for (size_t i = 0; i < req->n_extra_exts; i++) {
		const ASN1_OBJECT *obj = X509_EXTENSION_get_object(req->extra_exts[i]);
		if (X509_get_ext_by_OBJ(x, obj, -1) >= 0) {
			char oid[80];
			OBJ_obj2txt(oid, sizeof oid, obj, 1);
			efos_fail(e, EFOS_E_INVALID, "extension %s is already in the certificate", oid);
			goto out;
		}
		if (!X509_add_ext(x, req->extra_exts[i], -1)) {
			efos_fail(e, EFOS_E_INTERNAL, "cannot add an extension");
			goto out;
		}
	}
	if (X509_sign(x, ca->signer, EVP_sha256()) <= 0) {
		unsigned long err = ERR_peek_last_error();
		char buf[256];
		ERR_error_string_n(err, buf, sizeof buf);
		efos_fail(e, EFOS_E_UNAVAILABLE, "signing with the key of CA %s failed (HSM): %s", ca->name, buf);
		goto out;
	}
	*out = x;
	x = NULL;
	rc = 0;
out:
	ERR_clear_error();
	X509_free(x);
	X509_NAME_free(subj);
	BN_free(bn);
	ASN1_INTEGER_free(sn);
	return rc;
}

/* ---- storing ---------------------------------------------------------------------------------- */

static void asn1_time_sql(const ASN1_TIME *t, char *out, size_t cap)
{
	struct tm tm = { 0 };
	ASN1_TIME_to_tm(t, &tm);
	snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d+00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *certs_name_string(const X509_NAME *nm)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;
	if (b == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		char *data;
		long n = BIO_get_mem_data(b, &data);
		s = strndup(data, (size_t)n);
	}
	BIO_free(b);
	return s;
}

/* "\x0a1b..." for a bytea parameter. */
static char *bytea_hex(const unsigned char *b, size_t n)
{
	char *s = malloc(2 * n + 3);
	if (s == NULL)
		return NULL;
	s[0] = '\\';
	s[1] = 'x';
	certs_hex(b, n, s + 2);
	return s;
}

int certs_store(PGconn *c, long ca_id, const char *ca_name, X509 *x, const struct cert_issue_request *req,
		efos_err *e)
{
	unsigned char serial[20], sha[32];
	size_t slen = 0;
	unsigned char *der = NULL;
	char *subject = NULL, *serial_b = NULL, *sha_b = NULL, *der_b = NULL, *details = NULL;
	char nb[40], na[40], ca_s[24], card_s[24], person_s[24], serial_hex[41];
	PGresult *r = NULL;
	json_t *j = NULL;
	int rc = -1;
	const char *status = req->initial_status != NULL ? req->initial_status : "good";

	if (strcmp(status, "good") != 0 && strcmp(status, "hold") != 0)
		return efos_fail(e, EFOS_E_INTERNAL, "initial status must be good or hold, not %s", status);
	int dlen = i2d_X509(x, &der);
	if (dlen <= 0 || certs_serial_bytes(x, serial, sizeof serial, &slen) < 0) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot encode the certificate");
		goto out;
	}
	if (!EVP_Digest(der, (size_t)dlen, sha, NULL, EVP_sha256(), NULL)) {
		efos_fail(e, EFOS_E_INTERNAL, "SHA-256 failed");
		goto out;
	}
	subject = certs_name_string(X509_get_subject_name(x));
	serial_b = bytea_hex(serial, slen);
	sha_b = bytea_hex(sha, sizeof sha);
	der_b = bytea_hex(der, (size_t)dlen);
	if (subject == NULL || serial_b == NULL || sha_b == NULL || der_b == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	asn1_time_sql(X509_get0_notBefore(x), nb, sizeof nb);
	asn1_time_sql(X509_get0_notAfter(x), na, sizeof na);
	snprintf(ca_s, sizeof ca_s, "%ld", ca_id);
	snprintf(card_s, sizeof card_s, "%ld", req->card_id);
	snprintf(person_s, sizeof person_s, "%ld", req->person_id);
	const char *params[] = { serial_b, ca_s, req->card_id ? card_s : NULL, req->person_id ? person_s : NULL,
				 req->profile->name, subject, sha_b, nb, na, der_b, status };
	r = db_exec(c, "INSERT INTO certificates (serial, ca_id, card_id, person_id, profile, subject, "
		    "cert_sha256, not_before, not_after, der, status, revoked_at, revocation_reason) "
		    "VALUES ($1::bytea, $2::bigint, $3::bigint, $4::bigint, $5, $6, $7::bytea, $8::timestamptz, "
		    "$9::timestamptz, $10::bytea, $11, CASE WHEN $11 = 'hold' THEN now() END, "
		    "CASE WHEN $11 = 'hold' THEN 6 END) ON CONFLICT (serial) DO NOTHING RETURNING 1",
		    11, params, e);
	if (r == NULL)
		goto out;
	if (PQntuples(r) == 0) {
		rc = 1;   /* serial collision: nothing stored */
		goto out;
	}
	certs_hex(serial, slen, serial_hex);
	char sha_hex[65];
	certs_hex(sha, sizeof sha, sha_hex);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "profile", req->profile->name, "ca",
		      ca_name ? ca_name : "", "subject", subject, "status", status, "sha256", sha_hex,
		      "not_before", nb, "not_after", na);
	if (j != NULL && req->card_id)
		json_object_set_new(j, "card_id", json_integer(req->card_id));
	if (j != NULL && req->person_id)
		json_object_set_new(j, "person_id", json_integer(req->person_id));
	details = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (details == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	struct audit_event ev = { .node = audit_node, .actor = req->actor ? req->actor : "efos",
				  .action = "cert.issue", .object = serial_hex, .outcome = "success",
				  .details = details };
	if (audit_append(c, &ev, e) < 0)
		goto out;
	rc = 0;
out:
	PQclear(r);
	json_decref(j);
	free(details);
	OPENSSL_free(der);
	free(subject);
	free(serial_b);
	free(sha_b);
	free(der_b);
	return rc;
}

int certs_issue(PGconn *c, const struct certs_ca *ca, const struct cert_issue_request *req,
		X509 **out, efos_err *e)
{
	const struct cert_profile *p = req->profile;
	*out = NULL;
	if (p == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "no profile");
	if (strcmp(p->issuer, "any") != 0 && strcmp(p->issuer, ca->name) != 0)
		return efos_fail(e, EFOS_E_INVALID, "profile %s is issued by CA %s, not by %s", p->name,
				 p->issuer, ca->name);
	if (ca->cert == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "CA %s has no certificate", ca->name);
	if (certs_key_policy_check(p, req->public_key, e) < 0)
		return -1;
	for (int attempt = 0; attempt < SERIAL_TRIES; attempt++) {
		unsigned char serial[SERIAL_LEN];
		X509 *x = NULL;
		if (certs_serial_random(serial, e) < 0 || certs_build(ca, req, serial, sizeof serial, &x, e) < 0)
			return -1;
		int st = certs_store(c, ca->id, ca->name, x, req, e);
		if (st == 0) {
			*out = x;
			return 0;
		}
		X509_free(x);
		if (st < 0)
			return -1;
	}
	return efos_fail(e, EFOS_E_INTERNAL, "could not find an unused serial number in %d attempts "
			 "(is the random generator broken?)", SERIAL_TRIES);
}
