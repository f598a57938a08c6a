/* efosctl: the registry (organisations, persons, affiliations, identity proofings, officers),
 * through the admin API as the officer (mTLS with the officer's certificate), except
 * `officer add --bootstrap`, which writes the first ca_admin officer directly into the database
 * on the server (-c CONFIG), audited like every other change.
 *
 * The officer's connection (options, else the environment):
 *   --url URL      EFOS_MTLS_URL        efosd's client-certificate listener
 *   --ca FILE      EFOS_CA_PEM          trust anchors for efosd's TLS certificate
 *   --cert FILE    EFOS_OFFICER_CERT    the officer's certificate (PEM)
 *   --key KEY      EFOS_OFFICER_KEY     PEM file, or a pkcs11: URI (the officer's card)
 *   --pin-env VAR  (EFOS_OFFICER_KEY_PIN) environment variable holding the card's PIN
 *   --module M     EFOS_OFFICER_PKCS11_MODULE   PKCS#11 module of that card
 * Exit status: 0 done, 1 failed (refused, unreachable...), 2 usage error. */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "certs/registry.h"
#include "cmd/efosctl.h"
#include "core/config.h"
#include "core/db.h"
#include "core/http_client.h"
#include "core/log.h"
#include "policy/roles.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define CONN_HELP \
	"Connection (options, else environment): --url URL (EFOS_MTLS_URL), --ca FILE (EFOS_CA_PEM),\n" \
	"--cert FILE (EFOS_OFFICER_CERT), --key FILE|pkcs11:URI (EFOS_OFFICER_KEY), --pin-env VAR\n" \
	"(default EFOS_OFFICER_KEY_PIN: the card's PIN), --module M (EFOS_OFFICER_PKCS11_MODULE).\n" \
	"--json prints efosd's JSON answer. Exit status: 0 done, 1 failed, 2 usage error.\n"

/* ---- options shared by every subcommand ---- */

struct opts {
	const char *url, *ca, *cert, *key, *pin_env, *module;
	bool json, help;
	/* subcommand options */
	const char *orgnr, *name, *pnr, *given, *surname, *display, *reason, *local_id, *title;
	const char *doc_type, *doc_number, *cert_file, *role;
	bool checked, bootstrap;
	struct { const char *role, *orgnr; } roles[32];
	size_t n_roles;
	const char *pos[4];      /* positional arguments */
	size_t n_pos;
};

enum {
	O_URL = 1000, O_CA, O_CERT, O_KEY, O_PIN_ENV, O_MODULE, O_JSON, O_ORG, O_ORGNR, O_NAME, O_PNR,
	O_GIVEN, O_SURNAME, O_DISPLAY, O_REASON, O_LOCAL_ID, O_TITLE, O_DOC_TYPE, O_DOC_NUMBER,
	O_CHECKED, O_ROLE, O_BOOTSTRAP,
};

