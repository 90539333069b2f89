/* server.c -- `wspulse serve`: the reactor, the listening socket, the
 * timers and signals, and the route table that maps every URL to what
 * answers it. HTTP requests are answered here; WebSocket traffic belongs to
 * ws.c and the endpoints once the handshake is done. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access.h"
#include "clock.h"
#include "cluster.h"
#include "conn.h"
#include "endpoints.h"
#include "handshake.h"
#include "http.h"
#include "ipcount.h"
#include "log.h"
#include "net.h"
#include "static.h"
#include "stats.h"
#include "tls.h"
#include "ws.h"

#define SWEEP_MS        250      /* deadlines and keepalive checks */
#define FD_RESERVE      64       /* descriptors kept for everything but clients */
#define FD_REFUSE_BATCH 64       /* out of fds: clients answered 503 per sweep, at most */
#define STATS_BODY_MAX  (16 * 1024)

static struct {
    const struct server_config *cfg;
    struct reactor reactor;
    struct conn_env env;
    struct reactor_watch listeners[NET_LISTEN_MAX];   /* one per address of --host */
    int nlisteners;
    struct reactor_timer sweep;
    int spare_fd;                /* given up to answer 503 when out of fds */
    bool accept_paused;          /* out of fds: listeners unwatched until the sweep */
    uint64_t fd_refusals;        /* 503s for lack of fds since the last log line */
    uint64_t fd_log_ms;          /* when that line was written */
    size_t max_conns;            /* WebSocket connections at once */
    size_t ws_conns;
    struct ipcount per_ip;       /* open connections per peer address */
    struct access_rules access;
    bool draining;
    uint64_t drain_deadline_ms;
} server = { .spare_fd = -1 };

/* --- the route table: every URL on one screen ---------------------------- */

struct request {                 /* what a handler needs of a request */
    const struct http_request *http;
    const char *path;
    size_t path_len;
    const char *query;           /* after '?', or NULL */
    size_t query_len;
    bool head;                   /* HEAD: the headers of the GET, no body */
    bool keep_alive;
};

static void page_healthz(struct conn *c, const struct request *r);
static void page_readyz(struct conn *c, const struct request *r);
static void page_stats(struct conn *c, const struct request *r);
static void page_metrics(struct conn *c, const struct request *r);

/* Paths not listed are pages from www/ ("/" is index.html, "/chat" also
 * chat.html). With --token, WebSockets and the counters need the token;
 * pages and health checks never do (a load balancer has no token). */
static const struct route {
    const char *path;
    struct endpoint *ws;         /* the WebSocket endpoint here, if any */
    void (*page)(struct conn *c, const struct request *r);  /* a built-in page */
    bool needs_token;
} routes[] = {
    { "/ws",      &ep_ticks,   NULL,          true },
    { "/ticks",   &ep_ticks,   NULL,          true },
    { "/echo",    &ep_echo,    NULL,          true },
    { "/chat",    &ep_chat,    NULL,          true },
    { "/rpc",     &ep_rpc,     NULL,          true },
    { "/sensor",  &ep_sensor,  NULL,          true },
    { "/control", &ep_control, NULL,          true },
    { "/healthz", NULL,        page_healthz,  false },
    { "/readyz",  NULL,        page_readyz,   false },
    { "/stats",   NULL,        page_stats,    true },
    { "/metrics", NULL,        page_metrics,  true },
};

static const struct route *find_route(const char *path, size_t len)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strlen(routes[i].path) == len && memcmp(routes[i].path, path, len) == 0)
            return &routes[i];
    return NULL;
}

/* The original servers answered WebSockets at their root (ws://host:8765):
 * an upgrade for "/" goes to --ws-root, while a GET of "/" is the hub page. */
static const struct route *find_upgrade_route(const char *path, size_t len)
{
    if (len == 1 && path[0] == '/')
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (routes[i].ws && strcmp(routes[i].path + 1, server.cfg->ws_root) == 0)
                return &routes[i];
    return find_route(path, len);
}

