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
 *   Reference URI           "" (the whole document) or "#id"
 *   Transforms              enveloped-signature, then exc-c14n (with InclusiveNamespaces)
 *   DigestMethod            sha256, sha384, sha512 */
#include <string.h>
#include <libxml/c14n.h>
#include <libxml/valid.h>
#include <openssl/evp.h>
#include "hsm/bridge.h"
#include "hsm/internal.h"

#define NS_DSIG "http://www.w3.org/2000/09/xmldsig#"
#define NS_EXC  "http://www.w3.org/2001/10/xml-exc-c14n#"
#define ALG_EXC_C14N  NS_EXC
#define ALG_EXC_C14NC NS_EXC "WithComments"
#define ALG_ENVELOPED NS_DSIG "enveloped-signature"

struct sig_alg {
	const char *uri;
	enum hsm_padding pad;
	const EVP_MD *(*md)(void);
};

static const struct sig_alg sig_algs[] = {
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", HSM_PAD_PKCS1, EVP_sha256 },
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384", HSM_PAD_PKCS1, EVP_sha384 },
	{ "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", HSM_PAD_PKCS1, EVP_sha512 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1", HSM_PAD_PSS, EVP_sha256 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1", HSM_PAD_PSS, EVP_sha384 },
	{ "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1", HSM_PAD_PSS, EVP_sha512 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", HSM_PAD_ECDSA, EVP_sha256 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", HSM_PAD_ECDSA, EVP_sha384 },
	{ "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512", HSM_PAD_ECDSA, EVP_sha512 },
};

struct digest_alg {
	const char *uri;
	const EVP_MD *(*md)(void);
};

static const struct digest_alg digest_algs[] = {
	{ "http://www.w3.org/2001/04/xmlenc#sha256", EVP_sha256 },
	{ "http://www.w3.org/2001/04/xmldsig-more#sha384", EVP_sha384 },
	{ "http://www.w3.org/2001/04/xmlenc#sha512", EVP_sha512 },
};

/* The node set a canonicalisation covers: everything under root (an element or the
 * document), minus the subtree of exclude (the enveloped Signature), minus comments. */
struct node_set {
	xmlNodePtr root;
	xmlNodePtr exclude;
	bool drop_comments;
};

static int node_set_contains(void *ud, xmlNodePtr node, xmlNodePtr parent)
{
	const struct node_set *ns = ud;
	xmlNodePtr cur = node;
	if (node->type == XML_NAMESPACE_DECL)
		cur = parent; /* libxml2 passes an xmlNs and the element it is in scope on */
	else if (node->type == XML_COMMENT_NODE && ns->drop_comments)
		return 0;
	for (; cur != NULL; cur = cur->parent) {
		if (cur == ns->exclude)
			return 0;
		if (cur == ns->root)
			return 1;
	}
	return 0;
}

static bool is_dsig(xmlNodePtr n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	       xmlStrEqual(n->ns->href, BAD_CAST NS_DSIG) && xmlStrEqual(n->name, BAD_CAST name);
}

