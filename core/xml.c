/* Untrusted XML parsing and strict reading (see xml.h and docs/xml-security.md).
 *
 * The limits are enforced inside libxml2's SAX2 tree builder: our callbacks wrap its own,
 * count and measure before handing over, and stop the parser at the first refusal. So a
 * "<!DOCTYPE" stops the parse before its internal subset (entity declarations) is even read,
 * and a document that is too deep or too large is never built. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include "core/xml.h"

const struct xml_limits xml_limits_message = {
	.max_bytes = XML_LIMITS_MESSAGE_BYTES,
	.max_depth = XML_LIMITS_MESSAGE_DEPTH,
	.max_nodes = XML_LIMITS_MESSAGE_NODES,
	.allow_comments = false,
};

struct parse_state {
	const struct xml_limits *lim;
	unsigned depth;
	size_t nodes;
	char why[200];   /* our first refusal, or libxml2's first error */
	long line;
	bool refused;    /* why[] is ours */
	startElementNsSAX2Func start;
	endElementNsSAX2Func end;
	charactersSAXFunc characters;
	cdataBlockSAXFunc cdata;
	commentSAXFunc comment;
};

static struct parse_state *state_of(void *ctx)
{
	return ((xmlParserCtxtPtr)ctx)->_private;
}

static void refuse(void *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(void *ctx, const char *fmt, ...)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt->_private;
	if (!st->refused) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(st->why, sizeof st->why, fmt, ap);
		va_end(ap);
		st->line = xmlSAX2GetLineNumber(ctxt);
		st->refused = true;
	}
	ctxt->wellFormed = 0;
	xmlStopParser(ctxt);
}

/* libxml2's own errors: keep the first, with its line. */
static void on_error(void *ctx, xmlErrorPtr err)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt ? ctxt->_private : NULL;
	if (st == NULL || err == NULL || err->level < XML_ERR_ERROR || st->why[0] != '\0')
		return;
	snprintf(st->why, sizeof st->why, "%s", err->message ? err->message : "malformed XML");
	size_t n = strlen(st->why);
	while (n > 0 && (st->why[n - 1] == '\n' || st->why[n - 1] == ' '))
		st->why[--n] = '\0';
	st->line = err->line;
}

static bool count_node(void *ctx, size_t n)
{
	struct parse_state *st = state_of(ctx);
	st->nodes += n;
	if (st->nodes > st->lim->max_nodes) {
		refuse(ctx, "more than %zu nodes", st->lim->max_nodes);
		return false;
	}
	return true;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *URI,
		     int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
		     const xmlChar **attributes)
{
	struct parse_state *st = state_of(ctx);
	if (++st->depth > st->lim->max_depth) {
		refuse(ctx, "elements nested deeper than %u", st->lim->max_depth);
		return;
	}
	if (!count_node(ctx, 1 + (size_t)(nb_attributes > 0 ? nb_attributes : 0)))
		return;
	st->start(ctx, localname, prefix, URI, nb_namespaces, namespaces, nb_attributes, nb_defaulted,
		  attributes);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *URI)
{
	struct parse_state *st = state_of(ctx);
	if (st->depth > 0)
		st->depth--;
	st->end(ctx, localname, prefix, URI);
}

/* libxml2 delivers long text in pieces and appends them to the last text node: count a
 * text node once, when it starts. */
static bool starts_text_node(void *ctx)
{
	xmlNodePtr cur = ((xmlParserCtxtPtr)ctx)->node;
	return cur == NULL || cur->last == NULL || cur->last->type != XML_TEXT_NODE;
}

static void on_characters(void *ctx, const xmlChar *ch, int len)
{
	if (starts_text_node(ctx) && !count_node(ctx, 1))
		return;
	state_of(ctx)->characters(ctx, ch, len);
}

static void on_cdata(void *ctx, const xmlChar *ch, int len)
{
	if (!count_node(ctx, 1))
		return;
	state_of(ctx)->cdata(ctx, ch, len);
}

static void on_comment(void *ctx, const xmlChar *value)
{
	struct parse_state *st = state_of(ctx);
	if (!st->lim->allow_comments) {
		refuse(ctx, "comments are not allowed in this message");
		return;
	}
	if (!count_node(ctx, 1))
		return;
	st->comment(ctx, value);
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	refuse(ctx, "processing instruction <?%.40s ...?> is not allowed", target ? (const char *)target : "");
}

static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *ExternalID, const xmlChar *SystemID)
{
	refuse(ctx, "a DOCTYPE is not allowed (no DTD, no entity declarations)");
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *publicId,
			   const xmlChar *systemId, xmlChar *content)
{
	refuse(ctx, "entity declarations are not allowed");
}

