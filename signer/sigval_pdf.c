/* PDF / PAdES signature validation (sigval.h).
 *
 * signer/pdf.c finds the signature dictionaries (bounded). For each: the ByteRange must start
 * at 0, stay inside the file and leave out exactly the /Contents hex string ("<...>", nothing
 * else: bytes outside the ByteRange are unsigned, so an attacker would put content there);
 * the hex string must decode to the CMS that pdf.c read; the CMS is then checked by
 * sigval_cms_detached() with the ByteRange bytes as the detached content. A signature whose
 * ByteRange ends before the end of the file signed an earlier revision: it stays valid for
 * that revision and the report says that later revisions exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/hex.h"
#include "signer/pdf.h"
#include "signer/sigval.h"

/* The gap [a, b) is exactly "<hex>" and decodes to contents followed by zero padding. */
static bool gap_is_contents(const unsigned char *buf, size_t a, size_t b, const struct pdf_signature *ps)
{
	if (b - a < 2 || buf[a] != '<' || buf[b - 1] != '>' || (b - a - 2) % 2 != 0)
		return false;
	size_t nbytes = (b - a - 2) / 2;
	if (nbytes < ps->contents_len)
		return false;
	for (size_t i = 0; i < nbytes; i++) {
		int hi = hex_digit(buf[a + 1 + 2 * i]), lo = hex_digit(buf[a + 2 + 2 * i]);
		if (hi < 0 || lo < 0)
			return false;
		unsigned char v = (unsigned char)(hi << 4 | lo);
		if (v != (i < ps->contents_len ? ps->contents[i] : 0))
			return false;
	}
	return true;
}

static int check_one(const struct sigval_ctx *vc, const unsigned char *buf, size_t len, const struct pdf_signature *ps,
		     struct sigval_signature *s, efos_err *e)
{
	const size_t *br = ps->byte_range;
	struct sigval_report cr = { 0 };
	unsigned char *content = NULL;
	efos_err ce = { 0 };
	int rc = -1;

	s->is_pdf = true;
	snprintf(s->sub_filter, sizeof s->sub_filter, "%s", ps->sub_filter ? ps->sub_filter : "");
	snprintf(s->field, sizeof s->field, "%s", ps->field_name ? ps->field_name : "");
	if (br[0] != 0 || br[1] > br[2] || br[2] > len || br[3] > len - br[2]) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_BYTE_RANGE, "ByteRange [%zu %zu %zu %zu] does not start at 0 or "
			   "does not fit the file (%zu bytes)", br[0], br[1], br[2], br[3], len);
		return 0;
	}
	if (!gap_is_contents(buf, br[1], br[2], ps)) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_BYTE_RANGE, "the bytes left out of ByteRange [%zu %zu %zu %zu] "
			   "are not exactly the /Contents hex string: unsigned content could hide there",
			   br[0], br[1], br[2], br[3]);
		return 0;
	}
	s->covers_whole_document = br[2] + br[3] == len;
	if (ps->sub_filter == NULL || (strcmp(ps->sub_filter, "ETSI.CAdES.detached") != 0 &&
				       strcmp(ps->sub_filter, "adbe.pkcs7.detached") != 0)) {
		sigval_set(s, SIGVAL_INDETERMINATE, SIGVAL_R_UNSUPPORTED, "SubFilter %s is not validated here "
			   "(ETSI.CAdES.detached and adbe.pkcs7.detached are)", ps->sub_filter ? ps->sub_filter : "(none)");
		return 0;
	}
	if ((content = malloc(br[1] + br[3] + 1)) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	memcpy(content, buf, br[1]);
	memcpy(content + br[1], buf + br[2], br[3]);
	if (sigval_cms_detached(vc, ps->contents, ps->contents_len, content, br[1] + br[3], &cr, &ce) != 0) {
		if (ce.code != EFOS_E_INVALID && ce.code != EFOS_E_TOOBIG) {
			*e = ce;
			goto out;
		}
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "/Contents: %s", ce.msg);
		rc = 0;
		goto out;
	}
	if (cr.n != 1) {
		sigval_set(s, SIGVAL_INVALID, SIGVAL_R_MALFORMED, "the CMS of a PDF signature must have exactly one "
			   "SignerInfo (it has %zu)", cr.n);
		rc = 0;
		goto out;
	}
	/* the CMS verdict, with the PDF facts kept */
	struct sigval_signature pdf_facts = *s;
	*s = cr.sigs[0];
	s->is_pdf = true;
	s->covers_whole_document = pdf_facts.covers_whole_document;
	memcpy(s->sub_filter, pdf_facts.sub_filter, sizeof s->sub_filter);
	memcpy(s->field, pdf_facts.field, sizeof s->field);
	if (s->result == SIGVAL_VALID && !s->covers_whole_document)
		sigval_set(s, SIGVAL_VALID, SIGVAL_R_SIGNED_REVISION, "valid for the revision it signed (the first %zu "
			   "bytes); the file has %zu bytes of later revisions that this signature does not cover",
			   br[2] + br[3], len - br[2] - br[3]);
	rc = 0;
out:
	sigval_report_free(&cr);
	free(content);
	return rc;
}

int sigval_pdf(const struct sigval_ctx *vc, const unsigned char *pdf, size_t len, struct sigval_report *r,
	       efos_err *e)
{
	struct pdf_doc *d = NULL;
	const struct pdf_signature *sigs = NULL;
	size_t n = 0;
	int rc = -1;
	snprintf(r->format, sizeof r->format, "pdf");
	if (len > SIGVAL_MAX_SIGNATURE_BYTES)
		return efos_fail(e, EFOS_E_TOOBIG, "the PDF is %zu bytes (at most %u)", len, SIGVAL_MAX_SIGNATURE_BYTES);
	if (pdf_open(pdf, len, &d, e) != 0)
		return efos_wrap(e, "the PDF cannot be read");
	if (pdf_signatures(d, &sigs, &n, e) != 0) {
		efos_wrap(e, "the PDF's signature fields cannot be read");
		goto out;
	}
	if (n == 0) {
		efos_fail(e, EFOS_E_INVALID, "the PDF has no signature (no signed /Sig field in its AcroForm)");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct sigval_signature *s = sigval_report_add(r, e);
		if (s == NULL || check_one(vc, pdf, len, &sigs[i], s, e) != 0)
			goto out;
	}
	sigval_report_finish(r);
	rc = 0;
out:
	pdf_close(d);
	return rc;
}
