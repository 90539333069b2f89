/* stats.c -- see stats.h. Prometheus names follow its conventions: the
 * wspulse_ prefix, base units (seconds, bytes), counters ending in _total,
 * one HELP and TYPE line per family, labels per endpoint. */
#include "stats.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "redis.h"

struct stats stats;
static const struct conn_env *loops[STATS_MAX_LOOPS];
static size_t loop_count;

const double stats_ms_bounds[STATS_MS_BUCKETS] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000,
};

static const char *const endpoint_names[STATS_EP_COUNT] = {
    "echo", "ticks", "chat", "rpc", "sensor", "control",
};

void stats_init(uint64_t now_ms, uint32_t tick_interval_ms)
{
    memset(&stats, 0, sizeof stats);
    stats.start_mono_ms = now_ms;
    stats.last_tick_mono_ms = now_ms;
    stats.tick_interval_ms = tick_interval_ms;
    for (int i = 0; i < STATS_EP_COUNT; i++)
        stats.ep[i].name = endpoint_names[i];
}

void stats_add_loop(const struct conn_env *env)
{
    assert(loop_count < STATS_MAX_LOOPS);
    loops[loop_count++] = env;
}

/* What the connections of every loop were closed for. */
static struct conn_counts loop_counts(void)
{
    struct conn_counts sum = {0};
    for (size_t i = 0; i < loop_count; i++) {
        const struct conn_counts *k = &loops[i]->counts;
        sum.slow_consumers += k->slow_consumers;
        sum.over_buffered += k->over_buffered;
        sum.rate_limited += k->rate_limited;
        sum.ping_timeouts += k->ping_timeouts;
    }
    return sum;
}

void stats_count_close(uint16_t code)
{
    if (code >= 1000 && code <= 1015)
        stats.closes_by_code[code - 1000]++;
    else
        stats.closes_by_code[16]++;
}

void stats_observe_ms(struct stats_ms_histogram *h, double ms)
{
    int i = 0;
    while (i < STATS_MS_BUCKETS && ms > stats_ms_bounds[i])
        i++;
    h->buckets[i]++;
    h->sum_ms += ms;
    h->count++;
}

bool stats_ticks_healthy(uint64_t now_ms)
{
    /* "A tick more than a few intervals late": three, and never under 1 s,
     * so a busy moment on a fast tick does not flap the health check. */
    uint64_t allowed = 3 * (uint64_t)stats.tick_interval_ms;
    if (allowed < 1000)
        allowed = 1000;
    return now_ms <= stats.last_tick_mono_ms || now_ms - stats.last_tick_mono_ms <= allowed;
}

/* --- JSON --------------------------------------------------------------- */

static void endpoint_json(struct json_writer *w, const struct endpoint_stats *e)
{
    json_member_object(w, e->name);
    json_member_uint(w, "connections", e->connections);
    json_member_uint(w, "connections_total", e->connections_total);
    json_member_uint(w, "messages_in", e->messages_in);
    json_member_uint(w, "messages_out", e->messages_out);
    json_member_uint(w, "bytes_in", e->bytes_in);
    json_member_uint(w, "bytes_out", e->bytes_out);
    json_object_end(w);
}

static void closes_json(struct json_writer *w)
{
    json_member_object(w, "closes_by_code");
    for (int i = 0; i < 17; i++) {
        if (!stats.closes_by_code[i])
            continue;
        char code[12];
        snprintf(code, sizeof code, "%d", 1000 + i);
        json_member_uint(w, i < 16 ? code : "other", stats.closes_by_code[i]);
    }
    json_object_end(w);
}

