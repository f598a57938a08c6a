/* certs/validate.c and policy/loa.c with an in-memory PKI.
 *
 * "Other CA" paths: a root and leaves made here, revocation by OCSP and CRL served by a small
 * HTTP server in a thread of this test (the OCSP answers are built and signed here: nonce
 * echoed or not, signed by a delegated responder or by an unauthorised key).
 * EFOS paths: an EFOS root and card CA made here, registered as EFOS CAs; the `cas`,
 * `certificates`, `cards`, `persons`, `organisations`, `affiliations` rows are inserted in a
 * transaction of the test database that each test rolls back (the validator reads through the
 * same connection).
 *
 * Outcomes covered: valid (other CA via CRL, via OCSP; EFOS card with loa4), expired, not yet
 * valid, valid at a past time, untrusted issuer, bad signature, path length, unknown critical
 * extension, weak key, wrong key usage (card-sign and card-enc certificates for card-auth),
 * policy not acceptable, revoked (CRL, OCSP, database with reason and time), suspended (hold),
 * card not active (pending), unknown EFOS certificate, holder suspended, revocation
 * unavailable (no responder, bad nonce, unauthorised responder, no database). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/conf.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include "certs/validate.h"
#include "certs/validate_memo.h"
#include "core/db.h"
#include "policy/loa.h"

#define HA_OID   "2.25.195263442892063585598849581790911656791"
#define SIGN_OID "2.25.123836948378678934782901549661384433962"

/* ------------------------------------------------------------------------------ PKI */

struct mk {
	const char *cn;
	X509 *issuer;          /* NULL: self-signed */
	EVP_PKEY *issuer_key;  /* NULL: key (self-signed) */
	EVP_PKEY *key;
	bool ca;
	int path_len;          /* CA: -1 none */
	const char *ku, *eku, *policies;
	long nb, na;           /* notBefore / notAfter offsets from now, seconds (0: -60 / +1 day) */
	const char *crl, *ocsp;
	bool unknown_critical;
	bool sign_with_wrong_key;
};

static EVP_PKEY *ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	return k;
}

static void add_ext(X509 *x, X509V3_CTX *v3, const char *name, const char *value)
{
	CONF *conf = NCONF_new(NULL);   /* certificatePolicies needs a (here empty) config */
	X509V3_set_nconf(v3, conf);
	X509_EXTENSION *ext = X509V3_EXT_nconf(conf, v3, name, value);
	NCONF_free(conf);
	if (ext == NULL)
		fail_msg("extension %s = %s", name, value);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
}

static X509 *mk_cert(const struct mk *m)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"EFOS unit test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)m->cn, -1, -1, 0);
	X509_set_version(x, X509_VERSION_3);
	unsigned char sr[16];
	RAND_bytes(sr, sizeof sr);
	sr[0] &= 0x7f;
	sr[0] |= 0x01;
	BIGNUM *bn = BN_bin2bn(sr, sizeof sr, NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, m->issuer ? X509_get_subject_name(m->issuer) : name);
	X509_gmtime_adj(X509_getm_notBefore(x), m->nb ? m->nb : -60);
	X509_gmtime_adj(X509_getm_notAfter(x), m->na ? m->na : 86400);
	X509_set_pubkey(x, m->key);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, m->issuer ? m->issuer : x, x, NULL, NULL, 0);
	char bc[64];
	if (m->ca && m->path_len >= 0)
		snprintf(bc, sizeof bc, "critical,CA:TRUE,pathlen:%d", m->path_len);
	else
		snprintf(bc, sizeof bc, "critical,CA:%s", m->ca ? "TRUE" : "FALSE");
	add_ext(x, &v3, "basicConstraints", bc);
	add_ext(x, &v3, "keyUsage", m->ku ? m->ku : m->ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	add_ext(x, &v3, "subjectKeyIdentifier", "hash");
	if (m->issuer != NULL)
		add_ext(x, &v3, "authorityKeyIdentifier", "keyid:always");
	if (m->eku)
		add_ext(x, &v3, "extendedKeyUsage", m->eku);
	if (m->policies)
		add_ext(x, &v3, "certificatePolicies", m->policies);
	char buf[256];
	if (m->crl) {
		snprintf(buf, sizeof buf, "URI:%s", m->crl);
		add_ext(x, &v3, "crlDistributionPoints", buf);
	}
	if (m->ocsp) {
		snprintf(buf, sizeof buf, "OCSP;URI:%s", m->ocsp);
		add_ext(x, &v3, "authorityInfoAccess", buf);
	}
	if (m->unknown_critical) {
		ASN1_OBJECT *o = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		static const unsigned char null_der[] = { 0x05, 0x00 };
		ASN1_OCTET_STRING_set(os, null_der, sizeof null_der);
		X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, o, 1, os);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		ASN1_OCTET_STRING_free(os);
		ASN1_OBJECT_free(o);
	}
	X509_NAME_free(name);
	EVP_PKEY *signer = m->issuer_key ? m->issuer_key : m->key;
	EVP_PKEY *wrong = NULL;
	if (m->sign_with_wrong_key)
		signer = wrong = ec_key();
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	EVP_PKEY_free(wrong);
	return x;
}

/* Other CA ("foreign"): root + OCSP responder; EFOS: root + card CA. */
static EVP_PKEY *f_root_key, *f_ocsp_key, *e_root_key, *e_card_key, *leaf_key, *rogue_key;
static X509 *f_root, *f_ocsp, *e_root, *e_card, *rogue_root;
static char base_url[64];

