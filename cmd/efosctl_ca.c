/* efosctl ca ... and cert ...: the CA operator's commands.
 *
 *   efosctl ca init [--root-name CN] [--org O] [--org-id ORGNR] [--key-type T]
 *   efosctl ca issue --profile P (--csr FILE | --key-uri URI) [subject options] [--dns NAME]...
 *                    [--out FILE] [--chain]
 *   efosctl ca list
 *   efosctl ca export --name CA [--chain] [--out FILE]
 *   efosctl cert revoke --serial HEX --reason R [--why TEXT]
 *   efosctl cert hold --serial HEX [--why TEXT]
 *   efosctl cert release --serial HEX [--why TEXT]
 *
 * Every change is made in one database transaction with its audit event. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "certs/ca_init.h"
#include "certs/issue.h"
#include "certs/profile.h"
#include "certs/revoke.h"
#include "certs/service.h"
#include "cmd/efosctl.h"
#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "hsm/bridge.h"
#include "hsm/hsm.h"

enum { XC_OK = 0, XC_FAIL = 1, XC_USAGE = 2 };

static const char usage_ca[] =
	"usage: efosctl [-c FILE] ca COMMAND [OPTIONS]\n"
	"\n"
	"  ca init [--root-name CN] [--org O] [--org-id ORGNR] [--key-type TYPE]\n"
	"      Creates the root CA, the issuing CAs card and sign (signed by root) and a delegated\n"
	"      OCSP signer per CA, keys generated in the HSM (labels efos-ca-NAME, efos-ocsp-NAME).\n"
	"      Idempotent: what exists is kept and reported; an OCSP signer that expires within 30\n"
	"      days is renewed. TYPE: rsa:2048 rsa:3072 (default) rsa:4096 ec:p256 ec:p384 ec:p521.\n"
	"  ca issue --profile P (--csr FILE | --key-uri PKCS11-URI) [--cn CN] [--o O] [--ou OU]\n"
	"           [--org-id ORGNR] [--given-name G] [--surname S] [--serial-number SN] [--title T]\n"
	"           [--email E] [--c CC] [--dns NAME|IP]... [--out FILE] [--chain]\n"
	"      Issues a certificate of profile P (tls-server, saml-signing, agency-seal, officer...)\n"
	"      for the key of a CSR (its signature is verified) or of a key in the HSM. Writes PEM to\n"
	"      FILE (never overwritten) or stdout; --chain appends the issuing CA certificates.\n"
	"  ca list\n"
	"      The CAs: name, subject, validity, key, OCSP signer.\n"
	"  ca export --name CA [--chain] [--out FILE]\n"
	"      The CA certificate in PEM (--chain: up to the root).\n"
	"\n"
	"Audited as ca.create, ca.ocsp_signer, ca.init, cert.issue.\n";

static const char usage_cert[] =
	"usage: efosctl [-c FILE] cert COMMAND --serial HEX [OPTIONS]\n"
	"\n"
	"  cert revoke --serial HEX --reason R [--why TEXT]\n"
	"      Revokes for good. R: keyCompromise (card-lost), affiliationChanged (affiliation-ended),\n"
	"      superseded, cessationOfOperation, cACompromise, unspecified.\n"
	"  cert hold --serial HEX [--why TEXT]       suspends (certificateHold)\n"
	"  cert release --serial HEX [--why TEXT]    lifts a hold\n"
	"\n"
	"The CA's CRL is reissued by efosd within seconds. Audited as cert.revoke, cert.hold,\n"
	"cert.release.\n";

static int usage_err(const char *usage, const char *msg, const char *arg)
{
	if (msg != NULL)
		fprintf(stderr, "efosctl: %s%s\n", msg, arg ? arg : "");
	fputs(usage, stderr);
	return XC_USAGE;
}

static int failed(const efos_err *e)
{
	fprintf(stderr, "efosctl: %s\n", e->msg);
	return XC_FAIL;
}

/* Opens FILE for writing, refusing to overwrite; "-" or NULL = stdout. */
static FILE *open_out(const char *path, efos_err *e)
{
	if (path == NULL || !strcmp(path, "-"))
		return stdout;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (fp == NULL) {
		efos_fail(e, EFOS_E_INVALID, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return fp;
}

static int close_out(FILE *fp, const char *path, efos_err *e)
{
	if (fp == stdout)
		return fflush(fp) == 0 ? 0 : efos_fail(e, EFOS_E_INTERNAL, "stdout: %s", strerror(errno));
	if (fclose(fp) != 0)
		return efos_fail(e, EFOS_E_INTERNAL, "%s: %s", path, strerror(errno));
	return 0;
}

/* ca, its issuer, ... the root, as PEM. */
static int write_chain(FILE *fp, const struct certs_service *svc, const struct certs_ca *ca)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	int rc = sk != NULL && certs_ca_chain(svc, ca, sk) == 0 ? 0 : -1;
	for (int i = 0; rc == 0 && i < sk_X509_num(sk); i++)
		if (!PEM_write_X509(fp, sk_X509_value(sk, i)))
			rc = -1;
	sk_X509_free(sk);
	return rc;
}

/* ---- ca init ---- */

static int cmd_ca_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root-name", required_argument, NULL, 'r' }, { "org", required_argument, NULL, 'o' },
		{ "org-id", required_argument, NULL, 'i' }, { "key-type", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct certs_ca_init_opts o = { .kind = HSM_KEY_RSA, .bits = 3072, .actor = actor };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': o.root_name = optarg; break;
		case 'o': o.org_name = optarg; break;
		case 'i': o.org_id = optarg; break;
		case 't': {
			struct hsm_keygen_params kp = { 0 };
			if (hsm_key_type_parse(optarg, &kp) < 0)
				return usage_err(usage_ca, "unknown key type: ", optarg);
			o.kind = kp.kind;
			o.bits = kp.bits;
			o.curve_nid = kp.curve_nid;
			break;
		}
		case 'h': fputs(usage_ca, stdout); return XC_OK;
		default: return usage_err(usage_ca, NULL, NULL);
		}
	}
	if (optind < argc)
		return usage_err(usage_ca, "unexpected argument: ", argv[optind]);
	if (o.org_id != NULL && (strlen(o.org_id) != 10 || strspn(o.org_id, "0123456789") != 10))
		return usage_err(usage_ca, "--org-id is a 10-digit organisationsnummer without hyphen: ", o.org_id);
	struct env v;
	efos_err e = { 0 };
	int rc = XC_FAIL;
	if (env_open(&v, true, false, &e) < 0)
		goto out;
	struct cert_profiles *profiles = NULL;
	if (v.cfg.ca_profiles_file == NULL) {
		efos_fail(&e, EFOS_E_CONFIG, "%s: ca.profiles_file is not set (see docs/certificate-profiles.md)",
			  config_path);
		goto out;
	}
	if (cert_profiles_load(v.cfg.ca_profiles_file, v.cfg.ca_base_url, &profiles, &e) < 0)
		goto out;
	o.token_uri = v.cfg.hsm_token;
	o.profiles = profiles;
	int r = certs_ca_init(v.c, v.h, &o, stdout, &e);
	cert_profiles_free(profiles);
	if (r == 0)
		rc = XC_OK;
