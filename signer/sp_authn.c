/* The signing service's AuthnRequest to the IdP: see sp_authn.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include "core/saml_post.h"
#include "core/xml_alg.h"
#include "core/xml.h"
#include "hsm/bridge.h"
#include "hsm/hsm.h"
#include "idp/assertion.h"
#include "signer/sp_authn.h"

#define NS_SAMLP "urn:oasis:names:tc:SAML:2.0:protocol"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_CSIG "http://id.elegnamnden.se/csig/1.1/dss-ext/ns"
#define NS_SAP "http://id.elegnamnden.se/csig/1.1/sap/ns"
#define NS_PSC "http://id.swedenconnect.se/authn/1.0/principal-selection/ns"
#define BINDING_POST "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define NAMEID_PERSISTENT "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
#define SIG_RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define SIG_ECDSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define DIGEST_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"

#define MAX_SIGN_MESSAGE_XML (512u * 1024u)

void sp_authn_out_free(struct sp_authn_out *o)
{
	if (o == NULL)
		return;
	free(o->saml_request_b64);
	free(o->post_form_html);
	*o = (struct sp_authn_out){ 0 };
}

static bool utf8_ok(const char *s)
{
	return s != NULL && xmlCheckUTF8(BAD_CAST s) != 0;
}

/* Spec §1.5: the IdP's first alg:SigningMethod that we support and that fits our key, else the
 * mandatory rsa-sha256 / ecdsa-sha256; likewise its first alg:DigestMethod, else sha256. */
static const char *choose_sig_alg(const struct sig_idp *idp, struct hsm_key *key)
{
	bool ec = hsm_key_kind(key) == HSM_KEY_EC;
	for (size_t i = 0; i < idp->n_signing_methods; i++) {
		const struct xml_sig_alg *a = xml_sig_alg_find(idp->signing_methods[i]);
		if (a != NULL && (a->kind == XML_SIG_ECDSA) == ec)
			return a->uri;
	}
	return ec ? SIG_ECDSA_SHA256 : SIG_RSA_SHA256;
}

static const char *choose_digest_alg(const struct sig_idp *idp)
{
	for (size_t i = 0; i < idp->n_digest_methods; i++) {
		const struct xml_digest_alg *d = xml_digest_alg_find(idp->digest_methods[i]);
		if (d != NULL)
			return d->uri;
	}
	return DIGEST_SHA256;
}

/* True when the IdP lists name in its RequestedPrincipalSelection. */
static bool idp_wants(const struct sig_idp *idp, const char *name)
{
	for (size_t i = 0; name != NULL && i < idp->n_principal_selection; i++)
		if (strcmp(idp->principal_selection[i], name) == 0)
			return true;
	return false;
}

static int check_params(const struct sp_authn_params *p, efos_err *e)
{
	if (p == NULL || p->sp_entity_id == NULL || p->acs_url == NULL || p->idp == NULL)
		return efos_fail(e, EFOS_E_INVALID, "AuthnRequest: our entityID, ACS URL and the IdP are required");
	if (p->idp->sso_post_url == NULL)
		return efos_fail(e, EFOS_E_INVALID, "AuthnRequest: IdP %s has no HTTP-POST SingleSignOnService in its metadata",
				 p->idp->entity_id);
	if (p->n_loas == 0 || p->loas == NULL)
		return efos_fail(e, EFOS_E_INVALID, "AuthnRequest: at least one requested LoA is required");
	if (!utf8_ok(p->sp_entity_id) || !utf8_ok(p->acs_url) || (p->requester_id && !utf8_ok(p->requester_id)))
		return efos_fail(e, EFOS_E_INVALID, "AuthnRequest: an entityID or URL is not UTF-8");
	for (size_t i = 0; i < p->n_loas; i++)
		if (!utf8_ok(p->loas[i]))
			return efos_fail(e, EFOS_E_INVALID, "AuthnRequest: a requested LoA is missing or not UTF-8");
	if (p->sad_request_id != NULL) {
		if (p->sign_request_id == NULL || p->doc_count < 1 || !utf8_ok(p->sad_request_id) ||
		    !utf8_ok(p->sign_request_id))
			return efos_fail(e, EFOS_E_INVALID, "AuthnRequest: a SADRequest needs its ID, the SignRequestID and "
					 "DocCount >= 1");
		if (xmlValidateNCName(BAD_CAST p->sad_request_id, 0) != 0)
			return efos_fail(e, EFOS_E_INVALID, "AuthnRequest: the SADRequest ID is not an xs:ID (NCName)");
	}
	return 0;
}

/* The csig:SignMessage element, parsed from the requester's bytes with the same limits as any
 * message and copied into `into` as it is. */
