/* cli_monitor.c -- `wspulse monitor [URL] [options]`: a headless
 * connectivity monitor for the /ws timestamp stream. It reports every gap
 * between arrivals longer than --gap-ms, reconnects with wsclient.h's
 * backoff when the stream drops, and prints a summary at the end; the exit
 * status says whether the gaps stayed within --max-gaps, so scripts and CI
 * can run it across a failover.
 *
 * Gaps are measured on the monotonic clock (a wall clock that is stepped
 * would invent or hide gaps). Within one connection the server's
 * message_count has no holes, so a jump in it is messages lost on the way;
 * a reconnect restarts the count at 1, so a gap across a reconnect runs from
 * the last message before the drop to the first after it, and what was
 * missed is estimated from the tick interval. Latency compares the server's
 * timestamp_ms with our wall clock: meaningful only when the two clocks
 * agree (the same machine, or both synchronised), hence "clock-based". */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "ws.h"
#include "wsclient.h"

#define MONITOR_DEFAULT_URL "ws://127.0.0.1:8970/ws"
#define SWEEP_MS            50
#define MONITOR_RETRY_CAP_MS 1000
#define MAX_MEMBERS         16
#define LATENCY_BUCKETS     10000        /* 1 ms each; slower ones share the last */
#define STAMP_MAX_MS        (1ll << 53)

static struct {
    struct ws_url url;
    char url_text[2400];
    uint64_t gap_ms, duration_ms, max_gaps;
    bool quiet;
    struct reactor reactor;
    struct conn_env env;
    struct reactor_timer sweep;
    struct wsclient *client;     /* NULL between connections */
    bool open, finishing;
    char refused[256];           /* a 4xx answer that ended the run; "": none */
    struct wsclient_retry retry;
    uint64_t start_ms, end_ms;   /* monotonic */
    /* The stream as last seen. */
    uint64_t last_arrival_ms;    /* monotonic; 0: no message yet */
    uint64_t last_count;
    bool fresh_connection;       /* no message yet on this connection */
    uint64_t first_count;        /* this connection's first message, for the tick */
    int64_t first_stamp_ms;
    double tick_ms;              /* the server's interval as measured; 0: unknown */
    char server[64];             /* "server" of the last tick (--instance) */
    /* Totals for the summary. */
    uint64_t messages, ignored, gaps, longest_gap_ms, reconnects, failed, opens;
    uint64_t latency_count, latency_negative;
    int64_t latency_max_ms;
    uint32_t latency[LATENCY_BUCKETS + 1];
} mon;

/* --- output -------------------------------------------------------------------- */

/* One event line: "[HH:MM:SS] text". Nothing under --quiet. */
static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
    if (mon.quiet)
        return;
    char hms[CLOCK_HMS_LEN + 1];
    clock_format_hms(clock_wall_ms(), hms);
    printf("[%s] ", hms);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* Text from the network may hold anything: show its controls, obey none. */
static void printable(const char *s, char *out, size_t cap)
{
    wsclient_visible(s, strlen(s), out, cap);
}

/* --- connecting and reconnecting ------------------------------------------ */

static void announce_retry(const char *what, const char *why)
{
    uint32_t delay_ms = wsclient_retry_schedule(&mon.retry, mon.env.now_ms);
    char safe[256];
    printable(why, safe, sizeof safe);
    event("%s (%s); reconnecting in %.1f s...", what, safe, delay_ms / 1000.0);
}

static const struct wsclient_handler handler;
static void finish(void);

static void start_connecting(void)
{
    const char *err;
    mon.open = false;
    mon.client = wsclient_connect(&mon.env, &mon.url, sizeof(struct wsclient), &handler, NULL,
                                  NULL, &err);
    if (!mon.client) {
        mon.failed++;
        announce_retry("cannot connect", err);
    }
}

