/* wsclient.c -- see wsclient.h. While TCP connects, the connection's watch
 * runs wsclient's own callback instead of conn.c's: a connect that fails
 * later (refused, unreachable) is then a reason to try the next address of
 * the name, not the end, and the fd is swapped under the same struct, so the
 * caller's pointer stays good. For wss:// another callback of ours then
 * drives the TLS handshake, watching whichever way OpenSSL waits. Once
 * connected (TCP, then TLS), conn.c's callbacks come back, the request goes
 * out, and the rest is an ordinary connection: conn.c reads and writes
 * through c->tls. */
#include "wsclient.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "tls.h"
#include "ws.h"

/* --- URLs ------------------------------------------------------------------ */

static const char *skip_scheme(const char *s, bool *tls, uint16_t *port)
{
    static const struct { const char *prefix; bool tls; uint16_t port; } schemes[] = {
        { "ws://", false, 80 }, { "wss://", true, 443 },
        { "http://", false, 80 }, { "https://", true, 443 },
    };
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncasecmp(s, schemes[i].prefix, n) == 0) {
            *tls = schemes[i].tls;
            *port = schemes[i].port;
            return s + n;
        }
    }
    *tls = false;
    *port = 80;
    return strstr(s, "://") ? NULL : s;
}

/* host, [v6host] or host:port, up to the path; returns the end or NULL. */
static const char *parse_authority(const char *s, struct ws_url *url, const char **why)
{
    const char *end = s + strcspn(s, "/?#");
    const char *host = s, *host_end, *colon;
    if (*s == '[') {
        host = s + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end)
            return *why = "unclosed [ in host", NULL;
        colon = host_end + 1 < end && host_end[1] == ':' ? host_end + 1 : NULL;
    } else {
        colon = memchr(s, ':', (size_t)(end - s));
        host_end = colon ? colon : end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof url->host)
        return *why = "missing or overlong host", NULL;
    memcpy(url->host, host, hlen);
    url->host[hlen] = '\0';
    if (colon) {
        char *stop;
        unsigned long port = strtoul(colon + 1, &stop, 10);
        if (stop != end || colon + 1 == end || port == 0 || port > 65535)
            return *why = "bad port", NULL;
        url->port = (uint16_t)port;
    }
    return end;
}

int ws_url_parse(const char *text, struct ws_url *url, const char **why)
{
    memset(url, 0, sizeof *url);
    const char *s = skip_scheme(text, &url->tls, &url->port);
    if (!s) {
        *why = "the scheme must be ws:// or wss://";
        return -1;
    }
    s = parse_authority(s, url, why);
    if (!s)
        return -1;
    size_t plen = strcspn(s, "#");          /* a fragment is never sent (§3) */
    if (plen + 2 > sizeof url->path) {
        *why = "path too long";
        return -1;
    }
    url->path_given = plen > 0;
    if (*s != '/')
        url->path[0] = '/';
    memcpy(url->path + (*s != '/'), s, plen);
    return 0;
}

int ws_url_from_args(struct ws_url *url, const char *text, const char *host, uint16_t port,
                     const char *default_path, const char **why)
{
    if (text && ws_url_parse(text, url, why) < 0)
        return -1;
    if (!text) {
        memset(url, 0, sizeof *url);
        host = host ? host : WSCLIENT_DEFAULT_HOST;
        if (strlen(host) >= sizeof url->host) {
            *why = "overlong host";
            return -1;
        }
        memcpy(url->host, host, strlen(host) + 1);
        url->port = port ? port : WSCLIENT_DEFAULT_PORT;
    }
    if (!url->path_given)
        snprintf(url->path, sizeof url->path, "%s", default_path);
    return 0;
}

void ws_url_format(const struct ws_url *url, char *out, size_t cap)
{
    bool v6 = strchr(url->host, ':') != NULL;
    snprintf(out, cap, "%s://%s%s%s:%u%s", url->tls ? "wss" : "ws", v6 ? "[" : "", url->host,
             v6 ? "]" : "", url->port, url->path);
}

/* --- TLS ------------------------------------------------------------------------ */

