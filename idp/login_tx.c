/* Login transactions in PostgreSQL (idp/login_tx.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include "core/db.h"
#include "idp/login_tx.h"

/* ---- small helpers ------------------------------------------------------------------------- */

int idp_random_hex(char *out, size_t nbytes, efos_err *e)
{
	unsigned char buf[64];
	if (nbytes > sizeof buf || RAND_bytes(buf, (int)nbytes) != 1)
		return efos_fail(e, EFOS_E_INTERNAL, "the random number generator failed");
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hx[buf[i] >> 4];
		out[2 * i + 1] = hx[buf[i] & 15];
	}
	out[2 * nbytes] = '\0';
	OPENSSL_cleanse(buf, sizeof buf);
	return 0;
}

void idp_sha256_str(const char *s, unsigned char out[32])
{
	unsigned int n = 32;
	EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL);
}

bool idp_str_ct_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return false;
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return false;
	return CRYPTO_memcmp(a, b, la) == 0;
}

bool idp_is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != IDP_TX_ID_HEX)
		return false;
	for (size_t i = 0; i < IDP_TX_ID_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* The hex of SHA-256(id), for decode($1, 'hex'). */
static void id_hash_hex(const char *id, char hex[65])
{
	unsigned char h[32];
	idp_sha256_str(id, h);
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = hx[h[i] >> 4];
		hex[2 * i + 1] = hx[h[i] & 15];
	}
	hex[64] = '\0';
}

/* ---- JSON ------------------------------------------------------------------------------------- */

static int jset_str(json_t *o, const char *k, const char *v)
{
	if (v == NULL)
		return 0;
	return json_object_set_new(o, k, json_string(v));
}

static json_t *jstrv(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(v[i] ? v[i] : ""));
	return a;
}

static char *jdup(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? strdup(s) : NULL;
}

static int jgetstrv(json_t *o, const char *k, char ***v, size_t *n)
{
	json_t *a = json_object_get(o, k);
	*v = NULL;
	if (n != NULL)
		*n = 0;
	if (!json_is_array(a) || json_array_size(a) == 0)
		return 0;
	size_t m = json_array_size(a);
	char **out = calloc(m, sizeof *out);
	if (out == NULL)
		return -1;
	for (size_t i = 0; i < m; i++) {
		const char *s = json_string_value(json_array_get(a, i));
		if ((out[i] = strdup(s ? s : "")) == NULL) {
			for (size_t j = 0; j < i; j++)
				free(out[j]);
			free(out);
			return -1;
		}
	}
	*v = out;
	if (n != NULL)
		*n = m;
	return 0;
}

static int dump(json_t *o, char **json, efos_err *e)
{
	*json = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *json ? 0 : efos_fail(e, EFOS_E_INTERNAL, "out of memory");
}

