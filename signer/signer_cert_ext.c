/* The signer certificate's names and extensions beyond the profile's (spec §7.6): the subject
 * of the rdn mappings, subjectAltName (san), subjectDirectoryAttributes (sda, RFC 3739), the
 * RFC 7773 authentication context 1.2.752.201.5.1 with saci:SAMLAuthContext, and the ETSI EN
 * 319 412-5 qcStatements for CertType QC and QC/SSCD. The small DER structures are written
 * with a bounded builder; OpenSSL encodes the OIDs and GeneralNames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include "signer/signer_cert_internal.h"

#define NS_SACI "http://id.elegnamnden.se/auth-cont/1.0/saci"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_XS "http://www.w3.org/2001/XMLSchema"

#define OID_QC_STATEMENTS "1.3.6.1.5.5.7.1.3"
#define OID_QC_COMPLIANCE "0.4.0.1862.1.1"
#define OID_QC_SSCD "0.4.0.1862.1.4"
#define OID_QC_TYPE "0.4.0.1862.1.6"
#define OID_QC_TYPE_ESIGN "0.4.0.1862.1.6.1"
#define OID_SDA "2.5.29.9"
#define OID_DATE_OF_BIRTH "1.3.6.1.5.5.7.9.1"
#define OID_GENDER "1.3.6.1.5.5.7.9.3"
#define OID_CITIZENSHIP "1.3.6.1.5.5.7.9.4"
#define OID_RESIDENCE "1.3.6.1.5.5.7.9.5"

/* ---- a bounded DER builder ---------------------------------------------------------------- */

struct der {
	unsigned char b[16384];   /* the largest structure here is the saci XML (tens of values) */
	size_t n;
	bool overflow;
};

static void der_put(struct der *d, const void *p, size_t n)
{
	if (d->overflow || n > sizeof d->b - d->n) {
		d->overflow = true;
		return;
	}
	memcpy(d->b + d->n, p, n);
	d->n += n;
}

static void der_tlv(struct der *d, unsigned char tag, const void *content, size_t n)
{
	unsigned char h[6];
	size_t hn = 0;
	h[hn++] = tag;
	if (n < 0x80) {
		h[hn++] = (unsigned char)n;
	} else if (n <= 0xff) {
		h[hn++] = 0x81;
		h[hn++] = (unsigned char)n;
	} else if (n <= 0xffff) {
		h[hn++] = 0x82;
		h[hn++] = (unsigned char)(n >> 8);
		h[hn++] = (unsigned char)n;
	} else {
		h[hn++] = 0x83;
		h[hn++] = (unsigned char)(n >> 16);
		h[hn++] = (unsigned char)(n >> 8);
		h[hn++] = (unsigned char)n;
	}
	der_put(d, h, hn);
	der_put(d, content, n);
}

static void der_oid(struct der *d, const char *oid)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	unsigned char *p = NULL;
	int n = o ? i2d_ASN1_OBJECT(o, &p) : -1;
	if (n <= 0)
		d->overflow = true;
	else
		der_put(d, p, (size_t)n);
	OPENSSL_free(p);
	ASN1_OBJECT_free(o);
}

/* der becomes TAG { der } */
static void der_wrap(struct der *d, unsigned char tag)
{
	struct der *t = malloc(sizeof *t);
	if (t == NULL) {
		d->overflow = true;
		return;
	}
	t->n = 0;
	t->overflow = d->overflow;
	der_tlv(t, tag, d->b, d->n);
	memcpy(d->b, t->b, t->n);
	d->n = t->n;
	d->overflow = t->overflow;
	free(t);
}

static X509_EXTENSION *ext_from_der(const char *oid, int critical, const struct der *d, efos_err *e)
{
	if (d->overflow) {
		efos_fail(e, EFOS_E_INVALID, "extension %s would be too large", oid);
		return NULL;
	}
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *x = NULL;
	if (o != NULL && os != NULL && ASN1_OCTET_STRING_set(os, d->b, (int)d->n))
		x = X509_EXTENSION_create_by_OBJ(NULL, o, critical, os);
	ASN1_OBJECT_free(o);
	ASN1_OCTET_STRING_free(os);
	if (x == NULL)
		efos_fail(e, EFOS_E_INTERNAL, "cannot build extension %s", oid);
	return x;
}

