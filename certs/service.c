/* The CA service of a node (certs/service.h): the CAs of the `cas` table with their keys found
 * in this node's HSM, each CA's delegated OCSP signer (cas.ocsp_cert_der / ocsp_key_uri, made
 * by `efosctl ca init`), the certificate profiles, and the CRL publisher (certs/crl.h).
 * Read-only once loaded: every accessor is safe from any thread. */
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "certs/crl.h"
#include "certs/issue.h"
#include "certs/profile.h"
#include "certs/service.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"
#include "hsm/bridge.h"
#include "hsm/hsm.h"

struct ocsp_signer {
	X509 *cert;
	struct hsm_key *key;
	EVP_PKEY *pkey;
};

struct certs_service {
	struct certs_ca *cas;
	struct ocsp_signer *ocsp;    /* parallel to cas */
	size_t n;
	struct cert_profiles *profiles;
	bool publisher_started;
};

static X509 *der_to_x509(PGresult *r, int row, int col)
{
	size_t len = 0;
	unsigned char *der = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &len);
	if (der == NULL)
		return NULL;
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (x != NULL && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	PQfreemem(der);
	return x;
}

/* Finds a key by URI: NULL (not an error) when this node's HSM does not have it. */
static int find_key(struct hsm *h, const char *uri, const char *what, struct hsm_key **k, EVP_PKEY **pk,
		    efos_err *e)
{
	*k = NULL;
	*pk = NULL;
	if (h == NULL)
		return 0;
	if (hsm_key_find(h, uri, k, e) < 0) {
		if (e->code == EFOS_E_NOTFOUND) {
			log_warn("%s: key %s is not in this node's HSM: it cannot sign here", what, uri);
			efos_err_clear(e);
			return 0;
		}
		return efos_wrap(e, "%s: key %s", what, uri);
	}
	if ((*pk = hsm_evp_pkey(*k, e)) == NULL) {
		hsm_key_free(*k);
		*k = NULL;
		return efos_wrap(e, "%s", what);
	}
	return 0;
}

static void service_free(struct certs_service *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->cas[i].name);
		X509_free(s->cas[i].cert);
		EVP_PKEY_free(s->cas[i].signer);
		hsm_key_free(s->cas[i].key);
		if (s->ocsp != NULL) {
			X509_free(s->ocsp[i].cert);
			EVP_PKEY_free(s->ocsp[i].pkey);
			hsm_key_free(s->ocsp[i].key);
		}
	}
	free(s->cas);
	free(s->ocsp);
	cert_profiles_free(s->profiles);
	free(s);
}

int certs_service_load(PGconn *c, struct hsm *h, const char *profiles_file, const char *base_url,
		       struct certs_service **out, efos_err *e)
{
	*out = NULL;
	struct certs_service *s = calloc(1, sizeof *s);
	PGresult *r = NULL;
	if (s == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	if (profiles_file != NULL && cert_profiles_load(profiles_file, base_url, &s->profiles, e) < 0)
		goto fail;
	r = db_exec(c, "SELECT id, name, cert_der, key_uri, ocsp_cert_der, ocsp_key_uri FROM cas ORDER BY id",
		    0, NULL, e);
	if (r == NULL)
		goto fail;
	int rows = PQntuples(r);
	s->cas = calloc(rows ? (size_t)rows : 1, sizeof *s->cas);
	s->ocsp = calloc(rows ? (size_t)rows : 1, sizeof *s->ocsp);
	if (s->cas == NULL || s->ocsp == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto fail;
	}
	for (int i = 0; i < rows; i++) {
		struct certs_ca *ca = &s->cas[i];
		struct ocsp_signer *os = &s->ocsp[i];
		s->n++;
		ca->id = atol(PQgetvalue(r, i, 0));
		if ((ca->name = strdup(PQgetvalue(r, i, 1))) == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto fail;
		}
		if ((ca->cert = der_to_x509(r, i, 2)) == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "CA %s: the stored certificate does not decode", ca->name);
			goto fail;
		}
		char what[96];
		snprintf(what, sizeof what, "CA %s", ca->name);
		if (find_key(h, PQgetvalue(r, i, 3), what, &ca->key, &ca->signer, e) < 0)
			goto fail;
		if (ca->key != NULL && EVP_PKEY_eq(hsm_key_public(ca->key), X509_get0_pubkey(ca->cert)) != 1) {
			efos_fail(e, EFOS_E_CONFIG, "CA %s: the key %s does not match the CA certificate", ca->name,
				  PQgetvalue(r, i, 3));
			goto fail;
		}
		if (!PQgetisnull(r, i, 4) && !PQgetisnull(r, i, 5)) {
			if ((os->cert = der_to_x509(r, i, 4)) == NULL) {
				efos_fail(e, EFOS_E_INTERNAL, "CA %s: the stored OCSP signer certificate does not decode",
					  ca->name);
				goto fail;
			}
			snprintf(what, sizeof what, "OCSP signer of CA %s", ca->name);
			if (find_key(h, PQgetvalue(r, i, 5), what, &os->key, &os->pkey, e) < 0)
				goto fail;
			if (os->key != NULL && EVP_PKEY_eq(hsm_key_public(os->key), X509_get0_pubkey(os->cert)) != 1) {
				efos_fail(e, EFOS_E_CONFIG, "OCSP signer of CA %s: the key does not match its certificate",
					  ca->name);
				goto fail;
			}
		}
	}
	PQclear(r);
	*out = s;
	return 0;
fail:
	PQclear(r);
	service_free(s);
	return -1;
}

