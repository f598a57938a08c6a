/* SP metadata: parsing into compact structs, snapshots, feeds, cache, refresh thread
 * (see metadata_store.h and docs/idp-metadata.md). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <curl/curl.h>
#include <libxml/tree.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "core/config.h"
#include "core/log.h"
#include "core/saml_md.h"
#include "core/xml.h"
#include "core/xml_c14n.h"
#include "idp/metadata_store.h"

#define NS_MD      "urn:oasis:names:tc:SAML:2.0:metadata"
#define NS_SAML    "urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_MDATTR  "urn:oasis:names:tc:SAML:metadata:attribute"
#define NS_MDUI    "urn:oasis:names:tc:SAML:metadata:ui"
#define NS_ALG     "urn:oasis:names:tc:SAML:metadata:algsupport"
#define NS_HOKSSO  "urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser"
#define NS_XENC11  "http://www.w3.org/2009/xmlenc11#"
#define NS_XML     "http://www.w3.org/XML/1998/namespace"
#define PROTOCOL_SAML2 "urn:oasis:names:tc:SAML:2.0:protocol"
#define ENTITY_CATEGORY "http://macedir.org/entity-category"

#define MAX_ENTITY_ID 1024
#define MAX_URL 2048
#define MAX_WARNINGS_PER_DOC 20
#define TRIM_AFTER_BYTES (1u << 20)   /* documents from which the freed parse memory goes back to the OS */
#define OLD_SNAPSHOT_WAIT_MS 2000     /* publish: how long to wait for readers of the old index */

/* ---- arena: every string and array of a batch, freed at once ------------------------------- */

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct arena_block *head;
	size_t total;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	struct arena_block *b = a->head;
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > 60000 ? n : 60000;
		b = malloc(sizeof *b + cap);
		if (b == NULL)
			return NULL;
		b->cap = cap;
		b->used = 0;
		b->next = a->head;
		a->head = b;
		a->total += sizeof *b + cap;
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

static char *arena_strdup(struct arena *a, const char *s)
{
	if (s == NULL)
		return NULL;
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);
	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

static void *arena_memdup(struct arena *a, const void *src, size_t n)
{
	if (n == 0)
		return NULL;
	void *p = arena_alloc(a, n);
	if (p != NULL)
		memcpy(p, src, n);
	return p;
}

static void arena_free(struct arena *a)
{
	struct arena_block *b = a->head;
	while (b != NULL) {
		struct arena_block *n = b->next;
		free(b);
		b = n;
	}
	a->head = NULL;
	a->total = 0;
}

/* ---- growable temporary arrays (per entity while parsing) ------------------------------------- */

struct vec {
	void *items;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 8;
		void *p = realloc(v->items, cap * v->size);
		if (p == NULL)
			return NULL;
		v->items = p;
		v->cap = cap;
	}
	void *slot = (char *)v->items + v->n * v->size;
	memset(slot, 0, v->size);
	v->n++;
	return slot;
}

/* ---- batches ---------------------------------------------------------------------------------- */

struct idp_md_batch {
	atomic_int refs;
	struct arena arena;
	struct idp_sp *sps;
	size_t n, cap;
	time_t valid_until;            /* the document's (min over nested groups); 0: none */
	unsigned char sha256[32];      /* of the bytes it was parsed from */
	time_t loaded_at;
	char *source;
};

static void batch_unref(struct idp_md_batch *b)
{
	if (b == NULL || atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	for (size_t i = 0; i < b->n; i++) {
		for (size_t k = 0; k < b->sps[i].n_signing_keys; k++)
			EVP_PKEY_free(b->sps[i].signing_keys[k]);
		for (size_t k = 0; k < b->sps[i].n_encryption_keys; k++)
			EVP_PKEY_free(b->sps[i].encryption_keys[k]);
	}
	free(b->sps);
	free(b->source);
	arena_free(&b->arena);
	free(b);
}

void idp_md_batch_free(struct idp_md_batch *b)
{
	batch_unref(b);
}

size_t idp_md_batch_count(const struct idp_md_batch *b)
{
	return b ? b->n : 0;
}

const struct idp_sp *idp_md_batch_sp(const struct idp_md_batch *b, size_t i)
{
	return b != NULL && i < b->n ? &b->sps[i] : NULL;
}

time_t idp_md_batch_valid_until(const struct idp_md_batch *b)
{
	return b ? b->valid_until : 0;
}

bool idp_sp_has_category(const struct idp_sp *sp, const char *uri)
{
	for (size_t i = 0; i < sp->n_entity_categories; i++)
		if (strcmp(sp->entity_categories[i], uri) == 0)
			return true;
	return false;
}

const struct idp_sp_acs *idp_sp_find_acs(const struct idp_sp *sp, int index, enum idp_binding binding)
{
	const struct idp_sp_acs *first = NULL, *first_not_false = NULL;
	for (size_t i = 0; i < sp->n_acs; i++) {
		const struct idp_sp_acs *a = &sp->acs[i];
		if (binding != IDP_BINDING_OTHER && a->binding != binding)
			continue;
		if (index >= 0) {
			if (a->index == (unsigned)index)
				return a;
			continue;
		}
		if (a->is_default)
			return a;
		if (first_not_false == NULL && !a->is_default_set)
			first_not_false = a;
		if (first == NULL)
			first = a;
	}
	return index >= 0 ? NULL : first_not_false ? first_not_false : first;
}

/* ---- small XML helpers -------------------------------------------------------------------------- */

static bool is_el(xmlNodePtr n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL && xmlStrEqual(n->ns->href, BAD_CAST ns) &&
	       xmlStrEqual(n->name, BAD_CAST name);
}

#define FOR_CHILD(c, parent) for (xmlNodePtr c = xml_first_element(parent); c != NULL; c = xml_next_element(c->next))

/* An unqualified attribute as a malloc'd string (xmlFree), or NULL. */
static char *attr_get(xmlNodePtr n, const char *name)
{
	return (char *)xmlGetNoNsProp(n, BAD_CAST name);
}

static bool attr_bool(xmlNodePtr n, const char *name, bool *present)
{
	char *v = attr_get(n, name);
	bool r = v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
	if (present)
		*present = v != NULL;
	xmlFree(v);
	return r;
}

/* validUntil of n: 0 when absent, -1 (with why) when malformed. */
static int valid_until_of(xmlNodePtr n, time_t *out, char *why, size_t cap)
{
	char *v = attr_get(n, "validUntil");
	*out = 0;
	int rc = 0;
	if (v != NULL && saml_md_parse_datetime(v, out) != 0) {
		snprintf(why, cap, "validUntil \"%.40s\" is not an xs:dateTime", v);
		rc = -1;
	}
	xmlFree(v);
	return rc;
}

/* ---- one SP --------------------------------------------------------------------------------- */

struct sp_tmp {
	struct vec cats, algs_sig, algs_dig, acs, enc, nameids, reqattrs, sigkeys, enckeys;
	char *disp_sv, *disp_en, *org_sv, *org_en;   /* xmlFree */
	char *last_b64;        /* the last certificate read, and its key (no reference held): */
	EVP_PKEY *last_key;    /* signing and encryption often share one, parse it once */
};

static void sp_tmp_free(struct sp_tmp *t, bool free_keys)
{
	if (free_keys) {
		for (size_t i = 0; i < t->sigkeys.n; i++)
			EVP_PKEY_free(((EVP_PKEY **)t->sigkeys.items)[i]);
		for (size_t i = 0; i < t->enckeys.n; i++)
			EVP_PKEY_free(((EVP_PKEY **)t->enckeys.items)[i]);
	}
	for (size_t k = 0; k < t->acs.n; k++) {
		struct idp_sp_acs *a = &((struct idp_sp_acs *)t->acs.items)[k];
		xmlFree((char *)a->binding_uri);
		xmlFree((char *)a->location);
	}
	for (size_t k = 0; k < t->enc.n; k++) {
		struct idp_sp_enc_method *m = &((struct idp_sp_enc_method *)t->enc.items)[k];
		xmlFree((char *)m->algorithm);
		xmlFree((char *)m->digest);
		xmlFree((char *)m->mgf);
	}
	for (size_t k = 0; k < t->reqattrs.n; k++)
		xmlFree((char *)((struct idp_sp_req_attr *)t->reqattrs.items)[k].name);
	struct vec *vs[] = { &t->cats, &t->algs_sig, &t->algs_dig, &t->acs, &t->enc, &t->nameids, &t->reqattrs,
			     &t->sigkeys, &t->enckeys };
	for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
		if (vs[i] == &t->cats || vs[i] == &t->algs_sig || vs[i] == &t->algs_dig || vs[i] == &t->nameids)
			for (size_t k = 0; k < vs[i]->n; k++)
				xmlFree(((char **)vs[i]->items)[k]);
		free(vs[i]->items);
	}
	xmlFree(t->last_b64);
	xmlFree(t->disp_sv);
	xmlFree(t->disp_en);
	xmlFree(t->org_sv);
	xmlFree(t->org_en);
}

