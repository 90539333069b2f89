/* conn.h -- one connection, server or client side: its socket, its phase
 * (HTTP, WebSocket, closing), the bytes of an unfinished request or message,
 * its output queue and its deadlines. It reads and writes; what the bytes
 * mean is left to the HTTP hook of whoever made the connection (server.c,
 * wsclient.c) and, after the upgrade, to ws.c and the endpoint.
 *
 * Output: conn_send*() gather a connection's output into one writev() per
 * batch (for /echo, every reply to one read goes out in one system call);
 * what the socket does not take is queued (outq.h) and EPOLLOUT is watched
 * only while the queue is not empty. */
#ifndef CONN_H
#define CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "buf.h"
#include "http.h"
#include "net.h"
#include "outq.h"
#include "reactor.h"
#include "utf8.h"
#include "wsframe.h"

struct conn;
struct endpoint;
struct tls_conn;

enum conn_phase {
    CONN_HTTP,                   /* reading a request (server) or response (client) */
    CONN_WS,                     /* WebSocket open */
    CONN_CLOSING,                /* our Close sent, waiting for the peer's (§7.1.2) */
    CONN_LINGER,                 /* ending: flush, shut down writing, drain input */
    CONN_CLOSED,                 /* gone; freed after the current batch */
};

enum conn_role { CONN_SERVER, CONN_CLIENT };

/* What the creator of a connection handles: the HTTP phase, and the end. */
struct conn_hooks {
    /* Bytes of an HTTP head have arrived (buf holds everything not consumed
     * yet). Return the bytes used by one complete head, 0 to wait for more,
     * or -1 after having closed or failed the connection. */
    ssize_t (*on_http)(struct conn *c, const uint8_t *buf, size_t len);
    /* WebSocket bytes (phases WS and CLOSING): all of them are consumed. */
    void (*on_frames)(struct conn *c, uint8_t *buf, size_t len);
    /* A few times a second for connections in phase HTTP or WS: apply
     * deadlines and keepalive (c->env->now_ms is current). */
    void (*on_tick)(struct conn *c);
    /* The peer's Close frame arrived, valid (optional: ws.c keeps only the
     * code, in c->close_code). */
    void (*on_peer_close)(struct conn *c, uint16_t code, const uint8_t *reason, size_t len);
    /* After the batch in which the connection closed, just before it is
     * freed: the place to unlink it from lists and to tell others. */
    void (*on_closed)(struct conn *c);
};

/* Connections ws.c closed for a limit, counted per loop, so that loops in
 * other threads (the load generator's) never write shared memory; the
 * server's /stats adds up its loops (stats.c). */
struct conn_counts {
    uint64_t slow_consumers;             /* 1008: output over --max-pending, stalled */
    uint64_t over_buffered;              /* 1013: over --max-buffered */
    uint64_t rate_limited;               /* 1008: over --rate-limit */
    uint64_t ping_timeouts;              /* 1001: no pong in time */
};

/* What the connections of one loop (one thread) share. */
struct conn_env {
    struct reactor *reactor;
    struct conn    *all;                 /* every live connection */
    size_t          count;
    uint64_t        now_ms;              /* monotonic, refreshed by conn_env_tick */
    struct conn    *reading;             /* whose input is being handled now */
    /* Limits (0 = none). */
    size_t          max_pending;         /* queued bytes a pushed message may find */
    uint32_t        header_timeout_ms;   /* request head must be complete by then */
    uint32_t        ping_interval_ms;    /* keepalive ping after this much silence */
    uint32_t        close_timeout_ms;    /* wait for the peer's Close or EOF */
    uint32_t        stall_timeout_ms;    /* a paused reader taking no output this
                                            long is stalled (0 = never) */
    uint32_t        rate_limit;          /* messages a second per connection */
    size_t          max_buffered;        /* bytes of unfinished messages, all
                                            connections together (--max-buffered) */
    size_t          buffered;            /* held now: ws.c adds what it collects
                                            in c->in, takes off what it drops;
                                            conn.c what it frees */
    struct conn_counts counts;
};

struct conn {
    struct reactor_watch watch;          /* first: the reactor hands it back */
    struct conn_env     *env;
    const struct conn_hooks *hooks;
    const struct endpoint   *ep;         /* set by the upgrade */
    struct conn *prev, *next;            /* env->all */
    struct conn *peer_prev, *peer_next;  /* the endpoint's list of its clients */
    struct outq  out;
    struct buf   in;                     /* HTTP head or message so far */
    union {                              /* by phase: */
        struct http_scan http_scan;      /* HTTP: how far the head in c->in was
                                            scanned (server.c) */
        struct wsframe_parser frame;     /* WS, CLOSING: the frame in progress */
    };
    /* Small fields together, the flags as bits: the struct stays at 248
     * bytes, which malloc serves from a 256-byte chunk (256 would take 272). */
    struct utf8_validator utf8;          /* the text message in progress */
    uint8_t  phase;                      /* enum conn_phase */
    uint8_t  role;                       /* enum conn_role */
    uint8_t  msg_opcode;                 /* WS_OP_TEXT/BINARY while assembling, else 0 */
    bool     read_paused : 1;            /* output backlog: not read, so TCP pushes back */
    bool     shut_wr : 1;                /* lingering: our FIN is sent */
    bool     ping_outstanding : 1;
    bool     corked : 1;                 /* queued pushes wait for conn_flush_pending */
    uint16_t close_code;                 /* sent or received; 1006 if none */
    struct net_addr peer;
    uint32_t rate_tokens;                /* --rate-limit bucket, in 1/1000 messages */
    uint32_t rate_ms;                    /* when it was last filled (low bits of ms) */
    uint32_t out_ms;                     /* when the socket last took output, or
                                            reading paused (low bits of ms) */
    struct tls_conn *tls;                /* NULL: plain TCP */
    uint64_t active_ms;                  /* last input */
    uint64_t deadline_ms;                /* phase deadline, 0 = none */
    const char *end_reason;              /* why it closed, for the last log line */
    union {                              /* the endpoint's own per-connection state */
        uint64_t u64;
        void    *ptr;
    } ep_state;
};

