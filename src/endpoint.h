/* endpoint.h -- what a WebSocket endpoint implements (each ep_*.c defines
 * one or two of these), and what a client implements for its side of a
 * connection. ws.c calls up through these pointers; endpoints never include
 * one another. The server's own endpoints are listed in endpoints.h, which
 * only the server includes. */
#ifndef ENDPOINT_H
#define ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "wsframe.h"

struct conn;

/* What ws.c counts of an endpoint's traffic. Plain integers, written by the
 * one loop that runs the endpoint's connections: the server's endpoints
 * point into its stats (stats.h); a client's endpoint keeps none (NULL), as
 * the load generator's threads share their endpoints. */
struct endpoint_stats {
    const char *name;                    /* label value: "echo", "ticks", ... */
    uint64_t connections;                /* open now */
    uint64_t connections_total;
    uint64_t messages_in, messages_out;
    uint64_t bytes_in, bytes_out;        /* message payload bytes */
};

struct endpoint {
    const char *name;                    /* "echo", for logs and metrics */
    uint64_t    max_message;             /* bytes; larger messages get 1009 */
    struct endpoint_stats *stats;        /* counters, or NULL */
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

#endif