/* The cluster mode only: without --redis /stats is as it was. */
static void broker_json(struct json_writer *w)
{
    const struct stats_broker *b = &stats.broker;
    const struct redis_stats *r = b->redis;
    json_member_object(w, "broker");
    json_member_cstr(w, "url", b->url);
    json_member_cstr(w, "instance", b->instance);
    json_member_bool(w, "connected", b->connected);
    json_member_uint(w, "connects", r->connects);
    json_member_uint(w, "reconnects", r->reconnects);
    json_member_uint(w, "connect_failures", r->connect_failures);
    json_member_uint(w, "timeouts", r->timeouts);
    json_member_uint(w, "commands", r->commands_sent);
    json_member_uint(w, "error_replies", r->error_replies);
    json_member_uint(w, "pending", r->pending);
    json_member_fixed(w, "rtt_ms", r->last_rtt_us / 1000.0, 3);
    json_member_cstr(w, "last_error", b->last_error);
    json_member_uint(w, "chat_published", b->chat_published);
    json_member_uint(w, "chat_publish_failed", b->chat_publish_failed);
    json_member_uint(w, "chat_delivered", b->chat_delivered);
    json_member_uint(w, "chat_lag_ms", b->chat_lag_ms);
    json_member_uint(w, "chat_lag_entries", b->chat_lag_entries);
    json_member_uint(w, "chat_missed", b->chat_missed);
    json_member_uint(w, "chat_online_cluster", b->chat_online_cluster);
    json_object_end(w);
}

size_t stats_render_json(char *out, size_t cap, uint64_t now_ms, size_t open_connections)
{
    struct json_writer w;
    struct conn_counts k = loop_counts();
    json_init(&w, out, cap);
    json_object_begin(&w);
    json_member_fixed(&w, "uptime_s", (double)(now_ms - stats.start_mono_ms) / 1000.0, 3);
    json_member_uint(&w, "open_connections", open_connections);
    json_member_uint(&w, "queued_bytes", stats.queued_bytes);
    json_member_object(&w, "endpoints");
    for (int i = 0; i < STATS_EP_COUNT; i++)
        endpoint_json(&w, &stats.ep[i]);
    json_object_end(&w);
    closes_json(&w);
    json_member_uint(&w, "http_requests", stats.http_requests);
    json_member_uint(&w, "handshakes_failed", stats.handshakes_failed);
    json_member_uint(&w, "slow_consumers_closed", k.slow_consumers);
    json_member_uint(&w, "header_timeouts", stats.header_timeouts);
    json_member_uint(&w, "ping_timeouts", k.ping_timeouts);
    json_member_uint(&w, "rate_limited", k.rate_limited);
    json_member_uint(&w, "refused_full", stats.refused_full);
    json_member_uint(&w, "conn_rate_limited", stats.conn_rate_limited);
    json_member_uint(&w, "refused_no_fds", stats.refused_no_fds);
    json_member_uint(&w, "buffered_bytes", stats.buffered_bytes);
    json_member_uint(&w, "over_buffered", k.over_buffered);
    json_member_uint(&w, "ticks", stats.tick_late.count);
    json_member_uint(&w, "chat_online", stats.chat_online);
    json_member_object(&w, "chat");
    json_member_uint(&w, "online", stats.chat_online);
    json_member_uint(&w, "history", stats.chat_history);
    char last_id[CHAT_ID_MAX_LEN + 1] = "";
    if (stats.chat_last.ms || stats.chat_last.seq)
        chat_id_format(&stats.chat_last, last_id);
    json_member_cstr(&w, "last_id", last_id);
    json_object_end(&w);
    json_member_object(&w, "sensor");
    json_member_bool(&w, "running", stats.sensor_running);
    json_member_uint(&w, "samples", stats.sensor_samples);
    json_member_uint(&w, "samples_logged", stats.sensor_samples_logged);
    json_member_uint(&w, "samples_sent", stats.sensor_samples_sent);
    if (stats.broker.enabled) {
        json_member_bool(&w, "holder", stats.broker.sensor_holder);
        json_member_cstr(&w, "lease_holder", stats.broker.sensor_lease_holder);
    }
    json_object_end(&w);
    if (stats.broker.enabled)
        broker_json(&w);
    json_member_bool(&w, "draining", stats.draining);
    json_object_end(&w);
    ssize_t n = json_finish(&w);
    return n < 0 ? 0 : (size_t)n;
}

/* --- Prometheus text format ------------------------------------------------ */

struct text {
    char  *p;
    size_t cap, len;
    bool   overflow;
};

__attribute__((format(printf, 2, 3)))
static void put(struct text *t, const char *fmt, ...)
{
    if (t->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len)
        t->overflow = true;
    else
        t->len += (size_t)n;
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP wspulse_%s %s\n# TYPE wspulse_%s %s\n", name, help, name, type);
}

