/* bench_ticks.c -- `wspulse bench ticks`: C clients on /ws for the
 * duration. Each tick's arrival is compared with the previous one on the
 * same connection: a gap is an inter-arrival time over --gap-ms, jitter is
 * |inter-arrival - --tick-ms|. And with its schedule: lateness is arrival
 * minus the tick's "timestamp_ms" (one machine, one wall clock; the stamp
 * is in whole milliseconds, so up to 1 ms of it is the stamp's rounding).
 * The server numbers each connection's ticks ("message_count" from 1 with
 * no holes, README), so a hole is a lost tick, which fails the run; gaps
 * alone do not (a stall is what this mode is for finding, and the summary
 * says how many). */
#include <string.h>

#include "bench.h"
#include "bench_report.h"
#include "bench_worker.h"
#include "clock.h"
#include "ws.h"

struct tick_conn {
    struct bench_conn bc;
    uint64_t last_ns;            /* arrival of the previous tick, 0: none yet */
    uint64_t last_count;         /* its message_count */
};

/* The unsigned number after key ("message_count":) anywhere in the tick;
 * false if there is none. */
static bool number_after(const uint8_t *data, size_t len, const char *key, uint64_t *n)
{
    size_t key_len = strlen(key);
    const uint8_t *p = memmem(data, len, key, key_len);
    if (!p)
        return false;
    const uint8_t *end = data + len;
    p += key_len;
    if (p == end || *p < '0' || *p > '9')
        return false;
    uint64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    *n = v;
    return true;
}

/* Now minus a tick's stamp; 0 for a stamp from the future (or out of any
 * clock's range: unsigned, so a wild one cannot overflow). */
static uint64_t lateness_ns(uint64_t stamp_ms)
{
    uint64_t now_ns = (uint64_t)clock_wall_us() * 1000u;
    if (stamp_ms > now_ns / 1000000u)
        return 0;
    return now_ns - stamp_ms * 1000000u;
}

static void check_count(struct tick_conn *tc, uint64_t count)
{
    struct bench_worker *w = tc->bc.w;
    if (tc->last_count && count > tc->last_count + 1)
        bench_count(w, BENCH_LOST, count - tc->last_count - 1);
    else if (tc->last_count && count <= tc->last_count)
        bench_error(w, "client %llu: message_count %llu after %llu",
                    (unsigned long long)tc->bc.index, (unsigned long long)count,
                    (unsigned long long)tc->last_count);
    tc->last_count = count;
}

static void tick_on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    (void)opcode;
    struct tick_conn *tc = (struct tick_conn *)c;
    struct bench_worker *w = tc->bc.w;
    uint64_t now = clock_mono_ns(), count, stamp_ms;
    if (!number_after(data, len, "\"message_count\":", &count) ||
        !number_after(data, len, "\"timestamp_ms\":", &stamp_ms)) {
        bench_error(w, "client %llu: a message without message_count or timestamp_ms (%zu bytes)",
                    (unsigned long long)tc->bc.index, len);
        return;
    }
    check_count(tc, count);
    bench_count(w, BENCH_MESSAGES, 1);
    bench_count(w, BENCH_BYTES, len);
    bench_hist_record(&w->lat, lateness_ns(stamp_ms));
    if (tc->last_ns) {
        uint64_t gap = now - tc->last_ns, tick = w->opts->tick_ms * 1000000u;
        bench_hist_record(&w->jit, gap > tick ? gap - tick : tick - gap);
        if (gap > w->opts->gap_ms * 1000000u)
            bench_count(w, BENCH_GAPS, 1);
    }
    tc->last_ns = now;
}

static void tick_on_open(struct conn *c)
{
    bench_conn_opened((struct bench_conn *)c);
}

static void tick_on_close(struct conn *c)
{
    bench_conn_closed((struct bench_conn *)c);
}

static void tick_on_fail(struct conn *c, const char *why)
{
    bench_conn_failed((struct bench_conn *)c, why);
}

static const struct wsclient_handler tick_handler = {
    .ep = {
        .name = "bench ticks",
        .max_message = BENCH_MAX_MESSAGE,
        .on_open = tick_on_open,
        .on_message = tick_on_message,
        .on_close = tick_on_close,
    },
    .on_fail = tick_on_fail,
};

static bool tick_connect(struct bench_worker *w, uint64_t index)
{
    return bench_connect(w, &tick_handler, sizeof(struct tick_conn), index) != NULL;
}

static void tick_summary(const struct bench_result *r, struct bench_out *o)
{
    const struct bench_opts *opts = r->opts;
    uint64_t clients = r->total[BENCH_OPENED];
    double expected = (double)clients * r->seconds * 1000.0 / (double)opts->tick_ms;
    bench_out_text(o, "ticks %llu clients x %llu ms: %llu ticks in %.1f s (expected %.0f), "
                   "%llu lost, %llu gaps over %llu ms, jitter ",
                   (unsigned long long)clients, (unsigned long long)opts->tick_ms,
                   (unsigned long long)r->n[BENCH_MESSAGES], r->seconds, expected,
                   (unsigned long long)r->total[BENCH_LOST],
                   (unsigned long long)r->n[BENCH_GAPS], (unsigned long long)opts->gap_ms);
    json_member_uint(&o->json, "clients", clients);
    json_member_uint(&o->json, "tick_ms", opts->tick_ms);
    json_member_uint(&o->json, "gap_ms", opts->gap_ms);
    json_member_uint(&o->json, "messages", r->n[BENCH_MESSAGES]);
    json_member_fixed(&o->json, "expected", expected, 0);
    json_member_uint(&o->json, "lost", r->total[BENCH_LOST]);
    json_member_uint(&o->json, "gaps", r->n[BENCH_GAPS]);
    bench_out_latency(o, "jitter_ms", r->jit);
    bench_out_text(o, ", late ");
    bench_out_latency(o, "late_ms", r->lat);
    bench_out_text(o, ", %llu errors", (unsigned long long)r->total[BENCH_ERRORS]);
}

static bool tick_failed(const struct bench_result *r)
{
    return r->total[BENCH_LOST] > 0 || r->n[BENCH_MESSAGES] == 0;
}

const struct bench_mode bench_ticks = {
    .name = "ticks",
    .path = "/ws",
    .default_connections = 100,
    .connect_in_setup = true,
    .rate_unit = "ticks/s",
    .progress_label = "jitter p99",
    .progress_hist = BENCH_HIST_JIT,
    .connect = tick_connect,
    .summary = tick_summary,
    .failed = tick_failed,
};
