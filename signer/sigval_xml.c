/* XML-DSig / XAdES signature validation (sigval.h).
 *
 * The document is parsed with core/xml.h (no DTD, bounded); IDs are registered only on the
 * element types that carry them in XML-DSig and XAdES (ds:Object, xades:SignedProperties) and
 * on the root element (Id/ID/id), so a "#id" Reference resolves to one element or to nothing.
 * Every ds:Signature is checked by core/xml_dsig_verify.c's validator entry point with the
 * public key of the first certificate of its KeyInfo: the crypto check first, the trust
 * decision after it, by the certificate's path (certs/). XAdES: the SignedProperties that a
 * verified Reference (Type SignedProperties) resolved to, and only that element, is read:
 * SigningCertificateV2 / SigningCertificate must name the KeyInfo certificate by its digest;
 * SigningTime is reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "core/xml.h"
#include "core/xml_alg.h"
#include "core/xml_c14n.h"
#include "signer/sigval.h"

#define XADES_132 "http://uri.etsi.org/01903/v1.3.2#"
#define MAX_KEYINFO_CERTS 10

static xmlNodePtr child(xmlNodePtr n, const char *ns, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST name) && c->ns != NULL &&
		    xmlStrEqual(c->ns->href, BAD_CAST ns))
			return c;
	return NULL;
}

static void collect_signatures(xmlNodePtr n, xmlNodePtr *out, size_t *k, size_t *total)
{
	for (; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (xml_is_dsig(n, "Signature")) {
			if (*k < SIGVAL_MAX_SIGNATURES)
				out[(*k)++] = n;
			(*total)++;
		}
		collect_signatures(n->children, out, k, total);
	}
}

/* Base64 text of an element into a malloc'd buffer. */
static unsigned char *b64_text(xmlNodePtr n, size_t max, size_t *len)
{
	xmlChar *t = NULL;
	efos_err e = { 0 };
	unsigned char *out = NULL;
	if (xml_text_content_strict(n, &t, &e) < 0)
		return NULL;
	size_t tl = (size_t)xmlStrlen(t);
	if (tl == 0 || tl / 4 * 3 > max || (out = malloc(tl / 4 * 3 + 3)) == NULL)
		goto out;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int n1 = 0, n2 = 0;
	if (ctx == NULL || EVP_DecodeUpdate(ctx, out, &n1, t, (int)tl) < 0 || EVP_DecodeFinal(ctx, out + n1, &n2) != 1) {
		free(out);
		out = NULL;
	} else {
		*len = (size_t)n1 + (size_t)n2;
	}
	EVP_ENCODE_CTX_free(ctx);
out:
	xmlFree(t);
	return out;
}

/* The KeyInfo's X509Certificates, in order. */
static STACK_OF(X509) *keyinfo_certs(xmlNodePtr sig)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	xmlNodePtr ki = child(sig, XML_NS_DSIG, "KeyInfo");
	for (xmlNodePtr xd = ki ? ki->children : NULL; sk != NULL && xd != NULL; xd = xd->next) {
		if (!xml_is_dsig(xd, "X509Data"))
			continue;
		for (xmlNodePtr c = xd->children; c != NULL && sk_X509_num(sk) < MAX_KEYINFO_CERTS; c = c->next) {
			size_t len = 0;
			unsigned char *der;
			if (!xml_is_dsig(c, "X509Certificate") || (der = b64_text(c, 64 * 1024, &len)) == NULL)
				continue;
			const unsigned char *p = der;
			X509 *x = d2i_X509(NULL, &p, (long)len);
			if (x != NULL && !sk_X509_push(sk, x))
				X509_free(x);
			free(der);
		}
	}
	ERR_clear_error();
	return sk;
}

