/* dss:SignResponse (signer/dss_response.h), in the element order of the OASIS DSS core and
 * EidCentralSigDssExt 1.1.3 schemas:
 *
 *   dss:SignResponse @Profile @RequestID
 *     dss:Result (ResultMajor, ResultMinor?, ResultMessage xml:lang="en"?)
 *     dss:OptionalOutputs
 *       csig:SignResponseExtension @Version
 *         csig:ResponseTime
 *         csig:SignerAssertionInfo           success only
 *         csig:SignatureCertificateChain     success only
 *       ds:Signature                         last; URI="" over the whole response
 *     dss:SignatureObject/dss:Other/csig:SignTasks   success only
 *
 * The signature is made by hsm_xmldsig_sign_enveloped() (hsm/bridge.h), the same code that signs
 * the IdP's responses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include <openssl/x509.h>
#include "core/post_page.h"
#include "hsm/bridge.h"
#include "signer/dss_response.h"
#include "signer/dss_xml.h"

#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_XS "http://www.w3.org/2001/XMLSchema"
#define ATTRNAME_URI "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
#define SIG_RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define SIG_ECDSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define DIGEST_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"

struct builder {
	xmlDocPtr doc;
	xmlNsPtr dss, csig, saml;
	bool oom;
};

static xmlNodePtr add(struct builder *b, xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
	if (b->oom || parent == NULL)
		return NULL;
	xmlNodePtr n = xmlNewTextChild(parent, ns, BAD_CAST name, text ? BAD_CAST text : NULL);
	if (n == NULL)
		b->oom = true;
	return n;
}

static void attr(struct builder *b, xmlNodePtr n, const char *name, const char *value)
{
	if (!b->oom && n != NULL && value != NULL && xmlNewProp(n, BAD_CAST name, BAD_CAST value) == NULL)
		b->oom = true;
}

/* A base64 text child; data may be large, so encoded once and handed over. */
static xmlNodePtr add_b64(struct builder *b, xmlNodePtr parent, xmlNsPtr ns, const char *name,
			  const unsigned char *data, size_t len)
{
	char *s = dss_b64_encode(data, len);
	if (s == NULL) {
		b->oom = true;
		return NULL;
	}
	xmlNodePtr n = add(b, parent, ns, name, s);
	free(s);
	return n;
}

static void add_result(struct builder *b, xmlNodePtr root, const struct dss_result *res)
{
	xmlNodePtr r = add(b, root, b->dss, "Result", NULL);
	add(b, r, b->dss, "ResultMajor", res->major);
	if (res->minor != NULL)
		add(b, r, b->dss, "ResultMinor", res->minor);
	if (res->message[0] != '\0') {
		/* a message cut at its buffer's end may end inside a UTF-8 sequence: drop the tail */
		char msg[sizeof res->message];
		size_t len = strnlen(res->message, sizeof msg - 1);
		memcpy(msg, res->message, len);
		msg[len] = '\0';
		for (int cut = 0; cut < 4 && len > 0 && !dss_utf8_ok((const unsigned char *)msg, len); cut++)
			msg[--len] = '\0';
		if (!dss_utf8_ok((const unsigned char *)msg, len))
			snprintf(msg, sizeof msg, "(message withheld: not UTF-8 text)");
		xmlNodePtr m = add(b, r, b->dss, "ResultMessage", msg);
		if (m != NULL && !b->oom) {
			xmlNsPtr xml = xmlSearchNs(b->doc, m, BAD_CAST "xml");
			if (xml == NULL || xmlNewNsProp(m, xml, BAD_CAST "lang", BAD_CAST "en") == NULL)
				b->oom = true;
		}
	}
}

static void add_signer_info(struct builder *b, xmlNodePtr ext, const struct dss_signer_info *si)
{
	char when[32];
	xmlNodePtr sai = add(b, ext, b->csig, "SignerAssertionInfo", NULL);
	xmlNodePtr ci = add(b, sai, b->csig, "ContextInfo", NULL);
	xmlNodePtr idp = add(b, ci, b->csig, "IdentityProvider", si->idp);
	attr(b, idp, "Format", DSS_NAMEID_ENTITY);
	dss_format_datetime(si->authn_instant, when, sizeof when);
	add(b, ci, b->csig, "AuthenticationInstant", when);
	add(b, ci, b->saml, "AuthnContextClassRef", si->loa);
	if (si->service_id != NULL)
		add(b, ci, b->csig, "ServiceID", si->service_id);
	add(b, ci, b->csig, "AssertionRef", si->assertion_id);

	xmlNodePtr st = add(b, sai, b->saml, "AttributeStatement", NULL);
	xmlNsPtr xsi = NULL;
	if (st != NULL && !b->oom) {
		xsi = xmlNewNs(st, BAD_CAST NS_XSI, BAD_CAST "xsi");
		if (xsi == NULL || xmlNewNs(st, BAD_CAST NS_XS, BAD_CAST "xs") == NULL)
			b->oom = true;
	}
	for (size_t i = 0; i < si->n_attrs; i++) {
		const struct dss_attr *a = &si->attrs[i];
		xmlNodePtr an = add(b, st, b->saml, "Attribute", NULL);
		attr(b, an, "Name", a->name);
		attr(b, an, "NameFormat", ATTRNAME_URI);
		attr(b, an, "FriendlyName", a->friendly_name);
		for (size_t k = 0; k < a->n_values; k++) {
			xmlNodePtr v = add(b, an, b->saml, "AttributeValue", a->values[k]);
			if (v != NULL && !b->oom && xmlNewNsProp(v, xsi, BAD_CAST "type", BAD_CAST "xs:string") == NULL)
				b->oom = true;
		}
	}
	if (si->assertion != NULL && si->assertion_len > 0) {
		xmlNodePtr sa = add(b, sai, b->csig, "SamlAssertions", NULL);
		add_b64(b, sa, b->csig, "Assertion", si->assertion, si->assertion_len);
	}
}

