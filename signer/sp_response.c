/* The Response from the IdP, checked as spec §1.7 asks: see sp_response.h and the section
 * "The signing service as an SP" in docs/signing-service.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include "core/log.h"
#include "core/saml_md.h"
#include "core/xml.h"
#include "core/xml_c14n.h"
#include "core/xmlenc_aes.h"
#include "hsm/hsm.h"
#include "signer/sp_response.h"

#define NS_SAMLP "urn:oasis:names:tc:SAML:2.0:protocol"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_XENC "http://www.w3.org/2001/04/xmlenc#"
#define NS_XENC11 "http://www.w3.org/2009/xmlenc11#"
#define CM_BEARER "urn:oasis:names:tc:SAML:2.0:cm:bearer"
#define CM_HOK "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
#define XENC_TYPE_ELEMENT "http://www.w3.org/2001/04/xmlenc#Element"
#define XENC_RSA_OAEP_MGF1P "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
#define XENC11_RSA_OAEP "http://www.w3.org/2009/xmlenc11#rsa-oaep"

#define DEFAULT_SKEW_S 60
#define DEFAULT_MAX_AGE_S 300
#define MAX_VALUE (64u * 1024u)       /* one attribute value (a SAD, a certificate) */
#define MAX_SHORT 2048u               /* IDs, URIs, entityIDs, NameIDs */
#define MAX_ATTRS 64
#define MAX_VALUES 32

/* ---- small helpers ----------------------------------------------------------------------- */

static bool is_el(xmlNodePtr n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL && xmlStrEqual(n->ns->href, BAD_CAST ns) &&
	       xmlStrEqual(n->name, BAD_CAST name);
}

#define FOR_CHILD(c, parent) for (xmlNodePtr c = xml_first_element(parent); c != NULL; c = xml_next_element(c->next))

/* An unqualified attribute, bounded, as a malloc'd string; NULL when absent or too long. */
static char *attr_dup(xmlNodePtr n, const char *name)
{
	xmlChar *v = n ? xmlGetNoNsProp(n, BAD_CAST name) : NULL;
	char *s = v != NULL && strlen((const char *)v) <= MAX_SHORT ? strdup((const char *)v) : NULL;
	xmlFree(v);
	return s;
}

/* True when the attribute is present and equals want. */
static bool attr_is(xmlNodePtr n, const char *name, const char *want)
{
	xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
	bool r = v != NULL && want != NULL && strcmp((const char *)v, want) == 0;
	xmlFree(v);
	return r;
}

/* Strict text content (no comments, no child elements), XML whitespace trimmed, at most max
 * bytes; NULL with e set. */
static char *text_dup(xmlNodePtr n, size_t max, efos_err *e)
{
	xmlChar *t = NULL;
	if (xml_text_content_strict(n, &t, e) != 0)
		return NULL;
	const char *p = (const char *)t, *q;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	q = p + strlen(p);
	while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r' || q[-1] == '\n'))
		q--;
	char *s = NULL;
	if ((size_t)(q - p) > max)
		efos_fail(e, EFOS_E_INVALID, "<%s> is longer than %zu bytes", (const char *)n->name, max);
	else if ((s = strndup(p, (size_t)(q - p))) == NULL)
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	xmlFree(t);
	return s;
}

/* A required xs:dateTime attribute. */
static int time_attr(xmlNodePtr n, const char *name, time_t *out, efos_err *e)
{
	xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
	int rc = v != NULL && saml_md_parse_datetime((const char *)v, out) == 0 ? 0 : -1;
	xmlFree(v);
	if (rc != 0)
		return efos_fail(e, EFOS_E_INVALID, "<%s> has no valid %s", (const char *)n->name, name);
	return 0;
}

/* Strict base64 (RFC 4648 alphabet, '=' only at the end, XML whitespace skipped) into a new
 * buffer; -1 on any error or when the result would exceed max bytes. */
static int b64_decode(const char *in, size_t len, size_t max, unsigned char **out, size_t *outlen)
{
	char *s = malloc(len + 1);
	size_t n = 0;
	*out = NULL;
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		      c == '=')) {
			free(s);
			return -1;
		}
		s[n++] = c;
	}
	size_t pad = 0;
	while (pad < n && pad < 3 && s[n - 1 - pad] == '=')
		pad++;
	bool ok = n > 0 && n % 4 == 0 && pad <= 2 && memchr(s, '=', n - pad) == NULL && n / 4 * 3 - pad <= max;
	unsigned char *d = ok ? malloc(n / 4 * 3 + 1) : NULL;
	int dl = d ? EVP_DecodeBlock(d, (unsigned char *)s, (int)n) : -1;
	free(s);
	if (dl < 0 || (size_t)dl < pad) {
		free(d);
		return -1;
	}
	*outlen = (size_t)dl - pad;
	d[*outlen] = '\0';
	*out = d;
	return 0;
}

