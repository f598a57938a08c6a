/* libFuzzer: the signing service's SP side without the HSM (signer/sp_response.h,
 * signer/idp_md.h, signer/sad_verify.h).
 *
 * Input: a samlp:Response document (plain XML; the target base64s it as the form field would
 * be). Processed with sp_response_process against an IdP whose metadata key is the fixed RSA
 * certificate below (tests/fuzz/sp_response_idp_cert.pem; its key signed the seeds, see
 * tests/fuzz/seeds_sp_response.sh), no decryption key (an EncryptedAssertion is refused
 * cleanly), clock fixed at 2026-01-01T00:00:10Z, so the signed seeds reach every assertion
 * check. The same bytes are then read as IdP metadata (sig_idp_set_parse, untrusted), as a SAD
 * (sad_verify against the accepted assertion or a fixed one) and as a signMessageDigest value.
 * Checked: a refusal has a message; an accepted assertion has an ID, Issuer = the IdP, a LoA
 * and a NameID; SP_RESPONSE_STATUS carries a non-Success status; every string is read once.
 * Seeds: tests/fuzz/corpus/fuzz_sp_response/ (docs/fuzzing.md). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "core/log.h"
#include "signer/idp_md.h"
#include "signer/sad_verify.h"
#include "signer/sp_response.h"

static const char IDP_CERT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIDCTCCAfGgAwIBAgIUQnCafRIAKOYtJdySizdz2vHhKOswDQYJKoZIhvcNAQEL\n"
	"BQAwEzERMA8GA1UEAwwIRnV6eiBJZFAwIBcNMjYxMTI0MDkyMjE3WhgPMjEyNjEw\n"
	"MzEwOTIyMTdaMBMxETAPBgNVBAMMCEZ1enogSWRQMIIBIjANBgkqhkiG9w0BAQEF\n"
	"AAOCAQ8AMIIBCgKCAQEAw75DXSAck+HQk2XT9MOPNU6m6iTS4vUYPqPUU+cOdm0x\n"
	"PEW/kFbNpEA+mY1UyaAVihwUrQgtX4y2im2cvAAm9A2ptj4tx1zhgHEs5Ke7W8cG\n"
	"lG6RTiEqtdGO/shArtX9mw2Bq91+lq9cxOEMXFk2Nbx71+//SoMG+yNNfsg3itRv\n"
	"XmN4FOORZvS2FL4+eMDxMqJkhur9v67+ahPMemMH8/EnMC4/avFwNiBkZQhGGg1O\n"
	"Hqy4G8yvLDvhwKVsKPMmujwgMG+3XSX/bEFIWyXfDCQMdkXTthHE3HeGzHUHOndK\n"
	"t83P+wA7YrWKUyj22vKzA5Vreea890/b1Ulja4ST9wIDAQABo1MwUTAdBgNVHQ4E\n"
	"FgQUrKj2pp+JGJLNAWLjQBC99tIeQSUwHwYDVR0jBBgwFoAUrKj2pp+JGJLNAWLj\n"
	"QBC99tIeQSUwDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAeTg1\n"
	"5YiIIQ75ld+PqvmsTwaqT699WpdC1M9f2lytb7jWRHaH4EcjZEdsWBIlZjMRPi8O\n"
	"NY2E3Ltbp1Ix4pHlHJQCiEdGrRROJtOU/Az/Nbr1td1hBO6MACcRQjAYkr6gHSeG\n"
	"twCwvkpM1r9UtHBM564WqsxbCAd47id6C7dftiIGxV2N3tGTq8h4SChl4uK0n0d7\n"
	"+x4W+OjWOK08RqcYTlZ/MSzwF+1Qo6gf0f4MZCjX+cK3CMWCO7+DCU4NX5oQAAld\n"
	"bCSAOB60ibtPdw6LWkkxfg/UR1oBI6zIPvWUcfCSFgue4VJKztuYYSznHZvDOIJ6\n"
	"BO3gmv0Cw7biw7U1Hw==\n"
	"-----END CERTIFICATE-----\n"
;

#define FIXED_NOW 1767225610   /* 2026-01-01T00:00:10Z */

