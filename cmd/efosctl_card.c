/* efosctl card ...: the registration officer's card commands (issue 3). They run on the
 * officer's workstation with the card in the reader and talk to efosd's enrollment and card
 * APIs over mTLS as the officer:
 *
 *   EFOS_MTLS_URL       https://efos.example.se:8444 (efosd's client-certificate listener)
 *   EFOS_CA_PEM         trust anchors for efosd's server certificate
 *   EFOS_OFFICER_CERT   the officer's certificate (PEM)
 *   EFOS_OFFICER_KEY    the officer's key: a PEM file, or a pkcs11: URI (the officer's card;
 *                       its PIN from EFOS_OFFICER_KEY_PIN)
 *
 * Secrets (the card's SO PIN / PUK and user PIN) come from an environment variable or a file
 * named on the command line, or from a prompt without echo; never as argument values.
 *
 * Crash safety of `card enroll`: the server issues the certificates on hold for a pending card
 * (begin), efosctl writes them onto the card and then confirms. If efosctl dies in between,
 * the card stays pending, its certificates stay on hold (nothing usable), and efosd's sweeper
 * revokes them after ca.enroll_pending_timeout. `efosctl card confirm` finishes an
 * interrupted enrollment whose certificates reached the card.
 * Test hook: EFOS_TEST_CRASH_AFTER=begin|write makes `card enroll` exit with status 9 right
 * after the begin call / after writing the certificates onto the card (tests/integration). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "cmd/efosctl.h"
#include "core/err.h"
#include "core/http_client.h"
#include "hsm/bridge.h"
#include "hsm/card.h"
#include "hsm/hsm.h"


enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_TEST_CRASH = 9 };

/* The two key pairs every EFOS card holds, with fixed labels and CKA_IDs so that a PKCS#11
 * URI names them plainly: pkcs11:token=LABEL;object=auth;type=private. */
static const struct card_role {
	const char *name;          /* JSON key and CKA_LABEL */
	unsigned char id;          /* CKA_ID (one byte) */
} card_roles[] = { { "auth", 0x01 }, { "sign", 0x02 } };
#define N_ROLES (sizeof card_roles / sizeof card_roles[0])

static const char usage_card[] =
	"usage: efosctl card COMMAND [OPTIONS]\n"
	"\n"
	"  enroll  --module M (--token LABEL | --slot N) --pnr P --org ORGNR\n"
	"          [--init [--erase] --so-pin-env V | --so-pin-file F] [--label L]\n"
	"          [--pin-env V | --pin-file F] [--key-type rsa:2048|rsa:3072|ec:p256|ec:p384]\n"
	"          [--out-dir DIR] [--replaces CARD_ID [--reason R]]\n"
	"          initialise (with --init) or check a blank card, set the holder's PIN, generate\n"
	"          the auth and sign key pairs on the card, send their CSRs, write the issued\n"
	"          certificates onto the card and confirm\n"
	"  confirm --card-id N --module M (--token L | --slot N) [--pin-env V | --pin-file F]\n"
	"          finish an interrupted enrollment whose certificates are on the card\n"
	"  suspend --card-id N --why TEXT          certificateHold on all the card's certificates\n"
	"  resume  --card-id N --why TEXT          release the hold\n"
	"  revoke  --card-id N --reason R --why TEXT\n"
	"          R: card-lost | affiliation-ended | key-compromise | superseded | cessation\n"
	"  renew   --card-id N --module M (--token L | --slot N) [--pin-env V | --pin-file F]\n"
	"          new certificates for the card's keys; the old ones are superseded\n"
	"  replace --card-id OLD + the enroll options: a new card for the same person; the old\n"
	"          card is revoked (--reason, default superseded)\n"
	"  unblock --card-id N --module M (--token L | --slot N) (--so-pin-env V | --so-pin-file F)\n"
	"          [--pin-env V | --pin-file F] --why TEXT   record the officer's authorisation,\n"
	"          then set a new user PIN with the card's SO PIN / PUK\n"
	"  list    [--pnr P] [--org ORGNR] [--status S]\n"
	"  show    --card-id N\n"
	"\n"
	"The officer's connection: EFOS_MTLS_URL, EFOS_CA_PEM, EFOS_OFFICER_CERT, EFOS_OFFICER_KEY\n"
	"(and EFOS_OFFICER_KEY_PIN for a pkcs11: key). PINs: never on the command line; from the\n"
	"environment variable or file named, else prompted for without echo.\n";

/* ---- options ---- */

struct card_opts {
	const char *module, *token, *slot_str, *pnr, *org, *label, *key_type, *out_dir;
	const char *so_pin_env, *so_pin_file, *pin_env, *pin_file;
	const char *why, *reason, *status;
	long card_id, replaces;
	bool init, erase, has_slot;
	unsigned long slot;
};

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "efosctl card: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n(efosctl card --help for the options)\n");
	va_end(ap);
	return EXIT_USAGE;
}

