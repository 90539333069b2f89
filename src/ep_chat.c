/* ep_chat.c -- /chat: a broadcast room speaking the JSON of SPEC.md.
 * A message for everyone is encoded once, as a whole frame, into one
 * refcounted struct msg that every member's output holds a reference to: no
 * copy and no allocation per recipient. Client strings are decoded (every
 * JSON escape undone) and encoded again, so what goes out is always valid,
 * canonically escaped JSON whatever a client sent. Errors are answered with
 * {"type":"error"} and the connection stays open (SPEC). */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "endpoint.h"
#include "json.h"
#include "stats.h"
#include "ws.h"

#define CHAT_MAX_MESSAGE (64u << 10)            /* SPEC: JSON endpoints */
#define CHAT_MAX_MEMBERS 16
/* A decoded string is never longer than its JSON source, and escaping at
 * most sextuples it (a control byte becomes \u00XX). */
#define CHAT_OUT_BYTES   (6 * CHAT_MAX_MESSAGE + 512)

static struct {
    struct conn_list members;
    uint64_t relayed;            /* chat messages broadcast */
    char decoded[CHAT_MAX_MESSAGE];
    char sender[CHAT_MAX_MESSAGE];
    char out[CHAT_OUT_BYTES];
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

/* Encode once, share among every member (but skip one, if given). */
static void broadcast(const char *json, size_t len, const struct conn *skip)
{
    struct msg *m = ws_frame_msg(WS_OP_TEXT, json, len);
    for (struct conn *c = chat.members.head, *next; c; c = next) {
        next = c->peer_next;
        if (c == skip || !ws_can_push(c))
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

static void system_message(struct conn *only, const struct conn *skip, const char *text)
{
    char line[256];
    snprintf(line, sizeof line, "%s %zu client(s) online.", text, chat.members.count);
    size_t n = format_message("system", line, strlen(line), NULL, 0);
    if (only)
        reply(only, chat.out, n);
    else
        broadcast(chat.out, n, skip);
}

static void chat_on_open(struct conn *c)
{
    conn_list_add(&chat.members, c);
    stats.chat_online = chat.members.count;
    system_message(c, NULL, "Welcome! You are now connected to the broadcast server.");
    system_message(NULL, c, "A new client has joined the chat.");
}

static void chat_on_close(struct conn *c)
{
    conn_list_remove(&chat.members, c);
    stats.chat_online = chat.members.count;
    system_message(NULL, NULL, "A client has left the chat.");
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
    size_t len = format_message("message", chat.decoded, (size_t)text_len, sender,
                                (size_t)sender_len);
    chat.relayed++;
    broadcast(chat.out, len, NULL);
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
