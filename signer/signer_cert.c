/* The per-request key and signer certificate: key generation in the HSM, issuance by the sign
 * CA, the chain, destruction, and the start-up sweep of leftover keys. The mapping and the
 * extensions are in signer_cert_map.c and signer_cert_ext.c. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include "certs/issue.h"
#include "certs/profile.h"
#include "certs/service.h"
#include "core/db.h"
#include "core/log.h"
#include "hsm/hsm.h"
#include "signer/sign_task.h"
#include "signer/signer_cert_internal.h"

/* Sign CA ... root: at most this many certificates above the signer certificate. */
#define CHAIN_MAX 8

static _Atomic unsigned long keys_created, keys_destroyed;

void signer_keys_counts(unsigned long *created, unsigned long *destroyed)
{
	*created = keys_created;
	*destroyed = keys_destroyed;
}

static void set_res(struct dss_result *res, const char *major, const char *minor, const char *msg)
{
	res->major = major;
	res->minor = minor;
	snprintf(res->message, sizeof res->message, "%s", msg);
}

static void attr_free(struct dss_attr *a)
{
	free(a->name);
	free(a->friendly_name);
	for (size_t i = 0; i < a->n_values; i++)
		free(a->values[i]);
	free(a->values);
}

static int attr_copy(struct dss_attr *dst, const struct dss_attr *src)
{
	memset(dst, 0, sizeof *dst);
	dst->name = strdup(src->name);
	dst->friendly_name = src->friendly_name ? strdup(src->friendly_name) : NULL;
	dst->values = calloc(src->n_values ? src->n_values : 1, sizeof *dst->values);
	if (dst->name == NULL || (src->friendly_name && dst->friendly_name == NULL) || dst->values == NULL)
		return -1;
	for (size_t i = 0; i < src->n_values; i++) {
		if ((dst->values[i] = strdup(src->values[i] ? src->values[i] : "")) == NULL)
			return -1;
		dst->n_values++;
	}
	return 0;
}

/* The assertion attributes the mapping used, each once (SignerAssertionInfo). */
static int mapped_copy(const struct signer_map *m, struct signer_cert *out)
{
	out->mapped = calloc(m->n ? m->n : 1, sizeof *out->mapped);
	if (out->mapped == NULL)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		const struct dss_attr *s = m->m[i].source;
		bool seen = s == NULL;
		for (size_t j = 0; !seen && j < i; j++)
			seen = m->m[j].source == s;
		if (seen)
			continue;
		int rc = attr_copy(&out->mapped[out->n_mapped], s);
		out->n_mapped++;
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* out->chain: the request's CA chain (up-ref'd), or the issuing CA alone. */
static int chain_copy(const struct certs_ca *ca, STACK_OF(X509) *ca_chain, STACK_OF(X509) **out, efos_err *e)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	int n = ca_chain ? sk_X509_num(ca_chain) : 0;
	for (int i = 0; sk != NULL && i < (n ? n : 1); i++) {
		X509 *x = n ? sk_X509_value(ca_chain, i) : ca->cert;
		if (!X509_up_ref(x))
			break;
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			break;
		}
	}
	if (sk == NULL || sk_X509_num(sk) != (n ? n : 1)) {
		sk_X509_pop_free(sk, X509_free);
		*out = NULL;
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	*out = sk;
	return 0;
}

static int keygen(struct hsm *h, const struct signer_cert_request *r, struct hsm_key **key,
		  struct dss_result *res, efos_err *e)
{
	const EVP_MD *md;
	int pss, is_ec;
	const char *alg = r->req && r->req->sig_alg ? r->req->sig_alg : "";
	if (sign_alg_lookup(alg, &md, &pss, &is_ec) < 0) {
		set_res(res, DSS_MAJOR_REQUESTER, DSS_MINOR_NOT_SUPPORTED, "the requested signature algorithm is not supported");
		return efos_fail(e, EFOS_E_INVALID, "signature algorithm %.200s is not supported", alg);
	}
	unsigned char rnd[16];
	char label[sizeof SIGNER_KEY_LABEL_PREFIX + 2 * sizeof rnd];
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		set_res(res, DSS_MAJOR_RESPONDER, DSS_MINOR_KEY_LOOKUP_FAILED, "the signing key could not be created");
		return efos_fail(e, EFOS_E_INTERNAL, "no random bytes for the key label");
	}
	memcpy(label, SIGNER_KEY_LABEL_PREFIX, sizeof SIGNER_KEY_LABEL_PREFIX - 1);
	certs_hex(rnd, sizeof rnd, label + sizeof SIGNER_KEY_LABEL_PREFIX - 1);
	/* A session object: faster to make (nothing written to the token's storage) and gone
	 * with the session if efosd dies before destroying it. */
	struct hsm_keygen_params kp = { .label = label, .token_object = false };
	if (is_ec) {
		kp.kind = HSM_KEY_EC;
		int bits = EVP_MD_get_size(md) * 8;
		kp.curve_nid = bits <= 256 ? NID_X9_62_prime256v1 : bits <= 384 ? NID_secp384r1 : NID_secp521r1;
	} else {
		kp.kind = HSM_KEY_RSA;
		kp.bits = r->rsa_bits > 0 ? r->rsa_bits : 2048;
	}
	if (hsm_keygen(h, &kp, key, e) < 0) {
		set_res(res, DSS_MAJOR_RESPONDER, DSS_MINOR_KEY_LOOKUP_FAILED, "the signing key could not be created");
		return efos_wrap(e, "signer key generation");
	}
	keys_created++;
	return 0;
}

