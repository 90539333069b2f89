/* bench_fanout.c -- `wspulse bench fanout`: N subscribers in the /chat room
 * and one publisher sending at --rate messages a second. Each message
 * carries its send time and a sequence number in its text,
 * "bench t=<monotonic ns> seq=<n>", and the sender "bench-<pid>", so that a
 * subscriber can time the delivery (one monotonic clock serves every thread
 * of the process) and notice a hole, and other people's chat is ignored.
 *
 * Order of events: every subscriber connects and waits for its "Welcome!"
 * (the server's first message to a member); once all are in, worker 0
 * connects the publisher, and setup ends with the publisher's own welcome,
 * so no join announcement is in flight when the measurement starts. At the
 * end the publisher stops, and the workers wait until each subscriber has
 * the last message (or a deadline passes) before closing: what never came
 * is lost, and any loss fails the run. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench_report.h"
#include "bench_worker.h"
#include "clock.h"
#include "ws.h"

#define PACE_MIN_NS  1000000ull          /* the publisher's clock: 1 to 10 ms */
#define PACE_MAX_NS  10000000ull

struct fan_conn {
    struct bench_conn bc;
    bool publisher;
    bool welcomed;
    uint64_t next_seq;           /* the sequence number expected next */
};

struct fan_worker {
    struct bench_worker *worker;
    struct fan_conn *publisher;  /* worker 0 only */
    bool publisher_ready;
    bool publishing;             /* the pace timer runs */
    uint64_t welcomed;           /* own subscribers welcomed */
    uint64_t sent;
    uint64_t run_ns;
    int pid;                     /* ours, in the sender name ("bench-PID") */
    struct reactor_timer pace;
};

static struct fan_worker *state_of(struct bench_worker *w)
{
    if (!w->state) {
        w->state = calloc(1, sizeof(struct fan_worker));
        if (!w->state) {
            fprintf(stderr, "wspulse bench: out of memory\n");
            exit(1);
        }
        ((struct fan_worker *)w->state)->worker = w;
        ((struct fan_worker *)w->state)->pid = (int)getpid();
    }
    return w->state;
}

#define FANOUT_MAX_SIZE (60u << 10)   /* /chat takes 64 KiB per message */

/* --- the publisher --------------------------------------------------------- */

/* --size pads the message text with dots up to that many bytes (a bigger
 * load per delivery); the tag and the fields stay first. */
static void publish(struct bench_worker *w, struct fan_worker *st, uint64_t now)
{
    static _Thread_local char text[FANOUT_MAX_SIZE + 160];
    int n = snprintf(text, sizeof text, "{\"type\":\"message\",\"message\":\"bench t=%llu seq=%llu",
                     (unsigned long long)now, (unsigned long long)st->sent);
    size_t size = w->opts->size < FANOUT_MAX_SIZE ? w->opts->size : FANOUT_MAX_SIZE;
    size_t pad = size > (size_t)n ? size - (size_t)n : 0;
    memset(text + n, '.', pad);
    n += (int)pad;
    n += snprintf(text + n, sizeof text - (size_t)n, "\",\"sender\":\"bench-%d\"}", st->pid);
    /* A client masks a copy (on the stack when small): no allocation then. */
    ws_send_copy(&st->publisher->bc.wc.conn, WS_OP_TEXT, text, (size_t)n);
    st->sent++;
    bench_count(w, BENCH_SENT, 1);
}

/* Idempotent; also run by worker 0 on DRAIN, so that the other workers
 * learn the final count even when nothing was ever published. */
static void stop_publishing(struct bench_worker *w, struct fan_worker *st)
{
    if (st->publishing) {
        st->publishing = false;
        reactor_timer_stop(&w->reactor, &st->pace);
    }
    atomic_store_explicit(&w->shared->published, st->sent, memory_order_relaxed);
    atomic_store_explicit(&w->shared->publish_done, true, memory_order_release);
}

/* Catch up with the schedule: message k is due k / rate seconds after RUN. */
static void pace_on_tick(struct reactor_timer *t, uint64_t expirations)
{
    (void)expirations;
    struct fan_worker *st = (struct fan_worker *)((char *)t - offsetof(struct fan_worker, pace));
    struct bench_worker *w = st->worker;
    uint64_t now = clock_mono_ns();
    if (now >= w->end_ns || w->phase != BENCH_RUN || !st->publisher
        || st->publisher->bc.wc.conn.phase != CONN_WS) {
        stop_publishing(w, st);
        return;
    }
    uint64_t due = (now - st->run_ns) / 1000u * w->opts->rate / 1000000u + 1;   /* in us */
    while (st->sent < due)
        publish(w, st, now);
    atomic_store_explicit(&w->shared->published, st->sent, memory_order_relaxed);
}

