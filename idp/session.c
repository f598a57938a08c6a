/* SSO sessions and remembered release approvals (idp/session.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "core/audit.h"
#include "core/db.h"
#include "idp/login_tx.h"
#include "idp/session.h"

static void hex32(const unsigned char in[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[64] = '\0';
}

static int unhex32(const char *s, unsigned char out[32])
{
	/* PostgreSQL's bytea text output: \x + hex */
	if (s[0] == '\\' && s[1] == 'x')
		s += 2;
	if (strlen(s) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

int idp_cert_sha256(X509 *x, unsigned char out[32])
{
	unsigned int n = 32;
	return X509_digest(x, EVP_sha256(), out, &n) == 1 ? 0 : -1;
}

void idp_sso_session_free(struct idp_sso_session *s)
{
	if (s == NULL)
		return;
	X509_free(s->card_cert);
	*s = (struct idp_sso_session){ 0 };
}

int idp_session_create(PGconn *c, const struct idp_subject *subj, bool hok, int max_age_s, char token[65],
		       time_t *expires_at, efos_err *e)
{
	if (subj == NULL || subj->card_cert == NULL || subj->loa == NULL || subj->person_id <= 0)
		return efos_fail(e, EFOS_E_INVALID, "an SSO session needs a card login");
	if (max_age_s <= 0 || max_age_s > IDP_SSO_MAX_AGE_LIMIT_S)
		max_age_s = IDP_SSO_MAX_AGE_LIMIT_S;
	if (idp_random_hex(token, 32, e) != 0)
		return -1;
	unsigned char th[32], ch[32];
	idp_sha256_str(token, th);
	if (idp_cert_sha256(subj->card_cert, ch) != 0)
		return efos_fail(e, EFOS_E_INTERNAL, "cannot hash the card certificate");
	unsigned char *der = NULL;
	int n = i2d_X509(subj->card_cert, &der);
	if (n <= 0)
		return efos_fail(e, EFOS_E_INTERNAL, "cannot encode the card certificate");
	char *derhex = malloc(2 * (size_t)n + 1);
	if (derhex == NULL) {
		OPENSSL_free(der);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < n; i++) {
		derhex[2 * i] = hx[der[i] >> 4];
		derhex[2 * i + 1] = hx[der[i] & 15];
	}
	derhex[2 * n] = '\0';
	OPENSSL_free(der);
	char thx[65], chx[65], pid[24], inst[24], exp[24];
	hex32(th, thx);
	hex32(ch, chx);
	snprintf(pid, sizeof pid, "%ld", subj->person_id);
	snprintf(inst, sizeof inst, "%lld", (long long)subj->authn_instant);
	*expires_at = subj->authn_instant + max_age_s;
	snprintf(exp, sizeof exp, "%lld", (long long)*expires_at);
	const char *p[] = { thx, pid, chx, derhex, subj->loa, hok ? "true" : "false", inst, exp };
	PGresult *r = db_exec(c, "INSERT INTO idp_sso_sessions (token_hash, person_id, card_cert_sha256, card_cert, loa, "
			      "hok, authn_instant, expires_at) VALUES (decode($1, 'hex'), $2, decode($3, 'hex'), "
			      "decode($4, 'hex'), $5, $6, to_timestamp($7), to_timestamp($8))", 8, p, e);
	free(derhex);
	if (r == NULL)
		return efos_wrap(e, "storing the SSO session");
	PQclear(r);
	return 0;
}

/* Parsed card certificates by the SHA-256 of their DER, shared by the threads: every SSO login
 * reads its session's certificate, and parsing it (d2i_X509, which decodes the public key
 * through OpenSSL 3's decoders) was ≈ 10 % of an SSO login's CPU (docs/performance.md). The
 * key is the hash of the bytes just read, so a hit is the same certificate; a reused X509
 * also keeps OpenSSL's cached extensions for the validation that follows. A slot is replaced
 * on a collision; each holds one reference. */
#define CARD_CACHE_SLOTS 64
static struct {
	unsigned char sha256[32];
	X509 *x;
} card_cache[CARD_CACHE_SLOTS];
static pthread_mutex_t card_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static X509 *card_cert_parse(const unsigned char *der, size_t len)
{
	unsigned char h[32];
	if (EVP_Digest(der, len, h, NULL, EVP_sha256(), NULL) != 1)
		return NULL;
	size_t slot = ((size_t)h[0] << 8 | h[1]) % CARD_CACHE_SLOTS;
	X509 *x = NULL;
	pthread_mutex_lock(&card_cache_lock);
	if (card_cache[slot].x != NULL && memcmp(card_cache[slot].sha256, h, 32) == 0 &&
	    X509_up_ref(card_cache[slot].x) == 1)
		x = card_cache[slot].x;
	pthread_mutex_unlock(&card_cache_lock);
	if (x != NULL)
		return x;
	const unsigned char *q = der;
	x = d2i_X509(NULL, &q, (long)len);
	if (x == NULL || q != der + len) {
		X509_free(x);
		return NULL;
	}
	pthread_mutex_lock(&card_cache_lock);
	if (X509_up_ref(x) == 1) {
		X509_free(card_cache[slot].x);
		card_cache[slot].x = x;
		memcpy(card_cache[slot].sha256, h, 32);
	}
	pthread_mutex_unlock(&card_cache_lock);
	return x;
}

int idp_session_find(PGconn *c, const char *token, time_t now, struct idp_sso_session *out, efos_err *e)
{
	*out = (struct idp_sso_session){ 0 };
	if (!idp_is_hex64(token))
		return 1;
	unsigned char th[32];
	char thx[65], nowb[24];
	idp_sha256_str(token, th);
	hex32(th, thx);
	snprintf(nowb, sizeof nowb, "%lld", (long long)now);
	const char *p[] = { thx, nowb };
	PGresult *r = db_exec(c, "SELECT id, person_id, card_cert_sha256, card_cert, loa, hok, "
			      "extract(epoch FROM authn_instant)::bigint, extract(epoch FROM expires_at)::bigint "
			      "FROM idp_sso_sessions WHERE token_hash = decode($1, 'hex') AND expires_at > to_timestamp($2)",
			      2, p, e);
	if (r == NULL)
		return efos_wrap(e, "reading the SSO session");
	if (PQntuples(r) != 1) {
		PQclear(r);
		return 1;
	}
	out->id = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	out->person_id = strtol(PQgetvalue(r, 0, 1), NULL, 10);
	int bad = unhex32(PQgetvalue(r, 0, 2), out->cert_sha256);
	size_t dlen = 0;
	unsigned char *der = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 3), &dlen);
	if (der != NULL) {
		out->card_cert = card_cert_parse(der, dlen);
		PQfreemem(der);
	}
	snprintf(out->loa, sizeof out->loa, "%s", PQgetvalue(r, 0, 4));
	out->hok = PQgetvalue(r, 0, 5)[0] == 't';
	out->authn_instant = (time_t)strtoll(PQgetvalue(r, 0, 6), NULL, 10);
	out->expires_at = (time_t)strtoll(PQgetvalue(r, 0, 7), NULL, 10);
	PQclear(r);
	if (bad || out->card_cert == NULL) {
		idp_sso_session_free(out);
		return efos_fail(e, EFOS_E_INTERNAL, "a stored SSO session is unreadable");
	}
	return 0;
}

