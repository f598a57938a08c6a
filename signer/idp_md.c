/* IdP metadata for the signing service: see idp_md.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include "core/log.h"
#include "core/saml_md.h"
#include "core/xml.h"
#include "core/xml_c14n.h"
#include "signer/idp_md.h"

#define NS_MD     "urn:oasis:names:tc:SAML:2.0:metadata"
#define NS_SAML   "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_MDATTR "urn:oasis:names:tc:SAML:metadata:attribute"
#define NS_ALG    "urn:oasis:names:tc:SAML:metadata:algsupport"
#define NS_PSC    "http://id.swedenconnect.se/authn/1.0/principal-selection/ns"
#define PROTOCOL_SAML2 "urn:oasis:names:tc:SAML:2.0:protocol"
#define ATTR_ENTITY_CATEGORY "http://macedir.org/entity-category"
#define ATTR_ASSURANCE "urn:oasis:names:tc:SAML:attribute:assurance-certification"
#define BINDING_POST "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#define BINDING_REDIRECT "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"

#define MAX_METADATA_BYTES (64u * 1024u * 1024u)
#define MAX_VALUE 2048          /* entityID, URL, attribute value */
#define MAX_LIST 256            /* values of one list per IdP */
#define MAX_KEYS 8              /* signing keys per IdP */
#define MAX_WARNINGS 20

/* A list of malloc'd strings. */
struct strs {
	char **v;
	size_t n;
};

struct idp_rec {
	struct sig_idp pub;
	char *entity_id, *post, *redirect;
	struct strs cats, loas, psel, sigalgs, digalgs;
	EVP_PKEY **keys;
	size_t n_keys;
	EVP_PKEY *enc;
};

struct sig_idp_set {
	struct idp_rec *r;
	size_t n, cap;
};

static bool is_el(xmlNodePtr n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL && xmlStrEqual(n->ns->href, BAD_CAST ns) &&
	       xmlStrEqual(n->name, BAD_CAST name);
}

#define FOR_CHILD(c, parent) for (xmlNodePtr c = xml_first_element(parent); c != NULL; c = xml_next_element(c->next))

/* An unqualified attribute as a malloc'd string (bounded), or NULL. */
static char *attr_dup(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
	char *s = NULL;
	if (v != NULL && strlen((const char *)v) <= MAX_VALUE)
		s = strdup((const char *)v);
	xmlFree(v);
	return s;
}

/* Strict text content, XML whitespace trimmed, bounded; NULL with why set. */
static char *text_dup(xmlNodePtr n, char *why, size_t cap)
{
	xmlChar *t = NULL;
	efos_err e = { 0 };
	if (xml_text_content_strict(n, &t, &e) != 0) {
		snprintf(why, cap, "<%.40s>: %.200s", (const char *)n->name, e.msg);
		return NULL;
	}
	const char *p = (const char *)t, *q;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	q = p + strlen(p);
	while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r' || q[-1] == '\n'))
		q--;
	char *s = NULL;
	if ((size_t)(q - p) > 64 * 1024)
		snprintf(why, cap, "<%.40s> is too long", (const char *)n->name);
	else if ((s = strndup(p, (size_t)(q - p))) == NULL)
		snprintf(why, cap, "out of memory");
	xmlFree(t);
	return s;
}

static void strs_free(struct strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	*s = (struct strs){ 0 };
}

/* Takes ownership of v. */
static int strs_push(struct strs *s, char *v, char *why, size_t cap)
{
	if (s->n >= MAX_LIST) {
		free(v);
		snprintf(why, cap, "more than %d values in one list", MAX_LIST);
		return -1;
	}
	char **nv = realloc(s->v, (s->n + 1) * sizeof *nv);
	if (nv == NULL) {
		free(v);
		snprintf(why, cap, "out of memory");
		return -1;
	}
	s->v = nv;
	s->v[s->n++] = v;
	return 0;
}

static void rec_free(struct idp_rec *r)
{
	free(r->entity_id);
	free(r->post);
	free(r->redirect);
	strs_free(&r->cats);
	strs_free(&r->loas);
	strs_free(&r->psel);
	strs_free(&r->sigalgs);
	strs_free(&r->digalgs);
	for (size_t i = 0; i < r->n_keys; i++)
		EVP_PKEY_free(r->keys[i]);
	free(r->keys);
	EVP_PKEY_free(r->enc);
	*r = (struct idp_rec){ 0 };
}

