/* cli_bench.c -- `wspulse bench MODE [URL] [options]`, the load generator:
 * the options, and the timeline the main thread runs while the workers
 * (bench_worker.c, one reactor per thread) make the load.
 *
 * Timeline: SETUP (workers open their connections; the main thread waits
 * until every worker says it is ready, or gives up when nothing moves for
 * STALL_NS), RUN (--warmup, then the measured --duration), DRAIN (workers
 * stop sending, collect what is in flight, close with a closing handshake).
 * The main thread copies the workers' counters and histograms at the
 * boundaries and reports the differences; it also prints the progress line
 * once a second. It sleeps the rest of the time: on a two-core machine the
 * load generator's core is precious. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "bench_proc.h"
#include "bench_report.h"
#include "bench_worker.h"
#include "cli.h"
#include "clock.h"
#include "config.h"

#define DEFAULT_URL   "ws://127.0.0.1:8970"
#define PORTS_PER_IP  28000              /* the ephemeral range of one source address */
#define FDS_SPARE     32
#define SEC_NS        1000000000ull
#define STALL_NS      (30 * SEC_NS)      /* setup with no progress this long: give up */
#define POLL_NS       (10 * 1000000ull)
#define MAX_THREADS   64

static const struct bench_mode *const modes[] = {
    &bench_echo, &bench_fanout, &bench_conns, &bench_handshakes, &bench_ticks,
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

/* --- options -------------------------------------------------------------- */

struct raw_opts {                /* what needs checking before it goes into opts */
    const char *max_failures;
    uint64_t subscribers;
    bool text;
    const char *cacert;          /* wss:// */
    bool insecure;
};

static void usage(FILE *f, const struct config_option *table)
{
    fprintf(f,
        "usage: wspulse bench MODE [URL] [options]\n\n"
        "Load for a WebSocket server. URL defaults to " DEFAULT_URL "; a URL without\n"
        "a path gets the mode's (/echo, /chat, /ws); wss:// needs make TLS=1.\n\n"
        "modes:\n"
        "  echo        C connections x --in-flight messages of --size bytes to /echo,\n"
        "              every echo checked byte for byte: msg/s, MB/s, latency\n"
        "  fanout      --subscribers on /chat and one publisher at --rate msg/s:\n"
        "              deliveries/s, loss, delivery latency\n"
        "  conns       open C idle connections and hold them: handshakes/s while\n"
        "              opening; with --pid, the server's memory per connection\n"
        "  handshakes  C workers doing connect, upgrade, close: cycles/s\n"
        "  ticks       C clients on /ws: gaps over --gap-ms, jitter against --tick-ms,\n"
        "              lateness against the ticks' timestamp_ms\n\n"
        "options (-c, -d and -T are short for --connections, --duration, --threads):\n");
    config_print_options(f, table);
    fprintf(f, "\nThe summary goes to stdout (one line, or one JSON object with --json), the\n"
               "progress line to stderr. Exit status: 0 ok, 1 errors (mismatched echoes, lost\n"
               "messages, dropped connections, connect failures over --max-failures), 2 bad\n"
               "options.\n");
}

static int option_table(struct config_option *t, struct bench_opts *o, struct raw_opts *raw)
{
    const struct config_option table[] = {
        { "connections", "N", CONFIG_UINT, &o->connections, 1, 1000000,
          "how many (echo 64, fanout 100, conns 1000, handshakes 8, ticks 100)" },
        { "duration", "S", CONFIG_MS, &o->duration_ms, 100, 1000000000, "measured seconds" },
        { "threads", "N", CONFIG_UINT, &o->threads, 1, MAX_THREADS,
          "threads, each with its own loop and share of the connections" },
        { "warmup", "S", CONFIG_MS, &o->warmup_ms, 0, 1000000000,
          "seconds of load before the measurement (excluded from the figures)" },
        { "json", NULL, CONFIG_FLAG, &o->json, 0, 0, "print the summary as one JSON object" },
        { "quiet", NULL, CONFIG_FLAG, &o->quiet, 0, 0, "no progress line" },
        { "in-flight", "N", CONFIG_UINT, &o->in_flight, 1, 65536,
          "echo: messages in flight per connection" },
        { "size", "BYTES", CONFIG_BYTES, &o->size, 0, 16u << 20,
          "echo: message size; fanout: pad each message's text to this (up to 60K)" },
        { "text", NULL, CONFIG_FLAG, &raw->text, 0, 0, "echo: text messages (the default)" },
        { "binary", NULL, CONFIG_FLAG, &o->binary, 0, 0, "echo: binary messages" },
        { "rate", "N", CONFIG_UINT, &o->rate, 1, 1000000, "fanout: messages a second" },
        { "subscribers", "N", CONFIG_UINT, &raw->subscribers, 1, 1000000,
          "fanout: subscribers (the same as -c)" },
        { "pid", "PID", CONFIG_UINT, &o->pid, 1, 1u << 22,
          "the server's process: its CPU, and for conns its memory (VmRSS)" },
        { "hold", "S", CONFIG_MS, &o->hold_ms, 0, 1000000000,
          "conns: seconds to hold the connections open (default: --duration)" },
        { "source-ips", "N", CONFIG_UINT, &o->source_ips, 1, 254,
          "connect from 127.0.0.1 .. 127.0.0.N in turn (automatic past 28,000)" },
        { "gap-ms", "MS", CONFIG_UINT, &o->gap_ms, 1, 3600000, "ticks: a gap is longer than this" },
        { "tick-ms", "MS", CONFIG_UINT, &o->tick_ms, 1, 3600000, "ticks: the server's --tick-ms" },
        { "max-failures", "N|P%", CONFIG_STRING, &raw->max_failures, 0, 0,
          "connect failures tolerated before exit status 1" },
        { "cacert", "FILE", CONFIG_STRING, &raw->cacert, 0, 0, WSCLIENT_CACERT_HELP },
        { "insecure", NULL, CONFIG_FLAG, &raw->insecure, 0, 0, WSCLIENT_INSECURE_HELP },
        { 0 },
    };
    int n = (int)(sizeof table / sizeof table[0]) - 1;
    memcpy(t, table, sizeof table);
    return n;
}

/* The table, then the short forms, then the end. */
static void add_short(struct config_option *t, int *n, const char *name, const char *of)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(t[i].name, of) == 0) {
            t[*n] = t[i];
            t[*n].name = name;
            (*n)++;
            t[*n] = (struct config_option){0};
            return;
        }
}