int idp_login_tx_request_to_json(const struct idp_authn_request *r, char **json, efos_err *e)
{
	json_t *o = json_object();
	if (o == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	jset_str(o, "id", r->id);
	jset_str(o, "issuer", r->issuer);
	jset_str(o, "relay_state", r->relay_state);
	jset_str(o, "acs_url", r->acs_url);
	json_object_set_new(o, "acs_binding", json_integer(r->acs_binding));
	json_object_set_new(o, "hok", json_boolean(r->hok));
	json_object_set_new(o, "force_authn", json_boolean(r->force_authn));
	json_object_set_new(o, "is_passive", json_boolean(r->is_passive));
	jset_str(o, "name_id_format", r->name_id_format);
	json_object_set_new(o, "allow_create", json_boolean(r->allow_create));
	json_object_set_new(o, "requested_loa", jstrv(r->requested_loa, r->n_requested_loa));
	jset_str(o, "chosen_loa", r->chosen_loa);
	json_object_set_new(o, "issue_instant", json_integer((json_int_t)r->issue_instant));
	json_object_set_new(o, "has_sign_message", json_boolean(r->has_sign_message));
	json_object_set_new(o, "sign_message_must_show", json_boolean(r->sign_message_must_show));
	json_object_set_new(o, "sign_message_mime", json_integer(r->sign_message_mime));
	jset_str(o, "sign_message", r->sign_message);
	jset_str(o, "sign_message_display_entity", r->sign_message_display_entity);
	json_object_set_new(o, "sad_requested", json_boolean(r->sad_requested));
	jset_str(o, "sad_request_id", r->sad_request_id);
	jset_str(o, "sad_sign_request_id", r->sad_sign_request_id);
	json_object_set_new(o, "sad_doc_count", json_integer(r->sad_doc_count));
	jset_str(o, "sad_requester_id", r->sad_requester_id);
	json_object_set_new(o, "principal_names", jstrv(r->principal_attr_names, r->n_principal));
	json_object_set_new(o, "principal_values", jstrv(r->principal_attr_values, r->n_principal));
	json_object_set_new(o, "is_sigservice", json_boolean(r->is_sigservice));
	return dump(o, json, e);
}

int idp_login_tx_request_from_json(const char *json, struct idp_authn_request *r, efos_err *e)
{
	*r = (struct idp_authn_request){ 0 };
	json_error_t je;
	json_t *o = json_loads(json, 0, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return efos_fail(e, EFOS_E_INTERNAL, "login transaction: stored request is not JSON: %s", je.text);
	}
	r->id = jdup(o, "id");
	r->issuer = jdup(o, "issuer");
	r->relay_state = jdup(o, "relay_state");
	r->acs_url = jdup(o, "acs_url");
	r->acs_binding = (int)json_integer_value(json_object_get(o, "acs_binding"));
	r->hok = json_is_true(json_object_get(o, "hok"));
	r->force_authn = json_is_true(json_object_get(o, "force_authn"));
	r->is_passive = json_is_true(json_object_get(o, "is_passive"));
	r->name_id_format = jdup(o, "name_id_format");
	r->allow_create = json_is_true(json_object_get(o, "allow_create"));
	int rc = jgetstrv(o, "requested_loa", &r->requested_loa, &r->n_requested_loa);
	r->chosen_loa = jdup(o, "chosen_loa");
	r->issue_instant = (time_t)json_integer_value(json_object_get(o, "issue_instant"));
	r->has_sign_message = json_is_true(json_object_get(o, "has_sign_message"));
	r->sign_message_must_show = json_is_true(json_object_get(o, "sign_message_must_show"));
	r->sign_message_mime = (enum idp_sig_msg_mime)json_integer_value(json_object_get(o, "sign_message_mime"));
	r->sign_message = jdup(o, "sign_message");
	r->sign_message_display_entity = jdup(o, "sign_message_display_entity");
	r->sad_requested = json_is_true(json_object_get(o, "sad_requested"));
	r->sad_request_id = jdup(o, "sad_request_id");
	r->sad_sign_request_id = jdup(o, "sad_sign_request_id");
	r->sad_doc_count = (int)json_integer_value(json_object_get(o, "sad_doc_count"));
	r->sad_requester_id = jdup(o, "sad_requester_id");
	char **names = NULL, **values = NULL;
	size_t nn = 0, nv = 0;
	rc |= jgetstrv(o, "principal_names", &names, &nn);
	rc |= jgetstrv(o, "principal_values", &values, &nv);
	if (nn == nv) {
		r->principal_attr_names = names;
		r->principal_attr_values = values;
		r->n_principal = nn;
	} else {   /* never written by us: drop both */
		for (size_t i = 0; i < nn; i++)
			free(names[i]);
		for (size_t i = 0; i < nv; i++)
			free(values[i]);
		free(names);
		free(values);
		rc = -1;
	}
	r->is_sigservice = json_is_true(json_object_get(o, "is_sigservice"));
	json_decref(o);
	if (rc != 0 || r->id == NULL || r->issuer == NULL || r->acs_url == NULL) {
		idp_authn_request_free(r);
		return efos_fail(e, EFOS_E_INTERNAL, "login transaction: stored request is incomplete");
	}
	return 0;
}

int idp_login_tx_subject_to_json(const struct idp_subject *s, char **json, efos_err *e)
{
	json_t *o = json_object();
	if (o == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	json_object_set_new(o, "person_id", json_integer(s->person_id));
	jset_str(o, "pnr", s->pnr);
	json_object_set_new(o, "coordination", json_boolean(s->is_coordination_number));
	jset_str(o, "given_name", s->given_name);
	jset_str(o, "surname", s->surname);
	jset_str(o, "display_name", s->display_name);
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < s->n_affiliations; i++) {
		json_t *x = json_object();
		jset_str(x, "org_affiliation", s->affiliations[i].org_affiliation);
		jset_str(x, "orgnr", s->affiliations[i].orgnr);
		jset_str(x, "org_name", s->affiliations[i].org_name);
		json_array_append_new(a, x);
	}
	json_object_set_new(o, "affiliations", a);
	if (s->card_cert != NULL) {
		unsigned char *der = NULL;
		int n = i2d_X509(s->card_cert, &der);
		if (n > 0) {
			size_t cap = 4 * (((size_t)n + 2) / 3) + 1;
			char *b64 = malloc(cap);
			if (b64 != NULL) {
				EVP_EncodeBlock((unsigned char *)b64, der, n);
				json_object_set_new(o, "card_cert", json_string(b64));
				free(b64);
			}
			OPENSSL_free(der);
		}
	}
	json_object_set_new(o, "authn_instant", json_integer((json_int_t)s->authn_instant));
	jset_str(o, "loa", s->loa);
	jset_str(o, "client_address", s->client_address);
	return dump(o, json, e);
}

static X509 *x509_from_b64(const char *b64)
{
	size_t len = strlen(b64);
	unsigned char *der = malloc(len + 1);
	if (der == NULL)
		return NULL;
	int n = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)len);
	X509 *x = NULL;
	if (n > 0) {
		while (len > 0 && b64[len - 1] == '=') {   /* EVP_DecodeBlock counts padding as zeros */
			n--;
			len--;
		}
		const unsigned char *p = der;
		x = d2i_X509(NULL, &p, n);
	}
	free(der);
	return x;
}

