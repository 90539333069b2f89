/* redis.c -- see redis.h. One struct per client, one socket at a time.
 *
 * Pending commands wait in a ring of slots that doubles when full and never
 * shrinks, so a steady pipeline costs no allocation per command; their bytes
 * wait in one output buffer. Replies come back in the order the commands
 * went out (Redis answers a connection's commands in order), so the oldest
 * slot is always the one a reply belongs to; only RESP3 pushes are outside
 * that order, and they are told apart by their type.
 *
 * Output is not written at once: a command marks the socket for EPOLLOUT,
 * so every command queued in one batch of events leaves in one write (the
 * same effect as conn.c's corking, without a hook in the loop). A timer
 * every 100 ms drives what has a deadline: the connect, the oldest
 * command's reply, the idle PING and the next attempt. */
#include "redis.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "net.h"
#include "xalloc.h"

#define TICK_MS            100
#define READ_CHUNK         65536
#define READ_ROUNDS        8         /* reads per wake-up: one busy socket cannot starve */
#define BACKOFF_BASE_MS    200
#define STABLE_MS          5000      /* up this long: the backoff starts again at the bottom */
#define MAX_CSTR_ARGS      64        /* arguments given as C strings (lens NULL) */

enum state { ST_WAITING, ST_CONNECTING, ST_HANDSHAKE, ST_READY };

struct pending {
    redis_reply_fn *fn;
    void    *arg;
    uint64_t queued_ns;
    uint32_t timeout_ms;
};

struct redis {
    struct reactor_watch watch;          /* first: the reactor hands it back */
    struct reactor_timer timer;
    struct reactor *reactor;
    const struct redis_handler *handler;
    void *user;
    struct resp_url url;
    struct redis_options opt;
    struct addrinfo *addrs;              /* resolved once, by redis_new */
    const struct addrinfo *next_addr;    /* while connecting: the ones left */
    uint8_t  state;                      /* enum state */
    bool     freed;                      /* redis_free ran: memory goes after the batch */
    unsigned attempt;                    /* failures since a stable connection */
    uint64_t due_ms;                     /* WAITING: next attempt; CONNECTING: give up */
    uint64_t ready_ms;                   /* when the handshake completed */
    uint64_t progress_ms;                /* the last reply, or the connect */
    uint64_t queued_ms;                  /* the last command queued */
    struct pending *ring;
    uint32_t ring_cap, ring_head, ring_count;
    struct buf in, out;
    size_t   out_off;                    /* bytes of out already written */
    struct resp_value *values;           /* opt.max_values, for each reply in turn */
    struct redis_stats stats;
    char     last_error[160];
};

static void drop(struct redis *r, const char *why);
static void flush_out(struct redis *r);

/* --- backoff ------------------------------------------------------------- */

uint32_t redis_backoff_ms(unsigned attempt, uint32_t cap_ms)
{
    return net_backoff_ms(attempt, BACKOFF_BASE_MS, cap_ms);
}

/* --- the ring of pending commands ------------------------------------------ */

static void ring_grow(struct redis *r)
{
    uint32_t cap = r->ring_cap ? r->ring_cap * 2 : 64;
    struct pending *ring = xcalloc(cap, sizeof *ring);
    for (uint32_t i = 0; i < r->ring_count; i++)
        ring[i] = r->ring[(r->ring_head + i) & (r->ring_cap - 1)];
    free(r->ring);
    r->ring = ring;
    r->ring_cap = cap;
    r->ring_head = 0;
}

static void ring_push(struct redis *r, const struct pending *p)
{
    if (r->ring_count == r->ring_cap)
        ring_grow(r);
    r->ring[(r->ring_head + r->ring_count++) & (r->ring_cap - 1)] = *p;
    r->stats.pending = r->ring_count;
}

static struct pending ring_pop(struct redis *r)
{
    struct pending p = r->ring[r->ring_head];
    r->ring_head = (r->ring_head + 1) & (r->ring_cap - 1);
    r->stats.pending = --r->ring_count;
    return p;
}

/* Every pending callback hears of the end, oldest first. One at a time from
 * the ring, so a callback that queues or frees finds the ring consistent. */
static void fail_pending(struct redis *r)
{
    while (r->ring_count > 0) {
        struct pending p = ring_pop(r);
        r->stats.failed++;
        p.fn(r, p.arg, REDIS_DISCONNECTED, NULL);
    }
}

