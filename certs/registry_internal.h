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

/* Copies row i of r into dst (one struct registry_*). */
typedef void (*reg_row_fn)(const PGresult *r, int i, void *dst);
/* Runs sql and copies every row with row() into a calloc'd array of elem_size-byte elements
 * (*out is never NULL on success, even with no rows; the caller frees it). */
int reg_rows(PGconn *c, const char *sql, int np, const char *const *p, size_t elem_size,
	     reg_row_fn row, void **out, size_t *n, efos_err *e);
/* Runs sql that selects at most one row: 0 copied into dst (unless NULL), 1 no row, -1 error. */
int reg_row_one(PGconn *c, const char *sql, int np, const char *const *p, reg_row_fn row, void *dst,
		efos_err *e);

#endif
