/* The OCSP responder (certs/ocsp.h): request checks, issuer matching by CertID hashes, status
 * from the database, signing by the delegated signer in the HSM, and the reuse cache. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include "certs/ocsp.h"
#include "certs/service.h"
#include "core/db.h"
#include "core/log.h"

#define OCSP_N_MD 4
#define OCSP_CACHE_DEFAULT 1024
#define OCSP_CACHE_MAX_CAS 4   /* answers that speak for more CAs are not kept */

struct ocsp_issuer {
	const struct certs_ca *ca;
	X509 *signer_cert;            /* our reference; the CA cert when it signs itself */
	EVP_PKEY *signer_key;         /* our reference; NULL: nobody can sign (tryLater) */
	unsigned char name_hash[OCSP_N_MD][EVP_MAX_MD_SIZE];
	unsigned char key_hash[OCSP_N_MD][EVP_MAX_MD_SIZE];
	unsigned int hash_len[OCSP_N_MD];
	unsigned long gen;            /* bumped when the CA's revocation data changed (under mu) */
};

struct ocsp_slot {
	bool used;
	unsigned char key[32];        /* SHA-256 of the request's CertIDs, in order */
	unsigned char *der;
	size_t len;
	time_t expires, produced, next_update;
	size_t n_gens;
	size_t issuer[OCSP_CACHE_MAX_CAS];
	unsigned long gen[OCSP_CACHE_MAX_CAS];
};

struct certs_ocsp_responder {
	int validity_s, reuse_window_s;
	struct ocsp_issuer *issuers;
	size_t n_issuers;
	pthread_mutex_t mu;           /* the generations and the slots */
	struct ocsp_slot *slots;
	size_t n_slots;
};

static const int md_nids[OCSP_N_MD] = { NID_sha1, NID_sha256, NID_sha384, NID_sha512 };

static const EVP_MD *md_of(int i)
{
	switch (i) {
	case 0: return EVP_sha1();
	case 1: return EVP_sha256();
	case 2: return EVP_sha384();
	default: return EVP_sha512();
	}
}

/* ----- own-CA status ----------------------------------------------------------------------- */

/* Hex of the serial's big-endian magnitude without leading zero bytes; false when negative or
 * longer than the 20 bytes RFC 5280 allows. */
static bool serial_hex(const ASN1_INTEGER *serial, char out[41])
{
	if (serial == NULL || ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER)
		return false;
	const unsigned char *p = ASN1_STRING_get0_data(serial);
	int n = ASN1_STRING_length(serial);
	while (n > 0 && *p == 0) {
		p++;
		n--;
	}
	if (n > 20)
		return false;
	if (n == 0) {
		strcpy(out, "00");
		return true;
	}
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
	return true;
}

int certs_ocsp_status_lookup(PGconn *c, long ca_id, const ASN1_INTEGER *serial, struct certs_status_info *out,
			     efos_err *e)
{
	memset(out, 0, sizeof *out);
	out->status = CERTS_STATUS_UNKNOWN;
	out->reason = -1;
	char hex[41], id[32];
	if (!serial_hex(serial, hex))
		return 0;
	snprintf(id, sizeof id, "%ld", ca_id);
	const char *params[] = { id, hex };
	/* Stored serials are the magnitude; one with a leading zero byte (a high first bit stored
	 * as DER content) is found too. Both are primary-key lookups. */
	PGresult *r = db_exec(c,
		"SELECT status, extract(epoch FROM coalesce(revoked_at, issued_at))::bigint, revocation_reason, "
		"extract(epoch FROM not_after)::bigint FROM certificates "
		"WHERE (serial = decode($2, 'hex') OR serial = decode('00' || $2, 'hex')) AND ca_id = $1 LIMIT 1",
		2, params, e);
	if (r == NULL)
		return efos_wrap(e, "certificate status");
	if (PQntuples(r) == 1) {
		const char *st = PQgetvalue(r, 0, 0);
		out->not_after = (time_t)strtoll(PQgetvalue(r, 0, 3), NULL, 10);
		if (strcmp(st, "good") == 0) {
			out->status = CERTS_STATUS_GOOD;
		} else {
			out->revoked_at = PQgetisnull(r, 0, 1) ? 0 : (time_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10);
			if (strcmp(st, "hold") == 0) {
				out->status = CERTS_STATUS_HOLD;
				out->reason = OCSP_REVOKED_STATUS_CERTIFICATEHOLD;
			} else {
				out->status = CERTS_STATUS_REVOKED;
				out->reason = PQgetisnull(r, 0, 2) ? -1 : atoi(PQgetvalue(r, 0, 2));
			}
		}
	}
	PQclear(r);
	return 0;
}

