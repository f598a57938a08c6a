/* libFuzzer: SP metadata parsing (idp/metadata_store.h: idp_md_parse), the pure step behind
 * both local metadata files and federation feeds (no network, no store, no thread).
 *
 * Input: the metadata document (an md:EntityDescriptor or an md:EntitiesDescriptor), parsed
 * twice with the clock fixed at 2026-01-01T00:00:00Z:
 *   1. as a local file: no signature required, validUntil optional;
 *   2. as a feed: require_signature against two trusted keys (the fixed "federation operator"
 *      P-256 certificate below, which signed the *_signed.xml seeds, and a key made at start-up
 *      that signs nothing) and require_valid_until.
 * For every SP returned: idp_sp_find_acs for indexes -1..4 with every binding,
 * idp_sp_has_category with fixed URIs and with the SP's own categories, and every string and
 * key read once (ASan sees a dangling pointer). Checked: a batch is returned exactly when
 * idp_md_parse returns 0, a refusal has a message, a found ACS belongs to the SP and matches
 * the requested index and binding, an SP has its own categories.
 * Seeds: tests/fuzz/corpus/fuzz_sp_metadata/ (docs/fuzzing.md). */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "core/log.h"
#include "idp/metadata_store.h"

/* Self-signed, CN=Fuzz federation operator, EC P-256; signed the *_signed.xml seeds. */
static const char FED_CERT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBnjCCAUOgAwIBAgIUHR7mozfq171A6O1HVgVDK4gJxh4wCgYIKoZIzj0EAwIw\n"
	"IzEhMB8GA1UEAwwYRnV6eiBmZWRlcmF0aW9uIG9wZXJhdG9yMCAXDTI2MTEyNDA3\n"
	"NTc0M1oYDzIxMjYxMDMxMDc1NzQzWjAjMSEwHwYDVQQDDBhGdXp6IGZlZGVyYXRp\n"
	"b24gb3BlcmF0b3IwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQVBH1nFlBA2T7h\n"
	"JWkxd91pV6Crb7YlSlDyJNHLQyh7EDlWVfVQZQcompY4Ag6x8Ju36hkMzFJFktfE\n"
	"An0k0tI4o1MwUTAdBgNVHQ4EFgQUfX9TeaIdMzm4uYOCb0C2IY8tsBIwHwYDVR0j\n"
	"BBgwFoAUfX9TeaIdMzm4uYOCb0C2IY8tsBIwDwYDVR0TAQH/BAUwAwEB/zAKBggq\n"
	"hkjOPQQDAgNJADBGAiEAmS9Xhxn7ojx0UhVN+L4TJFgIv86lNckvFq/vWeibD4MC\n"
	"IQCR4lyZIawdQgkqPHaxu7jvXkhCIp7sAY14WT5Eou8ckA==\n"
	"-----END CERTIFICATE-----\n";

static EVP_PKEY *trusted[2];
static bool verbose;   /* FUZZ_SP_METADATA_VERBOSE=1: one line per parse on stderr (seed checks) */

