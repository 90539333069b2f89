/* wsclient.h -- the client side of RFC 6455, shared by `connect`, `monitor`
 * and `bench`: URL parsing, a non-blocking connect, for wss:// a TLS
 * handshake (tls.h: the server's certificate and name checked), the opening
 * handshake with Sec-WebSocket-Accept checked (§4.1), then the same conn.c
 * and ws.c as the server, in the client role (frames masked with fresh
 * random keys, masked server frames refused); and the backoff schedule for
 * reconnecting. */
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
    bool     path_given;         /* the text had a path or a query, even "/" */
};

/* Parse "ws://host[:port][/path][?query]" (or wss://; "http(s)://" is
 * taken as ws(s)://). A URL without a scheme is taken as ws://. Returns 0, or
 * -1 with *why set. */
int ws_url_parse(const char *text, struct ws_url *url, const char **why);
#define WSCLIENT_DEFAULT_HOST "127.0.0.1"
#define WSCLIENT_DEFAULT_PORT 8970

/* The server a client's command line names: the URL text if given (NULL:
 * none), else ws://host:port (NULL or 0: the defaults above). A URL without
 * a path gets default_path ("/chat"), as ws://host:port does. Returns 0, or
 * -1 with *why set. */
int ws_url_from_args(struct ws_url *url, const char *text, const char *host, uint16_t port,
                     const char *default_path, const char **why);
/* "ws://host:port/path" back as text (cap >= 2400 is always enough). */
void ws_url_format(const struct ws_url *url, char *out, size_t cap);

/* For a client about to connect to url (prog names it in messages:
 * "monitor"): with wss://, set up TLS once for every connection of the
 * process, trusting ca_file (NULL: the system's CAs), or with insecure
 * checking nothing (a warning on stderr says so, once). Returns 0, or 2 (a
 * bad option, said in one line on stderr): wss:// in a build without TLS
 * (make TLS=1), an unreadable ca_file, ca_file with insecure, either with
 * ws://. */
int wsclient_tls_setup(const char *prog, const struct ws_url *url, const char *ca_file,
                       bool insecure);
/* The help text of --cacert and --insecure, for the option tables. */
#define WSCLIENT_CACERT_HELP   "wss://: trust the CAs in this PEM file, not the system's"
#define WSCLIENT_INSECURE_HELP "wss://: do not verify the server's certificate (testing only)"

/* What the user of a client connection provides. ep.on_message receives
 * messages, ep.on_open runs after the handshake, ep.on_close after the
 * connection is gone (c->close_code and c->end_reason say how). on_fail
 * runs instead of all of them when the connection never opened: refused,
 * timed out, a failed TLS handshake ("certificate verify failed: REASON
 * for HOST"), or a non-101 answer (why then quotes the status line). */
struct wsclient_handler {
    struct endpoint ep;
    void (*on_fail)(struct conn *c, const char *why);
};

struct wsclient {                /* embed first in a bigger struct if needed */
    struct conn conn;
    const struct wsclient_handler *handler;
    int status;                  /* the HTTP status of a refused upgrade; 0: none */
    char key[HANDSHAKE_KEY_LEN + 1];
    char why[160];               /* a handshake failure, or the server's Close */
    bool peer_closed;            /* the server sent Close first */
    bool untrusted;              /* wss:// certificate or name not trusted */
    /* While TCP (and TLS) connect (wsclient.c): the addresses left to try. */
    const struct reactor_ops *conn_ops;   /* conn.c's, put back once connected */
    struct addrinfo *addrs;               /* NULL once connected */
    const struct addrinfo *next_addr;
    const struct ws_url *url;
    const char *extra_headers;
    char bind_ip[48];                     /* "" for any */
};

/* Start connecting to url; size >= sizeof(struct wsclient). Every address
 * the host name resolves to is tried in turn until one accepts (localhost
 * may be ::1 first while the server listens on 127.0.0.1 only); with wss://
 * the TLS handshake follows on that one (wsclient_tls_setup() first). bind_ip (or
 * NULL) picks the local address. extra_headers (or NULL) go into the
 * request, each line ending in \r\n. url and extra_headers must stay valid
 * until the connection opens or fails. The handshake must finish within
 * env->header_timeout_ms. Returns the connection, or NULL with *err set
 * (on_fail is not called then). */