static void on_open(struct conn *c)
{
    (void)c;
    mon.open = true;
    mon.fresh_connection = true;
    wsclient_retry_opened(&mon.retry, mon.env.now_ms);
    if (++mon.opens > 1) {
        mon.reconnects++;
        event("reconnected to %s (reconnect %llu)", mon.url_text,
              (unsigned long long)mon.reconnects);
    } else {
        event("connected to %s; reporting gaps over %llu ms", mon.url_text,
              (unsigned long long)mon.gap_ms);
    }
}

static void on_close(struct conn *c)
{
    mon.client = NULL;
    mon.open = false;
    if (mon.finishing) {
        reactor_stop(&mon.reactor);
        return;
    }
    char why[256];
    wsclient_describe_end(c, why, sizeof why);
    announce_retry("connection lost", why);
}

/* A 4xx is the URL or the request being wrong: retrying cannot help. */
static void on_fail(struct conn *c, const char *why)
{
    mon.client = NULL;
    if (mon.finishing) {
        reactor_stop(&mon.reactor);
        return;
    }
    mon.failed++;
    if (wsclient_refused_for_good(c)) {
        printable(why, mon.refused, sizeof mon.refused);
        fprintf(stderr, "wspulse monitor: %s: %s%s\n", mon.url_text, mon.refused,
                ((struct wsclient *)c)->untrusted
                ? " (--cacert FILE trusts another CA, --insecure skips the check)" : "");
        finish();
        return;
    }
    announce_retry("cannot connect", why);
}

/* --- the stream ----------------------------------------------------------------- */

static void record_gap(uint64_t gap_ms)
{
    mon.gaps++;
    if (gap_ms > mon.longest_gap_ms)
        mon.longest_gap_ms = gap_ms;
}

/* Messages that should have come in gap_ms, at the measured tick. */
static long missed_by_time(uint64_t gap_ms)
{
    if (mon.tick_ms <= 0)
        return -1;
    double ticks = (double)gap_ms / mon.tick_ms + 0.5;
    if (ticks > 1e15)            /* nonsense stamps: no overflowing cast */
        ticks = 1e15;
    long n = (long)ticks - 1;
    return n < 0 ? 0 : n;
}

static void report_gap(uint64_t gap_ms, uint64_t count)
{
    record_gap(gap_ms);
    if (!mon.fresh_connection) {
        uint64_t missed = count > mon.last_count ? count - mon.last_count - 1 : 0;
        event("gap %.3f s (message_count %llu -> %llu): %llu missed", gap_ms / 1000.0,
              (unsigned long long)mon.last_count, (unsigned long long)count,
              (unsigned long long)missed);
        return;
    }
    long missed = missed_by_time(gap_ms);
    if (missed >= 0)
        event("gap %.3f s across a reconnect: ~%ld missed (estimated from the %.0f ms tick)",
              gap_ms / 1000.0, missed, mon.tick_ms);
    else
        event("gap %.3f s across a reconnect", gap_ms / 1000.0);
}

static void record_latency(int64_t stamp_ms)
{
    int64_t latency_ms = clock_wall_ms() - stamp_ms;
    if (latency_ms < 0) {
        mon.latency_negative++;  /* the clocks disagree */
        latency_ms = 0;
    }
    if (mon.latency_count == 0 || latency_ms > mon.latency_max_ms)
        mon.latency_max_ms = latency_ms;
    mon.latency[latency_ms < LATENCY_BUCKETS ? latency_ms : LATENCY_BUCKETS]++;
    mon.latency_count++;
}

/* The tick as the server spaced this connection's messages, on its clock. */
static void measure_tick(uint64_t count, int64_t stamp_ms)
{
    if (mon.fresh_connection) {
        mon.first_count = count;
        mon.first_stamp_ms = stamp_ms;
    } else if (count > mon.first_count && stamp_ms >= mon.first_stamp_ms) {
        mon.tick_ms = (double)(stamp_ms - mon.first_stamp_ms) / (double)(count - mon.first_count);
    }
}

/* --instance NAME puts "server":"NAME" in each tick: say when it changes,
 * which is a failover behind a load balancer. */
