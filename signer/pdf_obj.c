/* PDF object syntax (pdf_obj.h). Numbers, names with #xx escapes, literal strings with
 * escapes and balanced parentheses, hex strings, arrays, dictionaries and "N G R" references.
 * Nodes come from an arena with a node budget, so a hostile file cannot make us allocate
 * without bound; nesting is limited to PDF_MAX_DEPTH. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/hex.h"
#include "signer/pdf_obj.h"

#define PDF_MAX_DEPTH 32
#define PDF_MAX_TOKEN (1u << 24)   /* a string or name longer than 16 MiB is not for us */

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	unsigned char data[];
};

struct pdf_arena {
	struct arena_block *blocks;
	size_t nodes, max_nodes;
};

struct pdf_arena *pdf_arena_new(size_t max_nodes)
{
	struct pdf_arena *a = calloc(1, sizeof *a);
	if (a != NULL)
		a->max_nodes = max_nodes;
	return a;
}

void pdf_arena_free(struct pdf_arena *a)
{
	if (a == NULL)
		return;
	while (a->blocks != NULL) {
		struct arena_block *b = a->blocks;
		a->blocks = b->next;
		free(b);
	}
	free(a);
}

static void *arena_alloc(struct pdf_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct arena_block *b = a->blocks;
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		if ((b = malloc(sizeof *b + cap)) == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = a->blocks;
		a->blocks = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	return p;
}

static bool is_ws(unsigned char c)
{
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

static bool is_delim(unsigned char c)
{
	return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' || c == '}' ||
	       c == '/' || c == '%';
}

const unsigned char *pdf_skip_ws(const unsigned char *p, const unsigned char *end)
{
	while (p < end) {
		if (is_ws(*p)) {
			p++;
		} else if (*p == '%') {
			while (p < end && *p != '\n' && *p != '\r')
				p++;
		} else {
			break;
		}
	}
	return p;
}

bool pdf_keyword_at(const unsigned char *p, const unsigned char *end, const char *kw)
{
	size_t n = strlen(kw);
	if ((size_t)(end - p) < n || memcmp(p, kw, n) != 0)
		return false;
	return p + n == end || is_ws(p[n]) || is_delim(p[n]);
}

static struct pdf_obj *new_node(struct pdf_arena *a, enum pdf_type t, efos_err *e)
{
	if (a->nodes >= a->max_nodes) {
		efos_fail(e, EFOS_E_INVALID, "the PDF has too many objects or values (more than %zu)", a->max_nodes);
		return NULL;
	}
	struct pdf_obj *o = arena_alloc(a, sizeof *o);
	if (o == NULL) {
		efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		return NULL;
	}
	memset(o, 0, sizeof *o);
	o->type = t;
	a->nodes++;
	return o;
}

/* Reads an unsigned decimal integer token at p (no sign), for the "N G R" lookahead. */
static bool read_uint(const unsigned char **pp, const unsigned char *end, unsigned long long *v)
{
	const unsigned char *p = *pp;
	unsigned long long x = 0;
	if (p >= end || *p < '0' || *p > '9')
		return false;
	while (p < end && *p >= '0' && *p <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (unsigned)(*p - '0');
		p++;
	}
	if (p < end && !is_ws(*p) && !is_delim(*p))
		return false;
	*v = x;
	*pp = p;
	return true;
}

static int parse_name(struct pdf_arena *a, const unsigned char **pp, const unsigned char *end, struct pdf_obj *o,
		      efos_err *e)
{
	const unsigned char *p = *pp + 1, *start = p;
	while (p < end && !is_ws(*p) && !is_delim(*p))
		p++;
	size_t n = (size_t)(p - start);
	if (n > PDF_MAX_TOKEN)
		return efos_fail(e, EFOS_E_INVALID, "a PDF name is too long");
	if ((o->s = arena_alloc(a, n + 1)) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	size_t k = 0;
	for (const unsigned char *q = start; q < p; q++) {
		if (*q == '#' && p - q >= 3 && hex_digit(q[1]) >= 0 && hex_digit(q[2]) >= 0) {
			o->s[k++] = (unsigned char)(hex_digit(q[1]) << 4 | hex_digit(q[2]));
			q += 2;
		} else {
			o->s[k++] = *q;
		}
	}
	o->s[k] = '\0';
	o->s_len = k;
	*pp = p;
	return 0;
}

static int parse_literal(struct pdf_arena *a, const unsigned char **pp, const unsigned char *end,
			 struct pdf_obj *o, efos_err *e)
{
	const unsigned char *p = *pp + 1;
	/* The decoded string is never longer than its source: find the end first. */
	int depth = 1;
	const unsigned char *q = p;
	while (q < end && depth > 0) {
		if (*q == '\\')
			q++;
		else if (*q == '(')
			depth++;
		else if (*q == ')')
			depth--;
		q++;
	}
	if (depth != 0 || q > end)
		return efos_fail(e, EFOS_E_INVALID, "a PDF string is not terminated");
	size_t cap = (size_t)(q - p);
	if (cap > PDF_MAX_TOKEN)
		return efos_fail(e, EFOS_E_INVALID, "a PDF string is too long");
	if ((o->s = arena_alloc(a, cap + 1)) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	size_t k = 0;
	depth = 1;
	while (p < q) {
		unsigned char c = *p++;
		if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (--depth == 0)
				break;
		} else if (c == '\\' && p < q) {
			c = *p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case '\r':
				if (p < q && *p == '\n')
					p++;
				continue;
			case '\n':
				continue;
			default:
				if (c >= '0' && c <= '7') {
					int v = c - '0';
					for (int i = 0; i < 2 && p < q && *p >= '0' && *p <= '7'; i++)
						v = v * 8 + (*p++ - '0');
					c = (unsigned char)v;
				}
			}
		}
		o->s[k++] = c;
	}
	o->s[k] = '\0';
	o->s_len = k;
	*pp = q;
	return 0;
}

static int parse_hex(struct pdf_arena *a, const unsigned char **pp, const unsigned char *end, struct pdf_obj *o,
		     efos_err *e)
{
	const unsigned char *p = *pp + 1, *q = memchr(p, '>', (size_t)(end - p));
	if (q == NULL)
		return efos_fail(e, EFOS_E_INVALID, "a PDF hex string is not terminated");
	size_t cap = (size_t)(q - p) / 2 + 1;
	if (cap > PDF_MAX_TOKEN)
		return efos_fail(e, EFOS_E_INVALID, "a PDF hex string is too long");
	if ((o->s = arena_alloc(a, cap + 1)) == NULL)
		return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
	size_t k = 0;
	int hi = -1;
	for (; p < q; p++) {
		if (is_ws(*p))
			continue;
		int v = hex_digit(*p);
		if (v < 0)
			return efos_fail(e, EFOS_E_INVALID, "a PDF hex string has a character that is not hex");
		if (hi < 0) {
			hi = v;
		} else {
			o->s[k++] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0)
		o->s[k++] = (unsigned char)(hi << 4);
	o->s[k] = '\0';
	o->s_len = k;
	*pp = q + 1;
	return 0;
}

/* A growable list of item pointers, in plain malloc'd memory until the container is done. */
struct items {
	struct pdf_obj **v;
	size_t n, cap;
};

static int items_push(struct items *it, struct pdf_obj *o, efos_err *e)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 16;
		struct pdf_obj **v = realloc(it->v, cap * sizeof *v);
		if (v == NULL)
			return efos_fail(e, EFOS_E_INTERNAL, "out of memory");
		it->v = v;
		it->cap = cap;
	}
	it->v[it->n++] = o;
	return 0;
}

