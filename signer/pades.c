/* PAdES baseline B / B-T by incremental update (pades.h).
 *
 * Order of work: read the PDF (signer/pdf.c), plan the object numbers of the update, write
 * the update with a fixed-width /ByteRange and a zero-filled /Contents placeholder, fill in
 * the ByteRange (its width does not change, so no offset moves), digest the two ranges, have
 * signer/seal.c make the CMS from that digest, and hex-write it into the placeholder. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>
#include "signer/pades.h"
#include "signer/pdf.h"
#include "signer/pdf_internal.h"

#define BR_WIDTH 10                 /* digits reserved per ByteRange number (files < 10 GB) */
#define BR_LEN (3 * BR_WIDTH + 6)   /* "[0 " three numbers, two spaces, "]" */
#define TIMESTAMP_ALLOWANCE 16384   /* a TimeStampToken with the TSA's chain */
#define ATTRS_ALLOWANCE 2048        /* SignerInfo fields, signed attributes, ASN.1 headers */

/* ------------------------------------------------------------------------------ output */

struct out {
	unsigned char *b;
	size_t n, cap;
	bool oom;
};

static void put(struct out *o, const void *d, size_t n)
{
	if (o->oom)
		return;
	if (o->cap - o->n < n) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap - o->n < n)
			cap *= 2;
		unsigned char *b = realloc(o->b, cap);
		if (b == NULL) {
			o->oom = true;
			return;
		}
		o->b = b;
		o->cap = cap;
	}
	memcpy(o->b + o->n, d, n);
	o->n += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		o->oom = true;
		return;
	}
	put(o, tmp, (size_t)n);
}

static void put_hex(struct out *o, const unsigned char *d, size_t n)
{
	static const char digits[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		char h[2] = { digits[d[i] >> 4], digits[d[i] & 15] };
		put(o, h, 2);
	}
}

/* ------------------------------------------------------------------------------ the update */

struct xref_entry {
	unsigned num, gen;
	size_t off;
};

struct update {
	struct xref_entry ent[8];
	size_t nent;
	size_t br_at;              /* offset of the ByteRange placeholder's '[' */
	size_t contents_at;        /* offset of the '<' of /Contents */
	size_t contents_hex;       /* hex digits between < and > */
};

static void begin_obj(struct out *o, struct update *u, unsigned num, unsigned gen)
{
	u->ent[u->nent++] = (struct xref_entry){ .num = num, .gen = gen, .off = o->n };
	putf(o, "%u %u obj\n", num, gen);
}

/* A dictionary's entries other than those named in skip, copied from its source text. */
static void put_entries_except(struct out *o, const struct pdf_obj *dict, const char *const *skip)
{
	for (size_t i = 0; i + 1 < dict->n; i += 2) {
		bool skipped = false;
		for (const char *const *k = skip; *k != NULL; k++)
			if (strcmp((const char *)dict->items[i]->s, *k) == 0)
				skipped = true;
		if (skipped)
			continue;
		put(o, dict->items[i]->src, dict->items[i]->src_len);
		puts_(o, " ");
		put(o, dict->items[i + 1]->src, dict->items[i + 1]->src_len);
		puts_(o, "\n");
	}
}

/* The items of an array (direct or by reference) as source text, space-separated; nothing when
 * arr is NULL. */
static int put_array_items(struct out *o, struct pdf_doc *d, struct pdf_obj *arr, const char *what, efos_err *e)
{
	if (arr == NULL)
		return 0;
	struct pdf_obj *a = pdf_resolve(d, arr, e);
	if (a == NULL)
		return efos_wrap(e, "%s", what);
	if (a->type == PDF_NULL)
		return 0;
	if (a->type != PDF_ARRAY)
		return efos_fail(e, EFOS_E_INVALID, "the PDF's %s is not an array", what);
	for (size_t i = 0; i < a->n; i++) {
		put(o, a->items[i]->src, a->items[i]->src_len);
		puts_(o, " ");
	}
	return 0;
}

/* A dictionary object to be rewritten: must be a dictionary and not a stream. */
static int get_dict(struct pdf_doc *d, unsigned num, const char *what, struct pdf_obj **out, efos_err *e)
{
	const unsigned char *stream_at;
	if (pdf_get(d, num, out, &stream_at, e) != 0)
		return efos_wrap(e, "the PDF's %s", what);
	if ((*out)->type != PDF_DICT || stream_at != NULL)
		return efos_fail(e, EFOS_E_INVALID, "the PDF's %s is not a dictionary", what);
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct xref_entry *x = a, *y = b;
	return x->num < y->num ? -1 : x->num > y->num;
}