int idp_login_tx_subject_from_json(const char *json, struct idp_subject *s, efos_err *e)
{
	*s = (struct idp_subject){ 0 };
	json_error_t je;
	json_t *o = json_loads(json, 0, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return efos_fail(e, EFOS_E_INTERNAL, "login transaction: stored subject is not JSON: %s", je.text);
	}
	s->person_id = (long)json_integer_value(json_object_get(o, "person_id"));
	s->pnr = jdup(o, "pnr");
	s->is_coordination_number = json_is_true(json_object_get(o, "coordination"));
	s->given_name = jdup(o, "given_name");
	s->surname = jdup(o, "surname");
	s->display_name = jdup(o, "display_name");
	json_t *a = json_object_get(o, "affiliations");
	size_t n = json_is_array(a) ? json_array_size(a) : 0;
	if (n > 0 && (s->affiliations = calloc(n, sizeof *s->affiliations)) != NULL) {
		for (size_t i = 0; i < n; i++) {
			json_t *x = json_array_get(a, i);
			s->affiliations[i].org_affiliation = jdup(x, "org_affiliation");
			s->affiliations[i].orgnr = jdup(x, "orgnr");
			s->affiliations[i].org_name = jdup(x, "org_name");
		}
		s->n_affiliations = n;
	}
	const char *cert = json_string_value(json_object_get(o, "card_cert"));
	if (cert != NULL)
		s->card_cert = x509_from_b64(cert);
	s->authn_instant = (time_t)json_integer_value(json_object_get(o, "authn_instant"));
	s->loa = jdup(o, "loa");
	s->client_address = jdup(o, "client_address");
	json_decref(o);
	if (s->person_id <= 0 || s->loa == NULL) {
		idp_subject_free(s);
		return efos_fail(e, EFOS_E_INTERNAL, "login transaction: stored subject is incomplete");
	}
	return 0;
}

/* ---- database ---------------------------------------------------------------------------------- */

int idp_login_tx_create(PGconn *c, const struct idp_authn_request *req, int lifetime_s, time_t now,
			struct idp_login_tx *tx, efos_err *e)
{
	char *json = NULL;
	if (lifetime_s <= 0)
		lifetime_s = IDP_LOGIN_TX_DEFAULT_LIFETIME_S;
	if (idp_random_hex(tx->id, 32, e) != 0 || idp_random_hex(tx->csrf, 32, e) != 0)
		return -1;
	if (idp_login_tx_request_to_json(req, &json, e) != 0)
		return -1;
	char hash[65], exp[32];
	id_hash_hex(tx->id, hash);
	tx->created_at = now;
	tx->expires_at = now + lifetime_s;
	snprintf(exp, sizeof exp, "%lld", (long long)tx->expires_at);
	const char *p[] = { hash, req->issuer, json, tx->csrf, exp };
	PGresult *r = db_exec(c, "INSERT INTO idp_login_tx (id_hash, sp_entity_id, state, request, csrf, expires_at) "
			      "VALUES (decode($1, 'hex'), $2, 'new', $3, $4, to_timestamp($5))", 5, p, e);
	free(json);
	if (r == NULL)
		return efos_wrap(e, "storing the login transaction");
	PQclear(r);
	return 0;
}

