/* bench_worker.c -- see bench_worker.h. The timer is the worker's link to
 * the main thread: every 10 ms it reads the shared phase and acts on a
 * change (RUN: the mode starts its load; DRAIN: wait until the mode has
 * nothing more in flight, close every connection with a closing handshake,
 * stop once all are gone). Everything else happens in connection callbacks.
 * Connections are opened at most MAX_PENDING at a time per thread, so a
 * burst of thousands does not overflow the server's accept queue, where
 * dropped SYNs would cost a one-second retransmit each. */
#include "bench_worker.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ws.h"

#define TICK_NS            (10 * 1000000ull)
#define MAX_PENDING        256
#define DRAIN_QUIET_NS     (2 * 1000000000ull)   /* nothing in flight came for this long */
#define DRAIN_MAX_NS       (60 * 1000000000ull)  /* a backlog still arriving: at most */
#define CLOSE_WAIT_NS      (3 * 1000000000ull)   /* for closing handshakes */
/* Generous: a /chat join costs the server a broadcast to every member, so
 * the last of a thousand subscribers may wait seconds for its answer. */
#define HANDSHAKE_TIMEOUT_MS 30000
#define CLOSE_TIMEOUT_MS   2000
#define ERRORS_SHOWN       10

const char BENCH_BYE[] = "bench over";

/* Messages on stderr are capped over the whole process, not per thread. */
static _Atomic int errors_shown;

static void say(const char *fmt, va_list ap)
{
    int shown = atomic_fetch_add(&errors_shown, 1);
    if (shown == ERRORS_SHOWN)
        fprintf(stderr, "wspulse bench: (more problems are counted, not shown)\n");
    if (shown >= ERRORS_SHOWN)
        return;
    char line[512], visible[2 * sizeof line];
    vsnprintf(line, sizeof line, fmt, ap);
    wsclient_visible(line, strlen(line), visible, sizeof visible);  /* a server's words */
    fprintf(stderr, "wspulse bench: %s\n", visible);
}