/* Take over a connected, non-blocking socket. size >= sizeof(struct conn)
 * lets a caller embed the connection first in a bigger struct. NULL if the
 * reactor refuses the fd (the fd is then closed). */
struct conn *conn_new(struct conn_env *env, int fd, size_t size, enum conn_role role,
                      const struct conn_hooks *hooks, const struct net_addr *peer);

/* --- output ------------------------------------------------------------- */

/* Send p[0..n). The bytes must stay valid until conn_flush(c), which runs at
 * the latest when the current reactor callback returns (scratch input,
 * static data). */
void conn_send(struct conn *c, const void *p, size_t n);
/* Send a copy of p[0..n) (small, short-lived data: headers, formatted JSON). */
void conn_send_copy(struct conn *c, const void *p, size_t n);
/* Room for n <= CONN_RESERVE_MAX bytes at the end of c's output, to be
 * filled now (before anything else is sent), or NULL if the output must take
 * another path (queued behind a backlog, closed): then send a copy instead.
 * Small frames built in place are one contiguous write with their neighbours. */
#define CONN_RESERVE_MAX 4096
uint8_t *conn_reserve(struct conn *c, size_t n);
/* Send a shared message; the connection takes its own reference. To a
 * connection other than the one whose input is being handled, it is queued
 * ("corked") and written after the reactor's batch of events, so that all
 * the messages one connection gets in a batch (broadcasts, joins) take one
 * writev. */
void conn_send_msg(struct conn *c, struct msg *m);
/* The same for a message that is one whole frame of its own (a broadcast):
 * conn_drop_frames() may drop it while none of it is written. */
void conn_send_frame(struct conn *c, struct msg *m);
/* Send a complete control frame ahead of queued data. */
void conn_send_urgent(struct conn *c, const void *p, size_t n);
/* Drop the whole frames not yet begun (conn_send_frame) from c's output:
 * a slow consumer's backlog, before its Close. */
void conn_drop_frames(struct conn *c);
/* Write what was gathered for c; queue what the socket does not take. */
void conn_flush(struct conn *c);
/* Write what was gathered and what was corked, whichever connection it is
 * for. The reactor does it after every batch of events (conn_env_init sets
 * that up); call it only where output must not wait for that. */
void conn_flush_pending(void);

/* Bytes waiting for the socket. */
static inline size_t conn_pending(const struct conn *c)
{
    return c->out.bytes;
}

/* Backpressure. Whatever c is sent (replies, pongs, HTTP responses,
 * broadcasts), once its backlog passes min(max_pending / 2, 1 MiB) it is no
 * longer read, so that a peer that sends and never reads costs a bounded
 * amount of memory; it is read again when the backlog is down to a quarter.
 * Stalled: paused, and the socket took nothing for stall_timeout_ms. */
bool conn_output_stalled(const struct conn *c);

/* --- the end -------------------------------------------------------------- */

/* Close the socket now, no goodbye (the peer is gone or hopeless). */
void conn_abort(struct conn *c, const char *reason);
/* Send what is queued, shut down writing, and discard input until the peer
 * closes or close_timeout_ms passes: the end of a closing handshake, a failed
 * request or connection, so that our last words are not lost to a TCP reset
 * (closing with unread input would send one). */
void conn_linger(struct conn *c);

static inline bool conn_is_closing(const struct conn *c)
{
    return c->phase >= CONN_LINGER;
}

/* --- lists of connections (an endpoint's clients) ---------------------- */

struct conn_list {               /* linked through peer_prev / peer_next */
    struct conn *head;
    size_t count;
};

void conn_list_add(struct conn_list *l, struct conn *c);
void conn_list_remove(struct conn_list *l, struct conn *c);

/* --- the loop ------------------------------------------------------------- */

void conn_env_init(struct conn_env *env, struct reactor *r);
/* Refresh env->now_ms and apply deadlines: header timeouts, keepalive pings
 * and ping timeouts, closing-handshake deadlines; free idle buffers. Call it
 * a few times a second. */
void conn_env_tick(struct conn_env *env);
/* Close every connection at once (after the graceful part of a shutdown). */
void conn_env_abort_all(struct conn_env *env, const char *reason);

#endif
