/* cli_connect.c -- `wspulse connect [URL] [--name N]`: the terminal chat
 * client of /chat (README "Messages"). One reactor watches stdin (the lines typed),
 * the WebSocket (the room's messages) and a sweep timer (deadlines,
 * keepalive, reconnecting with wsclient.h's backoff); nothing blocks but the
 * name lookup when a connection starts.
 *
 * What the server relays was written by anyone in the room, so it reaches
 * the terminal only after every control character has been made visible
 * (ESC shows as ^[): a hostile sender must not move the cursor, retitle the
 * window or fake a line. Lines of our own begin with "***"; relayed ones
 * with "[HH:MM:SS]", which no sender can change.
 *
 * After a reconnect it resumes (README "Resume"): it asks the room for
 * every message after the last one it showed, and shows each message once,
 * in order, whatever the server sends twice. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "utf8.h"
#include "ws.h"
#include "wsclient.h"

#define CONNECT_DEFAULT_URL "ws://127.0.0.1:8970/chat"
#define SWEEP_MS            100
#define LINE_MAX_BYTES      16384          /* one typed line */
#define NAME_MAX_BYTES      64
#define ROOM_MAX_MESSAGE    (64u << 10)    /* README: what /chat accepts */
#define RECV_MAX_MESSAGE    (1u << 20)     /* what we accept from the server */
#define MAX_MEMBERS         24
#define PINGS_MAX           8              /* /ping answers awaited at once */
#define STATS_MAX           8              /* get_stats answers awaited at once */
#define ID_MAX_LEN          41             /* "MS-SEQ": two 20-digit numbers */

/* A chat message's id, "MS-SEQ" (a Redis stream id's form); ids grow in
 * the order the room delivers messages. */
struct chat_id {
    uint64_t ms, seq;
};

struct line_reader {
    char   data[LINE_MAX_BYTES];
    size_t len;
    bool   overlong;             /* dropping the rest of a line that did not fit */
};

static struct {
    struct ws_url url;
    char url_text[2400];
    const char *name;            /* NULL until given or typed */
    char typed_name[NAME_MAX_BYTES + 1];
    struct reactor reactor;
    struct conn_env env;
    struct reactor_timer sweep;
    struct reactor_watch input;  /* stdin */
    bool interactive;            /* stdin is a terminal */
    bool input_polled;           /* false: a file, read on each sweep instead */
    bool input_done;
    struct line_reader lines;
    struct wsclient *client;     /* NULL between connections */
    bool open, ever_open, quitting;
    int exit_status;
    struct wsclient_retry retry;
    uint64_t ping_sent_ns[PINGS_MAX];  /* FIFO: the server answers in order */
    unsigned pings_first, pings_count;
    bool stats_quiet[STATS_MAX];       /* FIFO: asked for the last id, not by /stats */
    unsigned stats_first, stats_count;
    /* Resuming (see "resuming" below). */
    bool have_id;                /* last_id is known */
    struct chat_id last_id;      /* the newest message shown (or the room's, at join) */
    struct ws_url resume_url;    /* url with ?since=last_id, for one connection */
    bool resume_asked;           /* the connection being made asks ?since= */
    bool awaiting_resumed;       /* asked, and no "resumed" (nor a refusal) yet */
    bool trust_ids;              /* false after a refusal: show every message */
    bool baseline_asked;         /* this connection asked the room for its last id */
    bool spoke;                  /* this connection sent something an error may answer */
    unsigned replay_shown, replay_skipped;
    char json[6 * LINE_MAX_BYTES + 8 * NAME_MAX_BYTES + 128];
    char decoded[RECV_MAX_MESSAGE];
} session;

/* --- the screen ------------------------------------------------------------- */

/* One line being built; everything received is at most RECV_MAX_MESSAGE
 * bytes and made at most twice as long by show_safe(). */
static struct {
    char   buf[2 * RECV_MAX_MESSAGE + 1024];
    size_t len;
} screen;

static void show_raw(const char *s, size_t len)
{
    size_t room = sizeof screen.buf - 1 - screen.len;
    if (len > room)
        len = room;
    memcpy(screen.buf + screen.len, s, len);
    screen.len += len;
}

