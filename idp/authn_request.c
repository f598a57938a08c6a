/* AuthnRequest intake (idp/authn_request.h; the checks and their classification are explained
 * in docs/idp-requests.md).
 *
 * Shape: one function per stage, each either passing or failing with a classified error. Until
 * the signature has been verified (or found not required) every failure is "untrusted" (-1, a
 * plain error page); from the ACS resolution on the request is trusted and failures that the SP
 * should hear about are "answerable" (IDP_INTAKE_ANSWERABLE, a SAML error Response). */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/tree.h>
#include "core/xml.h"
#include "core/xml_redirect.h"
#include "idp/authn_request.h"
#include "idp/authn_request_ext.h"
#include "idp/metadata_publish.h"

#define MAX_ID_LEN 256
#define MAX_ENTITY_ID_LEN 1024
#define MAX_URL_LEN 2048
/* base64 of the largest message core/xml accepts, with room for line breaks */
#define MAX_POST_B64 ((XML_LIMITS_MESSAGE_BYTES / 3 + 1) * 4 + XML_LIMITS_MESSAGE_BYTES / 32)

#define BINDING_POST_URI "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define BINDING_HOK_URI "urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser"
#define ENTITY_FORMAT "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
#define NAMEID_PERSISTENT "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
#define NAMEID_TRANSIENT "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
#define NAMEID_UNSPECIFIED "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

const char *const idp_our_loas[] = { IDP_LOA4, NULL };
const char *const idp_our_entity_categories[] = {
	IDP_EC_LOA4_ORGID, IDP_EC_LOA4_PNR, IDP_EC_LOA4_NAME, IDP_SPROP_SCAL2, IDP_CONTRACT_PREPAID_AUTH_2021, NULL,
};

/* Everything one intake holds; released in one place. */
struct intake {
	const struct idp_intake_params *p;
	const struct idp_intake_input *in;
	struct idp_authn_request *out;
	struct idp_status *st;
	efos_err *e;

	struct xml_redirect_msg rmsg;
	bool have_rmsg;
	unsigned char *xml;       /* POST: the decoded message */
	size_t xml_len;
	xmlDocPtr doc;
	xmlNodePtr root;          /* the AuthnRequest; after verification, the verified element */
	/* the root's children, found by the shape check */
	xmlNodePtr issuer_el, sig_el, ext_el, subject_el, nameid_el, cond_el, rac_el, scoping_el;
	const struct idp_sp *sp;
};

/* ---- stage 1: decode ------------------------------------------------------------------------- */

static int decode(struct intake *t)
{
	const struct idp_intake_input *in = t->in;
	if (in->binding == IDP_BINDING_REDIRECT) {
		if (in->query == NULL)
			return efos_fail(t->e, EFOS_E_INVALID, "no SAMLRequest in the query string");
		if (xml_redirect_parse(in->query, in->query_len, NULL, &t->rmsg, t->e) < 0)
			return efos_wrap(t->e, "HTTP-Redirect request");
		t->have_rmsg = true;
		if (t->rmsg.is_response)
			return efos_fail(t->e, EFOS_E_INVALID, "a SAMLResponse was sent to the SSO endpoint");
		return 0;
	}
	if (in->binding != IDP_BINDING_POST)
		return efos_fail(t->e, EFOS_E_INVALID, "unsupported binding");
	if (in->saml_request == NULL || in->saml_request_len == 0)
		return efos_fail(t->e, EFOS_E_INVALID, "no SAMLRequest in the form");
	if (in->saml_request_len > MAX_POST_B64)
		return efos_fail(t->e, EFOS_E_TOOBIG, "the SAMLRequest is larger than %zu bytes", (size_t)MAX_POST_B64);
	if (in->relay_state != NULL && strlen(in->relay_state) > XML_REDIRECT_MAX_RELAY_STATE)
		return efos_fail(t->e, EFOS_E_TOOBIG, "RelayState is longer than %u bytes", XML_REDIRECT_MAX_RELAY_STATE);
	if (idp_areq_base64_decode(in->saml_request, in->saml_request_len, XML_LIMITS_MESSAGE_BYTES, &t->xml,
				   &t->xml_len) < 0)
		return efos_fail(t->e, EFOS_E_INVALID, "the SAMLRequest is not valid base64");
	return 0;
}

