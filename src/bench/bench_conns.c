/* bench_conns.c -- the two modes where connections themselves are the load.
 *
 * `conns`: open N WebSocket connections (a few hundred handshakes at a time
 * per thread), report the rate at which they opened, then hold them idle for
 * --hold seconds; with --pid, the server's VmRSS before and after gives its
 * memory per connection. Messages the endpoint sends (ticks, welcomes) are
 * read and dropped: an idle client is one that does not talk, not one that
 * stops reading.
 *
 * `handshakes`: C workers, each repeating connect, upgrade (§4), Close
 * (§7.1.2), and waiting until the server has closed the TCP connection
 * (§7.1.1: the server closes first, so its side keeps the TIME_WAIT and our
 * ports come free at once). A cycle counts only if its closing handshake
 * completed; its time runs from connect() to the end of the TCP connection. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "bench_report.h"
#include "bench_worker.h"
#include "clock.h"
#include "ws.h"

/* --- conns ------------------------------------------------------------------ */

static void idle_on_open(struct conn *c)
{
    bench_conn_opened((struct bench_conn *)c);
}

static void idle_on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    (void)c, (void)opcode, (void)data, (void)len;
}

static void idle_on_close(struct conn *c)
{
    bench_conn_closed((struct bench_conn *)c);
}

static void idle_on_fail(struct conn *c, const char *why)
{
    bench_conn_failed((struct bench_conn *)c, why);
}

static const struct wsclient_handler idle_handler = {
    .ep = {
        .name = "bench conns",
        .max_message = BENCH_MAX_MESSAGE,
        .on_open = idle_on_open,
        .on_message = idle_on_message,
        .on_close = idle_on_close,
    },
    .on_fail = idle_on_fail,
};

static bool conns_connect(struct bench_worker *w, uint64_t index)
{
    return bench_connect(w, &idle_handler, sizeof(struct bench_conn), index) != NULL;
}

static void mb_text(struct bench_out *o, long long bytes)
{
    bench_out_text(o, "%.1f MB", (double)bytes / 1e6);
}

static void conns_memory(const struct bench_result *r, struct bench_out *o)
{
    uint64_t opened = r->total[BENCH_OPENED];
    if (r->rss_before < 0 || r->rss_after < 0)
        return;
    double per_conn = opened ? (double)(r->rss_after - r->rss_before) / (double)opened : 0;
    bench_out_text(o, "; server RSS ");
    mb_text(o, r->rss_before);
    bench_out_text(o, " -> ");
    mb_text(o, r->rss_after);
    bench_out_text(o, ", %.0f B/conn", per_conn);
    json_member_int(&o->json, "server_rss_before", r->rss_before);
    json_member_int(&o->json, "server_rss_after", r->rss_after);
    json_member_fixed(&o->json, "server_bytes_per_conn", per_conn, 0);
}

static void conns_summary(const struct bench_result *r, struct bench_out *o)
{
    const struct bench_opts *opts = r->opts;
    double rate = r->seconds > 0 ? (double)r->n[BENCH_OPENED] / r->seconds : 0;
    bench_out_text(o, "conns %llu opened of %llu (%llu failed) in %.2f s: %.0f handshakes/s, "
                   "handshake ", (unsigned long long)r->total[BENCH_OPENED],
                   (unsigned long long)opts->connections,
                   (unsigned long long)r->total[BENCH_FAILED], r->seconds, rate);
    json_member_uint(&o->json, "connections", opts->connections);
    json_member_uint(&o->json, "opened", r->total[BENCH_OPENED]);
    json_member_fixed(&o->json, "handshakes_per_s", rate, 1);
    bench_out_latency(o, "handshake_ms", r->hs);
    bench_out_text(o, "; held %.1f s, %llu dropped", (double)opts->hold_ms / 1000,
                   (unsigned long long)r->total[BENCH_DROPPED]);
    json_member_fixed(&o->json, "hold_s", (double)opts->hold_ms / 1000, 3);
    conns_memory(r, o);
}

static bool conns_failed(const struct bench_result *r)
{
    return r->total[BENCH_OPENED] == 0;
}

const struct bench_mode bench_conns = {
    .name = "conns",
    .path = "/echo",
    .default_connections = 1000,
    .connect_in_setup = true,
    .measures_setup = true,
    .rate_unit = "handshakes/s",
    .progress_label = "handshake p99",
    .progress_hist = BENCH_HIST_HS,
    .connect = conns_connect,
    .summary = conns_summary,
    .failed = conns_failed,
};

