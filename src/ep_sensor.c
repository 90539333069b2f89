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
 * tick and flushed and closed on shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "endpoint.h"
#include "json.h"
#include "log.h"
#include "reactor.h"
#include "stats.h"
#include "ws.h"

#define SENSOR_MAX_MESSAGE (64u << 10)
#define SENSOR_MAX_CATCH_UP_S 10   /* after a longer stall, older samples are skipped */
#define SENSOR_LINE_MAX 256

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
 * lines leave it out: every line is a sample). */
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

/* Generate, log and (decimated) send the next sample. The log gets every
 * line of one tick in one write. */
static void acquire(char *logbuf, size_t cap, size_t *loglen)
{
    struct sample s = sample_at(sensor.index);
    char line[SENSOR_LINE_MAX];
    size_t n = format_accel(line, sizeof line, &s, false);
    size_t m = format_temperature(line + n + 1, sizeof line - n - 1, &s, false);
    line[n] = '\n';
    line[n + 1 + m] = '\n';
    if (*loglen + n + m + 2 > cap) {
        write_log(logbuf, *loglen);
        *loglen = 0;
    }
    memcpy(logbuf + *loglen, line, n + m + 2);
    *loglen += n + m + 2;
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

static void sensor_on_timer(struct reactor_timer *t, uint64_t expirations)
{
    (void)t;
    uint64_t limit = (uint64_t)sensor.hz * SENSOR_MAX_CATCH_UP_S;
    if (expirations > limit) {
        log_warn("sensor: stalled for %llu samples; skipping all but the last %llu",
                 (unsigned long long)expirations, (unsigned long long)limit);
        sensor.index += expirations - limit;
        expirations = limit;
    }
    static char logbuf[64 * 1024];
    size_t loglen = 0;
    for (uint64_t i = 0; i < expirations; i++)
        acquire(logbuf, sizeof logbuf, &loglen);
    write_log(logbuf, loglen);
}

static void set_running(bool running)
{
    if (running == sensor.running) {
        announce_state();        /* repeat it: the asker learns the state */
        return;
    }
    if (running) {
        sensor.index = 0;
        sensor.start_wall_ms = clock_wall_ms();
        sensor.timer.on_tick = sensor_on_timer;
        if (reactor_timer_start(sensor.reactor, &sensor.timer, 1000000000ull / sensor.hz) < 0) {
            log_error("sensor: cannot start the timer: %s", strerror(errno));
            return;
        }
    } else {
        reactor_timer_stop(sensor.reactor, &sensor.timer);
    }
    sensor.running = running;
    stats.sensor_running = running;
    log_info("sensor %s", running ? "started" : "stopped");
    announce_state();
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
    else
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
    while (getrandom(&sensor.noise, sizeof sensor.noise, 0) != sizeof sensor.noise
           || sensor.noise == 0)
        ;
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
    if (sensor.running)
        reactor_timer_stop(sensor.reactor, &sensor.timer);
    sensor.running = false;
    if (sensor.log_fd >= 0) {
        fsync(sensor.log_fd);    /* "flush and close the sensor log" */
        close(sensor.log_fd);
        sensor.log_fd = -1;
    }
}