static xmlNodePtr next_element(xmlNodePtr n)
{
	while (n != NULL && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

static xmlNodePtr first_element(xmlNodePtr parent)
{
	return parent ? next_element(parent->children) : NULL;
}

/* Algorithm attribute of n (freed by the caller with xmlFree). */
static xmlChar *algorithm(xmlNodePtr n)
{
	return xmlGetNoNsProp(n, BAD_CAST "Algorithm");
}

static bool is_ws(xmlChar c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Splits the PrefixList of an ec:InclusiveNamespaces child of n, if any, into a
 * NULL-terminated array for xmlC14NExecute. *storage owns the strings. */
static int inclusive_prefixes(xmlNodePtr n, xmlChar **storage, xmlChar ***list, efos_err *e)
{
	*storage = NULL;
	*list = NULL;
	xmlNodePtr c = first_element(n);
	if (c == NULL)
		return 0;
	if (c->ns == NULL || !xmlStrEqual(c->ns->href, BAD_CAST NS_EXC) ||
	    !xmlStrEqual(c->name, BAD_CAST "InclusiveNamespaces") || next_element(c->next) != NULL)
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: unexpected element <%s> in an exc-c14n transform", c->name);
	xmlChar *pl = xmlGetNoNsProp(c, BAD_CAST "PrefixList");
	if (pl == NULL)
		return 0;
	size_t words = 0, len = (size_t)xmlStrlen(pl);
	for (size_t i = 0; i < len; i++)
		if (!is_ws(pl[i]) && (i == 0 || is_ws(pl[i - 1])))
			words++;
	xmlChar **arr = xmlMalloc((words + 1) * sizeof *arr);
	if (arr == NULL) {
		xmlFree(pl);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		if (is_ws(pl[i])) {
			pl[i] = '\0';
			continue;
		}
		if (i == 0 || pl[i - 1] == '\0')
			arr[w++] = pl + i;
	}
	arr[w] = NULL;
	*storage = pl;
	*list = arr;
	return 0;
}

/* Exclusive canonicalisation of ns into a new buffer. */
static int canonicalise(xmlDocPtr doc, struct node_set *ns, xmlChar **prefixes, bool with_comments,
			xmlOutputBufferPtr *out, efos_err *e)
{
	xmlOutputBufferPtr buf = xmlAllocOutputBuffer(NULL);
	if (buf == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	if (xmlC14NExecute(doc, node_set_contains, ns, XML_C14N_EXCLUSIVE_1_0, prefixes,
			   with_comments ? 1 : 0, buf) < 0) {
		xmlOutputBufferClose(buf);
		return efos_fail(e, EFOS_E_INTERNAL, "XML-DSig: canonicalisation failed");
	}
	*out = buf;
	return 0;
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
	struct node_set ns = { NULL, NULL, true };
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

	xmlNodePtr c = first_element(ref);
	if (is_dsig(c, "Transforms")) {
		for (xmlNodePtr t = first_element(c); t != NULL; t = next_element(t->next)) {
			if (!is_dsig(t, "Transform")) {
				efos_fail(e, EFOS_E_INVALID, "XML-DSig: unexpected <%s> in Transforms", t->name);
				goto out;
			}
			if (have_c14n) {
				efos_fail(e, EFOS_E_INVALID, "XML-DSig: exc-c14n must be the last transform");
				goto out;
			}
			xmlFree(alg);
			alg = algorithm(t);
			if (alg != NULL && xmlStrEqual(alg, BAD_CAST ALG_ENVELOPED)) {
				ns.exclude = sig_node;
			} else if (alg != NULL && (xmlStrEqual(alg, BAD_CAST ALG_EXC_C14N) ||
						   xmlStrEqual(alg, BAD_CAST ALG_EXC_C14NC))) {
				if (inclusive_prefixes(t, &pstore, &prefixes, e) < 0)
					goto out;
				have_c14n = true;
			} else {
				efos_fail(e, EFOS_E_INVALID, "XML-DSig: transform %s is not supported",
					  alg ? (char *)alg : "(no Algorithm)");
				goto out;
			}
		}
		c = next_element(c->next);
	}
	if (!have_c14n) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: each Reference must end with the exc-c14n transform");
		goto out;
	}
	if (!is_dsig(c, "DigestMethod")) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference has no DigestMethod");
		goto out;
	}
	xmlFree(alg);
	alg = algorithm(c);
	for (size_t i = 0; alg != NULL && i < sizeof digest_algs / sizeof digest_algs[0]; i++)
		if (xmlStrEqual(alg, BAD_CAST digest_algs[i].uri))
			md = digest_algs[i].md();
	if (md == NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: DigestMethod %s is not supported (sha256/384/512)",
			  alg ? (char *)alg : "(no Algorithm)");
		goto out;
	}
	xmlNodePtr dv = next_element(c->next);
	if (!is_dsig(dv, "DigestValue") || next_element(dv->next) != NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: Reference must be Transforms?, DigestMethod, DigestValue");
		goto out;
	}
	/* Same-document references drop comments whatever the c14n variant says. */
	if (canonicalise(doc, &ns, prefixes, false, &c14n, e) < 0)
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

int hsm_xmldsig_sign(xmlNodePtr sig_node, struct hsm_key *k, efos_err *e)
{
	xmlChar *c14n_alg = NULL, *sig_alg = NULL, *pstore = NULL, **prefixes = NULL;
	xmlOutputBufferPtr c14n = NULL;
	unsigned char *sig = NULL;
	const struct sig_alg *sa = NULL;
	int ret = -1;

	if (!is_dsig(sig_node, "Signature") || sig_node->doc == NULL)
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: the node to sign is not a ds:Signature in a document");
	xmlNodePtr si = first_element(sig_node);
	xmlNodePtr sv = si ? next_element(si->next) : NULL;
	if (!is_dsig(si, "SignedInfo") || !is_dsig(sv, "SignatureValue"))
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: Signature must start with SignedInfo, SignatureValue");
	xmlNodePtr cm = first_element(si);
	xmlNodePtr sm = cm ? next_element(cm->next) : NULL;
	if (!is_dsig(cm, "CanonicalizationMethod") || !is_dsig(sm, "SignatureMethod"))
		return efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignedInfo must start with CanonicalizationMethod, SignatureMethod");

	c14n_alg = algorithm(cm);
	bool with_comments = c14n_alg && xmlStrEqual(c14n_alg, BAD_CAST ALG_EXC_C14NC);
	if (c14n_alg == NULL || (!with_comments && !xmlStrEqual(c14n_alg, BAD_CAST ALG_EXC_C14N))) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: CanonicalizationMethod %s is not supported (exc-c14n only)",
			  c14n_alg ? (char *)c14n_alg : "(no Algorithm)");
		goto out;
	}
	if (inclusive_prefixes(cm, &pstore, &prefixes, e) < 0)
		goto out;
	sig_alg = algorithm(sm);
	for (size_t i = 0; sig_alg != NULL && i < sizeof sig_algs / sizeof sig_algs[0]; i++)
		if (xmlStrEqual(sig_alg, BAD_CAST sig_algs[i].uri))
			sa = &sig_algs[i];
	if (sa == NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignatureMethod %s is not supported",
			  sig_alg ? (char *)sig_alg : "(no Algorithm)");
		goto out;
	}
	if ((sa->pad == HSM_PAD_ECDSA) != (hsm_key_kind(k) == HSM_KEY_EC)) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignatureMethod %s does not fit the %s key",
			  sig_alg, hsm_key_kind(k) == HSM_KEY_EC ? "EC" : "RSA");
		goto out;
	}
	if (first_element(sm) != NULL) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignatureMethod parameters are not supported");
		goto out;
	}

	int nrefs = 0;
	for (xmlNodePtr r = next_element(sm->next); r != NULL; r = next_element(r->next)) {
		if (!is_dsig(r, "Reference")) {
			efos_fail(e, EFOS_E_INVALID, "XML-DSig: unexpected <%s> in SignedInfo", r->name);
			goto out;
		}
		if (process_reference(sig_node, r, e) < 0)
			goto out;
		nrefs++;
	}
	if (nrefs == 0) {
		efos_fail(e, EFOS_E_INVALID, "XML-DSig: SignedInfo has no Reference");
		goto out;
	}

	struct node_set ns = { si, NULL, !with_comments };
	if (canonicalise(sig_node->doc, &ns, prefixes, with_comments, &c14n, e) < 0)
		goto out;
	size_t siglen = hsm_sig_max_len(k);
	if ((sig = malloc(siglen)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	/* XML-DSig ECDSA is r||s, each half the size of the curve order (RFC 4050 / XML-DSig 1.1). */
	if (hsm_sign(k, sa->md(), sa->pad, HSM_SIG_RAW, xmlOutputBufferGetContent(c14n),
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
