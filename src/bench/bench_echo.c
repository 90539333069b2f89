/* bench_echo.c -- `wspulse bench echo`: connections x messages in flight x
 * size against /echo, every echo compared byte for byte with what was sent.
 *
 * The load must cost the client less than the echo costs the server, so the
 * hot path allocates nothing and formats nothing. The payload is fixed, so
 * the outgoing frames are built once, before the run: a pool of complete
 * masked frames (each with its own random key, §5.3), laid out back to back
 * and handed out round-robin. k frames in a row are then one contiguous
 * span: one iovec, whatever k is. To send all the echoes that one read
 * brought in as one such span, the connection's on_frames hook is wrapped:
 * ws.c delivers the messages (each only counts what it owes), then the
 * wrapper sends the replacements. The echo arrives unmasked, so it is
 * compared with the unmasked payload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_report.h"
#include "bench_worker.h"
#include "clock.h"
#include "random.h"
#include "ws.h"

#define POOL_BYTES   (4u << 20)  /* at most this much of pre-built frames */
#define POOL_FRAMES  1024
#define POOL_MIN     4

struct echo_pool {               /* shared read-only by every worker */
    enum ws_opcode opcode;
    size_t size;                 /* payload bytes */
    size_t frame_len;            /* header + payload */
    uint32_t frames;
    uint8_t *payload;            /* unmasked */
    uint8_t *bytes;              /* frames * frame_len */
};

struct echo_worker {             /* per thread */
    struct conn_hooks hooks;     /* the client's, with on_frames wrapped */
    void (*ws_frames)(struct conn *c, uint8_t *buf, size_t len);
    uint32_t cursor;             /* next frame of the pool */
    uint64_t read_ns;            /* when the bytes being handled were read */
};

struct echo_conn {
    struct bench_conn bc;
    uint32_t head;               /* oldest message in flight, in sent_ns */
    uint32_t in_flight;
    uint32_t owed;               /* echoes handled in this read: frames to send */
    uint64_t echoes;             /* for messages about a mismatch */
    uint64_t sent_ns[];          /* a ring of --in-flight send times */
};

/* --- the frame pool --------------------------------------------------------- */

/* The payload, then each frame masked with a key of its own (§5.3): text is
 * printable ASCII so that it is valid UTF-8 (§8.1); binary is random.
 * Returns -1 if the kernel gives no random bytes. */
static int make_frames(struct echo_pool *pool, bool binary)
{
    uint8_t *p = pool->payload, key[4];
    if (random_bytes(p, pool->size) < 0)
        return -1;
    for (size_t i = 0; !binary && i < pool->size; i++)
        p[i] = (uint8_t)('!' + p[i] % 94);
    for (uint32_t i = 0; i < pool->frames; i++) {
        uint8_t *f = pool->bytes + (size_t)i * pool->frame_len;
        if (random_bytes(key, sizeof key) < 0)
            return -1;
        size_t h = wsframe_write_header(f, true, pool->opcode, pool->size, key);
        memcpy(f + h, p, pool->size);
        wsframe_mask(f + h, pool->size, key, 0);
    }
    return 0;
}

/* One block: the pool, the payload, the frames; freed by cli_bench.c. */
static int echo_prepare(struct bench_opts *o, struct bench_shared *s)
{
    uint8_t hdr[WSFRAME_MAX_HEADER], key[4] = {0};
    enum ws_opcode opcode = o->binary ? WS_OP_BINARY : WS_OP_TEXT;
    size_t frame_len = wsframe_write_header(hdr, true, opcode, o->size, key) + o->size;
    size_t fit = POOL_BYTES / frame_len;
    uint32_t frames = (uint32_t)(fit < POOL_MIN ? POOL_MIN : fit > POOL_FRAMES ? POOL_FRAMES : fit);
    struct echo_pool *pool = malloc(sizeof *pool + o->size + frame_len * frames);
    if (!pool) {
        fprintf(stderr, "wspulse bench: out of memory for the frame pool\n");
        return 1;
    }
    *pool = (struct echo_pool){ opcode, o->size, frame_len, frames, (uint8_t *)(pool + 1),
                                (uint8_t *)(pool + 1) + o->size };
    if (make_frames(pool, o->binary) < 0) {
        perror("wspulse bench: no random bytes for the frames");
        free(pool);
        return 1;
    }
    s->mode_data = pool;
    return 0;
}

