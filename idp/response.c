/* The samlp:Response: see response.h and docs/idp-responses.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "core/base64.h"
#include "core/saml_post.h"
#include "core/xml_alg.h"
#include "core/xml_c14n.h"
#include "hsm/bridge.h"
#include "hsm/hsm.h"
#include "idp/metadata_store.h"
#include "idp/response.h"
#include "idp/sad.h"
#include "idp/xmlenc.h"

#define SIG_RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define SIG_ECDSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define DIGEST_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"
#define STATUS_PREFIX "urn:oasis:names:tc:SAML:2.0:status:"

void idp_response_out_free(struct idp_response_out *o)
{
	if (o == NULL)
		return;
	free(o->b64);
	*o = (struct idp_response_out){ 0 };
}

/* ---- attribute release ------------------------------------------------------------------- */

static const char *const default_ecs[] = {
	"http://id.swedenconnect.se/ec/1.0/loa4-orgid",
	"http://id.elegnamnden.se/ec/1.0/loa4-pnr",
	"http://id.swedenconnect.se/ec/1.0/loa4-name",
};

static bool sp_requests(const struct idp_sp *sp, const char *name)
{
	for (size_t i = 0; sp != NULL && i < sp->n_requested_attrs; i++)
		if (sp->requested_attrs[i].name && strcmp(sp->requested_attrs[i].name, name) == 0)
			return true;
	return false;
}

static char *cert_b64(X509 *c)
{
	unsigned char *der = NULL;
	int len = i2d_X509(c, &der);
	char *s = len > 0 ? b64_encode(der, (size_t)len) : NULL;
	OPENSSL_free(der);
	return s;
}

int idp_release_for_login(const struct idp_response_keys *k, const struct idp_authn_request *req,
			  const struct idp_subject *subj, struct policy_release *rel, efos_err *e)
{
	const struct idp_sp *sp = req->sp;
	struct policy_requested_attr *ra = NULL;
	struct policy_affiliation *af = NULL;
	char *ucert = NULL;
	char preferred[16] = "";
	int ret = -1;

	*rel = (struct policy_release){ 0 };
	if (sp == NULL)
		return efos_fail(e, EFOS_E_INVALID, "attribute release: the request has no SP");
	if (sp->n_requested_attrs > 0 && (ra = calloc(sp->n_requested_attrs, sizeof *ra)) == NULL)
		goto oom;
	for (size_t i = 0; i < sp->n_requested_attrs; i++) {
		ra[i].name = sp->requested_attrs[i].name;
		ra[i].is_required = sp->requested_attrs[i].is_required;
	}
	if (subj->n_affiliations > 0 && (af = calloc(subj->n_affiliations, sizeof *af)) == NULL)
		goto oom;
	for (size_t i = 0; i < subj->n_affiliations; i++) {
		af[i].org_affiliation = subj->affiliations[i].org_affiliation;
		af[i].orgnr = subj->affiliations[i].orgnr;
		af[i].org_name = subj->affiliations[i].org_name;
	}
	/* A PrincipalSelection orgAffiliation value picks the organisation for o/organizationIdentifier. */
	for (size_t i = 0; i < req->n_principal; i++) {
		if (req->principal_attr_names[i] && req->principal_attr_values[i] &&
		    strcmp(req->principal_attr_names[i], ATTR_ORG_AFFILIATION) == 0) {
			const char *at = strrchr(req->principal_attr_values[i], '@');
			if (at != NULL && strlen(at + 1) < sizeof preferred)
				snprintf(preferred, sizeof preferred, "%s", at + 1);
			break;
		}
	}
	if (subj->card_cert != NULL && sp_requests(sp, ATTR_USER_CERTIFICATE) && (ucert = cert_b64(subj->card_cert)) == NULL)
		goto oom;

	struct policy_release_sp psp = {
		.entity_categories = sp->entity_categories,
		.n_entity_categories = sp->n_entity_categories,
		.requested = ra,
		.n_requested = sp->n_requested_attrs,
		.principal_selection_names = (const char *const *)req->principal_attr_names,
		.n_principal_selection_names = req->n_principal,
	};
	struct policy_release_idp pidp = {
		.entity_categories = k->n_entity_categories ? k->entity_categories : default_ecs,
		.n_entity_categories = k->n_entity_categories ? k->n_entity_categories
							      : sizeof default_ecs / sizeof default_ecs[0],
		.scopes = k->scopes,
		.n_scopes = k->n_scopes,
		.scope_ok = k->scope_ok,
		.scope_arg = k->scope_arg,
	};
	struct policy_person pp = {
		.pnr = subj->pnr,
		.is_coordination_number = subj->is_coordination_number,
		.given_name = subj->given_name,
		.surname = subj->surname,
		.display_name = subj->display_name,
		.affiliations = af,
		.n_affiliations = subj->n_affiliations,
		.preferred_orgnr = preferred[0] ? preferred : NULL,
		.loa = req->chosen_loa ? req->chosen_loa : subj->loa,
		.user_certificate_b64 = ucert,
	};
	ret = policy_attribute_release(&psp, &pidp, &pp, rel, e);
	goto out;
oom:
	efos_fail(e, EFOS_E_INTERNAL, "out of memory");
out:
	free(ra);
	free(af);
	free(ucert);
	return ret;
}