/* ------------------------------------------------------------------------------ server */

#define MAX_REVOKED 16
static pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	ASN1_INTEGER *serial;
	int reason;
} revoked[MAX_REVOKED];
static size_t n_revoked;
static enum { OCSP_OK, OCSP_DOWN, OCSP_BAD_NONCE, OCSP_ROGUE } ocsp_mode;
static bool crl_down;
static int srv_fd = -1;
static volatile bool srv_stop;
static pthread_t srv_thread;

static void revoke_serial(X509 *x, int reason)
{
	pthread_mutex_lock(&srv_lock);
	revoked[n_revoked].serial = ASN1_INTEGER_dup(X509_get0_serialNumber(x));
	revoked[n_revoked++].reason = reason;
	pthread_mutex_unlock(&srv_lock);
}

static int revoked_reason(const ASN1_INTEGER *s)
{
	for (size_t i = 0; i < n_revoked; i++)
		if (ASN1_INTEGER_cmp(revoked[i].serial, s) == 0)
			return revoked[i].reason;
	return -1;
}

static unsigned char *make_crl(size_t *len)
{
	X509_CRL *crl = X509_CRL_new();
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(f_root));
	ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL), 0, -60);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_adj(t, time(NULL), 0, 3600);
	X509_CRL_set1_nextUpdate(crl, t);
	pthread_mutex_lock(&srv_lock);
	for (size_t i = 0; i < n_revoked; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		X509_REVOKED_set_serialNumber(r, revoked[i].serial);
		ASN1_TIME_adj(t, time(NULL), 0, -30);
		X509_REVOKED_set_revocationDate(r, t);
		ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
		ASN1_ENUMERATED_set(e, revoked[i].reason);
		X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0);
		ASN1_ENUMERATED_free(e);
		X509_CRL_add0_revoked(crl, r);
	}
	pthread_mutex_unlock(&srv_lock);
	ASN1_TIME_free(t);
	X509_CRL_sort(crl);
	X509_CRL_sign(crl, f_root_key, EVP_sha256());
	unsigned char *der = NULL;
	int n = i2d_X509_CRL(crl, &der);
	X509_CRL_free(crl);
	*len = n > 0 ? (size_t)n : 0;
	return der;
}

static unsigned char *make_ocsp(const unsigned char *req_der, size_t req_len, size_t *len)
{
	const unsigned char *q = req_der;
	OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &q, (long)req_len);
	if (req == NULL)
		return NULL;
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	ASN1_TIME *now = X509_gmtime_adj(NULL, 0), *next = X509_gmtime_adj(NULL, 3600);
	for (int i = 0; i < OCSP_request_onereq_count(req); i++) {
		OCSP_CERTID *id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));
		ASN1_INTEGER *serial = NULL;
		OCSP_id_get0_info(NULL, NULL, NULL, &serial, id);
		pthread_mutex_lock(&srv_lock);
		int reason = revoked_reason(serial);
		pthread_mutex_unlock(&srv_lock);
		OCSP_basic_add1_status(bs, id, reason >= 0 ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD,
				       reason, reason >= 0 ? now : NULL, now, next);
	}
	if (ocsp_mode == OCSP_BAD_NONCE) {
		unsigned char junk[16] = { 1, 2, 3 };
		OCSP_basic_add1_nonce(bs, junk, sizeof junk);
	} else {
		OCSP_copy_nonce(bs, req);
	}
	if (ocsp_mode == OCSP_ROGUE)
		OCSP_basic_sign(bs, rogue_root, rogue_key, EVP_sha256(), NULL, 0);
	else
		OCSP_basic_sign(bs, f_ocsp, f_ocsp_key, EVP_sha256(), NULL, 0);
	OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	unsigned char *der = NULL;
	int n = i2d_OCSP_RESPONSE(resp, &der);
	*len = n > 0 ? (size_t)n : 0;
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	return der;
}

static void serve_one(int c)
{
	char buf[65536];
	size_t n = 0;
	char *hend = NULL;
	while (n < sizeof buf - 1) {
		ssize_t k = read(c, buf + n, sizeof buf - 1 - n);
		if (k <= 0)
			return;
		n += (size_t)k;
		buf[n] = '\0';
		if ((hend = strstr(buf, "\r\n\r\n")) != NULL)
			break;
	}
	if (hend == NULL)
		return;
	size_t clen = 0;
	char *cl = strcasestr(buf, "Content-Length:");
	if (cl != NULL && cl < hend)
		clen = (size_t)atol(cl + 15);
	size_t have = n - (size_t)(hend + 4 - buf);
	while (have < clen && n < sizeof buf - 1) {
		ssize_t k = read(c, buf + n, sizeof buf - 1 - n);
		if (k <= 0)
			return;
		n += (size_t)k;
		have += (size_t)k;
	}
	unsigned char *body = NULL;
	size_t blen = 0;
	const char *ctype = "application/octet-stream";
	if (strncmp(buf, "GET /ca.crl", 11) == 0 && !crl_down) {
		body = make_crl(&blen);
		ctype = "application/pkix-crl";
	} else if (strncmp(buf, "POST /ocsp ", 11) == 0 && ocsp_mode != OCSP_DOWN) {
		body = make_ocsp((unsigned char *)hend + 4, clen, &blen);
		ctype = "application/ocsp-response";
	}
	char hdr[256];
	int hl = body ? snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
				 "Connection: close\r\n\r\n", ctype, blen)
		      : snprintf(hdr, sizeof hdr, "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	if (write(c, hdr, (size_t)hl) < 0 || (body && write(c, body, blen) < 0))
		fprintf(stderr, "test server: write failed\n");
	OPENSSL_free(body);
}