static const struct option longopts[] = {
	{ "url", required_argument, NULL, O_URL }, { "ca", required_argument, NULL, O_CA },
	{ "cert", required_argument, NULL, O_CERT }, { "key", required_argument, NULL, O_KEY },
	{ "pin-env", required_argument, NULL, O_PIN_ENV }, { "module", required_argument, NULL, O_MODULE },
	{ "json", no_argument, NULL, O_JSON }, { "org", required_argument, NULL, O_ORG },
	{ "orgnr", required_argument, NULL, O_ORGNR }, { "name", required_argument, NULL, O_NAME },
	{ "pnr", required_argument, NULL, O_PNR }, { "given-name", required_argument, NULL, O_GIVEN },
	{ "surname", required_argument, NULL, O_SURNAME }, { "display-name", required_argument, NULL, O_DISPLAY },
	{ "reason", required_argument, NULL, O_REASON }, { "local-id", required_argument, NULL, O_LOCAL_ID },
	{ "title", required_argument, NULL, O_TITLE }, { "document-type", required_argument, NULL, O_DOC_TYPE },
	{ "document-number", required_argument, NULL, O_DOC_NUMBER }, { "checked", no_argument, NULL, O_CHECKED },
	{ "role", required_argument, NULL, O_ROLE }, { "bootstrap", no_argument, NULL, O_BOOTSTRAP },
	{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
};

static int usage_err(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_err(const char *usage, const char *fmt, ...)
{
	if (fmt != NULL) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "efosctl: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	fputs(usage, stderr);
	return EXIT_USAGE;
}

/* Parses argv (argv[0] = the subcommand). Returns -1 after printing help (exit 0), -2 on a
 * usage error (printed), 0 otherwise. max_pos: positional arguments allowed. */
static int parse(int argc, char **argv, const char *usage, size_t max_pos, struct opts *o)
{
	memset(o, 0, sizeof *o);
	int ch;
	optind = 0;   /* 0: full re-initialisation of GNU getopt (argument permutation) */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case O_URL: o->url = optarg; break;
		case O_CA: o->ca = optarg; break;
		case O_CERT: o->cert = optarg; o->cert_file = optarg; break;
		case O_KEY: o->key = optarg; break;
		case O_PIN_ENV: o->pin_env = optarg; break;
		case O_MODULE: o->module = optarg; break;
		case O_JSON: o->json = true; break;
		case O_ORG:
		case O_ORGNR:
			/* after a --role: the organisation of that role */
			if (o->n_roles > 0 && o->roles[o->n_roles - 1].orgnr == NULL && o->role != NULL)
				o->roles[o->n_roles - 1].orgnr = optarg;
			else
				o->orgnr = optarg;
			break;
		case O_NAME: o->name = optarg; break;
		case O_PNR: o->pnr = optarg; break;
		case O_GIVEN: o->given = optarg; break;
		case O_SURNAME: o->surname = optarg; break;
		case O_DISPLAY: o->display = optarg; break;
		case O_REASON: o->reason = optarg; break;
		case O_LOCAL_ID: o->local_id = optarg; break;
		case O_TITLE: o->title = optarg; break;
		case O_DOC_TYPE: o->doc_type = optarg; break;
		case O_DOC_NUMBER: o->doc_number = optarg; break;
		case O_CHECKED: o->checked = true; break;
		case O_BOOTSTRAP: o->bootstrap = true; break;
		case O_ROLE:
			if (o->n_roles == sizeof o->roles / sizeof o->roles[0]) {
				usage_err(usage, "too many --role options");
				return -2;
			}
			o->roles[o->n_roles].role = optarg;
			o->roles[o->n_roles++].orgnr = NULL;
			o->role = optarg;
			break;
		case 'h': fputs(usage, stdout); return -1;
		default:
			usage_err(usage, "unknown or incomplete option: %s", argv[optind - 1]);
			return -2;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (o->n_pos == max_pos || o->n_pos == sizeof o->pos / sizeof o->pos[0]) {
			usage_err(usage, "unexpected argument: %s", argv[i]);
			return -2;
		}
		o->pos[o->n_pos++] = argv[i];
	}
	return 0;
}

/* A value that goes into a URL path or query: digits, letters, - _ . only. */
static bool url_safe(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-'
		      || *s == '_' || *s == '.'))
			return false;
	return true;
}

/* ---- the admin API ---- */

struct api {
	struct http_client_opts o;
	char *pin;
};

static int api_open(struct api *a, const struct opts *op, efos_err *e)
{
	memset(a, 0, sizeof *a);
	a->o.base_url = op->url ? op->url : getenv("EFOS_MTLS_URL");
	a->o.ca_file = op->ca ? op->ca : getenv("EFOS_CA_PEM");
	a->o.cert_file = op->cert ? op->cert : getenv("EFOS_OFFICER_CERT");
	a->o.key = op->key ? op->key : getenv("EFOS_OFFICER_KEY");
	a->o.pkcs11_module = op->module ? op->module : getenv("EFOS_OFFICER_PKCS11_MODULE");
	a->o.timeout_s = 60;
	const char *missing = !a->o.base_url ? "--url (or EFOS_MTLS_URL)" : !a->o.ca_file ? "--ca (or EFOS_CA_PEM)"
		: !a->o.cert_file ? "--cert (or EFOS_OFFICER_CERT)" : !a->o.key ? "--key (or EFOS_OFFICER_KEY)" : NULL;
	if (missing != NULL)
		return efos_fail(e, EFOS_E_INVALID, "%s is needed: the officer's connection to efosd", missing);
	if (strncmp(a->o.key, "pkcs11:", 7) == 0) {
		const char *var = op->pin_env ? op->pin_env : "EFOS_OFFICER_KEY_PIN";
		const char *pin = getenv(var);
		if (pin == NULL && op->pin_env != NULL)
			return efos_fail(e, EFOS_E_INVALID, "--pin-env %s: that variable is not set", var);
		if (pin != NULL && (a->pin = strdup(pin)) == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		a->o.key_pin = a->pin;
	}
	return 0;
}

static void api_close(struct api *a)
{
	efos_free_secret(a->pin);
	a->pin = NULL;
}

static int fail(const efos_err *e)
{
	fprintf(stderr, "efosctl: %s\n", e->msg);
	return EXIT_FAIL;
}

static const char *js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static long long ji(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s != NULL)
		puts(s);
	free(s);
}