static void put_trailer_keys(struct out *o, const struct pdf_revision_info *ri, size_t size,
			     const unsigned char *id1)
{
	putf(o, "/Size %zu /Root %u %u R", size, ri->root_num, ri->root_gen);
	if (ri->has_info)
		putf(o, " /Info %u %u R", ri->info_num, ri->info_gen);
	putf(o, " /Prev %zu /ID [<", ri->startxref);
	if (ri->has_id)
		put_hex(o, ri->id0, ri->id0_len);
	else
		put_hex(o, id1, 16);
	puts_(o, "> <");
	put_hex(o, id1, 16);
	puts_(o, ">]");
}

/* The new cross-reference section for u's entries, the trailer and %%EOF. */
static void put_xref(struct out *o, struct update *u, const struct pdf_revision_info *ri, unsigned xs_num,
		     size_t size)
{
	unsigned char id1[16];
	if (RAND_bytes(id1, sizeof id1) != 1)
		memset(id1, 0, sizeof id1);   /* the ID is an identifier, not a secret */
	if (ri->xref_stream)
		u->ent[u->nent++] = (struct xref_entry){ .num = xs_num, .gen = 0, .off = o->n };
	qsort(u->ent, u->nent, sizeof u->ent[0], cmp_entry);
	size_t xref_at = o->n;
	if (!ri->xref_stream) {
		puts_(o, "xref\n");
		for (size_t i = 0; i < u->nent;) {
			size_t j = i + 1;
			while (j < u->nent && u->ent[j].num == u->ent[j - 1].num + 1)
				j++;
			putf(o, "%u %zu\n", u->ent[i].num, j - i);
			for (; i < j; i++)
				putf(o, "%010zu %05u n\r\n", u->ent[i].off, u->ent[i].gen);
		}
		puts_(o, "trailer\n<<");
		put_trailer_keys(o, ri, size, id1);
		puts_(o, ">>\n");
	} else {
		putf(o, "%u 0 obj\n<</Type /XRef /W [1 4 2] /Index [", xs_num);
		for (size_t i = 0; i < u->nent;) {
			size_t j = i + 1;
			while (j < u->nent && u->ent[j].num == u->ent[j - 1].num + 1)
				j++;
			putf(o, "%u %zu ", u->ent[i].num, j - i);
			i = j;
		}
		puts_(o, "] ");
		put_trailer_keys(o, ri, size, id1);
		putf(o, " /Length %zu>>\nstream\n", u->nent * 7);
		for (size_t i = 0; i < u->nent; i++) {
			size_t off = u->ent[i].off;
			unsigned char row[7] = { 1, (unsigned char)(off >> 24), (unsigned char)(off >> 16),
						 (unsigned char)(off >> 8), (unsigned char)off,
						 (unsigned char)(u->ent[i].gen >> 8), (unsigned char)u->ent[i].gen };
			put(o, row, sizeof row);
		}
		puts_(o, "\nendstream\nendobj\n");
	}
	putf(o, "startxref\n%zu\n%%%%EOF\n", xref_at);
}

size_t pades_contents_bound(const struct seal_signer *s, bool timestamp)
{
	size_t n = ATTRS_ALLOWANCE + (size_t)i2d_X509(s->cert, NULL);
	for (int i = 0; s->chain != NULL && i < sk_X509_num(s->chain); i++)
		n += (size_t)i2d_X509(sk_X509_value(s->chain, i), NULL);
	int ks = EVP_PKEY_get_size(s->key);
	n += ks > 0 ? (size_t)ks : 1024;
	if (timestamp)
		n += TIMESTAMP_ALLOWANCE;
	return n;
}

/* A certification signature that allows no changes (DocMDP /P 1, ISO 32000-1 12.8.2.2) would be
 * broken by another signature: refuse rather than return a PDF that shows as altered. */
static int check_docmdp(struct pdf_doc *d, struct pdf_obj *root, efos_err *e)
{
	struct pdf_obj *perms = pdf_resolve(d, pdf_dict_get(root, "Perms"), e);
	struct pdf_obj *sig = perms ? pdf_resolve(d, pdf_dict_get(perms, "DocMDP"), e) : NULL;
	struct pdf_obj *refs = sig ? pdf_resolve(d, pdf_dict_get(sig, "Reference"), e) : NULL;
	if (refs == NULL || refs->type != PDF_ARRAY) {
		efos_err_clear(e);   /* no certification signature (or none we can read): nothing to keep */
		return 0;
	}
	for (size_t i = 0; i < refs->n && i < 16; i++) {
		struct pdf_obj *r = pdf_resolve(d, refs->items[i], e);
		struct pdf_obj *tp = r ? pdf_resolve(d, pdf_dict_get(r, "TransformParams"), e) : NULL;
		struct pdf_obj *pv = tp ? pdf_dict_get(tp, "P") : NULL;
		if (pdf_is_name(pdf_dict_get(r, "TransformMethod"), "DocMDP") && pv != NULL && pv->type == PDF_INT &&
		    pv->i == 1)
			return efos_fail(e, EFOS_E_INVALID, "the PDF is certified with no changes allowed (DocMDP, P 1): "
					 "another signature would invalidate its certification");
	}
	efos_err_clear(e);
	return 0;
}