static void *server_main(void *arg)
{
	(void)arg;
	while (!srv_stop) {
		struct pollfd pfd = { .fd = srv_fd, .events = POLLIN };
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		int c = accept(srv_fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(c);
		close(c);
	}
	return NULL;
}

static void server_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	srv_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(srv_fd >= 0);
	assert_int_equal(bind(srv_fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(srv_fd, 16), 0);
	getsockname(srv_fd, (struct sockaddr *)&a, &al);
	snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", ntohs(a.sin_port));
	assert_int_equal(pthread_create(&srv_thread, NULL, server_main, NULL), 0);
}

/* ------------------------------------------------------------------------------ database */

static PGconn *C;
static long ca_root_id, ca_card_id;

static void sql_ok(const char *sql, int n, const char *const *params)
{
	efos_err e = { 0 };
	PGresult *r = db_exec(C, sql, n, params, &e);
	if (r == NULL)
		fail_msg("%s: %s", sql, e.msg);
	PQclear(r);
}

static long sql_long(const char *sql, int n, const char *const *params)
{
	efos_err e = { 0 };
	PGresult *r = db_exec(C, sql, n, params, &e);
	if (r == NULL || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, r ? "no row" : e.msg);
	long v = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static char *der_hex(X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	char *s = malloc(2 * (size_t)n + 1);
	for (int i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", der[i]);
	s[2 * n] = '\0';
	OPENSSL_free(der);
	return s;
}

static long insert_ca(const char *name, X509 *x, long parent)
{
	char *h = der_hex(x), par[24];
	snprintf(par, sizeof par, "%ld", parent);
	const char *p[] = { name, h, parent ? par : NULL };
	long id = sql_long("INSERT INTO cas (name, parent_id, cert_der, key_uri, subject, ski, name_hash_sha1, "
			   "key_hash_sha1) VALUES ($1, $3::bigint, decode($2, 'hex'), 'pkcs11:test', $1, '\\x01', "
			   "'\\x01', '\\x01') RETURNING id", 3, p);
	free(h);
	return id;
}

/* person, organisation, two affiliations (one ended), an officer, a card: returns card id. */
static long insert_holder(const char *pnr, bool coordination, const char *card_status, long *person_id)
{
	char orgnr[16], org2[16], sha[80];
	snprintf(orgnr, sizeof orgnr, "55%08d", (int)(random() % 100000000));
	snprintf(org2, sizeof org2, "21%08d", (int)(random() % 100000000));
	snprintf(sha, sizeof sha, "%016lx%016lx%016lx%016lx", random(), random(), random(), (long)getpid());
	const char *pp[] = { pnr, coordination ? "true" : "false" };
	long pid = sql_long("INSERT INTO persons (pnr, is_coordination_number, given_name, surname, display_name) "
			    "VALUES ($1, $2::boolean, 'Åsa', 'Öberg', 'Åsa Öberg') RETURNING id", 2, pp);
	const char *po[] = { orgnr };
	long oid = sql_long("INSERT INTO organisations (orgnr, name) VALUES ($1, 'Testmyndigheten') RETURNING id", 1, po);
	const char *po2[] = { org2 };
	long oid2 = sql_long("INSERT INTO organisations (orgnr, name) VALUES ($1, 'Gamla verket') RETURNING id", 1, po2);
	char ps[24], os[24], os2[24];
	snprintf(ps, sizeof ps, "%ld", pid);
	snprintf(os, sizeof os, "%ld", oid);
	snprintf(os2, sizeof os2, "%ld", oid2);
	const char *pa[] = { ps, os };
	long aid = sql_long("INSERT INTO affiliations (person_id, org_id, local_id, title) VALUES ($1, $2, 'asaobe', "
			    "'Handläggare') RETURNING id", 2, pa);
	const char *pa2[] = { ps, os2 };
	sql_ok("INSERT INTO affiliations (person_id, org_id, local_id, status, ended_at) VALUES ($1, $2, 'ao1', "
	       "'ended', now())", 2, pa2);
	const char *pf[] = { sha };
	long fid = sql_long("INSERT INTO officers (name, cert_sha256, cert_subject) VALUES ('Officer', "
			    "decode($1, 'hex'), 'CN=Officer') RETURNING id", 1, pf);
	char as[24], fs[24];
	snprintf(as, sizeof as, "%ld", aid);
	snprintf(fs, sizeof fs, "%ld", fid);
	char token[32];
	snprintf(token, sizeof token, "tok-%ld", random());
	const char *pc[] = { token, ps, as, card_status, fs };
	long cid = sql_long("INSERT INTO cards (token_serial, person_id, affiliation_id, status, enrolled_by) "
			    "VALUES ($1, $2, $3, $4, $5) RETURNING id", 5, pc);
	if (person_id)
		*person_id = pid;
	return cid;
}

static void insert_cert(X509 *x, long ca_id, long card_id, long person_id, const char *profile,
			const char *status, const char *reason, const char *revoked_at)
{
	char *h = der_hex(x), ca[24], card[24], person[24];
	snprintf(ca, sizeof ca, "%ld", ca_id);
	snprintf(card, sizeof card, "%ld", card_id);
	snprintf(person, sizeof person, "%ld", person_id);
	const char *p[] = { h, ca, card_id ? card : NULL, person_id ? person : NULL, profile, status, reason, revoked_at };
	sql_ok("INSERT INTO certificates (serial, ca_id, card_id, person_id, profile, subject, cert_sha256, "
	       "not_before, not_after, der, status, revocation_reason, revoked_at) "
	       "VALUES (substring(sha256(decode($1, 'hex')) from 1 for 16), $2, $3, $4, $5, 'CN=x', "
	       "sha256(decode($1, 'hex')), now() - interval '1 day', now() + interval '1 day', decode($1, 'hex'), "
	       "$6, $7::smallint, $8::timestamptz)", 8, p);
	free(h);
}

/* ------------------------------------------------------------------------------ fixtures */

static char pnr_buf[16];
static const char *fresh_pnr(void)
{
	snprintf(pnr_buf, sizeof pnr_buf, "19%010ld", random() % 10000000000L);
	return pnr_buf;
}

static int setup(void **state)
{
	const char *top = getenv("EFOS_TOP") ? getenv("EFOS_TOP") : ".";
	const char *pg = getenv("EFOS_TEST_PG"), *pg_owner = getenv("EFOS_TEST_PG_OWNER");
	if (pg == NULL || pg_owner == NULL) {
		fprintf(stderr, "EFOS_TEST_PG* not set: source var/test/env\n");
		return -1;
	}
	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	char dir[512];
	snprintf(dir, sizeof dir, "%s/db", top);
	PGconn *oc = NULL;
	efos_err e = { 0 };
	int applied;
	if (db_connect(pg_owner, NULL, 5, &oc, &e) < 0 || db_migrate(oc, dir, &applied, &e) < 0) {
		fprintf(stderr, "migrations: %s\n", e.msg);
		PQfinish(oc);
		return -1;
	}
	PQfinish(oc);
	if (db_connect(pg, NULL, 5, &C, &e) < 0) {
		fprintf(stderr, "db_connect: %s\n", e.msg);
		return -1;
	}
	server_start();
	char ocsp_url[96];
	snprintf(ocsp_url, sizeof ocsp_url, "%s/ocsp", base_url);
	f_root_key = ec_key();
	f_ocsp_key = ec_key();
	e_root_key = ec_key();
	e_card_key = ec_key();
	leaf_key = ec_key();
	rogue_key = ec_key();
	f_root = mk_cert(&(struct mk){ .cn = "Other Root CA", .key = f_root_key, .ca = true, .path_len = -1,
				       .nb = -864000 });
	f_ocsp = mk_cert(&(struct mk){ .cn = "Other OCSP", .issuer = f_root, .issuer_key = f_root_key,
				       .key = f_ocsp_key, .eku = "OCSPSigning", .nb = -864000 });
	rogue_root = mk_cert(&(struct mk){ .cn = "Other Root CA", .key = rogue_key, .ca = true, .path_len = -1 });
	e_root = mk_cert(&(struct mk){ .cn = "EFOS Unit Root", .key = e_root_key, .ca = true, .path_len = 1 });
	e_card = mk_cert(&(struct mk){ .cn = "EFOS Unit Card CA", .issuer = e_root, .issuer_key = e_root_key,
				       .key = e_card_key, .ca = true, .path_len = 0,
				       .policies = HA_OID "," SIGN_OID });
	return 0;
}

static int teardown(void **state)
{
	srv_stop = true;
	pthread_join(srv_thread, NULL);
	close(srv_fd);
	for (size_t i = 0; i < n_revoked; i++)
		ASN1_INTEGER_free(revoked[i].serial);
	X509 *xs[] = { f_root, f_ocsp, e_root, e_card, rogue_root };
	for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
		X509_free(xs[i]);
	EVP_PKEY *ks[] = { f_root_key, f_ocsp_key, e_root_key, e_card_key, leaf_key, rogue_key };
	for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
		EVP_PKEY_free(ks[i]);
	PQfinish(C);
	return 0;
}

/* Each EFOS test: the CA rows in a transaction that teardown rolls back. */
static int efos_up(void **state)
{
	efos_err e = { 0 };
	db_rollback(C);
	assert_int_equal(db_begin(C, &e), 0);
	char n1[40], n2[40];
	snprintf(n1, sizeof n1, "tv-root-%d", (int)getpid());
	snprintf(n2, sizeof n2, "tv-card-%d", (int)getpid());
	ca_root_id = insert_ca(n1, e_root, 0);
	ca_card_id = insert_ca(n2, e_card, ca_root_id);
	ocsp_mode = OCSP_OK;
	crl_down = false;
	return 0;
}

static int efos_down(void **state)
{
	db_rollback(C);
	return 0;
}

static int foreign_up(void **state)
{
	ocsp_mode = OCSP_OK;
	crl_down = false;
	return 0;
}

/* ------------------------------------------------------------------------------ helpers */

static STACK_OF(X509) *stack_of(X509 *a, X509 *b)
{
	STACK_OF(X509) *s = sk_X509_new_null();
	if (a)
		sk_X509_push(s, a);
	if (b)
		sk_X509_push(s, b);
	return s;
}

/* Validates against the other root (no EFOS CAs), with OCSP/CRL fetching on. */
static void validate_foreign(X509 *leaf, enum certs_val_purpose purpose, time_t at, struct certs_validation *r)
{
	STACK_OF(X509) *anchors = stack_of(f_root, NULL);
	struct certs_validate_params p = {
		.purpose = purpose, .at = at, .anchors = anchors, .card_auth_policy = HA_OID,
		.db = C, .fetch_timeout_s = 5,
	};
	efos_err e = { 0 };
	if (certs_validate_chain(&p, leaf, NULL, r, &e) != 0)
		fail_msg("certs_validate_chain: %s", e.msg);
	sk_X509_free(anchors);
}

static void validate_efos(X509 *leaf, enum certs_val_purpose purpose, PGconn *db, struct certs_validation *r)
{
	STACK_OF(X509) *anchors = stack_of(e_root, NULL), *inter = stack_of(e_card, NULL);
	struct certs_val_ca cas[] = { { e_root, ca_root_id, "root" }, { e_card, ca_card_id, "card" } };
	struct certs_validate_params p = {
		.purpose = purpose, .anchors = anchors, .intermediates = inter, .efos_cas = cas,
		.n_efos_cas = 2, .card_auth_policy = HA_OID, .db = db, .fetch_timeout_s = 5,
	};
	efos_err e = { 0 };
	if (certs_validate_chain(&p, leaf, NULL, r, &e) != 0)
		fail_msg("certs_validate_chain: %s", e.msg);
	sk_X509_free(anchors);
	sk_X509_free(inter);
}

static void expect(const struct certs_validation *r, enum certs_val_outcome o, enum certs_val_reason why,
		   const char *in_message)
{
	if (r->outcome != o || r->reason != why || (in_message && !strstr(r->message, in_message)))
		fail_msg("expected %s/%s (\"%s\"), got %s/%s: %s", certs_val_outcome_name(o),
			 certs_val_reason_code(why), in_message ? in_message : "", certs_val_outcome_name(r->outcome),
			 certs_val_reason_code(r->reason), r->message);
}

/* Each leaf names its own CRL URL (?n): the validator caches a CRL until its nextUpdate. */
static X509 *foreign_leaf(const struct mk *over)
{
	static int crl_n;
	char crl[96], ocsp[96];
	snprintf(crl, sizeof crl, "%s/ca.crl?n=%d", base_url, ++crl_n);
	snprintf(ocsp, sizeof ocsp, "%s/ocsp", base_url);
	struct mk m = *over;
	if (m.cn == NULL)
		m.cn = "Other Leaf";
	m.issuer = f_root;
	m.issuer_key = f_root_key;
	if (m.key == NULL)
		m.key = leaf_key;
	if (m.crl == NULL)
		m.crl = crl;
	if (m.ocsp == NULL)
		m.ocsp = ocsp;
	if (m.eku == NULL)
		m.eku = "clientAuth";
	return mk_cert(&m);
}

static X509 *efos_leaf(const char *kind)
{
	struct mk m = { .cn = "Åsa Öberg", .issuer = e_card, .issuer_key = e_card_key, .key = leaf_key };
	if (strcmp(kind, "card-auth") == 0) {
		m.ku = "critical,digitalSignature";
		m.eku = "clientAuth";
		m.policies = HA_OID;
	} else if (strcmp(kind, "card-sign") == 0) {
		m.ku = "critical,nonRepudiation";
		m.policies = SIGN_OID;
	} else if (strcmp(kind, "card-enc") == 0) {
		m.ku = "critical,keyEncipherment";
		m.eku = "emailProtection";
	} else if (strcmp(kind, "officer") == 0) {
		m.ku = "critical,digitalSignature";
		m.eku = "clientAuth";
	}
	return mk_cert(&m);
}

/* ------------------------------------------------------------------------------ LoA */

static void test_loa_rules(void **state)
{
	const char *pols[] = { SIGN_OID, HA_OID };
	struct loa_facts f = { .efos_issued = true, .card_active = true, .card_auth_usage = true,
			       .policy_oids = pols, .n_policy_oids = 2, .high_assurance_oid = HA_OID,
			       .id_type = LOA_ID_PERSONNUMMER };
	struct loa_set s;
	char why[200];
	policy_loa_for_credential(&f, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.uris[0], "http://id.elegnamnden.se/loa/1.0/loa4");
	assert_string_equal(policy_loa_why_none(&f, why, sizeof why), "");
	f.id_type = LOA_ID_SAMORDNINGSNUMMER;
	policy_loa_for_credential(&f, &s);
	assert_true(s.n == 1 && policy_loa_contains(&s, LOA_URI_LOA4));
	f.id_type = LOA_ID_NONE;
	policy_loa_for_credential(&f, &s);
	assert_true(s.n == 1 && policy_loa_contains(&s, "http://id.swedenconnect.se/loa/1.0/loa4-nonresident"));
	f.id_type = LOA_ID_PERSONNUMMER;
	f.n_policy_oids = 1;   /* only the signature policy */
	policy_loa_for_credential(&f, &s);
	assert_int_equal(s.n, 0);
	assert_non_null(strstr(policy_loa_why_none(&f, why, sizeof why), "high-assurance"));
	f.n_policy_oids = 2;
	f.card_active = false;
	policy_loa_for_credential(&f, &s);
	assert_int_equal(s.n, 0);
	f.card_active = true;
	f.efos_issued = false;
	policy_loa_for_credential(&f, &s);
	assert_int_equal(s.n, 0);
	f.efos_issued = true;
	f.card_auth_usage = false;
	policy_loa_for_credential(&f, &s);
	assert_int_equal(s.n, 0);
	f.card_auth_usage = true;
	f.high_assurance_oid = NULL;
	policy_loa_for_credential(&f, &s);
	assert_int_equal(s.n, 0);
	for (size_t i = 0; i < s.n; i++)
		assert_null(strstr(s.uris[i], "eidas"));
}

/* ------------------------------------------------------------------------------ other CAs */

static void test_foreign_valid_ocsp_and_crl(void **state)
{
	struct certs_validation r;
	X509 *x = foreign_leaf(&(struct mk){ 0 });
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_VALID, CERTS_VR_OK, NULL);
	assert_string_equal(r.revocation_source, "ocsp");
	assert_string_equal(r.cert_status, "good");
	assert_false(r.efos_issued);
	assert_int_equal(r.loa.n, 0);
	assert_int_equal(sk_X509_num(r.chain), 2);
	certs_validation_free(&r);
	/* OCSP down: the CRL answers */
	ocsp_mode = OCSP_DOWN;
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_VALID, CERTS_VR_OK, NULL);
	assert_string_equal(r.revocation_source, "crl");
	certs_validation_free(&r);
	/* a card-auth purpose needs the EFOS policy */
	ocsp_mode = OCSP_OK;
	validate_foreign(x, CERTS_PURPOSE_CARD_AUTH, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_POLICY, HA_OID);
	certs_validation_free(&r);
	X509_free(x);
}

static void test_foreign_revoked(void **state)
{
	struct certs_validation r;
	X509 *x = foreign_leaf(&(struct mk){ 0 });
	revoke_serial(x, 1);
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_REVOKED, "keyCompromise (ocsp)");
	assert_int_equal(r.revocation_reason, 1);
	assert_true(r.revoked_at > 0);
	certs_validation_free(&r);
	ocsp_mode = OCSP_DOWN;
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_REVOKED, "keyCompromise (crl)");
	certs_validation_free(&r);
	X509 *h = foreign_leaf(&(struct mk){ 0 });
	revoke_serial(h, 6);
	ocsp_mode = OCSP_OK;
	validate_foreign(h, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_SUSPENDED, "certificateHold");
	certs_validation_free(&r);
	X509_free(h);
	X509_free(x);
}

