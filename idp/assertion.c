/* The saml:Assertion, built node by node with libxml2: see assertion.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "core/base64.h"
#include "idp/assertion.h"

#define NS_XS "http://www.w3.org/2001/XMLSchema"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_DS "http://www.w3.org/2000/09/xmldsig#"
#define NS_DSIG11 "http://www.w3.org/2009/xmldsig11#"
#define DIGEST_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"
#define DIGEST_SHA384 "http://www.w3.org/2001/04/xmldsig-more#sha384"
#define DIGEST_SHA512 "http://www.w3.org/2001/04/xmlenc#sha512"

int idp_new_id(char out[IDP_ID_LEN], efos_err *e)
{
	unsigned char r[20];
	if (RAND_bytes(r, sizeof r) != 1)
		return efos_fail(e, EFOS_E_INTERNAL, "the random generator failed");
	out[0] = '_';
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", r[i]);
	return 0;
}

void idp_format_time(time_t t, char *buf, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int idp_sign_message_digest(const char *msg, size_t len, const char *digest_uri, char **out, efos_err *e)
{
	const EVP_MD *md;
	*out = NULL;
	if (digest_uri == NULL)
		digest_uri = DIGEST_SHA256;
	if (strcmp(digest_uri, DIGEST_SHA256) == 0)
		md = EVP_sha256();
	else if (strcmp(digest_uri, DIGEST_SHA384) == 0)
		md = EVP_sha384();
	else if (strcmp(digest_uri, DIGEST_SHA512) == 0)
		md = EVP_sha512();
	else
		return efos_fail(e, EFOS_E_INVALID, "signMessageDigest: digest %s is not supported", digest_uri);
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	if (EVP_Digest(msg, len, d, &dlen, md, NULL) != 1)
		return efos_fail(e, EFOS_E_INTERNAL, "signMessageDigest: digest failed");
	size_t ulen = strlen(digest_uri);
	char *s = malloc(ulen + 1 + 4 * ((dlen + 2) / 3) + 1);
	if (s == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	memcpy(s, digest_uri, ulen);
	s[ulen] = ';';
	EVP_EncodeBlock((unsigned char *)s + ulen + 1, d, (int)dlen);
	*out = s;
	return 0;
}

/* A string that can go into XML 1.0 as it is: valid UTF-8, no control characters other than
 * tab, LF and CR (libxml2 would write them as character references that XML 1.0 forbids). */
static bool xml_safe(const char *s)
{
	if (s == NULL || xmlCheckUTF8((const unsigned char *)s) == 0)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			return false;
	return true;
}

/* Building state: the first error wins, later calls do nothing. */
struct bld {
	xmlDocPtr doc;
	xmlNsPtr saml, xsi;
	efos_err *e;
	bool failed;
};

static bool bad(struct bld *b, const char *what)
{
	if (!b->failed)
		efos_fail(b->e, EFOS_E_INVALID, "assertion: %s", what);
	b->failed = true;
	return false;
}

static xmlNodePtr el(struct bld *b, xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
	if (b->failed || parent == NULL)
		return NULL;
	if (text != NULL && !xml_safe(text)) {
		bad(b, "a value is not valid UTF-8 text");
		return NULL;
	}
	/* xmlNewTextChild escapes the text: values are never markup */
	xmlNodePtr n = xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST text);
	if (n == NULL) {
		efos_fail(b->e, EFOS_E_INTERNAL, "out of memory");
		b->failed = true;
	}
	return n;
}

static void attr(struct bld *b, xmlNodePtr n, const char *name, const char *value)
{
	if (b->failed || n == NULL)
		return;
	if (!xml_safe(value)) {
		bad(b, "an attribute value is not valid UTF-8 text");
		return;
	}
	if (xmlNewProp(n, BAD_CAST name, BAD_CAST value) == NULL) {
		efos_fail(b->e, EFOS_E_INTERNAL, "out of memory");
		b->failed = true;
	}
}

