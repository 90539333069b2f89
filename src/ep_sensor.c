/* ep_sensor.c -- /sensor and /control: a mock data acquisition shared by
 * every client. Any client starts or stops it; the new state goes to all.
 * While it runs, a timer at --sensor-hz samples a 3-axis accelerometer and a
 * temperature sensor; every sample is appended to --sensor-log (JSON lines)
 * and every --sensor-decimate-th is broadcast to /sensor clients, encoded
 * once. /control clients get the state but no samples: a control socket
 * beside a data socket.
 *
 * Nothing generated is lost: if the timer fires late (the process was
 * stopped, the machine busy), the missed samples are generated and logged
 * on the next expiry with their scheduled timestamps, as a device with a
 * hardware clock and a FIFO would deliver them. The log is written at every
 * tick and flushed and closed on shutdown.
 *
 * With --redis (cluster.h) the acquisition is the cluster's, not this
 * process's:
 *   - the running state lives in Redis (PREFIX:sensor:running); a command on
 *     any instance sets it and appends a "state" entry to the stream
 *     PREFIX:sensor, which every instance reads, so every client of every
 *     instance hears it, in order with the samples around it;
 *   - one instance samples: the one holding the lease PREFIX:sensor:lease
 *     (its name, set if absent with a 2 s expiry). Every instance runs a
 *     round every 250 ms, one Lua script that takes the lease if it is free,
 *     renews it if it is ours, and drops it once the state is stopped; so a
 *     dead holder is replaced within the expiry and a round (< 2.3 s);
 *   - the holder logs and sends its samples as when alone, and appends each
 *     tick's log lines to the stream; the others log those lines (every
 *     sample, full rate, each line naming the instance that generated it)
 *     and send every --sensor-decimate-th sample to their own /sensor
 *     clients. The sample index counts from the acquisition's start time
 *     (PREFIX:sensor:start), so a new holder continues on the same time grid
 *     and decimation picks the same samples on every instance;
 *   - a stream, not pub/sub: an instance whose reading connection drops
 *     reads on from the last entry it had, so a short outage loses no log
 *     line; the reads block (XREAD BLOCK) on a connection of their own.
 * When Redis is unreachable the holder samples on, locally, only as long as
 * its lease would still be valid (the time of the last renewal it sent plus
 * the expiry): past that another instance may hold it, so it stops rather
 * than run two acquisitions at once. Nobody else takes over without Redis.
 * Commands meanwhile get an error ("broker unavailable"). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "endpoints.h"
#include "json.h"
#include "log.h"
#include "random.h"
#include "reactor.h"
#include "redis.h"
#include "stats.h"
#include "ws.h"

#define SENSOR_MAX_MESSAGE (64u << 10)
#define SENSOR_MAX_CATCH_UP_S 10   /* after a longer stall, older samples are skipped */
#define SENSOR_LINE_MAX 640        /* both lines of a sample, instance names included */
#define SENSOR_LOG_BATCH (64 * 1024)   /* log bytes written (and streamed) at once */

/* The cluster mode's timing (see the top of the file). */
#define LEASE_TTL_MS   2000
#define LEASE_ROUND_MS 250
#define READ_BLOCK_MS  1000
#define READ_COUNT     "256"           /* stream entries per read */
#define STREAM_MAXLEN  "10000"         /* about 100 s of ticks at 100 Hz */
#define KEY_MAX        160

static struct {
    struct reactor *reactor;
    struct reactor_timer timer;
    struct conn_list data_clients, control_clients;
    bool running;
    uint32_t hz, decimate;
    uint64_t index;              /* samples since this acquisition started */
    int64_t start_wall_ms;       /* time of sample 0 */
    const char *log_path;
    int log_fd;
    bool log_failed;             /* reported once */
    uint64_t noise;              /* PRNG state */
    bool sampling;               /* the timer runs here; alone, the same as running */
    /* --- the cluster mode: all unused without --redis --- */
    const char *instance;        /* this instance's name; NULL: alone */
    struct redis *reader;        /* a connection for XREAD BLOCK on the stream */
    bool reading;                /* an XREAD is pending on it */
    char last_id[48];            /* the last stream entry read ("$": none yet) */
    struct reactor_timer lease_timer;
    bool lease_round_pending;
    uint64_t lease_sent_ms;      /* when the pending round was sent (monotonic) */
    char lease_sent_wall[24];    /* and its wall clock, in ms: a first holder's start */
    uint64_t lease_until_ms;     /* the holder samples only before this */
    bool publish_failed;         /* reported once per outage */
    struct cluster_listener listener;
    char k_running[KEY_MAX], k_start[KEY_MAX], k_lease[KEY_MAX], k_stream[KEY_MAX];
} sensor = { .log_fd = -1 };