static void test_foreign_revocation_unavailable(void **state)
{
	struct certs_validation r;
	X509 *x = foreign_leaf(&(struct mk){ 0 });
	ocsp_mode = OCSP_DOWN;
	crl_down = true;
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INDETERMINATE, CERTS_VR_REVOCATION_UNAVAILABLE, "503");
	certs_validation_free(&r);
	/* a forged nonce is not an answer; nor is one signed by a key the CA never authorised */
	ocsp_mode = OCSP_BAD_NONCE;
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INDETERMINATE, CERTS_VR_REVOCATION_UNAVAILABLE, "nonce");
	certs_validation_free(&r);
	ocsp_mode = OCSP_ROGUE;
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INDETERMINATE, CERTS_VR_REVOCATION_UNAVAILABLE, "not trusted");
	certs_validation_free(&r);
	/* with fetching off */
	STACK_OF(X509) *anchors = stack_of(f_root, NULL);
	struct certs_validate_params p = { .anchors = anchors };
	efos_err e = { 0 };
	assert_int_equal(certs_validate_chain(&p, x, NULL, &r, &e), 0);
	expect(&r, CERTS_VAL_INDETERMINATE, CERTS_VR_REVOCATION_UNAVAILABLE, "fetch_timeout");
	certs_validation_free(&r);
	sk_X509_free(anchors);
	X509_free(x);
}

