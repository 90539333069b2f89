/* handshake.c -- see handshake.h. Every check below is a MUST of RFC 6455
 * §4.2.1 (server) or §4.1 (client); the section is cited where it is made. */
#include "handshake.h"

#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "random.h"
#include "sha1.h"

/* §1.3: the GUID every server appends to the client's key. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool handshake_is_upgrade(const struct http_request *req)
{
    return http_header_has_token(req, "Upgrade", "websocket");
}

void handshake_accept(const char *key, size_t key_len, char *accept)
{
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_LEN];
    sha1_init(&ctx);                     /* §4.2.2 item 5.4: base64(SHA-1(key + GUID)) */
    sha1_update(&ctx, key, key_len);
    sha1_update(&ctx, ws_guid, sizeof ws_guid - 1);
    sha1_final(&ctx, digest);
    base64_encode(digest, sizeof digest, accept);
}

/* §4.2.1 item 5: a base64 value that decodes to exactly 16 bytes. */
static bool key_valid(const struct http_span *key)
{
    uint8_t raw[18];
    return key && key->len == HANDSHAKE_KEY_LEN
        && base64_decode(key->p, key->len, raw, sizeof raw) == 16;
}

int handshake_check(const struct http_request *req, char *accept, const char **why)
{
    const struct http_span *version = http_header_get(req, "Sec-WebSocket-Version");
    const struct http_span *key = http_header_get(req, "Sec-WebSocket-Key");
    *why = NULL;
    if (!http_span_eq(&req->method, "GET"))                      /* §4.2.1 item 1 */
        *why = "a WebSocket handshake must be a GET";
    else if (req->minor_version < 1)                             /* item 1 */
        *why = "a WebSocket handshake needs HTTP/1.1";
    else if (!http_header_get(req, "Host"))                      /* item 2 */
        *why = "missing Host header";
    else if (!handshake_is_upgrade(req))                         /* item 3 */
        *why = "missing Upgrade: websocket";
    else if (!http_header_has_token(req, "Connection", "Upgrade"))   /* item 4 */
        *why = "missing Connection: Upgrade";
    else if (http_header_count(req, "Sec-WebSocket-Key") != 1)   /* §11.3.1 */
        *why = "Sec-WebSocket-Key must appear exactly once";
    else if (!key_valid(key))                                    /* item 5 */
        *why = "Sec-WebSocket-Key must be base64 of 16 bytes";
    else if (http_header_count(req, "Sec-WebSocket-Version") > 1)    /* §11.3.5 */
        *why = "Sec-WebSocket-Version must appear once";
    if (*why)
        return 400;
    if (!version || !http_span_eq(version, "13")) {              /* item 6, §4.4 */
        *why = "unsupported Sec-WebSocket-Version (this server speaks 13)";
        return 426;
    }
    handshake_accept(key->p, key->len, accept);
    return 101;
}

/* --- client ------------------------------------------------------------- */

int handshake_client_key(char *key)
{
    uint8_t nonce[16];                                           /* §4.1 */
    if (random_bytes(nonce, sizeof nonce) < 0)
        return -1;
    base64_encode(nonce, sizeof nonce, key);
    return 0;
}

size_t handshake_client_request(char *out, size_t cap, const char *host, unsigned port,
                                const char *path, const char *key, const char *extra)
{
    bool v6 = strchr(host, ':') != NULL;   /* an IPv6 literal needs brackets */
    /* §4.1 items 1-9: a GET of HTTP/1.1 with Host, Upgrade, Connection, the
     * key and version 13; Origin only from browsers (item 8). */
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s%s%s:%u\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "%s\r\n",
                     path, v6 ? "[" : "", host, v6 ? "]" : "", port, key, extra ? extra : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void copy_status_line(const char *buf, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    while (n < len && n + 1 < cap && buf[n] != '\r' && buf[n] != '\n')
        n++;
    memcpy(out, buf, n);
    out[n] = '\0';
}

long handshake_client_response(const char *buf, size_t len, const char *key,
                               const char **why, char *status_line, size_t cap)
{
    struct http_response res;
    ssize_t used = http_parse_response(buf, len, &res, NULL);
    *why = NULL;
    if (used == 0)
        return 0;
    copy_status_line(buf, len, status_line, cap);
    if (used < 0) {
        *why = "malformed HTTP response";
        return -1;
    }
    const struct http_span *upgrade = http_find_header(res.headers, res.num_headers, "Upgrade");
    const struct http_span *connection =
        http_find_header(res.headers, res.num_headers, "Connection");
    const struct http_span *accept =
        http_find_header(res.headers, res.num_headers, "Sec-WebSocket-Accept");
    char want[HANDSHAKE_ACCEPT_LEN + 1];
    handshake_accept(key, strlen(key), want);
    if (res.status != 101)                                       /* §4.1 item 1 */
        *why = "the server did not switch protocols";
    else if (!upgrade || !http_has_token(upgrade, "websocket"))  /* item 2 */
        *why = "response lacks Upgrade: websocket";
    else if (!connection || !http_has_token(connection, "Upgrade"))  /* item 3 */
        *why = "response lacks Connection: Upgrade";
    else if (!accept || !http_span_eq(accept, want))             /* item 4 */
        *why = "wrong Sec-WebSocket-Accept";
    else if (http_find_header(res.headers, res.num_headers, "Sec-WebSocket-Extensions"))
        *why = "server chose an extension we did not offer";     /* item 5 */
    else if (http_find_header(res.headers, res.num_headers, "Sec-WebSocket-Protocol"))
        *why = "server chose a subprotocol we did not ask for";  /* item 6 */
    return *why ? -1 : (long)used;
}
