/* The audit chain: one append-only table (audit_log); each row's hash covers the previous
 * row's hash and this row's fields, so an altered, inserted or deleted row breaks the chain.
 * audit_append() runs inside the caller's transaction, beside the change it records. */
#ifndef EFOS_CORE_AUDIT_H
#define EFOS_CORE_AUDIT_H

#include <libpq-fe.h>
#include "core/err.h"

struct audit_event {
	const char *node;     /* which efosd / efosctl */
	const char *actor;    /* who: officer certificate subject, "efosctl:root", SP entity id... */
	const char *action;   /* what: "card.enroll", "cert.revoke", "login", ... */
	const char *object;   /* on what: serial, person id, ... */
	const char *outcome;  /* "success" | "failure" | "denied" */
	const char *details;  /* JSON object text, or NULL for {} */
};

/* Must be called inside a transaction (serialises appends with a row lock on the chain head). */
int audit_append(PGconn *c, const struct audit_event *ev, efos_err *e);

struct audit_verify_result {
	long rows_checked;
	long first_bad_id;    /* 0 when the chain is intact */
	char problem[256];    /* "row 17 altered", "row 18 deleted (gap after 17)", ... */
};
int audit_verify(PGconn *c, struct audit_verify_result *r, efos_err *e);

#endif
