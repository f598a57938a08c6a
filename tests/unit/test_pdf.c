/* signer/pdf.c: the classic-table and xref-stream fixtures open and resolve (catalog, first
 * page, objects inside the object stream) and so does a hybrid file (/XRefStm); malformed files
 * are refused with EFOS_E_INVALID and a message: not a PDF, truncated, no trailer, a /Prev
 * loop, huge counts, encrypted, a broken xref stream, deep nesting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "signer/pdf.h"
#include "signer/pdf_internal.h"
#include "pdf_fixtures.h"

static void check_fixture(unsigned char *pdf, size_t len, bool xref_stream)
{
	struct pdf_doc *d = NULL;
	efos_err e = { 0 };
	assert_int_equal(pdf_open(pdf, len, &d, &e), 0);
	struct pdf_revision_info ri;
	assert_int_equal(pdf_revision_info(d, &ri, &e), 0);
	assert_int_equal(ri.xref_stream, xref_stream);
	assert_int_equal(ri.root_num, 1);
	unsigned num, gen;
	assert_int_equal(pdf_first_page(d, &num, &gen, &e), 0);
	assert_int_equal(num, 3);
	const unsigned char *t;
	size_t tl;
	assert_int_equal(pdf_object_text(d, 5, 0, &t, &tl, &e), 0);
	assert_non_null(memmem(t, tl, "/Helvetica", 10));
	assert_int_equal(pdf_object_text(d, 42, 0, &t, &tl, &e), -1);
	assert_int_equal(e.code, EFOS_E_NOTFOUND);
	const struct pdf_signature *sigs;
	size_t n = 99;
	assert_int_equal(pdf_signatures(d, &sigs, &n, &e), 0);
	assert_int_equal(n, 0);
	pdf_close(d);
}

static void test_fixtures(void **state)
{
	size_t len;
	unsigned char *pdf = fx_pdf_classic(&len);
	check_fixture(pdf, len, false);
	free(pdf);
	pdf = fx_pdf_xref_stream(&len);
	check_fixture(pdf, len, true);
	free(pdf);
}

static void expect_invalid(const void *buf, size_t len, const char *msg_part)
{
	struct pdf_doc *d = NULL;
	efos_err e = { 0 };
	int rc = pdf_open(buf, len, &d, &e);
	if (rc == 0) {
		/* Some damage shows only when objects are read. */
		const struct pdf_signature *sigs;
		size_t n;
		unsigned num, gen;
		rc = pdf_first_page(d, &num, &gen, &e);
		if (rc == 0)
			rc = pdf_signatures(d, &sigs, &n, &e);
		pdf_close(d);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(e.code, EFOS_E_INVALID);
	if (strstr(e.msg, msg_part) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", msg_part, e.msg);
}

/* Replaces the first occurrence of from by to (same length) in a copy. */
static unsigned char *patched(const unsigned char *pdf, size_t len, const char *from, const char *to)
{
	unsigned char *c = malloc(len);
	memcpy(c, pdf, len);
	unsigned char *p = memmem(c, len, from, strlen(from));
	assert_non_null(p);
	assert_int_equal(strlen(from), strlen(to));
	memcpy(p, to, strlen(to));
	return c;
}

