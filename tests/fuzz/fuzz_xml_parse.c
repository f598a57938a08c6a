/* libFuzzer: untrusted XML through the whole receiving path of core/xml.h.
 * Input: one flags byte (bit 0: comments allowed, bit 1: the DSS whole-document policy and ID
 * rules instead of SAML's), then the document. Each document is parsed under small limits,
 * its IDs registered, the root and its one Assertion verified against fixed keys, and the
 * text of their children read strictly; every ds:Signature also goes through the validator's
 * check (xml_dsig_check_signature: several References, ds:Object, an external document) with
 * each key. Nothing may crash, leak or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include "core/xml.h"

#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"

static EVP_PKEY *keys[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	xmlInitParser();
	keys[0] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	keys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return 0;
}

static void read_texts(xmlNodePtr el)
{
	efos_err e;
	for (xmlNodePtr c = el ? el->children : NULL; c != NULL; c = c->next) {
		xmlChar *t = NULL;
		if (c->type == XML_ELEMENT_NODE && xml_text_content_strict(c, &t, &e) == 0)
			xmlFree(t);
	}
}

/* The validator's entry point on every ds:Signature (signer/sigval_xml.c's path). */
static void check_all_signatures(xmlNodePtr n)
{
	static const unsigned char external[] = "external document";
	for (; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (n->ns != NULL && xmlStrEqual(n->name, BAD_CAST "Signature") &&
		    xmlStrEqual(n->ns->href, BAD_CAST "http://www.w3.org/2000/09/xmldsig#")) {
			for (size_t i = 0; i < 2; i++) {
				struct xml_dsig_check chk;
				bool alg_refused;
				efos_err e;
				xml_dsig_check_signature(n, keys[i], i ? external : NULL, sizeof external - 1, &chk,
							 &alg_refused, &e);
			}
		}
		check_all_signatures(n->children);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	struct xml_limits lim = { .max_bytes = 64 * 1024, .max_depth = 32, .max_nodes = 4096,
				  .allow_comments = (flags & 1) != 0 };
	bool dss = (flags & 2) != 0;
	xmlDocPtr doc = NULL;
	efos_err e;
	if (xml_parse_untrusted((const char *)data + 1, size - 1, &lim, &doc, &e) != 0)
		return 0;
	if (xml_register_ids(doc, dss ? xml_id_rules_dss : xml_id_rules_saml,
			     dss ? xml_id_rules_dss_n : xml_id_rules_saml_n, &e) == 0) {
		xmlNodePtr root = xmlDocGetRootElement(doc);
		if (dss) {
			xmlNodePtr oi = root->children ? xmlFirstElementChild(root) : NULL;
			xmlNodePtr sig = oi ? xmlLastElementChild(oi) : NULL;
			if (sig != NULL)
				read_texts(xml_dsig_verify_element(root, sig, keys, 2, &xml_dsig_policy_dss, &e));
		} else {
			read_texts(xml_dsig_verify_element(root, NULL, keys, 2, &xml_dsig_policy_saml, &e));
			xmlNodePtr a = NULL;
			if (xml_find_unique_child(root, NS_SAML, "Assertion", &a, &e) == 0)
				read_texts(xml_dsig_verify_element(a, NULL, keys, 2, &xml_dsig_policy_saml, &e));
		}
		check_all_signatures(root);
	}
	xmlFreeDoc(doc);
	return 0;
}