/* alg:SigningMethod and alg:DigestMethod in an md:Extensions (entity or role level). */
static int parse_algs(xmlNodePtr ext, struct idp_rec *r, char *why, size_t cap)
{
	FOR_CHILD(c, ext) {
		struct strs *dst = is_el(c, NS_ALG, "SigningMethod") ? &r->sigalgs
				   : is_el(c, NS_ALG, "DigestMethod") ? &r->digalgs : NULL;
		char *alg = dst ? attr_dup(c, "Algorithm") : NULL;
		if (alg != NULL && strs_push(dst, alg, why, cap) != 0)
			return -1;
	}
	return 0;
}

/* md:Extensions/mdattr:EntityAttributes of the EntityDescriptor. */
static int parse_entity_attrs(xmlNodePtr ext, struct idp_rec *r, char *why, size_t cap)
{
	FOR_CHILD(ea, ext) {
		if (!is_el(ea, NS_MDATTR, "EntityAttributes"))
			continue;
		FOR_CHILD(a, ea) {
			if (!is_el(a, NS_SAML, "Attribute"))
				continue;
			xmlChar *name = xmlGetNoNsProp(a, BAD_CAST "Name");
			struct strs *dst = NULL;
			if (name != NULL && strcmp((const char *)name, ATTR_ENTITY_CATEGORY) == 0)
				dst = &r->cats;
			else if (name != NULL && strcmp((const char *)name, ATTR_ASSURANCE) == 0)
				dst = &r->loas;
			xmlFree(name);
			if (dst == NULL)
				continue;
			FOR_CHILD(v, a) {
				if (!is_el(v, NS_SAML, "AttributeValue"))
					continue;
				char *s = text_dup(v, why, cap);
				if (s == NULL || strs_push(dst, s, why, cap) != 0)
					return -1;
			}
		}
	}
	return 0;
}

static int parse_key_descriptor(xmlNodePtr kd, struct idp_rec *r, char *why, size_t cap)
{
	char *use = attr_dup(kd, "use");
	bool sign = use == NULL || strcmp(use, "signing") == 0;
	bool enc = use == NULL || strcmp(use, "encryption") == 0;
	free(use);
	if (!sign && !enc)
		return 0;
	int n = 0;
	FOR_CHILD(ki, kd) {
		if (!xml_is_dsig(ki, "KeyInfo"))
			continue;
		FOR_CHILD(xd, ki) {
			if (!xml_is_dsig(xd, "X509Data"))
				continue;
			FOR_CHILD(xc, xd) {
				if (!xml_is_dsig(xc, "X509Certificate"))
					continue;
				if (n++ > 0) {   /* one key per KeyDescriptor; more is ambiguous */
					snprintf(why, cap, "a KeyDescriptor with several certificates");
					return -1;
				}
				char *b64 = text_dup(xc, why, cap);
				EVP_PKEY *k = b64 ? saml_md_key_from_cert_b64(b64, why, cap) : NULL;
				free(b64);
				if (k == NULL)
					return -1;
				if (enc && r->enc == NULL && EVP_PKEY_up_ref(k) == 1)
					r->enc = k;
				if (sign) {
					if (r->n_keys >= MAX_KEYS) {
						EVP_PKEY_free(k);
						snprintf(why, cap, "more than %d signing keys", MAX_KEYS);
						return -1;
					}
					EVP_PKEY **nk = realloc(r->keys, (r->n_keys + 1) * sizeof *nk);
					if (nk == NULL) {
						EVP_PKEY_free(k);
						snprintf(why, cap, "out of memory");
						return -1;
					}
					r->keys = nk;
					r->keys[r->n_keys++] = k;
				} else {
					EVP_PKEY_free(k);
				}
			}
		}
	}
	return 0;
}

static bool supports_saml2(xmlNodePtr role)
{
	xmlChar *p = xmlGetNoNsProp(role, BAD_CAST "protocolSupportEnumeration");
	bool ok = false;
	if (p != NULL) {
		char *save = NULL;
		for (char *tok = strtok_r((char *)p, " \t\r\n", &save); tok != NULL; tok = strtok_r(NULL, " \t\r\n", &save))
			if (strcmp(tok, PROTOCOL_SAML2) == 0)
				ok = true;
	}
	xmlFree(p);
	return ok;
}

/* An https:// URL (or http://localhost-style for tests is not allowed: IdPs are public). */
static bool url_ok(const char *u)
{
	return u != NULL && strncmp(u, "https://", 8) == 0 && strlen(u) > 8;
}