static int add_chain(struct builder *b, xmlNodePtr ext, X509 *const *chain, size_t n, efos_err *e)
{
	xmlNodePtr ch = add(b, ext, b->csig, "SignatureCertificateChain", NULL);
	for (size_t i = 0; i < n; i++) {
		unsigned char *der = NULL;
		int len = chain[i] ? i2d_X509(chain[i], &der) : -1;
		if (len <= 0)
			return efos_fail(e, EFOS_E_INTERNAL, "SignResponse: certificate %zu of the chain cannot be encoded", i);
		add_b64(b, ch, b->csig, "X509Certificate", der, (size_t)len);
		OPENSSL_free(der);
	}
	return 0;
}

static const char *sig_type_name(enum dss_sig_type t)
{
	return t == DSS_SIG_PDF ? "PDF" : t == DSS_SIG_CMS ? "CMS" : "XML";
}

static const char *ades_name(enum dss_ades_type t)
{
	return t == DSS_ADES_BES ? "BES" : t == DSS_ADES_EPES ? "EPES" : "None";
}

static void add_tasks(struct builder *b, xmlNodePtr root, const struct dss_sign_task *tasks, size_t n)
{
	xmlNodePtr so = add(b, root, b->dss, "SignatureObject", NULL);
	xmlNodePtr other = add(b, so, b->dss, "Other", NULL);
	xmlNodePtr st = add(b, other, b->csig, "SignTasks", NULL);
	for (size_t i = 0; i < n; i++) {
		const struct dss_sign_task *k = &tasks[i];
		xmlNodePtr td = add(b, st, b->csig, "SignTaskData", NULL);
		attr(b, td, "SignTaskId", k->id);
		attr(b, td, "SigType", sig_type_name(k->sig_type));
		attr(b, td, "AdESType", ades_name(k->ades_type));
		attr(b, td, "ProcessingRules", k->processing_rules);
		add_b64(b, td, b->csig, "ToBeSignedBytes", k->tbs, k->tbs_len);
		if (k->signature_id != NULL || k->ades_object != NULL) {
			xmlNodePtr ao = add(b, td, b->csig, "AdESObject", NULL);
			if (k->signature_id != NULL)
				add(b, ao, b->csig, "SignatureId", k->signature_id);
			if (k->ades_object != NULL)
				add_b64(b, ao, b->csig, "AdESObjectBytes", k->ades_object, k->ades_object_len);
		}
		xmlNodePtr sig = add_b64(b, td, b->csig, "Base64Signature", k->sig, k->sig_len);
		attr(b, sig, "Type", k->sig_alg_uri);
	}
}

/* What a success response must carry; refused before anything is signed. */
static int check_success(const struct dss_response_params *p, efos_err *e)
{
	const struct dss_signer_info *si = p->signer;
	if (si == NULL || si->idp == NULL || si->loa == NULL || si->assertion_id == NULL)
		return efos_fail(e, EFOS_E_INVALID,
				 "SignResponse: a success needs the signer's IdP, LoA and assertion ID (SignerAssertionInfo)");
	if (si->n_attrs == 0 || si->attrs == NULL)
		return efos_fail(e, EFOS_E_INVALID, "SignResponse: a success needs the signer's attributes");
	for (size_t i = 0; i < si->n_attrs; i++)
		if (si->attrs[i].name == NULL || si->attrs[i].n_values == 0)
			return efos_fail(e, EFOS_E_INVALID, "SignResponse: attribute %zu has no name or no value", i);
	if (p->chain == NULL || p->n_chain == 0)
		return efos_fail(e, EFOS_E_INVALID, "SignResponse: a success needs the signer's certificate chain");
	if (p->tasks == NULL || p->n_tasks == 0)
		return efos_fail(e, EFOS_E_INVALID, "SignResponse: a success needs the signed tasks");
	for (size_t i = 0; i < p->n_tasks; i++)
		if (p->tasks[i].sig == NULL || p->tasks[i].sig_len == 0 || p->tasks[i].sig_alg_uri == NULL ||
		    p->tasks[i].tbs == NULL)
			return efos_fail(e, EFOS_E_INVALID, "SignResponse: task %zu has no signature", i);
	return 0;
}

