/* ws.c -- see ws.h. How a message arrives: wsframe_feed() hands over each
 * frame's header (checked here before any payload is accepted) and then its
 * payload, unmasked in place. A message that is one frame, whole in one read,
 * goes to the endpoint where it lies, without a copy; anything that arrives
 * in pieces (fragments, or a frame split across reads) is collected in c->in.
 * A control frame between fragments is collected behind the message bytes
 * and cut off again once handled. Text is validated as it arrives, so
 * invalid UTF-8 fails at the first bad byte (§8.1), not at the message end. */
#include "ws.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "random.h"
#include "utf8.h"

static const char *peer_name(const struct conn *c)
{
    static _Thread_local char name[NET_ADDR_STRLEN];
    net_addr_format(&c->peer, name);
    return name;
}

/* --- sending ---------------------------------------------------------- */

/* Masking keys come from the kernel's random source (§5.3 asks for
 * unpredictable keys), fetched a few thousand at a time. Without one no
 * frame may go out: false, and c is closed. */
static bool random_mask(struct conn *c, uint8_t key[4])
{
    static _Thread_local uint8_t pool[4096];
    static _Thread_local size_t used = sizeof pool;
    if (used == sizeof pool) {
        if (random_bytes(pool, sizeof pool) < 0) {  /* §5.3, §10.3: unpredictable */
            conn_abort(c, "no random bytes for a masking key");
            return false;
        }
        used = 0;
    }
    memcpy(key, pool + used, 4);
    used += 4;
    return true;
}

static bool may_send(const struct conn *c)
{
    return c->phase == CONN_WS;          /* §5.5.1: after our Close, no data frames */
}

static void count_out(struct conn *c, size_t len)
{
    if (c->ep && c->ep->stats) {
        c->ep->stats->messages_out++;
        c->ep->stats->bytes_out += len;
    }
}

/* A client's frame: header with a fresh key, then a masked copy, made on
 * the stack when small and in a message of its own when not. */
static void send_masked(struct conn *c, enum ws_opcode opcode, const void *body, size_t body_len,
                        const void *tail, size_t tail_len)
{
    uint8_t hdr[WSFRAME_MAX_HEADER], key[4], small[4096];
    size_t len = body_len + tail_len;
    if (!random_mask(c, key))            /* §5.1: a client masks every frame */
        return;
    conn_send_copy(c, hdr, wsframe_write_header(hdr, true, opcode, len, key));
    struct msg *m = len > sizeof small ? msg_new(len) : NULL;
    uint8_t *dst = m ? m->data : small;
    if (body_len)
        memcpy(dst, body, body_len);
    if (tail_len)
        memcpy(dst + body_len, tail, tail_len);
    wsframe_mask(dst, len, key, 0);
    if (!m) {
        conn_send_copy(c, small, len);
        return;
    }
    m->len = (uint32_t)len;
    conn_send_msg(c, m);
    msg_unref(m);
}

/* memcpy() for the short payloads of most messages (echoed, ticks' counts):
 * up to 16 bytes as two overlapping loads and stores, without the call; a
 * length of 0 touches nothing (src may then be NULL). */