static int parse_at(struct pdf_arena *a, const unsigned char **pp, const unsigned char *end, int depth,
		    struct pdf_obj **out, efos_err *e);

static int parse_container(struct pdf_arena *a, const unsigned char **pp, const unsigned char *end, int depth,
			   struct pdf_obj *o, efos_err *e)
{
	bool dict = o->type == PDF_DICT;
	const unsigned char *p = *pp + (dict ? 2 : 1);
	struct items it = { 0 };
	int rc = -1;
	for (;;) {
		p = pdf_skip_ws(p, end);
		if (p >= end) {
			efos_fail(e, EFOS_E_INVALID, "a PDF %s is not terminated", dict ? "dictionary" : "array");
			goto out;
		}
		if (dict && p + 1 < end && p[0] == '>' && p[1] == '>') {
			p += 2;
			break;
		}
		if (!dict && *p == ']') {
			p++;
			break;
		}
		struct pdf_obj *item;
		if (dict && *p != '/') {
			efos_fail(e, EFOS_E_INVALID, "a PDF dictionary key is not a name");
			goto out;
		}
		if (parse_at(a, &p, end, depth + 1, &item, e) != 0 || items_push(&it, item, e) != 0)
			goto out;
		if (dict) {
			if (parse_at(a, &p, end, depth + 1, &item, e) != 0 || items_push(&it, item, e) != 0)
				goto out;
		}
	}
	if (it.n > 0) {
		if ((o->items = arena_alloc(a, it.n * sizeof *o->items)) == NULL) {
			efos_fail(e, EFOS_E_INTERNAL, "out of memory");
			goto out;
		}
		memcpy(o->items, it.v, it.n * sizeof *o->items);
	}
	o->n = it.n;
	*pp = p;
	rc = 0;
out:
	free(it.v);
	return rc;
}