/* --- commands ---------------------------------------------------------------- */

static bool accepts_output(const struct redis *r, size_t n)
{
    return r->ring_count < r->opt.max_pending
        && r->out.len - r->out_off + n <= r->opt.max_output_bytes;
}

/* Queue a command whatever the state (the handshake's own go out before
 * READY). Returns 0 or -1 (limits). */
static int enqueue(struct redis *r, int argc, const char *const *argv, const size_t *lens,
                   uint32_t timeout_ms, redis_reply_fn *fn, void *arg)
{
    size_t cstr_lens[MAX_CSTR_ARGS];
    if (argc < 1 || (!lens && argc > MAX_CSTR_ARGS))
        return -1;
    if (!lens) {
        for (int i = 0; i < argc; i++)
            cstr_lens[i] = strlen(argv[i]);
        lens = cstr_lens;
    }
    size_t n = resp_command_len(argc, lens);
    if (!accepts_output(r, n))
        return -1;
    resp_command_write(buf_reserve(&r->out, n), n, argc, argv, lens);
    r->out.len += (uint32_t)n;
    struct pending p = { fn, arg, clock_mono_ns(), timeout_ms };
    ring_push(r, &p);
    r->queued_ms = p.queued_ns / 1000000u;
    r->stats.commands_sent++;
    /* Written when the loop comes back to the socket; a failure here is
     * caught by the tick, which flushes too. */
    reactor_modify(r->reactor, &r->watch, true, true);
    return 0;
}

int redis_command_timeout(struct redis *r, int argc, const char *const *argv,
                          const size_t *lens, uint32_t timeout_ms, redis_reply_fn *fn,
                          void *arg)
{
    if (r->state != ST_READY || r->freed)
        return -1;
    return enqueue(r, argc, argv, lens, timeout_ms, fn, arg);
}

int redis_command(struct redis *r, int argc, const char *const *argv, const size_t *lens,
                  redis_reply_fn *fn, void *arg)
{
    return redis_command_timeout(r, argc, argv, lens, r->opt.command_timeout_ms, fn, arg);
}

/* --- the handshake ------------------------------------------------------------ */

/* Redis's words, kept printable: they go into logs. */
static void quote_error(struct redis *r, const char *what, const struct resp_reply *reply)
{
    char text[120];
    const struct resp_value *v = reply ? &reply->values[0] : NULL;
    size_t n = 0;
    if (v && v->type == RESP_ERROR)
        for (; n < v->len && n + 1 < sizeof text; n++)
            text[n] = v->str[n] >= 0x20 && v->str[n] < 0x7f ? v->str[n] : '?';
    text[n] = '\0';
    snprintf(r->last_error, sizeof r->last_error, "%s refused: %s", what,
             n ? text : "unexpected reply");
}

/* AUTH, HELLO or SELECT answered: anything but an error will do. */
static void on_handshake_step(struct redis *r, void *arg, enum redis_status status,
                              const struct resp_reply *reply)
{
    if (status == REDIS_DISCONNECTED)
        return;
    if (status == REDIS_TOO_LARGE || reply->values[0].type == RESP_ERROR) {
        quote_error(r, arg, reply);
        drop(r, r->last_error);
    }
}

/* The PING that ends the handshake: now Redis is known to answer. */
static void on_handshake_ping(struct redis *r, void *arg, enum redis_status status,
                              const struct resp_reply *reply)
{
    (void)arg;
    if (status == REDIS_DISCONNECTED)
        return;
    if (status != REDIS_REPLY || !resp_str_eq(&reply->values[0], "PONG")) {
        quote_error(r, "PING", reply);
        drop(r, r->last_error);
        return;
    }
    r->state = ST_READY;
    r->ready_ms = clock_mono_ms();
    r->last_error[0] = '\0';
    if (r->stats.connects++ > 0)
        r->stats.reconnects++;
    if (r->handler->on_connected)
        r->handler->on_connected(r, r->user);
}

static void on_keepalive(struct redis *r, void *arg, enum redis_status status,
                         const struct resp_reply *reply)
{
    (void)r, (void)arg, (void)status, (void)reply;   /* the reply itself is the news */
}