static void fan_run(struct bench_worker *w)
{
    struct fan_worker *st = state_of(w);
    if (!st->publisher || !st->publisher_ready)
        return;
    uint64_t rate = w->opts->rate;
    uint64_t interval = 1000000000u / rate;
    interval = interval < PACE_MIN_NS ? PACE_MIN_NS : interval > PACE_MAX_NS ? PACE_MAX_NS
                                                                              : interval;
    st->run_ns = clock_mono_ns();
    st->pace.on_tick = pace_on_tick;
    if (reactor_timer_start(&w->reactor, &st->pace, interval) < 0) {
        perror("wspulse bench: timerfd");
        exit(1);
    }
    st->publishing = true;
    publish(w, st, st->run_ns);          /* message 0 goes at once */
}

/* --- the subscribers ------------------------------------------------------------ */

static uint64_t parse_digits(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    while (*p < end && **p >= '0' && **p <= '9')
        v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v;
}

/* Ours? {"type":"message","message":"bench t=T seq=S","sender":"bench-PID",...} */
static bool parse_ours(const uint8_t *data, size_t len, uint64_t *t, uint64_t *seq)
{
    static const char tag[] = "\"message\":\"bench t=";
    static _Thread_local char sender[40];
    static _Thread_local size_t sender_len;
    if (!sender_len)
        sender_len = (size_t)snprintf(sender, sizeof sender, "\"sender\":\"bench-%d\"",
                                      (int)getpid());
    const uint8_t *end = data + len;
    const uint8_t *p = memmem(data, len, tag, sizeof tag - 1);
    if (!p || !memmem(data, len, sender, sender_len))
        return false;
    p += sizeof tag - 1;
    *t = parse_digits(&p, end);
    if (end - p < 5 || memcmp(p, " seq=", 5) != 0)
        return false;
    p += 5;
    *seq = parse_digits(&p, end);
    return true;
}

static void on_welcome(struct fan_conn *f)
{
    struct bench_worker *w = f->bc.w;
    struct fan_worker *st = state_of(w);
    f->welcomed = true;
    if (f->publisher) {
        st->publisher_ready = true;
        return;
    }
    st->welcomed++;
    atomic_fetch_add(&w->shared->settled, 1);
}

static void fan_on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    (void)opcode;
    struct fan_conn *f = (struct fan_conn *)c;
    struct bench_worker *w = f->bc.w;
    uint64_t t, seq;
    if (!f->welcomed) {
        if (memmem(data, len, "Welcome!", 8))
            on_welcome(f);
        return;
    }
    if (f->publisher || !parse_ours(data, len, &t, &seq))
        return;                  /* our own copies; joins, leaves, other people */
    uint64_t now = clock_mono_ns();
    if (seq < f->next_seq) {
        bench_error(w, "subscriber %llu: message %llu again, or out of order (expected %llu)",
                    (unsigned long long)f->bc.index, (unsigned long long)seq,
                    (unsigned long long)f->next_seq);
        return;
    }
    if (seq > f->next_seq)
        bench_count(w, BENCH_LOST, seq - f->next_seq);
    f->next_seq = seq + 1;
    bench_count(w, BENCH_MESSAGES, 1);
    bench_count(w, BENCH_BYTES, len);
    bench_hist_record(&w->lat, now - t);
}

static void fan_on_open(struct conn *c)
{
    bench_conn_opened((struct bench_conn *)c);
}

static void fan_on_close(struct conn *c)
{
    struct fan_conn *f = (struct fan_conn *)c;
    if (f->publisher) {
        struct fan_worker *st = state_of(f->bc.w);
        stop_publishing(f->bc.w, st);
        st->publisher = NULL;
    }
    bench_conn_closed(&f->bc);
}

static void fan_on_fail(struct conn *c, const char *why)
{
    struct fan_conn *f = (struct fan_conn *)c;
    struct bench_worker *w = f->bc.w;
    bool counted = !w->closing;
    bench_conn_failed(&f->bc, why);
    if (counted && !f->publisher)
        atomic_fetch_add(&w->shared->settled, 1);   /* nobody waits for it */
}

static const struct wsclient_handler fan_handler = {
    .ep = {
        .name = "bench fanout",
        .max_message = BENCH_MAX_MESSAGE,
        .on_open = fan_on_open,
        .on_message = fan_on_message,
        .on_close = fan_on_close,
    },
    .on_fail = fan_on_fail,
};

