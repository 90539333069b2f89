/* endpoints.h -- the server's endpoints and what starts and stops them;
 * server code only (server.c and the ep_*.c that define them). The
 * contract every endpoint implements, which the clients share, is in
 * endpoint.h. */
#ifndef ENDPOINTS_H
#define ENDPOINTS_H

#include <stdint.h>

#include "endpoint.h"

struct reactor;

/* One file each (ep_*.c). */
extern struct endpoint ep_echo;      /* /echo */
extern struct endpoint ep_ticks;     /* /ws and /ticks */
extern struct endpoint ep_chat;      /* /chat */
extern struct endpoint ep_rpc;       /* /rpc */
extern struct endpoint ep_sensor;    /* /sensor: state and samples */
extern struct endpoint ep_control;   /* /control: state only */

/* Start the one timer that drives every /ws client; instance (or NULL) is
 * added to each tick as "server". Returns 0 or -1 with errno. */
int ticks_start(struct reactor *r, uint32_t tick_ms, const char *instance);

/* Prepare the chat room: the last history messages are kept for clients
 * that resume (--history), in this process or, with --redis, in the
 * cluster's stream. Returns 0 or -1 (logged). */
int chat_setup(struct reactor *r, uint32_t history);

/* Prepare the mock sensor (stopped); log_path (or NULL) gets every sample.
 * Returns 0, or -1 with errno if the log cannot be opened. */
int sensor_setup(struct reactor *r, uint32_t hz, uint32_t decimate, const char *log_path);
/* SIGHUP: reopen the sample log (after logrotate moved it). */
int sensor_reopen_log(void);
/* Stop sampling, flush and close the log. */
void sensor_shutdown(void);

#endif
