/* UTF-8 checks for text taken from outside (SignMessage, DSS texts, certificate subject
 * values): well-formed UTF-8 without the control characters that have no place in it. */
#ifndef EFOS_CORE_UTF8_H
#define EFOS_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF) without NUL or C0 controls other than TAB/LF/CR: what XML 1.0 text may hold. */
bool utf8_text_ok(const unsigned char *s, size_t len);

/* The characters (not bytes) of the NUL-terminated s, or -1 when it has a C0 control or DEL or
 * a byte sequence that is not UTF-8 (lead byte and continuation bytes checked). */
long utf8_chars(const char *s);

#endif
