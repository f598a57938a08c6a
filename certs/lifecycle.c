/* Card lifecycle: suspend, resume, revoke, renew, replace, PIN unblock record, and cards that
 * follow the registry (certs/lifecycle.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "certs/card_db.h"
#include "certs/issue.h"
#include "certs/lifecycle.h"
#include "certs/profile.h"
#include "certs/registry.h"
#include "certs/service.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"
#include "policy/roles.h"

#define NOTIFY_MAX 16

int lifecycle_reason_parse(const char *s, enum cert_revocation_reason *out, efos_err *e)
{
	static const struct { const char *alias, *name; } aliases[] = {
		{ "key-compromise", "keyCompromise" }, { "cessation", "cessationOfOperation" },
		{ "cessation-of-operation", "cessationOfOperation" },
		{ "affiliation-changed", "affiliationChanged" },
	};
	if (s == NULL || *s == '\0')
		return efos_fail(e, EFOS_E_INVALID, "a revocation reason is required: card-lost, affiliation-ended, "
				 "key-compromise, superseded or cessation");
	const char *name = s;
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (strcmp(s, aliases[i].alias) == 0)
			name = aliases[i].name;
	enum cert_revocation_reason r;
	if (cert_reason_parse(name, &r) != 0 || r == CRL_REASON_CERTIFICATE_HOLD || r == CRL_REASON_CA_COMPROMISE)
		return efos_fail(e, EFOS_E_INVALID, "revocation reason '%s' is not one of card-lost, affiliation-ended, "
				 "key-compromise, superseded, cessation, unspecified (suspend a card for a hold)", s);
	*out = r;
	return 0;
}

static int why_check(const char *why, efos_err *e)
{
	if (why == NULL || *why == '\0')
		return efos_fail(e, EFOS_E_INVALID, "why: say why (it is recorded in the audit log)");
	if (strlen(why) > 256)
		return efos_fail(e, EFOS_E_INVALID, "why: at most 256 characters");
	return 0;
}

/* Begins a transaction, locks the card and checks the officer's role for it. */
static int card_begin(PGconn *c, const struct registry_actor *who, long card_id, enum policy_action a,
		      struct card_row *card, efos_err *e)
{
	if (db_begin(c, e) < 0)
		return -1;
	if (card_db_get(c, card_id, true, card, e) < 0 || card_db_officer_may(c, who->officer_id, card, a, e) < 0) {
		db_rollback(c);
		return -1;
	}
	return 0;
}

static int card_commit(PGconn *c, struct efos_ctx *ctx, const long *notify, size_t n, efos_err *e)
{
	if (db_commit(c, e) < 0) {
		db_rollback(c);
		return -1;
	}
	enroll_notify_cas(ctx, notify, n);
	return 0;
}

/* The person, organisation and affiliation of the card are all active: 1, or 0 with *what. */
static int parties_active(PGconn *c, const struct card_row *card, char *what, size_t cap, efos_err *e)
{
	char ids[24];
	snprintf(ids, sizeof ids, "%ld", card->id);
	const char *p[] = { ids };
	PGresult *r = db_exec(c, "SELECT p.status, o.status, a.status FROM cards c JOIN persons p ON p.id = c.person_id "
			      "JOIN affiliations a ON a.id = c.affiliation_id JOIN organisations o ON o.id = a.org_id "
			      "WHERE c.id = $1::bigint", 1, p, e);
	if (r == NULL)
		return -1;
	int ok = 0;
	if (PQntuples(r) != 1)
		snprintf(what, cap, "card %ld not found", card->id);
	else if (strcmp(PQgetvalue(r, 0, 0), "active") != 0)
		snprintf(what, cap, "person %s is %s", card->pnr, PQgetvalue(r, 0, 0));
	else if (strcmp(PQgetvalue(r, 0, 1), "active") != 0)
		snprintf(what, cap, "organisation %s is %s", card->orgnr, PQgetvalue(r, 0, 1));
	else if (strcmp(PQgetvalue(r, 0, 2), "active") != 0)
		snprintf(what, cap, "the affiliation of person %s with organisation %s has %s", card->pnr,
			 card->orgnr, PQgetvalue(r, 0, 2));
	else
		ok = 1;
	PQclear(r);
	return ok;
}