/* One EntityDescriptor: 0 with r filled, 1 when it is not an IdP (ignored), -1 broken (why). */
static int parse_entity(xmlNodePtr ed, time_t now, struct idp_rec *r, char *why, size_t cap)
{
	xmlNodePtr role = NULL;
	FOR_CHILD(c, ed)
		if (is_el(c, NS_MD, "IDPSSODescriptor") && supports_saml2(c) && role == NULL)
			role = c;
	if (role == NULL)
		return 1;
	if ((r->entity_id = attr_dup(ed, "entityID")) == NULL || r->entity_id[0] == '\0') {
		snprintf(why, cap, "no entityID (or one longer than %d bytes)", MAX_VALUE);
		return -1;
	}
	xmlChar *vu = xmlGetNoNsProp(ed, BAD_CAST "validUntil");
	time_t t = 0;
	int bad = vu != NULL && (saml_md_parse_datetime((const char *)vu, &t) != 0 || t <= now);
	xmlFree(vu);
	if (bad) {
		snprintf(why, cap, "validUntil is malformed or has passed");
		return -1;
	}
	FOR_CHILD(c, ed)
		if (is_el(c, NS_MD, "Extensions") && (parse_entity_attrs(c, r, why, cap) != 0 || parse_algs(c, r, why, cap) != 0))
			return -1;
	FOR_CHILD(c, role) {
		if (is_el(c, NS_MD, "KeyDescriptor")) {
			if (parse_key_descriptor(c, r, why, cap) != 0)
				return -1;
		} else if (is_el(c, NS_MD, "SingleSignOnService")) {
			char *b = attr_dup(c, "Binding"), *loc = attr_dup(c, "Location");
			char **slot = NULL;
			if (b != NULL && strcmp(b, BINDING_POST) == 0)
				slot = &r->post;
			else if (b != NULL && strcmp(b, BINDING_REDIRECT) == 0)
				slot = &r->redirect;
			free(b);
			if (slot != NULL && *slot == NULL && url_ok(loc)) {
				*slot = loc;
				loc = NULL;
			}
			free(loc);
		} else if (is_el(c, NS_MD, "Extensions")) {
			if (parse_algs(c, r, why, cap) != 0)
				return -1;
			FOR_CHILD(rps, c) {
				if (!is_el(rps, NS_PSC, "RequestedPrincipalSelection"))
					continue;
				FOR_CHILD(mv, rps) {
					char *name = is_el(mv, NS_PSC, "MatchValue") ? attr_dup(mv, "Name") : NULL;
					if (name != NULL && strs_push(&r->psel, name, why, cap) != 0)
						return -1;
				}
			}
		}
	}
	if (r->n_keys == 0) {
		snprintf(why, cap, "no usable signing key (KeyDescriptor use=\"signing\" with an X509Certificate)");
		return -1;
	}
	if (r->post == NULL && r->redirect == NULL) {
		snprintf(why, cap, "no https SingleSignOnService with the HTTP-POST or HTTP-Redirect binding");
		return -1;
	}
	return 0;
}

struct walk {
	struct sig_idp_set *s;
	const char *src;
	time_t now;
	size_t warned;
	bool oom;
};

static void add_entity(xmlNodePtr ed, struct walk *w)
{
	struct idp_rec r = { 0 };
	char why[300] = "";
	int rc = parse_entity(ed, w->now, &r, why, sizeof why);
	if (rc == 0 && sig_idp_set_find(w->s, r.entity_id) != NULL) {
		snprintf(why, sizeof why, "it appears twice; the second is skipped");
		rc = -1;
	}
	if (rc != 0) {
		if (rc < 0 && w->warned++ < MAX_WARNINGS)
			log_warn("IdP metadata %s: entity %.300s skipped: %s", w->src, r.entity_id ? r.entity_id : "(no entityID)",
				 why);
		rec_free(&r);
		return;
	}
	if (w->s->n == w->s->cap) {
		size_t nc = w->s->cap ? 2 * w->s->cap : 4;
		struct idp_rec *nr = realloc(w->s->r, nc * sizeof *nr);
		if (nr == NULL) {
			w->oom = true;
			rec_free(&r);
			return;
		}
		w->s->r = nr;
		w->s->cap = nc;
	}
	w->s->r[w->s->n++] = r;
}

static void walk(xmlNodePtr n, struct walk *w, unsigned depth)
{
	if (is_el(n, NS_MD, "EntityDescriptor")) {
		add_entity(n, w);
		return;
	}
	if (!is_el(n, NS_MD, "EntitiesDescriptor") || depth > 16)
		return;
	FOR_CHILD(c, n)
		walk(c, w, depth + 1);
}