/* ---- stage 2: parse and shape ----------------------------------------------------------------- */

/* xs:dateTime in UTC as SAML requires: YYYY-MM-DDThh:mm:ss[.fraction]Z. */
static int parse_instant(const char *s, time_t *out)
{
	int Y, M, D, h, m, sec, n = 0;
	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n != 19)
		return -1;
	for (int i = 0; i < 19; i++)
		if ((i == 4 || i == 7) ? s[i] != '-' : i == 10 ? s[i] != 'T' : (i == 13 || i == 16) ? s[i] != ':'
										       : !isdigit((unsigned char)s[i]))
			return -1;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (strcmp(p, "Z") != 0)
		return -1;
	if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m,
			 .tm_sec = sec };
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = t;
	return 0;
}

/* The children of samlp:AuthnRequest, in the order of AuthnRequestType, each at most once. */
static int shape_children(struct intake *t)
{
	static const struct {
		const char *ns, *name;
		size_t off;
	} order[] = {
		{ IDP_NS_SAML, "Issuer", offsetof(struct intake, issuer_el) },
		{ IDP_NS_DS, "Signature", offsetof(struct intake, sig_el) },
		{ IDP_NS_SAMLP, "Extensions", offsetof(struct intake, ext_el) },
		{ IDP_NS_SAML, "Subject", offsetof(struct intake, subject_el) },
		{ IDP_NS_SAMLP, "NameIDPolicy", offsetof(struct intake, nameid_el) },
		{ IDP_NS_SAML, "Conditions", offsetof(struct intake, cond_el) },
		{ IDP_NS_SAMLP, "RequestedAuthnContext", offsetof(struct intake, rac_el) },
		{ IDP_NS_SAMLP, "Scoping", offsetof(struct intake, scoping_el) },
	};
	size_t next = 0;
	for (xmlNodePtr c = t->root->children; c != NULL; c = c->next) {
		if (idp_areq_is_blank(c))
			continue;
		if (c->type != XML_ELEMENT_NODE)
			return efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest holds text or other content "
				"outside its elements (line %ld)", (long)xmlGetLineNo(c));
		size_t i = next;
		while (i < sizeof order / sizeof order[0] && !idp_areq_is_el(c, order[i].ns, order[i].name))
			i++;
		if (i == sizeof order / sizeof order[0])
			return efos_fail(t->e, EFOS_E_INVALID, "unexpected, repeated or misplaced element <%s> "
				"in the AuthnRequest (line %ld)", (const char *)c->name, (long)xmlGetLineNo(c));
		*(xmlNodePtr *)((char *)t + order[i].off) = c;
		next = i + 1;
	}
	return 0;
}

static int shape_attributes(struct intake *t)
{
	static const char *const known[] = {
		"ID", "Version", "IssueInstant", "Destination", "Consent", "ForceAuthn", "IsPassive",
		"ProtocolBinding", "AssertionConsumerServiceIndex", "AssertionConsumerServiceURL",
		"AttributeConsumingServiceIndex", "ProviderName", NULL,
	};
	for (xmlAttrPtr a = t->root->properties; a != NULL; a = a->next) {
		if (a->ns != NULL)
			continue; /* namespaced attributes (hoksso:ProtocolBinding) are read by name */
		if (!idp_areq_in_list(known, (const char *)a->name))
			return efos_fail(t->e, EFOS_E_INVALID, "unknown attribute %s on the AuthnRequest",
					 (const char *)a->name);
	}
	return 0;
}