static void on_reference(void *ctx, const xmlChar *name)
{
	refuse(ctx, "entity reference &%.40s; is not allowed", name ? (const char *)name : "");
}

/* Entities are never looked up: only the five predefined ones exist (libxml2 resolves those
 * itself); anything else is refused here rather than reported as undeclared. */
static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
	xmlEntityPtr p = xmlGetPredefinedEntity(name);
	if (p == NULL)
		refuse(ctx, "entity reference &%.40s; is not allowed", name ? (const char *)name : "");
	return p;
}

static xmlParserInputPtr on_resolve(void *ctx, const xmlChar *publicId, const xmlChar *systemId)
{
	refuse(ctx, "external resources are not loaded");
	return NULL;
}

/* After the parse, a second look at what was built: nothing that the SAX checks should have
 * stopped may be in the tree (defence in depth, and cheap next to parsing). */
static int check_tree(xmlDocPtr doc, const struct xml_limits *lim, efos_err *e)
{
	if (doc->intSubset != NULL || doc->extSubset != NULL)
		return efos_fail(e, EFOS_E_INVALID, "XML: a DOCTYPE is not allowed");
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (root == NULL)
		return efos_fail(e, EFOS_E_INVALID, "XML: no root element");
	for (xmlNodePtr top = doc->children; top != NULL; top = top->next)
		if (top != root && top->type != XML_COMMENT_NODE && top->type != XML_TEXT_NODE)
			return efos_fail(e, EFOS_E_INVALID, "XML: unexpected node of type %d beside the root element", (int)top->type);
	xmlNodePtr cur = (xmlNodePtr)doc;
	while (cur != NULL) {
		switch (cur->type) {
		case XML_ENTITY_REF_NODE:
		case XML_ENTITY_NODE:
		case XML_ENTITY_DECL:
			return efos_fail(e, EFOS_E_INVALID, "XML: entities are not allowed (line %ld)", xmlGetLineNo(cur));
		case XML_PI_NODE:
			return efos_fail(e, EFOS_E_INVALID, "XML: processing instructions are not allowed (line %ld)", xmlGetLineNo(cur));
		case XML_DTD_NODE:
		case XML_DOCUMENT_TYPE_NODE:
			return efos_fail(e, EFOS_E_INVALID, "XML: a DOCTYPE is not allowed");
		case XML_XINCLUDE_START:
		case XML_XINCLUDE_END:
			return efos_fail(e, EFOS_E_INVALID, "XML: XInclude is not allowed");
		case XML_COMMENT_NODE:
			if (!lim->allow_comments)
				return efos_fail(e, EFOS_E_INVALID, "XML: comments are not allowed (line %ld)", xmlGetLineNo(cur));
			break;
		default:
			break;
		}
		if ((cur->type == XML_ELEMENT_NODE || cur->type == XML_DOCUMENT_NODE) && cur->children != NULL) {
			cur = cur->children;
			continue;
		}
		while (cur != NULL && cur->next == NULL)
			cur = cur->parent;
		if (cur != NULL)
			cur = cur->next;
	}
	return 0;
}