/* --- sending ------------------------------------------------------------------ */

/* Send k more frames as contiguous spans of the pool, all stamped now. */
static void send_frames(struct echo_conn *e, uint32_t k, uint64_t now)
{
    struct bench_worker *w = e->bc.w;
    struct echo_worker *st = w->state;
    const struct echo_pool *pool = w->shared->mode_data;
    uint32_t ring = (uint32_t)w->opts->in_flight;
    uint32_t tail = (e->head + e->in_flight) % ring;
    for (uint32_t i = 0; i < k; i++) {
        e->sent_ns[tail] = now;
        if (++tail == ring)
            tail = 0;
    }
    e->in_flight += k;
    bench_count(w, BENCH_SENT, k);
    while (k > 0) {
        uint32_t at = st->cursor, n = pool->frames - at;
        if (n > k)
            n = k;
        conn_send(&e->bc.wc.conn, pool->bytes + (size_t)at * pool->frame_len,
                  (size_t)n * pool->frame_len);
        st->cursor = at + n == pool->frames ? 0 : at + n;
        k -= n;
    }
}

static void echo_on_frames(struct conn *c, uint8_t *buf, size_t len)
{
    struct echo_conn *e = (struct echo_conn *)c;
    struct bench_worker *w = e->bc.w;
    struct echo_worker *st = w->state;
    st->read_ns = clock_mono_ns();       /* one clock read for the whole read */
    st->ws_frames(c, buf, len);
    uint32_t k = e->owed;
    e->owed = 0;
    if (k == 0 || c->phase != CONN_WS || w->closing)
        return;
    uint64_t now = clock_mono_ns();
    if (now < w->end_ns)
        send_frames(e, k, now);
}

static void echo_run(struct bench_worker *w)
{
    uint64_t now = clock_mono_ns();
    for (struct conn *c = w->env.all; c; c = c->next)
        if (c->phase == CONN_WS)
            send_frames((struct echo_conn *)c, (uint32_t)w->opts->in_flight, now);
}

/* --- receiving ---------------------------------------------------------------- */

static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

static void mismatch(struct echo_conn *e, enum ws_opcode opcode, const uint8_t *data, size_t len)
{
    const struct echo_pool *pool = e->bc.w->shared->mode_data;
    size_t n = len < pool->size ? len : pool->size;
    bench_error(e->bc.w, "MISMATCH: connection %llu, echo %llu: sent %zu bytes %s, got %zu "
                "bytes %s, first difference at byte %zu", (unsigned long long)e->bc.index,
                (unsigned long long)e->echoes, pool->size,
                pool->opcode == WS_OP_TEXT ? "text" : "binary", len,
                opcode == WS_OP_TEXT ? "text" : "binary",
                first_difference(data, pool->payload, n));
}

static void echo_on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    struct echo_conn *e = (struct echo_conn *)c;
    struct bench_worker *w = e->bc.w;
    const struct echo_pool *pool = w->shared->mode_data;
    if (e->in_flight == 0) {
        bench_error(w, "connection %llu: a message of %zu bytes that nobody sent",
                    (unsigned long long)e->bc.index, len);
        return;
    }
    uint64_t sent = e->sent_ns[e->head];
    if (++e->head == w->opts->in_flight)
        e->head = 0;
    e->in_flight--;
    e->owed++;
    e->echoes++;
    if (opcode != pool->opcode || len != pool->size || memcmp(data, pool->payload, len) != 0) {
        mismatch(e, opcode, data, len);
        return;
    }
    struct echo_worker *st = w->state;
    bench_count(w, BENCH_MESSAGES, 1);
    bench_count(w, BENCH_BYTES, len);
    bench_hist_record(&w->lat, st->read_ns - sent);
}

/* --- the connections ----------------------------------------------------------- */

static void echo_on_open(struct conn *c)
{
    bench_conn_opened((struct bench_conn *)c);
}

static void echo_on_close(struct conn *c)
{
    bench_conn_closed((struct bench_conn *)c);
}