static void say_f(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say_f(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
}

void bench_error(struct bench_worker *w, const char *fmt, ...)
{
    bench_count(w, BENCH_ERRORS, 1);
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
}

/* --- opening ------------------------------------------------------------ */

/* --source-ips N: connection i comes from 127.0.0.(1 + i % N), each address
 * having its own ~28,000 ephemeral ports. */
static const char *source_ip(const struct bench_worker *w, uint64_t index, char *out)
{
    uint64_t n = w->opts->source_ips;
    if (n <= 1)
        return NULL;
    snprintf(out, 16, "127.0.0.%u", (unsigned)(1 + index % n));
    return out;
}

struct bench_conn *bench_connect(struct bench_worker *w, const struct wsclient_handler *handler,
                                 size_t size, uint64_t index)
{
    char ip[16];
    const char *err;
    uint64_t start = clock_mono_ns();
    struct wsclient *wc = wsclient_connect(&w->env, &w->opts->url, size, handler,
                                           source_ip(w, index, ip), NULL, &err);
    if (!wc) {
        bench_count(w, BENCH_FAILED, 1);
        say_f("connection %llu: %s", (unsigned long long)index, err);
        return NULL;
    }
    struct bench_conn *bc = (struct bench_conn *)wc;
    bc->w = w;
    bc->index = index;
    bc->start_ns = start;
    w->pending++;
    return bc;
}

static void check_ready(struct bench_worker *w);

static void open_more(struct bench_worker *w)
{
    if (!w->opts->mode->connect_in_setup || w->phase != BENCH_SETUP)
        return;
    while (w->next < w->share && w->pending < MAX_PENDING) {
        uint64_t index = w->first + w->next++;
        w->opts->mode->connect(w, index);
    }
}

void bench_conn_opened(struct bench_conn *bc)
{
    struct bench_worker *w = bc->w;
    w->pending--;
    bench_count(w, BENCH_OPENED, 1);
    bench_hist_record(&w->hs, clock_mono_ns() - bc->start_ns);
    open_more(w);
    check_ready(w);              /* at once: conns times its setup */
}

void bench_conn_failed(struct bench_conn *bc, const char *why)
{
    struct bench_worker *w = bc->w;
    w->pending--;
    if (w->closing)
        return;
    bench_count(w, BENCH_FAILED, 1);
    say_f("connection %llu failed: %s", (unsigned long long)bc->index, why);
    open_more(w);
    check_ready(w);
}

bool bench_conn_closed(struct bench_conn *bc)
{
    struct bench_worker *w = bc->w;
    const char *why = bc->wc.conn.end_reason;
    if (w->closing || why == BENCH_BYE)
        return true;
    bench_count(w, BENCH_DROPPED, 1);
    say_f("connection %llu closed early (code %u): %s", (unsigned long long)bc->index,
          bc->wc.conn.close_code, why ? why : "?");
    return false;
}

/* --- the phases --------------------------------------------------------- */

static bool settled(const struct bench_worker *w)
{
    return !w->opts->mode->connect_in_setup || (w->next == w->share && w->pending == 0);
}

static void check_ready(struct bench_worker *w)
{
    if (w->phase == BENCH_SETUP && !atomic_load_explicit(&w->ready_ns, memory_order_relaxed)
        && settled(w) && (!w->opts->mode->ready || w->opts->mode->ready(w)))
        atomic_store_explicit(&w->ready_ns, clock_mono_ns(), memory_order_release);
}

static void setup_step(struct bench_worker *w)
{
    open_more(w);
    check_ready(w);
}

/* A closing handshake for every open connection; a connect in progress is
 * simply dropped. */
static void close_all(struct bench_worker *w)
{
    w->closing = true;
    for (struct conn *c = w->env.all, *next; c; c = next) {
        next = c->next;
        if (c->phase == CONN_HTTP)
            conn_abort(c, BENCH_BYE);
        else if (c->phase == CONN_WS)
            ws_close(c, WS_CLOSE_NORMAL, BENCH_BYE);
    }
}

/* What is still in flight may be late rather than lost: wait while it keeps
 * arriving, and give up DRAIN_QUIET_NS after the last of it. */
static bool still_arriving(struct bench_worker *w, uint64_t now)
{
    uint64_t got = bench_counter(w, BENCH_MESSAGES);
    if (got != w->drain_seen) {
        w->drain_seen = got;
        w->deadline_ns = now + DRAIN_QUIET_NS;
    }
    return now < w->deadline_ns && now < w->drain_limit_ns;
}

static void drain_step(struct bench_worker *w, uint64_t now)
{
    if (!w->closing) {
        const struct bench_mode *m = w->opts->mode;
        if (m->drained && !m->drained(w) && still_arriving(w, now))
            return;
        close_all(w);
        w->deadline_ns = now + CLOSE_WAIT_NS;
    }
    if (w->env.count == 0 || now >= w->deadline_ns) {
        conn_env_abort_all(&w->env, BENCH_BYE);
        reactor_stop(&w->reactor);
    }
}

static void enter_phase(struct bench_worker *w, int phase, uint64_t now)
{
    int was = w->phase;
    w->phase = phase;
    if (phase == BENCH_RUN) {
        w->end_ns = atomic_load_explicit(&w->shared->end_ns, memory_order_relaxed);
        if (w->opts->mode->run)
            w->opts->mode->run(w);
    } else if (phase == BENCH_DRAIN) {
        if (was == BENCH_SETUP || now < w->end_ns)   /* interrupted: stop sending */
            w->end_ns = now;
        w->deadline_ns = now + DRAIN_QUIET_NS;
        w->drain_limit_ns = now + DRAIN_MAX_NS;
        w->drain_seen = bench_counter(w, BENCH_MESSAGES);
    }
}

static void worker_on_tick(struct reactor_timer *t, uint64_t expirations)
{
    (void)expirations;
    struct bench_worker *w = (struct bench_worker *)((char *)t
                                                     - offsetof(struct bench_worker, timer));
    uint64_t now = clock_mono_ns();
    if (++w->ticks % 10 == 0)
        conn_env_tick(&w->env);  /* handshake and closing deadlines */
    int phase = atomic_load_explicit(&w->shared->phase, memory_order_acquire);
    if (phase != w->phase)
        enter_phase(w, phase, now);
    if (w->phase == BENCH_SETUP)
        setup_step(w);
    if (w->opts->mode->tick)
        w->opts->mode->tick(w);
    if (w->phase == BENCH_DRAIN)
        drain_step(w, now);
}

/* --- the thread --------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct bench_worker *w = arg;
    conn_env_init(&w->env, &w->reactor);
    w->env.header_timeout_ms = HANDSHAKE_TIMEOUT_MS;
    w->env.close_timeout_ms = CLOSE_TIMEOUT_MS;
    w->timer.on_tick = worker_on_tick;
    if (reactor_timer_start(&w->reactor, &w->timer, TICK_NS) < 0) {
        perror("wspulse bench: timerfd");
        exit(1);
    }
    w->phase = BENCH_SETUP;
    setup_step(w);
    conn_flush_pending();
    if (reactor_run(&w->reactor) < 0)
        perror("wspulse bench: epoll_wait");
    reactor_timer_stop(&w->reactor, &w->timer);
    reactor_fini(&w->reactor);   /* frees the last connections */
    free(w->state);
    w->state = NULL;
    return NULL;
}

int bench_worker_start(struct bench_worker *w)
{
    if (reactor_init(&w->reactor) < 0)
        return errno;
    return pthread_create(&w->thread, NULL, worker_main, w);
}

void bench_worker_join(struct bench_worker *w)
{
    pthread_join(w->thread, NULL);
}
