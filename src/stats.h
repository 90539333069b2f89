/* stats.h -- the server's counters, and their two renderings: /stats (JSON)
 * and /metrics (Prometheus text exposition format). Counters are plain
 * integers: the server is one thread. Bytes are WebSocket payload bytes.
 * What ws.c counts is kept by each loop (conn.h: env->counts) and added up
 * here from the loops given to stats_add_loop(). */
#ifndef STATS_H
#define STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_history.h"
#include "conn.h"
#include "endpoint.h"

enum stats_ep { STATS_ECHO, STATS_TICKS, STATS_CHAT, STATS_RPC, STATS_SENSOR,
                STATS_CONTROL, STATS_EP_COUNT };

struct redis_stats;

/* The cluster mode (--redis); all zero without it. cluster.c keeps the
 * connection's part current, ep_sensor.c the lease. */
struct stats_broker {
    bool enabled;
    bool connected;                      /* the command connection is up */
    const char *url;                     /* the password shown as "***" */
    const char *instance;
    const struct redis_stats *redis;     /* the command connection's counters */
    const char *last_error;              /* why it last failed ("" if never) */
    bool sensor_holder;                  /* this instance runs the acquisition */
    char sensor_lease_holder[64];        /* the instance that does, as last seen */
    uint64_t chat_published;             /* chat messages the stream took from us */
    uint64_t chat_publish_failed;        /* refused: the sender got an error reply */
    uint64_t chat_delivered;             /* stream entries delivered to our clients */
    uint64_t chat_lag_ms;                /* the stream's newest entry vs ours */
    uint64_t chat_lag_entries;           /* entries of the stream not read yet */
    uint64_t chat_missed;                /* trimmed before we read them: lost here */
    uint64_t chat_online_cluster;        /* chat clients of every instance */
};

/* Bucket upper bounds of the tick histograms, in milliseconds. */
#define STATS_MS_BUCKETS 10
extern const double stats_ms_bounds[STATS_MS_BUCKETS];

struct stats_ms_histogram {
    uint64_t buckets[STATS_MS_BUCKETS + 1];    /* last: +Inf */
    double   sum_ms;
    uint64_t count;
};

struct stats {
    uint64_t start_mono_ms;
    uint64_t http_requests;
    uint64_t http_by_status[6];          /* index status / 100 (1xx..5xx) */
    uint64_t handshakes_failed;
    uint64_t closes_by_code[17];         /* 1000..1015; [16]: any other code */
    uint64_t queued_bytes;               /* output waiting for the peers now (set by
                                            the caller of stats_render_*) */
    uint64_t header_timeouts, refused_full;
    uint64_t conn_rate_limited;          /* 429: over --max-conn-rate-per-ip */
    uint64_t refused_no_fds;             /* 503: out of file descriptors (also in
                                            refused_full) */
    uint64_t buffered_bytes;             /* of unfinished messages, held now (set
                                            by the caller of stats_render_*) */
    struct stats_ms_histogram tick_late;     /* the timer's firing after the schedule */
    struct stats_ms_histogram tick_send;     /* from then until every client's frame
                                                was written (or queued) */
    uint64_t last_tick_mono_ms;
    uint32_t tick_interval_ms;
    uint64_t chat_online;
    uint64_t chat_history;               /* messages held for resumes */
    struct chat_id chat_last;            /* the newest delivered; 0-0: none */
    uint64_t sensor_samples, sensor_samples_logged, sensor_samples_sent;
    bool     sensor_running;
    bool     draining;                   /* SIGTERM received */
    struct stats_broker broker;
    struct endpoint_stats ep[STATS_EP_COUNT];
};

extern struct stats stats;

void stats_init(uint64_t now_ms, uint32_t tick_interval_ms);
/* A loop whose connections the renderings count (the server has one);
 * env must outlive the stats. At most STATS_MAX_LOOPS. */
#define STATS_MAX_LOOPS 4
void stats_add_loop(const struct conn_env *env);
void stats_count_close(uint16_t code);
void stats_observe_ms(struct stats_ms_histogram *h, double ms);
/* The tick loop is healthy: the last tick is at most a few intervals old. */
bool stats_ticks_healthy(uint64_t now_ms);

/* Render into out[0..cap); return the length, or 0 if it does not fit. */
size_t stats_render_json(char *out, size_t cap, uint64_t now_ms, size_t open_connections);
size_t stats_render_prometheus(char *out, size_t cap, uint64_t now_ms, size_t open_connections);

#endif
