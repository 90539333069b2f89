/* conn.c -- see conn.h. The path of a byte: the reactor calls
 * conn_on_readable(), which reads into a scratch buffer shared by every
 * connection of the thread and hands the bytes to the HTTP hook or to ws.c;
 * their replies are gathered by conn_send*() into one batch that
 * conn_flush() writes with one writev(). Only what the socket refuses is
 * copied (into the output queue). */
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "tls.h"
#include "xalloc.h"

#define SCRATCH_BYTES      (256 * 1024)
#define BATCH_IOVS         64
#define BATCH_COPY_BYTES   (64 * 1024)
_Static_assert(CONN_RESERVE_MAX <= BATCH_COPY_BYTES, "a reservation fits the batch");
#define INLINE_BYTES       2048            /* smaller payloads are copied, not referenced */
#define PAUSE_READ_BYTES   (1024 * 1024)   /* own output backlog that stops reading */
#define READ_ROUNDS        8

/* The bytes of one read. Replies may point into it until conn_flush(). */
static _Thread_local uint8_t scratch[SCRATCH_BYTES];

/* Output gathered for one connection (the owner) since its last flush. */
static _Thread_local struct {
    struct conn  *owner;
    int           count;
    struct iovec  iov[BATCH_IOVS];
    struct msg   *msg[BATCH_IOVS];     /* the reference behind iov[i], or NULL */
    bool          frame[BATCH_IOVS];   /* msg[i] is a whole frame (outq_push_frame) */
    size_t        bytes;               /* in iov[] */
    size_t        copy_len;
    uint8_t       copy[BATCH_COPY_BYTES];
} batch;

/* Connections with corked output (see conn_send_msg), written once each by
 * conn_flush_pending(). Grows to the busiest moment and stays. */
static _Thread_local struct {
    struct conn **list;
    size_t count, cap;
} corked;

static const struct reactor_ops conn_ops;

/* The per-connection budget of STYLE.md: an idle connection is this struct
 * and nothing else (its buffers are freed when idle), in one malloc chunk of
 * at most 256 bytes: glibc adds 8 bytes and rounds to 16, so 248 at most. */
_Static_assert(sizeof(struct conn) <= 248, "idle connection over 256 bytes of heap");

/* --- watching ------------------------------------------------------------ */

static bool wants_input(const struct conn *c)
{
    return c->phase != CONN_CLOSED && !c->read_paused;
}

/* A paused reader is watched for writability even with an empty queue: the
 * writable callback is where reading resumes. */
static bool wants_output(const struct conn *c)
{
    return !outq_empty(&c->out) || c->read_paused || (c->tls && tls_wants_write(c->tls));
}

static void update_watch(struct conn *c)
{
    if (c->phase == CONN_CLOSED)
        return;
    if (reactor_modify(c->env->reactor, &c->watch, wants_input(c), wants_output(c)) < 0)
        conn_abort(c, "epoll_ctl failed");
}

/* --- the socket, plain or TLS ---------------------------------------------- */

static ssize_t io_read(struct conn *c, void *buf, size_t n)
{
    return c->tls ? tls_read(c->tls, buf, n) : read(c->watch.fd, buf, n);
}

/* sendmsg() rather than writev(): a socket call skips the file layer's
 * position lock, which is a measurable share of a small write. */
static ssize_t io_writev(struct conn *c, const struct iovec *iov, int count)
{
    if (c->tls)
        return tls_writev(c->tls, iov, count);
    if (count == 1)
        return send(c->watch.fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)count };
    return sendmsg(c->watch.fd, &mh, MSG_NOSIGNAL);
}

/* --- creation and the end ----------------------------------------------- */

struct conn *conn_new(struct conn_env *env, int fd, size_t size, enum conn_role role,
                      const struct conn_hooks *hooks, const struct net_addr *peer)
{
    assert(size >= sizeof(struct conn));
    struct conn *c = calloc(1, size);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->watch = (struct reactor_watch){ &conn_ops, fd, 0 };
    c->env = env;
    c->hooks = hooks;
    c->role = (uint8_t)role;
    c->phase = CONN_HTTP;
    c->close_code = 1006;        /* §7.1.5: no Close frame (yet) */
    if (peer)
        c->peer = *peer;
    c->active_ms = env->now_ms;
    if (reactor_add(env->reactor, &c->watch, true, false) < 0) {
        close(fd);
        free(c);
        return NULL;
    }
    c->next = env->all;
    if (env->all)
        env->all->prev = c;
    env->all = c;
    env->count++;
    return c;
}