static inline void copy_small(uint8_t *dst, const void *src, size_t n)
{
    const uint8_t *s = src;
    uint64_t a, b;
    uint32_t x, y;
    if (n > 16) {
        memcpy(dst, s, n);
    } else if (n >= 8) {
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4) {
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        memcpy(dst, &x, 4);
        memcpy(dst + n - 4, &y, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            dst[i] = s[i];
    }
}

void ws_send_with_tail(struct conn *c, enum ws_opcode opcode, const void *body, size_t body_len,
                       const void *tail, size_t tail_len)
{
    if (!may_send(c))
        return;
    count_out(c, body_len + tail_len);
    if (c->role == CONN_CLIENT) {
        send_masked(c, opcode, body, body_len, tail, tail_len);
        return;
    }
    size_t len = body_len + tail_len;
    size_t h = wsframe_header_len(len, false);      /* §5.1: a server never masks */
    uint8_t *frame = conn_reserve(c, h + len);
    if (frame) {                 /* small: built in place, one piece with its neighbours */
        wsframe_write_header(frame, true, opcode, len, NULL);
        copy_small(frame + h, body, body_len);
        copy_small(frame + h + body_len, tail, tail_len);
        return;
    }
    uint8_t hdr[WSFRAME_MAX_HEADER];
    conn_send_copy(c, hdr, wsframe_write_header(hdr, true, opcode, len, NULL));
    conn_send(c, body, body_len);
    conn_send_copy(c, tail, tail_len);
}

void ws_send(struct conn *c, enum ws_opcode opcode, const void *payload, size_t len)
{
    ws_send_with_tail(c, opcode, payload, len, NULL, 0);
}

void ws_send_copy(struct conn *c, enum ws_opcode opcode, const void *payload, size_t len)
{
    if (!may_send(c))
        return;
    if (c->role == CONN_CLIENT) {        /* masking makes a copy anyway */
        ws_send_with_tail(c, opcode, payload, len, NULL, 0);
        return;
    }
    count_out(c, len);
    uint8_t hdr[WSFRAME_MAX_HEADER];
    conn_send_copy(c, hdr, wsframe_write_header(hdr, true, opcode, len, NULL));
    conn_send_copy(c, payload, len);
}

struct msg *ws_frame_msg(enum ws_opcode opcode, const void *payload, size_t len)
{
    struct msg *m = msg_new(WSFRAME_MAX_HEADER + len);   /* §5.1: unmasked */
    m->len = (uint32_t)wsframe_write_header(m->data, true, opcode, len, NULL);
    memcpy(m->data + m->len, payload, len);
    m->len += (uint32_t)len;
    return m;
}

void ws_send_msg(struct conn *c, struct msg *m, size_t payload_len)
{
    if (!may_send(c))
        return;
    count_out(c, payload_len);
    conn_send_frame(c, m);
}

/* A ping or pong goes ahead of queued data (never delayed behind a
 * backlog, README); a Close goes behind it: it is the last frame we send,
 * so everything queued before it still reaches the peer (§5.5.1: no data
 * frame after a Close). */
static void send_control(struct conn *c, enum ws_opcode opcode, const uint8_t *payload,
                         size_t len)
{
    uint8_t frame[WSFRAME_MAX_HEADER + WS_MAX_CONTROL_PAYLOAD], key[4];
    bool client = c->role == CONN_CLIENT;   /* §5.1: only a client masks */
    if (client && !random_mask(c, key))
        return;
    size_t h = wsframe_write_header(frame, true, opcode, len, client ? key : NULL);
    memcpy(frame + h, payload, len);
    if (client)
        wsframe_mask(frame + h, len, key, 0);
    if (opcode == WS_OP_CLOSE)
        conn_send_copy(c, frame, h + len);
    else
        conn_send_urgent(c, frame, h + len);
}

static void send_close(struct conn *c, uint16_t code, const char *reason)
{
    uint8_t payload[WS_MAX_CONTROL_PAYLOAD];
    size_t len = 0;
    if (code != WS_CLOSE_NO_STATUS) {    /* §7.4.1: 1005 is never on the wire */
        size_t rlen = reason ? strlen(reason) : 0;
        if (rlen > WS_MAX_CLOSE_REASON)  /* §5.5: the payload stays within 125 */
            rlen = WS_MAX_CLOSE_REASON;
        payload[0] = (uint8_t)(code >> 8);     /* §5.5.1: the code first, */
        payload[1] = (uint8_t)code;            /* in network byte order */
        memcpy(payload + 2, reason, rlen);
        len = 2 + rlen;
    }
    send_control(c, WS_OP_CLOSE, payload, len);
    c->close_code = code;
}

/* A peer that does not take its output: drop the whole frames it has not
 * begun (the memory, and what would keep our Close from it), send Close
 * 1008 behind what must still go (the rest of a frame on the wire, replies
 * queued in pieces), and end once that is out or the peer stops taking it.
 * Counted and logged. */
static void close_slow_consumer(struct conn *c, const char *reason)
{
    c->env->counts.slow_consumers++;
    log_warn("slow consumer %s on /%s: %zu bytes queued; closing: %s",
             peer_name(c), c->ep->name, conn_pending(c), reason);
    conn_drop_frames(c);
    send_close(c, WS_CLOSE_POLICY, reason);
    c->end_reason = reason;
    conn_linger(c);              /* its unread input would turn our FIN into a reset */
}

bool ws_can_push(struct conn *c)
{
    if (c->phase != CONN_WS)
        return false;
    size_t limit = c->env->max_pending;
    /* The sender of a broadcast gets its own copy too: its backlog is its
     * own doing, and conn.c stops reading it while the backlog is large. */
    if (limit == 0 || conn_pending(c) <= limit || c == c->env->reading)
        return true;
    close_slow_consumer(c, "slow consumer: output queue over limit");
    return false;
}

/* --- opening and closing --------------------------------------------------- */

void ws_open(struct conn *c, const struct endpoint *ep)
{
    c->phase = CONN_WS;
    c->ep = ep;
    c->deadline_ms = 0;
    c->frame = (struct wsframe_parser){0};
    c->msg_opcode = 0;
    c->rate_tokens = c->env->rate_limit * 1000;   /* start with a full bucket */
    c->rate_ms = (uint32_t)c->env->now_ms;
    if (ep->stats) {
        ep->stats->connections++;
        ep->stats->connections_total++;
    }
    if (ep->on_open)
        ep->on_open(c);
}

void ws_close(struct conn *c, uint16_t code, const char *reason)
{
    if (c->phase != CONN_WS)
        return;
    send_close(c, code, reason);         /* §7.1.2: Close, then wait for the peer's */
    c->phase = CONN_CLOSING;
    c->end_reason = reason;
    c->deadline_ms = c->env->close_timeout_ms ? c->env->now_ms + c->env->close_timeout_ms : 0;
    conn_flush(c);
}

/* why is what the log line will say; it must outlive the connection. */
static void fail_with(struct conn *c, uint16_t code, const char *wire_reason, const char *why)
{
    if (c->phase != CONN_WS && c->phase != CONN_CLOSING)
        return;
    if (c->phase == CONN_WS)
        send_close(c, code, wire_reason);
    else
        c->close_code = code;
    c->end_reason = why;
    conn_linger(c);              /* §7.1.7: fail = close the connection, read no more */
}

void ws_fail(struct conn *c, uint16_t code, const char *reason)
{
    fail_with(c, code, reason, reason);
}

/* ws_fail() for the checks below, which return false when they fail. */
static bool fail(struct conn *c, uint16_t code, const char *reason)
{
    ws_fail(c, code, reason);
    return false;
}

bool ws_close_code_valid(uint16_t code)
{
    /* §7.4.1 defines 1000-1003 and 1007-1011; 1012-1014 were registered with
     * IANA later; 1004, 1005, 1006 and 1015 must never be on the wire;
     * 3000-4999 belong to libraries and applications (§7.4.2). */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)
        || (code >= 3000 && code <= 4999);
}