/* ----- the responder object ---------------------------------------------------------------- */

int certs_ocsp_responder_new(int validity_s, int reuse_window_s, size_t cache_slots,
			     struct certs_ocsp_responder **out, efos_err *e)
{
	struct certs_ocsp_responder *r = calloc(1, sizeof *r);
	if (r == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	r->validity_s = validity_s > 0 ? validity_s : 3600;
	r->reuse_window_s = reuse_window_s > 0 ? reuse_window_s : 0;
	r->n_slots = cache_slots ? cache_slots : OCSP_CACHE_DEFAULT;
	r->slots = calloc(r->n_slots, sizeof *r->slots);
	if (r->slots == NULL) {
		free(r);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	pthread_mutex_init(&r->mu, NULL);
	*out = r;
	return 0;
}

void certs_ocsp_responder_free(struct certs_ocsp_responder *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_issuers; i++) {
		X509_free(r->issuers[i].signer_cert);
		EVP_PKEY_free(r->issuers[i].signer_key);
	}
	free(r->issuers);
	for (size_t i = 0; i < r->n_slots; i++)
		free(r->slots[i].der);
	free(r->slots);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int certs_ocsp_responder_add_ca(struct certs_ocsp_responder *r, const struct certs_ca *ca, X509 *signer_cert,
				EVP_PKEY *signer_key, efos_err *e)
{
	if (ca == NULL || ca->cert == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "OCSP: a CA without a certificate");
	struct ocsp_issuer *v = realloc(r->issuers, (r->n_issuers + 1) * sizeof *v);
	if (v == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	r->issuers = v;
	struct ocsp_issuer *is = &v[r->n_issuers];
	memset(is, 0, sizeof *is);
	is->ca = ca;
	for (int i = 0; i < OCSP_N_MD; i++) {
		unsigned int nl = 0, kl = 0;
		if (!X509_NAME_digest(X509_get_subject_name(ca->cert), md_of(i), is->name_hash[i], &nl) ||
		    !X509_pubkey_digest(ca->cert, md_of(i), is->key_hash[i], &kl) || nl != kl) {
			ERR_clear_error();
			return efos_fail(e, EFOS_E_INTERNAL, "OCSP: hashing CA %s", ca->name);
		}
		is->hash_len[i] = nl;
	}
	if (signer_cert != NULL && signer_key != NULL) {
		is->signer_cert = signer_cert;
		is->signer_key = signer_key;
	} else if (ca->signer != NULL) {
		is->signer_cert = ca->cert;
		is->signer_key = ca->signer;
	}
	if (is->signer_cert != NULL) {
		X509_up_ref(is->signer_cert);
		EVP_PKEY_up_ref(is->signer_key);
	}
	r->n_issuers++;
	return 0;
}

void certs_ocsp_responder_invalidate(struct certs_ocsp_responder *r, long ca_id)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n_issuers; i++)
		if (r->issuers[i].ca->id == ca_id)
			r->issuers[i].gen++;
	pthread_mutex_unlock(&r->mu);
}

/* ----- answering --------------------------------------------------------------------------- */

static int finish(OCSP_RESPONSE *resp, unsigned char **out, size_t *out_len, efos_err *e)
{
	int n = resp ? i2d_OCSP_RESPONSE(resp, NULL) : -1;
	unsigned char *buf = n > 0 ? malloc((size_t)n) : NULL;
	if (buf == NULL) {
		OCSP_RESPONSE_free(resp);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory (OCSP response)");
	}
	unsigned char *p = buf;
	i2d_OCSP_RESPONSE(resp, &p);
	OCSP_RESPONSE_free(resp);
	*out = buf;
	*out_len = (size_t)n;
	return 0;
}

/* An unsigned error answer: malformedRequest, unauthorized, tryLater, internalError. */
static int error_response(int status, unsigned char **out, size_t *out_len, struct certs_ocsp_result *res,
			  efos_err *e)
{
	res->response_status = status;
	return finish(OCSP_response_create(status, NULL), out, out_len, e);
}

/* What the request asks, after the checks that need no database. */
struct ocsp_job {
	OCSP_REQUEST *req;
	int n;
	int issuer[CERTS_OCSP_MAX_CERTIDS];   /* index into r->issuers, -1 = not ours / other signer */
	int signer;                           /* index of the issuer whose signer signs */
	bool nonce;
	bool cacheable;
	unsigned char key[32];
	size_t n_gens;
	size_t gen_issuer[OCSP_CACHE_MAX_CAS];
	unsigned long gen[OCSP_CACHE_MAX_CAS];
};

static int match_issuer(const struct certs_ocsp_responder *r, OCSP_CERTID *cid)
{
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *alg = NULL;
	if (!OCSP_id_get0_info(&nh, &alg, &kh, NULL, cid) || nh == NULL || kh == NULL || alg == NULL)
		return -1;
	int nid = OBJ_obj2nid(alg), m = -1;
	for (int i = 0; i < OCSP_N_MD; i++)
		if (md_nids[i] == nid)
			m = i;
	if (m < 0)
		return -1;
	for (size_t i = 0; i < r->n_issuers; i++) {
		const struct ocsp_issuer *is = &r->issuers[i];
		if ((unsigned)ASN1_STRING_length(nh) == is->hash_len[m] &&
		    (unsigned)ASN1_STRING_length(kh) == is->hash_len[m] &&
		    memcmp(ASN1_STRING_get0_data(nh), is->name_hash[m], is->hash_len[m]) == 0 &&
		    memcmp(ASN1_STRING_get0_data(kh), is->key_hash[m], is->hash_len[m]) == 0)
			return (int)i;
	}
	return -1;
}

static bool same_signer(const struct ocsp_issuer *a, const struct ocsp_issuer *b)
{
	if (a->signer_cert == NULL || b->signer_cert == NULL)
		return false;
	return a->signer_cert == b->signer_cert || X509_cmp(a->signer_cert, b->signer_cert) == 0;
}

static size_t slot_of(const struct certs_ocsp_responder *r, const unsigned char key[32])
{
	uint64_t h;
	memcpy(&h, key, sizeof h);
	return (size_t)(h % r->n_slots);
}

/* Cache key: SHA-256 over the DER of each CertID, in order. */
static bool job_key(struct ocsp_job *j)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (int i = 0; ok && i < j->n; i++) {
		unsigned char *der = NULL;
		OCSP_CERTID *cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(j->req, i));
		int len = i2d_OCSP_CERTID(cid, &der);
		ok = len > 0 && EVP_DigestUpdate(md, der, (size_t)len);
		OPENSSL_free(der);
	}
	unsigned int kl = 0;
	ok = ok && EVP_DigestFinal_ex(md, j->key, &kl) && kl == 32;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

