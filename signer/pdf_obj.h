/* PDF object syntax (ISO 32000-1 §7.2-7.3), internal to signer/pdf.c and signer/pades.c: a
 * bounded lexer and parser that turns the text of one object into a small tree allocated in
 * an arena. Every node keeps the span of source text it came from, so that signer/pades.c can
 * copy a dictionary's entries verbatim into an incremental update. */
#ifndef EFOS_SIGNER_PDF_OBJ_H
#define EFOS_SIGNER_PDF_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

enum pdf_type { PDF_NULL, PDF_BOOL, PDF_INT, PDF_REAL, PDF_NAME, PDF_STRING, PDF_ARRAY, PDF_DICT, PDF_REF };

struct pdf_obj {
	enum pdf_type type;
	const unsigned char *src;  /* the object's source text */
	size_t src_len;
	long long i;               /* INT, BOOL; REF: the object number */
	unsigned gen;              /* REF */
	unsigned char *s;          /* NAME (decoded, NUL-terminated), STRING (decoded bytes, NUL added) */
	size_t s_len;
	struct pdf_obj **items;    /* ARRAY items; DICT: keys (NAME) and values alternating */
	size_t n;                  /* ARRAY: items; DICT: 2 x entries */
};

struct pdf_arena;
struct pdf_arena *pdf_arena_new(size_t max_nodes);
void pdf_arena_free(struct pdf_arena *a);

/* Parses one object at *p (whitespace and comments first), advancing *p past it. Bounded:
 * depth 32, at most the arena's node budget. */
int pdf_parse_obj(struct pdf_arena *a, const unsigned char **p, const unsigned char *end, struct pdf_obj **out,
		  efos_err *e);
/* Skips whitespace and comments. */
const unsigned char *pdf_skip_ws(const unsigned char *p, const unsigned char *end);
/* Does the keyword kw start at p (followed by a delimiter or the end)? */
bool pdf_keyword_at(const unsigned char *p, const unsigned char *end, const char *kw);

/* The value of key in a DICT (NULL if absent or d is not a DICT). */
struct pdf_obj *pdf_dict_get(const struct pdf_obj *d, const char *key);
bool pdf_is_name(const struct pdf_obj *o, const char *name);

#endif