/* ---- the result ------------------------------------------------------------------------------ */

void sp_assertion_free(struct sp_assertion *a)
{
	if (a == NULL)
		return;
	free(a->status);
	free(a->sub_status);
	free(a->status_message);
	free(a->id);
	free(a->issuer);
	free(a->loa);
	free(a->name_id);
	for (size_t i = 0; i < a->n_attrs; i++) {
		free(a->attrs[i].name);
		free(a->attrs[i].friendly_name);
		for (size_t j = 0; j < a->attrs[i].n_values; j++)
			free(a->attrs[i].values[j]);
		free(a->attrs[i].values);
	}
	free(a->attrs);
	if (a->xml != NULL)
		efos_wipe(a->xml, a->xml_len);
	free(a->xml);
	free(a);
}

const char *sp_assertion_attr(const struct sp_assertion *a, const char *name)
{
	for (size_t i = 0; a != NULL && name != NULL && i < a->n_attrs; i++)
		if (a->attrs[i].name != NULL && strcmp(a->attrs[i].name, name) == 0 && a->attrs[i].n_values > 0)
			return a->attrs[i].values[0];
	return NULL;
}

/* ---- decryption (the receiving side of idp/xmlenc.c) ----------------------------------------- */

static const struct {
	const char *uri;
	const EVP_MD *(*md)(void);
} oaep_digests[] = {
	{ "http://www.w3.org/2000/09/xmldsig#sha1", EVP_sha1 },   /* allowed inside OAEP only (§1.10) */
	{ "http://www.w3.org/2001/04/xmlenc#sha256", EVP_sha256 },
	{ "http://www.w3.org/2001/04/xmldsig-more#sha384", EVP_sha384 },
	{ "http://www.w3.org/2001/04/xmlenc#sha512", EVP_sha512 },
}, mgfs[] = {
	{ "http://www.w3.org/2009/xmlenc11#mgf1sha1", EVP_sha1 },
	{ "http://www.w3.org/2009/xmlenc11#mgf1sha256", EVP_sha256 },
	{ "http://www.w3.org/2009/xmlenc11#mgf1sha384", EVP_sha384 },
	{ "http://www.w3.org/2009/xmlenc11#mgf1sha512", EVP_sha512 },
};

static const struct {
	const char *uri;
	const EVP_CIPHER *(*cipher)(void);
	bool gcm;
} data_algs[] = {
	{ "http://www.w3.org/2009/xmlenc11#aes128-gcm", EVP_aes_128_gcm, true },
	{ "http://www.w3.org/2009/xmlenc11#aes256-gcm", EVP_aes_256_gcm, true },
	{ "http://www.w3.org/2001/04/xmlenc#aes128-cbc", EVP_aes_128_cbc, false },
	{ "http://www.w3.org/2001/04/xmlenc#aes256-cbc", EVP_aes_256_cbc, false },
};

#define N(a) (sizeof (a) / sizeof (a)[0])

/* The Algorithm of the xenc:EncryptionMethod child of n, or NULL. */
static xmlNodePtr enc_method(xmlNodePtr n)
{
	FOR_CHILD(c, n)
		if (is_el(c, NS_XENC, "EncryptionMethod"))
			return c;
	return NULL;
}

/* The decoded xenc:CipherData/xenc:CipherValue of n. */
static int cipher_value(xmlNodePtr n, size_t max, unsigned char **out, size_t *outlen, efos_err *e)
{
	xmlNodePtr cd = NULL, cv = NULL;
	if (xml_find_unique_child(n, NS_XENC, "CipherData", &cd, e) != 0 ||
	    xml_find_unique_child(cd, NS_XENC, "CipherValue", &cv, e) != 0)
		return efos_wrap(e, "EncryptedAssertion");
	char *t = text_dup(cv, 4 * max / 3 + 1024, e);
	if (t == NULL)
		return -1;
	int rc = b64_decode(t, strlen(t), max, out, outlen);
	free(t);
	return rc == 0 ? 0 : efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: a CipherValue is not base64");
}