int wsclient_tls_setup(const char *prog, const struct ws_url *url, const char *ca_file,
                       bool insecure)
{
    const char *err = NULL, *what = "";
    if (!url->tls && (ca_file || insecure))
        err = "--cacert and --insecure are for wss:// URLs";
    else if (!url->tls)
        return 0;
    else if (!tls_available())
        err = "wss:// needs TLS, and this binary was built without it (make TLS=1)";
    else if (ca_file && insecure)
        err = "--cacert and --insecure contradict each other";
    else if (tls_setup_client(ca_file, insecure, &err) < 0)
        what = ca_file ? "--cacert: " : "cannot load the system's CA certificates: ";
    if (err) {
        fprintf(stderr, "wspulse %s: %s%s\n", prog, what, err);
        return 2;
    }
    if (insecure)
        fprintf(stderr, "wspulse %s: warning: --insecure: the server's certificate is not "
                "verified; anyone on the path can read and change the traffic\n", prog);
    return 0;
}

/* --- the connection ---------------------------------------------------------- */

static struct wsclient *client_of(struct conn *c)
{
    return (struct wsclient *)c;
}

/* The code of a status line such as "HTTP/1.1 404 Not Found", or 0. */
static int status_code(const char *line)
{
    const char *space = strchr(line, ' ');
    return space ? atoi(space + 1) : 0;
}

static ssize_t client_on_http(struct conn *c, const uint8_t *buf, size_t len)
{
    struct wsclient *wc = client_of(c);
    const char *why;
    char status[96], shown[2 * sizeof status];
    long used = handshake_client_response((const char *)buf, len, wc->key, &why, status,
                                          sizeof status);
    if (used == 0)
        return 0;
    if (used < 0) {
        int code = status_code(status);
        wsclient_visible(status, strlen(status), shown, sizeof shown);
        if (code && code != 101) {       /* §4.1: the server's own answer says most */
            wc->status = code;
            snprintf(wc->why, sizeof wc->why, "server answered %.140s", shown);
        } else {
            snprintf(wc->why, sizeof wc->why, "%s (%.100s)", why,
                     status[0] ? shown : "no status line");
        }
        conn_abort(c, wc->why);
        return -1;
    }
    ws_open(c, &wc->handler->ep);
    return used;
}

bool wsclient_refused_for_good(const struct conn *c)
{
    const struct wsclient *wc = (const struct wsclient *)c;
    int code = wc->status;
    return wc->untrusted || (code >= 400 && code < 500 && code != 408 && code != 429);
}

size_t wsclient_visible(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\t') {
            out[n++] = ' ';
        } else if (ch < 0x20 || ch == 0x7f) {
            out[n++] = '^';
            out[n++] = (char)(ch ^ 0x40);
        } else if (ch == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0) {
            memcpy(out + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
        } else {
            out[n++] = (char)ch;
        }
    }
    if (cap > 0)
        out[n] = '\0';
    return n;
}

static void client_on_tick(struct conn *c)
{
    if (c->phase == CONN_WS) {
        ws_tick(c);
        return;
    }
    if (c->deadline_ms && c->env->now_ms >= c->deadline_ms)
        conn_abort(c, "no handshake answer in time");
}

static void client_on_closed(struct conn *c)
{
    struct wsclient *wc = client_of(c);
    net_addrs_free(wc->addrs);
    wc->addrs = NULL;
    if (!c->ep) {
        if (wc->handler && wc->handler->on_fail)
            wc->handler->on_fail(c, c->end_reason ? c->end_reason : "connection failed");
        return;
    }
    if (c->ep->stats)
        c->ep->stats->connections--;
    if (c->ep->on_close)
        c->ep->on_close(c);
}

/* Keep the server's words: "server shutting down" says more than a code. */
static void client_on_peer_close(struct conn *c, uint16_t code, const uint8_t *reason,
                                 size_t len)
{
    struct wsclient *wc = client_of(c);
    (void)code;                  /* ws.c keeps it in c->close_code */
    wc->peer_closed = true;      /* it will be printed: no terminal controls */
    wsclient_visible((const char *)reason, len, wc->why, sizeof wc->why);
}

static const struct conn_hooks client_hooks = {
    .on_http = client_on_http,
    .on_frames = ws_input,
    .on_tick = client_on_tick,
    .on_peer_close = client_on_peer_close,
    .on_closed = client_on_closed,
};

/* --- the TCP connect, address after address (RFC 8305, simply) ---------------- */

static void client_on_connecting(struct reactor_watch *w);
static const struct reactor_ops connecting_ops = { client_on_connecting, client_on_connecting };

/* Start the next address under the same struct; false if none is left. */
static bool try_next_address(struct wsclient *wc, const char **why)
{
    struct conn *c = &wc->conn;
    struct reactor *r = c->env->reactor;
    reactor_close(r, &c->watch);
    int fd = net_connect_next(&wc->next_addr, wc->bind_ip[0] ? wc->bind_ip : NULL, why);
    if (fd < 0)
        return false;
    c->watch.fd = fd;
    if (reactor_add(r, &c->watch, false, true) == 0)
        return true;
    reactor_close(r, &c->watch);
    *why = "cannot watch the socket";
    return false;
}

