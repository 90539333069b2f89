/* ws.h -- WebSocket messages over frames (RFC 6455 §5-§8), both roles:
 * fragments reassembled into messages, control frames answered in between,
 * the closing handshake, close codes, UTF-8 checked as it arrives, limits.
 * Frames come from wsframe.c; bytes go out through conn.c. */
#ifndef WS_H
#define WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "buf.h"
#include "conn.h"
#include "endpoint.h"
#include "wsframe.h"

enum ws_close_code {             /* §7.4.1 and the IANA registry */
    WS_CLOSE_NORMAL       = 1000,
    WS_CLOSE_GOING_AWAY   = 1001,
    WS_CLOSE_PROTOCOL     = 1002,
    WS_CLOSE_UNSUPPORTED  = 1003,
    WS_CLOSE_NO_STATUS    = 1005,  /* never sent: "no code in the Close" */
    WS_CLOSE_ABNORMAL     = 1006,  /* never sent: "no Close at all" */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY       = 1008,
    WS_CLOSE_TOO_BIG      = 1009,
    WS_CLOSE_EXTENSION    = 1010,
    WS_CLOSE_INTERNAL     = 1011,
    WS_CLOSE_TRY_AGAIN    = 1013,
};

#define WS_MAX_CONTROL_PAYLOAD 125        /* §5.5 */
#define WS_MAX_CLOSE_REASON    123        /* 125 minus the code */

/* The handshake is done: enter phase WS and call ep->on_open. */
void ws_open(struct conn *c, const struct endpoint *ep);

/* The conn_hooks.on_frames of both roles: parse, check, dispatch. */
void ws_input(struct conn *c, uint8_t *buf, size_t len);
/* The keepalive part of conn_hooks.on_tick: ping a silent peer, close one
 * that did not answer within the ping interval ("ping timeout"). */
void ws_tick(struct conn *c);

/* Send one message of len bytes. The payload must stay valid until
 * conn_flush(c) (see conn_send); a client masks a copy of it. Nothing is sent
 * once our Close is out (§5.5.1). */
void ws_send(struct conn *c, enum ws_opcode opcode, const void *payload, size_t len);
/* The same, but the payload is copied: for short-lived buffers. */
void ws_send_copy(struct conn *c, enum ws_opcode opcode, const void *payload, size_t len);
/* One message made of body (sent by reference, like ws_send) followed by a
 * copy of a short tail: "text - 42" on /rpc, a tick's per-client count. */
void ws_send_with_tail(struct conn *c, enum ws_opcode opcode, const void *body, size_t body_len,
                       const void *tail, size_t tail_len);
/* Encode a server frame once, for conn_send_msg() to many connections. */
struct msg *ws_frame_msg(enum ws_opcode opcode, const void *payload, size_t len);
/* Send a shared server frame made by ws_frame_msg(), counting it as a message. */
void ws_send_msg(struct conn *c, struct msg *m, size_t payload_len);

/* Before pushing a message the client did not ask for (a tick, a broadcast):
 * true if it may be queued. A client whose queued output is already over
 * env->max_pending is not reading: it is closed (1008, counted, logged) and
 * its queue freed at once, and false is returned. The client whose message
 * caused the push is exempt: its input is paused instead (conn.c). */
bool ws_can_push(struct conn *c);

/* Start the closing handshake (§7.1.2): send Close with code and reason,
 * then wait for the peer's Close until the close timeout. */
void ws_close(struct conn *c, uint16_t code, const char *reason);
/* Fail the connection (§7.1.7): send Close with code and reason, stop
 * reading frames, close. Logs the reason. */
void ws_fail(struct conn *c, uint16_t code, const char *reason);

/* May a peer send this code in a Close frame (§7.4)? */
bool ws_close_code_valid(uint16_t code);

#endif
