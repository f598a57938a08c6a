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
/* Returns 0 when the walk finished: r->first_bad_id is 0 when the chain is intact, else the
 * first bad row; -1 (e set) only when the database could not be read. Runs in a repeatable-read
 * snapshot of its own when c is idle, or inside the caller's transaction. */
int audit_verify(PGconn *c, struct audit_verify_result *r, efos_err *e);

/* Added: the chain head: newest id and its hash (64 hex digits). */
int audit_head(PGconn *c, long *last_id, char hex[65], efos_err *e);

#endif