static int parse_and_shape(struct intake *t)
{
	const char *xml = t->have_rmsg ? (const char *)t->rmsg.xml : (const char *)t->xml;
	size_t len = t->have_rmsg ? t->rmsg.xml_len : t->xml_len;
	if (xml_parse_untrusted(xml, len, NULL, &t->doc, t->e) < 0)
		return efos_wrap(t->e, "the AuthnRequest is not acceptable XML");
	t->root = xmlDocGetRootElement(t->doc);
	if (t->root == NULL || !idp_areq_is_el(t->root, IDP_NS_SAMLP, "AuthnRequest"))
		return efos_fail(t->e, EFOS_E_INVALID, "the message is not a samlp:AuthnRequest");
	if (shape_attributes(t) < 0 || shape_children(t) < 0)
		return -1;

	char *v = idp_areq_attr(t->root, "Version");
	bool ok = v != NULL && strcmp(v, "2.0") == 0;
	free(v);
	if (!ok)
		return efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest is not SAML Version 2.0");
	if (!xmlHasNsProp(t->root, BAD_CAST "ID", NULL) || !xmlHasNsProp(t->root, BAD_CAST "IssueInstant", NULL))
		return efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest has no ID or no IssueInstant");
	if (t->issuer_el == NULL)
		return efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest has no Issuer");
	/* IDs only where SAML has them; duplicates and look-alike ID attributes refused. */
	if (xml_register_ids(t->doc, xml_id_rules_saml, xml_id_rules_saml_n, t->e) < 0)
		return efos_wrap(t->e, "the AuthnRequest");
	/* A ds:Signature anywhere but as the root's own child is never ours to verify and is
	 * how a wrapped, differently signed element gets in: refuse it. */
	for (xmlNodePtr n = t->root; n != NULL; n = xml_walk_next(n, t->root, t->sig_el)) {
		if (n->type == XML_ELEMENT_NODE && idp_areq_is_el(n, IDP_NS_DS, "Signature") && n != t->sig_el)
			return efos_fail(t->e, EFOS_E_INVALID, "a ds:Signature inside the AuthnRequest (line %ld)",
					 (long)xmlGetLineNo(n));
	}
	return 0;
}

/* ---- stage 3: who sent it, and is it really from them ------------------------------------ */

static const struct idp_sp *find_sp(const struct idp_intake_input *in, const char *entity_id)
{
	if (in->md != NULL)
		return idp_md_snapshot_find(in->md, entity_id);
	for (size_t i = 0; i < in->n_sps; i++)
		if (in->sps[i] != NULL && in->sps[i]->entity_id != NULL && strcmp(in->sps[i]->entity_id, entity_id) == 0)
			return in->sps[i];
	return NULL;
}

static bool sp_has(const struct idp_sp *sp, const char *ec)
{
	for (size_t i = 0; i < sp->n_entity_categories; i++)
		if (sp->entity_categories[i] != NULL && strcmp(sp->entity_categories[i], ec) == 0)
			return true;
	return false;
}

static int identify_sp(struct intake *t)
{
	char *fmt = idp_areq_attr(t->issuer_el, "Format");
	bool fmt_ok = fmt == NULL || strcmp(fmt, ENTITY_FORMAT) == 0;
	free(fmt);
	if (!fmt_ok)
		return efos_fail(t->e, EFOS_E_INVALID, "the Issuer's Format is not ...:nameid-format:entity");
	char *issuer = idp_areq_text(t->issuer_el, MAX_ENTITY_ID_LEN, t->e);
	if (issuer == NULL)
		return efos_wrap(t->e, "Issuer");
	if (issuer[0] == '\0') {
		free(issuer);
		return efos_fail(t->e, EFOS_E_INVALID, "the Issuer is empty");
	}
	t->sp = find_sp(t->in, issuer);
	if (t->sp == NULL) {
		efos_fail(t->e, EFOS_E_AUTH, "the service %s is not registered with this identity provider "
			  "(no metadata for it)", issuer);
		free(issuer);
		return -1;
	}
	t->out->issuer = issuer;
	return 0;
}