static void print_org(json_t *o)
{
	printf("%s  %-9s  %s  (id %lld)\n", js(o, "orgnr"), js(o, "status"), js(o, "name"), ji(o, "id"));
}

static void print_person(json_t *p, bool full)
{
	printf("%s  %-9s  %s%s  (given name %s, surname %s, id %lld)\n", js(p, "pnr"), js(p, "status"),
	       js(p, "display_name"), json_is_true(json_object_get(p, "coordination_number")) ? " [samordningsnummer]" : "",
	       js(p, "given_name"), js(p, "surname"), ji(p, "id"));
	if (!full)
		return;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(p, "affiliations"), i, v)
		printf("  affiliation %lld: %s  %s  %s%s%s\n", ji(v, "id"), js(v, "org_affiliation"), js(v, "status"),
		       js(v, "org_name"), json_is_string(json_object_get(v, "title")) ? ", " : "", js(v, "title"));
	json_array_foreach(json_object_get(p, "proofings"), i, v)
		printf("  proofing %lld: %s %s, in person by officer %lld at %s, valid until %s%s\n", ji(v, "id"),
		       js(v, "document_type"), js(v, "document_number"), ji(v, "officer_id"), js(v, "proofed_at"),
		       js(v, "valid_until"), json_is_true(json_object_get(v, "valid")) ? "" : " (expired)");
}

static void print_aff(json_t *v)
{
	printf("affiliation %lld: %s  %s  %s%s%s\n", ji(v, "id"), js(v, "org_affiliation"), js(v, "status"),
	       js(v, "org_name"), json_is_string(json_object_get(v, "title")) ? ", " : "", js(v, "title"));
}

static void print_officer(json_t *v)
{
	printf("officer %lld: %s  %s  (%s, certificate SHA-256 %s)\n", ji(v, "id"), js(v, "name"),
	       json_is_true(json_object_get(v, "active")) ? "active" : "deactivated", js(v, "cert_subject"),
	       js(v, "cert_sha256"));
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(v, "roles"), i, r)
		printf("  role %s for %s%s\n", js(r, "role"), json_is_string(json_object_get(r, "orgnr")) ? "organisation " :
		       "every organisation", js(r, "orgnr"));
}

/* Runs one request and prints the answer with pr (or the JSON with --json). */
static int run(const struct opts *op, const char *method, const char *path, json_t *body,
	       void (*pr)(json_t *), const char *list_key, const char *done)
{
	struct api a;
	efos_err e = { 0 };
	json_t *out = NULL;
	if (api_open(&a, op, &e) != 0) {
		json_decref(body);
		api_close(&a);
		return fail(&e);
	}
	int rc = efosctl_api_call(&a.o, method, path, body, &out, &e);
	json_decref(body);
	api_close(&a);
	if (rc != 0)
		return fail(&e);
	if (op->json) {
		print_json(out);
	} else {
		if (done != NULL)
			printf("%s\n", done);
		if (list_key != NULL) {
			size_t i;
			json_t *v;
			json_array_foreach(json_object_get(out, list_key), i, v)
				pr(v);
		} else if (pr != NULL) {
			pr(out);
		}
	}
	json_decref(out);
	return EXIT_OK;
}