/* --- responses ----------------------------------------------------------- */

static void count_response(int status)
{
    if (status >= 100 && status < 600)
        stats.http_by_status[status / 100]++;
}

/* Set by handle_request() while it answers a HEAD, so that no path that
 * answers one (a page, a refusal, a failed upgrade) can send it a body. */
static bool answering_head;

/* Send a head and a body of body_len bytes (body NULL: none). RFC 9110
 * §9.3.2: the answer to HEAD has the GET's head and never a body; its
 * Content-Length is the body's all the same. Without keep-alive the
 * connection lingers closed after it. */
static void respond(struct conn *c, int status, const char *type, const void *body,
                    size_t body_len, bool keep_alive, const char *extra)
{
    char head[1024];
    size_t n = http_write_head(head, sizeof head, status, type, body_len, keep_alive, extra);
    count_response(status);
    conn_send_copy(c, head, n);
    if (body && !answering_head)
        conn_send_copy(c, body, body_len);
    if (!keep_alive)
        conn_linger(c);
    else
        c->deadline_ms = c->env->now_ms + server.cfg->header_timeout_ms;
}

/* An error: a one-line text body that says what was wrong, then close.
 * head_only drops the body; a HEAD being answered drops it anyway. */
static void respond_error(struct conn *c, int status, const char *why, const char *extra,
                          bool head_only)
{
    char body[256];
    int n = snprintf(body, sizeof body, "%d %s: %s\n", status, http_reason(status), why);
    respond(c, status, "text/plain; charset=utf-8", head_only ? NULL : body, (size_t)n,
            false, extra);
}

static void respond_text(struct conn *c, const struct request *r, int status,
                         const char *type, const char *body, size_t len)
{
    respond(c, status, type, r->head ? NULL : body, len, r->keep_alive,
            "Cache-Control: no-store\r\n");
}

/* --- built-in pages -------------------------------------------------------- */

static void page_healthz(struct conn *c, const struct request *r)
{
    if (stats_ticks_healthy(clock_mono_ms()))
        respond_text(c, r, 200, "text/plain; charset=utf-8", "ok\n", 3);
    else
        respond_text(c, r, 503, "text/plain; charset=utf-8", "tick loop stalled\n", 18);
}

static void page_readyz(struct conn *c, const struct request *r)
{
    if (server.draining)
        respond_text(c, r, 503, "text/plain; charset=utf-8", "draining\n", 9);
    else if (cluster_enabled() && !cluster_ready())   /* send new clients elsewhere */
        respond_text(c, r, 503, "text/plain; charset=utf-8", "broker unavailable\n", 19);
    else
        respond_text(c, r, 200, "text/plain; charset=utf-8", "ready\n", 6);
}

/* Output waiting for the peers, summed over every connection. */
static void count_queued(void)
{
    stats.queued_bytes = 0;
    for (const struct conn *c = server.env.all; c; c = c->next)
        stats.queued_bytes += conn_pending(c);
}

static void page_stats(struct conn *c, const struct request *r)
{
    static char body[STATS_BODY_MAX];
    count_queued();
    stats.buffered_bytes = server.env.buffered;
    size_t n = stats_render_json(body, sizeof body - 1, c->env->now_ms, c->env->count);
    body[n++] = '\n';
    respond_text(c, r, 200, "application/json", body, n);
}

static void page_metrics(struct conn *c, const struct request *r)
{
    static char body[4 * STATS_BODY_MAX];
    count_queued();
    stats.buffered_bytes = server.env.buffered;
    size_t n = stats_render_prometheus(body, sizeof body, c->env->now_ms, c->env->count);
    respond_text(c, r, 200, "text/plain; version=0.0.4; charset=utf-8", body, n);
}

