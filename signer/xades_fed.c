/* xades_fed_update() (xades.h): the XAdES part of a federated signing task (spec §7.3).
 *
 * The requester built the ds:Signature; we get two pieces of it: ToBeSignedBytes (the
 * canonicalised ds:SignedInfo) and the AdESObject (the ds:Object holding
 * xades:QualifyingProperties). The signer certificate exists only now, so we put its
 * SigningCertificateV2 into SignedProperties, digest SignedProperties again exactly as the
 * Reference says, write the new DigestValue into SignedInfo and canonicalise SignedInfo again:
 * the bytes we then sign.
 *
 * The AdESObject is canonicalised here standalone, without the ds:Signature around it that it
 * will have in the final document. Exclusive c14n renders only the namespaces an element
 * visibly uses, so the result is the same in both places; inclusive c14n would copy the
 * ancestors' namespaces in, which we cannot see. So the SignedProperties Reference must use
 * exclusive c14n, and SignedInfo too (it is re-canonicalised standalone as well). */
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include "core/base64.h"
#include "core/xml.h"
#include "core/xml_alg.h"
#include "core/xml_c14n.h"
#include "signer/xades.h"
#include "signer/xades_internal.h"

#define ALG_C14N10 "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
#define ALG_C14N11 "http://www.w3.org/2006/12/xml-c14n11"

static bool is_xades(xmlNodePtr n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	       xmlStrEqual(n->ns->href, BAD_CAST XADES_NS) && xmlStrEqual(n->name, BAD_CAST name);
}

/* Exclusive c14n (with or without comments) accepted; inclusive refused with the reason. */
static int check_c14n_alg(const xmlChar *alg, const char *where, bool *with_comments, efos_err *e)
{
	if (alg != NULL && xmlStrEqual(alg, BAD_CAST XML_ALG_EXC_C14N)) {
		*with_comments = false;
		return 0;
	}
	if (alg != NULL && xmlStrEqual(alg, BAD_CAST XML_ALG_EXC_C14N_COMMENTS)) {
		*with_comments = true;
		return 0;
	}
	if (alg != NULL && (xmlStrncmp(alg, BAD_CAST ALG_C14N10, (int)strlen(ALG_C14N10)) == 0 ||
			    xmlStrncmp(alg, BAD_CAST ALG_C14N11, (int)strlen(ALG_C14N11)) == 0))
		return efos_fail(e, EFOS_E_INVALID, "XAdES: %s uses inclusive canonicalisation (%s); the signing "
				 "service canonicalises the AdESObject and SignedInfo apart from the document, which "
				 "gives the same octets only with exclusive c14n (" XML_ALG_EXC_C14N ")", where, alg);
	return efos_fail(e, EFOS_E_INVALID, "XAdES: %s: canonicalisation %s is not supported (use " XML_ALG_EXC_C14N ")",
			 where, alg ? (const char *)alg : "(no Algorithm)");
}

/* The one Reference Type=".../01903#SignedProperties" in SignedInfo. */
static xmlNodePtr find_props_reference(xmlNodePtr si, efos_err *e)
{
	xmlNodePtr found = NULL;
	for (xmlNodePtr r = xml_first_element(si); r != NULL; r = xml_next_element(r->next)) {
		if (!xml_is_dsig(r, "Reference"))
			continue;
		xmlChar *type = xmlGetNoNsProp(r, BAD_CAST "Type");
		bool sp = type != NULL && xmlStrEqual(type, BAD_CAST XADES_SIGNED_PROPS_TYPE);
		xmlFree(type);
		if (!sp)
			continue;
		if (found != NULL)
			return efos_fail(e, EFOS_E_INVALID, "XAdES: SignedInfo has several SignedProperties References"), NULL;
		found = r;
	}
	if (found == NULL)
		efos_fail(e, EFOS_E_INVALID, "XAdES: SignedInfo has no Reference with Type=\"" XADES_SIGNED_PROPS_TYPE
			  "\": the ToBeSignedBytes are not those of a XAdES signature");
	return found;
}

/* How the Reference digests: its transforms must be exactly one exclusive c14n. */
struct ref_method {
	xmlNodePtr transform;     /* the exc-c14n Transform (for InclusiveNamespaces) */
	bool with_comments;
	const EVP_MD *md;
	xmlNodePtr digest_value;
};