out:
	if (rc != XC_OK)
		failed(&e);
	env_close(&v);
	return rc;
}

/* ---- ca issue ---- */

#define MAX_DNS 32

static int read_file(const char *path, unsigned char **buf, size_t *len, efos_err *e)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return efos_fail(e, EFOS_E_INVALID, "%s: %s", path, strerror(errno));
	size_t cap = 70 * 1024;
	*buf = malloc(cap);
	*len = *buf ? fread(*buf, 1, cap, fp) : 0;
	bool err = ferror(fp) != 0;
	fclose(fp);
	if (*buf == NULL || err)
		return efos_fail(e, EFOS_E_INVALID, "%s: cannot read", path);
	return 0;
}

static int cmd_ca_issue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "profile", required_argument, NULL, 'p' }, { "csr", required_argument, NULL, 'r' },
		{ "key-uri", required_argument, NULL, 'k' }, { "cn", required_argument, NULL, 'n' },
		{ "o", required_argument, NULL, 'o' }, { "ou", required_argument, NULL, 'u' },
		{ "org-id", required_argument, NULL, 'i' }, { "given-name", required_argument, NULL, 'g' },
		{ "surname", required_argument, NULL, 's' }, { "serial-number", required_argument, NULL, 'S' },
		{ "title", required_argument, NULL, 't' }, { "email", required_argument, NULL, 'm' },
		{ "c", required_argument, NULL, 'c' }, { "dns", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'O' }, { "chain", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *profile = NULL, *csr = NULL, *key_uri = NULL, *out = NULL;
	const char *dns[MAX_DNS];
	size_t ndns = 0;
	bool chain = false;
	struct cert_subject_values sv = { 0 };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': profile = optarg; break;
		case 'r': csr = optarg; break;
		case 'k': key_uri = optarg; break;
		case 'n': sv.cn = optarg; break;
		case 'o': sv.o = optarg; break;
		case 'u': sv.ou = optarg; break;
		case 'i': sv.org_identifier = optarg; break;
		case 'g': sv.given_name = optarg; break;
		case 's': sv.surname = optarg; break;
		case 'S': sv.serial_number = optarg; break;
		case 't': sv.title = optarg; break;
		case 'm': sv.email = optarg; break;
		case 'c': sv.c = optarg; break;
		case 'd':
			if (ndns == MAX_DNS)
				return usage_err(usage_ca, "too many --dns", NULL);
			dns[ndns++] = optarg;
			break;
		case 'O': out = optarg; break;
		case 'C': chain = true; break;
		case 'h': fputs(usage_ca, stdout); return XC_OK;
		default: return usage_err(usage_ca, NULL, NULL);
		}
	}
	if (optind < argc)
		return usage_err(usage_ca, "unexpected argument: ", argv[optind]);
	if (profile == NULL || (csr == NULL) == (key_uri == NULL))
		return usage_err(usage_ca, "--profile and exactly one of --csr and --key-uri are required", NULL);
	if (sv.cn == NULL && ndns > 0)
		sv.cn = dns[0];

	struct env v;
	efos_err e = { 0 };
	int rc = XC_FAIL;
	unsigned char *csrbuf = NULL;
	size_t csrlen = 0;
	X509_REQ *req = NULL;
	struct hsm_key *subj_key = NULL;
	X509 *x = NULL;
	FILE *fp = NULL;
	if (env_open(&v, true, true, &e) < 0)
		goto done;
	const struct cert_profile *p = cert_profile_get(certs_profiles(v.svc), profile);
	if (p == NULL) {
		efos_fail(&e, EFOS_E_INVALID, "no profile %s in %s", profile,
			  v.cfg.ca_profiles_file ? v.cfg.ca_profiles_file : "(ca.profiles_file not set)");
		goto done;
	}
	if (p->is_ca) {
		efos_fail(&e, EFOS_E_INVALID, "profile %s is a CA profile: CAs are made by `efosctl ca init`", profile);
		goto done;
	}
	const struct certs_ca *ca = certs_ca_for_profile(v.svc, p);
	if (ca == NULL) {
		efos_fail(&e, EFOS_E_INVALID, "profile %s is issued by CA %s, which does not exist (run `efosctl ca "
			  "init`)", profile, p->issuer);
		goto done;
	}
	EVP_PKEY *pub = NULL;
	if (csr != NULL) {
		if (read_file(csr, &csrbuf, &csrlen, &e) < 0 || certs_csr_parse_verify(csrbuf, csrlen, &req, &e) < 0) {
			efos_wrap(&e, "%s", csr);
			goto done;
		}
		pub = X509_REQ_get0_pubkey(req);
	} else {
		if (hsm_key_find(v.h, key_uri, &subj_key, &e) < 0)
			goto done;
		pub = hsm_key_public(subj_key);
	}
	struct cert_issue_request ir = {
		.profile = p, .public_key = pub, .subject = sv, .dns_names = dns, .n_dns_names = ndns,
		.initial_status = "good", .actor = actor,
	};
	if ((fp = open_out(out, &e)) == NULL)
		goto done;
	if (db_begin(v.c, &e) < 0 || certs_issue(v.c, ca, &ir, &x, &e) < 0 || db_commit(v.c, &e) < 0)
		goto done;
	if (!PEM_write_X509(fp, x) || (chain && write_chain(fp, v.svc, ca) < 0)) {
		efos_fail(&e, EFOS_E_INTERNAL, "cannot write the certificate");
		goto done;
	}
	if (close_out(fp, out, &e) < 0) {
		fp = NULL;
		goto done;
	}
	fp = NULL;
	unsigned char sb[20];
	size_t sl = 0;
	char hex[41] = "";
	if (certs_serial_bytes(x, sb, sizeof sb, &sl) == 0)
		certs_hex(sb, sl, hex);
	fprintf(stderr, "issued %s certificate serial %s by CA %s%s%s\n", profile, hex, ca->name,
		out ? " to " : "", out ? out : "");
	rc = XC_OK;
