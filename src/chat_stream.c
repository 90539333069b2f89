/* chat_stream.c -- with --redis, the chat room is the cluster's (README
 * "Several instances"): every accepted message is appended once to the
 * stream PREFIX:chat, and every instance delivers that stream, in its
 * order, to its own clients. One global order, and the stream's ids are
 * the messages' ids.
 *
 *   publish  XADD PREFIX:chat MAXLEN ~ HISTORY+MARGIN * json OBJ from INSTANCE on
 *            the shared command connection; the sender hears of a failure
 *            (an error reply), never silence. The first message of a fresh
 *            stream also sets PREFIX:chat:epoch (SET NX): the history's
 *            beginning, for resumes (older ids: "complete":false).
 *   deliver  XREAD BLOCK on a connection of its own, from the last id
 *            delivered; so an outage loses nothing the stream still holds.
 *            After every reconnect a check first: is it the same stream
 *            (the last id delivered is still in it, or its epoch is the
 *            same)? If not (Redis came back empty, or from an older save) a
 *            new history begins and the stream is read from its start.
 *   resume   a page of the stream after an id (chat_resume.c asks), with
 *            what Redis knows of that id: before the epoch or the oldest
 *            entry kept (some are missing), held, or unknown.
 *   count    every PRESENCE_MS each instance writes its count, with an
 *            expiry, into the hash PREFIX:chat:online and reads the others';
 *            an instance that died drops out after PRESENCE_TTL_MS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "cluster.h"
#include "log.h"
#include "redis.h"
#include "stats.h"

#define KEY_MAX          192
#define READ_BLOCK_MS    5000
/* Entries per XREAD: enough that one round trip per batch keeps up with
 * a flood (each entry is 8 values of a reply). */
#define READ_COUNT       "4096"
#define READ_MAX_VALUES  (4096 * 8 + 64)
#define PAGE_COUNT       "200"
/* Entries the stream keeps beyond --history, so that an instance behind a
 * burst still finds what it has not delivered yet (a trimmed entry would be
 * lost to its clients). */
#define TRIM_MARGIN      100000
/* Past this many unread entries the instance refuses its own clients'
 * messages (an error reply each): better than the stream trimming entries
 * it has not read yet, which its clients would never see. */
#define LAG_REFUSE       (TRIM_MARGIN / 2)
#define PRESENCE_MS      500
#define PRESENCE_TTL_MS  "1500"

static struct {
    bool enabled;
    char k_stream[KEY_MAX], k_epoch[KEY_MAX], k_online[KEY_MAX];
    char history[24];            /* MAXLEN ~ this */
    struct redis *reader;        /* XREAD BLOCK: a connection of its own */
    bool reading;                /* an XREAD (or the check before it) is out */
    bool checked;                /* the stream's continuity, since the reader's connect */
    bool first_check_done;       /* the history begins where the stream ended */
    char read_from[CHAT_ID_MAX_LEN + 1];
    char epoch[CHAT_ID_MAX_LEN + 1];     /* of the stream read, as last checked */
    bool epoch_set;              /* SET NX done on this command connection */
    struct reactor *reactor;
    bool starting;               /* chat_stream_setup waits for the first check */
    struct reactor_timer start_timer;
    /* How far behind the stream the reader is, in entries: the stream's
     * entries-added, less its value when reading began, less what was read. */
    uint64_t added_base, read_count, lag_entries;
    size_t others_online;
    bool presence_out;
    struct reactor_timer presence_timer;
    struct cluster_listener listener;
} stream;

bool chat_stream_enabled(void)
{
    return stream.enabled;
}

bool chat_stream_joined(void)
{
    /* While the reader has reconnected but not checked the stream yet, the
     * ring may hold a history that Redis has lost: wait for the check.
     * While Redis is away, the ring answers what it knows. */
    return stream.first_check_done && (stream.checked || !cluster_ready());
}

size_t chat_stream_others_online(void)
{
    return stream.others_online;
}

/* A bulk string that is an id. */
static bool value_id(const struct resp_value *v, struct chat_id *id)
{
    return v->type == RESP_BULK && chat_id_parse(v->str, v->len, id) == 0;
}

/* --- publish ---------------------------------------------------------------- */

static void on_epoch_set(struct redis *r, void *arg, enum redis_status status,
                         const struct resp_reply *reply)
{
    (void)r, (void)arg, (void)reply;
    if (status != REDIS_REPLY)
        stream.epoch_set = false;
}