/* ---- suspend / resume / revoke ---- */

int lifecycle_suspend(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		      const char *why, efos_err *e)
{
	struct card_row card;
	long notify[NOTIFY_MAX];
	size_t n = 0;
	if (why_check(why, e) < 0 || card_begin(c, who, card_id, POLICY_CARD_SUSPEND, &card, e) < 0)
		return -1;
	if (strcmp(card.status, "active") != 0) {
		efos_fail(e, EFOS_E_CONFLICT, "card %ld is %s%s", card_id,
			  strcmp(card.status, "suspended") == 0 ? "suspended already" : card.status,
			  strcmp(card.status, "pending") == 0 ? ": its certificates are on hold until it is confirmed; "
			  "revoke it to stop the enrollment" : strcmp(card.status, "suspended") == 0 ? "" : ": only an active card can be suspended");
		db_rollback(c);
		return -1;
	}
	if (card_db_suspend_card(c, who, &card, why, "card.suspend", notify, &n, NOTIFY_MAX, e) < 0) {
		db_rollback(c);
		return -1;
	}
	if (card_commit(c, ctx, notify, n, e) < 0)
		return -1;
	log_info("card %ld suspended by %s: %s", card_id, who->name, why);
	return 0;
}

/* Releases the holds of a suspended card and makes it active; audited as action. */
static int resume_card(PGconn *c, const struct registry_actor *who, struct card_row *card, const char *why,
		       const char *action, long *notify, size_t *n_notify, efos_err *e)
{
	struct card_cert *certs = NULL;
	size_t n = 0;
	int count = 0;
	char cid[24];
	snprintf(cid, sizeof cid, "%ld", card->id);
	if (card_db_certs(c, card->id, &certs, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(certs[i].status, "hold") != 0)
			continue;
		if (card_db_cert_release(c, who, &certs[i], why, e) < 0) {
			free(certs);
			return -1;
		}
		bool seen = false;
		for (size_t j = 0; j < *n_notify; j++)
			seen |= notify[j] == certs[i].ca_id;
		if (!seen && *n_notify < NOTIFY_MAX)
			notify[(*n_notify)++] = certs[i].ca_id;
		count++;
	}
	free(certs);
	if (card_db_set_status(c, card->id, "active", NULL, e) < 0)
		return -1;
	json_t *d = json_pack("{s:s, s:s, s:s, s:i}", "token_serial", card->token_serial, "suspended_reason",
			      card->suspended_reason, "why", why ? why : "", "certificates_released", count);
	if (card_db_audit(c, who, action, cid, "success", d, e) < 0)
		return -1;
	snprintf(card->status, sizeof card->status, "active");
	return 0;
}

int lifecycle_resume(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		     const char *why, efos_err *e)
{
	struct card_row card;
	long notify[NOTIFY_MAX];
	size_t n = 0;
	char what[200];
	if (why_check(why, e) < 0 || card_begin(c, who, card_id, POLICY_CARD_RESUME, &card, e) < 0)
		return -1;
	if (strcmp(card.status, "suspended") != 0) {
		efos_fail(e, EFOS_E_CONFLICT, "card %ld is %s, not suspended: there is nothing to resume", card_id, card.status);
		goto fail;
	}
	int ok = parties_active(c, &card, what, sizeof what, e);
	if (ok < 0)
		goto fail;
	if (ok == 0) {
		efos_fail(e, EFOS_E_CONFLICT, "card %ld cannot be resumed: %s", card_id, what);
		goto fail;
	}
	if (resume_card(c, who, &card, why, "card.resume", notify, &n, e) < 0)
		goto fail;
	if (card_commit(c, ctx, notify, n, e) < 0)
		return -1;
	log_info("card %ld resumed by %s: %s", card_id, who->name, why);
	return 0;
fail:
	db_rollback(c);
	return -1;
}