static void show(const char *s)
{
    show_raw(s, strlen(s));
}

/* Append what a server sent, every control made visible (wsclient.h). */
static void show_safe(const char *s, size_t len)
{
    screen.len += wsclient_visible(s, len, screen.buf + screen.len,
                                   sizeof screen.buf - screen.len);
}

/* A line of our own: "*** HH:MM:SS ". */
static void begin_notice(void)
{
    char hms[CLOCK_HMS_LEN + 1];
    clock_format_hms(clock_wall_ms(), hms);
    screen.len = 0;
    show("*** ");
    show(hms);
    show(" ");
}

/* A line from the server: "[HH:MM:SS] ". */
static void begin_received(void)
{
    char hms[CLOCK_HMS_LEN + 1];
    clock_format_hms(clock_wall_ms(), hms);
    screen.len = 0;
    show("[");
    show(hms);
    show("] ");
}

static void end_line(void)
{
    screen.buf[screen.len++] = '\n';
    fwrite(screen.buf, 1, screen.len, stdout);
    fflush(stdout);
    screen.len = 0;
}

static void notice(const char *text)
{
    begin_notice();
    show(text);
    end_line();
}

/* --- resuming ---------------------------------------------------------------- */

/* The room gives every chat message an id and, asked with /chat?since=ID,
 * sends every message after ID that its history holds, then
 * {"type":"resumed","replayed":N,"complete":BOOL}, then the live messages
 * (README "Resume"). We ask with the query, not with a first message
 * {"type":"resume"}: the query arrives with the handshake, before the room
 * has sent us anything, so the replay comes before every live message. A
 * first message would race the live messages sent between the welcome and
 * its arrival, which the replay would send again after them.
 *
 * Only a room is asked: last_id comes from a chat message's id, or from the
 * room's answer to a get_stats that we send only after its welcome (a
 * "system" message). Another endpoint (/echo sends back what we send,
 * which has no id) never gets ?since= nor a get_stats. */

/* "<digits>-<digits>", each part a 64-bit number; false for anything else. */
static bool id_parse(const char *s, size_t len, struct chat_id *id)
{
    uint64_t part[2] = { 0, 0 };
    unsigned k = 0;
    size_t digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '-' && k == 0 && digits > 0) {
            k = 1;
            digits = 0;
            continue;
        }
        unsigned d = (unsigned)((unsigned char)s[i] - '0');
        if (d > 9 || part[k] > (UINT64_MAX - d) / 10)
            return false;
        part[k] = part[k] * 10 + d;
        digits++;
    }
    if (k != 1 || digits == 0)
        return false;
    *id = (struct chat_id){ part[0], part[1] };
    return true;
}

static int id_cmp(const struct chat_id *a, const struct chat_id *b)
{
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The string member key as an id; false if absent or not of that form. */
static bool id_member(const struct json_member *m, int n, const char *key, struct chat_id *id)
{
    const struct json_member *v = json_find(m, n, key);
    char text[ID_MAX_LEN + 1];
    ssize_t len = v ? json_string_value(v, text, sizeof text) : -1;
    return len > 0 && id_parse(text, (size_t)len, id);
}

/* The URL of the next connection: the one given, with since=last_id added
 * to its query once there is a last id. A since= of the given URL counts
 * until then (the user asked for a replay), and is dropped after: the
 * server would take the first. */
static const struct ws_url *next_url(void)
{
    struct ws_url *u = &session.resume_url;
    *u = session.url;
    const char *query = strchr(session.url.path, '?');
    size_t len = query ? (size_t)(query - session.url.path) : strlen(session.url.path);
    char sep = '?';
    bool given = false;
    for (const char *p = query ? query + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n >= 6 && memcmp(p, "since=", 6) == 0) {
            given = true;
        } else if (n > 0) {
            u->path[len++] = sep;    /* never longer than the original */
            memcpy(u->path + len, p, n);
            len += n;
            sep = '&';
        }
        p = amp ? amp + 1 : NULL;
    }
    session.resume_asked = given;
    if (!session.have_id)
        return &session.url;
    int n = snprintf(u->path + len, sizeof u->path - len, "%csince=%llu-%llu", sep,
                     (unsigned long long)session.last_id.ms,
                     (unsigned long long)session.last_id.seq);
    if (n < 0 || (size_t)n >= sizeof u->path - len)
        return &session.url;     /* no room in the path: connect as told */
    session.resume_asked = true;
    return u;
}