static const struct bench_mode *find_mode(const char *name)
{
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(modes[i]->name, name) == 0)
            return modes[i];
    return NULL;
}

static int bad(const char *what, const char *detail)
{
    fprintf(stderr, "wspulse bench: %s%s%s (see --help)\n", what, detail ? ": " : "",
            detail ? detail : "");
    return 2;
}

/* "N" or "P%" into opts: max_failures, and whether it is a percentage. */
static int parse_max_failures(const char *s, struct bench_opts *o)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    bool pct = *end == '%';
    if (end == s || *s == '-' || (pct ? end[1] != '\0' : *end != '\0') || (pct && v > 100)) {
        config_error("bench", "max-failures", "must be a count or a percentage like 1%");
        return 2;
    }
    o->max_failures = v;
    o->max_failures_pct = pct;
    return 0;
}

/* Four decimal numbers joined by dots, nothing after, the first 127. */
static bool loopback_v4(const char *host)
{
    const char *p = host;
    unsigned long first = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0 && *p++ != '.')
            return false;
        if (*p < '0' || *p > '9')
            return false;
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (part == 0)
            first = v;
        p = end;
    }
    return *p == '\0' && first == 127;
}

/* Every fd the run needs must fit under the hard limit; raise the soft one. */
static int check_files(const struct bench_opts *o)
{
    struct rlimit rl;
    uint64_t need = o->connections + o->mode->extra_connections + FDS_SPARE + 4 * o->threads;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
        fprintf(stderr, "wspulse bench: %llu connections need about %llu open files; the limit "
                "here is %llu (ulimit -n): run several bench processes\n",
                (unsigned long long)o->connections, (unsigned long long)need,
                (unsigned long long)rl.rlim_cur);
        return 2;
    }
    return 0;
}

