/* libFuzzer: the EidSignRequest intake (signer/dss_request.h: dss_request_parse).
 *
 * Input: one mode byte, then the SignRequest XML.
 *   mode & 1 == 0: the XML is given to the intake as it is: parsing, shape, wrapping checks,
 *                  requester lookup and signature verification (which a mutated input
 *                  almost never passes).
 *   mode & 1 == 1: the XML is re-signed here first (any ds:Signature in dss:OptionalInputs is
 *                  removed, a new enveloped URI="" ECDSA P-256 signature appended, made with
 *                  core/xml_c14n and a key created at start-up that the requester lookup
 *                  trusts), so every §7.2 check past the signature is reached.
 *   mode & 2:      a configured list of signature algorithms and max_tasks 3 instead of the
 *                  defaults.
 * The clock is fixed at 2026-01-01T00:00:00Z; requester https://sp.example.se/sp with return
 * URL https://sp.example.se/sign/response, service https://sign.example.se/sign.
 * Checked: 0 and DSS_INTAKE_REFUSED give a request with RequestID, Version, return URL and
 * requester; -1 gives none; every result has a major code and a message unless accepted;
 * every field of an accepted or refused request is read (ASan sees a dangling pointer).
 * Seeds: tests/fuzz/corpus/fuzz_sign_request/ (docs/fuzzing.md). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include "core/xml.h"
#include "core/xml_c14n.h"
#include "signer/dss_request.h"
#include "signer/dss_xml.h"

#define FUZZ_NOW ((time_t)1767225600) /* 2026-01-01T00:00:00Z */

static bool verbose;   /* FUZZ_SIGN_REQUEST_VERBOSE=1: one line per parse on stderr (seed checks) */
static EVP_PKEY *req_key;
static EVP_PKEY *req_keys[1];
static const char *const return_urls[] = { "https://sp.example.se/sign/response" };
static const char *const few_algs[] = { "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
					"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" };

static int lookup(void *arg, const char *entity_id, struct dss_requester *out)
{
	if (strcmp(entity_id, "https://sp.example.se/sp") != 0)
		return -1;
	out->keys = req_keys;
	out->n_keys = 1;
	out->return_urls = return_urls;
	out->n_return_urls = 1;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	xmlInitParser();
	verbose = getenv("FUZZ_SIGN_REQUEST_VERBOSE") != NULL;
	req_key = EVP_EC_gen("P-256");
	if (req_key == NULL)
		abort();
	req_keys[0] = req_key;
	return 0;
}

static xmlNodePtr ds_child(xmlNodePtr parent, xmlNsPtr ds, const char *name, const char *alg)
{
	xmlNodePtr n = xmlNewChild(parent, ds, BAD_CAST name, NULL);
	if (alg != NULL)
		xmlNewProp(n, BAD_CAST "Algorithm", BAD_CAST alg);
	return n;
}

static bool set_b64(xmlNodePtr n, const unsigned char *d, size_t len)
{
	char *s = dss_b64_encode(d, len);
	if (s == NULL)
		return false;
	xmlNodeSetContent(n, BAD_CAST s);
	free(s);
	return true;
}

/* Appends an enveloped URI="" signature to oi, the way a Signature Requestor would. */
static bool sign_in_memory(xmlDocPtr doc, xmlNodePtr oi)
{
	xmlNodePtr sig = xmlNewDocNode(doc, NULL, BAD_CAST "Signature", NULL);
	xmlNsPtr ds = xmlNewNs(sig, BAD_CAST XML_NS_DSIG, BAD_CAST "ds");
	xmlSetNs(sig, ds);
	xmlAddChild(oi, sig);
	xmlNodePtr si = ds_child(sig, ds, "SignedInfo", NULL);
	ds_child(si, ds, "CanonicalizationMethod", XML_ALG_EXC_C14N);
	ds_child(si, ds, "SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256");
	xmlNodePtr ref = ds_child(si, ds, "Reference", NULL);
	xmlNewProp(ref, BAD_CAST "URI", BAD_CAST "");
	xmlNodePtr tr = ds_child(ref, ds, "Transforms", NULL);
	ds_child(tr, ds, "Transform", XML_ALG_ENVELOPED);
	ds_child(tr, ds, "Transform", XML_ALG_EXC_C14N);
	ds_child(ref, ds, "DigestMethod", "http://www.w3.org/2001/04/xmlenc#sha256");
	xmlNodePtr dv = ds_child(ref, ds, "DigestValue", NULL);
	xmlNodePtr sv = ds_child(sig, ds, "SignatureValue", NULL);

	efos_err e = { 0 };
	xmlOutputBufferPtr out = NULL;
	unsigned char md[32], der[128], raw[64];
	unsigned int mdlen = 0;
	size_t derlen = sizeof der;
	bool ok = false;
	struct xml_node_set whole = { (xmlNodePtr)doc, sig, true };
	if (xml_c14n_exclusive(doc, &whole, NULL, false, &out, &e) < 0)
		return false;
	ok = EVP_Digest(xmlOutputBufferGetContent(out), xmlOutputBufferGetSize(out), md, &mdlen, EVP_sha256(), NULL) &&
	     set_b64(dv, md, mdlen);
	xmlOutputBufferClose(out);
	out = NULL;
	struct xml_node_set sinfo = { si, NULL, true };
	if (!ok || xml_c14n_exclusive(doc, &sinfo, NULL, false, &out, &e) < 0)
		return false;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	ok = c != NULL && EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, req_key) > 0 &&
	     EVP_DigestSign(c, der, &derlen, xmlOutputBufferGetContent(out), xmlOutputBufferGetSize(out)) > 0;
	EVP_MD_CTX_free(c);
	xmlOutputBufferClose(out);
	if (!ok)
		return false;
	/* XML-DSig ECDSA is r||s */
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	ok = es != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) == 32 &&
	     BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) == 32 && set_b64(sv, raw, 64);
	ECDSA_SIG_free(es);
	return ok;
}

