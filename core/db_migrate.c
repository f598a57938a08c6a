/* Schema migrations: files DIR/NNNN_name.sql, applied in order of NNNN, each in its own
 * transaction together with its row in schema_migrations(version, name, applied_at).
 * Versions start at 1 and have no gaps, so a missing file is noticed rather than skipped.
 * efosd only checks (db_schema_check); `efosctl db migrate` applies, as the schema owner. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/db.h"

#define MIGRATION_MAX_BYTES (4 * 1024 * 1024)
#define MIGRATION_MAX_FILES 10000
/* pg_advisory_xact_lock key: "EFOSMIGR" */
#define MIGRATE_LOCK_KEY "4991764456184301394"

struct migration {
	int version;
	char name[128];   /* "platform" */
	char file[160];   /* "0001_platform.sql" */
};

static int cmp_migration(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

/* Parses "NNNN_name.sql"; 0 when the file is a migration. */
static int parse_name(const char *f, struct migration *m)
{
	size_t len = strlen(f);
	if (len < 6 || len >= sizeof m->file || strcmp(f + len - 4, ".sql") != 0)
		return -1;
	const char *p = f;
	long v = 0;
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (*p - '0');
		if (v > 999999)
			return -1;
		p++;
	}
	if (p == f || *p != '_' || v < 1)
		return -1;
	const char *name = p + 1;
	size_t nlen = (size_t)(f + len - 4 - name);
	if (nlen == 0 || nlen >= sizeof m->name)
		return -1;
	for (size_t i = 0; i < nlen; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
			return -1;
	m->version = (int)v;
	memcpy(m->name, name, nlen);
	m->name[nlen] = '\0';
	memcpy(m->file, f, len + 1);
	return 0;
}

/* Lists dir's migrations sorted by version; refuses duplicates and gaps. */
static int list_migrations(const char *dir, struct migration **out, size_t *n_out, efos_err *e)
{
	*out = NULL;
	*n_out = 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return efos_fail(e, EFOS_E_CONFIG, "migrations directory %s: %s", dir, strerror(errno));
	struct migration *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = -1;
	while ((de = readdir(d)) != NULL) {
		struct migration m;
		if (de->d_name[0] == '.' || parse_name(de->d_name, &m) < 0)
			continue;
		if (n == MIGRATION_MAX_FILES) {
			efos_fail(e, EFOS_E_CONFIG, "%s: too many migration files", dir);
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct migration *nv = realloc(v, cap * sizeof *v);
			if (nv == NULL) {
				efos_fail(e, EFOS_E_INTERNAL, "out of memory");
				goto out;
			}
			v = nv;
		}
		v[n++] = m;
	}
	if (n > 0)
		qsort(v, n, sizeof *v, cmp_migration);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && v[i].version == v[i - 1].version) {
			efos_fail(e, EFOS_E_CONFIG, "%s: two migrations with version %d: %s and %s",
				  dir, v[i].version, v[i - 1].file, v[i].file);
			goto out;
		}
		if (v[i].version != (int)i + 1) {
			efos_fail(e, EFOS_E_CONFIG, "%s: migration %04d is missing (next is %s)",
				  dir, (int)i + 1, v[i].file);
			goto out;
		}
	}
	*out = v;
	*n_out = n;
	v = NULL;
	rc = 0;
out:
	closedir(d);
	free(v);
	return rc;
}

int db_migrations_newest(const char *dir, int *version, efos_err *e)
{
	struct migration *v;
	size_t n;
	if (list_migrations(dir, &v, &n, e) < 0)
		return -1;
	*version = n > 0 ? v[n - 1].version : 0;
	free(v);
	return 0;
}

int db_schema_version(PGconn *c, int *version, efos_err *e)
{
	PGresult *r = db_exec(c, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, e);
	if (r == NULL)
		return -1;
	bool exists = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!exists) {
		*version = 0;
		return 0;
	}
	r = db_exec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, e);
	if (r == NULL)
		return -1;
	*version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