static void batch_drop(void)
{
    for (int i = 0; i < batch.count; i++)
        if (batch.msg[i])
            msg_unref(batch.msg[i]);
    batch.owner = NULL;
    batch.count = 0;
    batch.bytes = 0;
    batch.copy_len = 0;
}

static void uncork(struct conn *c);

static void conn_release(void *p)
{
    struct conn *c = p;
    if (c->hooks->on_closed)
        c->hooks->on_closed(c);  /* what it sends is corked: written after the frees */
    uncork(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->env->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->env->count--;
    tls_free(c->tls);
    free(c);
}

/* Give up c->in. After the upgrade it holds a message or a control frame
 * arriving in pieces, which ws.c counts in env->buffered: those bytes leave
 * the account. An HTTP head (still there while ws_open() runs, before the
 * frame parser saw anything) was never counted. */
static void free_input(struct conn *c)
{
    bool counted = (c->phase == CONN_WS || c->phase == CONN_CLOSING)
                   && (c->msg_opcode || c->frame.header_done);
    if (counted) {
        assert(c->env->buffered >= c->in.len);
        c->env->buffered -= c->in.len;
    }
    buf_free(&c->in);
}

void conn_abort(struct conn *c, const char *reason)
{
    if (c->phase == CONN_CLOSED)
        return;
    if (batch.owner == c)
        batch_drop();
    free_input(c);
    c->phase = CONN_CLOSED;
    c->end_reason = reason;
    outq_clear(&c->out);
    reactor_close(c->env->reactor, &c->watch);
    reactor_defer_free(c->env->reactor, conn_release, c);
}

static void set_deadline(struct conn *c)
{
    uint32_t t = c->env->close_timeout_ms;
    c->deadline_ms = t ? c->env->now_ms + t : 0;
}

static void shut_down_writing(struct conn *c)
{
    /* RFC 6455 §7.1.1: TLS close_notify first, then the TCP FIN. */
    if (!c->shut_wr && c->tls)
        tls_close_notify(c->tls);
    if (!c->shut_wr && shutdown(c->watch.fd, SHUT_WR) < 0 && errno != ENOTCONN) {
        conn_abort(c, strerror(errno));
        return;
    }
    c->shut_wr = true;
}

void conn_linger(struct conn *c)
{
    if (c->phase == CONN_CLOSED || c->phase == CONN_LINGER)
        return;
    conn_flush(c);
    if (c->phase == CONN_CLOSED)
        return;
    free_input(c);
    c->phase = CONN_LINGER;
    c->read_paused = false;      /* drain what the peer still sends */
    set_deadline(c);
    if (outq_empty(&c->out))
        shut_down_writing(c);
    update_watch(c);
}

/* --- output ------------------------------------------------------------- */

/* Write the queue until the socket is full or the queue empty. */
static void write_queue(struct conn *c)
{
    while (!outq_empty(&c->out)) {
        struct iovec iov[BATCH_IOVS];
        int n = outq_iov(&c->out, iov, BATCH_IOVS);
        ssize_t w = io_writev(c, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            break;
        if (w < 0) {
            conn_abort(c, strerror(errno));
            return;
        }
        size_t offered = 0;
        for (int i = 0; i < n; i++)
            offered += iov[i].iov_len;
        if (w > 0)
            c->out_ms = (uint32_t)c->env->now_ms;
        outq_consume(&c->out, (size_t)w);
        if ((size_t)w < offered)
            break;               /* the socket buffer is full */
    }
}

/* Stop reading a peer whose own output backs up: TCP then slows it down.
 * Well under --max-pending, so a busy sender is throttled, not closed. */
static size_t pause_threshold(const struct conn *c)
{
    size_t half = c->env->max_pending / 2;
    return half && half < PAUSE_READ_BYTES ? half : PAUSE_READ_BYTES;
}

/* What c has to send: its queue, and its part of the batch. */
static size_t backlog(const struct conn *c)
{
    return conn_pending(c) + (batch.owner == c ? batch.bytes : 0);
}

/* Output was added for c, whatever the path (replies, pongs, HTTP
 * responses, errors): a peer whose backlog passes the threshold is not read
 * any more, so a client that sends and never reads cannot make us queue
 * answers without end. Reading resumes in conn_on_writable. */
static void note_backlog(struct conn *c)
{
    if (c->read_paused || c->phase == CONN_CLOSED || backlog(c) <= pause_threshold(c))
        return;
    c->read_paused = true;
    c->out_ms = (uint32_t)c->env->now_ms;    /* the stall clock starts */
    update_watch(c);
}

/* The queue changed: apply backpressure and finish closes that waited for it. */
static void after_output(struct conn *c)
{
    size_t pending = conn_pending(c);
    if (!c->read_paused && pending > pause_threshold(c)) {
        c->read_paused = true;
        c->out_ms = (uint32_t)c->env->now_ms;
    }
    if (pending == 0 && c->phase == CONN_LINGER)
        shut_down_writing(c);
    update_watch(c);
}

static void conn_on_readable(struct reactor_watch *w);
static void take_input(struct conn *c, uint8_t *buf, size_t len);

/* A paused peer's backlog is down to a quarter of the threshold: read it
 * again, starting with the requests held back while it was paused. TLS may
 * hold decrypted bytes epoll cannot see, so it is read at once. */
static void resume_reading(struct conn *c)
{
    if (!c->read_paused || conn_pending(c) > pause_threshold(c) / 4 || conn_is_closing(c))
        return;
    c->read_paused = false;
    update_watch(c);
    if (c->phase == CONN_HTTP && c->in.len > 0)
        take_input(c, NULL, 0);
    if (c->tls && wants_input(c))
        conn_on_readable(&c->watch);
}

static void conn_on_writable(struct reactor_watch *w)
{
    struct conn *c = (struct conn *)w;
    if (c->tls && tls_wants_write(c->tls)) {
        conn_on_readable(w);     /* a read was waiting for the handshake to write */
        if (c->phase == CONN_CLOSED)
            return;
    }
    write_queue(c);
    if (c->phase != CONN_CLOSED)
        after_output(c);
    if (c->phase != CONN_CLOSED)
        resume_reading(c);
}

/* Whatever the socket did not take from the batch goes into the queue. */
static void queue_rest_of_batch(struct conn *c, size_t written)
{
    for (int i = 0; i < batch.count; i++) {
        struct iovec *v = &batch.iov[i];
        size_t skip = written < v->iov_len ? written : v->iov_len;
        written -= skip;
        if (skip == v->iov_len) {
            if (batch.msg[i])
                msg_unref(batch.msg[i]);
        } else if (batch.frame[i] && skip == 0) {
            outq_push_frame(&c->out, batch.msg[i]);
        } else if (batch.msg[i]) {
            struct msg *m = batch.msg[i];
            outq_push_msg(&c->out, m, (size_t)((uint8_t *)v->iov_base - m->data) + skip);
        } else {
            outq_push_copy(&c->out, (uint8_t *)v->iov_base + skip, v->iov_len - skip);
        }
    }
    batch.owner = NULL;
    batch.count = 0;
    batch.bytes = 0;
    batch.copy_len = 0;
}

void conn_flush(struct conn *c)
{
    if (batch.owner != c || c->phase == CONN_CLOSED)
        return;
    ssize_t w;
    do
        w = io_writev(c, batch.iov, batch.count);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN) {
        conn_abort(c, strerror(errno));
        return;
    }
    if (w > 0)
        c->out_ms = (uint32_t)c->env->now_ms;
    queue_rest_of_batch(c, w < 0 ? 0 : (size_t)w);
    after_output(c);
}

static void cork(struct conn *c)
{
    if (c->corked)
        return;
    if (corked.count == corked.cap) {
        size_t cap = corked.cap ? corked.cap * 2 : 64;
        corked.list = xrealloc(corked.list, cap * sizeof *corked.list);
        corked.cap = cap;
    }
    corked.list[corked.count++] = c;
    c->corked = true;
}

/* c is going away: forget its place in the list (rare: a closed connection
 * is usually uncorked by the flush before it is freed). */
static void uncork(struct conn *c)
{
    for (size_t i = 0; c->corked && i < corked.count; i++)
        if (corked.list[i] == c)
            corked.list[i] = NULL;
    c->corked = false;
}

void conn_flush_pending(void)
{
    if (batch.owner)
        conn_flush(batch.owner);
    for (size_t i = 0; i < corked.count; i++) {
        struct conn *c = corked.list[i];
        if (!c)
            continue;
        c->corked = false;
        if (c->phase != CONN_CLOSED)
            write_queue(c);
        if (c->phase != CONN_CLOSED)
            after_output(c);    /* a paused reader resumes in conn_on_writable */
    }
    corked.count = 0;
}

/* Make c the batch owner; false if its output must go to the queue. */
static bool batch_claim(struct conn *c)
{
    if (batch.owner != c) {
        if (batch.owner)
            conn_flush(batch.owner);
        if (!outq_empty(&c->out))
            return false;        /* keep order: behind what is queued */
        batch.owner = c;
    }
    if (batch.count == BATCH_IOVS) {
        conn_flush(c);
        if (c->phase == CONN_CLOSED || !outq_empty(&c->out))
            return false;
        batch.owner = c;
    }
    return true;
}

static void batch_add(struct conn *c, const void *p, size_t n, struct msg *m, bool frame)
{
    batch.iov[batch.count] = (struct iovec){ (void *)p, n };
    batch.msg[batch.count] = m;
    batch.frame[batch.count] = frame;
    batch.count++;
    batch.bytes += n;
    if (m || n > INLINE_BYTES)   /* references can be large; copies are bounded */
        note_backlog(c);
}

/* Behind whatever c has queued: the batch could not take it. */
static void queue_copy(struct conn *c, const void *p, size_t n)
{
    if (c->phase == CONN_CLOSED)
        return;
    outq_push_copy(&c->out, p, n);
    note_backlog(c);
}

/* Small payloads are copied next to their headers: a batch of small
 * frames becomes one contiguous piece, so one write sends it (an iovec per
 * 16-byte piece costs the kernel more than the copy, and 64 pieces would
 * split the batch into several system calls). */
void conn_send(struct conn *c, const void *p, size_t n)
{
    if (n <= INLINE_BYTES) {
        conn_send_copy(c, p, n);
        return;
    }
    if (c->phase == CONN_CLOSED || n == 0)
        return;
    if (batch_claim(c))
        batch_add(c, p, n, NULL, false);
    else
        queue_copy(c, p, n);
}

/* Queue a copy and write at once: for what is too big for the batch. Any
 * batch of c's goes first, to keep the order. */
static void send_large_copy(struct conn *c, const void *p, size_t n)
{
    conn_flush(c);
    if (c->phase == CONN_CLOSED)
        return;
    outq_push_copy(&c->out, p, n);
    write_queue(c);
    if (c->phase != CONN_CLOSED)
        after_output(c);
    if (c->phase != CONN_CLOSED)
        note_backlog(c);
}

uint8_t *conn_reserve(struct conn *c, size_t n)
{
    /* The common case first: c's batch already ends with copies and the
     * copy buffer has room, so the reservation extends that last piece.
     * (batch.owner is never a closed connection: conn_abort drops it.) */
    uint8_t *dst = batch.copy + batch.copy_len;
    if (batch.owner == c && batch.count && n - 1 < CONN_RESERVE_MAX
        && batch.copy_len + n <= BATCH_COPY_BYTES) {
        struct iovec *last = &batch.iov[batch.count - 1];
        if ((uint8_t *)last->iov_base + last->iov_len == dst) {
            batch.copy_len += n;
            last->iov_len += n;
            batch.bytes += n;
            return dst;
        }
    }
    if (c->phase == CONN_CLOSED || n == 0 || n > CONN_RESERVE_MAX)
        return NULL;
    if (batch.owner == c && batch.copy_len + n > BATCH_COPY_BYTES)
        conn_flush(c);
    if (!batch_claim(c))
        return NULL;
    dst = batch.copy + batch.copy_len;
    batch.copy_len += n;
    struct iovec *last = batch.count ? &batch.iov[batch.count - 1] : NULL;
    if (last && (uint8_t *)last->iov_base + last->iov_len == dst) {
        last->iov_len += n;      /* contiguous copies are one piece */
        batch.bytes += n;        /* bounded by the copy buffer: no backlog check */
    } else {
        batch_add(c, dst, n, NULL, false);
    }
    return dst;
}

void conn_send_copy(struct conn *c, const void *p, size_t n)
{
    if (c->phase == CONN_CLOSED || n == 0)
        return;
    if (n > CONN_RESERVE_MAX) {
        send_large_copy(c, p, n);
        return;
    }
    uint8_t *dst = conn_reserve(c, n);
    if (dst)
        memcpy(dst, p, n);
    else
        queue_copy(c, p, n);     /* behind what is queued */
}

static void queue_msg(struct conn *c, struct msg *m, bool frame)
{
    if (frame)
        outq_push_frame(&c->out, msg_ref(m));
    else
        outq_push_msg(&c->out, msg_ref(m), 0);
}

static void send_msg(struct conn *c, struct msg *m, bool frame)
{
    if (c->phase == CONN_CLOSED || m->len == 0)
        return;
    if (c != batch.owner && c != c->env->reading) {
        queue_msg(c, m, frame);  /* corked: written once, later */
        cork(c);
        note_backlog(c);
    } else if (batch_claim(c)) {
        batch_add(c, m->data, m->len, msg_ref(m), frame);
    } else if (c->phase != CONN_CLOSED) {
        queue_msg(c, m, frame);
        note_backlog(c);
    }
}

void conn_send_msg(struct conn *c, struct msg *m)
{
    send_msg(c, m, false);
}

void conn_send_frame(struct conn *c, struct msg *m)
{
    send_msg(c, m, true);
}

void conn_drop_frames(struct conn *c)
{
    if (batch.owner == c)
        conn_flush(c);           /* what the socket does not take is queued */
    outq_drop_frames(&c->out);
}

void conn_send_urgent(struct conn *c, const void *p, size_t n)
{
    if (c->phase == CONN_CLOSED)
        return;
    if (outq_empty(&c->out)) {
        conn_send_copy(c, p, n);  /* nothing is waiting: in order is in front */
        return;
    }
    outq_push_urgent(&c->out, p, n);
    update_watch(c);
    note_backlog(c);
}

/* --- input -------------------------------------------------------------- */

/* Answer the complete requests in buf[0..len), in order, while c is in the
 * HTTP phase and its backlog allows (a peer that pipelines requests and
 * reads no answers is not answered without end). Returns the bytes used, or
 * -1 if the connection failed. */
static ssize_t answer_requests(struct conn *c, const uint8_t *buf, size_t len)
{
    size_t used = 0;
    while (used < len && c->phase == CONN_HTTP && !c->read_paused) {
        ssize_t r = c->hooks->on_http(c, buf + used, len - used);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        used += (size_t)r;
    }
    return (ssize_t)used;
}

/* Held input: an unfinished head, or requests held back by the backlog.
 * New bytes join it; what is answered leaves it. Frames behind an upgrade
 * leave it for ws.c, which needs c->in for messages. */
static void held_input(struct conn *c, const uint8_t *buf, size_t len)
{
    if (len > 0)
        buf_append(&c->in, buf, len);
    ssize_t used = answer_requests(c, c->in.data, c->in.len);
    if (used < 0 || c->phase == CONN_CLOSED)
        return;
    if (c->phase == CONN_WS) {
        struct buf rest = c->in;
        c->in = (struct buf){0};
        c->hooks->on_frames(c, rest.data + used, rest.len - (size_t)used);
        buf_free(&rest);
    } else if (c->phase == CONN_HTTP) {
        buf_consume(&c->in, (size_t)used);
    }
}

/* The HTTP phase. Requests that arrive whole are parsed where they lie; the
 * rest of buf is held in c->in unless an upgrade made it frames. Returns the
 * bytes of buf used, or -1 if the connection failed. */
static ssize_t http_input(struct conn *c, uint8_t *buf, size_t len)
{
    if (c->in.len > 0) {
        held_input(c, buf, len);
        return c->phase == CONN_CLOSED ? -1 : (ssize_t)len;
    }
    ssize_t used = answer_requests(c, buf, len);
    if (used < 0 || c->phase == CONN_WS)
        return used;
    if (c->phase == CONN_HTTP && (size_t)used < len)
        buf_append(&c->in, buf + used, len - (size_t)used);
    return (ssize_t)len;
}

static void conn_input(struct conn *c, uint8_t *buf, size_t len)
{
    if (c->phase == CONN_HTTP) {
        ssize_t used = http_input(c, buf, len);
        if (used < 0)
            return;
        buf += used;
        len -= (size_t)used;
    }
    /* Lingering or closed: the bytes are dropped. */
    if (len > 0 && (c->phase == CONN_WS || c->phase == CONN_CLOSING))
        c->hooks->on_frames(c, buf, len);
}

/* Hand bytes (or, with len 0, held input) over, then write the replies:
 * they may point into buf. */
static void take_input(struct conn *c, uint8_t *buf, size_t len)
{
    c->env->reading = c;
    conn_input(c, buf, len);
    c->env->reading = NULL;
    if (batch.owner)
        conn_flush(batch.owner);
}

static void peer_closed(struct conn *c)
{
    if (c->phase == CONN_LINGER)
        conn_abort(c, c->end_reason ? c->end_reason : "closed");
    else
        conn_abort(c, "peer closed the connection");
}

/* At most READ_ROUNDS reads, so one fast peer cannot starve the rest; a read
 * that did not fill the scratch buffer means the socket is drained. What
 * OpenSSL decrypted but we did not read yet is invisible to epoll: it is
 * taken before returning, or it would wait for the peer's next packet. */
static void conn_on_readable(struct reactor_watch *w)
{
    struct conn *c = (struct conn *)w;
    for (int round = 0; wants_input(c); round++) {
        size_t want = sizeof scratch;
        if (round >= READ_ROUNDS && !(c->tls && (want = tls_pending(c->tls)) > 0))
            return;
        ssize_t n = io_read(c, scratch, want);
        if (n > 0) {
            c->env->now_ms = clock_mono_ms();    /* a vDSO call: cheap */
            c->active_ms = c->env->now_ms;
            take_input(c, scratch, (size_t)n);
            if ((size_t)n < want)
                return;
        } else if (n == 0) {
            peer_closed(c);
            return;
        } else if (errno == EAGAIN) {
            if (c->tls)
                update_watch(c); /* TLS may need the socket writable first */
            return;
        } else if (errno != EINTR) {
            conn_abort(c, strerror(errno));
            return;
        }
    }
}

static const struct reactor_ops conn_ops = { conn_on_readable, conn_on_writable };

/* --- lists of connections ------------------------------------------------ */

void conn_list_add(struct conn_list *l, struct conn *c)
{
    c->peer_prev = NULL;
    c->peer_next = l->head;
    if (l->head)
        l->head->peer_prev = c;
    l->head = c;
    l->count++;
}

void conn_list_remove(struct conn_list *l, struct conn *c)
{
    if (c->peer_prev)
        c->peer_prev->peer_next = c->peer_next;
    else
        l->head = c->peer_next;
    if (c->peer_next)
        c->peer_next->peer_prev = c->peer_prev;
    c->peer_prev = c->peer_next = NULL;
    l->count--;
}

/* --- the loop ----------------------------------------------------------- */

void conn_env_init(struct conn_env *env, struct reactor *r)
{
    *env = (struct conn_env){ .reactor = r, .now_ms = clock_mono_ms() };
    r->after_batch = conn_flush_pending;
}

/* The peer took some of its queued output within the close timeout. */
static bool output_moving(const struct conn *c)
{
    uint32_t since = (uint32_t)c->env->now_ms - c->out_ms;
    return !outq_empty(&c->out) && since < c->env->close_timeout_ms;
}

bool conn_output_stalled(const struct conn *c)
{
    uint32_t since = (uint32_t)c->env->now_ms - c->out_ms;
    return c->read_paused && c->env->stall_timeout_ms && since >= c->env->stall_timeout_ms;
}

static void tick_one(struct conn *c)
{
    uint64_t now = c->env->now_ms;
    switch (c->phase) {
    case CONN_HTTP:
    case CONN_WS:
        if (c->hooks->on_tick)
            c->hooks->on_tick(c);
        break;
    case CONN_CLOSING:
    case CONN_LINGER:
        /* Our last frames may be many (a drain delivers the whole queue
         * before the Close): the wait counts from the peer's last progress. */
        if (c->deadline_ms && now >= c->deadline_ms && !output_moving(c))
            conn_abort(c, c->phase == CONN_CLOSING ? "no Close from peer in time"
                                                   : "peer did not close in time");
        break;
    default:
        break;
    }
    /* An idle connection owns no buffers (STYLE: memory). */
    if (c->phase != CONN_CLOSED && now - c->active_ms >= 1000) {
        if (c->in.len == 0 && c->in.cap > 0)
            free_input(c);
        outq_trim(&c->out);
    }
}

void conn_env_tick(struct conn_env *env)
{
    env->now_ms = clock_mono_ms();
    for (struct conn *c = env->all, *next; c; c = next) {
        next = c->next;          /* c may close; it is freed only later */
        tick_one(c);
    }
}

void conn_env_abort_all(struct conn_env *env, const char *reason)
{
    for (struct conn *c = env->all; c; c = c->next)
        conn_abort(c, reason);
}