done:
	if (fp != NULL && fp != stdout) {
		fclose(fp);
		unlink(out);
	}
	if (rc != XC_OK)
		failed(&e);
	X509_free(x);
	X509_REQ_free(req);
	free(csrbuf);
	hsm_key_free(subj_key);
	env_close(&v);
	return rc;
}

/* ---- ca list / export ---- */

static void print_time(const ASN1_TIME *t)
{
	BIO *b = BIO_new_fp(stdout, BIO_NOCLOSE);
	ASN1_TIME_print(b, t);
	BIO_free(b);
}

static int cmd_ca_list(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_ca, stdout);
			return XC_OK;
		}
		return usage_err(usage_ca, "unexpected argument: ", argv[i]);
	}
	struct env v;
	efos_err e = { 0 };
	int rc = XC_FAIL;
	PGresult *r = NULL;
	if (env_open(&v, false, false, &e) < 0)
		goto out;
	r = db_exec(v.c, "SELECT c.name, c.subject, c.key_uri, coalesce(p.name, 'self'), c.cert_der, "
		    "coalesce(c.ocsp_key_uri, ''), c.crl_number FROM cas c LEFT JOIN cas p ON p.id = c.parent_id "
		    "ORDER BY c.id", 0, NULL, &e);
	if (r == NULL)
		goto out;
	if (PQntuples(r) == 0)
		printf("no CA yet: run `efosctl ca init`\n");
	for (int i = 0; i < PQntuples(r); i++) {
		size_t len = 0;
		unsigned char *der = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 4), &len);
		const unsigned char *p = der;
		X509 *x = der ? d2i_X509(NULL, &p, (long)len) : NULL;
		PQfreemem(der);
		printf("%s\n  subject:     %s\n  issuer:      %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		       PQgetvalue(r, i, 3));
		if (x != NULL) {
			printf("  valid:       ");
			print_time(X509_get0_notBefore(x));
			printf(" to ");
			print_time(X509_get0_notAfter(x));
			printf("\n");
		}
		printf("  key:         %s\n  ocsp signer: %s\n  crl number:  %s\n", PQgetvalue(r, i, 2),
		       *PQgetvalue(r, i, 5) ? PQgetvalue(r, i, 5) : "(none: the CA key signs OCSP answers)",
		       PQgetvalue(r, i, 6));
		X509_free(x);
	}
	rc = XC_OK;
