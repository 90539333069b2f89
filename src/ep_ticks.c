/* ep_ticks.c -- /ws and /ticks: the timestamp stream. One timerfd drives
 * every client; its schedule is fixed, so ticks do not drift however late
 * one fires. Each tick's JSON is formatted once up to "message_count" and
 * only the count, which is per connection, is formatted per client.
 * After a stall (the process stopped, the machine busy) the missed ticks are
 * not made up: one tick goes out, and the gap shows, which is what a
 * connectivity monitor is for. Lateness, and how long a tick takes to go
 * out to every client, go into /metrics. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "endpoints.h"
#include "json.h"
#include "reactor.h"
#include "stats.h"
#include "ws.h"

#define TICKS_MAX_PREFIX 512

static struct {
    struct reactor_timer timer;
    struct conn_list clients;
    char instance_json[256];     /* ,"server":"NAME" or empty */
} ticks;

static void ticks_on_open(struct conn *c)
{
    c->ep_state.u64 = 0;         /* message_count so far */
    conn_list_add(&ticks.clients, c);
}

static void ticks_on_close(struct conn *c)
{
    conn_list_remove(&ticks.clients, c);
}

static size_t format_prefix(char *out, size_t cap, int64_t wall_ms)
{
    char iso[CLOCK_LOCAL_LEN + 1];
    clock_format_local(wall_ms, iso);
    int n = snprintf(out, cap,
                     "{\"type\":\"timestamp\",\"timestamp_iso\":\"%s\",\"timestamp_ms\":%lld%s,"
                     "\"message_count\":",
                     iso, (long long)wall_ms, ticks.instance_json);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* n in decimal and the closing brace, written backwards from the end of
 * tail: the one part of a tick formatted per client (10,000 clients, ten
 * times a second), so no snprintf(). Returns where it starts. */
static char *format_count(char tail[24], uint64_t n)
{
    char *p = tail + 23;
    *p = '}';
    do
        *--p = (char)('0' + n % 10);
    while ((n /= 10) > 0);
    return p;
}

/* The frame is built in the batch buffer (header, the tick's shared
 * prefix, this client's count) and sent at once: one send() per client. */
static void send_tick(struct conn *c, const char *prefix, size_t prefix_len)
{
    if (!ws_can_push(c))
        return;
    char tail[24];
    char *count = format_count(tail, ++c->ep_state.u64);
    ws_send_with_tail(c, WS_OP_TEXT, prefix, prefix_len, count, (size_t)(tail + 24 - count));
    conn_flush(c);               /* the prefix lives on the caller's stack */
}

static void ticks_on_timer(struct reactor_timer *t, uint64_t expirations)
{
    (void)expirations;
    uint64_t now_ns = clock_mono_ns();
    uint64_t due_ns = t->next_ns - t->interval_ns;    /* the expiry just read */
    stats_observe_ms(&stats.tick_late, now_ns > due_ns ? (double)(now_ns - due_ns) / 1e6 : 0.0);
    stats.last_tick_mono_ms = now_ns / 1000000u;
    char prefix[TICKS_MAX_PREFIX];
    size_t prefix_len = format_prefix(prefix, sizeof prefix, clock_wall_ms());
    for (struct conn *c = ticks.clients.head, *next; c; c = next) {
        next = c->peer_next;     /* closing unlinks only after the batch */
        send_tick(c, prefix, prefix_len);
    }
    /* With thousands of clients this, the kernel's time for one send per
     * client, is most of the spread of their arrivals (README). */
    stats_observe_ms(&stats.tick_send, (double)(clock_mono_ns() - now_ns) / 1e6);
}

int ticks_start(struct reactor *r, uint32_t tick_ms, const char *instance)
{
    if (instance) {
        char escaped[200];
        ssize_t n = json_escape(instance, strlen(instance), escaped, sizeof escaped);
        if (n < 0)
            n = 0;
        snprintf(ticks.instance_json, sizeof ticks.instance_json, ",\"server\":\"%.*s\"",
                 (int)n, escaped);
    }
    ticks.timer.on_tick = ticks_on_timer;
    stats.last_tick_mono_ms = clock_mono_ms();   /* /healthz counts from here */
    return reactor_timer_start(r, &ticks.timer, (uint64_t)tick_ms * 1000000u);
}

struct endpoint ep_ticks = {
    .name = "ticks",
    .max_message = 64u << 10,
    .stats = &stats.ep[STATS_TICKS],
    .on_open = ticks_on_open,
    .on_close = ticks_on_close,
};
