/* The CRL publisher thread and this node's OCSP responder state (certs/crl.h).
 *
 * The thread wakes when certs_crl_notify() signals it and at least every POLL_S seconds. Each
 * pass reads one cheap row per CA (crl_dirty, crl_number, crl_next_update) and issues a CRL for
 * a CA of ours when it was notified, is dirty, has none, or nextUpdate is near; the issuing
 * itself locks the CA row (certs_crl_issue), so with several nodes exactly one issues each
 * number and the others find the row clean. A change of crl_number or a dirty flag seen in the
 * database also invalidates this node's reusable OCSP answers for that CA: a revocation made on
 * another node (or by efosctl) reaches this node's OCSP cache within one poll.
 *
 * certs_service is A's opaque struct (certs/service.c); the publisher is kept in a small
 * registry keyed by the service pointer, so neither module needs the other's internals. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/x509v3.h>
#include "certs/crl.h"
#include "certs/ocsp.h"
#include "certs/service.h"
#include "core/config.h"
#include "core/ctx.h"
#include "core/db.h"
#include "core/log.h"

#define POLL_S 2
#define REGISTRY_MAX 8

struct pub_ca {
	const struct certs_ca *ca;
	bool issues;          /* its key is here and it is a CA: this node may issue its CRL */
	bool notified;        /* certs_crl_notify since the last pass (under mu) */
	bool seen;            /* last_number is valid */
	long last_number;
	bool failing;         /* the last attempt failed (log once per failure streak) */
};