static void test_path_failures(void **state)
{
	struct certs_validation r;
	X509 *x;
	time_t now = time(NULL);

	x = foreign_leaf(&(struct mk){ .nb = -7200, .na = -3600 });
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_EXPIRED, "expired at");
	assert_int_equal(r.error_depth, 0);
	certs_validation_free(&r);
	/* valid at a time when it was */
	validate_foreign(x, CERTS_PURPOSE_ANY, now - 5000, &r);
	expect(&r, CERTS_VAL_VALID, CERTS_VR_OK, NULL);
	certs_validation_free(&r);
	X509_free(x);

	x = foreign_leaf(&(struct mk){ .nb = 3600, .na = 7200 });
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_NOT_YET_VALID, "not valid before");
	certs_validation_free(&r);
	X509_free(x);

	/* a CA we do not trust (same name as ours, other key) */
	x = mk_cert(&(struct mk){ .cn = "Rogue Leaf", .issuer = rogue_root, .issuer_key = rogue_key,
				  .key = leaf_key, .eku = "clientAuth" });
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_UNTRUSTED, "not an EFOS CA or a configured trust anchor");
	certs_validation_free(&r);
	X509_free(x);
	/* a self-signed certificate */
	x = mk_cert(&(struct mk){ .cn = "Self", .key = leaf_key, .eku = "clientAuth" });
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_UNTRUSTED, NULL);
	certs_validation_free(&r);
	X509_free(x);

	x = foreign_leaf(&(struct mk){ .sign_with_wrong_key = true });
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_BAD_SIGNATURE, "does not verify");
	certs_validation_free(&r);
	X509_free(x);

	x = foreign_leaf(&(struct mk){ .unknown_critical = true });
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_CRITICAL_EXTENSION, "1.3.6.1.4.1.99999.1");
	certs_validation_free(&r);
	X509_free(x);

	EVP_PKEY *rsa1024 = EVP_RSA_gen(1024);
	x = foreign_leaf(&(struct mk){ .key = rsa1024 });
	validate_foreign(x, CERTS_PURPOSE_ANY, 0, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_WEAK_CRYPTO, NULL);
	certs_validation_free(&r);
	X509_free(x);
	EVP_PKEY_free(rsa1024);

	/* path length: the EFOS root allows one CA below it; a CA under the card CA breaks it */
	EVP_PKEY *k = ec_key();
	X509 *sub = mk_cert(&(struct mk){ .cn = "Sub CA", .issuer = e_card, .issuer_key = e_card_key,
					  .key = k, .ca = true, .path_len = -1, .policies = HA_OID });
	x = mk_cert(&(struct mk){ .cn = "Deep Leaf", .issuer = sub, .issuer_key = k, .key = leaf_key,
				  .eku = "clientAuth", .policies = HA_OID });
	STACK_OF(X509) *anchors = stack_of(e_root, NULL), *inter = stack_of(e_card, sub);
	struct certs_validate_params p = { .anchors = anchors, .intermediates = inter };
	efos_err e = { 0 };
	assert_int_equal(certs_validate_chain(&p, x, NULL, &r, &e), 0);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_CA_CONSTRAINTS, "path length");
	certs_validation_free(&r);
	sk_X509_free(anchors);
	sk_X509_free(inter);
	X509_free(x);
	X509_free(sub);
	EVP_PKEY_free(k);
}

