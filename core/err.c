#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/err.h"

int efos_fail(efos_err *e, enum efos_errcode code, const char *fmt, ...)
{
	if (e == NULL)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	e->code = code;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int efos_wrap(efos_err *e, const char *fmt, ...)
{
	if (e == NULL)
		return -1;
	char prefix[EFOS_ERR_MSG_MAX], old[EFOS_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	snprintf(e->msg, sizeof e->msg, "%.*s: %.*s", 200, prefix, 300, old);
	if (e->code == EFOS_E_NONE)
		e->code = EFOS_E_INTERNAL;
	return -1;
}

void efos_err_clear(efos_err *e)
{
	if (e != NULL) {
		e->code = EFOS_E_NONE;
		e->msg[0] = '\0';
	}
}

int efos_err_http_status(enum efos_errcode code)
{
	switch (code) {
	case EFOS_E_NONE: return 200;
	case EFOS_E_INVALID: return 400;
	case EFOS_E_AUTH: return 403;
	case EFOS_E_NOTFOUND: return 404;
	case EFOS_E_CONFLICT: return 409;
	case EFOS_E_TOOBIG: return 413;
	case EFOS_E_UNAVAILABLE: return 503;
	case EFOS_E_CONFIG:
	case EFOS_E_INTERNAL: return 500;
	}
	return 500;
}

const char *efos_errcode_name(enum efos_errcode code)
{
	static const char *const names[] = {
		"none", "invalid", "auth", "notfound", "conflict", "toobig",
		"unavailable", "config", "internal",
	};
	if ((unsigned)code < sizeof names / sizeof names[0])
		return names[code];
	return "internal";
}

void efos_wipe(void *p, size_t n)
{
	if (p != NULL)
		explicit_bzero(p, n);
}

void efos_free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}