static void print_person_full(json_t *p) { print_person(p, true); }
static void print_person_short(json_t *p) { print_person(p, false); }
static void print_proof(json_t *v)
{
	printf("proofing %lld: %s %s, in person by officer %lld at %s, valid until %s%s\n", ji(v, "id"),
	       js(v, "document_type"), js(v, "document_number"), ji(v, "officer_id"), js(v, "proofed_at"),
	       js(v, "valid_until"), json_is_true(json_object_get(v, "valid")) ? "" : " (expired)");
}

#define PARSE(usage, maxpos) \
	struct opts o; \
	do { \
		int p_ = parse(argc, argv, usage, maxpos, &o); \
		if (p_ < 0) \
			return p_ == -1 ? EXIT_OK : EXIT_USAGE; \
	} while (0)

/* ---- org ---- */

static const char usage_org[] =
	"usage: efosctl org add --orgnr NNNNNNNNNN --name NAME\n"
	"       efosctl org list\n"
	"       efosctl org show ORGNR\n"
	"       efosctl org suspend|resume ORGNR [--reason TEXT]\n"
	"Organisations (10-digit organisationsnummer, no hyphen). add, suspend and resume need the\n"
	"ca_admin role; suspending an organisation suspends its cards, resuming resumes them.\n" CONN_HELP;

static int cmd_org(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub == NULL)
		return usage_err(usage_org, "org needs a subcommand");
	argc--, argv++;
	char path[160];
	if (!strcmp(sub, "add")) {
		PARSE(usage_org, 0);
		if (o.orgnr == NULL || o.name == NULL)
			return usage_err(usage_org, "org add: --orgnr and --name are required");
		return run(&o, "POST", "/api/v1/admin/organisations", json_pack("{s:s, s:s}", "orgnr", o.orgnr, "name", o.name),
			   print_org, NULL, "organisation added:");
	}
	if (!strcmp(sub, "list")) {
		PARSE(usage_org, 0);
		return run(&o, "GET", "/api/v1/admin/organisations", NULL, print_org, "organisations", NULL);
	}
	if (!strcmp(sub, "show") || !strcmp(sub, "suspend") || !strcmp(sub, "resume")) {
		PARSE(usage_org, 1);
		const char *nr = o.n_pos ? o.pos[0] : o.orgnr;
		if (!url_safe(nr))
			return usage_err(usage_org, "org %s: give the organisationsnummer (10 digits)", sub);
		if (!strcmp(sub, "show")) {
			snprintf(path, sizeof path, "/api/v1/admin/organisations/%s", nr);
			return run(&o, "GET", path, NULL, print_org, NULL, NULL);
		}
		snprintf(path, sizeof path, "/api/v1/admin/organisations/%s/%s", nr, sub);
		return run(&o, "POST", path, json_pack("{s:s?}", "reason", o.reason), print_org, NULL,
			   !strcmp(sub, "suspend") ? "organisation suspended:" : "organisation resumed:");
	}
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(usage_org, stdout);
		return EXIT_OK;
	}
	return usage_err(usage_org, "org: unknown subcommand %s", sub);
}

/* ---- person ---- */

static const char usage_person[] =
	"usage: efosctl person add --pnr YYYYMMDDNNNC --given-name G --surname S [--display-name D]\n"
	"                          [--org ORGNR]\n"
	"       efosctl person show PNR\n"
	"       efosctl person list [--org ORGNR]\n"
	"       efosctl person update PNR [--given-name G] [--surname S] [--display-name D]\n"
	"       efosctl person suspend|resume PNR [--reason TEXT]\n"
	"Persons: personnummer or samordningsnummer, 12 digits without hyphen, checked (date and\n"
	"checksum). The display name defaults to \"Given Surname\". --org names the organisation in\n"
	"which the officer acts (default: any in which the officer may register persons).\n"
	"Suspending a person suspends their cards; resuming resumes them.\n" CONN_HELP;