/* URL, TLS, path, source addresses, threads, limits. With wss:// every
 * connection of every thread makes its own TLS session from one context. */
static int check_opts(struct bench_opts *o, const struct raw_opts *raw, const char *url)
{
    const char *why;
    if (ws_url_parse(url, &o->url, &why) < 0)
        return bad("bad URL", why);
    if (wsclient_tls_setup("bench", &o->url, raw->cacert, raw->insecure) != 0)
        return 2;
    if (strcmp(o->url.path, "/") == 0)
        snprintf(o->url.path, sizeof o->url.path, "%s", o->mode->path);
    ws_url_format(&o->url, o->url_text, sizeof o->url_text);
    bool v4 = loopback_v4(o->url.host);
    if (!o->source_ips && o->connections > PORTS_PER_IP && v4)
        o->source_ips = (o->connections + PORTS_PER_IP - 1) / PORTS_PER_IP;
    if (o->source_ips > 1 && !v4)
        return bad("--source-ips needs a server on a 127.x.x.x address", NULL);
    if (o->threads > o->connections)
        o->threads = o->connections;
    if (o->pid && bench_proc_rss((long)o->pid) < 0)
        return bad("--pid: cannot read /proc/PID/status of that process", NULL);
    if (o->mode == &bench_conns && !o->hold_ms)
        o->hold_ms = o->duration_ms;
    return check_files(o);
}

/* Fill o from argv; 0, or the exit status to leave with (*done then). */
static int parse_options(struct bench_opts *o, int argc, char **argv, bool *done)
{
    struct raw_opts raw = { .max_failures = "1%" };
    struct config_option table[32];
    *o = (struct bench_opts){ .duration_ms = 10000, .threads = 1, .in_flight = 1, .size = 16,
                              .rate = 100, .gap_ms = 150, .tick_ms = 100 };
    int n = option_table(table, o, &raw), long_forms = n;
    add_short(table, &n, "c", "connections");
    add_short(table, &n, "d", "duration");
    add_short(table, &n, "T", "threads");
    char *pos[2] = { NULL, NULL };
    *done = true;
    int npos = config_parse(table, argc, argv, 2, pos, 2, "bench");
    if (npos == -2) {
        table[long_forms] = (struct config_option){0};    /* --help: no short forms */
        usage(stdout, table);
        return 0;
    }
    if (npos < 0)
        return 2;
    if (npos == 0)
        return bad("which mode? echo, fanout, conns, handshakes or ticks", NULL);
    o->mode = find_mode(pos[0]);
    if (!o->mode)
        return bad("unknown mode", pos[0]);
    if (raw.text && o->binary)
        return bad("--text and --binary together", NULL);
    if (raw.subscribers)
        o->connections = raw.subscribers;
    if (!o->connections)
        o->connections = o->mode->default_connections;
    int rc = parse_max_failures(raw.max_failures, o);
    if (rc)
        return rc;
    rc = check_opts(o, &raw, pos[1] ? pos[1] : DEFAULT_URL);
    if (rc)
        return rc;
    *done = false;
    return 0;
}

/* --- the timeline ----------------------------------------------------------- */

struct snapshot {                /* everything the workers counted, at one moment */
    uint64_t ns;
    uint64_t n[BENCH_COUNTERS];
    struct bench_hist hist[3];   /* by enum bench_hist_id */
    uint64_t cpu_ns;
    long long server_cpu_ns;     /* -1: no --pid */
};

struct bench_run {
    struct bench_opts *opts;
    struct bench_shared shared;
    struct bench_worker *workers;
    unsigned count;
    uint64_t start_ns;
    uint64_t next_progress_ns;
    struct snapshot *prev, *cur; /* for the progress line */
    struct bench_hist scratch;
};