/* --- receiving ------------------------------------------------------------ */

static bool is_control(uint8_t opcode)
{
    return opcode & 0x8;
}

/* The header of a frame is complete; false if the connection failed. */
static bool check_header(struct conn *c)
{
    const struct wsframe_parser *f = &c->frame;
    if (f->rsv)                                                  /* §5.2 */
        return fail(c, WS_CLOSE_PROTOCOL, "reserved bits set");
    /* §5.2: opcodes 3-7 and 0xB-0xF are reserved; no extension defines them here. */
    if ((f->opcode > WS_OP_BINARY && f->opcode < WS_OP_CLOSE) || f->opcode > WS_OP_PONG)
        return fail(c, WS_CLOSE_PROTOCOL, "reserved opcode");
    if (c->role == CONN_SERVER && !f->masked)                    /* §5.1 */
        return fail(c, WS_CLOSE_PROTOCOL, "unmasked client frame");
    if (c->role == CONN_CLIENT && f->masked)                     /* §5.1 */
        return fail(c, WS_CLOSE_PROTOCOL, "masked server frame");
    if (is_control(f->opcode)) {                                 /* §5.5 */
        if (!f->fin)
            return fail(c, WS_CLOSE_PROTOCOL, "fragmented control frame");
        if (f->payload_len > WS_MAX_CONTROL_PAYLOAD)
            return fail(c, WS_CLOSE_PROTOCOL, "control frame over 125 bytes");
        return true;
    }
    if (f->opcode == WS_OP_CONT && !c->msg_opcode)               /* §5.4 */
        return fail(c, WS_CLOSE_PROTOCOL, "continuation without a message");
    if (f->opcode != WS_OP_CONT && c->msg_opcode)                /* §5.4 */
        return fail(c, WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
    uint64_t limit = c->ep->max_message;
    if (c->in.len + f->payload_len > limit) {
        char reason[WS_MAX_CLOSE_REASON + 1];  /* §10.4; README: the limit named */
        snprintf(reason, sizeof reason, "message exceeds %llu bytes", (unsigned long long)limit);
        fail_with(c, WS_CLOSE_TOO_BIG, reason, "message over the size limit");
        return false;
    }
    if (f->opcode != WS_OP_CONT) {
        c->msg_opcode = f->opcode;
        utf8_reset(&c->utf8);
    }
    return true;
}

/* True when this frame's payload arrives whole in one piece and is a whole
 * message, so it can be handed over where it lies. */
static bool whole_in_place(const struct conn *c, size_t piece)
{
    const struct wsframe_parser *f = &c->frame;
    return piece == f->payload_len && f->fin && f->opcode != WS_OP_CONT;
}

/* Every byte collected in c->in is counted in env->buffered until it is
 * dropped here or freed by conn.c, so the account is what is held now. */
static void collect(struct conn *c, const uint8_t *data, size_t len)
{
    buf_append(&c->in, data, len);
    c->env->buffered += len;
}

/* Keep the first keep bytes of c->in; the rest leave the account. */
static void drop_collected(struct conn *c, size_t keep)
{
    c->env->buffered -= c->in.len - keep;
    c->in.len = (uint32_t)keep;
}

/* --max-buffered (§10.4: limits, so that no peer exhausts our memory): each
 * message alone is within --max-message, but many clients that each begin a
 * large one and never finish it would pin all of that (40 x 16 MiB). The
 * client whose bytes would pass the budget is told to come back later (1013)
 * and closed; what it held is freed. */
static bool within_budget(struct conn *c, size_t len)
{
    size_t max = c->env->max_buffered;
    if (max == 0 || c->env->buffered + len <= max)
        return true;
    c->env->counts.over_buffered++;
    return fail(c, WS_CLOSE_TRY_AGAIN, "server busy: partial messages over --max-buffered");
}

static bool on_payload(struct conn *c, const uint8_t *data, size_t len)
{
    const struct wsframe_parser *f = &c->frame;
    if (is_control(f->opcode)) {
        if (len != f->payload_len)
            collect(c, data, len);   /* behind any message bytes; 125 at most */
        return true;
    }
    if (c->phase != CONN_WS)
        return true;             /* closing: data is read and dropped (§7.1.2) */
    if (c->msg_opcode == WS_OP_TEXT && !utf8_feed(&c->utf8, data, len))    /* §8.1 */
        return fail(c, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
    if (whole_in_place(c, len))
        return true;
    if (!within_budget(c, len))
        return false;
    collect(c, data, len);
    return true;
}

/* --rate-limit: a token bucket holding one second's worth of messages. */
static bool within_rate(struct conn *c)
{
    uint64_t rate = c->env->rate_limit;
    if (rate == 0)
        return true;
    uint32_t now = (uint32_t)c->env->now_ms;
    uint64_t tokens = c->rate_tokens + (uint64_t)(uint32_t)(now - c->rate_ms) * rate;
    c->rate_ms = now;
    if (tokens > rate * 1000)
        tokens = rate * 1000;
    if (tokens < 1000) {
        c->rate_tokens = (uint32_t)tokens;
        return false;
    }
    c->rate_tokens = (uint32_t)(tokens - 1000);
    return true;
}

static void deliver(struct conn *c, uint8_t *data, size_t len)
{
    if (!within_rate(c)) {
        c->env->counts.rate_limited++;
        ws_fail(c, WS_CLOSE_POLICY, "rate limit exceeded");
        return;
    }
    enum ws_opcode opcode = (enum ws_opcode)c->msg_opcode;
    c->msg_opcode = 0;
    if (c->ep->stats) {
        c->ep->stats->messages_in++;
        c->ep->stats->bytes_in += len;
    }
    if (c->ep->on_message)
        c->ep->on_message(c, opcode, data, len);
}

static bool on_data_end(struct conn *c, uint8_t *data, size_t len)
{
    const struct wsframe_parser *f = &c->frame;
    if (!f->fin)
        return true;
    if (c->phase != CONN_WS) {
        c->msg_opcode = 0;
        drop_collected(c, 0);    /* what came before our Close: never delivered */
        return true;
    }
    if (c->msg_opcode == WS_OP_TEXT && !utf8_complete(&c->utf8))   /* §5.6, §8.1 */
        return fail(c, WS_CLOSE_INVALID_DATA, "text message ends inside a character");
    if (whole_in_place(c, len)) {
        deliver(c, data, len);
        return true;
    }
    deliver(c, c->in.data ? c->in.data : (uint8_t *)"", c->in.len);
    /* The endpoint's reply may point into c->in: send it before reuse. */
    conn_flush(c);
    drop_collected(c, 0);        /* none left if the endpoint closed c: conn.c freed it */
    return true;
}

static bool on_close_frame(struct conn *c, const uint8_t *p, size_t len)
{
    uint16_t code = WS_CLOSE_NO_STATUS;
    if (len == 1)                                                /* §5.5.1 */
        return fail(c, WS_CLOSE_PROTOCOL, "Close payload of one byte");
    if (len >= 2) {
        code = (uint16_t)(p[0] << 8 | p[1]);
        if (!ws_close_code_valid(code))                          /* §7.4 */
            return fail(c, WS_CLOSE_PROTOCOL, "invalid close code");
        if (!utf8_valid(p + 2, len - 2))                         /* §5.5.1 */
            return fail(c, WS_CLOSE_INVALID_DATA, "Close reason is not UTF-8");
    }
    if (c->hooks->on_peer_close)
        c->hooks->on_peer_close(c, code, len > 2 ? p + 2 : p, len > 2 ? len - 2 : 0);
    if (c->phase == CONN_WS) {
        send_close(c, code, "");         /* §5.5.1: echo the code */
        c->end_reason = "closed by peer";
    } else {
        c->close_code = code == WS_CLOSE_NO_STATUS ? c->close_code : code;
    }
    /* §7.1.1: the server closes the TCP connection first: its FIN follows
     * the Close at once. Whatever the peer still sends is read and dropped
     * until its FIN: closing with unread bytes would reset the connection
     * and could destroy our Close before the peer reads it. */
    conn_linger(c);
    return false;
}

static bool on_control(struct conn *c, const uint8_t *p, size_t len)
{
    switch (c->frame.opcode) {
    case WS_OP_PING:                                             /* §5.5.2 */
        if (c->phase == CONN_WS)
            send_control(c, WS_OP_PONG, p, len);
        return true;
    case WS_OP_PONG:                                             /* §5.5.3 */
        c->ping_outstanding = false;
        c->deadline_ms = 0;
        return true;
    default:
        return on_close_frame(c, p, len);
    }
}

static bool on_frame_end(struct conn *c, uint8_t *data, size_t len)
{
    const struct wsframe_parser *f = &c->frame;
    if (!is_control(f->opcode))
        return on_data_end(c, data, len);
    if (len == f->payload_len)
        return on_control(c, data, len);
    /* Collected behind the message so far: handle, then cut it off (§5.4:
     * control frames may come between the fragments of a message). */
    size_t start = c->in.len - (size_t)f->payload_len;
    bool go_on = on_control(c, c->in.data + start, (size_t)f->payload_len);
    if (c->phase == CONN_WS || c->phase == CONN_CLOSING)    /* else conn.c freed c->in */
        drop_collected(c, start);
    return go_on;
}

/* The common case, before the general parser: a client's whole message in
 * one frame (FIN, no RSV bits, text or binary, masked, a 7- or 16-bit
 * length) that lies whole in buf, at a frame boundary and outside a
 * fragmented message, within the size limit. Nothing in such a header is
 * what check_header() refuses, so the payload is unmasked where it lies and
 * delivered: no parser state, no copy. Anything else returns 0 and takes the
 * general path, which applies every check; so does text that is not valid
 * UTF-8 (masked again first), which the general path then fails with the
 * same code and reason. Returns the frame's length, or 0. */
static size_t whole_frame(struct conn *c, uint8_t *buf, size_t len)
{
    if (len < 6 || c->msg_opcode || c->frame.hdr_len || c->phase != CONN_WS
        || c->role != CONN_SERVER)
        return 0;
    uint8_t b0 = buf[0], b1 = buf[1];
    if ((b0 != (0x80 | WS_OP_TEXT) && b0 != (0x80 | WS_OP_BINARY)) || !(b1 & 0x80))
        return 0;
    size_t plen = b1 & 0x7F, at = 2;
    if (plen == 126) {
        if (len < 8)
            return 0;
        plen = (size_t)buf[2] << 8 | buf[3];
        at = 4;
        if (plen < 126)          /* §5.2: not minimal; the general path fails it */
            return 0;
    } else if (plen == 127) {
        return 0;
    }
    if (len - at - 4 < plen || c->in.len + plen > c->ep->max_message)
        return 0;
    const uint8_t *key = buf + at;
    uint8_t *data = buf + at + 4;
    wsframe_mask(data, plen, key, 0);
    if (b0 == (0x80 | WS_OP_TEXT) && !utf8_valid_message(data, plen)) {  /* §8.1 */
        wsframe_mask(data, plen, key, 0);
        return 0;
    }
    c->msg_opcode = b0 & 0x0F;
    deliver(c, data, plen);
    return at + 4 + plen;
}

void ws_input(struct conn *c, uint8_t *buf, size_t len)
{
    /* §7.1.7: once the connection has failed (phase LINGER), no frame after
     * the bad one is looked at, not even a Close. */
    while (len > 0 && (c->phase == CONN_WS || c->phase == CONN_CLOSING)) {
        size_t whole = whole_frame(c, buf, len);
        if (whole) {
            buf += whole;
            len -= whole;
            continue;
        }
        struct wsframe_parser *f = &c->frame;
        bool had_header = f->header_done;
        const uint8_t *data;
        size_t dlen;
        ssize_t n = wsframe_feed(f, buf, len, &data, &dlen);
        if (n < 0) {             /* §5.2: a length not in its minimal form */
            ws_fail(c, WS_CLOSE_PROTOCOL, "invalid payload length");
            return;
        }
        if (!had_header && f->header_done && !check_header(c))
            return;
        if (dlen && !on_payload(c, data, dlen))
            return;
        if (wsframe_done(f)) {
            if (!on_frame_end(c, (uint8_t *)data, dlen))
                return;
            wsframe_reset(f);
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* --- keepalive ------------------------------------------------------------ */

void ws_tick(struct conn *c)
{
    uint32_t interval = c->env->ping_interval_ms;
    uint64_t now = c->env->now_ms;
    if (c->phase == CONN_WS && conn_output_stalled(c)) {
        close_slow_consumer(c, "not reading: output over --max-pending");
        return;
    }
    if (c->phase != CONN_WS || interval == 0)
        return;
    if (c->ping_outstanding) {
        if (now >= c->deadline_ms) {
            c->env->counts.ping_timeouts++;
            ws_fail(c, WS_CLOSE_GOING_AWAY, "ping timeout");
        }
        return;
    }
    if (now - c->active_ms < interval)
        return;
    uint8_t stamp[8];
    for (int i = 0; i < 8; i++)
        stamp[i] = (uint8_t)(now >> (56 - 8 * i));
    send_control(c, WS_OP_PING, stamp, sizeof stamp);
    conn_flush(c);
    c->ping_outstanding = true;
    c->deadline_ms = now + interval;
}
