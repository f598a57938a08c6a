/* The PostgreSQL connection pool.
 *
 * A fixed array of libpq connections guarded by one mutex and a condition variable. A caller
 * takes a free slot (waiting up to the connect timeout), and then, outside the lock, makes
 * sure the connection is alive: a connection marked broken, in a bad state, or whose socket
 * shows that the server hung up while it sat idle (a restarted server closes every session)
 * is PQreset() first. The reset is bounded by libpq's connect_timeout, which the pool adds to
 * the conninfo. When the reset fails the caller gets EFOS_E_UNAVAILABLE "database
 * unavailable: ..." (503) and the slot stays marked for reset, so service resumes by itself
 * once the server is back.
 *
 * The password: passed to libpq as the "password" keyword of PQconnectdbParams. The pool keeps
 * no copy of its own; libpq keeps one inside each PGconn (it needs it for PQreset) and frees
 * it with PQfinish. The caller wipes its own copy after db_pool_create. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/db.h"
#include "core/db_stmt.h"
#include "core/log.h"

struct db_slot {
	PGconn *conn;
	bool in_use;
	bool broken;
};

struct db_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int size;
	int in_use;
	int timeout_s;
	struct db_slot *slots;
	long acquires, waits, failures;
};

static void notice_to_log(void *arg, const char *msg);

/* The first line of a libpq message, without the trailing newline. */
static void pq_msg(const char *m, char *buf, size_t n)
{
	if (m == NULL || *m == '\0')
		m = "unknown error";
	snprintf(buf, n, "%s", m);
	size_t len = strcspn(buf, "\n");
	buf[len] = '\0';
	if (len == 0)
		snprintf(buf, n, "connection failed");
}

/* Builds the keyword/value arrays for PQconnectdbParams from conninfo plus our additions
 * (connect_timeout, keepalives, application_name when not set, password when given). */
static int build_params(const char *conninfo, const char *password, int timeout_s,
			const char ***kw_out, const char ***val_out, PQconninfoOption **opts_out,
			char *tbuf, size_t tbuflen, efos_err *e)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
	if (opts == NULL) {
		char m[256];
		pq_msg(perr, m, sizeof m);
		PQfreemem(perr);
		return efos_fail(e, EFOS_E_CONFIG, "invalid database connection string: %s", m);
	}
	size_t n = 0;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		n++;
	const char **kw = calloc(n + 8, sizeof *kw);
	const char **val = calloc(n + 8, sizeof *val);
	if (kw == NULL || val == NULL) {
		free(kw);
		free(val);
		PQconninfoFree(opts);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	size_t i = 0;
	bool has_timeout = false, has_app = false, has_ka = false;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || strcmp(o->keyword, "password") == 0)
			continue;
		if (strcmp(o->keyword, "connect_timeout") == 0)
			has_timeout = true;
		if (strcmp(o->keyword, "application_name") == 0)
			has_app = true;
		if (strncmp(o->keyword, "keepalives", 10) == 0)
			has_ka = true;
		kw[i] = o->keyword;
		val[i++] = o->val;
	}
	if (!has_timeout) {
		snprintf(tbuf, tbuflen, "%d", timeout_s);
		kw[i] = "connect_timeout";
		val[i++] = tbuf;
	}
	if (!has_app) {
		kw[i] = "application_name";
		val[i++] = "efos";
	}
	if (!has_ka) {
		/* Notice a vanished server (network partition) within about a minute. */
		kw[i] = "keepalives_idle";
		val[i++] = "30";
		kw[i] = "keepalives_interval";
		val[i++] = "10";
		kw[i] = "keepalives_count";
		val[i++] = "3";
	}
	if (password != NULL) {
		kw[i] = "password";
		val[i++] = password;
	}
	kw[i] = NULL;
	val[i] = NULL;
	*kw_out = kw;
	*val_out = val;
	*opts_out = opts;
	return 0;
}