/* A page from www/. A path that is only a WebSocket endpoint gets 426. */
static void serve_file(struct conn *c, const struct request *r, bool ws_endpoint)
{
    const char *type;
    struct msg *m = static_lookup(r->path, r->path_len, &type);
    if (!m && ws_endpoint) {
        respond_error(c, 426, "this is a WebSocket endpoint",
                      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n", r->head);
        return;
    }
    if (!m) {
        respond_error(c, 404, "no such page", NULL, r->head);
        return;
    }
    char head[512];
    size_t n = http_write_head(head, sizeof head, 200, type, m->len, r->keep_alive,
                               "Cache-Control: no-cache\r\n");
    count_response(200);
    conn_send_copy(c, head, n);
    if (!r->head)
        conn_send_msg(c, m);
    msg_unref(m);
    if (!r->keep_alive)
        conn_linger(c);
    else
        c->deadline_ms = c->env->now_ms + server.cfg->header_timeout_ms;
}

/* --- the upgrade ------------------------------------------------------------ */

static void log_open(struct conn *c, const struct endpoint *ep)
{
    if (!log_enabled(LOG_INFO))
        return;
    char peer[NET_ADDR_STRLEN];
    net_addr_format(&c->peer, peer);
    struct log_field f[] = { { "peer", peer, 0 }, { "endpoint", ep->name, 0 } };
    log_fields(LOG_INFO, "open", f, 2);
}

/* The handshake is valid (101) or the status to refuse it with. */
static int admit(const struct request *r, char *accept, const char **why)
{
    int status = handshake_check(r->http, accept, why);
    if (status != 101)
        return status;
    if (access_check_origin(&server.access, r->http)) {
        *why = "Origin not allowed (--allow-origin)";
        return 403;
    }
    if (access_check_token(&server.access, r->http)) {
        *why = "a valid token is required (?token= or Authorization: Bearer)";
        return 401;
    }
    if (server.ws_conns >= server.max_conns) {
        stats.refused_full++;
        *why = "server full (--max-conns)";
        return 503;
    }
    return 101;
}

static const char *refusal_headers(int status)
{
    switch (status) {            /* 426: RFC 6455 §4.4, the version we speak */
    case 401: return "WWW-Authenticate: Bearer realm=\"wspulse\"\r\n";
    case 426: return "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n";
    case 503: return "Retry-After: 5\r\n";
    default:  return NULL;
    }
}

static void upgrade(struct conn *c, const struct request *r, struct endpoint *ep)
{
    char accept[HANDSHAKE_ACCEPT_LEN + 1];
    const char *why;
    int status = admit(r, accept, &why);
    if (status != 101) {         /* RFC 6455 §4.2.1, §7.2.2: refused, then closed */
        stats.handshakes_failed++;
        respond_error(c, status, why, refusal_headers(status), false);
        return;
    }
    char extra[160];             /* RFC 6455 §4.2.2: no subprotocol or extension chosen */
    snprintf(extra, sizeof extra,
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept);
    char head[256];
    size_t n = http_write_head(head, sizeof head, 101, NULL, 0, true, extra);
    count_response(101);
    conn_send_copy(c, head, n);
    server.ws_conns++;
    log_open(c, ep);
    ws_open(c, ep);
    if (r->query && ep->on_query && c->phase == CONN_WS)
        ep->on_query(c, r->query, r->query_len);
}

/* --- requests ----------------------------------------------------------------- */

/* RFC 9112 §9.3: HTTP/1.1 stays open unless "close"; 1.0 only if asked. */
static bool wants_keep_alive(const struct http_request *req)
{
    if (server.draining)
        return false;            /* one last answer, then close */
    const struct http_span *v = http_header_get(req, "Connection");
    if (req->minor_version >= 1)
        return !(v && http_has_token(v, "close"));
    return v && http_has_token(v, "keep-alive");
}

/* No request here has a body; one that comes with a body cannot be read
 * past safely, so it is refused and the connection closed. The caller has
 * checked that Content-Length is valid. */
static bool has_body(const struct http_request *req)
{
    uint64_t len = 0;
    http_content_length(req, &len);
    return http_header_get(req, "Transfer-Encoding") || len > 0;
}

/* RFC 9112 §3.2: an HTTP/1.1 request MUST have exactly one Host. */
static bool host_ok(const struct http_request *req)
{
    return req->minor_version < 1 || http_header_count(req, "Host") == 1;
}

/* The path of the target: origin form "/p?q" as is; absolute form
 * "http://host/p?q", which a server MUST accept (RFC 9112 §3.2.2), without
 * its scheme and authority. An empty span if it is neither. */
static struct http_span target_path(const struct http_span *target)
{
    struct http_span t = *target;
    if (t.len > 0 && t.p[0] == '/')
        return t;
    struct http_span scheme = { t.p, 0 };
    const char *sep = memchr(t.p, ':', t.len);
    if (!sep || (size_t)(t.p + t.len - sep) < 3 || sep[1] != '/' || sep[2] != '/')
        return (struct http_span){ t.p, 0 };
    scheme.len = (size_t)(sep - t.p);
    if (!http_span_case_eq(&scheme, "http") && !http_span_case_eq(&scheme, "https"))
        return (struct http_span){ t.p, 0 };
    const char *authority = sep + 3, *end = t.p + t.len;
    const char *path = authority;
    while (path < end && *path != '/' && *path != '?')
        path++;
    if (path == end || *path == '?')
        return (struct http_span){ "/", 1 };   /* "http://host" means "/" */
    return (struct http_span){ path, (size_t)(end - path) };
}

/* Why a request cannot be served at all, or NULL; sets *status. */
static const char *refusal(const struct http_request *req, const struct http_span *path,
                           bool get, bool head, int *status)
{
    *status = 400;
    if (!get && !head) {
        *status = 405;
        return "only GET and HEAD";
    }
    if (!host_ok(req))
        return "an HTTP/1.1 request needs exactly one Host header";
    uint64_t len;                /* RFC 9112 §6.3: MUST answer 400 and close */
    if (http_content_length(req, &len) < 0)
        return "Content-Length must be one decimal number, on one line";
    if (has_body(req))
        return "a request body is not accepted here";
    if (path->len == 0)
        return "the target must be a path or an http:// URL";
    return NULL;
}

static void handle_request(struct conn *c, const struct http_request *req)
{
    struct request r = { .http = req, .keep_alive = wants_keep_alive(req) };
    bool get = http_span_eq(&req->method, "GET");
    r.head = http_span_eq(&req->method, "HEAD");
    answering_head = r.head;     /* until this function returns */
    stats.http_requests++;
    struct http_span target = target_path(&req->target);
    int status;
    const char *why = refusal(req, &target, get, r.head, &status);
    if (why) {
        respond_error(c, status, why, status == 405 ? "Allow: GET, HEAD\r\n" : NULL, r.head);
        answering_head = false;
        return;
    }
    r.path = target.p;
    const char *query = memchr(r.path, '?', target.len);
    r.path_len = query ? (size_t)(query - r.path) : target.len;
    r.query = query ? query + 1 : NULL;
    r.query_len = query ? target.len - r.path_len - 1 : 0;
    const struct route *route = handshake_is_upgrade(req)
                                    ? find_upgrade_route(r.path, r.path_len)
                                    : find_route(r.path, r.path_len);
    if (handshake_is_upgrade(req) && route && route->ws)
        upgrade(c, &r, route->ws);
    else if (handshake_is_upgrade(req))
        respond_error(c, 404, "no WebSocket endpoint here", NULL, false);
    else if (route && route->page && route->needs_token
             && access_check_token(&server.access, req))
        respond_error(c, 401, "a valid token is required", refusal_headers(401), r.head);
    else if (route && route->page)
        route->page(c, &r);
    else
        serve_file(c, &r, route && route->ws);
    answering_head = false;
}

static ssize_t server_on_http(struct conn *c, const uint8_t *buf, size_t len)
{
    struct http_request req;
    ssize_t n = http_parse_request((const char *)buf, len, &req, &c->http_scan);
    if (n == HTTP_INCOMPLETE)
        return 0;                /* c->in keeps the head, c->http_scan how far it was read */
    c->http_scan = (struct http_scan){0};     /* before an upgrade makes it c->frame */
    if (n == HTTP_ERR_TOO_LARGE)
        respond_error(c, 431, "the request head is over 8 KiB or 64 header lines", NULL, false);
    else if (n == HTTP_ERR_VERSION)
        respond_error(c, 505, "only HTTP/1.x is spoken here", NULL, false);
    else if (n < 0)
        respond_error(c, 400, "malformed HTTP request", NULL, false);
    if (n < 0)
        return -1;
    handle_request(c, &req);
    return n;
}

/* --- connection hooks ------------------------------------------------------ */

static void server_on_tick(struct conn *c)
{
    if (c->phase == CONN_WS) {
        ws_tick(c);
        return;
    }
    if (c->deadline_ms && c->env->now_ms >= c->deadline_ms) {
        stats.header_timeouts++;
        if (c->in.len > 0)
            respond_error(c, 408, "the request head did not arrive in time", NULL, false);
        else
            conn_abort(c, "idle");   /* nothing asked: nothing to answer */
    }
}

static void log_close(const struct conn *c)
{
    if (!log_enabled(LOG_INFO))
        return;
    char peer[NET_ADDR_STRLEN];
    net_addr_format(&c->peer, peer);
    struct log_field f[] = {
        { "peer", peer, 0 }, { "endpoint", c->ep->name, 0 },
        { "code", NULL, c->close_code }, { "reason", c->end_reason ? c->end_reason : "", 0 },
    };
    log_fields(LOG_INFO, "close", f, 4);
}

static void server_on_closed(struct conn *c)
{
    ipcount_remove(&server.per_ip, c->peer.ip);
    const struct endpoint *ep = c->ep;
    if (!ep)
        return;
    server.ws_conns--;
    if (ep->stats)
        ep->stats->connections--;
    stats_count_close(c->close_code);
    if (ep->on_close)
        ep->on_close(c);
    log_close(c);
}

static const struct conn_hooks server_hooks = {
    .on_http = server_on_http,
    .on_frames = ws_input,
    .on_tick = server_on_tick,
    .on_closed = server_on_closed,
};

/* --- accepting ---------------------------------------------------------------- */

/* Listening again, or not, on every address (there is one listener per
 * address of --host). */
static void watch_listeners(bool on)
{
    for (int i = 0; i < server.nlisteners; i++)
        if (server.listeners[i].fd >= 0)
            reactor_modify(&server.reactor, &server.listeners[i], on, false);
}

/* Refusals are logged once a second at most, with their count: a storm of
 * handshakes at the open-file limit once wrote a line per refusal, 1.5
 * million of them. The sweep calls it too, so the last count is not lost. */
static void log_fd_refusals(void)
{
    uint64_t now = clock_mono_ms();
    if (server.fd_refusals == 0 || now - server.fd_log_ms < 1000)
        return;
    log_warn("out of file descriptors: %llu connection(s) refused with 503; "
             "accepting again every %d ms", (unsigned long long)server.fd_refusals, SWEEP_MS);
    server.fd_refusals = 0;
    server.fd_log_ms = now;
}

/* Out of descriptors. accept() fails before it looks at the queue, so
 * trying again at once would spin for ever (and a level-triggered listener
 * would wake us at once for the same clients): give up the spare
 * descriptor to take the oldest waiting clients, a few at a time, answer
 * each 503 and close, so they hear why instead of hanging in the backlog;
 * then stop watching every listener until the next sweep (on_sweep), so
 * that the connections we have are served and signals obeyed meanwhile. */
static void refuse_for_lack_of_fds(int listen_fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    if (server.spare_fd >= 0)
        close(server.spare_fd);
    for (int i = 0; i < FD_REFUSE_BATCH; i++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break;               /* none waiting, or the spare slot was taken */
        ssize_t unused = write(fd, busy, sizeof busy - 1);
        (void)unused;
        close(fd);
        stats.refused_full++;
        stats.refused_no_fds++;
        server.fd_refusals++;
    }
    server.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    server.accept_paused = true;
    watch_listeners(false);
    log_fd_refusals();
}

/* The sweep after a refusal: descriptors may have been freed since. */
static void resume_accepting(void)
{
    log_fd_refusals();
    if (!server.accept_paused || server.draining)
        return;
    server.accept_paused = false;
    watch_listeners(true);
}

/* Loopback peers are this machine: the benchmarks, or a reverse proxy in
 * front that makes every client one address. */
static bool is_loopback(const uint8_t ip[16])
{
    static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };
    static const uint8_t v6_loopback[16] = { [15] = 1 };
    return (memcmp(ip, v4_mapped, 12) == 0 && ip[12] == 127)
        || memcmp(ip, v6_loopback, 16) == 0;
}

