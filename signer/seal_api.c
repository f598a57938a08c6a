/* The seal API (seal_api.h, docs/seal-api.md).
 *
 * A request goes: who is calling (signer/api_client.h: the TLS client certificate in
 * api_clients, active, its organisation active, the certificate not revoked or on hold) ->
 * what is asked (JSON or raw body, bounded, checked field by field) -> may it (the key name
 * is among the client's key_names, the format among its formats, the key is its
 * organisation's and active) -> sign (seal.c, key in the HSM; B-T through the TSA with a
 * serial from the same database connection) ->
 * audit "seal.sign" with the document digest in a transaction -> answer. A refusal of a known
 * client is audited too ("denied").
 *
 * Seal keys are found in the HSM on first use and kept (seal_keys.id, checked against the
 * SHA-256 of cert_der so that a re-certified key is reloaded). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "core/audit.h"
#include "core/base64.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/hex.h"
#include "core/log.h"
#include "hsm/bridge.h"
#include "hsm/hsm.h"
#include "signer/api_client.h"
#include "signer/pades.h"
#include "signer/seal.h"
#include "signer/seal_api.h"
#include "signer/tsa.h"
#include "signer/xades.h"

#define KEY_NAME_MAX 64
#define MAX_CHAIN 10

/* ---------------------------------------------------------------------------- the service */

struct cached_key {
	long id;
	unsigned char cert_sha256[32];
	struct hsm_key *hk;
	EVP_PKEY *pkey;
	X509 *cert;
	STACK_OF(X509) *chain;
	struct cached_key *next;
};

static struct {
	pthread_mutex_t mu;
	struct hsm_key *tsa_hk;
	EVP_PKEY *tsa_pkey;
	struct signer_tsa *tsa;
	struct cached_key *keys;   /* never freed before stop: a request may be using one */
} svc = { .mu = PTHREAD_MUTEX_INITIALIZER };

struct signer_tsa *signer_seal_tsa(void)
{
	return svc.tsa;
}

static int load_pem_chain(const char *path, X509 **leaf, STACK_OF(X509) **chain, efos_err *e)
{
	FILE *fp = fopen(path, "r");
	X509 *x;
	*leaf = NULL;
	*chain = sk_X509_new_null();
	if (fp == NULL || *chain == NULL) {
		if (fp)
			fclose(fp);
		return efos_fail(e, EFOS_E_CONFIG, "%s: cannot read", path);
	}
	while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
		if (*leaf == NULL)
			*leaf = x;
		else if (sk_X509_num(*chain) >= MAX_CHAIN || !sk_X509_push(*chain, x)) {
			X509_free(x);
			break;
		}
	}
	ERR_clear_error();
	fclose(fp);
	if (*leaf == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "%s: no PEM certificate in it", path);
	return 0;
}

int signer_seal_service_start(struct efos_ctx *ctx, efos_err *e)
{
	const struct efos_config *c = ctx->cfg;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	int rc = -1;
	if (c->signer_tsa_key == NULL) {
		if (c->signer_tsa_cert != NULL)
			return efos_fail(e, EFOS_E_CONFIG, "signer.tsa_cert is set but signer.tsa_key is not");
		log_warn("signer.tsa_key is not set: /tsa and B-T signatures answer 503");
		return 0;
	}
	if (c->signer_tsa_cert == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "signer.tsa_key needs signer.tsa_cert (the TSA certificate "
				 "and its chain, PEM)");
	if (hsm_key_find(ctx->hsm, c->signer_tsa_key, &svc.tsa_hk, e) != 0) {
		efos_wrap(e, "signer.tsa_key %s", c->signer_tsa_key);
		goto out;
	}
	if ((svc.tsa_pkey = hsm_evp_pkey(svc.tsa_hk, e)) == NULL ||
	    load_pem_chain(c->signer_tsa_cert, &cert, &chain, e) != 0)
		goto out;
	struct signer_tsa_params tp = {
		.cert = cert, .chain = chain, .key = svc.tsa_pkey, .policy_oid = c->signer_tsa_policy,
		.accuracy_ms = c->signer_tsa_accuracy_ms,
	};
	if (signer_tsa_new(&tp, &svc.tsa, e) != 0) {
		efos_wrap(e, "signer.tsa_cert %s", c->signer_tsa_cert);
		goto out;
	}
	log_info("timestamp authority ready: policy %s", c->signer_tsa_policy);
	rc = 0;
out:
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	if (rc != 0)
		signer_seal_service_stop();
	return rc;
}

