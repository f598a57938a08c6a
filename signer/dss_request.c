/* EidSignRequest intake (signer/dss_request.h). The order follows core/xml.h:
 *   1. parse untrusted bytes (size, no DTD, limits)
 *   2. the schema shape: one SignRequest root, OptionalInputs = SignRequestExtension then
 *      ds:Signature (last), InputDocuments/Other/SignTasks; no other SignRequest or Signature
 *   3. no ID attributes (URI="" signatures only)
 *   4. the requester named in SignRequester, its metadata keys, the signature over the root
 *   5. what the error SignResponse needs (RequestID, Version, the one registered Audience)
 *   6. every §7.2 check, each refusal with its own DSS result (docs/signing-service.md)
 * Data is read only under the verified root, never by searching the document again. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include "core/xml.h"
#include "signer/dss_request.h"
#include "signer/dss_xml.h"

#define DEFAULT_MAX_AGE_S 180
#define DEFAULT_SKEW_S 60
#define DEFAULT_MAX_TASKS 20u
#define MAX_REQUEST_ID 256u
#define MAX_VERSION 16u
#define MAX_URI 1024u           /* entityIDs, URLs, algorithm and LoA URIs */
#define MAX_VALUE 1024u         /* an attribute value, a cert attribute's default */
#define MIN_REQUEST_ID 20u
#define RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

static const char *const default_sig_algs[] = {
	RSA_SHA256,
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
	"http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
};

struct intake {
	const struct dss_intake_opts *o;
	time_t now;
	int max_age, skew;
	xmlDocPtr doc;
	xmlNodePtr root, oi, sig, ext, tasks;
	/* children of csig:SignRequestExtension, in schema order */
	xmlNodePtr request_time, conditions, signer, idp, authn_profile, requester, service, sig_alg,
		cert_props, sign_message, other_info;
	struct dss_requester rq;
	const char *auth_failure;   /* why the signature did not authenticate the requester, or NULL */
	struct dss_sign_request *r;
	struct dss_result *res;
	efos_err *e;
};

/* ---- outcomes ----------------------------------------------------------------------------- */

static void set_result(struct dss_result *res, const char *major, const char *minor, const char *fmt, va_list ap)
{
	res->major = major;
	res->minor = minor;
	vsnprintf(res->message, sizeof res->message, fmt, ap);
}

/* Not authentic or not answerable: an error page only. e keeps the detailed reason when
 * already set (the verifier's), else gets the same sentence as the result. */
static int __attribute__((format(printf, 3, 4))) untrusted(struct intake *t, const char *minor, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_result(t->res, DSS_MAJOR_REQUESTER, minor, fmt, ap);
	va_end(ap);
	if (t->e != NULL && t->e->code != EFOS_E_NONE)
		efos_wrap(t->e, "%s", t->res->message);
	else
		efos_fail(t->e, EFOS_E_INVALID, "%s", t->res->message);
	return -1;
}

/* Authentic but refused: the flow posts an error SignResponse with this result. */
static int __attribute__((format(printf, 4, 5))) refuse(struct intake *t, const char *major, const char *minor,
							 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_result(t->res, major, minor, fmt, ap);
	va_end(ap);
	efos_fail(t->e, EFOS_E_INVALID, "SignRequest refused: %s", t->res->message);
	return DSS_INTAKE_REFUSED;
}

#define NOT_SUPPORTED(t, ...) refuse(t, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, __VA_ARGS__)
#define EXPIRED(t, ...) refuse(t, DSS_MAJOR_REQUESTER, DSS_MINOR_REQ_EXPIRED, __VA_ARGS__)

/* ---- shape -------------------------------------------------------------------------------- */

/* One element of a schema sequence: at most max (min..max) occurrences, in this order. */
struct seq_item {
	const char *ns, *name;
	unsigned min, max;
	xmlNodePtr *first;    /* the first occurrence (NULL when none) */
	size_t *count;        /* may be NULL */
};

static const char *prefix_of(const char *ns)
{
	if (ns == NULL)
		return "";
	if (strcmp(ns, DSS_NS_DSS) == 0)
		return "dss:";
	if (strcmp(ns, DSS_NS_CSIG) == 0)
		return "csig:";
	if (strcmp(ns, DSS_NS_SAML) == 0)
		return "saml:";
	if (strcmp(ns, DSS_NS_DS) == 0)
		return "ds:";
	return "";
}

/* Checks that the children of parent are exactly the sequence items (whitespace between them);
 * why gets the first deviation. */
static int walk_seq(xmlNodePtr parent, const struct seq_item *items, size_t n, char *why, size_t cap)
{
	size_t i = 0, cnt = 0;
	for (size_t k = 0; k < n; k++) {
		*items[k].first = NULL;
		if (items[k].count)
			*items[k].count = 0;
	}
	for (xmlNodePtr c = parent->children; c != NULL; c = c->next) {
		if (c->type == XML_TEXT_NODE) {
			for (const xmlChar *p = c->content; p && *p; p++)
				if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
					snprintf(why, cap, "text inside <%s> where only elements belong", (const char *)parent->name);
					return -1;
				}
			continue;
		}
		if (c->type != XML_ELEMENT_NODE) {
			snprintf(why, cap, "unexpected node inside <%s>", (const char *)parent->name);
			return -1;
		}
		while (i < n && !dss_is_el(c, items[i].ns, items[i].name)) {
			if (cnt < items[i].min) {
				snprintf(why, cap, "<%s%s> is missing in <%s>", prefix_of(items[i].ns), items[i].name,
					 (const char *)parent->name);
				return -1;
			}
			i++;
			cnt = 0;
		}
		if (i == n) {
			snprintf(why, cap, "unexpected <%s> in <%s> (line %ld)", (const char *)c->name,
				 (const char *)parent->name, (long)xmlGetLineNo(c));
			return -1;
		}
		if (++cnt > items[i].max) {
			snprintf(why, cap, "more than %u <%s%s> in <%s>", items[i].max, prefix_of(items[i].ns),
				 items[i].name, (const char *)parent->name);
			return -1;
		}
		if (cnt == 1)
			*items[i].first = c;
		if (items[i].count)
			*items[i].count = cnt;
	}
	for (; i < n; i++, cnt = 0)
		if (cnt < items[i].min) {
			snprintf(why, cap, "<%s%s> is missing in <%s>", prefix_of(items[i].ns), items[i].name,
				 (const char *)parent->name);
			return -1;
		}
	return 0;
}