static int push_str(struct vec *v, char *s)
{
	char **slot = vec_push(v);
	if (slot == NULL) {
		xmlFree(s);
		return -1;
	}
	*slot = s;
	return 0;
}

/* Strict text of an element (no comments, no child elements): NULL with why set. */
static char *text_of(xmlNodePtr n, char *why, size_t cap)
{
	xmlChar *t = NULL;
	efos_err e = { 0 };
	if (xml_text_content_strict(n, &t, &e) != 0) {
		snprintf(why, cap, "<%.40s>: %.200s", (const char *)n->name, e.msg);
		return NULL;
	}
	return (char *)t;
}

static void collect_alg(xmlNodePtr ext, struct sp_tmp *t)
{
	FOR_CHILD(c, ext) {
		bool sig = is_el(c, NS_ALG, "SigningMethod");
		if (!sig && !is_el(c, NS_ALG, "DigestMethod"))
			continue;
		char *a = attr_get(c, "Algorithm");
		if (a != NULL)
			push_str(sig ? &t->algs_sig : &t->algs_dig, a);
	}
}

static int collect_entity_attrs(xmlNodePtr ext, struct sp_tmp *t, char *why, size_t cap)
{
	FOR_CHILD(ea, ext) {
		if (!is_el(ea, NS_MDATTR, "EntityAttributes"))
			continue;
		FOR_CHILD(a, ea) {
			if (!is_el(a, NS_SAML, "Attribute"))
				continue;
			char *name = attr_get(a, "Name");
			bool ec = name != NULL && strcmp(name, ENTITY_CATEGORY) == 0;
			xmlFree(name);
			if (!ec)
				continue;
			FOR_CHILD(v, a) {
				if (!is_el(v, NS_SAML, "AttributeValue"))
					continue;
				char *s = text_of(v, why, cap);
				if (s == NULL)
					return -1;
				push_str(&t->cats, s);
			}
		}
	}
	return 0;
}


static int parse_key_descriptor(xmlNodePtr kd, struct sp_tmp *t, char *why, size_t cap)
{
	char *use = attr_get(kd, "use");
	bool sign = use == NULL || strcmp(use, "signing") == 0;
	bool enc = use == NULL || strcmp(use, "encryption") == 0;
	xmlFree(use);
	if (!sign && !enc)
		return 0;   /* a use we do not know: the key is for neither (it used to leak; fuzz_sp_metadata) */
	xmlNodePtr ki = NULL;
	FOR_CHILD(c, kd)
		if (xml_is_dsig(c, "KeyInfo"))
			ki = c;
	int nkeys = 0;
	if (ki != NULL) {
		FOR_CHILD(xd, ki) {
			if (!xml_is_dsig(xd, "X509Data"))
				continue;
			FOR_CHILD(xc, xd) {
				if (!xml_is_dsig(xc, "X509Certificate"))
					continue;
				char *b64 = text_of(xc, why, cap);
				if (b64 == NULL)
					return -1;
				EVP_PKEY *k;
				if (t->last_b64 != NULL && strcmp(t->last_b64, b64) == 0 && EVP_PKEY_up_ref(t->last_key) == 1) {
					k = t->last_key;
					xmlFree(b64);
				} else {
					k = saml_md_key_from_cert_b64(b64, why, cap);
					xmlFree(t->last_b64);
					t->last_b64 = b64;
					t->last_key = k;
				}
				if (k == NULL)
					return -1;
				if (nkeys++ > 0) {   /* one key per KeyDescriptor; more is ambiguous */
					EVP_PKEY_free(k);
					snprintf(why, cap, "a KeyDescriptor with several certificates");
					return -1;
				}
				if (sign) {
					EVP_PKEY **slot = vec_push(&t->sigkeys);
					if (slot == NULL || (enc && EVP_PKEY_up_ref(k) != 1)) {
						EVP_PKEY_free(k);
						goto oom;
					}
					*slot = k;
				}
				if (enc) {
					EVP_PKEY **slot = vec_push(&t->enckeys);
					if (slot == NULL) {
						EVP_PKEY_free(k);
						goto oom;
					}
					*slot = k;
				}
			}
		}
	}
	if (enc) {
		FOR_CHILD(m, kd) {
			if (!is_el(m, NS_MD, "EncryptionMethod"))
				continue;
			struct idp_sp_enc_method *em = vec_push(&t->enc);
			if (em == NULL)
				goto oom;
			em->algorithm = attr_get(m, "Algorithm");
			FOR_CHILD(d, m) {
				if (xml_is_dsig(d, "DigestMethod") && em->digest == NULL)
					em->digest = attr_get(d, "Algorithm");
				else if (is_el(d, NS_XENC11, "MGF") && em->mgf == NULL)
					em->mgf = attr_get(d, "Algorithm");
			}
		}
	}
	return 0;
oom:
	snprintf(why, cap, "out of memory");
	return -1;
}