/* ------------------------------------------------------------------------------ EFOS */

static void test_efos_card_valid_loa4(void **state)
{
	struct certs_validation r;
	long person;
	const char *pnr = fresh_pnr();
	char pnr_copy[16];
	snprintf(pnr_copy, sizeof pnr_copy, "%s", pnr);
	long card = insert_holder(pnr, false, "active", &person);
	X509 *x = efos_leaf("card-auth");
	insert_cert(x, ca_card_id, card, person, "card-auth", "good", NULL, NULL);
	validate_efos(x, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_VALID, CERTS_VR_OK, NULL);
	assert_true(r.efos_issued);
	assert_string_equal(r.efos_ca_name, "card");
	assert_string_equal(r.profile, "card-auth");
	assert_string_equal(r.revocation_source, "database");
	assert_true(r.has_person && r.has_card);
	assert_string_equal(r.person.pnr, pnr_copy);
	assert_string_equal(r.person.display_name, "Åsa Öberg");
	assert_false(r.person.coordination_number);
	assert_int_equal(r.card.id, card);
	assert_string_equal(r.card.status, "active");
	assert_int_equal(r.n_affiliations, 1);   /* the ended one is not listed */
	assert_non_null(strstr(r.affiliations[0].org_affiliation, "asaobe@55"));
	assert_string_equal(r.affiliations[0].org_name, "Testmyndigheten");
	assert_true(r.affiliations[0].of_card);
	assert_int_equal(r.loa.n, 1);
	assert_string_equal(r.loa.uris[0], LOA_URI_LOA4);
	assert_int_equal(sk_X509_num(r.chain), 3);
	certs_validation_free(&r);
	/* purpose any: still loa4 (the facts are the same) */
	validate_efos(x, CERTS_PURPOSE_ANY, C, &r);
	expect(&r, CERTS_VAL_VALID, CERTS_VR_OK, NULL);
	assert_true(policy_loa_contains(&r.loa, LOA_URI_LOA4));
	certs_validation_free(&r);
	/* no database: indeterminate, never valid */
	validate_efos(x, CERTS_PURPOSE_CARD_AUTH, NULL, &r);
	expect(&r, CERTS_VAL_INDETERMINATE, CERTS_VR_REVOCATION_UNAVAILABLE, "database");
	certs_validation_free(&r);
	X509_free(x);
}

