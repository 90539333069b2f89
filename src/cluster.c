/* cluster.c -- see cluster.h. This file owns the command connection and
 * tells the endpoints about it; what is shared, and how, is each
 * endpoint's business (ep_sensor.c: a lease and a stream).
 *
 * Start-up is strict and later life is lenient: a Redis that cannot be
 * reached (or refuses the password) when the server starts is a mistake
 * the operator must hear about at once, so the server exits; once it has
 * run, an outage is something to ride out: redis.c reconnects with backoff,
 * /readyz says 503 meanwhile, and the listeners learn of each end and
 * return. */
#include "cluster.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "resp.h"
#include "stats.h"

static struct {
    struct reactor *reactor;
    struct redis *redis;             /* the command connection; NULL: no --redis */
    struct resp_url url;
    char url_text[512];              /* for logs and /stats: no password */
    char prefix[128];
    char instance[128];
    struct cluster_listener *listeners;
    bool starting;                   /* cluster_start is waiting for the first answer */
    bool failed_at_start;
    bool down_logged;                /* one warning per outage, not per attempt */
} cluster;

/* --- the command connection's events --------------------------------------- */

static void on_connected(struct redis *r, void *user)
{
    (void)r, (void)user;
    stats.broker.connected = true;
    cluster.down_logged = false;
    if (cluster.starting) {
        reactor_stop(cluster.reactor);   /* cluster_start may go on */
        cluster.starting = false;
    }
    log_info("broker: connected to %s as instance %s", cluster.url_text, cluster.instance);
    for (struct cluster_listener *l = cluster.listeners; l; l = l->next)
        if (l->on_up)
            l->on_up(l->user);
}

static void on_disconnected(struct redis *r, const char *why, uint32_t retry_ms, void *user)
{
    (void)r, (void)user;
    stats.broker.connected = false;
    log_warn("broker: lost %s: %s; reconnecting in %u ms", cluster.url_text, why,
             (unsigned)retry_ms);
    cluster.down_logged = true;
    for (struct cluster_listener *l = cluster.listeners; l; l = l->next)
        if (l->on_down)
            l->on_down(why, l->user);
}

static void on_connect_failed(struct redis *r, const char *why, uint32_t retry_ms, void *user)
{
    (void)r, (void)user;
    if (cluster.starting) {
        cluster.failed_at_start = true;
        cluster.starting = false;
        reactor_stop(cluster.reactor);
        return;
    }
    if (!cluster.down_logged)
        log_warn("broker: cannot reach %s: %s; retrying (next in %u ms)", cluster.url_text,
                 why, (unsigned)retry_ms);
    else
        log_debug("broker: cannot reach %s: %s; next attempt in %u ms", cluster.url_text,
                  why, (unsigned)retry_ms);
    cluster.down_logged = true;
}

static const struct redis_handler command_handler = {
    .on_connected = on_connected,
    .on_disconnected = on_disconnected,
    .on_connect_failed = on_connect_failed,
};

/* --- start ---------------------------------------------------------------------- */

/* HOST:PID: unique among the processes of a machine and among machines. */
static void default_instance(char *out, size_t cap)
{
    char host[64];
    if (gethostname(host, sizeof host) < 0)
        snprintf(host, sizeof host, "wspulse");
    host[sizeof host - 1] = '\0';
    snprintf(out, cap, "%s:%ld", host, (long)getpid());
}

static int start_error(const char *why)
{
    fprintf(stderr, "wspulse: --redis %s: %s\n", cluster.url_text, why);
    return -1;
}

int cluster_start(struct reactor *r, const char *url, const char *prefix, const char *instance)
{
    const char *why;
    if (resp_url_parse(url, &cluster.url, &why) < 0)
        return start_error(why);             /* config.c has checked it: not reached */
    resp_url_format(&cluster.url, cluster.url_text, sizeof cluster.url_text);
    size_t n = strlen(cluster.url_text);
    if (cluster.url.db == 0 && n > 2 && strcmp(cluster.url_text + n - 2, "/0") == 0)
        cluster.url_text[n - 2] = '\0';     /* the default, as most people write it */
    cluster.reactor = r;
    snprintf(cluster.prefix, sizeof cluster.prefix, "%s", prefix);
    if (instance)
        snprintf(cluster.instance, sizeof cluster.instance, "%s", instance);
    else
        default_instance(cluster.instance, sizeof cluster.instance);
    stats.broker = (struct stats_broker){ .enabled = true, .url = cluster.url_text,
                                          .instance = cluster.instance };
    cluster.starting = true;
    cluster.redis = redis_new(r, &cluster.url, NULL, &command_handler, NULL, &why);
    if (!cluster.redis)
        return start_error(why);
    stats.broker.redis = redis_get_stats(cluster.redis);
    stats.broker.last_error = redis_last_error(cluster.redis);
    /* The loop runs only the client's own timer and socket now; it stops at
     * the first connection or the first failure (refused, AUTH refused,
     * no answer within the connect or command timeout). */
    if (reactor_run(r) < 0 || cluster.failed_at_start || !redis_is_ready(cluster.redis))
        return start_error(redis_last_error(cluster.redis)[0] ? redis_last_error(cluster.redis)
                                                               : "no connection");
    return 0;
}

/* --- what the endpoints use ------------------------------------------------------ */

bool cluster_enabled(void)
{
    return cluster.redis != NULL;
}

bool cluster_ready(void)
{
    return cluster.redis && redis_is_ready(cluster.redis);
}

struct redis *cluster_redis(void)
{
    return cluster.redis;
}

const char *cluster_instance(void)
{
    return cluster.redis ? cluster.instance : NULL;
}

const char *cluster_key(char *out, size_t cap, const char *suffix)
{
    snprintf(out, cap, "%s:%s", cluster.prefix, suffix);
    return out;
}

void cluster_listen(struct cluster_listener *l)
{
    l->next = cluster.listeners;
    cluster.listeners = l;
    if (cluster_ready() && l->on_up)
        l->on_up(l->user);
}

struct redis *cluster_connect(const struct redis_handler *handler, void *user,
                              const struct redis_options *opts)
{
    const char *why;
    struct redis *r = redis_new(cluster.reactor, &cluster.url, opts, handler, user, &why);
    if (!r)
        log_error("broker: cannot open a connection to %s: %s", cluster.url_text, why);
    return r;
}
