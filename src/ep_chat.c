/* ep_chat.c -- /chat: a broadcast room speaking the JSON of README "Messages".
 * A message for everyone is encoded once, as a whole frame, into one
 * refcounted struct msg that every member's output holds a reference to: no
 * copy and no allocation per recipient. Client strings are decoded (every
 * JSON escape undone) and encoded again, so what goes out is always valid,
 * canonically escaped JSON whatever a client sent. Errors are answered with
 * {"type":"error"} and the connection stays open (README).
 *
 * Joins and leaves cost the others one delivery per batch, not one per
 * event: they are counted, and at the end of the reactor's batch the new
 * members get their welcome and everyone else one notice (README's text for a
 * single join or leave, "3 clients joined, 2 left." for several). A notice
 * to a big room is written a slice of members per batch, so that a client
 * looping connect and reset cannot hold the loop for the length of a
 * fan-out; what happens meanwhile goes into the next notice.
 *
 * Every chat message has an id (chat_history.h) and stays in the history
 * for clients that come back (chat_resume.c); with --redis the room is the
 * cluster's and messages come back from its stream (chat_stream.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "clock.h"
#include "endpoints.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "reactor.h"
#include "stats.h"
#include "ws.h"

#define CHAT_MAX_MESSAGE (64u << 10)            /* README: JSON endpoints */
#define CHAT_MAX_MEMBERS 16
/* A decoded string is never longer than its JSON source, and escaping at
 * most sextuples it (a control byte becomes \u00XX). */
#define CHAT_OUT_BYTES   (6 * CHAT_MAX_MESSAGE + 512)
/* Room for ,"id":"MS-SEQ"} after a message. */
#define CHAT_ID_MEMBER_BYTES (CHAT_ID_MAX_LEN + 16)
/* Members a notice is written to per batch: a few hundred microseconds of
 * writes, the most one churning client may delay anybody else's answer. */
#define CHAT_NOTICE_SLICE 64
/* The history's frames, whatever --history says: a flood of the largest
 * messages must not hold more memory than this. */
#define CHAT_HISTORY_BYTES (32u << 20)

static struct {
    struct conn_list joining;    /* not welcomed yet */
    struct conn_list live;       /* get every message as it is delivered */
    struct conn_list resuming;   /* replaying what they missed */
    struct chat_history history;
    struct chat_id last_issued;  /* without --redis: ids come from here */
    uint64_t relayed;            /* chat messages delivered */
    char decoded[CHAT_MAX_MESSAGE];
    char sender[CHAT_MAX_MESSAGE];
    char out[CHAT_OUT_BYTES];
    char framed[CHAT_OUT_BYTES + CHAT_ID_MEMBER_BYTES];
    /* Join and leave notices (see the top of the file). */
    struct reactor *reactor;     /* the loop the room lives in */
    struct reactor_later later;  /* notices_on_batch_end, armed by any change */
    size_t joined, left;         /* not told yet */
    struct msg *notice;          /* being delivered, or NULL */
    size_t notice_len;           /* its payload bytes */
    struct conn *cursor;         /* the next live member to get it */
} chat;

static struct chat_member *member_of(const struct conn *c)
{
    return c->ep_state.ptr;
}

static size_t online_here(void)
{
    return chat.joining.count + chat.live.count + chat.resuming.count;
}

/* Everybody in the room: here, and on the other instances. */
static size_t online(void)
{
    return online_here() + chat_stream_others_online();
}

static void count_changed(void)
{
    stats.chat_online = online_here();   /* chat_stream.c reports it to the cluster */
}

static void put_timestamp(struct json_writer *w)
{
    char stamp[CLOCK_LOCAL_US_LEN + 1];
    clock_format_local_us(clock_wall_us(), stamp);
    json_member_cstr(w, "timestamp", stamp);
}

