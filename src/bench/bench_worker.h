/* bench_worker.h -- one thread of `wspulse bench`: its own reactor and
 * conn_env (conn.c keeps its scratch buffer and output batch per thread, so
 * threads share nothing there), its share of the connections, opened a few
 * hundred at a time, a 10 ms timer that follows the phase the main thread
 * sets, and the counters and histograms that only this thread writes and the
 * main thread reads while it runs. The modes build on the helpers here. */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench.h"
#include "bench_hist.h"
#include "conn.h"
#include "reactor.h"
#include "wsclient.h"

/* The reason we give when we close: an end we asked for, not a drop. */
extern const char BENCH_BYE[];

/* The largest message a bench connection accepts (ep.max_message). */
#define BENCH_MAX_MESSAGE (64ull << 20)

struct bench_conn {              /* first in every mode's connection */
    struct wsclient wc;
    struct bench_worker *w;
    uint64_t index;              /* global connection number, from 0 */
    uint64_t start_ns;           /* when the connect began */
};

struct bench_worker {
    /* Set by cli_bench.c before the thread starts. */
    const struct bench_opts *opts;
    struct bench_shared *shared;
    unsigned index;
    uint64_t first, share;       /* its connections: first .. first + share - 1 */

    /* The thread's own. */
    pthread_t thread;
    struct reactor reactor;
    struct conn_env env;
    struct reactor_timer timer;
    uint64_t next;               /* of its share, how many were started */
    uint32_t pending;            /* started, handshake not finished */
    int phase;                   /* the shared phase as this thread last saw it */
    bool closing;                /* closing its connections: their ends are expected */
    unsigned ticks;
    uint64_t end_ns;             /* stop sending (copied at RUN) */
    uint64_t deadline_ns;        /* DRAIN: give up waiting then */
    uint64_t drain_limit_ns;     /* ... and never later than this */
    uint64_t drain_seen;         /* messages counted when last looked at */
    void *state;                 /* the mode's own, freed with the worker */

    /* Read by the main thread while the worker runs. */
    _Atomic uint64_t ready_ns;   /* when setup was done, 0 until then */
    _Atomic uint64_t count[BENCH_COUNTERS];
    struct bench_hist lat;       /* message latency, or a whole cycle (handshakes) */
    struct bench_hist jit;       /* ticks: |inter-arrival - --tick-ms| */
    struct bench_hist hs;        /* connect to handshake done */
};

/* Start the thread; 0 or an errno value. */
int  bench_worker_start(struct bench_worker *w);
void bench_worker_join(struct bench_worker *w);

/* Count n more of k (from the worker's own thread only: one writer, so a
 * relaxed load and store, no locked instruction). */
static inline void bench_count(struct bench_worker *w, enum bench_counter k, uint64_t n)
{
    uint64_t v = atomic_load_explicit(&w->count[k], memory_order_relaxed);
    atomic_store_explicit(&w->count[k], v + n, memory_order_relaxed);
}

static inline uint64_t bench_counter(const struct bench_worker *w, enum bench_counter k)
{
    return atomic_load_explicit(&w->count[k], memory_order_relaxed);
}

/* Start connection number index to the URL with handler; the connection
 * is size bytes with struct bench_conn first. NULL if it could not even
 * start (counted as BENCH_FAILED and said on stderr). */
struct bench_conn *bench_connect(struct bench_worker *w, const struct wsclient_handler *handler,
                                 size_t size, uint64_t index);
/* For a mode's ep.on_open: count the handshake, time it, open more. */
void bench_conn_opened(struct bench_conn *bc);
/* For a mode's on_fail: count the failure (unless we are closing). */
void bench_conn_failed(struct bench_conn *bc, const char *why);
/* For a mode's ep.on_close: true if we closed it; otherwise it counts as
 * dropped (said on stderr) and false is returned. */
bool bench_conn_closed(struct bench_conn *bc);

/* Count an error and describe the first few on stderr. */
void bench_error(struct bench_worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
