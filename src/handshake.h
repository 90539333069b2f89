/* handshake.h -- the opening handshake of RFC 6455 §4, both sides.
 * Server: check an upgrade request (§4.2.1) and compute Sec-WebSocket-Accept
 * (§4.2.2). Client: make a key and a request (§4.1), check the answer. */
#ifndef HANDSHAKE_H
#define HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

#define HANDSHAKE_KEY_LEN    24  /* base64 of 16 bytes */
#define HANDSHAKE_ACCEPT_LEN 28  /* base64 of a SHA-1 digest */

/* Does the request ask for a WebSocket upgrade at all (Upgrade: websocket)?
 * Only such requests are checked by handshake_check(). */
bool handshake_is_upgrade(const struct http_request *req);

/* Check an upgrade request against §4.2.1. Returns 101 and fills accept
 * (HANDSHAKE_ACCEPT_LEN + 1 bytes) when it is valid; otherwise the HTTP
 * status to answer (400, or 426 for a version other than 13, §4.4) with a
 * short explanation in *why. */
int handshake_check(const struct http_request *req, char *accept, const char **why);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)). */
void handshake_accept(const char *key, size_t key_len, char *accept);

/* Client: a fresh random Sec-WebSocket-Key (HANDSHAKE_KEY_LEN + 1 bytes).
 * Returns 0, or -1 with errno if the kernel gives no random bytes. */
int handshake_client_key(char *key);
/* Client: write the GET request for host:port and path (with query) into out.
 * extra (may be NULL) is more header lines, each ending in \r\n.
 * Returns the length, or 0 if it does not fit. */
size_t handshake_client_request(char *out, size_t cap, const char *host, unsigned port,
                                const char *path, const char *key, const char *extra);

/* Client: parse the server's answer from buf[0..len). Returns bytes used by
 * the response head (the rest are frames), 0 if incomplete, or -1 when it is
 * not a valid 101 with the right accept value, or names an extension or a
 * subprotocol (our request offers none); *why then says what, and
 * status_line (cap bytes) holds the status line for the message. */
long handshake_client_response(const char *buf, size_t len, const char *key,
                               const char **why, char *status_line, size_t cap);

#endif
