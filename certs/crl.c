/* Building, signing and storing a CA's CRL (certs/crl.h). The publisher thread that calls
 * this is in crl_publisher.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "certs/crl.h"
#include "certs/service.h"
#include "core/audit.h"
#include "core/db.h"
#include "core/log.h"

/* Lowercase hex of bytes, for bytea parameters passed as decode($n, 'hex'). */
static char *hex_encode(const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * n] = '\0';
	return s;
}

static int ssl_fail(efos_err *e, const char *what)
{
	unsigned long code = ERR_get_error();
	char buf[256] = "no OpenSSL detail";
	if (code != 0)
		ERR_error_string_n(code, buf, sizeof buf);
	ERR_clear_error();
	return efos_fail(e, EFOS_E_INTERNAL, "%s: %s", what, buf);
}

/* One entry: serial (hex of the big-endian magnitude), when, and the reasonCode to put
 * (-1 = none). */
static int add_entry(X509_CRL *crl, const char *serial_hex, time_t when, int reason, efos_err *e)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *t = NULL;
	ASN1_ENUMERATED *rc = NULL;
	X509_REVOKED *rev = X509_REVOKED_new();
	int ret = -1;
	if (rev == NULL || BN_hex2bn(&bn, serial_hex) == 0 || (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (t = ASN1_TIME_set(NULL, when)) == NULL || !X509_REVOKED_set_serialNumber(rev, serial) ||
	    !X509_REVOKED_set_revocationDate(rev, t)) {
		ssl_fail(e, "CRL entry");
		goto out;
	}
	if (reason >= 0) {
		if ((rc = ASN1_ENUMERATED_new()) == NULL || !ASN1_ENUMERATED_set(rc, reason) ||
		    !X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, rc, 0, 0)) {
			ssl_fail(e, "CRL entry reasonCode");
			goto out;
		}
	}
	if (!X509_CRL_add0_revoked(crl, rev)) {
		ssl_fail(e, "CRL entry");
		goto out;
	}
	rev = NULL;
	ret = 0;
out:
	X509_REVOKED_free(rev);
	ASN1_ENUMERATED_free(rc);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return ret;
}

/* The reasonCode for a stored status/reason: hold is certificateHold; unspecified (0), an
 * unknown or absent reason gives no reasonCode (RFC 5280 §5.3.1: unspecified SHOULD be absent). */
static int entry_reason(const char *status, const char *reason)
{
	if (strcmp(status, "hold") == 0)
		return CRL_REASON_CERTIFICATE_HOLD;
	if (reason == NULL || reason[0] == '\0')
		return -1;
	int r = atoi(reason);
	return (r >= 1 && r <= 10 && r != 7) ? r : -1;
}

static int add_entries(PGconn *c, X509_CRL *crl, const struct certs_ca *ca, int validity_s,
		       int *count, efos_err *e)
{
	char id[32], keep[32];
	snprintf(id, sizeof id, "%ld", ca->id);
	snprintf(keep, sizeof keep, "%d", validity_s);
	const char *params[] = { id, keep };
	/* Expired certificates stay for one more CRL period after notAfter (RFC 5280 §3.3). */
	PGresult *r = db_exec(c,
		"SELECT encode(serial, 'hex'), status, "
		"extract(epoch FROM coalesce(revoked_at, issued_at))::bigint, revocation_reason "
		"FROM certificates WHERE ca_id = $1 AND status IN ('revoked', 'hold') "
		"AND not_after > now() - make_interval(secs => $2::int)", 2, params, e);
	if (r == NULL)
		return efos_wrap(e, "reading revoked certificates of CA %s", ca->name);
	int n = PQntuples(r), ret = 0;
	for (int i = 0; i < n && ret == 0; i++) {
		const char *reason = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
		ret = add_entry(crl, PQgetvalue(r, i, 0), (time_t)strtoll(PQgetvalue(r, i, 2), NULL, 10),
				entry_reason(PQgetvalue(r, i, 1), reason), e);
	}
	PQclear(r);
	*count = n;
	return ret;
}