/* The session key: xenc:EncryptedKey (in ds:KeyInfo of EncryptedData, or beside it) unwrapped
 * with RSA-OAEP through the HSM. */
static int unwrap_key(xmlNodePtr ea, xmlNodePtr ed, struct hsm_key *k, unsigned char *key, size_t *klen, bool *crypto,
		      efos_err *e)
{
	xmlNodePtr ek = NULL;
	FOR_CHILD(c, ed)
		if (xml_is_dsig(c, "KeyInfo"))
			FOR_CHILD(d, c)
				if (is_el(d, NS_XENC, "EncryptedKey") && ek == NULL)
					ek = d;
	if (ek == NULL)
		FOR_CHILD(c, ea)
			if (is_el(c, NS_XENC, "EncryptedKey") && ek == NULL)
				ek = c;
	if (ek == NULL)
		return efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: no xenc:EncryptedKey");
	xmlNodePtr em = enc_method(ek);
	const EVP_MD *oaep = EVP_sha1(), *mgf = EVP_sha1();
	bool xenc11 = em != NULL && attr_is(em, "Algorithm", XENC11_RSA_OAEP);
	if (em == NULL || (!xenc11 && !attr_is(em, "Algorithm", XENC_RSA_OAEP_MGF1P)))
		return efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: the key transport is not RSA-OAEP "
				 "(xmlenc#rsa-oaep-mgf1p or xmlenc11#rsa-oaep); RSA PKCS#1 v1.5 is refused");
	FOR_CHILD(c, em) {
		if (xml_is_dsig(c, "DigestMethod")) {
			const EVP_MD *m = NULL;
			for (size_t i = 0; i < N(oaep_digests); i++)
				if (attr_is(c, "Algorithm", oaep_digests[i].uri))
					m = oaep_digests[i].md();
			if (m == NULL)
				return efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: unsupported OAEP DigestMethod");
			oaep = m;
		} else if (xenc11 && is_el(c, NS_XENC11, "MGF")) {
			const EVP_MD *m = NULL;
			for (size_t i = 0; i < N(mgfs); i++)
				if (attr_is(c, "Algorithm", mgfs[i].uri))
					m = mgfs[i].md();
			if (m == NULL)
				return efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: unsupported OAEP MGF");
			mgf = m;
		}
	}
	unsigned char *wk = NULL, *buf = NULL;
	size_t wklen = 0, outlen = 0;
	int ret = -1;
	if (cipher_value(ek, 1024, &wk, &wklen, e) != 0)
		return -1;
	*crypto = true;   /* from here on, failures must all look alike (see sp_response_process) */
	if (wklen != hsm_sig_max_len(k)) {
		efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: the wrapped key is not encrypted for our key (size)");
		goto out;
	}
	if ((buf = malloc(hsm_sig_max_len(k))) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (hsm_decrypt_oaep(k, oaep, mgf, wk, wklen, buf, &outlen, e) != 0) {
		if (e != NULL && e->code != EFOS_E_UNAVAILABLE)
			efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: the key could not be unwrapped with our "
				  "encryption key (encrypted for another key?)");
		goto out;
	}
	if (outlen > 32 || outlen > *klen) {
		efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: the unwrapped key has the wrong size");
		goto out;
	}
	memcpy(key, buf, outlen);
	*klen = outlen;
	ret = 0;
out:
	if (buf != NULL) {
		efos_wipe(buf, hsm_sig_max_len(k));
		free(buf);
	}
	free(wk);
	return ret;
}

/* AES-GCM (IV 12 || ct || tag 16) or AES-CBC (IV 16 || ct, XML-Enc padding). */
static int decrypt_data(int alg, const unsigned char *key, size_t klen, const unsigned char *in, size_t len,
			unsigned char **out, size_t *outlen, efos_err *e)
{
	const EVP_CIPHER *c = data_algs[alg].cipher();
	bool gcm = data_algs[alg].gcm;
	*out = NULL;
	if ((size_t)EVP_CIPHER_get_key_length(c) != klen)
		return efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: the key size does not match %s", data_algs[alg].uri);
	if (len < (gcm ? 12 + 16 + 1 : 16 + 16) || (!gcm && (len - 16) % 16 != 0))
		return efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: the ciphertext is too short or misaligned");
	switch (xmlenc_aes_decrypt(c, gcm, key, in, len, out, outlen)) {
	case XMLENC_AES_OK:
		return 0;
	case XMLENC_AES_OOM:
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	default:
		return efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: decryption failed (tampered or wrong key)");
	}
}

