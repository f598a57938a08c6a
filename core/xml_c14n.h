/* Exclusive canonicalisation as XML-DSig uses it, shared by signing (hsm/bridge_xmldsig.c)
 * and verification (core/xml_dsig_verify.c) so both compute the same octets.
 *
 * A node set is "everything under root (an element, or the document for URI=""), minus the
 * subtree of exclude (the enveloped ds:Signature), minus comments unless keep_comments".
 * libxml2's xmlC14NExecute does the canonicalisation exactly as xmlsec does it (xmlsec calls
 * it with a node-set callback too). */
#ifndef EFOS_CORE_XML_C14N_H
#define EFOS_CORE_XML_C14N_H

#include <stdbool.h>
#include <libxml/tree.h>
#include "core/err.h"

#define XML_NS_DSIG "http://www.w3.org/2000/09/xmldsig#"
#define XML_NS_EXC_C14N "http://www.w3.org/2001/10/xml-exc-c14n#"
#define XML_ALG_EXC_C14N XML_NS_EXC_C14N
#define XML_ALG_EXC_C14N_COMMENTS XML_NS_EXC_C14N "WithComments"
#define XML_ALG_ENVELOPED XML_NS_DSIG "enveloped-signature"

struct xml_node_set {
	xmlNodePtr root;     /* an element, or (xmlNodePtr)doc for the whole document */
	xmlNodePtr exclude;  /* NULL, or a subtree left out (enveloped-signature transform) */
	bool drop_comments;
};

/* True when n is the element {XML_NS_DSIG}name. */
bool xml_is_dsig(xmlNodePtr n, const char *name);
/* n itself or its next sibling that is an element (text, comments skipped); NULL at the end. */
xmlNodePtr xml_next_element(xmlNodePtr n);
/* The first element child of parent, or NULL. */
xmlNodePtr xml_first_element(xmlNodePtr parent);

/* Splits the PrefixList of an ec:InclusiveNamespaces child of the transform or
 * CanonicalizationMethod element n, if any, into a NULL-terminated array for xmlC14NExecute.
 * Anything else as a child of n is refused. *storage owns the strings; free both with
 * xmlFree (both NULL when there is no list). */
int xml_c14n_inclusive_prefixes(xmlNodePtr n, xmlChar **storage, xmlChar ***list, efos_err *e);

/* Exclusive canonicalisation of ns into a new output buffer (xmlOutputBufferClose it);
 * xmlOutputBufferGetContent/GetSize give the octets. */
int xml_c14n_exclusive(xmlDocPtr doc, const struct xml_node_set *ns, xmlChar **prefixes,
		       bool with_comments, xmlOutputBufferPtr *out, efos_err *e);

#endif