struct certs_crl_publisher {
	struct certs_service *s;
	struct efos_ctx *ctx;
	int validity_s, reissue_before_s;   /* ca.crl_validity, ca.crl_reissue_before (sane) */
	struct certs_ocsp_responder *ocsp;
	struct pub_ca *cas;
	size_t n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, started, db_down;
	pthread_t thread;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct certs_crl_publisher *registry[REGISTRY_MAX];

static struct certs_crl_publisher *find_locked(const struct certs_service *s)
{
	for (size_t i = 0; i < REGISTRY_MAX; i++)
		if (registry[i] != NULL && registry[i]->s == s)
			return registry[i];
	return NULL;
}

struct certs_ocsp_responder *certs_crl_publisher_ocsp(const struct certs_service *s)
{
	pthread_mutex_lock(&reg_mu);
	struct certs_crl_publisher *p = find_locked(s);
	struct certs_ocsp_responder *r = p ? p->ocsp : NULL;
	pthread_mutex_unlock(&reg_mu);
	return r;
}

void certs_crl_notify(struct certs_service *s, long ca_id)
{
	pthread_mutex_lock(&reg_mu);
	struct certs_crl_publisher *p = find_locked(s);
	if (p != NULL) {
		certs_ocsp_responder_invalidate(p->ocsp, ca_id);
		pthread_mutex_lock(&p->mu);
		for (size_t i = 0; i < p->n; i++)
			if (p->cas[i].ca->id == ca_id)
				p->cas[i].notified = true;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	pthread_mutex_unlock(&reg_mu);
}

/* One pass over the CAs; notified[i] says which were notified. */
static void publish_pass(struct certs_crl_publisher *p, const bool *notified)
{
	const struct efos_config *cfg = p->ctx->cfg;
	PGconn *c = NULL;
	efos_err e = { 0 };
	if (db_acquire(p->ctx->db, &c, &e) != 0) {
		if (!p->db_down)
			log_warn("CRL publisher: database unavailable (%s); retrying every %d s", e.msg, POLL_S);
		p->db_down = true;
		return;
	}
	if (p->db_down)
		log_info("CRL publisher: database reachable again");
	p->db_down = false;
	PGresult *r = db_exec(c,
		"SELECT id, crl_dirty, crl_number, crl_der IS NULL, "
		"coalesce(extract(epoch FROM crl_next_update)::bigint, 0) FROM cas", 0, NULL, &e);
	if (r == NULL) {
		log_warn("CRL publisher: %s", e.msg);
		db_release(p->ctx->db, c, db_conn_broken(c));
		return;
	}
	time_t now = time(NULL);
	bool broken = false;
	for (size_t i = 0; i < p->n && !broken; i++) {
		struct pub_ca *pc = &p->cas[i];
		int row = -1;
		for (int k = 0; k < PQntuples(r); k++)
			if (strtol(PQgetvalue(r, k, 0), NULL, 10) == pc->ca->id)
				row = k;
		if (row < 0)
			continue;
		bool dirty = PQgetvalue(r, row, 1)[0] == 't', none = PQgetvalue(r, row, 3)[0] == 't';
		long number = strtol(PQgetvalue(r, row, 2), NULL, 10);
		time_t next = (time_t)strtoll(PQgetvalue(r, row, 4), NULL, 10);
		if (dirty || (pc->seen && number != pc->last_number))
			certs_ocsp_responder_invalidate(p->ocsp, pc->ca->id);
		pc->seen = true;
		pc->last_number = number;
		if (!pc->issues || !(notified[i] || dirty || none || next - p->reissue_before_s <= now))
			continue;
		struct certs_crl_issue_opts o = {
			.validity_s = p->validity_s, .reissue_before_s = p->reissue_before_s,
			.force = notified[i], .node = cfg->node_name ? cfg->node_name : "efosd",
			.actor = "efosd:crl-publisher",
		};
		bool issued = false;
		long n2 = number;
		if (certs_crl_issue(c, pc->ca, &o, &issued, &n2, &e) != 0) {
			if (!pc->failing)
				log_error("CRL publisher: CA %s: %s (retrying every %d s)", pc->ca->name, e.msg, POLL_S);
			pc->failing = true;
			broken = db_conn_broken(c);
			if (notified[i]) {   /* keep it forced for the next pass */
				pthread_mutex_lock(&p->mu);
				pc->notified = true;
				pthread_mutex_unlock(&p->mu);
			}
			continue;
		}
		if (pc->failing)
			log_info("CRL publisher: CA %s: issuing works again", pc->ca->name);
		pc->failing = false;
		pc->last_number = n2;
		if (issued) {
			certs_ocsp_responder_invalidate(p->ocsp, pc->ca->id);
			log_info("CRL publisher: issued CRL %ld of CA %s", n2, pc->ca->name);
		}
	}
	PQclear(r);
	db_release(p->ctx->db, c, broken);
}

static void *publisher_main(void *arg)
{
	struct certs_crl_publisher *p = arg;
	bool *notified = calloc(p->n ? p->n : 1, sizeof *notified);
	if (notified == NULL) {
		log_error("CRL publisher: out of memory; not running");
		return NULL;
	}
	struct timespec next_poll;
	clock_gettime(CLOCK_MONOTONIC, &next_poll);   /* first pass at once */
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		bool any = false;
		for (size_t i = 0; i < p->n; i++)
			any = any || p->cas[i].notified;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		bool due = now.tv_sec > next_poll.tv_sec ||
			   (now.tv_sec == next_poll.tv_sec && now.tv_nsec >= next_poll.tv_nsec);
		if (!any && !due) {
			int rc = pthread_cond_timedwait(&p->cv, &p->mu, &next_poll);
			if (rc != 0 && rc != ETIMEDOUT && rc != EINTR)
				log_warn("CRL publisher: waiting: error %d", rc);
			continue;
		}
		for (size_t i = 0; i < p->n; i++) {
			notified[i] = p->cas[i].notified;
			p->cas[i].notified = false;
		}
		pthread_mutex_unlock(&p->mu);
		publish_pass(p, notified);
		clock_gettime(CLOCK_MONOTONIC, &next_poll);
		next_poll.tv_sec += POLL_S;
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	free(notified);
	return NULL;
}

static void publisher_free(struct certs_crl_publisher *p)
{
	if (p == NULL)
		return;
	certs_ocsp_responder_free(p->ocsp);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->cas);
	free(p);
}

int certs_crl_publisher_start(struct certs_service *s, struct efos_ctx *ctx, efos_err *e)
{
	const struct efos_config *cfg = ctx->cfg;
	struct certs_crl_publisher *p = calloc(1, sizeof *p);
	if (p == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	p->s = s;
	p->ctx = ctx;
	p->validity_s = cfg->ca_crl_validity_s > 0 ? cfg->ca_crl_validity_s : 86400;
	p->reissue_before_s = cfg->ca_crl_reissue_before_s;
	if (p->reissue_before_s >= p->validity_s) {
		/* Else every CRL would be due at once: a new one every poll. */
		p->reissue_before_s = p->validity_s / 2;
		log_warn("ca.crl_reissue_before (%d s) is not shorter than ca.crl_validity (%d s): using %d s",
			 cfg->ca_crl_reissue_before_s, p->validity_s, p->reissue_before_s);
	}
	pthread_condattr_t cattr;
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &cattr);
	pthread_condattr_destroy(&cattr);
	pthread_mutex_init(&p->mu, NULL);
	p->n = certs_ca_count(s);
	p->cas = calloc(p->n ? p->n : 1, sizeof *p->cas);
	if (p->cas == NULL) {
		publisher_free(p);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	if (certs_ocsp_responder_new(cfg->ca_ocsp_validity_s, cfg->ca_ocsp_reuse_window_s, 0, &p->ocsp, e) != 0) {
		publisher_free(p);
		return -1;
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct certs_ca *ca = certs_ca_at(s, i);
		X509 *scert = NULL;
		EVP_PKEY *skey = NULL;
		p->cas[i].ca = ca;
		p->cas[i].issues = ca->signer != NULL && X509_check_ca(ca->cert) > 0;
		if (certs_ocsp_signer(s, ca, &scert, &skey) != 0) {
			scert = NULL;
			skey = NULL;
		}
		if (certs_ocsp_responder_add_ca(p->ocsp, ca, scert, skey, e) != 0) {
			publisher_free(p);
			return efos_wrap(e, "OCSP responder");
		}
	}
	pthread_mutex_lock(&reg_mu);
	size_t slot = REGISTRY_MAX;
	for (size_t i = 0; i < REGISTRY_MAX && slot == REGISTRY_MAX; i++)
		if (registry[i] == NULL)
			slot = i;
	if (slot == REGISTRY_MAX || find_locked(s) != NULL) {
		pthread_mutex_unlock(&reg_mu);
		publisher_free(p);
		return efos_fail(e, EFOS_E_INTERNAL, "CRL publisher already started for this CA service");
	}
	int rc = pthread_create(&p->thread, NULL, publisher_main, p);
	if (rc != 0) {
		pthread_mutex_unlock(&reg_mu);
		publisher_free(p);
		return efos_fail(e, EFOS_E_INTERNAL, "CRL publisher: cannot start a thread (%s)", strerror(rc));
	}
	p->started = true;
	registry[slot] = p;
	pthread_mutex_unlock(&reg_mu);
	log_info("CRL publisher started for %zu CA(s); OCSP answers valid %d s, reused up to %d s", p->n,
		 cfg->ca_ocsp_validity_s, cfg->ca_ocsp_reuse_window_s);
	return 0;
}

void certs_crl_publisher_stop(struct certs_service *s)
{
	pthread_mutex_lock(&reg_mu);
	struct certs_crl_publisher *p = NULL;
	for (size_t i = 0; i < REGISTRY_MAX; i++)
		if (registry[i] != NULL && registry[i]->s == s) {
			p = registry[i];
			registry[i] = NULL;
		}
	pthread_mutex_unlock(&reg_mu);
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->started)
		pthread_join(p->thread, NULL);
	publisher_free(p);
}
