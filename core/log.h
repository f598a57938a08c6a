/* Structured logging: one JSON object per line on stderr (or a file), with time, level,
 * node, the current request id (thread-local, set by the HTTP layer) and a message.
 * Extra fields are passed as a preformatted JSON fragment: log_info_kv("\"route\":\"/x\"", ...). */
#ifndef EFOS_CORE_LOG_H
#define EFOS_CORE_LOG_H

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_init(const char *node, enum log_level min_level);
/* "debug" | "info" | "warn" | "error" -> level; returns -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);
/* Redirect to a file (append); NULL means stderr. Returns -1 on failure. */
int log_open_file(const char *path);

/* The request id of the calling thread ("" when none). The HTTP layer sets and clears it. */
void log_set_request_id(const char *id);
const char *log_request_id(void);

/* kv: NULL or a JSON fragment of extra members without braces, e.g. "\"status\":200". */
void log_write(enum log_level lvl, const char *kv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(...) log_write(LOG_LVL_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LVL_INFO, NULL, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LVL_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_write(LOG_LVL_ERROR, NULL, __VA_ARGS__)

/* Appends s to dst as a JSON string body (escaped, no quotes); returns bytes written,
 * truncating safely at cap. Used by log and by anything else that emits JSON text by hand. */
size_t json_escape(char *dst, size_t cap, const char *s);

#endif