/* Over --max-conn-rate-per-ip? Then the answer says when to come back. A
 * client looping connect and reset costs everybody the room's notices. */
static bool over_conn_rate(const struct conn *c, char *retry_after, size_t cap)
{
    uint32_t per_s = (uint32_t)server.cfg->max_conn_rate_per_ip, retry_s;
    if (per_s == 0 || (!server.cfg->conn_rate_loopback && is_loopback(c->peer.ip)))
        return false;
    if (ipcount_rate_allow(&server.per_ip, c->peer.ip, clock_mono_ns() / 1000, per_s, &retry_s))
        return false;
    snprintf(retry_after, cap, "Retry-After: %u\r\n", (unsigned)retry_s);
    return true;
}

/* A new connection counts against its address; one over the per-IP
 * limits is told so at once and closed. */
static void admit_connection(struct conn *c)
{
    uint32_t n = ipcount_add(&server.per_ip, c->peer.ip);
    c->deadline_ms = server.env.now_ms + server.cfg->header_timeout_ms;
    char retry_after[48];
    if (server.cfg->max_conns_per_ip && n > server.cfg->max_conns_per_ip) {
        stats.refused_full++;
        respond_error(c, 429, "too many connections from your address (--max-conns-per-ip)",
                      "Retry-After: 5\r\n", false);
        conn_flush(c);
    } else if (over_conn_rate(c, retry_after, sizeof retry_after)) {
        stats.conn_rate_limited++;
        respond_error(c, 429, "too many new connections from your address "
                      "(--max-conn-rate-per-ip)", retry_after, false);
        conn_flush(c);
    }
}