static bool fan_connect(struct bench_worker *w, uint64_t index)
{
    state_of(w);
    return bench_connect(w, &fan_handler, sizeof(struct fan_conn), index) != NULL;
}

/* --- the phases ---------------------------------------------------------------- */

/* Worker 0 brings in the publisher once every subscriber is settled. */
static void fan_tick(struct bench_worker *w)
{
    struct fan_worker *st = state_of(w);
    if (w->phase == BENCH_DRAIN && w->index == 0)
        stop_publishing(w, st);
    if (w->index != 0 || w->phase != BENCH_SETUP || st->publisher)
        return;
    if (atomic_load_explicit(&w->shared->settled, memory_order_relaxed) < w->opts->connections)
        return;
    struct bench_conn *bc = bench_connect(w, &fan_handler, sizeof(struct fan_conn),
                                          w->opts->connections);
    if (!bc)
        return;
    st->publisher = (struct fan_conn *)bc;
    st->publisher->publisher = true;
}

static bool fan_ready(struct bench_worker *w)
{
    struct fan_worker *st = state_of(w);
    uint64_t settled = st->welcomed + bench_counter(w, BENCH_FAILED);
    return settled >= w->share && (w->index != 0 || st->publisher_ready);
}

/* Every subscriber has the last message, or is gone. */
static bool fan_drained(struct bench_worker *w)
{
    if (!atomic_load_explicit(&w->shared->publish_done, memory_order_acquire))
        return false;
    uint64_t last = atomic_load_explicit(&w->shared->published, memory_order_relaxed);
    for (struct conn *c = w->env.all; c; c = c->next) {
        struct fan_conn *f = (struct fan_conn *)c;
        if (c->phase == CONN_WS && !f->publisher && f->welcomed && f->next_seq < last)
            return false;
    }
    return true;
}

/* --- the summary ------------------------------------------------------------------ */

static void fan_summary(const struct bench_result *r, struct bench_out *o)
{
    const struct bench_opts *opts = r->opts;
    uint64_t subscribers = opts->connections - r->total[BENCH_FAILED];
    uint64_t expected = r->published * subscribers;
    uint64_t received = r->total[BENCH_MESSAGES];
    uint64_t lost = expected > received ? expected - received : 0;
    double rate = r->seconds > 0 ? (double)r->n[BENCH_MESSAGES] / r->seconds : 0;
    bench_out_text(o, "fanout %llu subscribers x %llu msg/s: %.0f deliveries/s, "
                   "%llu sent, %llu expected, %llu received, %llu lost, ",
                   (unsigned long long)opts->connections, (unsigned long long)opts->rate, rate,
                   (unsigned long long)r->published, (unsigned long long)expected,
                   (unsigned long long)received, (unsigned long long)lost);
    json_member_uint(&o->json, "subscribers", opts->connections);
    json_member_uint(&o->json, "rate", opts->rate);
    json_member_uint(&o->json, "published", r->published);
    json_member_uint(&o->json, "expected", expected);
    json_member_uint(&o->json, "received", received);
    json_member_uint(&o->json, "lost", lost);
    json_member_fixed(&o->json, "deliveries_per_s", rate, 1);
    bench_out_latency(o, "latency_ms", r->lat);
    bench_out_text(o, ", %llu errors", (unsigned long long)r->total[BENCH_ERRORS]);
    if (r->total[BENCH_FAILED] || r->total[BENCH_DROPPED])
        bench_out_text(o, ", %llu connect failures, %llu dropped",
                       (unsigned long long)r->total[BENCH_FAILED],
                       (unsigned long long)r->total[BENCH_DROPPED]);
}

static bool fan_failed(const struct bench_result *r)
{
    uint64_t subscribers = r->opts->connections - r->total[BENCH_FAILED];
    return r->published == 0 || r->total[BENCH_MESSAGES] < r->published * subscribers;
}

const struct bench_mode bench_fanout = {
    .name = "fanout",
    .path = "/chat",
    .default_connections = 100,
    .extra_connections = 1,
    .connect_in_setup = true,
    .rate_unit = "deliveries/s",
    .progress_label = "p99",
    .progress_hist = BENCH_HIST_LAT,
    .connect = fan_connect,
    .ready = fan_ready,
    .run = fan_run,
    .tick = fan_tick,
    .drained = fan_drained,
    .summary = fan_summary,
    .failed = fan_failed,
};
