/* hsm_xmldsig_sign_enveloped: the SAML enveloped-signature template, filled and signed
 * (see bridge.h). */
#include <stdio.h>
#include <string.h>
#include <libxml/tree.h>
#include "core/xml_c14n.h"
#include "hsm/bridge.h"

#define NS_DS "http://www.w3.org/2000/09/xmldsig#"

static xmlNodePtr child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *alg)
{
	xmlNodePtr n = parent ? xmlNewChild(parent, ns, BAD_CAST name, NULL) : NULL;
	if (n != NULL && alg != NULL && xmlNewProp(n, BAD_CAST "Algorithm", BAD_CAST alg) == NULL)
		return NULL;
	return n;
}

int hsm_xmldsig_sign_enveloped(const struct hsm_xmldsig_enveloped *p, struct hsm_key *k, efos_err *e)
{
	xmlNodePtr target = p->target, issuer = p->after;
	const char *id = p->id, *sig_alg = p->sig_alg, *dig_alg = p->digest_alg, *prefixes = p->inclusive_prefixes;
	if (target == NULL || sig_alg == NULL || dig_alg == NULL || k == NULL)
		return efos_fail(e, EFOS_E_INVALID, "enveloped signature: target, algorithms and key are required");
	if (issuer != NULL && issuer->parent != target)
		return efos_fail(e, EFOS_E_INVALID, "enveloped signature: `after` is not a child of the target");
	if (id != NULL && strlen(id) > 256)
		return efos_fail(e, EFOS_E_INVALID, "enveloped signature: the ID is too long");
	xmlNodePtr sig = xmlNewDocNode(target->doc, NULL, BAD_CAST "Signature", NULL);
	xmlNsPtr ds = sig ? xmlNewNs(sig, BAD_CAST NS_DS, BAD_CAST "ds") : NULL;
	if (ds == NULL) {
		xmlFreeNode(sig);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	xmlSetNs(sig, ds);
	/* after the Issuer (SAML), or the last child (DSS: last in OptionalOutputs) */
	if ((issuer != NULL ? xmlAddNextSibling(issuer, sig) : xmlAddChild(target, sig)) == NULL) {
		xmlFreeNode(sig);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	char uri[260] = "";   /* no ID: URI="", the whole document (DSS) */
	if (id != NULL)
		snprintf(uri, sizeof uri, "#%s", id);
	xmlNodePtr si = child(sig, ds, "SignedInfo", NULL);
	xmlNodePtr ok = child(si, ds, "CanonicalizationMethod", XML_ALG_EXC_C14N);
	ok = ok ? child(si, ds, "SignatureMethod", sig_alg) : NULL;
	xmlNodePtr ref = ok ? child(si, ds, "Reference", NULL) : NULL;
	if (ref != NULL && xmlNewProp(ref, BAD_CAST "URI", BAD_CAST uri) == NULL)
		ref = NULL;
	xmlNodePtr tr = child(ref, ds, "Transforms", NULL);
	ok = child(tr, ds, "Transform", XML_ALG_ENVELOPED);
	xmlNodePtr c14n = ok ? child(tr, ds, "Transform", XML_ALG_EXC_C14N) : NULL;
	if (c14n != NULL && prefixes != NULL) {
		xmlNodePtr inc = xmlNewChild(c14n, NULL, BAD_CAST "InclusiveNamespaces", NULL);
		xmlNsPtr ec = inc ? xmlNewNs(inc, BAD_CAST XML_NS_EXC_C14N, BAD_CAST "ec") : NULL;
		if (ec == NULL || xmlNewProp(inc, BAD_CAST "PrefixList", BAD_CAST prefixes) == NULL)
			c14n = NULL;
		else
			xmlSetNs(inc, ec);
	}
	ok = c14n ? child(ref, ds, "DigestMethod", dig_alg) : NULL;
	ok = ok ? child(ref, ds, "DigestValue", NULL) : NULL;
	ok = ok ? child(sig, ds, "SignatureValue", NULL) : NULL;
	xmlNodePtr ki = ok ? child(sig, ds, "KeyInfo", NULL) : NULL;
	xmlNodePtr xd = child(ki, ds, "X509Data", NULL);
	if (xd == NULL || (p->cert_b64 != NULL &&
			   xmlNewTextChild(xd, ds, BAD_CAST "X509Certificate", BAD_CAST p->cert_b64) == NULL))
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	if (p->cert_b64 == NULL) {   /* no certificate configured: no KeyInfo at all */
		xmlUnlinkNode(ki);
		xmlFreeNode(ki);
	}
	if (hsm_xmldsig_sign(sig, k, e) < 0)
		return efos_wrap(e, "signing <%s>", target->name);
	return 0;
}