/* The XML re-signed, or NULL when it has no place for a signature. */
static char *resign(const uint8_t *data, size_t size, size_t *outlen)
{
	xmlDocPtr doc = NULL;
	efos_err e = { 0 };
	char *res = NULL;
	if (xml_parse_untrusted((const char *)data, size, NULL, &doc, &e) < 0)
		return NULL;
	xmlNodePtr root = xmlDocGetRootElement(doc), oi = NULL;
	for (xmlNodePtr c = root ? root->children : NULL; c != NULL && oi == NULL; c = c->next)
		if (dss_is_el(c, DSS_NS_DSS, "OptionalInputs"))
			oi = c;
	if (oi != NULL) {
		for (xmlNodePtr c = oi->children, next; c != NULL; c = next) {
			next = c->next;
			if (dss_is_el(c, DSS_NS_DS, "Signature")) {
				xmlUnlinkNode(c);
				xmlFreeNode(c);
			}
		}
		if (sign_in_memory(doc, oi)) {
			xmlChar *mem = NULL;
			int len = 0;
			xmlDocDumpMemory(doc, &mem, &len);
			if (mem != NULL && len > 0 && (res = malloc((size_t)len)) != NULL) {
				memcpy(res, mem, (size_t)len);
				*outlen = (size_t)len;
			}
			xmlFree(mem);
		}
	}
	xmlFreeDoc(doc);
	return res;
}

static volatile size_t sink;

static void touch(const char *s)
{
	if (s != NULL)
		sink += strlen(s);
}

static void touch_request(const struct dss_sign_request *r)
{
	touch(r->request_id);
	touch(r->version);
	touch(r->return_url);
	touch(r->requester);
	touch(r->idp);
	touch(r->authn_profile);
	touch(r->sign_service);
	touch(r->sig_alg);
	touch(r->cert_type);
	touch(r->sign_message_xml);
	touch(r->sign_message_display_entity);
	for (size_t i = 0; i < r->n_signer; i++) {
		touch(r->signer[i].name);
		touch(r->signer[i].friendly_name);
		for (size_t k = 0; k < r->signer[i].n_values; k++)
			touch(r->signer[i].values[k]);
	}
	for (size_t i = 0; i < r->n_loas; i++)
		touch(r->loas[i]);
	for (size_t i = 0; i < r->n_cert_attrs; i++) {
		touch(r->cert_attrs[i].ref);
		touch(r->cert_attrs[i].friendly_name);
		touch(r->cert_attrs[i].default_value);
		for (size_t k = 0; k < r->cert_attrs[i].n_sources; k++)
			touch(r->cert_attrs[i].sources[k].name);
	}
	for (size_t i = 0; i < r->sign_message_text_len; i++)
		sink += r->sign_message_text[i];
	for (size_t i = 0; i < r->n_tasks; i++) {
		const struct dss_sign_task *t = &r->tasks[i];
		touch(t->id);
		touch(t->processing_rules);
		touch(t->signature_id);
		for (size_t k = 0; k < t->tbs_len; k++)
			sink += t->tbs[k];
		for (size_t k = 0; k < t->ades_object_len; k++)
			sink += t->ades_object[k];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++, size--;
	char *xml = NULL;
	size_t len = size;
	if (mode & 1) {
		if ((xml = resign(data, size, &len)) == NULL)
			return 0;
	} else {
		xml = malloc(size ? size : 1);
		if (xml == NULL)
			return 0;
		memcpy(xml, data, size);
	}
	struct dss_intake_opts o = {
		.own_entity_id = "https://sign.example.se/sign",
		.lookup = lookup,
		.now = FUZZ_NOW,
	};
	if (mode & 2) {
		o.supported_sig_algs = few_algs;
		o.n_supported_sig_algs = 2;
		o.max_tasks = 3;
	}
	struct dss_sign_request *r = NULL;
	struct dss_result res;
	efos_err e = { 0 };
	int rc = dss_request_parse(xml, len, &o, &r, &res, &e);
	if (verbose)
		fprintf(stderr, "mode %u: rc=%d %s\n", mode, rc, rc ? e.msg : "accepted");
	if (rc == -1) {
		if (r != NULL || res.major == NULL || res.message[0] == '\0' || e.msg[0] == '\0')
			abort();
	} else if (rc == 0 || rc == DSS_INTAKE_REFUSED) {
		if (r == NULL || r->request_id == NULL || r->version == NULL || r->return_url == NULL ||
		    r->requester == NULL || res.major == NULL)
			abort();
		if (rc == DSS_INTAKE_REFUSED && (res.message[0] == '\0' || strcmp(res.major, DSS_MAJOR_SUCCESS) == 0))
			abort();
		if (rc == 0 && (r->n_tasks == 0 || r->sig_alg == NULL || r->cert_type == NULL || r->idp == NULL))
			abort();
		touch_request(r);
		dss_request_free(r);
	} else {
		abort();
	}
	free(xml);
	return 0;
}