/* One family with a value per endpoint; offset picks the field. */
static void per_endpoint(struct text *t, const char *name, const char *type,
                         const char *help, size_t offset)
{
    family(t, name, type, help);
    for (int i = 0; i < STATS_EP_COUNT; i++) {
        uint64_t v = *(const uint64_t *)((const char *)&stats.ep[i] + offset);
        put(t, "wspulse_%s{endpoint=\"%s\"} %" PRIu64 "\n", name, stats.ep[i].name, v);
    }
}

static void counter(struct text *t, const char *name, const char *help, uint64_t v)
{
    family(t, name, "counter", help);
    put(t, "wspulse_%s %" PRIu64 "\n", name, v);
}

static void histogram(struct text *t, const char *name, const char *help,
                      const struct stats_ms_histogram *h)
{
    family(t, name, "histogram", help);
    uint64_t cumulative = 0;
    for (int i = 0; i < STATS_MS_BUCKETS; i++) {
        cumulative += h->buckets[i];
        put(t, "wspulse_%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
            stats_ms_bounds[i] / 1000.0, cumulative);
    }
    cumulative += h->buckets[STATS_MS_BUCKETS];
    put(t, "wspulse_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
    put(t, "wspulse_%s_sum %.6f\n", name, h->sum_ms / 1000.0);
    put(t, "wspulse_%s_count %" PRIu64 "\n", name, h->count);
}

static void tick_histograms(struct text *t)
{
    histogram(t, "tick_lateness_seconds",
              "How late each tick of the timestamp stream fired against its schedule.",
              &stats.tick_late);
    histogram(t, "tick_send_seconds",
              "How long each tick took to go out: from its firing until every "
              "client's frame was written (or queued, for a client whose socket "
              "is full).", &stats.tick_send);
}

static void closes(struct text *t)
{
    family(t, "closes_total", "counter",
           "WebSocket connections closed, by close code (1006: no Close frame).");
    for (int i = 0; i < 17; i++) {
        if (i < 16)
            put(t, "wspulse_closes_total{code=\"%d\"} %" PRIu64 "\n", 1000 + i,
                stats.closes_by_code[i]);
        else
            put(t, "wspulse_closes_total{code=\"other\"} %" PRIu64 "\n", stats.closes_by_code[i]);
    }
}

static void http_requests(struct text *t)
{
    family(t, "http_responses_total", "counter", "HTTP responses, by status class.");
    for (int i = 1; i <= 5; i++)
        put(t, "wspulse_http_responses_total{class=\"%dxx\"} %" PRIu64 "\n", i,
            stats.http_by_status[i]);
}

static void gauge(struct text *t, const char *name, const char *help, double v)
{
    family(t, name, "gauge", help);
    put(t, "wspulse_%s %g\n", name, v);
}

static void broker_metrics(struct text *t)
{
    const struct redis_stats *r = stats.broker.redis;
    gauge(t, "broker_up", "1 while the Redis connection is up (--redis).",
          stats.broker.connected);
    counter(t, "broker_reconnects_total", "Connections to Redis made again after one ended.",
            r->reconnects);
    counter(t, "broker_connect_failures_total", "Attempts to connect to Redis that failed.",
            r->connect_failures);
    counter(t, "broker_timeouts_total", "Redis connections dropped for want of a reply.",
            r->timeouts);
    counter(t, "broker_commands_total", "Commands sent to Redis.", r->commands_sent);
    gauge(t, "broker_rtt_seconds", "Round-trip time of the last Redis command.",
          r->last_rtt_us / 1e6);
    gauge(t, "sensor_lease_held", "1 while this instance runs the cluster's acquisition.",
          stats.broker.sensor_holder);
    counter(t, "broker_chat_published_total", "Chat messages appended to the stream.",
            stats.broker.chat_published);
    counter(t, "broker_chat_publish_failed_total",
            "Chat messages refused for want of the broker (the sender was told).",
            stats.broker.chat_publish_failed);
    counter(t, "broker_chat_delivered_total", "Stream entries delivered to this instance's clients.",
            stats.broker.chat_delivered);
    gauge(t, "broker_chat_lag_seconds", "How far this instance is behind the chat stream.",
          stats.broker.chat_lag_ms / 1e3);
    counter(t, "broker_chat_missed_total",
            "Stream entries trimmed before this instance read them (its clients missed them).",
            stats.broker.chat_missed);
    gauge(t, "chat_online_cluster", "Chat clients of every instance, as last counted.",
          (double)stats.broker.chat_online_cluster);
}

size_t stats_render_prometheus(char *out, size_t cap, uint64_t now_ms, size_t open_connections)
{
    struct text t = { out, cap, 0, false };
    struct conn_counts k = loop_counts();
    family(&t, "uptime_seconds", "gauge", "Seconds since the server started.");
    put(&t, "wspulse_uptime_seconds %.3f\n", (double)(now_ms - stats.start_mono_ms) / 1000.0);
    family(&t, "open_connections", "gauge", "Open TCP connections, in any phase.");
    put(&t, "wspulse_open_connections %zu\n", open_connections);
    family(&t, "queued_bytes", "gauge", "Output bytes waiting for peers to take them.");
    put(&t, "wspulse_queued_bytes %" PRIu64 "\n", stats.queued_bytes);
    per_endpoint(&t, "connections", "gauge", "Open WebSocket connections.",
                 offsetof(struct endpoint_stats, connections));
    per_endpoint(&t, "connections_total", "counter", "WebSocket connections opened.",
                 offsetof(struct endpoint_stats, connections_total));
    per_endpoint(&t, "messages_received_total", "counter", "Messages received.",
                 offsetof(struct endpoint_stats, messages_in));
    per_endpoint(&t, "messages_sent_total", "counter", "Messages sent.",
                 offsetof(struct endpoint_stats, messages_out));
    per_endpoint(&t, "received_bytes_total", "counter", "Message payload bytes received.",
                 offsetof(struct endpoint_stats, bytes_in));
    per_endpoint(&t, "sent_bytes_total", "counter", "Message payload bytes sent.",
                 offsetof(struct endpoint_stats, bytes_out));
    closes(&t);
    http_requests(&t);
    counter(&t, "handshakes_failed_total", "Upgrade requests refused.", stats.handshakes_failed);
    counter(&t, "slow_consumers_closed_total",
            "Clients closed because their queued output passed --max-pending.",
            k.slow_consumers);
    counter(&t, "header_timeouts_total", "Connections closed for slow request headers.",
            stats.header_timeouts);
    counter(&t, "ping_timeouts_total", "Clients closed for not answering a ping.",
            k.ping_timeouts);
    counter(&t, "rate_limited_total", "Clients closed for sending over --rate-limit.",
            k.rate_limited);
    counter(&t, "refused_full_total", "Connections refused with 503 at --max-conns.",
            stats.refused_full);
    counter(&t, "conn_rate_limited_total",
            "Connections refused with 429 over --max-conn-rate-per-ip.",
            stats.conn_rate_limited);
    counter(&t, "refused_no_fds_total",
            "Connections refused with 503 for lack of file descriptors.", stats.refused_no_fds);
    family(&t, "buffered_bytes", "gauge",
           "Bytes of unfinished messages held for clients (bounded by --max-buffered).");
    put(&t, "wspulse_buffered_bytes %" PRIu64 "\n", stats.buffered_bytes);
    counter(&t, "over_buffered_total",
            "Clients closed with 1013 because partial messages passed --max-buffered.",
            k.over_buffered);
    family(&t, "chat_online", "gauge", "Clients in the chat room.");
    put(&t, "wspulse_chat_online %" PRIu64 "\n", stats.chat_online);
    family(&t, "sensor_running", "gauge", "1 while the sensor acquires.");
    put(&t, "wspulse_sensor_running %d\n", stats.sensor_running ? 1 : 0);
    counter(&t, "sensor_samples_total", "Sensor samples generated.", stats.sensor_samples);
    counter(&t, "sensor_samples_logged_total", "Sensor samples written to --sensor-log.",
            stats.sensor_samples_logged);
    if (stats.broker.enabled)
        broker_metrics(&t);
    tick_histograms(&t);
    return t.overflow ? 0 : t.len;
}