static void time_attr(struct bld *b, xmlNodePtr n, const char *name, time_t t)
{
	char buf[32];
	idp_format_time(t, buf, sizeof buf);
	attr(b, n, name, buf);
}

static bool value_released(const struct policy_release *r, const char *v)
{
	for (size_t i = 0; r != NULL && i < r->n_attrs; i++)
		for (size_t j = 0; j < r->attrs[i].n_values; j++)
			if (strcmp(r->attrs[i].values[j], v) == 0)
				return true;
	return false;
}

/* §1.6.1: the certificate may go to the SP only when it reveals nothing that is not released. */
static bool cert_reveals_nothing_more(X509 *c, const struct policy_release *r)
{
	if (X509_get_ext_by_NID(c, NID_subject_alt_name, -1) >= 0)
		return false;
	const X509_NAME *n = X509_get_subject_name(c);
	for (int i = 0; i < X509_NAME_entry_count(n); i++) {
		const X509_NAME_ENTRY *ne = X509_NAME_get_entry(n, i);
		if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne)) == NID_countryName)
			continue;
		unsigned char *u = NULL;
		if (ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(ne)) < 0)
			return false;
		bool ok = value_released(r, (const char *)u);
		OPENSSL_free(u);
		if (!ok)
			return false;
	}
	return true;
}

static void bn_child(struct bld *b, xmlNodePtr parent, xmlNsPtr ns, const char *name, EVP_PKEY *k, const char *param)
{
	BIGNUM *bn = NULL;
	if (b->failed)
		return;
	if (EVP_PKEY_get_bn_param(k, param, &bn) != 1) {
		bad(b, "cannot read the card's RSA key");
		return;
	}
	int len = BN_num_bytes(bn);
	unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
	char *s = NULL;
	if (buf != NULL && BN_bn2bin(bn, buf) == len)
		s = b64_encode(buf, (size_t)len);
	if (s == NULL)
		bad(b, "out of memory");
	else
		el(b, parent, ns, name, s);
	free(s);
	free(buf);
	BN_free(bn);
}

/* ds:KeyValue with the card's public key (RSAKeyValue, or dsig11:ECKeyValue). */
static void key_value(struct bld *b, xmlNodePtr ki, xmlNsPtr ds, X509 *cert)
{
	EVP_PKEY *k = X509_get0_pubkey(cert);
	xmlNodePtr kv = el(b, ki, ds, "KeyValue", NULL);
	if (b->failed)
		return;
	if (k != NULL && EVP_PKEY_is_a(k, "RSA")) {
		xmlNodePtr rk = el(b, kv, ds, "RSAKeyValue", NULL);
		bn_child(b, rk, ds, "Modulus", k, OSSL_PKEY_PARAM_RSA_N);
		bn_child(b, rk, ds, "Exponent", k, OSSL_PKEY_PARAM_RSA_E);
		return;
	}
	char group[64];
	unsigned char pub[200];
	size_t glen = 0, plen = 0;
	if (k == NULL || !EVP_PKEY_is_a(k, "EC") ||
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen) != 1 ||
	    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, sizeof pub, &plen) != 1) {
		bad(b, "the card's key is neither RSA nor a named-curve EC key");
		return;
	}
	int nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = OBJ_ln2nid(group);
	char oid[80] = "urn:oid:";
	if (nid == NID_undef || OBJ_obj2txt(oid + 8, (int)sizeof oid - 8, OBJ_nid2obj(nid), 1) <= 0) {
		bad(b, "unknown curve of the card's key");
		return;
	}
	xmlNodePtr ek = el(b, kv, NULL, "ECKeyValue", NULL);
	if (b->failed)
		return;
	xmlNsPtr d11 = xmlNewNs(ek, BAD_CAST NS_DSIG11, BAD_CAST "dsig11");
	xmlSetNs(ek, d11);
	xmlNodePtr nc = el(b, ek, d11, "NamedCurve", NULL);
	attr(b, nc, "URI", oid);
	char *s = b64_encode(pub, plen);
	if (s == NULL)
		bad(b, "out of memory");
	el(b, ek, d11, "PublicKey", s);
	free(s);
}

