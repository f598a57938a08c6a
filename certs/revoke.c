/* Revocation status changes of stored certificates: revoke (final), hold (certificateHold,
 * reversible) and release. Each locks the certificate's row, checks the transition, updates
 * it, marks its CA's CRL dirty (the CRL publisher reissues it; the caller also calls
 * certs_crl_notify() after commit so this node does it at once) and writes the audit event
 * ("cert.revoke", "cert.hold", "cert.release") with who and why, in the caller's transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "certs/issue.h"
#include "certs/revoke.h"
#include "core/audit.h"
#include "core/db.h"

static const struct { const char *name; enum cert_revocation_reason r; } reasons[] = {
	{ "unspecified", CRL_REASON_UNSPECIFIED },
	{ "keyCompromise", CRL_REASON_KEY_COMPROMISE },
	{ "cACompromise", CRL_REASON_CA_COMPROMISE },
	{ "affiliationChanged", CRL_REASON_AFFILIATION_CHANGED },
	{ "superseded", CRL_REASON_SUPERSEDED },
	{ "cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION },
	{ "certificateHold", CRL_REASON_CERTIFICATE_HOLD },
	/* aliases for the lifecycle's words */
	{ "card-lost", CRL_REASON_KEY_COMPROMISE },
	{ "key-compromise", CRL_REASON_KEY_COMPROMISE },
	{ "affiliation-ended", CRL_REASON_AFFILIATION_CHANGED },
	{ "ca-compromise", CRL_REASON_CA_COMPROMISE },
	{ "cessation-of-operation", CRL_REASON_CESSATION_OF_OPERATION },
};

int cert_reason_parse(const char *s, enum cert_revocation_reason *out)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (!strcmp(s, reasons[i].name)) {
			*out = reasons[i].r;
			return 0;
		}
	return -1;
}

const char *cert_reason_name(enum cert_revocation_reason r)
{
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (reasons[i].r == r)
			return reasons[i].name;
	return "unspecified";
}

enum change { CH_REVOKE, CH_HOLD, CH_RELEASE };