/* The next sibling element with the same name as n (for the repeated items of a sequence). */
static xmlNodePtr next_same(xmlNodePtr n)
{
	for (xmlNodePtr c = n->next; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return dss_is_el(c, (const char *)n->ns->href, (const char *)n->name) ? c : NULL;
	return NULL;
}

/* Only the listed unqualified attributes on n (namespace declarations are not attributes). */
static bool only_attrs(xmlNodePtr n, const char *const *allowed, bool allow_namespaced, const char **bad)
{
	for (xmlAttrPtr a = n->properties; a != NULL; a = a->next) {
		if (a->ns != NULL && allow_namespaced)
			continue;
		bool ok = false;
		for (size_t i = 0; a->ns == NULL && allowed[i] != NULL; i++)
			ok = ok || strcmp((const char *)a->name, allowed[i]) == 0;
		if (!ok) {
			*bad = (const char *)a->name;
			return false;
		}
	}
	return true;
}

static int shape(struct intake *t)
{
	char why[200];
	xmlNodePtr idocs = NULL, other = NULL;
	t->root = xmlDocGetRootElement(t->doc);
	if (!dss_is_el(t->root, DSS_NS_DSS, "SignRequest"))
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "The message is not a dss:SignRequest");
	const char *bad = NULL;
	static const char *const root_attrs[] = { "Profile", "RequestID", NULL };
	if (!only_attrs(t->root, root_attrs, false, &bad))
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "Unknown attribute %.60s on the SignRequest", bad);

	struct seq_item top[] = {
		{ DSS_NS_DSS, "OptionalInputs", 1, 1, &t->oi, NULL },
		{ DSS_NS_DSS, "InputDocuments", 1, 1, &idocs, NULL },
	};
	if (walk_seq(t->root, top, 2, why, sizeof why) < 0)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "SignRequest: %s", why);

	/* The signature is the last child of OptionalInputs; say so plainly when it is not. */
	xmlNodePtr last = NULL;
	for (xmlNodePtr c = t->oi->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			last = c;
	if (last != NULL && !dss_is_el(last, DSS_NS_DS, "Signature")) {
		for (xmlNodePtr c = t->oi->children; c != NULL; c = c->next)
			if (dss_is_el(c, DSS_NS_DS, "Signature"))
				return untrusted(t, DSS_MINOR_NOT_SUPPORTED,
						 "The ds:Signature must be the last child of dss:OptionalInputs");
	}
	struct seq_item oi[] = {
		{ DSS_NS_CSIG, "SignRequestExtension", 1, 1, &t->ext, NULL },
		{ DSS_NS_DS, "Signature", 0, 1, &t->sig, NULL },   /* absent: answered, see authenticate() */
	};
	if (walk_seq(t->oi, oi, 2, why, sizeof why) < 0)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "SignRequest: %s", why);
	struct seq_item id[] = { { DSS_NS_DSS, "Other", 1, 1, &other, NULL } };
	if (walk_seq(idocs, id, 1, why, sizeof why) < 0)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "SignRequest: %s", why);
	struct seq_item ot[] = { { DSS_NS_CSIG, "SignTasks", 1, 1, &t->tasks, NULL } };
	if (walk_seq(other, ot, 1, why, sizeof why) < 0)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "SignRequest: %s", why);

	struct seq_item ext[] = {
		{ DSS_NS_CSIG, "RequestTime", 1, 1, &t->request_time, NULL },
		{ DSS_NS_SAML, "Conditions", 1, 1, &t->conditions, NULL },
		{ DSS_NS_CSIG, "Signer", 0, 1, &t->signer, NULL },
		{ DSS_NS_CSIG, "IdentityProvider", 1, 1, &t->idp, NULL },
		{ DSS_NS_CSIG, "AuthnProfile", 0, 1, &t->authn_profile, NULL },
		{ DSS_NS_CSIG, "SignRequester", 1, 1, &t->requester, NULL },
		{ DSS_NS_CSIG, "SignService", 1, 1, &t->service, NULL },
		{ DSS_NS_CSIG, "RequestedSignatureAlgorithm", 0, 1, &t->sig_alg, NULL },
		{ DSS_NS_CSIG, "CertRequestProperties", 0, 1, &t->cert_props, NULL },
		{ DSS_NS_CSIG, "SignMessage", 0, 1, &t->sign_message, NULL },
		{ DSS_NS_CSIG, "OtherRequestInfo", 0, 1, &t->other_info, NULL },
	};
	if (walk_seq(t->ext, ext, sizeof ext / sizeof ext[0], why, sizeof why) < 0)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "SignRequest: %s", why);

	/* Wrapping: no second SignRequest anywhere and no ds:Signature but the one we verify
	 * (a signed element elsewhere in the tree is how moved content gets a valid signature). */
	for (xmlNodePtr n = t->root; n != NULL; n = xml_walk_next(n, t->root, t->sig)) {
		if (n != t->root && dss_is_el(n, DSS_NS_DSS, "SignRequest"))
			return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "A second dss:SignRequest inside the SignRequest (line %ld)",
					 (long)xmlGetLineNo(n));
		if (n != t->sig && dss_is_el(n, DSS_NS_DS, "Signature"))
			return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "A ds:Signature inside the SignRequest (line %ld)",
					 (long)xmlGetLineNo(n));
	}
	/* URI="" signatures only: no attribute of a SignRequest is an ID, look-alikes refused. */
	if (xml_register_ids(t->doc, xml_id_rules_dss, xml_id_rules_dss_n, t->e) < 0)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "The SignRequest has ID attributes it must not have");
	return 0;
}

/* ---- who sent it -------------------------------------------------------------------------- */

/* A saml:NameIDType element with Format entity: its exact text (no trimming: §7.2 compares
 * strings binary). NULL with why set otherwise. */