enum { JOB_DONE = 1, JOB_NEED_DB = 2 };

/* Parses and checks the request, matches issuers, and answers from the cache when it can.
 * Returns JOB_DONE with *out set, JOB_NEED_DB, or -1 (out of memory). */
static int job_prepare(struct certs_ocsp_responder *r, const unsigned char *der, size_t len, struct ocsp_job *j,
		       unsigned char **out, size_t *out_len, struct certs_ocsp_result *res, efos_err *e)
{
	memset(j, 0, sizeof *j);
	j->signer = -1;
	if (der == NULL || len == 0 || len > CERTS_OCSP_MAX_REQUEST)
		goto malformed;
	const unsigned char *p = der;
	j->req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
	if (j->req == NULL || p != der + len)
		goto malformed;
	j->n = OCSP_request_onereq_count(j->req);
	if (j->n <= 0 || j->n > CERTS_OCSP_MAX_CERTIDS)
		goto malformed;
	j->nonce = OCSP_REQUEST_get_ext_by_NID(j->req, NID_id_pkix_OCSP_Nonce, -1) >= 0;

	for (int i = 0; i < j->n; i++) {
		OCSP_CERTID *cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(j->req, i));
		j->issuer[i] = match_issuer(r, cid);
		if (j->issuer[i] >= 0 && j->signer < 0)
			j->signer = j->issuer[i];
	}
	if (j->signer < 0)
		return error_response(OCSP_RESPONSE_STATUS_UNAUTHORIZED, out, out_len, res, e) ? -1 : JOB_DONE;
	if (r->issuers[j->signer].signer_key == NULL)
		return error_response(OCSP_RESPONSE_STATUS_TRYLATER, out, out_len, res, e) ? -1 : JOB_DONE;
	/* One response, one signer: a CertID of a CA that another signer speaks for is unknown here. */
	for (int i = 0; i < j->n; i++)
		if (j->issuer[i] >= 0 && j->issuer[i] != j->signer &&
		    !same_signer(&r->issuers[j->issuer[i]], &r->issuers[j->signer]))
			j->issuer[i] = -1;

	j->cacheable = !j->nonce && r->reuse_window_s > 0 && job_key(j);
	if (!j->cacheable)
		return JOB_NEED_DB;
	for (int i = 0; i < j->n && j->cacheable; i++) {
		if (j->issuer[i] < 0)
			continue;
		size_t k = 0;
		while (k < j->n_gens && j->gen_issuer[k] != (size_t)j->issuer[i])
			k++;
		if (k == j->n_gens) {
			if (k == OCSP_CACHE_MAX_CAS)
				j->cacheable = false;
			else
				j->gen_issuer[j->n_gens++] = (size_t)j->issuer[i];
		}
	}
	if (!j->cacheable)
		return JOB_NEED_DB;

	/* Generations are read before the database is: a change that lands while this answer is
	 * made makes the stored answer stale at once. */
	time_t now = time(NULL);
	unsigned char *hit = NULL;
	size_t hit_len = 0;
	pthread_mutex_lock(&r->mu);
	for (size_t k = 0; k < j->n_gens; k++)
		j->gen[k] = r->issuers[j->gen_issuer[k]].gen;
	struct ocsp_slot *s = &r->slots[slot_of(r, j->key)];
	if (s->used && memcmp(s->key, j->key, 32) == 0 && now < s->expires && s->n_gens == j->n_gens &&
	    memcmp(s->issuer, j->gen_issuer, j->n_gens * sizeof s->issuer[0]) == 0 &&
	    memcmp(s->gen, j->gen, j->n_gens * sizeof s->gen[0]) == 0) {
		hit = malloc(s->len);
		if (hit != NULL) {
			memcpy(hit, s->der, s->len);
			hit_len = s->len;
			res->produced_at = s->produced;
			res->next_update = s->next_update;
		}
	}
	pthread_mutex_unlock(&r->mu);
	if (hit == NULL)
		return JOB_NEED_DB;
	res->response_status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
	res->reused = true;
	res->cacheable = true;
	*out = hit;
	*out_len = hit_len;
	return JOB_DONE;