static int verify_signature(struct intake *t)
{
	const struct idp_sp *sp = t->sp;
	const struct xml_dsig_policy *pol = t->p->sig_policy ? t->p->sig_policy : &xml_dsig_policy_saml;
	bool sigservice = sp_has(sp, IDP_EC_SIGSERVICE);
	bool required = t->p->require_signed || sp->authn_requests_signed || sigservice;
	bool signed_msg;

	if (t->have_rmsg) {
		/* Redirect: the signature is on the query string; one inside the XML is refused (the
		 * binding forbids it, and it is the classic way to slip in a second signed element). */
		if (t->sig_el != NULL)
			return efos_fail(t->e, EFOS_E_INVALID, "an HTTP-Redirect AuthnRequest must not contain a ds:Signature");
		signed_msg = t->rmsg.signature != NULL;
	} else {
		signed_msg = t->sig_el != NULL;
	}
	if (!signed_msg) {
		if (required)
			return efos_fail(t->e, EFOS_E_AUTH, "the AuthnRequest from %s is not signed, and %s",
					 sp->entity_id,
					 sp->authn_requests_signed ? "its metadata says it signs its requests"
					 : sigservice ? "signature services must sign"
					 : "this identity provider requires signed requests");
		return 0;
	}
	if (sp->n_signing_keys == 0)
		return efos_fail(t->e, EFOS_E_AUTH, "the AuthnRequest from %s is signed but its metadata has no "
				 "signing key", sp->entity_id);
	if (t->have_rmsg) {
		if (xml_redirect_verify(&t->rmsg, sp->signing_keys, sp->n_signing_keys, pol, t->e) < 0)
			return efos_wrap(t->e, "the signature of the AuthnRequest from %s", sp->entity_id);
		return 0;
	}
	xmlNodePtr v = xml_dsig_verify_element(t->root, t->sig_el, sp->signing_keys, sp->n_signing_keys, pol, t->e);
	if (v == NULL)
		return efos_wrap(t->e, "the signature of the AuthnRequest from %s", sp->entity_id);
	if (v != t->root)
		return efos_fail(t->e, EFOS_E_INTERNAL, "signature verification returned another element");
	t->root = v; /* from here on, data is read only from the verified element */
	return 0;
}

/* ---- stage 4: the trusted envelope: Destination, time, ACS ------------------------------ */

static int check_destination(struct intake *t)
{
	char *d = idp_areq_attr(t->root, "Destination");
	if (d == NULL)
		return efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest has no Destination");
	bool ok = t->in->endpoint_url != NULL && strcmp(d, t->in->endpoint_url) == 0;
	if (!ok) {
		efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest was meant for %.200s, not for this endpoint", d);
		free(d);
		return -1;
	}
	free(d);
	return 0;
}

static int check_time(struct intake *t)
{
	char *v = idp_areq_attr(t->root, "IssueInstant");
	time_t ii;
	int rc = parse_instant(v, &ii);
	free(v);
	if (rc < 0)
		return efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest's IssueInstant is not a UTC xs:dateTime");
	long skew = t->p->clock_skew_s, age = t->p->max_age_s > 0 ? t->p->max_age_s : IDP_INTAKE_DEFAULT_MAX_AGE_S;
	if (skew < 0)
		skew = 0;
	if ((long long)ii - (long long)t->in->now > skew)
		return efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest is dated %lld s in the future; the SP's "
				 "clock is wrong", (long long)ii - (long long)t->in->now);
	if ((long long)t->in->now - (long long)ii > age + skew)
		return efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest is %lld s old (at most %ld s are accepted); "
				 "start the login again from the service", (long long)t->in->now - (long long)ii, age);
	t->out->issue_instant = ii;
	return 0;
}

/* True when acs serves the profile the request arrived on: HTTP-POST for WebSSO, the HoK
 * binding with hoksso:ProtocolBinding HTTP-POST for holder-of-key (responses are always POSTed;
 * a HoK request is never answered to a plain ACS). */
