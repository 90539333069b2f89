/* config.c -- see config.h. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "resp.h"

void config_error(const char *command, const char *name, const char *what)
{
    fprintf(stderr, "wspulse%s%s: --%s: %s (see --help)\n", command ? " " : "",
            command ? command : "", name, what);
}

/* A whole number, maybe with a K/M/G suffix (powers of 1024) when bytes. */
static bool parse_uint(const char *s, bool bytes, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return false;
    uint64_t mult = 1;
    if (bytes && *end) {
        switch (*end++) {
        case 'k': case 'K': mult = 1ull << 10; break;
        case 'm': case 'M': mult = 1ull << 20; break;
        case 'g': case 'G': mult = 1ull << 30; break;
        default: return false;
        }
        if (*end == 'i' || *end == 'B')      /* "16MiB", "16MB" */
            end += *end == 'i' ? 1 : 0;
        if (*end == 'B')
            end++;
    }
    if (*end || v > UINT64_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

/* Seconds with optional decimals ("30", "0.25"), to milliseconds, rounded
 * to the nearest (decimals past the third only round). Integer arithmetic:
 * exact, and no strtod() (whose tables cost the static binary 3 KiB). */
static bool parse_ms(const char *s, uint64_t *out)
{
    uint64_t ms = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        ms = ms * 10 + (uint64_t)(*p - '0');
        if (ms > 1000000000)
            return false;                /* over 1e9 s */
    }
    bool digits = p > s;
    ms *= 1000;
    if (*p == '.') {
        const char *frac = ++p;
        for (uint64_t scale = 100; *p >= '0' && *p <= '9'; p++, scale /= 10)
            if (scale)
                ms += scale * (uint64_t)(*p - '0');
            else if (p == frac + 3 && *p >= '5')
                ms++;                    /* the fourth decimal rounds */
        digits = digits || p > frac;
    }
    if (!digits || *p)
        return false;
    *out = ms;
    return true;
}

static const struct config_option *find_option(const struct config_option *opts,
                                               const char *name, size_t len)
{
    for (; opts->name; opts++)
        if (strlen(opts->name) == len && memcmp(opts->name, name, len) == 0)
            return opts;
    return NULL;
}

static int store(const struct config_option *o, const char *value, const char *command)
{
    uint64_t v = 0;
    bool ok = true;
    switch (o->kind) {
    case CONFIG_FLAG:
        *(bool *)o->dest = true;
        return 0;
    case CONFIG_STRING:
        if (!*value) {
            config_error(command, o->name, "needs a non-empty value");
            return -1;
        }
        *(const char **)o->dest = value;
        return 0;
    case CONFIG_UINT:  ok = parse_uint(value, false, &v); break;
    case CONFIG_BYTES: ok = parse_uint(value, true, &v); break;
    case CONFIG_MS:    ok = parse_ms(value, &v); break;
    }
    if (!ok || v < o->min || v > o->max) {
        char what[160];
        if (o->kind == CONFIG_MS)
            snprintf(what, sizeof what, "'%s' is not a number of seconds from %.3g to %.3g",
                     value, o->min / 1000.0, o->max / 1000.0);
        else
            snprintf(what, sizeof what, "'%s' is not a number from %" PRIu64 " to %" PRIu64,
                     value, o->min, o->max);
        config_error(command, o->name, what);
        return -1;
    }
    *(uint64_t *)o->dest = v;
    return 0;
}

int config_parse(const struct config_option *opts, int argc, char **argv, int first,
                 char **positional, int max_positional, const char *command)
{
    int npos = 0;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return -2;
        if (arg[0] != '-' || arg[1] == '\0') {
            if (npos == max_positional) {
                fprintf(stderr, "wspulse%s%s: unexpected argument '%s' (see --help)\n",
                        command ? " " : "", command ? command : "", arg);
                return -1;
            }
            positional[npos++] = argv[i];
            continue;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct config_option *o = find_option(opts, name, len);
        if (!o) {
            fprintf(stderr, "wspulse%s%s: unknown option '%.*s' (see --help)\n",
                    command ? " " : "", command ? command : "", (int)(len + (size_t)(name - arg)), arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (o->kind == CONFIG_FLAG && value) {
            config_error(command, o->name, "takes no value");
            return -1;
        }
        if (o->kind != CONFIG_FLAG && !value) {
            if (i + 1 == argc) {
                config_error(command, o->name, "needs a value");
                return -1;
            }
            value = argv[++i];
        }
        if (store(o, value, command) < 0)
            return -1;
    }
    return npos;
}

static void print_default(FILE *f, const struct config_option *o)
{
    switch (o->kind) {
    case CONFIG_UINT:
    case CONFIG_BYTES:
        if (*(uint64_t *)o->dest)
            fprintf(f, " (default %" PRIu64 ")", *(uint64_t *)o->dest);
        break;
    case CONFIG_MS:
        if (*(uint64_t *)o->dest)
            fprintf(f, " (default %g)", *(uint64_t *)o->dest / 1000.0);
        break;
    case CONFIG_STRING:
        if (*(const char **)o->dest)
            fprintf(f, " (default %s)", *(const char **)o->dest);
        break;
    default:
        break;
    }
}

void config_print_options(FILE *f, const struct config_option *opts)
{
    for (; opts->name; opts++) {
        char left[48];
        snprintf(left, sizeof left, "--%s%s%s", opts->name, opts->metavar ? " " : "",
                 opts->metavar ? opts->metavar : "");
        fprintf(f, "  %-26s %s", left, opts->help);
        print_default(f, opts);
        fputc('\n', f);
    }
}

/* --- the server --------------------------------------------------------- */

#define SEC(s) ((uint64_t)(s) * 1000)

/* --max-buffered by default: 256 MiB, or a quarter of the memory on a
 * smaller machine, so that clients that begin large messages and never
 * finish them cannot take the memory the server needs. */
static uint64_t default_max_buffered(void)
{
    uint64_t cap = 256u << 20;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return cap;
    uint64_t quarter = (uint64_t)pages * (uint64_t)page / 4;
    return quarter < cap ? quarter : cap;
}

static void server_defaults(struct server_config *cfg)
{
    *cfg = (struct server_config){
        .host = "127.0.0.1",
        .port = 8970,
        .tick_ms = 100,
        .ws_root = "chat",
        .max_message = 16u << 20,
        .max_pending = 4u << 20,
        .max_conn_rate_per_ip = 100,
        .ping_interval_ms = SEC(30),
        .header_timeout_ms = SEC(10),
        .close_timeout_ms = SEC(5),
        .drain_timeout_ms = SEC(5),
        .log_level = "info",
        .log_format = "text",
        .sensor_hz = 100,
        .sensor_decimate = 5,
        .history = 1000,
        .redis_prefix = "wspulse",
    };
    cfg->max_buffered = default_max_buffered();
}

static void server_usage(const struct config_option *opts)
{
    printf("Usage: wspulse [serve | start] [options]\n"
           "       wspulse connect [URL | --host ADDR --port N] [--name N]\n"
           "       wspulse monitor [URL | --host ADDR --port N] [options]\n"
           "       wspulse bench MODE [URL] [options]\n"
           "       wspulse --help | --version\n\n"
           "A WebSocket server with its own web UI: timestamps (/ws, /ticks), echo\n"
           "(/echo), a chat room (/chat), request/response (/rpc), a mock sensor\n"
           "(/sensor, /control), /healthz, /readyz, /stats and /metrics.\n"
           "Run 'wspulse COMMAND --help' for the options of a client command.\n\n"
           "Server options:\n");
    config_print_options(stdout, opts);
}

/* The endpoints the original servers served at their root. */
static bool ws_root_ok(const char *name)
{
    static const char *const allowed[] = { "chat", "rpc", "echo", "ticks" };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (strcmp(name, allowed[i]) == 0)
            return true;
    return false;
}

/* Was --name given ("--name VALUE" or "--name=VALUE")? For a default
 * that differs from any value one can give: --max-conn-rate-per-ip leaves
 * loopback peers (a reverse proxy on this machine, the benchmarks) alone
 * unless it is given. */
static bool option_given(int argc, char **argv, int first, const char *name)
{
    size_t len = strlen(name);
    for (int i = first; i < argc; i++)
        if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, name, len) == 0
            && (argv[i][2 + len] == '\0' || argv[i][2 + len] == '='))
            return true;
    return false;
}

/* A malformed --redis is a bad option (exit 2) like any other: found here,
 * before anything starts, not by a connection that can never work. */
static int validate_cluster(const struct server_config *cfg)
{
    struct resp_url url;
    const char *why;
    if (cfg->redis && resp_url_parse(cfg->redis, &url, &why) < 0) {
        config_error(NULL, "redis", why);
        return -1;
    }
    if (strchr(cfg->redis_prefix, ' ')) {
        config_error(NULL, "redis-prefix", "must not contain spaces");
        return -1;
    }
    return 0;
}

static int validate(const struct server_config *cfg)
{
    if (log_level_parse(cfg->log_level) < 0) {
        config_error(NULL, "log-level", "must be error, warn, info or debug");
        return -1;
    }
    if (log_format_parse(cfg->log_format) < 0) {
        config_error(NULL, "log-format", "must be text or json");
        return -1;
    }
    if (!ws_root_ok(cfg->ws_root)) {
        config_error(NULL, "ws-root", "must be chat, rpc, echo or ticks");
        return -1;
    }
    if (!cfg->tls_cert != !cfg->tls_key) {
        config_error(NULL, cfg->tls_cert ? "tls-key" : "tls-cert",
                     "--tls-cert and --tls-key go together");
        return -1;
    }
    return validate_cluster(cfg);
}

int config_server(struct server_config *cfg, int argc, char **argv, int first, bool *done)
{
    server_defaults(cfg);
    const struct config_option opts[] = {
        { "host", "ADDR", CONFIG_STRING, &cfg->host, 0, 0,
          "address to listen on; 0.0.0.0 or :: for all interfaces" },
        { "port", "N", CONFIG_UINT, &cfg->port, 0, 65535, "TCP port (0: any free port)" },
        { "tick-ms", "MS", CONFIG_UINT, &cfg->tick_ms, 1, 3600000,
          "interval of the timestamp stream on /ws" },
        { "ws-root", "ENDPOINT", CONFIG_STRING, &cfg->ws_root, 0, 0,
          "where a WebSocket for / goes: chat, rpc, echo or ticks" },
        { "instance", "NAME", CONFIG_STRING, &cfg->instance, 0, 0,
          "add \"server\":NAME to every tick; with --redis, the instance's name" },
        { "redis", "URL", CONFIG_STRING, &cfg->redis, 0, 0,
          "redis://[:PASSWORD@]HOST[:PORT][/DB]: share /chat and /sensor with other instances" },
        { "redis-prefix", "NAME", CONFIG_STRING, &cfg->redis_prefix, 0, 0,
          "namespace of the Redis keys (NAME:sensor:lease, ...)" },
        { "history", "N", CONFIG_UINT, &cfg->history, 1, 1000000,
          "chat messages kept for clients that resume (/chat?since=ID)" },
        { "reuse-port", NULL, CONFIG_FLAG, &cfg->reuse_port, 0, 0,
          "SO_REUSEPORT: several instances on this machine share --port" },
        { "www", "DIR", CONFIG_STRING, &cfg->www_dir, 0, 0,
          "serve the pages from DIR instead of the built-in copy" },
        { "max-message", "BYTES", CONFIG_BYTES, &cfg->max_message, 1, 1u << 30,
          "largest message on /echo (K, M, G suffixes)" },
        { "max-conns", "N", CONFIG_UINT, &cfg->max_conns, 0, 10000000,
          "WebSocket connections at once; more get 503 (0: open-file limit)" },
        { "max-conns-per-ip", "N", CONFIG_UINT, &cfg->max_conns_per_ip, 0, 10000000,
          "connections from one IP address (0: no limit)" },
        { "max-conn-rate-per-ip", "N", CONFIG_UINT, &cfg->max_conn_rate_per_ip, 0, 1000000,
          "new connections a second from one IP; more get 429" },
        { "max-pending", "BYTES", CONFIG_BYTES, &cfg->max_pending, 4096, 1u << 30,
          "output queued for a client that is not reading; past it, it is closed" },
        { "max-buffered", "BYTES", CONFIG_BYTES, &cfg->max_buffered, 0, 1ull << 40,
          "unfinished messages held for all clients; past it, 1013 (0: no limit)" },
        { "rate-limit", "N", CONFIG_UINT, &cfg->rate_limit, 0, 1000000,
          "messages per second a client may send (0: no limit)" },
        { "ping-interval", "S", CONFIG_MS, &cfg->ping_interval_ms, 0, SEC(86400),
          "ping a silent client after S seconds; close it if no pong within S (0: never)" },
        { "header-timeout", "S", CONFIG_MS, &cfg->header_timeout_ms, 100, SEC(3600),
          "time a client has to send its request headers" },
        { "close-timeout", "S", CONFIG_MS, &cfg->close_timeout_ms, 100, SEC(3600),
          "time the peer has to answer our Close" },
        { "drain-timeout", "S", CONFIG_MS, &cfg->drain_timeout_ms, 0, SEC(3600),
          "on SIGTERM, time to wait for clients to close" },
        { "token", "SECRET", CONFIG_STRING, &cfg->token, 0, 0,
          "WebSockets, /stats and /metrics need ?token=SECRET or Authorization: Bearer SECRET" },
        { "allow-origin", "LIST", CONFIG_STRING, &cfg->allow_origin, 0, 0,
          "comma-separated Origins allowed to open WebSockets (others: 403)" },
        { "log-level", "LEVEL", CONFIG_STRING, &cfg->log_level, 0, 0,
          "error, warn, info or debug" },
        { "log-format", "FMT", CONFIG_STRING, &cfg->log_format, 0, 0, "text or json" },
        { "log-file", "FILE", CONFIG_STRING, &cfg->log_file, 0, 0,
          "append the log to FILE instead of stderr (SIGHUP reopens it)" },
        { "sensor-log", "FILE", CONFIG_STRING, &cfg->sensor_log, 0, 0,
          "append every sensor sample to FILE as JSON lines" },
        { "sensor-hz", "N", CONFIG_UINT, &cfg->sensor_hz, 1, 10000, "sensor sample rate" },
        { "sensor-decimate", "N", CONFIG_UINT, &cfg->sensor_decimate, 1, 100000,
          "send every N-th sample to /sensor clients" },
        { "tls-cert", "FILE", CONFIG_STRING, &cfg->tls_cert, 0, 0,
          "PEM certificate: serve https and wss (build with make TLS=1)" },
        { "tls-key", "FILE", CONFIG_STRING, &cfg->tls_key, 0, 0, "PEM private key" },
        { 0 },
    };
    *done = false;
    int n = config_parse(opts, argc, argv, first, NULL, 0, NULL);
    cfg->conn_rate_loopback = option_given(argc, argv, first, "max-conn-rate-per-ip");
    if (n == -2) {
        server_usage(opts);
        *done = true;
        return 0;
    }
    if (n < 0 || validate(cfg) < 0) {
        *done = true;
        return 2;
    }
    return 0;
}
