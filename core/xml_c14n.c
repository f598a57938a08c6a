/* Exclusive canonicalisation shared by XML-DSig signing and verification (see xml_c14n.h). */
#include <libxml/c14n.h>
#include "core/xml_c14n.h"

/* libxml2 asks, for every node, whether it is in the set. Namespace nodes come as an xmlNs
 * together with the element they are in scope on. */
static int node_set_contains(void *ud, xmlNodePtr node, xmlNodePtr parent)
{
	const struct xml_node_set *ns = ud;
	xmlNodePtr cur = node;
	if (node->type == XML_NAMESPACE_DECL)
		cur = parent;
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

bool xml_is_dsig(xmlNodePtr n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	       xmlStrEqual(n->ns->href, BAD_CAST XML_NS_DSIG) && xmlStrEqual(n->name, BAD_CAST name);
}

xmlNodePtr xml_next_element(xmlNodePtr n)
{
	while (n != NULL && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

xmlNodePtr xml_first_element(xmlNodePtr parent)
{
	return parent ? xml_next_element(parent->children) : NULL;
}

static bool is_ws(xmlChar c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int xml_c14n_inclusive_prefixes(xmlNodePtr n, xmlChar **storage, xmlChar ***list, efos_err *e)
{
	*storage = NULL;
	*list = NULL;
	xmlNodePtr c = xml_first_element(n);
	if (c == NULL)
		return 0;
	if (c->ns == NULL || !xmlStrEqual(c->ns->href, BAD_CAST XML_NS_EXC_C14N) ||
	    !xmlStrEqual(c->name, BAD_CAST "InclusiveNamespaces") || xml_next_element(c->next) != NULL)
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

int xml_c14n_exclusive(xmlDocPtr doc, const struct xml_node_set *ns, xmlChar **prefixes,
		       bool with_comments, xmlOutputBufferPtr *out, efos_err *e)
{
	xmlOutputBufferPtr buf = xmlAllocOutputBuffer(NULL);
	if (buf == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	/* xmlC14NExecute does not write through the callback's argument */
	if (xmlC14NExecute(doc, node_set_contains, (void *)ns, XML_C14N_EXCLUSIVE_1_0, prefixes,
			   with_comments ? 1 : 0, buf) < 0) {
		xmlOutputBufferClose(buf);
		return efos_fail(e, EFOS_E_INTERNAL, "XML-DSig: canonicalisation failed");
	}
	*out = buf;
	return 0;
}