static char *read_file(const char *path, efos_err *e)
{
	FILE *fp = fopen(path, "re");
	if (fp == NULL) {
		efos_fail(e, EFOS_E_CONFIG, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat sb;
	if (fstat(fileno(fp), &sb) < 0 || sb.st_size > MIGRATION_MAX_BYTES) {
		fclose(fp);
		efos_fail(e, EFOS_E_CONFIG, "%s: unreadable or larger than %d bytes", path, MIGRATION_MAX_BYTES);
		return NULL;
	}
	char *buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL) {
		fclose(fp);
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		return NULL;
	}
	size_t n = fread(buf, 1, (size_t)sb.st_size, fp);
	fclose(fp);
	buf[n] = '\0';
	return buf;
}

/* Runs a multi-statement script (the migration file). */
static int exec_script(PGconn *c, const char *sql, const char *file, efos_err *e)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
		PQclear(r);
		return 0;
	}
	char m[384];
	snprintf(m, sizeof m, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
	m[strcspn(m, "\n")] = '\0';
	PQclear(r);
	return efos_fail(e, db_conn_broken(c) ? EFOS_E_UNAVAILABLE : EFOS_E_INTERNAL, "%s: %s", file, m);
}

int db_migrate_ex(PGconn *c, const char *dir, db_migrate_hook on_applied, void *arg, int *applied,
		  efos_err *e)
{
	struct migration *v = NULL;
	size_t n = 0;
	char *sql = NULL;
	int rc = -1;
	if (applied != NULL)
		*applied = 0;
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		return efos_fail(e, EFOS_E_INTERNAL, "db_migrate: the connection is inside a transaction");
	if (list_migrations(dir, &v, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (db_begin(c, e) < 0)
			goto out;
		/* Serialise migrators; the lock goes with the transaction. */
		PGresult *r = db_exec(c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", 0, NULL, e);
		if (r == NULL)
			goto fail_tx;
		PQclear(r);
		int current;
		if (db_schema_version(c, &current, e) < 0)
			goto fail_tx;
		if (current >= v[i].version) {
			/* Already applied (perhaps by a concurrent migrator). */
			db_rollback(c);
			continue;
		}
		if (current != v[i].version - 1) {
			efos_fail(e, EFOS_E_CONFLICT, "database schema is at %d, cannot apply %s", current, v[i].file);
			goto fail_tx;
		}
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, v[i].file);
		free(sql);
		if ((sql = read_file(path, e)) == NULL || exec_script(c, sql, v[i].file, e) < 0)
			goto fail_tx;
		char ver[16];
		snprintf(ver, sizeof ver, "%d", v[i].version);
		const char *params[] = { ver, v[i].name };
		r = db_exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, params, e);
		if (r == NULL) {
			efos_wrap(e, "%s: recording it in schema_migrations", v[i].file);
			goto fail_tx;
		}
		PQclear(r);
		if (on_applied != NULL && on_applied(c, v[i].version, v[i].name, arg, e) != 0)
			goto fail_tx;
		if (db_commit(c, e) < 0) {
			efos_wrap(e, "%s", v[i].file);
			goto out;
		}
		if (applied != NULL)
			(*applied)++;
	}
	rc = 0;
	goto out;
fail_tx:
	db_rollback(c);
out:
	free(sql);
	free(v);
	return rc;
}

int db_migrate(PGconn *c, const char *dir, int *applied, efos_err *e)
{
	return db_migrate_ex(c, dir, NULL, NULL, applied, e);
}

int db_schema_check(PGconn *c, const char *dir, efos_err *e)
{
	int have, need;
	if (db_migrations_newest(dir, &need, e) < 0)
		return -1;
	if (db_schema_version(c, &have, e) < 0)
		return -1;
	if (have < need)
		return efos_fail(e, EFOS_E_CONFIG, "database schema is behind: at %d, this efosd needs %d "
				 "(run `efosctl db migrate`)", have, need);
	if (have > need)
		return efos_fail(e, EFOS_E_CONFIG, "database schema is ahead: at %d, this efosd knows up "
				 "to %d (upgrade efosd)", have, need);
	return 0;
}
