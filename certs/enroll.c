/* Two-phase card enrollment and the sweeper of unconfirmed cards (certs/enroll.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "certs/card_db.h"
#include "certs/enroll.h"
#include "certs/issue.h"
#include "certs/profile.h"
#include "certs/registry.h"
#include "certs/revoke.h"
#include "certs/service.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"
#include "policy/roles.h"

static const char *const key_names[ENROLL_N_KEYS] = { "auth", "sign" };
static const char *const key_profiles[ENROLL_N_KEYS] = { "card-auth", "card-sign" };

const char *enroll_key_name(enum enroll_key k) { return (unsigned)k < ENROLL_N_KEYS ? key_names[k] : "?"; }
const char *enroll_key_profile(enum enroll_key k) { return (unsigned)k < ENROLL_N_KEYS ? key_profiles[k] : "?"; }

void enroll_card_certs_free(struct enroll_card_certs *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < ENROLL_N_KEYS; i++) {
		X509_free(r->cert[i]);
		r->cert[i] = NULL;
	}
	sk_X509_pop_free(r->chain, X509_free);
	r->chain = NULL;
}

void enroll_notify_cas(struct efos_ctx *ctx, const long *ca_ids, size_t n)
{
	if (ctx == NULL || ctx->certs == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= ca_ids[j] == ca_ids[i];
		if (!seen && ca_ids[i] > 0)
			certs_crl_notify(ctx->certs, ca_ids[i]);
	}
}

/* Token serials are what CK_TOKEN_INFO.serialNumber holds: printable, short. */
static int token_serial_check(const char *s, efos_err *e)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 64)
		return efos_fail(e, EFOS_E_INVALID, "token_serial: 1 to 64 characters required");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x21 || ch > 0x7e)
			return efos_fail(e, EFOS_E_INVALID, "token_serial: only printable ASCII without blanks");
	}
	return 0;
}