void idp_refusal_status(enum policy_refusal r, struct idp_status *st)
{
	*st = (struct idp_status){ 0 };
	st->top = STATUS_PREFIX "Responder";
	st->second = STATUS_PREFIX "RequestDenied";
	switch (r) {
	case POLICY_REFUSE_COORDINATION_NUMBER:
		snprintf(st->message, sizeof st->message,
			 "The user has a coordination number and the SP does not declare accepts-coordination-number");
		break;
	case POLICY_REFUSE_NO_ORG_IDENTITY:
		snprintf(st->message, sizeof st->message,
			 "The user has no organisational affiliation that this IdP may release");
		break;
	case POLICY_REFUSE_REQUIRED_ATTRIBUTE:
	default:
		snprintf(st->message, sizeof st->message, "A required attribute cannot be provided for this user");
		break;
	}
}

/* ---- signatures ---------------------------------------------------------------------------- */

/* SignatureMethod: the SP's first alg:SigningMethod that we support and that fits our key,
 * else rsa-sha256 / ecdsa-sha256. */
static const char *choose_sig_alg(const struct idp_sp *sp, struct hsm_key *key)
{
	bool ec = hsm_key_kind(key) == HSM_KEY_EC;
	for (size_t i = 0; sp != NULL && i < sp->n_signing_methods; i++) {
		const struct xml_sig_alg *a = xml_sig_alg_find(sp->signing_methods[i]);
		if (a != NULL && (a->kind == XML_SIG_ECDSA) == ec)
			return a->uri;
	}
	return ec ? SIG_ECDSA_SHA256 : SIG_RSA_SHA256;
}

static const char *choose_digest_alg(const struct idp_sp *sp)
{
	for (size_t i = 0; sp != NULL && i < sp->n_digest_methods; i++) {
		const struct xml_digest_alg *d = xml_digest_alg_find(sp->digest_methods[i]);
		if (d != NULL)
			return d->uri;
	}
	return DIGEST_SHA256;
}

/* Inserts an enveloped ds:Signature right after `issuer` in `target` (Reference "#id",
 * exc-c14n with the given InclusiveNamespaces prefixes) and signs it through the HSM. */
static int sign_enveloped(const struct idp_response_keys *k, xmlNodePtr target, xmlNodePtr issuer, const char *id,
			  const char *sig_alg, const char *dig_alg, const char *prefixes, efos_err *e)
{
	const struct hsm_xmldsig_enveloped p = {
		.target = target,
		.after = issuer,
		.id = id,
		.sig_alg = sig_alg,
		.digest_alg = dig_alg,
		.inclusive_prefixes = prefixes,
		.cert_b64 = k->sign_cert_b64,
	};
	return hsm_xmldsig_sign_enveloped(&p, k->sign_key, e);
}

/* ---- the Response -------------------------------------------------------------------------- */

struct resp {
	xmlDocPtr doc;
	xmlNodePtr root, issuer;
	xmlNsPtr samlp, saml;
};