/* The card's path remembered between two validations (an SSO login re-validates at every
 * request): the same verdict, and the status checks still read the database each time. */
static void test_efos_path_memo(void **state)
{
	struct certs_validation r;
	long person;
	long card = insert_holder(fresh_pnr(), false, "active", &person);
	X509 *x = efos_leaf("card-auth"), *sign = efos_leaf("card-sign");
	insert_cert(x, ca_card_id, card, person, "card-auth", "good", NULL, NULL);
	insert_cert(sign, ca_card_id, card, person, "card-sign", "good", NULL, NULL);
	path_memo_clear();
	unsigned long h0 = path_memo_hits();
	validate_efos(x, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_VALID, CERTS_VR_OK, NULL);
	certs_validation_free(&r);
	assert_int_equal(path_memo_hits(), h0);
	validate_efos(x, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_VALID, CERTS_VR_OK, NULL);
	assert_int_equal(path_memo_hits(), h0 + 1);
	assert_int_equal(sk_X509_num(r.chain), 3);
	assert_string_equal(r.loa.uris[0], LOA_URI_LOA4);   /* the policy flags came back too */
	certs_validation_free(&r);
	/* another purpose is another key */
	validate_efos(x, CERTS_PURPOSE_ANY, C, &r);
	expect(&r, CERTS_VAL_VALID, CERTS_VR_OK, NULL);
	certs_validation_free(&r);
	assert_int_equal(path_memo_hits(), h0 + 1);
	/* a remembered path does not skip the usage check ... */
	for (int i = 0; i < 2; i++) {
		validate_efos(sign, CERTS_PURPOSE_CARD_AUTH, C, &r);
		expect(&r, CERTS_VAL_INVALID, CERTS_VR_WRONG_KEY_USAGE, "keyUsage nonRepudiation");
		certs_validation_free(&r);
	}
	assert_int_equal(path_memo_hits(), h0 + 2);
	/* ... nor the database: the holder suspended since is refused at once */
	char ps[24];
	snprintf(ps, sizeof ps, "%ld", person);
	const char *pp[] = { ps };
	sql_ok("UPDATE persons SET status = 'suspended' WHERE id = $1", 1, pp);
	validate_efos(x, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_SUSPENDED, "holder");
	certs_validation_free(&r);
	assert_int_equal(path_memo_hits(), h0 + 3);
	X509_free(x);
	X509_free(sign);
}