static int decrypt_assertion(xmlNodePtr ea, struct hsm_key *k, unsigned char **out, size_t *outlen, bool *crypto,
			     efos_err *e)
{
	xmlNodePtr ed = NULL;
	unsigned char key[32], *ct = NULL;
	size_t klen = sizeof key, ctlen = 0;
	int ret = -1;
	*out = NULL;
	if (k == NULL)
		return efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: no decryption key is configured here");
	if (xml_find_unique_child(ea, NS_XENC, "EncryptedData", &ed, e) != 0)
		return efos_wrap(e, "EncryptedAssertion");
	xmlChar *type = xmlGetNoNsProp(ed, BAD_CAST "Type");
	bool type_ok = type == NULL || strcmp((const char *)type, XENC_TYPE_ELEMENT) == 0;
	xmlFree(type);
	if (!type_ok)
		return efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: EncryptedData/@Type is not xmlenc#Element");
	xmlNodePtr em = enc_method(ed);
	int alg = -1;
	for (size_t i = 0; em != NULL && i < N(data_algs); i++)
		if (attr_is(em, "Algorithm", data_algs[i].uri))
			alg = (int)i;
	if (alg < 0)
		return efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: the data algorithm is not AES-128/256-GCM or "
				 "AES-128/256-CBC");
	if (unwrap_key(ea, ed, k, key, &klen, crypto, e) != 0)
		goto out;
	if (cipher_value(ed, XML_LIMITS_MESSAGE_BYTES, &ct, &ctlen, e) != 0)
		goto out;
	ret = decrypt_data(alg, key, klen, ct, ctlen, out, outlen, e);
out:
	efos_wipe(key, sizeof key);
	free(ct);
	return ret;
}

/* ---- the Assertion ----------------------------------------------------------------------------- */

struct ctx {
	const struct sig_idp *idp;
	const struct sp_expect *x;
	time_t now;
	int skew;
	struct sp_assertion *a;
	efos_err *e;
};

static int read_attributes(xmlNodePtr st, struct ctx *c)
{
	struct sp_assertion *a = c->a;
	FOR_CHILD(at, st) {
		if (!is_el(at, NS_SAML, "Attribute"))
			continue;   /* EncryptedAttribute: not sent to us, ignored */
		if (a->n_attrs >= MAX_ATTRS)
			return efos_fail(c->e, EFOS_E_INVALID, "assertion: more than %d attributes", MAX_ATTRS);
		struct dss_attr *na = realloc(a->attrs, (a->n_attrs + 1) * sizeof *na);
		if (na == NULL)
			return efos_fail(c->e, EFOS_E_INTERNAL, "out of memory");
		a->attrs = na;
		struct dss_attr *d = &a->attrs[a->n_attrs++];
		*d = (struct dss_attr){ .name = attr_dup(at, "Name"), .friendly_name = attr_dup(at, "FriendlyName") };
		if (d->name == NULL)
			return efos_fail(c->e, EFOS_E_INVALID, "assertion: an Attribute without a Name");
		FOR_CHILD(v, at) {
			if (!is_el(v, NS_SAML, "AttributeValue"))
				continue;
			if (d->n_values >= MAX_VALUES)
				return efos_fail(c->e, EFOS_E_INVALID, "assertion: attribute %s has more than %d values",
						 d->name, MAX_VALUES);
			char **nv = realloc(d->values, (d->n_values + 1) * sizeof *nv);
			if (nv == NULL)
				return efos_fail(c->e, EFOS_E_INTERNAL, "out of memory");
			d->values = nv;
			if ((d->values[d->n_values] = text_dup(v, MAX_VALUE, c->e)) == NULL)
				return efos_wrap(c->e, "assertion: attribute %s", d->name);
			d->n_values++;
		}
	}
	return 0;
}