static void echo_on_fail(struct conn *c, const char *why)
{
    bench_conn_failed((struct bench_conn *)c, why);
}

static const struct wsclient_handler echo_handler = {
    .ep = {
        .name = "bench echo",
        .max_message = BENCH_MAX_MESSAGE,
        .on_open = echo_on_open,
        .on_message = echo_on_message,
        .on_close = echo_on_close,
    },
    .on_fail = echo_on_fail,
};

/* The first connection of a thread shows which hooks the client uses. */
static void wrap_hooks(struct bench_worker *w, struct conn *c)
{
    struct echo_worker *st = w->state;
    if (!st) {
        st = w->state = calloc(1, sizeof *st);
        if (!st) {
            fprintf(stderr, "wspulse bench: out of memory\n");
            exit(1);
        }
        st->hooks = *c->hooks;
        st->ws_frames = c->hooks->on_frames;
        st->hooks.on_frames = echo_on_frames;
    }
    c->hooks = &st->hooks;
}

static bool echo_connect(struct bench_worker *w, uint64_t index)
{
    size_t size = sizeof(struct echo_conn) + w->opts->in_flight * sizeof(uint64_t);
    struct bench_conn *bc = bench_connect(w, &echo_handler, size, index);
    if (!bc)
        return false;
    wrap_hooks(w, &bc->wc.conn);
    return true;
}

/* Echoes still in flight come back within moments of the last send. */
static bool echo_drained(struct bench_worker *w)
{
    for (struct conn *c = w->env.all; c; c = c->next)
        if (c->phase == CONN_WS && ((struct echo_conn *)c)->in_flight > 0)
            return false;
    return true;
}

/* --- the summary ------------------------------------------------------------------ */

static const char *size_text(char *buf, size_t cap, uint64_t bytes)
{
    if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, cap, "%llu KiB", (unsigned long long)(bytes / 1024));
    else
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    return buf;
}

static void echo_summary(const struct bench_result *r, struct bench_out *o)
{
    const struct bench_opts *opts = r->opts;
    double rate = r->seconds > 0 ? (double)r->n[BENCH_MESSAGES] / r->seconds : 0;
    double mbps = r->seconds > 0 ? (double)r->n[BENCH_BYTES] / r->seconds / 1e6 : 0;
    char size[32];
    bench_out_text(o, "echo %llu conns x %llu in flight x %s %s: %.0f msg/s, %.1f MB/s, ",
                   (unsigned long long)opts->connections, (unsigned long long)opts->in_flight,
                   size_text(size, sizeof size, opts->size), opts->binary ? "binary" : "text",
                   rate, mbps);
    json_member_uint(&o->json, "connections", opts->connections);
    json_member_uint(&o->json, "opened", r->total[BENCH_OPENED]);
    json_member_uint(&o->json, "in_flight", opts->in_flight);
    json_member_uint(&o->json, "size", opts->size);
    json_member_bool(&o->json, "binary", opts->binary);
    json_member_uint(&o->json, "messages", r->n[BENCH_MESSAGES]);
    json_member_fixed(&o->json, "msg_per_s", rate, 1);
    json_member_fixed(&o->json, "mb_per_s", mbps, 3);
    bench_out_latency(o, "latency_ms", r->lat);
    bench_out_text(o, ", %llu errors", (unsigned long long)r->total[BENCH_ERRORS]);
    if (r->total[BENCH_FAILED] || r->total[BENCH_DROPPED])
        bench_out_text(o, ", %llu connect failures, %llu dropped",
                       (unsigned long long)r->total[BENCH_FAILED],
                       (unsigned long long)r->total[BENCH_DROPPED]);
}

static bool echo_failed(const struct bench_result *r)
{
    return r->n[BENCH_MESSAGES] == 0;    /* nothing echoed: nothing measured */
}

const struct bench_mode bench_echo = {
    .name = "echo",
    .path = "/echo",
    .default_connections = 64,
    .connect_in_setup = true,
    .rate_unit = "msg/s",
    .progress_label = "p99",
    .progress_hist = BENCH_HIST_LAT,
    .prepare = echo_prepare,
    .connect = echo_connect,
    .run = echo_run,
    .drained = echo_drained,
    .summary = echo_summary,
    .failed = echo_failed,
};
