/* Small PDFs built in the tests (no binary fixtures in the tree): a one-page PDF with a classic
 * xref table, and the same page with its dictionaries in a compressed object stream and a
 * compressed, PNG-predicted xref stream (what qpdf --object-streams=generate writes). */
#ifndef EFOS_TESTS_PDF_FIXTURES_H
#define EFOS_TESTS_PDF_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct fx_buf {
	unsigned char *b;
	size_t n, cap;
};

static void fx_put(struct fx_buf *o, const void *d, size_t n)
{
	if (o->cap - o->n < n) {
		o->cap = (o->cap + n) * 2;
		o->b = realloc(o->b, o->cap);
		if (o->b == NULL)
			abort();
	}
	memcpy(o->b + o->n, d, n);
	o->n += n;
}

static void fx_puts(struct fx_buf *o, const char *s)
{
	fx_put(o, s, strlen(s));
}

#define FX_CONTENT "BT /F1 24 Tf 72 700 Td (Hello EFOS) Tj ET"
static const char *const fx_dicts[] = {
	NULL,
	"<< /Type /Catalog /Pages 2 0 R >>",
	"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
	"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
	"/Resources << /Font << /F1 5 0 R >> >> >>",
	NULL,   /* 4: the content stream */
	"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
};

/* Classic xref table. */
static unsigned char *fx_pdf_classic(size_t *len)
{
	struct fx_buf o = { 0 };
	size_t off[6] = { 0 };
	char tmp[256];
	fx_puts(&o, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
	for (int i = 1; i <= 5; i++) {
		off[i] = o.n;
		snprintf(tmp, sizeof tmp, "%d 0 obj\n", i);
		fx_puts(&o, tmp);
		if (i == 4) {
			snprintf(tmp, sizeof tmp, "<< /Length %zu >>\nstream\n%s\nendstream", strlen(FX_CONTENT), FX_CONTENT);
			fx_puts(&o, tmp);
		} else {
			fx_puts(&o, fx_dicts[i]);
		}
		fx_puts(&o, "\nendobj\n");
	}
	size_t xref = o.n;
	fx_puts(&o, "xref\n0 6\n0000000000 65535 f \n");
	for (int i = 1; i <= 5; i++) {
		snprintf(tmp, sizeof tmp, "%010zu 00000 n \n", off[i]);
		fx_puts(&o, tmp);
	}
	snprintf(tmp, sizeof tmp, "trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", xref);
	fx_puts(&o, tmp);
	*len = o.n;
	return o.b;
}

static unsigned char *fx_deflate(const unsigned char *d, size_t n, size_t *out_len)
{
	uLongf cap = compressBound(n);
	unsigned char *out = malloc(cap);
	if (out == NULL || compress(out, &cap, d, n) != Z_OK)
		abort();
	*out_len = cap;
	return out;
}

/* Objects 1, 2, 3, 5 in object stream 6; 4 direct; xref stream 7 (W [1 2 1], Predictor 12). */
static unsigned char *fx_pdf_xref_stream(size_t *len)
{
	struct fx_buf o = { 0 }, os = { 0 }, hdr = { 0 };
	char tmp[512];
	int in_stream[] = { 1, 2, 3, 5 };
	size_t rel[4];
	for (int k = 0; k < 4; k++) {
		rel[k] = os.n;
		fx_puts(&os, fx_dicts[in_stream[k]]);
		fx_puts(&os, "\n");
	}
	for (int k = 0; k < 4; k++) {
		snprintf(tmp, sizeof tmp, "%d %zu ", in_stream[k], rel[k]);
		fx_puts(&hdr, tmp);
	}
	struct fx_buf plain = { 0 };
	fx_put(&plain, hdr.b, hdr.n);
	fx_put(&plain, os.b, os.n);
	size_t zlen;
	unsigned char *z = fx_deflate(plain.b, plain.n, &zlen);

	fx_puts(&o, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
	size_t off4 = o.n;
	snprintf(tmp, sizeof tmp, "4 0 obj\n<< /Length %zu >>\nstream\n%s\nendstream\nendobj\n", strlen(FX_CONTENT),
		 FX_CONTENT);
	fx_puts(&o, tmp);
	size_t off6 = o.n;
	snprintf(tmp, sizeof tmp, "6 0 obj\n<< /Type /ObjStm /N 4 /First %zu /Filter /FlateDecode /Length %zu >>\nstream\n",
		 hdr.n, zlen);
	fx_puts(&o, tmp);
	fx_put(&o, z, zlen);
	fx_puts(&o, "\nendstream\nendobj\n");
	size_t off7 = o.n;
	/* rows: type(1) field2(2) field3(1); objects 0..7 */
	unsigned char rows[8][4] = {
		{ 0, 0, 0, 255 },
		{ 2, 0, 6, 0 }, { 2, 0, 6, 1 }, { 2, 0, 6, 2 },
		{ 1, (unsigned char)(off4 >> 8), (unsigned char)off4, 0 },
		{ 2, 0, 6, 3 },
		{ 1, (unsigned char)(off6 >> 8), (unsigned char)off6, 0 },
		{ 1, (unsigned char)(off7 >> 8), (unsigned char)off7, 0 },
	};
	/* PNG Up predictor: each row is 2 followed by the difference to the row above. */
	unsigned char pred[8 * 5], prev[4] = { 0 };
	for (int r = 0; r < 8; r++) {
		pred[r * 5] = 2;
		for (int c = 0; c < 4; c++)
			pred[r * 5 + 1 + c] = (unsigned char)(rows[r][c] - prev[c]);
		memcpy(prev, rows[r], 4);
	}
	size_t xzlen;
	unsigned char *xz = fx_deflate(pred, sizeof pred, &xzlen);
	snprintf(tmp, sizeof tmp, "7 0 obj\n<< /Type /XRef /Size 8 /W [1 2 1] /Root 1 0 R /Filter /FlateDecode "
		 "/DecodeParms << /Columns 4 /Predictor 12 >> /Length %zu >>\nstream\n", xzlen);
	fx_puts(&o, tmp);
	fx_put(&o, xz, xzlen);
	snprintf(tmp, sizeof tmp, "\nendstream\nendobj\nstartxref\n%zu\n%%%%EOF\n", off7);
	fx_puts(&o, tmp);
	free(z);
	free(xz);
	free(os.b);
	free(hdr.b);
	free(plain.b);
	*len = o.n;
	return o.b;
}

/* A PDF that already has a form: an inline /AcroForm with a text field, the page's /Annots by
 * reference, an indirect /Length, /Info and /ID (what pades.c must carry over). */
__attribute__((unused)) static unsigned char *fx_pdf_acroform(size_t *len)
{
	static const char *const objs[] = {
		NULL,
		"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [6 0 R] /DA (/Helv 0 Tf 0 g) >> >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R /Annots 7 0 R >>",
		NULL,
		NULL,
		"<< /FT /Tx /T (name) /V (\\(esc\\) \\101) /Type /Annot /Subtype /Widget /Rect [0 0 10 10] /P 3 0 R >>",
		"[6 0 R]",
		"<< /Producer <48656C6C6F> /Title (t#20) >>",
	};
	struct fx_buf o = { 0 };
	size_t off[9] = { 0 };
	char tmp[512];
	fx_puts(&o, "%PDF-1.4\n");
	for (int i = 1; i <= 8; i++) {
		off[i] = o.n;
		snprintf(tmp, sizeof tmp, "%d 0 obj\n", i);
		fx_puts(&o, tmp);
		if (i == 4)
			snprintf(tmp, sizeof tmp, "<< /Length 5 0 R >>\nstream\n%s\nendstream", FX_CONTENT);
		else if (i == 5)
			snprintf(tmp, sizeof tmp, "%zu", strlen(FX_CONTENT));
		else
			snprintf(tmp, sizeof tmp, "%s", objs[i]);
		fx_puts(&o, tmp);
		fx_puts(&o, "\nendobj\n");
	}
	size_t xref = o.n;
	fx_puts(&o, "xref\n0 9\n0000000000 65535 f\r\n");
	for (int i = 1; i <= 8; i++) {
		snprintf(tmp, sizeof tmp, "%010zu 00000 n\r\n", off[i]);
		fx_puts(&o, tmp);
	}
	snprintf(tmp, sizeof tmp, "trailer\n<< /Size 9 /Root 1 0 R /Info 8 0 R /ID [<0102> <0304>] >>\nstartxref\n%zu\n%%%%EOF",
		 xref);
	fx_puts(&o, tmp);   /* no newline after %%EOF: the update must add one */
	*len = o.n;
	return o.b;
}

/* A classic-xref PDF of the given objects (objs[1..n-1]; objs[0] unused). */
__attribute__((unused)) static unsigned char *fx_pdf_objects(const char *const *objs, int n, size_t *len)
{
	struct fx_buf o = { 0 };
	size_t *off = calloc((size_t)n, sizeof *off);
	char tmp[128];
	fx_puts(&o, "%PDF-1.7\n");
	for (int i = 1; i < n; i++) {
		off[i] = o.n;
		snprintf(tmp, sizeof tmp, "%d 0 obj\n", i);
		fx_puts(&o, tmp);
		fx_puts(&o, objs[i]);
		fx_puts(&o, "\nendobj\n");
	}
	size_t xref = o.n;
	snprintf(tmp, sizeof tmp, "xref\n0 %d\n0000000000 65535 f \n", n);
	fx_puts(&o, tmp);
	for (int i = 1; i < n; i++) {
		snprintf(tmp, sizeof tmp, "%010zu 00000 n \n", off[i]);
		fx_puts(&o, tmp);
	}
	snprintf(tmp, sizeof tmp, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", n, xref);
	fx_puts(&o, tmp);
	free(off);
	*len = o.n;
	return o.b;
}

#endif
