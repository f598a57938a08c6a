/* Schema-shaped ID registration (see xml.h).
 *
 * Signature-wrapping attacks live in the gap between "which element does the Reference
 * point at" and "which element does the application read". We close the first half here:
 * an ID is whatever the schema says is an ID (a short list of element types), registered
 * once, unique, and not shadowed by any look-alike attribute elsewhere in the document. */
#include <string.h>
#include <libxml/parser.h>
#include <libxml/valid.h>
#include "core/xml.h"

#define NS_SAMLP "urn:oasis:names:tc:SAML:2.0:protocol"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_MD "urn:oasis:names:tc:SAML:2.0:metadata"

const struct xml_id_rule xml_id_rules_saml[] = {
	{ NS_SAMLP, "AuthnRequest", "ID" },
	{ NS_SAMLP, "Response", "ID" },
	{ NS_SAMLP, "LogoutRequest", "ID" },
	{ NS_SAMLP, "LogoutResponse", "ID" },
	{ NS_SAMLP, "ArtifactResolve", "ID" },
	{ NS_SAMLP, "ArtifactResponse", "ID" },
	{ NS_SAML, "Assertion", "ID" },
	{ NS_MD, "EntitiesDescriptor", "ID" },
	{ NS_MD, "EntityDescriptor", "ID" },
};
const size_t xml_id_rules_saml_n = sizeof xml_id_rules_saml / sizeof xml_id_rules_saml[0];

/* DSS requests are signed over the whole document (URI=""): nothing is an ID. */
const struct xml_id_rule xml_id_rules_dss[] = { { NULL, NULL, NULL } };
const size_t xml_id_rules_dss_n = 0;

#define XML_NS_XML "http://www.w3.org/XML/1998/namespace"

/* Attribute names other libraries treat as IDs (xmlsec's --id-attr habits, Santuario's
 * "Id"/"ID"/"id", xml:id, SAML 1.1 AssertionID/ResponseID/RequestID). */
static bool id_like(xmlAttrPtr a)
{
	static const char *const names[] = { "ID", "Id", "id", "AssertionID", "ResponseID", "RequestID" };
	if (a->ns != NULL)
		return xmlStrEqual(a->ns->href, BAD_CAST XML_NS_XML) && xmlStrEqual(a->name, BAD_CAST "id");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (xmlStrEqual(a->name, BAD_CAST names[i]))
			return true;
	return false;
}

static const struct xml_id_rule *rule_for(xmlNodePtr n, const struct xml_id_rule *rules, size_t nrules)
{
	for (size_t i = 0; i < nrules; i++) {
		const struct xml_id_rule *r = &rules[i];
		if (!xmlStrEqual(n->name, BAD_CAST r->element))
			continue;
		if (r->ns == NULL ? n->ns == NULL : (n->ns != NULL && xmlStrEqual(n->ns->href, BAD_CAST r->ns)))
			return r;
	}
	return NULL;
}

/* Depth-first, without recursion (depth is bounded by the parser, but stay flat anyway). */
static xmlNodePtr next_in_doc(xmlNodePtr cur)
{
	if (cur->type == XML_ELEMENT_NODE && cur->children != NULL)
		return cur->children;
	while (cur != NULL && cur->next == NULL)
		cur = cur->parent;
	return cur ? cur->next : NULL;
}

static xmlNodePtr first_in_doc(xmlDocPtr doc)
{
	return doc->children;
}

int xml_register_ids(xmlDocPtr doc, const struct xml_id_rule *rules, size_t n, efos_err *e)
{
	if (doc == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "XML: no document");

	/* Forget what the parser registered by itself (xml:id): only the rules make IDs. */
	for (xmlNodePtr cur = first_in_doc(doc); cur != NULL; cur = next_in_doc(cur))
		if (cur->type == XML_ELEMENT_NODE)
			for (xmlAttrPtr a = cur->properties; a != NULL; a = a->next)
				if (a->atype == XML_ATTRIBUTE_ID) {
					xmlRemoveID(doc, a);
					a->atype = 0;
				}
	if (doc->ids != NULL) {
		xmlFreeIDTable(doc->ids);
		doc->ids = NULL;
	}

	size_t registered = 0;
	for (xmlNodePtr cur = first_in_doc(doc); cur != NULL; cur = next_in_doc(cur)) {
		if (cur->type != XML_ELEMENT_NODE)
			continue;
		const struct xml_id_rule *r = rule_for(cur, rules, n);
		if (r == NULL)
			continue;
		xmlAttrPtr a = xmlHasNsProp(cur, BAD_CAST r->attr, NULL);
		if (a == NULL)
			continue; /* not referable; a Reference to it cannot resolve */
		xmlChar *v = xmlNodeListGetString(doc, a->children, 1);
		if (v == NULL || xmlValidateNCName(v, 0) != 0) {
			efos_fail(e, EFOS_E_INVALID, "XML: <%s> (line %ld) has %s=\"%.60s\", which is not a valid ID",
				  cur->name, xmlGetLineNo(cur), r->attr, v ? (const char *)v : "");
			xmlFree(v);
			return -1;
		}
		if (xmlGetID(doc, v) != NULL) {
			efos_fail(e, EFOS_E_INVALID, "XML: duplicate ID \"%.60s\" (<%s>, line %ld): refused (signature wrapping)",
				  v, cur->name, xmlGetLineNo(cur));
			xmlFree(v);
			return -1;
		}
		if (xmlAddID(NULL, doc, v, a) == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "XML: could not register ID \"%.60s\"", v);
			xmlFree(v);
			return -1;
		}
		xmlFree(v);
		registered++;
	}
	if (registered == 0)
		return 0;

	/* A look-alike: an ID-ish attribute that is not one of ours but carries one of our
	 * values. Another verifier (or a second search) could resolve the Reference to it. */
	for (xmlNodePtr cur = first_in_doc(doc); cur != NULL; cur = next_in_doc(cur)) {
		if (cur->type != XML_ELEMENT_NODE)
			continue;
		for (xmlAttrPtr a = cur->properties; a != NULL; a = a->next) {
			if (a->atype == XML_ATTRIBUTE_ID || !id_like(a))
				continue;
			xmlChar *v = xmlNodeListGetString(doc, a->children, 1);
			bool clash = v != NULL && xmlGetID(doc, v) != NULL;
			if (clash)
				efos_fail(e, EFOS_E_INVALID, "XML: <%s> (line %ld) carries %s=\"%.60s\", the ID of another element: "
					  "refused (signature wrapping)", cur->name, xmlGetLineNo(cur), a->name, v);
			xmlFree(v);
			if (clash)
				return -1;
		}
	}
	return 0;
}