/* The card's chain: issuing CA first, up to the root (from `cas`). */
static int load_chain(PGconn *c, long ca_id, STACK_OF(X509) **out, efos_err *e)
{
	char id[24];
	snprintf(id, sizeof id, "%ld", ca_id);
	const char *p[] = { id };
	*out = NULL;
	PGresult *r = db_exec(c, "WITH RECURSIVE ch(id, parent_id, der, depth) AS ("
			      " SELECT id, parent_id, cert_der, 0 FROM cas WHERE id = $1::bigint"
			      " UNION ALL SELECT c.id, c.parent_id, c.cert_der, ch.depth + 1 FROM cas c"
			      " JOIN ch ON c.id = ch.parent_id WHERE ch.depth < 8 AND c.id <> ch.id)"
			      " SELECT encode(der, 'hex') FROM ch ORDER BY depth", 1, p, e);
	if (r == NULL)
		return -1;
	STACK_OF(X509) *sk = sk_X509_new_null();
	for (int i = 0; sk != NULL && i < PQntuples(r); i++) {
		X509 *x = card_db_x509_from_hex(PQgetvalue(r, i, 0));
		if (x != NULL && !sk_X509_push(sk, x))
			X509_free(x);
	}
	PQclear(r);
	if (sk == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	*out = sk;
	return 0;
}

/* Fills out->status, token_serial, pending_until and the certificates of the card. */
static int load_card_certs(PGconn *c, long card_id, struct enroll_card_certs *out, efos_err *e)
{
	struct card_row card;
	struct card_cert *certs = NULL;
	size_t n = 0;
	if (card_db_get(c, card_id, false, &card, e) < 0 || card_db_certs(c, card_id, &certs, &n, e) < 0)
		return -1;
	out->card_id = card_id;
	snprintf(out->status, sizeof out->status, "%s", card.status);
	snprintf(out->token_serial, sizeof out->token_serial, "%s", card.token_serial);
	snprintf(out->pending_until, sizeof out->pending_until, "%s", card.pending_until);
	long ca_id = 0;
	/* The newest certificate of each profile that is not revoked. */
	for (size_t i = n; i-- > 0;) {
		for (int k = 0; k < ENROLL_N_KEYS; k++) {
			if (out->cert[k] != NULL || strcmp(certs[i].profile, key_profiles[k]) != 0 ||
			    strcmp(certs[i].status, "revoked") == 0)
				continue;
			out->cert[k] = card_db_cert_x509(c, &certs[i], e);
			ca_id = certs[i].ca_id;
		}
	}
	free(certs);
	if (ca_id > 0 && load_chain(c, ca_id, &out->chain, e) < 0)
		return -1;
	return 0;
}

/* ---- begin ---- */

struct csr_key {
	X509_REQ *req;
	EVP_PKEY *key;     /* owned by req */
};

/* Everything checked before the transaction that issues. */
static int begin_checks(PGconn *c, const struct registry_actor *who, const struct enroll_begin_request *r,
			const struct cert_profile *prof[ENROLL_N_KEYS], struct registry_org *org,
			struct registry_person *person, struct registry_affiliation *aff,
			struct csr_key csr[ENROLL_N_KEYS], efos_err *e)
{
	/* 1. The officer may enroll (or, for a replacement, renew) for the organisation. */
	if (r->orgnr == NULL || r->pnr == NULL)
		return efos_fail(e, EFOS_E_INVALID, "pnr and orgnr are required");
	if (registry_org_get_by_orgnr(c, r->orgnr, org, e) < 0)
		return -1;
	enum policy_action act = r->replaces_card_id ? POLICY_CARD_RENEW : POLICY_CARD_ENROLL;
	if (policy_officer_may(c, who->officer_id, org->id, act, e) < 0)
		return -1;
	if (strcmp(org->status, "active") != 0)
		return efos_fail(e, EFOS_E_CONFLICT, "organisation %s is %s: no cards are enrolled for it",
				 org->orgnr, org->status);

	/* 2. The person is active with an active affiliation with the organisation. */
	if (registry_person_get_by_pnr(c, r->pnr, person, e) < 0)
		return -1;
	if (strcmp(person->status, "active") != 0)
		return efos_fail(e, EFOS_E_CONFLICT, "person %s is %s: no cards are enrolled for them",
				 person->pnr, person->status);
	if (registry_affiliation_find(c, person->id, org->id, aff, e) < 0) {
		if (e && e->code == EFOS_E_NOTFOUND)
			efos_fail(e, EFOS_E_CONFLICT, "person %s has no active affiliation with organisation %s",
				  person->pnr, org->orgnr);
		return -1;
	}

	/* 3. Identity proofing in person, still valid. */
	if (registry_proofing_valid(c, person->id, NULL, e) < 0)
		return -1;

	/* 4. The token is not a live card, the person has no other live card for this
	 *    affiliation (a replacement names the card it replaces). */
	if (token_serial_check(r->token_serial, e) < 0)
		return -1;
	struct card_row live;
	int found = card_db_live_by_token(c, r->token_serial, &live, e);
	if (found < 0)
		return -1;
	if (found > 0)
		return efos_fail(e, EFOS_E_CONFLICT, "card already %s: token serial %s is card %ld (%s)%s",
				 live.status, r->token_serial, live.id, live.status,
				 strcmp(live.status, "pending") == 0 ? "; confirm it or wait for it to be abandoned" : "");
	found = card_db_live_for_affiliation(c, aff->id, &live, e);
	if (found < 0)
		return -1;
	if (found > 0 && live.id != r->replaces_card_id)
		return efos_fail(e, EFOS_E_CONFLICT, "person %s already has a %s card for organisation %s "
				 "(card %ld, token serial %s): replace it (efosctl card replace) or revoke it first",
				 person->pnr, live.status, org->orgnr, live.id, live.token_serial);

	/* 5. Proof of possession: each CSR's signature verifies with its key. */
	for (int k = 0; k < ENROLL_N_KEYS; k++) {
		if (r->csr[k] == NULL)
			return efos_fail(e, EFOS_E_INVALID, "csrs.%s is required", key_names[k]);
		if (certs_csr_parse_verify((const unsigned char *)r->csr[k], r->csr_len[k], &csr[k].req, e) < 0)
			return efos_wrap(e, "%s key CSR", key_names[k]);
		csr[k].key = X509_REQ_get0_pubkey(csr[k].req);
	}
	if (EVP_PKEY_eq(csr[ENROLL_KEY_AUTH].key, csr[ENROLL_KEY_SIGN].key) == 1)
		return efos_fail(e, EFOS_E_INVALID, "the auth and sign CSRs carry the same key: a card has one key pair per use");

	/* 6. Key type and size meet each profile's key policy. */
	for (int k = 0; k < ENROLL_N_KEYS; k++)
		if (certs_key_policy_check(prof[k], csr[k].key, e) < 0)
			return efos_wrap(e, "%s key", key_names[k]);
	return 0;
}

int enroll_begin(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who,
		 const struct enroll_begin_request *r, struct enroll_card_certs *out, efos_err *e)
{
	struct registry_org org;
	struct registry_person person;
	struct registry_affiliation aff;
	struct csr_key csr[ENROLL_N_KEYS] = { { 0 } };
	const struct cert_profile *prof[ENROLL_N_KEYS];
	const struct certs_ca *ca[ENROLL_N_KEYS];
	long notify[16];
	size_t n_notify = 0;
	bool in_tx = false;
	int ret = -1;

	memset(out, 0, sizeof *out);
	if (ctx->certs == NULL)
		return efos_fail(e, EFOS_E_UNAVAILABLE, "the CA is not running on this node");
	for (int k = 0; k < ENROLL_N_KEYS; k++) {
		prof[k] = cert_profile_get(certs_profiles(ctx->certs), key_profiles[k]);
		ca[k] = prof[k] ? certs_ca_by_name(ctx->certs, prof[k]->issuer) : NULL;
		if (prof[k] == NULL)
			return efos_fail(e, EFOS_E_CONFIG, "certificate profile %s is not configured", key_profiles[k]);
		if (ca[k] == NULL || ca[k]->signer == NULL)
			return efos_fail(e, EFOS_E_UNAVAILABLE, "CA %s (issuer of %s) is not available on this node",
					 prof[k]->issuer, key_profiles[k]);
	}

	if (db_begin(c, e) < 0)
		return -1;
	in_tx = true;
	if (begin_checks(c, who, r, prof, &org, &person, &aff, csr, e) < 0)
		goto out;

	/* A replacement revokes the old card in the same transaction. */
	if (r->replaces_card_id != 0) {
		struct card_row old;
		if (card_db_get(c, r->replaces_card_id, true, &old, e) < 0)
			goto out;
		if (old.person_id != person.id) {
			efos_fail(e, EFOS_E_CONFLICT, "card %ld belongs to another person", old.id);
			goto out;
		}
		if (card_db_revoke_card(c, who, &old, r->replace_reason, r->why ? r->why : "replaced by a new card",
					"card.replace", notify, &n_notify, 16, e) < 0)
			goto out;
	}

	/* The card, pending until confirmed. */
	long card_id;
	int timeout = ctx->cfg->ca_enroll_pending_timeout_s > 0 ? ctx->cfg->ca_enroll_pending_timeout_s : 600;
	if (card_db_insert_pending(c, r->token_serial, person.id, aff.id, who->officer_id, timeout, &card_id, e) < 0)
		goto out;

	/* Its certificates, on hold. */
	for (int k = 0; k < ENROLL_N_KEYS; k++) {
		struct cert_issue_request ir = {
			.profile = prof[k],
			.public_key = csr[k].key,
			.subject = {
				.c = "SE", .o = org.name, .org_identifier = org.orgnr,
				.cn = person.display_name, .given_name = person.given_name,
				.surname = person.surname, .serial_number = person.pnr,
				.title = aff.title[0] ? aff.title : NULL,
			},
			.card_id = card_id,
			.person_id = person.id,
			.initial_status = "hold",
			.actor = who->name,
		};
		if (certs_issue(c, ca[k], &ir, &out->cert[k], e) < 0) {
			efos_wrap(e, "issuing the %s certificate", key_names[k]);
			goto out;
		}
	}

	char cid[24];
	snprintf(cid, sizeof cid, "%ld", card_id);
	json_t *d = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i}", "pnr", person.pnr, "orgnr", org.orgnr,
			      "token_serial", r->token_serial, "person_id", (json_int_t)person.id,
			      "affiliation_id", (json_int_t)aff.id, "pending_timeout_s", timeout);
	if (d != NULL && r->replaces_card_id)
		json_object_set_new(d, "replaces_card_id", json_integer(r->replaces_card_id));
	if (d != NULL && r->why)
		json_object_set_new(d, "why", json_string(r->why));
	if (card_db_audit(c, who, r->replaces_card_id ? "card.replace.begin" : "card.enroll.begin", cid, "success", d, e) < 0)
		goto out;
	if (db_commit(c, e) < 0)
		goto out;
	in_tx = false;
	enroll_notify_cas(ctx, notify, n_notify);
	log_info("card %ld (token %s) pending for person %ld, organisation %s, by %s", card_id,
		 r->token_serial, person.id, org.orgnr, who->name);
	if (load_card_certs(c, card_id, out, e) < 0)
		goto out;
	ret = 0;