static bool acs_fits(const struct idp_sp_acs *a, bool hok)
{
	if (hok)
		return a->binding == IDP_BINDING_HOK && a->hok_protocol_binding == IDP_BINDING_POST;
	return a->binding == IDP_BINDING_POST;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	if (s == NULL || *s == '\0' || strlen(s) > 9)
		return -1;
	for (const char *q = s; *q; q++)
		if (!isdigit((unsigned char)*q))
			return -1;
	unsigned long v = strtoul(s, NULL, 10);
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int resolve_acs(struct intake *t)
{
	const struct idp_sp *sp = t->sp;
	bool hok = t->in->hok;
	char *url = idp_areq_attr(t->root, "AssertionConsumerServiceURL");
	char *idx = idp_areq_attr(t->root, "AssertionConsumerServiceIndex");
	char *pb = idp_areq_attr(t->root, "ProtocolBinding");
	xmlChar *hok_pb = xmlGetNsProp(t->root, BAD_CAST "ProtocolBinding", BAD_CAST IDP_NS_HOKSSO);
	const struct idp_sp_acs *acs = NULL;
	int rc = -1;

	if (url != NULL && idx != NULL) {
		efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest has both AssertionConsumerServiceURL and "
			  "AssertionConsumerServiceIndex");
		goto out;
	}
	if (pb != NULL && strcmp(pb, BINDING_POST_URI) != 0 && !(hok && strcmp(pb, BINDING_HOK_URI) == 0)) {
		efos_fail(t->e, EFOS_E_INVALID, "responses are only sent with HTTP-POST, not %.200s", pb);
		goto out;
	}
	if (hok_pb != NULL && strcmp((const char *)hok_pb, BINDING_POST_URI) != 0) {
		efos_fail(t->e, EFOS_E_INVALID, "holder-of-key responses are only sent with HTTP-POST");
		goto out;
	}
	if (url != NULL) {
		/* Compared exactly: no URL canonicalisation (spec §1.5). */
		for (size_t i = 0; i < sp->n_acs && acs == NULL; i++)
			if (acs_fits(&sp->acs[i], hok) && sp->acs[i].location != NULL && strcmp(sp->acs[i].location, url) == 0)
				acs = &sp->acs[i];
		if (acs == NULL) {
			efos_fail(t->e, EFOS_E_INVALID, "the AssertionConsumerServiceURL %.300s is not a%s HTTP-POST "
				  "assertion consumer service of %s in its metadata", url, hok ? " holder-of-key" : "",
				  sp->entity_id);
			goto out;
		}
	} else if (idx != NULL) {
		unsigned long n;
		if (parse_uint(idx, 65535, &n) < 0) {
			efos_fail(t->e, EFOS_E_INVALID, "AssertionConsumerServiceIndex is not an unsignedShort");
			goto out;
		}
		for (size_t i = 0; i < sp->n_acs && acs == NULL; i++)
			if (sp->acs[i].index == n && acs_fits(&sp->acs[i], hok))
				acs = &sp->acs[i];
		if (acs == NULL) {
			efos_fail(t->e, EFOS_E_INVALID, "AssertionConsumerServiceIndex %lu is not a%s HTTP-POST "
				  "assertion consumer service of %s in its metadata", n, hok ? " holder-of-key" : "",
				  sp->entity_id);
			goto out;
		}
	} else {
		/* The default: isDefault="true"; else the lowest index not marked isDefault="false";
		 * else the lowest index (SAML metadata §2.2.3, spec §1.5). */
		const struct idp_sp_acs *dflt = NULL, *unmarked = NULL, *any = NULL;
		for (size_t i = 0; i < sp->n_acs; i++) {
			const struct idp_sp_acs *a = &sp->acs[i];
			if (!acs_fits(a, hok) || a->location == NULL)
				continue;
			if (a->is_default_set && a->is_default && dflt == NULL)
				dflt = a;
			if (!a->is_default_set && (unmarked == NULL || a->index < unmarked->index))
				unmarked = a;
			if (any == NULL || a->index < any->index)
				any = a;
		}
		acs = dflt ? dflt : unmarked ? unmarked : any;
		if (acs == NULL) {
			efos_fail(t->e, EFOS_E_INVALID, "%s has no%s HTTP-POST assertion consumer service in its metadata",
				  sp->entity_id, hok ? " holder-of-key" : "");
			goto out;
		}
	}
	t->out->acs_url = strdup(acs->location);
	if (t->out->acs_url == NULL) {
		efos_fail(t->e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	t->out->acs_binding = IDP_BINDING_POST;
	rc = 0;
out:
	free(url);
	free(idx);
	free(pb);
	xmlFree(hok_pb);
	return rc;
}

/* ---- stage 5: replay -------------------------------------------------------------------------- */

static int check_replay(struct intake *t)
{
	if (t->p->replay_fn == NULL)
		return efos_fail(t->e, EFOS_E_INTERNAL, "no replay cache configured");
	long skew = t->p->clock_skew_s > 0 ? t->p->clock_skew_s : 0;
	long age = t->p->max_age_s > 0 ? t->p->max_age_s : IDP_INTAKE_DEFAULT_MAX_AGE_S;
	time_t exp = t->out->issue_instant + age + skew;
	efos_err re = { 0 };
	if (t->p->replay_fn(t->p->replay_arg, t->out->issuer, t->out->id, exp, &re) == 0)
		return 0;
	if (re.code == EFOS_E_CONFLICT)
		return efos_fail(t->e, EFOS_E_INVALID, "this login request was already used (the request ID %.100s "
				 "from %s was seen before); start the login again from the service",
				 t->out->id, t->out->issuer);
	if (re.code == EFOS_E_UNAVAILABLE)
		return efos_fail(t->e, EFOS_E_UNAVAILABLE, "the login service cannot check requests right now "
				 "(%s); try again in a moment", re.msg);
	return efos_fail(t->e, re.code == EFOS_E_NONE ? EFOS_E_INTERNAL : re.code, "%s", re.msg);
}

/* ---- stage 6: what is asked (answerable) ----------------------------------------------------- */

static bool is_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Spec §4.1. */
static int match_entity_categories(struct intake *t, const char *const *ours)
{
	const struct idp_sp *sp = t->sp;
	bool sp_has_service_ec = false, service_match = false, we_have_contract = false, contract_match = false;
	for (const char *const *o = ours; *o; o++)
		if (is_prefix(*o, "http://id.swedenconnect.se/contract/"))
			we_have_contract = true;
	for (size_t i = 0; i < sp->n_entity_categories; i++) {
		const char *ec = sp->entity_categories[i];
		if (ec == NULL)
			continue;
		if (is_prefix(ec, "http://id.elegnamnden.se/ec/") || is_prefix(ec, "http://id.swedenconnect.se/ec/")) {
			sp_has_service_ec = true;
			if (idp_areq_in_list(ours, ec))
				service_match = true;
		} else if (is_prefix(ec, "http://id.elegnamnden.se/sprop/")) {
			if (!idp_areq_in_list(ours, ec))
				return idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_DENIED,
						       "The service declares the service property %s, which this "
						       "identity provider does not support", ec);
		} else if (is_prefix(ec, "http://id.swedenconnect.se/contract/")) {
			if (idp_areq_in_list(ours, ec))
				contract_match = true;
		}
	}
	if (sp_has_service_ec && !service_match)
		return idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_DENIED,
				       "None of the service's entity categories is served by this identity provider");
	if (we_have_contract && !contract_match)
		return idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_DENIED,
				       "The service has no service contract under which this identity provider delivers "
				       "(e.g. " IDP_CONTRACT_PREPAID_AUTH_2021 ")");
	return 0;
}