int db_connect(const char *conninfo, const char *password, int connect_timeout_s, PGconn **out,
	       efos_err *e)
{
	const char **kw, **val;
	PQconninfoOption *opts;
	char tbuf[16];
	*out = NULL;
	if (build_params(conninfo, password, connect_timeout_s, &kw, &val, &opts, tbuf, sizeof tbuf, e) < 0)
		return -1;
	PGconn *c = PQconnectdbParams(kw, val, 0);
	free(kw);
	free(val);
	PQconninfoFree(opts);
	if (c == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	if (PQstatus(c) != CONNECTION_OK) {
		char m[256];
		pq_msg(PQerrorMessage(c), m, sizeof m);
		PQfinish(c);
		return efos_fail(e, EFOS_E_UNAVAILABLE, "database unavailable: %s", m);
	}
	PQsetNoticeProcessor(c, notice_to_log, NULL);
	*out = c;
	return 0;
}

int db_pool_create(const char *conninfo, const char *password, int size, int connect_timeout_s,
		   struct db_pool **out, efos_err *e)
{
	*out = NULL;
	if (size < 1 || connect_timeout_s < 1)
		return efos_fail(e, EFOS_E_INTERNAL, "db_pool_create: bad size or timeout");
	const char **kw, **val;
	PQconninfoOption *opts;
	char tbuf[16];
	if (build_params(conninfo, password, connect_timeout_s, &kw, &val, &opts, tbuf, sizeof tbuf, e) < 0)
		return -1;
	struct db_pool *p = calloc(1, sizeof *p);
	int rc = -1;
	if (p == NULL || (p->slots = calloc((size_t)size, sizeof *p->slots)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&p->mu, NULL);
	p->size = size;
	p->timeout_s = connect_timeout_s;
	for (int i = 0; i < size; i++) {
		/* Every slot gets a PGconn even when connecting fails: PQreset() reconnects it
		 * later with the parameters (and password) libpq stored in it. */
		PGconn *c = PQconnectdbParams(kw, val, 0);
		if (c == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
		p->slots[i].conn = c;
		PQsetNoticeProcessor(c, notice_to_log, NULL);
		if (PQstatus(c) != CONNECTION_OK) {
			char m[256];
			pq_msg(PQerrorMessage(c), m, sizeof m);
			if (i == 0) {
				/* The first one failing means the database is not there: say so now
				 * rather than start a node that cannot serve. */
				efos_fail(e, EFOS_E_UNAVAILABLE, "database unavailable: %s", m);
				goto out;
			}
			log_warn("database connection %d of %d failed, will retry: %s", i + 1, size, m);
			p->slots[i].broken = true;
		}
	}
	*out = p;
	p = NULL;
	rc = 0;
out:
	free(kw);
	free(val);
	PQconninfoFree(opts);
	if (p != NULL) {
		if (p->slots != NULL) {
			for (int i = 0; i < p->size; i++)
				if (p->slots[i].conn != NULL)
					PQfinish(p->slots[i].conn);
			pthread_mutex_destroy(&p->mu);
			pthread_cond_destroy(&p->cv);
		}
		free(p->slots);
		free(p);
	}
	return rc;
}

void db_pool_destroy(struct db_pool *pool)
{
	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->mu);
	if (pool->in_use > 0)
		log_warn("database pool destroyed with %d connections in use", pool->in_use);
	pthread_mutex_unlock(&pool->mu);
	for (int i = 0; i < pool->size; i++)
		if (pool->slots[i].conn != NULL)
			PQfinish(pool->slots[i].conn);
	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->cv);
	free(pool->slots);
	free(pool);
}

/* True when the server has hung up on an idle connection (a restart or an administrator's
 * pg_terminate_backend): the socket is readable while we expect nothing. */
static bool idle_conn_dead(PGconn *c)
{
	if (PQstatus(c) != CONNECTION_OK)
		return true;
	int fd = PQsocket(c);
	if (fd < 0)
		return true;
	/* A server that shuts down sends a FATAL message, then closes: the first read takes the
	 * message, a later one sees the end of the stream (libpq then says CONNECTION_BAD). A
	 * NOTIFY or ParameterStatus is consumed and leaves the socket quiet. */
	for (int i = 0; i < 8; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, 0);
		if (r == 0)
			return false;
		if (r < 0)
			return errno != EINTR;
		if (pfd.revents & (POLLERR | POLLNVAL))
			return true;
		if (PQconsumeInput(c) == 0 || PQstatus(c) != CONNECTION_OK)
			return true;
		PGnotify *nt;
		while ((nt = PQnotifies(c)) != NULL)
			PQfreemem(nt);
	}
	return true;   /* still chattering on an idle connection: start afresh */
}

/* Server notices (and the FATAL sent to idle sessions at shutdown) go to the structured log,
 * not raw to stderr. */
static void notice_to_log(void *arg, const char *msg)
{
	char m[256];
	pq_msg(msg, m, sizeof m);
	log_warn("database: %s", m);
}

int db_acquire(struct db_pool *pool, PGconn **out, efos_err *e)
{
	*out = NULL;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += pool->timeout_s;

	pthread_mutex_lock(&pool->mu);
	bool waited = false;
	while (pool->in_use == pool->size) {
		waited = true;
		int r = pthread_cond_timedwait(&pool->cv, &pool->mu, &deadline);
		if (r == ETIMEDOUT && pool->in_use == pool->size) {
			pool->failures++;
			pthread_mutex_unlock(&pool->mu);
			return efos_fail(e, EFOS_E_UNAVAILABLE, "database unavailable: all %d connections "
					 "stayed busy for %d s", pool->size, pool->timeout_s);
		}
	}
	struct db_slot *s = NULL;
	for (int i = 0; i < pool->size; i++)
		if (!pool->slots[i].in_use) {
			s = &pool->slots[i];
			break;
		}
	s->in_use = true;
	pool->in_use++;
	if (waited)
		pool->waits++;
	bool needs_reset = s->broken;
	pthread_mutex_unlock(&pool->mu);

	/* The slot is ours: check and reset it without holding the lock. */
	if (needs_reset || idle_conn_dead(s->conn)) {
		PQreset(s->conn);
		if (PQstatus(s->conn) != CONNECTION_OK) {
			char m[256];
			pq_msg(PQerrorMessage(s->conn), m, sizeof m);
			pthread_mutex_lock(&pool->mu);
			s->broken = true;
			s->in_use = false;
			pool->in_use--;
			pool->failures++;
			pthread_cond_signal(&pool->cv);
			pthread_mutex_unlock(&pool->mu);
			return efos_fail(e, EFOS_E_UNAVAILABLE, "database unavailable: %s", m);
		}
		if (needs_reset)
			log_info("database connection re-established");
	}
	pthread_mutex_lock(&pool->mu);
	s->broken = false;
	pool->acquires++;
	pthread_mutex_unlock(&pool->mu);
	*out = s->conn;
	return 0;
}