int certs_service_start(struct efos_ctx *ctx, struct certs_service **out, efos_err *e)
{
	const struct efos_config *cfg = ctx->cfg;
	PGconn *c = NULL;
	struct certs_service *s = NULL;
	*out = NULL;
	certs_set_audit_node(cfg->node_name);
	if (db_acquire(ctx->db, &c, e) < 0)
		return efos_wrap(e, "CA service");
	int rc = certs_service_load(c, ctx->hsm, cfg->ca_profiles_file, cfg->ca_base_url, &s, e);
	db_release(ctx->db, c, rc < 0 && db_conn_broken(c));
	if (rc < 0)
		return efos_wrap(e, "CA service");
	if (cfg->ca_profiles_file == NULL)
		log_warn("ca.profiles_file is not set: this node issues no certificates");
	if (s->n == 0)
		log_warn("no CA in the database yet: run `efosctl ca init`");
	for (size_t i = 0; i < s->n; i++)
		log_info("CA %s loaded (%s%s)", s->cas[i].name, s->cas[i].signer ? "key in this HSM" : "no key here",
			 s->ocsp[i].pkey ? ", delegated OCSP signer" : "");
	if (certs_crl_publisher_start(s, ctx, e) < 0) {
		service_free(s);
		return efos_wrap(e, "CA service");
	}
	s->publisher_started = true;
	*out = s;
	return 0;
}

void certs_service_stop(struct certs_service *s)
{
	if (s == NULL)
		return;
	if (s->publisher_started)
		certs_crl_publisher_stop(s);
	service_free(s);
}

const struct certs_ca *certs_ca_by_name(const struct certs_service *s, const char *name)
{
	if (s == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->cas[i].name, name))
			return &s->cas[i];
	return NULL;
}

const struct certs_ca *certs_ca_by_id(const struct certs_service *s, long id)
{
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->cas[i].id == id)
			return &s->cas[i];
	return NULL;
}

size_t certs_ca_count(const struct certs_service *s)
{
	return s == NULL ? 0 : s->n;
}

const struct certs_ca *certs_ca_at(const struct certs_service *s, size_t i)
{
	return s == NULL || i >= s->n ? NULL : &s->cas[i];
}

int certs_ca_chain(const struct certs_service *s, const struct certs_ca *ca, STACK_OF(X509) *out)
{
	const struct certs_ca *cur = ca;
	for (int depth = 0; cur != NULL && depth < 8; depth++) {
		if (!sk_X509_push(out, cur->cert))
			return -1;
		if (X509_check_issued(cur->cert, cur->cert) == X509_V_OK)
			break;
		const struct certs_ca *next = NULL;
		for (size_t i = 0; i < certs_ca_count(s); i++) {
			const struct certs_ca *cand = certs_ca_at(s, i);
			if (cand != cur && X509_check_issued(cand->cert, cur->cert) == X509_V_OK)
				next = cand;
		}
		cur = next;
	}
	return 0;
}

const struct cert_profiles *certs_profiles(const struct certs_service *s)
{
	return s == NULL ? NULL : s->profiles;
}

int certs_ocsp_signer(const struct certs_service *s, const struct certs_ca *ca, X509 **cert,
		      EVP_PKEY **key)
{
	*cert = NULL;
	*key = NULL;
	if (s == NULL || ca == NULL)
		return -1;
	for (size_t i = 0; i < s->n; i++)
		if (&s->cas[i] == ca || s->cas[i].id == ca->id) {
			if (s->ocsp[i].cert == NULL || s->ocsp[i].pkey == NULL)
				return -1;
			*cert = s->ocsp[i].cert;
			*key = s->ocsp[i].pkey;
			return 0;
		}
	return -1;
}

const struct certs_ca *certs_ca_for_profile(const struct certs_service *s, const struct cert_profile *p)
{
	if (s == NULL || p == NULL || !strcmp(p->issuer, "self") || !strcmp(p->issuer, "any"))
		return NULL;
	return certs_ca_by_name(s, p->issuer);
}