/* ---- subject ---------------------------------------------------------------------------- */

int signer_subject_build(const struct signer_map *m, X509_NAME **out, efos_err *e)
{
	X509_NAME *nm = X509_NAME_new();
	*out = NULL;
	if (nm == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < m->n; i++) {
		const struct signer_mapping *x = &m->m[i];
		if (x->type != DSS_NAME_RDN)
			continue;
		ASN1_OBJECT *o = OBJ_txt2obj(x->ref, 1);
		int ok = o != NULL && X509_NAME_add_entry_by_OBJ(nm, o, MBSTRING_UTF8, (const unsigned char *)x->value,
								 -1, -1, 0);
		ASN1_OBJECT_free(o);
		if (!ok) {
			ERR_clear_error();
			X509_NAME_free(nm);
			return efos_fail(e, EFOS_E_INVALID, "subject attribute %s: \"%s\" cannot be encoded (too "
					 "long, or characters a PrintableString attribute does not allow)", x->ref, x->value);
		}
	}
	if (X509_NAME_entry_count(nm) == 0) {
		X509_NAME_free(nm);
		return efos_fail(e, EFOS_E_INVALID, "the signer certificate's subject would be empty");
	}
	*out = nm;
	return 0;
}

/* ---- subjectAltName, subjectDirectoryAttributes --------------------------------------------- */

static bool ia5_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static int san_build(const struct signer_map *m, X509_EXTENSION **out, efos_err *e)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	*out = NULL;
	if (gens == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < m->n; i++) {
		const struct signer_mapping *x = &m->m[i];
		if (x->type != DSS_NAME_SAN)
			continue;
		int tag = x->ref[0] - '0';
		if (tag != GEN_EMAIL && tag != GEN_DNS && tag != GEN_URI) {
			GENERAL_NAMES_free(gens);
			return efos_fail(e, EFOS_E_INVALID, "subjectAltName tag %d is not supported (only 1 rfc822Name, "
					 "2 dNSName, 6 uniformResourceIdentifier)", tag);
		}
		if (!ia5_ok(x->value)) {
			GENERAL_NAMES_free(gens);
			return efos_fail(e, EFOS_E_INVALID, "subjectAltName %s: \"%s\" is not printable ASCII", x->ref,
					 x->value);
		}
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		if (g == NULL || s == NULL || !ASN1_STRING_set(s, x->value, -1)) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(s);
			GENERAL_NAMES_free(gens);
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		}
		GENERAL_NAME_set0_value(g, tag, s);
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			GENERAL_NAMES_free(gens);
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		}
	}
	if (sk_GENERAL_NAME_num(gens) > 0 && (*out = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) == NULL) {
		GENERAL_NAMES_free(gens);
		return efos_fail(e, EFOS_E_INTERNAL, "cannot encode subjectAltName");
	}
	GENERAL_NAMES_free(gens);
	return 0;
}

/* One SDA value as RFC 3739 §3.2.2 types it. */
static int sda_value(struct der *d, const struct signer_mapping *x, efos_err *e)
{
	const char *v = x->value;
	if (strcmp(x->ref, OID_DATE_OF_BIRTH) == 0) {
		/* YYYY-MM-DD -> GeneralizedTime at 12:00 GMT (RFC 3739: noon avoids a date shift). */
		char t[16];
		if (strlen(v) != 10 || v[4] != '-' || v[7] != '-' ||
		    strspn(v, "0123456789-") != 10)
			return efos_fail(e, EFOS_E_INVALID, "dateOfBirth \"%s\" is not YYYY-MM-DD", v);
		snprintf(t, sizeof t, "%.4s%.2s%.2s120000Z", v, v + 5, v + 8);
		der_tlv(d, V_ASN1_GENERALIZEDTIME, t, strlen(t));
	} else if (strcmp(x->ref, OID_GENDER) == 0 || strcmp(x->ref, OID_CITIZENSHIP) == 0 ||
		   strcmp(x->ref, OID_RESIDENCE) == 0) {
		size_t want = strcmp(x->ref, OID_GENDER) == 0 ? 1 : 2;
		if (strlen(v) != want || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != want)
			return efos_fail(e, EFOS_E_INVALID, "subject directory attribute %s: \"%s\" must be %zu letter(s)",
					 x->ref, v, want);
		char up[3] = { 0 };
		for (size_t i = 0; i < want; i++)
			up[i] = (char)(v[i] >= 'a' && v[i] <= 'z' ? v[i] - 32 : v[i]);
		der_tlv(d, V_ASN1_PRINTABLESTRING, up, want);
	} else {
		der_tlv(d, V_ASN1_UTF8STRING, v, strlen(v));
	}
	return 0;
}

