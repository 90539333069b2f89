/* bench_report.c -- see bench_report.h. The progress line goes to stderr
 * so that stdout holds nothing but the summary, which a script can parse
 * (--json) while a person still watches the run. */
#include "bench_report.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

/* --- building the summary ------------------------------------------------ */

void bench_out_text(struct bench_out *o, const char *fmt, ...)
{
    size_t room = sizeof o->text - o->text_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->text + o->text_len, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->text_len += (size_t)n < room ? (size_t)n : room - 1;
}

const char *bench_ms(char *buf, uint64_t ns)
{
    double ms = (double)ns / 1e6;
    int decimals = ms < 1 ? 3 : ms < 10 ? 2 : ms < 100 ? 1 : 0;
    snprintf(buf, 16, "%.*f", decimals, ms);
    return buf;
}

void bench_out_latency(struct bench_out *o, const char *key, const struct bench_hist *h)
{
    static const struct { const char *name; double pct; } points[] = {
        { "p50", 50 }, { "p90", 90 }, { "p99", 99 }, { "max", 100 },
    };
    json_member_object(&o->json, key);
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        uint64_t ns = points[i].pct < 100 ? bench_hist_percentile(h, points[i].pct)
                                          : bench_hist_max(h);
        char ms[16];
        bench_out_text(o, "%s%s %s ms", i ? " " : "", points[i].name, bench_ms(ms, ns));
        json_member_fixed(&o->json, points[i].name, (double)ns / 1e6, 3);
    }
    json_object_end(&o->json);
}

static void common_json(const struct bench_result *r, struct bench_out *o)
{
    const struct bench_opts *opts = r->opts;
    struct json_writer *j = &o->json;
    json_member_uint(j, "errors", r->total[BENCH_ERRORS]);
    json_member_uint(j, "connect_failures", r->total[BENCH_FAILED]);
    json_member_uint(j, "dropped", r->total[BENCH_DROPPED]);
    json_member_fixed(j, "client_cpu_pct", r->cpu_pct, 1);
    json_member_fixed(j, "client_cpu_pct_per_thread", r->cpu_pct / (double)opts->threads, 1);
    if (r->server_cpu_pct >= 0)
        json_member_fixed(j, "server_cpu_pct", r->server_cpu_pct, 1);
    json_member_bool(j, "interrupted", r->interrupted);
}

static void common_text(const struct bench_result *r, struct bench_out *o)
{
    uint64_t threads = r->opts->threads;
    bench_out_text(o, "; client CPU %.0f%% (of 100%% per thread", r->cpu_pct);
    if (threads > 1)
        bench_out_text(o, ", %llu threads", (unsigned long long)threads);
    bench_out_text(o, ")");
    if (r->server_cpu_pct >= 0)
        bench_out_text(o, "; server CPU %.0f%%", r->server_cpu_pct);
    if (r->interrupted)
        bench_out_text(o, " [interrupted]");
}

void bench_report_summary(const struct bench_result *r, FILE *out)
{
    static struct bench_out o;           /* 6 KiB: not on the stack */
    memset(&o, 0, sizeof o);
    json_init(&o.json, o.json_buf, sizeof o.json_buf);
    json_object_begin(&o.json);
    json_member_cstr(&o.json, "mode", r->opts->mode->name);
    json_member_cstr(&o.json, "url", r->opts->url_text);
    json_member_uint(&o.json, "threads", r->opts->threads);
    json_member_fixed(&o.json, "seconds", r->seconds, 3);
    r->opts->mode->summary(r, &o);
    common_json(r, &o);
    common_text(r, &o);
    json_object_end(&o.json);
    if (!r->opts->json) {
        fprintf(out, "%s\n", o.text);
        return;
    }
    ssize_t n = json_finish(&o.json);
    if (n < 0)
        fprintf(out, "{\"error\":\"summary too long\"}\n");
    else
        fprintf(out, "%.*s\n", (int)n, o.json_buf);
}

/* --- the progress line ----------------------------------------------------- */

static int on_tty = -1;

void bench_report_progress(const struct bench_progress *p)
{
    if (on_tty < 0)
        on_tty = isatty(STDERR_FILENO);
    char line[256], ms[16];
    size_t n = (size_t)snprintf(line, sizeof line, "[%6.1f s] %s: ", p->elapsed_s, p->phase);
    if (p->unit)
        n += (size_t)snprintf(line + n, sizeof line - n, "%.0f %s, ", p->rate, p->unit);
    if (p->p99_label)
        n += (size_t)snprintf(line + n, sizeof line - n, "%s %s ms, ", p->p99_label,
                              bench_ms(ms, p->p99_ns));
    snprintf(line + n, sizeof line - n, "%llu/%llu conns, %llu problems",
             (unsigned long long)p->open, (unsigned long long)p->target,
             (unsigned long long)p->problems);
    fprintf(stderr, on_tty ? "\r\033[K%s" : "%s\n", line);
    fflush(stderr);
}

void bench_report_progress_end(void)
{
    if (on_tty > 0)
        fputc('\n', stderr);
    on_tty = -1;
}