static void hok_key_info(struct bld *b, xmlNodePtr scd, X509 *cert, const struct policy_release *rel)
{
	xmlNodePtr ki = el(b, scd, NULL, "KeyInfo", NULL);
	if (b->failed)
		return;
	xmlNsPtr ds = xmlNewNs(ki, BAD_CAST NS_DS, BAD_CAST "ds");
	xmlSetNs(ki, ds);
	if (cert_reveals_nothing_more(cert, rel)) {
		unsigned char *der = NULL;
		int len = i2d_X509(cert, &der);
		char *s = len > 0 ? b64_encode(der, (size_t)len) : NULL;
		OPENSSL_free(der);
		if (s == NULL) {
			bad(b, "cannot encode the card certificate");
			return;
		}
		xmlNodePtr xd = el(b, ki, ds, "X509Data", NULL);
		el(b, xd, ds, "X509Certificate", s);
		free(s);
	} else {
		key_value(b, ki, ds, cert);
	}
}

static void attribute(struct bld *b, xmlNodePtr stmt, const char *name, const char *friendly, char *const *values,
		      size_t n)
{
	xmlNodePtr a = el(b, stmt, b->saml, "Attribute", NULL);
	attr(b, a, "Name", name);
	attr(b, a, "NameFormat", ATTR_NAME_FORMAT_URI);
	if (friendly != NULL)
		attr(b, a, "FriendlyName", friendly);
	for (size_t i = 0; i < n; i++) {
		xmlNodePtr v = el(b, a, b->saml, "AttributeValue", values[i]);
		if (v != NULL && !b->failed && xmlNewNsProp(v, b->xsi, BAD_CAST "type", BAD_CAST "xs:string") == NULL)
			bad(b, "out of memory");
	}
}

