/* Bounded PDF reading (pdf.h).
 *
 * pdf_open reads the cross-reference chain from the last startxref backwards through /Prev
 * (and a hybrid file's /XRefStm), newest entry winning, into one table indexed by object
 * number. Objects are parsed lazily on lookup and cached; object streams are inflated once.
 * Limits: PDF_MAX_OBJECTS object numbers, PDF_MAX_SECTIONS xref sections (a /Prev loop is
 * caught by remembering offsets), PDF_MAX_INFLATE bytes per inflated stream, a node budget for
 * parsed values, a recursion guard on indirect /Length. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "signer/pdf.h"
#include "signer/pdf_internal.h"

#define PDF_MAX_OBJECTS 1000000
#define PDF_MAX_SECTIONS 256
#define PDF_MAX_INFLATE (64u << 20)
#define PDF_MAX_NODES 2000000
#define PDF_MAX_SIGS 64
#define PDF_MAX_FIELDS 10000

enum xtype { X_FREE = 0, X_DIRECT = 1, X_INSTREAM = 2 };

struct xent {
	unsigned char type;
	bool set;
	unsigned gen;            /* DIRECT: generation; INSTREAM: index in the stream */
	size_t off;              /* DIRECT: offset; INSTREAM: the object stream's number */
};

struct objstm {
	unsigned num;
	unsigned char *data;
	size_t len, first;
	size_t n;
	size_t *nums, *offs;
	struct objstm *next;
};

struct pdf_doc {
	const unsigned char *buf;
	size_t len;
	struct pdf_arena *arena;
	struct xent *x;
	size_t nx;
	struct pdf_obj **cache;
	struct pdf_obj *trailer;        /* the newest trailer (or xref stream dictionary) */
	size_t startxref;
	bool xref_stream;
	struct objstm *stms;
	int length_depth;
	struct pdf_signature *sigs;
	unsigned char **sig_bufs;
	size_t nsigs;
	bool sigs_done;
};

/* ------------------------------------------------------------------------------ inflate */

int pdf_inflate(const unsigned char *in, size_t in_len, unsigned char **out, size_t *out_len, efos_err *e)
{
	z_stream z = { 0 };
	size_t cap = in_len * 4 + 1024, n = 0;
	if (cap > PDF_MAX_INFLATE)
		cap = PDF_MAX_INFLATE;
	unsigned char *b = malloc(cap);
	if (b == NULL || inflateInit(&z) != Z_OK) {
		free(b);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)(in_len > UINT32_MAX ? UINT32_MAX : in_len);
	int zr;
	for (;;) {
		if (n == cap) {
			if (cap >= PDF_MAX_INFLATE) {
				inflateEnd(&z);
				free(b);
				return efos_fail(e, EFOS_E_INVALID, "a PDF stream inflates to more than %u bytes", PDF_MAX_INFLATE);
			}
			size_t ncap = cap * 2 > PDF_MAX_INFLATE ? PDF_MAX_INFLATE : cap * 2;
			unsigned char *nb = realloc(b, ncap);
			if (nb == NULL) {
				inflateEnd(&z);
				free(b);
				return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			}
			b = nb;
			cap = ncap;
		}
		z.next_out = b + n;
		z.avail_out = (uInt)(cap - n);
		zr = inflate(&z, Z_NO_FLUSH);
		n = cap - z.avail_out;
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK && !(zr == Z_BUF_ERROR && z.avail_out == 0)) {
			inflateEnd(&z);
			free(b);
			return efos_fail(e, EFOS_E_INVALID, "a PDF stream is not valid zlib (FlateDecode) data");
		}
		if (z.avail_in == 0 && z.avail_out != 0) {
			inflateEnd(&z);
			free(b);
			return efos_fail(e, EFOS_E_INVALID, "a PDF stream's FlateDecode data is truncated");
		}
	}
	inflateEnd(&z);
	*out = b;
	*out_len = n;
	return 0;
}

/* PNG predictors (10..15) of /DecodeParms, in place: rows of 1 + columns bytes become
 * rows of columns bytes. */
