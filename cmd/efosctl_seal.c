/* efosctl seal ...: the seal API's keys and clients (docs/seal-api.md).
 *
 *   efosctl seal key add --org ORGNR --name NAME [--type rsa:3072] [--cn CN] [--out FILE]
 *       generates the key in the HSM (token object, non-extractable), issues its agency-seal
 *       certificate (C=SE, O=the organisation's name, organizationIdentifier=ORGNR, CN) and
 *       records it in seal_keys with the chain above it
 *   efosctl seal key list [--org ORGNR]
 *   efosctl seal client add --cert FILE --org ORGNR --keys NAME[,NAME...] [--formats cades[,xades]]
 *       binds a TLS client certificate (PEM or DER) to an organisation and the keys it may use
 *   efosctl seal client list [--org ORGNR]
 *
 * Every change is one database transaction with its audit event; a key made in the HSM for a
 * transaction that failed is destroyed again. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "certs/issue.h"
#include "certs/profile.h"
#include "certs/service.h"
#include "certs/ca_init.h"
#include "cmd/efosctl.h"
#include "core/hex.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "hsm/hsm.h"

enum { XS_OK = 0, XS_FAIL = 1, XS_USAGE = 2 };

static const char usage_seal[] =
	"usage: efosctl [-c FILE] seal COMMAND\n"
	"\n"
	"  seal key add --org ORGNR --name NAME [--type T] [--cn CN] [--out FILE]\n"
	"        generate a seal key in the HSM (T: rsa:2048 rsa:3072 (default) rsa:4096 ec:p256\n"
	"        ec:p384 ec:p521), issue its agency-seal certificate, record it for the organisation;\n"
	"        --out writes the certificate and its chain (PEM)\n"
	"  seal key list [--org ORGNR]\n"
	"  seal client add --cert FILE --org ORGNR --keys NAME[,NAME...] [--formats cades[,xades]]\n"
	"        allow the holder of this TLS client certificate (PEM or DER) to seal with these keys\n"
	"        of the organisation\n"
	"  seal client list [--org ORGNR]\n";

static int usage_err(const char *msg, const char *arg)
{
	if (msg != NULL)
		fprintf(stderr, "efosctl: %s%s\n", msg, arg ? arg : "");
	fputs(usage_seal, stderr);
	return XS_USAGE;
}

static int failed(const efos_err *e)
{
	fprintf(stderr, "efosctl: %s\n", e->msg);
	return XS_FAIL;
}

static int audit(struct env *v, const char *action, const char *object, const char *details, efos_err *e)
{
	struct audit_event ev = {
		.node = v->cfg.node_name, .actor = actor, .action = action, .object = object,
		.outcome = "success", .details = details,
	};
	return audit_append(v->c, &ev, e);
}

/* The organisation's id and name; it must be active. */
static int org_lookup(struct env *v, const char *orgnr, char *id, size_t idcap, char *name, size_t ncap,
		      efos_err *e)
{
	const char *params[] = { orgnr };
	PGresult *r = db_exec(v->c, "SELECT id, name, status FROM organisations WHERE orgnr = $1", 1, params, e);
	if (r == NULL)
		return -1;
	int rc = -1;
	if (PQntuples(r) != 1)
		efos_fail(e, EFOS_E_NOTFOUND, "no organisation %s in the registry (efosctl org add)", orgnr);
	else if (strcmp(PQgetvalue(r, 0, 2), "active") != 0)
		efos_fail(e, EFOS_E_CONFLICT, "organisation %s is suspended", orgnr);
	else {
		snprintf(id, idcap, "%s", PQgetvalue(r, 0, 0));
		snprintf(name, ncap, "%s", PQgetvalue(r, 0, 1));
		rc = 0;
	}
	PQclear(r);
	return rc;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= '0' && s[i] <= '9') &&
		    s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static bool valid_orgnr(const char *s)
{
	if (strlen(s) != 10)
		return false;
	for (int i = 0; i < 10; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* ---- seal key add ---- */

static int der_append(X509 *x, unsigned char **buf, size_t *len)
{
	unsigned char *d = NULL;
	int n = i2d_X509(x, &d);
	if (n <= 0)
		return -1;
	unsigned char *nb = realloc(*buf, *len + (size_t)n);
	if (nb == NULL) {
		OPENSSL_free(d);
		return -1;
	}
	memcpy(nb + *len, d, (size_t)n);
	*buf = nb;
	*len += (size_t)n;
	OPENSSL_free(d);
	return 0;
}

static char *to_hex_param(const unsigned char *b, size_t n)
{
	char *s = malloc(2 * n + 1);
	if (s != NULL)
		hex_encode(b, n, s);
	return s;
}

static int cmd_key_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "org", required_argument, NULL, 'o' }, { "name", required_argument, NULL, 'n' },
		{ "type", required_argument, NULL, 't' }, { "cn", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'O' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *orgnr = NULL, *name = NULL, *type = "rsa:3072", *cn = NULL, *outpath = NULL;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': orgnr = optarg; break;
		case 'n': name = optarg; break;
		case 't': type = optarg; break;
		case 'c': cn = optarg; break;
		case 'O': outpath = optarg; break;
		case 'h': fputs(usage_seal, stdout); return XS_OK;
		default: return usage_err(NULL, NULL);
		}
	}
	if (optind < argc)
		return usage_err("unexpected argument: ", argv[optind]);
	if (orgnr == NULL || name == NULL)
		return usage_err("--org and --name are required", NULL);
	if (!valid_orgnr(orgnr))
		return usage_err("--org: an organisation number is 10 digits: ", orgnr);
	if (!valid_name(name))
		return usage_err("--name: 1 to 64 letters, digits, . _ -: ", name);
	struct hsm_keygen_params kp = { .token_object = true };
	if (hsm_key_type_parse(type, &kp) < 0)
		return usage_err("unknown key type: ", type);

	struct env v;
	efos_err e = { 0 };
	int rc = XS_FAIL;
	struct hsm_key *k = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	unsigned char *chain_der = NULL, *cert_der = NULL;
	size_t chain_len = 0, cert_len = 0;
	char *cert_hex = NULL, *chain_hex = NULL;
	char org_id[32], org_name[300], label[128], uri[1024], cnbuf[400], object[128], details[1200];
	PGresult *r = NULL;
	bool committed = false;
	if (chain == NULL || env_open(&v, true, true, &e) < 0)
		goto out;
	const struct cert_profile *p = cert_profile_get(certs_profiles(v.svc), "agency-seal");
	const struct certs_ca *ca = p ? certs_ca_for_profile(v.svc, p) : NULL;
	if (p == NULL || ca == NULL || ca->signer == NULL) {
		efos_fail(&e, EFOS_E_CONFIG, "cannot issue agency-seal certificates here: %s",
			  p == NULL ? "no profile agency-seal in ca.profiles_file" : "its issuing CA or its key is not available");
		goto out;
	}
	if (org_lookup(&v, orgnr, org_id, sizeof org_id, org_name, sizeof org_name, &e) < 0)
		goto out;
	{
		const char *params[] = { org_id, name };
		if ((r = db_exec(v.c, "SELECT 1 FROM seal_keys WHERE org_id = $1 AND name = $2", 2, params, &e)) == NULL)
			goto out;
		if (PQntuples(r) > 0) {
			efos_fail(&e, EFOS_E_CONFLICT, "organisation %s has a seal key named %s already", orgnr, name);
			goto out;
		}
		PQclear(r);
		r = NULL;
	}
	snprintf(label, sizeof label, "seal-%s-%s", orgnr, name);
	kp.label = label;
	if (hsm_keygen(v.h, &kp, &k, &e) < 0)
		goto out;
	certs_key_uri(uri, sizeof uri, v.cfg.hsm_token, k);
	if (cn == NULL) {
		snprintf(cnbuf, sizeof cnbuf, "%s %s", org_name, name);
		cn = cnbuf;
	}
	struct cert_issue_request ir = {
		.profile = p, .public_key = hsm_key_public(k), .initial_status = "good", .actor = actor,
		.subject = { .c = "SE", .o = org_name, .org_identifier = orgnr, .cn = cn },
	};
	if (db_begin(v.c, &e) < 0 || certs_issue(v.c, ca, &ir, &x, &e) < 0)
		goto out;
	if (certs_ca_chain(v.svc, ca, chain) < 0 || der_append(x, &cert_der, &cert_len) < 0) {
		efos_fail(&e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (der_append(sk_X509_value(chain, i), &chain_der, &chain_len) < 0) {
			efos_fail(&e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
	if ((cert_hex = to_hex_param(cert_der, cert_len)) == NULL ||
	    (chain_hex = to_hex_param(chain_der ? chain_der : (const unsigned char *)"", chain_len)) == NULL) {
		efos_fail(&e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	{
		const char *params[] = { org_id, name, uri, cert_hex, chain_hex };
		if ((r = db_exec(v.c, "INSERT INTO seal_keys (org_id, name, key_uri, cert_der, chain_der) VALUES "
				 "($1, $2, $3, decode($4, 'hex'), decode($5, 'hex')) RETURNING id", 5, params, &e)) == NULL)
			goto out;
	}
	unsigned char sb[20];
	size_t sl = 0;
	char serial[41] = "";
	if (certs_serial_bytes(x, sb, sizeof sb, &sl) == 0)
		certs_hex(sb, sl, serial);
	snprintf(object, sizeof object, "%s/%s", orgnr, name);
	snprintf(details, sizeof details, "{\"key_uri\": \"%s\", \"type\": \"%s\", \"certificate_serial\": \"%s\", "
		 "\"seal_key_id\": %s}", uri, type, serial, PQgetvalue(r, 0, 0));
	if (audit(&v, "seal.key.add", object, details, &e) < 0 || db_commit(v.c, &e) < 0)
		goto out;
	committed = true;
	printf("seal_key %s\norg %s\nname %s\nkey_uri %s\ncertificate_serial %s\n", PQgetvalue(r, 0, 0), orgnr, name,
	       uri, serial);
	if (outpath != NULL) {
		FILE *fp = fopen(outpath, "w");
		bool ok = fp != NULL && PEM_write_X509(fp, x);
		for (int i = 0; ok && i < sk_X509_num(chain); i++)
			ok = PEM_write_X509(fp, sk_X509_value(chain, i));
		if (fp != NULL && fclose(fp) != 0)
			ok = false;
		if (!ok) {
			efos_fail(&e, EFOS_E_INVALID, "%s: cannot write (the key is recorded)", outpath);
			goto out;
		}
	}
	rc = XS_OK;
out:
	if (!committed && k != NULL) {
		efos_err e2;
		db_rollback(v.c);
		if (hsm_key_destroy(k, &e2) < 0)
			fprintf(stderr, "efosctl: could not remove the unrecorded key %s: %s\n", uri, e2.msg);
		k = NULL;
	}
	if (rc != XS_OK)
		failed(&e);
	PQclear(r);
	free(cert_hex);
	free(chain_hex);
	free(cert_der);
	free(chain_der);
	X509_free(x);
	sk_X509_free(chain);   /* borrowed from the service */
	hsm_key_free(k);
	env_close(&v);
	return rc;
}

/* ---- seal client add ---- */

static X509 *read_cert(const char *path, efos_err *e)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return efos_fail(e, EFOS_E_INVALID, "%s: %s", path, strerror(errno)), NULL;
	X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
	if (x == NULL) {
		rewind(fp);
		x = d2i_X509_fp(fp, NULL);
	}
	fclose(fp);
	if (x == NULL)
		efos_fail(e, EFOS_E_INVALID, "%s: not a PEM or DER certificate", path);
	return x;
}

static int cmd_client_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, 'c' }, { "org", required_argument, NULL, 'o' },
		{ "keys", required_argument, NULL, 'k' }, { "formats", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *certpath = NULL, *orgnr = NULL, *keys = NULL, *formats = "cades";
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': certpath = optarg; break;
		case 'o': orgnr = optarg; break;
		case 'k': keys = optarg; break;
		case 'f': formats = optarg; break;
		case 'h': fputs(usage_seal, stdout); return XS_OK;
		default: return usage_err(NULL, NULL);
		}
	}
	if (optind < argc)
		return usage_err("unexpected argument: ", argv[optind]);
	if (certpath == NULL || orgnr == NULL || keys == NULL)
		return usage_err("--cert, --org and --keys are required", NULL);
	if (!valid_orgnr(orgnr))
		return usage_err("--org: an organisation number is 10 digits: ", orgnr);
	/* Postgres array literals from the checked lists: {a,b} (names need no quoting). */
	char keys_arr[1100], formats_arr[200];
	size_t ko = 0, fo = 0;
	{
		char buf[1024];
		snprintf(buf, sizeof buf, "%s", keys);
		ko += (size_t)snprintf(keys_arr, sizeof keys_arr, "{");
		for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (!valid_name(t))
				return usage_err("--keys: not a key name: ", t);
			ko += (size_t)snprintf(keys_arr + ko, sizeof keys_arr - ko, "%s%s", ko > 1 ? "," : "", t);
			if (ko >= sizeof keys_arr - 2)
				return usage_err("--keys: too long", NULL);
		}
		snprintf(keys_arr + ko, sizeof keys_arr - ko, "}");
		snprintf(buf, sizeof buf, "%s", formats);
		fo += (size_t)snprintf(formats_arr, sizeof formats_arr, "{");
		for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (strcmp(t, "cades") && strcmp(t, "xades") && strcmp(t, "pades"))
				return usage_err("--formats: cades, xades or pades: ", t);
			fo += (size_t)snprintf(formats_arr + fo, sizeof formats_arr - fo, "%s%s", fo > 1 ? "," : "", t);
			if (fo >= sizeof formats_arr - 2)
				return usage_err("--formats: too long", NULL);
		}
		snprintf(formats_arr + fo, sizeof formats_arr - fo, "}");
	}

	struct env v;
	efos_err e = { 0 };
	int rc = XS_FAIL;
	X509 *x = NULL;
	unsigned char *der = NULL, sha[32];
	char shahex[65], org_id[32], org_name[300], object[128], details[3000];
	char *subject = NULL;
	PGresult *r = NULL;
	if (env_open(&v, false, false, &e) < 0 || (x = read_cert(certpath, &e)) == NULL)
		goto out;
	int n = i2d_X509(x, &der);
	if (n <= 0 || !EVP_Digest(der, (size_t)n, sha, NULL, EVP_sha256(), NULL) ||
	    (subject = certs_name_string(X509_get_subject_name(x))) == NULL) {
		efos_fail(&e, EFOS_E_INTERNAL, "cannot read the certificate");
		goto out;
	}
	hex_encode(sha, 32, shahex);
	if (org_lookup(&v, orgnr, org_id, sizeof org_id, org_name, sizeof org_name, &e) < 0)
		goto out;
	{
		/* every key named must be one of the organisation's */
		const char *params[] = { org_id, keys_arr };
		if ((r = db_exec(v.c, "SELECT coalesce(string_agg(k, ','), '') FROM unnest($2::text[]) k "
				 "WHERE k NOT IN (SELECT name FROM seal_keys WHERE org_id = $1)", 2, params, &e)) == NULL)
			goto out;
		if (PQgetvalue(r, 0, 0)[0] != '\0') {
			efos_fail(&e, EFOS_E_NOTFOUND, "organisation %s has no seal key %s (efosctl seal key add)", orgnr,
				  PQgetvalue(r, 0, 0));
			goto out;
		}
		PQclear(r);
		r = NULL;
	}
	{
		const char *params[] = { shahex, subject, org_id, keys_arr, formats_arr };
		if (db_begin(v.c, &e) < 0 ||
		    (r = db_exec(v.c, "INSERT INTO api_clients (cert_sha256, subject, org_id, key_names, formats) VALUES "
				 "(decode($1, 'hex'), $2, $3, $4::text[], $5::text[]) ON CONFLICT (cert_sha256) DO NOTHING "
				 "RETURNING id", 5, params, &e)) == NULL)
			goto out;
		if (PQntuples(r) != 1) {
			efos_fail(&e, EFOS_E_CONFLICT, "this certificate (SHA-256 %s) is registered as an API client already",
				  shahex);
			goto out;
		}
	}
	char esc_subject[600];
	json_escape(esc_subject, sizeof esc_subject, subject);
	snprintf(object, sizeof object, "%s", shahex);
	snprintf(details, sizeof details, "{\"org\": \"%s\", \"subject\": \"%s\", \"keys\": \"%s\", \"formats\": \"%s\", "
		 "\"api_client_id\": %s}", orgnr, esc_subject, keys_arr, formats_arr, PQgetvalue(r, 0, 0));
	if (audit(&v, "seal.client.add", object, details, &e) < 0 || db_commit(v.c, &e) < 0)
		goto out;
	printf("api_client %s\norg %s\ncert_sha256 %s\nsubject %s\nkeys %s\n", PQgetvalue(r, 0, 0), orgnr, shahex,
	       subject, keys_arr);
	rc = XS_OK;
