/* bench.h -- what the parts of `wspulse bench` share, and what a mode
 * implements (like endpoint.h for the server, this header has no .c of its
 * own). The parts: cli_bench.c parses the options and runs the timeline
 * (setup, warm-up, measurement, drain) from the main thread; bench_worker.c
 * runs one reactor per thread with its share of the connections;
 * bench_report.c prints the progress line and the summary; bench_echo.c,
 * bench_fanout.c, bench_conns.c and bench_ticks.c are the modes.
 *
 * How a figure is measured: every worker counts everything, all the time, in
 * counters and histograms only it writes; the main thread copies them when
 * the warm-up ends and when the measurement ends, and reports the
 * difference. Workers need not know about the warm-up at all. */
#ifndef BENCH_H
#define BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "wsclient.h"

enum bench_counter {
    BENCH_MESSAGES,              /* echoes verified, deliveries, ticks, cycles done */
    BENCH_BYTES,                 /* payload bytes of those */
    BENCH_SENT,                  /* messages sent: echo frames, fanout publications */
    BENCH_OPENED,                /* WebSocket handshakes completed */
    BENCH_FAILED,                /* connections that never opened */
    BENCH_DROPPED,               /* open connections that closed before the end */
    BENCH_ERRORS,                /* wrong or unexpected messages */
    BENCH_LOST,                  /* messages that never came (fanout, ticks) */
    BENCH_GAPS,                  /* ticks: an inter-arrival time over --gap-ms */
    BENCH_COUNTERS
};

struct bench_opts {
    const struct bench_mode *mode;
    struct ws_url url;
    char url_text[2400];
    uint64_t connections;        /* subscribers (fanout), workers (handshakes) */
    uint64_t duration_ms;
    uint64_t threads;
    uint64_t warmup_ms;
    bool json, quiet;
    bool binary;                 /* echo: binary messages instead of text */
    uint64_t in_flight, size;    /* echo */
    uint64_t rate;               /* fanout: publications per second */
    uint64_t pid;                /* the server, for its memory and CPU (0: none) */
    uint64_t hold_ms;            /* conns */
    uint64_t source_ips;         /* bind to 127.0.0.1 .. 127.0.0.N in turn (0/1: don't) */
    uint64_t gap_ms, tick_ms;    /* ticks */
    uint64_t max_failures;       /* connect failures tolerated before exit status 1, */
    bool max_failures_pct;       /* ... as a count or as a percentage of attempts */
};

enum bench_phase {
    BENCH_SETUP,                 /* opening connections, waiting for welcomes */
    BENCH_RUN,                   /* the load runs (warm-up, then measured) */
    BENCH_DRAIN,                 /* stop sending, collect what is in flight, close */
};

/* Shared by the main thread and the workers. The main thread writes the
 * times before it sets the phase to RUN (release), workers read them after
 * seeing it (acquire). */
struct bench_shared {
    _Atomic int      phase;      /* enum bench_phase */
    _Atomic uint64_t run_ns;     /* monotonic time RUN began */
    _Atomic uint64_t end_ns;     /* monotonic time to stop sending */
    _Atomic uint64_t settled;    /* fanout: subscribers welcomed or failed */
    _Atomic uint64_t published;  /* fanout: messages the publisher sent */
    _Atomic bool     publish_done;
    void            *mode_data;  /* read-only after prepare (echo: the frame pool);
                                    one block, freed with free() at the end */
};

enum bench_hist_id { BENCH_HIST_LAT, BENCH_HIST_JIT, BENCH_HIST_HS };

struct bench_worker;
struct bench_result;
struct bench_out;

struct bench_mode {
    const char *name;
    const char *path;            /* used when the URL has no path */
    uint64_t default_connections;
    uint64_t extra_connections;  /* opened beyond -c (the fanout publisher) */
    bool connect_in_setup;       /* open the worker's share before RUN */
    bool measures_setup;         /* the figures are of the setup (conns), not of RUN */
    const char *rate_unit;       /* what BENCH_MESSAGES counts, for "N msg/s" */
    const char *progress_label;  /* the percentile on the progress line: "p99" */
    enum bench_hist_id progress_hist;
    /* Main thread, before the workers start: check the options, build
     * shared read-only data into s->mode_data. Returns 0 or an exit status. */
    int  (*prepare)(struct bench_opts *o, struct bench_shared *s);
    /* Start connection number index (global); false if it could not start
     * (bench_connect counted the failure). */
    bool (*connect)(struct bench_worker *w, uint64_t index);
    /* Setup is done for this worker (optional: all its connections settled). */
    bool (*ready)(struct bench_worker *w);
    void (*run)(struct bench_worker *w);       /* RUN began (optional) */
    void (*tick)(struct bench_worker *w);      /* every 10 ms (optional) */
    /* DRAIN: true once nothing more is expected (optional: at once). */
    bool (*drained)(struct bench_worker *w);
    /* The mode's part of the summary. */
    void (*summary)(const struct bench_result *r, struct bench_out *o);
    /* Exit status 1? (beyond errors, drops, losses and failures). */
    bool (*failed)(const struct bench_result *r);
};

extern const struct bench_mode bench_echo;
extern const struct bench_mode bench_fanout;
extern const struct bench_mode bench_conns;
extern const struct bench_mode bench_handshakes;
extern const struct bench_mode bench_ticks;

#endif