out:
	if (in_tx)
		db_rollback(c);
	for (int k = 0; k < ENROLL_N_KEYS; k++)
		X509_REQ_free(csr[k].req);
	if (ret < 0)
		enroll_card_certs_free(out);
	return ret;
}

/* ---- confirm ---- */

int enroll_confirm(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		   const char *token_serial, const char *const sha256_hex[ENROLL_N_KEYS],
		   struct enroll_card_certs *out, efos_err *e)
{
	struct card_row card;
	struct card_cert *certs = NULL;
	size_t n = 0;
	long notify[16];
	size_t n_notify = 0;
	bool in_tx = false;
	int ret = -1;

	memset(out, 0, sizeof *out);
	for (int k = 0; k < ENROLL_N_KEYS; k++)
		if (sha256_hex[k] == NULL || strlen(sha256_hex[k]) != 64)
			return efos_fail(e, EFOS_E_INVALID, "cert_sha256.%s: 64 hex digits required", key_names[k]);
	if (db_begin(c, e) < 0)
		return -1;
	in_tx = true;
	if (card_db_get(c, card_id, true, &card, e) < 0)
		goto out;
	if (card_db_officer_may(c, who->officer_id, &card, POLICY_CARD_ENROLL, e) < 0)
		goto out;
	if (token_serial == NULL || strcmp(card.token_serial, token_serial) != 0) {
		efos_fail(e, EFOS_E_CONFLICT, "card %ld is the token with serial %s, not %s", card_id,
			  card.token_serial, token_serial ? token_serial : "(none)");
		goto out;
	}
	if (card_db_certs(c, card_id, &certs, &n, e) < 0)
		goto out;
	/* The certificates on the card must be exactly the ones issued for it. */
	for (int k = 0; k < ENROLL_N_KEYS; k++) {
		bool match = false;
		for (size_t i = 0; i < n && !match; i++)
			match = strcmp(certs[i].profile, key_profiles[k]) == 0 &&
				strcasecmp(certs[i].sha256, sha256_hex[k]) == 0 && strcmp(certs[i].status, "revoked") != 0;
		if (!match) {
			efos_fail(e, EFOS_E_CONFLICT, "the %s certificate on the card (SHA-256 %.16s...) is not the one "
				  "issued for card %ld", key_names[k], sha256_hex[k], card_id);
			goto out;
		}
	}
	if (strcmp(card.status, "active") == 0) {
		/* Confirmed already (a retry after a lost answer): nothing to change. */
		db_rollback(c);
		in_tx = false;
		ret = load_card_certs(c, card_id, out, e);
		goto out;
	}
	if (strcmp(card.status, "pending") != 0) {
		efos_fail(e, EFOS_E_CONFLICT, "card %ld is %s, not pending: it cannot be confirmed%s", card_id,
			  card.status, strcmp(card.status, "abandoned") == 0
			  ? " (it was not confirmed in time; enroll the card again)" : "");
		goto out;
	}
	if (card.pending_expired) {
		efos_fail(e, EFOS_E_CONFLICT, "card %ld: the enrollment expired at %s before it was confirmed; "
			  "it will be abandoned (enroll the card again)", card_id, card.pending_until);
		goto out;
	}
	char cid[24];
	snprintf(cid, sizeof cid, "%ld", card_id);
	if (card_db_set_status(c, card_id, "active", NULL, e) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(certs[i].status, "hold") != 0)
			continue;
		if (card_db_cert_release(c, who, &certs[i], "card enrollment confirmed", e) < 0)
			goto out;
		if (n_notify < 16)
			notify[n_notify++] = certs[i].ca_id;
	}
	json_t *d = json_pack("{s:s, s:s, s:s}", "token_serial", card.token_serial, "auth_sha256",
			      sha256_hex[ENROLL_KEY_AUTH], "sign_sha256", sha256_hex[ENROLL_KEY_SIGN]);
	if (card_db_audit(c, who, "card.enroll.confirm", cid, "success", d, e) < 0 || db_commit(c, e) < 0)
		goto out;
	in_tx = false;
	enroll_notify_cas(ctx, notify, n_notify);
	log_info("card %ld (token %s) confirmed by %s", card_id, card.token_serial, who->name);
	ret = load_card_certs(c, card_id, out, e);