/* {"type":TYPE,"message":TEXT,["sender":SENDER,]"timestamp":...} */
static size_t format_message(const char *type, const char *text, size_t text_len,
                             const char *sender, size_t sender_len)
{
    struct json_writer w;
    json_init(&w, chat.out, sizeof chat.out);
    json_object_begin(&w);
    json_member_cstr(&w, "type", type);
    json_member_str(&w, "message", text, text_len);
    if (sender)
        json_member_str(&w, "sender", sender, sender_len);
    put_timestamp(&w);
    json_object_end(&w);
    ssize_t n = json_finish(&w);
    return n < 0 ? 0 : (size_t)n;
}

struct msg *chat_frame(const struct chat_id *id, const char *obj, size_t len,
                       size_t *payload_len)
{
    if (len < 2 || obj[len - 1] != '}' || len - 1 > sizeof chat.framed - CHAT_ID_MEMBER_BYTES)
        return NULL;
    char text[CHAT_ID_MAX_LEN + 1];
    chat_id_format(id, text);
    memcpy(chat.framed, obj, len - 1);
    int n = snprintf(chat.framed + len - 1, CHAT_ID_MEMBER_BYTES, ",\"id\":\"%s\"}", text);
    *payload_len = len - 1 + (size_t)n;
    return ws_frame_msg(WS_OP_TEXT, chat.framed, *payload_len);
}

/* Encode once, share among every live member. */
static void broadcast(struct msg *m, size_t len)
{
    for (struct conn *c = chat.live.head, *next; c; c = next) {
        next = c->peer_next;
        if (ws_can_push(c))
            ws_send_msg(c, m, len);  /* corked: written once per callback */
    }
}

static void notices_finish(void);

void chat_deliver(const struct chat_id *id, const char *obj, size_t len)
{
    size_t payload_len;
    struct msg *m = chat_frame(id, obj, len, &payload_len);
    if (!m) {
        log_error("chat: message %llu-%llu not delivered: malformed or out of memory",
                  (unsigned long long)id->ms, (unsigned long long)id->seq);
        return;
    }
    /* Nobody reads a message before older notices. After the frame is made:
     * a notice is formatted in chat.out, where obj may lie. */
    notices_finish();
    chat.relayed++;
    chat_history_push(&chat.history, id, m, payload_len);
    stats.chat_history = chat.history.count;
    stats.chat_last = *id;
    broadcast(m, payload_len);
    msg_unref(m);
    chat_resume_poke();
}

struct chat_history *chat_history(void)
{
    return &chat.history;
}

static void reply(struct conn *c, const char *json, size_t len)
{
    ws_send_copy(c, WS_OP_TEXT, json, len);
}

static void reply_error(struct conn *c, const char *what)
{
    struct json_writer w;
    char buf[512];
    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "error");
    json_member_cstr(&w, "message", what);
    json_object_end(&w);
    ssize_t n = json_finish(&w);
    if (n > 0)
        reply(c, buf, (size_t)n);
}

void chat_reply_error(struct chat_member *m, const char *what)
{
    if (m->conn && m->conn->phase == CONN_WS)
        reply_error(m->conn, what);
}

/* --- members -------------------------------------------------------------- */

static struct conn_list *list_of(const struct chat_member *m)
{
    return m->state == CHAT_JOINING ? &chat.joining
         : m->state == CHAT_LIVE    ? &chat.live
                                    : &chat.resuming;
}

static void move_to(struct chat_member *m, enum chat_member_state state)
{
    if (chat.cursor == m->conn)
        chat.cursor = m->conn->peer_next;
    conn_list_remove(list_of(m), m->conn);
    m->state = state;
    conn_list_add(list_of(m), m->conn);
}

void chat_member_pause(struct chat_member *m)
{
    if (m->conn && m->state == CHAT_LIVE)
        move_to(m, CHAT_RESUMING);
}

void chat_member_go_live(struct chat_member *m)
{
    if (m->conn && m->state == CHAT_RESUMING)
        move_to(m, CHAT_LIVE);
}

void chat_member_hold(struct chat_member *m)
{
    m->refs++;
}

void chat_member_put(struct chat_member *m)
{
    if (--m->refs == 0)
        free(m);
}

