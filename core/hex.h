/* Hexadecimal digits: lowercase hex of bytes (SHA-256 fingerprints, bytea parameters passed as
 * decode($n, 'hex'), serials) and the value of one hex digit (percent-escapes in URLs and PKCS#11
 * URIs, PDF hex strings). */
#ifndef EFOS_CORE_HEX_H
#define EFOS_CORE_HEX_H

#include <stddef.h>

/* Writes the 2n lowercase hex digits of b[0..n) and a NUL to out (2n + 1 bytes). */
void hex_encode(const unsigned char *b, size_t n, char *out);

/* 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for anything else. */
int hex_digit(int c);

#endif