static const char *const categories[] = {
	"http://id.elegnamnden.se/ec/1.0/loa3-pnr",
	"http://id.swedenconnect.se/ec/1.0/loa4-orgid",
	"http://id.elegnamnden.se/st/1.0/public-sector-sp",
	"http://id.swedenconnect.se/contract/sc/prepaid-auth-2021",
	"http://id.elegnamnden.se/sprop/1.0/mobile-auth",
	"",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz", LOG_LVL_ERROR);
	verbose = getenv("FUZZ_SP_METADATA_VERBOSE") != NULL;
	xmlInitParser();
	BIO *bio = BIO_new_mem_buf(FED_CERT, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	trusted[0] = x ? X509_get_pubkey(x) : NULL;
	X509_free(x);
	trusted[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (trusted[0] == NULL || trusted[1] == NULL)
		abort();
	return 0;
}

static volatile size_t sink;

static void touch(const char *s)
{
	if (s != NULL)
		sink += strlen(s);
}

static void touch_keys(EVP_PKEY **k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (k[i] == NULL)
			abort();
		sink += (size_t)EVP_PKEY_get_bits(k[i]);
	}
}

static void exercise_sp(const struct idp_sp *sp)
{
	if (sp == NULL || sp->entity_id == NULL)
		abort();
	touch(sp->entity_id);
	touch(sp->source);
	touch(sp->display_name_sv);
	touch(sp->display_name_en);
	touch(sp->org_display_name_sv);
	touch(sp->org_display_name_en);
	touch_keys(sp->signing_keys, sp->n_signing_keys);
	touch_keys(sp->encryption_keys, sp->n_encryption_keys);
	for (size_t i = 0; i < sp->n_enc_methods; i++) {
		touch(sp->enc_methods[i].algorithm);
		touch(sp->enc_methods[i].digest);
		touch(sp->enc_methods[i].mgf);
	}
	for (size_t i = 0; i < sp->n_signing_methods; i++)
		touch(sp->signing_methods[i]);
	for (size_t i = 0; i < sp->n_digest_methods; i++)
		touch(sp->digest_methods[i]);
	for (size_t i = 0; i < sp->n_name_id_formats; i++)
		touch(sp->name_id_formats[i]);
	for (size_t i = 0; i < sp->n_requested_attrs; i++)
		touch(sp->requested_attrs[i].name);
	for (size_t i = 0; i < sp->n_acs; i++) {
		touch(sp->acs[i].binding_uri);
		touch(sp->acs[i].location);
	}

	for (int index = -1; index <= 4; index++) {
		for (int b = IDP_BINDING_OTHER; b <= IDP_BINDING_HOK; b++) {
			const struct idp_sp_acs *a = idp_sp_find_acs(sp, index, (enum idp_binding)b);
			if (a == NULL)
				continue;
			if (a < sp->acs || a >= sp->acs + sp->n_acs)
				abort();   /* not one of the SP's endpoints */
			if (index >= 0 && a->index != (unsigned)index)
				abort();
			if (b != IDP_BINDING_OTHER && a->binding != (enum idp_binding)b)
				abort();
			touch(a->location);
		}
	}
	for (size_t i = 0; i < sizeof categories / sizeof categories[0]; i++)
		sink += idp_sp_has_category(sp, categories[i]);
	for (size_t i = 0; i < sp->n_entity_categories; i++)
		if (!idp_sp_has_category(sp, sp->entity_categories[i]))
			abort();
}

static void parse_one(const char *buf, size_t len, const struct idp_md_parse_opts *o)
{
	struct idp_md_batch *b = (struct idp_md_batch *)&sink;   /* must be overwritten */
	size_t skipped = 0;
	efos_err e;
	memset(&e, 0, sizeof e);
	int rc = idp_md_parse(buf, len, o, &b, &skipped, &e);
	if (verbose)
		fprintf(stderr, "%s: rc=%d sps=%zu skipped=%zu %s\n", o->require_signature ? "feed" : "local", rc,
			rc == 0 && b ? idp_md_batch_count(b) : 0, skipped, rc ? e.msg : "");
	if (rc != 0) {
		if (b != NULL || e.msg[0] == '\0')
			abort();   /* a refusal leaves no batch and says why */
		return;
	}
	if (b == NULL)
		abort();
	sink += (size_t)idp_md_batch_valid_until(b);
	size_t n = idp_md_batch_count(b);
	for (size_t i = 0; i < n; i++)
		exercise_sp(idp_md_batch_sp(b, i));
	idp_md_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	const char *buf = (const char *)data;
	const struct idp_md_parse_opts local = {
		.source = "/etc/efos/sp-metadata/fuzz.xml", .max_bytes = 1024 * 1024, .now = 1767225600,
	};
	parse_one(buf, size, &local);
	const struct idp_md_parse_opts feed = {
		.source = "https://md.example.se/feed.xml", .max_bytes = 1024 * 1024, .require_signature = true,
		.trusted_keys = trusted, .n_trusted_keys = 2, .require_valid_until = true, .now = 1767225600,
	};
	parse_one(buf, size, &feed);
	return 0;
}