/* --- join and leave notices ------------------------------------------------- */

/* "N client(s) online." after text, into line[0..cap). */
static size_t online_line(char *line, size_t cap, const char *text)
{
    int n = snprintf(line, cap, "%s %zu client(s) online.", text, online());
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* The README's words for one join or one leave; a count of each otherwise. */
static size_t notice_line(char *line, size_t cap, size_t joined, size_t left)
{
    char text[96];
    if (joined == 1 && left == 0)
        snprintf(text, sizeof text, "A new client has joined the chat.");
    else if (joined == 0 && left == 1)
        snprintf(text, sizeof text, "A client has left the chat.");
    else if (left == 0)
        snprintf(text, sizeof text, "%zu clients joined.", joined);
    else if (joined == 0)
        snprintf(text, sizeof text, "%zu clients left.", left);
    else
        snprintf(text, sizeof text, "%zu client%s joined, %zu left.", joined,
                 joined == 1 ? "" : "s", left);
    return online_line(line, cap, text);
}

/* A system message encoded once, to be shared by its recipients. */
static struct msg *system_msg(const char *line, size_t line_len, size_t *payload_len)
{
    *payload_len = format_message("system", line, line_len, NULL, 0);
    return ws_frame_msg(WS_OP_TEXT, chat.out, *payload_len);
}

/* The joining members get their welcome, with the count as it is now, and
 * become live (before the notice's cursor: the next notice is theirs). */
static void welcome_new_members(void)
{
    if (!chat.joining.head)
        return;
    char line[160];
    size_t len, n = online_line(line, sizeof line,
                                "Welcome! You are now connected to the broadcast server.");
    struct msg *m = system_msg(line, n, &len);
    while (chat.joining.head) {
        struct conn *c = chat.joining.head;
        move_to(member_of(c), CHAT_LIVE);
        if (ws_can_push(c))
            ws_send_msg(c, m, len);
    }
    msg_unref(m);
}

/* Welcome the new members and start the notice to the others, if there is
 * anything to tell and anybody to tell it to. */
static void notice_begin(void)
{
    if (chat.notice || (chat.joined == 0 && chat.left == 0))
        return;
    struct conn *first = chat.live.head;
    welcome_new_members();
    char line[160];
    size_t n = notice_line(line, sizeof line, chat.joined, chat.left);
    chat.joined = chat.left = 0;
    if (first) {
        chat.notice = system_msg(line, n, &chat.notice_len);
        chat.cursor = first;
    }
}

/* Write the notice to at most limit more members (corked: the reactor
 * writes each member's output once, after the batch). Members who joined
 * since it began sit before the cursor: theirs is the next one. */
static void notice_deliver(size_t limit)
{
    for (size_t i = 0; chat.cursor && i < limit; i++) {
        struct conn *c = chat.cursor;
        chat.cursor = c->peer_next;
        if (ws_can_push(c))
            ws_send_msg(c, chat.notice, chat.notice_len);
    }
    if (chat.notice && !chat.cursor) {
        msg_unref(chat.notice);
        chat.notice = NULL;
    }
}

static bool notices_pending(void)
{
    return chat.notice || chat.joined || chat.left;
}

/* The end of a batch: one slice of the notice, and again after the next
 * batch until everything is told. */
static void notices_on_batch_end(struct reactor_later *l)
{
    (void)l;
    notice_begin();
    notice_deliver(CHAT_NOTICE_SLICE);
    if (notices_pending())
        reactor_later(chat.reactor, &chat.later);
}

/* Tell everything now: before a chat message goes out, so that no member
 * reads it before a notice of what happened earlier (nor a new member
 * before its welcome). As costly as the message's own fan-out, at most. */
static void notices_finish(void)
{
    while (notices_pending()) {
        notice_begin();
        notice_deliver(SIZE_MAX);
    }
}

static void notices_schedule(void)
{
    reactor_later(chat.reactor, &chat.later);
}

static void chat_on_open(struct conn *c)
{
    struct chat_member *m = calloc(1, sizeof *m);
    if (!m) {
        ws_close(c, 1011, "out of memory");
        return;
    }
    *m = (struct chat_member){ .conn = c, .refs = 1, .state = CHAT_JOINING };
    c->ep_state.ptr = m;
    conn_list_add(&chat.joining, c);
    count_changed();
    chat.joined++;
    notices_schedule();
}

static void chat_on_close(struct conn *c)
{
    struct chat_member *m = member_of(c);
    if (!m)
        return;
    if (chat.cursor == c)
        chat.cursor = c->peer_next;
    conn_list_remove(list_of(m), c);
    chat_resume_forget(m);
    m->conn = NULL;
    c->ep_state.ptr = NULL;
    chat_member_put(m);
    count_changed();
    chat.left++;
    if (online_here() == 0) {    /* nobody left to tell */
        if (chat.notice)
            msg_unref(chat.notice);
        chat.notice = NULL;
        chat.cursor = NULL;
        chat.joined = chat.left = 0;
        return;
    }
    notices_schedule();
}

/* --- the message types ------------------------------------------------- */

/* Decode the string member key into out; its length, or -1 if it is missing
 * or not a string. */
static ssize_t string_member(const struct json_member *m, int n, const char *key, char *out,
                             size_t cap)
{
    const struct json_member *v = json_find(m, n, key);
    return v && v->type == JSON_STRING ? json_string_value(v, out, cap) : -1;
}

/* An accepted message: delivered now, or once the cluster's stream has it. */
static void accept_message(struct conn *c, const char *obj, size_t len)
{
    if (chat_stream_enabled()) {
        int rc = chat_stream_publish(member_of(c), obj, len);
        if (rc == -2)
            reply_error(c, "broker busy: message not delivered (this instance is behind "
                           "the stream; try again)");
        else if (rc < 0)
            reply_error(c, "broker unavailable: message not delivered");
        return;
    }
    chat.last_issued = chat_id_next(&chat.last_issued, clock_wall_ms());
    chat_deliver(&chat.last_issued, obj, len);
}

/* "message" and "chat" (with "sender" or "username"), and "broadcast". */
static void relay(struct conn *c, const struct json_member *m, int n, const char *sender_key)
{
    ssize_t text_len = string_member(m, n, "message", chat.decoded, sizeof chat.decoded);
    if (text_len < 0) {
        reply_error(c, "a chat message needs a \"message\" string");
        return;
    }
    ssize_t sender_len = -1;
    if (sender_key)
        sender_len = string_member(m, n, sender_key, chat.sender, sizeof chat.sender);
    const char *sender = sender_key ? chat.sender : "broadcast";
    if (sender_len <= 0) {
        sender = sender_key ? "anonymous" : "broadcast";
        sender_len = (ssize_t)strlen(sender);
    }
    size_t len = format_message("message", chat.decoded, (size_t)text_len, sender,
                                (size_t)sender_len);
    accept_message(c, chat.out, len);
}

static void pong(struct conn *c)
{
    struct json_writer w;
    char buf[128];
    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "pong");
    put_timestamp(&w);
    json_object_end(&w);
    reply(c, buf, (size_t)json_finish(&w));
}