static int response_start(const struct idp_response_keys *k, const struct idp_authn_request *req, time_t now,
			  char id[IDP_ID_LEN], struct resp *r, efos_err *e)
{
	*r = (struct resp){ 0 };
	if (k->idp_entity_id == NULL || k->sign_key == NULL)
		return efos_fail(e, EFOS_E_INVALID, "response: the IdP entityID and signing key are required");
	if (req->acs_url == NULL)
		return efos_fail(e, EFOS_E_INVALID, "response: no ACS URL to send it to");
	if (idp_new_id(id, e) < 0)
		return -1;
	char t[32];
	idp_format_time(now, t, sizeof t);
	r->doc = xmlNewDoc(BAD_CAST "1.0");
	r->root = r->doc ? xmlNewDocNode(r->doc, NULL, BAD_CAST "Response", NULL) : NULL;
	if (r->root == NULL)
		goto oom;
	xmlDocSetRootElement(r->doc, r->root);
	r->samlp = xmlNewNs(r->root, BAD_CAST SAML_NS_PROTOCOL, BAD_CAST "samlp");
	r->saml = xmlNewNs(r->root, BAD_CAST SAML_NS_ASSERTION, BAD_CAST "saml");
	if (r->samlp == NULL || r->saml == NULL)
		goto oom;
	xmlSetNs(r->root, r->samlp);
	/* values from the request were checked at intake; libxml2 escapes them on output */
	if (xmlCheckUTF8(BAD_CAST req->acs_url) == 0 || (req->id && xmlCheckUTF8(BAD_CAST req->id) == 0)) {
		xmlFreeDoc(r->doc);
		r->doc = NULL;
		return efos_fail(e, EFOS_E_INVALID, "response: the request ID or ACS URL is not UTF-8");
	}
	if (xmlNewProp(r->root, BAD_CAST "ID", BAD_CAST id) == NULL ||
	    (req->id != NULL && xmlNewProp(r->root, BAD_CAST "InResponseTo", BAD_CAST req->id) == NULL) ||
	    xmlNewProp(r->root, BAD_CAST "Version", BAD_CAST "2.0") == NULL ||
	    xmlNewProp(r->root, BAD_CAST "IssueInstant", BAD_CAST t) == NULL ||
	    xmlNewProp(r->root, BAD_CAST "Destination", BAD_CAST req->acs_url) == NULL)
		goto oom;
	if ((r->issuer = xmlNewTextChild(r->root, r->saml, BAD_CAST "Issuer", BAD_CAST k->idp_entity_id)) == NULL)
		goto oom;
	return 0;
oom:
	xmlFreeDoc(r->doc);
	r->doc = NULL;
	return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
}