static void test_malformed(void **state)
{
	size_t len;
	unsigned char *pdf = fx_pdf_classic(&len);
	expect_invalid("hello world, not a pdf", 22, "not a PDF");
	expect_invalid(pdf, len / 2, "startxref");
	expect_invalid(pdf, len - 30, "");

	unsigned char *c = patched(pdf, len, "trailer", "trailor");
	expect_invalid(c, len, "");
	free(c);
	c = patched(pdf, len, "/Size 6", "/Size 9");
	{	/* /Size larger than the table is tolerated; a huge subsection count is not */
		struct pdf_doc *d;
		efos_err e = { 0 };
		assert_int_equal(pdf_open(c, len, &d, &e), 0);
		pdf_close(d);
	}
	free(c);
	c = patched(pdf, len, "xref\n0 6", "xref\n0 9");
	expect_invalid(c, len, "xref table");
	free(c);

	/* Huge counts. */
	struct fx_buf b = { 0 };
	char tmp[256];
	fx_puts(&b, "%PDF-1.7\n");
	size_t x = b.n;
	fx_puts(&b, "xref\n0 99999999\n0000000000 65535 f \ntrailer\n<< /Size 99999999 /Root 1 0 R >>\n");
	snprintf(tmp, sizeof tmp, "startxref\n%zu\n%%%%EOF\n", x);
	fx_puts(&b, tmp);
	expect_invalid(b.b, b.n, "xref table");
	free(b.b);

	/* A /Prev loop: the section points at itself. */
	memset(&b, 0, sizeof b);
	fx_puts(&b, "%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n");
	x = b.n;
	snprintf(tmp, sizeof tmp, "xref\n0 2\n0000000000 65535 f \n0000000009 00000 n \ntrailer\n<< /Size 2 /Root 1 0 R "
		 "/Prev %zu >>\nstartxref\n%zu\n%%%%EOF\n", x, x);
	fx_puts(&b, tmp);
	expect_invalid(b.b, b.n, "loop");
	free(b.b);

	/* Encrypted. */
	c = patched(pdf, len, "<< /Size 6 /Root 1 0 R >>", "<</Root 1 0 R/Encrypt 5>>");
	expect_invalid(c, len, "encrypted");
	free(c);

	/* An xref entry that points at the wrong object. */
	c = patched(pdf, len, "\n3 0 obj", "\n9 0 obj");
	expect_invalid(c, len, "object 3");
	free(c);

	/* Deep nesting. */
	memset(&b, 0, sizeof b);
	fx_puts(&b, "%PDF-1.7\n");
	x = b.n;
	fx_puts(&b, "xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 /Root ");
	for (int i = 0; i < 100; i++)
		fx_puts(&b, "[");
	fx_puts(&b, " >>\n");
	snprintf(tmp, sizeof tmp, "startxref\n%zu\n%%%%EOF\n", x);
	fx_puts(&b, tmp);
	expect_invalid(b.b, b.n, "nested");
	free(b.b);
	free(pdf);

	/* A broken xref stream: its compressed data cut short. */
	pdf = fx_pdf_xref_stream(&len);
	unsigned char *xs = memmem(pdf, len, "/Type /XRef", 11);
	assert_non_null(xs);
	unsigned char *st = memmem(xs, len - (size_t)(xs - pdf), "stream\n", 7);
	assert_non_null(st);
	c = malloc(len);
	memcpy(c, pdf, len);
	c[st - pdf + 7] ^= 0xff;   /* the zlib header */
	expect_invalid(c, len, "xref stream");
	free(c);
	free(pdf);
}

/* A hybrid file (ISO 32000-1 7.5.8.4): object 5 is only in the /XRefStm stream. */
static void test_hybrid(void **state)
{
	struct fx_buf o = { 0 };
	size_t off[7] = { 0 };
	char tmp[512];
	fx_puts(&o, "%PDF-1.5\n");
	for (int i = 1; i <= 5; i++) {
		off[i] = o.n;
		snprintf(tmp, sizeof tmp, "%d 0 obj\n", i);
		fx_puts(&o, tmp);
		if (i == 4)
			snprintf(tmp, sizeof tmp, "<< /Length %zu >>\nstream\n%s\nendstream", strlen(FX_CONTENT), FX_CONTENT);
		else
			snprintf(tmp, sizeof tmp, "%s", fx_dicts[i]);
		fx_puts(&o, tmp);
		fx_puts(&o, "\nendobj\n");
	}
	off[6] = o.n;
	unsigned char row[4] = { 1, (unsigned char)(off[5] >> 8), (unsigned char)off[5], 0 };
	fx_puts(&o, "6 0 obj\n<< /Type /XRef /Size 7 /W [1 2 1] /Index [5 1] /Length 4 >>\nstream\n");
	fx_put(&o, row, 4);
	fx_puts(&o, "\nendstream\nendobj\n");
	size_t x = o.n;
	fx_puts(&o, "xref\n0 5\n0000000000 65535 f \n");
	for (int i = 1; i <= 4; i++) {
		snprintf(tmp, sizeof tmp, "%010zu 00000 n \n", off[i]);
		fx_puts(&o, tmp);
	}
	snprintf(tmp, sizeof tmp, "6 1\n%010zu 00000 n \ntrailer\n<< /Size 7 /Root 1 0 R /XRefStm %zu >>\n"
		 "startxref\n%zu\n%%%%EOF\n", off[6], off[6], x);
	fx_puts(&o, tmp);
	struct pdf_doc *d;
	efos_err e = { 0 };
	const unsigned char *t;
	size_t tl;
	assert_int_equal(pdf_open(o.b, o.n, &d, &e), 0);
	assert_int_equal(pdf_object_text(d, 5, 0, &t, &tl, &e), 0);
	assert_non_null(memmem(t, tl, "/Helvetica", 10));
	struct pdf_revision_info ri;
	assert_int_equal(pdf_revision_info(d, &ri, &e), 0);
	assert_false(ri.xref_stream);   /* the update will be a classic table, like the last section */
	pdf_close(d);
	free(o.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_hybrid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