static int read_reference(xmlNodePtr ref, struct ref_method *m, efos_err *e)
{
	xmlNodePtr c = xml_first_element(ref);
	if (!xml_is_dsig(c, "Transforms"))
		return efos_fail(e, EFOS_E_INVALID, "XAdES: the SignedProperties Reference has no Transforms, which "
				 "means inclusive c14n; it must name exclusive c14n (" XML_ALG_EXC_C14N ")");
	xmlNodePtr t = xml_first_element(c);
	if (!xml_is_dsig(t, "Transform") || xml_next_element(t->next) != NULL)
		return efos_fail(e, EFOS_E_INVALID, "XAdES: the SignedProperties Reference must have exactly one "
				 "Transform, exclusive c14n");
	xmlChar *alg = xmlGetNoNsProp(t, BAD_CAST "Algorithm");
	int rc = check_c14n_alg(alg, "the SignedProperties Reference", &m->with_comments, e);
	xmlFree(alg);
	if (rc != 0)
		return -1;
	m->transform = t;
	xmlNodePtr dm = xml_next_element(c->next);
	xmlNodePtr dv = dm ? xml_next_element(dm->next) : NULL;
	if (!xml_is_dsig(dm, "DigestMethod") || !xml_is_dsig(dv, "DigestValue") || xml_next_element(dv->next) != NULL)
		return efos_fail(e, EFOS_E_INVALID, "XAdES: the SignedProperties Reference must be Transforms, "
				 "DigestMethod, DigestValue");
	alg = xmlGetNoNsProp(dm, BAD_CAST "Algorithm");
	const struct xml_digest_alg *da = xml_digest_alg_find((const char *)alg);
	if (da == NULL)
		efos_fail(e, EFOS_E_INVALID, "XAdES: DigestMethod %s of the SignedProperties Reference is not accepted "
			  "(%s; use sha256, sha384 or sha512)", alg ? (char *)alg : "(none)",
			  xml_alg_refusal((const char *)alg));
	xmlFree(alg);
	if (da == NULL)
		return -1;
	m->md = da->md();
	m->digest_value = dv;
	return 0;
}

/* Counts the elements under n with an ID-like attribute equal to id; *first is the first. */
static int count_id(xmlNodePtr n, const xmlChar *id, xmlNodePtr *first)
{
	int count = 0;
	for (; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (xmlAttrPtr a = n->properties; a != NULL; a = a->next) {
			if (xmlStrcasecmp(a->name, BAD_CAST "id") != 0)
				continue;
			xmlChar *v = xmlNodeGetContent((xmlNodePtr)a);
			if (v != NULL && xmlStrEqual(v, id)) {
				if (count++ == 0)
					*first = n;
			}
			xmlFree(v);
		}
		count += count_id(n->children, id, first);
	}
	return count;
}

/* The SignedProperties the Reference URI names, checked to sit where XAdES puts it:
 * ds:Object / xades:QualifyingProperties Target="#..." / xades:SignedProperties. */
static xmlNodePtr find_signed_props(xmlDocPtr obj, const xmlChar *uri, efos_err *e)
{
	xmlNodePtr root = xmlDocGetRootElement(obj);
	if (!xml_is_dsig(root, "Object"))
		return efos_fail(e, EFOS_E_INVALID, "XAdES: the AdESObject must be a ds:Object element"), NULL;
	xmlNodePtr qp = NULL;
	if (xml_find_unique_child(root, XADES_NS, "QualifyingProperties", &qp, e) != 0)
		return efos_wrap(e, "XAdES: the AdESObject must hold one xades:QualifyingProperties (" XADES_NS ")"),
		       NULL;
	xmlChar *target = xmlGetNoNsProp(qp, BAD_CAST "Target");
	bool ok = target != NULL && target[0] == '#' && target[1] != '\0';
	xmlFree(target);
	if (!ok)
		return efos_fail(e, EFOS_E_INVALID, "XAdES: QualifyingProperties must have Target=\"#<the Signature's "
				 "Id>\""), NULL;
	if (uri == NULL || uri[0] != '#' || uri[1] == '\0')
		return efos_fail(e, EFOS_E_INVALID, "XAdES: the SignedProperties Reference must have URI=\"#<Id>\""),
		       NULL;
	xmlNodePtr sp = NULL;
	int n = count_id(root, uri + 1, &sp);
	if (n == 0)
		return efos_fail(e, EFOS_E_INVALID, "XAdES: the AdESObject has no element with Id \"%s\" (the "
				 "SignedProperties Reference's URI)", uri + 1), NULL;
	if (n > 1)
		return efos_fail(e, EFOS_E_INVALID, "XAdES: several elements of the AdESObject have the Id \"%s\"",
				 uri + 1), NULL;
	if (!is_xades(sp, "SignedProperties") || sp->parent != qp)
		return efos_fail(e, EFOS_E_INVALID, "XAdES: the SignedProperties Reference points at <%s>, not at "
				 "QualifyingProperties/SignedProperties", sp->name), NULL;
	return sp;
}

