/* The RFC 3161 timestamp authority (tsa.h). OpenSSL's TS_RESP_CTX does the protocol: request
 * checks and rejections with failInfo, TSTInfo, ESS signingCertificateV2, the PKCS#7 signature
 * (through the HSM bridge key). A TS_RESP_CTX keeps per-request state, so one is built per
 * answer from the shared, read-only certificate, chain and key. */
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>
#include <strings.h>
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"
#include "signer/seal_api.h"
#include "signer/tsa.h"

#define TSA_MAX_REQUEST 8192   /* a TimeStampReq is a few hundred bytes */

struct signer_tsa {
	X509 *cert;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
	ASN1_OBJECT *policy;
	int accuracy_ms;
};

static int ossl_fail(efos_err *e, enum efos_errcode code, const char *what)
{
	unsigned long err = ERR_get_error();
	char buf[256] = "";
	if (err != 0)
		ERR_error_string_n(err, buf, sizeof buf);
	ERR_clear_error();
	return efos_fail(e, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

int signer_tsa_new(const struct signer_tsa_params *p, struct signer_tsa **out, efos_err *e)
{
	*out = NULL;
	if (p->cert == NULL || p->key == NULL || p->policy_oid == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "the TSA needs a certificate, a key and a policy OID");
	/* RFC 3161 §2.3: id-kp-timeStamping is the only extended key usage, and it is critical.
	 * OpenSSL's purpose check says exactly that. */
	if (X509_check_purpose(p->cert, X509_PURPOSE_TIMESTAMP_SIGN, 0) != 1)
		return efos_fail(e, EFOS_E_CONFIG, "the TSA certificate is not fit for timestamping: its only "
				 "extended key usage must be timeStamping, marked critical (profile tsa)");
	if (X509_check_private_key(p->cert, p->key) != 1) {
		ERR_clear_error();
		return efos_fail(e, EFOS_E_CONFIG, "the TSA certificate does not belong to the TSA key");
	}
	if (p->accuracy_ms < 1 || p->accuracy_ms > 60000)
		return efos_fail(e, EFOS_E_CONFIG, "TSA accuracy %d ms is outside 1..60000", p->accuracy_ms);
	struct signer_tsa *t = calloc(1, sizeof *t);
	if (t == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	t->policy = OBJ_txt2obj(p->policy_oid, 1);
	if (t->policy == NULL) {
		ERR_clear_error();
		signer_tsa_free(t);
		return efos_fail(e, EFOS_E_CONFIG, "TSA policy \"%s\" is not a dotted OID", p->policy_oid);
	}
	t->chain = p->chain ? X509_chain_up_ref(p->chain) : sk_X509_new_null();
	if (t->chain == NULL || !X509_up_ref(p->cert)) {
		signer_tsa_free(t);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	t->cert = p->cert;
	if (!EVP_PKEY_up_ref(p->key)) {
		signer_tsa_free(t);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	t->key = p->key;
	t->accuracy_ms = p->accuracy_ms;
	*out = t;
	return 0;
}

void signer_tsa_free(struct signer_tsa *t)
{
	if (t == NULL)
		return;
	X509_free(t->cert);
	sk_X509_pop_free(t->chain, X509_free);
	EVP_PKEY_free(t->key);
	ASN1_OBJECT_free(t->policy);
	free(t);
}

int signer_tsa_db_serial(void *arg, uint64_t *serial, efos_err *e)
{
	PGconn *c = arg;
	PGresult *r = db_exec(c, "SELECT nextval('tsa_serial')", 0, NULL, e);
	if (r == NULL)
		return efos_wrap(e, "TSA serial number");
	char *end = NULL;
	unsigned long long v = strtoull(PQgetvalue(r, 0, 0), &end, 10);
	int ok = PQntuples(r) == 1 && end != NULL && *end == '\0' && v > 0;
	PQclear(r);
	if (!ok)
		return efos_fail(e, EFOS_E_INTERNAL, "TSA serial number: unexpected answer from the database");
	*serial = v;
	return 0;
}

/* ---- one answer ---- */

struct serial_state {
	signer_tsa_serial_fn fn;
	void *arg;
	efos_err err;
	int failed;
};

static ASN1_INTEGER *serial_cb(TS_RESP_CTX *ctx, void *data)
{
	struct serial_state *s = data;
	uint64_t v = 0;
	ASN1_INTEGER *ai = NULL;
	if (s->fn(s->arg, &v, &s->err) != 0) {
		s->failed = 1;
		return NULL;   /* OpenSSL answers rejection, addInfoNotAvailable */
	}
	if ((ai = ASN1_INTEGER_new()) == NULL || !ASN1_INTEGER_set_uint64(ai, v)) {
		ASN1_INTEGER_free(ai);
		efos_fail(&s->err, EFOS_E_INTERNAL, "out of memory");
		s->failed = 1;
		return NULL;
	}
	return ai;
}

static TS_RESP_CTX *resp_ctx(struct signer_tsa *t, struct serial_state *ss, efos_err *e)
{
	TS_RESP_CTX *ctx = TS_RESP_CTX_new();
	if (ctx == NULL)
		return ossl_fail(e, EFOS_E_INTERNAL, "TS_RESP_CTX_new"), NULL;
	int ok = TS_RESP_CTX_set_signer_cert(ctx, t->cert) && TS_RESP_CTX_set_signer_key(ctx, t->key) &&
		 TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) &&
		 TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) &&   /* signingCertificateV2 */
		 TS_RESP_CTX_set_certs(ctx, t->chain) && TS_RESP_CTX_set_def_policy(ctx, t->policy) &&
		 TS_RESP_CTX_add_md(ctx, EVP_sha256()) && TS_RESP_CTX_add_md(ctx, EVP_sha384()) &&
		 TS_RESP_CTX_add_md(ctx, EVP_sha512()) &&
		 TS_RESP_CTX_set_accuracy(ctx, t->accuracy_ms / 1000, t->accuracy_ms % 1000, 0) &&
		 TS_RESP_CTX_set_clock_precision_digits(ctx, 3);
	if (!ok) {
		TS_RESP_CTX_free(ctx);
		return ossl_fail(e, EFOS_E_INTERNAL, "setting up the TSA response"), NULL;
	}
	TS_RESP_CTX_set_serial_cb(ctx, serial_cb, ss);
	return ctx;
}

/* The answer as a TS_RESP (caller frees) */
static TS_RESP *answer(struct signer_tsa *t, const unsigned char *req, size_t len, struct serial_state *ss,
		       efos_err *e)
{
	TS_RESP_CTX *ctx = resp_ctx(t, ss, e);
	if (ctx == NULL)
		return NULL;
	BIO *in = BIO_new_mem_buf(req, (int)len);
	TS_RESP *resp = in ? TS_RESP_create_response(ctx, in) : NULL;
	if (resp == NULL)
		ossl_fail(e, EFOS_E_INTERNAL, "building the timestamp response");
	ERR_clear_error();   /* a rejected request leaves OpenSSL errors behind */
	BIO_free(in);
	TS_RESP_CTX_free(ctx);
	return resp;
}

static int resp_status(TS_RESP *resp)
{
	TS_STATUS_INFO *si = TS_RESP_get_status_info(resp);
	long v = si ? ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si)) : -1;
	return (int)v;
}

int signer_tsa_respond(struct signer_tsa *t, const unsigned char *req, size_t req_len,
		       signer_tsa_serial_fn serial, void *serial_arg, unsigned char **out,
		       size_t *out_len, int *pki_status, int *serial_failed, efos_err *e)
{
	struct serial_state ss = { .fn = serial, .arg = serial_arg };
	*out = NULL;
	*out_len = 0;
	*serial_failed = 0;
	if (req_len > TSA_MAX_REQUEST)
		req_len = TSA_MAX_REQUEST + 1;   /* still parsed: answered badDataFormat */
	TS_RESP *resp = answer(t, req, req_len, &ss, e);
	if (resp == NULL)
		return -1;
	*pki_status = resp_status(resp);
	if (ss.failed) {
		*serial_failed = 1;
		*e = ss.err;
	}
	unsigned char *der = NULL;
	int n = i2d_TS_RESP(resp, &der);
	TS_RESP_free(resp);
	if (n <= 0)
		return ossl_fail(e, EFOS_E_INTERNAL, "encoding the timestamp response");
	/* Hand out a malloc'd buffer (the HTTP layer frees with free()). */
	*out = malloc((size_t)n);
	if (*out == NULL) {
		OPENSSL_free(der);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	memcpy(*out, der, (size_t)n);
	OPENSSL_free(der);
	*out_len = (size_t)n;
	return 0;
}

/* A TimeStampReq for data hashed with md, certReq true, a random nonce: DER. */
static int build_request(const EVP_MD *md, const unsigned char *data, size_t len, unsigned char **der,
			 int *der_len, efos_err *e)
{
	unsigned char dig[EVP_MAX_MD_SIZE], nonce_bytes[8];
	unsigned int dl = 0;
	TS_REQ *rq = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *nonce = NULL;
	BIGNUM *bn = NULL;
	int rc = -1;
	*der = NULL;
	if (rq == NULL || mi == NULL || alg == NULL || !EVP_Digest(data, len, dig, &dl, md, NULL) ||
	    RAND_bytes(nonce_bytes, sizeof nonce_bytes) != 1) {
		ossl_fail(e, EFOS_E_INTERNAL, "building the timestamp request");
		goto out;
	}
	nonce_bytes[0] &= 0x7f;
	nonce_bytes[0] |= 0x40;
	X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL);
	if ((bn = BN_bin2bn(nonce_bytes, sizeof nonce_bytes, NULL)) == NULL ||
	    (nonce = BN_to_ASN1_INTEGER(bn, NULL)) == NULL || !TS_REQ_set_version(rq, 1) ||
	    !TS_MSG_IMPRINT_set_algo(mi, alg) || !TS_MSG_IMPRINT_set_msg(mi, dig, (int)dl) ||
	    !TS_REQ_set_msg_imprint(rq, mi) || !TS_REQ_set_nonce(rq, nonce) || !TS_REQ_set_cert_req(rq, 1) ||
	    (*der_len = i2d_TS_REQ(rq, der)) <= 0) {
		ossl_fail(e, EFOS_E_INTERNAL, "building the timestamp request");
		goto out;
	}
	rc = 0;
out:
	BN_free(bn);
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(rq);
	return rc;
}

int signer_tsa_stamp(struct signer_tsa *t, const EVP_MD *md, const unsigned char *data, size_t len,
		     signer_tsa_serial_fn serial, void *serial_arg, unsigned char **token,
		     size_t *token_len, efos_err *e)
{
	struct serial_state ss = { .fn = serial, .arg = serial_arg };
	unsigned char *req = NULL, *tok = NULL;
	int req_len = 0, rc = -1;
	TS_RESP *resp = NULL;
	*token = NULL;
	*token_len = 0;
	if (build_request(md, data, len, &req, &req_len, e) != 0)
		goto out;
	if ((resp = answer(t, req, (size_t)req_len, &ss, e)) == NULL)
		goto out;
	if (ss.failed) {
		*e = ss.err;
		efos_wrap(e, "timestamp");
		goto out;
	}
	if (resp_status(resp) != TS_STATUS_GRANTED || TS_RESP_get_token(resp) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "the timestamp authority refused our own request (status %d)",
			  resp_status(resp));
		goto out;
	}
	int n = i2d_PKCS7(TS_RESP_get_token(resp), &tok);
	if (n <= 0) {
		ossl_fail(e, EFOS_E_INTERNAL, "encoding the timestamp token");
		goto out;
	}
	if ((*token = malloc((size_t)n)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(*token, tok, (size_t)n);
	*token_len = (size_t)n;
	rc = 0;
out:
	OPENSSL_free(req);
	OPENSSL_free(tok);
	TS_RESP_free(resp);
	return rc;
}

/* ---- POST /tsa ---- */

void signer_tsa_http(struct http_request *req, struct http_response *resp)
{
	struct signer_tsa *t = signer_seal_tsa();
	const char *ct = http_req_header(req, "Content-Type");
	unsigned char *out = NULL;
	size_t out_len = 0;
	int status = -1, serial_failed = 0;
	efos_err e = { 0 };
	PGconn *c = NULL;
	if (t == NULL) {
		http_resp_error(resp, 503, "the timestamp authority is not configured on this node");
		return;
	}
	/* RFC 3161 §3.4: the query is application/timestamp-query. */
	if (ct == NULL || strncasecmp(ct, "application/timestamp-query", 27) != 0) {
		http_resp_error(resp, 415, "send a DER TimeStampReq with Content-Type: application/timestamp-query");
		return;
	}
	if (db_acquire(req->ctx->db, &c, &e) != 0) {
		http_resp_header(resp, "Retry-After", "5");
		http_resp_from_err(resp, &e);
		return;
	}
	int rc = signer_tsa_respond(t, req->body, req->body_len, signer_tsa_db_serial, c, &out, &out_len,
				    &status, &serial_failed, &e);
	db_release(req->ctx->db, c, db_conn_broken(c));
	if (rc != 0) {
		http_resp_from_err(resp, &e);
		return;
	}
	if (serial_failed)
		log_error("TSA: request rejected: %s", e.msg);
	else if (status != TS_STATUS_GRANTED && status != TS_STATUS_GRANTED_WITH_MODS)
		log_info("TSA: request rejected (PKIStatus %d)", status);
	http_resp_status(resp, 200);
	http_resp_body_take(resp, "application/timestamp-reply", (char *)out, out_len);
}