/* Writes the update after the original bytes into o. */
static int write_update(struct pdf_doc *d, const struct seal_signer *s, const struct pades_params *p,
			struct out *o, struct update *u, efos_err *e)
{
	struct pdf_revision_info ri;
	const struct pdf_signature *sigs;
	size_t nsigs;
	struct pdf_obj *root, *page;
	unsigned page_num, page_gen;
	if (pdf_revision_info(d, &ri, e) != 0 || pdf_signatures(d, &sigs, &nsigs, e) != 0 ||
	    pdf_root(d, &root, e) != 0 || pdf_first_page(d, &page_num, &page_gen, e) != 0 ||
	    get_dict(d, page_num, "first page", &page, e) != 0 || check_docmdp(d, root, e) != 0)
		return -1;
	if (ri.size + 4 > 1000000)
		return efos_fail(e, EFOS_E_INVALID, "the PDF has too many objects to add a signature");
	unsigned next = (unsigned)ri.size;
	unsigned sig_num = next++, widget_num = next++, af_num, af_gen = 0;
	struct pdf_obj *af_ref = pdf_dict_get(root, "AcroForm"), *af = NULL;
	bool new_af = af_ref == NULL || af_ref->type != PDF_REF;
	if (new_af) {
		af_num = next++;
		if (af_ref != NULL && af_ref->type == PDF_DICT)
			af = af_ref;
	} else {
		af_num = (unsigned)af_ref->i;
		af_gen = af_ref->gen;
		if (get_dict(d, af_num, "AcroForm", &af, e) != 0)
			return -1;
	}
	unsigned xs_num = ri.xref_stream ? next++ : 0;
	if (page_num == ri.root_num || (!new_af && (af_num == page_num || af_num == ri.root_num)))
		return efos_fail(e, EFOS_E_INVALID, "the PDF's catalog, first page and AcroForm are not distinct objects");

	/* Bytes after the original %%EOF start on a new line. */
	if (o->n > 0 && o->b[o->n - 1] != '\n' && o->b[o->n - 1] != '\r')
		puts_(o, "\n");

	/* The signature dictionary with its placeholders. */
	time_t t = p->signing_time ? p->signing_time : time(NULL);
	struct tm tm;
	char m[32];
	gmtime_r(&t, &tm);
	strftime(m, sizeof m, "D:%Y%m%d%H%M%S+00'00'", &tm);
	size_t bound = pades_contents_bound(s, p->timestamp != NULL);
	begin_obj(o, u, sig_num, 0);
	putf(o, "<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M (%s)\n/ByteRange ", m);
	u->br_at = o->n;
	putf(o, "[0 %0*d %0*d %0*d]", BR_WIDTH, 0, BR_WIDTH, 0, BR_WIDTH, 0);
	puts_(o, "\n/Contents ");
	u->contents_at = o->n;
	u->contents_hex = 2 * bound;
	puts_(o, "<");
	for (size_t i = 0; i < bound; i++)
		put(o, "00", 2);
	puts_(o, ">>>\nendobj\n");

	/* The field and its widget: invisible, printed, locked. */
	begin_obj(o, u, widget_num, 0);
	putf(o, "<</Type /Annot /Subtype /Widget /FT /Sig /T (Signature%zu-%u) /V %u 0 R /P %u %u R "
	     "/Rect [0 0 0 0] /F 132>>\nendobj\n", nsigs + 1, widget_num, sig_num, page_num, page_gen);

	/* The first page with the widget in /Annots. */
	begin_obj(o, u, page_num, page_gen);
	puts_(o, "<<");
	put_entries_except(o, page, (const char *const[]){ "Annots", NULL });
	puts_(o, "/Annots [");
	if (put_array_items(o, d, pdf_dict_get(page, "Annots"), "page /Annots", e) != 0)
		return -1;
	putf(o, "%u 0 R]>>\nendobj\n", widget_num);

	/* The AcroForm with the field, /SigFlags 3 (signatures exist, append only). */
	begin_obj(o, u, af_num, af_gen);
	puts_(o, "<<");
	if (af != NULL)
		put_entries_except(o, af, (const char *const[]){ "Fields", "SigFlags", NULL });
	puts_(o, "/Fields [");
	if (af != NULL && put_array_items(o, d, pdf_dict_get(af, "Fields"), "AcroForm /Fields", e) != 0)
		return -1;
	putf(o, "%u 0 R] /SigFlags 3>>\nendobj\n", widget_num);