static int fail_msg(const efos_err *e)
{
	fprintf(stderr, "efosctl card: %s\n", e->msg);
	return EXIT_FAIL;
}

static bool parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0)
		return false;
	*out = v;
	return true;
}

/* Returns 0, -1 after printing help (exit 0), or EXIT_USAGE. */
static int parse_opts(int argc, char **argv, struct card_opts *o)
{
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_card, stdout);
			return -1;
		}
		if (!strcmp(a, "--init")) { o->init = true; continue; }
		if (!strcmp(a, "--erase")) { o->erase = true; continue; }
		if (!strcmp(a, "--module")) dst = &o->module;
		else if (!strcmp(a, "--token")) dst = &o->token;
		else if (!strcmp(a, "--slot")) dst = &o->slot_str;
		else if (!strcmp(a, "--pnr")) dst = &o->pnr;
		else if (!strcmp(a, "--org")) dst = &o->org;
		else if (!strcmp(a, "--label")) dst = &o->label;
		else if (!strcmp(a, "--key-type")) dst = &o->key_type;
		else if (!strcmp(a, "--out-dir")) dst = &o->out_dir;
		else if (!strcmp(a, "--so-pin-env")) dst = &o->so_pin_env;
		else if (!strcmp(a, "--so-pin-file")) dst = &o->so_pin_file;
		else if (!strcmp(a, "--pin-env")) dst = &o->pin_env;
		else if (!strcmp(a, "--pin-file")) dst = &o->pin_file;
		else if (!strcmp(a, "--why")) dst = &o->why;
		else if (!strcmp(a, "--reason")) dst = &o->reason;
		else if (!strcmp(a, "--status")) dst = &o->status;
		else if (!strcmp(a, "--card-id") || !strcmp(a, "--replaces")) {
			if (i + 1 >= argc)
				return usage_err("%s needs a value", a);
			long *t = !strcmp(a, "--card-id") ? &o->card_id : &o->replaces;
			if (!parse_long(argv[++i], t))
				return usage_err("%s: not a card id: %s", a, argv[i]);
			continue;
		} else if (!strcmp(a, "--pin") || !strcmp(a, "--so-pin"))
			return usage_err("%s: PINs are never given on the command line; use %s-env VAR or %s-file FILE",
					 a, a, a);
		else
			return usage_err("unexpected argument: %s", a);
		if (i + 1 >= argc)
			return usage_err("%s needs a value", a);
		*dst = argv[++i];
	}
	if (o->slot_str != NULL) {
		char *end;
		errno = 0;
		o->slot = strtoul(o->slot_str, &end, 0);
		if (errno != 0 || end == o->slot_str || *end != '\0')
			return usage_err("--slot: not a slot number: %s", o->slot_str);
		o->has_slot = true;
	}
	return 0;
}

/* ---- secrets ---- */

/* Reads a line from the terminal without echo. */
static char *prompt_secret(const char *prompt)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct termios old, noecho;
	bool restore = false;
	if (tcgetattr(fd, &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		restore = tcsetattr(fd, TCSAFLUSH, &noecho) == 0;
	}
	(void)!write(fd, prompt, strlen(prompt));
	char buf[256];
	size_t n = 0;
	char ch;
	while (n + 1 < sizeof buf && read(fd, &ch, 1) == 1 && ch != '\n' && ch != '\r')
		buf[n++] = ch;
	buf[n] = '\0';
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	(void)!write(fd, "\n", 1);
	close(fd);
	char *s = strdup(buf);
	efos_wipe(buf, sizeof buf);
	return s;
}

/* A secret from the environment variable env, the file file, or (when both are NULL and
 * prompt is non-NULL) the terminal; twice when confirm. Trailing newline stripped. */