static char *entity_name(struct intake *t, xmlNodePtr el, const char **why)
{
	char *fmt = dss_attr(el, "Format");
	bool ok = fmt != NULL && strcmp(fmt, DSS_NAMEID_ENTITY) == 0;
	free(fmt);
	if (!ok) {
		*why = "is not a NameID with Format urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
		return NULL;
	}
	char *s = NULL;
	efos_err e2 = { 0 };
	if (dss_text(el, MAX_URI, false, &s, &e2) < 0) {
		*why = "is not a text value of at most 1024 bytes";
		return NULL;
	}
	if (s[0] == '\0' || strchr(s, ':') == NULL || strpbrk(s, " \t\r\n") != NULL) {
		free(s);
		*why = "is not an absolute URI";
		return NULL;
	}
	return s;
}

static int authenticate(struct intake *t)
{
	const char *why = NULL;
	char *requester = entity_name(t, t->requester, &why);
	if (requester == NULL)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "csig:SignRequester %s", why);
	memset(&t->rq, 0, sizeof t->rq);
	if (t->o->lookup == NULL || t->o->lookup(t->o->lookup_arg, requester, &t->rq) != 0 || t->rq.n_keys == 0) {
		untrusted(t, DSS_MINOR_SECURITY_VIOLATION,
			  "The requester %.200s is not registered with this signing service (no metadata or no signing key)",
			  requester);
		if (t->e)
			t->e->code = EFOS_E_AUTH;
		free(requester);
		return -1;
	}
	/* A registered requester whose request is unsigned or not signed by its key: the request is
	 * not authentic, but the refusal may still go to one of the requester's registered return
	 * URLs (answerable() checks it), which can only tell the real requester that its name was used. */
	if (t->sig == NULL)
		t->auth_failure = "The SignRequest is not signed (the requester must sign it: spec §7.2)";
	else if (xml_dsig_verify_element(t->root, t->sig, t->rq.keys, t->rq.n_keys, &xml_dsig_policy_dss, t->e) == NULL)
		t->auth_failure = "The SignRequest's signature is not valid for the requester's registered keys";
	t->r->requester = requester;
	return 0;
}

/* What an error SignResponse needs, taken from the verified request: its RequestID, Version
 * and the one Audience, which must be a registered return URL of the requester. */
static int answerable(struct intake *t)
{
	struct dss_sign_request *r = t->r;
	r->request_id = dss_attr(t->root, "RequestID");
	if (r->request_id == NULL || r->request_id[0] == '\0' || strlen(r->request_id) > MAX_REQUEST_ID)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "The SignRequest has no RequestID of at most %u bytes",
				 MAX_REQUEST_ID);
	for (const char *p = r->request_id; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "The SignRequest's RequestID holds spaces or controls");
	r->version = dss_attr(t->ext, "Version");
	if (r->version == NULL)
		r->version = strdup("1.1");
	if (r->version == NULL)
		return untrusted(t, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	size_t vl = strlen(r->version);
	if (vl == 0 || vl > MAX_VERSION || strspn(r->version, "0123456789.") != vl)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "The SignRequestExtension's Version is not a version number");

	/* saml:Conditions: exactly one AudienceRestriction with exactly one Audience. */
	xmlNodePtr ar = NULL, aud = NULL;
	size_t n_ar = 0, n_aud = 0;
	for (xmlNodePtr c = t->conditions->children; c != NULL; c = c->next)
		if (dss_is_el(c, DSS_NS_SAML, "AudienceRestriction"))
			ar = c, n_ar++;
	for (xmlNodePtr c = ar ? ar->children : NULL; c != NULL; c = c->next)
		if (dss_is_el(c, DSS_NS_SAML, "Audience"))
			aud = c, n_aud++;
	if (n_ar != 1 || n_aud != 1)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED,
				 "saml:Conditions must hold exactly one AudienceRestriction with exactly one Audience (the return URL)");
	if (dss_text(aud, MAX_URI, false, &r->return_url, t->e) < 0)
		return untrusted(t, DSS_MINOR_NOT_SUPPORTED, "The Audience is not a URL of at most %u bytes", MAX_URI);
	for (size_t i = 0; i < t->rq.n_return_urls; i++)
		if (t->rq.return_urls[i] != NULL && strcmp(t->rq.return_urls[i], r->return_url) == 0)
			return 0;
	untrusted(t, DSS_MINOR_SECURITY_VIOLATION,
		  "The Audience (return URL) is not registered for the requester %.200s", r->requester);
	free(r->return_url);
	r->return_url = NULL;
	return -1;
}

/* ---- §7.2 checks -------------------------------------------------------------------------- */

static bool version_at_least(const char *v, int maj, int min)
{
	int a = 0, b = 0;
	if (sscanf(v, "%d.%d", &a, &b) < 1)
		return false;
	return a > maj || (a == maj && b >= min);
}

bool dss_request_id_acceptable(const char *id)
{
	size_t len = id ? strlen(id) : 0;
	if (len < MIN_REQUEST_ID || len > MAX_REQUEST_ID)
		return false;
	/* The alphabet bounds the entropy: len * log2(alphabet) must reach 128 bits. A class counts
	 * only as wide as used: hex letters a-f count 6, the other letters 26. */
	bool digit = false, lower = false, upper = false, lower_hex = true, upper_hex = true;
	unsigned char others[256] = { 0 };
	unsigned n_others = 0, distinct = 0;
	unsigned char seen[256] = { 0 };
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		distinct += !seen[c];
		seen[c] = 1;
		if (c >= '0' && c <= '9') {
			digit = true;
		} else if (c >= 'a' && c <= 'z') {
			lower = true;
			lower_hex = lower_hex && c <= 'f';
		} else if (c >= 'A' && c <= 'Z') {
			upper = true;
			upper_hex = upper_hex && c <= 'F';
		} else if (!others[c]) {
			others[c] = 1;
			n_others++;
		}
	}
	double alphabet = (digit ? 10 : 0) + (lower ? (lower_hex ? 6 : 26) : 0) +
			  (upper ? (upper_hex ? 6 : 26) : 0) + n_others;
	if (alphabet < 2 || (double)len * log2(alphabet) < 128.0)
		return false;
	/* Few distinct characters: "aaaa...ab", "0101...". */
	if (distinct < 8)
		return false;
	/* A repeated pattern: "abcdabcdabcd...", "1234567890" repeated. */
	for (size_t p = 1; p <= len / 2; p++) {
		size_t i = p;
		while (i < len && id[i] == id[i - p])
			i++;
		if (i == len)
			return false;
	}
	/* Counting: most neighbours one apart ("0123456789...", "abcdefgh...", "98765..."). */
	size_t steps = 0;
	for (size_t i = 1; i < len; i++) {
		int d = (unsigned char)id[i] - (unsigned char)id[i - 1];
		if (d == 1 || d == -1 || (id[i - 1] == '9' && id[i] == '0') || (id[i - 1] == '0' && id[i] == '9'))
			steps++;
	}
	if (steps * 4 >= (len - 1) * 3)
		return false;
	return true;
}