	/* The catalog, when the AcroForm was not already an object of its own. */
	if (new_af) {
		struct pdf_obj *r;
		if (get_dict(d, ri.root_num, "catalog", &r, e) != 0)
			return -1;
		begin_obj(o, u, ri.root_num, ri.root_gen);
		puts_(o, "<<");
		put_entries_except(o, r, (const char *const[]){ "AcroForm", NULL });
		putf(o, "/AcroForm %u 0 R>>\nendobj\n", af_num);
	}
	put_xref(o, u, &ri, xs_num, next);
	if (o->oom)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	return 0;
}

int pades_sign(const struct seal_signer *s, const struct pades_params *p, struct pades_result *out, efos_err *e)
{
	memset(out, 0, sizeof *out);
	if (p->md == NULL)
		return efos_fail(e, EFOS_E_INVALID, "unsupported digest algorithm (sha256, sha384 or sha512)");
	if (s->cert == NULL || s->key == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "the seal key has no certificate or key");
	struct pdf_doc *d = NULL;
	struct out o = { 0 };
	struct update u = { 0 };
	struct seal_result cms = { 0 };
	EVP_MD_CTX *mctx = NULL;
	unsigned int dl = 0;
	int rc = -1;
	if (!EVP_Digest(p->pdf, p->pdf_len, out->document_digest, &dl, p->md, NULL)) {
		efos_fail(e, EFOS_E_INTERNAL, "digest");
		goto done;
	}
	out->document_digest_len = dl;
	if (pdf_open(p->pdf, p->pdf_len, &d, e) != 0)
		goto done;
	put(&o, p->pdf, p->pdf_len);
	if (write_update(d, s, p, &o, &u, e) != 0)
		goto done;

	/* ByteRange: everything but the /Contents string (its angle brackets included). */
	size_t br[4] = { 0, u.contents_at, u.contents_at + u.contents_hex + 2, 0 };
	br[3] = o.n - br[2];
	char brs[BR_LEN + 32];
	int bl = snprintf(brs, sizeof brs, "[0 %zu %zu %zu]", br[1], br[2], br[3]);
	if (bl < 0 || (size_t)bl > BR_LEN) {
		efos_fail(e, EFOS_E_INVALID, "the PDF is too large to sign");
		goto done;
	}
	memset(o.b + u.br_at, ' ', BR_LEN);
	memcpy(o.b + u.br_at, brs, (size_t)bl);
	memcpy(out->byte_range, br, sizeof br);

	if ((mctx = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(mctx, p->md, NULL) != 1 ||
	    EVP_DigestUpdate(mctx, o.b + br[0], br[1]) != 1 || EVP_DigestUpdate(mctx, o.b + br[2], br[3]) != 1 ||
	    EVP_DigestFinal_ex(mctx, out->signed_digest, &dl) != 1) {
		efos_fail(e, EFOS_E_INTERNAL, "digest");
		goto done;
	}
	out->signed_digest_len = dl;
	struct seal_cades_params cp = {
		.packaging = SEAL_DETACHED, .md = p->md, .digest = out->signed_digest, .digest_len = dl,
		.timestamp = p->timestamp, .timestamp_arg = p->timestamp_arg, .no_signing_time = true,
	};
	if (seal_cades_sign(s, &cp, &cms, e) != 0)
		goto done;
	if (cms.der_len * 2 > u.contents_hex) {
		efos_fail(e, EFOS_E_INTERNAL, "the signature (%zu bytes) does not fit the space reserved for it (%zu)",
			  cms.der_len, u.contents_hex / 2);
		goto done;
	}
	static const char digits[] = "0123456789ABCDEF";
	unsigned char *h = o.b + u.contents_at + 1;
	for (size_t i = 0; i < cms.der_len; i++) {
		h[2 * i] = (unsigned char)digits[cms.der[i] >> 4];
		h[2 * i + 1] = (unsigned char)digits[cms.der[i] & 15];
	}
	out->timestamped = cms.timestamped;
	out->pdf = o.b;
	out->pdf_len = o.n;
	o.b = NULL;
	rc = 0;
done:
	free(o.b);
	EVP_MD_CTX_free(mctx);
	seal_result_free(&cms);
	pdf_close(d);
	return rc;
}

void pades_result_free(struct pades_result *r)
{
	if (r == NULL)
		return;
	free(r->pdf);
	r->pdf = NULL;
	r->pdf_len = 0;
}
