/* endpoint.h -- what a WebSocket endpoint implements (each ep_*.c defines
 * one or two of these), and what a client implements for its side of a
 * connection. ws.c calls up through these pointers; endpoints never include
 * one another. */
#ifndef ENDPOINT_H
#define ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "wsframe.h"

struct conn;
struct stats_endpoint;

struct endpoint {
    const char *name;                    /* "echo", for logs and metrics */
    uint64_t    max_message;             /* bytes; larger messages get 1009 */
    struct stats_endpoint *stats;        /* counters, or NULL */
    /* The opening handshake is complete; the connection may send. */
    void (*on_open)(struct conn *c);
    /* The upgrade request's query (after '?', without it), right after
     * on_open, when there is one: /chat?since=ID. Optional. */
    void (*on_query)(struct conn *c, const char *query, size_t len);
    /* A whole message: opcode is WS_OP_TEXT (data is valid UTF-8) or
     * WS_OP_BINARY. data is writable and stays valid until conn_flush(c),
     * so replies may point into it. */
    void (*on_message)(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len);
    /* The connection is gone (after the batch it closed in). Optional. */
    void (*on_close)(struct conn *c);
};

/* The server's endpoints, one file each (ep_*.c). */
struct reactor;
extern struct endpoint ep_echo;      /* /echo */
extern struct endpoint ep_ticks;     /* /ws and /ticks */
extern struct endpoint ep_chat;      /* /chat */
extern struct endpoint ep_rpc;       /* /rpc */
extern struct endpoint ep_sensor;    /* /sensor: state and samples */
extern struct endpoint ep_control;   /* /control: state only */

/* Start the one timer that drives every /ws client; instance (or NULL) is
 * added to each tick as "server". Returns 0 or -1 with errno. */
int ticks_start(struct reactor *r, uint32_t tick_ms, const char *instance);

/* Prepare the chat room: the last history messages are kept for clients
 * that resume (--history), in this process or, with --redis, in the
 * cluster's stream. Returns 0 or -1 (logged). */
int chat_setup(struct reactor *r, uint32_t history);

/* Prepare the mock sensor (stopped); log_path (or NULL) gets every sample.
 * Returns 0, or -1 with errno if the log cannot be opened. */
int sensor_setup(struct reactor *r, uint32_t hz, uint32_t decimate, const char *log_path);
/* SIGHUP: reopen the sample log (after logrotate moved it). */
int sensor_reopen_log(void);
/* Stop sampling, flush and close the log. */
void sensor_shutdown(void);

#endif