int lifecycle_revoke(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		     enum cert_revocation_reason reason, const char *why, efos_err *e)
{
	struct card_row card;
	long notify[NOTIFY_MAX];
	size_t n = 0;
	if (why_check(why, e) < 0 || card_begin(c, who, card_id, POLICY_CARD_REVOKE, &card, e) < 0)
		return -1;
	if (card_db_revoke_card(c, who, &card, reason, why, "card.revoke", notify, &n, NOTIFY_MAX, e) < 0) {
		db_rollback(c);
		return -1;
	}
	if (card_commit(c, ctx, notify, n, e) < 0)
		return -1;
	log_info("card %ld revoked (%s) by %s: %s", card_id, cert_reason_name(reason), who->name, why);
	return 0;
}

/* ---- renew ---- */

int lifecycle_renew(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		    const char *token_serial, const char *const csr[ENROLL_N_KEYS],
		    const size_t csr_len[ENROLL_N_KEYS], const char *why, struct enroll_card_certs *out,
		    efos_err *e)
{
	struct card_row card;
	struct card_cert *certs = NULL;
	size_t ncerts = 0;
	X509_REQ *req[ENROLL_N_KEYS] = { 0 };
	X509 *old[ENROLL_N_KEYS] = { 0 };
	struct card_cert *oldc[ENROLL_N_KEYS] = { 0 };
	struct registry_person person;
	struct registry_affiliation aff;
	struct registry_org org;
	long notify[NOTIFY_MAX];
	size_t n_notify = 0;
	bool in_tx = false;
	char what[200];
	int ret = -1;

	memset(out, 0, sizeof *out);
	if (ctx->certs == NULL)
		return efos_fail(e, EFOS_E_UNAVAILABLE, "the CA is not running on this node");
	if (why == NULL)
		why = "renewal";
	if (card_begin(c, who, card_id, POLICY_CARD_RENEW, &card, e) < 0)
		return -1;
	in_tx = true;
	if (strcmp(card.status, "active") != 0) {
		efos_fail(e, EFOS_E_CONFLICT, "card %ld is %s: only an active card is renewed", card_id, card.status);
		goto out;
	}
	if (token_serial == NULL || strcmp(token_serial, card.token_serial) != 0) {
		efos_fail(e, EFOS_E_CONFLICT, "card %ld is the token with serial %s, not %s", card_id,
			  card.token_serial, token_serial ? token_serial : "(none)");
		goto out;
	}
	int ok = parties_active(c, &card, what, sizeof what, e);
	if (ok <= 0) {
		if (ok == 0)
			efos_fail(e, EFOS_E_CONFLICT, "card %ld cannot be renewed: %s", card_id, what);
		goto out;
	}
	if (registry_person_get(c, card.person_id, &person, e) < 0 ||
	    registry_affiliation_get(c, card.affiliation_id, &aff, e) < 0 ||
	    registry_org_get(c, card.org_id, &org, e) < 0 || card_db_certs(c, card_id, &certs, &ncerts, e) < 0)
		goto out;
	/* The card's current certificate of each use: the newest that is not revoked. */
	for (size_t i = ncerts; i-- > 0;)
		for (int k = 0; k < ENROLL_N_KEYS; k++)
			if (oldc[k] == NULL && strcmp(certs[i].profile, enroll_key_profile(k)) == 0 &&
			    strcmp(certs[i].status, "revoked") != 0)
				oldc[k] = &certs[i];
	for (int k = 0; k < ENROLL_N_KEYS; k++) {
		const struct cert_profile *prof = cert_profile_get(certs_profiles(ctx->certs), enroll_key_profile(k));
		const struct certs_ca *ca = prof ? certs_ca_by_name(ctx->certs, prof->issuer) : NULL;
		if (prof == NULL || ca == NULL || ca->signer == NULL) {
			efos_fail(e, EFOS_E_UNAVAILABLE, "profile %s or its CA is not available on this node",
				  enroll_key_profile(k));
			goto out;
		}
		if (oldc[k] == NULL) {
			efos_fail(e, EFOS_E_CONFLICT, "card %ld has no current %s certificate to renew", card_id,
				  enroll_key_name(k));
			goto out;
		}
		if (csr[k] == NULL) {
			efos_fail(e, EFOS_E_INVALID, "csrs.%s is required", enroll_key_name(k));
			goto out;
		}
		if (certs_csr_parse_verify((const unsigned char *)csr[k], csr_len[k], &req[k], e) < 0) {
			efos_wrap(e, "%s key CSR", enroll_key_name(k));
			goto out;
		}
		EVP_PKEY *key = X509_REQ_get0_pubkey(req[k]);
		if ((old[k] = card_db_cert_x509(c, oldc[k], e)) == NULL)
			goto out;
		if (EVP_PKEY_eq(key, X509_get0_pubkey(old[k])) != 1) {
			efos_fail(e, EFOS_E_INVALID, "the %s CSR is not for the card's %s key (renewal keeps the card's "
				  "keys; a new card is a replacement)", enroll_key_name(k), enroll_key_name(k));
			goto out;
		}
		if (certs_key_policy_check(prof, key, e) < 0) {
			efos_wrap(e, "%s key", enroll_key_name(k));
			goto out;
		}
		struct cert_issue_request ir = {
			.profile = prof,
			.public_key = key,
			.subject = {
				.c = "SE", .o = org.name, .org_identifier = org.orgnr,
				.cn = person.display_name, .given_name = person.given_name,
				.surname = person.surname, .serial_number = person.pnr,
				.title = aff.title[0] ? aff.title : NULL,
			},
			.card_id = card_id,
			.person_id = person.id,
			.initial_status = "good",
			.actor = who->name,
		};
		X509 *x = NULL;
		if (certs_issue(c, ca, &ir, &x, e) < 0) {
			efos_wrap(e, "issuing the renewed %s certificate", enroll_key_name(k));
			goto out;
		}
		X509_free(x);
		if (card_db_cert_revoke(c, who, oldc[k], CRL_REASON_SUPERSEDED, "renewed", e) < 0)
			goto out;
		if (n_notify < NOTIFY_MAX)
			notify[n_notify++] = oldc[k]->ca_id;
	}
	char cid[24];
	snprintf(cid, sizeof cid, "%ld", card_id);
	json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "token_serial", card.token_serial, "why", why,
			      "superseded_auth", oldc[ENROLL_KEY_AUTH]->serial_hex,
			      "superseded_sign", oldc[ENROLL_KEY_SIGN]->serial_hex);
	if (card_db_audit(c, who, "card.renew", cid, "success", d, e) < 0)
		goto out;
	in_tx = false;
	if (card_commit(c, ctx, notify, n_notify, e) < 0)
		goto out;
	log_info("card %ld renewed by %s", card_id, who->name);
	/* The answer: the new certificates (the newest non-revoked per use). */
	free(certs);
	certs = NULL;
	if (card_db_certs(c, card_id, &certs, &ncerts, e) < 0)
		goto out;
	out->card_id = card_id;
	snprintf(out->status, sizeof out->status, "active");
	snprintf(out->token_serial, sizeof out->token_serial, "%s", card.token_serial);
	for (size_t i = ncerts; i-- > 0;)
		for (int k = 0; k < ENROLL_N_KEYS; k++)
			if (out->cert[k] == NULL && strcmp(certs[i].profile, enroll_key_profile(k)) == 0 &&
			    strcmp(certs[i].status, "good") == 0 && (out->cert[k] = card_db_cert_x509(c, &certs[i], e)) == NULL)
				goto out;
	ret = 0;