static int read_secret(const char *env, const char *file, const char *prompt, bool confirm,
		       const char *what, char **out, efos_err *e)
{
	*out = NULL;
	if (env != NULL && file != NULL)
		return efos_fail(e, EFOS_E_INVALID, "%s: give either an environment variable or a file, not both", what);
	if (env != NULL) {
		const char *v = getenv(env);
		if (v == NULL || *v == '\0')
			return efos_fail(e, EFOS_E_INVALID, "%s: environment variable %s is not set", what, env);
		*out = strdup(v);
	} else if (file != NULL) {
		FILE *fp = fopen(file, "re");
		if (fp == NULL)
			return efos_fail(e, EFOS_E_INVALID, "%s: %s: %s", what, file, strerror(errno));
		char buf[256];
		size_t n = fread(buf, 1, sizeof buf - 1, fp);
		fclose(fp);
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		*out = strdup(buf);
		efos_wipe(buf, sizeof buf);
	} else if (prompt != NULL) {
		*out = prompt_secret(prompt);
		if (*out == NULL)
			return efos_fail(e, EFOS_E_INVALID, "%s: no terminal to ask on; name an environment variable or a file", what);
		if (confirm) {
			char *again = prompt_secret("Again: ");
			bool same = again != NULL && strcmp(again, *out) == 0;
			efos_free_secret(again);
			if (!same) {
				efos_free_secret(*out);
				*out = NULL;
				return efos_fail(e, EFOS_E_INVALID, "%s: the two entries differ", what);
			}
		}
	} else {
		return efos_fail(e, EFOS_E_INVALID, "%s is required", what);
	}
	if (*out == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	if (**out == '\0') {
		efos_free_secret(*out);
		*out = NULL;
		return efos_fail(e, EFOS_E_INVALID, "%s is empty", what);
	}
	return 0;
}

/* ---- the officer's connection to efosd ---- */

struct api {
	struct http_client_opts o;
};

static int api_init(struct api *a, efos_err *e)
{
	memset(a, 0, sizeof *a);
	a->o.base_url = getenv("EFOS_MTLS_URL");
	a->o.ca_file = getenv("EFOS_CA_PEM");
	a->o.cert_file = getenv("EFOS_OFFICER_CERT");
	a->o.key = getenv("EFOS_OFFICER_KEY");
	a->o.key_pin = getenv("EFOS_OFFICER_KEY_PIN");
	a->o.timeout_s = 60;
	const char *missing = a->o.base_url == NULL ? "EFOS_MTLS_URL" : a->o.ca_file == NULL ? "EFOS_CA_PEM"
		: a->o.cert_file == NULL ? "EFOS_OFFICER_CERT" : a->o.key == NULL ? "EFOS_OFFICER_KEY" : NULL;
	if (missing != NULL)
		return efos_fail(e, EFOS_E_INVALID, "%s is not set (the officer's connection to efosd)", missing);
	return 0;
}

/* ---- the card ---- */

static int open_card(const struct card_opts *o, struct hsm_card **card, efos_err *e)
{
	char uri[300];
	if (o->module == NULL)
		return efos_fail(e, EFOS_E_INVALID, "--module is required (the card's PKCS#11 module)");
	if (o->token == NULL && !o->has_slot)
		return efos_fail(e, EFOS_E_INVALID, "--token LABEL or --slot N is required");
	if (o->token != NULL) {
		if (strncmp(o->token, "pkcs11:", 7) == 0) {
			snprintf(uri, sizeof uri, "%s", o->token);
		} else {
			/* a label: percent-encode what RFC 7512 does not allow plainly */
			size_t n = (size_t)snprintf(uri, sizeof uri, "pkcs11:token=");
			for (const unsigned char *p = (const unsigned char *)o->token; *p && n + 4 < sizeof uri; p++)
				n += (size_t)(isalnum(*p) || strchr("-._~", *p) ? snprintf(uri + n, sizeof uri - n, "%c", *p)
					     : snprintf(uri + n, sizeof uri - n, "%%%02X", *p));
		}
	}
	return hsm_card_open(o->module, o->token ? uri : NULL, o->has_slot, o->slot, card, e);
}

static int parse_key_type(const char *s, struct hsm_keygen_params *p, efos_err *e)
{
	/* what cards generate: RSA or P-256/P-384 (no card we know of does P-521) */
	if (s == NULL)
		s = "rsa:2048";
	if (strcmp(s, "ec:p521") == 0 || hsm_key_type_parse(s, p) != 0)
		return efos_fail(e, EFOS_E_INVALID, "--key-type %s: use rsa:2048, rsa:3072, rsa:4096, ec:p256 or ec:p384", s);
	return 0;
}

/* A CSR for k signed by k on the card: the proof of possession the server checks. */
static int make_csr(struct hsm_key *k, const char *cn, char **pem_out, efos_err *e)
{
	X509_REQ *req = X509_REQ_new();
	EVP_PKEY *signer = NULL;
	BIO *bio = NULL;
	int ret = -1;

	*pem_out = NULL;
	if (req == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	X509_NAME *name = X509_REQ_get_subject_name(req);
	if (!X509_REQ_set_version(req, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(req, hsm_key_public(k))) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot build the CSR");
		goto out;
	}
	if ((signer = hsm_evp_pkey(k, e)) == NULL)
		goto out;
	if (X509_REQ_sign(req, signer, EVP_sha256()) <= 0) {
		efos_fail(e, EFOS_E_INTERNAL, "signing the CSR with the card key '%s' failed", hsm_key_label(k));
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509_REQ(bio, req)) {
		efos_fail(e, EFOS_E_INTERNAL, "cannot encode the CSR");
		goto out;
	}
	char *data;
	long len = BIO_get_mem_data(bio, &data);
	if ((*pem_out = strndup(data, (size_t)len)) == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto out;
	}
	ret = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(signer);
	X509_REQ_free(req);
	return ret;
}

static X509 *pem_to_x509(const char *pem)
{
	BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return x;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static int cert_sha256_hex(X509 *x, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32)
		return -1;
	hex(md, 32, out);
	return 0;
}

static void cert_serial_hex(X509 *x, char *out, size_t cap)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL;
	snprintf(out, cap, "%s", h ? h : "?");
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	OPENSSL_free(h);
	BN_free(bn);
}

static int write_file(const char *dir, const char *name, const char *data, efos_err *e)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, "we");
	if (fp == NULL)
		return efos_fail(e, EFOS_E_INVALID, "%s: %s", path, strerror(errno));
	fputs(data, fp);
	if (fclose(fp) != 0)
		return efos_fail(e, EFOS_E_INVALID, "%s: %s", path, strerror(errno));
	return 0;
}