static void send_stats(struct conn *c)
{
    struct json_writer w;
    char buf[640], last[CHAT_ID_MAX_LEN + 1];
    chat_id_format(&chat.history.last, last);
    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "stats");
    json_member_uint(&w, "online", online());
    json_member_uint(&w, "online_here", online_here());
    json_member_uint(&w, "messages_relayed", chat.relayed);
    json_member_uint(&w, "messages_received", stats.ep[STATS_CHAT].messages_in);
    json_member_cstr(&w, "last_id", last);
    json_member_uint(&w, "history", chat.history.count);
    json_member_fixed(&w, "uptime_s", (double)(clock_mono_ms() - stats.start_mono_ms) / 1000.0, 3);
    put_timestamp(&w);
    json_object_end(&w);
    reply(c, buf, (size_t)json_finish(&w));
}

static void custom(struct conn *c, const struct json_member *m, int n)
{
    if (json_string_eq(json_find(m, n, "action"), "get_stats"))
        send_stats(c);
    else
        reply_error(c, "unknown custom action (known: get_stats)");
}

/* {"type":"resume","since":ID}: only as the first message, and only once. */
static void resume(struct conn *c, const struct json_member *m, int n)
{
    struct chat_member *member = member_of(c);
    const struct json_member *since = json_find(m, n, "since");
    char id[CHAT_ID_MAX_LEN + 1];
    ssize_t len = since && since->type == JSON_STRING
                      ? json_string_value(since, id, sizeof id) : -1;
    if (member->spoke || member->state != CHAT_LIVE)
        reply_error(c, "resume must be the first message");
    else if (len < 0)
        reply_error(c, "a resume needs \"since\": the id of the last message received");
    else
        chat_resume_begin(member, id, (size_t)len);
}