out:
	if (in_tx)
		db_rollback(c);
	free(certs);
	for (int k = 0; k < ENROLL_N_KEYS; k++) {
		X509_REQ_free(req[k]);
		X509_free(old[k]);
	}
	if (ret < 0)
		enroll_card_certs_free(out);
	return ret;
}

/* ---- replace ---- */

int lifecycle_replace(PGconn *c, struct efos_ctx *ctx, const struct registry_actor *who, long card_id,
		      const char *token_serial, const char *const csr[ENROLL_N_KEYS],
		      const size_t csr_len[ENROLL_N_KEYS], enum cert_revocation_reason reason,
		      const char *why, struct enroll_card_certs *out, efos_err *e)
{
	struct card_row old;
	memset(out, 0, sizeof *out);
	if (card_db_get(c, card_id, false, &old, e) < 0)
		return -1;
	if (strcmp(old.status, "revoked") == 0 || strcmp(old.status, "abandoned") == 0)
		return efos_fail(e, EFOS_E_CONFLICT, "card %ld is %s already: enroll a new card instead of replacing it",
				 card_id, old.status);
	struct enroll_begin_request r = {
		.pnr = old.pnr, .orgnr = old.orgnr, .token_serial = token_serial,
		.replaces_card_id = card_id, .replace_reason = reason, .why = why,
	};
	for (int k = 0; k < ENROLL_N_KEYS; k++) {
		r.csr[k] = csr[k];
		r.csr_len[k] = csr_len[k];
	}
	return enroll_begin(c, ctx, who, &r, out, e);
}