static void send_handshake(struct redis *r)
{
    const struct resp_url *u = &r->url;
    const char *user = u->user[0] ? u->user : "default";
    uint32_t t = r->opt.command_timeout_ms;
    char db[16];
    snprintf(db, sizeof db, "%u", u->db);
    if (r->opt.resp3 && u->has_password) {
        const char *hello[] = { "HELLO", "3", "AUTH", user, u->password };
        enqueue(r, 5, hello, NULL, t, on_handshake_step, "HELLO");
    } else if (r->opt.resp3) {
        const char *hello[] = { "HELLO", "3" };
        enqueue(r, 2, hello, NULL, t, on_handshake_step, "HELLO");
    } else if (u->has_password && u->user[0]) {
        const char *auth[] = { "AUTH", u->user, u->password };
        enqueue(r, 3, auth, NULL, t, on_handshake_step, "AUTH");
    } else if (u->has_password) {                   /* the only form before Redis 6 */
        const char *auth[] = { "AUTH", u->password };
        enqueue(r, 2, auth, NULL, t, on_handshake_step, "AUTH");
    }
    if (u->db) {
        const char *select[] = { "SELECT", db };
        enqueue(r, 2, select, NULL, t, on_handshake_step, "SELECT");
    }
    const char *ping[] = { "PING" };
    enqueue(r, 1, ping, NULL, t, on_handshake_ping, NULL);
}

/* --- replies ------------------------------------------------------------- */

static void deliver(struct redis *r, const struct resp_reply *reply)
{
    const struct resp_value *top = &reply->values[0];
    if (top->type == RESP_PUSH) {        /* values[0] is kept even when too_many */
        r->stats.pushes++;
        if (r->handler->on_push && !reply->too_many)
            r->handler->on_push(r, reply, r->user);
        return;
    }
    if (r->ring_count == 0) {
        drop(r, "a reply to no command");
        return;
    }
    struct pending p = ring_pop(r);
    uint64_t now_ns = clock_mono_ns();
    r->progress_ms = now_ns / 1000000u;
    uint64_t rtt_us = (now_ns - p.queued_ns) / 1000u;
    r->stats.last_rtt_us = rtt_us > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt_us;
    r->stats.replies++;
    if (reply->too_many) {
        p.fn(r, p.arg, REDIS_TOO_LARGE, NULL);
        return;
    }
    if (top->type == RESP_ERROR)
        r->stats.error_replies++;
    p.fn(r, p.arg, REDIS_REPLY, reply);
}

static const char *parse_error(ssize_t n)
{
    switch (n) {
    case RESP_ERR_DEPTH:       return "protocol error: replies nested too deep";
    case RESP_ERR_UNSUPPORTED: return "protocol error: an attribute or streamed reply";
    default:                   return "protocol error: not RESP";
    }
}

/* Every complete reply in the input, in order. False if the connection
 * ended or the client was freed meanwhile (then the input is not ours to
 * touch any more). */
static bool consume_input(struct redis *r)
{
    size_t off = 0;
    for (;;) {
        struct resp_reply reply = { .values = r->values, .cap = r->opt.max_values };
        ssize_t n = resp_parse(r->in.data + off, r->in.len - off, &reply);
        if (n == 0)
            break;
        if (n < 0) {
            drop(r, parse_error(n));
            return false;
        }
        off += (size_t)n;
        deliver(r, &reply);
        if (r->freed || r->state < ST_HANDSHAKE)
            return false;
    }
    buf_consume(&r->in, off);
    if (r->in.len > r->opt.max_reply_bytes) {
        drop(r, "a reply over the size limit");
        return false;
    }
    return true;
}

/* --- the socket ------------------------------------------------------------- */

/* Up to READ_ROUNDS reads, then one parse of all of it: an unfinished
 * reply is parsed again from its start each time, so parsing after every
 * read would cost more for large replies. */