int idp_login_tx_load(PGconn *c, const char *id, time_t now, struct idp_login_tx *out, efos_err *e)
{
	*out = (struct idp_login_tx){ 0 };
	if (!idp_is_hex64(id))
		return efos_fail(e, EFOS_E_INVALID, "the login transaction id is malformed");
	char hash[65], nowb[32];
	id_hash_hex(id, hash);
	snprintf(nowb, sizeof nowb, "%lld", (long long)now);
	const char *p[] = { hash, nowb };
	PGresult *r = db_exec(c, "SELECT state, request, subject, sso, csrf, extract(epoch FROM created_at)::bigint, "
			      "extract(epoch FROM expires_at)::bigint, sign_accepted FROM idp_login_tx "
			      "WHERE id_hash = decode($1, 'hex') AND expires_at > to_timestamp($2)", 2, p, e);
	if (r == NULL)
		return efos_wrap(e, "reading the login transaction");
	if (PQntuples(r) != 1) {
		PQclear(r);
		return efos_fail(e, EFOS_E_NOTFOUND, "this login has expired or was already finished: "
				 "go back to the service and log in again");
	}
	snprintf(out->id, sizeof out->id, "%s", id);
	snprintf(out->csrf, sizeof out->csrf, "%s", PQgetvalue(r, 0, 4));
	out->state = strcmp(PQgetvalue(r, 0, 0), "authenticated") == 0 ? IDP_TX_AUTHENTICATED : IDP_TX_NEW;
	out->sso = PQgetvalue(r, 0, 3)[0] == 't';
	out->sign_accepted = PQgetvalue(r, 0, 7)[0] == 't';
	out->created_at = (time_t)strtoll(PQgetvalue(r, 0, 5), NULL, 10);
	out->expires_at = (time_t)strtoll(PQgetvalue(r, 0, 6), NULL, 10);
	int rc = idp_login_tx_request_from_json(PQgetvalue(r, 0, 1), &out->req, e);
	if (rc == 0 && !PQgetisnull(r, 0, 2)) {
		rc = idp_login_tx_subject_from_json(PQgetvalue(r, 0, 2), &out->subj, e);
		out->has_subject = rc == 0;
	}
	PQclear(r);
	return rc;
}

int idp_login_tx_set_subject(PGconn *c, const char *id, const struct idp_subject *s, bool sso, efos_err *e)
{
	char *json = NULL, hash[65];
	if (idp_login_tx_subject_to_json(s, &json, e) != 0)
		return -1;
	id_hash_hex(id, hash);
	const char *p[] = { hash, json, sso ? "true" : "false" };
	PGresult *r = db_exec(c, "UPDATE idp_login_tx SET state = 'authenticated', subject = $2, sso = $3 "
			      "WHERE id_hash = decode($1, 'hex')", 3, p, e);
	free(json);
	if (r == NULL)
		return efos_wrap(e, "updating the login transaction");
	bool found = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	return found ? 0 : efos_fail(e, EFOS_E_NOTFOUND, "this login has expired or was already finished");
}

int idp_login_tx_set_sign_accepted(PGconn *c, const char *id, efos_err *e)
{
	char hash[65];
	id_hash_hex(id, hash);
	const char *p[] = { hash };
	PGresult *r = db_exec(c, "UPDATE idp_login_tx SET sign_accepted = true WHERE id_hash = decode($1, 'hex') "
			      "AND state = 'authenticated'", 1, p, e);
	if (r == NULL)
		return efos_wrap(e, "updating the login transaction");
	bool found = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	return found ? 0 : efos_fail(e, EFOS_E_NOTFOUND, "this login has expired or was already finished");
}

int idp_login_tx_finish(PGconn *c, const char *id, efos_err *e)
{
	char hash[65];
	id_hash_hex(id, hash);
	const char *p[] = { hash };
	PGresult *r = db_exec(c, "DELETE FROM idp_login_tx WHERE id_hash = decode($1, 'hex')", 1, p, e);
	if (r == NULL)
		return efos_wrap(e, "finishing the login transaction");
	bool found = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	return found ? 0 : efos_fail(e, EFOS_E_NOTFOUND, "this login was already finished");
}

int idp_login_tx_purge(PGconn *c, long *deleted, efos_err *e)
{
	PGresult *r = db_exec(c, "DELETE FROM idp_login_tx WHERE expires_at < now()", 0, NULL, e);
	if (r == NULL)
		return -1;
	if (deleted != NULL)
		*deleted = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

void idp_login_tx_free(struct idp_login_tx *tx)
{
	if (tx == NULL)
		return;
	idp_authn_request_free(&tx->req);
	idp_subject_free(&tx->subj);
	OPENSSL_cleanse(tx->id, sizeof tx->id);
	OPENSSL_cleanse(tx->csrf, sizeof tx->csrf);
	tx->has_subject = false;
}