static int exec_id(PGconn *c, const char *sql, long id, efos_err *e)
{
	char b[24];
	snprintf(b, sizeof b, "%ld", id);
	const char *p[] = { b };
	PGresult *r = db_exec(c, sql, 1, p, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int idp_session_delete(PGconn *c, long id, efos_err *e)
{
	return exec_id(c, "DELETE FROM idp_sso_sessions WHERE id = $1", id, e);
}

int idp_session_touch(PGconn *c, long id, efos_err *e)
{
	return exec_id(c, "UPDATE idp_sso_sessions SET last_used_at = now() WHERE id = $1", id, e);
}

int idp_session_touch_audited(PGconn *c, long id, const struct audit_event *ev, efos_err *e)
{
	if (ev->node == NULL || ev->actor == NULL || ev->action == NULL || ev->outcome == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "audit event needs node, actor, action and outcome");
	char b[24];
	snprintf(b, sizeof b, "%ld", id);
	const char *p[] = { b, ev->node, ev->actor, ev->action, ev->object ? ev->object : "", ev->outcome,
			    ev->details ? ev->details : "{}" };
	/* a data-modifying CTE: the UPDATE and audit_append() (core/audit.c) commit together */
	PGresult *r = db_exec(c,
			      "WITH u AS (UPDATE idp_sso_sessions SET last_used_at = now() WHERE id = $1 RETURNING id) "
			      "SELECT audit_append($2, $3, $4, $5, $6, $7) FROM u",
			      7, p, e);
	if (r == NULL)
		return efos_wrap(e, "recording the use of SSO session %ld", id);
	int n = PQntuples(r);
	PQclear(r);
	return n == 1 ? 0 : efos_fail(e, EFOS_E_NOTFOUND, "the SSO session ended while this login was answered");
}

int idp_session_purge(PGconn *c, long *deleted, efos_err *e)
{
	PGresult *r = db_exec(c, "DELETE FROM idp_sso_sessions WHERE expires_at < now()", 0, NULL, e);
	if (r == NULL)
		return -1;
	if (deleted != NULL)
		*deleted = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

bool idp_session_reusable(const struct idp_sso_session *s, const struct idp_authn_request *r, X509 *hok_cert,
			  time_t now, int max_age_s, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	if (max_age_s <= 0 || max_age_s > IDP_SSO_MAX_AGE_LIMIT_S)
		max_age_s = IDP_SSO_MAX_AGE_LIMIT_S;
	if (r->force_authn) {
		*why = "ForceAuthn=\"true\"";
		return false;
	}
	if (r->is_sigservice) {
		*why = "the SP is a signature service (no SSO for signing)";
		return false;
	}
	if (r->has_sign_message) {
		*why = "the request has a SignMessage (it must be shown in a fresh authentication)";
		return false;
	}
	if (now - s->authn_instant >= max_age_s || now >= s->expires_at) {
		*why = "the session is older than idp.sso_max_age";
		return false;
	}
	if (now < s->authn_instant - 300) {
		*why = "the session's authentication instant is in the future";
		return false;
	}
	if (r->chosen_loa == NULL || strcmp(r->chosen_loa, s->loa) != 0) {
		*why = "the requested LoA differs from the session's";
		return false;
	}
	if (s->hok != r->hok) {
		*why = s->hok ? "the session was holder-of-key and this request is not"
			      : "the session was WebSSO and this request is holder-of-key";
		return false;
	}
	if (r->hok) {
		unsigned char h[32];
		if (hok_cert == NULL || idp_cert_sha256(hok_cert, h) != 0 ||
		    CRYPTO_memcmp(h, s->cert_sha256, 32) != 0) {
			*why = "holder-of-key with another (or no) certificate than the session's";
			return false;
		}
	}
	*why = NULL;
	return true;
}

int idp_consent_is_remembered(PGconn *c, long person_id, const char *sp_entity_id, const char *set_id,
			      bool *yes, efos_err *e)
{
	char pid[24];
	snprintf(pid, sizeof pid, "%ld", person_id);
	const char *p[] = { pid, sp_entity_id, set_id };
	*yes = false;
	PGresult *r = db_exec(c, "SELECT 1 FROM idp_release_consents WHERE person_id = $1 AND sp_entity_id = $2 "
			      "AND release_set = $3", 3, p, e);
	if (r == NULL)
		return -1;
	*yes = PQntuples(r) == 1;
	PQclear(r);
	return 0;
}

int idp_consent_remember(PGconn *c, long person_id, const char *sp_entity_id, const char *set_id, efos_err *e)
{
	char pid[24];
	snprintf(pid, sizeof pid, "%ld", person_id);
	const char *p[] = { pid, sp_entity_id, set_id };
	PGresult *r = db_exec(c, "INSERT INTO idp_release_consents (person_id, sp_entity_id, release_set) "
			      "VALUES ($1, $2, $3) ON CONFLICT (person_id, sp_entity_id) DO UPDATE "
			      "SET release_set = EXCLUDED.release_set, consented_at = now()", 3, p, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int idp_consent_forget(PGconn *c, long person_id, const char *sp_entity_id, efos_err *e)
{
	char pid[24];
	snprintf(pid, sizeof pid, "%ld", person_id);
	const char *p[] = { pid, sp_entity_id };
	PGresult *r = db_exec(c, "DELETE FROM idp_release_consents WHERE person_id = $1 AND sp_entity_id = $2", 2, p, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}