static void test_crash(const char *point)
{
	const char *v = getenv("EFOS_TEST_CRASH_AFTER");
	if (v != NULL && strcmp(v, point) == 0) {
		fprintf(stderr, "efosctl card: EFOS_TEST_CRASH_AFTER=%s: exiting with status 9 (test hook)\n", point);
		fflush(NULL);
		_exit(EXIT_TEST_CRASH);
	}
}

/* Writes the certificates of a begin/renew answer onto the card next to the keys, and
 * (with out_dir) into files. certs_json: {"auth": {"pem": ...}, "sign": {...}}. sha: out. */
static int store_certs(struct hsm_key *keys[N_ROLES], json_t *answer, const char *out_dir,
		       char sha[N_ROLES][65], char serial[N_ROLES][64], efos_err *e)
{
	json_t *certs = json_object_get(answer, "issued");
	for (size_t i = 0; i < N_ROLES; i++) {
		json_t *c = json_object_get(certs, card_roles[i].name);
		const char *pem = json_string_value(json_object_get(c, "pem"));
		X509 *x = pem_to_x509(pem);
		if (x == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "the answer has no %s certificate", card_roles[i].name);
		int rc = hsm_card_write_cert(keys[i], x, card_roles[i].name, e);
		if (rc == 0 && cert_sha256_hex(x, sha[i]) < 0)
			rc = efos_fail(e, EFOS_E_INTERNAL, "cannot hash the certificate");
		cert_serial_hex(x, serial[i], 64);
		X509_free(x);
		if (rc < 0)
			return efos_wrap(e, "writing the %s certificate onto the card", card_roles[i].name);
		if (out_dir != NULL) {
			char name[32];
			snprintf(name, sizeof name, "%s.pem", card_roles[i].name);
			if (write_file(out_dir, name, pem, e) < 0)
				return -1;
		}
	}
	if (out_dir != NULL) {
		json_t *chain = json_object_get(answer, "chain");
		size_t idx;
		json_t *v;
		char *all = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&all, &len);
		if (m == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		json_array_foreach(chain, idx, v)
			if (json_is_string(v))
				fputs(json_string_value(v), m);
		fclose(m);
		int rc = write_file(out_dir, "chain.pem", all ? all : "", e);
		free(all);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int confirm_call(struct api *a, long card_id, const char *token_serial, char sha[N_ROLES][65],
			json_t **answer, efos_err *e)
{
	json_t *body = json_object(), *shas = json_object();
	json_object_set_new(body, "card_id", json_integer(card_id));
	json_object_set_new(body, "token_serial", json_string(token_serial));
	for (size_t i = 0; i < N_ROLES; i++)
		json_object_set_new(shas, card_roles[i].name, json_string(sha[i]));
	json_object_set_new(body, "cert_sha256", shas);
	int rc = efosctl_api_call(&a->o, "POST", "/api/v1/enroll/confirm", body, answer, e);
	json_decref(body);
	return rc;
}

/* The card's keys, found by their fixed labels. */
static int find_card_keys(struct hsm *h, struct hsm_key *keys[N_ROLES], efos_err *e)
{
	for (size_t i = 0; i < N_ROLES; i++) {
		char uri[64];
		snprintf(uri, sizeof uri, "pkcs11:object=%s;type=private", card_roles[i].name);
		if (hsm_key_find(h, uri, &keys[i], e) < 0)
			return efos_wrap(e, "the card's %s key", card_roles[i].name);
	}
	return 0;
}

/* ---- enroll (and replace) ---- */

static int do_enroll(const struct card_opts *o, long replaces)
{
	struct hsm_card *card = NULL;
	struct hsm *h = NULL;
	struct hsm_key *keys[N_ROLES] = { 0 };
	char *so_pin = NULL, *pin = NULL, *csr[N_ROLES] = { 0 };
	json_t *body = NULL, *begin = NULL, *confirm = NULL;
	struct hsm_card_info ci;
	struct hsm_keygen_params kp = { 0 };
	struct api a;
	efos_err e = { 0 };
	char sha[N_ROLES][65], serial[N_ROLES][64];
	int rc = EXIT_FAIL;

	if (o->pnr == NULL && replaces == 0)
		return usage_err("--pnr is required");
	if (o->org == NULL && replaces == 0)
		return usage_err("--org is required");
	if (o->erase && !o->init)
		return usage_err("--erase needs --init");
	if (parse_key_type(o->key_type, &kp, &e) < 0 || api_init(&a, &e) < 0)
		goto out;
	if (open_card(o, &card, &e) < 0 || hsm_card_info(card, &ci, &e) < 0)
		goto out;

	/* 1. A blank card, initialised when asked. */
	bool blank;
	size_t nobj;
	if (hsm_card_is_blank(card, NULL, &blank, &nobj, &e) < 0)
		goto out;
	if (!blank && !(o->init && o->erase)) {
		efos_fail(&e, EFOS_E_CONFLICT, "the card (token '%s', serial %s) is not blank: it holds %zu objects; "
			  "an enrolled card is never re-used without --init --erase", ci.label, ci.serial, nobj);
		goto out;
	}
	if (!ci.initialized && !o->init) {
		efos_fail(&e, EFOS_E_INVALID, "the card is not initialised: use --init with the SO PIN (--so-pin-env V)");
		goto out;
	}
	bool need_so = o->init || !ci.user_pin_initialized || o->so_pin_env || o->so_pin_file;
	if (need_so && read_secret(o->so_pin_env, o->so_pin_file, "Card SO PIN / PUK: ", o->init && !ci.initialized,
				   "the card's SO PIN", &so_pin, &e) < 0)
		goto out;
	if (o->init) {
		char label[33];
		snprintf(label, sizeof label, "%s", o->label ? o->label : ci.initialized && ci.label[0] ? ci.label : "EFOS card");
		if (hsm_card_init_token(card, so_pin, label, &e) < 0)
			goto out;
		printf("initialised the card (label '%s')\n", label);
	}
	/* 2. The holder's PIN: set with the SO PIN, or (a card delivered with a PIN) checked. */
	if (read_secret(o->pin_env, o->pin_file, "Card holder: choose a PIN: ", true, "the holder's PIN", &pin, &e) < 0)
		goto out;
	if (so_pin != NULL) {
		if (hsm_card_init_pin(card, so_pin, pin, &e) < 0)
			goto out;
	} else if (hsm_card_check_pin(card, pin, &e) < 0) {
		efos_wrap(&e, "the card has a user PIN already; give it, or the SO PIN to set a new one");
		goto out;
	}
	if (hsm_card_info(card, &ci, &e) < 0)
		goto out;

	/* 3. The key pairs, generated on the card, never extractable. */
	if (hsm_card_login(card, pin, &h, &e) < 0)
		goto out;
	for (size_t i = 0; i < N_ROLES; i++) {
		kp.label = card_roles[i].name;
		kp.id = &card_roles[i].id;
		kp.id_len = 1;
		kp.token_object = true;
		if (hsm_keygen(h, &kp, &keys[i], &e) < 0 ||
		    hsm_card_key_check_nonextractable(keys[i], &e) < 0) {
			efos_wrap(&e, "the %s key pair", card_roles[i].name);
			goto out;
		}
		char cn[80];
		snprintf(cn, sizeof cn, "EFOS card %s %s", ci.serial, card_roles[i].name);
		if (make_csr(keys[i], cn, &csr[i], &e) < 0)
			goto out;
	}

	/* 4. begin: the server checks and issues the certificates on hold. */
	body = json_object();
	json_t *csrs = json_object();
	if (o->pnr)
		json_object_set_new(body, "pnr", json_string(o->pnr));
	if (o->org)
		json_object_set_new(body, "orgnr", json_string(o->org));
	json_object_set_new(body, "token_serial", json_string(ci.serial));
	for (size_t i = 0; i < N_ROLES; i++)
		json_object_set_new(csrs, card_roles[i].name, json_string(csr[i]));
	json_object_set_new(body, "csrs", csrs);
	char path[96];
	if (replaces != 0) {
		if (o->reason)
			json_object_set_new(body, "reason", json_string(o->reason));
		if (o->why)
			json_object_set_new(body, "why", json_string(o->why));
		snprintf(path, sizeof path, "/api/v1/cards/%ld/replace", replaces);
	} else {
		snprintf(path, sizeof path, "/api/v1/enroll/begin");
	}
	if (efosctl_api_call(&a.o, "POST", path, body, &begin, &e) < 0) {
		/* Refused: nothing was issued; take the keys off again so the card is blank. */
		for (size_t i = 0; i < N_ROLES; i++) {
			efos_err ignore;
			if (hsm_key_destroy(keys[i], &ignore) < 0)
				fprintf(stderr, "efosctl card: could not delete the %s key from the card: %s\n",
					card_roles[i].name, ignore.msg);
			keys[i] = NULL;
		}
		goto out;
	}
	json_int_t card_id = json_integer_value(json_object_get(begin, "card_id"));
	if (card_id <= 0) {
		efos_fail(&e, EFOS_E_INTERNAL, "the begin answer has no card_id");
		goto out;
	}
	printf("card %lld pending (token serial %s)\n", (long long)card_id, ci.serial);
	fflush(stdout);
	test_crash("begin");

	/* 5. The certificates onto the card, next to their keys. */
	if (store_certs(keys, begin, o->out_dir, sha, serial, &e) < 0)
		goto out;
	test_crash("write");

	/* 6. confirm: the card becomes active and its certificates good. */
	if (confirm_call(&a, (long)card_id, ci.serial, sha, &confirm, &e) < 0) {
		efos_wrap(&e, "confirming card %lld (retry with `efosctl card confirm --card-id %lld`)",
			  (long long)card_id, (long long)card_id);
		goto out;
	}
	printf("card_id %lld\ntoken_serial %s\nstatus %s\n", (long long)card_id, ci.serial,
	       json_string_value(json_object_get(confirm, "status")) ?: "active");
	for (size_t i = 0; i < N_ROLES; i++)
		printf("%s_serial %s\n", card_roles[i].name, serial[i]);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		fail_msg(&e);
	json_decref(body);
	json_decref(begin);
	json_decref(confirm);
	for (size_t i = 0; i < N_ROLES; i++) {
		free(csr[i]);
		hsm_key_free(keys[i]);
	}
	hsm_close(h);
	hsm_card_close(card);
	efos_free_secret(so_pin);
	efos_free_secret(pin);
	return rc;
}

static int cmd_enroll(int argc, char **argv)
{
	struct card_opts o;
	int r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r < 0 ? EXIT_OK : r;
	if (o.replaces != 0)
		return do_enroll(&o, o.replaces);
	return do_enroll(&o, 0);
}

static int cmd_replace(int argc, char **argv)
{
	struct card_opts o;
	int r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r < 0 ? EXIT_OK : r;
	if (o.card_id == 0)
		return usage_err("--card-id (the card being replaced) is required");
	return do_enroll(&o, o.card_id);
}

/* ---- confirm: finish an enrollment whose certificates are on the card ---- */

static int cmd_confirm(int argc, char **argv)
{
	struct card_opts o;
	struct hsm_card *card = NULL;
	struct hsm *h = NULL;
	struct hsm_key *keys[N_ROLES] = { 0 };
	struct hsm_card_info ci;
	char *pin = NULL, sha[N_ROLES][65];
	json_t *answer = NULL;
	struct api a;
	efos_err e = { 0 };
	int rc = EXIT_FAIL;

	int r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r < 0 ? EXIT_OK : r;
	if (o.card_id == 0)
		return usage_err("--card-id is required");
	if (api_init(&a, &e) < 0 || open_card(&o, &card, &e) < 0 || hsm_card_info(card, &ci, &e) < 0 ||
	    read_secret(o.pin_env, o.pin_file, "Card PIN: ", false, "the card's PIN", &pin, &e) < 0 ||
	    hsm_card_login(card, pin, &h, &e) < 0 || find_card_keys(h, keys, &e) < 0)
		goto out;
	for (size_t i = 0; i < N_ROLES; i++) {
		X509 *x = NULL;
		if (hsm_card_read_cert(keys[i], &x, &e) < 0) {
			efos_wrap(&e, "the card has no %s certificate: the enrollment cannot be confirmed; "
				  "it will be abandoned after the timeout (or revoke card %ld)", card_roles[i].name, o.card_id);
			goto out;
		}
		int hr = cert_sha256_hex(x, sha[i]);
		X509_free(x);
		if (hr < 0) {
			efos_fail(&e, EFOS_E_INTERNAL, "cannot hash the certificate");
			goto out;
		}
	}
	if (confirm_call(&a, o.card_id, ci.serial, sha, &answer, &e) < 0)
		goto out;
	printf("card_id %ld\ntoken_serial %s\nstatus %s\n", o.card_id, ci.serial,
	       json_string_value(json_object_get(answer, "status")) ?: "active");
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		fail_msg(&e);
	json_decref(answer);
	for (size_t i = 0; i < N_ROLES; i++)
		hsm_key_free(keys[i]);
	hsm_close(h);
	hsm_card_close(card);
	efos_free_secret(pin);
	return rc;
}

/* ---- renew: new certificates for the card's keys ---- */

static int cmd_renew(int argc, char **argv)
{
	struct card_opts o;
	struct hsm_card *card = NULL;
	struct hsm *h = NULL;
	struct hsm_key *keys[N_ROLES] = { 0 };
	struct hsm_card_info ci;
	char *pin = NULL, *csr[N_ROLES] = { 0 }, sha[N_ROLES][65], serial[N_ROLES][64];
	json_t *body = NULL, *answer = NULL;
	struct api a;
	efos_err e = { 0 };
	int rc = EXIT_FAIL;

	int r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r < 0 ? EXIT_OK : r;
	if (o.card_id == 0)
		return usage_err("--card-id is required");
	if (api_init(&a, &e) < 0 || open_card(&o, &card, &e) < 0 || hsm_card_info(card, &ci, &e) < 0 ||
	    read_secret(o.pin_env, o.pin_file, "Card PIN: ", false, "the card's PIN", &pin, &e) < 0 ||
	    hsm_card_login(card, pin, &h, &e) < 0 || find_card_keys(h, keys, &e) < 0)
		goto out;
	body = json_object();
	json_t *csrs = json_object();
	json_object_set_new(body, "token_serial", json_string(ci.serial));
	json_object_set_new(body, "csrs", csrs);
	if (o.why)
		json_object_set_new(body, "why", json_string(o.why));
	for (size_t i = 0; i < N_ROLES; i++) {
		char cn[80];
		snprintf(cn, sizeof cn, "EFOS card %s %s", ci.serial, card_roles[i].name);
		if (make_csr(keys[i], cn, &csr[i], &e) < 0)
			goto out;
		json_object_set_new(csrs, card_roles[i].name, json_string(csr[i]));
	}
	char path[96];
	snprintf(path, sizeof path, "/api/v1/cards/%ld/renew", o.card_id);
	if (efosctl_api_call(&a.o, "POST", path, body, &answer, &e) < 0 ||
	    store_certs(keys, answer, o.out_dir, sha, serial, &e) < 0)
		goto out;
	printf("card_id %ld\nstatus %s\n", o.card_id, json_string_value(json_object_get(answer, "status")) ?: "active");
	for (size_t i = 0; i < N_ROLES; i++)
		printf("%s_serial %s\n", card_roles[i].name, serial[i]);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		fail_msg(&e);
	json_decref(body);
	json_decref(answer);
	for (size_t i = 0; i < N_ROLES; i++) {
		free(csr[i]);
		hsm_key_free(keys[i]);
	}
	hsm_close(h);
	hsm_card_close(card);
	efos_free_secret(pin);
	return rc;
}

/* ---- unblock: the officer's authorisation on record, then the card ---- */

static int cmd_unblock(int argc, char **argv)
{
	struct card_opts o;
	struct hsm_card *card = NULL;
	struct hsm_card_info ci;
	char *so_pin = NULL, *pin = NULL, path[96];
	json_t *body = NULL, *answer = NULL;
	struct api a;
	efos_err e = { 0 };
	int rc = EXIT_FAIL;

	int r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r < 0 ? EXIT_OK : r;
	if (o.card_id == 0)
		return usage_err("--card-id is required");
	if (o.why == NULL)
		return usage_err("--why is required (recorded in the audit log)");
	if (api_init(&a, &e) < 0 || open_card(&o, &card, &e) < 0 || hsm_card_info(card, &ci, &e) < 0 ||
	    read_secret(o.so_pin_env, o.so_pin_file, "Card SO PIN / PUK: ", false, "the card's SO PIN", &so_pin, &e) < 0 ||
	    read_secret(o.pin_env, o.pin_file, "Card holder: choose a new PIN: ", true, "the new PIN", &pin, &e) < 0)
		goto out;
	body = json_object();
	json_object_set_new(body, "token_serial", json_string(ci.serial));
	json_object_set_new(body, "why", json_string(o.why));
	snprintf(path, sizeof path, "/api/v1/cards/%ld/unblock", o.card_id);
	if (efosctl_api_call(&a.o, "POST", path, body, &answer, &e) < 0)
		goto out;
	if (hsm_card_init_pin(card, so_pin, pin, &e) < 0)
		goto out;
	printf("card_id %ld\nPIN unblocked (token serial %s)\n", o.card_id, ci.serial);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		fail_msg(&e);
	json_decref(body);
	json_decref(answer);
	hsm_card_close(card);
	efos_free_secret(so_pin);
	efos_free_secret(pin);
	return rc;
}

/* ---- suspend / resume / revoke / list / show: server-side only ---- */

static void print_card(json_t *c)
{
	printf("card_id %lld\nstatus %s\ntoken_serial %s\npnr %s\norgnr %s\n",
	       (long long)json_integer_value(json_object_get(c, "card_id")),
	       json_string_value(json_object_get(c, "status")) ?: "",
	       json_string_value(json_object_get(c, "token_serial")) ?: "",
	       json_string_value(json_object_get(c, "pnr")) ?: "",
	       json_string_value(json_object_get(c, "orgnr")) ?: "");
	json_t *certs = json_object_get(c, "certificates");
	size_t i;
	json_t *x;
	json_array_foreach(certs, i, x) {
		const char *reason = json_string_value(json_object_get(x, "revocation_reason"));
		printf("certificate %s %s %s%s%s\n", json_string_value(json_object_get(x, "profile")) ?: "",
		       json_string_value(json_object_get(x, "serial")) ?: "",
		       json_string_value(json_object_get(x, "status")) ?: "", reason ? " " : "", reason ? reason : "");
	}
}

static int cmd_simple(int argc, char **argv, const char *action)
{
	struct card_opts o;
	json_t *body = NULL, *answer = NULL;
	struct api a;
	efos_err e = { 0 };
	char path[96];
	int rc = EXIT_FAIL;

	int r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r < 0 ? EXIT_OK : r;
	if (o.card_id == 0)
		return usage_err("--card-id is required");
	bool revoke = strcmp(action, "revoke") == 0;
	if (revoke && o.reason == NULL)
		return usage_err("--reason is required: card-lost, affiliation-ended, key-compromise, superseded or cessation");
	if (o.why == NULL)
		return usage_err("--why is required (recorded in the audit log)");
	if (api_init(&a, &e) < 0)
		goto out;
	body = json_object();
	json_object_set_new(body, "why", json_string(o.why));
	if (o.reason != NULL)
		json_object_set_new(body, "reason", json_string(o.reason));
	snprintf(path, sizeof path, "/api/v1/cards/%ld/%s", o.card_id, action);
	if (efosctl_api_call(&a.o, "POST", path, body, &answer, &e) < 0)
		goto out;
	print_card(answer);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		fail_msg(&e);
	json_decref(body);
	json_decref(answer);
	return rc;
}

static int cmd_suspend(int argc, char **argv) { return cmd_simple(argc, argv, "suspend"); }
static int cmd_resume(int argc, char **argv) { return cmd_simple(argc, argv, "resume"); }
static int cmd_revoke(int argc, char **argv) { return cmd_simple(argc, argv, "revoke"); }

/* Appends name=value (URL-encoded) to a query string. */
static void query_add(char *q, size_t cap, const char *name, const char *value)
{
	if (value == NULL)
		return;
	size_t n = strlen(q);
	n += (size_t)snprintf(q + n, cap - n, "%s%s=", strchr(q, '?') ? "&" : "?", name);
	for (const unsigned char *p = (const unsigned char *)value; *p && n + 4 < cap; p++)
		n += (size_t)(isalnum(*p) ? snprintf(q + n, cap - n, "%c", *p) : snprintf(q + n, cap - n, "%%%02X", *p));
}

static int cmd_list(int argc, char **argv)
{
	struct card_opts o;
	json_t *answer = NULL;
	struct api a;
	efos_err e = { 0 };
	char path[512] = "/api/v1/cards";
	int rc = EXIT_FAIL;

	int r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r < 0 ? EXIT_OK : r;
	query_add(path, sizeof path, "pnr", o.pnr);
	query_add(path, sizeof path, "orgnr", o.org);
	query_add(path, sizeof path, "status", o.status);
	if (api_init(&a, &e) < 0 || efosctl_api_call(&a.o, "GET", path, NULL, &answer, &e) < 0)
		goto out;
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(answer, "cards"), i, c)
		printf("%lld %s %s %s %s\n", (long long)json_integer_value(json_object_get(c, "card_id")),
		       json_string_value(json_object_get(c, "status")) ?: "",
		       json_string_value(json_object_get(c, "token_serial")) ?: "",
		       json_string_value(json_object_get(c, "pnr")) ?: "",
		       json_string_value(json_object_get(c, "orgnr")) ?: "");
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		fail_msg(&e);
	json_decref(answer);
	return rc;
}

static int cmd_show(int argc, char **argv)
{
	struct card_opts o;
	json_t *answer = NULL;
	struct api a;
	efos_err e = { 0 };
	char path[96];
	int rc = EXIT_FAIL;

	int r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r < 0 ? EXIT_OK : r;
	if (o.card_id == 0)
		return usage_err("--card-id is required");
	snprintf(path, sizeof path, "/api/v1/cards/%ld", o.card_id);
	if (api_init(&a, &e) < 0 || efosctl_api_call(&a.o, "GET", path, NULL, &answer, &e) < 0)
		goto out;
	print_card(answer);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		fail_msg(&e);
	json_decref(answer);
	return rc;
}

/* ---- dispatch ---- */

int efosctl_card(int argc, char **argv)
{
	static const struct { const char *name; int (*fn)(int, char **); } subs[] = {
		{ "enroll", cmd_enroll }, { "confirm", cmd_confirm }, { "suspend", cmd_suspend },
		{ "resume", cmd_resume }, { "revoke", cmd_revoke }, { "renew", cmd_renew },
		{ "replace", cmd_replace }, { "unblock", cmd_unblock }, { "list", cmd_list },
		{ "show", cmd_show },
	};
	/* argv[0] is "card" */
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_card, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	return usage_err("unknown subcommand: %s", argv[1]);
}
