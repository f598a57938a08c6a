/* The registry (registry.h): officers, their roles, identity proofings. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "certs/registry_internal.h"
#include "core/db.h"
#include "policy/roles.h"

/* ---- officers ---- */

#define OFFICER_COLS "id, name, coalesce(person_id, 0), encode(cert_sha256, 'hex'), cert_subject, active, " \
	REG_TS("created_at")

static void officer_row(const PGresult *r, int i, void *dst)
{
	struct registry_officer *o = dst;
	memset(o, 0, sizeof *o);
	o->id = reg_long(r, i, 0);
	reg_copy(o->name, sizeof o->name, r, i, 1);
	o->person_id = reg_long(r, i, 2);
	reg_copy(o->cert_sha256, sizeof o->cert_sha256, r, i, 3);
	reg_copy(o->cert_subject, sizeof o->cert_subject, r, i, 4);
	o->active = PQgetvalue(r, i, 5)[0] == 't';
	reg_copy(o->created_at, sizeof o->created_at, r, i, 6);
}

void registry_cert_sha256_hex(X509 *cert, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	hex[0] = '\0';
	if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != 32)
		return;
	for (unsigned i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* RFC 2253 text of the subject ("CN=Anna Berg,O=Demo-myndigheten,C=SE"), UTF-8. */
static void subject_text(X509 *cert, char *dst, size_t cap)
{
	dst[0] = '\0';
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		int n = BIO_read(b, dst, (int)cap - 1);
		dst[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

int registry_officer_get(PGconn *c, long id, struct registry_officer *out, efos_err *e)
{
	char b[24];
	reg_ltoa(b, id);
	const char *p[] = { b };
	int rc = reg_row_one(c, "SELECT " OFFICER_COLS " FROM officers WHERE id = $1", 1, p, officer_row, out, e);
	return rc == 1 ? efos_fail(e, EFOS_E_NOTFOUND, "no officer with id %ld", id) : rc;
}

int registry_officer_list(PGconn *c, struct registry_officer **out, size_t *n, efos_err *e)
{
	void *v;
	if (reg_rows(c, "SELECT " OFFICER_COLS " FROM officers ORDER BY id",
		     0, NULL, sizeof **out, officer_row, &v, n, e) != 0)
		return -1;
	*out = v;
	return 0;
}

int registry_officer_create(PGconn *c, const struct registry_actor *who, const char *cert_pem,
			    size_t cert_pem_len, const char *name, long person_id,
			    struct registry_officer *out, efos_err *e)
{
	if (reg_text_check("officer name", name, e) != 0)
		return -1;
	if (cert_pem == NULL || cert_pem_len == 0 || cert_pem_len > 64 * 1024)
		return efos_fail(e, EFOS_E_INVALID, "the officer's certificate (PEM) is missing or too large");
	BIO *bio = BIO_new_mem_buf(cert_pem, (int)cert_pem_len);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (cert == NULL)
		return efos_fail(e, EFOS_E_INVALID, "the officer's certificate is not a PEM X.509 certificate");
	int rc = -1;
	struct reg_tx tx = { 0 };
	bool in_tx = false;
	char hex[65], subject[REGISTRY_TEXT_MAX], pid[24], obj[32];
	if (X509_check_ca(cert) != 0) {
		efos_fail(e, EFOS_E_INVALID, "the officer's certificate is a CA certificate: give the officer's own "
			  "(client authentication) certificate");
		goto done;
	}
	uint32_t xku = X509_get_extended_key_usage(cert);
	if (!(xku & XKU_SSL_CLIENT)) {
		efos_fail(e, EFOS_E_INVALID, "the officer's certificate does not allow TLS client authentication "
			  "(extendedKeyUsage clientAuth)");
		goto done;
	}
	registry_cert_sha256_hex(cert, hex);
	subject_text(cert, subject, sizeof subject);
	if (subject[0] == '\0') {
		efos_fail(e, EFOS_E_INVALID, "the officer's certificate has an empty subject");
		goto done;
	}
	if (reg_tx_begin(c, &tx, e) != 0)
		goto done;
	in_tx = true;
	reg_ltoa(pid, person_id);
	const char *p[] = { name, person_id > 0 ? pid : NULL, hex, subject };
	PGresult *r = db_exec(c, "INSERT INTO officers (name, person_id, cert_sha256, cert_subject) "
			      "VALUES ($1, $2, decode($3, 'hex'), $4) RETURNING " OFFICER_COLS, 4, p, e);
	if (r == NULL) {
		if (e && e->code == EFOS_E_CONFLICT)
			efos_fail(e, EFOS_E_CONFLICT, "this certificate (SHA-256 %s) is registered to an officer already", hex);
		else if (person_id > 0 && e && strstr(e->msg, "foreign key") != NULL)
			efos_fail(e, EFOS_E_NOTFOUND, "no person with id %ld is registered", person_id);
		goto done;
	}
	struct registry_officer o;
	officer_row(r, 0, &o);
	PQclear(r);
	snprintf(obj, sizeof obj, "officer:%ld", o.id);
	if (reg_audit(c, who, "officer.create", obj,
		      json_pack("{s:s, s:s, s:s}", "name", name, "cert_subject", subject, "cert_sha256", hex), e) != 0)
		goto done;
	if (out != NULL)
		*out = o;
	rc = 0;
done:
	X509_free(cert);
	return in_tx ? reg_tx_end(c, &tx, rc, e) : rc;
}

int registry_officer_set_active(PGconn *c, const struct registry_actor *who, long id, bool active,
				efos_err *e)
{
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	char b[24], obj[32];
	reg_ltoa(b, id);
	const char *p[] = { b, active ? "true" : "false" };
	PGresult *r = db_exec(c, "UPDATE officers SET active = $2 WHERE id = $1 AND active <> $2 RETURNING id", 2, p, e);
	if (r == NULL)
		goto out;
	int rows = PQntuples(r);
	PQclear(r);
	if (rows != 1) {
		if (registry_officer_get(c, id, NULL, e) == 0)
			efos_fail(e, EFOS_E_CONFLICT, "officer %ld is %s already", id, active ? "active" : "deactivated");
		goto out;
	}
	snprintf(obj, sizeof obj, "officer:%ld", id);
	rc = reg_audit(c, who, active ? "officer.activate" : "officer.deactivate", obj, NULL, e);
out:
	return reg_tx_end(c, &tx, rc, e);
}

static int role_args(PGconn *c, long officer_id, const char *role, long org_id, char *orgnr,
		     efos_err *e)
{
	enum policy_role pr;
	if (policy_role_parse(role, &pr) != 0)
		return efos_fail(e, EFOS_E_INVALID, "unknown role \"%.40s\" (registration_officer, org_admin, ca_admin)",
				 role ? role : "");
	if (registry_officer_get(c, officer_id, NULL, e) != 0)
		return -1;
	orgnr[0] = '\0';
	if (org_id > 0) {
		struct registry_org o;
		if (registry_org_get(c, org_id, &o, e) != 0)
			return -1;
		snprintf(orgnr, 11, "%s", o.orgnr);
	} else if (org_id < 0) {
		return efos_fail(e, EFOS_E_INVALID, "bad organisation id %ld", org_id);
	}
	return 0;
}

int registry_officer_grant(PGconn *c, const struct registry_actor *who, long officer_id,
			   const char *role, long org_id, efos_err *e)
{
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	char ob[24], gb[24], orgnr[11], obj[32];
	if (role_args(c, officer_id, role, org_id, orgnr, e) != 0)
		goto out;
	reg_ltoa(ob, officer_id);
	reg_ltoa(gb, org_id);
	const char *p[] = { ob, org_id > 0 ? gb : NULL, role };
	PGresult *r = db_exec(c, "INSERT INTO officer_roles (officer_id, org_id, role) VALUES ($1, $2, $3)", 3, p, e);
	if (r == NULL) {
		if (e && e->code == EFOS_E_CONFLICT)
			efos_fail(e, EFOS_E_CONFLICT, "officer %ld already has role %s for %s%s", officer_id, role,
				  orgnr[0] ? "organisation " : "every organisation", orgnr);
		goto out;
	}
	PQclear(r);
	snprintf(obj, sizeof obj, "officer:%ld", officer_id);
	rc = reg_audit(c, who, "officer.grant", obj,
		       json_pack("{s:s, s:s?}", "role", role, "orgnr", orgnr[0] ? orgnr : NULL), e);
out:
	return reg_tx_end(c, &tx, rc, e);
}

int registry_officer_revoke(PGconn *c, const struct registry_actor *who, long officer_id,
			    const char *role, long org_id, efos_err *e)
{
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	char ob[24], gb[24], orgnr[11], obj[32];
	if (role_args(c, officer_id, role, org_id, orgnr, e) != 0)
		goto out;
	reg_ltoa(ob, officer_id);
	reg_ltoa(gb, org_id);
	const char *p[] = { ob, gb, role };
	PGresult *r = db_exec(c, "DELETE FROM officer_roles WHERE officer_id = $1 AND coalesce(org_id, 0) = $2 "
			      "AND role = $3", 3, p, e);
	if (r == NULL)
		goto out;
	bool gone = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	if (!gone) {
		efos_fail(e, EFOS_E_NOTFOUND, "officer %ld has no role %s for %s%s", officer_id, role,
			  orgnr[0] ? "organisation " : "every organisation", orgnr);
		goto out;
	}
	snprintf(obj, sizeof obj, "officer:%ld", officer_id);
	rc = reg_audit(c, who, "officer.revoke", obj,
		       json_pack("{s:s, s:s?}", "role", role, "orgnr", orgnr[0] ? orgnr : NULL), e);
out:
	return reg_tx_end(c, &tx, rc, e);
}

int registry_officer_roles(PGconn *c, long officer_id, struct registry_officer_role **out, size_t *n,
			   efos_err *e)
{
	char b[24];
	reg_ltoa(b, officer_id);
	const char *p[] = { b };
	*out = NULL;
	*n = 0;
	PGresult *r = db_exec(c, "SELECT r.role, coalesce(r.org_id, 0), coalesce(o.orgnr, '') FROM officer_roles r "
			      "LEFT JOIN organisations o ON o.id = r.org_id WHERE r.officer_id = $1 "
			      "ORDER BY coalesce(r.org_id, 0), r.role", 1, p, e);
	if (r == NULL)
		return -1;
	int rows = PQntuples(r);
	struct registry_officer_role *v = calloc(rows ? (size_t)rows : 1, sizeof *v);
	if (v == NULL) {
		PQclear(r);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	for (int i = 0; i < rows; i++) {
		reg_copy(v[i].role, sizeof v[i].role, r, i, 0);
		v[i].org_id = reg_long(r, i, 1);
		reg_copy(v[i].orgnr, sizeof v[i].orgnr, r, i, 2);
	}
	PQclear(r);
	*out = v;
	*n = (size_t)rows;
	return 0;
}

int registry_officer_from_chain(PGconn *c, STACK_OF(X509) *chain, struct registry_officer *out,
				efos_err *e)
{
	if (chain == NULL || sk_X509_num(chain) < 1)
		return efos_fail(e, EFOS_E_AUTH, "no client certificate: officers authenticate with their certificate");
	X509 *leaf = sk_X509_value(chain, 0);
	char hex[65], subject[REGISTRY_TEXT_MAX];
	registry_cert_sha256_hex(leaf, hex);
	subject_text(leaf, subject, sizeof subject);
	const char *p[] = { hex };
	PGresult *r = db_exec(c, "SELECT " OFFICER_COLS " FROM officers WHERE cert_sha256 = decode($1, 'hex')", 1, p, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return efos_fail(e, EFOS_E_AUTH, "the client certificate (%.200s, SHA-256 %.16s...) is not a registered "
				 "officer", subject, hex);
	}
	struct registry_officer o;
	officer_row(r, 0, &o);
	PQclear(r);
	if (!o.active)
		return efos_fail(e, EFOS_E_AUTH, "officer \"%.200s\" (id %ld) is deactivated", o.name, o.id);
	/* An officer certificate issued by an EFOS CA must still be good: revoking or suspending it
	 * cuts the officer off at once, not only when someone deactivates the officer row. */
	r = db_exec(c, "SELECT status FROM certificates WHERE cert_sha256 = decode($1, 'hex')", 1, p, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "good") != 0) {
		char st[16];
		snprintf(st, sizeof st, "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		return efos_fail(e, EFOS_E_AUTH, "the certificate of officer \"%.200s\" (id %ld) is %s",
				 o.name, o.id, strcmp(st, "hold") == 0 ? "suspended (certificateHold)" : "revoked");
	}
	PQclear(r);
	if (out != NULL)
		*out = o;
	return 0;
}

/* ---- identity proofing ---- */

#define PROOF_COLS "id, person_id, officer_id, method, document_type, document_number, " \
	REG_TS("proofed_at") ", " REG_TS("valid_until") ", valid_until > now()"

static void proof_row(const PGresult *r, int i, void *dst)
{
	struct registry_proofing *p = dst;
	memset(p, 0, sizeof *p);
	p->id = reg_long(r, i, 0);
	p->person_id = reg_long(r, i, 1);
	p->officer_id = reg_long(r, i, 2);
	reg_copy(p->method, sizeof p->method, r, i, 3);
	reg_copy(p->document_type, sizeof p->document_type, r, i, 4);
	reg_copy(p->document_number, sizeof p->document_number, r, i, 5);
	reg_copy(p->proofed_at, sizeof p->proofed_at, r, i, 6);
	reg_copy(p->valid_until, sizeof p->valid_until, r, i, 7);
	p->valid = PQgetvalue(r, i, 8)[0] == 't';
}

static const char *const document_types[] = {
	"passport", "national_id_card", "driving_licence", "sis_id_card", "tax_agency_id_card",
};

int registry_proofing_record(PGconn *c, const struct registry_actor *who, long person_id,
			     const char *document_type, const char *document_number, bool checked,
			     int validity_days, struct registry_proofing *out, efos_err *e)
{
	bool known = false;
	for (size_t i = 0; document_type && i < sizeof document_types / sizeof document_types[0]; i++)
		known |= strcmp(document_type, document_types[i]) == 0;
	if (!known)
		return efos_fail(e, EFOS_E_INVALID, "document type \"%.40s\" is not one of passport, national_id_card, "
				 "driving_licence, sis_id_card, tax_agency_id_card", document_type ? document_type : "");
	if (document_number == NULL || *document_number == '\0')
		return efos_fail(e, EFOS_E_INVALID, "document number is missing");
	size_t dl = strlen(document_number);
	if (dl > 64)
		return efos_fail(e, EFOS_E_INVALID, "document number is longer than 64 characters");
	for (size_t i = 0; i < dl; i++) {
		char ch = document_number[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'
		      || ch == ' '))
			return efos_fail(e, EFOS_E_INVALID, "document number: only letters A-Z, digits, '-' and spaces");
	}
	if (!checked)
		return efos_fail(e, EFOS_E_INVALID, "the identity document must have been checked by the officer in "
				 "person (checked: true)");
	if (who->officer_id <= 0)
		return efos_fail(e, EFOS_E_INVALID, "an identity proofing is recorded by a registered officer (in person)");
	if (validity_days < 1 || validity_days > 3650)
		return efos_fail(e, EFOS_E_INVALID, "proofing validity of %d days is out of range 1-3650", validity_days);
	struct registry_person pe;
	struct reg_tx tx;
	if (reg_tx_begin(c, &tx, e) != 0)
		return -1;
	int rc = -1;
	char pb[24], ob[24], db[24], obj[32];
	if (registry_person_get(c, person_id, &pe, e) != 0)
		goto out;
	reg_ltoa(pb, person_id);
	reg_ltoa(ob, who->officer_id);
	reg_ltoa(db, validity_days);
	const char *p[] = { pb, ob, document_type, document_number, db };
	PGresult *r = db_exec(c, "INSERT INTO identity_proofings (person_id, officer_id, document_type, "
			      "document_number, document_checked, valid_until) VALUES ($1, $2, $3, $4, true, "
			      "now() + make_interval(days => $5::int)) RETURNING " PROOF_COLS, 5, p, e);
	if (r == NULL)
		goto out;
	struct registry_proofing pr;
	proof_row(r, 0, &pr);
	PQclear(r);
	snprintf(obj, sizeof obj, "person:%s", pe.pnr);
	/* The document number stays in the table; the audit event says which proofing and what kind. */
	if (reg_audit(c, who, "proofing.record", obj,
		      json_pack("{s:I, s:s, s:s, s:s}", "proofing_id", (json_int_t)pr.id, "method", "in_person",
				"document_type", document_type, "valid_until", pr.valid_until), e) != 0)
		goto out;
	if (out != NULL)
		*out = pr;
	rc = 0;
out:
	return reg_tx_end(c, &tx, rc, e);
}

int registry_proofing_list(PGconn *c, long person_id, struct registry_proofing **out, size_t *n,
			   efos_err *e)
{
	char b[24];
	reg_ltoa(b, person_id);
	const char *p[] = { b };
	void *v;
	if (reg_rows(c, "SELECT " PROOF_COLS " FROM identity_proofings WHERE person_id = $1 "
			      "ORDER BY proofed_at DESC, id DESC",
		     1, p, sizeof **out, proof_row, &v, n, e) != 0)
		return -1;
	*out = v;
	return 0;
}

int registry_proofing_valid(PGconn *c, long person_id, struct registry_proofing *out, efos_err *e)
{
	struct registry_person pe;
	if (registry_person_get(c, person_id, &pe, e) != 0)
		return -1;
	char b[24];
	reg_ltoa(b, person_id);
	const char *p[] = { b };
	/* the valid one that lasts longest, else the newest expired one for the message */
	PGresult *r = db_exec(c, "SELECT " PROOF_COLS " FROM identity_proofings WHERE person_id = $1 "
			      "ORDER BY valid_until > now() DESC, valid_until DESC LIMIT 1", 1, p, e);
	if (r == NULL)
		return -1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return efos_fail(e, EFOS_E_AUTH, "person %s was never proofed in person: record an identity proofing "
				 "first", pe.pnr);
	}
	struct registry_proofing pr;
	proof_row(r, 0, &pr);
	PQclear(r);
	if (!pr.valid)
		return efos_fail(e, EFOS_E_AUTH, "person %s has no valid identity proofing (the last one expired at %s): "
				 "proof the identity in person again", pe.pnr, pr.valid_until);
	if (out != NULL)
		*out = pr;
	return 0;
}