static void on_accept(struct reactor_watch *w)
{
    while (!server.accept_paused) {  /* paused: other listeners' events in this batch */
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                refuse_for_lack_of_fds(w->fd);
                return;
            }
            if (errno != EAGAIN)
                log_error("accept: %s", strerror(errno));
            return;
        }
        struct net_addr peer;
        net_addr_from_sockaddr(&peer, (struct sockaddr *)&ss);
        net_set_nodelay(fd);
        struct tls_conn *tls = server.cfg->tls_cert ? tls_new_server(fd) : NULL;
        if (server.cfg->tls_cert && !tls) {
            log_error("cannot start a TLS session: out of memory");
            close(fd);
            continue;
        }
        struct conn *c = conn_new(&server.env, fd, sizeof *c, CONN_SERVER, &server_hooks, &peer);
        if (!c) {
            tls_free(tls);
            continue;
        }
        c->tls = tls;
        admit_connection(c);
    }
}

static const struct reactor_ops listener_ops = { on_accept, NULL };

/* --- start and stop ------------------------------------------------------------- */

static void begin_drain(void)
{
    server.draining = true;
    stats.draining = true;
    server.drain_deadline_ms = server.env.now_ms + server.cfg->drain_timeout_ms;
    for (int i = 0; i < server.nlisteners; i++)
        reactor_close(&server.reactor, &server.listeners[i]);
    log_info("shutting down: closing %zu connection(s)", server.env.count);
    /* HTTP connections stay: a request already on its way gets an answer
     * (/readyz says 503 now) with Connection: close. */
    for (struct conn *c = server.env.all; c; c = c->next)
        if (c->phase == CONN_WS)
            ws_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
}