malformed:
	return error_response(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, out, out_len, res, e) ? -1 : JOB_DONE;
}

static void cache_store(struct certs_ocsp_responder *r, const struct ocsp_job *j, const unsigned char *der,
			size_t len, time_t produced, time_t next_update)
{
	unsigned char *copy = malloc(len);
	if (copy == NULL)
		return;
	memcpy(copy, der, len);
	int window = r->reuse_window_s < r->validity_s ? r->reuse_window_s : r->validity_s;
	pthread_mutex_lock(&r->mu);
	struct ocsp_slot *s = &r->slots[slot_of(r, j->key)];
	free(s->der);
	s->used = true;
	memcpy(s->key, j->key, 32);
	s->der = copy;
	s->len = len;
	s->produced = produced;
	s->next_update = next_update;
	s->expires = produced + window;
	s->n_gens = j->n_gens;
	memcpy(s->issuer, j->gen_issuer, sizeof s->issuer);
	memcpy(s->gen, j->gen, sizeof s->gen);
	pthread_mutex_unlock(&r->mu);
}

/* Looks up every CertID, signs, and stores the answer for reuse when it may be. */
static int job_answer(struct certs_ocsp_responder *r, struct ocsp_job *j, PGconn *c, unsigned char **out,
		      size_t *out_len, struct certs_ocsp_result *res, bool *conn_broken, efos_err *e)
{
	if (c == NULL)
		return error_response(OCSP_RESPONSE_STATUS_TRYLATER, out, out_len, res, e);
	time_t now = time(NULL);
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	ASN1_TIME *this_upd = ASN1_TIME_set(NULL, now), *next_upd = ASN1_TIME_set(NULL, now + r->validity_s);
	ASN1_TIME *rev = NULL;
	int status = OCSP_RESPONSE_STATUS_INTERNALERROR;
	if (bs == NULL || this_upd == NULL || next_upd == NULL)
		goto answer;
	for (int i = 0; i < j->n; i++) {
		OCSP_CERTID *cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(j->req, i));
		struct certs_status_info st = { .status = CERTS_STATUS_UNKNOWN, .reason = -1 };
		if (j->issuer[i] >= 0) {
			ASN1_INTEGER *serial = NULL;
			efos_err le = { 0 };
			OCSP_id_get0_info(NULL, NULL, NULL, &serial, cid);
			if (certs_ocsp_status_lookup(c, r->issuers[j->issuer[i]].ca->id, serial, &st, &le) != 0) {
				if (db_conn_broken(c))
					*conn_broken = true;
				log_warn("OCSP: %s: answering tryLater", le.msg);
				status = OCSP_RESPONSE_STATUS_TRYLATER;
				goto answer;
			}
		}
		int cs = V_OCSP_CERTSTATUS_UNKNOWN, reason = OCSP_REVOKED_STATUS_NOSTATUS;
		if (st.status == CERTS_STATUS_GOOD) {
			cs = V_OCSP_CERTSTATUS_GOOD;
		} else if (st.status == CERTS_STATUS_REVOKED || st.status == CERTS_STATUS_HOLD) {
			cs = V_OCSP_CERTSTATUS_REVOKED;
			/* unspecified (0) is left out, as on the CRL */
			if (st.reason >= 1 && st.reason <= 10 && st.reason != 7)
				reason = st.reason;
			ASN1_TIME_free(rev);
			if ((rev = ASN1_TIME_set(NULL, st.revoked_at)) == NULL)
				goto answer;
		}
		if (OCSP_basic_add1_status(bs, cid, cs, reason, rev, this_upd, next_upd) == NULL)
			goto answer;
	}
	if (j->nonce && OCSP_copy_nonce(bs, j->req) != 1)
		goto answer;
	const struct ocsp_issuer *is = &r->issuers[j->signer];
	if (OCSP_basic_sign(bs, is->signer_cert, is->signer_key, EVP_sha256(), NULL, OCSP_RESPID_KEY) != 1) {
		unsigned long code = ERR_peek_last_error();
		char msg[256] = "";
		ERR_error_string_n(code, msg, sizeof msg);
		log_warn("OCSP: signing for CA %s failed (%s): answering tryLater", is->ca->name, msg);
		status = OCSP_RESPONSE_STATUS_TRYLATER;
		goto answer;
	}
	status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
