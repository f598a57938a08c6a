/* XAdES baseline B seal signatures (xades.h).
 *
 * The signature is built as a libxml2 tree (never by pasting strings, so every value is
 * escaped), in the document for enveloped or as the root of a new one otherwise; then
 * hsm_xmldsig_sign[_detached]() digests the references with EFOS's exclusive c14n and signs
 * SignedInfo in the HSM. Documents are parsed only with xml_parse_untrusted() (no DTD, bounded).
 *
 * The Ids are "<sig id>", "<sig id>-ref0", "<sig id>-signedprops", "<sig id>-doc" and
 * "<sig id>-sigvalue" with a random sig id; a document that already uses one is refused, since
 * a verifier could then resolve "#<id>" to the wrong element. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/tree.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include "core/base64.h"
#include "core/xml.h"
#include "core/xml_c14n.h"
#include "hsm/bridge.h"
#include "hsm/hsm.h"
#include "signer/xades.h"
#include "signer/xades_internal.h"

#define MAX_CHAIN 10

/* XML documents given to sign: bigger and deeper than protocol messages, comments allowed
 * (c14n leaves them out of the digest; they stay in the document). */
static const struct xml_limits doc_limits = {
	.max_bytes = XADES_MAX_DOCUMENT,
	.max_depth = 256,
	.max_nodes = 2000000,
	.allow_comments = true,
};

void xades_result_free(struct xades_result *r)
{
	if (r == NULL)
		return;
	free(r->xml);
	r->xml = NULL;
	r->xml_len = 0;
}

static const char *sig_method_uri(struct hsm_key *k, const EVP_MD *md)
{
	bool ec = hsm_key_kind(k) == HSM_KEY_EC;
	switch (EVP_MD_get_type(md)) {
	case NID_sha384:
		return ec ? "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
			  : "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
	case NID_sha512:
		return ec ? "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
			  : "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
	default:
		return ec ? "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
			  : "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
	}
}

/* True when any ID-like attribute (ID, Id, id, xml:id) in the subtree of n has a value that
 * starts with prefix: our Ids all do. */
static bool uses_id_prefix(xmlNodePtr n, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (xmlAttrPtr a = n->properties; a != NULL; a = a->next) {
			if (xmlStrcasecmp(a->name, BAD_CAST "id") != 0)
				continue;
			xmlChar *v = xmlNodeGetContent((xmlNodePtr)a);
			bool clash = v != NULL && strncmp((const char *)v, prefix, pl) == 0;
			xmlFree(v);
			if (clash)
				return true;
		}
		if (uses_id_prefix(n->children, prefix))
			return true;
	}
	return false;
}

/* An ASCII NCName short enough for our derived Ids. */
static bool valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 40 || !(isalpha((unsigned char)id[0]) || id[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '.' && id[i] != '_' && id[i] != '-')
			return false;
	return true;
}

static int parse_document(const struct xades_params *p, xmlDocPtr *out, efos_err *e)
{
	if (xml_parse_untrusted((const char *)p->document, p->document_len, &doc_limits, out, e) != 0)
		return efos_wrap(e, "the document is not XML that EFOS signs");
	if (xmlDocGetRootElement(*out) == NULL) {
		xmlFreeDoc(*out);
		*out = NULL;
		return efos_fail(e, EFOS_E_INVALID, "the document has no root element");
	}
	return 0;
}

static const char *md_name(const EVP_MD *md)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha384: return "sha384";
	case NID_sha512: return "sha512";
	default: return "sha256";
	}
}