void signer_seal_service_stop(void)
{
	pthread_mutex_lock(&svc.mu);
	signer_tsa_free(svc.tsa);
	svc.tsa = NULL;
	EVP_PKEY_free(svc.tsa_pkey);
	svc.tsa_pkey = NULL;
	hsm_key_free(svc.tsa_hk);
	svc.tsa_hk = NULL;
	while (svc.keys != NULL) {
		struct cached_key *k = svc.keys;
		svc.keys = k->next;
		EVP_PKEY_free(k->pkey);
		hsm_key_free(k->hk);
		X509_free(k->cert);
		sk_X509_pop_free(k->chain, X509_free);
		free(k);
	}
	pthread_mutex_unlock(&svc.mu);
}

/* ---------------------------------------------------------------------------- helpers */

static bool valid_key_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > KEY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/* Is word in the comma-separated list? */
static bool in_list(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; *p;) {
		size_t l = strcspn(p, ",");
		if (l == wl && strncmp(p, word, wl) == 0)
			return true;
		p += l;
		if (*p == ',')
			p++;
	}
	return false;
}

static unsigned char *unescape_bytea(const char *v, size_t *len)
{
	return PQunescapeBytea((const unsigned char *)v, len);
}

/* ---------------------------------------------------------------------------- the request */

struct sign_req {
	bool json;                     /* answer in JSON (the request was JSON) */
	char format[16];
	char packaging_name[16];       /* as asked: detached, enveloping, enveloped (xades) */
	enum seal_packaging packaging;
	const EVP_MD *md;
	const unsigned char *document; /* points into body or doc_buf */
	size_t document_len;
	unsigned char *doc_buf;        /* decoded base64 */
	unsigned char *digest;
	size_t digest_len;
	char key[KEY_NAME_MAX + 1];
	bool timestamp;
	/* xades only */
	char reference_uri[1025];      /* detached: the Reference URI ("" when not given) */
	char mime_type[128];           /* DataObjectFormat/MimeType ("" when not given) */
	bool document_is_xml;          /* enveloping: the XML itself in ds:Object, not base64 */
};

static void sign_req_free(struct sign_req *s)
{
	free(s->doc_buf);
	free(s->digest);
}

/* Which packagings a format has is checked in parse_request, once the format is known. */
static int parse_packaging(const char *v, struct sign_req *s, char *why, size_t cap)
{
	if (!strcmp(v, "detached"))
		s->packaging = SEAL_DETACHED;
	else if (!strcmp(v, "enveloping") || !strcmp(v, "enveloped"))
		s->packaging = SEAL_ENVELOPING;
	else
		return snprintf(why, cap, "packaging \"%.40s\" is not supported (detached, enveloping, or enveloped "
				"for xades)", v), -1;
	snprintf(s->packaging_name, sizeof s->packaging_name, "%s", v);
	return 0;
}

/* xades detached: reference_uri as given, or document_name percent-encoded into one. */
static int parse_reference(const char *k, const char *v, struct sign_req *s, char *why, size_t cap)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t o = 0;
	if (s->reference_uri[0] != '\0')
		return snprintf(why, cap, "give one of \"reference_uri\" and \"document_name\""), -1;
	if (v[0] == '\0')
		return snprintf(why, cap, "\"%s\" is empty", k), -1;
	for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
		bool keep = !strcmp(k, "reference_uri") || isalnum(*c) || strchr("-._~/", *c) != NULL;
		if (o + 4 > sizeof s->reference_uri)
			return snprintf(why, cap, "\"%s\" is too long (at most 1024 characters)", k), -1;
		if (keep) {
			s->reference_uri[o++] = (char)*c;
		} else {
			s->reference_uri[o++] = '%';
			s->reference_uri[o++] = hexd[*c >> 4];
			s->reference_uri[o++] = hexd[*c & 15];
		}
	}
	s->reference_uri[o] = '\0';
	return 0;
}

static int parse_mime(const char *v, struct sign_req *s, char *why, size_t cap)
{
	if (strlen(v) >= sizeof s->mime_type)
		return snprintf(why, cap, "\"mime_type\" is too long"), -1;
	snprintf(s->mime_type, sizeof s->mime_type, "%s", v);
	return 0;
}

