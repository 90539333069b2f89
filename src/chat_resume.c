/* chat_resume.c -- a client that reconnects gets what it missed (README
 * "Resume"): every message after the id it names, in order and with the
 * original ids, then {"type":"resumed"}, then the live messages.
 *
 * The seam. While it replays, the member is not a live member: deliveries
 * pass it by. Its position (m->pos) is the newest message it has; the
 * replay goes on from there until it reaches the newest message delivered
 * (the history's last), and in the same step it becomes live again. So a
 * message delivered during the replay is replayed, not sent live, and none
 * is sent twice or skipped, however many arrive meanwhile.
 *
 * Where the messages come from: the history's ring, when it holds the
 * position (the common case: a reconnect after a short outage); else, with
 * --redis, pages of the cluster's stream (an instance that started after
 * the message, a long absence); else nowhere: the replay says
 * "complete":false and starts at the oldest message held.
 *
 * The bound. A replay only queues while the member's output is small
 * (REPLAY_ROOM); then it waits for the output to drain and goes on, so a
 * client resuming 1,000 messages over a slow link costs references to the
 * history's frames, not copies, and never more than that much queued. */
#include <stdio.h>

#include "chat.h"
#include "json.h"
#include "ws.h"

#define REPLAY_ROOM (256u << 10)

static struct {
    struct chat_member *list;    /* every member replaying now */
    struct reactor *reactor;
    struct reactor_later later;  /* a replay waits for its output to drain */
} resume;

static void list_remove(struct chat_member *m)
{
    for (struct chat_member **p = &resume.list; *p; p = &(*p)->next_resumer)
        if (*p == m) {
            *p = m->next_resumer;
            m->next_resumer = NULL;
            return;
        }
}

static bool has_room(const struct chat_member *m)
{
    const struct conn *c = m->conn;
    size_t room = REPLAY_ROOM;
    if (c->env->max_pending && c->env->max_pending / 2 < room)
        room = c->env->max_pending / 2;
    return c->phase == CONN_WS && conn_pending(c) < room;
}

static void wait_for_room(void)
{
    reactor_later(resume.reactor, &resume.later);
}

/* {"type":"resumed","since":ID,"replayed":N,"complete":BOOL} */
static void send_resumed(struct chat_member *m)
{
    char since[CHAT_ID_MAX_LEN + 1], buf[160];
    chat_id_format(&m->since, since);
    struct json_writer w;
    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "resumed");
    json_member_cstr(&w, "since", since);
    json_member_uint(&w, "replayed", m->replayed);
    json_member_bool(&w, "complete", m->complete);
    json_object_end(&w);
    ssize_t n = json_finish(&w);
    if (n > 0)
        ws_send_copy(m->conn, WS_OP_TEXT, buf, (size_t)n);
}

static void finish(struct chat_member *m)
{
    list_remove(m);
    if (!m->quiet)
        send_resumed(m);
    chat_member_go_live(m);
}

/* The broker went away in the middle: the client had better come back
 * (to another instance, or later) than go on with a hole. */
static void fail(struct chat_member *m)
{
    list_remove(m);
    chat_reply_error(m, "broker unavailable: cannot resume now; reconnect to try again");
    chat_member_go_live(m);
    ws_close(m->conn, 1013, "broker unavailable");   /* RFC 6455 §7.4.1: try again later */
}

/* The ring's messages from index first on, while there is room. True when
 * m has the newest. */
static bool replay_held(struct chat_member *m, uint32_t first)
{
    const struct chat_history *h = chat_history();
    for (uint32_t i = first; i < h->count; i++) {
        if (!has_room(m))
            return false;
        const struct chat_entry *e = chat_history_at(h, i);
        ws_send_msg(m->conn, e->frame, e->payload_len);
        m->pos = e->id;
        m->replayed++;
    }
    m->pos = h->last;
    return true;
}