static int parse_at(struct pdf_arena *a, const unsigned char **pp, const unsigned char *end, int depth,
		    struct pdf_obj **out, efos_err *e)
{
	if (depth > PDF_MAX_DEPTH)
		return efos_fail(e, EFOS_E_INVALID, "PDF objects are nested too deeply (more than %d)", PDF_MAX_DEPTH);
	const unsigned char *p = pdf_skip_ws(*pp, end);
	if (p >= end)
		return efos_fail(e, EFOS_E_INVALID, "the PDF ends where an object was expected");
	struct pdf_obj *o;
	unsigned char c = *p;
	const unsigned char *start = p;
	if (c == '/') {
		if ((o = new_node(a, PDF_NAME, e)) == NULL || parse_name(a, &p, end, o, e) != 0)
			return -1;
	} else if (c == '(') {
		if ((o = new_node(a, PDF_STRING, e)) == NULL || parse_literal(a, &p, end, o, e) != 0)
			return -1;
	} else if (c == '<' && p + 1 < end && p[1] == '<') {
		if ((o = new_node(a, PDF_DICT, e)) == NULL || parse_container(a, &p, end, depth, o, e) != 0)
			return -1;
	} else if (c == '<') {
		if ((o = new_node(a, PDF_STRING, e)) == NULL || parse_hex(a, &p, end, o, e) != 0)
			return -1;
	} else if (c == '[') {
		if ((o = new_node(a, PDF_ARRAY, e)) == NULL || parse_container(a, &p, end, depth, o, e) != 0)
			return -1;
	} else if (c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9')) {
		/* A number; a non-negative integer may start "N G R". */
		unsigned long long num, gen;
		const unsigned char *q = p;
		if (read_uint(&q, end, &num)) {
			const unsigned char *r = pdf_skip_ws(q, end);
			if (read_uint(&r, end, &gen)) {
				r = pdf_skip_ws(r, end);
				if (r < end && *r == 'R' && pdf_keyword_at(r, end, "R")) {
					if (num > UINT32_MAX || gen > 65535)
						return efos_fail(e, EFOS_E_INVALID, "a PDF reference is out of range");
					if ((o = new_node(a, PDF_REF, e)) == NULL)
						return -1;
					o->i = (long long)num;
					o->gen = (unsigned)gen;
					p = r + 1;
					goto done;
				}
			}
		}
		bool neg = false, real = false;
		long long v = 0;
		if (*p == '+' || *p == '-')
			neg = *p++ == '-';
		const unsigned char *digits = p;
		while (p < end && ((*p >= '0' && *p <= '9') || *p == '.')) {
			if (*p == '.')
				real = true;
			else if (!real && v < (long long)1e17)
				v = v * 10 + (*p - '0');
			p++;
		}
		if (p == digits || (p < end && !is_ws(*p) && !is_delim(*p)))
			return efos_fail(e, EFOS_E_INVALID, "a PDF number is malformed");
		if ((o = new_node(a, real ? PDF_REAL : PDF_INT, e)) == NULL)
			return -1;
		o->i = neg ? -v : v;
	} else if (pdf_keyword_at(p, end, "true") || pdf_keyword_at(p, end, "false")) {
		if ((o = new_node(a, PDF_BOOL, e)) == NULL)
			return -1;
		o->i = *p == 't';
		p += o->i ? 4 : 5;
	} else if (pdf_keyword_at(p, end, "null")) {
		if ((o = new_node(a, PDF_NULL, e)) == NULL)
			return -1;
		p += 4;
	} else {
		return efos_fail(e, EFOS_E_INVALID, "unexpected bytes where a PDF object was expected");
	}
done:
	o->src = start;
	o->src_len = (size_t)(p - start);
	*pp = p;
	*out = o;
	return 0;
}

int pdf_parse_obj(struct pdf_arena *a, const unsigned char **p, const unsigned char *end, struct pdf_obj **out,
		  efos_err *e)
{
	return parse_at(a, p, end, 0, out, e);
}

struct pdf_obj *pdf_dict_get(const struct pdf_obj *d, const char *key)
{
	if (d == NULL || d->type != PDF_DICT)
		return NULL;
	for (size_t i = 0; i + 1 < d->n; i += 2)
		if (strcmp((const char *)d->items[i]->s, key) == 0)
			return d->items[i + 1];
	return NULL;
}

bool pdf_is_name(const struct pdf_obj *o, const char *name)
{
	return o != NULL && o->type == PDF_NAME && strcmp((const char *)o->s, name) == 0;
}