void db_release(struct db_pool *pool, PGconn *conn, bool broken)
{
	if (conn == NULL)
		return;
	if (!broken) {
		switch (PQtransactionStatus(conn)) {
		case PQTRANS_IDLE:
			break;
		case PQTRANS_INTRANS:
		case PQTRANS_INERROR:
			/* A caller returned a connection mid-transaction: never let the next user
			 * inherit it. */
			log_warn("database connection released inside a transaction; rolling back");
			db_rollback(conn);
			if (PQtransactionStatus(conn) != PQTRANS_IDLE)
				broken = true;
			break;
		default:
			broken = true;
		}
		if (PQstatus(conn) != CONNECTION_OK)
			broken = true;
	}
	pthread_mutex_lock(&pool->mu);
	for (int i = 0; i < pool->size; i++) {
		struct db_slot *s = &pool->slots[i];
		if (s->conn == conn && s->in_use) {
			s->in_use = false;
			if (broken)
				s->broken = true;
			pool->in_use--;
			pthread_cond_signal(&pool->cv);
			break;
		}
	}
	pthread_mutex_unlock(&pool->mu);
}

void db_pool_cache_statements(struct db_pool *pool, int max_per_conn)
{
	if (max_per_conn <= 0)
		return;
	for (int i = 0; i < pool->size; i++)
		if (!db_stmt_attach(pool->slots[i].conn, max_per_conn))
			log_warn("database connection %d: no prepared-statement cache (libpq refused)", i + 1);
}

void db_pool_get_stats(struct db_pool *pool, struct db_pool_stats *st)
{
	pthread_mutex_lock(&pool->mu);
	st->size = pool->size;
	st->in_use = pool->in_use;
	st->acquires = pool->acquires;
	st->waits = pool->waits;
	st->failures = pool->failures;
	pthread_mutex_unlock(&pool->mu);
}

int db_ping(struct db_pool *pool, efos_err *e)
{
	PGconn *c;
	if (db_acquire(pool, &c, e) < 0)
		return -1;
	PGresult *r = db_exec(c, "SELECT 1", 0, NULL, e);
	bool ok = r != NULL;
	PQclear(r);
	db_release(pool, c, !ok && db_conn_broken(c));
	return ok ? 0 : -1;
}

bool db_conn_broken(PGconn *c)
{
	return c == NULL || PQstatus(c) != CONNECTION_OK;
}

/* SQLSTATE classes that mean "the server cannot serve right now" rather than "this statement
 * is wrong": connection exceptions (08), admin shutdown / crash / cannot connect now (57P0x). */
static bool sqlstate_unavailable(const char *ss)
{
	return ss != NULL && (strncmp(ss, "08", 2) == 0 || strncmp(ss, "57P0", 4) == 0);
}

PGresult *db_exec(PGconn *c, const char *sql, int nparams, const char *const *params, efos_err *e)
{
	PGresult *r = NULL;
	if (!db_stmt_exec(c, sql, nparams, params, &r))
		r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	char m[384];
	const char *ss = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	pq_msg(r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(c), m, sizeof m);
	if (db_conn_broken(c) || sqlstate_unavailable(ss))
		efos_fail(e, EFOS_E_UNAVAILABLE, "database unavailable: %s", m);
	else if (ss != NULL && strcmp(ss, "23505") == 0)
		efos_fail(e, EFOS_E_CONFLICT, "database: %s", m);
	else
		efos_fail(e, EFOS_E_INTERNAL, "database error%s%s%s: %s", ss ? " (" : "", ss ? ss : "",
			  ss ? ")" : "", m);
	PQclear(r);
	return NULL;
}

static int exec_simple(PGconn *c, const char *sql, efos_err *e)
{
	PGresult *r = db_exec(c, sql, 0, NULL, e);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int db_begin(PGconn *c, efos_err *e)
{
	return exec_simple(c, "BEGIN", e);
}

int db_commit(PGconn *c, efos_err *e)
{
	/* COMMIT of a failed transaction "succeeds" as a ROLLBACK: report it as the failure. */
	bool failed = PQtransactionStatus(c) == PQTRANS_INERROR;
	if (exec_simple(c, "COMMIT", e) < 0)
		return -1;
	if (failed)
		return efos_fail(e, EFOS_E_INTERNAL, "database: transaction failed earlier and was rolled back");
	return 0;
}

void db_rollback(PGconn *c)
{
	if (c == NULL || PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) == PQTRANS_IDLE)
		return;
	PGresult *r = PQexecParams(c, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
	PQclear(r);
}
