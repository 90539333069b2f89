/* cluster.h -- the cluster mode's core (--redis): the one Redis connection
 * every endpoint shares for commands, this instance's name, the key names,
 * and who is told when the broker comes and goes. Without --redis none of
 * it exists: cluster_enabled() is false and every endpoint works alone.
 *
 * What an endpoint does with it (ep_sensor.c today, ep_chat.c next):
 *   - in its setup, if cluster_enabled(): cluster_listen() a listener of its
 *     own (on_up: read what changed while the broker was away, re-issue
 *     what it keeps running; on_down: stop relying on the broker);
 *   - send commands with redis_command(cluster_redis(), ...): they fail at
 *     once (-1) while !cluster_ready(), which the endpoint must answer
 *     ("broker unavailable"), never drop silently;
 *   - a blocking read (XREAD BLOCK) occupies a whole connection: open one
 *     of its own with cluster_connect() (same URL, its own reconnects);
 *   - name its keys with cluster_key() ("PREFIX:sensor:lease").
 * redis.c reconnects with backoff by itself: an endpoint never does. */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reactor.h"
#include "redis.h"

/* Told when the shared command connection (cluster_redis()) comes up or
 * goes down; the caller owns it and keeps it alive for the process's life.
 * Both members may be NULL. */
struct cluster_listener {
    /* Connected (the first time, or again after an outage): commands are
     * accepted from now on. */
    void (*on_up)(void *user);
    /* Lost: its pending commands have already failed (REDIS_DISCONNECTED);
     * why says what happened ("Connection reset by peer"). */
    void (*on_down)(const char *why, void *user);
    void *user;
    struct cluster_listener *next;       /* cluster.c's */
};

/* Start the cluster mode: resolve url's host, connect, and wait for the
 * first connection by running r's loop (up to the connect and command
 * timeouts, 3 s each) before the server listens. url must be valid (config.c
 * checked it). instance NULL: HOST:PID. On failure prints one line naming
 * the URL ("wspulse: --redis redis://127.0.0.1:1: Connection refused") and
 * returns -1: a Redis that is not there at start-up is a setup error, not a
 * silent single-instance mode. Later outages are survived (reconnects). */
int cluster_start(struct reactor *r, const char *url, const char *prefix, const char *instance);

/* Was --redis given (and cluster_start successful)? */
bool cluster_enabled(void);
/* Is the command connection up now? False without --redis. */
bool cluster_ready(void);
/* The command connection: pipelined commands, no blocking ones. NULL
 * without --redis. Never free it. */
struct redis *cluster_redis(void);
/* This instance's name, unique among the instances (HOST:PID by default);
 * NULL without --redis. */
const char *cluster_instance(void);
/* "PREFIX:suffix" into out[0..cap); returns out (cut short if cap is). */
const char *cluster_key(char *out, size_t cap, const char *suffix);

/* Add l to the listeners. If the broker is up already, l->on_up runs now,
 * before this returns, so that a listener added after cluster_start is not
 * left waiting for a reconnection. */
void cluster_listen(struct cluster_listener *l);

/* A further connection to the same Redis for an endpoint's blocking reads:
 * handler and user as in redis_new (handler must stay valid), opts may be
 * NULL. It connects in the background and reconnects by itself. Returns
 * NULL (after logging why) only if it cannot be created. */
struct redis *cluster_connect(const struct redis_handler *handler, void *user,
                              const struct redis_options *opts);

#endif