static int sda_build(const struct signer_map *m, X509_EXTENSION **out, efos_err *e)
{
	struct der *all = calloc(1, sizeof *all), *one = calloc(1, sizeof *one), *val = calloc(1, sizeof *val);
	int rc = -1;
	*out = NULL;
	if (all == NULL || one == NULL || val == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct signer_mapping *x = &m->m[i];
		if (x->type != DSS_NAME_SDA)
			continue;
		one->n = val->n = 0;
		if (sda_value(val, x, e) < 0)
			goto out;
		der_wrap(val, 0x31);          /* values SET OF */
		der_oid(one, x->ref);          /* type */
		der_put(one, val->b, val->n);
		der_wrap(one, 0x30);          /* Attribute */
		der_put(all, one->b, one->n);
		if (one->overflow || val->overflow)
			all->overflow = true;
	}
	if (all->n > 0) {
		der_wrap(all, 0x30);
		if ((*out = ext_from_der(OID_SDA, 0, all, e)) == NULL)
			goto out;
	}
	rc = 0;
out:
	free(all);
	free(one);
	free(val);
	return rc;
}

/* ---- the authentication context (RFC 7773) --------------------------------------------------- */

static const char *type_name(enum dss_cert_name_type t)
{
	return t == DSS_NAME_SAN ? "san" : t == DSS_NAME_SDA ? "sda" : "rdn";
}

