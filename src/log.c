/* log.c -- see log.h. A line is formatted into a stack buffer and written
 * with one write(); a line that does not fit is cut, never split. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "json.h"

#define LOG_LINE_MAX 2048

static struct {
    enum log_level  level;
    enum log_format format;
    const char     *path;        /* NULL: stderr */
    int             fd;
} logger = { LOG_INFO, LOG_FORMAT_TEXT, NULL, 2 };

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const level_labels[] = { "ERROR", "WARN", "INFO", "DEBUG" };

int log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_DEBUG; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int log_format_parse(const char *s)
{
    if (strcmp(s, "text") == 0)
        return LOG_FORMAT_TEXT;
    if (strcmp(s, "json") == 0)
        return LOG_FORMAT_JSON;
    return -1;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

int log_setup(enum log_level level, enum log_format format, const char *path)
{
    logger.level = level;
    logger.format = format;
    logger.path = path;
    if (!path)
        return 0;
    int fd = open_log(path);
    if (fd < 0)
        return -1;
    logger.fd = fd;
    return 0;
}

int log_reopen(void)
{
    if (!logger.path)
        return 0;
    int fd = open_log(logger.path);
    if (fd < 0)
        return -1;
    int old = logger.fd;
    logger.fd = fd;
    close(old);
    return 0;
}

bool log_enabled(enum log_level level)
{
    return level <= logger.level;
}

static size_t format_json(char *line, size_t cap, enum log_level level, const char *stamp,
                          const char *text, const struct log_field *fields, int count)
{
    struct json_writer w;
    json_init(&w, line, cap - 1);
    json_object_begin(&w);
    json_member_cstr(&w, "time", stamp);
    json_member_cstr(&w, "level", level_names[level]);
    json_member_cstr(&w, "msg", text);
    for (int i = 0; i < count; i++) {
        if (fields[i].str)
            json_member_cstr(&w, fields[i].key, fields[i].str);
        else
            json_member_int(&w, fields[i].key, fields[i].num);
    }
    json_object_end(&w);
    ssize_t n = json_finish(&w);
    if (n < 0)                   /* cut text: keep the line valid JSON */
        n = snprintf(line, cap - 1, "{\"time\":\"%s\",\"level\":\"%s\","
                     "\"msg\":\"(line too long)\"}", stamp, level_names[level]);
    return (size_t)n;
}

/* logfmt: key=value, quoted when the value has blanks or quotes. */
static size_t format_text_fields(char *out, size_t cap, const struct log_field *fields,
                                 int count)
{
    size_t n = 0;
    for (int i = 0; i < count && n < cap; i++) {
        int k;
        if (!fields[i].str)
            k = snprintf(out + n, cap - n, " %s=%lld", fields[i].key, fields[i].num);
        else if (fields[i].str[strcspn(fields[i].str, " \"=")] || !fields[i].str[0])
            k = snprintf(out + n, cap - n, " %s=\"%s\"", fields[i].key, fields[i].str);
        else
            k = snprintf(out + n, cap - n, " %s=%s", fields[i].key, fields[i].str);
        n += k > 0 ? (size_t)k : 0;
    }
    return n < cap ? n : cap;
}

static void emit(enum log_level level, const char *text, const struct log_field *fields,
                 int count)
{
    int saved_errno = errno;
    char line[LOG_LINE_MAX], stamp[32];
    clock_format_utc_ms(clock_wall_ms(), stamp);
    size_t n;
    if (logger.format == LOG_FORMAT_JSON) {
        n = format_json(line, sizeof line, level, stamp, text, fields, count);
    } else {
        int k = snprintf(line, sizeof line - 1, "%s %-5s %s", stamp, level_labels[level], text);
        n = k < (int)sizeof line - 1 ? (size_t)k : sizeof line - 2;
        n += format_text_fields(line + n, sizeof line - 1 - n, fields, count);
    }
    line[n++] = '\n';
    ssize_t unused = write(logger.fd, line, n);  /* nowhere to report a failure */
    (void)unused;
    errno = saved_errno;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char text[LOG_LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    emit(level, text, NULL, 0);
}

void log_fields(enum log_level level, const char *event, const struct log_field *fields,
                int count)
{
    if (log_enabled(level))
        emit(level, event, fields, count);
}