/* TCP and TLS are up: conn.c takes over the socket, and the request goes out. */
static void send_request(struct wsclient *wc)
{
    struct conn *c = &wc->conn;
    c->watch.ops = wc->conn_ops;
    if (reactor_modify(c->env->reactor, &c->watch, true, false) < 0) {
        conn_abort(c, "cannot watch the socket");
        return;
    }
    char request[4096];
    size_t n = handshake_client_request(request, sizeof request, wc->url->host, wc->url->port,
                                        wc->url->path, wc->key, wc->extra_headers);
    if (n == 0) {
        conn_abort(c, "request too long");
        return;
    }
    conn_send_copy(c, request, n);
    conn_flush(c);
}

/* wss://: one step of the TLS handshake, on every wake-up until it is done. */
static void client_on_tls(struct reactor_watch *w)
{
    struct wsclient *wc = (struct wsclient *)w;   /* the watch is first in both */
    struct conn *c = &wc->conn;
    char why[120];
    switch (tls_handshake(c->tls, why, sizeof why)) {
    case TLS_HANDSHAKE_DONE:
        send_request(wc);
        return;
    case TLS_HANDSHAKE_AGAIN: {
        bool out = tls_wants_write(c->tls);
        if (reactor_modify(c->env->reactor, w, !out, out) < 0)
            conn_abort(c, "cannot watch the socket");
        return;
    }
    case TLS_HANDSHAKE_UNTRUSTED:
        wc->untrusted = true;
        snprintf(wc->why, sizeof wc->why, "%.90s for %.64s", why, wc->url->host);
        break;
    case TLS_HANDSHAKE_FAILED:
        snprintf(wc->why, sizeof wc->why, "%s", why);
        break;
    }
    conn_abort(c, wc->why);
}

static const struct reactor_ops tls_handshake_ops = { client_on_tls, client_on_tls };

/* TCP is connected: the request goes out, after a TLS handshake for wss://. */
static void client_connected(struct wsclient *wc)
{
    struct conn *c = &wc->conn;
    net_addrs_free(wc->addrs);
    wc->addrs = NULL;
    wc->next_addr = NULL;
    net_set_nodelay(c->watch.fd);
    if (!wc->url->tls) {         /* §4.1: for wss://, TLS before the request */
        send_request(wc);
        return;
    }
    c->tls = tls_new_client(c->watch.fd, wc->url->host);
    if (!c->tls) {
        conn_abort(c, "cannot start TLS");
        return;
    }
    c->watch.ops = &tls_handshake_ops;
    client_on_tls(&c->watch);    /* the ClientHello goes out now */
}

/* The connect has an outcome (or a wake-up meant for the fd before). */
static void client_on_connecting(struct reactor_watch *w)
{
    struct wsclient *wc = (struct wsclient *)w;   /* the watch is first in both */
    int result = net_connect_result(w->fd);
    if (result < 0)
        return;
    if (result == 0) {
        client_connected(wc);
        return;
    }
    const char *why = strerror(result);
    if (!try_next_address(wc, &why))
        conn_abort(&wc->conn, why);
}

struct wsclient *wsclient_connect(struct conn_env *env, const struct ws_url *url, size_t size,
                                  const struct wsclient_handler *handler, const char *bind_ip,
                                  const char *extra_headers, const char **err)
{
    if (bind_ip && strlen(bind_ip) >= sizeof ((struct wsclient *)0)->bind_ip) {
        *err = "bad local address";
        return NULL;
    }
    struct addrinfo *addrs = net_resolve(url->host, url->port, err);
    const struct addrinfo *next = addrs;
    int fd = addrs ? net_connect_next(&next, bind_ip, err) : -1;
    struct conn *c = fd < 0 ? NULL : conn_new(env, fd, size, CONN_CLIENT, &client_hooks, NULL);
    if (!c) {
        if (fd >= 0)
            *err = "cannot watch the socket";
        net_addrs_free(addrs);
        return NULL;
    }
    struct wsclient *wc = client_of(c);
    wc->conn_ops = c->watch.ops;
    wc->addrs = addrs;
    wc->next_addr = next;
    wc->url = url;
    wc->extra_headers = extra_headers;
    snprintf(wc->bind_ip, sizeof wc->bind_ip, "%s", bind_ip ? bind_ip : "");
    c->watch.ops = &connecting_ops;
    const char *fail = handshake_client_key(wc->key) < 0 ? "no random bytes for the key"
                       : reactor_modify(env->reactor, &c->watch, false, true) < 0
                       ? "cannot watch the socket" : NULL;
    if (fail) {
        conn_abort(c, fail);     /* no handler yet: no on_fail */
        *err = fail;
        return NULL;
    }
    wc->handler = handler;
    if (env->header_timeout_ms)
        c->deadline_ms = env->now_ms + env->header_timeout_ms;
    return wc;
}

