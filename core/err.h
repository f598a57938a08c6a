/* Errors: every function that can fail returns EFOS_OK (0) or -1 and fills an efos_err.
 * The code says what kind of failure it is, so the caller at the edge can map it to an HTTP
 * status, a SAML status or a DSS result; msg is a sentence a person can act on. */
#ifndef EFOS_CORE_ERR_H
#define EFOS_CORE_ERR_H

#include <stdarg.h>

enum efos_errcode {
	EFOS_E_NONE = 0,
	EFOS_E_INVALID,      /* bad input from the caller: 400 */
	EFOS_E_AUTH,         /* missing or bad credentials: 401/403 */
	EFOS_E_NOTFOUND,     /* 404 */
	EFOS_E_CONFLICT,     /* 409 */
	EFOS_E_TOOBIG,       /* 413 */
	EFOS_E_UNAVAILABLE,  /* a dependency (DB, HSM) is down: 503 */
	EFOS_E_CONFIG,       /* configuration problem: refuse to start */
	EFOS_E_INTERNAL,     /* a bug or an unexpected library failure: 500 */
};

#define EFOS_OK 0
#define EFOS_ERR_MSG_MAX 512

typedef struct efos_err {
	enum efos_errcode code;
	char msg[EFOS_ERR_MSG_MAX];
} efos_err;

/* Sets e (if non-NULL) and returns -1, so callers can write `return efos_fail(e, ...)`. */
int efos_fail(efos_err *e, enum efos_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "context: old message". Returns -1. */
int efos_wrap(efos_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void efos_err_clear(efos_err *e);
/* HTTP status that an error of this code maps to. */
int efos_err_http_status(enum efos_errcode code);
const char *efos_errcode_name(enum efos_errcode code);

/* Wipes secrets in a way the compiler may not remove. */
void efos_wipe(void *p, size_t n);
/* Wipes and frees a NUL-terminated secret string. */
void efos_free_secret(char *s);

#endif
