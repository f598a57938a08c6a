/* Shared by the readers of SAML metadata (idp/metadata_store.c for SP metadata,
 * signer/idp_md.c for IdP metadata): the key of a KeyDescriptor certificate, the signature on
 * a metadata document's root element, and xs:dateTime as metadata writes it.
 * See the top of core/saml_md.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/tree.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include "core/saml_md.h"
#include "core/xml.h"
#include "core/xml_c14n.h"

int saml_md_parse_datetime(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, n = 0;
	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return -1;
	const char *p = s + n;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	long off = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om, k = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
			return -1;
		off = (oh * 3600L + om * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm) - off;
	return 0;
}

/* ---- keys --------------------------------------------------------------------------------- */

static char *strip_ws(const char *s)
{
	size_t n = strlen(s);
	char *o = malloc(n + 1), *p = o;
	if (o == NULL)
		return NULL;
	for (; *s; s++)
		if (*s != ' ' && *s != '\n' && *s != '\r' && *s != '\t')
			*p++ = *s;
	*p = '\0';
	return o;
}

/* The key of a certificate, taken from its SubjectPublicKeyInfo with OpenSSL's DER reader and
 * built with EVP_PKEY_fromdata. Why not d2i_X509 + X509_get_pubkey: with OpenSSL 3.0 that costs
 * about 0.65 ms per certificate (the provider decoder is set up afresh for each key), 13 s for an
 * aggregate of 10,000 SPs; this way is ~8x faster. MetaIOP: a metadata certificate only carries
 * its key, so nothing else in it is needed (validity, issuer and signature are not checked). */
struct der {
	const unsigned char *p;
	long left;
};

/* The next TLV of d: its tag and content; d advances past it. */
static int der_next(struct der *d, int *tag, int *cls, struct der *content)
{
	const unsigned char *q = d->p;
	long len = 0;
	int t = 0, c = 0;
	if (d->left <= 0)
		return -1;
	int r = ASN1_get_object(&q, &len, &t, &c, d->left);
	if ((r & 0x80) || (r & 0x01))   /* error, or indefinite length (not DER) */
		return -1;
	long used = (long)(q - d->p) + len;
	if (used > d->left)
		return -1;
	content->p = q;
	content->left = len;
	*tag = t;
	*cls = c;
	d->p += used;
	d->left -= used;
	return 0;
}

static int der_expect(struct der *d, int want_tag, struct der *content)
{
	int tag, cls;
	if (der_next(d, &tag, &cls, content) != 0 || cls != V_ASN1_UNIVERSAL || tag != want_tag)
		return -1;
	return 0;
}

/* The OID at the start of d as a NID (d advances). */
static int der_oid_nid(struct der *d)
{
	const unsigned char *start = d->p;
	struct der c;
	if (der_expect(d, V_ASN1_OBJECT, &c) != 0)
		return NID_undef;
	const unsigned char *q = start;
	ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &q, d->p - start);
	int nid = o ? OBJ_obj2nid(o) : NID_undef;
	ASN1_OBJECT_free(o);
	return nid;
}

static BIGNUM *der_bn(struct der *d)
{
	const unsigned char *start = d->p;
	struct der c;
	if (der_expect(d, V_ASN1_INTEGER, &c) != 0)
		return NULL;
	const unsigned char *q = start;
	ASN1_INTEGER *ai = d2i_ASN1_INTEGER(NULL, &q, d->p - start);
	BIGNUM *bn = ai ? ASN1_INTEGER_to_BN(ai, NULL) : NULL;
	ASN1_INTEGER_free(ai);
	return bn;
}

static EVP_PKEY *key_from_spki(struct der spki, char *why, size_t cap)
{
	struct der alg, bits, params;
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *ps = NULL;
	BIGNUM *n = NULL, *ex = NULL;
	if (der_expect(&spki, V_ASN1_SEQUENCE, &alg) != 0 || der_expect(&spki, V_ASN1_BIT_STRING, &bits) != 0 ||
	    bits.left < 2 || bits.p[0] != 0) {
		snprintf(why, cap, "the certificate's SubjectPublicKeyInfo is malformed");
		return NULL;
	}
	bits.p++;   /* no unused bits */
	bits.left--;
	int kind = der_oid_nid(&alg);
	params = alg;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		goto oom;
	if (kind == NID_rsaEncryption) {
		struct der seq;
		if (der_expect(&bits, V_ASN1_SEQUENCE, &seq) != 0 || (n = der_bn(&seq)) == NULL || (ex = der_bn(&seq)) == NULL) {
			snprintf(why, cap, "the certificate's RSA key is malformed");
			goto out;
		}
		if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, ex))
			goto oom;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (kind == NID_X9_62_id_ecPublicKey) {
		int curve = der_oid_nid(&params);
		if (curve != NID_X9_62_prime256v1 && curve != NID_secp384r1 && curve != NID_secp521r1) {
			snprintf(why, cap, "EC key on a curve other than P-256, P-384, P-521 refused");
			goto out;
		}
		if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(curve), 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, bits.p, (size_t)bits.left))
			goto oom;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	} else {
		snprintf(why, cap, "the certificate's key is neither RSA nor EC (refused)");
		goto out;
	}
	if (ctx == NULL || (ps = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto oom;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, ps) <= 0 || k == NULL) {
		snprintf(why, cap, "the certificate's %s key is not valid", kind == NID_rsaEncryption ? "RSA" : "EC");
		goto out;
	}
	int nbits = EVP_PKEY_get_bits(k);
	if ((kind == NID_rsaEncryption && nbits < 2048) || (kind != NID_rsaEncryption && nbits < 256)) {
		snprintf(why, cap, "%s key of %d bits refused (RSA >= 2048, EC >= 256 only)",
			 kind == NID_rsaEncryption ? "RSA" : "EC", nbits);
		EVP_PKEY_free(k);
		k = NULL;
	}
	goto out;