static enum idp_binding binding_of(const char *uri)
{
	if (uri == NULL)
		return IDP_BINDING_OTHER;
	if (strcmp(uri, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST") == 0)
		return IDP_BINDING_POST;
	if (strcmp(uri, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect") == 0)
		return IDP_BINDING_REDIRECT;
	if (strcmp(uri, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact") == 0)
		return IDP_BINDING_ARTIFACT;
	if (strcmp(uri, NS_HOKSSO) == 0)
		return IDP_BINDING_HOK;
	return IDP_BINDING_OTHER;
}

/* An absolute https URL without spaces or fragments: where we POST assertions. */
static bool acceptable_location(const char *loc)
{
	if (loc == NULL || strncmp(loc, "https://", 8) != 0 || strlen(loc) > MAX_URL || loc[8] == '\0' || loc[8] == '/')
		return false;
	for (const char *p = loc; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '#' || *p == '"' || *p == '<' || *p == '>' || (unsigned char)*p == 0x7f)
			return false;
	return true;
}

static int parse_acs(xmlNodePtr n, struct sp_tmp *t, const char *entity_id, size_t *warned, char *why, size_t cap)
{
	char *idx = attr_get(n, "index");
	char *loc = attr_get(n, "Location");
	char *bind = attr_get(n, "Binding");
	char *end = NULL;
	unsigned long index = idx ? strtoul(idx, &end, 10) : 0;
	bool idx_ok = idx != NULL && *idx >= '0' && *idx <= '9' && end != NULL && *end == '\0' && index <= 65535;
	xmlFree(idx);
	if (!idx_ok) {
		xmlFree(loc);
		xmlFree(bind);
		snprintf(why, cap, "AssertionConsumerService without a valid index");
		return -1;
	}
	if (!acceptable_location(loc) || bind == NULL) {
		if ((*warned)++ < MAX_WARNINGS_PER_DOC)
			log_warn("SP metadata: %s: AssertionConsumerService index %lu ignored: Location \"%.200s\" is not "
				 "an https:// URL", entity_id, index, loc ? loc : "");
		xmlFree(loc);
		xmlFree(bind);
		return 0;
	}
	for (size_t i = 0; i < t->acs.n; i++)
		if (((struct idp_sp_acs *)t->acs.items)[i].index == index) {
			xmlFree(loc);
			xmlFree(bind);
			snprintf(why, cap, "two AssertionConsumerServices with index %lu", index);
			return -1;
		}
	struct idp_sp_acs *a = vec_push(&t->acs);
	if (a == NULL) {
		xmlFree(loc);
		xmlFree(bind);
		snprintf(why, cap, "out of memory");
		return -1;
	}
	a->index = (unsigned)index;
	a->location = loc;
	a->binding_uri = bind;
	a->binding = binding_of(bind);
	a->is_default = attr_bool(n, "isDefault", &a->is_default_set);
	if (a->binding == IDP_BINDING_HOK) {
		xmlChar *pb = xmlGetNsProp(n, BAD_CAST "ProtocolBinding", BAD_CAST NS_HOKSSO);
		a->hok_protocol_binding = binding_of((const char *)pb);
		xmlFree(pb);
	}
	return 0;
}

/* The first xml:lang="sv" and the first "en" text of elements like n (display names). */
static void keep_sv_en(xmlNodePtr n, char **sv, char **en)
{
	xmlChar *lang = xmlGetNsProp(n, BAD_CAST "lang", BAD_CAST NS_XML);
	char **slot = lang == NULL ? NULL : xmlStrEqual(lang, BAD_CAST "sv") ? sv : xmlStrEqual(lang, BAD_CAST "en") ? en : NULL;
	xmlFree(lang);
	char why[8];
	if (slot != NULL && *slot == NULL)
		*slot = text_of(n, why, sizeof why);
}

static void parse_ui(xmlNodePtr ext, struct sp_tmp *t)
{
	FOR_CHILD(ui, ext) {
		if (!is_el(ui, NS_MDUI, "UIInfo"))
			continue;
		FOR_CHILD(dn, ui) {
			if (!is_el(dn, NS_MDUI, "DisplayName"))
				continue;
			keep_sv_en(dn, &t->disp_sv, &t->disp_en);
		}
	}
}

static void parse_org(xmlNodePtr org, struct sp_tmp *t)
{
	FOR_CHILD(d, org) {
		if (!is_el(d, NS_MD, "OrganizationDisplayName"))
			continue;
		keep_sv_en(d, &t->org_sv, &t->org_en);
	}
}

static int parse_attr_consuming(xmlNodePtr acs_el, struct sp_tmp *t)
{
	FOR_CHILD(r, acs_el) {
		if (!is_el(r, NS_MD, "RequestedAttribute"))
			continue;
		struct idp_sp_req_attr *ra = vec_push(&t->reqattrs);
		if (ra == NULL)
			return -1;
		ra->name = attr_get(r, "Name");
		ra->is_required = attr_bool(r, "isRequired", NULL);
	}
	return 0;
}

static bool supports_saml2(xmlNodePtr role)
{
	char *pse = attr_get(role, "protocolSupportEnumeration");
	bool ok = false;
	char *save = NULL;
	for (char *tok = pse ? strtok_r(pse, " \t\r\n", &save) : NULL; tok != NULL; tok = strtok_r(NULL, " \t\r\n", &save))
		if (strcmp(tok, PROTOCOL_SAML2) == 0)
			ok = true;
	xmlFree(pse);
	return ok;
}

/* Copies a vector of xmlChar strings into the arena. */
static const char *const *arena_strs(struct arena *a, struct vec *v, bool *oom)
{
	if (v->n == 0)
		return NULL;
	const char **out = arena_alloc(a, v->n * sizeof *out);
	if (out == NULL) {
		*oom = true;
		return NULL;
	}
	for (size_t i = 0; i < v->n; i++)
		if ((out[i] = arena_strdup(a, ((char **)v->items)[i])) == NULL)
			*oom = true;
	return out;
}

/* Adds the SP of ed to b. 1: added; 0: not an SP (ignored); -1: broken, why says why. */
static int parse_sp(xmlNodePtr ed, struct idp_md_batch *b, time_t now, size_t *warned, char *why, size_t cap)
{
	struct sp_tmp t = { 0 };
	t.cats.size = t.algs_sig.size = t.algs_dig.size = t.nameids.size = sizeof(char *);
	t.acs.size = sizeof(struct idp_sp_acs);
	t.enc.size = sizeof(struct idp_sp_enc_method);
	t.reqattrs.size = sizeof(struct idp_sp_req_attr);
	t.sigkeys.size = t.enckeys.size = sizeof(EVP_PKEY *);
	char *entity_id = attr_get(ed, "entityID");
	xmlNodePtr spsso = NULL, org = NULL, ext = NULL;
	int ret = -1;
	time_t vu = 0;

	FOR_CHILD(c, ed) {
		if (is_el(c, NS_MD, "SPSSODescriptor") && spsso == NULL && supports_saml2(c))
			spsso = c;
		else if (is_el(c, NS_MD, "Extensions"))
			ext = c;
		else if (is_el(c, NS_MD, "Organization"))
			org = c;
	}
	if (spsso == NULL) {
		ret = 0;
		goto out;
	}
	if (entity_id == NULL || entity_id[0] == '\0' || strlen(entity_id) > MAX_ENTITY_ID) {
		snprintf(why, cap, "entityID missing, empty or longer than %d", MAX_ENTITY_ID);
		goto out;
	}
	if (valid_until_of(ed, &vu, why, cap) != 0)
		goto out;
	if (vu != 0 && vu <= now) {
		snprintf(why, cap, "its validUntil has passed");
		goto out;
	}
	if (ext != NULL) {
		if (collect_entity_attrs(ext, &t, why, cap) != 0)
			goto out;
		collect_alg(ext, &t);
	}
	if (org != NULL)
		parse_org(org, &t);
	bool ars = attr_bool(spsso, "AuthnRequestsSigned", NULL);
	bool was = attr_bool(spsso, "WantAssertionsSigned", NULL);
	xmlNodePtr attr_cs = NULL;
	FOR_CHILD(c, spsso) {
		if (is_el(c, NS_MD, "Extensions")) {
			parse_ui(c, &t);
			collect_alg(c, &t);
		} else if (is_el(c, NS_MD, "KeyDescriptor")) {
			if (parse_key_descriptor(c, &t, why, cap) != 0)
				goto out;
		} else if (is_el(c, NS_MD, "NameIDFormat")) {
			char *s = text_of(c, why, cap);
			if (s == NULL)
				goto out;
			push_str(&t.nameids, s);
		} else if (is_el(c, NS_MD, "AssertionConsumerService")) {
			if (parse_acs(c, &t, entity_id, warned, why, cap) != 0)
				goto out;
		} else if (is_el(c, NS_MD, "AttributeConsumingService")) {
			if (attr_cs == NULL || attr_bool(c, "isDefault", NULL))
				attr_cs = c;
		}
	}
	if (attr_cs != NULL && parse_attr_consuming(attr_cs, &t) != 0) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	if (t.acs.n == 0) {
		snprintf(why, cap, "no usable AssertionConsumerService (https:// Location, index)");
		goto out;
	}
	if (ars && t.sigkeys.n == 0) {
		snprintf(why, cap, "AuthnRequestsSigned=\"true\" but no signing key");
		goto out;
	}

	/* Into the batch: everything copied to the arena, keys moved. */
	if (b->n == b->cap) {
		size_t ncap = b->cap ? 2 * b->cap : 64;
		struct idp_sp *p = realloc(b->sps, ncap * sizeof *p);
		if (p == NULL) {
			snprintf(why, cap, "out of memory");
			goto out;
		}
		b->sps = p;
		b->cap = ncap;
	}
	struct arena *a = &b->arena;
	bool oom = false;
	struct idp_sp sp = {
		.entity_id = arena_strdup(a, entity_id),
		.source = b->source,
		.valid_until = vu,
		.authn_requests_signed = ars,
		.want_assertions_signed = was,
		.signing_keys = arena_memdup(a, t.sigkeys.items, t.sigkeys.n * sizeof(EVP_PKEY *)),
		.n_signing_keys = t.sigkeys.n,
		.encryption_keys = arena_memdup(a, t.enckeys.items, t.enckeys.n * sizeof(EVP_PKEY *)),
		.n_encryption_keys = t.enckeys.n,
		.entity_categories = arena_strs(a, &t.cats, &oom),
		.n_entity_categories = t.cats.n,
		.signing_methods = arena_strs(a, &t.algs_sig, &oom),
		.n_signing_methods = t.algs_sig.n,
		.digest_methods = arena_strs(a, &t.algs_dig, &oom),
		.n_digest_methods = t.algs_dig.n,
		.name_id_formats = arena_strs(a, &t.nameids, &oom),
		.n_name_id_formats = t.nameids.n,
		.display_name_sv = arena_strdup(a, t.disp_sv),
		.display_name_en = arena_strdup(a, t.disp_en),
		.org_display_name_sv = arena_strdup(a, t.org_sv),
		.org_display_name_en = arena_strdup(a, t.org_en),
	};
	struct idp_sp_acs *acs = arena_alloc(a, t.acs.n * sizeof *acs);
	if (acs != NULL)
		for (size_t i = 0; i < t.acs.n; i++) {
			acs[i] = ((struct idp_sp_acs *)t.acs.items)[i];
			acs[i].location = arena_strdup(a, acs[i].location);
			acs[i].binding_uri = arena_strdup(a, acs[i].binding_uri);
			oom |= acs[i].location == NULL || acs[i].binding_uri == NULL;
		}
	sp.acs = acs;
	sp.n_acs = t.acs.n;
	if (t.enc.n > 0) {
		struct idp_sp_enc_method *em = arena_alloc(a, t.enc.n * sizeof *em);
		if (em != NULL)
			for (size_t i = 0; i < t.enc.n; i++) {
				const struct idp_sp_enc_method *s = &((struct idp_sp_enc_method *)t.enc.items)[i];
				em[i].algorithm = arena_strdup(a, s->algorithm ? s->algorithm : "");
				em[i].digest = arena_strdup(a, s->digest);
				em[i].mgf = arena_strdup(a, s->mgf);
			}
		sp.enc_methods = em;
		sp.n_enc_methods = t.enc.n;
		oom |= em == NULL;
	}
	if (t.reqattrs.n > 0) {
		struct idp_sp_req_attr *ra = arena_alloc(a, t.reqattrs.n * sizeof *ra);
		size_t k = 0;
		for (size_t i = 0; ra != NULL && i < t.reqattrs.n; i++) {
			const struct idp_sp_req_attr *s = &((struct idp_sp_req_attr *)t.reqattrs.items)[i];
			if (s->name == NULL)
				continue;
			ra[k].name = arena_strdup(a, s->name);
			ra[k++].is_required = s->is_required;
		}
		sp.requested_attrs = ra;
		sp.n_requested_attrs = k;
		oom |= ra == NULL;
	}
	oom |= sp.entity_id == NULL || acs == NULL || (t.sigkeys.n && !sp.signing_keys) ||
	       (t.enckeys.n && !sp.encryption_keys);
	if (oom) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	b->sps[b->n++] = sp;
	t.sigkeys.n = t.enckeys.n = 0;   /* moved */
	ret = 1;
out:
	sp_tmp_free(&t, true);
	xmlFree(entity_id);
	return ret;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- documents -------------------------------------------------------------------------------- */

struct walk {
	struct idp_md_batch *b;
	time_t now;
	size_t skipped, warned;
	const char *source;
};

static void walk_entities(xmlNodePtr n, struct walk *w, unsigned depth)
{
	char why[300];
	if (is_el(n, NS_MD, "EntityDescriptor")) {
		why[0] = '\0';
		if (parse_sp(n, w->b, w->now, &w->warned, why, sizeof why) < 0) {
			w->skipped++;
			if (w->warned++ < MAX_WARNINGS_PER_DOC) {
				char *id = attr_get(n, "entityID");
				char kv[512], esc[300];
				json_escape(esc, sizeof esc, id ? id : "");
				snprintf(kv, sizeof kv, "\"event\":\"sp_metadata.entity_skipped\",\"entity_id\":\"%s\"", esc);
				log_write(LOG_LVL_WARN, kv, "SP metadata %s: entity %.300s skipped: %s", w->source,
					  id ? id : "(no entityID)", why);
				xmlFree(id);
			}
		}
		return;
	}
	if (!is_el(n, NS_MD, "EntitiesDescriptor") || depth > 8)
		return;
	time_t vu = 0;
	if (depth > 0) {   /* a nested group may expire on its own */
		if (valid_until_of(n, &vu, why, sizeof why) != 0 || (vu != 0 && vu <= w->now)) {
			log_warn("SP metadata %s: a nested EntitiesDescriptor is skipped: %s", w->source,
				 vu != 0 ? "its validUntil has passed" : why);
			return;
		}
		if (vu != 0 && (w->b->valid_until == 0 || vu < w->b->valid_until))
			w->b->valid_until = vu;
	}
	FOR_CHILD(c, n)
		walk_entities(c, w, depth + 1);
}


int idp_md_parse(const char *buf, size_t len, const struct idp_md_parse_opts *o, struct idp_md_batch **out,
		 size_t *skipped, efos_err *e)
{
	xmlDocPtr doc = NULL;
	struct idp_md_batch *b = NULL;
	const char *src = o->source ? o->source : "(metadata)";
	int ret = -1;
	*out = NULL;
	if (skipped)
		*skipped = 0;

	struct xml_limits lim = {
		.max_bytes = o->max_bytes ? o->max_bytes : 64u * 1024 * 1024,
		.max_depth = 64,
		.allow_comments = true,   /* aggregates carry comments; text is read strictly */
	};
	lim.max_nodes = lim.max_bytes / 8 > 100000 ? lim.max_bytes / 8 : 100000;
	double t0 = mono_s(), t1 = t0, t2 = t0, t3 = t0;
	if (xml_parse_untrusted(buf, len, &lim, &doc, e) != 0)
		return efos_wrap(e, "%s", src);
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (!is_el(root, NS_MD, "EntitiesDescriptor") && !is_el(root, NS_MD, "EntityDescriptor")) {
		efos_fail(e, EFOS_E_INVALID, "%s: not SAML metadata (the root is not md:EntitiesDescriptor or "
			  "md:EntityDescriptor)", src);
		goto out;
	}
	if (o->require_signature) {
		if (o->n_trusted_keys == 0) {
			efos_fail(e, EFOS_E_CONFIG, "%s: no certificate to verify the signature with (idp.federation_certs)", src);
			goto out;
		}
		t1 = mono_s();
		t2 = t1;   /* IDs and signature: one step in core/saml_md.c */
		if (saml_md_verify_root(doc, o->trusted_keys, o->n_trusted_keys, src, e) != 0)
			goto out;
	}
	t3 = mono_s();
	time_t vu = 0;
	char why[200];
	if (valid_until_of(root, &vu, why, sizeof why) != 0) {
		efos_fail(e, EFOS_E_INVALID, "%s: %s", src, why);
		goto out;
	}
	if (vu == 0 && o->require_valid_until) {
		efos_fail(e, EFOS_E_INVALID, "%s: no validUntil on the root element (required for a federation feed)", src);
		goto out;
	}
	if (vu != 0 && vu <= o->now) {
		char t[32];
		struct tm tm;
		gmtime_r(&vu, &tm);
		strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
		efos_fail(e, EFOS_E_INVALID, "%s: expired (validUntil %s)", src, t);
		goto out;
	}
	if ((b = calloc(1, sizeof *b)) == NULL || (b->source = strdup(src)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	atomic_init(&b->refs, 1);
	b->valid_until = vu;
	b->loaded_at = o->now;
	EVP_Digest(buf, len, b->sha256, NULL, EVP_sha256(), NULL);
	struct walk w = { .b = b, .now = o->now, .source = src };
	walk_entities(root, &w, 0);
	/* A doubled entityID inside one document: the first wins. */
	if (b->n > 1) {
		size_t cap = 1;
		while (cap < 2 * b->n)
			cap <<= 1;
		uint32_t *tab = calloc(cap, sizeof *tab);
		if (tab == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
		size_t k = 0;
		for (size_t i = 0; i < b->n; i++) {
			const char *id = b->sps[i].entity_id;
			uint64_t h = 1469598103934665603ULL;
			for (const char *p = id; *p; p++)
				h = (h ^ (unsigned char)*p) * 1099511628211ULL;
			size_t j = h & (cap - 1);
			bool dup = false;
			while (tab[j] != 0) {
				if (strcmp(b->sps[tab[j] - 1].entity_id, id) == 0) {
					dup = true;
					break;
				}
				j = (j + 1) & (cap - 1);
			}
			if (dup) {
				w.skipped++;
				log_warn("SP metadata %s: entity %.300s appears twice; the second is skipped", src, id);
				for (size_t q = 0; q < b->sps[i].n_signing_keys; q++)
					EVP_PKEY_free(b->sps[i].signing_keys[q]);
				for (size_t q = 0; q < b->sps[i].n_encryption_keys; q++)
					EVP_PKEY_free(b->sps[i].encryption_keys[q]);
				continue;
			}
			b->sps[k] = b->sps[i];
			tab[j] = (uint32_t)(k + 1);
			k++;
		}
		b->n = k;
		free(tab);
	}
	if (w.warned > MAX_WARNINGS_PER_DOC)
		log_warn("SP metadata %s: %zu further warnings not shown", src, w.warned - MAX_WARNINGS_PER_DOC);
	if (skipped)
		*skipped = w.skipped;
	double t4 = mono_s();
	log_debug("SP metadata %s: %zu bytes: parsed in %.3f s, IDs %.3f s, signature %.3f s, %zu SPs read in %.3f s",
		  src, len, t1 - t0, t2 - t1, t3 - t2, b->n, t4 - t3);
	*out = b;
	b = NULL;
	ret = 0;
out:
	batch_unref(b);
	xmlFreeDoc(doc);
	/* The libxml2 tree of a large aggregate (≈ 4× the document: 150 MB for 10,000 SPs) is freed
	 * here, but glibc keeps it in its free lists and the RSS would stay up until the next
	 * refresh reuses it; the batch itself is a few MB (bench/6-metadata.sh, docs/performance.md). */
	if (len >= TRIM_AFTER_BYTES)
		malloc_trim(0);
	return ret;
}

/* ---- trusted keys ---------------------------------------------------------------------------- */

void idp_md_free_keys(EVP_PKEY **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(keys[i]);
	free(keys);
}

static char *resolve(const char *dir, const char *path)
{
	char *out = NULL;
	if (path[0] == '/' || dir == NULL)
		return strdup(path);
	if (asprintf(&out, "%s/%s", dir, path) < 0)
		return NULL;
	return out;
}

int idp_md_load_trusted_keys(char *const *files, size_t nfiles, const char *config_dir, EVP_PKEY ***keys,
			     size_t *nkeys, efos_err *e)
{
	struct vec v = { .size = sizeof(EVP_PKEY *) };
	*keys = NULL;
	*nkeys = 0;
	for (size_t i = 0; i < nfiles; i++) {
		char *p = resolve(config_dir, files[i]);
		FILE *fp = p ? fopen(p, "r") : NULL;
		if (fp == NULL) {
			efos_fail(e, EFOS_E_CONFIG, "idp.federation_certs: %s: %s", p ? p : files[i], strerror(errno));
			free(p);
			goto fail;
		}
		size_t before = v.n;
		X509 *x;
		while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
			EVP_PKEY *k = X509_get_pubkey(x);
			X509_free(x);
			EVP_PKEY **slot = k ? vec_push(&v) : NULL;
			if (slot == NULL) {
				EVP_PKEY_free(k);
				fclose(fp);
				efos_fail(e, EFOS_E_CONFIG, "idp.federation_certs: %s: a certificate's key cannot be read", p);
				free(p);
				goto fail;
			}
			*slot = k;
		}
		fclose(fp);
		if (v.n == before) {
			efos_fail(e, EFOS_E_CONFIG, "idp.federation_certs: %s: no PEM certificate in the file", p);
			free(p);
			goto fail;
		}
		free(p);
	}
	*keys = v.items;
	*nkeys = v.n;
	return 0;
fail:
	idp_md_free_keys(v.items, v.n);
	return -1;
}

/* ---- snapshots ------------------------------------------------------------------------------- */

struct idp_md_snapshot {
	atomic_long refs;
	struct idp_md_batch **batches;
	size_t nb;
	const struct idp_sp **tab;   /* open addressing, cap a power of two */
	size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

const struct idp_sp *idp_md_snapshot_find(const struct idp_md_snapshot *s, const char *entity_id)
{
	if (s == NULL || s->cap == 0 || entity_id == NULL)
		return NULL;
	for (size_t j = hash_str(entity_id) & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
		const struct idp_sp *sp = s->tab[j];
		if (sp == NULL)
			return NULL;
		if (strcmp(sp->entity_id, entity_id) == 0)
			return sp;
	}
}

size_t idp_md_snapshot_count(const struct idp_md_snapshot *s)
{
	return s ? s->n : 0;
}

static void snapshot_free(struct idp_md_snapshot *s)
{
	for (size_t i = 0; i < s->nb; i++)
		batch_unref(s->batches[i]);
	free(s->batches);
	free(s->tab);
	free(s);
}

/* A snapshot of the batches in order (earlier sources win on a doubled entityID). */
static struct idp_md_snapshot *snapshot_build(struct idp_md_batch *const *batches, size_t nb, size_t *dups)
{
	struct idp_md_snapshot *s = calloc(1, sizeof *s);
	size_t total = 0;
	*dups = 0;
	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	for (size_t i = 0; i < nb; i++)
		total += batches[i] ? batches[i]->n : 0;
	s->cap = 16;
	while (s->cap < 2 * total)
		s->cap <<= 1;
	s->tab = calloc(s->cap, sizeof *s->tab);
	s->batches = calloc(nb ? nb : 1, sizeof *s->batches);
	if (s->tab == NULL || s->batches == NULL) {
		snapshot_free(s);
		return NULL;
	}
	for (size_t i = 0; i < nb; i++) {
		struct idp_md_batch *b = batches[i];
		if (b == NULL)
			continue;
		atomic_fetch_add(&b->refs, 1);
		s->batches[s->nb++] = b;
		for (size_t k = 0; k < b->n; k++) {
			const struct idp_sp *sp = &b->sps[k];
			size_t j = hash_str(sp->entity_id) & (s->cap - 1);
			bool dup = false;
			while (s->tab[j] != NULL) {
				if (strcmp(s->tab[j]->entity_id, sp->entity_id) == 0) {
					dup = true;
					break;
				}
				j = (j + 1) & (s->cap - 1);
			}
			if (dup) {
				(*dups)++;
				continue;
			}
			s->tab[j] = sp;
			s->n++;
		}
	}
	return s;
}

/* ---- the store -------------------------------------------------------------------------------- */

enum source_kind { SRC_FILE, SRC_FEED, SRC_LOCAL };   /* SRC_LOCAL: idp_md_store_add_document */

struct source {
	enum source_kind kind;
	char *where;                 /* resolved path, or URL */
	char *cache_path;            /* feeds: last good copy, or NULL */
	struct idp_md_batch *batch;  /* current good batch (one reference), or NULL */
	struct timespec mtime;       /* files */
	off_t size;
};

struct idp_md_store {
	struct source *src;
	size_t nsrc;
	EVP_PKEY **fed_keys;
	size_t n_fed_keys;
	size_t max_bytes;
	long fetch_timeout_s;
	int refresh_s;

	_Atomic(struct idp_md_snapshot *) current;
	atomic_uint epoch;
	atomic_long active[2];

	pthread_mutex_t refresh_lock;   /* one refresh round at a time */
	atomic_ulong rounds;
	atomic_ulong refused;
	_Atomic time_t last_round, last_index;
	_Atomic uint64_t last_index_us;   /* seconds of the round that built the index, in µs */
	bool trim_after_publish;        /* a large document replaced a batch (under refresh_lock) */
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopping, thread_started;
	bool wake;                      /* idp_md_store_wake: run a round now (under stop_lock) */
	pthread_t thread;
};

const struct idp_md_snapshot *idp_md_acquire(struct idp_md_store *st)
{
	unsigned ep;
	for (;;) {
		ep = atomic_load(&st->epoch);
		atomic_fetch_add(&st->active[ep & 1], 1);
		if (atomic_load(&st->epoch) == ep)
			break;
		atomic_fetch_sub(&st->active[ep & 1], 1);
	}
	struct idp_md_snapshot *s = atomic_load(&st->current);
	atomic_fetch_add(&s->refs, 1);
	atomic_fetch_sub(&st->active[ep & 1], 1);
	return s;
}

void idp_md_release(const struct idp_md_snapshot *cs)
{
	struct idp_md_snapshot *s = (struct idp_md_snapshot *)cs;
	if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1)
		snapshot_free(s);
}

/* Waits until no reader can still be between loading the old pointer and taking its reference:
 * flips the epoch twice, each time waiting for the readers of the previous parity. */
static void grace_period(struct idp_md_store *st)
{
	for (int i = 0; i < 2; i++) {
		unsigned old = atomic_fetch_add(&st->epoch, 1);
		while (atomic_load(&st->active[old & 1]) != 0)
			sched_yield();
	}
}

/* Builds and swaps in a new index; round_t0 is when the refresh round that changed something
 * started (mono_s), or < 0 outside a round: the log line then gives how long it took from the
 * start of the round until the new index serves (docs/idp-metadata.md, bench/6-metadata.sh). */
static void publish(struct idp_md_store *st, double round_t0)
{
	struct idp_md_batch *batches[2 * EFOS_CFG_MAX_LIST];
	size_t nb = 0, dups = 0;
	for (size_t i = 0; i < st->nsrc && nb < sizeof batches / sizeof batches[0]; i++)
		batches[nb++] = st->src[i].batch;
	struct idp_md_snapshot *s = snapshot_build(batches, nb, &dups);
	if (s == NULL) {
		log_error("SP metadata: out of memory building the index; keeping the previous one");
		return;
	}
	struct idp_md_snapshot *old = atomic_exchange(&st->current, s);
	if (old != NULL) {
		grace_period(st);
		/* Requests in flight hold the old snapshot for a few milliseconds; wait for them (at most
		 * OLD_SNAPSHOT_WAIT_MS) so the old one is freed here and not by the last login that
		 * releases it: freeing 10,000 SPs (their keys) takes tens of ms, and the trim below
		 * must come after it. A reader slower than that frees it itself. */
		for (int i = 0; i < OLD_SNAPSHOT_WAIT_MS && atomic_load(&old->refs) > 1; i++)
			usleep(1000);
		idp_md_release(old);
	}
	/* The batch a large document replaced (≈ 20 MB for 10,000 SPs) was freed just now, after
	 * idp_md_parse's own trim: without this it stayed in glibc's free lists, and efosd's RSS after
	 * each refresh was that much above the RSS after the first load (bench/6-metadata.sh). */
	if (st->trim_after_publish) {
		st->trim_after_publish = false;
		malloc_trim(0);
	}
	char kv[200], took[80] = "";
	double secs = round_t0 >= 0 ? mono_s() - round_t0 : 0;
	atomic_store(&st->last_index, time(NULL));
	atomic_store(&st->last_index_us, (uint64_t)(secs * 1e6));
	if (round_t0 >= 0) {
		snprintf(kv, sizeof kv, "\"event\":\"sp_metadata.index\",\"entities\":%zu,\"duplicates\":%zu,"
			 "\"seconds\":%.3f", s->n, dups, secs);
		snprintf(took, sizeof took, ", serving %.3f s after the refresh started", secs);
	} else {
		snprintf(kv, sizeof kv, "\"event\":\"sp_metadata.index\",\"entities\":%zu,\"duplicates\":%zu", s->n, dups);
	}
	log_write(LOG_LVL_INFO, kv, "SP metadata: %zu service providers indexed%s%s", s->n,
		  dups ? " (entityIDs found in several sources: the first source wins)" : "", took);
}

static int read_file(const char *path, size_t max, char **buf, size_t *len, efos_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	*buf = NULL;
	if (fd < 0)
		return efos_fail(e, EFOS_E_CONFIG, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return efos_fail(e, EFOS_E_CONFIG, "%s: not a regular file", path);
	}
	if ((size_t)sb.st_size > max) {
		close(fd);
		return efos_fail(e, EFOS_E_TOOBIG, "%s: %lld bytes, more than idp.metadata_max_bytes (%zu)", path,
				 (long long)sb.st_size, max);
	}
	char *b = malloc((size_t)sb.st_size + 1);
	size_t got = 0;
	while (b != NULL && got < (size_t)sb.st_size) {
		ssize_t r = read(fd, b + got, (size_t)sb.st_size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (b == NULL || got != (size_t)sb.st_size) {
		free(b);
		return efos_fail(e, EFOS_E_CONFIG, "%s: cannot read", path);
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

static int write_file_atomic(const char *path, const char *buf, size_t len)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off != len || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

struct fetch_buf {
	char *data;
	size_t len, cap, max;
	bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct fetch_buf *f = ud;
	size_t n = size * nmemb;
	if (f->len + n > f->max) {
		f->too_big = true;
		return 0;
	}
	if (f->len + n + 1 > f->cap) {
		size_t cap = f->cap ? f->cap : 65536;
		while (cap < f->len + n + 1)
			cap *= 2;
		char *p = realloc(f->data, cap);
		if (p == NULL)
			return 0;
		f->data = p;
		f->cap = cap;
	}
	memcpy(f->data + f->len, ptr, n);
	f->len += n;
	f->data[f->len] = '\0';
	return n;
}

static int fetch(const char *url, size_t max, long timeout_s, char **buf, size_t *len, efos_err *e)
{
	struct fetch_buf f = { .max = max };
	CURL *c = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "";
	*buf = NULL;
	if (c == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "curl_easy_init failed");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s < 10 ? timeout_s : 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "efosd-metadata/1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (f.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		free(f.data);
		return efos_fail(e, EFOS_E_TOOBIG, "%s: larger than idp.metadata_max_bytes (%zu)", url, max);
	}
	if (rc != CURLE_OK) {
		free(f.data);
		return efos_fail(e, EFOS_E_UNAVAILABLE, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	if (status != 200) {
		free(f.data);
		return efos_fail(e, EFOS_E_UNAVAILABLE, "%s: HTTP status %ld", url, status);
	}
	*buf = f.data;
	*len = f.len;
	if (*buf == NULL && (*buf = strdup("")) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return 0;
}

/* fetch_s: seconds the download took (< 0: not downloaded); parse_s: parsing, signature check and
 * indexing of this source. */
static void log_loaded(const char *what, const struct source *s, size_t skipped, double fetch_s, double parse_s)
{
	char kv[700], esc[400], vu[32] = "", fetched[48] = "";
	json_escape(esc, sizeof esc, s->where);
	if (s->batch->valid_until != 0) {
		struct tm tm;
		gmtime_r(&s->batch->valid_until, &tm);
		strftime(vu, sizeof vu, "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	if (fetch_s >= 0)
		snprintf(fetched, sizeof fetched, ",\"download_seconds\":%.3f", fetch_s);
	snprintf(kv, sizeof kv, "\"event\":\"sp_metadata.loaded\",\"source\":\"%s\",\"from\":\"%s\",\"entities\":%zu,"
		 "\"skipped\":%zu,\"valid_until\":\"%s\",\"seconds\":%.3f%s", esc, what, s->batch->n, skipped, vu, parse_s,
		 fetched);
	log_write(LOG_LVL_INFO, kv, "SP metadata %s loaded from %s: %zu service providers, %zu entities skipped, "
		  "verified and indexed in %.3f s", s->where, what, s->batch->n, skipped, parse_s);
}

static void log_refused(struct idp_md_store *st, const struct source *s, const efos_err *e)
{
	atomic_fetch_add(&st->refused, 1);
	char kv[1024], esc[400], msg[400];
	json_escape(esc, sizeof esc, s->where);
	json_escape(msg, sizeof msg, e->msg);
	snprintf(kv, sizeof kv, "\"event\":\"sp_metadata.refused\",\"source\":\"%s\",\"reason\":\"%s\",\"kept\":%zu", esc, msg,
		 s->batch ? s->batch->n : 0);
	if (s->batch != NULL)
		log_write(LOG_LVL_WARN, kv, "SP metadata %s: %s; the last good copy stays in use (%zu service providers)",
			  s->where, e->msg, s->batch->n);
	else
		log_write(LOG_LVL_ERROR, kv, "SP metadata %s: %s; no good copy to use", s->where, e->msg);
}

/* Parses buf for source s and installs it. Returns 1 when installed, 0 when unchanged, -1 refused. */
static int install(struct idp_md_store *st, struct source *s, const char *buf, size_t len, const char *what,
		   double fetch_s, efos_err *e)
{
	if (s->batch != NULL && s->kind == SRC_FEED) {
		unsigned char md[32];
		EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL);
		if (memcmp(md, s->batch->sha256, sizeof md) == 0)
			return 0;
	}
	struct idp_md_parse_opts o = {
		.source = s->where,
		.max_bytes = st->max_bytes,
		.require_signature = s->kind == SRC_FEED,
		.trusted_keys = st->fed_keys,
		.n_trusted_keys = st->n_fed_keys,
		.require_valid_until = s->kind == SRC_FEED,
		.now = time(NULL),
	};
	struct idp_md_batch *b = NULL;
	size_t skipped = 0;
	double t0 = mono_s();
	if (idp_md_parse(buf, len, &o, &b, &skipped, e) != 0)
		return -1;
	if (s->batch != NULL && len >= TRIM_AFTER_BYTES)
		st->trim_after_publish = true;
	batch_unref(s->batch);
	s->batch = b;
	log_loaded(what, s, skipped, fetch_s, mono_s() - t0);
	return 1;
}

/* One round over every source; republishes when anything changed (a new feed document at once,
 * before its last good copy is written). */
void idp_md_store_refresh(struct idp_md_store *st)
{
	bool changed = false;
	time_t now = time(NULL);
	pthread_mutex_lock(&st->refresh_lock);
	double t_round = mono_s();
	for (size_t i = 0; i < st->nsrc; i++) {
		struct source *s = &st->src[i];
		efos_err e = { 0 };
		char *buf = NULL;
		size_t len = 0;
		if (s->kind == SRC_FILE) {
			struct stat sb;
			if (stat(s->where, &sb) != 0) {
				log_warn("SP metadata %s: %s; keeping what was loaded", s->where, strerror(errno));
				continue;
			}
			if (sb.st_mtim.tv_sec == s->mtime.tv_sec && sb.st_mtim.tv_nsec == s->mtime.tv_nsec &&
			    sb.st_size == s->size)
				continue;
			if (read_file(s->where, st->max_bytes, &buf, &len, &e) == 0) {
				int r = install(st, s, buf, len, "file", -1, &e);
				if (r < 0)
					log_refused(st, s, &e);
				changed |= r > 0;
			} else {
				log_refused(st, s, &e);
			}
			s->mtime = sb.st_mtim;
			s->size = sb.st_size;
		} else if (s->kind == SRC_FEED) {
			double tf = mono_s();
			if (fetch(s->where, st->max_bytes, st->fetch_timeout_s, &buf, &len, &e) == 0) {
				int r = install(st, s, buf, len, "download", mono_s() - tf, &e);
				if (r < 0)
					log_refused(st, s, &e);
				if (r > 0) {
					/* serve it first (with whatever else changed so far), then write the
					 * last good copy: its fsync of tens of MB need not delay the logins */
					publish(st, t_round);
					changed = false;
				}
				if (r > 0 && s->cache_path != NULL && write_file_atomic(s->cache_path, buf, len) != 0)
					log_warn("SP metadata %s: cannot write the last good copy %s: %s", s->where,
						 s->cache_path, strerror(errno));
			} else {
				log_refused(st, s, &e);
			}
		}
		free(buf);
		/* Metadata past its validUntil is not used, last good copy or not. */
		if (s->batch != NULL && s->batch->valid_until != 0 && s->batch->valid_until <= now) {
			log_error("SP metadata %s: the copy in use expired; its %zu service providers are dropped",
				  s->where, s->batch->n);
			batch_unref(s->batch);
			s->batch = NULL;
			changed = true;
		}
	}
	if (changed)
		publish(st, t_round);
	else
		log_debug("SP metadata: refresh round of %zu sources in %.3f s: nothing changed", st->nsrc,
			  mono_s() - t_round);
	atomic_store(&st->last_round, time(NULL));
	atomic_fetch_add(&st->rounds, 1);
	pthread_mutex_unlock(&st->refresh_lock);
}

int idp_md_store_add_document(struct idp_md_store *st, const char *source, const char *xml, size_t len,
			      efos_err *e)
{
	int rc = -1;
	pthread_mutex_lock(&st->refresh_lock);   /* the refresh round reads st->src */
	struct source *s = NULL;
	for (size_t i = 0; i < st->nsrc; i++)
		if (st->src[i].kind == SRC_LOCAL && strcmp(st->src[i].where, source) == 0)
			s = &st->src[i];
	if (s == NULL) {
		struct source *grown = realloc(st->src, (st->nsrc + 1) * sizeof *st->src);
		if (grown == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
		st->src = grown;
		s = &st->src[st->nsrc];
		memset(s, 0, sizeof *s);
		s->kind = SRC_LOCAL;
		if ((s->where = strdup(source)) == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
		st->nsrc++;
	}
	int r = install(st, s, xml, len, "local document", -1, e);
	if (r < 0) {
		efos_wrap(e, "SP metadata %s", source);
		goto out;
	}
	publish(st, -1);
	rc = 0;
out:
	pthread_mutex_unlock(&st->refresh_lock);
	return rc;
}

unsigned long idp_md_store_rounds(struct idp_md_store *st)
{
	return atomic_load(&st->rounds);
}

void idp_md_store_get_stats(struct idp_md_store *st, struct idp_md_store_stats *out)
{
	memset(out, 0, sizeof *out);
	if (st == NULL)
		return;
	out->rounds = atomic_load(&st->rounds);
	out->refused = atomic_load(&st->refused);
	out->last_round = atomic_load(&st->last_round);
	out->last_index = atomic_load(&st->last_index);
	out->last_index_seconds = (double)atomic_load(&st->last_index_us) / 1e6;
	const struct idp_md_snapshot *s = idp_md_acquire(st);
	out->entities = idp_md_snapshot_count(s);
	idp_md_release(s);
}

static void *refresh_thread(void *arg)
{
	struct idp_md_store *st = arg;
	bool first = true;
	pthread_mutex_lock(&st->stop_lock);
	while (!st->stopping) {
		if (!first) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += st->refresh_s;
			while (!st->stopping && !st->wake &&
			       pthread_cond_timedwait(&st->stop_cond, &st->stop_lock, &ts) == 0)
				;
			if (st->stopping)
				break;
		}
		first = false;
		st->wake = false;   /* this round serves every wake-up asked for until now */
		pthread_mutex_unlock(&st->stop_lock);
		idp_md_store_refresh(st);
		pthread_mutex_lock(&st->stop_lock);
	}
	pthread_mutex_unlock(&st->stop_lock);
	return NULL;
}

void idp_md_store_wake(struct idp_md_store *st)
{
	if (st == NULL)
		return;
	pthread_mutex_lock(&st->stop_lock);
	st->wake = true;
	pthread_cond_broadcast(&st->stop_cond);
	pthread_mutex_unlock(&st->stop_lock);
}

static char *cache_name(const char *dir, const char *url)
{
	unsigned char md[32];
	char hex[33], *out = NULL;
	EVP_Digest(url, strlen(url), md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (asprintf(&out, "%s/feed-%s.xml", dir, hex) < 0)
		return NULL;
	return out;
}

int idp_md_store_start(const struct efos_config *cfg, struct idp_md_store **out, efos_err *e)
{
	*out = NULL;
	struct idp_md_store *st = calloc(1, sizeof *st);
	char *cfgdir = NULL, *cache_dir = NULL;
	if (st == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	pthread_mutex_init(&st->refresh_lock, NULL);
	pthread_mutex_init(&st->stop_lock, NULL);
	pthread_cond_init(&st->stop_cond, NULL);
	st->max_bytes = (size_t)cfg->idp_metadata_max_bytes;
	st->fetch_timeout_s = cfg->idp_metadata_fetch_timeout_s;
	st->refresh_s = cfg->idp_metadata_refresh_s;
	if (st->max_bytes == 0)
		st->max_bytes = 64u * 1024 * 1024;
	if (st->fetch_timeout_s <= 0)
		st->fetch_timeout_s = 30;
	if (st->refresh_s <= 0)
		st->refresh_s = 3600;

	if (cfg->path != NULL) {
		char *tmp = strdup(cfg->path);
		cfgdir = tmp ? strdup(dirname(tmp)) : NULL;
		free(tmp);
	}
	if (cfg->n_idp_federation_feeds > 0) {
		if (cfg->n_idp_federation_certs == 0) {
			efos_fail(e, EFOS_E_CONFIG, "idp.federation_feeds needs idp.federation_certs (the certificates "
				  "that may sign the feeds)");
			goto fail;
		}
		if (idp_md_load_trusted_keys(cfg->idp_federation_certs, cfg->n_idp_federation_certs, cfgdir,
					     &st->fed_keys, &st->n_fed_keys, e) != 0)
			goto fail;
		if (cfg->idp_metadata_cache_dir != NULL) {
			cache_dir = strdup(cfg->idp_metadata_cache_dir);
		} else if (cfg->state_dir != NULL && asprintf(&cache_dir, "%s/sp-metadata", cfg->state_dir) >= 0) {
			if (mkdir(cache_dir, 0750) != 0 && errno != EEXIST) {
				log_warn("SP metadata: cannot create %s (%s): no last good copies will be kept", cache_dir,
					 strerror(errno));
				free(cache_dir);
				cache_dir = NULL;
			}
		} else {
			log_warn("SP metadata: neither idp.metadata_cache_dir nor node.state_dir is set: no last good "
				 "copies of the federation feeds will be kept");
		}
	}
	st->src = calloc(cfg->n_idp_sp_metadata_files + cfg->n_idp_federation_feeds + 1, sizeof *st->src);
	if (st->src == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto fail;
	}
	/* Local files first: they win over a feed on a doubled entityID, and must load at start. */
	for (size_t i = 0; i < cfg->n_idp_sp_metadata_files; i++) {
		struct source *s = &st->src[st->nsrc++];
		s->kind = SRC_FILE;
		if ((s->where = resolve(cfgdir, cfg->idp_sp_metadata_files[i])) == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto fail;
		}
		char *buf = NULL;
		size_t len = 0;
		struct stat sb;
		if (stat(s->where, &sb) != 0 || read_file(s->where, st->max_bytes, &buf, &len, e) != 0) {
			if (e->msg[0] == '\0')
				efos_fail(e, EFOS_E_CONFIG, "%s: %s", s->where, strerror(errno));
			efos_wrap(e, "idp.sp_metadata_files");
			goto fail;
		}
		int r = install(st, s, buf, len, "file", -1, e);
		free(buf);
		if (r < 0) {
			e->code = EFOS_E_CONFIG;
			efos_wrap(e, "idp.sp_metadata_files");
			goto fail;
		}
		s->mtime = sb.st_mtim;
		s->size = sb.st_size;
	}
	for (size_t i = 0; i < cfg->n_idp_federation_feeds; i++) {
		const char *url = cfg->idp_federation_feeds[i];
		if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
			efos_fail(e, EFOS_E_CONFIG, "idp.federation_feeds: \"%s\" is not an http(s):// URL", url);
			goto fail;
		}
		struct source *s = &st->src[st->nsrc++];
		s->kind = SRC_FEED;
		if ((s->where = strdup(url)) == NULL || (cache_dir && (s->cache_path = cache_name(cache_dir, url)) == NULL)) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto fail;
		}
		char *buf = NULL;
		size_t len = 0;
		efos_err e2 = { 0 };
		if (s->cache_path != NULL && access(s->cache_path, R_OK) == 0) {
			if (read_file(s->cache_path, st->max_bytes, &buf, &len, &e2) != 0 ||
			    install(st, s, buf, len, "last good copy", -1, &e2) < 0)
				log_warn("SP metadata %s: the last good copy %s is not usable: %s", url, s->cache_path, e2.msg);
			free(buf);
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	publish(st, -1);
	if (pthread_create(&st->thread, NULL, refresh_thread, st) != 0) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot start the SP metadata refresh thread");
		goto fail;
	}
	st->thread_started = true;
	free(cfgdir);
	free(cache_dir);
	*out = st;
	return 0;
fail:
	free(cfgdir);
	free(cache_dir);
	idp_md_store_stop(st);
	return -1;
}

void idp_md_store_stop(struct idp_md_store *st)
{
	if (st == NULL)
		return;
	if (st->thread_started) {
		pthread_mutex_lock(&st->stop_lock);
		st->stopping = true;
		pthread_cond_broadcast(&st->stop_cond);
		pthread_mutex_unlock(&st->stop_lock);
		pthread_join(st->thread, NULL);
	}
	idp_md_release(atomic_load(&st->current));
	for (size_t i = 0; i < st->nsrc; i++) {
		batch_unref(st->src[i].batch);
		free(st->src[i].where);
		free(st->src[i].cache_path);
	}
	free(st->src);
	idp_md_free_keys(st->fed_keys, st->n_fed_keys);
	pthread_mutex_destroy(&st->refresh_lock);
	pthread_mutex_destroy(&st->stop_lock);
	pthread_cond_destroy(&st->stop_cond);
	free(st);
}
