/* Attribute release: see attribute_release.h for the rules and where they come from. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "policy/attribute_release.h"
#include "policy/identity_numbers.h"

/* The attributes this IdP can deliver, in the order they appear in assertions. */
enum {
	A_SN, A_GIVEN_NAME, A_DISPLAY_NAME, A_PNR, A_DOB, A_ORG_AFFILIATION, A_O, A_ORG_ID, A_USER_CERT,
	A_COUNT
};

static const struct attr_def {
	const char *name, *friendly, *label_sv, *label_en;
} attr_defs[A_COUNT] = {
	[A_SN] = { ATTR_SN, "sn", "Efternamn", "Surname" },
	[A_GIVEN_NAME] = { ATTR_GIVEN_NAME, "givenName", "Förnamn", "Given name" },
	[A_DISPLAY_NAME] = { ATTR_DISPLAY_NAME, "displayName", "Visningsnamn", "Display name" },
	[A_PNR] = { ATTR_PERSONAL_IDENTITY_NUMBER, "personalIdentityNumber", "Personnummer",
		    "Personal identity number" },
	[A_DOB] = { ATTR_DATE_OF_BIRTH, "dateOfBirth", "Födelsedatum", "Date of birth" },
	[A_ORG_AFFILIATION] = { ATTR_ORG_AFFILIATION, "orgAffiliation", "Organisationstillhörighet",
				"Organisational affiliation" },
	[A_O] = { ATTR_O, "o", "Organisation", "Organisation" },
	[A_ORG_ID] = { ATTR_ORGANIZATION_IDENTIFIER, "organizationIdentifier", "Organisationsnummer",
		       "Organisation number" },
	[A_USER_CERT] = { ATTR_USER_CERTIFICATE, "userCertificate", "Certifikat (EFOS-kortet)",
			  "Certificate (EFOS card)" },
};

#define BIT(a) (1u << (a))
#define SET_NATURAL_PERSON (BIT(A_SN) | BIT(A_GIVEN_NAME) | BIT(A_DISPLAY_NAME))
#define SET_PNR_REQUIRED (SET_NATURAL_PERSON | BIT(A_PNR))
#define SET_PNR (SET_PNR_REQUIRED | BIT(A_DOB))
#define SET_ORG_REQUIRED (BIT(A_DISPLAY_NAME) | BIT(A_ORG_AFFILIATION) | BIT(A_O))
#define SET_ORG (SET_ORG_REQUIRED | BIT(A_ORG_ID))
#define SET_ORG_ANY (BIT(A_ORG_AFFILIATION) | BIT(A_O) | BIT(A_ORG_ID))

/* Service ECs and their attribute sets (spec §4.2, §3.2). Only loa4: EFOS is a loa4 IdP. */
static const struct ec_def {
	const char *uri;
	unsigned set, required;
} ec_defs[] = {
	{ EC_LOA4_NAME, SET_NATURAL_PERSON, SET_NATURAL_PERSON },
	{ EC_LOA4_PNR, SET_PNR, SET_PNR_REQUIRED },
	{ EC_LOA4_ORGID, SET_ORG, SET_ORG_REQUIRED },
};

/* Attributes the response builder adds itself (not identity attributes; never refused). */
static bool builder_attribute(const char *name)
{
	return strcmp(name, ATTR_SAD) == 0 || strcmp(name, ATTR_SIGN_MESSAGE_DIGEST) == 0;
}

static int attr_index(const char *name)
{
	for (int i = 0; i < A_COUNT; i++)
		if (strcmp(attr_defs[i].name, name) == 0)
			return i;
	return -1;
}

static bool in_list(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] != NULL && strcmp(v[i], s) == 0)
			return true;
	return false;
}

static bool nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

static bool is_nonresident_loa(const char *loa)
{
	return loa != NULL && strstr(loa, "-nonresident") != NULL;
}

/* Appends one value to attribute slot `a` of the work array. */
struct work {
	char **values[A_COUNT];
	size_t n[A_COUNT];
};

