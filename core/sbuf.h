/* A growing NUL-terminated string buffer for building HTML and other text output, with HTML
 * escaping. An allocation failure is sticky (oom): later appends do nothing and sbuf_take
 * returns NULL, so builders check once at the end instead of after every append. */
#ifndef EFOS_CORE_SBUF_H
#define EFOS_CORE_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *p;        /* NUL-terminated once anything was appended; NULL before */
	size_t n, cap;
	bool oom;
};

void sbuf_add(struct sbuf *b, const char *s, size_t len);
void sbuf_str(struct sbuf *b, const char *s);
/* Appends s with & < > " ' replaced by their HTML character references (safe in text and in
 * quoted attribute values). sbuf_esc takes NULL as "". */
void sbuf_esc_n(struct sbuf *b, const char *s, size_t len);
void sbuf_esc(struct sbuf *b, const char *s);
/* The malloc'd string (the caller frees it; "" when nothing was appended), or NULL when memory
 * ran out (the buffer is freed then). */
char *sbuf_take(struct sbuf *b);

#endif