static int parse_flags(struct intake *t)
{
	static const char *const names[] = { "ForceAuthn", "IsPassive" };
	bool *dst[] = { &t->out->force_authn, &t->out->is_passive };
	for (int i = 0; i < 2; i++) {
		char *v = idp_areq_attr(t->root, names[i]);
		int rc = v == NULL ? 0 : idp_areq_parse_bool(v, dst[i]);
		free(v);
		if (rc < 0)
			return idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED,
					       "%s is not an xs:boolean", names[i]);
	}
	char *v = idp_areq_attr(t->root, "AttributeConsumingServiceIndex");
	t->out->attr_consuming_index = -1;
	if (v != NULL) {
		unsigned long n;
		int rc = parse_uint(v, 65535, &n);
		free(v);
		if (rc < 0)
			return idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED,
					       "AttributeConsumingServiceIndex is not an unsignedShort");
		t->out->attr_consuming_index = (int)n;
	}
	return 0;
}

static int parse_nameid_policy(struct intake *t)
{
	t->out->allow_create = true; /* absent AllowCreate: no preference (SAML errata E10) */
	if (t->nameid_el == NULL)
		return 0;
	char *fmt = idp_areq_attr(t->nameid_el, "Format");
	char *spnq = idp_areq_attr(t->nameid_el, "SPNameQualifier");
	char *ac = idp_areq_attr(t->nameid_el, "AllowCreate");
	int rc = 0;
	if (fmt != NULL && strcmp(fmt, NAMEID_PERSISTENT) != 0 && strcmp(fmt, NAMEID_TRANSIENT) != 0 &&
	    strcmp(fmt, NAMEID_UNSPECIFIED) != 0) {
		rc = idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_INVALID_NAMEID_POLICY,
				     "NameID format %.200s is not supported (persistent or transient)", fmt);
	} else if (spnq != NULL && strcmp(spnq, t->out->issuer) != 0) {
		rc = idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_INVALID_NAMEID_POLICY,
				     "NameIDs are only issued for the requesting service itself (SPNameQualifier)");
	} else if (ac != NULL && idp_areq_parse_bool(ac, &t->out->allow_create) < 0) {
		rc = idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED,
				     "AllowCreate is not an xs:boolean");
	} else if (fmt != NULL && strcmp(fmt, NAMEID_UNSPECIFIED) != 0) {
		t->out->name_id_format = fmt;
		fmt = NULL;
	}
	free(fmt);
	free(spnq);
	free(ac);
	return rc;
}