/* Subject: the NameID and one SubjectConfirmation (bearer or holder-of-key) whose data fits. */
static int check_subject(xmlNodePtr subj, struct ctx *c, time_t *scd_noa)
{
	xmlNodePtr nid = NULL;
	if (xml_find_unique_child(subj, NS_SAML, "NameID", &nid, c->e) != 0)
		return efos_wrap(c->e, "assertion Subject");
	if ((c->a->name_id = text_dup(nid, MAX_SHORT, c->e)) == NULL)
		return efos_wrap(c->e, "assertion NameID");
	char why[200] = "no SubjectConfirmation";
	FOR_CHILD(sc, subj) {
		if (!is_el(sc, NS_SAML, "SubjectConfirmation"))
			continue;
		if (!attr_is(sc, "Method", CM_BEARER) && !attr_is(sc, "Method", CM_HOK)) {
			snprintf(why, sizeof why, "SubjectConfirmation Method is neither bearer nor holder-of-key");
			continue;
		}
		xmlNodePtr scd = NULL;
		FOR_CHILD(d, sc)
			if (is_el(d, NS_SAML, "SubjectConfirmationData"))
				scd = d;
		time_t noa = 0, nb = 0;
		efos_err te = { 0 };
		if (scd == NULL || time_attr(scd, "NotOnOrAfter", &noa, &te) != 0) {
			snprintf(why, sizeof why, "SubjectConfirmationData without NotOnOrAfter");
			continue;
		}
		if (noa <= c->now - c->skew) {
			snprintf(why, sizeof why, "SubjectConfirmationData NotOnOrAfter has passed (the assertion expired)");
			continue;
		}
		if (xmlHasProp(scd, BAD_CAST "NotBefore") != NULL &&
		    (time_attr(scd, "NotBefore", &nb, &te) != 0 || nb > c->now + c->skew)) {
			snprintf(why, sizeof why, "SubjectConfirmationData NotBefore is in the future");
			continue;
		}
		if (!attr_is(scd, "Recipient", c->x->acs_url)) {
			snprintf(why, sizeof why, "SubjectConfirmationData Recipient is not our ACS URL");
			continue;
		}
		if (!attr_is(scd, "InResponseTo", c->x->request_id)) {
			snprintf(why, sizeof why, "SubjectConfirmationData InResponseTo is not our request's ID");
			continue;
		}
		*scd_noa = noa;
		return 0;
	}
	return efos_fail(c->e, EFOS_E_INVALID, "assertion: no acceptable SubjectConfirmation (%s)", why);
}

static int check_conditions(xmlNodePtr cond, struct ctx *c, time_t *noa)
{
	time_t nb = 0;
	if (cond == NULL)
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: no Conditions (an audience is required)");
	if (time_attr(cond, "NotOnOrAfter", noa, c->e) != 0)
		return efos_wrap(c->e, "assertion Conditions");
	if (*noa <= c->now - c->skew)
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: expired (Conditions NotOnOrAfter has passed)");
	if (xmlHasProp(cond, BAD_CAST "NotBefore") != NULL &&
	    (time_attr(cond, "NotBefore", &nb, c->e) != 0 || nb > c->now + c->skew))
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: not yet valid (Conditions NotBefore is in the future)");
	size_t n_ar = 0;
	FOR_CHILD(ar, cond) {
		if (!is_el(ar, NS_SAML, "AudienceRestriction"))
			continue;
		n_ar++;
		bool ours = false;   /* every AudienceRestriction must name us (SAML core §2.5.1.4) */
		FOR_CHILD(au, ar) {
			if (!is_el(au, NS_SAML, "Audience"))
				continue;
			char *v = text_dup(au, MAX_SHORT, c->e);
			if (v == NULL)
				return efos_wrap(c->e, "assertion Audience");
			ours = ours || strcmp(v, c->x->sp_entity_id) == 0;
			free(v);
		}
		if (!ours)
			return efos_fail(c->e, EFOS_E_INVALID, "assertion: the Audience is not our entityID %s",
					 c->x->sp_entity_id);
	}
	if (n_ar == 0)
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: no AudienceRestriction");
	return 0;
}

static int check_authn(xmlNodePtr as, struct ctx *c)
{
	xmlNodePtr ac = NULL, cr = NULL;
	if (time_attr(as, "AuthnInstant", &c->a->authn_instant, c->e) != 0)
		return efos_wrap(c->e, "assertion");
	if (xml_find_unique_child(as, NS_SAML, "AuthnContext", &ac, c->e) != 0 ||
	    xml_find_unique_child(ac, NS_SAML, "AuthnContextClassRef", &cr, c->e) != 0)
		return efos_wrap(c->e, "assertion AuthnStatement");
	if ((c->a->loa = text_dup(cr, MAX_SHORT, c->e)) == NULL)
		return efos_wrap(c->e, "assertion AuthnContextClassRef");
	bool ok = false;
	for (size_t i = 0; i < c->x->n_loas; i++)
		ok = ok || (c->x->loas[i] != NULL && strcmp(c->x->loas[i], c->a->loa) == 0);
	if (c->x->n_loas == 0)   /* §1.7.7: nothing requested: one the IdP declares */
		ok = sig_idp_has_assurance(c->idp, c->a->loa);
	if (!ok)
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: AuthnContextClassRef %s is not one of the requested LoAs",
				 c->a->loa);
	if (c->x->force_authn && c->a->authn_instant < c->x->sent_at - c->skew)
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: AuthnInstant is before the request was sent "
				 "(ForceAuthn was asked for: an old session was reused)");
	return 0;
}