/* Replay as far as possible now; see the top of the file. */
static void step(struct chat_member *m)
{
    const struct chat_history *h = chat_history();
    if (chat_stream_enabled() && !chat_stream_joined())
        return;                  /* where this instance's history begins: soon */
    while (!m->fetching && m->conn) {
        int cmp = chat_id_cmp(&m->pos, &h->last);
        if (cmp == 0 || (cmp > 0 && !chat_stream_enabled())) {
            finish(m);
            return;
        }
        if (cmp > 0 && m->verified)
            return;              /* the client saw messages this instance has yet to
                                    deliver (it was on another): after them */
        uint32_t first;
        enum chat_since where = cmp > 0 ? CHAT_SINCE_UNKNOWN
                                        : chat_history_find(h, &m->pos, &first);
        if (where == CHAT_SINCE_HELD) {
            if (!replay_held(m, first)) {
                wait_for_room();
                return;
            }
        } else if (chat_stream_enabled() && (where == CHAT_SINCE_TOO_OLD || !m->verified)) {
            m->fetching = true;
            if (chat_stream_fetch(m) < 0) {
                m->fetching = false;
                fail(m);
            }
            return;
        } else {                 /* nobody holds what came before the gap */
            m->complete = false;
            m->pos = h->gap;
        }
    }
}

static void resume_poke_later(struct reactor_later *l)
{
    (void)l;
    chat_resume_poke();
}

void chat_resume_begin(struct chat_member *m, const char *since, size_t len)
{
    struct chat_id id;
    if (chat_id_parse(since, len, &id) < 0) {
        chat_reply_error(m, "malformed id: expected MS-SEQ, the \"id\" of a message");
        return;
    }
    const struct chat_history *h = chat_history();
    uint32_t first;
    enum chat_since where = chat_history_find(h, &id, &first);
    /* With --redis the stream decides about an id the ring does not know:
     * an older one, or a newer one that another instance delivered first. */
    if (where == CHAT_SINCE_UNKNOWN && !chat_stream_enabled()) {
        chat_reply_error(m, "unknown id: no message of this chat has it");
        return;
    }
    m->since = m->pos = id;
    m->paused_at = h->last;
    m->replayed = 0;
    m->complete = where != CHAT_SINCE_TOO_OLD || chat_stream_enabled();
    m->quiet = false;
    m->verified = where == CHAT_SINCE_HELD;
    resume.reactor = m->conn->env->reactor;
    resume.later.fn = resume_poke_later;
    chat_member_pause(m);
    m->next_resumer = resume.list;
    resume.list = m;
    /* After this batch: m's output is then counted in conn_pending (the
     * connection being read writes through the batch buffer meanwhile). */
    wait_for_room();
}

void chat_resume_poke(void)
{
    for (struct chat_member *m = resume.list, *next; m; m = next) {
        next = m->next_resumer;  /* step may finish m: it leaves the list */
        if (!m->fetching)
            step(m);
    }
}

void chat_resume_forget(struct chat_member *m)
{
    list_remove(m);
}

bool chat_resume_take(struct chat_member *m, const struct chat_id *id, const char *obj,
                      size_t len)
{
    if (!m->conn || chat_id_cmp(id, &chat_history()->last) > 0)
        return false;            /* from here on the ring and the live stream serve */
    if (chat_id_cmp(id, &m->pos) <= 0)
        return true;
    if (!has_room(m)) {
        m->page_full = true;
        return false;
    }
    size_t payload_len;
    struct msg *frame = chat_frame(id, obj, len, &payload_len);
    if (frame) {
        ws_send_msg(m->conn, frame, payload_len);
        msg_unref(frame);
        m->replayed++;
    }
    m->pos = *id;
    m->page_took = true;
    return true;
}

void chat_resume_page_done(struct chat_member *m, enum chat_page_result result)
{
    m->fetching = false;
    m->verified = true;
    bool took = m->page_took, full = m->page_full;
    m->page_took = m->page_full = false;
    if (!m->conn)
        return;                  /* it closed meanwhile: forgotten already */
    if (result == CHAT_PAGE_FAILED) {
        fail(m);
        return;
    }
    if (result == CHAT_PAGE_UNKNOWN) {
        chat_reply_error(m, "unknown id: no message of this chat has it");
        m->quiet = true;         /* no replay asked: just what passed by meanwhile */
        const struct chat_history *held = chat_history();
        m->pos = chat_id_cmp(&m->paused_at, &held->gap) < 0 ? held->gap : m->paused_at;
    } else if (result == CHAT_PAGE_TRIMMED) {
        m->complete = false;
    }
    if (full) {
        wait_for_room();
        return;
    }
    const struct chat_history *h = chat_history();
    if (!took && result != CHAT_PAGE_UNKNOWN && chat_id_cmp(&m->pos, &h->gap) < 0) {
        m->complete = false;     /* neither the stream nor the ring has the rest */
        m->pos = h->gap;
    }
    step(m);
}
