/* bench_report.h -- what `wspulse bench` prints: the live progress line on
 * stderr, and the final summary on stdout as one line of text or one JSON
 * object (--json). A mode writes its own part of the summary through the
 * bench_out helpers, which build the text and the JSON side by side. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench.h"
#include "bench_hist.h"
#include "json.h"

/* The figures of one run, merged over the workers. */
struct bench_result {
    const struct bench_opts *opts;
    double seconds;                      /* the measured window */
    uint64_t n[BENCH_COUNTERS];          /* counted within the window */
    uint64_t total[BENCH_COUNTERS];      /* counted over the whole run */
    const struct bench_hist *lat, *jit, *hs;   /* recorded within the window */
    double cpu_pct;                      /* client user+sys over the window; 100 = a core */
    double server_cpu_pct;               /* the same for --pid, or -1 */
    long long rss_before, rss_after;     /* --pid: server VmRSS in bytes, or -1 */
    uint64_t published;                  /* fanout: messages sent by the publisher */
    bool interrupted;                    /* a signal, or a setup that stalled */
};

struct bench_out {
    char text[2048];
    size_t text_len;
    char json_buf[4096];
    struct json_writer json;             /* an object is open */
};

/* Append to the text line (printf-style; truncated when full). */
void bench_out_text(struct bench_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "p50 0.61 ms p90 0.90 ms p99 1.40 ms max 3.20 ms" to the text, and
 * "key": {"p50": 0.61, ...} (milliseconds) to the JSON. */
void bench_out_latency(struct bench_out *o, const char *key, const struct bench_hist *h);
/* Milliseconds from nanoseconds, 3 significant digits or so, into buf[16]. */
const char *bench_ms(char *buf, uint64_t ns);

/* Print the summary (mode, then the parts every mode shares). */
void bench_report_summary(const struct bench_result *r, FILE *out);

struct bench_progress {
    const char *phase;                   /* "opening", "warm-up", "run", "drain" */
    double elapsed_s;
    double rate;                         /* over the last interval */
    const char *unit;                    /* "msg/s"; NULL: no rate */
    const char *p99_label;               /* "p99", "jitter p99", NULL: none */
    uint64_t p99_ns;
    uint64_t open, target;               /* connections open / wanted */
    uint64_t problems;                   /* errors, failures, drops, losses */
};

/* One progress line on stderr: rewritten in place on a terminal, one line
 * per call otherwise. bench_report_progress_end() ends a rewritten line. */
void bench_report_progress(const struct bench_progress *p);
void bench_report_progress_end(void);

#endif