/* A connection opened: what it asked for decides what it waits for. */
static void resume_opened(void)
{
    session.awaiting_resumed = session.resume_asked;
    session.trust_ids = true;
    session.baseline_asked = false;
    session.spoke = false;
    session.replay_shown = session.replay_skipped = 0;
}

/* --- connecting and reconnecting ------------------------------------------ */

/* Say why a connection ended (or never began) and when the next try is. */
static void announce_retry(const char *what, const char *why)
{
    uint32_t delay_ms = wsclient_retry_schedule(&session.retry, session.env.now_ms);
    char delay[64];
    snprintf(delay, sizeof delay, "); reconnecting in %.1f s...", delay_ms / 1000.0);
    begin_notice();
    show(what);
    show(" (");
    show_safe(why, strlen(why));     /* a status line comes from the server */
    show(delay);
    end_line();
}

static const struct wsclient_handler handler;
static void send_get_stats(bool quiet);
static void update_input_watch(void);
static void resume_input(void);

static void start_connecting(void)
{
    const char *err;
    session.open = false;
    session.client = wsclient_connect(&session.env, next_url(), sizeof(struct wsclient),
                                      &handler, NULL, NULL, &err);
    if (!session.client)
        announce_retry("cannot connect", err);
}

static void on_open(struct conn *c)
{
    (void)c;
    session.open = true;
    resume_opened();
    wsclient_retry_opened(&session.retry, session.env.now_ms);
    notice(session.ever_open ? "reconnected." :
           "connected. Type a message and Enter; /help lists the commands.");
    session.ever_open = true;
    resume_input();
}

static void on_close(struct conn *c)
{
    session.client = NULL;
    session.open = false;
    session.pings_count = 0;
    session.stats_count = 0;
    session.awaiting_resumed = false;
    update_input_watch();
    if (session.quitting) {
        reactor_stop(&session.reactor);
        return;
    }
    char why[256];
    wsclient_describe_end(c, why, sizeof why);
    announce_retry("connection lost", why);
}

/* A 4xx is the address or the request being wrong: retrying cannot help. */
static void on_fail(struct conn *c, const char *why)
{
    session.client = NULL;
    if (!session.quitting && wsclient_refused_for_good(c)) {
        begin_notice();
        show("cannot connect (");
        show_safe(why, strlen(why));
        show(((struct wsclient *)c)->untrusted
             ? "); not retrying: --cacert FILE trusts another CA, --insecure skips the check"
             : "); not retrying: is the URL right?");
        end_line();
        session.exit_status = 1;
        session.quitting = true;
        update_input_watch();
    }
    if (session.quitting) {
        reactor_stop(&session.reactor);
        return;
    }
    announce_retry("cannot connect", why);
}

static void quit(void)
{
    if (session.quitting)
        return;
    session.quitting = true;
    update_input_watch();
    if (session.client && session.open)
        ws_close(&session.client->conn, WS_CLOSE_NORMAL, "bye");    /* on_close stops */
    else if (session.client)
        conn_abort(&session.client->conn, "quit");                  /* on_fail stops */
    else
        reactor_stop(&session.reactor);
}

/* --- messages from the room ------------------------------------------------ */

/* Append the decoded string member key, made safe; false if there is none. */
static bool show_member(const struct json_member *m, int n, const char *key)
{
    const struct json_member *v = json_find(m, n, key);
    ssize_t len = v ? json_string_value(v, session.decoded, sizeof session.decoded) : -1;
    if (len < 0)
        return false;
    show_safe(session.decoded, (size_t)len);
    return true;
}

/* A replayed message was said a while ago: "[HH:MM:SS] " from its own
 * timestamp ("2025-08-30T10:30:40.123456", the server's clock), so the
 * screen says when; anything else gets ours. */