/* The first id of a fresh stream is where its history begins. */
static void set_epoch(const struct resp_value *id)
{
    if (stream.epoch_set || id->type != RESP_BULK)
        return;
    const char *argv[] = { "SET", stream.k_epoch, id->str, "NX" };
    size_t lens[] = { 3, strlen(stream.k_epoch), id->len, 2 };
    stream.epoch_set = redis_command(cluster_redis(), 4, argv, lens, on_epoch_set, NULL) == 0;
}

static void on_published(struct redis *r, void *arg, enum redis_status status,
                         const struct resp_reply *reply)
{
    (void)r;
    struct chat_member *m = arg;
    const struct resp_value *v = status == REDIS_REPLY ? &reply->values[0] : NULL;
    if (v && v->type == RESP_BULK) {
        stats.broker.chat_published++;
        set_epoch(v);
    } else {
        stats.broker.chat_publish_failed++;
        if (v)
            log_error("chat: XADD refused: %.*s", (int)v->len, v->str);
        chat_reply_error(m, status == REDIS_DISCONNECTED
                                ? "broker connection lost: message may not have been delivered"
                                : "broker unavailable: message not delivered");
    }
    chat_member_put(m);
}

int chat_stream_publish(struct chat_member *m, const char *obj, size_t len)
{
    const char *instance = cluster_instance();
    const char *argv[] = { "XADD", stream.k_stream, "MAXLEN", "~", stream.history, "*",
                           "json", obj, "from", instance };
    size_t lens[10];
    if (!stream.first_check_done)
        return -1;               /* where our history begins is not known yet */
    if (stream.lag_entries > LAG_REFUSE) {
        stats.broker.chat_publish_failed++;
        return -2;
    }
    for (int i = 0; i < 10; i++)
        lens[i] = i == 7 ? len : strlen(argv[i]);
    if (!cluster_ready() || redis_command(cluster_redis(), 10, argv, lens, on_published, m) < 0) {
        stats.broker.chat_publish_failed++;
        return -1;
    }
    chat_member_hold(m);
    return 0;
}

/* --- deliver ----------------------------------------------------------------- */

/* The "json" field of a stream entry's [field, value, ...]. */
static const struct resp_value *entry_json(const struct resp_value *fields)
{
    if (fields->type != RESP_ARRAY)
        return NULL;
    const struct resp_value *f = fields + 1;
    for (uint32_t i = 0; i + 1 < fields->count; i += 2) {
        const struct resp_value *v = f + f->span;
        if (resp_str_eq(f, "json") && v->type == RESP_BULK)
            return v;
        f = v + v->span;
    }
    return NULL;
}

/* Every entry of [[id, fields], ...] that has a "json" to fn; the id of the
 * last entry, with or without one, to *last if given (untouched if none). Returns how
 * many entries there were. */
static uint32_t each_entry(const struct resp_value *entries,
                           void (*fn)(const struct chat_id *id, const struct resp_value *json,
                                      void *arg),
                           void *arg, struct chat_id *last)
{
    if (entries->type != RESP_ARRAY)
        return 0;
    const struct resp_value *e = entries + 1;
    for (uint32_t i = 0; i < entries->count; i++, e += e->span) {
        struct chat_id id;
        if (e->type != RESP_ARRAY || e->count != 2 || !value_id(e + 1, &id))
            continue;
        if (last)
            *last = id;
        const struct resp_value *json = entry_json(e + 2);
        if (json)
            fn(&id, json, arg);
    }
    return entries->count;
}

static void deliver_entry(const struct chat_id *id, const struct resp_value *json, void *arg)
{
    (void)arg;
    if (chat_id_cmp(id, &chat_history()->last) <= 0)
        return;                  /* delivered already (see check_continuity) */
    stats.broker.chat_delivered++;
    chat_deliver(id, json->str, json->len);
}

static void read_stream(void);

/* XREAD's answer: [[stream, [entry, ...]]], or null when the block ended
 * with nothing new. */
static void on_read(struct redis *r, void *arg, enum redis_status status,
                    const struct resp_reply *reply)
{
    (void)r, (void)arg;
    stream.reading = false;
    if (status == REDIS_DISCONNECTED)
        return;                  /* again once reconnected: reader_on_connected */
    const struct resp_value *top = status == REDIS_REPLY ? &reply->values[0] : NULL;
    if (!top || top->type == RESP_ERROR) {
        log_error("chat: XREAD failed: %.*s", top ? (int)top->len : 13,
                  top ? top->str : "reply too big");
        return;                  /* the presence timer tries again, not a tight loop */
    }
    struct chat_id last = { 0, 0 };
    if (top->type == RESP_ARRAY && top->count == 1 && top[1].type == RESP_ARRAY
        && top[1].count == 2)
        stream.read_count += each_entry(resp_element(&top[1], 1), deliver_entry, NULL, &last);
    if (last.ms || last.seq)     /* the next read starts after it, even one without "json" */
        chat_id_format(&last, stream.read_from);
    read_stream();
}