/* Replaces any SigningCertificate/SigningCertificateV2 with ours, after SigningTime. */
static int put_signing_cert(xmlDocPtr doc, xmlNodePtr sp, X509 *cert, efos_err *e)
{
	xmlNodePtr ssp = xml_first_element(sp);
	if (ssp != NULL && ssp->type == XML_ELEMENT_NODE && !is_xades(ssp, "SignedSignatureProperties") &&
	    !is_xades(ssp, "SignedDataObjectProperties"))
		return efos_fail(e, EFOS_E_INVALID, "XAdES: unexpected <%s> in SignedProperties", ssp->name);
	if (!is_xades(ssp, "SignedSignatureProperties")) {
		xmlNodePtr n = xmlNewDocNode(doc, sp->ns, BAD_CAST "SignedSignatureProperties", NULL);
		if (n == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		if (ssp != NULL)
			xmlAddPrevSibling(ssp, n);
		else
			xmlAddChild(sp, n);
		ssp = n;
	}
	xmlNodePtr after = NULL;
	for (xmlNodePtr c = xml_first_element(ssp), next; c != NULL; c = next) {
		next = xml_next_element(c->next);
		if (is_xades(c, "SigningCertificate") || is_xades(c, "SigningCertificateV2")) {
			xmlUnlinkNode(c);
			xmlFreeNode(c);
		} else if (is_xades(c, "SigningTime")) {
			after = c;
		}
	}
	xmlNsPtr ds = xmlSearchNsByHref(doc, ssp, BAD_CAST XML_NS_DSIG);
	xmlNodePtr scv2 = xades_signing_cert_v2(doc, ssp->ns, ds, cert, e);
	if (scv2 == NULL)
		return -1;
	xmlNodePtr first = xml_first_element(ssp);
	if (after != NULL)
		xmlAddNextSibling(after, scv2);
	else if (first != NULL)
		xmlAddPrevSibling(first, scv2);
	else
		xmlAddChild(ssp, scv2);
	return 0;
}

static int c14n_bytes(xmlDocPtr doc, xmlNodePtr root, xmlNodePtr prefix_holder, bool keep_comments,
		      unsigned char **out, size_t *out_len, efos_err *e)
{
	xmlChar *pstore = NULL, **prefixes = NULL;
	xmlOutputBufferPtr buf = NULL;
	int rc = -1;
	struct xml_node_set ns = { root, NULL, !keep_comments };
	if (xml_c14n_inclusive_prefixes(prefix_holder, &pstore, &prefixes, e) != 0 ||
	    xml_c14n_exclusive(doc, &ns, prefixes, keep_comments, &buf, e) != 0)
		goto out;
	size_t n = xmlOutputBufferGetSize(buf);
	if ((*out = malloc(n ? n : 1)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(*out, xmlOutputBufferGetContent(buf), n);
	*out_len = n;
	rc = 0;
out:
	if (buf != NULL)
		xmlOutputBufferClose(buf);
	xmlFree(prefixes);
	xmlFree(pstore);
	return rc;
}

int xades_fed_update(X509 *cert, const unsigned char *si, size_t si_len,
		     const unsigned char *obj, size_t obj_len,
		     unsigned char **new_si, size_t *new_si_len,
		     unsigned char **new_obj, size_t *new_obj_len, efos_err *e)
{
	xmlDocPtr sdoc = NULL, odoc = NULL;
	xmlChar *uri = NULL, *cm_alg = NULL;
	unsigned char *props = NULL;
	size_t props_len = 0;
	xmlBufferPtr ob = NULL;
	int ret = -1;

	*new_si = *new_obj = NULL;
	*new_si_len = *new_obj_len = 0;
	if (cert == NULL || si == NULL || obj == NULL)
		return efos_fail(e, EFOS_E_INVALID, "XAdES: a signer certificate, the SignedInfo and the AdESObject are needed");
	if (xml_parse_untrusted((const char *)si, si_len, NULL, &sdoc, e) != 0) {
		efos_wrap(e, "XAdES: ToBeSignedBytes are not a canonical ds:SignedInfo");
		goto out;
	}
	if (xml_parse_untrusted((const char *)obj, obj_len, NULL, &odoc, e) != 0) {
		efos_wrap(e, "XAdES: the AdESObject is not XML");
		goto out;
	}
	xmlNodePtr sroot = xmlDocGetRootElement(sdoc);
	if (!xml_is_dsig(sroot, "SignedInfo")) {
		efos_fail(e, EFOS_E_INVALID, "XAdES: ToBeSignedBytes must be a ds:SignedInfo element");
		goto out;
	}
	xmlNodePtr cm = xml_first_element(sroot);
	if (!xml_is_dsig(cm, "CanonicalizationMethod")) {
		efos_fail(e, EFOS_E_INVALID, "XAdES: SignedInfo must start with CanonicalizationMethod");
		goto out;
	}
	bool si_comments = false;
	cm_alg = xmlGetNoNsProp(cm, BAD_CAST "Algorithm");
	if (check_c14n_alg(cm_alg, "SignedInfo's CanonicalizationMethod", &si_comments, e) != 0)
		goto out;
	xmlNodePtr ref = find_props_reference(sroot, e);
	struct ref_method m = { 0 };
	if (ref == NULL || read_reference(ref, &m, e) != 0)
		goto out;
	uri = xmlGetNoNsProp(ref, BAD_CAST "URI");
	xmlNodePtr sp = find_signed_props(odoc, uri, e);
	if (sp == NULL || put_signing_cert(odoc, sp, cert, e) != 0)
		goto out;

	/* Same-document references leave comments out whatever the c14n variant (XML-DSig 4.3.3.3),
	 * as hsm/bridge_xmldsig.c and the verifiers do. */
	if (c14n_bytes(odoc, sp, m.transform, false, &props, &props_len, e) != 0)
		goto out;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	if (EVP_Digest(props, props_len, dgst, &dlen, m.md, NULL) != 1) {
		efos_fail(e, EFOS_E_INTERNAL, "XAdES: digest failed");
		goto out;
	}
	char *b64 = b64_encode(dgst, dlen);
	if (b64 == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	xmlNodeSetContent(m.digest_value, NULL);
	xmlNodeAddContent(m.digest_value, BAD_CAST b64);
	free(b64);

	if (c14n_bytes(sdoc, sroot, cm, si_comments, new_si, new_si_len, e) != 0)
		goto out;
	if ((ob = xmlBufferCreate()) == NULL || xmlNodeDump(ob, odoc, xmlDocGetRootElement(odoc), 0, 0) < 0) {
		efos_fail(e, EFOS_E_INTERNAL, "XAdES: cannot serialise the AdESObject");
		goto out;
	}
	*new_obj_len = (size_t)xmlBufferLength(ob);
	if ((*new_obj = malloc(*new_obj_len + 1)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(*new_obj, xmlBufferContent(ob), *new_obj_len);
	(*new_obj)[*new_obj_len] = '\0';
	ret = 0;
out:
	if (ret != 0) {
		free(*new_si);
		free(*new_obj);
		*new_si = *new_obj = NULL;
		*new_si_len = *new_obj_len = 0;
	}
	if (ob != NULL)
		xmlBufferFree(ob);
	free(props);
	xmlFree(uri);
	xmlFree(cm_alg);
	xmlFreeDoc(sdoc);
	xmlFreeDoc(odoc);
	return ret;
}