/* --- the mock device ------------------------------------------------------ */

/* Uniform noise in [-amplitude, amplitude], from xorshift64. */
static double noise(double amplitude)
{
    uint64_t x = sensor.noise;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    sensor.noise = x;
    return ((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0) * amplitude;
}

struct sample {
    int64_t t_ms;
    double x, y, z;              /* accelerometer, m/s^2 */
    double temperature;          /* degrees Celsius */
};

static struct sample sample_at(uint64_t index)
{
    double t = (double)index / sensor.hz;
    const double tau = 6.283185307179586;
    struct sample s = {
        .t_ms = sensor.start_wall_ms + (int64_t)((double)index * 1000.0 / sensor.hz + 0.5),
        .x = 0.8 * sin(tau * 0.5 * t) + noise(0.02),
        .y = 0.5 * sin(tau * 1.3 * t + 1.0) + noise(0.02),
        .z = 9.81 + 0.1 * sin(tau * 0.2 * t) + noise(0.02),
        .temperature = 21.0 + 0.5 * sin(tau * t / 60.0) + noise(0.01),
    };
    return s;
}

/* The two JSON objects of a sample, with or without "type" (the log
 * lines leave it out: every line is a sample). In the cluster mode each
 * also names the instance that generated it. */
static size_t format_accel(char *out, size_t cap, const struct sample *s, bool typed)
{
    struct json_writer w;
    json_init(&w, out, cap);
    json_object_begin(&w);
    if (typed)
        json_member_cstr(&w, "type", "sample");
    json_member_cstr(&w, "sensor", "accel");
    json_member_int(&w, "t_ms", s->t_ms);
    json_member_fixed(&w, "x", s->x, 4);
    json_member_fixed(&w, "y", s->y, 4);
    json_member_fixed(&w, "z", s->z, 4);
    if (sensor.instance)
        json_member_cstr(&w, "instance", sensor.instance);
    json_object_end(&w);
    ssize_t n = json_finish(&w);
    return n < 0 ? 0 : (size_t)n;
}

static size_t format_temperature(char *out, size_t cap, const struct sample *s, bool typed)
{
    struct json_writer w;
    json_init(&w, out, cap);
    json_object_begin(&w);
    if (typed)
        json_member_cstr(&w, "type", "sample");
    json_member_cstr(&w, "sensor", "temperature");
    json_member_int(&w, "t_ms", s->t_ms);
    json_member_fixed(&w, "value", s->temperature, 3);
    if (sensor.instance)
        json_member_cstr(&w, "instance", sensor.instance);
    json_object_end(&w);
    ssize_t n = json_finish(&w);
    return n < 0 ? 0 : (size_t)n;
}

/* --- the log ---------------------------------------------------------------- */

static int open_log(void)
{
    sensor.log_fd = open(sensor.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return sensor.log_fd < 0 ? -1 : 0;
}

static void write_log(const char *p, size_t n)
{
    while (n > 0 && sensor.log_fd >= 0) {
        ssize_t w = write(sensor.log_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (!sensor.log_failed)
                log_error("sensor log %s: %s", sensor.log_path, strerror(errno));
            sensor.log_failed = true;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* --- clients ------------------------------------------------------------------ */

static void send_to(struct conn_list *list, const char *json, size_t len)
{
    struct msg *m = ws_frame_msg(WS_OP_TEXT, json, len);
    for (struct conn *c = list->head, *next; c; c = next) {
        next = c->peer_next;
        if (!ws_can_push(c))
            continue;
        ws_send_msg(c, m, len);  /* corked: written once per tick */
    }
    msg_unref(m);
}

static size_t format_state(char *out, size_t cap)
{
    struct json_writer w;
    json_init(&w, out, cap);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "state");
    json_member_bool(&w, "running", sensor.running);
    json_object_end(&w);
    return (size_t)json_finish(&w);
}

static void announce_state(void)
{
    char json[64];
    size_t n = format_state(json, sizeof json);
    send_to(&sensor.data_clients, json, n);
    send_to(&sensor.control_clients, json, n);
}

/* --- acquisition ------------------------------------------------------------ */

/* The log lines of one tick (or of SENSOR_LOG_BATCH bytes), written in one
 * write and, in the cluster mode, streamed in one entry; first is the
 * index of their first sample. */
struct batch {
    char  *buf;
    size_t len;
    uint64_t first;
};

static void publish(const struct batch *b);

static void flush_batch(struct batch *b)
{
    if (b->len == 0)
        return;
    write_log(b->buf, b->len);
    if (sensor.instance)
        publish(b);
    b->len = 0;
}

/* Generate, log and (decimated) send the next sample. */
static void acquire(struct batch *b, size_t cap)
{
    struct sample s = sample_at(sensor.index);
    char line[SENSOR_LINE_MAX];
    size_t n = format_accel(line, sizeof line, &s, false);
    size_t m = format_temperature(line + n + 1, sizeof line - n - 1, &s, false);
    line[n] = '\n';
    line[n + 1 + m] = '\n';
    if (b->len + n + m + 2 > cap)
        flush_batch(b);
    if (b->len == 0)
        b->first = sensor.index;
    memcpy(b->buf + b->len, line, n + m + 2);
    b->len += n + m + 2;
    stats.sensor_samples += 2;
    if (sensor.log_fd >= 0)
        stats.sensor_samples_logged += 2;
    if (sensor.index % sensor.decimate == 0) {
        n = format_accel(line, sizeof line, &s, true);
        send_to(&sensor.data_clients, line, n);
        n = format_temperature(line, sizeof line, &s, true);
        send_to(&sensor.data_clients, line, n);
        stats.sensor_samples_sent += 2;
    }
    sensor.index++;
}

static void stop_sampling(void);

/* The cluster mode: past the lease's expiry another instance may hold it;
 * two acquisitions at once would log every sample twice. */
static bool lease_lapsed(void)
{
    if (!sensor.instance || clock_mono_ms() < sensor.lease_until_ms)
        return false;
    log_warn("sensor: the lease could not be renewed in time (broker unreachable?): "
             "this instance stops the acquisition");
    stop_sampling();
    return true;
}

static void sensor_on_timer(struct reactor_timer *t, uint64_t expirations)
{
    (void)t;
    if (lease_lapsed())
        return;
    uint64_t limit = (uint64_t)sensor.hz * SENSOR_MAX_CATCH_UP_S;
    if (expirations > limit) {
        log_warn("sensor: stalled for %llu samples; skipping all but the last %llu",
                 (unsigned long long)expirations, (unsigned long long)limit);
        sensor.index += expirations - limit;
        expirations = limit;
    }
    static char logbuf[SENSOR_LOG_BATCH];
    struct batch b = { logbuf, 0, sensor.index };
    for (uint64_t i = 0; i < expirations; i++)
        acquire(&b, sizeof logbuf);
    flush_batch(&b);
}

/* Sample from index on, sample 0 being at start_wall_ms. */
static int start_sampling(uint64_t index, int64_t start_wall_ms)
{
    sensor.index = index;
    sensor.start_wall_ms = start_wall_ms;
    sensor.timer.on_tick = sensor_on_timer;
    if (reactor_timer_start(sensor.reactor, &sensor.timer, 1000000000ull / sensor.hz) < 0) {
        log_error("sensor: cannot start the timer: %s", strerror(errno));
        return -1;
    }
    sensor.sampling = true;
    stats.broker.sensor_holder = sensor.instance != NULL;
    return 0;
}

static void stop_sampling(void)
{
    if (sensor.sampling)
        reactor_timer_stop(sensor.reactor, &sensor.timer);
    sensor.sampling = false;
    stats.broker.sensor_holder = false;
}

/* Alone: the state is this process's. */
static void set_running(bool running)
{
    if (running == sensor.running) {
        announce_state();        /* repeat it: the asker learns the state */
        return;
    }
    if (running && start_sampling(0, clock_wall_ms()) < 0)
        return;
    if (!running)
        stop_sampling();
    sensor.running = running;
    stats.sensor_running = running;
    log_info("sensor %s", running ? "started" : "stopped");
    announce_state();
}

/* --- the cluster mode: the stream ---------------------------------------------- */

static void on_published(struct redis *r, void *arg, enum redis_status status,
                         const struct resp_reply *reply)
{
    (void)r, (void)arg;
    if (status == REDIS_REPLY && reply->values[0].type == RESP_ERROR)
        log_error("sensor: XADD refused: %.*s", (int)reply->values[0].len,
                  reply->values[0].str);
}

/* The holder's log lines of one batch go to the others' logs and clients.
 * Without the broker they stay here: the holder goes on only until its
 * lease would have expired (lease_lapsed). */
static void publish(const struct batch *b)
{
    char first[24];
    snprintf(first, sizeof first, "%llu", (unsigned long long)b->first);
    const char *argv[] = { "XADD", sensor.k_stream, "MAXLEN", "~", STREAM_MAXLEN, "*",
                           "kind", "samples", "from", sensor.instance, "first", first,
                           "lines", b->buf };
    size_t lens[14];
    for (int i = 0; i < 13; i++)
        lens[i] = strlen(argv[i]);
    lens[13] = b->len;
    if (redis_command(cluster_redis(), 14, argv, lens, on_published, NULL) == 0) {
        sensor.publish_failed = false;
        return;
    }
    if (!sensor.publish_failed)
        log_warn("sensor: broker unavailable: samples from %llu on stay in this instance's "
                 "log and clients", (unsigned long long)b->first);
    sensor.publish_failed = true;
}

static void lease_round(void);

/* A state entry (or, from NULL, what the broker holds after an outage):
 * every client hears it, as when a client of this instance asked. */
static void apply_state(bool running, const struct resp_value *from)
{
    if (running != sensor.running && from)
        log_info("sensor %s (by instance %.*s)", running ? "started" : "stopped",
                 (int)from->len, from->str);
    else if (running != sensor.running)
        log_info("sensor %s (as the broker says after an outage)",
                 running ? "started" : "stopped");
    sensor.running = running;
    stats.sensor_running = running;
    if (!running)
        stop_sampling();         /* the next round gives the lease back */
    else
        lease_round();           /* take it at once if it is free */
    announce_state();
}

/* A log line to the /sensor clients: the same object with "type" first. */
static void send_typed(const char *line, size_t len)
{
    static const char type[] = "{\"type\":\"sample\",";
    char json[SENSOR_LINE_MAX + sizeof type];
    if (len < 2 || line[0] != '{' || sizeof type - 1 + len - 1 > sizeof json)
        return;
    memcpy(json, type, sizeof type - 1);
    memcpy(json + sizeof type - 1, line + 1, len - 1);
    send_to(&sensor.data_clients, json, sizeof type - 1 + len - 1);
    stats.sensor_samples_sent++;
}

/* Another instance's samples: log every line, send every decimate-th
 * sample (both of its lines) as "type":"sample". */
static void relay_samples(const struct resp_value *first, const struct resp_value *lines)
{
    char text[24];
    if (first->len == 0 || first->len >= sizeof text)
        return;
    memcpy(text, first->str, first->len);
    text[first->len] = '\0';
    uint64_t index = strtoull(text, NULL, 10);
    write_log(lines->str, lines->len);
    const char *p = lines->str, *end = lines->str + lines->len;
    for (uint64_t n = 0; p < end; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        if (sensor.log_fd >= 0)
            stats.sensor_samples_logged++;
        if ((index + n / 2) % sensor.decimate == 0)      /* two lines a sample */
            send_typed(p, (size_t)(nl - p));
        p = nl + 1;
    }
}

struct entry {
    const struct resp_value *kind, *from, *running, *first, *lines;
};

/* One stream entry: [id, [field, value, ...]]. */
static void handle_entry(const struct resp_value *e)
{
    if (e->type != RESP_ARRAY || e->count != 2 || e[1].type != RESP_BULK
        || e[1].len >= sizeof sensor.last_id || e[2].type != RESP_ARRAY)
        return;
    memcpy(sensor.last_id, e[1].str, e[1].len);
    sensor.last_id[e[1].len] = '\0';
    struct entry x = {0};
    const struct resp_value *f = &e[3];
    for (uint32_t i = 0; i + 1 < e[2].count; i += 2, f = f + 1 + f[1].span) {
        const struct resp_value *v = f + 1;
        if (resp_str_eq(f, "kind"))         x.kind = v;
        else if (resp_str_eq(f, "from"))    x.from = v;
        else if (resp_str_eq(f, "running")) x.running = v;
        else if (resp_str_eq(f, "first"))   x.first = v;
        else if (resp_str_eq(f, "lines"))   x.lines = v;
    }
    if (x.from && x.from->type != RESP_BULK)
        x.from = NULL;
    if (x.kind && resp_str_eq(x.kind, "state") && x.running)
        apply_state(resp_str_eq(x.running, "1"), x.from);
    else if (x.kind && resp_str_eq(x.kind, "samples") && x.from && x.first && x.lines
             && x.first->type == RESP_BULK && x.lines->type == RESP_BULK
             && !resp_str_eq(x.from, sensor.instance))   /* ours went out already */
        relay_samples(x.first, x.lines);
}

static void read_stream(void);

/* XREAD's answer: [[stream, [entry, ...]]], or null when the block ended
 * with nothing new. */
static void on_read(struct redis *r, void *arg, enum redis_status status,
                    const struct resp_reply *reply)
{
    (void)r, (void)arg;
    sensor.reading = false;
    if (status == REDIS_DISCONNECTED)
        return;                  /* read again once reconnected (reader_on_connected) */
    const struct resp_value *top = status == REDIS_REPLY ? &reply->values[0] : NULL;
    if (!top || top->type == RESP_ERROR) {
        log_error("sensor: XREAD failed: %.*s", top ? (int)top->len : 13,
                  top ? top->str : "reply too big");
        return;                  /* the lease timer tries again, not a tight loop */
    }
    if (top->type == RESP_ARRAY && top->count == 1 && top[1].type == RESP_ARRAY
        && top[1].count == 2) {
        const struct resp_value *entries = resp_element(&top[1], 1);
        const struct resp_value *e = entries + 1;
        for (uint32_t i = 0; entries->type == RESP_ARRAY && i < entries->count; i++) {
            handle_entry(e);
            e += e->span;
        }
    }
    read_stream();
}

/* One blocking read at a time, on the reader's own connection; from the
 * last entry seen, so an outage of that connection loses nothing that the
 * stream still holds. The first position comes with the first state read
 * (on_snapshot). */
static void read_stream(void)
{
    if (!sensor.reader || sensor.reading || !sensor.last_id[0]
        || !redis_is_ready(sensor.reader))
        return;
    char block[16];
    snprintf(block, sizeof block, "%d", READ_BLOCK_MS);
    const char *argv[] = { "XREAD", "COUNT", READ_COUNT, "BLOCK", block, "STREAMS",
                           sensor.k_stream, sensor.last_id };
    sensor.reading = redis_command_timeout(sensor.reader, 8, argv, NULL, READ_BLOCK_MS + 3000,
                                           on_read, NULL) == 0;
}

static void reader_on_connected(struct redis *r, void *user)
{
    (void)r, (void)user;
    read_stream();
}

static const struct redis_handler reader_handler = { .on_connected = reader_on_connected };

/* --- the cluster mode: state and lease ------------------------------------------ */

/* Set the state and tell every instance, in one step. A new acquisition
 * (stopped -> running) forgets the old one's start: the first holder sets
 * it (lease_script). */
static const char state_script[] =
    "local old = redis.call('GET', KEYS[1])\n"
    "if ARGV[1] == '1' and old ~= '1' then redis.call('DEL', KEYS[2]) end\n"
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'kind', 'state',\n"
    "           'from', ARGV[2], 'running', ARGV[1])\n"
    "return 1\n";

/* Take the lease if free, renew it if ours, give it back once stopped:
 * compare and set in one step, which SET NX alone cannot do for a renewal
 * (an expired lease taken by another must not be extended by us). Returns
 * {running, holder or "", start time of the acquisition in ms}. */
static const char lease_script[] =
    "local running = redis.call('GET', KEYS[1]) == '1'\n"
    "local holder = redis.call('GET', KEYS[2])\n"
    "if not running then\n"
    "  if holder == ARGV[1] then redis.call('DEL', KEYS[2]); holder = false end\n"
    "elseif not holder then\n"
    "  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]); holder = ARGV[1]\n"
    "  if not redis.call('GET', KEYS[3]) then redis.call('SET', KEYS[3], ARGV[3]) end\n"
    "elseif holder == ARGV[1] then\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[2])\n"
    "end\n"
    "return {running and 1 or 0, holder or '', redis.call('GET', KEYS[3]) or ARGV[3]}\n";

static void on_state_set(struct redis *r, void *arg, enum redis_status status,
                         const struct resp_reply *reply)
{
    (void)r, (void)arg;
    if (status == REDIS_DISCONNECTED)
        log_warn("sensor: the broker went away before confirming a command");
    else if (status == REDIS_REPLY && reply->values[0].type == RESP_ERROR)
        log_error("sensor: state not set: %.*s", (int)reply->values[0].len,
                  reply->values[0].str);
}

/* START or STOP from a client of this instance; -1: not sent. */
static int send_state_command(bool running)
{
    const char *argv[] = { "EVAL", state_script, "3", sensor.k_running, sensor.k_start,
                           sensor.k_stream, running ? "1" : "0", sensor.instance,
                           STREAM_MAXLEN };
    return cluster_ready() ? redis_command(cluster_redis(), 9, argv, NULL, on_state_set, NULL)
                           : -1;
}

/* The lease is ours: sample on the acquisition's time grid, from the
 * first sample not yet due (the first holder of an acquisition set its
 * start to the time it sent: it begins at sample 0). */
static void take_over(const struct resp_value *start, const char *sent_wall_ms)
{
    char text[24];
    snprintf(text, sizeof text, "%.*s", start->len < sizeof text ? (int)start->len : 0,
             start->str);
    int64_t start_ms = strtoll(text, NULL, 10), now_ms = clock_wall_ms();
    uint64_t index = 0;
    if (strcmp(text, sent_wall_ms) != 0 && now_ms > start_ms)
        index = (uint64_t)((now_ms - start_ms) * (int64_t)sensor.hz + 999) / 1000;
    if (start_sampling(index, start_ms) == 0)
        log_info("sensor: instance %s holds the lease and runs the acquisition from "
                 "sample %llu", sensor.instance, (unsigned long long)index);
}

static void on_lease(struct redis *r, void *arg, enum redis_status status,
                     const struct resp_reply *reply)
{
    (void)r, (void)arg;
    sensor.lease_round_pending = false;
    const struct resp_value *top = status == REDIS_REPLY ? &reply->values[0] : NULL;
    if (top && top->type == RESP_ERROR)
        log_error("sensor: lease script failed: %.*s", (int)top->len, top->str);
    if (!top || top->type != RESP_ARRAY || top->count != 3 || top[1].type != RESP_INTEGER
        || top[2].type != RESP_BULK || top[3].type != RESP_BULK)
        return;
    const struct resp_value *holder = &top[2];
    snprintf(stats.broker.sensor_lease_holder, sizeof stats.broker.sensor_lease_holder,
             "%.*s", (int)holder->len, holder->str);
    bool mine = top[1].integer == 1 && resp_str_eq(holder, sensor.instance);
    if (mine) {
        sensor.lease_until_ms = sensor.lease_sent_ms + LEASE_TTL_MS;
        if (!sensor.sampling)
            take_over(&top[3], sensor.lease_sent_wall);
    } else if (sensor.sampling) {
        stop_sampling();
        log_info("sensor: the lease is %s's now: this instance stops sampling",
                 stats.broker.sensor_lease_holder);
    }
}

static void lease_round(void)
{
    if (!cluster_ready() || sensor.lease_round_pending)
        return;
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", LEASE_TTL_MS);
    snprintf(sensor.lease_sent_wall, sizeof sensor.lease_sent_wall, "%lld", (long long)clock_wall_ms());
    const char *argv[] = { "EVAL", lease_script, "3", sensor.k_running, sensor.k_lease,
                           sensor.k_start, sensor.instance, ttl, sensor.lease_sent_wall };
    if (redis_command(cluster_redis(), 9, argv, NULL, on_lease, NULL) == 0) {
        sensor.lease_round_pending = true;
        sensor.lease_sent_ms = clock_mono_ms();
    }
}

static void on_lease_timer(struct reactor_timer *t, uint64_t expirations)
{
    (void)t, (void)expirations;
    lease_round();
    read_stream();               /* after a failed read */
}

/* The state and the stream's last entry, read in one step: every change
 * after the state read is in the stream after that entry. */
static const char snapshot_script[] =
    "local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)\n"
    "return {redis.call('GET', KEYS[1]) or '', last[1] and last[1][1] or '0-0'}\n";

/* The broker is up (at start-up, or again). The first time, the stream is
 * read from the entry after the snapshot on. Later, the stream says what
 * changed meanwhile; this catches what it cannot: a Redis that came back
 * empty (no state at all) while the acquisition ran is told it runs (a new
 * acquisition: its start is lost too), rather than every instance
 * stopping because Redis restarted. */
static void on_snapshot(struct redis *r, void *arg, enum redis_status status,
                        const struct resp_reply *reply)
{
    (void)r, (void)arg;
    const struct resp_value *top = status == REDIS_REPLY ? &reply->values[0] : NULL;
    if (!top || top->type != RESP_ARRAY || top->count != 2 || top[1].type != RESP_BULK
        || top[2].type != RESP_BULK || top[2].len >= sizeof sensor.last_id)
        return;
    bool first = !sensor.last_id[0];
    if (first)
        snprintf(sensor.last_id, sizeof sensor.last_id, "%.*s", (int)top[2].len, top[2].str);
    if (!first && top[1].len == 0 && sensor.running) {
        log_warn("sensor: the broker came back empty: restoring the running state");
        send_state_command(true);
    } else if (resp_str_eq(&top[1], "1") != sensor.running) {
        apply_state(!sensor.running, NULL);
    }
    read_stream();
}

static void sensor_on_broker_up(void *user)
{
    (void)user;
    const char *argv[] = { "EVAL", snapshot_script, "2", sensor.k_running, sensor.k_stream };
    redis_command(cluster_redis(), 5, argv, NULL, on_snapshot, NULL);
    lease_round();
}

static void cluster_setup(struct reactor *r)
{
    sensor.instance = cluster_instance();
    cluster_key(sensor.k_running, KEY_MAX, "sensor:running");
    cluster_key(sensor.k_start, KEY_MAX, "sensor:start");
    cluster_key(sensor.k_lease, KEY_MAX, "sensor:lease");
    cluster_key(sensor.k_stream, KEY_MAX, "sensor");
    sensor.reader = cluster_connect(&reader_handler, NULL, NULL);
    sensor.lease_timer.on_tick = on_lease_timer;
    if (reactor_timer_start(r, &sensor.lease_timer, LEASE_ROUND_MS * 1000000ull) < 0)
        log_error("sensor: cannot start the lease timer: %s", strerror(errno));
    sensor.listener = (struct cluster_listener){ .on_up = sensor_on_broker_up };
    cluster_listen(&sensor.listener);
}

/* --- commands ------------------------------------------------------------------ */

static bool word_is(const uint8_t *p, size_t len, const char *word)
{
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    while (len > 0 && p[0] == ' ')
        p++, len--;
    if (len != strlen(word))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((p[i] | 0x20) != (word[i] | 0x20))
            return false;
    return true;
}

/* 1 start, 0 stop, -1 not a command, JSON_ERR_TOO_MANY an object of more
 * than 8 members (answered as such, not searched in part). */
static int parse_command(const uint8_t *data, size_t len)
{
    if (word_is(data, len, "START"))
        return 1;
    if (word_is(data, len, "STOP"))
        return 0;
    struct json_member m[8];
    int n = json_parse_object((const char *)data, len, m, 8);
    if (n == JSON_ERR_TOO_MANY)
        return n;
    if (n < 0)
        return -1;
    const struct json_member *type = json_find(m, n, "type");
    const struct json_member *command = json_find(m, n, "command");
    if (!json_string_eq(type, "control"))      /* by length: "control\u0000" is not */
        return -1;
    if (json_string_eq(command, "start"))
        return 1;
    if (json_string_eq(command, "stop"))
        return 0;
    return -1;
}

static void reply_error(struct conn *c, const char *what)
{
    char json[256];
    struct json_writer w;
    json_init(&w, json, sizeof json);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "error");
    json_member_cstr(&w, "message", what);
    json_object_end(&w);
    ws_send_copy(c, WS_OP_TEXT, json, (size_t)json_finish(&w));
}

static void sensor_on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    if (opcode != WS_OP_TEXT) {
        ws_close(c, WS_CLOSE_UNSUPPORTED, "sensor takes text commands only");
        return;
    }
    int command = parse_command(data, len);
    if (command == JSON_ERR_TOO_MANY)
        reply_error(c, "too many members: at most 8 in a command object");
    else if (command < 0)
        reply_error(c, "unknown command: send START or STOP, "
                       "or {\"type\":\"control\",\"command\":\"start\"}");
    else if (sensor.instance && send_state_command(command == 1) < 0)
        reply_error(c, "broker unavailable: command not applied");
    else if (!sensor.instance)
        set_running(command == 1);
}

static void send_state(struct conn *c)
{
    char json[64];
    ws_send_copy(c, WS_OP_TEXT, json, format_state(json, sizeof json));
}

static void data_on_open(struct conn *c)
{
    conn_list_add(&sensor.data_clients, c);
    send_state(c);
}

static void data_on_close(struct conn *c)
{
    conn_list_remove(&sensor.data_clients, c);
}

static void control_on_open(struct conn *c)
{
    conn_list_add(&sensor.control_clients, c);
    send_state(c);
}

static void control_on_close(struct conn *c)
{
    conn_list_remove(&sensor.control_clients, c);
}

struct endpoint ep_sensor = {
    .name = "sensor",
    .max_message = SENSOR_MAX_MESSAGE,
    .stats = &stats.ep[STATS_SENSOR],
    .on_open = data_on_open,
    .on_message = sensor_on_message,
    .on_close = data_on_close,
};

struct endpoint ep_control = {
    .name = "control",
    .max_message = SENSOR_MAX_MESSAGE,
    .stats = &stats.ep[STATS_CONTROL],
    .on_open = control_on_open,
    .on_message = sensor_on_message,
    .on_close = control_on_close,
};

/* --- setup and shutdown ------------------------------------------------------------ */

int sensor_setup(struct reactor *r, uint32_t hz, uint32_t decimate, const char *log_path)
{
    sensor.reactor = r;
    sensor.hz = hz;
    sensor.decimate = decimate;
    sensor.log_path = log_path;
    if (random_bytes(&sensor.noise, sizeof sensor.noise) < 0 || sensor.noise == 0)
        sensor.noise = clock_mono_ns() | 1;     /* mock noise: the clock will do */
    if (cluster_enabled())
        cluster_setup(r);
    return log_path ? open_log() : 0;
}

int sensor_reopen_log(void)
{
    if (!sensor.log_path)
        return 0;
    int old = sensor.log_fd;
    if (open_log() < 0) {
        sensor.log_fd = old;
        return -1;
    }
    if (old >= 0)
        close(old);
    sensor.log_failed = false;
    return 0;
}

void sensor_shutdown(void)
{
    stop_sampling();
    sensor.running = false;
    if (sensor.log_fd >= 0) {
        fsync(sensor.log_fd);    /* "flush and close the sensor log" */
        close(sensor.log_fd);
        sensor.log_fd = -1;
    }
}