static int add_value(struct work *w, int a, const char *v, efos_err *e)
{
	char **nv = realloc(w->values[a], (w->n[a] + 1) * sizeof *nv);
	if (nv == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	w->values[a] = nv;
	if ((nv[w->n[a]] = strdup(v)) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	w->n[a]++;
	return 0;
}

static void work_free(struct work *w)
{
	for (int a = 0; a < A_COUNT; a++) {
		for (size_t i = 0; i < w->n[a]; i++)
			free(w->values[a][i]);
		free(w->values[a]);
	}
}

static bool orgnr_in_scope(const struct policy_release_idp *idp, const char *orgnr)
{
	if (!nonempty(orgnr))
		return false;
	if (idp->scope_ok != NULL)
		return idp->scope_ok(idp->scope_arg, orgnr);
	return in_list(idp->scopes, idp->n_scopes, orgnr);
}

__attribute__((format(printf, 3, 4)))
static int refuse(struct policy_release *out, enum policy_refusal r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out->refusal = r;
	vsnprintf(out->refusal_detail, sizeof out->refusal_detail, fmt, ap);
	va_end(ap);
	return POLICY_RELEASE_REFUSED;
}

/* Fills the values we can deliver for every wanted attribute; a wanted attribute without a
 * value stays empty (the caller checks `required`). */
static int fill_values(unsigned want, const struct policy_release_idp *idp, const struct policy_person *p,
		       struct work *w, efos_err *e)
{
	bool pnr_ok = nonempty(p->pnr) && !is_nonresident_loa(p->loa);
	if ((want & BIT(A_SN)) && nonempty(p->surname) && add_value(w, A_SN, p->surname, e) < 0)
		return -1;
	if ((want & BIT(A_GIVEN_NAME)) && nonempty(p->given_name) && add_value(w, A_GIVEN_NAME, p->given_name, e) < 0)
		return -1;
	if ((want & BIT(A_DISPLAY_NAME)) && nonempty(p->display_name) &&
	    add_value(w, A_DISPLAY_NAME, p->display_name, e) < 0)
		return -1;
	if ((want & BIT(A_PNR)) && pnr_ok && add_value(w, A_PNR, p->pnr, e) < 0)
		return -1;
	if ((want & BIT(A_DOB)) && pnr_ok) {
		struct policy_pnr_info info;
		efos_err ignore = { 0 };
		if (policy_pnr_check(p->pnr, &info, &ignore) == 0) {
			char dob[16];
			snprintf(dob, sizeof dob, "%04d-%02d-%02d", info.birth_year % 10000, info.birth_month % 100,
				 info.birth_day % 100);
			if (add_value(w, A_DOB, dob, e) < 0)
				return -1;
		}
	}
	if (want & SET_ORG_ANY) {
		const struct policy_affiliation *pref = NULL;
		for (size_t i = 0; i < p->n_affiliations; i++) {
			const struct policy_affiliation *a = &p->affiliations[i];
			if (!orgnr_in_scope(idp, a->orgnr) || !nonempty(a->org_affiliation))
				continue;
			/* the scope of the value must be the affiliation's organisation (split on the last @) */
			const char *at = strrchr(a->org_affiliation, '@');
			if (at == NULL || at == a->org_affiliation || strcmp(at + 1, a->orgnr) != 0)
				continue;
			if (pref == NULL || (nonempty(p->preferred_orgnr) && strcmp(a->orgnr, p->preferred_orgnr) == 0 &&
					     strcmp(pref->orgnr, p->preferred_orgnr) != 0))
				pref = a;
			if ((want & BIT(A_ORG_AFFILIATION)) && add_value(w, A_ORG_AFFILIATION, a->org_affiliation, e) < 0)
				return -1;
		}
		if (pref != NULL) {
			if ((want & BIT(A_O)) && nonempty(pref->org_name) && add_value(w, A_O, pref->org_name, e) < 0)
				return -1;
			if ((want & BIT(A_ORG_ID)) && add_value(w, A_ORG_ID, pref->orgnr, e) < 0)
				return -1;
		}
	}
	if ((want & BIT(A_USER_CERT)) && nonempty(p->user_certificate_b64) &&
	    add_value(w, A_USER_CERT, p->user_certificate_b64, e) < 0)
		return -1;
	return 0;
}

static void compute_set_id(struct policy_release *r)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
	for (size_t i = 0; ok && i < r->n_attrs; i++)
		ok = EVP_DigestUpdate(c, r->attrs[i].name, strlen(r->attrs[i].name) + 1) == 1;
	ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1;
	EVP_MD_CTX_free(c);
	r->set_id[0] = '\0';
	for (unsigned int i = 0; ok && i < mdlen && 2 * i + 2 < sizeof r->set_id; i++)
		snprintf(r->set_id + 2 * i, 3, "%02x", md[i]);
}

int policy_attribute_release(const struct policy_release_sp *sp, const struct policy_release_idp *idp,
			     const struct policy_person *p, struct policy_release *out, efos_err *e)
{
	struct work w = { 0 };
	unsigned want = 0, required = 0;
	bool any_ec = false;
	int ret = -1;

	*out = (struct policy_release){ 0 };

	/* 1. service ECs both sides declare; an attribute is required only if every matched EC
	 *    requires it (the reference IdP's rule for several ECs). */
	unsigned ec_required = ~0u;
	for (size_t i = 0; i < sizeof ec_defs / sizeof ec_defs[0]; i++) {
		if (!in_list(sp->entity_categories, sp->n_entity_categories, ec_defs[i].uri) ||
		    !in_list(idp->entity_categories, idp->n_entity_categories, ec_defs[i].uri))
			continue;
		want |= ec_defs[i].set;
		ec_required &= ec_defs[i].required;
		any_ec = true;
	}
	if (any_ec)
		required |= ec_required;

	/* 2. RequestedAttributes we can provide */
	for (size_t i = 0; i < sp->n_requested; i++) {
		const char *name = sp->requested[i].name;
		if (name == NULL || builder_attribute(name))
			continue;
		int a = attr_index(name);
		if (a < 0) {
			if (sp->requested[i].is_required) {
				ret = refuse(out, POLICY_REFUSE_REQUIRED_ATTRIBUTE,
					     "the SP requires attribute %s, which this IdP does not provide", name);
				goto out;
			}
			continue;
		}
		want |= BIT(a);
		if (sp->requested[i].is_required)
			required |= BIT(a);
	}

	/* 3. signature services: what the sign request's PrincipalSelection names */
	if (in_list(sp->entity_categories, sp->n_entity_categories, EC_ST_SIGSERVICE)) {
		for (size_t i = 0; i < sp->n_principal_selection_names; i++) {
			int a = sp->principal_selection_names[i] ? attr_index(sp->principal_selection_names[i]) : -1;
			if (a >= 0)
				want |= BIT(a);
		}
	}

	/* 6. coordination numbers only to SPs that accept them (federation rule: no assertion) */
	if ((want & BIT(A_PNR)) && nonempty(p->pnr) && p->is_coordination_number &&
	    !is_nonresident_loa(p->loa) &&
	    !in_list(sp->entity_categories, sp->n_entity_categories, EC_ACCEPTS_COORDINATION_NUMBER)) {
		ret = refuse(out, POLICY_REFUSE_COORDINATION_NUMBER, "%s",
			     "the person has a coordination number and the SP does not declare "
			     "accepts-coordination-number");
		goto out;
	}

	if (fill_values(want, idp, p, &w, e) < 0)
		goto out;

	/* 5. the organisational identity needs an affiliation in one of our scopes */
	if ((required & SET_ORG_ANY) && w.n[A_ORG_AFFILIATION] == 0 && w.n[A_O] == 0 && w.n[A_ORG_ID] == 0) {
		ret = refuse(out, POLICY_REFUSE_NO_ORG_IDENTITY, "%s",
			     "the SP requires the organisational identity and no affiliation of the person is in a "
			     "published scope");
		goto out;
	}
	for (int a = 0; a < A_COUNT; a++) {
		if ((required & BIT(a)) && w.n[a] == 0) {
			ret = refuse(out, POLICY_REFUSE_REQUIRED_ATTRIBUTE, "required attribute %s has no value for this person",
				     attr_defs[a].friendly);
			goto out;
		}
	}

	size_t n = 0;
	for (int a = 0; a < A_COUNT; a++)
		n += w.n[a] > 0;
	if (n > 0 && (out->attrs = calloc(n, sizeof *out->attrs)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	for (int a = 0; a < A_COUNT; a++) {
		if (w.n[a] == 0)
			continue;
		struct policy_attr *pa = &out->attrs[out->n_attrs++];
		pa->name = attr_defs[a].name;
		pa->friendly_name = attr_defs[a].friendly;
		pa->label_sv = attr_defs[a].label_sv;
		pa->label_en = attr_defs[a].label_en;
		pa->values = w.values[a];
		pa->n_values = w.n[a];
		w.values[a] = NULL;
		w.n[a] = 0;
	}

	bool org = policy_release_find(out, ATTR_ORG_AFFILIATION) || policy_release_find(out, ATTR_O) ||
		   policy_release_find(out, ATTR_ORGANIZATION_IDENTIFIER);
	bool pnr = policy_release_find(out, ATTR_PERSONAL_IDENTITY_NUMBER) != NULL;
	if (org && pnr)
		out->kind = POLICY_RELEASE_ORG_AND_PNR;
	else if (org)
		out->kind = POLICY_RELEASE_ORG_ONLY;
	else if (pnr)
		out->kind = POLICY_RELEASE_PNR_ONLY;
	else if (out->n_attrs > 0)
		out->kind = POLICY_RELEASE_NAME_ONLY;
	else
		out->kind = POLICY_RELEASE_NOTHING;
	compute_set_id(out);
	ret = 0;
out:
	work_free(&w);
	return ret;
}

void policy_release_free(struct policy_release *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_attrs; i++) {
		for (size_t j = 0; j < r->attrs[i].n_values; j++)
			free(r->attrs[i].values[j]);
		free(r->attrs[i].values);
	}
	free(r->attrs);
	*r = (struct policy_release){ 0 };
}

const struct policy_attr *policy_release_find(const struct policy_release *r, const char *name)
{
	for (size_t i = 0; r != NULL && i < r->n_attrs; i++)
		if (strcmp(r->attrs[i].name, name) == 0)
			return &r->attrs[i];
	return NULL;
}

static bool is_sv(const char *lang)
{
	return lang != NULL && strncmp(lang, "sv", 2) == 0;
}

const char *policy_release_notice_text(enum policy_release_kind kind, const char *lang)
{
	bool sv = is_sv(lang);
	switch (kind) {
	case POLICY_RELEASE_ORG_ONLY:
		return sv ? "Din organisationsidentitet (namn, organisationstillhörighet och organisation) skickas till "
			    "tjänsten. Ditt personnummer skickas inte."
			  : "Your organisational identity (name, organisational affiliation and organisation) will be "
			    "sent to the service. Your personal identity number will not be sent.";
	case POLICY_RELEASE_ORG_AND_PNR:
		return sv ? "Din organisationsidentitet och ditt personnummer skickas till tjänsten."
			  : "Your organisational identity and your personal identity number will be sent to the service.";
	case POLICY_RELEASE_PNR_ONLY:
		return sv ? "Ditt personnummer och namn skickas till tjänsten. Din organisationsidentitet skickas inte."
			  : "Your personal identity number and name will be sent to the service. Your organisational "
			    "identity will not be sent.";
	case POLICY_RELEASE_NAME_ONLY:
		return sv ? "Ditt namn skickas till tjänsten. Varken personnummer eller organisationsidentitet skickas."
			  : "Your name will be sent to the service. Neither your personal identity number nor your "
			    "organisational identity will be sent.";
	case POLICY_RELEASE_NOTHING:
	default:
		return sv ? "Inga uppgifter om dig skickas till tjänsten, bara en pseudonym som är unik för den."
			  : "No information about you will be sent to the service, only a pseudonym unique to it.";
	}
}

const char *policy_refusal_text(enum policy_refusal r, const char *lang)
{
	bool sv = is_sv(lang);
	switch (r) {
	case POLICY_REFUSE_COORDINATION_NUMBER:
		return sv ? "Tjänsten kräver ett personnummer. Du har ett samordningsnummer, som tjänsten inte tar "
			    "emot, så du kan inte logga in här med EFOS."
			  : "The service requires a Swedish personal identity number. You have a coordination number, "
			    "which the service does not accept, so you cannot log in to it with EFOS.";
	case POLICY_REFUSE_REQUIRED_ATTRIBUTE:
		return sv ? "Tjänsten kräver uppgifter om dig som EFOS inte kan lämna ut. Inloggningen avbryts."
			  : "The service requires information about you that EFOS cannot provide. The login is cancelled.";
	case POLICY_REFUSE_NO_ORG_IDENTITY:
		return sv ? "Tjänsten kräver din organisationstillhörighet, men ingen av dina anställningar finns hos en "
			    "organisation som EFOS får lämna ut uppgifter för. Inloggningen avbryts."
			  : "The service requires your organisational affiliation, but none of your affiliations is with "
			    "an organisation for which EFOS may release it. The login is cancelled.";
	case POLICY_REFUSE_NONE:
	default:
		return "";
	}
}