static int check_params(const struct xades_signer *s, const struct xades_params *p, const EVP_MD *md,
			efos_err *e)
{
	if (s == NULL || s->cert == NULL || s->key == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "XAdES: no signer key or certificate");
	if (xades_digest_uri(md) == NULL)
		return efos_fail(e, EFOS_E_INVALID, "XAdES: the digest algorithm must be sha256, sha384 or sha512");
	if (p->digest != NULL) {
		if (p->packaging != XADES_DETACHED || p->document != NULL)
			return efos_fail(e, EFOS_E_INVALID, "a hash-only request (a digest instead of the document) "
					 "can only make a detached signature");
		if (p->digest_len != (size_t)EVP_MD_get_size(md))
			return efos_fail(e, EFOS_E_INVALID, "the digest is %zu bytes long; a %s digest is %d bytes",
					 p->digest_len, md_name(md), EVP_MD_get_size(md));
	} else if (p->document == NULL) {
		return efos_fail(e, EFOS_E_INVALID, "give the document (or, for a detached signature, its digest)");
	}
	if (p->document != NULL && p->document_len > XADES_MAX_DOCUMENT)
		return efos_fail(e, EFOS_E_TOOBIG, "the document is larger than %u bytes", XADES_MAX_DOCUMENT);
	if (p->packaging == XADES_DETACHED) {
		const char *u = p->reference_uri;
		if (u == NULL || u[0] == '\0')
			return efos_fail(e, EFOS_E_INVALID, "a detached signature needs the document's name or URI "
					 "(reference_uri) to put in its Reference");
		if (u[0] == '#' || strlen(u) > 1024)
			return efos_fail(e, EFOS_E_INVALID, "reference_uri must name the document outside the signature "
					 "(not a \"#fragment\"), at most 1024 characters");
		for (const char *c = u; *c; c++)
			if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '"' || *c == '<' || *c == '>' ||
			    *c == '\\' || *c == '^' || *c == '`' || *c == '{' || *c == '|' || *c == '}')
				return efos_fail(e, EFOS_E_INVALID, "reference_uri is not a URI reference (spaces and "
						 "the characters \"<>\\^`{|} must be percent-encoded)");
	}
	if (p->mime_type != NULL) {
		size_t n = strlen(p->mime_type);
		if (n == 0 || n > 127 || strchr(p->mime_type, '/') == NULL)
			return efos_fail(e, EFOS_E_INVALID, "mime_type must look like type/subtype (at most 127 characters)");
		for (const char *c = p->mime_type; *c; c++)
			if ((unsigned char)*c < ' ' || (unsigned char)*c > '~')
				return efos_fail(e, EFOS_E_INVALID, "mime_type must be printable ASCII");
	}
	return 0;
}

static xmlNodePtr add_alg(xmlNodePtr parent, xmlNsPtr ds, const char *name, const char *alg)
{
	xmlNodePtr n = xmlNewChild(parent, ds, BAD_CAST name, NULL);
	if (n != NULL && xmlNewProp(n, BAD_CAST "Algorithm", BAD_CAST alg) == NULL)
		return NULL;
	return n;
}

/* ds:Reference with DigestMethod and an empty (or given) DigestValue. */
static xmlNodePtr add_reference(xmlNodePtr si, xmlNsPtr ds, const char *id, const char *type, const char *uri,
				const char *const *transforms, const char *digest_uri, const char *digest_b64)
{
	xmlNodePtr r = xmlNewChild(si, ds, BAD_CAST "Reference", NULL);
	if (r == NULL || (id && !xmlNewProp(r, BAD_CAST "Id", BAD_CAST id)) ||
	    (type && !xmlNewProp(r, BAD_CAST "Type", BAD_CAST type)) || !xmlNewProp(r, BAD_CAST "URI", BAD_CAST uri))
		return NULL;
	if (transforms != NULL && transforms[0] != NULL) {
		xmlNodePtr ts = xmlNewChild(r, ds, BAD_CAST "Transforms", NULL);
		for (size_t i = 0; ts != NULL && transforms[i] != NULL; i++)
			if (add_alg(ts, ds, "Transform", transforms[i]) == NULL)
				return NULL;
		if (ts == NULL)
			return NULL;
	}
	if (add_alg(r, ds, "DigestMethod", digest_uri) == NULL ||
	    xmlNewTextChild(r, ds, BAD_CAST "DigestValue", BAD_CAST digest_b64) == NULL)
		return NULL;
	return r;
}