static int parse_format(const char *v, struct sign_req *s, char *why, size_t cap)
{
	if (!strcmp(v, "cades")) {
		snprintf(s->format, sizeof s->format, "cades");
		return 0;
	}
	if (!strcmp(v, "xades") || !strcmp(v, "pades")) {
		snprintf(s->format, sizeof s->format, "%s", v);
		return 0;
	}
	return snprintf(why, cap, "format \"%.40s\" is not supported (cades, xades, pades)", v), -1;
}

static int parse_md(const char *v, struct sign_req *s, char *why, size_t cap)
{
	if ((s->md = seal_md_by_name(v)) == NULL)
		return snprintf(why, cap, "digest_algorithm \"%.40s\" is not supported (sha256, sha384, sha512)", v), -1;
	return 0;
}

static int parse_key(const char *v, struct sign_req *s, char *why, size_t cap)
{
	if (!valid_key_name(v))
		return snprintf(why, cap, "key \"%.70s\" is not a key name (1 to %d letters, digits, . _ -)", v,
				KEY_NAME_MAX), -1;
	snprintf(s->key, sizeof s->key, "%s", v);
	return 0;
}

static int parse_json(struct http_request *req, struct sign_req *s, char *why, size_t cap)
{
	json_error_t je;
	json_t *root = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	int rc = -1;
	if (root == NULL)
		return snprintf(why, cap, "the request body is not valid JSON: %s (line %d, column %d)", je.text,
				je.line, je.column), -1;
	if (!json_is_object(root)) {
		snprintf(why, cap, "the request body must be a JSON object");
		goto out;
	}
	const char *k;
	json_t *v;
	const char *document = NULL, *digest = NULL;
	json_object_foreach(root, k, v) {
		bool str = json_is_string(v);
		const char *sv = str ? json_string_value(v) : NULL;
		if (!strcmp(k, "format") && str) {
			if (parse_format(sv, s, why, cap) != 0)
				goto out;
		} else if (!strcmp(k, "packaging") && str) {
			if (parse_packaging(sv, s, why, cap) != 0)
				goto out;
		} else if (!strcmp(k, "digest_algorithm") && str) {
			if (parse_md(sv, s, why, cap) != 0)
				goto out;
		} else if (!strcmp(k, "key") && str) {
			if (parse_key(sv, s, why, cap) != 0)
				goto out;
		} else if (!strcmp(k, "document") && str) {
			document = sv;
		} else if (!strcmp(k, "digest") && str) {
			digest = sv;
		} else if (!strcmp(k, "timestamp") && json_is_boolean(v)) {
			s->timestamp = json_is_true(v);
		} else if ((!strcmp(k, "reference_uri") || !strcmp(k, "document_name")) && str) {
			if (parse_reference(k, sv, s, why, cap) != 0)
				goto out;
		} else if (!strcmp(k, "mime_type") && str) {
			if (parse_mime(sv, s, why, cap) != 0)
				goto out;
		} else if (!strcmp(k, "document_is_xml") && json_is_boolean(v)) {
			s->document_is_xml = json_is_true(v);
		} else if (!strcmp(k, "format") || !strcmp(k, "packaging") || !strcmp(k, "digest_algorithm") ||
			   !strcmp(k, "key") || !strcmp(k, "document") || !strcmp(k, "digest") ||
			   !strcmp(k, "reference_uri") || !strcmp(k, "document_name") || !strcmp(k, "mime_type")) {
			snprintf(why, cap, "\"%s\" must be a string", k);
			goto out;
		} else if (!strcmp(k, "timestamp") || !strcmp(k, "document_is_xml")) {
			snprintf(why, cap, "\"%s\" must be true or false", k);
			goto out;
		} else {
			snprintf(why, cap, "unknown member \"%.60s\" (format, packaging, document, digest, "
				 "digest_algorithm, key, timestamp; xades: reference_uri, document_name, mime_type, "
				 "document_is_xml)", k);
			goto out;
		}
	}
	if ((document == NULL) == (digest == NULL)) {
		snprintf(why, cap, "give exactly one of \"document\" (base64 of the document) and \"digest\" "
			 "(base64 of its digest)");
		goto out;
	}
	if (document != NULL) {
		if ((s->doc_buf = b64_decode(document, &s->document_len)) == NULL) {
			snprintf(why, cap, "\"document\" is not base64");
			goto out;
		}
		s->document = s->doc_buf;
	} else if ((s->digest = b64_decode(digest, &s->digest_len)) == NULL || s->digest_len == 0) {
		snprintf(why, cap, "\"digest\" is not base64");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* Raw body: the document (or with input=digest, the digest's bytes); the rest in the query. */
static int parse_raw(struct http_request *req, struct sign_req *s, char *why, size_t cap)
{
	const char *v;
	if ((v = http_req_query(req, "format")) != NULL && parse_format(v, s, why, cap) != 0)
		return -1;
	if ((v = http_req_query(req, "packaging")) != NULL && parse_packaging(v, s, why, cap) != 0)
		return -1;
	if ((v = http_req_query(req, "digest_algorithm")) != NULL && parse_md(v, s, why, cap) != 0)
		return -1;
	if ((v = http_req_query(req, "key")) != NULL && parse_key(v, s, why, cap) != 0)
		return -1;
	if ((v = http_req_query(req, "reference_uri")) != NULL && parse_reference("reference_uri", v, s, why, cap) != 0)
		return -1;
	if ((v = http_req_query(req, "document_name")) != NULL && parse_reference("document_name", v, s, why, cap) != 0)
		return -1;
	if ((v = http_req_query(req, "mime_type")) != NULL && parse_mime(v, s, why, cap) != 0)
		return -1;
	if ((v = http_req_query(req, "document_is_xml")) != NULL) {
		if (!strcmp(v, "true") || !strcmp(v, "1"))
			s->document_is_xml = true;
		else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
			return snprintf(why, cap, "document_is_xml=%.20s: expected true or false", v), -1;
	}
	if ((v = http_req_query(req, "timestamp")) != NULL) {
		if (!strcmp(v, "true") || !strcmp(v, "1"))
			s->timestamp = true;
		else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
			return snprintf(why, cap, "timestamp=%.20s: expected true or false", v), -1;
	}
	v = http_req_query(req, "input");
	if (v == NULL || !strcmp(v, "document")) {
		s->document = req->body;
		s->document_len = req->body_len;
	} else if (!strcmp(v, "digest")) {
		if (req->body_len == 0 || req->body_len > EVP_MAX_MD_SIZE)
			return snprintf(why, cap, "input=digest: the body must be the digest's bytes (%zu bytes given)",
					req->body_len), -1;
		if ((s->digest = malloc(req->body_len)) == NULL)
			return snprintf(why, cap, "out of memory"), -1;
		memcpy(s->digest, req->body, req->body_len);
		s->digest_len = req->body_len;
	} else {
		return snprintf(why, cap, "input=%.20s: expected document or digest", v), -1;
	}
	return 0;
}

static int parse_request(struct http_request *req, struct sign_req *s, char *why, size_t cap)
{
	const char *ct = http_req_header(req, "Content-Type");
	snprintf(s->format, sizeof s->format, "cades");
	snprintf(s->packaging_name, sizeof s->packaging_name, "detached");
	s->packaging = SEAL_DETACHED;
	s->md = EVP_sha256();
	s->json = ct != NULL && strncasecmp(ct, "application/json", 16) == 0;
	if (ct != NULL && strncasecmp(ct, "application/pdf", 15) == 0)
		snprintf(s->format, sizeof s->format, "pades");   /* a raw PDF: PAdES unless format says otherwise */
	int rc = s->json ? parse_json(req, s, why, cap) : parse_raw(req, s, why, cap);
	if (rc != 0)
		return -1;
	if (!strcmp(s->format, "pades") && (s->digest != NULL || s->packaging != SEAL_DETACHED))
		return snprintf(why, cap, "a PAdES signature goes inside the PDF: send the PDF as \"document\" (or "
				"as the body, Content-Type application/pdf), without \"digest\" or \"packaging\""), -1;
	if (s->key[0] == '\0')
		return snprintf(why, cap, "name the seal key to sign with (\"key\")"), -1;
	if (strcmp(s->format, "xades") == 0) {
		if (s->reference_uri[0] != '\0' && strcmp(s->packaging_name, "detached") != 0)
			return snprintf(why, cap, "reference_uri/document_name name the document of a detached signature; "
					"this one is %s", s->packaging_name), -1;
		if (strcmp(s->packaging_name, "detached") == 0 && s->reference_uri[0] == '\0')
			return snprintf(why, cap, "a detached xades signature refers to the document by name: give "
					"\"document_name\" or \"reference_uri\""), -1;
		if (s->document_is_xml && strcmp(s->packaging_name, "enveloping") != 0)
			return snprintf(why, cap, "document_is_xml applies to enveloping signatures (enveloped "
					"documents are always XML)"), -1;
	} else {
		if (!strcmp(s->packaging_name, "enveloped"))
			return snprintf(why, cap, "packaging \"enveloped\" is for xades; %s is detached or enveloping",
					s->format), -1;
		if (s->reference_uri[0] != '\0' || s->mime_type[0] != '\0' || s->document_is_xml)
			return snprintf(why, cap, "reference_uri, document_name, mime_type and document_is_xml are "
					"xades options"), -1;
	}
	if (s->digest != NULL && s->packaging != SEAL_DETACHED)
		return snprintf(why, cap, "a hash-only request (\"digest\") can only make a detached signature"), -1;
	if (s->digest != NULL && s->digest_len != (size_t)EVP_MD_get_size(s->md))
		return snprintf(why, cap, "the digest is %zu bytes long; a %s digest is %d bytes", s->digest_len,
				seal_md_name(s->md), EVP_MD_get_size(s->md)), -1;
	return 0;
}

/* ---------------------------------------------------------------------------- the key */

static int parse_chain_der(const unsigned char *d, size_t n, STACK_OF(X509) **out)
{
	*out = sk_X509_new_null();
	if (*out == NULL)
		return -1;
	const unsigned char *p = d, *end = d + n;
	while (p < end) {
		X509 *x = d2i_X509(NULL, &p, (long)(end - p));
		if (x == NULL || sk_X509_num(*out) >= MAX_CHAIN || !sk_X509_push(*out, x)) {
			X509_free(x);
			return -1;
		}
	}
	return 0;
}

/* The cached key for a seal_keys row, loading it from the HSM if needed. Borrowed. */
static struct cached_key *key_get(struct hsm *h, long id, const char *uri, const unsigned char *cert_der,
				  size_t cert_len, const unsigned char *chain_der, size_t chain_len, efos_err *e)
{
	unsigned char sha[32];
	struct cached_key *k;
	if (!EVP_Digest(cert_der, cert_len, sha, NULL, EVP_sha256(), NULL))
		return efos_fail(e, EFOS_E_INTERNAL, "SHA-256"), NULL;
	pthread_mutex_lock(&svc.mu);
	for (k = svc.keys; k != NULL; k = k->next)
		if (k->id == id && memcmp(k->cert_sha256, sha, 32) == 0)
			break;
	if (k != NULL)
		goto out;
	if ((k = calloc(1, sizeof *k)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	k->id = id;
	memcpy(k->cert_sha256, sha, 32);
	const unsigned char *p = cert_der;
	if ((k->cert = d2i_X509(NULL, &p, (long)cert_len)) == NULL ||
	    parse_chain_der(chain_der, chain_len, &k->chain) != 0) {
		efos_fail(e, EFOS_E_INTERNAL, "seal key %ld: its stored certificate or chain does not parse", id);
		goto bad;
	}
	if (hsm_key_find(h, uri, &k->hk, e) != 0) {
		efos_wrap(e, "seal key %ld (%s)", id, uri);
		if (e->code == EFOS_E_NOTFOUND)
			e->code = EFOS_E_INTERNAL;   /* the row names a key the HSM does not have */
		goto bad;
	}
	if ((k->pkey = hsm_evp_pkey(k->hk, e)) == NULL)
		goto bad;
	if (X509_check_private_key(k->cert, k->pkey) != 1) {
		efos_fail(e, EFOS_E_INTERNAL, "seal key %ld: the certificate does not belong to the key %s", id, uri);
		goto bad;
	}
	k->next = svc.keys;
	svc.keys = k;
	goto out;
bad:
	ERR_clear_error();
	EVP_PKEY_free(k->pkey);
	hsm_key_free(k->hk);
	X509_free(k->cert);
	sk_X509_pop_free(k->chain, X509_free);
	free(k);
	k = NULL;
out:
	pthread_mutex_unlock(&svc.mu);
	return k;
}

struct key_row {
	long id;
	struct cached_key *ck;
	char cert_status[16];
};

/* 0 with k set; else the response is written and -1 returned (*denied: a 403 to audit). */
static int key_lookup(PGconn *c, struct http_request *req, struct http_response *resp,
		      const struct signer_api_client *cl, const struct sign_req *s, struct key_row *k, bool *denied)
{
	efos_err e = { 0 };
	char org[24];
	*denied = false;
	if (!in_list(cl->formats, s->format)) {
		*denied = true;
		http_resp_error(resp, 403, "this API client may not make %s signatures", s->format);
		return -1;
	}
	if (!in_list(cl->key_names, s->key)) {
		*denied = true;
		http_resp_error(resp, 403, "this API client may not use the seal key \"%s\"", s->key);
		return -1;
	}
	snprintf(org, sizeof org, "%ld", cl->org_id);
	const char *params[] = { org, s->key };
	PGresult *r = db_exec(c,
		"SELECT id, key_uri, cert_der, chain_der, status, "
		"coalesce((SELECT status FROM certificates WHERE cert_sha256 = sha256(k.cert_der)), '') "
		"FROM seal_keys k WHERE org_id = $1 AND name = $2", 2, params, &e);
	if (r == NULL) {
		http_resp_from_err(resp, &e);
		return -1;
	}
	int rc = -1;
	size_t cl_len = 0, ch_len = 0;
	unsigned char *cert = NULL, *chain = NULL;
	if (PQntuples(r) != 1) {
		http_resp_error(resp, 404, "organisation %s has no seal key \"%s\"", cl->orgnr, s->key);
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 4), "active") != 0) {
		http_resp_error(resp, 409, "the seal key \"%s\" is disabled", s->key);
		goto out;
	}
	const char *cs = PQgetvalue(r, 0, 5);
	if (cs[0] != '\0' && strcmp(cs, "good") != 0) {
		http_resp_error(resp, 409, "the certificate of the seal key \"%s\" is %s", s->key,
				strcmp(cs, "hold") == 0 ? "suspended (on hold)" : "revoked");
		goto out;
	}
	k->id = atol(PQgetvalue(r, 0, 0));
	if ((cert = unescape_bytea(PQgetvalue(r, 0, 2), &cl_len)) == NULL ||
	    (chain = unescape_bytea(PQgetvalue(r, 0, 3), &ch_len)) == NULL) {
		http_resp_error(resp, 500, "internal error; quote the request id when reporting it");
		goto out;
	}
	if ((k->ck = key_get(req->ctx->hsm, k->id, PQgetvalue(r, 0, 1), cert, cl_len, chain, ch_len, &e)) == NULL) {
		http_resp_from_err(resp, &e);
		goto out;
	}
	if (X509_cmp_time(X509_get0_notAfter(k->ck->cert), NULL) < 0 ||
	    X509_cmp_time(X509_get0_notBefore(k->ck->cert), NULL) > 0) {
		http_resp_error(resp, 409, "the certificate of the seal key \"%s\" is not valid now (expired or "
				"not yet valid); an operator issues a new one", s->key);
		goto out;
	}
	rc = 0;
out:
	PQfreemem(cert);
	PQfreemem(chain);
	PQclear(r);
	return rc;
}

/* ---------------------------------------------------------------------------- audit */

static int audit_sign(PGconn *c, struct http_request *req, const struct signer_api_client *cl, const struct sign_req *s,
		      const char *outcome, const struct seal_result *res, const char *why, efos_err *e)
{
	char object[128], dig[2 * EVP_MAX_MD_SIZE + 1] = "";
	snprintf(object, sizeof object, "%s/%s", cl->orgnr, s->key[0] ? s->key : "-");
	if (res != NULL)
		hex_encode(res->digest, res->digest_len, dig);
	json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:I, s:s}",
			      "format", s->format,
			      "packaging", s->packaging_name,
			      "digest_algorithm", s->md ? seal_md_name(s->md) : "",
			      "document_digest", dig,
			      "hash_only", s->digest != NULL,
			      "timestamp", s->timestamp,
			      "api_client", (json_int_t)cl->id,
			      "request_id", req->request_id ? req->request_id : "");
	if (d != NULL && why != NULL)
		json_object_set_new(d, "reason", json_string(why));
	if (d != NULL && res != NULL)
		json_object_set_new(d, "document_bytes", json_integer(s->digest ? -1 : (json_int_t)s->document_len));
	char *details = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(d);
	if (details == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	const struct efos_config *cfg = req->ctx->cfg;
	struct audit_event ev = {
		.node = cfg->node_name, .actor = cl->subject, .action = "seal.sign", .object = object,
		.outcome = outcome, .details = details,
	};
	/* One statement, so its own transaction: no BEGIN/COMMIT round trips around it. */
	int rc = audit_append(c, &ev, e);
	free(details);
	return rc;
}

/* ---------------------------------------------------------------------------- signing */

static int timestamp_cb(void *arg, const EVP_MD *md, const unsigned char *data, size_t len,
			unsigned char **token, size_t *token_len, efos_err *e)
{
	struct signer_tsa *tsa = signer_seal_tsa();
	if (tsa == NULL)
		return efos_fail(e, EFOS_E_UNAVAILABLE, "the timestamp authority is not configured here");
	return signer_tsa_stamp(tsa, md, data, len, signer_tsa_db_serial, arg, token, token_len, e);
}

static void respond(struct http_request *req, struct http_response *resp, const struct sign_req *s,
		    const struct seal_result *res, const struct key_row *k)
{
	const char *ctype = !strcmp(s->format, "xades") ? "application/xml"
			    : !strcmp(s->format, "pades") ? "application/pdf"
			    : s->packaging == SEAL_DETACHED ? "application/pkcs7-signature"
							    : "application/pkcs7-mime; smime-type=signed-data";
	if (!s->json) {
		http_resp_status(resp, 200);
		if (http_resp_body(resp, ctype, res->der, res->der_len) != 0)
			http_resp_error(resp, 500, "out of memory");
		return;
	}
	unsigned char *cder = NULL;
	int cn = i2d_X509(k->ck->cert, &cder);
	char *sig = b64_encode(res->der, res->der_len);
	char *dig = b64_encode(res->digest, res->digest_len);
	char *cert = cn > 0 ? b64_encode(cder, (size_t)cn) : NULL;
	OPENSSL_free(cder);
	json_t *j = (sig && dig && cert) ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		"format", s->format, "level", res->timestamped ? "B-T" : "B-B",
		"packaging", s->packaging_name,
		"digest_algorithm", seal_md_name(s->md), "document_digest", dig, "key", s->key,
		"signature", sig, "signature_content_type", ctype, "signer_certificate", cert,
		"request_id", req->request_id ? req->request_id : "") : NULL;
	char *body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	free(sig);
	free(dig);
	free(cert);
	if (body == NULL) {
		http_resp_error(resp, 500, "out of memory");
		return;
	}
	http_resp_status(resp, 200);
	http_resp_body_take(resp, "application/json", body, strlen(body));
}

/* XAdES (signer/xades.h) with the key's HSM handle; the signed XML goes out in res->der like a
 * CMS would, so that audit and answer are shared. */
static int sign_xades(PGconn *c, const struct sign_req *s, const struct key_row *k, struct seal_result *res,
		      efos_err *e)
{
	static const unsigned char empty[1];
	struct xades_signer xs = { .cert = k->ck->cert, .chain = k->ck->chain, .key = k->ck->hk };
	struct xades_params xp = {
		.packaging = !strcmp(s->packaging_name, "enveloped") ? XADES_ENVELOPED
			     : !strcmp(s->packaging_name, "enveloping") ? XADES_ENVELOPING : XADES_DETACHED,
		.md = s->md, .document = s->document, .document_len = s->document_len,
		.document_is_xml = s->document_is_xml, .digest = s->digest, .digest_len = s->digest_len,
		.reference_uri = s->reference_uri[0] ? s->reference_uri : NULL,
		.mime_type = s->mime_type[0] ? s->mime_type : NULL,
		.timestamp = s->timestamp ? timestamp_cb : NULL, .timestamp_arg = c,
	};
	struct xades_result xr = { 0 };
	if (xp.document == NULL && xp.digest == NULL)   /* raw body of 0 bytes: an empty document */
		xp.document = empty;
	if (xades_sign(&xs, &xp, &xr, e) != 0)
		return -1;
	res->der = xr.xml;
	res->der_len = xr.xml_len;
	memcpy(res->digest, xr.digest, xr.digest_len);
	res->digest_len = xr.digest_len;
	res->timestamped = xr.timestamped;
	return 0;
}

/* PAdES (signer/pades.h): the signed PDF goes out in res->der like a CMS would, and the
 * audit's document digest is that of the PDF as received, so that audit and answer are shared. */
static int sign_pades(const struct sign_req *s, const struct key_row *k, PGconn *c, struct seal_result *res,
		      efos_err *e)
{
	struct seal_signer signer = { .cert = k->ck->cert, .chain = k->ck->chain, .key = k->ck->pkey };
	struct pades_params pp = {
		.pdf = s->document, .pdf_len = s->document_len, .md = s->md,
		.timestamp = s->timestamp ? timestamp_cb : NULL, .timestamp_arg = c,
	};
	struct pades_result pr = { 0 };
	if (s->document == NULL)
		return efos_fail(e, EFOS_E_INVALID, "the request has no PDF");
	if (pades_sign(&signer, &pp, &pr, e) != 0)
		return -1;
	res->der = pr.pdf;
	res->der_len = pr.pdf_len;
	memcpy(res->digest, pr.document_digest, pr.document_digest_len);
	res->digest_len = pr.document_digest_len;
	res->timestamped = pr.timestamped;
	return 0;
}

static void handle_sign(struct http_request *req, struct http_response *resp)
{
	struct sign_req s = { 0 };
	struct signer_api_client cl = { 0 };
	struct key_row k = { 0 };
	struct seal_result res = { 0 };
	efos_err e = { 0 };
	PGconn *c = NULL;
	bool broken = false, denied = false;
	char why[512];

	if (db_acquire(req->ctx->db, &c, &e) != 0) {
		http_resp_header(resp, "Retry-After", "5");
		http_resp_from_err(resp, &e);
		return;
	}
	if (signer_api_client_authenticate(c, req, resp, "seal API", &cl) != 0)
		goto out;
	if (parse_request(req, &s, why, sizeof why) != 0) {
		http_resp_error(resp, 400, "%s", why);
		goto out;
	}
	if (key_lookup(c, req, resp, &cl, &s, &k, &denied) != 0) {
		if (denied && audit_sign(c, req, &cl, &s, "denied", NULL, "key or format not allowed", &e) != 0)
			log_error("seal API: audit of a refusal failed: %s", e.msg);
		goto out;
	}
	if (s.timestamp && signer_seal_tsa() == NULL) {
		http_resp_error(resp, 503, "timestamped (B-T) signatures are not available: the timestamp "
				"authority is not configured on this node");
		goto out;
	}
	if (!strcmp(s.format, "xades")) {
		if (sign_xades(c, &s, &k, &res, &e) != 0) {
			if (e.code == EFOS_E_UNAVAILABLE)
				http_resp_header(resp, "Retry-After", "5");
			http_resp_from_err(resp, &e);
			goto out;
		}
		goto signed_ok;
	}
	struct seal_signer signer = { .cert = k.ck->cert, .chain = k.ck->chain, .key = k.ck->pkey };
	struct seal_cades_params p = {
		.packaging = s.packaging, .md = s.md, .document = s.document, .document_len = s.document_len,
		.digest = s.digest, .digest_len = s.digest_len,
		.timestamp = s.timestamp ? timestamp_cb : NULL, .timestamp_arg = c,
	};
	if (s.document == NULL && s.digest == NULL) {   /* raw body of 0 bytes: an empty document */
		static const unsigned char empty[1];
		p.document = empty;
	}
	if (!strcmp(s.format, "pades") ? sign_pades(&s, &k, c, &res, &e) != 0
					: seal_cades_sign(&signer, &p, &res, &e) != 0) {
		if (e.code == EFOS_E_UNAVAILABLE)
			http_resp_header(resp, "Retry-After", "5");
		http_resp_from_err(resp, &e);
		broken = db_conn_broken(c);
		goto out;
	}
signed_ok:
	/* The signature leaves only once its audit event is committed. */
	if (audit_sign(c, req, &cl, &s, "success", &res, NULL, &e) != 0) {
		broken = db_conn_broken(c);
		http_resp_header(resp, "Retry-After", "5");
		http_resp_error(resp, 503, "the signature could not be recorded in the audit log; try again");
		log_error("seal API: audit failed, signature withheld: %s", e.msg);
		goto out;
	}
	respond(req, resp, &s, &res, &k);
out:
	if (!broken)
		broken = db_conn_broken(c);
	db_release(req->ctx->db, c, broken);
	seal_result_free(&res);
	sign_req_free(&s);
}

/* ---------------------------------------------------------------------------- routes */

const struct http_route signer_seal_routes[] = {
	{ "POST", "/api/v1/sign", HTTP_ROUTE_CLIENT_CERT, handle_sign, "seal_sign" },
	{ "POST", "/tsa", 0, signer_tsa_http, "tsa" },
};
const size_t signer_seal_n_routes = sizeof signer_seal_routes / sizeof signer_seal_routes[0];