int xml_parse_untrusted(const char *buf, size_t len, const struct xml_limits *lim, xmlDocPtr *out,
			efos_err *e)
{
	struct parse_state st = { 0 };
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	int ret = -1;

	*out = NULL;
	if (lim == NULL)
		lim = &xml_limits_message;
	st.lim = lim;
	if (len > lim->max_bytes || len > INT_MAX)
		return efos_fail(e, EFOS_E_TOOBIG, "XML: %zu bytes is more than the limit of %zu", len, lim->max_bytes);
	if (buf == NULL || len == 0)
		return efos_fail(e, EFOS_E_INVALID, "XML: empty document");

	if ((ctxt = xmlCreateMemoryParserCtxt(buf, (int)len)) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "XML: out of memory");
	xmlSAXHandlerPtr sax = ctxt->sax;
	st.start = sax->startElementNs;
	st.end = sax->endElementNs;
	st.characters = sax->characters;
	st.cdata = sax->cdataBlock;
	st.comment = sax->comment;
	if (st.start == NULL || st.end == NULL || st.characters == NULL || st.cdata == NULL || st.comment == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "XML: libxml2 has no SAX2 tree builder");
		goto out;
	}
	sax->startElementNs = on_start;
	sax->endElementNs = on_end;
	sax->characters = on_characters;
	sax->ignorableWhitespace = on_characters;
	sax->cdataBlock = on_cdata;
	sax->comment = on_comment;
	sax->processingInstruction = on_pi;
	sax->internalSubset = on_doctype;
	sax->externalSubset = on_doctype;
	sax->entityDecl = on_entity_decl;
	sax->reference = on_reference;
	sax->getEntity = on_get_entity;
	sax->getParameterEntity = on_get_entity;
	sax->resolveEntity = on_resolve;
	sax->serror = on_error;
	ctxt->_private = &st;

	/* Not set, on purpose: NOENT (substitute entities), DTDLOAD, DTDATTR, DTDVALID, XINCLUDE,
	 * HUGE (lifts libxml2's own text and depth limits), NOCDATA, NOBLANKS (blanks are signed). */
	int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
		   XML_PARSE_BIG_LINES;
	if (xmlCtxtUseOptions(ctxt, opts) != 0) {
		efos_fail(e, EFOS_E_INTERNAL, "XML: parser options refused");
		goto out;
	}
	xmlParseDocument(ctxt);
	doc = ctxt->myDoc;
	ctxt->myDoc = NULL;
	if (st.refused || doc == NULL || !ctxt->wellFormed || !ctxt->nsWellFormed) {
		if (st.why[0] != '\0')
			efos_fail(e, EFOS_E_INVALID, "XML: %s (line %ld)", st.why, st.line);
		else
			efos_fail(e, EFOS_E_INVALID, "XML: not well-formed");
		goto out;
	}
	if (check_tree(doc, lim, e) < 0)
		goto out;
	*out = doc;
	doc = NULL;
	ret = 0;
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	if (ctxt != NULL) {
		ctxt->_private = NULL;
		xmlFreeParserCtxt(ctxt);
	}
	return ret;
}

static bool has_name(xmlNodePtr n, const char *ns, const char *name)
{
	if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST name))
		return false;
	if (ns == NULL)
		return n->ns == NULL;
	return n->ns != NULL && xmlStrEqual(n->ns->href, BAD_CAST ns);
}

int xml_find_unique_child(xmlNodePtr parent, const char *ns, const char *name, xmlNodePtr *out,
			  efos_err *e)
{
	xmlNodePtr found = NULL;
	size_t n = 0;
	*out = NULL;
	for (xmlNodePtr c = parent ? parent->children : NULL; c != NULL; c = c->next)
		if (has_name(c, ns, name)) {
			found = found ? found : c;
			n++;
		}
	if (n == 0)
		return efos_fail(e, EFOS_E_INVALID, "XML: <%s> has no <%s> child", parent ? (const char *)parent->name : "(none)", name);
	if (n > 1)
		return efos_fail(e, EFOS_E_INVALID, "XML: <%s> has %zu <%s> children, exactly one is allowed",
				 parent->name, n, name);
	*out = found;
	return 0;
}

xmlNodePtr xml_walk_next(xmlNodePtr n, xmlNodePtr root, xmlNodePtr skip)
{
	if (n->type == XML_ELEMENT_NODE && n->children != NULL && n != skip)
		return n->children;
	while (n != NULL && n != root && n->next == NULL)
		n = n->parent;
	if (n == NULL || n == root)
		return NULL;
	return n->next;
}

int xml_text_content_strict(xmlNodePtr elem, xmlChar **out, efos_err *e)
{
	*out = NULL;
	if (elem == NULL || elem->type != XML_ELEMENT_NODE)
		return efos_fail(e, EFOS_E_INVALID, "XML: text requested from something that is not an element");
	for (xmlNodePtr c = elem->children; c != NULL; c = c->next) {
		switch (c->type) {
		case XML_TEXT_NODE:
		case XML_CDATA_SECTION_NODE:
			break;
		case XML_COMMENT_NODE:
			return efos_fail(e, EFOS_E_INVALID, "XML: <%s> (line %ld) mixes text with a comment, which is refused "
					 "(comment injection)", elem->name, xmlGetLineNo(elem));
		case XML_ELEMENT_NODE:
			return efos_fail(e, EFOS_E_INVALID, "XML: <%s> (line %ld) must hold text only, it has a <%s> child",
					 elem->name, xmlGetLineNo(elem), c->name);
		default:
			return efos_fail(e, EFOS_E_INVALID, "XML: <%s> (line %ld) must hold text only (node type %d)",
					 elem->name, xmlGetLineNo(elem), (int)c->type);
		}
	}
	xmlChar *s = xmlNodeGetContent(elem);
	if (s == NULL)
		s = xmlStrdup(BAD_CAST "");
	if (s == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	*out = s;
	return 0;
}
