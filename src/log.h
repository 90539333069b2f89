/* log.h -- levelled, timestamped log lines, as text or JSON, to stderr or a
 * file that SIGHUP reopens (for logrotate). Every line is one write(), so
 * lines from a crash are whole. */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Parse "error", "warn", "info", "debug" / "text", "json"; -1 if unknown. */
int log_level_parse(const char *s);
int log_format_parse(const char *s);

/* Configure; path NULL means stderr. Returns -1 (errno set) if the file
 * cannot be opened. */
int log_setup(enum log_level level, enum log_format format, const char *path);
/* Reopen the log file (SIGHUP); a no-op for stderr. */
int log_reopen(void);
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One event with named values: text as logfmt ("INFO close peer=1.2.3.4:5
 * code=1000 reason=\"peer closed\""), JSON as members beside "msg". */
struct log_field {
    const char *key;
    const char *str;             /* NULL: the value is num */
    long long   num;
};
void log_fields(enum log_level level, const char *event, const struct log_field *fields,
                int count);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