static void read_stream(void)
{
    if (!stream.reader || stream.reading || !stream.checked || !redis_is_ready(stream.reader))
        return;
    char block[16];
    snprintf(block, sizeof block, "%d", READ_BLOCK_MS);
    const char *argv[] = { "XREAD", "COUNT", READ_COUNT, "BLOCK", block, "STREAMS",
                           stream.k_stream, stream.read_from };
    stream.reading = redis_command_timeout(stream.reader, 8, argv, NULL, READ_BLOCK_MS + 3000,
                                           on_read, NULL) == 0;
}

/* The stream's last id, the epoch, whether ARGV[1] (the last id
 * delivered; "" the first time) is still in it, and its entries-added. */
#define LUA_ENTRIES_ADDED                                                       \
    "local function entries_added(key)\n"                                       \
    "  if redis.call('EXISTS', key) == 0 then return 0 end\n"                    \
    "  local info = redis.call('XINFO', 'STREAM', key)\n"                        \
    "  for i = 1, #info, 2 do\n"                                                 \
    "    if info[i] == 'entries-added' then return info[i + 1] end\n"           \
    "  end\n"                                                                    \
    "  return 0\n"                                                               \
    "end\n"
static const char check_script[] = LUA_ENTRIES_ADDED
    "local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
    "local held = ARGV[1] ~= '' and #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) > 0\n"
    "return {newest[1] and newest[1][1] or '0-0', redis.call('GET', KEYS[2]) or '',\n"
    "        held and 1 or 0, entries_added(KEYS[1])}\n";

/* Is the stream the one this instance read before the connection ended?
 * Yes if it still holds the last id delivered, or (that one trimmed while
 * we were away) if it has the same epoch. */
static bool same_stream(const struct resp_value *epoch, bool held)
{
    bool same = held || (epoch->len > 0 && epoch->len == strlen(stream.epoch)
                         && memcmp(epoch->str, stream.epoch, epoch->len) == 0);
    if (epoch->len < sizeof stream.epoch) {
        memcpy(stream.epoch, epoch->str, epoch->len);
        stream.epoch[epoch->len] = '\0';
    }
    return same;
}

/* The first time: the history begins at the stream's end. Later: go on
 * after the last id delivered if it is the same stream; else it is a new
 * one (Redis came back empty, or from an older save): read from its start. */
static void on_checked(struct redis *r, void *arg, enum redis_status status,
                       const struct resp_reply *reply)
{
    (void)r, (void)arg;
    stream.reading = false;
    const struct resp_value *top = status == REDIS_REPLY ? &reply->values[0] : NULL;
    struct chat_id last;
    if (!top || top->type != RESP_ARRAY || top->count != 4 || !value_id(&top[1], &last)
        || top[2].type != RESP_BULK || top[3].type != RESP_INTEGER
        || top[4].type != RESP_INTEGER) {
        if (status == REDIS_REPLY)
            log_error("chat: the stream check failed: %.*s", top ? (int)top->len : 0,
                      top ? top->str : "");
        return;
    }
    struct chat_history *h = chat_history();
    bool same = same_stream(&top[2], top[3].integer == 1);
    if (!stream.first_check_done) {
        chat_history_restart(h, &last);
        stream.added_base = (uint64_t)top[4].integer;
        stream.read_count = 0;
        stream.first_check_done = true;
        if (stream.starting)
            reactor_stop(stream.reactor);        /* chat_stream_setup may go on */
        chat_id_format(&h->last, stream.read_from);
    } else if (same) {
        chat_id_format(&h->last, stream.read_from);
    } else {
        log_warn("chat: the stream no longer holds the last message delivered (Redis came "
                 "back empty or from an older save): a new history begins");
        struct chat_id gap = chat_id_next(&h->last, 0);
        chat_history_restart(h, &gap);
        stream.added_base = stream.read_count = 0;
        snprintf(stream.read_from, sizeof stream.read_from, "0-0");
    }
    stream.checked = true;
    read_stream();
    chat_resume_poke();          /* the resumes that waited for the check */
}

static void reader_on_connected(struct redis *r, void *user)
{
    (void)user;
    char last[CHAT_ID_MAX_LEN + 1] = "";
    if (stream.first_check_done)
        chat_id_format(&chat_history()->last, last);
    const char *argv[] = { "EVAL", check_script, "2", stream.k_stream, stream.k_epoch, last };
    stream.checked = false;
    stream.reading = redis_command(r, 6, argv, NULL, on_checked, NULL) == 0;
}