static void note_server(const struct json_member *m, int n)
{
    const struct json_member *v = json_find(m, n, "server");
    char name[sizeof mon.server], safe[sizeof mon.server];
    ssize_t len = v ? json_string_value(v, name, sizeof name - 1) : -1;
    if (len < 0 || memchr(name, '\0', (size_t)len))   /* kept and compared as a C string */
        return;
    name[len] = '\0';
    if (strcmp(name, mon.server) == 0)
        return;
    printable(name, safe, sizeof safe);
    event("%s server %s", mon.server[0] ? "now served by" : "served by", safe);
    memcpy(mon.server, name, (size_t)len + 1);
}

/* A number member as an integer; false if missing or not a number. */
static bool number_member(const struct json_member *m, int n, const char *key, int64_t *out)
{
    const struct json_member *v = json_find(m, n, key);
    char text[32];
    if (!v || v->type != JSON_NUMBER || v->value.len >= sizeof text)
        return false;
    memcpy(text, v->value.p, v->value.len);
    text[v->value.len] = '\0';
    char *end;
    errno = 0;
    *out = strtoll(text, &end, 10);
    return errno == 0 && *end == '\0';
}

static void on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    (void)c;
    uint64_t now_ms = clock_mono_ms();
    struct json_member m[MAX_MEMBERS];
    int n = opcode == WS_OP_TEXT ? json_parse_object((const char *)data, len, m, MAX_MEMBERS)
                                 : -1;
    int64_t count, stamp_ms;
    /* A stamp outside 0..2^53 (what JavaScript's numbers hold exactly) is
     * not a time, and would overflow the latency and tick arithmetic. */
    if (n < 0 || !number_member(m, n, "message_count", &count) || count < 0
        || !number_member(m, n, "timestamp_ms", &stamp_ms) || stamp_ms < 0
        || stamp_ms > STAMP_MAX_MS) {
        mon.ignored++;           /* not a tick: nothing to measure */
        return;
    }
    if (mon.last_arrival_ms && now_ms - mon.last_arrival_ms > mon.gap_ms)
        report_gap(now_ms - mon.last_arrival_ms, (uint64_t)count);
    measure_tick((uint64_t)count, stamp_ms);
    record_latency(stamp_ms);
    note_server(m, n);
    mon.messages++;
    mon.last_arrival_ms = now_ms;
    mon.last_count = (uint64_t)count;
    mon.fresh_connection = false;
}

static const struct wsclient_handler handler = {
    .ep = {
        .name = "monitor",
        .max_message = 64u << 10,
        .on_open = on_open,
        .on_message = on_message,
        .on_close = on_close,
    },
    .on_fail = on_fail,
};

/* --- the end ---------------------------------------------------------------------- */

/* The smallest latency (ms) that pct percent of the samples do not exceed. */
static uint64_t latency_percentile(double pct)
{
    uint64_t want = (uint64_t)(pct / 100.0 * (double)mon.latency_count + 0.999999);
    uint64_t seen = 0;
    for (uint64_t ms = 0; ms <= LATENCY_BUCKETS; ms++) {
        seen += mon.latency[ms];
        if (seen >= want && seen > 0)
            return ms;
    }
    return LATENCY_BUCKETS;
}

static void print_latency(void)
{
    if (mon.latency_count == 0) {
        printf("  delivery latency (clock-based): no samples\n");
        return;
    }
    printf("  delivery latency (clock-based): p50 %llu ms, p90 %llu ms, p99 %llu ms, "
           "max %lld ms\n", (unsigned long long)latency_percentile(50),
           (unsigned long long)latency_percentile(90),
           (unsigned long long)latency_percentile(99), (long long)mon.latency_max_ms);
    if (mon.latency_negative)
        printf("  (%llu message(s) stamped in our future: the clocks disagree)\n",
               (unsigned long long)mon.latency_negative);
}