static void take(struct snapshot *s, const struct bench_run *run)
{
    memset(s, 0, sizeof *s);
    s->ns = clock_mono_ns();
    for (unsigned i = 0; i < run->count; i++) {
        const struct bench_worker *w = &run->workers[i];
        for (int k = 0; k < BENCH_COUNTERS; k++)
            s->n[k] += bench_counter(w, (enum bench_counter)k);
        bench_hist_add(&s->hist[BENCH_HIST_LAT], &w->lat);
        bench_hist_add(&s->hist[BENCH_HIST_JIT], &w->jit);
        bench_hist_add(&s->hist[BENCH_HIST_HS], &w->hs);
    }
    s->cpu_ns = bench_proc_self_cpu_ns();
    s->server_cpu_ns = run->opts->pid ? bench_proc_cpu_ns((long)run->opts->pid) : -1;
}

static uint64_t problems(const uint64_t *n)
{
    return n[BENCH_ERRORS] + n[BENCH_FAILED] + n[BENCH_DROPPED] + n[BENCH_LOST];
}

static void progress(struct bench_run *run, const char *phase)
{
    const struct bench_mode *m = run->opts->mode;
    bool setup = strcmp(phase, "opening") == 0;
    struct snapshot *now = run->cur, *then = run->prev;
    take(now, run);
    double dt = (double)(now->ns - then->ns) / 1e9;
    enum bench_counter k = setup ? BENCH_OPENED : BENCH_MESSAGES;
    enum bench_hist_id h = setup ? BENCH_HIST_HS : m->progress_hist;
    bench_hist_copy(&run->scratch, &now->hist[h]);
    bench_hist_sub(&run->scratch, &then->hist[h]);
    struct bench_progress p = {
        .phase = phase,
        .elapsed_s = (double)(now->ns - run->start_ns) / 1e9,
        .rate = dt > 0 ? (double)(now->n[k] - then->n[k]) / dt : 0,
        .unit = setup ? "handshakes/s" : m->measures_setup ? NULL : m->rate_unit,
        .p99_label = !bench_hist_total(&run->scratch) ? NULL
                     : setup ? "handshake p99" : m->progress_label,
        .p99_ns = bench_hist_percentile(&run->scratch, 99),
        .open = now->n[BENCH_OPENED] - now->n[BENCH_DROPPED],
        .target = run->opts->connections + m->extra_connections,
        .problems = problems(now->n),
    };
    if (!m->connect_in_setup)
        p.open = p.target;       /* handshakes: each worker has one at a time */
    bench_report_progress(&p);
    run->cur = then;
    run->prev = now;
}

static void sleep_until(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / SEC_NS), (long)(ns % SEC_NS) };
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);   /* EINTR: fine */
}

/* Sleep until deadline, printing progress; false if a signal came first. */
static bool wait_until(struct bench_run *run, uint64_t deadline, const char *phase)
{
    while (!stop_requested) {
        uint64_t now = clock_mono_ns();
        if (now >= deadline)
            return true;
        if (now >= run->next_progress_ns) {
            if (!run->opts->quiet)
                progress(run, phase);
            run->next_progress_ns += SEC_NS;
        }
        sleep_until(deadline < run->next_progress_ns ? deadline : run->next_progress_ns);
    }
    return false;
}

/* 0 until every worker is ready, then when the last one became ready. */
static uint64_t all_ready(const struct bench_run *run)
{
    uint64_t last = 0;
    for (unsigned i = 0; i < run->count; i++) {
        uint64_t t = atomic_load_explicit(&run->workers[i].ready_ns, memory_order_acquire);
        if (!t)
            return 0;
        last = t > last ? t : last;
    }
    return last;
}

static uint64_t sum(const struct bench_run *run, enum bench_counter k)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < run->count; i++)
        n += bench_counter(&run->workers[i], k);
    return n;
}

