/* ep_rpc.c -- /rpc: request and response in plain text. GET_TIME answers
 * the server's local time, GREET_ME a greeting, and any other text comes
 * back with " - N" appended, N a random number, so a client can match every
 * reply to its request (the echo page sends 10,000 and checks them all).
 * The reply points at the request's own bytes: only the suffix is new. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "endpoints.h"
#include "random.h"
#include "stats.h"
#include "ws.h"

/* xorshift64*: not for secrets, only to make N unpredictable enough that a
 * client cannot fake a reply without reading the request. */
static uint64_t rpc_random(void)
{
    static uint64_t state;
    if (state == 0 && random_bytes(&state, sizeof state) < 0)
        state = clock_mono_ns() | 1;     /* no kernel source: the clock will do */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ull;
}

static bool is(const uint8_t *data, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(data, word, len) == 0;
}

static void send_time(struct conn *c)
{
    char text[64];
    int64_t now = clock_wall_ms();
    char stamp[CLOCK_LOCAL_LEN + 1];
    clock_format_local(now, stamp);
    int n = snprintf(text, sizeof text, "%s.%03d", stamp, (int)(now % 1000));
    ws_send_copy(c, WS_OP_TEXT, text, (size_t)n);
}

static void send_greeting(struct conn *c)
{
    char peer[NET_ADDR_STRLEN], text[128];
    net_addr_format(&c->peer, peer);
    int n = snprintf(text, sizeof text, "Hello, %s! Welcome to wspulse.", peer);
    ws_send_copy(c, WS_OP_TEXT, text, (size_t)n);
}

static void rpc_on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    if (opcode != WS_OP_TEXT) {          /* §7.4.1: 1003 is for exactly this */
        ws_close(c, WS_CLOSE_UNSUPPORTED, "rpc takes text messages only");
        return;
    }
    if (is(data, len, "GET_TIME")) {
        send_time(c);
        return;
    }
    if (is(data, len, "GREET_ME")) {
        send_greeting(c);
        return;
    }
    char suffix[32];
    int n = snprintf(suffix, sizeof suffix, " - %llu",
                     (unsigned long long)(rpc_random() % 1000000));
    ws_send_with_tail(c, WS_OP_TEXT, data, len, suffix, (size_t)n);
}

struct endpoint ep_rpc = {
    .name = "rpc",
    .max_message = 64u << 10,
    .stats = &stats.ep[STATS_RPC],
    .on_message = rpc_on_message,
};