static int add_cert(xmlNodePtr x509data, xmlNsPtr ds, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	char *b64 = n > 0 ? b64_encode(der, (size_t)n) : NULL;
	OPENSSL_free(der);
	int rc = b64 != NULL && xmlNewTextChild(x509data, ds, BAD_CAST "X509Certificate", BAD_CAST b64) != NULL ? 0 : -1;
	free(b64);
	return rc;
}

static void xsd_datetime(time_t t, char *out, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ds:Object/xades:QualifyingProperties for the signature sig_id. */
static int add_qualifying_properties(xmlDocPtr doc, xmlNodePtr sig, xmlNsPtr ds, const struct xades_signer *s,
				     const struct xades_params *p, const char *sig_id, const char *mime,
				     efos_err *e)
{
	char target[64], props_id[64], ref_id[64], when[32];
	snprintf(target, sizeof target, "#%s", sig_id);
	snprintf(props_id, sizeof props_id, "%s-signedprops", sig_id);
	snprintf(ref_id, sizeof ref_id, "#%s-ref0", sig_id);
	xsd_datetime(p->signing_time ? p->signing_time : time(NULL), when, sizeof when);

	xmlNodePtr obj = xmlNewChild(sig, ds, BAD_CAST "Object", NULL);
	xmlNodePtr qp = obj ? xmlNewChild(obj, NULL, BAD_CAST "QualifyingProperties", NULL) : NULL;
	xmlNsPtr xa = qp ? xmlNewNs(qp, BAD_CAST XADES_NS, BAD_CAST "xades") : NULL;
	if (xa == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	xmlSetNs(qp, xa);
	xmlNodePtr sp = xmlNewChild(qp, xa, BAD_CAST "SignedProperties", NULL);
	xmlNodePtr ssp = sp ? xmlNewChild(sp, xa, BAD_CAST "SignedSignatureProperties", NULL) : NULL;
	if (!xmlNewProp(qp, BAD_CAST "Target", BAD_CAST target) || ssp == NULL ||
	    !xmlNewProp(sp, BAD_CAST "Id", BAD_CAST props_id) ||
	    xmlNewTextChild(ssp, xa, BAD_CAST "SigningTime", BAD_CAST when) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	xmlNodePtr scv2 = xades_signing_cert_v2(doc, xa, ds, s->cert, e);
	if (scv2 == NULL)
		return -1;
	xmlAddChild(ssp, scv2);
	xmlNodePtr sdop = xmlNewChild(sp, xa, BAD_CAST "SignedDataObjectProperties", NULL);
	xmlNodePtr dof = sdop ? xmlNewChild(sdop, xa, BAD_CAST "DataObjectFormat", NULL) : NULL;
	if (dof == NULL || !xmlNewProp(dof, BAD_CAST "ObjectReference", BAD_CAST ref_id) ||
	    xmlNewTextChild(dof, xa, BAD_CAST "MimeType", BAD_CAST mime) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return 0;
}

/* Builds the ds:Signature in doc (appended to parent, or the root of doc when parent is NULL),
 * everything but the digests and the signature value. */
static xmlNodePtr build_signature(xmlDocPtr doc, xmlNodePtr parent, const struct xades_signer *s,
				  const struct xades_params *p, const EVP_MD *md, const char *sig_id,
				  const char *detached_digest_b64, xmlNodePtr enveloped_xml, efos_err *e)
{
	char id[64], uri[64];
	xmlNodePtr sig = xmlNewDocNode(doc, NULL, BAD_CAST "Signature", NULL);
	xmlNsPtr ds = sig ? xmlNewNs(sig, BAD_CAST XML_NS_DSIG, BAD_CAST "ds") : NULL;
	if (ds == NULL) {
		xmlFreeNode(sig);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory"), NULL;
	}
	xmlSetNs(sig, ds);
	if (parent != NULL)
		xmlAddChild(parent, sig);
	else
		xmlDocSetRootElement(doc, sig);
	const char *digest_uri = xades_digest_uri(md);
	const char *mime = p->mime_type;
	xmlNodePtr si = xmlNewChild(sig, ds, BAD_CAST "SignedInfo", NULL);
	if (si == NULL || !xmlNewProp(sig, BAD_CAST "Id", BAD_CAST sig_id) ||
	    !add_alg(si, ds, "CanonicalizationMethod", XML_ALG_EXC_C14N) ||
	    !add_alg(si, ds, "SignatureMethod", sig_method_uri(s->key, md)))
		goto oom;

	snprintf(id, sizeof id, "%s-ref0", sig_id);
	xmlNodePtr ref = NULL;
	switch (p->packaging) {
	case XADES_ENVELOPED: {
		static const char *const t[] = { XML_ALG_ENVELOPED, XML_ALG_EXC_C14N, NULL };
		ref = add_reference(si, ds, id, NULL, "", t, digest_uri, NULL);
		if (mime == NULL)
			mime = "text/xml";
		break;
	}
	case XADES_ENVELOPING: {
		static const char *const t[] = { XML_ALG_EXC_C14N, NULL };
		snprintf(uri, sizeof uri, "#%s-doc", sig_id);
		ref = add_reference(si, ds, id, NULL, uri, t, digest_uri, NULL);
		if (mime == NULL)
			mime = enveloped_xml ? "text/xml" : "application/octet-stream";
		break;
	}
	case XADES_DETACHED:
		ref = add_reference(si, ds, id, NULL, p->reference_uri, NULL, digest_uri, detached_digest_b64);
		if (mime == NULL)
			mime = "application/octet-stream";
		break;
	}
	if (ref == NULL)
		goto oom;
	static const char *const sp_t[] = { XML_ALG_EXC_C14N, NULL };
	snprintf(uri, sizeof uri, "#%s-signedprops", sig_id);
	if (add_reference(si, ds, NULL, XADES_SIGNED_PROPS_TYPE, uri, sp_t, digest_uri, NULL) == NULL)
		goto oom;

	snprintf(id, sizeof id, "%s-sigvalue", sig_id);
	xmlNodePtr sv = xmlNewChild(sig, ds, BAD_CAST "SignatureValue", NULL);
	xmlNodePtr ki = sv ? xmlNewChild(sig, ds, BAD_CAST "KeyInfo", NULL) : NULL;
	xmlNodePtr xd = ki ? xmlNewChild(ki, ds, BAD_CAST "X509Data", NULL) : NULL;
	if (xd == NULL || !xmlNewProp(sv, BAD_CAST "Id", BAD_CAST id) || add_cert(xd, ds, s->cert) != 0)
		goto oom;
	for (int i = 0; s->chain != NULL && i < sk_X509_num(s->chain) && i < MAX_CHAIN; i++)
		if (add_cert(xd, ds, sk_X509_value(s->chain, i)) != 0)
			goto oom;

	if (p->packaging == XADES_ENVELOPING) {
		snprintf(id, sizeof id, "%s-doc", sig_id);
		xmlNodePtr obj = xmlNewChild(sig, ds, BAD_CAST "Object", NULL);
		if (obj == NULL || !xmlNewProp(obj, BAD_CAST "Id", BAD_CAST id) ||
		    !xmlNewProp(obj, BAD_CAST "MimeType", BAD_CAST mime))
			goto oom;
		if (enveloped_xml != NULL) {
			xmlNodePtr copy = xmlDocCopyNode(enveloped_xml, doc, 1);
			if (copy == NULL || xmlAddChild(obj, copy) == NULL) {
				xmlFreeNode(copy);
				goto oom;
			}
		} else {
			char *b64 = b64_encode(p->document, p->document_len);
			if (b64 == NULL)
				goto oom;
			xmlNodePtr txt = xmlNewDocText(doc, BAD_CAST b64);
			free(b64);
			if (txt == NULL || xmlAddChild(obj, txt) == NULL) {
				xmlFreeNode(txt);
				goto oom;
			}
			if (!xmlNewProp(obj, BAD_CAST "Encoding", BAD_CAST "http://www.w3.org/2000/09/xmldsig#base64"))
				goto oom;
		}
	}
	if (add_qualifying_properties(doc, sig, ds, s, p, sig_id, mime, e) != 0)
		return NULL;
	return sig;
oom:
	efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return NULL;
}

/* The DigestValue of the first Reference (the document's), decoded into out. */
static int read_doc_digest(xmlNodePtr sig, struct xades_result *out, efos_err *e)
{
	xmlNodePtr si = xml_first_element(sig);
	xmlNodePtr r = si ? xml_first_element(si) : NULL;
	while (r != NULL && !xml_is_dsig(r, "Reference"))
		r = xml_next_element(r->next);
	xmlNodePtr dv = r ? r->last : NULL;
	xmlChar *v = xml_is_dsig(dv, "DigestValue") ? xmlNodeGetContent(dv) : NULL;
	int n = v ? EVP_DecodeBlock(out->digest, v, xmlStrlen(v)) : -1;
	size_t pad = v && xmlStrlen(v) >= 2 ? (v[xmlStrlen(v) - 1] == '=') + (v[xmlStrlen(v) - 2] == '=') : 0;
	xmlFree(v);
	if (n <= 0 || (size_t)n < pad)
		return efos_fail(e, EFOS_E_INTERNAL, "XAdES: the document reference has no digest");
	out->digest_len = (size_t)n - pad;
	return 0;
}

/* B-T: the signature timestamp (EN 319 132-1 §5.3): a token over the exclusive c14n of
 * ds:SignatureValue, in QualifyingProperties/UnsignedProperties/UnsignedSignatureProperties. */
static int add_signature_timestamp(xmlDocPtr doc, xmlNodePtr sig, const struct xades_params *p,
				   const EVP_MD *md, const char *sig_id, efos_err *e)
{
	xmlNodePtr sv = NULL, qp = NULL;
	for (xmlNodePtr n = xml_first_element(sig); n != NULL; n = xml_next_element(n->next)) {
		if (xml_is_dsig(n, "SignatureValue"))
			sv = n;
		else if (xml_is_dsig(n, "Object") && xml_first_element(n) != NULL &&
			 xmlStrEqual(xml_first_element(n)->name, BAD_CAST "QualifyingProperties"))
			qp = xml_first_element(n);
	}
	if (sv == NULL || qp == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "XAdES B-T: the signature has no SignatureValue/QualifyingProperties");
	struct xml_node_set ns = { .root = sv, .exclude = NULL, .drop_comments = true };
	xmlOutputBufferPtr ob = NULL;
	if (xml_c14n_exclusive(doc, &ns, NULL, false, &ob, e) != 0)
		return -1;
	unsigned char *token = NULL;
	size_t token_len = 0;
	int rc = p->timestamp(p->timestamp_arg, md, xmlOutputBufferGetContent(ob),
			      (size_t)xmlOutputBufferGetSize(ob), &token, &token_len, e);
	xmlOutputBufferClose(ob);
	if (rc != 0)
		return -1;
	char *b64 = b64_encode(token, token_len);
	free(token);
	char ts_id[64];
	snprintf(ts_id, sizeof ts_id, "%s-sigts", sig_id);
	xmlNsPtr xa = qp->ns, ds = sig->ns;
	xmlNodePtr up = b64 ? xmlNewChild(qp, xa, BAD_CAST "UnsignedProperties", NULL) : NULL;
	xmlNodePtr usp = up ? xmlNewChild(up, xa, BAD_CAST "UnsignedSignatureProperties", NULL) : NULL;
	xmlNodePtr st = usp ? xmlNewChild(usp, xa, BAD_CAST "SignatureTimeStamp", NULL) : NULL;
	xmlNodePtr cm = st ? xmlNewChild(st, ds, BAD_CAST "CanonicalizationMethod", NULL) : NULL;
	rc = cm != NULL && xmlNewProp(st, BAD_CAST "Id", BAD_CAST ts_id) &&
		xmlNewProp(cm, BAD_CAST "Algorithm", BAD_CAST XML_ALG_EXC_C14N) &&
		xmlNewTextChild(st, xa, BAD_CAST "EncapsulatedTimeStamp", BAD_CAST b64) != NULL ? 0
		: efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	free(b64);
	return rc;
}

int xades_sign(const struct xades_signer *s, const struct xades_params *p, struct xades_result *out,
	       efos_err *e)
{
	const EVP_MD *md = p->md ? p->md : EVP_sha256();
	xmlDocPtr doc = NULL, xml_in = NULL;
	char *detached_b64 = NULL;
	xmlChar *buf = NULL;
	int ret = -1, len = 0;
	unsigned char rnd[10];

	memset(out, 0, sizeof *out);
	if (check_params(s, p, md, e) != 0)
		return -1;
	if (p->signature_id != NULL) {
		if (!valid_id(p->signature_id))
			return efos_fail(e, EFOS_E_INVALID, "the signature Id must be an XML name (a letter or _ then "
					 "letters, digits, . _ -), at most 40 characters");
		snprintf(out->sig_id, sizeof out->sig_id, "%s", p->signature_id);
	} else {
		if (RAND_bytes(rnd, sizeof rnd) != 1)
			return efos_fail(e, EFOS_E_INTERNAL, "no randomness for the signature Id");
		strcpy(out->sig_id, "xades-");
		for (size_t i = 0; i < sizeof rnd; i++)
			sprintf(out->sig_id + 6 + 2 * i, "%02x", rnd[i]);
	}

	if (p->packaging == XADES_ENVELOPED || (p->packaging == XADES_ENVELOPING && p->document_is_xml)) {
		if (parse_document(p, &xml_in, e) != 0)
			goto out;
		if (uses_id_prefix(xmlDocGetRootElement(xml_in), out->sig_id)) {
			efos_fail(e, EFOS_E_INVALID, "the document already uses an Id beginning with %s, which this "
				  "signature needs for its own elements; choose another signature Id", out->sig_id);
			goto out;
		}
	}
	if (p->packaging == XADES_DETACHED) {
		unsigned char d[EVP_MAX_MD_SIZE];
		unsigned int dl = 0;
		if (p->digest == NULL) {
			if (EVP_Digest(p->document, p->document_len, d, &dl, md, NULL) != 1) {
				efos_fail(e, EFOS_E_INTERNAL, "XAdES: digest failed");
				goto out;
			}
		} else {
			memcpy(d, p->digest, p->digest_len);
			dl = (unsigned int)p->digest_len;
		}
		if ((detached_b64 = b64_encode(d, dl)) == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
	}

	xmlNodePtr sig;
	if (p->packaging == XADES_ENVELOPED) {
		doc = xml_in;
		xml_in = NULL;
		sig = build_signature(doc, xmlDocGetRootElement(doc), s, p, md, out->sig_id, NULL, NULL, e);
	} else {
		if ((doc = xmlNewDoc(BAD_CAST "1.0")) == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
		sig = build_signature(doc, NULL, s, p, md, out->sig_id, detached_b64,
				      xml_in ? xmlDocGetRootElement(xml_in) : NULL, e);
	}
	if (sig == NULL)
		goto out;
	if ((p->packaging == XADES_DETACHED ? hsm_xmldsig_sign_detached(sig, s->key, e)
					    : hsm_xmldsig_sign(sig, s->key, e)) != 0) {
		efos_wrap(e, "XAdES signature");
		goto out;
	}
	if (read_doc_digest(sig, out, e) != 0)
		goto out;
	if (p->timestamp != NULL) {
		if (add_signature_timestamp(doc, sig, p, md, out->sig_id, e) != 0) {
			efos_wrap(e, "XAdES signature timestamp");
			goto out;
		}
		out->timestamped = true;
	}
	xmlDocDumpMemoryEnc(doc, &buf, &len, "UTF-8");
	if (buf == NULL || len <= 0 || (out->xml = malloc((size_t)len)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(out->xml, buf, (size_t)len);
	out->xml_len = (size_t)len;
	ret = 0;
out:
	xmlFree(buf);
	free(detached_b64);
	xmlFreeDoc(doc);
	xmlFreeDoc(xml_in);
	ERR_clear_error();
	return ret;
}
