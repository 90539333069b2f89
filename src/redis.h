/* redis.h -- a Redis client inside the reactor, for the cluster mode: one
 * non-blocking connection, commands pipelined and their replies matched in
 * order, and a connection that comes back by itself. resp.c parses and
 * encodes; this file only talks.
 *
 * The life of a connection: TCP connect, address after address of the host
 * name (net.c's net_connect_next, as wsclient.c does); then AUTH (or HELLO 3
 * with AUTH) and SELECT from the URL and a PING, through the same pipeline as
 * every command; once the PING answers, on_connected and commands are
 * accepted. Any failure (refused, reset, a protocol error, an error reply
 * during that handshake, no reply within the command timeout) closes it,
 * fails every pending command with REDIS_DISCONNECTED, and a new attempt
 * follows after a capped exponential backoff with jitter.
 *
 * Nothing here blocks: the host name is resolved once, by redis_new (at
 * start-up), and the addresses are kept for every reconnect; so a Redis
 * that moves to another address needs a restart of the process. */
#ifndef REDIS_H
#define REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor.h"
#include "resp.h"

struct redis;

enum redis_status {
    REDIS_REPLY,                 /* the reply, which may be an error reply (RESP_ERROR) */
    REDIS_TOO_LARGE,             /* the reply had more values than max_values: skipped */
    REDIS_DISCONNECTED,          /* the connection ended before the reply came */
};

/* The callback of one command, called exactly once: reply is the parsed
 * reply (reply->values[0] is its top value) when status is REDIS_REPLY,
 * else NULL. reply and the strings in it are valid during the call only. */
typedef void redis_reply_fn(struct redis *r, void *arg, enum redis_status status,
                            const struct resp_reply *reply);

/* What the owner of a client is told; every member may be NULL. */
struct redis_handler {
    /* The handshake is done: commands are accepted from now on. */
    void (*on_connected)(struct redis *r, void *user);
    /* A connection that was up has ended (why: "Connection reset by peer",
     * "no reply in 3000 ms"...); its pending commands have been failed, and
     * the next attempt comes in retry_ms. */
    void (*on_disconnected)(struct redis *r, const char *why, uint32_t retry_ms, void *user);
    /* An attempt failed before the handshake was done (refused, AUTH
     * refused: why quotes Redis's error); the next comes in retry_ms. */
    void (*on_connect_failed)(struct redis *r, const char *why, uint32_t retry_ms, void *user);
    /* A RESP3 push (> type, e.g. a pub/sub message under HELLO 3): not the
     * reply of any command. Valid during the call only. Without this
     * callback pushes are dropped. */
    void (*on_push)(struct redis *r, const struct resp_reply *push, void *user);
};

struct redis_options {           /* 0 or false: the default in brackets */
    bool     resp3;              /* HELLO 3 instead of AUTH (RESP2) */
    uint32_t connect_timeout_ms; /* per address [3000] */
    uint32_t command_timeout_ms; /* the oldest command must be answered within
                                    this of being sent or of the reply before
                                    it, else the server is taken for dead [3000] */
    uint32_t ping_interval_ms;   /* a PING after this long without a command, so
                                    that an idle connection's death is seen [1000] */
    uint32_t backoff_cap_ms;     /* longest wait between attempts [5000] */
    uint32_t max_pending;        /* commands awaiting replies [65536] */
    uint32_t max_values;         /* values in one reply (see resp.h) [16384] */
    uint32_t max_reply_bytes;    /* bytes of one unfinished reply [64 MiB] */
    uint32_t max_output_bytes;   /* commands not yet written [64 MiB] */
};

/* What /stats will show. */
struct redis_stats {
    uint64_t connects;           /* handshakes completed */
    uint64_t reconnects;         /* of them, those after the first */
    uint64_t connect_failures;   /* attempts that never completed the handshake */
    uint64_t commands_sent;      /* accepted by redis_command*, the handshake's too */
    uint64_t replies;            /* matched replies, error replies included */
    uint64_t error_replies;      /* of them, RESP_ERROR */
    uint64_t failed;             /* callbacks told REDIS_DISCONNECTED */
    uint64_t timeouts;           /* connections dropped for want of a reply */
    uint64_t pushes;
    uint32_t last_rtt_us;        /* the last reply: from its command's queueing */
    uint32_t pending;            /* commands awaiting their replies now */
};

/* Resolve url's host (this blocks: call it at start-up) and start the first
 * attempt. opts may be NULL (the defaults); handler must stay valid; user is
 * passed back to every handler callback. Returns the client, or NULL with
 * *err set ("cannot resolve host"). */
struct redis *redis_new(struct reactor *reactor, const struct resp_url *url,
                        const struct redis_options *opts, const struct redis_handler *handler,
                        void *user, const char **err);
/* Close the connection and free the client once the current batch of
 * events is over; callable from any callback, the client's own included.
 * The pending commands' callbacks run inside it (REDIS_DISCONNECTED), and
 * no callback of any kind comes after it returns. */
void redis_free(struct redis *r);

/* Queue the command argv[0..argc) (lens[i] bytes each; lens NULL: C strings,
 * at most 64 of them) with its callback; the bytes are copied at once. Written when the socket is writable, after whatever
 * else was queued in the same batch of events: one write for many
 * commands. Returns 0, or -1 when it is not accepted (not connected, or
 * max_pending / max_output_bytes reached), and then fn is never called. */
int redis_command(struct redis *r, int argc, const char *const *argv, const size_t *lens,
                  redis_reply_fn *fn, void *arg);
/* The same with its own timeout (a blocking command such as XREAD BLOCK
 * 5000 needs more than the default). */
int redis_command_timeout(struct redis *r, int argc, const char *const *argv,
                          const size_t *lens, uint32_t timeout_ms, redis_reply_fn *fn,
                          void *arg);

/* True between on_connected and the end of that connection. */
bool redis_is_ready(const struct redis *r);
/* Counters and the reason of the last failure ("" if none); valid as long
 * as r is. */
const struct redis_stats *redis_get_stats(const struct redis *r);
const char *redis_last_error(const struct redis *r);

/* The wait before attempt number attempt (0: the first after a failure): a
 * ceiling of 200 ms * 2^attempt, capped at cap_ms, and a random point in its
 * upper half ("equal jitter"), so that instances that lost Redis together
 * do not come back in step. */
uint32_t redis_backoff_ms(unsigned attempt, uint32_t cap_ms);

#endif