int dss_response_build_xml(const struct dss_response_key *k, const struct dss_response_params *p,
			   char **xml, size_t *xml_len, efos_err *e)
{
	*xml = NULL;
	*xml_len = 0;
	if (k == NULL || k->key == NULL || p == NULL || p->result == NULL || p->result->major == NULL ||
	    p->request_id == NULL)
		return efos_fail(e, EFOS_E_INVALID, "SignResponse: the key, RequestID and result are required");
	bool success = strcmp(p->result->major, DSS_MAJOR_SUCCESS) == 0;
	if (success && check_success(p, e) < 0)
		return -1;

	struct builder b = { 0 };
	int ret = -1;
	b.doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = b.doc ? xmlNewDocNode(b.doc, NULL, BAD_CAST "SignResponse", NULL) : NULL;
	if (root == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	xmlDocSetRootElement(b.doc, root);
	b.dss = xmlNewNs(root, BAD_CAST DSS_NS_DSS, BAD_CAST "dss");
	b.csig = xmlNewNs(root, BAD_CAST DSS_NS_CSIG, BAD_CAST "csig");
	b.saml = xmlNewNs(root, BAD_CAST DSS_NS_SAML, BAD_CAST "saml");
	b.oom = b.dss == NULL || b.csig == NULL || b.saml == NULL;
	xmlSetNs(root, b.dss);
	attr(&b, root, "Profile", DSS_PROFILE);
	attr(&b, root, "RequestID", p->request_id);

	add_result(&b, root, p->result);
	xmlNodePtr oo = add(&b, root, b.dss, "OptionalOutputs", NULL);
	xmlNodePtr ext = add(&b, oo, b.csig, "SignResponseExtension", NULL);
	attr(&b, ext, "Version", p->version ? p->version : "1.1");
	char when[32];
	dss_format_datetime(p->now ? p->now : time(NULL), when, sizeof when);
	add(&b, ext, b.csig, "ResponseTime", when);
	if (success) {
		add_signer_info(&b, ext, p->signer);
		if (add_chain(&b, ext, p->chain, p->n_chain, e) < 0)
			goto out;
		add_tasks(&b, root, p->tasks, p->n_tasks);
	}
	if (b.oom) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory building the SignResponse");
		goto out;
	}
	/* last child of OptionalOutputs, Reference URI="" over the whole response */
	struct hsm_xmldsig_enveloped tmpl = {
		.target = oo,
		.sig_alg = hsm_key_kind(k->key) == HSM_KEY_EC ? SIG_ECDSA_SHA256 : SIG_RSA_SHA256,
		.digest_alg = DIGEST_SHA256,
		.cert_b64 = k->cert_b64,
	};
	if (hsm_xmldsig_sign_enveloped(&tmpl, k->key, e) < 0) {
		efos_wrap(e, "signing the SignResponse");
		goto out;
	}
	xmlChar *mem = NULL;
	int len = 0;
	xmlDocDumpMemoryEnc(b.doc, &mem, &len, "UTF-8");
	if (mem == NULL || len <= 0 || (*xml = malloc((size_t)len + 1)) == NULL) {
		xmlFree(mem);
		efos_fail(e, EFOS_E_INTERNAL, "out of memory serialising the SignResponse");
		goto out;
	}
	memcpy(*xml, mem, (size_t)len);
	(*xml)[len] = '\0';
	*xml_len = (size_t)len;
	xmlFree(mem);
	ret = 0;
out:
	xmlFreeDoc(b.doc);
	return ret;
}

int dss_response_build(const struct dss_response_key *k, const struct dss_response_params *p,
		       char **b64, efos_err *e)
{
	char *xml = NULL;
	size_t len = 0;
	*b64 = NULL;
	if (dss_response_build_xml(k, p, &xml, &len, e) < 0)
		return -1;
	*b64 = dss_b64_encode((const unsigned char *)xml, len);
	free(xml);
	if (*b64 == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory encoding the SignResponse");
	return 0;
}

/* ---- the auto-POST page ------------------------------------------------------------------- */

char *dss_response_post_form(const char *return_url, const char *b64, const char *relay_state,
			     const char *script_nonce)
{
	if (return_url == NULL || b64 == NULL)
		return NULL;
	const struct post_field fields[] = {
		{ "Binding", "POST/XML/1.0" }, { "RelayState", relay_state }, { "EidSignResponse", b64 },
	};
	return post_page(return_url, fields, 3,
			 "Du skickas tillbaka till tjänsten. / You are being sent back to the service.", script_nonce);
}