out:
	PQclear(r);
	if (rc != XC_OK)
		failed(&e);
	env_close(&v);
	return rc;
}

static int cmd_ca_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' }, { "chain", no_argument, NULL, 'C' },
		{ "out", required_argument, NULL, 'O' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *out = NULL;
	bool chain = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': name = optarg; break;
		case 'C': chain = true; break;
		case 'O': out = optarg; break;
		case 'h': fputs(usage_ca, stdout); return XC_OK;
		default: return usage_err(usage_ca, NULL, NULL);
		}
	}
	if (optind < argc)
		return usage_err(usage_ca, "unexpected argument: ", argv[optind]);
	if (name == NULL)
		return usage_err(usage_ca, "--name is required", NULL);
	struct env v;
	efos_err e = { 0 };
	int rc = XC_FAIL;
	FILE *fp = NULL;
	if (env_open(&v, false, true, &e) < 0)
		goto done;
	const struct certs_ca *ca = certs_ca_by_name(v.svc, name);
	if (ca == NULL) {
		efos_fail(&e, EFOS_E_NOTFOUND, "no CA named %s", name);
		goto done;
	}
	if ((fp = open_out(out, &e)) == NULL)
		goto done;
	if ((chain ? write_chain(fp, v.svc, ca) : (PEM_write_X509(fp, ca->cert) ? 0 : -1)) < 0) {
		efos_fail(&e, EFOS_E_INTERNAL, "cannot write the certificate");
		goto done;
	}
	FILE *f = fp;
	fp = NULL;
	if (close_out(f, out, &e) < 0)
		goto done;
	rc = XC_OK;