static int add_crl_extensions(X509_CRL *crl, const struct certs_ca *ca, long number, efos_err *e)
{
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	int ret = -1;
	if (num == NULL || akid == NULL || !ASN1_INTEGER_set_int64(num, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0)) {
		ssl_fail(e, "CRL number");
		goto out;
	}
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca->cert);
	if (ski != NULL) {
		akid->keyid = ASN1_OCTET_STRING_dup(ski);
	} else {   /* the RFC 5280 §4.2.1.2 method (1) keyid, as the SKI would have been */
		unsigned char md[20];
		unsigned int mdlen = 0;
		akid->keyid = ASN1_OCTET_STRING_new();
		if (akid->keyid != NULL && (!X509_pubkey_digest(ca->cert, EVP_sha1(), md, &mdlen) ||
					    !ASN1_OCTET_STRING_set(akid->keyid, md, (int)mdlen))) {
			ssl_fail(e, "CRL authority key identifier");
			goto out;
		}
	}
	if (akid->keyid == NULL || !X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, 0)) {
		ssl_fail(e, "CRL authority key identifier");
		goto out;
	}
	ret = 0;
out:
	ASN1_INTEGER_free(num);
	AUTHORITY_KEYID_free(akid);
	return ret;
}

/* Builds and signs the CRL numbered `number`; *der and *len receive its DER. */
static int crl_assemble(PGconn *c, const struct certs_ca *ca, long number, time_t now, int validity_s,
			unsigned char **der, size_t *len, int *entries, efos_err *e)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *this_upd = ASN1_TIME_set(NULL, now);
	ASN1_TIME *next_upd = ASN1_TIME_set(NULL, now + validity_s);
	unsigned char *buf = NULL;
	int ret = -1;
	if (crl == NULL || this_upd == NULL || next_upd == NULL || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) ||
	    !X509_CRL_set1_lastUpdate(crl, this_upd) || !X509_CRL_set1_nextUpdate(crl, next_upd)) {
		ssl_fail(e, "CRL");
		goto out;
	}
	if (add_entries(c, crl, ca, validity_s, entries, e) != 0 || add_crl_extensions(crl, ca, number, e) != 0)
		goto out;
	if (!X509_CRL_sort(crl)) {
		ssl_fail(e, "CRL sort");
		goto out;
	}
	if (X509_CRL_sign(crl, ca->signer, EVP_sha256()) <= 0) {
		ERR_clear_error();
		efos_fail(e, EFOS_E_UNAVAILABLE, "signing the CRL of CA %s in the HSM failed", ca->name);
		goto out;
	}
	/* A CRL that does not verify must never be published (HSM or bridge fault). */
	if (X509_CRL_verify(crl, X509_get0_pubkey(ca->cert)) != 1) {
		ERR_clear_error();
		efos_fail(e, EFOS_E_INTERNAL, "the CRL signed for CA %s does not verify with the CA certificate", ca->name);
		goto out;
	}
	int n = i2d_X509_CRL(crl, NULL);
	if (n <= 0 || (buf = malloc((size_t)n)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "CRL encoding");
		goto out;
	}
	unsigned char *p = buf;
	i2d_X509_CRL(crl, &p);
	*der = buf;
	*len = (size_t)n;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	ASN1_TIME_free(this_upd);
	ASN1_TIME_free(next_upd);
	X509_CRL_free(crl);
	return ret;
}