/* The Assertion `as` whose signature (if any) has been checked: everything else of §1.7. */
static int check_assertion(xmlNodePtr as, struct ctx *c)
{
	struct sp_assertion *a = c->a;
	xmlNodePtr issuer = NULL, subj = NULL, cond = NULL, authn = NULL;
	if (!attr_is(as, "Version", "2.0"))
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: Version is not 2.0");
	if ((a->id = attr_dup(as, "ID")) == NULL)
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: no ID");
	if (time_attr(as, "IssueInstant", &a->issue_instant, c->e) != 0)
		return efos_wrap(c->e, "assertion");
	int max_age = c->x->max_age_s > 0 ? c->x->max_age_s : DEFAULT_MAX_AGE_S;
	if (a->issue_instant > c->now + c->skew)
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: IssueInstant is in the future (clock skew?)");
	if (c->now - a->issue_instant > max_age + c->skew)
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: IssueInstant is older than %d s", max_age);
	if (xml_find_unique_child(as, NS_SAML, "Issuer", &issuer, c->e) != 0)
		return efos_wrap(c->e, "assertion");
	if ((a->issuer = text_dup(issuer, MAX_SHORT, c->e)) == NULL)
		return efos_wrap(c->e, "assertion Issuer");
	if (strcmp(a->issuer, c->idp->entity_id) != 0)
		return efos_fail(c->e, EFOS_E_INVALID, "assertion: Issuer %.200s is not the IdP the request went to (%s)",
				 a->issuer, c->idp->entity_id);
	if (xml_find_unique_child(as, NS_SAML, "Subject", &subj, c->e) != 0)
		return efos_wrap(c->e, "assertion");
	FOR_CHILD(ch, as) {
		if (is_el(ch, NS_SAML, "Conditions")) {
			if (cond != NULL)
				return efos_fail(c->e, EFOS_E_INVALID, "assertion: several Conditions");
			cond = ch;
		}
	}
	if (xml_find_unique_child(as, NS_SAML, "AuthnStatement", &authn, c->e) != 0)
		return efos_wrap(c->e, "assertion");
	time_t scd_noa = 0, cond_noa = 0;
	if (check_subject(subj, c, &scd_noa) != 0 || check_conditions(cond, c, &cond_noa) != 0 ||
	    check_authn(authn, c) != 0)
		return -1;
	a->not_on_or_after = scd_noa < cond_noa ? scd_noa : cond_noa;
	FOR_CHILD(st, as)
		if (is_el(st, NS_SAML, "AttributeStatement") && read_attributes(st, c) != 0)
			return -1;
	a->sign_message_digest = sp_assertion_attr(a, SP_ATTR_SIGN_MESSAGE_DIGEST);
	a->sad = sp_assertion_attr(a, SP_ATTR_SAD);
	return 0;
}

/* ---- the Response ------------------------------------------------------------------------------ */

static bool has_signature(xmlNodePtr n)
{
	FOR_CHILD(c, n)
		if (xml_is_dsig(c, "Signature"))
			return true;
	return false;
}

static int read_status(xmlNodePtr root, struct sp_assertion *a, efos_err *e)
{
	xmlNodePtr st = NULL, sc = NULL;
	if (xml_find_unique_child(root, NS_SAMLP, "Status", &st, e) != 0 ||
	    xml_find_unique_child(st, NS_SAMLP, "StatusCode", &sc, e) != 0)
		return efos_wrap(e, "Response");
	if ((a->status = attr_dup(sc, "Value")) == NULL)
		return efos_fail(e, EFOS_E_INVALID, "Response: StatusCode without a Value");
	FOR_CHILD(c, sc)
		if (is_el(c, NS_SAMLP, "StatusCode") && a->sub_status == NULL)
			a->sub_status = attr_dup(c, "Value");
	FOR_CHILD(c, st)
		if (is_el(c, NS_SAMLP, "StatusMessage") && a->status_message == NULL) {
			efos_err te = { 0 };
			a->status_message = text_dup(c, 1024, &te);   /* informative only: dropped when odd */
		}
	return 0;
}