/* Wait for setup; returns when it ended (0: interrupted or stalled). */
static uint64_t wait_setup(struct bench_run *run)
{
    uint64_t mark = UINT64_MAX, moved_ns = clock_mono_ns();
    for (;;) {
        uint64_t done = all_ready(run), now = clock_mono_ns();
        if (done || stop_requested)
            return done;
        uint64_t now_mark = sum(run, BENCH_OPENED) + sum(run, BENCH_FAILED)
                          + atomic_load_explicit(&run->shared.settled, memory_order_relaxed);
        if (now_mark != mark) {
            mark = now_mark;
            moved_ns = now;
        } else if (now - moved_ns > STALL_NS) {
            fprintf(stderr, "wspulse bench: setup stalled: %llu of %llu connections open\n",
                    (unsigned long long)sum(run, BENCH_OPENED),
                    (unsigned long long)run->opts->connections);
            return 0;
        }
        if (now >= run->next_progress_ns) {
            if (!run->opts->quiet)
                progress(run, "opening");
            run->next_progress_ns += SEC_NS;
        }
        sleep_until(now + POLL_NS);
    }
}

static void start_workers(struct bench_run *run)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);    /* signals go to the main thread */
    uint64_t n = run->opts->connections;
    for (unsigned i = 0; i < run->count; i++) {
        struct bench_worker *w = &run->workers[i];
        w->opts = run->opts;
        w->shared = &run->shared;
        w->index = i;
        w->first = n * i / run->count;
        w->share = n * (i + 1) / run->count - w->first;
        int err = bench_worker_start(w);
        if (err) {
            fprintf(stderr, "wspulse bench: cannot start a thread: %s\n", strerror(err));
            exit(1);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void stop_workers(struct bench_run *run, uint64_t end_ns)
{
    uint64_t now = clock_mono_ns();
    atomic_store_explicit(&run->shared.end_ns, end_ns < now ? end_ns : now,
                          memory_order_relaxed);
    atomic_store_explicit(&run->shared.phase, BENCH_DRAIN, memory_order_release);
    for (unsigned i = 0; i < run->count; i++)
        bench_worker_join(&run->workers[i]);
}

/* The figures between snapshots a and b; totals from fin. */
static void fill_result(struct bench_result *r, const struct snapshot *a, const struct snapshot *b,
                        const struct snapshot *fin, struct bench_hist h[3])
{
    for (int k = 0; k < BENCH_COUNTERS; k++) {
        r->n[k] = b->n[k] - a->n[k];
        r->total[k] = fin->n[k];
    }
    for (int i = 0; i < 3; i++) {
        bench_hist_copy(&h[i], &b->hist[i]);
        bench_hist_sub(&h[i], &a->hist[i]);
    }
    r->lat = &h[BENCH_HIST_LAT];
    r->jit = &h[BENCH_HIST_JIT];
    r->hs = &h[BENCH_HIST_HS];
    double wall = (double)(b->ns - a->ns);
    r->cpu_pct = wall > 0 ? 100.0 * (double)(b->cpu_ns - a->cpu_ns) / wall : 0;
    r->server_cpu_pct = -1;
    if (wall > 0 && a->server_cpu_ns >= 0 && b->server_cpu_ns >= 0)
        r->server_cpu_pct = 100.0 * (double)(b->server_cpu_ns - a->server_cpu_ns) / wall;
}

static int exit_status(const struct bench_result *r, bool stalled)
{
    const struct bench_opts *o = r->opts;
    uint64_t failed = r->total[BENCH_FAILED];
    uint64_t allowed = o->max_failures;
    if (o->max_failures_pct)
        allowed = (r->total[BENCH_OPENED] + failed) * o->max_failures / 100;
    if (stalled || r->total[BENCH_ERRORS] || r->total[BENCH_DROPPED] || failed > allowed
        || o->mode->failed(r))
        return 1;
    return 0;
}

/* RUN: warm-up, then the measurement; s[2] and s[3] are its two ends. */
static bool run_phase(struct bench_run *run, struct snapshot *s, uint64_t *end)
{
    const struct bench_opts *o = run->opts;
    bool setup_only = o->mode->measures_setup;
    uint64_t now = clock_mono_ns();
    uint64_t measure = now + (setup_only ? 0 : o->warmup_ms * 1000000u);
    *end = measure + (setup_only ? o->hold_ms : o->duration_ms) * 1000000u;
    atomic_store_explicit(&run->shared.run_ns, now, memory_order_relaxed);
    atomic_store_explicit(&run->shared.end_ns, *end, memory_order_relaxed);
    atomic_store_explicit(&run->shared.phase, BENCH_RUN, memory_order_release);
    bool ok = wait_until(run, measure, "warm-up");
    take(&s[2], run);
    ok = ok && wait_until(run, *end, setup_only ? "holding" : "run");
    take(&s[3], run);
    return ok;
}

static void install_signals(void)
{
    struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESETHAND };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);    /* a second Ctrl+C ends it at once */
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);        /* a write to a closed peer is an error code */
}