oom:
	snprintf(why, cap, "out of memory");
out:
	BN_free(n);
	BN_free(ex);
	OSSL_PARAM_free(ps);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* The public key of a base64 DER certificate; strength checked. NULL with why set. */
EVP_PKEY *saml_md_key_from_cert_b64(const char *b64, char *why, size_t cap)
{
	char *s = strip_ws(b64);
	EVP_PKEY *k = NULL;
	size_t n = s ? strlen(s) : 0;
	unsigned char *der = NULL;
	if (s == NULL || n == 0 || n % 4 != 0 || n > 64 * 1024) {
		snprintf(why, cap, "X509Certificate is not base64 of a plausible size");
		goto out;
	}
	der = malloc(n / 4 * 3);
	int dlen = der ? EVP_DecodeBlock(der, (unsigned char *)s, (int)n) : -1;
	if (dlen < 0) {
		snprintf(why, cap, "X509Certificate is not base64");
		goto out;
	}
	while (n > 0 && s[n - 1] == '=') {   /* EVP_DecodeBlock counts the padding */
		dlen--;
		n--;
	}
	/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
	 * signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... } */
	struct der all = { der, dlen }, cert, tbs, field;
	int tag, cls;
	if (der_expect(&all, V_ASN1_SEQUENCE, &cert) != 0 || all.left != 0 || der_expect(&cert, V_ASN1_SEQUENCE, &tbs) != 0 ||
	    der_next(&tbs, &tag, &cls, &field) != 0) {
		snprintf(why, cap, "X509Certificate is not a DER certificate");
		goto out;
	}
	if (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 0 && der_next(&tbs, &tag, &cls, &field) != 0)
		tag = -1;   /* version skipped: field is now serialNumber */
	if (cls != V_ASN1_UNIVERSAL || tag != V_ASN1_INTEGER || der_expect(&tbs, V_ASN1_SEQUENCE, &field) != 0 ||
	    der_expect(&tbs, V_ASN1_SEQUENCE, &field) != 0 || der_expect(&tbs, V_ASN1_SEQUENCE, &field) != 0 ||
	    der_expect(&tbs, V_ASN1_SEQUENCE, &field) != 0 || der_expect(&tbs, V_ASN1_SEQUENCE, &field) != 0) {
		snprintf(why, cap, "X509Certificate is not a DER certificate");
		goto out;
	}
	k = key_from_spki(field, why, cap);
out:
	free(der);
	free(s);
	return k;
}

/* The Reference URI of the root's single ds:Signature ("" or "#id"), or NULL. */
static char *root_signature_uri(xmlNodePtr root)
{
	xmlNodePtr sig = NULL;
	for (xmlNodePtr c = xml_first_element(root); c != NULL; c = xml_next_element(c->next))
		if (xml_is_dsig(c, "Signature")) {
			if (sig != NULL)
				return NULL;
			sig = c;
		}
	xmlNodePtr si = sig ? xml_first_element(sig) : NULL;
	if (!xml_is_dsig(si, "SignedInfo"))
		return NULL;
	for (xmlNodePtr r = xml_first_element(si); r != NULL; r = xml_next_element(r->next))
		if (xml_is_dsig(r, "Reference"))
			return (char *)xmlGetNoNsProp(r, BAD_CAST "URI");
	return NULL;
}

int saml_md_verify_root(xmlDocPtr doc, EVP_PKEY *const *keys, size_t nkeys, const char *src, efos_err *e)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, e) != 0)
		return efos_wrap(e, "%s", src);
	char *uri = root ? root_signature_uri(root) : NULL;
	if (uri == NULL)
		return efos_fail(e, EFOS_E_INVALID, "%s: the document is not signed (exactly one ds:Signature with a "
				 "Reference is required on the root element)", src);
	struct xml_dsig_policy pol = xml_dsig_policy_saml;
	if (uri[0] == '\0') {   /* URI="" (some aggregators): the whole document, which is the root */
		pol.ref = XML_DSIG_REF_DOCUMENT;
		pol.signature_in_descendant = false;
	}
	xmlFree(uri);
	if (xml_dsig_verify_element(root, NULL, keys, nkeys, &pol, e) == NULL)
		return efos_wrap(e, "%s: signature refused", src);
	return 0;
}