/* Exit status: 0 if the gaps stayed within --max-gaps and anything arrived. */
static int verdict(void)
{
    if (mon.refused[0]) {
        printf("  result      FAIL: %s\n", mon.refused);
        return 1;
    }
    if (mon.messages == 0) {
        printf("  result      FAIL: no timestamp message arrived\n");
        return 1;
    }
    if (mon.gaps > mon.max_gaps) {
        printf("  result      FAIL: %llu gap(s), more than --max-gaps %llu\n",
               (unsigned long long)mon.gaps, (unsigned long long)mon.max_gaps);
        return 1;
    }
    printf("  result      OK: %llu gap(s), within --max-gaps %llu\n",
           (unsigned long long)mon.gaps, (unsigned long long)mon.max_gaps);
    return 0;
}

static int print_summary(void)
{
    printf("summary of %s over %.1f s\n", mon.url_text, (mon.end_ms - mon.start_ms) / 1000.0);
    printf("  messages    %llu\n", (unsigned long long)mon.messages);
    if (mon.ignored)
        printf("  ignored     %llu (not timestamp messages)\n", (unsigned long long)mon.ignored);
    printf("  gaps        %llu (over %llu ms)\n", (unsigned long long)mon.gaps,
           (unsigned long long)mon.gap_ms);
    printf("  longest gap %.3f s\n", mon.longest_gap_ms / 1000.0);
    printf("  reconnects  %llu (%llu failed attempt(s))\n", (unsigned long long)mon.reconnects,
           (unsigned long long)mon.failed);
    print_latency();
    int rc = verdict();
    fflush(stdout);
    return rc;
}

/* Stop: a gap still open now counts too (the stream may never come back). */
static void finish(void)
{
    if (mon.finishing)
        return;
    mon.finishing = true;
    mon.end_ms = clock_mono_ms();
    if (mon.last_arrival_ms && mon.end_ms - mon.last_arrival_ms > mon.gap_ms) {
        record_gap(mon.end_ms - mon.last_arrival_ms);
        event("gap %.3f s still open at the end", (mon.end_ms - mon.last_arrival_ms) / 1000.0);
    }
    if (mon.client && mon.open)
        ws_close(&mon.client->conn, WS_CLOSE_NORMAL, "monitor done");   /* on_close stops */
    else if (mon.client)
        conn_abort(&mon.client->conn, "monitor done");                  /* on_fail stops */
    else
        reactor_stop(&mon.reactor);
}

/* --- the loop --------------------------------------------------------------------- */

static void on_sweep(struct reactor_timer *t, uint64_t expirations)
{
    (void)t, (void)expirations;
    conn_env_tick(&mon.env);
    conn_flush_pending();
    if (mon.duration_ms && !mon.finishing && mon.env.now_ms - mon.start_ms >= mon.duration_ms)
        finish();
    if (!mon.client && !mon.finishing && wsclient_retry_due(&mon.retry, mon.env.now_ms))
        start_connecting();
}

static void on_signal(int signo)
{
    (void)signo;
    if (mon.finishing)           /* asked twice: stop waiting for the server */
        reactor_stop(&mon.reactor);
    finish();
}

static int setup(void)
{
    /* A ping every 10 s: the ticks keep the connection busy, and a dead
     * peer shows within 20 s. */
    mon.sweep.on_tick = on_sweep;
    if (wsclient_loop_init(&mon.reactor, &mon.env, &mon.sweep, SWEEP_MS, 10000, on_signal) < 0)
        return -1;
    /* Reconnect at most MONITOR_RETRY_CAP_MS apart: a gap is measured to the
     * first message after the outage, so a long backoff would inflate it. */
    mon.retry.cap_ms = MONITOR_RETRY_CAP_MS;
    mon.start_ms = mon.env.now_ms;
    return 0;
}

/* --- the command line ------------------------------------------------------------- */