/* s[0] start, s[1] setup done, s[2] warm-up done, s[3] end, s[4] after the
 * drain (totals), s[5] and s[6] for the progress line. */
static int run_bench(struct bench_run *run, struct snapshot *s, struct bench_hist h[3])
{
    const struct bench_opts *o = run->opts;
    struct bench_result r = { .opts = o, .rss_before = -1, .rss_after = -1 };
    install_signals();
    if (o->pid)
        r.rss_before = bench_proc_rss((long)o->pid);
    take(&s[0], run);
    memcpy(&s[5], &s[0], sizeof s[0]);
    run->prev = &s[5];
    run->cur = &s[6];
    run->start_ns = s[0].ns;
    run->next_progress_ns = s[0].ns + SEC_NS;
    start_workers(run);
    uint64_t ready = wait_setup(run), end = 0;
    bool stalled = !ready && !stop_requested;
    take(&s[1], run);
    memcpy(&s[2], &s[1], sizeof s[1]);
    memcpy(&s[3], &s[1], sizeof s[1]);
    if (ready && o->mode->connect_in_setup && s[1].n[BENCH_OPENED] == 0) {
        fprintf(stderr, "wspulse bench: no connection opened\n");
        ready = 0;           /* nothing to measure: straight to the summary */
    }
    r.interrupted = !ready || !run_phase(run, s, &end);
    if (o->pid)
        r.rss_after = bench_proc_rss((long)o->pid);
    stop_workers(run, end);
    if (!o->quiet)
        bench_report_progress_end();
    take(&s[4], run);
    if (o->mode->measures_setup) {
        fill_result(&r, &s[0], &s[1], &s[4], h);
        r.seconds = (double)((ready ? ready : s[1].ns) - s[0].ns) / 1e9;
    } else {
        fill_result(&r, &s[2], &s[3], &s[4], h);
        r.seconds = (double)(s[3].ns - s[2].ns) / 1e9;
    }
    r.published = atomic_load(&run->shared.published);
    bench_report_summary(&r, stdout);
    fflush(stdout);
    return exit_status(&r, stalled);
}

int cli_bench(int argc, char **argv)
{
    static struct bench_opts opts;
    bool done;
    int rc = parse_options(&opts, argc, argv, &done);
    if (done)
        return rc;
    struct bench_run *run = calloc(1, sizeof *run);
    struct snapshot *s = calloc(7, sizeof *s);
    struct bench_hist *h = calloc(3, sizeof *h);
    if (run)
        run->workers = calloc(opts.threads, sizeof *run->workers);
    if (!run || !s || !h || !run->workers) {
        fprintf(stderr, "wspulse bench: out of memory\n");
        return 1;
    }
    run->opts = &opts;
    run->count = (unsigned)opts.threads;
    rc = opts.mode->prepare ? opts.mode->prepare(&opts, &run->shared) : 0;
    if (rc == 0)
        rc = run_bench(run, s, h);
    free(run->shared.mode_data);
    free(run->workers);
    free(run);
    free(s);
    free(h);
    return rc;
}
