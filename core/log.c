#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "core/log.h"

static char log_node[64] = "efos";
static enum log_level log_min = LOG_LVL_INFO;
static FILE *log_fp;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread char log_reqid[64];

void log_init(const char *node, enum log_level min_level)
{
	if (node != NULL)
		snprintf(log_node, sizeof log_node, "%s", node);
	log_min = min_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

int log_open_file(const char *path)
{
	if (path == NULL) {
		log_fp = NULL;
		return 0;
	}
	FILE *fp = fopen(path, "a");
	if (fp == NULL)
		return -1;
	setvbuf(fp, NULL, _IOLBF, 0);
	log_fp = fp;
	return 0;
}

void log_set_request_id(const char *id)
{
	snprintf(log_reqid, sizeof log_reqid, "%s", id ? id : "");
}

const char *log_request_id(void)
{
	return log_reqid;
}

size_t json_escape(char *dst, size_t cap, const char *s)
{
	size_t n = 0;
	if (cap == 0)
		return 0;
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char tmp[8];
		const char *rep = NULL;
		switch (c) {
		case '"': rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		default:
			if (c < 0x20) {
				snprintf(tmp, sizeof tmp, "\\u%04x", c);
				rep = tmp;
			}
		}
		size_t len = rep ? strlen(rep) : 1;
		if (n + len >= cap)
			break;
		if (rep)
			memcpy(dst + n, rep, len);
		else
			dst[n] = (char)c;
		n += len;
	}
	dst[n] = '\0';
	return n;
}

void log_write(enum log_level lvl, const char *kv, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	if (lvl < log_min)
		return;
	char msg[2048], esc[4096], ts[40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_escape(esc, sizeof esc, msg);

	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", now.tv_nsec / 1000000);

	pthread_mutex_lock(&log_lock);
	FILE *fp = log_fp ? log_fp : stderr;
	fprintf(fp, "{\"time\":\"%s\",\"level\":\"%s\",\"node\":\"%s\"", ts, names[lvl], log_node);
	if (log_reqid[0] != '\0')
		fprintf(fp, ",\"request_id\":\"%s\"", log_reqid);
	fprintf(fp, ",\"msg\":\"%s\"", esc);
	if (kv != NULL && kv[0] != '\0')
		fprintf(fp, ",%s", kv);
	fputs("}\n", fp);
	fflush(fp);
	pthread_mutex_unlock(&log_lock);
}