/* ---- PIN unblock ---- */

int lifecycle_unblock_record(PGconn *c, const struct registry_actor *who, long card_id,
			     const char *token_serial, const char *why, efos_err *e)
{
	struct card_row card;
	if (why_check(why, e) < 0 || card_begin(c, who, card_id, POLICY_CARD_UNBLOCK, &card, e) < 0)
		return -1;
	if (strcmp(card.status, "active") != 0 && strcmp(card.status, "suspended") != 0) {
		efos_fail(e, EFOS_E_CONFLICT, "card %ld is %s: its PIN is not unblocked", card_id, card.status);
		goto fail;
	}
	if (token_serial == NULL || strcmp(token_serial, card.token_serial) != 0) {
		efos_fail(e, EFOS_E_CONFLICT, "card %ld is the token with serial %s, not %s", card_id,
			  card.token_serial, token_serial ? token_serial : "(none)");
		goto fail;
	}
	char cid[24];
	snprintf(cid, sizeof cid, "%ld", card_id);
	json_t *d = json_pack("{s:s, s:s, s:s}", "token_serial", card.token_serial, "why", why,
			      "method", "SO PIN / PUK on the officer's workstation");
	if (card_db_audit(c, who, "card.pin.unblock", cid, "success", d, e) < 0)
		goto fail;
	if (db_commit(c, e) < 0)
		goto fail;
	log_info("PIN unblock of card %ld authorised by %s: %s", card_id, who->name, why);
	return 0;
fail:
	db_rollback(c);
	return -1;
}

/* ---- cards follow the registry (caller's transaction) ---- */

#define PERSON_PREFIX "person suspended: "
#define ORG_PREFIX "organisation suspended: "