static void usage(const struct config_option *opts)
{
    printf("usage: wspulse monitor [URL | --host ADDR --port N] [options]\n\n"
           "Watch a wspulse timestamp stream (default URL %s; a URL without a\n"
           "path means /ws; wss:// needs a build with make TLS=1) and report every\n"
           "gap between messages longer than --gap-ms, with the messages missed.\n"
           "Reconnects by itself, with backoff capped at 1 s so that a gap is measured\n"
           "close to the outage; a gap across a reconnect runs from the\n"
           "last message before the drop to the first after it. At the end (--duration,\n"
           "Ctrl+C or SIGTERM) prints a summary: messages, gaps, longest gap, reconnects,\n"
           "delivery latency (server timestamp against our clock).\n\n",
           MONITOR_DEFAULT_URL);
    config_print_options(stdout, opts);
    printf("\nExit status: 0 if at most --max-gaps gaps were seen (the default 0 allows\n"
           "none) and at least one message arrived; 1 otherwise, and at once when the\n"
           "server refuses with a 4xx status (such as 404: no stream there) or its\n"
           "certificate is not trusted (wss://); 2 for a bad option or URL. Refused\n"
           "connections, other TLS failures and 5xx answers are retried.\n");
}

/* Returns 0 to go on, -1 after --help, or the exit status. */
static int parse_args(int argc, char **argv)
{
    const char *host = NULL, *cacert = NULL;
    uint64_t port = 0;
    bool insecure = false;
    mon.gap_ms = 150;
    const struct config_option opts[] = {
        { "gap-ms", "MS", CONFIG_UINT, &mon.gap_ms, 1, 3600000,
          "report a gap when messages are further apart than this" },
        { "duration", "S", CONFIG_MS, &mon.duration_ms, 0, 1000000000ull,
          "stop after S seconds (0: until Ctrl+C or SIGTERM)" },
        { "max-gaps", "N", CONFIG_UINT, &mon.max_gaps, 0, UINT32_MAX,
          "exit with status 1 if more gaps than this were seen (default 0)" },
        { "quiet", NULL, CONFIG_FLAG, &mon.quiet, 0, 0,
          "print only the summary" },
        { "host", "ADDR", CONFIG_STRING, &host, 0, 0,
          "server address instead of a URL (default " WSCLIENT_DEFAULT_HOST ")" },
        { "port", "N", CONFIG_UINT, &port, 1, 65535,
          "server port instead of a URL (default 8970)" },
        { "cacert", "FILE", CONFIG_STRING, &cacert, 0, 0, WSCLIENT_CACERT_HELP },
        { "insecure", NULL, CONFIG_FLAG, &insecure, 0, 0, WSCLIENT_INSECURE_HELP },
        { 0 },
    };
    char *positional[1] = { NULL };
    int n = config_parse(opts, argc, argv, 2, positional, 1, "monitor");
    if (n == -2) {
        usage(opts);
        return -1;
    }
    if (n < 0)
        return 2;
    if (n > 0 && (host || port)) {
        config_error("monitor", host ? "host" : "port", "give a URL or --host/--port, not both");
        return 2;
    }
    const char *why;
    if (ws_url_from_args(&mon.url, n > 0 ? positional[0] : NULL, host, (uint16_t)port, "/ws",
                         &why) < 0) {
        fprintf(stderr, "wspulse monitor: bad URL '%s': %s (see --help)\n",
                n > 0 ? positional[0] : host, why);
        return 2;
    }
    ws_url_format(&mon.url, mon.url_text, sizeof mon.url_text);
    return wsclient_tls_setup("monitor", &mon.url, cacert, insecure);
}

int cli_monitor(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    signal(SIGPIPE, SIG_IGN);    /* a write to a closed peer is an error code */
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT, NULL);
    if (setup() < 0) {
        fprintf(stderr, "wspulse monitor: cannot set up the event loop: %s\n", strerror(errno));
        return 1;
    }
    start_connecting();
    if (reactor_run(&mon.reactor) < 0)
        return 1;
    reactor_fini(&mon.reactor);
    return print_summary();
}