static void on_readable(struct reactor_watch *w)
{
    struct redis *r = (struct redis *)w;
    for (int round = 0; round < READ_ROUNDS; round++) {
        ssize_t n = read(w->fd, buf_reserve(&r->in, READ_CHUNK), READ_CHUNK);
        if (n > 0) {
            r->in.len += (uint32_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        drop(r, n == 0 ? "Redis closed the connection" : strerror(errno));
        return;
    }
    consume_input(r);
}

static void on_writable(struct reactor_watch *w)
{
    flush_out((struct redis *)w);
}

static const struct reactor_ops conn_ops = { on_readable, on_writable };

/* Write what the socket takes; watch EPOLLOUT only while some is left. */
static void flush_out(struct redis *r)
{
    while (r->out_off < r->out.len) {
        ssize_t n = send(r->watch.fd, r->out.data + r->out_off, r->out.len - r->out_off,
                         MSG_NOSIGNAL);
        if (n >= 0) {
            r->out_off += (size_t)n;
        } else if (errno == EAGAIN) {
            break;               /* the socket is full: EPOLLOUT says when it is not */
        } else if (errno != EINTR) {
            drop(r, strerror(errno));
            return;
        }
    }
    if (r->out_off == r->out.len) {
        r->out.len = 0;
        r->out_off = 0;
    } else if (r->out_off >= r->out.len / 2) {     /* compact now and then, not each time */
        buf_consume(&r->out, r->out_off);
        r->out_off = 0;
    }
    if (reactor_modify(r->reactor, &r->watch, true, r->out.len > 0) < 0)
        drop(r, "cannot watch the socket");
}

/* --- connecting ------------------------------------------------------------ */

static void on_connecting(struct reactor_watch *w);
static const struct reactor_ops connecting_ops = { on_connecting, on_connecting };

/* Start the next address; false if none is left (*why then says why). */
static bool try_next_address(struct redis *r, const char **why)
{
    reactor_close(r->reactor, &r->watch);
    int fd = net_connect_next(&r->next_addr, NULL, why);
    if (fd < 0)
        return false;
    r->watch.fd = fd;
    r->watch.ops = &connecting_ops;
    if (reactor_add(r->reactor, &r->watch, false, true) < 0) {
        reactor_close(r->reactor, &r->watch);
        *why = "cannot watch the socket";
        return false;
    }
    r->state = ST_CONNECTING;
    r->due_ms = clock_mono_ms() + r->opt.connect_timeout_ms;
    return true;
}

static void start_attempt(struct redis *r)
{
    const char *why = "no address to connect to";
    r->next_addr = r->addrs;
    if (!try_next_address(r, &why))
        drop(r, why);
}

/* TCP is up: the handshake goes first in the pipeline. */
static void connected(struct redis *r)
{
    r->watch.ops = &conn_ops;
    r->state = ST_HANDSHAKE;
    r->progress_ms = clock_mono_ms();
    net_set_nodelay(r->watch.fd);
    send_handshake(r);
    flush_out(r);
}

static void on_connecting(struct reactor_watch *w)
{
    struct redis *r = (struct redis *)w;
    int result = net_connect_result(w->fd);
    if (result < 0)
        return;                  /* a stale wake-up */
    if (result == 0) {
        connected(r);
        return;
    }
    const char *why = strerror(result);
    if (!try_next_address(r, &why))
        drop(r, why);
}

/* --- the end of a connection ------------------------------------------------- */

static uint32_t schedule_retry(struct redis *r, bool was_ready, uint64_t now_ms)
{
    if (was_ready && now_ms - r->ready_ms >= STABLE_MS)
        r->attempt = 0;
    uint32_t delay_ms = redis_backoff_ms(r->attempt, r->opt.backoff_cap_ms);
    if (r->attempt < 64)
        r->attempt++;
    r->due_ms = now_ms + delay_ms;
    return delay_ms;
}

/* Close the socket, fail what is pending, tell the owner, and schedule the
 * next attempt. why may be r->last_error itself. */
static void drop(struct redis *r, const char *why)
{
    bool was_ready = r->state == ST_READY;
    reactor_close(r->reactor, &r->watch);
    r->state = ST_WAITING;
    r->in.len = 0;
    r->out.len = 0;
    r->out_off = 0;
    if (why != r->last_error)
        snprintf(r->last_error, sizeof r->last_error, "%s", why);
    uint32_t retry_ms = schedule_retry(r, was_ready, clock_mono_ms());
    fail_pending(r);
    if (r->freed)
        return;
    if (was_ready && r->handler->on_disconnected) {
        r->handler->on_disconnected(r, r->last_error, retry_ms, r->user);
    } else if (!was_ready) {
        r->stats.connect_failures++;
        if (r->handler->on_connect_failed)
            r->handler->on_connect_failed(r, r->last_error, retry_ms, r->user);
    }
}

/* --- the clock ------------------------------------------------------------- */

/* The oldest command must be answered within its timeout, counted from when
 * it was queued or from the reply before it, whichever is later: a command
 * behind a slow one (XREAD BLOCK) is not late for having waited its turn. */
static void check_reply_deadline(struct redis *r, uint64_t now_ms)
{
    if (r->ring_count == 0)
        return;
    const struct pending *p = &r->ring[r->ring_head];
    uint64_t since = p->queued_ns / 1000000u;
    if (r->progress_ms > since)
        since = r->progress_ms;
    if (now_ms - since < p->timeout_ms)
        return;
    char why[64];
    snprintf(why, sizeof why, "no reply in %u ms", p->timeout_ms);
    r->stats.timeouts++;
    drop(r, why);
}

static void on_tick(struct reactor_timer *t, uint64_t expirations)
{
    struct redis *r = (struct redis *)((char *)t - offsetof(struct redis, timer));
    uint64_t now_ms = clock_mono_ms();
    (void)expirations;
    switch (r->state) {
    case ST_WAITING:
        if (now_ms >= r->due_ms)
            start_attempt(r);
        break;
    case ST_CONNECTING:
        if (now_ms >= r->due_ms) {
            const char *why = "connect timed out";
            if (!try_next_address(r, &why))
                drop(r, why);
        }
        break;
    default:
        check_reply_deadline(r, now_ms);
        if (r->state == ST_READY && r->ring_count == 0
            && now_ms - r->queued_ms >= r->opt.ping_interval_ms)
            enqueue(r, 1, (const char *[]){ "PING" }, NULL, r->opt.command_timeout_ms,
                    on_keepalive, NULL);
        if (r->state >= ST_HANDSHAKE && r->out.len > r->out_off)
            flush_out(r);
        break;
    }
}

/* --- life ------------------------------------------------------------------ */

static void apply_defaults(struct redis_options *o)
{
    if (!o->connect_timeout_ms) o->connect_timeout_ms = 3000;
    if (!o->command_timeout_ms) o->command_timeout_ms = 3000;
    if (!o->ping_interval_ms)   o->ping_interval_ms = 1000;
    if (!o->backoff_cap_ms)     o->backoff_cap_ms = 5000;
    if (!o->max_pending)        o->max_pending = 65536;
    if (!o->max_values)         o->max_values = 16384;
    if (!o->max_reply_bytes)    o->max_reply_bytes = 64u << 20;
    if (!o->max_output_bytes)   o->max_output_bytes = 64u << 20;
}

struct redis *redis_new(struct reactor *reactor, const struct resp_url *url,
                        const struct redis_options *opts, const struct redis_handler *handler,
                        void *user, const char **err)
{
    struct addrinfo *addrs = net_resolve(url->host, url->port, err);
    if (!addrs)
        return NULL;
    struct redis *r = xcalloc(1, sizeof *r);
    r->watch.fd = -1;
    r->reactor = reactor;
    r->handler = handler;
    r->user = user;
    r->url = *url;
    if (opts)
        r->opt = *opts;
    apply_defaults(&r->opt);
    r->addrs = addrs;
    r->values = xcalloc(r->opt.max_values, sizeof *r->values);
    r->timer.on_tick = on_tick;
    /* The first attempt is made by the first tick, so that no callback
     * runs before redis_new has returned. */
    r->due_ms = clock_mono_ms();
    if (reactor_timer_start(reactor, &r->timer, TICK_MS * 1000000ull) < 0) {
        *err = "cannot start a timer";
        net_addrs_free(addrs);
        free(r->values);
        free(r);
        return NULL;
    }
    return r;
}

static void free_now(void *p)
{
    struct redis *r = p;
    net_addrs_free(r->addrs);
    buf_free(&r->in);
    buf_free(&r->out);
    free(r->ring);
    free(r->values);
    free(r);
}

void redis_free(struct redis *r)
{
    if (r->freed)
        return;
    r->freed = true;
    r->state = ST_WAITING;
    reactor_timer_stop(r->reactor, &r->timer);
    reactor_close(r->reactor, &r->watch);
    fail_pending(r);
    reactor_defer_free(r->reactor, free_now, r);
}

bool redis_is_ready(const struct redis *r)
{
    return r->state == ST_READY && !r->freed;
}

const struct redis_stats *redis_get_stats(const struct redis *r)
{
    return &r->stats;
}

const char *redis_last_error(const struct redis *r)
{
    return r->last_error;
}