struct wsclient *wsclient_connect(struct conn_env *env, const struct ws_url *url, size_t size,
                                  const struct wsclient_handler *handler, const char *bind_ip,
                                  const char *extra_headers, const char **err);

/* True when a connection failed in a way that retrying will not change: an
 * HTTP answer such as 404 or 403 (the address or the request is wrong), or
 * a certificate not trusted for the host (wc->untrusted; a certificate is
 * not replaced in the seconds of a backoff, and a client that retries an
 * untrusted server forever hides the problem). Refused connections, other
 * TLS failures and 5xx (a server or load balancer restarting) are worth
 * retrying, and so are 408 and 429, which say "later". */
bool wsclient_refused_for_good(const struct conn *c);

/* Copy len bytes of text from a server into out (cap bytes, NUL-terminated)
 * so that a terminal shows them and obeys none: C0 controls and DEL in caret
 * notation (ESC is ^[, a newline ^J), tab as a space, the C1 controls
 * U+0080..U+009F as U+FFFD. At most twice the input is needed; what does not
 * fit is cut. Returns the bytes written, without the NUL. */
size_t wsclient_visible(const char *s, size_t len, char *out, size_t cap);

/* Why a client connection ended, in words for people: "the server closed
 * it: 1001 going away", or the local reason ("Connection reset by peer",
 * "ping timeout"). For ep.on_close; out gets at most cap bytes. */
void wsclient_describe_end(const struct conn *c, char *out, size_t cap);

/* --- reconnecting -------------------------------------------------------------- */

#define WSCLIENT_BACKOFF_BASE_MS 250
#define WSCLIENT_BACKOFF_CAP_MS  10000
#define WSCLIENT_STABLE_MS       5000    /* an open this long resets the backoff */

/* The wait before reconnect attempt number attempt (0: the first after a
 * failure or a drop): a ceiling of 250 ms * 2^attempt, capped at 10 s, and a
 * random point in its upper half ("equal jitter"). Never under 125 ms, so a
 * client never spins; random, so clients dropped together spread out. */
uint32_t wsclient_backoff_ms(unsigned attempt);
/* The same with another cap (a monitor measures gaps: it must not wait long). */
uint32_t wsclient_backoff_capped_ms(unsigned attempt, uint32_t cap_ms);

/* The reconnect schedule of one client: zero it before the first connect. */
struct wsclient_retry {
    uint32_t cap_ms;             /* longest wait; 0: WSCLIENT_BACKOFF_CAP_MS */
    unsigned attempt;            /* failures since the last stable connection */
    uint64_t due_ms;             /* monotonic time of the next attempt; 0: none */
    uint64_t opened_ms;          /* when the current connection opened; 0: none */
};

/* The connection opened at now_ms. */
void wsclient_retry_opened(struct wsclient_retry *r, uint64_t now_ms);
/* The connection failed or dropped at now_ms: schedule the next attempt and
 * return its delay in ms. A connection that stayed open WSCLIENT_STABLE_MS
 * starts the backoff again from the bottom; one that drops sooner (a server
 * that accepts, then closes) keeps climbing it. */
uint32_t wsclient_retry_schedule(struct wsclient_retry *r, uint64_t now_ms);
/* True once a scheduled attempt is due at now_ms; the schedule is then
 * cleared, so it answers true once per wsclient_retry_schedule(). */
bool wsclient_retry_due(struct wsclient_retry *r, uint64_t now_ms);

/* --- the loop of an interactive client ------------------------------------------ */

/* Set up the loop `connect` and `monitor` run in: the reactor, env with the
 * client deadlines (10 s for the handshake, 2 s for the closing handshake, a
 * ping every ping_interval_ms), SIGINT, SIGTERM and SIGHUP delivered to
 * on_signal, and sweep->on_tick called every sweep_ms for deadlines and
 * reconnects. Returns 0, or -1 with errno. */
int wsclient_loop_init(struct reactor *r, struct conn_env *env, struct reactor_timer *sweep,
                       uint32_t sweep_ms, uint32_t ping_interval_ms, void (*on_signal)(int));

#endif