static int cmd_person(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub == NULL)
		return usage_err(usage_person, "person needs a subcommand");
	argc--, argv++;
	char path[160];
	if (!strcmp(sub, "add")) {
		PARSE(usage_person, 0);
		if (o.pnr == NULL || o.given == NULL || o.surname == NULL)
			return usage_err(usage_person, "person add: --pnr, --given-name and --surname are required");
		return run(&o, "POST", "/api/v1/admin/persons",
			   json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "pnr", o.pnr, "given_name", o.given, "surname", o.surname,
				     "display_name", o.display, "orgnr", o.orgnr),
			   print_person_full, NULL, "person added:");
	}
	if (!strcmp(sub, "list")) {
		PARSE(usage_person, 0);
		if (o.orgnr != NULL && !url_safe(o.orgnr))
			return usage_err(usage_person, "person list: bad --org %s", o.orgnr);
		if (o.orgnr != NULL)
			snprintf(path, sizeof path, "/api/v1/admin/persons?orgnr=%s", o.orgnr);
		else
			snprintf(path, sizeof path, "/api/v1/admin/persons");
		return run(&o, "GET", path, NULL, print_person_short, "persons", NULL);
	}
	if (!strcmp(sub, "show") || !strcmp(sub, "suspend") || !strcmp(sub, "resume") || !strcmp(sub, "update")) {
		PARSE(usage_person, 1);
		const char *pnr = o.n_pos ? o.pos[0] : o.pnr;
		if (!url_safe(pnr))
			return usage_err(usage_person, "person %s: give the personnummer (12 digits)", sub);
		snprintf(path, sizeof path, "/api/v1/admin/persons/%s", pnr);
		if (!strcmp(sub, "show"))
			return run(&o, "GET", path, NULL, print_person_full, NULL, NULL);
		if (!strcmp(sub, "update")) {
			if (!o.given && !o.surname && !o.display)
				return usage_err(usage_person, "person update: give --given-name, --surname or --display-name");
			return run(&o, "POST", path, json_pack("{s:s?, s:s?, s:s?}", "given_name", o.given, "surname",
							       o.surname, "display_name", o.display),
				   print_person_full, NULL, "person updated:");
		}
		snprintf(path, sizeof path, "/api/v1/admin/persons/%s/%s", pnr, sub);
		return run(&o, "POST", path, json_pack("{s:s?}", "reason", o.reason), print_person_full, NULL,
			   !strcmp(sub, "suspend") ? "person suspended:" : "person resumed:");
	}
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(usage_person, stdout);
		return EXIT_OK;
	}
	return usage_err(usage_person, "person: unknown subcommand %s", sub);
}

/* ---- affiliation ---- */

static const char usage_affiliation[] =
	"usage: efosctl affiliation add --pnr PNR --org ORGNR --local-id ID [--title T]\n"
	"       efosctl affiliation end ID [--reason TEXT]\n"
	"       efosctl affiliation list (--pnr PNR | --org ORGNR)\n"
	"Affiliations: a person's employment with an organisation. The local id is the\n"
	"organisation's own identifier of the person ([A-Za-z0-9._-], unique in the organisation):\n"
	"orgAffiliation is local-id@orgnr. Ending an affiliation revokes the cards enrolled for it.\n"
	CONN_HELP;

static int cmd_affiliation(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub == NULL)
		return usage_err(usage_affiliation, "affiliation needs a subcommand");
	argc--, argv++;
	char path[200];
	if (!strcmp(sub, "add")) {
		PARSE(usage_affiliation, 0);
		if (o.pnr == NULL || o.orgnr == NULL || o.local_id == NULL)
			return usage_err(usage_affiliation, "affiliation add: --pnr, --org and --local-id are required");
		return run(&o, "POST", "/api/v1/admin/affiliations",
			   json_pack("{s:s, s:s, s:s, s:s?}", "pnr", o.pnr, "orgnr", o.orgnr, "local_id", o.local_id,
				     "title", o.title),
			   print_aff, NULL, "affiliation added:");
	}
	if (!strcmp(sub, "end")) {
		PARSE(usage_affiliation, 1);
		if (o.n_pos != 1 || !url_safe(o.pos[0]))
			return usage_err(usage_affiliation, "affiliation end: give the affiliation's id");
		snprintf(path, sizeof path, "/api/v1/admin/affiliations/%s/end", o.pos[0]);
		return run(&o, "POST", path, json_pack("{s:s?}", "reason", o.reason), print_aff, NULL, "affiliation ended:");
	}
	if (!strcmp(sub, "list")) {
		PARSE(usage_affiliation, 0);
		if ((o.pnr == NULL && o.orgnr == NULL) || (o.pnr && !url_safe(o.pnr)) || (o.orgnr && !url_safe(o.orgnr)))
			return usage_err(usage_affiliation, "affiliation list: give --pnr or --org");
		snprintf(path, sizeof path, "/api/v1/admin/affiliations?%s%s%s%s%s", o.pnr ? "pnr=" : "", o.pnr ? o.pnr : "",
			 o.pnr && o.orgnr ? "&" : "", o.orgnr ? "orgnr=" : "", o.orgnr ? o.orgnr : "");
		return run(&o, "GET", path, NULL, print_aff, "affiliations", NULL);
	}
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(usage_affiliation, stdout);
		return EXIT_OK;
	}
	return usage_err(usage_affiliation, "affiliation: unknown subcommand %s", sub);
}