/* Does one xades:Cert of SigningCertificate(V2) carry the digest of cert? */
static int cert_digest_matches(xmlNodePtr signing_cert, X509 *cert, bool *matched)
{
	unsigned char *der = NULL;
	int dl = i2d_X509(cert, &der);
	*matched = false;
	if (dl <= 0)
		return -1;
	for (xmlNodePtr c = signing_cert->children; c != NULL && !*matched; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || !xmlStrEqual(c->name, BAD_CAST "Cert"))
			continue;
		xmlNodePtr cd = child(c, XADES_132, "CertDigest");
		xmlNodePtr dm = cd ? child(cd, XML_NS_DSIG, "DigestMethod") : NULL;
		xmlNodePtr dv = cd ? child(cd, XML_NS_DSIG, "DigestValue") : NULL;
		xmlChar *alg = dm ? xmlGetNoNsProp(dm, BAD_CAST "Algorithm") : NULL;
		const struct xml_digest_alg *da = alg ? xml_digest_alg_find((const char *)alg) : NULL;
		size_t wl = 0;
		unsigned char *want = dv ? b64_text(dv, EVP_MAX_MD_SIZE, &wl) : NULL;
		unsigned char got[EVP_MAX_MD_SIZE];
		unsigned int gl = 0;
		if (da != NULL && want != NULL && EVP_Digest(der, (size_t)dl, got, &gl, da->md(), NULL) == 1 &&
		    gl == wl && CRYPTO_memcmp(got, want, gl) == 0)
			*matched = true;
		free(want);
		xmlFree(alg);
	}
	OPENSSL_free(der);
	return 0;
}

/* XAdES: the SignedProperties that the verified Reference resolved to. */
static int check_xades(const struct xml_dsig_check *chk, X509 *signer, struct sigval_signature *s)
{
	xmlNodePtr sp = NULL;
	for (size_t i = 0; i < chk->n_refs; i++)
		if (chk->refs[i].signed_properties)
			sp = chk->refs[i].target;
	snprintf(s->level, sizeof s->level, "XML-DSig");
	if (sp == NULL)
		return 0;
	if (!xmlStrEqual(sp->name, BAD_CAST "SignedProperties") || sp->ns == NULL ||
	    !xmlStrEqual(sp->ns->href, BAD_CAST XADES_132)) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the SignedProperties Reference does not point at "
			   "a xades:SignedProperties element");
		return 0;
	}
	xmlNodePtr ssp = child(sp, XADES_132, "SignedSignatureProperties");
	xmlNodePtr st = ssp ? child(ssp, XADES_132, "SigningTime") : NULL;
	xmlNodePtr sc = ssp ? child(ssp, XADES_132, "SigningCertificateV2") : NULL;
	if (sc == NULL && ssp != NULL)
		sc = child(ssp, XADES_132, "SigningCertificate");
	if (st != NULL) {
		xmlChar *t = xmlNodeGetContent(st);
		snprintf(s->signing_time, sizeof s->signing_time, "%.31s", t ? (const char *)t : "");
		xmlFree(t);
	}
	if (sc == NULL) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the XAdES SignedProperties have no "
			   "SigningCertificateV2 (XAdES baseline B requires it)");
		return 0;
	}
	bool matched = false;
	if (cert_digest_matches(sc, signer, &matched) != 0)
		return -1;
	if (!matched) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_SIGNING_CERT, "the signed %s does not name the certificate in "
			   "KeyInfo (a substituted certificate)", (const char *)sc->name);
		return 0;
	}
	snprintf(s->level, sizeof s->level, "B-B");
	return 0;
}

static int check_one(const struct sigval_ctx *vc, xmlNodePtr sig, const unsigned char *document, size_t doc_len,
		     struct sigval_signature *s, efos_err *e)
{
	STACK_OF(X509) *certs = keyinfo_certs(sig);
	struct xml_dsig_check chk;
	bool alg_refused = false;
	efos_err ve = { 0 };
	int rc = -1;
	if (certs == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	if (sk_X509_num(certs) == 0) {
		sigval_set(s, SIGVAL_INDETERMINATE, SIGVAL_R_NO_SIGNER_CERT, "the signature's KeyInfo carries no "
			   "X509Certificate");
		rc = 0;
		goto out;
	}
	X509 *signer = sk_X509_value(certs, 0);
	sigval_describe_cert(s, signer);
	EVP_PKEY *key = X509_get0_pubkey(signer);
	if (key == NULL) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_ALGORITHM, "the signer certificate's key cannot be read");
		rc = 0;
		goto out;
	}
	if (xml_dsig_check_signature(sig, key, document, doc_len, &chk, &alg_refused, &ve) != 0) {
		if (ve.code == EFOS_E_INTERNAL) {
			*e = ve;
			goto out;
		}
		sigval_set(s, SIGVAL_INVALID, alg_refused ? SIGVAL_R_ALGORITHM : SIGVAL_R_MALFORMED, "%s", ve.msg);
		rc = 0;
		goto out;
	}
	if (!chk.signature_ok) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_SIG_MISMATCH, "the SignatureValue does not verify with the public "
			   "key of the KeyInfo certificate (SignedInfo was changed, or another key signed)");
		rc = 0;
		goto out;
	}
	bool covers_data = false;
	for (size_t i = 0; i < chk.n_refs; i++) {
		if (!chk.refs[i].digest_ok) {
			sigval_set(s, SIGVAL_INVALID, SIGVAL_R_REF_DIGEST_MISMATCH, "the digest of Reference URI=\"%s\"%s does "
				   "not match: %s was changed after signing", chk.refs[i].uri,
				   chk.refs[i].signed_properties ? " (XAdES SignedProperties)" : "",
				   chk.refs[i].external ? "the document" : chk.refs[i].signed_properties ?
				   "the signed properties" : "the signed content");
			rc = 0;
			goto out;
		}
		covers_data |= !chk.refs[i].signed_properties;
	}
	if (!covers_data) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the signature covers only its own properties, no data");
		rc = 0;
		goto out;
	}
	if (check_xades(&chk, signer, s) != 0) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (s->result == SIGVAL_VALID && sigval_check_cert(vc, s, signer, certs, 0, e) != 0)
		goto out;
	rc = 0;