static void begin_replayed(const struct json_member *m, int n)
{
    const struct json_member *v = json_find(m, n, "timestamp");
    char stamp[64];
    ssize_t len = v ? json_string_value(v, stamp, sizeof stamp) : -1;
    const char *t = len > 0 ? memchr(stamp, 'T', (size_t)len) : NULL;
    bool ok = t && stamp + len - t > CLOCK_HMS_LEN;
    for (int i = 1; ok && i <= CLOCK_HMS_LEN; i++)
        ok = i % 3 == 0 ? t[i] == ':' : t[i] >= '0' && t[i] <= '9';
    if (!ok) {
        begin_received();
        return;
    }
    screen.len = 0;
    show("[");
    show_raw(t + 1, CLOCK_HMS_LEN);
    show("] ");
}

static void show_chat(const struct json_member *m, int n)
{
    if (session.awaiting_resumed)
        begin_replayed(m, n);
    else
        begin_received();
    if (!show_member(m, n, "sender"))
        show("?");
    show(": ");
    show_member(m, n, "message");
    end_line();
}

static void show_system(const struct json_member *m, int n, const char *label)
{
    begin_received();
    show(label);
    show_member(m, n, "message");
    end_line();
}

static void show_pong(void)
{
    begin_received();
    show("pong from the server");
    if (session.pings_count > 0) {
        uint64_t sent = session.ping_sent_ns[session.pings_first];
        session.pings_first = (session.pings_first + 1) % PINGS_MAX;
        session.pings_count--;
        char rtt[64];
        snprintf(rtt, sizeof rtt, ": round trip %.2f ms", (clock_mono_ns() - sent) / 1e6);
        show(rtt);
    }
    end_line();
}

/* Every member but type and timestamp, as key=value: the server may add
 * figures without this client changing. */
static void show_stats(const struct json_member *m, int n)
{
    begin_received();
    show("stats:");
    for (int i = 0; i < n && i < MAX_MEMBERS; i++) {
        const struct json_member *v = &m[i];
        bool skip = (v->key.len == 4 && memcmp(v->key.p, "type", 4) == 0)
                 || (v->key.len == 9 && memcmp(v->key.p, "timestamp", 9) == 0);
        if (skip)
            continue;
        show(" ");
        show_safe(v->key.p, v->key.len);
        show("=");
        ssize_t len = v->type == JSON_STRING
                    ? json_string_value(v, session.decoded, sizeof session.decoded) : -1;
        if (len >= 0)
            show_safe(session.decoded, (size_t)len);
        else
            show_safe(v->value.p, v->value.len);
    }
    end_line();
}

static void show_unknown(const char *what, const char *text, size_t len)
{
    begin_received();
    show(what);
    show_safe(text, len);
    end_line();
}

static bool member_is(const struct json_member *m, int n, const char *key, const char *want)
{
    return json_string_eq(json_find(m, n, key), want);
}

/* A chat message is shown unless its id says it already was: ids grow in
 * the order the room delivers, so one not above the last shown is a repeat
 * (after a refused resume the ids may be another history's: all are shown). */
static void on_chat(const struct json_member *m, int n)
{
    struct chat_id id;
    bool has_id = id_member(m, n, "id", &id);
    if (has_id && session.have_id && session.trust_ids
        && id_cmp(&id, &session.last_id) <= 0) {
        session.replay_skipped += session.awaiting_resumed;
        return;
    }
    show_chat(m, n);
    session.replay_shown += session.awaiting_resumed;
    if (has_id) {
        session.last_id = id;
        session.have_id = true;
    }
}

/* A system message means a room: one we know nothing of yet is asked for
 * its last id, so that a reconnect before its first message resumes too. */
static void on_system(const struct json_member *m, int n)
{
    show_system(m, n, "SYSTEM: ");
    if (!session.have_id && !session.baseline_asked && session.open
        && session.stats_count < STATS_MAX) {
        session.baseline_asked = true;
        send_get_stats(true);
    }
}

/* An error before anything we sent could be answered and before any
 * replayed message can only be the room refusing the resume (an id it
 * does not know, such as one of another server): from then on this
 * connection's ids are not compared with ours. */
static void on_error(const struct json_member *m, int n)
{
    show_system(m, n, "error from the server: ");
    if (session.awaiting_resumed && !session.spoke
        && session.replay_shown + session.replay_skipped == 0) {
        session.awaiting_resumed = false;
        session.trust_ids = false;
        notice("could not resume: messages sent while disconnected may be missing.");
    }
}