static EVP_PKEY *key;
static struct sig_idp idp;
static bool verbose;   /* FUZZ_SP_RESPONSE_VERBOSE=1: the outcome of each input on stderr */
static const char *const loas[] = { "http://id.elegnamnden.se/loa/1.0/loa4" };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	xmlInitParser();
	log_init("fuzz", LOG_LVL_ERROR);
	BIO *b = BIO_new_mem_buf(IDP_CERT, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	key = x ? X509_get_pubkey(x) : NULL;
	X509_free(x);
	BIO_free(b);
	if (key == NULL)
		abort();
	idp = (struct sig_idp){ .entity_id = "https://idp.example.se/idp", .signing_keys = &key, .n_signing_keys = 1,
				.assurance_certs = loas, .n_assurance_certs = 1 };
	verbose = getenv("FUZZ_SP_RESPONSE_VERBOSE") != NULL;
	return 0;
}

static size_t touch(const char *s)
{
	return s ? strlen(s) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	char *b64 = malloc(4 * ((size + 2) / 3) + 1);
	char *text = malloc(size + 1);
	if (b64 == NULL || text == NULL)
		abort();
	EVP_EncodeBlock((unsigned char *)b64, data, (int)size);
	memcpy(text, data, size);
	text[size] = '\0';

	struct sp_expect x = { .sp_entity_id = "https://sign.example.se/sigservice",
			       .acs_url = "https://sign.example.se/sign/acs", .request_id = "_req1", .loas = loas,
			       .n_loas = 1, .sent_at = FIXED_NOW - 10, .force_authn = true, .skew_s = 60,
			       .max_age_s = 180, .now = FIXED_NOW };
	struct sp_assertion *a = NULL;
	efos_err e = { 0 };
	int rc = size == 0 ? -1 : sp_response_process(b64, strlen(b64), &idp, NULL, &x, &a, &e);
	if (size == 0)
		e.msg[0] = 'x';
	if (verbose)
		fprintf(stderr, "sp_response_process: %d %s\n", rc, rc < 0 ? e.msg : "");
	if (rc < 0) {
		if (a != NULL || e.msg[0] == '\0')
			abort();
	} else if (rc == SP_RESPONSE_STATUS) {
		if (a == NULL || a->status == NULL || strcmp(a->status, SP_STATUS_SUCCESS) == 0)
			abort();
		touch(a->sub_status);
		touch(a->status_message);
	} else {
		if (rc != 0 || a == NULL || a->id == NULL || a->issuer == NULL || strcmp(a->issuer, idp.entity_id) != 0 ||
		    a->loa == NULL || a->name_id == NULL || a->xml == NULL)
			abort();
		for (size_t i = 0; i < a->n_attrs; i++) {
			touch(a->attrs[i].name);
			touch(a->attrs[i].friendly_name);
			for (size_t j = 0; j < a->attrs[i].n_values; j++)
				touch(a->attrs[i].values[j]);
		}
	}

	/* the same bytes as IdP metadata */
	struct sig_idp_set *s = NULL;
	if (sig_idp_set_parse(text, size, "fuzz", NULL, 0, FIXED_NOW, &s, &e) == 0) {
		for (size_t i = 0; i < sig_idp_set_count(s); i++) {
			const struct sig_idp *p = sig_idp_set_get(s, i);
			if (p == NULL || p->n_signing_keys == 0 || sig_idp_set_find(s, p->entity_id) == NULL)
				abort();
			touch(p->sso_post_url);
			touch(p->sso_redirect_url);
			for (size_t j = 0; j < p->n_principal_selection; j++)
				touch(p->principal_selection[j]);
			for (size_t j = 0; j < p->n_signing_methods; j++)
				touch(p->signing_methods[j]);
			for (size_t j = 0; j < p->n_digest_methods; j++)
				touch(p->digest_methods[j]);
		}
		sig_idp_set_free(s);
	} else if (e.msg[0] == '\0') {
		abort();
	}

	/* ... as a SAD and a signMessageDigest */
	static char *v[] = { (char *)"195006262546" };
	static struct dss_attr at[] = { { .name = (char *)"urn:oid:1.2.752.29.4.13", .values = v, .n_values = 1 } };
	struct sp_assertion fixed = { .issuer = (char *)"https://idp.example.se/idp", .loa = (char *)loas[0],
				      .attrs = at, .n_attrs = 1 };
	struct sad_expect sx = { .sp_entity_id = x.sp_entity_id, .sad_request_id = "_sad1", .sign_request_id = "r1",
				 .doc_count = 1, .now = FIXED_NOW };
	char why[256] = "";
	if (sad_verify(text, &idp, a && rc == 0 ? a : &fixed, &sx, why, sizeof why) != 0 && why[0] == '\0')
		abort();
	why[0] = '\0';
	if (sign_message_digest_check(text, (const unsigned char *)"msg", 3, why, sizeof why) != 0 && why[0] == '\0')
		abort();
	sp_assertion_free(a);
	free(b64);
	free(text);
	return 0;
}
