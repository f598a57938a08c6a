/* hsm_xmldsig_sign(): XML-DSig signing with a key on the token.
 *
 * Debian 12's xmlsec 1.2.37 will not sign with a key whose private half is in a PKCS#11
 * token ("key is not found"). We do not need xmlsec's key machinery for signing: the work
 * is to digest each Reference and to canonicalise SignedInfo, which libxml2's
 * xmlC14NExecute does exactly as xmlsec itself does it (xmlsec calls the same function with
 * a node-set callback). The one private-key operation then goes to the token.
 *
 * Only what SAML and the Swedish eID framework use is accepted, everything else is refused
 * with a message naming it:
 *   CanonicalizationMethod  exc-c14n (with or without comments, InclusiveNamespaces)
 *   SignatureMethod         rsa-sha256/384/512, sha256/384/512-rsa-MGF1 (PSS), ecdsa-sha256/384/512
 *   Reference URI           "" (the whole document) or "#id"; hsm_xmldsig_sign_detached also
 *                           takes a Reference to external data digested by the caller
 *   Transforms              enveloped-signature, then exc-c14n (with InclusiveNamespaces)
 *   DigestMethod            sha256, sha384, sha512 */
#include <string.h>
#include <libxml/c14n.h>
#include <libxml/valid.h>
#include <openssl/evp.h>
#include "core/xml_alg.h"
#include "core/xml_c14n.h"
#include "hsm/bridge.h"
#include "hsm/internal.h"

/* The algorithm tables and the canonicaliser are shared with verification (core/xml_alg.c,
 * core/xml_c14n.c), so what we sign is exactly what core/xml_dsig_verify.c checks. */
static enum hsm_padding padding_of(const struct xml_sig_alg *sa)
{
	switch (sa->kind) {
	case XML_SIG_RSA_PSS:
		return HSM_PAD_PSS;
	case XML_SIG_ECDSA:
		return HSM_PAD_ECDSA;
	case XML_SIG_RSA_PKCS1:
	default:
		return HSM_PAD_PKCS1;
	}
}

/* Algorithm attribute of n (freed by the caller with xmlFree). */
static xmlChar *algorithm(xmlNodePtr n)
{
	return xmlGetNoNsProp(n, BAD_CAST "Algorithm");
}

/* The element a same-document URI points at: the registered ID, or else the one element
 * whose ID or Id attribute has that value. Two such elements are refused (wrapping attacks). */
static xmlNodePtr resolve_id(xmlDocPtr doc, const char *id, efos_err *e)
{
	xmlAttrPtr a = xmlGetID(doc, BAD_CAST id);
	if (a != NULL && a->parent != NULL)
		return a->parent;
	xmlNodePtr found = NULL;
	int n = 0;
	xmlNodePtr cur = xmlDocGetRootElement(doc);
	while (cur != NULL) {
		if (cur->type == XML_ELEMENT_NODE) {
			for (xmlAttrPtr at = cur->properties; at != NULL; at = at->next) {
				if (at->ns != NULL || (!xmlStrEqual(at->name, BAD_CAST "ID") &&
						       !xmlStrEqual(at->name, BAD_CAST "Id")))
					continue;
				xmlChar *v = xmlNodeGetContent((xmlNodePtr)at);
				if (v != NULL && xmlStrEqual(v, BAD_CAST id)) {
					found = cur;
					n++;
				}
				xmlFree(v);
			}
		}
		/* depth-first walk without recursion */
		if (cur->type == XML_ELEMENT_NODE && cur->children != NULL) {
			cur = cur->children;
			continue;
		}
		while (cur != NULL && cur->next == NULL)
			cur = cur->parent == (xmlNodePtr)doc ? NULL : cur->parent;
		if (cur != NULL)
			cur = cur->next;
	}
	if (n == 0) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"#%s\": no element has that ID", id);
		return NULL;
	}
	if (n > 1) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"#%s\": several elements have that ID", id);
		return NULL;
	}
	return found;
}