static int change_status(PGconn *c, const unsigned char *serial, size_t len, enum change ch,
			 enum cert_revocation_reason reason, const char *actor, const char *why,
			 long *ca_id, efos_err *e)
{
	char hex[41], bytea[45], reason_s[8];
	PGresult *r = NULL;
	json_t *j = NULL;
	char *details = NULL;
	int rc = -1;

	if (serial == NULL || len == 0 || len > 20)
		return efos_fail(e, EFOS_E_INVALID, "a serial number is 1 to 20 bytes");
	if (ch == CH_REVOKE && (reason == CRL_REASON_CERTIFICATE_HOLD || (int)reason < 0 || reason > 10 ||
				reason == 7 /* unused */ || reason == 8 /* removeFromCRL */))
		return efos_fail(e, EFOS_E_INVALID, "revocation reason %d is not a final revocation reason "
				 "(use hold for certificateHold)", (int)reason);
	certs_hex(serial, len, hex);
	snprintf(bytea, sizeof bytea, "\\x%s", hex);
	const char *p1[] = { bytea };
	r = db_exec(c, "SELECT ca_id, status, coalesce(revocation_reason, 0) FROM certificates "
		    "WHERE serial = $1::bytea FOR UPDATE", 1, p1, e);
	if (r == NULL)
		goto out;
	if (PQntuples(r) != 1) {
		efos_fail(e, EFOS_E_NOTFOUND, "no certificate with serial %s", hex);
		goto out;
	}
	long ca = atol(PQgetvalue(r, 0, 0));
	char status[16];
	snprintf(status, sizeof status, "%s", PQgetvalue(r, 0, 1));
	int old_reason = atoi(PQgetvalue(r, 0, 2));
	PQclear(r);
	r = NULL;

	if (!strcmp(status, "revoked")) {
		efos_fail(e, EFOS_E_CONFLICT, "certificate %s is revoked already (%s): a revocation is final",
			  hex, cert_reason_name((enum cert_revocation_reason)old_reason));
		goto out;
	}
	const char *sql, *action, *new_status;
	switch (ch) {
	case CH_REVOKE:
		sql = "UPDATE certificates SET status = 'revoked', revoked_at = now(), "
		      "revocation_reason = $2::smallint WHERE serial = $1::bytea";
		action = "cert.revoke";
		new_status = "revoked";
		break;
	case CH_HOLD:
		if (!strcmp(status, "hold")) {
			efos_fail(e, EFOS_E_CONFLICT, "certificate %s is on hold already", hex);
			goto out;
		}
		sql = "UPDATE certificates SET status = 'hold', revoked_at = now(), "
		      "revocation_reason = 6 WHERE serial = $1::bytea";
		action = "cert.hold";
		new_status = "hold";
		reason = CRL_REASON_CERTIFICATE_HOLD;
		break;
	case CH_RELEASE:
	default:
		if (strcmp(status, "hold") != 0) {
			efos_fail(e, EFOS_E_CONFLICT, "certificate %s is not on hold (status %s)", hex, status);
			goto out;
		}
		sql = "UPDATE certificates SET status = 'good', revoked_at = NULL, "
		      "revocation_reason = NULL WHERE serial = $1::bytea";
		action = "cert.release";
		new_status = "good";
		break;
	}
	snprintf(reason_s, sizeof reason_s, "%d", (int)reason);
	const char *p2[] = { bytea, reason_s };
	if ((r = db_exec(c, sql, ch == CH_REVOKE ? 2 : 1, p2, e)) == NULL)
		goto out;
	PQclear(r);
	char ca_s[24];
	snprintf(ca_s, sizeof ca_s, "%ld", ca);
	const char *p3[] = { ca_s };
	if ((r = db_exec(c, "UPDATE cas SET crl_dirty = true WHERE id = $1::bigint", 1, p3, e)) == NULL)
		goto out;

	j = json_pack("{s:s, s:s, s:I}", "previous_status", status, "status", new_status, "ca_id", (json_int_t)ca);
	if (j != NULL && ch != CH_RELEASE)
		json_object_set_new(j, "reason", json_string(cert_reason_name(reason)));
	if (j != NULL && why != NULL)
		json_object_set_new(j, "why", json_string(why));   /* NULL (invalid UTF-8): left out */
	details = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (details == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	struct audit_event ev = { .node = certs_audit_node(), .actor = actor ? actor : "efos", .action = action,
				  .object = hex, .outcome = "success", .details = details };
	if (audit_append(c, &ev, e) < 0)
		goto out;
	if (ca_id != NULL)
		*ca_id = ca;
	rc = 0;
out:
	PQclear(r);
	json_decref(j);
	free(details);
	return rc;
}

int certs_revoke_serial(PGconn *c, const unsigned char *serial, size_t len,
			enum cert_revocation_reason reason, const char *actor, const char *why,
			long *ca_id, efos_err *e)
{
	return change_status(c, serial, len, CH_REVOKE, reason, actor, why, ca_id, e);
}

int certs_hold_serial(PGconn *c, const unsigned char *serial, size_t len, const char *actor,
		      const char *why, long *ca_id, efos_err *e)
{
	return change_status(c, serial, len, CH_HOLD, CRL_REASON_CERTIFICATE_HOLD, actor, why, ca_id, e);
}

int certs_release_hold_serial(PGconn *c, const unsigned char *serial, size_t len,
			      const char *actor, const char *why, long *ca_id, efos_err *e)
{
	return change_status(c, serial, len, CH_RELEASE, CRL_REASON_UNSPECIFIED, actor, why, ca_id, e);
}

int certs_serial_parse_hex(const char *s, unsigned char *out, size_t cap, size_t *len)
{
	if (s == NULL)
		return -1;
	if (!strncmp(s, "0x", 2) || !strncmp(s, "0X", 2))
		s += 2;
	char buf[2 * 20 + 2];
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		if (*p == ':' || *p == ' ')
			continue;
		if (n + 1 >= sizeof buf || !strchr("0123456789abcdefABCDEF", *p))
			return -1;
		buf[n++] = *p;
	}
	if (n == 0)
		return -1;
	/* Odd length: a leading zero nibble. Leading zero bytes are dropped (the stored form is
	 * the integer's minimal big-endian encoding). */
	size_t o = 0, i = 0;
	unsigned char tmp[21];
	if (n % 2 == 1) {
		tmp[o++] = (unsigned char)strtol((char[]){ buf[0], 0 }, NULL, 16);
		i = 1;
	}
	for (; i < n; i += 2)
		tmp[o++] = (unsigned char)strtol((char[]){ buf[i], buf[i + 1], 0 }, NULL, 16);
	size_t skip = 0;
	while (skip + 1 < o && tmp[skip] == 0)
		skip++;
	if (o - skip > cap || o - skip > 20)
		return -1;
	memcpy(out, tmp + skip, o - skip);
	*len = o - skip;
	return 0;
}