out:
	if (in_tx)
		db_rollback(c);
	free(certs);
	if (ret < 0)
		enroll_card_certs_free(out);
	return ret;
}

/* ---- the sweeper ---- */

static int sweep_one(PGconn *c, struct efos_ctx *ctx, const char *node, bool *done, efos_err *e)
{
	struct card_row card;
	long notify[16];
	size_t n_notify = 0;
	int found;

	*done = false;
	if (db_begin(c, e) < 0)
		return -1;
	if ((found = card_db_next_expired_pending(c, &card, e)) <= 0) {
		db_rollback(c);
		*done = found == 0;
		return found < 0 ? -1 : 0;
	}
	struct registry_actor sweeper = { .node = node, .name = "enroll-sweeper", .officer_id = 0 };
	if (card_db_abandon_card(c, &sweeper, &card, notify, &n_notify, 16, e) < 0 || db_commit(c, e) < 0) {
		db_rollback(c);
		return -1;
	}
	log_warn("card %ld (token %s) abandoned: its enrollment was not confirmed before %s; its "
		 "certificates are revoked", card.id, card.token_serial, card.pending_until);
	enroll_notify_cas(ctx, notify, n_notify);
	return 1;
}

int enroll_sweep(PGconn *c, struct efos_ctx *ctx, const char *node, int *n_abandoned, efos_err *e)
{
	int n = 0;
	if (n_abandoned != NULL)
		*n_abandoned = 0;
	for (int i = 0; i < 1000; i++) {
		bool done;
		int rc = sweep_one(c, ctx, node, &done, e);
		if (rc < 0)
			return -1;
		if (done || rc == 0)
			break;
		n++;
	}
	if (n_abandoned != NULL)
		*n_abandoned = n;
	return 0;
}