static void reader_on_disconnected(struct redis *r, const char *why, uint32_t retry_ms,
                                   void *user)
{
    (void)r, (void)why, (void)retry_ms, (void)user;
    stream.checked = false;
}

static const struct redis_handler reader_handler = {
    .on_connected = reader_on_connected,
    .on_disconnected = reader_on_disconnected,
};

/* --- resume: a page of the stream --------------------------------------------- */

/* What Redis knows of ARGV[1] (the epoch, the oldest entry kept, whether
 * it is there) and the ARGV[2] entries after it. */
static const char page_script[] =
    "local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)\n"
    "local held = #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) > 0 and 1 or 0\n"
    "return {redis.call('GET', KEYS[2]) or '', oldest[1] and oldest[1][1] or '0-0', held,\n"
    "        redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}\n";

/* What the page says about the position it was asked for: before the
 * epoch, or before the oldest entry kept, some are missing; after it, the
 * id must be one of the stream's. */
static enum chat_page_result classify(const struct chat_id *pos, const struct resp_value *top)
{
    struct chat_id epoch, oldest;
    if (!value_id(&top[1], &epoch) || chat_id_cmp(pos, &epoch) < 0)
        return CHAT_PAGE_TRIMMED;        /* no epoch: no history known before now */
    if (!value_id(&top[2], &oldest))
        return CHAT_PAGE_FAILED;
    if (top[3].integer == 1)
        return CHAT_PAGE_OK;
    return chat_id_cmp(pos, &oldest) < 0 ? CHAT_PAGE_TRIMMED : CHAT_PAGE_UNKNOWN;
}

static void take_entry(const struct chat_id *id, const struct resp_value *json, void *arg)
{
    struct chat_member *m = arg;
    if (!m->page_full)
        chat_resume_take(m, id, json->str, json->len);
}

static void on_page(struct redis *r, void *arg, enum redis_status status,
                    const struct resp_reply *reply)
{
    (void)r;
    struct chat_member *m = arg;
    const struct resp_value *top = status == REDIS_REPLY ? &reply->values[0] : NULL;
    enum chat_page_result result = CHAT_PAGE_FAILED;
    if (top && top->type == RESP_ARRAY && top->count == 4 && top[3].type == RESP_INTEGER) {
        result = classify(&m->pos, top);
        if (result == CHAT_PAGE_OK || result == CHAT_PAGE_TRIMMED)
            each_entry(resp_element(top, 3), take_entry, m, NULL);
    } else if (top && top->type == RESP_ERROR) {
        log_error("chat: reading the stream for a resume failed: %.*s", (int)top->len,
                  top->str);
    }
    chat_resume_page_done(m, result);
    chat_member_put(m);
}

int chat_stream_fetch(struct chat_member *m)
{
    char pos[CHAT_ID_MAX_LEN + 1];
    chat_id_format(&m->pos, pos);
    const char *argv[] = { "EVAL", page_script, "2", stream.k_stream, stream.k_epoch, pos,
                           PAGE_COUNT };
    if (!cluster_ready() || redis_command(cluster_redis(), 7, argv, NULL, on_page, m) < 0)
        return -1;
    chat_member_hold(m);
    return 0;
}

/* --- presence: the cluster-wide count ------------------------------------------ */

/* Write this instance's count with its expiry (Redis's clock: one clock for
 * every instance), drop the expired, return the others' sum and the
 * stream's newest id (for the lag). */
static const char presence_script[] = LUA_ENTRIES_ADDED
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. (now + tonumber(ARGV[3])))\n"
    "local all, others = redis.call('HGETALL', KEYS[1]), 0\n"
    "for i = 1, #all, 2 do\n"
    "  local count, expiry = string.match(all[i + 1], '^(%d+) (%d+)$')\n"
    "  if not expiry or tonumber(expiry) < now then redis.call('HDEL', KEYS[1], all[i])\n"
    "  elseif all[i] ~= ARGV[1] then others = others + tonumber(count) end\n"
    "end\n"
    "local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)\n"
    "return {others, newest[1] and newest[1][1] or '0-0', entries_added(KEYS[2]),\n"
    "        redis.call('XLEN', KEYS[2])}\n";

/* The entries added to the stream that this instance has not read: if
 * there are more of them than the stream holds, the difference was trimmed
 * before it was read, lost to this instance's clients: said in the log and
 * counted (chat_missed), and taken as read so that the lag is right again. */
