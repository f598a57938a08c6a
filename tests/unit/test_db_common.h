/* Shared by the unit tests that use the test PostgreSQL (scripts/testenv.sh up, source
 * var/test/env): bring the schema up to date as the owner role, then connect as the service
 * role the tests run under. Header-only because each tests/unit/test_*.c is one program. */
#ifndef EFOS_TEST_DB_COMMON_H
#define EFOS_TEST_DB_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include "core/db.h"

/* The migrations in $EFOS_TOP/db applied (as EFOS_TEST_PG_OWNER), then *conn connected as
 * EFOS_TEST_PG. 0, or -1 with the reason on stderr (for a cmocka group/test set-up). */
static inline int test_db_open(PGconn **conn)
{
	const char *top = getenv("EFOS_TOP") ? getenv("EFOS_TOP") : ".";
	const char *pg = getenv("EFOS_TEST_PG"), *pg_owner = getenv("EFOS_TEST_PG_OWNER");
	if (pg == NULL || pg_owner == NULL) {
		fprintf(stderr, "EFOS_TEST_PG* not set: source var/test/env\n");
		return -1;
	}
	char dir[512];
	snprintf(dir, sizeof dir, "%s/db", top);
	PGconn *oc = NULL;
	efos_err e = { 0 };
	int applied = 0;
	if (db_connect(pg_owner, NULL, 5, &oc, &e) < 0 || db_migrate(oc, dir, &applied, &e) < 0) {
		fprintf(stderr, "migrations: %s\n", e.msg);
		PQfinish(oc);
		return -1;
	}
	PQfinish(oc);
	if (db_connect(pg, NULL, 5, conn, &e) < 0) {
		fprintf(stderr, "db_connect: %s\n", e.msg);
		return -1;
	}
	return 0;
}

#endif
