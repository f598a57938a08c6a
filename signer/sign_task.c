/* Signing the SignTaskData of a federated signing request with the per-request key (spec §7.3).
 * XML: the canonical SignedInfo is checked (bounded parse, ds:SignedInfo whose SignatureMethod is
 * the requested algorithm), updated for XAdES when asked, hashed and signed. PDF / CMS: the DER
 * SignedAttributes are parsed with OpenSSL's ASN.1 templates (bounded), checked, given ESS
 * signingCertificateV2 for our certificate, re-encoded as DER (SET OF sorted) and signed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include <openssl/asn1t.h>
#include <openssl/ess.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include "core/xml.h"
#include "hsm/hsm.h"
#include "signer/sign_task.h"
#include "signer/xades.h"

#define NS_DSIG "http://www.w3.org/2000/09/xmldsig#"
#define MAX_SIGNED_ATTRS 64

/* ---- algorithms ------------------------------------------------------------------------------ */

static const struct sig_alg {
	const char *uri;
	int md_nid;
	int pss;
	int is_ec;
} sig_algs[] = {
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", NID_sha256, 0, 0 },
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384", NID_sha384, 0, 0 },
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", NID_sha512, 0, 0 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1", NID_sha256, 1, 0 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1", NID_sha384, 1, 0 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1", NID_sha512, 1, 0 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", NID_sha256, 0, 1 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", NID_sha384, 0, 1 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512", NID_sha512, 0, 1 },
};

static const struct sig_alg *alg_find(const char *uri)
{
	for (size_t i = 0; uri != NULL && i < sizeof sig_algs / sizeof sig_algs[0]; i++)
		if (strcmp(sig_algs[i].uri, uri) == 0)
			return &sig_algs[i];
	return NULL;
}

int sign_alg_lookup(const char *uri, const EVP_MD **md, int *pss, int *is_ec)
{
	const struct sig_alg *a = alg_find(uri);
	if (a == NULL)
		return -1;
	*md = EVP_get_digestbynid(a->md_nid);
	*pss = a->pss;
	*is_ec = a->is_ec;
	return *md != NULL ? 0 : -1;
}

/* ---- results --------------------------------------------------------------------------------- */

static int task_fail(struct dss_result *res, efos_err *e, const char *major, const char *minor,
		     enum efos_errcode code, const struct dss_sign_task *t, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static int task_fail(struct dss_result *res, efos_err *e, const char *major, const char *minor,
		     enum efos_errcode code, const struct dss_sign_task *t, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	res->major = major;
	res->minor = minor;
	if (t != NULL && t->id != NULL)
		snprintf(res->message, sizeof res->message, "sign task %.40s: %s", t->id, msg);
	else
		snprintf(res->message, sizeof res->message, "%s", msg);
	return efos_fail(e, code, "%s", res->message);
}

static int set_bytes(unsigned char **dst, size_t *dst_len, unsigned char *src, size_t len)
{
	free(*dst);
	*dst = src;
	*dst_len = len;
	return 0;
}

/* ---- XML ------------------------------------------------------------------------------------- */

/* The ToBeSignedBytes must be one ds:SignedInfo whose SignatureMethod is what we sign with:
 * otherwise the requester would assemble a signature that claims another algorithm. */
static int xml_check_signed_info(const struct dss_sign_task *t, const struct sig_alg *a,
				 struct dss_result *res, efos_err *e)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr sm = NULL;
	struct xml_limits lim = { .max_bytes = SIGN_TASK_MAX_TBS, .max_depth = 16, .max_nodes = 10000 };
	efos_err pe = { 0 };
	int rc = -1;
	if (xml_parse_untrusted((const char *)t->tbs, t->tbs_len, &lim, &doc, &pe) < 0) {
		task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
			  "ToBeSignedBytes is not a canonical ds:SignedInfo: %.120s", pe.msg);
		goto out;
	}
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (root == NULL || root->ns == NULL || strcmp((const char *)root->ns->href, NS_DSIG) != 0 ||
	    strcmp((const char *)root->name, "SignedInfo") != 0) {
		task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
			  "ToBeSignedBytes of an XML task must be a ds:SignedInfo element");
		goto out;
	}
	if (xml_find_unique_child(root, NS_DSIG, "SignatureMethod", &sm, &pe) < 0) {
		task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
			  "ds:SignedInfo: %.120s", pe.msg);
		goto out;
	}
	xmlChar *alg = xmlGetNoNsProp(sm, BAD_CAST "Algorithm");
	bool same = alg != NULL && strcmp((const char *)alg, a->uri) == 0;
	xmlFree(alg);
	if (!same) {
		task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
			  "ds:SignatureMethod is not the RequestedSignatureAlgorithm %s", a->uri);
		goto out;
	}
	rc = 0;