done:
	if (fp != NULL && fp != stdout) {
		fclose(fp);
		unlink(out);
	}
	if (rc != XC_OK)
		failed(&e);
	env_close(&v);
	return rc;
}

int efosctl_ca(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc < 2)
			return usage_err(usage_ca, "ca needs a subcommand", NULL);
		fputs(usage_ca, stdout);
		return XC_OK;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "init"))
		return cmd_ca_init(argc - 1, argv + 1);
	if (!strcmp(sub, "issue"))
		return cmd_ca_issue(argc - 1, argv + 1);
	if (!strcmp(sub, "list"))
		return cmd_ca_list(argc - 1, argv + 1);
	if (!strcmp(sub, "export"))
		return cmd_ca_export(argc - 1, argv + 1);
	return usage_err(usage_ca, "unknown subcommand: ca ", sub);
}

/* ---- cert revoke / hold / release ---- */

int efosctl_cert(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc < 2)
			return usage_err(usage_cert, "cert needs a subcommand", NULL);
		fputs(usage_cert, stdout);
		return XC_OK;
	}
	const char *sub = argv[1];
	int what;
	if (!strcmp(sub, "revoke"))
		what = 0;
	else if (!strcmp(sub, "hold"))
		what = 1;
	else if (!strcmp(sub, "release"))
		what = 2;
	else
		return usage_err(usage_cert, "unknown subcommand: cert ", sub);
	static const struct option opts[] = {
		{ "serial", required_argument, NULL, 's' }, { "reason", required_argument, NULL, 'r' },
		{ "why", required_argument, NULL, 'w' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *serial = NULL, *reason = NULL, *why = NULL;
	int ch;
	optind = 1;
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 's': serial = optarg; break;
		case 'r': reason = optarg; break;
		case 'w': why = optarg; break;
		case 'h': fputs(usage_cert, stdout); return XC_OK;
		default: return usage_err(usage_cert, NULL, NULL);
		}
	}
	if (optind < argc)
		return usage_err(usage_cert, "unexpected argument: ", argv[optind]);
	unsigned char sb[20];
	size_t sl = 0;
	if (serial == NULL || certs_serial_parse_hex(serial, sb, sizeof sb, &sl) < 0)
		return usage_err(usage_cert, "--serial HEX is required (1 to 20 bytes of hex)", NULL);
	enum cert_revocation_reason rr = CRL_REASON_UNSPECIFIED;
	if (what == 0 && (reason == NULL || cert_reason_parse(reason, &rr) < 0 || rr == CRL_REASON_CERTIFICATE_HOLD))
		return usage_err(usage_cert, "--reason: a revocation reason is required, not: ", reason ? reason : "(none)");
	if (what != 0 && reason != NULL)
		return usage_err(usage_cert, "--reason is only for revoke", NULL);

	struct env v;
	efos_err e = { 0 };
	int rc = XC_FAIL;
	long ca_id = 0;
	if (env_open(&v, false, false, &e) < 0 || db_begin(v.c, &e) < 0)
		goto out;
	int r = what == 0 ? certs_revoke_serial(v.c, sb, sl, rr, actor, why, &ca_id, &e)
		: what == 1 ? certs_hold_serial(v.c, sb, sl, actor, why, &ca_id, &e)
		: certs_release_hold_serial(v.c, sb, sl, actor, why, &ca_id, &e);
	if (r < 0 || db_commit(v.c, &e) < 0)
		goto out;
	char hex[41];
	certs_hex(sb, sl, hex);
	printf("certificate %s %s%s%s\n", hex, what == 0 ? "revoked" : what == 1 ? "on hold" : "released from hold",
	       what == 0 ? ": " : "", what == 0 ? cert_reason_name(rr) : "");
	rc = XC_OK;
out:
	if (rc != XC_OK)
		failed(&e);
	env_close(&v);
	return rc;
}
