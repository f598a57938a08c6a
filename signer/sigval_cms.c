/* CMS / CAdES signature validation (sigval.h).
 *
 * Each SignerInfo is taken apart rather than handed to CMS_verify(): CMS_verify answers yes or
 * no for the whole SignedData and mixes the path check into it, while a validator must say
 * which check failed, per signature, and must validate the path with certs/ (EFOS revocation
 * from the database). The checks, in order: the signer certificate is among the carried ones;
 * digest algorithm SHA-256/384/512; signed attributes present, content-type equal to the
 * eContentType, message-digest equal to the digest of the content (eContent or the detached
 * document); key strength; the signature over the signed attributes (CMS_SignerInfo_verify);
 * ESS signingCertificate(V2) names exactly the signer certificate (certificate substitution);
 * a signature timestamp (B-T) is checked the same way (its content is the TSTInfo) plus its
 * imprint = hash of the signature value and a timeStamping TSA certificate; then the signer
 * path at the timestamp's time, or now. */
#include <string.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/objects.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>
#include "signer/sigval.h"

static bool md_allowed(int nid)
{
	return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512;
}

static void time_iso(const ASN1_TIME *t, char *out, size_t cap)
{
	struct tm tm;
	out[0] = '\0';
	if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static time_t time_of(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static bool key_strong(X509 *cert, char *why, size_t cap)
{
	EVP_PKEY *k = X509_get0_pubkey(cert);
	if (k == NULL)
		return snprintf(why, cap, "the certificate's public key cannot be read"), false;
	int bits = EVP_PKEY_get_bits(k);
	if (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS")) {
		if (bits < 2048)
			return snprintf(why, cap, "RSA key of %d bits (at least 2048)", bits), false;
	} else if (EVP_PKEY_is_a(k, "EC")) {
		if (bits < 256)
			return snprintf(why, cap, "EC key of %d bits (at least 256)", bits), false;
	} else if (!EVP_PKEY_is_a(k, "ED25519") && !EVP_PKEY_is_a(k, "ED448")) {
		return snprintf(why, cap, "key type %s is not accepted", EVP_PKEY_get0_type_name(k)), false;
	}
	return true;
}

/* The ESS signing-certificate attributes, v1 and v2, against signer (first) + the others. */
static int check_ess(CMS_SignerInfo *si, X509 *signer, STACK_OF(X509) *certs, bool *present,
		     struct sigval_signature *s)
{
	ESS_SIGNING_CERT *v1 = NULL;
	ESS_SIGNING_CERT_V2 *v2 = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	int rc = -1;
	ASN1_STRING *a2 = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), -3,
						      V_ASN1_SEQUENCE);
	ASN1_STRING *a1 = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_id_smime_aa_signingCertificate), -3,
						      V_ASN1_SEQUENCE);
	*present = a1 != NULL || a2 != NULL;
	if (chain == NULL || !sk_X509_push(chain, signer))
		goto out;
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (sk_X509_value(certs, i) != signer && !sk_X509_push(chain, sk_X509_value(certs, i)))
			goto out;
	if (a2 != NULL) {
		const unsigned char *p = a2->data;
		if ((v2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, a2->length)) == NULL) {
			sigval_set(s, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the signingCertificateV2 attribute does not parse");
			rc = 0;
			goto out;
		}
	}
	if (a1 != NULL) {
		const unsigned char *p = a1->data;
		if ((v1 = d2i_ESS_SIGNING_CERT(NULL, &p, a1->length)) == NULL) {
			sigval_set(s, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the signingCertificate attribute does not parse");
			rc = 0;
			goto out;
		}
	}
	if (*present && OSSL_ESS_check_signing_certs(v1, v2, chain, 0) <= 0)
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_SIGNING_CERT, "the signed signingCertificate%s attribute does not "
			   "name the certificate that the signature carries for its signer (a substituted certificate)",
			   a2 ? "V2" : "");
	rc = 0;
out:
	ERR_clear_error();
	ESS_SIGNING_CERT_free(v1);
	ESS_SIGNING_CERT_V2_free(v2);
	sk_X509_free(chain);
	return rc;
}

/* The cryptographic checks of one SignerInfo over content. Leaves s VALID, or sets the verdict.
 * *signer: the signer certificate (borrowed from certs) when found. -1 only on out of memory. */