static int set_base64(xmlNodePtr n, const unsigned char *data, size_t len, efos_err *e)
{
	unsigned char *b64 = OPENSSL_malloc(4 * ((len + 2) / 3) + 1);
	if (b64 == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	EVP_EncodeBlock(b64, data, (int)len);
	xmlNodeSetContent(n, b64);
	OPENSSL_free(b64);
	return 0;
}

/* Digests one Reference and writes its DigestValue. */
static int process_reference(xmlNodePtr sig_node, xmlNodePtr ref, efos_err *e)
{
	xmlDocPtr doc = sig_node->doc;
	xmlChar *uri = xmlGetNoNsProp(ref, BAD_CAST "URI");
	xmlChar *alg = NULL, *pstore = NULL, **prefixes = NULL;
	xmlOutputBufferPtr c14n = NULL;
	struct xml_node_set ns = { NULL, NULL, true };
	const EVP_MD *md = NULL;
	bool have_c14n = false;
	int ret = -1;

	if (uri == NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: a Reference without URI is not supported");
		goto out;
	}
	if (uri[0] == '\0') {
		ns.root = (xmlNodePtr)doc;
	} else if (uri[0] == '#' && uri[1] != '\0' && xmlStrncmp(uri, BAD_CAST "#xpointer(", 10) != 0) {
		if ((ns.root = resolve_id(doc, (const char *)uri + 1, e)) == NULL)
			goto out;
	} else {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference URI=\"%s\" is not supported (use \"\" or \"#id\")", uri);
		goto out;
	}

	xmlNodePtr c = xml_first_element(ref);
	if (xml_is_dsig(c, "Transforms")) {
		for (xmlNodePtr t = xml_first_element(c); t != NULL; t = xml_next_element(t->next)) {
			if (!xml_is_dsig(t, "Transform")) {
				efos_fail(e, EFOS_E_INVALID, "XML-DSig: unexpected <%s> in Transforms", t->name);
				goto out;
			}
			if (have_c14n) {
				efos_fail(e, EFOS_E_INVALID, "XML-DSig: exc-c14n must be the last transform");
				goto out;
			}
			xmlFree(alg);
			alg = algorithm(t);
			if (alg != NULL && xmlStrEqual(alg, BAD_CAST XML_ALG_ENVELOPED)) {
				ns.exclude = sig_node;
			} else if (alg != NULL && (xmlStrEqual(alg, BAD_CAST XML_ALG_EXC_C14N) ||
						   xmlStrEqual(alg, BAD_CAST XML_ALG_EXC_C14N_COMMENTS))) {
				if (xml_c14n_inclusive_prefixes(t, &pstore, &prefixes, e) < 0)
					goto out;
				have_c14n = true;
			} else {
				efos_fail(e, EFOS_E_INVALID, "XML-DSig: transform %s is not supported",
					  alg ? (char *)alg : "(no Algorithm)");
				goto out;
			}
		}
		c = xml_next_element(c->next);
	}
	if (!have_c14n) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: each Reference must end with the exc-c14n transform");
		goto out;
	}
	if (!xml_is_dsig(c, "DigestMethod")) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference has no DigestMethod");
		goto out;
	}
	xmlFree(alg);
	alg = algorithm(c);
	const struct xml_digest_alg *da = xml_digest_alg_find((const char *)alg);
	if (da != NULL)
		md = da->md();
	if (md == NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: DigestMethod %s is not supported (sha256/384/512)",
			  alg ? (char *)alg : "(no Algorithm)");
		goto out;
	}
	xmlNodePtr dv = xml_next_element(c->next);
	if (!xml_is_dsig(dv, "DigestValue") || xml_next_element(dv->next) != NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference must be Transforms?, DigestMethod, DigestValue");
		goto out;
	}
	/* Same-document references drop comments whatever the c14n variant says. */
	if (xml_c14n_exclusive(doc, &ns, prefixes, false, &c14n, e) < 0)
		goto out;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	if (EVP_Digest(xmlOutputBufferGetContent(c14n), xmlOutputBufferGetSize(c14n), dgst, &dlen, md, NULL) != 1) {
		efos_fail(e, EFOS_E_INTERNAL, "XML-DSig: digest failed");
		goto out;
	}
	if (set_base64(dv, dgst, dlen, e) < 0)
		goto out;
	ret = 0;
out:
	if (c14n != NULL)
		xmlOutputBufferClose(c14n);
	xmlFree(prefixes);
	xmlFree(pstore);
	xmlFree(alg);
	xmlFree(uri);
	return ret;
}

/* A Reference to data outside the document (URI neither "" nor "#id"), which the caller has
 * digested: it must have no Transforms (the digest is over the raw octets), an accepted
 * DigestMethod and a DigestValue already filled in. */
static bool is_external(xmlNodePtr ref)
{
	xmlChar *uri = xmlGetNoNsProp(ref, BAD_CAST "URI");
	bool ext = uri != NULL && uri[0] != '\0' && uri[0] != '#';
	xmlFree(uri);
	return ext;
}

static int check_prepared_reference(xmlNodePtr ref, efos_err *e)
{
	xmlNodePtr dm = xml_first_element(ref);
	xmlNodePtr dv = dm ? xml_next_element(dm->next) : NULL;
	if (!xml_is_dsig(dm, "DigestMethod") || !xml_is_dsig(dv, "DigestValue") || xml_next_element(dv->next) != NULL)
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: a Reference to detached data must be DigestMethod, "
				 "DigestValue (no Transforms)");
	xmlChar *alg = algorithm(dm);
	bool ok = xml_digest_alg_find((const char *)alg) != NULL;
	xmlFree(alg);
	if (!ok)
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: a Reference to detached data has an unsupported DigestMethod");
	xmlChar *v = xmlNodeGetContent(dv);
	ok = v != NULL && v[0] != '\0';
	xmlFree(v);
	if (!ok)
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: a Reference to detached data needs its DigestValue "
				 "computed by the caller");
	return 0;
}