/* Draining is over when every WebSocket has closed, or at the deadline. */
static bool drained(void)
{
    return server.ws_conns == 0 || server.env.now_ms >= server.drain_deadline_ms;
}

static void on_signal(int signo)
{
    if (signo == SIGHUP) {
        if (log_reopen() < 0)
            log_error("SIGHUP: cannot reopen the log file: %s", strerror(errno));
        if (sensor_reopen_log() < 0)
            log_error("SIGHUP: cannot reopen the sensor log: %s", strerror(errno));
        return;
    }
    if (server.draining) {       /* asked twice: stop waiting */
        log_warn("second signal: exiting now");
        conn_env_abort_all(&server.env, "server shutting down");
        reactor_stop(&server.reactor);
        return;
    }
    begin_drain();
}

static void on_sweep(struct reactor_timer *t, uint64_t expirations)
{
    (void)t, (void)expirations;
    conn_env_tick(&server.env);
    conn_flush_pending();
    resume_accepting();
    if (server.draining && drained()) {
        conn_env_abort_all(&server.env, "server shutting down");
        reactor_stop(&server.reactor);
    }
}

/* Raise the soft open-file limit to the hard one: each client is a
 * descriptor. Returns how many clients fit. */
static size_t raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1000;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > FD_RESERVE * 2 ? (size_t)(rl.rlim_cur - FD_RESERVE) : FD_RESERVE;
}