answer:
	ERR_clear_error();
	ASN1_TIME_free(rev);
	ASN1_TIME_free(this_upd);
	ASN1_TIME_free(next_upd);
	if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		OCSP_BASICRESP_free(bs);
		return error_response(status, out, out_len, res, e);
	}
	if (finish(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs), out, out_len, e) != 0) {
		OCSP_BASICRESP_free(bs);
		return -1;
	}
	OCSP_BASICRESP_free(bs);
	res->response_status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
	res->produced_at = now;
	res->next_update = now + r->validity_s;
	res->cacheable = !j->nonce;
	if (j->cacheable)
		cache_store(r, j, *out, *out_len, now, now + r->validity_s);
	return 0;
}

int certs_ocsp_respond_conn(struct certs_ocsp_responder *r, PGconn *c, const unsigned char *req, size_t req_len,
			    unsigned char **out, size_t *out_len, struct certs_ocsp_result *res, bool *conn_broken,
			    efos_err *e)
{
	struct certs_ocsp_result local;
	struct ocsp_job j;
	bool broken = false;
	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof *res);
	*out = NULL;
	*out_len = 0;
	int rc = job_prepare(r, req, req_len, &j, out, out_len, res, e);
	if (rc == JOB_NEED_DB)
		rc = job_answer(r, &j, c, out, out_len, res, &broken, e);
	else if (rc == JOB_DONE)
		rc = 0;
	OCSP_REQUEST_free(j.req);
	if (conn_broken != NULL)
		*conn_broken = broken;
	return rc;
}

