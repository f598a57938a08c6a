/* Shared by certs/registry*.c only: transactions that join the caller's, audit events,
 * input checks and result copying. */
#ifndef EFOS_CERTS_REGISTRY_INTERNAL_H
#define EFOS_CERTS_REGISTRY_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>
#include "certs/registry.h"

/* SQL for a timestamptz as "2025-01-31T12:00:00Z". */
#define REG_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

struct reg_tx {
	bool own;    /* we began it: we commit or roll back */
};
int reg_tx_begin(PGconn *c, struct reg_tx *tx, efos_err *e);
/* rc 0: commit (own) ; rc != 0: roll back (own). Returns rc, or -1 when the commit failed. */
int reg_tx_end(PGconn *c, struct reg_tx *tx, int rc, efos_err *e);

/* Appends a "success" audit event; details (may be NULL) is consumed (json_decref). */
int reg_audit(PGconn *c, const struct registry_actor *who, const char *action, const char *object,
	      json_t *details, efos_err *e);

/* UTF-8, 1..256 characters, no control characters. field names the input in messages. */
int reg_text_check(const char *field, const char *s, efos_err *e);
void reg_copy(char *dst, size_t cap, const PGresult *r, int row, int col);
long reg_long(const PGresult *r, int row, int col);
void reg_ltoa(char buf[24], long v);

#endif