/* A name such as "localhost" may stand for ::1 and 127.0.0.1: clients
 * try them in their own order, so each gets a listener. */
static int start_listening(const struct server_config *cfg)
{
    const char *err;
    int fds[NET_LISTEN_MAX];
    int n = net_listen(cfg->host, (uint16_t)cfg->port, 4096, cfg->reuse_port, fds,
                       NET_LISTEN_MAX, &err);
    if (n < 0) {
        fprintf(stderr, "wspulse: cannot listen on %s port %llu: %s\n", cfg->host,
                (unsigned long long)cfg->port, err);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        server.listeners[i] = (struct reactor_watch){ &listener_ops, fds[i], 0 };
        if (reactor_add(&server.reactor, &server.listeners[i], true, false) < 0) {
            while (i < n)
                close(fds[i++]);
            return -1;
        }
        server.nlisteners = i + 1;
    }
    return 0;
}

/* The listeners' addresses for the log: "[::1]:8970 127.0.0.1:8970". */
static void format_listeners(char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < server.nlisteners && len < cap; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        char addr[NET_ADDR_STRLEN] = "?";
        if (getsockname(server.listeners[i].fd, (struct sockaddr *)&ss, &sslen) == 0) {
            struct net_addr a;
            net_addr_from_sockaddr(&a, (struct sockaddr *)&ss);
            net_addr_format(&a, addr);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? " " : "", addr);
    }
}

static void announce(const struct server_config *cfg, size_t fd_capacity)
{
    uint16_t port = net_local_port(server.listeners[0].fd);
    bool v6 = strchr(cfg->host, ':') != NULL;
    const char *shown = strcmp(cfg->host, "0.0.0.0") == 0 || strcmp(cfg->host, "::") == 0
                            ? "127.0.0.1" : cfg->host;
    printf("wspulse %s listening on %s://%s%s%s:%u/\n", WSPULSE_VERSION,
           cfg->tls_cert ? "https" : "http",
           v6 && shown == cfg->host ? "[" : "", shown, v6 && shown == cfg->host ? "]" : "", port);
    fflush(stdout);
    char addrs[NET_LISTEN_MAX * NET_ADDR_STRLEN];
    format_listeners(addrs, sizeof addrs);
    log_info("listening on %s (%s); open-file limit allows %zu connections, "
             "--max-conns %zu", cfg->host, addrs, fd_capacity, server.max_conns);
}

