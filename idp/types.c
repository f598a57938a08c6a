#include <stdlib.h>
#include "idp/types.h"

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

void idp_authn_request_free(struct idp_authn_request *r)
{
	if (r == NULL)
		return;
	free(r->id);
	free(r->issuer);
	free(r->relay_state);
	free(r->acs_url);
	free(r->name_id_format);
	free_strv(r->requested_loa, r->n_requested_loa);
	free(r->chosen_loa);
	free(r->sign_message);
	free(r->sign_message_display_entity);
	free(r->sad_request_id);
	free(r->sad_sign_request_id);
	free(r->sad_requester_id);
	free_strv(r->principal_attr_names, r->n_principal);
	free_strv(r->principal_attr_values, r->n_principal);
	free_strv(r->requester_ids, r->n_requester_ids);
	free(r->sad_version);
	*r = (struct idp_authn_request){ 0 };
}

void idp_subject_free(struct idp_subject *s)
{
	if (s == NULL)
		return;
	free(s->pnr);
	free(s->given_name);
	free(s->surname);
	free(s->display_name);
	for (size_t i = 0; i < s->n_affiliations; i++) {
		free(s->affiliations[i].org_affiliation);
		free(s->affiliations[i].orgnr);
		free(s->affiliations[i].org_name);
	}
	free(s->affiliations);
	X509_free(s->card_cert);
	free(s->loa);
	free(s->client_address);
	*s = (struct idp_subject){ 0 };
}