/* Answers come in the order asked; a quiet one only tells us the room's
 * last id (on_system). */
static void on_stats(const struct json_member *m, int n)
{
    bool quiet = false;
    if (session.stats_count > 0) {
        quiet = session.stats_quiet[session.stats_first];
        session.stats_first = (session.stats_first + 1) % STATS_MAX;
        session.stats_count--;
    }
    struct chat_id id;
    if (!session.have_id && id_member(m, n, "last_id", &id)) {
        session.last_id = id;
        session.have_id = true;
    }
    if (!quiet)
        show_stats(m, n);
}

/* The end of a replay: how many we showed (the server's count may include
 * repeats we skipped), and whether the server still had them all. */
static void on_resumed(const struct json_member *m, int n)
{
    const struct json_member *complete = json_find(m, n, "complete");
    char line[256];
    int len = snprintf(line, sizeof line,
                       complete && complete->type == JSON_TRUE
                       ? "resumed, %u missed messages replayed"
                       : "some messages could not be recovered (the server's history no "
                         "longer holds them); %u missed messages replayed",
                       session.replay_shown);
    if (session.replay_skipped && len > 0 && (size_t)len < sizeof line)
        snprintf(line + len, sizeof line - (size_t)len, ", %u already shown",
                 session.replay_skipped);
    session.awaiting_resumed = false;
    notice(line);
}

static void on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    (void)c;
    const char *text = (const char *)data;
    struct json_member m[MAX_MEMBERS];
    int n = opcode == WS_OP_TEXT ? json_parse_object(text, len, m, MAX_MEMBERS) : -1;
    if (opcode != WS_OP_TEXT)
        show_unknown("(a binary message)", "", 0);
    else if (n == JSON_ERR_TOO_MANY)     /* never searched in part */
        show_unknown("(too many members) ", text, len);
    else if (n < 0)
        show_unknown("(not JSON) ", text, len);
    else if (member_is(m, n, "type", "message"))
        on_chat(m, n);
    else if (member_is(m, n, "type", "system"))
        on_system(m, n);
    else if (member_is(m, n, "type", "error"))
        on_error(m, n);
    else if (member_is(m, n, "type", "pong"))
        show_pong();
    else if (member_is(m, n, "type", "stats"))
        on_stats(m, n);
    else if (member_is(m, n, "type", "resumed") && session.awaiting_resumed)
        on_resumed(m, n);
    else
        show_unknown("(unknown message) ", text, len);
}

static const struct wsclient_handler handler = {
    .ep = {
        .name = "chat client",
        .max_message = RECV_MAX_MESSAGE,
        .on_open = on_open,
        .on_message = on_message,
        .on_close = on_close,
    },
    .on_fail = on_fail,
};

/* --- what the user types ------------------------------------------------------ */

/* True if there is a connection to send on; otherwise says so. */
static bool require_open(void)
{
    if (session.open)
        return true;
    notice(session.client ? "not connected yet: not sent." :
           "not connected (reconnecting): not sent.");
    return false;
}

/* Send the JSON object the caller wrote into session.json, unless it is
 * over what the room accepts (which would cost us the connection: 1009). */
static void send_json(struct json_writer *w)
{
    ssize_t n = json_finish(w);
    if (n < 0 || (size_t)n > ROOM_MAX_MESSAGE) {
        notice("not sent: over the room's 64 KiB message limit.");
        return;
    }
    ws_send_copy(&session.client->conn, WS_OP_TEXT, session.json, (size_t)n);
    conn_flush(&session.client->conn);
}

/* {"type":TYPE} plus "message" and "sender" when given. */
static void send_typed(const char *type, const char *text, size_t len, const char *sender)
{
    if (!require_open())
        return;
    if (text && !utf8_valid((const uint8_t *)text, len)) {
        notice("not sent: the line is not valid UTF-8.");
        return;
    }
    struct json_writer w;
    json_init(&w, session.json, sizeof session.json);
    json_object_begin(&w);
    json_member_cstr(&w, "type", type);
    if (text)
        json_member_str(&w, "message", text, len);
    if (sender)
        json_member_cstr(&w, "sender", sender);
    json_object_end(&w);
    send_json(&w);
    session.spoke = true;
}