static int sign_message_node(const char *xml, xmlDocPtr into, xmlNodePtr *out, efos_err *e)
{
	xmlDocPtr d = NULL;
	struct xml_limits lim = xml_limits_message;
	lim.max_bytes = MAX_SIGN_MESSAGE_XML;
	*out = NULL;
	if (xml_parse_untrusted(xml, strlen(xml), &lim, &d, e) != 0)
		return efos_wrap(e, "AuthnRequest: the SignMessage");
	xmlNodePtr r = xmlDocGetRootElement(d);
	if (r == NULL || r->ns == NULL || !xmlStrEqual(r->ns->href, BAD_CAST NS_CSIG) ||
	    !xmlStrEqual(r->name, BAD_CAST "SignMessage")) {
		xmlFreeDoc(d);
		return efos_fail(e, EFOS_E_INVALID, "AuthnRequest: the SignMessage is not a csig:SignMessage element");
	}
	*out = xmlDocCopyNode(r, into, 1);
	xmlFreeDoc(d);
	return *out ? 0 : efos_fail(e, EFOS_E_INTERNAL, "out of memory");
}

/* samlp:Extensions, or nothing when there is nothing to put in it. */
static int add_extensions(xmlNodePtr root, xmlNsPtr samlp, const struct sp_authn_params *p, efos_err *e)
{
	xmlNodePtr sm = NULL;
	size_t n_ps = 0;
	for (size_t i = 0; i < p->n_signer; i++)
		if (idp_wants(p->idp, p->signer[i].name) && p->signer[i].n_values > 0)
			n_ps++;
	if (p->sign_message_xml == NULL && p->sad_request_id == NULL && n_ps == 0)
		return 0;
	if (p->sign_message_xml != NULL && sign_message_node(p->sign_message_xml, root->doc, &sm, e) != 0)
		return -1;
	xmlNodePtr ext = xmlNewChild(root, samlp, BAD_CAST "Extensions", NULL);
	if (ext == NULL || (sm != NULL && xmlAddChild(ext, sm) == NULL)) {
		xmlFreeNode(sm);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	if (p->sad_request_id != NULL) {
		char dc[16];
		snprintf(dc, sizeof dc, "%d", p->doc_count);
		xmlNodePtr s = xmlNewChild(ext, NULL, BAD_CAST "SADRequest", NULL);
		xmlNsPtr sap = s ? xmlNewNs(s, BAD_CAST NS_SAP, BAD_CAST "sap") : NULL;
		if (sap == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		xmlSetNs(s, sap);
		if (xmlNewProp(s, BAD_CAST "ID", BAD_CAST p->sad_request_id) == NULL ||
		    xmlNewTextChild(s, sap, BAD_CAST "RequesterID", BAD_CAST p->sp_entity_id) == NULL ||
		    xmlNewTextChild(s, sap, BAD_CAST "SignRequestID", BAD_CAST p->sign_request_id) == NULL ||
		    xmlNewTextChild(s, sap, BAD_CAST "DocCount", BAD_CAST dc) == NULL ||
		    xmlNewTextChild(s, sap, BAD_CAST "RequestedVersion", BAD_CAST "1.0") == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	if (n_ps > 0) {
		xmlNodePtr ps = xmlNewChild(ext, NULL, BAD_CAST "PrincipalSelection", NULL);
		xmlNsPtr psc = ps ? xmlNewNs(ps, BAD_CAST NS_PSC, BAD_CAST "psc") : NULL;
		if (psc == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		xmlSetNs(ps, psc);
		for (size_t i = 0; i < p->n_signer; i++) {
			const struct dss_attr *a = &p->signer[i];
			if (!idp_wants(p->idp, a->name) || a->n_values == 0)
				continue;
			/* several values of one attribute are alternatives (spec §8): one MatchValue each */
			for (size_t j = 0; j < a->n_values; j++) {
				if (!utf8_ok(a->values[j]))
					return efos_fail(e, EFOS_E_INVALID, "AuthnRequest: a csig:Signer value of %s is not UTF-8",
							 a->name);
				xmlNodePtr mv = xmlNewTextChild(ps, psc, BAD_CAST "MatchValue", BAD_CAST a->values[j]);
				if (mv == NULL || xmlNewProp(mv, BAD_CAST "Name", BAD_CAST a->name) == NULL)
					return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			}
		}
	}
	return 0;
}

int sp_authn_build(struct hsm_key *sign_key, const char *sign_cert_b64, const struct sp_authn_params *p,
		   const char *relay_state, const char *script_nonce, struct sp_authn_out *out, efos_err *e)
{
	xmlDocPtr doc = NULL;
	xmlChar *xml = NULL;
	int xlen = 0, ret = -1;

	*out = (struct sp_authn_out){ 0 };
	if (sign_key == NULL)
		return efos_fail(e, EFOS_E_INVALID, "AuthnRequest: no signing key (a signature service's requests must be signed)");
	if (check_params(p, e) != 0)
		return -1;
	if (idp_new_id(out->id, e) != 0)   /* "_" + 40 hex digits, as the IdP's */
		return -1;
	char t[32];
	time_t now = p->now ? p->now : time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);

	doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = doc ? xmlNewDocNode(doc, NULL, BAD_CAST "AuthnRequest", NULL) : NULL;
	if (root == NULL)
		goto oom;
	xmlDocSetRootElement(doc, root);
	xmlNsPtr samlp = xmlNewNs(root, BAD_CAST NS_SAMLP, BAD_CAST "samlp");
	xmlNsPtr saml = xmlNewNs(root, BAD_CAST NS_SAML, BAD_CAST "saml");
	if (samlp == NULL || saml == NULL)
		goto oom;
	xmlSetNs(root, samlp);
	if (xmlNewProp(root, BAD_CAST "ID", BAD_CAST out->id) == NULL ||
	    xmlNewProp(root, BAD_CAST "Version", BAD_CAST "2.0") == NULL ||
	    xmlNewProp(root, BAD_CAST "IssueInstant", BAD_CAST t) == NULL ||
	    xmlNewProp(root, BAD_CAST "Destination", BAD_CAST p->idp->sso_post_url) == NULL ||
	    xmlNewProp(root, BAD_CAST "ForceAuthn", BAD_CAST "true") == NULL ||
	    xmlNewProp(root, BAD_CAST "IsPassive", BAD_CAST "false") == NULL ||
	    xmlNewProp(root, BAD_CAST "ProtocolBinding", BAD_CAST BINDING_POST) == NULL ||
	    xmlNewProp(root, BAD_CAST "AssertionConsumerServiceURL", BAD_CAST p->acs_url) == NULL)
		goto oom;
	xmlNodePtr issuer = xmlNewTextChild(root, saml, BAD_CAST "Issuer", BAD_CAST p->sp_entity_id);
	if (issuer == NULL)
		goto oom;
	if (add_extensions(root, samlp, p, e) != 0)
		goto out;
	xmlNodePtr nip = xmlNewChild(root, samlp, BAD_CAST "NameIDPolicy", NULL);
	if (nip == NULL || xmlNewProp(nip, BAD_CAST "Format", BAD_CAST NAMEID_PERSISTENT) == NULL ||
	    xmlNewProp(nip, BAD_CAST "AllowCreate", BAD_CAST "true") == NULL)
		goto oom;
	xmlNodePtr rac = xmlNewChild(root, samlp, BAD_CAST "RequestedAuthnContext", NULL);
	if (rac == NULL || xmlNewProp(rac, BAD_CAST "Comparison", BAD_CAST "exact") == NULL)
		goto oom;
	for (size_t i = 0; i < p->n_loas; i++)
		if (xmlNewTextChild(rac, saml, BAD_CAST "AuthnContextClassRef", BAD_CAST p->loas[i]) == NULL)
			goto oom;
	if (p->requester_id != NULL) {
		xmlNodePtr sc = xmlNewChild(root, samlp, BAD_CAST "Scoping", NULL);
		if (sc == NULL || xmlNewTextChild(sc, samlp, BAD_CAST "RequesterID", BAD_CAST p->requester_id) == NULL)
			goto oom;
	}

	const struct hsm_xmldsig_enveloped sp = {
		.target = root,
		.after = issuer,
		.id = out->id,
		.sig_alg = choose_sig_alg(p->idp, sign_key),
		.digest_alg = choose_digest_alg(p->idp),
		.cert_b64 = sign_cert_b64,
	};
	if (hsm_xmldsig_sign_enveloped(&sp, sign_key, e) != 0) {
		efos_wrap(e, "AuthnRequest");
		goto out;
	}
	xmlDocDumpMemoryEnc(doc, &xml, &xlen, "UTF-8");
	if (xml == NULL || xlen <= 0) {
		efos_fail(e, EFOS_E_INTERNAL, "AuthnRequest: serialisation failed");
		goto out;
	}
	if ((out->saml_request_b64 = malloc(4 * (((size_t)xlen + 2) / 3) + 1)) == NULL)
		goto oom;
	EVP_EncodeBlock((unsigned char *)out->saml_request_b64, xml, xlen);
	out->post_form_html = saml_post_form(p->idp->sso_post_url, "SAMLRequest", out->saml_request_b64, relay_state,
					     script_nonce);
	if (out->post_form_html == NULL)
		goto oom;
	ret = 0;
	goto out;
oom:
	efos_fail(e, EFOS_E_INTERNAL, "out of memory");
out:
	if (ret != 0)
		sp_authn_out_free(out);
	xmlFree(xml);
	xmlFreeDoc(doc);
	return ret;
}