out:
	xmlFreeDoc(doc);
	return rc;
}

static int xml_prepare(X509 *cert, struct dss_sign_task *t, const struct sig_alg *a, struct dss_result *res,
		       efos_err *e)
{
	if (xml_check_signed_info(t, a, res, e) < 0)
		return -1;
	if (t->ades_type == DSS_ADES_NONE)
		return 0;
	if (t->ades_object == NULL)
		return task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
				 "AdESType BES/EPES for XML needs an AdESObject with the XAdES QualifyingProperties");
	unsigned char *si = NULL, *obj = NULL;
	size_t si_len = 0, obj_len = 0;
	efos_err xe = { 0 };
	if (xades_fed_update(cert, t->tbs, t->tbs_len, t->ades_object, t->ades_object_len, &si, &si_len, &obj,
			     &obj_len, &xe) < 0)
		return task_fail(res, e, xe.code == EFOS_E_INVALID ? DSS_MAJOR_REQUESTER : DSS_MAJOR_RESPONDER,
				 DSS_MINOR_GENERAL_ERROR, xe.code ? xe.code : EFOS_E_INTERNAL, t, "XAdES: %.150s", xe.msg);
	set_bytes(&t->tbs, &t->tbs_len, si, si_len);
	set_bytes(&t->ades_object, &t->ades_object_len, obj, obj_len);
	t->tbs_changed = true;
	return 0;
}

/* ---- CMS / PDF signed attributes --------------------------------------------------------- */

/* SignedAttributes ::= SET SIZE (1..MAX) OF Attribute (RFC 5652 §5.3); OpenSSL sorts a SET OF
 * by its DER encodings when it writes one, as DER requires. */
typedef STACK_OF(X509_ATTRIBUTE) SIGNED_ATTRS;
ASN1_ITEM_TEMPLATE(SIGNED_ATTRS) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SET_OF, 0, SignedAttributes, X509_ATTRIBUTE)
ASN1_ITEM_TEMPLATE_END(SIGNED_ATTRS)

static int count_nid(SIGNED_ATTRS *sa, int nid)
{
	int n = 0;
	for (int i = 0; i < sk_X509_ATTRIBUTE_num(sa); i++)
		if (OBJ_obj2nid(X509_ATTRIBUTE_get0_object(sk_X509_ATTRIBUTE_value(sa, i))) == nid)
			n++;
	return n;
}

static void remove_nid(SIGNED_ATTRS *sa, int nid)
{
	for (int i = sk_X509_ATTRIBUTE_num(sa) - 1; i >= 0; i--)
		if (OBJ_obj2nid(X509_ATTRIBUTE_get0_object(sk_X509_ATTRIBUTE_value(sa, i))) == nid)
			X509_ATTRIBUTE_free(sk_X509_ATTRIBUTE_delete(sa, i));
}

/* ESS signingCertificateV2 (RFC 5035): SHA-256 of our certificate (hashAlgorithm left at its
 * default) with issuerSerial. */