static int check_signer_info(CMS_ContentInfo *cms, CMS_SignerInfo *si, STACK_OF(X509) *certs,
			     const unsigned char *content, size_t clen, struct sigval_signature *s, X509 **signer,
			     bool *ess, efos_err *e)
{
	char why[160];
	*signer = NULL;
	*ess = false;
	for (int i = 0; i < sk_X509_num(certs) && *signer == NULL; i++)
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0)
			*signer = sk_X509_value(certs, i);
	if (*signer == NULL) {
		sigval_set(s, SIGVAL_INDETERMINATE, SIGVAL_R_NO_SIGNER_CERT,
			   "the signature does not carry its signer's certificate");
		return 0;
	}
	sigval_describe_cert(s, *signer);

	X509_ALGOR *dig = NULL, *sig = NULL;
	const ASN1_OBJECT *obj = NULL;
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
	X509_ALGOR_get0(&obj, NULL, NULL, dig);
	int md_nid = OBJ_obj2nid(obj);
	if (!md_allowed(md_nid)) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_ALGORITHM, "digest algorithm %s is not accepted (SHA-256, "
			   "SHA-384, SHA-512)", md_nid != NID_undef ? OBJ_nid2sn(md_nid) : "unknown");
		return 0;
	}
	X509_ALGOR_get0(&obj, NULL, NULL, sig);
	int sig_dig = NID_undef, sig_pk = NID_undef;
	if (OBJ_find_sigid_algs(OBJ_obj2nid(obj), &sig_dig, &sig_pk) && sig_dig != NID_undef && !md_allowed(sig_dig)) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_ALGORITHM, "signature algorithm %s is not accepted",
			   OBJ_nid2sn(OBJ_obj2nid(obj)));
		return 0;
	}
	if (!key_strong(*signer, why, sizeof why)) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_ALGORITHM, "%s", why);
		return 0;
	}
	if (CMS_signed_get_attr_count(si) <= 0) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the SignerInfo has no signed attributes (CAdES "
			   "requires content-type, message-digest and signingCertificateV2)");
		return 0;
	}
	ASN1_OBJECT *ct = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_contentType), -3, V_ASN1_OBJECT);
	if (ct == NULL || OBJ_cmp(ct, CMS_get0_eContentType(cms)) != 0) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the content-type attribute is %s",
			   ct ? "not the type of the signed content" : "missing");
		return 0;
	}
	ASN1_OCTET_STRING *md = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3,
							    V_ASN1_OCTET_STRING);
	if (md == NULL) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the message-digest attribute is missing");
		return 0;
	}
	/* The signature over the signed attributes: CMS_SignerInfo_verify uses the certificate
	 * set here, never one it looks up itself. */
	CMS_SignerInfo_set1_signer_cert(si, *signer);
	if (CMS_SignerInfo_verify(si) != 1) {
		ERR_clear_error();
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_SIG_MISMATCH, "the signature value does not verify with the "
			   "public key of the signer certificate");
		return 0;
	}
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	if (EVP_Digest(content, clen, d, &dlen, EVP_get_digestbynid(md_nid), NULL) != 1)
		return efos_fail(e, EFOS_E_INTERNAL, "digest of the signed content failed");
	if ((size_t)md->length != dlen || CRYPTO_memcmp(md->data, d, dlen) != 0) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_DIGEST_MISMATCH, "the %s digest of the signed content (%zu bytes) "
			   "is not the one that was signed: the content was changed after signing, or it is another "
			   "document", OBJ_nid2sn(md_nid), clen);
		return 0;
	}
	if (check_ess(si, *signer, certs, ess, s) != 0)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	ASN1_TIME *st = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_signingTime), -3, V_ASN1_UTCTIME);
	if (st == NULL)
		st = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_signingTime), -3, V_ASN1_GENERALIZEDTIME);
	ERR_clear_error();
	time_iso(st, s->signing_time, sizeof s->signing_time);
	return 0;
}

/* The eContent bytes of cms (NULL when detached). */
static const ASN1_OCTET_STRING *econtent(CMS_ContentInfo *cms)
{
	ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
	return pos != NULL ? *pos : NULL;
}

static CMS_ContentInfo *parse_signed_data(const unsigned char *der, size_t len, efos_err *e)
{
	if (len == 0) {
		efos_fail(e, EFOS_E_INVALID, "the signature is empty");
		return NULL;
	}
	if (len > SIGVAL_MAX_SIGNATURE_BYTES) {
		efos_fail(e, EFOS_E_TOOBIG, "the signature is %zu bytes (at most %u)", len, SIGVAL_MAX_SIGNATURE_BYTES);
		return NULL;
	}
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	ERR_clear_error();
	if (cms == NULL || p != der + len) {
		CMS_ContentInfo_free(cms);
		efos_fail(e, EFOS_E_INVALID, "the signature is not a DER CMS ContentInfo%s",
			  cms ? " (bytes follow it)" : "");
		return NULL;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		CMS_ContentInfo_free(cms);
		efos_fail(e, EFOS_E_INVALID, "the CMS is not SignedData (it is %s)", OBJ_nid2sn(OBJ_obj2nid(CMS_get0_type(cms))));
		return NULL;
	}
	return cms;
}

