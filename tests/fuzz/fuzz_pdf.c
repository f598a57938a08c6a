/* libFuzzer: PDF reading (signer/pdf.h) and the PAdES incremental update (signer/pades.h).
 * Input: a PDF as the seal API and the validation API receive it.
 *   pdf_open, then what the signer and the validator read: pdf_signatures (every field, its
 *   /V, /ByteRange, /Contents), pdf_revision_info, pdf_first_page, and pdf_object_text of the
 *   first objects (which pulls in object streams and indirect /Length);
 *   a PDF that opens is then signed with a fixed in-memory P-256 key (pades_sign) and the result
 *   read back: it must open, and its newest signature must cover the whole file but its
 *   /Contents, or the update we wrote is broken (abort).
 * Checked: nothing crashes, leaks, loops or reads out of bounds, whatever the xref, the object
 * streams, the field tree or the dictionaries hold. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "core/log.h"
#include "signer/pades.h"
#include "signer/pdf.h"

static EVP_PKEY *key;
static X509 *cert;

static void init(void)
{
	key = EVP_EC_gen("P-256");
	cert = X509_new();
	X509_NAME *n = X509_NAME_new();
	if (key == NULL || cert == NULL || n == NULL)
		abort();
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"fuzz seal", -1, -1, 0);
	X509_set_subject_name(cert, n);
	X509_set_issuer_name(cert, n);
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
	X509_set_pubkey(cert, key);
	if (X509_sign(cert, key, EVP_sha256()) <= 0)
		abort();
	X509_NAME_free(n);
}

static void read_all(struct pdf_doc *d)
{
	efos_err e = { 0 };
	const struct pdf_signature *sigs;
	size_t n;
	struct pdf_revision_info ri;
	unsigned num, gen;
	const unsigned char *t;
	size_t tl;
	if (pdf_signatures(d, &sigs, &n, &e) == 0)
		for (size_t i = 0; i < n; i++)
			if (sigs[i].contents_len > 0 && sigs[i].contents == NULL)
				abort();
	pdf_revision_info(d, &ri, &e);
	pdf_first_page(d, &num, &gen, &e);
	for (unsigned i = 0; i < 32; i++)
		pdf_object_text(d, i, 0, &t, &tl, &e);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz", LOG_LVL_ERROR);
	init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pdf_doc *d = NULL;
	efos_err e = { 0 };
	if (pdf_open(data, size, &d, &e) != 0) {
		if (e.msg[0] == '\0' || e.code == EFOS_E_NONE)
			abort();   /* every refusal says why */
		return 0;
	}
	read_all(d);
	pdf_close(d);

	struct seal_signer s = { .cert = cert, .chain = NULL, .key = key };
	struct pades_params p = { .pdf = data, .pdf_len = size, .md = EVP_sha256(), .signing_time = 1700000000 };
	struct pades_result r;
	if (pades_sign(&s, &p, &r, &e) != 0) {
		ERR_clear_error();
		return 0;
	}
	const struct pdf_signature *sigs;
	size_t n;
	if (pdf_open(r.pdf, r.pdf_len, &d, &e) != 0 || pdf_signatures(d, &sigs, &n, &e) != 0)
		abort();   /* we cannot read back what we wrote */
	bool found = false;
	for (size_t i = 0; i < n; i++)
		if (sigs[i].revision_end == r.pdf_len && sigs[i].covers_whole_file_but_contents &&
		    memcmp(sigs[i].byte_range, r.byte_range, sizeof r.byte_range) == 0)
			found = true;
	if (!found)
		abort();   /* our signature is not where our own reader looks for it */
	pdf_close(d);
	pades_result_free(&r);
	return 0;
}