static int sign_impl(xmlNodePtr sig_node, struct hsm_key *k, bool detached_ok, efos_err *e)
{
	xmlChar *c14n_alg = NULL, *sig_alg = NULL, *pstore = NULL, **prefixes = NULL;
	xmlOutputBufferPtr c14n = NULL;
	unsigned char *sig = NULL;
	const struct xml_sig_alg *sa = NULL;
	int ret = -1;

	if (!xml_is_dsig(sig_node, "Signature") || sig_node->doc == NULL)
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: the node to sign is not a ds:Signature in a document");
	xmlNodePtr si = xml_first_element(sig_node);
	xmlNodePtr sv = si ? xml_next_element(si->next) : NULL;
	if (!xml_is_dsig(si, "SignedInfo") || !xml_is_dsig(sv, "SignatureValue"))
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: Signature must start with SignedInfo, SignatureValue");
	xmlNodePtr cm = xml_first_element(si);
	xmlNodePtr sm = cm ? xml_next_element(cm->next) : NULL;
	if (!xml_is_dsig(cm, "CanonicalizationMethod") || !xml_is_dsig(sm, "SignatureMethod"))
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignedInfo must start with CanonicalizationMethod, SignatureMethod");

	c14n_alg = algorithm(cm);
	bool with_comments = c14n_alg && xmlStrEqual(c14n_alg, BAD_CAST XML_ALG_EXC_C14N_COMMENTS);
	if (c14n_alg == NULL || (!with_comments && !xmlStrEqual(c14n_alg, BAD_CAST XML_ALG_EXC_C14N))) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: CanonicalizationMethod %s is not supported (exc-c14n only)",
			  c14n_alg ? (char *)c14n_alg : "(no Algorithm)");
		goto out;
	}
	if (xml_c14n_inclusive_prefixes(cm, &pstore, &prefixes, e) < 0)
		goto out;
	sig_alg = algorithm(sm);
	sa = xml_sig_alg_find((const char *)sig_alg);
	if (sa == NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignatureMethod %s is not supported",
			  sig_alg ? (char *)sig_alg : "(no Algorithm)");
		goto out;
	}
	if ((sa->kind == XML_SIG_ECDSA) != (hsm_key_kind(k) == HSM_KEY_EC)) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignatureMethod %s does not fit the %s key",
			  sig_alg, hsm_key_kind(k) == HSM_KEY_EC ? "EC" : "RSA");
		goto out;
	}
	if (xml_first_element(sm) != NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignatureMethod parameters are not supported");
		goto out;
	}

	int nrefs = 0;
	for (xmlNodePtr r = xml_next_element(sm->next); r != NULL; r = xml_next_element(r->next)) {
		if (!xml_is_dsig(r, "Reference")) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: unexpected <%s> in SignedInfo", r->name);
			goto out;
		}
		if (detached_ok && is_external(r)) {
			if (check_prepared_reference(r, e) < 0)
				goto out;
		} else if (process_reference(sig_node, r, e) < 0) {
			goto out;
		}
		nrefs++;
	}
	if (nrefs == 0) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignedInfo has no Reference");
		goto out;
	}

	struct xml_node_set ns = { si, NULL, !with_comments };
	if (xml_c14n_exclusive(sig_node->doc, &ns, prefixes, with_comments, &c14n, e) < 0)
		goto out;
	size_t siglen = hsm_sig_max_len(k);
	if ((sig = malloc(siglen)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	/* XML-DSig ECDSA is r||s, each half the size of the curve order (RFC 4050 / XML-DSig 1.1). */
	if (hsm_sign(k, sa->md(), padding_of(sa), HSM_SIG_RAW, xmlOutputBufferGetContent(c14n),
		     xmlOutputBufferGetSize(c14n), sig, &siglen, e) < 0)
		goto out;
	if (set_base64(sv, sig, siglen, e) < 0)
		goto out;
	ret = 0;
out:
	free(sig);
	if (c14n != NULL)
		xmlOutputBufferClose(c14n);
	xmlFree(prefixes);
	xmlFree(pstore);
	xmlFree(sig_alg);
	xmlFree(c14n_alg);
	return ret;
}
int hsm_xmldsig_sign(xmlNodePtr sig_node, struct hsm_key *k, efos_err *e)
{
	return sign_impl(sig_node, k, false, e);
}

int hsm_xmldsig_sign_detached(xmlNodePtr sig_node, struct hsm_key *k, efos_err *e)
{
	return sign_impl(sig_node, k, true, e);
}