out:
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/* Does a Reference of sig name an external document? */
static bool is_detached(xmlNodePtr sig)
{
	xmlNodePtr si = child(sig, XML_NS_DSIG, "SignedInfo");
	for (xmlNodePtr r = si ? si->children : NULL; r != NULL; r = r->next) {
		if (!xml_is_dsig(r, "Reference"))
			continue;
		xmlChar *uri = xmlGetNoNsProp(r, BAD_CAST "URI");
		bool ext = uri != NULL && uri[0] != '\0' && uri[0] != '#';
		xmlFree(uri);
		if (ext)
			return true;
	}
	return false;
}

int sigval_xml(const struct sigval_ctx *vc, const unsigned char *xml, size_t len,
	       const unsigned char *document, size_t doc_len, struct sigval_report *r, efos_err *e)
{
	const struct xml_limits lim = { .max_bytes = SIGVAL_MAX_SIGNATURE_BYTES, .max_depth = 64,
					.max_nodes = 400000, .allow_comments = true };
	xmlDocPtr doc = NULL;
	xmlNodePtr sigs[SIGVAL_MAX_SIGNATURES];
	size_t n = 0, total = 0;
	bool any_detached = false;
	int rc = -1;

	snprintf(r->format, sizeof r->format, "xml");
	if (xml_parse_untrusted((const char *)xml, len, &lim, &doc, e) != 0)
		return efos_wrap(e, "the signature is not acceptable XML");
	xmlNodePtr root = xmlDocGetRootElement(doc);
	const char *rns = root->ns ? (const char *)root->ns->href : NULL;
	const struct xml_id_rule rules[] = {
		{ XML_NS_DSIG, "Object", "Id" },
		{ XADES_132, "SignedProperties", "Id" },
		{ rns, (const char *)root->name, "Id" },
		{ rns, (const char *)root->name, "ID" },
		{ rns, (const char *)root->name, "id" },
	};
	if (xml_register_ids(doc, rules, sizeof rules / sizeof rules[0], e) != 0) {
		efos_wrap(e, "the signed XML");
		goto out;
	}
	collect_signatures(root, sigs, &n, &total);
	if (total == 0) {
		efos_fail(e, EFOS_E_INVALID, "the XML document has no ds:Signature: it is not signed");
		goto out;
	}
	if (total > SIGVAL_MAX_SIGNATURES) {
		efos_fail(e, EFOS_E_INVALID, "the XML document has %zu signatures (at most %u)", total, SIGVAL_MAX_SIGNATURES);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		any_detached |= is_detached(sigs[i]);
	if (any_detached && document == NULL) {
		efos_fail(e, EFOS_E_INVALID, "the signature is detached (a Reference names an external document): send "
			  "that document as \"document\"");
		goto out;
	}
	if (!any_detached && document != NULL) {
		efos_fail(e, EFOS_E_INVALID, "no Reference of the signature names an external document: do not send "
			  "\"document\"");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct sigval_signature *s = sigval_report_add(r, e);
		if (s == NULL || check_one(vc, sigs[i], document, doc_len, s, e) != 0)
			goto out;
	}
	sigval_report_finish(r);
	rc = 0;
out:
	xmlFreeDoc(doc);
	return rc;
}
