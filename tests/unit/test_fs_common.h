/* Shared by the unit tests that hand files to outside tools (xmlsec1, xmllint, openssl, pdfsig)
 * or read them back: a private temporary directory, files and PEM certificates written into it,
 * and a shell command run from a format. Header-only because each tests/unit/test_*.c is one
 * program. */
#ifndef EFOS_TEST_FS_COMMON_H
#define EFOS_TEST_FS_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* dir (cap bytes) becomes a fresh /tmp/<prefix>-XXXXXX. */
static inline void test_tmpdir_make(char *dir, size_t cap, const char *prefix)
{
	snprintf(dir, cap, "/tmp/%s-XXXXXX", prefix);
	assert_non_null(mkdtemp(dir));
}

/* 0 when dir and all in it are gone. */
static inline int test_tmpdir_remove(const char *dir)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static inline void test_write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static inline void test_write_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
}

/* The shell command from fmt; its system() status. */
static inline int test_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int test_run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

#endif
