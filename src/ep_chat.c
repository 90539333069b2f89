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
 * fan-out; what happens meanwhile goes into the next notice. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "endpoint.h"
#include "json.h"
#include "reactor.h"
#include "stats.h"
#include "ws.h"

#define CHAT_MAX_MESSAGE (64u << 10)            /* README: JSON endpoints */
#define CHAT_MAX_MEMBERS 16
/* A decoded string is never longer than its JSON source, and escaping at
 * most sextuples it (a control byte becomes \u00XX). */
#define CHAT_OUT_BYTES   (6 * CHAT_MAX_MESSAGE + 512)
/* Members a notice is written to per batch: a few hundred microseconds of
 * writes, the most one churning client may delay anybody else's answer. */
#define CHAT_NOTICE_SLICE 64

/* c->ep_state.u64: has the member had its welcome? Members join at the
 * head of the list, so the ones still waiting for it come first. */
enum { CHAT_UNWELCOMED = 0, CHAT_WELCOMED = 1 };

static struct {
    struct conn_list members;
    uint64_t relayed;            /* chat messages broadcast */
    char decoded[CHAT_MAX_MESSAGE];
    char sender[CHAT_MAX_MESSAGE];
    char out[CHAT_OUT_BYTES];
    /* Join and leave notices (see the top of the file). */
    struct reactor *reactor;     /* the loop the room lives in */
    struct reactor_later later;  /* notices_on_batch_end, armed by any change */
    size_t joined, left;         /* not told yet */
    struct msg *notice;          /* being delivered, or NULL */
    size_t notice_len;           /* its payload bytes */
    struct conn *cursor;         /* the next member to get it */
} chat;

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

/* Encode once, share among every member. */
static void broadcast(const char *json, size_t len)
{
    struct msg *m = ws_frame_msg(WS_OP_TEXT, json, len);
    for (struct conn *c = chat.members.head, *next; c; c = next) {
        next = c->peer_next;
        if (!ws_can_push(c))
            continue;
        ws_send_msg(c, m, len);  /* corked: written once per callback */
    }
    msg_unref(m);
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

/* "N client(s) online." after text, into line[0..cap). */
static size_t online_line(char *line, size_t cap, const char *text)
{
    int n = snprintf(line, cap, "%s %zu client(s) online.", text, chat.members.count);
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

/* The members waiting for a welcome (the head of the list) get it, with
 * the count as it is now. Returns the first member that already had it. */
static struct conn *welcome_new_members(void)
{
    struct conn *c = chat.members.head;
    if (!c || c->ep_state.u64 != CHAT_UNWELCOMED)
        return c;
    char line[160];
    size_t len, n = online_line(line, sizeof line,
                                "Welcome! You are now connected to the broadcast server.");
    struct msg *m = system_msg(line, n, &len);
    for (; c && c->ep_state.u64 == CHAT_UNWELCOMED; c = c->peer_next) {
        c->ep_state.u64 = CHAT_WELCOMED;
        if (ws_can_push(c))
            ws_send_msg(c, m, len);
    }
    msg_unref(m);
    return c;
}

/* Welcome the new members and start the notice to the others, if there is
 * anything to tell and anybody to tell it to. */
static void notice_begin(void)
{
    if (chat.notice || (chat.joined == 0 && chat.left == 0))
        return;
    struct conn *first = welcome_new_members();
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

static void notices_schedule(struct conn *c)
{
    chat.reactor = c->env->reactor;
    chat.later.fn = notices_on_batch_end;
    reactor_later(chat.reactor, &chat.later);
}

static void chat_on_open(struct conn *c)
{
    conn_list_add(&chat.members, c);
    stats.chat_online = chat.members.count;
    c->ep_state.u64 = CHAT_UNWELCOMED;
    chat.joined++;
    notices_schedule(c);
}

static void chat_on_close(struct conn *c)
{
    if (chat.cursor == c)
        chat.cursor = c->peer_next;
    conn_list_remove(&chat.members, c);
    stats.chat_online = chat.members.count;
    chat.left++;
    if (chat.members.count == 0) {   /* nobody left to tell */
        if (chat.notice)
            msg_unref(chat.notice);
        chat.notice = NULL;
        chat.cursor = NULL;
        chat.joined = chat.left = 0;
        return;
    }
    notices_schedule(c);
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
    notices_finish();            /* before chat.out holds the message */
    size_t len = format_message("message", chat.decoded, (size_t)text_len, sender,
                                (size_t)sender_len);
    chat.relayed++;
    broadcast(chat.out, len);
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
    char buf[512];
    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "stats");
    json_member_uint(&w, "online", chat.members.count);
    json_member_uint(&w, "messages_relayed", chat.relayed);
    json_member_uint(&w, "messages_received", stats.ep[STATS_CHAT].messages_in);
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

static void chat_on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    if (c->ep_state.u64 == CHAT_UNWELCOMED)
        notices_finish();        /* its welcome comes before any answer */
    struct json_member m[CHAT_MAX_MEMBERS];
    int n = opcode == WS_OP_TEXT ? json_parse_object((const char *)data, len, m, CHAT_MAX_MEMBERS)
                                 : -1;
    if (n == JSON_ERR_TOO_MANY) {    /* not a partial list: a key after it would be missed */
        char what[64];
        snprintf(what, sizeof what, "too many members: at most %d in a message object",
                 CHAT_MAX_MEMBERS);
        reply_error(c, what);
        return;
    }
    if (n < 0) {
        reply_error(c, opcode == WS_OP_TEXT ? "invalid JSON: expected one JSON object"
                                            : "binary messages are not understood here");
        return;
    }
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
    else
        reply_error(c, "unknown message type");
}

struct endpoint ep_chat = {
    .name = "chat",
    .max_message = CHAT_MAX_MESSAGE,
    .stats = &stats.ep[STATS_CHAT],
    .on_open = chat_on_open,
    .on_message = chat_on_message,
    .on_close = chat_on_close,
};