int sp_response_process(const char *saml_response_b64, size_t len, const struct sig_idp *idp,
			struct hsm_key *decrypt_key, const struct sp_expect *x, struct sp_assertion **out,
			efos_err *e)
{
	unsigned char *raw = NULL, *plain = NULL;
	size_t rawlen = 0, plainlen = 0;
	xmlDocPtr doc = NULL, adoc = NULL;
	struct sp_assertion *a = NULL;
	int ret = -1;

	*out = NULL;
	if (saml_response_b64 == NULL || idp == NULL || x == NULL || x->sp_entity_id == NULL || x->acs_url == NULL ||
	    x->request_id == NULL)
		return efos_fail(e, EFOS_E_INVALID, "Response: the message, the IdP and what to expect are all required");
	if (idp->n_signing_keys == 0)
		return efos_fail(e, EFOS_E_INVALID, "Response: IdP %s has no signing key in its metadata", idp->entity_id);
	if (len > SP_RESPONSE_MAX_B64)
		return efos_fail(e, EFOS_E_TOOBIG, "Response: SAMLResponse is larger than %u characters", SP_RESPONSE_MAX_B64);
	struct ctx c = {
		.idp = idp,
		.x = x,
		.now = x->now ? x->now : time(NULL),
		.skew = x->skew_s > 0 ? x->skew_s : DEFAULT_SKEW_S,
		.e = e,
	};
	if ((a = calloc(1, sizeof *a)) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	c.a = a;

	/* 1. decode and parse (bounded, no DTD, no comments) */
	if (b64_decode(saml_response_b64, len, XML_LIMITS_MESSAGE_BYTES, &raw, &rawlen) != 0) {
		efos_fail(e, EFOS_E_INVALID, "Response: SAMLResponse is not base64 (or too large)");
		goto out;
	}
	if (xml_parse_untrusted((const char *)raw, rawlen, NULL, &doc, e) != 0) {
		efos_wrap(e, "Response");
		goto out;
	}
	/* 2. shape, before any signature */
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (!is_el(root, NS_SAMLP, "Response")) {
		efos_fail(e, EFOS_E_INVALID, "Response: the message is not a samlp:Response");
		goto out;
	}
	if (!attr_is(root, "Version", "2.0") || xmlHasProp(root, BAD_CAST "ID") == NULL) {
		efos_fail(e, EFOS_E_INVALID, "Response: Version 2.0 and an ID are required");
		goto out;
	}
	xmlNodePtr one = NULL;
	size_t n_plain = 0, n_enc = 0;
	FOR_CHILD(ch, root) {
		if (is_el(ch, NS_SAML, "Assertion"))
			n_plain++, one = ch;
		else if (is_el(ch, NS_SAML, "EncryptedAssertion"))
			n_enc++, one = ch;
	}
	if (xml_register_ids(doc, xml_id_rules_saml, xml_id_rules_saml_n, e) != 0) {
		efos_wrap(e, "Response");
		goto out;
	}
	/* 3. the Response signature: keys from the IdP's metadata only */
	bool resp_signed = has_signature(root);
	if (resp_signed && xml_dsig_verify_element(root, NULL, idp->signing_keys, idp->n_signing_keys,
						   &xml_dsig_policy_saml, e) == NULL) {
		efos_wrap(e, "Response signature");
		goto out;
	}
	/* 4. Issuer, InResponseTo, Destination of the Response */
	xmlNodePtr riss = NULL;
	FOR_CHILD(ch, root)
		if (is_el(ch, NS_SAML, "Issuer") && riss == NULL)
			riss = ch;
	if (riss != NULL) {
		char *v = text_dup(riss, MAX_SHORT, e);
		bool ok = v != NULL && strcmp(v, idp->entity_id) == 0;
		free(v);
		if (!ok) {
			efos_fail(e, EFOS_E_INVALID, "Response: the Issuer is not the IdP the request went to (%s)", idp->entity_id);
			goto out;
		}
	}
	if (!attr_is(root, "InResponseTo", x->request_id)) {
		efos_fail(e, EFOS_E_INVALID, "Response: InResponseTo does not match our AuthnRequest's ID");
		goto out;
	}
	if ((resp_signed || xmlHasProp(root, BAD_CAST "Destination") != NULL) && !attr_is(root, "Destination", x->acs_url)) {
		efos_fail(e, EFOS_E_INVALID, "Response: Destination is not our ACS URL %s", x->acs_url);
		goto out;
	}
	/* 5. Status */
	if (read_status(root, a, e) != 0)
		goto out;
	if (strcmp(a->status, SP_STATUS_SUCCESS) != 0) {
		if (!resp_signed) {
			efos_fail(e, EFOS_E_AUTH, "Response: an unsigned error Response (status %.200s) is not trusted", a->status);
			goto out;
		}
		if (n_plain + n_enc > 0) {
			efos_fail(e, EFOS_E_INVALID, "Response: an error status with an assertion");
			goto out;
		}
		*out = a;
		a = NULL;
		ret = SP_RESPONSE_STATUS;
		goto out;
	}
	/* 6. exactly one assertion */
	if (n_plain + n_enc != 1) {
		efos_fail(e, EFOS_E_INVALID, "Response: %zu assertions (exactly one EncryptedAssertion is required)",
			  n_plain + n_enc);
		goto out;
	}
	xmlNodePtr as;
	if (n_enc == 1) {
		/* Once the ciphertext is being processed, every failure up to a parsed Assertion gets
		 * the same message: distinct ones (bad OAEP, bad padding, malformed XML) would be the
		 * oracle of the attacks on XML Encryption (Jager-Somorovsky CBC, Bleichenbacher/Manger
		 * key transport) when the Response is not signed. The detail goes to the log. */
		bool crypto = false;
		int drc = decrypt_assertion(one, decrypt_key, &plain, &plainlen, &crypto, e);
		if (drc == 0 && xml_parse_untrusted((const char *)plain, plainlen, NULL, &adoc, e) != 0)
			drc = -1;
		if (drc == 0 && !is_el(xmlDocGetRootElement(adoc), NS_SAML, "Assertion"))
			drc = efos_fail(e, EFOS_E_INVALID, "the decrypted element is not a saml:Assertion");
		if (drc == 0 && xml_register_ids(adoc, xml_id_rules_saml, xml_id_rules_saml_n, e) != 0)
			drc = -1;
		if (drc != 0) {
			if ((crypto || plain != NULL) && e != NULL && e->code != EFOS_E_UNAVAILABLE &&
			    e->code != EFOS_E_INTERNAL) {
				log_info("EncryptedAssertion refused: %s", e->msg);
				efos_fail(e, EFOS_E_INVALID, "EncryptedAssertion: it could not be decrypted with our key into "
					  "one well-formed saml:Assertion (tampered, or encrypted for another key)");
			}
			goto out;
		}
		as = xmlDocGetRootElement(adoc);
		a->xml = plain;
		a->xml_len = plainlen;
		plain = NULL;
	} else {
		as = one;
		if (!has_signature(as)) {
			efos_fail(e, EFOS_E_AUTH, "Response: a plain (unencrypted) Assertion must be signed itself");
			goto out;
		}
		xmlBufferPtr b = xmlBufferCreate();
		if (b == NULL || xmlNodeDump(b, doc, as, 0, 0) < 0 ||
		    (a->xml = malloc((size_t)xmlBufferLength(b) + 1)) == NULL) {
			xmlBufferFree(b);
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
		a->xml_len = (size_t)xmlBufferLength(b);
		memcpy(a->xml, xmlBufferContent(b), a->xml_len);
		a->xml[a->xml_len] = '\0';
		xmlBufferFree(b);
	}
	/* 7. the Assertion signature: verified when present, required when the Response is unsigned */
	if (has_signature(as)) {
		if (xml_dsig_verify_element(as, NULL, idp->signing_keys, idp->n_signing_keys, &xml_dsig_policy_saml, e) ==
		    NULL) {
			efos_wrap(e, "Assertion signature");
			goto out;
		}
	} else if (!resp_signed) {
		efos_fail(e, EFOS_E_AUTH, "Response: neither the Response nor the Assertion is signed");
		goto out;
	}
	/* 8-10. every condition, read from the verified Assertion only */
	if (check_assertion(as, &c) != 0)
		goto out;
	*out = a;
	a = NULL;
	ret = 0;
out:
	sp_assertion_free(a);
	if (plain != NULL) {
		efos_wipe(plain, plainlen);
		free(plain);
	}
	free(raw);
	xmlFreeDoc(adoc);
	xmlFreeDoc(doc);
	return ret;
}