/* ---- proof ---- */

static const char usage_proof[] =
	"usage: efosctl proof record --pnr PNR --document-type TYPE --document-number N --checked\n"
	"       efosctl proof list --pnr PNR\n"
	"Records that the officer proofed the person's identity in person against an identity\n"
	"document (TYPE: passport, national_id_card, driving_licence, sis_id_card,\n"
	"tax_agency_id_card) and checked it (--checked is required). Valid for\n"
	"ca.proofing_validity_days; enrollment needs a valid proofing.\n" CONN_HELP;

static int cmd_proof(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub == NULL)
		return usage_err(usage_proof, "proof needs a subcommand");
	argc--, argv++;
	char path[160];
	if (!strcmp(sub, "record")) {
		PARSE(usage_proof, 0);
		if (o.pnr == NULL || o.doc_type == NULL || o.doc_number == NULL)
			return usage_err(usage_proof, "proof record: --pnr, --document-type and --document-number are required");
		if (!o.checked)
			return usage_err(usage_proof, "proof record: --checked is required: check the document in person first");
		return run(&o, "POST", "/api/v1/admin/proofings",
			   json_pack("{s:s, s:s, s:s, s:b}", "pnr", o.pnr, "document_type", o.doc_type, "document_number",
				     o.doc_number, "checked", 1),
			   print_proof, NULL, "identity proofing recorded:");
	}
	if (!strcmp(sub, "list")) {
		PARSE(usage_proof, 0);
		if (!url_safe(o.pnr))
			return usage_err(usage_proof, "proof list: give --pnr");
		snprintf(path, sizeof path, "/api/v1/admin/proofings?pnr=%s", o.pnr);
		return run(&o, "GET", path, NULL, print_proof, "proofings", NULL);
	}
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(usage_proof, stdout);
		return EXIT_OK;
	}
	return usage_err(usage_proof, "proof: unknown subcommand %s", sub);
}

/* ---- officer ---- */

static const char usage_officer[] =
	"usage: efosctl officer add --cert FILE --name NAME [--pnr PNR]\n"
	"                           [--role ROLE [--org ORGNR]]... [--bootstrap]\n"
	"       efosctl officer grant|revoke ID --role ROLE [--org ORGNR]\n"
	"       efosctl officer list\n"
	"       efosctl officer show ID\n"
	"       efosctl officer whoami\n"
	"       efosctl officer activate|deactivate ID\n"
	"Officers authenticate with their client certificate (registered by its SHA-256).\n"
	"ROLE: registration_officer, org_admin, ca_admin; --org after a --role limits it to that\n"
	"organisation, without it the role holds for every organisation. Managing officers needs\n"
	"the ca_admin role.\n"
	"--bootstrap (on the server, with -c CONFIG): writes the first officer directly into the\n"
	"database with the ca_admin role for every organisation (and the --role options given),\n"
	"audited as the local operator; refused once an active ca_admin exists. Here --cert is the\n"
	"new officer's certificate, not a connection option.\n" CONN_HELP;

