/* wsclient.h -- the client side of RFC 6455, shared by `connect`, `monitor`
 * and `bench`: URL parsing, a non-blocking connect, the opening handshake
 * with Sec-WebSocket-Accept checked (§4.1), then the same conn.c and ws.c as
 * the server, in the client role (frames masked with fresh random keys,
 * masked server frames refused). */
#ifndef WSCLIENT_H
#define WSCLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "endpoint.h"
#include "handshake.h"

struct ws_url {
    bool     tls;                /* wss:// */
    char     host[256];          /* without brackets for IPv6 */
    uint16_t port;
    char     path[2048];         /* path and query, at least "/" */
};

/* Parse "ws://host[:port][/path][?query]" (or wss://; "http(s)://" is
 * taken as ws(s)://). A URL without a scheme is taken as ws://. Returns 0, or
 * -1 with *why set. */
int ws_url_parse(const char *text, struct ws_url *url, const char **why);
/* "ws://host:port/path" back as text (cap >= 2400 is always enough). */
void ws_url_format(const struct ws_url *url, char *out, size_t cap);

/* What the user of a client connection provides. ep.on_message receives
 * messages, ep.on_open runs after the handshake, ep.on_close after the
 * connection is gone (c->close_code and c->end_reason say how). on_fail
 * runs instead of all of them when the connection never opened: refused,
 * timed out, or a non-101 answer (why then quotes the status line). */
struct wsclient_handler {
    struct endpoint ep;
    void (*on_fail)(struct conn *c, const char *why);
};

struct wsclient {                /* embed first in a bigger struct if needed */
    struct conn conn;
    const struct wsclient_handler *handler;
    char key[HANDSHAKE_KEY_LEN + 1];
    char why[160];               /* a handshake failure, for on_fail */
};

/* Start connecting to url; size >= sizeof(struct wsclient). bind_ip (or
 * NULL) picks the local address. extra_headers (or NULL) go into the
 * request, each line ending in \r\n. The handshake must finish within
 * env->header_timeout_ms. Returns the connection, or NULL with *err set
 * (on_fail is not called then). */
struct wsclient *wsclient_connect(struct conn_env *env, const struct ws_url *url, size_t size,
                                  const struct wsclient_handler *handler, const char *bind_ip,
                                  const char *extra_headers, const char **err);

#endif