/* The signature timestamp of si (id-aa-signatureTimeStampToken), into s->ts. *at: its time
 * when it is valid. */
static int check_timestamp(const struct sigval_ctx *vc, CMS_SignerInfo *si, struct sigval_signature *s,
			   time_t *at, efos_err *e)
{
	struct sigval_timestamp *ts = &s->ts;
	ASN1_STRING *tok = CMS_unsigned_get0_data_by_OBJ(si, OBJ_nid2obj(NID_id_smime_aa_timeStampToken), -3,
							 V_ASN1_SEQUENCE);
	CMS_ContentInfo *tcms = NULL;
	TS_TST_INFO *tst = NULL;
	STACK_OF(X509) *certs = NULL;
	struct sigval_signature t = { 0 };
	int rc = -1;
	*at = 0;
	if (tok == NULL)
		return 0;
	ts->present = true;
	efos_err pe = { 0 };
	if ((tcms = parse_signed_data(tok->data, (size_t)tok->length, &pe)) == NULL) {
		sigval_set(&t, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the timestamp token: %s", pe.msg);
		goto verdict;
	}
	const ASN1_OCTET_STRING *ec = econtent(tcms);
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(tcms);
	if (OBJ_obj2nid(CMS_get0_eContentType(tcms)) != NID_id_smime_ct_TSTInfo || ec == NULL ||
	    sk_CMS_SignerInfo_num(sis) != 1) {
		sigval_set(&t, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the timestamp token is not a TSTInfo signed once");
		goto verdict;
	}
	const unsigned char *p = ec->data;
	if ((tst = d2i_TS_TST_INFO(NULL, &p, ec->length)) == NULL) {
		sigval_set(&t, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the TSTInfo does not parse");
		goto verdict;
	}
	time_iso(TS_TST_INFO_get_time(tst), ts->time, sizeof ts->time);
	/* the imprint: the hash of this SignerInfo's signature value */
	TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
	const ASN1_OBJECT *hobj = NULL;
	X509_ALGOR_get0(&hobj, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
	ASN1_OCTET_STRING *imp = TS_MSG_IMPRINT_get_msg(mi);
	ASN1_OCTET_STRING *sv = CMS_SignerInfo_get0_signature(si);
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	if (!md_allowed(OBJ_obj2nid(hobj))) {
		sigval_set(&t, SIGVAL_INVALID, SIGVAL_R_ALGORITHM, "the timestamp imprint uses %s",
			   OBJ_nid2sn(OBJ_obj2nid(hobj)));
		goto verdict;
	}
	if (EVP_Digest(sv->data, (size_t)sv->length, d, &dlen, EVP_get_digestbynid(OBJ_obj2nid(hobj)), NULL) != 1) {
		efos_fail(e, EFOS_E_INTERNAL, "digest failed");
		goto out;
	}
	if ((size_t)imp->length != dlen || CRYPTO_memcmp(imp->data, d, dlen) != 0) {
		sigval_set(&t, SIGVAL_INVALID, SIGVAL_R_DIGEST_MISMATCH, "the timestamp is not over this signature "
			   "value (its message imprint differs)");
		goto verdict;
	}
	X509 *tsa = NULL;
	bool ess = false;
	if ((certs = CMS_get1_certs(tcms)) == NULL && (certs = sk_X509_new_null()) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (check_signer_info(tcms, sk_CMS_SignerInfo_value(sis, 0), certs, ec->data, (size_t)ec->length, &t, &tsa,
			      &ess, e) != 0)
		goto out;
	if (tsa != NULL)
		snprintf(ts->tsa, sizeof ts->tsa, "%s", t.subject);
	if (t.result == SIGVAL_VALID && !ess)
		sigval_set(&t, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the timestamp token has no signingCertificate "
			   "attribute (RFC 3161 requires one)");
	if (t.result == SIGVAL_VALID && X509_check_purpose(tsa, X509_PURPOSE_TIMESTAMP_SIGN, 0) != 1)
		sigval_set(&t, SIGVAL_INVALID, SIGVAL_R_CERT_INVALID, "the timestamp's signer is not a TSA "
			   "(extendedKeyUsage timeStamping, critical, only)");
	ERR_clear_error();
	if (t.result == SIGVAL_VALID && sigval_check_cert(vc, &t, tsa, certs, time_of(TS_TST_INFO_get_time(tst)), e) != 0)
		goto out;
	if (t.result == SIGVAL_VALID)
		*at = time_of(TS_TST_INFO_get_time(tst));
verdict:
	ts->result = t.result;
	snprintf(ts->reason, sizeof ts->reason, "%s", t.reason);
	snprintf(ts->detail, sizeof ts->detail, "%s", t.detail);
	rc = 0;
out:
	ERR_clear_error();
	sk_X509_pop_free(certs, X509_free);
	TS_TST_INFO_free(tst);
	CMS_ContentInfo_free(tcms);
	return rc;
}

/* Every SignerInfo of cms over content into r. */
static int check_all(const struct sigval_ctx *vc, CMS_ContentInfo *cms, const unsigned char *content, size_t clen,
		     struct sigval_report *r, efos_err *e)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	STACK_OF(X509) *certs = CMS_get1_certs(cms);
	int rc = -1;
	if (certs == NULL && (certs = sk_X509_new_null()) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	if (sk_X509_num(certs) > SIGVAL_MAX_CERTS) {
		efos_fail(e, EFOS_E_INVALID, "the CMS carries %d certificates (at most %d)", sk_X509_num(certs),
			  SIGVAL_MAX_CERTS);
		goto out;
	}
	if (sk_CMS_SignerInfo_num(sis) <= 0) {
		efos_fail(e, EFOS_E_INVALID, "the CMS SignedData has no SignerInfo: it is not a signature");
		goto out;
	}
	for (int i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
		struct sigval_signature *s = sigval_report_add(r, e);
		X509 *signer = NULL;
		bool ess = false;
		time_t at = 0;
		if (s == NULL || check_signer_info(cms, si, certs, content, clen, s, &signer, &ess, e) != 0)
			goto out;
		snprintf(s->level, sizeof s->level, "%s", ess ? "B-B" : "CMS");
		if (s->result != SIGVAL_VALID)
			continue;
		if (check_timestamp(vc, si, s, &at, e) != 0)
			goto out;
		if (s->ts.present && s->ts.result == SIGVAL_INVALID) {
			sigval_set(s, SIGVAL_INVALID, SIGVAL_R_TIMESTAMP_INVALID, "%s", s->ts.detail);
			continue;
		}
		if (s->ts.present && s->ts.result == SIGVAL_VALID && ess)
			snprintf(s->level, sizeof s->level, "B-T");
		if (sigval_check_cert(vc, s, signer, certs, at, e) != 0)
			goto out;
	}
	rc = 0;
out:
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

int sigval_cms(const struct sigval_ctx *vc, const unsigned char *der, size_t len,
	       const unsigned char *document, size_t doc_len, struct sigval_report *r, efos_err *e)
{
	snprintf(r->format, sizeof r->format, "cms");
	CMS_ContentInfo *cms = parse_signed_data(der, len, e);
	int rc = -1;
	if (cms == NULL)
		return -1;
	const ASN1_OCTET_STRING *ec = econtent(cms);
	if (ec != NULL && document != NULL) {
		efos_fail(e, EFOS_E_INVALID, "the signature holds its content (enveloping): do not send \"document\"");
		goto out;
	}
	if (ec == NULL && document == NULL) {
		efos_fail(e, EFOS_E_INVALID, "the signature is detached: send the signed document as \"document\" "
			  "(base64) with it");
		goto out;
	}
	rc = ec ? check_all(vc, cms, ec->data, (size_t)ec->length, r, e) : check_all(vc, cms, document, doc_len, r, e);
	if (rc == 0)
		sigval_report_finish(r);
out:
	ERR_clear_error();
	CMS_ContentInfo_free(cms);
	return rc;
}

int sigval_cms_detached(const struct sigval_ctx *vc, const unsigned char *der, size_t der_len,
			const unsigned char *content, size_t content_len, struct sigval_report *r,
			efos_err *e)
{
	CMS_ContentInfo *cms = parse_signed_data(der, der_len, e);
	if (cms == NULL)
		return -1;
	int rc = econtent(cms) != NULL ? efos_fail(e, EFOS_E_INVALID, "the CMS holds content; a detached one was expected")
				       : check_all(vc, cms, content, content_len, r, e);
	ERR_clear_error();
	CMS_ContentInfo_free(cms);
	return rc;
}