int signer_cert_issue(PGconn *c, struct hsm *h, const struct certs_ca *sign_ca,
		      const struct cert_profile *profile, const struct signer_cert_request *r,
		      struct signer_cert *out, struct dss_result *res, efos_err *e)
{
	struct signer_map *m = calloc(1, sizeof *m);
	X509_NAME *subject = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	bool own_tx = false;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (m == NULL) {
		set_res(res, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "internal error");
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	if (r->idp == NULL || r->assertion_id == NULL || r->loa == NULL || r->authn_instant <= 0 ||
	    r->service_id == NULL) {
		set_res(res, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "the authentication is incomplete");
		efos_fail(e, EFOS_E_INTERNAL, "signer certificate: IdP, assertion ID, LoA, AuthnInstant and "
			  "ServiceID are all needed");
		goto out;
	}
	if (signer_map_build(r, m, res, e) < 0)
		goto out;
	if (signer_subject_build(m, &subject, e) < 0 || signer_exts_build(r, m, &exts, e) < 0) {
		set_res(res, DSS_MAJOR_REQUESTER, DSS_MINOR_GENERAL_ERROR,
			"the requested certificate attributes cannot be encoded in a certificate");
		goto out;
	}
	if (keygen(h, r, &out->key, res, e) < 0)
		goto out;

	struct cert_issue_request ir = {
		.profile = profile, .public_key = hsm_key_public(out->key), .initial_status = "good",
		.actor = r->actor ? r->actor : "signer", .subject_name = subject,
	};
	X509_EXTENSION *list[8];   /* signer_exts_build makes at most four */
	size_t nx = (size_t)sk_X509_EXTENSION_num(exts);
	if (nx > sizeof list / sizeof list[0])
		nx = sizeof list / sizeof list[0];
	for (size_t i = 0; i < nx; i++)
		list[i] = sk_X509_EXTENSION_value(exts, (int)i);
	ir.extra_exts = list;
	ir.n_extra_exts = nx;
	if (PQtransactionStatus(c) == PQTRANS_IDLE) {
		if (db_begin(c, e) < 0)
			goto issue_failed;
		own_tx = true;
	}
	if (certs_issue(c, sign_ca, &ir, &out->cert, e) < 0 || chain_copy(sign_ca, r->ca_chain, &out->chain, e) < 0)
		goto issue_failed;
	if (own_tx) {
		own_tx = false;
		if (db_commit(c, e) < 0)
			goto issue_failed;
	}
	if (mapped_copy(m, out) < 0) {
		set_res(res, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "internal error");
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
	goto out;
issue_failed:
	set_res(res, DSS_MAJOR_RESPONDER, DSS_MINOR_GENERAL_ERROR, "the signer certificate could not be issued");
	efos_wrap(e, "signer certificate");
out:
	if (own_tx)
		db_rollback(c);
	if (rc < 0)
		signer_cert_destroy(out);
	X509_NAME_free(subject);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	free(m);
	return rc;
}

void signer_cert_destroy(struct signer_cert *sc)
{
	if (sc == NULL)
		return;
	if (sc->key != NULL) {
		efos_err e = { 0 };
		char label[128];
		snprintf(label, sizeof label, "%s", hsm_key_label(sc->key) ? hsm_key_label(sc->key) : "?");
		if (hsm_key_destroy(sc->key, &e) < 0)
			log_error("signer key %s was not destroyed (the HSM drops it when efosd's session "
				  "ends): %s", label, e.msg);
		else
			keys_destroyed++;
	}
	X509_free(sc->cert);
	sk_X509_pop_free(sc->chain, X509_free);
	for (size_t i = 0; i < sc->n_mapped; i++)
		attr_free(&sc->mapped[i]);
	free(sc->mapped);
	memset(sc, 0, sizeof *sc);
}

int signer_keys_sweep(struct hsm *h, size_t *n_destroyed, efos_err *e)
{
	char **labels = NULL;
	size_t n = 0, done = 0;
	if (n_destroyed != NULL)
		*n_destroyed = 0;
	if (hsm_key_labels(h, SIGNER_KEY_LABEL_PREFIX, &labels, &n, e) < 0)
		return efos_wrap(e, "signer key sweep");
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (hsm_key_destroy_by_label(h, labels[i], NULL, e) < 0) {
			efos_wrap(e, "signer key sweep: %s", labels[i]);
			rc = -1;
			break;
		}
		log_warn("destroyed the leftover signer key %s (a signing that did not finish)", labels[i]);
		done++;
	}
	hsm_labels_free(labels, n);
	if (n_destroyed != NULL)
		*n_destroyed = done;
	return rc;
}