static X509_ATTRIBUTE *signing_cert_v2(X509 *cert)
{
	ESS_SIGNING_CERT_V2 *sc = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), cert, NULL, 1);
	unsigned char *der = NULL;
	int n = sc ? i2d_ESS_SIGNING_CERT_V2(sc, &der) : -1;
	ESS_SIGNING_CERT_V2_free(sc);
	ASN1_STRING *s = n > 0 ? ASN1_STRING_new() : NULL;
	X509_ATTRIBUTE *a = NULL;
	if (s != NULL && ASN1_STRING_set(s, der, n))
		a = X509_ATTRIBUTE_create(NID_id_smime_aa_signingCertificateV2, V_ASN1_SEQUENCE, s);
	else
		ASN1_STRING_free(s);
	OPENSSL_free(der);
	return a;
}

static int cms_prepare(X509 *cert, struct dss_sign_task *t, struct dss_result *res, efos_err *e)
{
	const unsigned char *p = t->tbs;
	SIGNED_ATTRS *sa = NULL;
	unsigned char *der = NULL;
	int rc = -1;
	if (t->tbs_len < 2 || t->tbs[0] != 0x31)
		return task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
				 "ToBeSignedBytes of a %s task must be DER SignedAttributes (a SET, tag 0x31)",
				 t->sig_type == DSS_SIG_PDF ? "PDF" : "CMS");
	sa = (SIGNED_ATTRS *)ASN1_item_d2i(NULL, &p, (long)t->tbs_len, ASN1_ITEM_rptr(SIGNED_ATTRS));
	if (sa == NULL || p != t->tbs + t->tbs_len) {
		ERR_clear_error();
		task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
			  "ToBeSignedBytes is not one DER SET OF Attribute (SignedAttributes)");
		goto out;
	}
	if (sk_X509_ATTRIBUTE_num(sa) > MAX_SIGNED_ATTRS) {
		task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
			  "more than %d signed attributes", MAX_SIGNED_ATTRS);
		goto out;
	}
	if (count_nid(sa, NID_pkcs9_contentType) != 1 || count_nid(sa, NID_pkcs9_messageDigest) != 1) {
		task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
			  "the signed attributes must hold exactly one content-type and one message-digest");
		goto out;
	}
	for (int i = 0; i < sk_X509_ATTRIBUTE_num(sa); i++)
		if (X509_ATTRIBUTE_count(sk_X509_ATTRIBUTE_value(sa, i)) != 1) {
			task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
				  "a signed attribute must have exactly one value (RFC 5652 §11)");
			goto out;
		}
	/* BES/EPES sign the signer certificate's hash, PAdES always does (ETSI EN 319 142-1); a
	 * signingCertificate the requester put in can only name another certificate: replaced. */
	bool has = count_nid(sa, NID_id_smime_aa_signingCertificateV2) > 0 ||
		   count_nid(sa, NID_id_smime_aa_signingCertificate) > 0;
	if (has || t->ades_type != DSS_ADES_NONE || t->sig_type == DSS_SIG_PDF) {
		remove_nid(sa, NID_id_smime_aa_signingCertificateV2);
		remove_nid(sa, NID_id_smime_aa_signingCertificate);
		X509_ATTRIBUTE *a = signing_cert_v2(cert);
		if (a == NULL || !sk_X509_ATTRIBUTE_push(sa, a)) {
			X509_ATTRIBUTE_free(a);
			task_fail(res, e, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INTERNAL, t,
				  "cannot build signingCertificateV2");
			goto out;
		}
	}
	int n = ASN1_item_i2d((ASN1_VALUE *)sa, &der, ASN1_ITEM_rptr(SIGNED_ATTRS));
	if (n <= 0) {
		task_fail(res, e, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INTERNAL, t,
			  "cannot encode the signed attributes");
		goto out;
	}
	if ((size_t)n != t->tbs_len || memcmp(der, t->tbs, t->tbs_len) != 0) {
		unsigned char *copy = malloc((size_t)n);
		if (copy == NULL) {
			task_fail(res, e, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INTERNAL, t, "out of memory");
			goto out;
		}
		memcpy(copy, der, (size_t)n);
		set_bytes(&t->tbs, &t->tbs_len, copy, (size_t)n);
		t->tbs_changed = true;
	}
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	sk_X509_ATTRIBUTE_pop_free(sa, X509_ATTRIBUTE_free);
	return rc;
}