static int check_profile_id_version(struct intake *t)
{
	char *profile = dss_attr(t->root, "Profile");
	bool ok = profile != NULL && strcmp(profile, DSS_PROFILE) == 0;
	free(profile);
	if (!ok)
		return NOT_SUPPORTED(t, "The SignRequest's Profile is not " DSS_PROFILE);
	if (!dss_request_id_acceptable(t->r->request_id))
		return NOT_SUPPORTED(t, "The RequestID must be random: at least 20 bytes and 128 bits of entropy");
	static const char *const versions[] = { "1.1", "1.2", "1.3", "1.4", "1.5" };
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
		if (strcmp(t->r->version, versions[i]) == 0)
			return 0;
	return NOT_SUPPORTED(t, "DSS extension Version %s is not supported (1.1 to 1.5 are)", t->r->version);
}

static int parse_time_attr(xmlNodePtr n, const char *name, time_t *out, bool *bad)
{
	char *v = dss_attr(n, name);
	*out = 0;
	if (v == NULL)
		return 0;
	*bad = dss_parse_datetime(v, out) < 0;
	free(v);
	return *bad ? -1 : 0;
}

static int check_times(struct intake *t)
{
	struct dss_sign_request *r = t->r;
	char *rt = NULL;
	efos_err e2 = { 0 };
	if (dss_text(t->request_time, 64, true, &rt, &e2) < 0 || dss_parse_datetime(rt, &r->request_time) < 0) {
		free(rt);
		return NOT_SUPPORTED(t, "csig:RequestTime is not an xs:dateTime with a time zone");
	}
	free(rt);
	if (r->request_time > t->now + t->skew)
		return EXPIRED(t, "The RequestTime is in the future (more than %d s ahead of this service's clock)", t->skew);
	if (r->request_time + t->max_age + t->skew < t->now)
		return EXPIRED(t, "The SignRequest is older than %d s", t->max_age);

	bool bad = false;
	if (parse_time_attr(t->conditions, "NotBefore", &r->not_before, &bad) < 0 ||
	    parse_time_attr(t->conditions, "NotOnOrAfter", &r->not_on_or_after, &bad) < 0)
		return NOT_SUPPORTED(t, "saml:Conditions has a NotBefore or NotOnOrAfter that is not an xs:dateTime");
	if (r->not_before != 0 && r->not_before > t->now + t->skew)
		return EXPIRED(t, "The SignRequest is not valid yet (Conditions NotBefore)");
	if (r->not_on_or_after != 0 && r->not_on_or_after + t->skew <= t->now)
		return EXPIRED(t, "The SignRequest is no longer valid (Conditions NotOnOrAfter)");
	/* Only the AudienceRestriction is understood; other conditions (OneTimeUse, ProxyRestriction,
	 * saml:Condition) must not be silently ignored. */
	for (xmlNodePtr c = t->conditions->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !dss_is_el(c, DSS_NS_SAML, "AudienceRestriction"))
			return NOT_SUPPORTED(t, "saml:Conditions holds <%.40s>, which this service does not support",
					     (const char *)c->name);
	return 0;
}

