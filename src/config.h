/* config.h -- command-line options: a table-driven parser every subcommand
 * uses, and the server's own table with its defaults. GNU style: "--name
 * VALUE" or "--name=VALUE". A bad option or value is one line naming it, a
 * hint to use --help, and exit status 2. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define WSPULSE_VERSION "1.0.0"

enum config_kind {
    CONFIG_FLAG,                 /* no value: sets a bool */
    CONFIG_UINT,                 /* a whole number in [min, max] -> uint64_t */
    CONFIG_BYTES,                /* a number with an optional K, M or G (binary) */
    CONFIG_MS,                   /* seconds, decimals allowed, stored as ms */
    CONFIG_STRING,               /* -> const char * */
};

struct config_option {
    const char *name;            /* without the dashes */
    const char *metavar;         /* shown in --help: "N", "BYTES", "DIR" */
    enum config_kind kind;
    void *dest;
    uint64_t min, max;           /* for numbers (in the stored unit) */
    const char *help;
};

/* Parse argv[first..argc) against opts (ended by a zero entry). Arguments
 * that are not options are stored in positional[] (at most max_positional).
 * Returns the number of positional arguments, or -1 after printing the
 * error line (the caller exits with 2). "--help" returns -2. */
int config_parse(const struct config_option *opts, int argc, char **argv, int first,
                 char **positional, int max_positional, const char *command);
/* Print each option with its metavar, help text and default. */
void config_print_options(FILE *f, const struct config_option *opts);
/* Print the one-line error for a bad value of option name. */
void config_error(const char *command, const char *name, const char *what);

struct server_config {
    const char *host;
    uint64_t port;
    uint64_t tick_ms;
    const char *www_dir;
    const char *ws_root;         /* the endpoint an upgrade for "/" reaches */
    uint64_t max_message;
    uint64_t max_conns;          /* 0: as many as the open-file limit allows */
    uint64_t max_conns_per_ip;   /* 0: no limit */
    uint64_t max_conn_rate_per_ip;   /* new connections a second, 0: no limit */
    bool     conn_rate_loopback;     /* it binds loopback peers too (given) */
    uint64_t max_pending;
    uint64_t max_buffered;       /* bytes of unfinished messages, all clients; 0: none */
    uint64_t rate_limit;         /* messages per second per connection, 0: none */
    uint64_t ping_interval_ms;
    uint64_t header_timeout_ms;
    uint64_t close_timeout_ms;
    uint64_t drain_timeout_ms;
    const char *log_level;
    const char *log_format;
    const char *log_file;
    const char *sensor_log;
    uint64_t sensor_hz;
    uint64_t sensor_decimate;
    uint64_t history;            /* chat messages kept for resuming clients */
    const char *instance;
    const char *redis;           /* redis://... : the cluster mode (NULL: alone) */
    const char *redis_prefix;    /* namespace of every key and stream */
    bool     reuse_port;         /* SO_REUSEPORT: instances share the port */
    const char *token;
    const char *allow_origin;
    const char *tls_cert;
    const char *tls_key;
};

/* Fill cfg from the arguments of "wspulse [serve] ...". Returns 0, or the
 * exit status to leave with (0 after --help, 2 after an error). */
int config_server(struct server_config *cfg, int argc, char **argv, int first, bool *done);

#endif