static int suspend_cards(PGconn *c, long person_id, long org_id, const struct registry_actor *who,
			 const char *prefix, const char *why, efos_err *e)
{
	struct card_row *cards = NULL;
	size_t n = 0;
	long notify[NOTIFY_MAX];
	size_t nn = 0;
	char reason[300];
	int rc = -1;
	snprintf(reason, sizeof reason, "%s%.200s", prefix, why ? why : "");
	if (card_db_live_of(c, person_id, org_id, &cards, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct card_row *card = &cards[i];
		if (strcmp(card->status, "active") == 0) {
			if (card_db_suspend_card(c, who, card, reason, "card.suspend", notify, &nn, NOTIFY_MAX, e) < 0)
				goto out;
		} else if (strcmp(card->status, "pending") == 0) {
			if (card_db_revoke_card(c, who, card, CRL_REASON_CESSATION_OF_OPERATION, reason, "card.revoke",
						notify, &nn, NOTIFY_MAX, e) < 0)
				goto out;
		}
		/* suspended already: stays suspended, with its own reason */
	}
	rc = 0;
out:
	free(cards);
	return rc;
}

static int resume_cards(PGconn *c, long person_id, long org_id, const struct registry_actor *who,
			const char *prefix, const char *why, efos_err *e)
{
	struct card_row *cards = NULL;
	size_t n = 0;
	long notify[NOTIFY_MAX];
	size_t nn = 0;
	char what[200];
	int rc = -1;
	if (card_db_live_of(c, person_id, org_id, &cards, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct card_row *card = &cards[i];
		if (strcmp(card->status, "suspended") != 0 ||
		    strncmp(card->suspended_reason, prefix, strlen(prefix)) != 0)
			continue;
		int ok = parties_active(c, card, what, sizeof what, e);
		if (ok < 0)
			goto out;
		if (ok == 0)
			continue;   /* still suspended for another reason */
		if (resume_card(c, who, card, why ? why : "suspension lifted", "card.resume", notify, &nn, e) < 0)
			goto out;
	}
	rc = 0;
out:
	free(cards);
	return rc;
}

int lifecycle_suspend_cards_of_person(PGconn *c, long person_id, const struct registry_actor *who,
				      const char *why, efos_err *e)
{
	if (person_id <= 0)
		return efos_fail(e, EFOS_E_INVALID, "no person");
	return suspend_cards(c, person_id, 0, who, PERSON_PREFIX, why, e);
}

int lifecycle_suspend_cards_of_org(PGconn *c, long org_id, const struct registry_actor *who,
				   const char *why, efos_err *e)
{
	if (org_id <= 0)
		return efos_fail(e, EFOS_E_INVALID, "no organisation");
	return suspend_cards(c, 0, org_id, who, ORG_PREFIX, why, e);
}

int lifecycle_resume_cards_of_person(PGconn *c, long person_id, const struct registry_actor *who,
				     const char *why, efos_err *e)
{
	if (person_id <= 0)
		return efos_fail(e, EFOS_E_INVALID, "no person");
	return resume_cards(c, person_id, 0, who, PERSON_PREFIX, why, e);
}

int lifecycle_resume_cards_of_org(PGconn *c, long org_id, const struct registry_actor *who,
				  const char *why, efos_err *e)
{
	if (org_id <= 0)
		return efos_fail(e, EFOS_E_INVALID, "no organisation");
	return resume_cards(c, 0, org_id, who, ORG_PREFIX, why, e);
}

int lifecycle_revoke_cards_of_affiliation(PGconn *c, long affiliation_id,
					  const struct registry_actor *who, const char *why, efos_err *e)
{
	char ids[24];
	snprintf(ids, sizeof ids, "%ld", affiliation_id);
	const char *p[] = { ids };
	long notify[NOTIFY_MAX];
	size_t nn = 0;
	PGresult *r = db_exec(c, "SELECT id FROM cards WHERE affiliation_id = $1::bigint AND "
			      "status IN ('pending', 'active', 'suspended') ORDER BY id FOR UPDATE", 1, p, e);
	if (r == NULL)
		return -1;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		struct card_row card;
		rc = card_db_get(c, atol(PQgetvalue(r, i, 0)), false, &card, e);
		if (rc == 0)
			rc = card_db_revoke_card(c, who, &card, CRL_REASON_AFFILIATION_CHANGED,
						 why ? why : "affiliation ended", "card.revoke", notify, &nn, NOTIFY_MAX, e);
	}
	PQclear(r);
	return rc;
}