char *signer_saci_xml(const struct signer_cert_request *r, const struct signer_map *m, efos_err *e)
{
	char instant[32];
	struct tm tm;
	time_t t = r->authn_instant;
	if (gmtime_r(&t, &tm) == NULL || strftime(instant, sizeof instant, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		efos_fail(e, EFOS_E_INVALID, "bad authentication instant");
		return NULL;
	}
	const char *info[][2] = {
		{ "IdentityProvider", r->idp }, { "AuthenticationInstant", instant },
		{ "AuthnContextClassRef", r->loa }, { "AssertionRef", r->assertion_id },
		{ "ServiceID", r->service_id },
	};
	for (size_t i = 0; i < sizeof info / sizeof info[0]; i++)
		if (info[i][1] == NULL || !signer_utf8_ok(info[i][1], 1024) || info[i][1][0] == '\0') {
			efos_fail(e, EFOS_E_INVALID, "AuthContextInfo/@%s is missing or not text", info[i][0]);
			return NULL;
		}

	char *res = NULL;
	xmlBufferPtr buf = NULL;
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = doc ? xmlNewDocNode(doc, NULL, BAD_CAST "SAMLAuthContext", NULL) : NULL;
	if (root == NULL)
		goto oom;
	xmlDocSetRootElement(doc, root);
	xmlNsPtr saci = xmlNewNs(root, BAD_CAST NS_SACI, BAD_CAST "saci");
	xmlNsPtr saml = xmlNewNs(root, BAD_CAST NS_SAML, BAD_CAST "saml");
	xmlNsPtr xsi = xmlNewNs(root, BAD_CAST NS_XSI, BAD_CAST "xsi");
	if (saci == NULL || saml == NULL || xsi == NULL || xmlNewNs(root, BAD_CAST NS_XS, BAD_CAST "xs") == NULL)
		goto oom;
	xmlSetNs(root, saci);
	xmlNodePtr aci = xmlNewChild(root, saci, BAD_CAST "AuthContextInfo", NULL);
	if (aci == NULL)
		goto oom;
	for (size_t i = 0; i < sizeof info / sizeof info[0]; i++)
		if (xmlNewProp(aci, BAD_CAST info[i][0], BAD_CAST info[i][1]) == NULL)
			goto oom;
	xmlNodePtr ida = xmlNewChild(root, saci, BAD_CAST "IdAttributes", NULL);
	if (ida == NULL)
		goto oom;
	for (size_t i = 0; i < m->n; i++) {
		const struct signer_mapping *x = &m->m[i];
		if (x->source == NULL)
			continue;   /* a requester's default value is not from the assertion: not listed */
		xmlNodePtr am = xmlNewChild(ida, saci, BAD_CAST "AttributeMapping", NULL);
		xmlNodePtr a = am ? xmlNewChild(am, saml, BAD_CAST "Attribute", NULL) : NULL;
		xmlNodePtr v = a ? xmlNewTextChild(a, saml, BAD_CAST "AttributeValue", BAD_CAST x->source_value) : NULL;
		if (v == NULL || !xmlNewProp(am, BAD_CAST "Type", BAD_CAST type_name(x->type)) ||
		    !xmlNewProp(am, BAD_CAST "Ref", BAD_CAST x->ref) ||
		    !xmlNewProp(a, BAD_CAST "Name", BAD_CAST x->source->name) ||
		    (x->source->friendly_name != NULL &&
		     !xmlNewProp(a, BAD_CAST "FriendlyName", BAD_CAST x->source->friendly_name)) ||
		    !xmlNewNsProp(v, xsi, BAD_CAST "type", BAD_CAST "xs:string"))
			goto oom;
	}
	buf = xmlBufferCreate();
	xmlSaveCtxtPtr sc = buf ? xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_NO_DECL) : NULL;
	if (sc == NULL)
		goto oom;
	xmlSaveTree(sc, root);
	xmlSaveClose(sc);
	res = strndup((const char *)xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
	if (res == NULL)
		goto oom;
	/* xmlSave may end with a newline; the extension carries the element only. */
	size_t n = strlen(res);
	while (n > 0 && (res[n - 1] == '\n' || res[n - 1] == '\r'))
		res[--n] = '\0';
	xmlBufferFree(buf);
	xmlFreeDoc(doc);
	return res;
oom:
	efos_fail(e, EFOS_E_INTERNAL, "out of memory building SAMLAuthContext");
	if (buf)
		xmlBufferFree(buf);
	xmlFreeDoc(doc);
	return NULL;
}

static int auth_context_build(const struct signer_cert_request *r, const struct signer_map *m,
			      X509_EXTENSION **out, efos_err *e)
{
	*out = NULL;
	char *xml = signer_saci_xml(r, m, e);
	if (xml == NULL)
		return -1;
	struct der *d = calloc(1, sizeof *d);
	if (d == NULL) {
		free(xml);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	der_tlv(d, V_ASN1_UTF8STRING, SIGNER_SACI_CONTEXT_TYPE, strlen(SIGNER_SACI_CONTEXT_TYPE));
	der_tlv(d, V_ASN1_UTF8STRING, xml, strlen(xml));
	der_wrap(d, 0x30);   /* AuthenticationContext */
	der_wrap(d, 0x30);   /* AuthenticationContexts */
	*out = ext_from_der(SIGNER_OID_AUTH_CONTEXT, 0, d, e);
	free(xml);
	free(d);
	return *out ? 0 : -1;
}

/* Reads one TLV of the expected tag at *p (within end); *content and *len its content. */
static bool der_read(const unsigned char **p, const unsigned char *end, int tag, const unsigned char **content,
		     long *len)
{
	int t, cls;
	const unsigned char *q = *p;
	int r = ASN1_get_object(&q, len, &t, &cls, end - *p);
	if ((r & 0x80) || t != tag || cls != V_ASN1_UNIVERSAL || *len > end - q)
		return false;
	*content = q;
	*p = q + *len;
	return true;
}

char *signer_cert_auth_context_xml(X509 *cert, efos_err *e)
{
	ASN1_OBJECT *o = OBJ_txt2obj(SIGNER_OID_AUTH_CONTEXT, 1);
	int idx = o ? X509_get_ext_by_OBJ(cert, o, -1) : -1;
	ASN1_OBJECT_free(o);
	if (idx < 0) {
		efos_fail(e, EFOS_E_NOTFOUND, "the certificate has no authentication context extension (%s)",
			  SIGNER_OID_AUTH_CONTEXT);
		return NULL;
	}
	const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
	const unsigned char *p = ASN1_STRING_get0_data(os), *end = p + ASN1_STRING_length(os), *c, *ctx, *s;
	long len, clen, slen;
	if (!der_read(&p, end, V_ASN1_SEQUENCE, &c, &len) || p != end)
		goto bad;
	const unsigned char *cend = c + len;
	if (!der_read(&c, cend, V_ASN1_SEQUENCE, &ctx, &clen))
		goto bad;
	const unsigned char *q = ctx, *qend = ctx + clen;
	if (!der_read(&q, qend, V_ASN1_UTF8STRING, &s, &slen) || (size_t)slen != strlen(SIGNER_SACI_CONTEXT_TYPE) ||
	    memcmp(s, SIGNER_SACI_CONTEXT_TYPE, (size_t)slen) != 0)
		goto bad;
	if (!der_read(&q, qend, V_ASN1_UTF8STRING, &s, &slen) || q != qend)
		goto bad;
	char *xml = strndup((const char *)s, (size_t)slen);
	if (xml == NULL)
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return xml;
bad:
	efos_fail(e, EFOS_E_INVALID, "the authentication context extension is not one saci AuthenticationContext "
		  "with contextInfo");
	return NULL;
}

/* ---- qcStatements (ETSI EN 319 412-5) ------------------------------------------------------- */

static int qc_build(bool sscd, X509_EXTENSION **out, efos_err *e)
{
	struct der *all = calloc(1, sizeof *all), *one = calloc(1, sizeof *one);
	*out = NULL;
	if (all == NULL || one == NULL) {
		free(all);
		free(one);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	der_oid(one, OID_QC_COMPLIANCE);
	der_wrap(one, 0x30);
	der_put(all, one->b, one->n);

	one->n = 0;
	der_oid(one, OID_QC_TYPE_ESIGN);
	der_wrap(one, 0x30);             /* SEQUENCE OF QcType */
	struct der *st = calloc(1, sizeof *st);
	if (st != NULL) {
		der_oid(st, OID_QC_TYPE);
		der_put(st, one->b, one->n);
		der_wrap(st, 0x30);
		der_put(all, st->b, st->n);
		free(st);
	} else {
		all->overflow = true;
	}

	if (sscd) {
		one->n = 0;
		der_oid(one, OID_QC_SSCD);
		der_wrap(one, 0x30);
		der_put(all, one->b, one->n);
	}
	der_wrap(all, 0x30);
	if (one->overflow)
		all->overflow = true;
	*out = ext_from_der(OID_QC_STATEMENTS, 0, all, e);
	free(all);
	free(one);
	return *out ? 0 : -1;
}

/* ---- all of them ------------------------------------------------------------------------------ */

int signer_exts_build(const struct signer_cert_request *r, const struct signer_map *m,
		      STACK_OF(X509_EXTENSION) **exts, efos_err *e)
{
	STACK_OF(X509_EXTENSION) *sk = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *x = NULL;
	*exts = NULL;
	if (sk == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	const char *ct = r->req && r->req->cert_type ? r->req->cert_type : "PKC";
	bool qc = strcmp(ct, "QC") == 0, sscd = strcmp(ct, "QC/SSCD") == 0;
	if (!qc && !sscd && strcmp(ct, "PKC") != 0) {
		sk_X509_EXTENSION_free(sk);
		return efos_fail(e, EFOS_E_INVALID, "CertType \"%.32s\" is not PKC, QC or QC/SSCD", ct);
	}
	int (*steps[])(const struct signer_map *, X509_EXTENSION **, efos_err *) = { san_build, sda_build };
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if (steps[i](m, &x, e) < 0)
			goto fail;
		if (x != NULL && !sk_X509_EXTENSION_push(sk, x))
			goto oom;
		x = NULL;
	}
	if (auth_context_build(r, m, &x, e) < 0)
		goto fail;
	if (!sk_X509_EXTENSION_push(sk, x))
		goto oom;
	x = NULL;
	if (qc || sscd) {
		if (qc_build(sscd, &x, e) < 0)
			goto fail;
		if (!sk_X509_EXTENSION_push(sk, x))
			goto oom;
		x = NULL;
	}
	*exts = sk;
	return 0;
oom:
	efos_fail(e, EFOS_E_INTERNAL, "out of memory");
fail:
	X509_EXTENSION_free(x);
	sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
	return -1;
}
