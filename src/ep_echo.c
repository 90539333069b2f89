/* ep_echo.c -- /echo: every text and binary message back as it came, a
 * fragmented one as one message. The conformance and benchmark target, so
 * it is the shortest path through the server: the payload is sent from where
 * it was read (the scratch buffer, or the connection's message buffer), never
 * copied. The size limit is --max-message, set by server.c. */
#include "endpoints.h"
#include "stats.h"
#include "ws.h"

static void echo_on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    ws_send(c, opcode, data, len);
}

struct endpoint ep_echo = {
    .name = "echo",
    .max_message = 16u << 20,
    .stats = &stats.ep[STATS_ECHO],
    .on_message = echo_on_message,
};
