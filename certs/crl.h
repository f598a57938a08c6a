/* CRLs (RFC 5280 §5): one v2 CRL per CA, built from the `certificates` table, signed in the HSM
 * with the CA's key (SHA-256), stored in the CA's `cas` row and served at /crl/<ca>.crl.
 *
 * Entries: status 'revoked' (revocationDate = revoked_at, reasonCode unless unspecified) and
 * 'hold' (reasonCode certificateHold). An entry is dropped once its certificate expired more
 * than one CRL validity ago, so that it still appears on one CRL issued after its notAfter
 * (RFC 5280 §3.3). Extensions: cRLNumber, authorityKeyIdentifier (the CA's SKI).
 *
 * Issuing is serialised across nodes by `SELECT ... FOR UPDATE` on the CA's `cas` row: the CRL
 * number is read, incremented and stored with the new CRL, crl_dirty cleared and the audit
 * event "crl.issue" written, all in one transaction, so two nodes never issue the same number.
 *
 * The publisher (certs/crl_publisher.c) is a thread per node that reissues a CA's CRL within
 * about two seconds of certs_crl_notify() (certs/service.h), when the CA's crl_dirty flag is set
 * in the database (another node or efosctl revoked something; polled every two seconds), and
 * ca.crl_reissue_before seconds before nextUpdate. It also holds this node's OCSP responder
 * (certs/ocsp.h), whose cached answers it invalidates whenever a CA's revocation data changes. */
#ifndef EFOS_CERTS_CRL_H
#define EFOS_CERTS_CRL_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include "core/err.h"

struct certs_ca;
struct certs_service;
struct certs_ocsp_responder;
struct efos_ctx;

/* Issues a new CRL for ca now (unconditionally), stores it and audits it. Runs in the caller's
 * transaction when c is inside one (the caller commits), else in a transaction of its own.
 * validity_s: nextUpdate - thisUpdate. *der (malloc'd, caller frees) and *len receive the CRL;
 * der may be NULL when the caller does not want it. Needs ca->signer (the CA key in this
 * node's HSM): EFOS_E_UNAVAILABLE otherwise. */
int certs_crl_build(PGconn *c, const struct certs_ca *ca, int validity_s, unsigned char **der,
		    size_t *len, efos_err *e);

struct certs_crl_issue_opts {
	int validity_s;          /* nextUpdate - thisUpdate */
	int reissue_before_s;    /* reissue when nextUpdate is nearer than this (force false) */
	bool force;              /* issue even if the stored CRL is current and not dirty */
	const char *node;        /* audit: which node ("efos" when NULL) */
	const char *actor;       /* audit: who ("crl-publisher" when NULL) */
};
/* The publisher's step: locks the CA row and issues a CRL only when forced, when crl_dirty is
 * set, when there is no CRL yet or when nextUpdate is within reissue_before_s. *issued says
 * whether it did; *number (may be NULL) receives the CA's current CRL number either way. */
int certs_crl_issue(PGconn *c, const struct certs_ca *ca, const struct certs_crl_issue_opts *o,
		    bool *issued, long *number, efos_err *e);

/* Starts this node's CRL publisher thread and OCSP responder for the CAs of s (the CAs whose
 * key is in this node's HSM get CRLs; every CA is answered for by OCSP). Called by
 * certs_service_start() once the CAs are loaded; ctx supplies the configuration and the
 * database pool and must outlive the publisher. Fails only when memory or thread creation does. */
int certs_crl_publisher_start(struct certs_service *s, struct efos_ctx *ctx, efos_err *e);
/* Stops the thread (waits for an issuance in progress) and frees the OCSP responder. Called by
 * certs_service_stop() before the CAs are freed. No-op when not started. */
void certs_crl_publisher_stop(struct certs_service *s);

/* This node's OCSP responder for s (NULL when the publisher was not started). */
struct certs_ocsp_responder *certs_crl_publisher_ocsp(const struct certs_service *s);

/* (certs_crl_notify() is declared in certs/service.h and implemented in crl_publisher.c.) */

#endif