/* --- handshakes -------------------------------------------------------------- */

static const struct wsclient_handler cycle_handler;

struct cycle_worker {            /* the workers whose last connect failed */
    uint64_t count;
    uint64_t index[];            /* their connection numbers, up to the share */
};

static struct cycle_worker *cycles_of(struct bench_worker *w)
{
    if (!w->state) {
        w->state = calloc(1, sizeof(struct cycle_worker) + w->share * sizeof(uint64_t));
        if (!w->state) {
            fprintf(stderr, "wspulse bench: out of memory\n");
            exit(1);
        }
    }
    return w->state;
}

/* A failed worker waits for the next tick (10 ms): a refused connect
 * must not turn into a busy loop. */
static void cycle_retry_later(struct bench_worker *w, uint64_t index)
{
    struct cycle_worker *st = cycles_of(w);
    st->index[st->count++] = index;
}

static void cycle_start(struct bench_worker *w, uint64_t index)
{
    if (w->phase != BENCH_RUN || w->closing || clock_mono_ns() >= w->end_ns)
        return;
    if (!bench_connect(w, &cycle_handler, sizeof(struct bench_conn), index))
        cycle_retry_later(w, index);
}

static void cycle_on_open(struct conn *c)
{
    bench_conn_opened((struct bench_conn *)c);
    ws_close(c, WS_CLOSE_NORMAL, BENCH_BYE);
}

static void cycle_on_close(struct conn *c)
{
    struct bench_conn *bc = (struct bench_conn *)c;
    struct bench_worker *w = bc->w;
    if (c->end_reason == BENCH_BYE) {
        bench_count(w, BENCH_MESSAGES, 1);
        bench_hist_record(&w->lat, clock_mono_ns() - bc->start_ns);
    } else {
        bench_conn_closed(bc);           /* no closing handshake: a drop */
    }
    cycle_start(w, bc->index);
}

static void cycle_on_fail(struct conn *c, const char *why)
{
    struct bench_conn *bc = (struct bench_conn *)c;
    bench_conn_failed(bc, why);
    cycle_retry_later(bc->w, bc->index);
}

static const struct wsclient_handler cycle_handler = {
    .ep = {
        .name = "bench handshakes",
        .max_message = BENCH_MAX_MESSAGE,
        .on_open = cycle_on_open,
        .on_message = idle_on_message,
        .on_close = cycle_on_close,
    },
    .on_fail = cycle_on_fail,
};

static void cycles_run(struct bench_worker *w)
{
    cycles_of(w);
    for (uint64_t i = 0; i < w->share; i++)
        cycle_start(w, w->first + i);
}

static void cycles_tick(struct bench_worker *w)
{
    struct cycle_worker *st = w->state;
    if (!st || w->phase != BENCH_RUN)
        return;
    uint64_t n = st->count;
    /* Those that fail again put themselves back, at most one per entry
     * already read: the list can be refilled while it is walked. */
    st->count = 0;
    for (uint64_t i = 0; i < n; i++)
        cycle_start(w, st->index[i]);
}

static void cycles_summary(const struct bench_result *r, struct bench_out *o)
{
    double rate = r->seconds > 0 ? (double)r->n[BENCH_MESSAGES] / r->seconds : 0;
    bench_out_text(o, "handshakes %llu workers: %.0f cycles/s (connect, upgrade, close), cycle ",
                   (unsigned long long)r->opts->connections, rate);
    json_member_uint(&o->json, "workers", r->opts->connections);
    json_member_uint(&o->json, "cycles", r->n[BENCH_MESSAGES]);
    json_member_fixed(&o->json, "cycles_per_s", rate, 1);
    bench_out_latency(o, "cycle_ms", r->lat);
    bench_out_text(o, ", upgrade ");
    bench_out_latency(o, "handshake_ms", r->hs);
    bench_out_text(o, ", %llu failed, %llu without a closing handshake",
                   (unsigned long long)r->total[BENCH_FAILED],
                   (unsigned long long)r->total[BENCH_DROPPED]);
}

static bool cycles_failed(const struct bench_result *r)
{
    return r->n[BENCH_MESSAGES] == 0;
}

const struct bench_mode bench_handshakes = {
    .name = "handshakes",
    .path = "/echo",
    .default_connections = 8,
    .rate_unit = "cycles/s",
    .progress_label = "cycle p99",
    .progress_hist = BENCH_HIST_LAT,
    .run = cycles_run,
    .tick = cycles_tick,
    .summary = cycles_summary,
    .failed = cycles_failed,
};