/* ---- all tasks ------------------------------------------------------------------------------- */

static void task_reset(struct dss_sign_task *t)
{
	free(t->sig);
	t->sig = NULL;
	t->sig_len = 0;
	t->sig_alg_uri = NULL;
}

int sign_tasks(struct hsm_key *key, X509 *cert, const char *sig_alg, struct dss_sign_task *tasks, size_t n,
	       struct dss_result *res, efos_err *e)
{
	const struct sig_alg *a = alg_find(sig_alg);
	if (a == NULL)
		return task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, EFOS_E_INVALID, NULL,
				 "signature algorithm %.120s is not supported", sig_alg ? sig_alg : "(none)");
	bool key_ec = hsm_key_kind(key) == HSM_KEY_EC;
	if (key_ec != (a->is_ec != 0))
		return task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, EFOS_E_INVALID, NULL,
				 "signature algorithm %.120s does not fit the signing key (%s)", sig_alg,
				 key_ec ? "EC" : "RSA");
	if (n == 0)
		return task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, NULL,
				 "the request has no SignTaskData");
	const EVP_MD *md = EVP_get_digestbynid(a->md_nid);
	enum hsm_padding pad = a->is_ec ? HSM_PAD_ECDSA : a->pss ? HSM_PAD_PSS : HSM_PAD_PKCS1;
	size_t max = hsm_sig_max_len(key);

	for (size_t i = 0; i < n; i++) {
		struct dss_sign_task *t = &tasks[i];
		task_reset(t);
		if (t->tbs == NULL || t->tbs_len == 0 || t->tbs_len > SIGN_TASK_MAX_TBS ||
		    t->ades_object_len > SIGN_TASK_MAX_TBS) {
			task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INVALID, t,
				  "ToBeSignedBytes must be 1 to %d bytes (AdESObject too)", SIGN_TASK_MAX_TBS);
			goto fail;
		}
		if (t->processing_rules != NULL) {
			task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, EFOS_E_INVALID, t,
				  "ProcessingRules %.100s is not supported", t->processing_rules);
			goto fail;
		}
		enum hsm_sig_format fmt = HSM_SIG_DER;
		if (t->sig_type == DSS_SIG_XML) {
			fmt = HSM_SIG_RAW;   /* XML-DSig ECDSA is r||s (RFC 4051) */
			if (xml_prepare(cert, t, a, res, e) < 0)
				goto fail;
		} else if (t->sig_type == DSS_SIG_PDF || t->sig_type == DSS_SIG_CMS) {
			if (cms_prepare(cert, t, res, e) < 0)
				goto fail;
		} else {
			task_fail(res, e, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, EFOS_E_INVALID, t,
				  "this SigType is not supported (XML, PDF and CMS are)");
			goto fail;
		}
		if ((t->sig = malloc(max)) == NULL) {
			task_fail(res, e, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, EFOS_E_INTERNAL, t, "out of memory");
			goto fail;
		}
		efos_err he = { 0 };
		t->sig_len = max;
		if (hsm_sign(key, md, pad, fmt, t->tbs, t->tbs_len, t->sig, &t->sig_len, &he) < 0) {
			task_fail(res, e, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR,
				  he.code ? he.code : EFOS_E_UNAVAILABLE, t, "the signature failed: %.120s", he.msg);
			goto fail;
		}
		t->sig_alg_uri = a->uri;
	}
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		task_reset(&tasks[i]);
	return -1;
}