out:
	if (rc != XS_OK)
		failed(&e);
	PQclear(r);
	free(subject);
	OPENSSL_free(der);
	X509_free(x);
	env_close(&v);
	return rc;
}

/* ---- lists ---- */

static int cmd_list(int argc, char **argv, bool keys)
{
	static const struct option opts[] = {
		{ "org", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *orgnr = "";
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': orgnr = optarg; break;
		case 'h': fputs(usage_seal, stdout); return XS_OK;
		default: return usage_err(NULL, NULL);
		}
	}
	struct env v;
	efos_err e = { 0 };
	int rc = XS_FAIL;
	PGresult *r = NULL;
	const char *params[] = { orgnr };
	if (env_open(&v, false, false, &e) < 0)
		goto out;
	r = db_exec(v.c, keys
		? "SELECT k.id, o.orgnr, k.name, k.status, k.key_uri, k.created_at FROM seal_keys k JOIN organisations o "
		  "ON o.id = k.org_id WHERE $1 = '' OR o.orgnr = $1 ORDER BY o.orgnr, k.name"
		: "SELECT a.id, o.orgnr, encode(a.cert_sha256, 'hex'), a.status, array_to_string(a.key_names, ','), "
		  "a.subject FROM api_clients a JOIN organisations o ON o.id = a.org_id WHERE $1 = '' OR o.orgnr = $1 "
		  "ORDER BY o.orgnr, a.id", 1, params, &e);
	if (r == NULL)
		goto out;
	for (int i = 0; i < PQntuples(r); i++)
		printf("%s\t%s\t%s\t%s\t%s\t%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
		       PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5));
	rc = XS_OK;
out:
	if (rc != XS_OK)
		failed(&e);
	PQclear(r);
	env_close(&v);
	return rc;
}

int efosctl_seal(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc < 2)
			return usage_err("seal needs a subcommand", NULL);
		fputs(usage_seal, stdout);
		return XS_OK;
	}
	if (argc < 3)
		return usage_err("seal key|client needs a subcommand: add or list", NULL);
	const char *what = argv[1], *sub = argv[2];
	if (!strcmp(what, "key") && !strcmp(sub, "add"))
		return cmd_key_add(argc - 2, argv + 2);
	if (!strcmp(what, "key") && !strcmp(sub, "list"))
		return cmd_list(argc - 2, argv + 2, true);
	if (!strcmp(what, "client") && !strcmp(sub, "add"))
		return cmd_client_add(argc - 2, argv + 2);
	if (!strcmp(what, "client") && !strcmp(sub, "list"))
		return cmd_list(argc - 2, argv + 2, false);
	return usage_err("unknown subcommand: seal ", what);
}