int certs_ocsp_respond(struct certs_ocsp_responder *r, struct db_pool *db, const unsigned char *req, size_t req_len,
		       unsigned char **out, size_t *out_len, struct certs_ocsp_result *res, efos_err *e)
{
	struct certs_ocsp_result local;
	struct ocsp_job j;
	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof *res);
	*out = NULL;
	*out_len = 0;
	/* The pool is touched only when the answer needs the database (not for a reused answer,
	 * nor for one refused before any lookup). */
	int rc = job_prepare(r, req, req_len, &j, out, out_len, res, e);
	if (rc == JOB_NEED_DB) {
		PGconn *c = NULL;
		efos_err de = { 0 };
		bool broken = false;
		if (db == NULL || db_acquire(db, &c, &de) != 0) {
			log_warn("OCSP: database unavailable (%s): answering tryLater", de.msg);
			c = NULL;
		}
		rc = job_answer(r, &j, c, out, out_len, res, &broken, e);
		if (c != NULL)
			db_release(db, c, broken);
	} else if (rc == JOB_DONE) {
		rc = 0;
	}
	OCSP_REQUEST_free(j.req);
	return rc;
}

/* ----- GET form ---------------------------------------------------------------------------- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int certs_ocsp_decode_get(const char *path_rest, unsigned char **der, size_t *len, efos_err *e)
{
	*der = NULL;
	*len = 0;
	size_t in = strlen(path_rest);
	if (in == 0 || in > 3 * (CERTS_OCSP_MAX_REQUEST / 3 * 4 + 4))
		return efos_fail(e, EFOS_E_INVALID, "OCSP GET: no request or request too long");
	/* %-decode (the server may have done it already: base64 has no '%'), map the URL-safe
	 * alphabet to the standard one, drop padding; a '+' a form decoder turned into ' ' is '+'. */
	char *b = malloc(in + 4);
	if (b == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	size_t n = 0;
	for (size_t i = 0; i < in; i++) {
		int ch = (unsigned char)path_rest[i];
		if (ch == '%') {
			int hi = i + 2 < in ? hexval(path_rest[i + 1]) : -1, lo = hi >= 0 ? hexval(path_rest[i + 2]) : -1;
			if (lo < 0)
				goto bad;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (ch == '-' || ch == ' ')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		if (ch == '=')
			continue;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
		      ch == '/'))
			goto bad;
		b[n++] = (char)ch;
	}
	if (n % 4 == 1)
		goto bad;
	size_t pad = (4 - n % 4) % 4;
	for (size_t i = 0; i < pad; i++)
		b[n++] = '=';
	b[n] = '\0';
	unsigned char *outb = malloc(n / 4 * 3 + 1);
	if (outb == NULL) {
		free(b);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	int dl = EVP_DecodeBlock(outb, (const unsigned char *)b, (int)n);
	free(b);
	if (dl < 0 || (size_t)dl < pad || (size_t)dl - pad > CERTS_OCSP_MAX_REQUEST) {
		free(outb);
		return efos_fail(e, EFOS_E_INVALID, "OCSP GET: the request is not base64 DER");
	}
	*der = outb;
	*len = (size_t)dl - pad;
	return 0;
bad:
	free(b);
	return efos_fail(e, EFOS_E_INVALID, "OCSP GET: the request is not base64 DER");
}