static const char *close_code_name(uint16_t code)
{
    switch (code) {
    case WS_CLOSE_NORMAL:       return "normal closure";
    case WS_CLOSE_GOING_AWAY:   return "going away";
    case WS_CLOSE_PROTOCOL:     return "protocol error";
    case WS_CLOSE_UNSUPPORTED:  return "unsupported data";
    case WS_CLOSE_NO_STATUS:    return "no status code";
    case WS_CLOSE_INVALID_DATA: return "invalid data";
    case WS_CLOSE_POLICY:       return "policy violation";
    case WS_CLOSE_TOO_BIG:      return "message too big";
    case WS_CLOSE_INTERNAL:     return "server error";
    case WS_CLOSE_TRY_AGAIN:    return "try again later";
    default:                    return "close code";
    }
}

void wsclient_describe_end(const struct conn *c, char *out, size_t cap)
{
    const struct wsclient *wc = (const struct wsclient *)c;
    const char *reason = c->end_reason ? c->end_reason : "connection closed";
    if (wc->peer_closed && c->close_code == WS_CLOSE_NO_STATUS)
        snprintf(out, cap, "the server closed it without a code");
    else if (wc->peer_closed && wc->why[0])
        snprintf(out, cap, "the server closed it: %u %s", c->close_code, wc->why);
    else if (wc->peer_closed)
        snprintf(out, cap, "the server closed it: %u %s", c->close_code,
                 close_code_name(c->close_code));
    else if (c->close_code != WS_CLOSE_ABNORMAL)
        snprintf(out, cap, "%s; close code %u", reason, c->close_code);
    else
        snprintf(out, cap, "%s", reason);
}

/* --- reconnecting ---------------------------------------------------------- */

uint32_t wsclient_backoff_capped_ms(unsigned attempt, uint32_t cap_ms)
{
    return net_backoff_ms(attempt, WSCLIENT_BACKOFF_BASE_MS, cap_ms);
}

uint32_t wsclient_backoff_ms(unsigned attempt)
{
    return wsclient_backoff_capped_ms(attempt, WSCLIENT_BACKOFF_CAP_MS);
}

void wsclient_retry_opened(struct wsclient_retry *r, uint64_t now_ms)
{
    r->opened_ms = now_ms;
    r->due_ms = 0;
}

uint32_t wsclient_retry_schedule(struct wsclient_retry *r, uint64_t now_ms)
{
    if (r->opened_ms && now_ms - r->opened_ms >= WSCLIENT_STABLE_MS)
        r->attempt = 0;
    r->opened_ms = 0;
    uint32_t delay_ms = wsclient_backoff_capped_ms(r->attempt,
                                                   r->cap_ms ? r->cap_ms : WSCLIENT_BACKOFF_CAP_MS);
    if (r->attempt < 64)
        r->attempt++;
    r->due_ms = now_ms + delay_ms;
    return delay_ms;
}

bool wsclient_retry_due(struct wsclient_retry *r, uint64_t now_ms)
{
    if (r->due_ms == 0 || now_ms < r->due_ms)
        return false;
    r->due_ms = 0;
    return true;
}

/* --- the loop of an interactive client ------------------------------------------ */

int wsclient_loop_init(struct reactor *r, struct conn_env *env, struct reactor_timer *sweep,
                       uint32_t sweep_ms, uint32_t ping_interval_ms, void (*on_signal)(int))
{
    static const int signals[] = { SIGINT, SIGTERM, SIGHUP };

    if (reactor_init(r) < 0)
        return -1;
    conn_env_init(env, r);
    env->header_timeout_ms = 10000;
    env->close_timeout_ms = 2000;
    env->ping_interval_ms = ping_interval_ms;
    if (reactor_signals(r, signals, 3, on_signal) < 0
        || reactor_timer_start(r, sweep, sweep_ms * 1000000ull) < 0)
        return -1;
    return 0;
}