static void cmd_quit(const char *arg, size_t len)
{
    (void)arg, (void)len;
    quit();
}

static void cmd_ping(const char *arg, size_t len)
{
    (void)arg, (void)len;
    if (session.open && session.pings_count == PINGS_MAX) {
        notice("still waiting for earlier pongs: not sent.");
        return;
    }
    send_typed("ping", NULL, 0, NULL);
    if (session.open) {
        unsigned slot = (session.pings_first + session.pings_count++) % PINGS_MAX;
        session.ping_sent_ns[slot] = clock_mono_ns();
    }
}

/* {"type":"custom","action":"get_stats"}; quiet: for us, not shown. */
static void send_get_stats(bool quiet)
{
    struct json_writer w;
    json_init(&w, session.json, sizeof session.json);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "custom");
    json_member_cstr(&w, "action", "get_stats");
    json_object_end(&w);
    send_json(&w);
    session.stats_quiet[(session.stats_first + session.stats_count++) % STATS_MAX] = quiet;
    session.spoke |= !quiet;     /* a get_stats is never answered with an error */
}

static void cmd_stats(const char *arg, size_t len)
{
    (void)arg, (void)len;
    if (!require_open())
        return;
    if (session.stats_count == STATS_MAX)
        notice("still waiting for earlier stats: not sent.");
    else
        send_get_stats(false);
}

static void cmd_broadcast(const char *arg, size_t len)
{
    if (len == 0)
        notice("usage: /broadcast TEXT");
    else
        send_typed("broadcast", arg, len, NULL);
}

static void cmd_help(const char *arg, size_t len);

static const struct command {
    const char *name;
    void (*run)(const char *arg, size_t len);
    const char *help;            /* NULL: an alias, not listed */
} commands[] = {
    { "/ping",      cmd_ping,      "/ping            measure the round trip to the server" },
    { "/stats",     cmd_stats,     "/stats           show the room's figures" },
    { "/broadcast", cmd_broadcast, "/broadcast TEXT  send TEXT with the sender \"broadcast\"" },
    { "/quit",      cmd_quit,      "/quit, /exit     leave (so does Ctrl+D)" },
    { "/exit",      cmd_quit,      NULL },
    { "/help",      cmd_help,      "/help            this list; //text sends /text" },
};

static void cmd_help(const char *arg, size_t len)
{
    (void)arg, (void)len;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].help)
            notice(commands[i].help);
}

static void run_command(const char *line, size_t len)
{
    size_t word = 0;
    while (word < len && line[word] != ' ')
        word++;
    size_t arg = word;
    while (arg < len && line[arg] == ' ')
        arg++;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strlen(commands[i].name) == word && memcmp(commands[i].name, line, word) == 0) {
            commands[i].run(line + arg, len - arg);
            return;
        }
    }
    begin_notice();
    show("unknown command ");
    show_safe(line, word);
    show(" (/help lists them; //text sends /text)");
    end_line();
}

/* A name is 1 to 64 bytes of UTF-8 without control characters. */
static bool take_name(const char *line, size_t len)
{
    bool ok = len > 0 && len <= NAME_MAX_BYTES && utf8_valid((const uint8_t *)line, len);
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)line[i] >= 0x20 && line[i] != 0x7f;
    if (!ok)
        return false;
    memcpy(session.typed_name, line, len);
    session.typed_name[len] = '\0';
    session.name = session.typed_name;
    return true;
}

static void prompt_name(void)
{
    fputs("Enter your username: ", stdout);
    fflush(stdout);
}

static void begin_chat(void)
{
    char line[2600];
    snprintf(line, sizeof line, "connecting to %s as %s...", session.url_text, session.name);
    notice(line);
    start_connecting();
    update_input_watch();
}

static void on_line(const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (!session.name) {
        while (len > 0 && *line == ' ')
            line++, len--;
        if (take_name(line, len)) {
            if (!session.interactive)
                putchar('\n');  /* no Enter was echoed after the prompt */
            begin_chat();
        } else {
            notice("a username is 1 to 64 printable characters.");
            prompt_name();
        }
    } else if (len >= 2 && line[0] == '/' && line[1] == '/') {
        send_typed("message", line + 1, len - 1, session.name);
    } else if (len > 0 && line[0] == '/') {
        run_command(line, len);
    } else if (len > 0) {
        send_typed("message", line, len, session.name);
    }
}