/* Points the public views at the owned data (after the array stopped moving). */
static void publish(struct sig_idp_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct idp_rec *r = &s->r[i];
		r->pub = (struct sig_idp){
			.entity_id = r->entity_id,
			.sso_post_url = r->post,
			.sso_redirect_url = r->redirect,
			.signing_keys = r->keys,
			.n_signing_keys = r->n_keys,
			.encryption_key = r->enc,
			.entity_categories = (const char *const *)r->cats.v,
			.n_entity_categories = r->cats.n,
			.assurance_certs = (const char *const *)r->loas.v,
			.n_assurance_certs = r->loas.n,
			.principal_selection = (const char *const *)r->psel.v,
			.n_principal_selection = r->psel.n,
			.signing_methods = (const char *const *)r->sigalgs.v,
			.n_signing_methods = r->sigalgs.n,
			.digest_methods = (const char *const *)r->digalgs.v,
			.n_digest_methods = r->digalgs.n,
		};
		r->pub.scal2 = sig_idp_has_category(&r->pub, SIG_EC_SCAL2);
	}
}

int sig_idp_set_parse(const char *buf, size_t len, const char *source, EVP_PKEY *const *trusted, size_t n_trusted,
		      time_t now, struct sig_idp_set **out, efos_err *e)
{
	const char *src = source ? source : "(IdP metadata)";
	xmlDocPtr doc = NULL;
	struct sig_idp_set *s = NULL;
	int ret = -1;

	*out = NULL;
	if (now == 0)
		now = time(NULL);
	struct xml_limits lim = {
		.max_bytes = MAX_METADATA_BYTES,
		.max_depth = 64,
		.max_nodes = MAX_METADATA_BYTES / 8,
		.allow_comments = true,   /* aggregates carry comments; text is read strictly */
	};
	if (buf == NULL || xml_parse_untrusted(buf, len, &lim, &doc, e) != 0)
		return buf == NULL ? efos_fail(e, EFOS_E_INVALID, "%s: no metadata", src) : efos_wrap(e, "%s", src);
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (!is_el(root, NS_MD, "EntitiesDescriptor") && !is_el(root, NS_MD, "EntityDescriptor")) {
		efos_fail(e, EFOS_E_INVALID, "%s: not SAML metadata (the root is not md:EntitiesDescriptor or "
			  "md:EntityDescriptor)", src);
		goto out;
	}
	if (n_trusted > 0 && saml_md_verify_root(doc, trusted, n_trusted, src, e) != 0)
		goto out;
	xmlChar *vu = xmlGetNoNsProp(root, BAD_CAST "validUntil");
	time_t t = 0;
	bool bad = vu != NULL && (saml_md_parse_datetime((const char *)vu, &t) != 0 || t <= now);
	xmlFree(vu);
	if (bad) {
		efos_fail(e, EFOS_E_INVALID, "%s: validUntil on the root element is malformed or expired", src);
		goto out;
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	struct walk w = { .s = s, .src = src, .now = now };
	walk(root, &w, 0);
	if (w.oom) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (w.warned > MAX_WARNINGS)
		log_warn("IdP metadata %s: %zu further warnings not shown", src, w.warned - MAX_WARNINGS);
	publish(s);
	*out = s;
	s = NULL;
	ret = 0;
out:
	sig_idp_set_free(s);
	xmlFreeDoc(doc);
	return ret;
}

const struct sig_idp *sig_idp_set_find(const struct sig_idp_set *s, const char *entity_id)
{
	for (size_t i = 0; s != NULL && entity_id != NULL && i < s->n; i++)
		if (strcmp(s->r[i].entity_id, entity_id) == 0)
			return &s->r[i].pub;
	return NULL;
}

size_t sig_idp_set_count(const struct sig_idp_set *s)
{
	return s ? s->n : 0;
}

const struct sig_idp *sig_idp_set_get(const struct sig_idp_set *s, size_t i)
{
	return s != NULL && i < s->n ? &s->r[i].pub : NULL;
}

void sig_idp_set_free(struct sig_idp_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		rec_free(&s->r[i]);
	free(s->r);
	free(s);
}

static bool in_list(const char *const *l, size_t n, const char *uri)
{
	for (size_t i = 0; uri != NULL && i < n; i++)
		if (l[i] != NULL && strcmp(l[i], uri) == 0)
			return true;
	return false;
}

bool sig_idp_has_category(const struct sig_idp *idp, const char *uri)
{
	return idp != NULL && in_list(idp->entity_categories, idp->n_entity_categories, uri);
}

bool sig_idp_has_assurance(const struct sig_idp *idp, const char *uri)
{
	return idp != NULL && in_list(idp->assurance_certs, idp->n_assurance_certs, uri);
}