static int parse_scoping(struct intake *t, efos_err *e)
{
	if (t->scoping_el == NULL)
		return 0;
	size_t n = 0;
	for (xmlNodePtr c = t->scoping_el->children; c; c = c->next)
		if (idp_areq_is_el(c, IDP_NS_SAMLP, "RequesterID"))
			n++;
	if (n == 0)
		return 0;
	if (n > 16)
		return idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED,
				       "too many Scoping/RequesterID elements");
	t->out->requester_ids = calloc(n, sizeof(char *));
	if (t->out->requester_ids == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	for (xmlNodePtr c = t->scoping_el->children; c; c = c->next) {
		if (!idp_areq_is_el(c, IDP_NS_SAMLP, "RequesterID"))
			continue;
		efos_err te = { 0 };
		char *v = idp_areq_text(c, MAX_ENTITY_ID_LEN, &te);
		if (v == NULL)
			return idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED,
					       "Scoping/RequesterID: %s", te.msg);
		t->out->requester_ids[t->out->n_requester_ids++] = v;
	}
	return 0;
}

static int fill_and_answerable_checks(struct intake *t)
{
	const struct idp_intake_params *p = t->p;
	const char *const *ours = p->entity_categories ? p->entity_categories : idp_our_entity_categories;
	struct idp_authn_request *out = t->out;
	int rc;

	if ((rc = parse_flags(t)) != 0)
		return rc;
	if ((rc = match_entity_categories(t, ours)) != 0)
		return rc;
	/* We always encrypt the assertion (spec §1.6): an SP without an encryption key cannot get
	 * one. The reference IdP answers Requester/RequestDenied. */
	if (t->sp->n_encryption_keys == 0)
		return idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_DENIED,
				       "The service's metadata has no encryption key; assertions are always encrypted");
	if (t->subject_el != NULL)
		return idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_REQUEST_UNSUPPORTED,
				       "A Subject in the AuthnRequest is not supported (use PrincipalSelection)");
	if ((rc = parse_nameid_policy(t)) != 0)
		return rc;

	struct idp_ext_ctx c = {
		.p = p, .sp = t->sp, .issuer = out->issuer,
		.we_declare_scal2 = idp_areq_in_list(ours, IDP_SPROP_SCAL2),
	};
	if ((rc = idp_areq_parse_rac(t->rac_el, &c, out, t->st, t->e)) != 0)
		return rc;
	if ((rc = parse_scoping(t, t->e)) != 0)
		return rc;
	if (t->ext_el != NULL && (rc = idp_areq_parse_extensions(t->ext_el, &c, out, t->st, t->e)) != 0)
		return rc;
	/* A card login needs the user: nothing is passive when a new card operation is required. */
	if (out->is_passive && (out->force_authn || out->has_sign_message || out->is_sigservice))
		return idp_areq_answer(t->st, IDP_STATUS_REQUESTER, IDP_STATUS_NO_PASSIVE,
				       "IsPassive cannot be honoured: %s needs the user's card",
				       out->has_sign_message ? "signing" : out->force_authn ? "ForceAuthn" : "a signature service");
	return 0;
}

