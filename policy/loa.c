/* LoA decisions for credentials. See policy/loa.h: the rules live here, the facts come from
 * certs/validate.c. */
#include <stdio.h>
#include <string.h>
#include "policy/loa.h"

static bool has_policy(const struct loa_facts *f)
{
	if (f->high_assurance_oid == NULL || f->high_assurance_oid[0] == '\0')
		return false;
	for (size_t i = 0; i < f->n_policy_oids; i++)
		if (f->policy_oids[i] != NULL && strcmp(f->policy_oids[i], f->high_assurance_oid) == 0)
			return true;
	return false;
}

void policy_loa_for_credential(const struct loa_facts *f, struct loa_set *out)
{
	memset(out, 0, sizeof *out);
	if (f == NULL || !f->efos_issued || !f->card_active || !f->card_auth_usage || !has_policy(f))
		return;
	switch (f->id_type) {
	case LOA_ID_PERSONNUMMER:
	case LOA_ID_SAMORDNINGSNUMMER:
		/* A samordningsnummer holder is proofed in person like anyone else: the credential
		 * is LoA 4. Whether the number may be released to a given SP
		 * (accepts-coordination-number) is the IdP's decision, not the credential's. */
		out->uris[out->n++] = LOA_URI_LOA4;
		break;
	case LOA_ID_NONE:
		/* Framework §2.2: holders without a Swedish identity number get the non-resident
		 * URI and their personalIdentityNumber is never released. EFOS's registry requires
		 * a pnr or samordningsnummer for every person, so this does not happen today. */
		out->uris[out->n++] = LOA_URI_LOA4_NONRESIDENT;
		break;
	}
}

bool policy_loa_contains(const struct loa_set *set, const char *uri)
{
	for (size_t i = 0; set != NULL && uri != NULL && i < set->n; i++)
		if (strcmp(set->uris[i], uri) == 0)
			return true;
	return false;
}

const char *policy_loa_why_none(const struct loa_facts *f, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (f == NULL)
		snprintf(buf, len, "no credential");
	else if (!f->efos_issued)
		snprintf(buf, len, "the certificate was not issued by an EFOS CA");
	else if (!f->card_auth_usage)
		snprintf(buf, len, "the certificate is not for authentication (keyUsage digitalSignature "
			 "and extendedKeyUsage clientAuth are required)");
	else if (f->high_assurance_oid == NULL || f->high_assurance_oid[0] == '\0')
		snprintf(buf, len, "the EFOS high-assurance policy OID is not configured "
			 "(card-auth certificate profile)");
	else if (!has_policy(f))
		snprintf(buf, len, "the certificate does not carry the EFOS high-assurance policy %s",
			 f->high_assurance_oid);
	else if (!f->card_active)
		snprintf(buf, len, "the certificate does not belong to an active card");
	return buf;
}