/* --- reading stdin without blocking the loop -------------------------------- */

/* A person at a terminal is always heard: /quit must work while the server
 * is down, and a line that cannot go out is refused aloud. A pipe or a file
 * is read only while its lines can go somewhere (before the name, and while
 * connected); the rest waits in the pipe. */
static bool input_wanted(void)
{
    return !session.input_done && !session.quitting
        && (session.interactive || !session.name || session.open);
}

static void take_lines(void)
{
    struct line_reader *r = &session.lines;
    size_t start = 0;
    char *nl;
    while (input_wanted() && (nl = memchr(r->data + start, '\n', r->len - start))) {
        size_t end = (size_t)(nl - r->data);
        if (!r->overlong)
            on_line(r->data + start, end - start);
        r->overlong = false;
        start = end + 1;
    }
    if (session.quitting) {
        r->len = 0;              /* what is typed after /quit goes nowhere */
        return;
    }
    memmove(r->data, r->data + start, r->len - start);
    r->len -= start;
    if (r->len == sizeof r->data) {
        if (!r->overlong)
            notice("line too long (over 16384 bytes): not sent.");
        r->overlong = true;
        r->len = 0;
    }
}

static void input_ended(void)
{
    struct line_reader *r = &session.lines;
    session.input_done = true;
    update_input_watch();
    if (r->len > 0 && !r->overlong && !session.quitting)
        on_line(r->data, r->len);            /* a last line without a newline */
    r->len = 0;
    if (!session.name && !session.quitting) {
        fputs("\nwspulse connect: no username given\n", stderr);
        session.exit_status = 1;
    }
    quit();
}

/* Lines left waiting first, then one read: epoll (level-triggered) calls
 * again while more waits, so stdin needs no O_NONBLOCK, which would leak
 * to the shell sharing it. */
static void read_input(void)
{
    struct line_reader *r = &session.lines;
    take_lines();
    if (!input_wanted())
        return;
    ssize_t n = read(STDIN_FILENO, r->data + r->len, sizeof r->data - r->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        input_ended();
        return;
    }
    r->len += (size_t)n;
    take_lines();
    update_input_watch();
}

static void on_input(struct reactor_watch *w)
{
    (void)w;
    read_input();
}

static const struct reactor_ops input_ops = { on_input, NULL };

/* Watch stdin while it is wanted. The watch holds a duplicate of fd 0, so
 * that it can be dropped and taken up again (a pipe at its end would
 * otherwise wake the loop forever) while stdin itself stays open. */
static void update_input_watch(void)
{
    bool watched = session.input.fd >= 0;
    if (!session.input_polled || watched == input_wanted())
        return;
    if (watched) {
        reactor_close(&session.reactor, &session.input);
        return;
    }
    session.input = (struct reactor_watch){ &input_ops, fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0),
                                            0 };
    if (session.input.fd < 0 || reactor_add(&session.reactor, &session.input, true, false) < 0)
        input_ended();
}

/* Lines that waited for the connection go out now. */
static void resume_input(void)
{
    take_lines();
    update_input_watch();
}

/* --- the loop ----------------------------------------------------------------- */

static void on_sweep(struct reactor_timer *t, uint64_t expirations)
{
    (void)t, (void)expirations;
    conn_env_tick(&session.env);
    conn_flush_pending();
    if (session.name && !session.client && !session.quitting
        && wsclient_retry_due(&session.retry, session.env.now_ms))
        start_connecting();
    /* A file on stdin cannot be watched by epoll and never blocks: read it
     * here, and only while a line can go somewhere. */
    if (!session.input_polled && input_wanted())
        read_input();
}

static void on_signal(int signo)
{
    (void)signo;
    if (session.quitting)        /* asked twice: stop waiting for the server */
        reactor_stop(&session.reactor);
    quit();
}