static void measure_lag(uint64_t entries_added, uint64_t length)
{
    if (!stream.checked)
        return;
    uint64_t seen = stream.added_base + stream.read_count;
    uint64_t lag = entries_added > seen ? entries_added - seen : 0;
    if (lag > length) {
        uint64_t missed = lag - length;
        log_error("chat: %llu message(s) were trimmed from the stream before this instance "
                  "read them: its clients miss them (it is too far behind)",
                  (unsigned long long)missed);
        stats.broker.chat_missed += missed;
        stream.read_count += missed;
        lag = length;
    }
    stream.lag_entries = lag;
    stats.broker.chat_lag_entries = lag;
}

static void on_presence(struct redis *r, void *arg, enum redis_status status,
                        const struct resp_reply *reply)
{
    (void)r, (void)arg;
    stream.presence_out = false;
    const struct resp_value *top = status == REDIS_REPLY ? &reply->values[0] : NULL;
    struct chat_id newest;
    if (!top || top->type != RESP_ARRAY || top->count != 4 || top[1].type != RESP_INTEGER
        || !value_id(&top[2], &newest) || top[3].type != RESP_INTEGER
        || top[4].type != RESP_INTEGER)
        return;
    measure_lag((uint64_t)top[3].integer, (uint64_t)top[4].integer);
    stream.others_online = top[1].integer > 0 ? (size_t)top[1].integer : 0;
    stats.broker.chat_online_cluster = stream.others_online + stats.chat_online;
    const struct chat_id *last = &chat_history()->last;
    stats.broker.chat_lag_ms = chat_id_cmp(&newest, last) > 0 ? newest.ms - last->ms : 0;
}

static void on_presence_timer(struct reactor_timer *t, uint64_t expirations)
{
    (void)t, (void)expirations;
    read_stream();               /* after a failed read */
    if (stream.presence_out || !cluster_ready())
        return;
    char count[24];
    snprintf(count, sizeof count, "%llu", (unsigned long long)stats.chat_online);
    const char *argv[] = { "EVAL", presence_script, "2", stream.k_online, stream.k_stream,
                           cluster_instance(), count, PRESENCE_TTL_MS };
    stream.presence_out = redis_command(cluster_redis(), 8, argv, NULL, on_presence, NULL) == 0;
}

/* A new command connection: the epoch is set again at the next message
 * (the Redis behind it may be a new one). */
static void on_broker_up(void *user)
{
    (void)user;
    stream.epoch_set = false;
    stream.presence_out = false;
}

static void on_start_timeout(struct reactor_timer *t, uint64_t expirations)
{
    (void)t, (void)expirations;
    reactor_stop(stream.reactor);
}

/* Run the loop until the reader has found the stream's end (or the timeout
 * passed): before that no message could be taken, and a server that
 * listens must take them. */
static int wait_for_first_check(void)
{
    stream.start_timer.on_tick = on_start_timeout;
    if (reactor_timer_start(stream.reactor, &stream.start_timer, 6000 * 1000000ull) < 0)
        return -1;
    stream.starting = true;
    int rc = reactor_run(stream.reactor);
    stream.starting = false;
    reactor_timer_stop(stream.reactor, &stream.start_timer);
    if (rc < 0 || !stream.first_check_done) {
        log_error("chat: the stream %s could not be read within 6 s", stream.k_stream);
        return -1;
    }
    return 0;
}

int chat_stream_setup(struct reactor *r, uint32_t history)
{
    if (!cluster_enabled())
        return 0;
    stream.enabled = true;
    stream.reactor = r;
    cluster_key(stream.k_stream, KEY_MAX, "chat");
    cluster_key(stream.k_epoch, KEY_MAX, "chat:epoch");
    cluster_key(stream.k_online, KEY_MAX, "chat:online");
    snprintf(stream.history, sizeof stream.history, "%llu",
             (unsigned long long)history + TRIM_MARGIN);
    struct redis_options reader_opts = { .max_values = READ_MAX_VALUES };
    stream.reader = cluster_connect(&reader_handler, NULL, &reader_opts);
    if (!stream.reader)
        return -1;
    stream.presence_timer.on_tick = on_presence_timer;
    if (reactor_timer_start(r, &stream.presence_timer, PRESENCE_MS * 1000000ull) < 0) {
        log_error("chat: cannot start the presence timer: %s", strerror(errno));
        return -1;
    }
    stream.listener = (struct cluster_listener){ .on_up = on_broker_up };
    cluster_listen(&stream.listener);
    return wait_for_first_check();
}