static int check_parties(struct intake *t)
{
	struct dss_sign_request *r = t->r;
	const char *why = NULL;
	if ((r->sign_service = entity_name(t, t->service, &why)) == NULL)
		return NOT_SUPPORTED(t, "csig:SignService %s", why);
	if (t->o->own_entity_id == NULL || strcmp(r->sign_service, t->o->own_entity_id) != 0)
		return NOT_SUPPORTED(t, "The SignRequest is addressed to another signing service (csig:SignService)");
	if ((r->idp = entity_name(t, t->idp, &why)) == NULL)
		return NOT_SUPPORTED(t, "csig:IdentityProvider %s", why);
	if (t->authn_profile != NULL) {
		if (!version_at_least(r->version, 1, 4))
			return NOT_SUPPORTED(t, "csig:AuthnProfile needs Version 1.4 or later");
		efos_err e2 = { 0 };
		if (dss_text(t->authn_profile, MAX_URI, false, &r->authn_profile, &e2) < 0)
			return NOT_SUPPORTED(t, "csig:AuthnProfile is not a text of at most %u bytes", MAX_URI);
	}
	const char *const *algs = t->o->supported_sig_algs ? t->o->supported_sig_algs : default_sig_algs;
	size_t n = t->o->supported_sig_algs ? t->o->n_supported_sig_algs
					    : sizeof default_sig_algs / sizeof default_sig_algs[0];
	if (t->sig_alg != NULL) {
		efos_err e2 = { 0 };
		if (dss_text(t->sig_alg, MAX_URI, true, &r->sig_alg, &e2) < 0)
			return NOT_SUPPORTED(t, "csig:RequestedSignatureAlgorithm is not a URI");
	} else if ((r->sig_alg = strdup(RSA_SHA256)) == NULL) {
		return refuse(t, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if (algs[i] != NULL && strcmp(algs[i], r->sig_alg) == 0)
			return 0;
	return NOT_SUPPORTED(t, "The requested signature algorithm %.200s is not supported", r->sig_alg);
}

/* saml:Attribute (AttributeStatementType content) into a. */
static int parse_attribute(struct intake *t, xmlNodePtr el, struct dss_attr *a)
{
	static const char *const attrs[] = { "Name", "NameFormat", "FriendlyName", NULL };
	const char *bad = NULL;
	if (!only_attrs(el, attrs, true, &bad))
		return NOT_SUPPORTED(t, "Unknown attribute %.60s on a saml:Attribute", bad);
	a->name = dss_attr(el, "Name");
	a->friendly_name = dss_attr(el, "FriendlyName");
	if (a->name == NULL || a->name[0] == '\0' || strlen(a->name) > MAX_URI)
		return NOT_SUPPORTED(t, "A saml:Attribute without a Name");
	size_t n = 0;
	for (xmlNodePtr c = el->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE) {
			if (!dss_is_el(c, DSS_NS_SAML, "AttributeValue"))
				return NOT_SUPPORTED(t, "Unexpected <%.40s> in a saml:Attribute", (const char *)c->name);
			n++;
		}
	if (n == 0 || n > DSS_MAX_ATTR_VALUES)
		return NOT_SUPPORTED(t, "The attribute %.200s must have 1 to %u values", a->name, DSS_MAX_ATTR_VALUES);
	if ((a->values = calloc(n, sizeof *a->values)) == NULL)
		return refuse(t, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	for (xmlNodePtr c = el->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		efos_err e2 = { 0 };
		if (dss_text(c, MAX_VALUE, false, &a->values[a->n_values], &e2) < 0)
			return NOT_SUPPORTED(t, "A value of the attribute %.200s is not text of at most %u bytes", a->name,
					     MAX_VALUE);
		a->n_values++;
	}
	return 0;
}

static int check_signer(struct intake *t)
{
	if (t->signer == NULL)
		return 0;
	size_t n = 0;
	for (xmlNodePtr c = t->signer->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE) {
			if (dss_is_el(c, DSS_NS_SAML, "EncryptedAttribute"))
				return NOT_SUPPORTED(t, "Encrypted csig:Signer attributes are not supported");
			if (!dss_is_el(c, DSS_NS_SAML, "Attribute"))
				return NOT_SUPPORTED(t, "Unexpected <%.40s> in csig:Signer", (const char *)c->name);
			n++;
		}
	if (n == 0 || n > DSS_MAX_ATTRS)
		return NOT_SUPPORTED(t, "csig:Signer must hold 1 to %u attributes", DSS_MAX_ATTRS);
	if ((t->r->signer = calloc(n, sizeof *t->r->signer)) == NULL)
		return refuse(t, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	for (xmlNodePtr c = t->signer->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		int rc = parse_attribute(t, c, &t->r->signer[t->r->n_signer++]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

static int parse_cert_attr(struct intake *t, xmlNodePtr el, struct dss_cert_attr *ca)
{
	static const char *const attrs[] = { "CertAttributeRef", "CertNameType", "FriendlyName", "DefaultValue",
					     "Required", NULL };
	const char *bad = NULL;
	if (!only_attrs(el, attrs, false, &bad))
		return NOT_SUPPORTED(t, "Unknown attribute %.60s on csig:RequestedCertAttribute", bad);
	ca->ref = dss_attr(el, "CertAttributeRef");
	if (ca->ref == NULL || ca->ref[0] == '\0' || strlen(ca->ref) > 128 ||
	    strspn(ca->ref, "0123456789.") != strlen(ca->ref) || ca->ref[0] == '.')
		return NOT_SUPPORTED(t, "A csig:RequestedCertAttribute has no CertAttributeRef (an OID or a SAN tag number)");
	char *v = dss_attr(el, "CertNameType");
	ca->type = DSS_NAME_RDN;
	if (v != NULL && strcmp(v, "san") == 0)
		ca->type = DSS_NAME_SAN;
	else if (v != NULL && strcmp(v, "sda") == 0)
		ca->type = DSS_NAME_SDA;
	else if (v != NULL && strcmp(v, "rdn") != 0) {
		free(v);
		return NOT_SUPPORTED(t, "CertNameType of %.60s is not rdn, san or sda", ca->ref);
	}
	free(v);
	ca->friendly_name = dss_attr(el, "FriendlyName");
	ca->default_value = dss_attr(el, "DefaultValue");
	if (ca->default_value != NULL && strlen(ca->default_value) > MAX_VALUE)
		return NOT_SUPPORTED(t, "The DefaultValue of %.60s is longer than %u bytes", ca->ref, MAX_VALUE);
	if ((v = dss_attr(el, "Required")) != NULL) {
		int rc = parse_bool(v, &ca->required);
		free(v);
		if (rc < 0)
			return NOT_SUPPORTED(t, "Required of %.60s is not an xs:boolean", ca->ref);
	}
	xmlNodePtr aa = NULL, names = NULL;
	size_t n_names = 0, n_aa = 0;
	struct seq_item seq[] = {
		{ DSS_NS_CSIG, "AttributeAuthority", 0, DSS_MAX_ATTR_VALUES, &aa, &n_aa },
		{ DSS_NS_CSIG, "SamlAttributeName", 0, DSS_MAX_ATTR_VALUES, &names, &n_names },
	};
	char why[200];
	if (walk_seq(el, seq, 2, why, sizeof why) < 0)
		return NOT_SUPPORTED(t, "csig:RequestedCertAttribute %.60s: %s", ca->ref, why);
	if (n_names == 0 && ca->default_value == NULL)
		return NOT_SUPPORTED(t, "csig:RequestedCertAttribute %.60s names no SAML attribute and no DefaultValue", ca->ref);
	if (n_names > 0 && (ca->sources = calloc(n_names, sizeof *ca->sources)) == NULL)
		return refuse(t, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	for (xmlNodePtr c = names; c != NULL; c = next_same(c)) {
		struct dss_cert_attr_source *s = &ca->sources[ca->n_sources++];
		efos_err e2 = { 0 };
		if (dss_text(c, MAX_URI, true, &s->name, &e2) < 0 || s->name[0] == '\0')
			return NOT_SUPPORTED(t, "A csig:SamlAttributeName of %.60s is empty or too long", ca->ref);
		if ((v = dss_attr(c, "Order")) != NULL) {
			char *end = NULL;
			long o = strtol(v, &end, 10);
			bool ok = end != v && *end == '\0' && o >= -1000000 && o <= 1000000;
			free(v);
			if (!ok)
				return NOT_SUPPORTED(t, "The Order of a csig:SamlAttributeName of %.60s is not an integer", ca->ref);
			s->order = (int)o;
		}
	}
	return 0;
}

static int check_cert_props(struct intake *t)
{
	struct dss_sign_request *r = t->r;
	xmlNodePtr cp = t->cert_props;
	if (cp == NULL) {
		r->cert_type = strdup("PKC");
		return r->cert_type ? 0 : refuse(t, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	}
	static const char *const attrs[] = { "CertType", NULL };
	const char *bad = NULL;
	if (!only_attrs(cp, attrs, false, &bad))
		return NOT_SUPPORTED(t, "Unknown attribute %.60s on csig:CertRequestProperties", bad);
	r->cert_type = dss_attr(cp, "CertType");
	if (r->cert_type == NULL && (r->cert_type = strdup("PKC")) == NULL)
		return refuse(t, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	if (strcmp(r->cert_type, "PKC") != 0 && strcmp(r->cert_type, "QC") != 0 && strcmp(r->cert_type, "QC/SSCD") != 0)
		return NOT_SUPPORTED(t, "CertType %.40s is not PKC, QC or QC/SSCD", r->cert_type);

	xmlNodePtr loa = NULL, rca = NULL, other = NULL;
	size_t n_loa = 0;
	struct seq_item seq[] = {
		{ DSS_NS_SAML, "AuthnContextClassRef", 0, DSS_MAX_LOAS, &loa, &n_loa },
		{ DSS_NS_CSIG, "RequestedCertAttributes", 0, 1, &rca, NULL },
		{ DSS_NS_CSIG, "OtherProperties", 0, 1, &other, NULL },
	};
	char why[200];
	if (walk_seq(cp, seq, 3, why, sizeof why) < 0)
		return NOT_SUPPORTED(t, "csig:CertRequestProperties: %s", why);
	if (n_loa > 1 && !version_at_least(r->version, 1, 4))
		return NOT_SUPPORTED(t, "More than one AuthnContextClassRef needs Version 1.4 or later");
	if (n_loa > 0 && (r->loas = calloc(n_loa, sizeof *r->loas)) == NULL)
		return refuse(t, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	for (xmlNodePtr c = loa; c != NULL; c = next_same(c)) {
		efos_err e2 = { 0 };
		char **slot = &r->loas[r->n_loas++];
		if (dss_text(c, MAX_URI, true, slot, &e2) < 0 || strchr(*slot, ':') == NULL)
			return NOT_SUPPORTED(t, "An AuthnContextClassRef is not a URI");
	}
	if (rca == NULL)
		return 0;
	xmlNodePtr first = NULL;
	size_t n = 0;
	struct seq_item s2[] = { { DSS_NS_CSIG, "RequestedCertAttribute", 1, DSS_MAX_ATTRS, &first, &n } };
	if (walk_seq(rca, s2, 1, why, sizeof why) < 0)
		return NOT_SUPPORTED(t, "csig:RequestedCertAttributes: %s", why);
	if ((r->cert_attrs = calloc(n, sizeof *r->cert_attrs)) == NULL)
		return refuse(t, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	for (xmlNodePtr c = first; c != NULL; c = next_same(c)) {
		int rc = parse_cert_attr(t, c, &r->cert_attrs[r->n_cert_attrs++]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The element standalone, with the namespace declarations it uses, for verbatim embedding. */
static char *serialise_standalone(xmlNodePtr el, size_t max)
{
	xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr copy = d ? xmlDocCopyNode(el, d, 1) : NULL;
	char *out = NULL;
	if (copy == NULL) {
		xmlFreeDoc(d);
		return NULL;
	}
	xmlDocSetRootElement(d, copy);
	xmlReconciliateNs(d, copy);
	xmlBufferPtr b = xmlBufferCreate();
	if (b != NULL && xmlNodeDump(b, d, copy, 0, 0) > 0 && (size_t)xmlBufferLength(b) <= max)
		out = strdup((const char *)xmlBufferContent(b));
	xmlBufferFree(b);
	xmlFreeDoc(d);
	return out;
}

static int check_sign_message(struct intake *t)
{
	struct dss_sign_request *r = t->r;
	xmlNodePtr sm = t->sign_message;
	if (sm == NULL) {
		if (strcmp(r->cert_type, "QC/SSCD") == 0)
			return NOT_SUPPORTED(t, "CertType QC/SSCD requires a csig:SignMessage");
		return 0;
	}
	char *v = dss_attr(sm, "MustShow");
	if (v != NULL && parse_bool(v, &r->sign_message_must_show) < 0) {
		free(v);
		return NOT_SUPPORTED(t, "SignMessage MustShow is not an xs:boolean");
	}
	free(v);
	v = dss_attr(sm, "MimeType");
	bool mime_ok = v == NULL || strcmp(v, "text") == 0 || strcmp(v, "text/html") == 0 || strcmp(v, "text/markdown") == 0;
	free(v);
	if (!mime_ok)
		return NOT_SUPPORTED(t, "SignMessage MimeType must be text, text/html or text/markdown");
	r->sign_message_display_entity = dss_attr(sm, "DisplayEntity");
	if (r->sign_message_display_entity != NULL &&
	    (strlen(r->sign_message_display_entity) > MAX_URI || strchr(r->sign_message_display_entity, ':') == NULL))
		return NOT_SUPPORTED(t, "SignMessage DisplayEntity is not an entityID");
	static const char *const attrs[] = { "MustShow", "MimeType", "DisplayEntity", NULL };
	const char *bad = NULL;
	if (!only_attrs(sm, attrs, true, &bad))
		return NOT_SUPPORTED(t, "Unknown attribute %.60s on csig:SignMessage", bad);

	xmlNodePtr msg = NULL, enc = NULL;
	for (xmlNodePtr c = sm->children; c != NULL; c = c->next) {
		if (c->type == XML_TEXT_NODE && xmlIsBlankNode(c))
			continue;
		if (dss_is_el(c, DSS_NS_CSIG, "Message") && msg == NULL && enc == NULL)
			msg = c;
		else if (dss_is_el(c, DSS_NS_CSIG, "EncryptedMessage") && msg == NULL && enc == NULL)
			enc = c;
		else
			return NOT_SUPPORTED(t, "csig:SignMessage must hold exactly one csig:Message or csig:EncryptedMessage");
	}
	if (msg == NULL && enc == NULL)
		return NOT_SUPPORTED(t, "csig:SignMessage must hold exactly one csig:Message or csig:EncryptedMessage");
	if (msg != NULL) {
		char *b64 = NULL;
		efos_err e2 = { 0 };
		if (dss_text(msg, DSS_MAX_SIGN_MESSAGE * 2, false, &b64, &e2) < 0 ||
		    dss_b64_decode(b64, DSS_MAX_SIGN_MESSAGE, &r->sign_message_text, &r->sign_message_text_len) < 0) {
			free(b64);
			return NOT_SUPPORTED(t, "csig:Message is not base64 of at most %u bytes", DSS_MAX_SIGN_MESSAGE);
		}
		free(b64);
		if (r->sign_message_text_len == 0 || !dss_utf8_ok(r->sign_message_text, r->sign_message_text_len))
			return NOT_SUPPORTED(t, "The sign message is empty or not UTF-8 text");
	} else {
		if (r->sign_message_display_entity == NULL)
			return NOT_SUPPORTED(t, "An encrypted SignMessage needs a DisplayEntity (the IdP that decrypts it)");
		xmlNodePtr first = NULL;
		for (xmlNodePtr c = enc->children; c != NULL && first == NULL; c = c->next)
			if (c->type == XML_ELEMENT_NODE)
				first = c;
		if (!dss_is_el(first, DSS_NS_XENC, "EncryptedData"))
			return NOT_SUPPORTED(t, "csig:EncryptedMessage does not start with xenc:EncryptedData");
	}
	if ((r->sign_message_xml = serialise_standalone(sm, DSS_MAX_SIGN_MESSAGE)) == NULL)
		return NOT_SUPPORTED(t, "csig:SignMessage is larger than %u bytes", DSS_MAX_SIGN_MESSAGE);
	return 0;
}

static int parse_task(struct intake *t, xmlNodePtr el, struct dss_sign_task *k)
{
	static const char *const attrs[] = { "SignTaskId", "SigType", "AdESType", "ProcessingRules", NULL };
	const char *bad = NULL;
	if (!only_attrs(el, attrs, false, &bad))
		return NOT_SUPPORTED(t, "Unknown attribute %.60s on csig:SignTaskData", bad);
	k->id = dss_attr(el, "SignTaskId");
	if (k->id != NULL && (k->id[0] == '\0' || strlen(k->id) > 128))
		return NOT_SUPPORTED(t, "A SignTaskId is empty or longer than 128 bytes");
	char *v = dss_attr(el, "SigType");
	if (v == NULL) {
		return NOT_SUPPORTED(t, "A csig:SignTaskData has no SigType");
	} else if (strcmp(v, "XML") == 0) {
		k->sig_type = DSS_SIG_XML;
	} else if (strcmp(v, "PDF") == 0) {
		k->sig_type = DSS_SIG_PDF;
	} else if (strcmp(v, "CMS") == 0) {
		k->sig_type = DSS_SIG_CMS;
	} else {
		int rc = NOT_SUPPORTED(t, "SigType %.20s is not supported (XML, PDF and CMS are)", v);
		free(v);
		return rc;
	}
	free(v);
	v = dss_attr(el, "AdESType");
	k->ades_type = DSS_ADES_NONE;
	if (v != NULL && strcmp(v, "BES") == 0)
		k->ades_type = DSS_ADES_BES;
	else if (v != NULL && strcmp(v, "EPES") == 0)
		k->ades_type = DSS_ADES_EPES;
	else if (v != NULL && strcmp(v, "None") != 0) {
		free(v);
		return NOT_SUPPORTED(t, "AdESType must be None, BES or EPES");
	}
	free(v);
	/* No processing rules are implemented, and unknown rules MUST be refused (§7.3). */
	k->processing_rules = dss_attr(el, "ProcessingRules");
	if (k->processing_rules != NULL)
		return NOT_SUPPORTED(t, "The ProcessingRules %.200s are not supported by this service", k->processing_rules);

	xmlNodePtr tbs = NULL, ades = NULL, b64sig = NULL, other = NULL;
	struct seq_item seq[] = {
		{ DSS_NS_CSIG, "ToBeSignedBytes", 1, 1, &tbs, NULL },
		{ DSS_NS_CSIG, "AdESObject", 0, 1, &ades, NULL },
		{ DSS_NS_CSIG, "Base64Signature", 0, 1, &b64sig, NULL },
		{ DSS_NS_CSIG, "OtherSignTaskData", 0, 1, &other, NULL },
	};
	char why[200];
	if (walk_seq(el, seq, 4, why, sizeof why) < 0)
		return NOT_SUPPORTED(t, "csig:SignTaskData: %s", why);
	if (b64sig != NULL)
		return NOT_SUPPORTED(t, "A SignRequest's task must not carry a Base64Signature");
	char *text = NULL;
	efos_err e2 = { 0 };
	if (dss_text(tbs, DSS_MAX_TBS_BYTES * 2, false, &text, &e2) < 0 ||
	    dss_b64_decode(text, DSS_MAX_TBS_BYTES, &k->tbs, &k->tbs_len) < 0 || k->tbs_len == 0) {
		free(text);
		return NOT_SUPPORTED(t, "ToBeSignedBytes is not base64 of 1 to %u bytes", DSS_MAX_TBS_BYTES);
	}
	free(text);
	/* XML: canonical ds:SignedInfo; PDF/CMS: the DER SignedAttributes SET (tag 0x31). */
	if (k->sig_type == DSS_SIG_XML && k->tbs[0] != '<')
		return NOT_SUPPORTED(t, "ToBeSignedBytes of an XML task is not a canonical ds:SignedInfo");
	if (k->sig_type != DSS_SIG_XML && k->tbs[0] != 0x31)
		return NOT_SUPPORTED(t, "ToBeSignedBytes of a PDF or CMS task is not a DER SignedAttributes SET");
	if (ades != NULL) {
		xmlNodePtr sid = NULL, bytes = NULL, oad = NULL;
		struct seq_item s2[] = {
			{ DSS_NS_CSIG, "SignatureId", 0, 1, &sid, NULL },
			{ DSS_NS_CSIG, "AdESObjectBytes", 0, 1, &bytes, NULL },
			{ DSS_NS_CSIG, "OtherAdESData", 0, 1, &oad, NULL },
		};
		if (walk_seq(ades, s2, 3, why, sizeof why) < 0)
			return NOT_SUPPORTED(t, "csig:AdESObject: %s", why);
		if (sid != NULL && (dss_text(sid, 256, true, &k->signature_id, &e2) < 0 || k->signature_id[0] == '\0'))
			return NOT_SUPPORTED(t, "csig:SignatureId is empty or longer than 256 bytes");
		if (bytes != NULL) {
			if (dss_text(bytes, DSS_MAX_TBS_BYTES * 2, false, &text, &e2) < 0 ||
			    dss_b64_decode(text, DSS_MAX_TBS_BYTES, &k->ades_object, &k->ades_object_len) < 0) {
				free(text);
				return NOT_SUPPORTED(t, "AdESObjectBytes is not base64 of at most %u bytes", DSS_MAX_TBS_BYTES);
			}
			free(text);
		}
	}
	return 0;
}

static int check_tasks(struct intake *t)
{
	struct dss_sign_request *r = t->r;
	size_t max = t->o->max_tasks ? t->o->max_tasks : DEFAULT_MAX_TASKS;
	if (max > DSS_MAX_TASKS)
		max = DSS_MAX_TASKS;
	size_t n = 0;
	for (xmlNodePtr c = t->tasks->children; c != NULL; c = c->next) {
		if (c->type == XML_TEXT_NODE && xmlIsBlankNode(c))
			continue;
		if (!dss_is_el(c, DSS_NS_CSIG, "SignTaskData"))
			return NOT_SUPPORTED(t, "csig:SignTasks holds something other than csig:SignTaskData");
		if (++n > max)
			return NOT_SUPPORTED(t, "More than %zu sign tasks in one request", max);
	}
	if (n == 0)
		return NOT_SUPPORTED(t, "csig:SignTasks holds no csig:SignTaskData");
	if ((r->tasks = calloc(n, sizeof *r->tasks)) == NULL)
		return refuse(t, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	for (xmlNodePtr c = t->tasks->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		struct dss_sign_task *k = &r->tasks[r->n_tasks++];
		int rc = parse_task(t, c, k);
		if (rc != 0)
			return rc;
		if (n > 1 && k->id == NULL)
			return NOT_SUPPORTED(t, "Every task needs a SignTaskId when there are several");
		for (size_t i = 0; k->id != NULL && i + 1 < r->n_tasks; i++)
			if (strcmp(r->tasks[i].id, k->id) == 0)
				return NOT_SUPPORTED(t, "The SignTaskId %.128s is used twice", k->id);
	}
	return 0;
}

/* ---- entry points ------------------------------------------------------------------------- */

int dss_request_parse(const char *xml, size_t len, const struct dss_intake_opts *o,
		      struct dss_sign_request **out, struct dss_result *res, efos_err *e)
{
	struct dss_result scratch;
	struct intake t = { .o = o, .res = res ? res : &scratch, .e = e };
	*out = NULL;
	memset(t.res, 0, sizeof *t.res);
	t.res->major = DSS_MAJOR_SUCCESS;
	if (e != NULL)
		efos_err_clear(e);
	if (o == NULL)
		return untrusted(&t, DSS_MINOR_GENERAL_ERROR, "The signing service is not configured for SignRequests");
	t.now = o->now ? o->now : time(NULL);
	t.max_age = o->max_age_s > 0 ? o->max_age_s : DEFAULT_MAX_AGE_S;
	t.skew = o->skew_s > 0 ? o->skew_s : o->skew_s < 0 ? 0 : DEFAULT_SKEW_S;

	if (xml_parse_untrusted(xml, len, NULL, &t.doc, e) < 0)
		return untrusted(&t, DSS_MINOR_NOT_SUPPORTED, "The SignRequest is not acceptable XML");
	int rc = shape(&t);
	if (rc == 0 && (t.r = calloc(1, sizeof *t.r)) == NULL)
		rc = untrusted(&t, DSS_MINOR_GENERAL_ERROR, "Out of memory");
	if (rc == 0)
		rc = authenticate(&t);
	if (rc == 0)
		rc = answerable(&t);
	/* From here the request can be answered: refusals are posted back. */
	if (rc == 0 && t.auth_failure != NULL) {
		t.r->unauthenticated = true;
		rc = refuse(&t, DSS_MAJOR_REQUESTER, DSS_MINOR_SECURITY_VIOLATION, "%s", t.auth_failure);
	}
	if (rc == 0)
		rc = check_profile_id_version(&t);
	if (rc == 0)
		rc = check_parties(&t);
	if (rc == 0)
		rc = check_times(&t);
	if (rc == 0)
		rc = check_signer(&t);
	if (rc == 0)
		rc = check_cert_props(&t);
	if (rc == 0)
		rc = check_sign_message(&t);
	if (rc == 0)
		rc = check_tasks(&t);
	xmlFreeDoc(t.doc);
	if (rc < 0) {
		dss_request_free(t.r);
		return -1;
	}
	*out = t.r;
	if (rc == 0) {
		t.res->major = DSS_MAJOR_SUCCESS;
		t.res->minor = NULL;
		t.res->message[0] = '\0';
	}
	return rc;
}

static void free_attr(struct dss_attr *a)
{
	free(a->name);
	free(a->friendly_name);
	for (size_t i = 0; i < a->n_values; i++)
		free(a->values[i]);
	free(a->values);
}

void dss_request_free(struct dss_sign_request *r)
{
	if (r == NULL)
		return;
	free(r->request_id);
	free(r->version);
	free(r->return_url);
	for (size_t i = 0; i < r->n_signer; i++)
		free_attr(&r->signer[i]);
	free(r->signer);
	free(r->idp);
	free(r->authn_profile);
	free(r->requester);
	free(r->sign_service);
	free(r->sig_alg);
	free(r->cert_type);
	for (size_t i = 0; i < r->n_loas; i++)
		free(r->loas[i]);
	free(r->loas);
	for (size_t i = 0; i < r->n_cert_attrs; i++) {
		struct dss_cert_attr *c = &r->cert_attrs[i];
		free(c->ref);
		free(c->friendly_name);
		free(c->default_value);
		for (size_t k = 0; k < c->n_sources; k++)
			free(c->sources[k].name);
		free(c->sources);
	}
	free(r->cert_attrs);
	free(r->sign_message_xml);
	free(r->sign_message_display_entity);
	free(r->sign_message_text);
	for (size_t i = 0; i < r->n_tasks; i++) {
		struct dss_sign_task *k = &r->tasks[i];
		free(k->id);
		free(k->processing_rules);
		free(k->tbs);
		free(k->signature_id);
		free(k->ades_object);
		free(k->sig);
	}
	free(r->tasks);
	free(r);
}