/* ---- the whole intake ------------------------------------------------------------------------ */

static int copy_basics(struct intake *t)
{
	char *id = idp_areq_attr(t->root, "ID");
	if (id == NULL || id[0] == '\0' || strlen(id) > MAX_ID_LEN) {
		free(id);
		return efos_fail(t->e, EFOS_E_INVALID, "the AuthnRequest's ID is missing or longer than %d characters",
				 MAX_ID_LEN);
	}
	t->out->id = id;
	const char *rs = t->have_rmsg ? t->rmsg.relay_state : t->in->relay_state;
	if (rs != NULL && (t->out->relay_state = strdup(rs)) == NULL)
		return efos_fail(t->e, EFOS_E_INTERNAL, "out of memory");
	t->out->sp = t->sp;
	t->out->hok = t->in->hok;
	t->out->received_binding = t->in->binding;
	t->out->is_sigservice = sp_has(t->sp, IDP_EC_SIGSERVICE);
	t->out->attr_consuming_index = -1;
	return 0;
}

int idp_authn_request_intake(const struct idp_intake_params *p, const struct idp_intake_input *in,
			     struct idp_authn_request *out, struct idp_status *answerable, efos_err *e)
{
	*out = (struct idp_authn_request){ .attr_consuming_index = -1 };
	*answerable = (struct idp_status){ 0 };
	if (e != NULL)
		efos_err_clear(e);
	struct intake t = { .p = p, .in = in, .out = out, .st = answerable, .e = e };
	int rc = -1;

	if (p == NULL || p->entity_id == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "AuthnRequest intake: no parameters");
		goto out;
	}
	/* Untrusted until the signature stage has passed: any failure is a plain error page. */
	if (decode(&t) < 0 || parse_and_shape(&t) < 0 || identify_sp(&t) < 0 || verify_signature(&t) < 0)
		goto out;
	/* Authentic (or acceptably unsigned): the envelope must still be ours, fresh and unused. */
	if (copy_basics(&t) < 0 || check_destination(&t) < 0 || check_time(&t) < 0 || resolve_acs(&t) < 0)
		goto out;
	if (check_replay(&t) < 0)
		goto out;
	/* Trusted: from here the SP hears about what cannot be done. */
	rc = fill_and_answerable_checks(&t);
	if (rc == 0 && out->chosen_loa == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "no LoA chosen");
		rc = -1;
	}
out:
	if (rc < 0) {
		idp_authn_request_free(out);
		out->attr_consuming_index = -1;
		*answerable = (struct idp_status){ 0 };
		if (e != NULL && e->code == EFOS_E_NONE)
			efos_fail(e, EFOS_E_INTERNAL, "AuthnRequest intake failed");
	}
	if (t.doc != NULL)
		xmlFreeDoc(t.doc);
	if (t.have_rmsg)
		xml_redirect_msg_free(&t.rmsg);
	free(t.xml);
	return rc;
}