static int setup(const struct server_config *cfg)
{
    size_t fd_capacity = raise_fd_limit();
    server.cfg = cfg;
    server.max_conns = cfg->max_conns && cfg->max_conns < fd_capacity ? cfg->max_conns
                                                                        : fd_capacity;
    if (reactor_init(&server.reactor) < 0) {
        fprintf(stderr, "wspulse: epoll: %s\n", strerror(errno));
        return -1;
    }
    conn_env_init(&server.env, &server.reactor);
    server.env.max_pending = cfg->max_pending;
    server.env.header_timeout_ms = (uint32_t)cfg->header_timeout_ms;
    server.env.ping_interval_ms = (uint32_t)cfg->ping_interval_ms;
    server.env.close_timeout_ms = (uint32_t)cfg->close_timeout_ms;
    /* A client paused for its backlog that takes nothing for a ping
     * interval is as good as gone (30 s when keepalive is off). */
    server.env.stall_timeout_ms = (uint32_t)(cfg->ping_interval_ms ? cfg->ping_interval_ms
                                                                   : 30000);
    server.env.rate_limit = (uint32_t)cfg->rate_limit;
    server.env.max_buffered = (size_t)cfg->max_buffered;
    server.access = (struct access_rules){ cfg->token, cfg->allow_origin };
    stats_init(server.env.now_ms, (uint32_t)cfg->tick_ms);
    stats_add_loop(&server.env);
    ep_echo.max_message = cfg->max_message;
    static_set_dir(cfg->www_dir);
    /* Before the endpoints, which ask whether it is on, and before
     * listening: no client is accepted by an instance that cannot share. */
    if (cfg->redis && cluster_start(&server.reactor, cfg->redis, cfg->redis_prefix,
                                    cfg->instance) < 0)
        return -1;
    if (chat_setup(&server.reactor, (uint32_t)cfg->history) < 0)
        return -1;
    if (sensor_setup(&server.reactor, (uint32_t)cfg->sensor_hz, (uint32_t)cfg->sensor_decimate,
                     cfg->sensor_log) < 0) {
        fprintf(stderr, "wspulse: cannot open sensor log %s: %s\n", cfg->sensor_log,
                strerror(errno));
        return -1;
    }
    const char *err;
    if (cfg->tls_cert && tls_setup(cfg->tls_cert, cfg->tls_key, &err) < 0) {
        fprintf(stderr, "wspulse: TLS: %s\n", err);
        return -1;
    }
    if (start_listening(cfg) < 0)
        return -1;
    static const int signals[] = { SIGINT, SIGTERM, SIGHUP };
    server.sweep.on_tick = on_sweep;
    if (reactor_signals(&server.reactor, signals, 3, on_signal) < 0
        || reactor_timer_start(&server.reactor, &server.sweep, SWEEP_MS * 1000000ull) < 0
        || ticks_start(&server.reactor, (uint32_t)cfg->tick_ms, cfg->instance) < 0) {
        fprintf(stderr, "wspulse: cannot set up timers and signals: %s\n", strerror(errno));
        return -1;
    }
    server.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    announce(cfg, fd_capacity);
    return 0;
}

int server_run(const struct server_config *cfg)
{
    signal(SIGPIPE, SIG_IGN);    /* a write to a closed peer is an error code */
    if (log_setup(log_level_parse(cfg->log_level), log_format_parse(cfg->log_format),
                  cfg->log_file) < 0) {
        fprintf(stderr, "wspulse: cannot open log file %s: %s\n", cfg->log_file, strerror(errno));
        return 1;
    }
    if (setup(cfg) < 0)
        return 1;
    int rc = reactor_run(&server.reactor);
    sensor_shutdown();
    reactor_fini(&server.reactor);
    log_info("stopped");
    return rc < 0 ? 1 : 0;
}