static int png_unpredict(unsigned char *d, size_t *len, size_t columns, efos_err *e)
{
	if (columns == 0 || columns > 4096)
		return efos_fail(e, EFOS_E_INVALID, "an xref stream's /Columns is out of range");
	size_t row = columns + 1, rows = *len / row;
	if (*len % row != 0)
		return efos_fail(e, EFOS_E_INVALID, "an xref stream's predicted data is not whole rows");
	unsigned char prev[4096] = { 0 };
	for (size_t r = 0; r < rows; r++) {
		unsigned char *src = d + r * row, ft = src[0];
		unsigned char *dst = d + r * columns;
		for (size_t i = 0; i < columns; i++) {
			unsigned a = i > 0 ? dst[i - 1] : 0, b = prev[i], c = i > 0 ? prev[i - 1] : 0, x = src[1 + i];
			switch (ft) {
			case 0: break;
			case 1: x += a; break;
			case 2: x += b; break;
			case 3: x += (a + b) / 2; break;
			case 4: {
				int pa = abs((int)b - (int)c), pb = abs((int)a - (int)c), pc = abs((int)a + (int)b - 2 * (int)c);
				x += (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
				break;
			}
			default:
				return efos_fail(e, EFOS_E_INVALID, "an xref stream has an unknown PNG predictor");
			}
			dst[i] = (unsigned char)x;
		}
		memcpy(prev, dst, columns);
	}
	*len = rows * columns;
	return 0;
}

/* ------------------------------------------------------------------------------ objects */

static bool int_in(const struct pdf_obj *o, long long lo, long long hi)
{
	return o != NULL && o->type == PDF_INT && o->i >= lo && o->i <= hi;
}

/* Parses "num gen obj <value>" at off; *stream_at: the stream data's start, or NULL. */
static int parse_direct(struct pdf_doc *d, size_t off, unsigned num, unsigned gen, struct pdf_obj **out,
			const unsigned char **stream_at, efos_err *e)
{
	const unsigned char *end = d->buf + d->len, *p = d->buf + off;
	struct pdf_obj *n = NULL, *g = NULL;
	if (off >= d->len)
		return efos_fail(e, EFOS_E_INVALID, "object %u points outside the file", num);
	if (pdf_parse_obj(d->arena, &p, end, &n, e) != 0 || pdf_parse_obj(d->arena, &p, end, &g, e) != 0 ||
	    n->type != PDF_INT || g->type != PDF_INT)
		return efos_fail(e, EFOS_E_INVALID, "the xref entry of object %u does not point at an object", num);
	p = pdf_skip_ws(p, end);
	if (!pdf_keyword_at(p, end, "obj") || (unsigned long long)n->i != num || (unsigned long long)g->i != gen)
		return efos_fail(e, EFOS_E_INVALID, "the xref entry of object %u points at something else", num);
	p += 3;
	if (pdf_parse_obj(d->arena, &p, end, out, e) != 0)
		return efos_wrap(e, "object %u", num);
	if (stream_at != NULL) {
		*stream_at = NULL;
		const unsigned char *q = pdf_skip_ws(p, end);
		if (pdf_keyword_at(q, end, "stream")) {
			q += 6;
			if (q < end && *q == '\r')
				q++;
			if (q < end && *q == '\n')
				q++;
			*stream_at = q;
		}
	}
	return 0;
}

static int stream_length(struct pdf_doc *d, const struct pdf_obj *dict, size_t *len, efos_err *e);

/* The stream data of a stream object whose dictionary is dict, data starting at at; inflated
 * when /Filter is /FlateDecode (with PNG predictors); other filters refused. *out malloc'd. */
static int stream_data(struct pdf_doc *d, const struct pdf_obj *dict, const unsigned char *at,
		       unsigned char **out, size_t *out_len, efos_err *e)
{
	size_t len = 0;
	if (at == NULL)
		return efos_fail(e, EFOS_E_INVALID, "a PDF object that should be a stream is not one");
	if (stream_length(d, dict, &len, e) != 0)
		return -1;
	if (len > (size_t)(d->buf + d->len - at))
		return efos_fail(e, EFOS_E_INVALID, "a PDF stream's /Length runs past the end of the file");
	const struct pdf_obj *f = pdf_dict_get(dict, "Filter");
	if (f != NULL && f->type == PDF_ARRAY && f->n == 1)
		f = f->items[0];
	if (f == NULL) {
		if ((*out = malloc(len + 1)) == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		memcpy(*out, at, len);
		*out_len = len;
		return 0;
	}
	if (!pdf_is_name(f, "FlateDecode"))
		return efos_fail(e, EFOS_E_INVALID, "a PDF xref or object stream uses a filter other than FlateDecode");
	if (pdf_inflate(at, len, out, out_len, e) != 0)
		return -1;
	const struct pdf_obj *dp = pdf_dict_get(dict, "DecodeParms");
	if (dp != NULL && dp->type == PDF_ARRAY && dp->n == 1)
		dp = dp->items[0];
	const struct pdf_obj *pred = pdf_dict_get(dp, "Predictor");
	if (pred != NULL && !int_in(pred, 1, 1)) {
		const struct pdf_obj *cols = pdf_dict_get(dp, "Columns");
		if (!int_in(pred, 10, 15) || (cols != NULL && !int_in(cols, 1, 4096)) ||
		    png_unpredict(*out, out_len, cols ? (size_t)cols->i : 1, e) != 0) {
			free(*out);
			*out = NULL;
			return e->code ? -1 : efos_fail(e, EFOS_E_INVALID, "a PDF stream uses an unsupported predictor");
		}
	}
	return 0;
}

static int load_objstm(struct pdf_doc *d, unsigned num, struct objstm **out, efos_err *e)
{
	for (struct objstm *s = d->stms; s != NULL; s = s->next)
		if (s->num == num) {
			*out = s;
			return 0;
		}
	if (num >= d->nx || d->x[num].type != X_DIRECT)
		return efos_fail(e, EFOS_E_INVALID, "object stream %u is not in the xref", num);
	struct pdf_obj *dict;
	const unsigned char *at;
	if (parse_direct(d, d->x[num].off, num, d->x[num].gen, &dict, &at, e) != 0)
		return -1;
	const struct pdf_obj *n = pdf_dict_get(dict, "N"), *first = pdf_dict_get(dict, "First");
	if (!pdf_is_name(pdf_dict_get(dict, "Type"), "ObjStm") || !int_in(n, 0, PDF_MAX_OBJECTS) ||
	    !int_in(first, 0, PDF_MAX_INFLATE))
		return efos_fail(e, EFOS_E_INVALID, "object %u is not a valid object stream", num);
	struct objstm *s = calloc(1, sizeof *s);
	if (s == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	s->num = num;
	if (stream_data(d, dict, at, &s->data, &s->len, e) != 0)
		goto bad;
	s->first = (size_t)first->i;
	s->n = (size_t)n->i;
	if (s->first > s->len || s->n > s->len) {
		efos_fail(e, EFOS_E_INVALID, "object stream %u: /First or /N is larger than its data", num);
		goto bad;
	}
	s->nums = calloc(s->n + 1, sizeof *s->nums);
	s->offs = calloc(s->n + 1, sizeof *s->offs);
	if (s->nums == NULL || s->offs == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		goto bad;
	}
	const unsigned char *p = s->data, *end = s->data + s->first;
	for (size_t i = 0; i < s->n; i++) {
		struct pdf_obj *a, *b;
		if (pdf_parse_obj(d->arena, &p, end, &a, e) != 0 || pdf_parse_obj(d->arena, &p, end, &b, e) != 0 ||
		    !int_in(a, 0, UINT32_MAX) || !int_in(b, 0, (long long)(s->len - s->first))) {
			efos_fail(e, EFOS_E_INVALID, "object stream %u: its header is malformed", num);
			goto bad;
		}
		s->nums[i] = (size_t)a->i;
		s->offs[i] = (size_t)b->i;
	}
	s->next = d->stms;
	d->stms = s;
	*out = s;
	return 0;
bad:
	free(s->data);
	free(s->nums);
	free(s->offs);
	free(s);
	return -1;
}

int pdf_get(struct pdf_doc *d, unsigned num, struct pdf_obj **out, const unsigned char **stream_at, efos_err *e)
{
	if (stream_at != NULL)
		*stream_at = NULL;
	if (num >= d->nx || d->x[num].type == X_FREE || !d->x[num].set)
		return efos_fail(e, EFOS_E_NOTFOUND, "object %u is not in the PDF", num);
	struct xent *x = &d->x[num];
	if (x->type == X_DIRECT) {
		if (stream_at == NULL && d->cache[num] != NULL) {
			*out = d->cache[num];
			return 0;
		}
		if (parse_direct(d, x->off, num, x->gen, out, stream_at, e) != 0)
			return -1;
		d->cache[num] = *out;
		return 0;
	}
	if (d->cache[num] != NULL) {
		*out = d->cache[num];
		return 0;
	}
	struct objstm *s = NULL;
	if (x->off > UINT32_MAX || x->off == num || load_objstm(d, (unsigned)x->off, &s, e) != 0)
		return e->code ? -1 : efos_fail(e, EFOS_E_INVALID, "object %u: bad object stream", num);
	if (x->gen >= s->n || s->nums[x->gen] != num)
		return efos_fail(e, EFOS_E_INVALID, "object %u is not where the xref says in its object stream", num);
	const unsigned char *p = s->data + s->first + s->offs[x->gen];
	if (pdf_parse_obj(d->arena, &p, s->data + s->len, out, e) != 0)
		return efos_wrap(e, "object %u", num);
	d->cache[num] = *out;
	return 0;
}

struct pdf_obj *pdf_resolve(struct pdf_doc *d, struct pdf_obj *o, efos_err *e)
{
	/* A reference to a reference is legal but rare; follow a few. */
	for (int i = 0; o != NULL && o->type == PDF_REF && i < 8; i++) {
		struct pdf_obj *t;
		if (pdf_get(d, (unsigned)o->i, &t, NULL, e) != 0)
			return NULL;
		o = t;
	}
	if (o != NULL && o->type == PDF_REF) {
		efos_fail(e, EFOS_E_INVALID, "a chain of PDF references is too long");
		return NULL;
	}
	return o;
}

static int stream_length(struct pdf_doc *d, const struct pdf_obj *dict, size_t *len, efos_err *e)
{
	struct pdf_obj *l = pdf_dict_get(dict, "Length");
	if (l != NULL && l->type == PDF_REF) {
		if (d->length_depth > 2)
			return efos_fail(e, EFOS_E_INVALID, "a PDF stream's /Length refers in a loop");
		d->length_depth++;
		l = pdf_resolve(d, l, e);
		d->length_depth--;
		if (l == NULL)
			return -1;
	}
	if (!int_in(l, 0, (long long)d->len))
		return efos_fail(e, EFOS_E_INVALID, "a PDF stream has no valid /Length");
	*len = (size_t)l->i;
	return 0;
}

/* ------------------------------------------------------------------------------ xref */

static int grow_x(struct pdf_doc *d, size_t need, efos_err *e)
{
	if (need <= d->nx)
		return 0;
	if (need > PDF_MAX_OBJECTS)
		return efos_fail(e, EFOS_E_INVALID, "the PDF declares more than %d objects", PDF_MAX_OBJECTS);
	/* An object takes a few bytes at least; numbers far beyond the file's size are made up. */
	if (need > d->len / 2 + 1024)
		return efos_fail(e, EFOS_E_INVALID, "the PDF declares %zu objects in %zu bytes", need, d->len);
	struct xent *x = realloc(d->x, need * sizeof *x);
	struct pdf_obj **c = x ? realloc(d->cache, need * sizeof *c) : NULL;
	if (x == NULL || c == NULL) {
		if (x != NULL)
			d->x = x;
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	memset(x + d->nx, 0, (need - d->nx) * sizeof *x);
	memset(c + d->nx, 0, (need - d->nx) * sizeof *c);
	d->x = x;
	d->cache = c;
	d->nx = need;
	return 0;
}

static int set_entry(struct pdf_doc *d, size_t num, unsigned char type, size_t off, unsigned gen, efos_err *e)
{
	if (grow_x(d, num + 1, e) != 0)
		return -1;
	if (d->x[num].set)   /* a newer section already said */
		return 0;
	d->x[num] = (struct xent){ .type = type, .set = true, .off = off, .gen = gen };
	return 0;
}

/* A classic table at p ("xref" already matched); *trailer: its trailer dictionary. */
/* An unsigned decimal number at *p (after whitespace), at most max. */
static bool xref_num(const unsigned char **p, const unsigned char *end, unsigned long long max,
		     unsigned long long *v)
{
	const unsigned char *q = pdf_skip_ws(*p, end), *start = q;
	unsigned long long x = 0;
	while (q < end && *q >= '0' && *q <= '9' && q - start < 20) {
		x = x * 10 + (unsigned)(*q - '0');
		q++;
	}
	if (q == start || x > max)
		return false;
	*v = x;
	*p = q;
	return true;
}

static int read_table(struct pdf_doc *d, const unsigned char *p, struct pdf_obj **trailer, efos_err *e)
{
	const unsigned char *end = d->buf + d->len;
	p += 4;
	for (;;) {
		p = pdf_skip_ws(p, end);
		if (pdf_keyword_at(p, end, "trailer"))
			break;
		/* Entries are read as plain numbers, not as PDF objects: a table can be long. */
		unsigned long long first, count;
		if (!xref_num(&p, end, PDF_MAX_OBJECTS, &first) || !xref_num(&p, end, PDF_MAX_OBJECTS, &count) ||
		    first + count > PDF_MAX_OBJECTS)
			return efos_fail(e, EFOS_E_INVALID, "the PDF's xref table has a malformed subsection header");
		if (count > (unsigned long long)(end - p) / 18)
			return efos_fail(e, EFOS_E_INVALID, "the PDF's xref table has fewer entries than its subsection "
					 "header says");
		for (unsigned long long i = 0; i < count; i++) {
			unsigned long long off, gen;
			if (!xref_num(&p, end, d->len, &off) || !xref_num(&p, end, 65535, &gen))
				return efos_fail(e, EFOS_E_INVALID, "the PDF's xref table has a malformed entry");
			p = pdf_skip_ws(p, end);
			if (p >= end || (*p != 'n' && *p != 'f'))
				return efos_fail(e, EFOS_E_INVALID, "the PDF's xref table has an entry that is neither n nor f");
			bool used = *p++ == 'n';
			if (set_entry(d, (size_t)(first + i), used ? X_DIRECT : X_FREE, (size_t)off, (unsigned)gen, e) != 0)
				return -1;
		}
	}
	p += 7;
	if (pdf_parse_obj(d->arena, &p, end, trailer, e) != 0)
		return efos_wrap(e, "the PDF's trailer");
	if ((*trailer)->type != PDF_DICT)
		return efos_fail(e, EFOS_E_INVALID, "the PDF's trailer is not a dictionary");
	return 0;
}

/* An xref stream object at p; *trailer: its dictionary. */
static int read_xref_stream(struct pdf_doc *d, size_t off, struct pdf_obj **trailer, efos_err *e)
{
	const unsigned char *end = d->buf + d->len, *p = d->buf + off, *at;
	struct pdf_obj *num, *gen, *dict;
	if (pdf_parse_obj(d->arena, &p, end, &num, e) != 0 || pdf_parse_obj(d->arena, &p, end, &gen, e) != 0 ||
	    !int_in(num, 0, UINT32_MAX) || !int_in(gen, 0, 65535))
		return efos_fail(e, EFOS_E_INVALID, "the PDF's startxref points at neither an xref table nor an xref stream");
	if (parse_direct(d, off, (unsigned)num->i, (unsigned)gen->i, &dict, &at, e) != 0 ||
	    !pdf_is_name(pdf_dict_get(dict, "Type"), "XRef"))
		return efos_fail(e, EFOS_E_INVALID, "the PDF's startxref points at neither an xref table nor an xref stream");
	const struct pdf_obj *w = pdf_dict_get(dict, "W"), *size = pdf_dict_get(dict, "Size"),
			     *index = pdf_dict_get(dict, "Index");
	if (w == NULL || w->type != PDF_ARRAY || w->n != 3 || !int_in(size, 0, PDF_MAX_OBJECTS))
		return efos_fail(e, EFOS_E_INVALID, "the PDF's xref stream lacks a valid /W or /Size");
	size_t wv[3], rowlen = 0;
	for (int i = 0; i < 3; i++) {
		if (!int_in(w->items[i], 0, 8))
			return efos_fail(e, EFOS_E_INVALID, "the PDF's xref stream has a /W field wider than 8 bytes");
		wv[i] = (size_t)w->items[i]->i;
		rowlen += wv[i];
	}
	if (rowlen == 0)
		return efos_fail(e, EFOS_E_INVALID, "the PDF's xref stream has empty rows");
	if (index != NULL && (index->type != PDF_ARRAY || index->n % 2 != 0 || index->n > 2 * 4096))
		return efos_fail(e, EFOS_E_INVALID, "the PDF's xref stream has a malformed /Index");
	unsigned char *data;
	size_t dlen;
	if (stream_data(d, dict, at, &data, &dlen, e) != 0)
		return efos_wrap(e, "the PDF's xref stream");
	size_t row = 0, nsub = index ? index->n / 2 : 1;
	int rc = -1;
	for (size_t k = 0; k < nsub; k++) {
		long long first = index ? index->items[2 * k]->i : 0, count = index ? index->items[2 * k + 1]->i : size->i;
		if (index && (!int_in(index->items[2 * k], 0, PDF_MAX_OBJECTS) ||
			      !int_in(index->items[2 * k + 1], 0, PDF_MAX_OBJECTS))) {
			efos_fail(e, EFOS_E_INVALID, "the PDF's xref stream has a malformed /Index");
			goto out;
		}
		for (long long i = 0; i < count; i++, row++) {
			if ((row + 1) * rowlen > dlen) {
				efos_fail(e, EFOS_E_INVALID, "the PDF's xref stream is shorter than its /Index says");
				goto out;
			}
			const unsigned char *r = data + row * rowlen;
			unsigned long long f[3] = { 1, 0, 0 };
			for (int j = 0; j < 3; j++) {
				if (wv[j] == 0)
					continue;
				f[j] = 0;
				for (size_t b = 0; b < wv[j]; b++)
					f[j] = f[j] << 8 | *r++;
			}
			if (f[0] > 2)   /* unknown types are to be ignored (ISO 32000-1 7.5.8.3) */
				continue;
			if ((f[0] == 1 && f[1] >= d->len) || (f[0] == 2 && f[1] > UINT32_MAX) || f[2] > UINT32_MAX) {
				efos_fail(e, EFOS_E_INVALID, "the PDF's xref stream has an entry out of range");
				goto out;
			}
			if (set_entry(d, (size_t)(first + i), (unsigned char)f[0], (size_t)f[1], (unsigned)f[2], e) != 0)
				goto out;
		}
	}
	*trailer = dict;
	rc = 0;
out:
	free(data);
	return rc;
}

/* The last "startxref N" in the file's tail. */
static int find_startxref(const unsigned char *buf, size_t len, size_t *off, efos_err *e)
{
	size_t from = len > 2048 ? len - 2048 : 0;
	for (size_t i = len >= 9 ? len - 9 : 0;; i--) {
		if (i + 9 <= len && memcmp(buf + i, "startxref", 9) == 0) {
			const unsigned char *p = buf + i + 9, *end = buf + len;
			p = pdf_skip_ws(p, end);
			unsigned long long v = 0;
			const unsigned char *q = p;
			while (q < end && *q >= '0' && *q <= '9' && v < (1ull << 48))
				v = v * 10 + (unsigned)(*q++ - '0');
			if (q == p || v >= len)
				return efos_fail(e, EFOS_E_INVALID, "the PDF's startxref offset is missing or out of range");
			*off = (size_t)v;
			return 0;
		}
		if (i == from)
			break;
	}
	return efos_fail(e, EFOS_E_INVALID, "no startxref at the end of the PDF (it is truncated or not a PDF)");
}

/* Remembers an xref section's offset; a second visit is a loop. */
static int mark_seen(size_t *seen, size_t *n, size_t off, efos_err *e)
{
	for (size_t i = 0; i < *n; i++)
		if (seen[i] == off)
			return efos_fail(e, EFOS_E_INVALID, "the PDF's xref sections refer to each other in a loop (/Prev)");
	if (*n == PDF_MAX_SECTIONS)
		return efos_fail(e, EFOS_E_INVALID, "the PDF has more than %d xref sections", PDF_MAX_SECTIONS);
	seen[(*n)++] = off;
	return 0;
}

int pdf_open(const unsigned char *buf, size_t len, struct pdf_doc **out, efos_err *e)
{
	*out = NULL;
	if (len < 8 || memcmp(buf, "%PDF-", 5) != 0)
		return efos_fail(e, EFOS_E_INVALID, "the document is not a PDF (it does not start with %%PDF-)");
	struct pdf_doc *d = calloc(1, sizeof *d);
	if (d == NULL || (d->arena = pdf_arena_new(PDF_MAX_NODES)) == NULL) {
		free(d);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	d->buf = buf;
	d->len = len;
	size_t seen[PDF_MAX_SECTIONS], nseen = 0, off = 0;
	if (find_startxref(buf, len, &off, e) != 0)
		goto bad;
	d->startxref = off;
	for (;;) {
		if (mark_seen(seen, &nseen, off, e) != 0)
			goto bad;
		struct pdf_obj *tr, *hybrid;
		const unsigned char *p = pdf_skip_ws(buf + off, buf + len);
		bool table = pdf_keyword_at(p, buf + len, "xref");
		if (table ? read_table(d, p, &tr, e) != 0 : read_xref_stream(d, off, &tr, e) != 0)
			goto bad;
		if (d->trailer == NULL) {
			d->trailer = tr;
			d->xref_stream = !table;
		}
		const struct pdf_obj *xs = pdf_dict_get(tr, "XRefStm"), *prev = pdf_dict_get(tr, "Prev");
		if (table && xs != NULL) {
			/* A hybrid file: the stream's entries come after the table's, before /Prev's. */
			if (!int_in(xs, 0, (long long)len - 1)) {
				efos_fail(e, EFOS_E_INVALID, "the PDF's /XRefStm is out of range");
				goto bad;
			}
			if (mark_seen(seen, &nseen, (size_t)xs->i, e) != 0 ||
			    read_xref_stream(d, (size_t)xs->i, &hybrid, e) != 0)
				goto bad;
		}
		if (prev == NULL)
			break;
		if (!int_in(prev, 0, (long long)len - 1)) {
			efos_fail(e, EFOS_E_INVALID, "the PDF's /Prev is out of range");
			goto bad;
		}
		off = (size_t)prev->i;
	}
	if (pdf_dict_get(d->trailer, "Encrypt") != NULL) {
		efos_fail(e, EFOS_E_INVALID, "the PDF is encrypted; it cannot be signed or validated here (remove the "
			  "encryption first)");
		goto bad;
	}
	const struct pdf_obj *root = pdf_dict_get(d->trailer, "Root"), *size = pdf_dict_get(d->trailer, "Size");
	if (root == NULL || root->type != PDF_REF) {
		efos_fail(e, EFOS_E_INVALID, "the PDF's trailer has no /Root");
		goto bad;
	}
	if (!int_in(size, 1, PDF_MAX_OBJECTS)) {
		efos_fail(e, EFOS_E_INVALID, "the PDF's trailer has no valid /Size");
		goto bad;
	}
	if (grow_x(d, (size_t)size->i, e) != 0)
		goto bad;
	*out = d;
	return 0;
bad:
	pdf_close(d);
	return -1;
}

void pdf_close(struct pdf_doc *d)
{
	if (d == NULL)
		return;
	while (d->stms != NULL) {
		struct objstm *s = d->stms;
		d->stms = s->next;
		free(s->data);
		free(s->nums);
		free(s->offs);
		free(s);
	}
	for (size_t i = 0; i < d->nsigs; i++)
		free(d->sig_bufs[i]);
	free(d->sig_bufs);
	free(d->sigs);
	free(d->x);
	free(d->cache);
	pdf_arena_free(d->arena);
	free(d);
}

/* ------------------------------------------------------------------------------ revision */

int pdf_revision_info(struct pdf_doc *d, struct pdf_revision_info *out, efos_err *e)
{
	memset(out, 0, sizeof *out);
	const struct pdf_obj *root = pdf_dict_get(d->trailer, "Root"), *info = pdf_dict_get(d->trailer, "Info"),
			     *id = pdf_dict_get(d->trailer, "ID");
	out->size = d->nx;
	const struct pdf_obj *size = pdf_dict_get(d->trailer, "Size");
	if (size != NULL && (size_t)size->i > out->size)
		out->size = (size_t)size->i;
	out->startxref = d->startxref;
	out->xref_stream = d->xref_stream;
	out->root_num = (unsigned)root->i;
	out->root_gen = root->gen;
	if (info != NULL && info->type == PDF_REF) {
		out->has_info = true;
		out->info_num = (unsigned)info->i;
		out->info_gen = info->gen;
	}
	if (id != NULL && id->type == PDF_ARRAY && id->n >= 1 && id->items[0]->type == PDF_STRING &&
	    id->items[0]->s_len <= sizeof out->id0) {
		out->has_id = true;
		memcpy(out->id0, id->items[0]->s, id->items[0]->s_len);
		out->id0_len = id->items[0]->s_len;
	}
	(void)e;
	return 0;
}

int pdf_object_text(struct pdf_doc *d, unsigned num, unsigned gen, const unsigned char **text, size_t *len,
		    efos_err *e)
{
	struct pdf_obj *o;
	const unsigned char *at;
	if (num < d->nx && d->x[num].type == X_DIRECT && d->x[num].set && d->x[num].gen != gen)
		return efos_fail(e, EFOS_E_NOTFOUND, "object %u %u is not in the PDF", num, gen);
	if (pdf_get(d, num, &o, &at, e) != 0)
		return -1;
	*text = o->src;
	*len = o->src_len;
	return 0;
}

int pdf_root(struct pdf_doc *d, struct pdf_obj **root, efos_err *e)
{
	struct pdf_obj *r = pdf_resolve(d, pdf_dict_get(d->trailer, "Root"), e);
	if (r == NULL)
		return -1;
	if (r->type != PDF_DICT)
		return efos_fail(e, EFOS_E_INVALID, "the PDF's catalog (/Root) is not a dictionary");
	*root = r;
	return 0;
}

int pdf_first_page(struct pdf_doc *d, unsigned *num, unsigned *gen, efos_err *e)
{
	struct pdf_obj *root;
	if (pdf_root(d, &root, e) != 0)
		return -1;
	struct pdf_obj *ref = pdf_dict_get(root, "Pages");
	for (int depth = 0; depth < 32; depth++) {
		if (ref == NULL || ref->type != PDF_REF)
			return efos_fail(e, EFOS_E_INVALID, "the PDF's page tree is malformed (no indirect page)");
		struct pdf_obj *node = pdf_resolve(d, ref, e);
		if (node == NULL)
			return -1;
		if (node->type != PDF_DICT)
			return efos_fail(e, EFOS_E_INVALID, "the PDF's page tree has a node that is not a dictionary");
		if (pdf_is_name(pdf_dict_get(node, "Type"), "Page")) {
			*num = (unsigned)ref->i;
			*gen = ref->gen;
			return 0;
		}
		struct pdf_obj *kids = pdf_resolve(d, pdf_dict_get(node, "Kids"), e);
		if (kids == NULL || kids->type != PDF_ARRAY || kids->n == 0)
			return e->code ? -1 : efos_fail(e, EFOS_E_INVALID, "the PDF has no pages");
		ref = kids->items[0];
	}
	return efos_fail(e, EFOS_E_INVALID, "the PDF's page tree is deeper than 32 levels");
}

struct pdf_obj *pdf_trailer(struct pdf_doc *d)
{
	return d->trailer;
}

/* ------------------------------------------------------------------------------ signatures */

/* Where the DER of a /Contents ends: the outer SEQUENCE's definite length, else trailing zeros
 * trimmed. */
static size_t der_len(const unsigned char *b, size_t n)
{
	if (n >= 2 && b[0] == 0x30) {
		size_t l = b[1], h = 2;
		if (l & 0x80) {
			size_t k = l & 0x7f;
			if (k >= 1 && k <= 4 && n >= 2 + k) {
				l = 0;
				for (size_t i = 0; i < k; i++)
					l = l << 8 | b[2 + i];
				h = 2 + k;
			} else {
				goto trim;
			}
		}
		if (h + l <= n)
			return h + l;
	}
trim:
	while (n > 0 && b[n - 1] == 0)
		n--;
	return n;
}

/* After the %%EOF that ends at or just before end (with its EOL): the end of a revision. */
static bool eof_ends_at(const unsigned char *buf, size_t end)
{
	size_t i = end;
	while (i > 0 && (buf[i - 1] == '\n' || buf[i - 1] == '\r') && end - i < 2)
		i--;
	return i >= 5 && memcmp(buf + i - 5, "%%EOF", 5) == 0;
}

static int add_sig(struct pdf_doc *d, struct pdf_obj *field, struct pdf_obj *vref, efos_err *e)
{
	if (d->nsigs >= PDF_MAX_SIGS)
		return efos_fail(e, EFOS_E_INVALID, "the PDF has more than %d signatures", PDF_MAX_SIGS);
	struct pdf_obj *v = pdf_resolve(d, vref, e);
	if (v == NULL)
		return -1;
	if (v->type != PDF_DICT)
		return efos_fail(e, EFOS_E_INVALID, "a signature field's /V is not a dictionary");
	struct pdf_obj *br = pdf_resolve(d, pdf_dict_get(v, "ByteRange"), e);
	struct pdf_obj *contents = pdf_dict_get(v, "Contents");
	struct pdf_obj *sf = pdf_dict_get(v, "SubFilter");
	if (br == NULL || br->type != PDF_ARRAY || br->n != 4)
		return e->code ? -1 : efos_fail(e, EFOS_E_INVALID, "a signature has no /ByteRange of four numbers");
	if (contents == NULL || contents->type != PDF_STRING)
		return efos_fail(e, EFOS_E_INVALID, "a signature's /Contents is not a direct string");
	struct pdf_signature s = { 0 };
	for (int i = 0; i < 4; i++) {
		if (!int_in(br->items[i], 0, (long long)d->len))
			return efos_fail(e, EFOS_E_INVALID, "a signature's /ByteRange is outside the file");
		s.byte_range[i] = (size_t)br->items[i]->i;
	}
	if (s.byte_range[0] + s.byte_range[1] > d->len || s.byte_range[2] + s.byte_range[3] > d->len)
		return efos_fail(e, EFOS_E_INVALID, "a signature's /ByteRange is outside the file");
	size_t n = der_len(contents->s, contents->s_len);
	unsigned char *copy = malloc(n + 1);
	void *ns = realloc(d->sigs, (d->nsigs + 1) * sizeof *d->sigs);
	if (ns != NULL)
		d->sigs = ns;
	void *nb = realloc(d->sig_bufs, (d->nsigs + 1) * sizeof *d->sig_bufs);
	if (nb != NULL)
		d->sig_bufs = nb;
	if (copy == NULL || ns == NULL || nb == NULL) {
		free(copy);
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	}
	memcpy(copy, contents->s, n);
	s.contents = copy;
	s.contents_len = n;
	s.sub_filter = sf && sf->type == PDF_NAME ? (const char *)sf->s : NULL;
	struct pdf_obj *t = pdf_dict_get(field, "T");
	s.field_name = t && t->type == PDF_STRING ? (const char *)t->s : NULL;
	/* The gap must be exactly this dictionary's /Contents string, in the file itself. */
	const unsigned char *gap = d->buf + s.byte_range[1];
	bool contents_in_file = contents->src >= d->buf && contents->src + contents->src_len <= d->buf + d->len;
	s.covers_whole_file_but_contents = s.byte_range[0] == 0 && s.byte_range[1] < s.byte_range[2] &&
		contents_in_file && contents->src == gap &&
		contents->src + contents->src_len == d->buf + s.byte_range[2] &&
		eof_ends_at(d->buf, s.byte_range[2] + s.byte_range[3]);
	s.revision_end = s.byte_range[2] + s.byte_range[3];
	d->sig_bufs[d->nsigs] = copy;
	d->sigs[d->nsigs++] = s;
	return 0;
}

static int walk_fields(struct pdf_doc *d, struct pdf_obj *arr, int depth, bool parent_sig, size_t *budget,
		       efos_err *e)
{
	if (depth > 16)
		return efos_fail(e, EFOS_E_INVALID, "the PDF's form fields are nested too deeply");
	arr = pdf_resolve(d, arr, e);
	if (arr == NULL)
		return e->code == EFOS_E_NOTFOUND ? (efos_err_clear(e), 0) : -1;
	if (arr->type != PDF_ARRAY)
		return efos_fail(e, EFOS_E_INVALID, "the PDF's /Fields or /Kids is not an array");
	for (size_t i = 0; i < arr->n; i++) {
		if ((*budget)-- == 0)
			return efos_fail(e, EFOS_E_INVALID, "the PDF has more than %d form fields", PDF_MAX_FIELDS);
		struct pdf_obj *f = pdf_resolve(d, arr->items[i], e);
		if (f == NULL) {
			if (e->code != EFOS_E_NOTFOUND)
				return -1;
			efos_err_clear(e);
			continue;
		}
		if (f->type != PDF_DICT)
			continue;
		struct pdf_obj *ft = pdf_dict_get(f, "FT");
		bool sig = ft ? pdf_is_name(ft, "Sig") : parent_sig;
		struct pdf_obj *v = pdf_dict_get(f, "V");
		if (sig && v != NULL && add_sig(d, f, v, e) != 0)
			return -1;
		struct pdf_obj *kids = pdf_dict_get(f, "Kids");
		if (kids != NULL && walk_fields(d, kids, depth + 1, sig, budget, e) != 0)
			return -1;
	}
	return 0;
}

int pdf_signatures(struct pdf_doc *d, const struct pdf_signature **sigs, size_t *n, efos_err *e)
{
	if (!d->sigs_done) {
		struct pdf_obj *root;
		if (pdf_root(d, &root, e) != 0)
			return -1;
		struct pdf_obj *af = pdf_dict_get(root, "AcroForm");
		if (af != NULL) {
			if ((af = pdf_resolve(d, af, e)) == NULL)
				return -1;
			size_t budget = PDF_MAX_FIELDS;
			struct pdf_obj *fields = pdf_dict_get(af, "Fields");
			if (af->type == PDF_DICT && fields != NULL && walk_fields(d, fields, 0, false, &budget, e) != 0)
				return -1;
		}
		d->sigs_done = true;
	}
	*sigs = d->sigs;
	*n = d->nsigs;
	return 0;
}