int idp_assertion_build(const struct idp_assertion_in *in, xmlDocPtr *doc_out, char id_out[IDP_ID_LEN], efos_err *e)
{
	*doc_out = NULL;
	const struct idp_authn_request *req = in->req;
	const struct idp_subject *subj = in->subj;
	if (in->idp_entity_id == NULL || req == NULL || subj == NULL || in->nameid == NULL || req->id == NULL ||
	    req->issuer == NULL || req->acs_url == NULL)
		return efos_fail(e, EFOS_E_INVALID, "assertion: entityID, request (ID, Issuer, ACS), subject and NameID are required");
	const char *loa = req->chosen_loa ? req->chosen_loa : subj->loa;
	if (loa == NULL)
		return efos_fail(e, EFOS_E_INVALID, "assertion: no LoA");
	if (subj->client_address == NULL || subj->authn_instant == 0)
		return efos_fail(e, EFOS_E_INVALID, "assertion: the client address and the authentication instant are required");
	if (req->hok && subj->card_cert == NULL)
		return efos_fail(e, EFOS_E_INVALID, "assertion: holder-of-key needs the card certificate");
	if (idp_new_id(id_out, e) < 0)
		return -1;

	time_t now = in->now ? in->now : time(NULL);
	int life = in->lifetime_s > 0 ? in->lifetime_s : IDP_ASSERTION_DEFAULT_LIFETIME_S;
	struct bld b = { .e = e };
	b.doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = b.doc ? xmlNewDocNode(b.doc, NULL, BAD_CAST "Assertion", NULL) : NULL;
	if (root == NULL) {
		xmlFreeDoc(b.doc);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	xmlDocSetRootElement(b.doc, root);
	b.saml = xmlNewNs(root, BAD_CAST SAML_NS_ASSERTION, BAD_CAST "saml");
	xmlNsPtr xs = xmlNewNs(root, BAD_CAST NS_XS, BAD_CAST "xs");
	b.xsi = xmlNewNs(root, BAD_CAST NS_XSI, BAD_CAST "xsi");
	if (b.saml == NULL || xs == NULL || b.xsi == NULL)
		bad(&b, "out of memory");
	xmlSetNs(root, b.saml);
	attr(&b, root, "ID", id_out);
	attr(&b, root, "Version", "2.0");
	time_attr(&b, root, "IssueInstant", now);

	el(&b, root, b.saml, "Issuer", in->idp_entity_id);

	/* Subject */
	xmlNodePtr subject = el(&b, root, b.saml, "Subject", NULL);
	xmlNodePtr nid = el(&b, subject, b.saml, "NameID", in->nameid->value);
	attr(&b, nid, "Format", in->nameid->format);
	if (in->nameid->name_qualifier)
		attr(&b, nid, "NameQualifier", in->nameid->name_qualifier);
	if (in->nameid->sp_name_qualifier)
		attr(&b, nid, "SPNameQualifier", in->nameid->sp_name_qualifier);
	xmlNodePtr sc = el(&b, subject, b.saml, "SubjectConfirmation", NULL);
	attr(&b, sc, "Method", req->hok ? SAML_CM_HOK : SAML_CM_BEARER);
	xmlNodePtr scd = el(&b, sc, b.saml, "SubjectConfirmationData", NULL);
	if (req->hok && scd != NULL && !b.failed &&
	    xmlNewNsProp(scd, b.xsi, BAD_CAST "type", BAD_CAST "saml:KeyInfoConfirmationDataType") == NULL)
		bad(&b, "out of memory");
	time_attr(&b, scd, "NotOnOrAfter", now + life);
	attr(&b, scd, "Recipient", req->acs_url);
	attr(&b, scd, "InResponseTo", req->id);
	attr(&b, scd, "Address", subj->client_address);
	if (req->hok)
		hok_key_info(&b, scd, subj->card_cert, in->attrs);

	/* Conditions */
	xmlNodePtr cond = el(&b, root, b.saml, "Conditions", NULL);
	time_attr(&b, cond, "NotBefore", now - IDP_ASSERTION_NOT_BEFORE_SKEW_S);
	time_attr(&b, cond, "NotOnOrAfter", now + life);
	xmlNodePtr ar = el(&b, cond, b.saml, "AudienceRestriction", NULL);
	el(&b, ar, b.saml, "Audience", req->issuer);

	/* AuthnStatement */
	xmlNodePtr as = el(&b, root, b.saml, "AuthnStatement", NULL);
	time_attr(&b, as, "AuthnInstant", subj->authn_instant);
	if (in->session_index != NULL)
		attr(&b, as, "SessionIndex", in->session_index);
	xmlNodePtr ac = el(&b, as, b.saml, "AuthnContext", NULL);
	el(&b, ac, b.saml, "AuthnContextClassRef", loa);

	/* AttributeStatement: the release, then signMessageDigest and sad */
	size_t nattr = (in->attrs ? in->attrs->n_attrs : 0) + (in->sign_message_digest != NULL) + (in->sad != NULL);
	if (nattr > 0) {
		xmlNodePtr st = el(&b, root, b.saml, "AttributeStatement", NULL);
		for (size_t i = 0; in->attrs != NULL && i < in->attrs->n_attrs; i++) {
			const struct policy_attr *pa = &in->attrs->attrs[i];
			attribute(&b, st, pa->name, pa->friendly_name, pa->values, pa->n_values);
		}
		if (in->sign_message_digest != NULL) {
			char *v[1] = { (char *)in->sign_message_digest };
			attribute(&b, st, ATTR_SIGN_MESSAGE_DIGEST, "signMessageDigest", v, 1);
		}
		if (in->sad != NULL) {
			char *v[1] = { (char *)in->sad };
			attribute(&b, st, ATTR_SAD, "sad", v, 1);
		}
	}
	if (b.failed) {
		xmlFreeDoc(b.doc);
		return -1;
	}
	*doc_out = b.doc;
	return 0;
}