struct enroll_sweeper {
	struct efos_ctx *ctx;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int interval_s;
};

static void *sweeper_main(void *arg)
{
	struct enroll_sweeper *s = arg;
	const char *node = s->ctx->cfg->node_name ? s->ctx->cfg->node_name : "efos";
	bool warned = false;
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += s->interval_s;
		while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
			;
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->lock);
		PGconn *c = NULL;
		efos_err e = { 0 };
		int rc = db_acquire(s->ctx->db, &c, &e);
		if (rc == 0) {
			rc = enroll_sweep(c, s->ctx, node, NULL, &e);
			db_release(s->ctx->db, c, rc < 0 && db_conn_broken(c));
		}
		if (rc < 0 && !warned)
			log_warn("enrollment sweeper: %s (will retry)", e.msg);
		warned = rc < 0;
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int enroll_sweeper_start(struct efos_ctx *ctx, struct enroll_sweeper **out, efos_err *e)
{
	*out = NULL;
	struct enroll_sweeper *s = calloc(1, sizeof *s);
	if (s == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	s->ctx = ctx;
	int t = ctx->cfg->ca_enroll_pending_timeout_s / 4;
	s->interval_s = t < 1 ? 1 : t > 30 ? 30 : t;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->thread, NULL, sweeper_main, s) != 0) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return efos_fail(e, EFOS_E_INTERNAL, "cannot start the enrollment sweeper thread");
	}
	*out = s;
	return 0;
}

void enroll_sweeper_stop(struct enroll_sweeper *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