static void dispatch(struct conn *c, const struct json_member *m, int n)
{
    /* Compared by decoded length: "ping\u0000" is an unknown type. */
    const struct json_member *type = json_find(m, n, "type");
    if (type == NULL)
        reply_error(c, "missing \"type\"");
    else if (json_string_eq(type, "message"))
        relay(c, m, n, "sender");
    else if (json_string_eq(type, "chat"))
        relay(c, m, n, "username");
    else if (json_string_eq(type, "broadcast"))
        relay(c, m, n, NULL);
    else if (json_string_eq(type, "ping"))
        pong(c);
    else if (json_string_eq(type, "custom"))
        custom(c, m, n);
    else if (json_string_eq(type, "resume"))
        resume(c, m, n);
    else
        reply_error(c, "unknown message type");
}

static void chat_on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    if (member_of(c)->state == CHAT_JOINING)
        notices_finish();        /* its welcome comes before any answer */
    struct json_member m[CHAT_MAX_MEMBERS];
    int n = opcode == WS_OP_TEXT ? json_parse_object((const char *)data, len, m, CHAT_MAX_MEMBERS)
                                 : -1;
    if (n == JSON_ERR_TOO_MANY) {    /* not a partial list: a key after it would be missed */
        char what[64];
        snprintf(what, sizeof what, "too many members: at most %d in a message object",
                 CHAT_MAX_MEMBERS);
        reply_error(c, what);
    } else if (n < 0) {
        reply_error(c, opcode == WS_OP_TEXT ? "invalid JSON: expected one JSON object"
                                            : "binary messages are not understood here");
    } else {
        dispatch(c, m, n);
    }
    member_of(c)->spoke = true;
}

/* /chat?since=ID: the same as a first message {"type":"resume"}. */
static void chat_on_query(struct conn *c, const char *query, size_t len)
{
    struct http_span since;
    if (!http_query_param(query, len, "since", &since))
        return;
    notices_finish();            /* the welcome first, then the replay */
    chat_resume_begin(member_of(c), since.p, since.len);
}

int chat_setup(struct reactor *r, uint32_t history)
{
    chat.reactor = r;
    chat.later.fn = notices_on_batch_end;
    /* Ids of this process start at its start: an id from before it (the
     * process that ran before) is older than the history. */
    uint64_t now = clock_wall_ms();
    struct chat_id start = { now ? now - 1 : 0, UINT64_MAX };
    chat.last_issued = start;
    if (chat_history_init(&chat.history, history, CHAT_HISTORY_BYTES, &start) < 0) {
        log_error("chat: no memory for a history of %u messages", (unsigned)history);
        return -1;
    }
    return chat_stream_setup(r, history);
}

struct endpoint ep_chat = {
    .name = "chat",
    .max_message = CHAT_MAX_MESSAGE,
    .stats = &stats.ep[STATS_CHAT],
    .on_open = chat_on_open,
    .on_query = chat_on_query,
    .on_message = chat_on_message,
    .on_close = chat_on_close,
};