static int add_status(struct resp *r, const struct idp_status *st, efos_err *e)
{
	xmlNodePtr s = xmlNewChild(r->root, r->samlp, BAD_CAST "Status", NULL);
	xmlNodePtr c = s ? xmlNewChild(s, r->samlp, BAD_CAST "StatusCode", NULL) : NULL;
	if (c == NULL || xmlNewProp(c, BAD_CAST "Value", BAD_CAST st->top) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	if (st->second != NULL) {
		xmlNodePtr c2 = xmlNewChild(c, r->samlp, BAD_CAST "StatusCode", NULL);
		if (c2 == NULL || xmlNewProp(c2, BAD_CAST "Value", BAD_CAST st->second) == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	if (st->message[0] != '\0') {
		if (xmlCheckUTF8(BAD_CAST st->message) == 0)
			return efos_fail(e, EFOS_E_INVALID, "response: StatusMessage is not UTF-8");
		if (xmlNewTextChild(s, r->samlp, BAD_CAST "StatusMessage", BAD_CAST st->message) == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	return 0;
}

/* Signs the Response, serialises it and base64s it into out. */
static int response_finish(const struct idp_response_keys *k, const struct idp_sp *sp, struct resp *r, const char *id,
			   struct idp_response_out *out, efos_err *e)
{
	xmlChar *xml = NULL;
	int len = 0;
	if (sign_enveloped(k, r->root, r->issuer, id, choose_sig_alg(sp, k->sign_key), choose_digest_alg(sp), NULL, e) < 0)
		return -1;
	xmlDocDumpMemoryEnc(r->doc, &xml, &len, "UTF-8");
	if (xml == NULL || len <= 0)
		return efos_fail(e, EFOS_E_INTERNAL, "response: serialisation failed");
	size_t cap = 4 * (((size_t)len + 2) / 3) + 1;
	out->b64 = malloc(cap);
	if (out->b64 == NULL) {
		xmlFree(xml);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	out->b64_len = (size_t)EVP_EncodeBlock((unsigned char *)out->b64, xml, len);
	xmlFree(xml);
	snprintf(out->response_id, sizeof out->response_id, "%s", id);
	return 0;
}

static bool top_status_ok(const char *top)
{
	return top != NULL && (strcmp(top, STATUS_PREFIX "Requester") == 0 || strcmp(top, STATUS_PREFIX "Responder") == 0 ||
			       strcmp(top, STATUS_PREFIX "VersionMismatch") == 0);
}

int idp_response_build_error(const struct idp_response_keys *k, const struct idp_authn_request *req,
			     const struct idp_status *st, time_t now, struct idp_response_out *out, efos_err *e)
{
	struct resp r;
	char id[IDP_ID_LEN];
	int ret = -1;

	*out = (struct idp_response_out){ 0 };
	if (st == NULL || !top_status_ok(st->top))
		return efos_fail(e, EFOS_E_INVALID, "error response: the top-level status must be Requester, Responder or "
						    "VersionMismatch (spec §1.9)");
	if (response_start(k, req, now ? now : time(NULL), id, &r, e) < 0)
		return -1;
	if (add_status(&r, st, e) < 0 || response_finish(k, req->sp, &r, id, out, e) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		idp_response_out_free(out);
	xmlFreeDoc(r.doc);
	return ret;
}

/* signMessageDigest: sha256 unless the SP's first alg:DigestMethod is sha384 or sha512. */
static const char *sign_message_digest_alg(const struct idp_sp *sp)
{
	if (sp != NULL && sp->n_digest_methods > 0 && sp->digest_methods[0] != NULL) {
		const char *d = sp->digest_methods[0];
		if (strcmp(d, "http://www.w3.org/2001/04/xmldsig-more#sha384") == 0 ||
		    strcmp(d, "http://www.w3.org/2001/04/xmlenc#sha512") == 0)
			return d;
	}
	return DIGEST_SHA256;
}

/* The SAD (spec §5): sub = personalIdentityNumber when released, else the first orgAffiliation. */
static int make_sad(const struct idp_response_keys *k, const struct idp_authn_request *req, const char *loa,
		    const struct policy_release *rel, time_t now, char **jwt, efos_err *e)
{
	const struct policy_attr *a = policy_release_find(rel, ATTR_PERSONAL_IDENTITY_NUMBER);
	if (a == NULL || a->n_values == 0)
		a = policy_release_find(rel, ATTR_ORG_AFFILIATION);
	if (a == NULL || a->n_values == 0)
		return efos_fail(e, EFOS_E_INVALID, "SAD: neither personalIdentityNumber nor orgAffiliation is released to "
						    "this signature service, so the SAD has no subject");
	struct idp_sad_params p = {
		.iss = k->idp_entity_id,
		.aud = req->sad_requester_id ? req->sad_requester_id : req->issuer,
		.sub = a->values[0],
		.attr = a->name,
		.loa = loa,
		.irt = req->sad_request_id,
		.reqid = req->sad_sign_request_id,
		.docs = req->sad_doc_count,
		.ver = req->sad_version,
		.now = now,
		.lifetime_s = k->assertion_lifetime_s,
	};
	return idp_sad_build(k->sign_key, &p, jwt, e);
}

int idp_response_build(const struct idp_response_keys *k, const struct idp_authn_request *req,
		       const struct idp_subject *subj, const struct policy_release *rel,
		       const struct idp_response_opts *o, struct idp_response_out *out, efos_err *e)
{
	static const struct idp_response_opts no_opts = { 0 };
	struct resp r = { 0 };
	xmlDocPtr adoc = NULL;
	char *smd = NULL, *sad = NULL;
	char id[IDP_ID_LEN], aid[IDP_ID_LEN];
	struct idp_nameid nid;
	struct idp_enc_choice enc;
	const char *fmt;
	int ret = -1;

	*out = (struct idp_response_out){ 0 };
	if (o == NULL)
		o = &no_opts;
	if (req == NULL || subj == NULL || req->sp == NULL || req->issuer == NULL)
		return efos_fail(e, EFOS_E_INVALID, "response: the request (with its SP) and the subject are required");
	if (rel != NULL && rel->refusal != POLICY_REFUSE_NONE)
		return efos_fail(e, EFOS_E_INVALID, "response: the attribute release refused this login (%s)",
				 rel->refusal_detail);
	if (req->has_sign_message && req->sign_message_must_show && !o->sign_message_shown)
		return efos_fail(e, EFOS_E_INVALID, "response: the sign message (MustShow) was not shown and accepted");
	time_t now = o->now ? o->now : time(NULL);
	const char *loa = req->chosen_loa ? req->chosen_loa : subj->loa;

	/* choose everything that can fail cheaply before any signature */
	if (idp_xmlenc_choose(req->sp, &enc, e) < 0)
		goto out;
	if (idp_nameid_choose_format(req->sp, req->name_id_format, &fmt, e) < 0 ||
	    idp_nameid_make(k->nameid_secret, fmt, k->idp_entity_id, req->issuer, subj->person_id, &nid, e) < 0)
		goto out;
	if (req->has_sign_message && o->sign_message_shown && req->sign_message != NULL &&
	    idp_sign_message_digest(req->sign_message, req->sign_message_len ? req->sign_message_len : strlen(req->sign_message),
				    sign_message_digest_alg(req->sp), &smd, e) < 0)
		goto out;
	if (req->sad_requested && make_sad(k, req, loa, rel, now, &sad, e) < 0)
		goto out;

	struct idp_assertion_in ain = {
		.idp_entity_id = k->idp_entity_id,
		.req = req,
		.subj = subj,
		.attrs = rel,
		.nameid = &nid,
		.session_index = o->session_index,
		.sign_message_digest = smd,
		.sad = sad,
		.now = now,
		.lifetime_s = k->assertion_lifetime_s,
	};
	if (idp_assertion_build(&ain, &adoc, aid, e) < 0)
		goto out;
	xmlNodePtr aroot = xmlDocGetRootElement(adoc);
	if (req->sp->want_assertions_signed &&
	    sign_enveloped(k, aroot, xml_first_element(aroot), aid, choose_sig_alg(req->sp, k->sign_key),
			   choose_digest_alg(req->sp), "xs", e) < 0)
		goto out;

	if (response_start(k, req, now, id, &r, e) < 0)
		goto out;
	struct idp_status ok = { .top = SAML_STATUS_SUCCESS };
	if (add_status(&r, &ok, e) < 0)
		goto out;
	xmlNodePtr ea = NULL;
	if (idp_xmlenc_encrypt_assertion(aroot, &enc, req->issuer, r.doc, &ea, e) < 0)
		goto out;
	if (xmlAddChild(r.root, ea) == NULL) {
		xmlFreeNode(ea);
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (response_finish(k, req->sp, &r, id, out, e) < 0)
		goto out;
	snprintf(out->assertion_id, sizeof out->assertion_id, "%s", aid);
	snprintf(out->name_id, sizeof out->name_id, "%s", nid.value);
	ret = 0;
out:
	if (ret < 0)
		idp_response_out_free(out);
	xmlFreeDoc(r.doc);
	xmlFreeDoc(adoc);
	free(smd);
	free(sad);
	return ret;
}

/* ---- the auto-POST page -------------------------------------------------------------------- */

char *idp_response_post_form(const char *acs_url, const char *saml_response_b64, const char *relay_state,
			     const char *script_nonce)
{
	return saml_post_form(acs_url, "SAMLResponse", saml_response_b64, relay_state, script_nonce);
}