static int load_file(const char *path, char **out, size_t *len, efos_err *e)
{
	FILE *fp = fopen(path, "r");
	if (fp == NULL)
		return efos_fail(e, EFOS_E_INVALID, "%s: cannot open", path);
	char *buf = malloc(65537);
	size_t n = buf ? fread(buf, 1, 65536, fp) : 0;
	bool more = buf && fgetc(fp) != EOF;
	fclose(fp);
	if (buf == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	if (more || n == 0) {
		free(buf);
		return efos_fail(e, EFOS_E_INVALID, "%s: %s", path, more ? "larger than 64 KiB" : "empty");
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int connect_db(const struct efos_config *cfg, PGconn **out, efos_err *e)
{
	char *pw = NULL;
	if (config_read_secret(cfg->db_password_file, cfg->db_password_env, true, &pw, e) < 0)
		return efos_wrap(e, "database password");
	int rc = db_connect(cfg->db_conninfo, pw, cfg->db_connect_timeout_s, out, e);
	efos_free_secret(pw);
	return rc;
}

/* The first officer, straight into the database (one transaction, audited). */
static int officer_bootstrap(const struct opts *o, const char *pem, size_t pem_len)
{
	struct efos_config cfg;
	efos_err e = { 0 };
	PGconn *c = NULL;
	int rc = EXIT_FAIL;
	if (config_load(config_path, &cfg, &e) < 0)
		return fail(&e);
	struct registry_actor who = { .node = cfg.node_name, .name = actor, .officer_id = 0 };
	struct registry_officer off;
	struct registry_person p = { 0 };
	if (connect_db(&cfg, &c, &e) < 0 || db_schema_check(c, cfg.db_migrations_dir, &e) < 0
	    || db_begin(c, &e) < 0)
		goto out;
	/* one bootstrap at a time; the check and the insert in the same transaction */
	PGresult *r = db_exec(c, "SELECT pg_advisory_xact_lock(7302211)", 0, NULL, &e);
	if (r == NULL)
		goto out;
	PQclear(r);
	r = db_exec(c, "SELECT o.id, o.name FROM officers o JOIN officer_roles r ON r.officer_id = o.id "
		    "WHERE r.role = 'ca_admin' AND r.org_id IS NULL AND o.active LIMIT 1", 0, NULL, &e);
	if (r == NULL)
		goto out;
	if (PQntuples(r) > 0) {
		efos_fail(&e, EFOS_E_CONFLICT, "an active ca_admin officer exists already (officer %s, \"%s\"): add "
			  "officers through the admin API as that officer", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
		PQclear(r);
		goto out;
	}
	PQclear(r);
	if (o->pnr != NULL && registry_person_get_by_pnr(c, o->pnr, &p, &e) != 0)
		goto out;
	if (registry_officer_create(c, &who, pem, pem_len, o->name, p.id, &off, &e) != 0
	    || registry_officer_grant(c, &who, off.id, "ca_admin", 0, &e) != 0)
		goto out;
	for (size_t i = 0; i < o->n_roles; i++) {
		struct registry_org org = { 0 };
		if (!strcmp(o->roles[i].role, "ca_admin") && o->roles[i].orgnr == NULL)
			continue;   /* granted above */
		if (o->roles[i].orgnr != NULL && registry_org_get_by_orgnr(c, o->roles[i].orgnr, &org, &e) != 0)
			goto out;
		if (registry_officer_grant(c, &who, off.id, o->roles[i].role, org.id, &e) != 0)
			goto out;
	}
	if (db_commit(c, &e) < 0)
		goto out;
	printf("officer %ld \"%s\" added with role ca_admin for every organisation (certificate %s, SHA-256 %s)\n",
	       off.id, off.name, off.cert_subject, off.cert_sha256);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		fail(&e);
	db_rollback(c);
	PQfinish(c);
	config_free(&cfg);
	return rc;
}

static int cmd_officer(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub == NULL)
		return usage_err(usage_officer, "officer needs a subcommand");
	argc--, argv++;
	char path[160];
	if (!strcmp(sub, "add")) {
		PARSE(usage_officer, 0);
		if (o.cert_file == NULL || o.name == NULL)
			return usage_err(usage_officer, "officer add: --cert and --name are required");
		for (size_t i = 0; i < o.n_roles; i++) {
			enum policy_role pr;
			if (policy_role_parse(o.roles[i].role, &pr) != 0)
				return usage_err(usage_officer, "unknown role %s", o.roles[i].role);
		}
		char *pem = NULL;
		size_t pem_len = 0;
		efos_err e = { 0 };
		if (load_file(o.cert_file, &pem, &pem_len, &e) != 0)
			return fail(&e);
		int rc;
		if (o.bootstrap) {
			rc = officer_bootstrap(&o, pem, pem_len);
		} else {
			json_t *roles = json_array();
			for (size_t i = 0; i < o.n_roles; i++)
				json_array_append_new(roles, json_pack("{s:s, s:s?}", "role", o.roles[i].role, "orgnr",
								       o.roles[i].orgnr));
			/* --cert is the new officer's certificate: the connection's comes from the environment */
			struct opts conn = o;
			conn.cert = NULL;
			rc = run(&conn, "POST", "/api/v1/admin/officers",
				 json_pack("{s:s, s:s, s:s?, s:o}", "name", o.name, "cert_pem", pem, "pnr", o.pnr, "roles", roles),
				 print_officer, NULL, "officer added:");
		}
		free(pem);
		return rc;
	}
	if (!strcmp(sub, "list")) {
		PARSE(usage_officer, 0);
		return run(&o, "GET", "/api/v1/admin/officers", NULL, print_officer, "officers", NULL);
	}
	if (!strcmp(sub, "whoami")) {
		PARSE(usage_officer, 0);
		return run(&o, "GET", "/api/v1/admin/whoami", NULL, print_officer, NULL, NULL);
	}
	if (!strcmp(sub, "show") || !strcmp(sub, "grant") || !strcmp(sub, "revoke") || !strcmp(sub, "activate")
	    || !strcmp(sub, "deactivate")) {
		PARSE(usage_officer, 1);
		if (o.n_pos != 1 || !url_safe(o.pos[0]))
			return usage_err(usage_officer, "officer %s: give the officer's id", sub);
		const char *id = o.pos[0];
		if (!strcmp(sub, "show")) {
			snprintf(path, sizeof path, "/api/v1/admin/officers/%s", id);
			return run(&o, "GET", path, NULL, print_officer, NULL, NULL);
		}
		if (!strcmp(sub, "activate") || !strcmp(sub, "deactivate")) {
			snprintf(path, sizeof path, "/api/v1/admin/officers/%s/%s", id, sub);
			return run(&o, "POST", path, NULL, print_officer, NULL, NULL);
		}
		if (o.n_roles != 1)
			return usage_err(usage_officer, "officer %s: give one --role (and --org for one organisation)", sub);
		const char *role = o.roles[0].role, *orgnr = o.roles[0].orgnr ? o.roles[0].orgnr : o.orgnr;
		enum policy_role pr;
		if (policy_role_parse(role, &pr) != 0)
			return usage_err(usage_officer, "unknown role %s", role);
		if (orgnr != NULL && !url_safe(orgnr))
			return usage_err(usage_officer, "bad --org %s", orgnr);
		if (!strcmp(sub, "grant")) {
			snprintf(path, sizeof path, "/api/v1/admin/officers/%s/roles", id);
			return run(&o, "POST", path, json_pack("{s:s, s:s?}", "role", role, "orgnr", orgnr), print_officer,
				   NULL, "role granted:");
		}
		snprintf(path, sizeof path, "/api/v1/admin/officers/%s/roles?role=%s%s%s", id, role,
			 orgnr ? "&orgnr=" : "", orgnr ? orgnr : "");
		return run(&o, "DELETE", path, NULL, print_officer, NULL, "role revoked:");
	}
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(usage_officer, stdout);
		return EXIT_OK;
	}
	return usage_err(usage_officer, "officer: unknown subcommand %s", sub);
}

int efosctl_org(int argc, char **argv) { return cmd_org(argc, argv); }
int efosctl_person(int argc, char **argv) { return cmd_person(argc, argv); }
int efosctl_affiliation(int argc, char **argv) { return cmd_affiliation(argc, argv); }
int efosctl_proof(int argc, char **argv) { return cmd_proof(argc, argv); }
int efosctl_officer(int argc, char **argv) { return cmd_officer(argc, argv); }