static int crl_store(PGconn *c, const struct certs_ca *ca, const struct certs_crl_issue_opts *o, long number,
		     time_t now, const unsigned char *der, size_t len, int entries, efos_err *e)
{
	char id[32], num[32], tu[32], nu[32], details[512], name[128];
	char *hex = hex_encode(der, len);
	if (hex == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	snprintf(id, sizeof id, "%ld", ca->id);
	snprintf(num, sizeof num, "%ld", number);
	snprintf(tu, sizeof tu, "%lld", (long long)now);
	snprintf(nu, sizeof nu, "%lld", (long long)now + o->validity_s);
	const char *params[] = { id, num, hex, tu, nu };
	PGresult *r = db_exec(c,
		"UPDATE cas SET crl_number = $2, crl_der = decode($3, 'hex'), crl_this_update = to_timestamp($4), "
		"crl_next_update = to_timestamp($5), crl_dirty = false WHERE id = $1", 5, params, e);
	free(hex);
	if (r == NULL)
		return efos_wrap(e, "storing the CRL of CA %s", ca->name);
	PQclear(r);
	json_escape(name, sizeof name, ca->name);
	snprintf(details, sizeof details,
		 "{\"ca\":\"%s\",\"crl_number\":%ld,\"entries\":%d,\"this_update\":%lld,\"next_update\":%lld}",
		 name, number, entries, (long long)now, (long long)now + o->validity_s);
	struct audit_event ev = {
		.node = o->node ? o->node : "efos", .actor = o->actor ? o->actor : "crl-publisher",
		.action = "crl.issue", .object = ca->name, .outcome = "success", .details = details,
	};
	return audit_append(c, &ev, e);
}

static int crl_issue(PGconn *c, const struct certs_ca *ca, const struct certs_crl_issue_opts *o, bool *issued,
		     long *number_out, unsigned char **der, size_t *len, efos_err *e)
{
	*issued = false;
	if (ca->signer == NULL)
		return efos_fail(e, EFOS_E_UNAVAILABLE, "the key of CA %s is not in this node's HSM", ca->name);
	if (o->validity_s <= 0)
		return efos_fail(e, EFOS_E_INTERNAL, "CRL validity must be positive");
	bool own_tx = PQtransactionStatus(c) == PQTRANS_IDLE;
	if (own_tx && db_begin(c, e) != 0)
		return -1;
	char id[32];
	snprintf(id, sizeof id, "%ld", ca->id);
	const char *params[] = { id };
	unsigned char *buf = NULL;
	size_t blen = 0;
	int entries = 0, ret = -1;
	/* The row lock serialises issuers on every node: the number read here is the newest. */
	PGresult *r = db_exec(c,
		"SELECT crl_number, crl_dirty, crl_der IS NULL, "
		"coalesce(extract(epoch FROM crl_next_update)::bigint, 0) FROM cas WHERE id = $1 FOR UPDATE",
		1, params, e);
	if (r == NULL) {
		efos_wrap(e, "locking CA %s", ca->name);
		goto out;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		efos_fail(e, EFOS_E_NOTFOUND, "CA %s (id %ld) is not in the database", ca->name, ca->id);
		goto out;
	}
	long number = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	bool dirty = PQgetvalue(r, 0, 1)[0] == 't', none = PQgetvalue(r, 0, 2)[0] == 't';
	time_t next = (time_t)strtoll(PQgetvalue(r, 0, 3), NULL, 10);
	PQclear(r);
	time_t now = time(NULL);
	if (!o->force && !dirty && !none && next - o->reissue_before_s > now) {
		if (number_out != NULL)
			*number_out = number;
		ret = 0;     /* current: another node issued it, or nothing changed */
		goto out;
	}
	number++;
	if (crl_assemble(c, ca, number, now, o->validity_s, &buf, &blen, &entries, e) != 0 ||
	    crl_store(c, ca, o, number, now, buf, blen, entries, e) != 0)
		goto out;
	if (own_tx && db_commit(c, e) != 0) {
		own_tx = false;   /* db_commit rolled back */
		goto out;
	}
	own_tx = false;
	*issued = true;
	if (number_out != NULL)
		*number_out = number;
	if (der != NULL) {
		*der = buf;
		buf = NULL;
	}
	if (len != NULL)
		*len = blen;
	ret = 0;
out:
	if (own_tx) {
		if (ret == 0) {
			efos_err ce = { 0 };
			if (db_commit(c, &ce) != 0)   /* nothing written: just end the transaction */
				log_warn("CRL of CA %s: ending the transaction: %s", ca->name, ce.msg);
		} else {
			db_rollback(c);
		}
	}
	free(buf);
	return ret;
}

int certs_crl_build(PGconn *c, const struct certs_ca *ca, int validity_s, unsigned char **der, size_t *len,
		    efos_err *e)
{
	struct certs_crl_issue_opts o = { .validity_s = validity_s, .force = true };
	bool issued = false;
	if (der != NULL)
		*der = NULL;
	if (len != NULL)
		*len = 0;
	return crl_issue(c, ca, &o, &issued, NULL, der, len, e);
}

int certs_crl_issue(PGconn *c, const struct certs_ca *ca, const struct certs_crl_issue_opts *o, bool *issued,
		    long *number, efos_err *e)
{
	return crl_issue(c, ca, o, issued, number, NULL, NULL, e);
}