static int setup(void)
{
    session.sweep.on_tick = on_sweep;
    if (wsclient_loop_init(&session.reactor, &session.env, &session.sweep, SWEEP_MS, 15000,
                           on_signal) < 0)
        return -1;
    /* epoll refuses regular files (and /dev/null): those are read on the
     * sweep instead, which is fine since they never block. */
    session.interactive = isatty(STDIN_FILENO);
    session.input = (struct reactor_watch){ &input_ops, fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0),
                                            0 };
    if (session.input.fd < 0)
        return -1;
    if (reactor_add(&session.reactor, &session.input, true, false) == 0) {
        session.input_polled = true;
    } else {
        close(session.input.fd);
        session.input.fd = -1;
        if (errno != EPERM)
            return -1;
    }
    return 0;
}

/* --- the command line ----------------------------------------------------------- */

static void usage(const struct config_option *opts)
{
    printf("usage: wspulse connect [URL | --host ADDR --port N] [--name N]\n\n"
           "Chat in the /chat room of a wspulse server (default URL %s;\n"
           "a URL without a path means /chat; wss:// needs a build with make TLS=1).\n"
           "Without --name, asks for a username. Reconnects by itself, with backoff,\n"
           "and then resumes: the room replays what was said meanwhile (?since=ID),\n"
           "and no message is shown twice.\n\n",
           CONNECT_DEFAULT_URL);
    config_print_options(stdout, opts);
    printf("\nCommands while chatting:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].help)
            printf("  %s\n", commands[i].help);
    printf("\nExit status: 0 after /quit, /exit, end of input or Ctrl+C; 1 if no\n"
           "username was given, the server refused with a 4xx status (such as 404:\n"
           "no chat there) or its certificate is not trusted (wss://); 2 for a bad\n"
           "option or URL. Refused connections, other TLS failures and 5xx answers\n"
           "are retried.\n");
}

/* Returns 0 to go on, or the exit status. */
static int parse_args(int argc, char **argv)
{
    const char *name = NULL, *host = NULL, *cacert = NULL;
    uint64_t port = 0;
    bool insecure = false;
    const struct config_option opts[] = {
        { "name", "N", CONFIG_STRING, &name, 0, 0, "username in the room (else asked for)" },
        { "host", "ADDR", CONFIG_STRING, &host, 0, 0,
          "server address instead of a URL (default " WSCLIENT_DEFAULT_HOST ")" },
        { "port", "N", CONFIG_UINT, &port, 1, 65535,
          "server port instead of a URL (default 8970)" },
        { "cacert", "FILE", CONFIG_STRING, &cacert, 0, 0, WSCLIENT_CACERT_HELP },
        { "insecure", NULL, CONFIG_FLAG, &insecure, 0, 0, WSCLIENT_INSECURE_HELP },
        { 0 },
    };
    char *positional[1] = { NULL };
    int n = config_parse(opts, argc, argv, 2, positional, 1, "connect");
    if (n == -2) {
        usage(opts);
        return -1;
    }
    if (n < 0)
        return 2;
    if (n > 0 && (host || port)) {
        config_error("connect", host ? "host" : "port", "give a URL or --host/--port, not both");
        return 2;
    }
    const char *why;
    if (ws_url_from_args(&session.url, n > 0 ? positional[0] : NULL, host, (uint16_t)port,
                         "/chat", &why) < 0) {
        fprintf(stderr, "wspulse connect: bad URL '%s': %s (see --help)\n",
                n > 0 ? positional[0] : host, why);
        return 2;
    }
    ws_url_format(&session.url, session.url_text, sizeof session.url_text);
    if (wsclient_tls_setup("connect", &session.url, cacert, insecure) != 0)
        return 2;
    if (name && !take_name(name, strlen(name))) {
        config_error("connect", "name", "must be 1 to 64 printable characters");
        return 2;
    }
    return 0;
}

int cli_connect(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    signal(SIGPIPE, SIG_IGN);    /* a write to a closed peer is an error code */
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT, NULL);
    if (setup() < 0) {
        fprintf(stderr, "wspulse connect: cannot set up the event loop: %s\n", strerror(errno));
        return 1;
    }
    if (session.name)
        begin_chat();
    else
        prompt_name();
    if (reactor_run(&session.reactor) < 0)
        session.exit_status = 1;
    reactor_fini(&session.reactor);
    return session.exit_status;
}