static void test_efos_coordination_number(void **state)
{
	struct certs_validation r;
	long person;
	long card = insert_holder(fresh_pnr(), true, "active", &person);
	X509 *x = efos_leaf("card-auth");
	insert_cert(x, ca_card_id, card, person, "card-auth", "good", NULL, NULL);
	validate_efos(x, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_VALID, CERTS_VR_OK, NULL);
	assert_true(r.person.coordination_number);
	assert_true(policy_loa_contains(&r.loa, LOA_URI_LOA4));
	certs_validation_free(&r);
	X509_free(x);
}

static void test_efos_refusals(void **state)
{
	struct certs_validation r;
	long person;
	long card = insert_holder(fresh_pnr(), false, "active", &person);

	X509 *held = efos_leaf("card-auth");
	insert_cert(held, ca_card_id, card, person, "card-auth", "hold", "6", "now()");
	validate_efos(held, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_SUSPENDED, "certificateHold");
	certs_validation_free(&r);

	X509 *rev = efos_leaf("card-auth");
	insert_cert(rev, ca_card_id, card, person, "card-auth", "revoked", "1", "2024-05-01T10:00:00Z");
	validate_efos(rev, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_REVOKED, "2024-05-01T10:00:00Z, reason keyCompromise");
	assert_int_equal(r.revocation_reason, 1);
	certs_validation_free(&r);

	X509 *unknown = efos_leaf("card-auth");
	validate_efos(unknown, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_UNKNOWN_CERTIFICATE, "no record");
	certs_validation_free(&r);

	/* wrong key usage for card login: the card's signature and encryption certificates */
	X509 *sign = efos_leaf("card-sign"), *enc = efos_leaf("card-enc");
	insert_cert(sign, ca_card_id, card, person, "card-sign", "good", NULL, NULL);
	insert_cert(enc, ca_card_id, card, person, "card-enc", "good", NULL, NULL);
	validate_efos(sign, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_WRONG_KEY_USAGE, "keyUsage nonRepudiation");
	certs_validation_free(&r);
	validate_efos(enc, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_WRONG_KEY_USAGE, "extendedKeyUsage emailProtection");
	certs_validation_free(&r);
	/* ... but valid as certificates, without a LoA */
	validate_efos(sign, CERTS_PURPOSE_ANY, C, &r);
	expect(&r, CERTS_VAL_VALID, CERTS_VR_OK, NULL);
	assert_int_equal(r.loa.n, 0);
	certs_validation_free(&r);

	/* clientAuth without the high-assurance policy (an officer credential) */
	X509 *off = efos_leaf("officer");
	insert_cert(off, ca_card_id, 0, person, "officer", "good", NULL, NULL);
	validate_efos(off, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_POLICY, "high-assurance");
	certs_validation_free(&r);

	/* a pending card (its certificates are on hold until confirmation) */
	long pcard = insert_holder(fresh_pnr(), false, "pending", &person);
	X509 *pend = efos_leaf("card-auth");
	insert_cert(pend, ca_card_id, pcard, person, "card-auth", "hold", "6", "now()");
	validate_efos(pend, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_CARD_NOT_ACTIVE, "pending");
	certs_validation_free(&r);

	/* a suspended holder */
	long scard = insert_holder(fresh_pnr(), false, "active", &person);
	char ps[24];
	snprintf(ps, sizeof ps, "%ld", person);
	const char *pp[] = { ps };
	sql_ok("UPDATE persons SET status = 'suspended' WHERE id = $1", 1, pp);
	X509 *sus = efos_leaf("card-auth");
	insert_cert(sus, ca_card_id, scard, person, "card-auth", "good", NULL, NULL);
	validate_efos(sus, CERTS_PURPOSE_CARD_AUTH, C, &r);
	expect(&r, CERTS_VAL_INVALID, CERTS_VR_SUSPENDED, "holder");
	certs_validation_free(&r);

	X509 *xs[] = { held, rev, unknown, sign, enc, off, pend, sus };
	for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
		X509_free(xs[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loa_rules),
		cmocka_unit_test_setup(test_foreign_valid_ocsp_and_crl, foreign_up),
		cmocka_unit_test_setup(test_foreign_revoked, foreign_up),
		cmocka_unit_test_setup(test_foreign_revocation_unavailable, foreign_up),
		cmocka_unit_test_setup(test_path_failures, foreign_up),
		cmocka_unit_test_setup_teardown(test_efos_card_valid_loa4, efos_up, efos_down),
		cmocka_unit_test_setup_teardown(test_efos_coordination_number, efos_up, efos_down),
		cmocka_unit_test_setup_teardown(test_efos_path_memo, efos_up, efos_down),
		cmocka_unit_test_setup_teardown(test_efos_refusals, efos_up, efos_down),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
