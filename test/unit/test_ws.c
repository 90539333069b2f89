/* test_ws.c -- the message layer (ws.c) alone: scripted client frames go in
 * through ws_input(), as conn.c would hand them over, and the test asserts
 * what reached the endpoint and which bytes the server wrote back (RFC 6455
 * §5.4 fragments, §5.5 control frames, §5.5.1 and §7 the close, §8.1 UTF-8).
 * Each script is fed whole and then one byte at a time, so the paths that
 * collect pieces in c->in are stepped through too.
 *
 * The connection is real (conn.c on one end of a socketpair, a reactor that
 * never runs: nothing waits for an event); the test reads the other end.
 * log.c is replaced by the stub below, so a breakpoint in ws_input() is a
 * few steps from the bytes of each case. ws.c counts in env.counts alone:
 * nothing of the server's stats is linked in. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "ws.h"

/* --- a stub for what the server links in --------------------------------- */

void log_msg(enum log_level level, const char *fmt, ...)
{
    (void)level, (void)fmt;
}

/* --- the endpoint: records every message ------------------------------- */

#define LIMIT 64                  /* the endpoint's max_message */

static struct {
    int count;                   /* messages delivered */
    enum ws_opcode opcode;       /* of the last one */
    uint8_t data[256];
    size_t len;
} got;

static void on_message(struct conn *c, enum ws_opcode opcode, uint8_t *data, size_t len)
{
    (void)c;
    got.count++;
    got.opcode = opcode;
    got.len = len < sizeof got.data ? len : sizeof got.data;
    memcpy(got.data, data, got.len);
}

static struct endpoint ep = { .name = "test", .max_message = LIMIT, .on_message = on_message };
static const struct conn_hooks hooks = { .on_frames = ws_input };

/* --- one connection ------------------------------------------------------ */

static struct reactor reactor;
static struct conn_env env;
static struct conn *conn;
static int client_fd;            /* the test's end: the "client" */

static void start_as(enum conn_role role)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    CHECK(reactor_init(&reactor) == 0);
    conn_env_init(&env, &reactor);
    conn = conn_new(&env, sv[0], sizeof *conn, role, &hooks, NULL);
    client_fd = sv[1];
    memset(&got, 0, sizeof got);
    ws_open(conn, &ep);
}

static void start(void)
{
    start_as(CONN_SERVER);
}

static void finish(void)
{
    conn_abort(conn, "test over");
    reactor_fini(&reactor);      /* runs the deferred free */
    close(client_fd);
}

/* A script: client frames back to back, masked as §5.3 asks of a client. */
struct script {
    uint8_t bytes[1024];
    size_t len;
};

static void add(struct script *s, bool fin, uint8_t opcode, const void *payload, size_t len)
{
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    uint8_t *out = s->bytes + s->len;
    size_t h = wsframe_write_header(out, fin, (enum ws_opcode)opcode, len, key);
    memcpy(out + h, payload, len);
    wsframe_mask(out + h, len, key, 0);
    s->len += h + len;
}

static void add_str(struct script *s, bool fin, uint8_t opcode, const char *text)
{
    add(s, fin, opcode, text, strlen(text));
}

/* Hand the script to ws.c in pieces of `step` bytes, as reads would, then
 * write the replies (conn.c's take_input() does the same). */
static void feed(const struct script *s, size_t step)
{
    static uint8_t copy[sizeof s->bytes];   /* ws.c unmasks in place */
    memcpy(copy, s->bytes, s->len);
    for (size_t at = 0; at < s->len; at += step) {
        size_t n = s->len - at < step ? s->len - at : step;
        env.reading = conn;
        if (conn->phase == CONN_WS || conn->phase == CONN_CLOSING)
            ws_input(conn, copy + at, n);
        env.reading = NULL;
    }
    conn_flush_pending();
}

/* What the server wrote; *eof: it also shut down writing (its FIN). */
static size_t output(uint8_t *out, size_t cap, bool *eof)
{
    size_t len = 0;
    ssize_t n;
    while (len < cap && (n = read(client_fd, out + len, cap - len)) > 0)
        len += (size_t)n;
    *eof = n == 0;
    return len;
}

/* The server's only output is a Close with this code, then its FIN. Its
 * reason is copied to reason[] (NUL-terminated). */
static void expect_close(uint16_t code, char reason[126])
{
    uint8_t out[256];
    bool eof;
    size_t len = output(out, sizeof out, &eof);
    CHECK(len >= 4);
    CHECK_EQ(out[0], 0x88);                  /* FIN + Close */
    CHECK_EQ(out[1] & 0x80, 0);              /* §5.1: a server never masks */
    CHECK_EQ(len, 2 + (size_t)out[1]);       /* nothing after the Close */
    CHECK_EQ(out[2] << 8 | out[3], code);
    CHECK(eof);
    size_t rlen = len >= 4 ? len - 4 : 0;
    memcpy(reason, out + 4, rlen);
    reason[rlen] = '\0';
}

/* Run the script whole and byte by byte; expect a Close with code and
 * nothing delivered. */
static void expect_failure(const struct script *s, uint16_t code)
{
    size_t steps[2] = { s->len, 1 };
    char reason[126];
    for (int i = 0; i < 2; i++) {
        start();
        feed(s, steps[i]);
        CHECK_EQ(got.count, 0);
        expect_close(code, reason);
        finish();
    }
}

/* --- fragmentation (§5.4) and control frames between fragments (§5.5) ---- */

static void test_ping_between_fragments(void)
{
    struct script s = {0};
    add_str(&s, false, WS_OP_TEXT, "Hel");
    add_str(&s, true, WS_OP_PING, "p");
    add_str(&s, true, WS_OP_CONT, "lo");
    size_t steps[2] = { s.len, 1 };
    for (int i = 0; i < 2; i++) {
        start();
        feed(&s, steps[i]);
        CHECK_EQ(got.count, 1);
        CHECK_EQ(got.opcode, WS_OP_TEXT);
        CHECK_MEM(got.data, got.len, "Hello", 5);
        uint8_t out[64];
        bool eof;
        static const uint8_t pong[] = { 0x8a, 0x01, 'p' };  /* unmasked (§5.1) */
        CHECK_MEM(out, output(out, sizeof out, &eof), pong, sizeof pong);
        CHECK(!eof);
        finish();
    }
}

static void test_binary_in_three_fragments(void)
{
    struct script s = {0};
    add(&s, false, WS_OP_BINARY, "\x00\x01", 2);
    add(&s, false, WS_OP_CONT, "", 0);
    add(&s, true, WS_OP_CONT, "\xff", 1);
    start();
    feed(&s, 1);
    CHECK_EQ(got.count, 1);
    CHECK_EQ(got.opcode, WS_OP_BINARY);
    CHECK_MEM(got.data, got.len, "\x00\x01\xff", 3);
    finish();
}

static void test_continuation_without_start(void)
{
    struct script s = {0};
    add_str(&s, true, WS_OP_CONT, "x");
    expect_failure(&s, WS_CLOSE_PROTOCOL);
}

static void test_data_frame_inside_fragmented(void)
{
    struct script s = {0};
    add_str(&s, false, WS_OP_TEXT, "a");
    add_str(&s, true, WS_OP_TEXT, "b");
    expect_failure(&s, WS_CLOSE_PROTOCOL);
}

static void test_control_frame_over_125(void)
{
    uint8_t big[126] = {0};
    struct script s = {0};
    add(&s, true, WS_OP_PING, big, sizeof big);
    expect_failure(&s, WS_CLOSE_PROTOCOL);
}

static void test_fragmented_control_frame(void)
{
    struct script s = {0};
    add_str(&s, false, WS_OP_PING, "p");
    expect_failure(&s, WS_CLOSE_PROTOCOL);
}

/* --- frame checks (§5.1, §5.2) ------------------------------------------- */

static void test_unmasked_client_frame(void)
{
    struct script s = { .bytes = { 0x81, 0x01, 'x' }, .len = 3 };
    expect_failure(&s, WS_CLOSE_PROTOCOL);
}

static void test_reserved_bits(void)
{
    struct script s = {0};
    add_str(&s, true, WS_OP_TEXT, "x");
    s.bytes[0] |= 0x40;                      /* RSV1, no extension agreed */
    expect_failure(&s, WS_CLOSE_PROTOCOL);
}

static void test_reserved_opcodes(void)
{
    static const uint8_t reserved[] = { 3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf };
    for (size_t i = 0; i < sizeof reserved; i++) {
        struct script s = {0};
        add_str(&s, true, reserved[i], "x");
        expect_failure(&s, WS_CLOSE_PROTOCOL);
    }
}

/* --- UTF-8 (§5.6, §8.1) -------------------------------------------------- */

static void test_utf8_split_valid(void)
{
    struct script s = {0};
    add_str(&s, false, WS_OP_TEXT, "caf\xc3");
    add_str(&s, true, WS_OP_CONT, "\xa9");
    start();
    feed(&s, s.len);
    CHECK_EQ(got.count, 1);
    CHECK_MEM(got.data, got.len, "caf\xc3\xa9", 5);
    finish();
}

static void test_utf8_split_invalid(void)
{
    struct script s = {0};
    add_str(&s, false, WS_OP_TEXT, "caf\xc3");
    add_str(&s, true, WS_OP_CONT, "(");      /* not a continuation byte */
    expect_failure(&s, WS_CLOSE_INVALID_DATA);
}

static void test_utf8_ends_inside_character(void)
{
    struct script s = {0};
    add_str(&s, true, WS_OP_TEXT, "caf\xc3");
    expect_failure(&s, WS_CLOSE_INVALID_DATA);
}

/* --- the closing handshake (§5.5.1, §7) ---------------------------------- */

static void test_close_one_byte(void)
{
    struct script s = {0};
    add(&s, true, WS_OP_CLOSE, "\x03", 1);
    expect_failure(&s, WS_CLOSE_PROTOCOL);
}

static void test_close_invalid_code(void)
{
    static const uint16_t bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t p[2] = { (uint8_t)(bad[i] >> 8), (uint8_t)bad[i] };
        struct script s = {0};
        add(&s, true, WS_OP_CLOSE, p, 2);
        expect_failure(&s, WS_CLOSE_PROTOCOL);
    }
}

static void test_close_reason_not_utf8(void)
{
    struct script s = {0};
    add(&s, true, WS_OP_CLOSE, "\x03\xe8\xff", 3);
    expect_failure(&s, WS_CLOSE_INVALID_DATA);
}

static void test_close_code_echoed(void)
{
    struct script s = {0};
    add(&s, true, WS_OP_CLOSE, "\x0b\xb8" "bye", 5);     /* 3000 */
    char reason[126];
    start();
    feed(&s, 1);
    expect_close(3000, reason);
    CHECK_STR(reason, "");
    finish();
}

static void test_empty_close_answered_empty(void)
{
    struct script s = {0};
    add(&s, true, WS_OP_CLOSE, "", 0);
    uint8_t out[16];
    bool eof;
    start();
    feed(&s, s.len);
    CHECK_MEM(out, output(out, sizeof out, &eof), "\x88\x00", 2);
    CHECK(eof);
    CHECK_EQ(conn->close_code, WS_CLOSE_NO_STATUS);
    finish();
}

/* §7.1.7: once the connection is failed, the frames behind the bad one (in
 * the same read or later) are not processed: nothing reaches the endpoint,
 * no pong, one Close. */
static void test_nothing_after_failing(void)
{
    struct script s = {0};
    add_str(&s, true, WS_OP_CONT, "bad");
    add_str(&s, true, WS_OP_TEXT, "after");
    add_str(&s, true, WS_OP_PING, "p");
    expect_failure(&s, WS_CLOSE_PROTOCOL);
    start();
    feed(&s, s.len);
    feed(&s, s.len);                         /* a later read */
    CHECK_EQ(got.count, 0);
    char reason[126];
    expect_close(WS_CLOSE_PROTOCOL, reason);
    finish();
}

/* §5.5.1, §7.1.2: after our Close, no data frame goes out; the peer's data
 * is read and dropped until its Close. */
static void test_after_our_close(void)
{
    struct script s = {0};
    add_str(&s, true, WS_OP_TEXT, "late");
    add(&s, true, WS_OP_CLOSE, "\x03\xe8", 2);
    uint8_t out[64];
    bool eof;
    start();
    ws_close(conn, WS_CLOSE_GOING_AWAY, "bye");
    ws_send(conn, WS_OP_TEXT, "no", 2);
    feed(&s, 1);
    CHECK_EQ(got.count, 0);
    CHECK_MEM(out, output(out, sizeof out, &eof), "\x88\x05\x03\xe9" "bye", 7);
    CHECK(eof);
    CHECK_EQ(conn->close_code, WS_CLOSE_NORMAL);
    finish();
}

/* §5.5: our own Close stays within 125 bytes, however long the reason. */
static void test_our_close_within_125(void)
{
    char reason[200];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    uint8_t out[256];
    bool eof;
    start();
    ws_close(conn, WS_CLOSE_NORMAL, reason);
    CHECK_EQ(output(out, sizeof out, &eof), 2 + 125);
    CHECK_EQ(out[1], 125);
    CHECK(!eof);                             /* waiting for the peer's Close */
    finish();
}

/* --- limits -------------------------------------------------------------- */

static void test_message_over_limit(void)
{
    uint8_t big[LIMIT + 1] = {0};
    struct script whole = {0}, pieces = {0};
    add(&whole, true, WS_OP_BINARY, big, sizeof big);
    whole.len = 6;                           /* the header alone is enough */
    add(&pieces, false, WS_OP_BINARY, big, LIMIT / 2);
    add(&pieces, true, WS_OP_CONT, big, LIMIT / 2 + 1);
    struct script *cases[] = { &whole, &pieces };
    for (int i = 0; i < 2; i++) {
        char reason[126];
        start();
        feed(cases[i], 1);
        CHECK_EQ(got.count, 0);
        expect_close(WS_CLOSE_TOO_BIG, reason);
        CHECK_STR(reason, "message exceeds 64 bytes");   /* the limit named */
        finish();
    }
}

static void test_message_at_limit(void)
{
    uint8_t big[LIMIT] = {0};
    struct script s = {0};
    add(&s, true, WS_OP_BINARY, big, sizeof big);
    start();
    feed(&s, s.len);
    CHECK_EQ(got.count, 1);
    CHECK_EQ(got.len, LIMIT);
    finish();
}

/* The limits ws.c enforces are counted in the loop's env, nowhere else. */
static void test_limits_counted_in_the_loop(void)
{
    struct script two = {0}, part = {0};
    add_str(&two, true, WS_OP_TEXT, "a");
    add_str(&two, true, WS_OP_TEXT, "b");
    add_str(&part, false, WS_OP_TEXT, "too much");
    char reason[126];
    start();
    env.rate_limit = 1;                      /* one message a second */
    conn->rate_tokens = 1000;
    feed(&two, two.len);
    CHECK_EQ(got.count, 1);
    expect_close(WS_CLOSE_POLICY, reason);
    CHECK_EQ(env.counts.rate_limited, 1);
    finish();
    start();
    env.max_buffered = 4;                    /* --max-buffered */
    feed(&part, part.len);
    expect_close(WS_CLOSE_TRY_AGAIN, reason);
    CHECK_EQ(env.counts.over_buffered, 1);
    CHECK_EQ(env.counts.rate_limited, 0);    /* a fresh loop */
    finish();
}

/* --- the client role (§5.1, §5.3) --------------------------------------- */

/* Every client frame is masked, each with a fresh key. */
static void test_client_masks_its_frames(void)
{
    uint8_t out[64];
    bool eof;
    start_as(CONN_CLIENT);
    ws_send(conn, WS_OP_TEXT, "Hello", 5);
    ws_send(conn, WS_OP_TEXT, "Hello", 5);
    conn_flush_pending();
    CHECK_EQ(output(out, sizeof out, &eof), 2 * 11);
    for (int i = 0; i < 2; i++) {
        uint8_t *f = out + 11 * i;
        CHECK_EQ(f[0], 0x81);
        CHECK_EQ(f[1], 0x80 | 5);            /* the mask bit */
        wsframe_mask(f + 6, 5, f + 2, 0);
        CHECK_MEM(f + 6, 5, "Hello", 5);
    }
    CHECK(memcmp(out + 2, out + 13, 4) != 0);
    finish();
}

/* A client fails a masked frame from the server, with its own Close masked. */
static void test_client_fails_masked_server_frame(void)
{
    struct script s = {0};
    add_str(&s, true, WS_OP_TEXT, "x");      /* masked, as only a client may */
    uint8_t out[64];
    bool eof;
    start_as(CONN_CLIENT);
    feed(&s, s.len);
    CHECK_EQ(got.count, 0);
    size_t len = output(out, sizeof out, &eof);
    CHECK(len >= 8);
    CHECK_EQ(out[0], 0x88);
    CHECK_EQ(out[1] & 0x80, 0x80);
    wsframe_mask(out + 6, len - 6, out + 2, 0);
    CHECK_EQ(out[6] << 8 | out[7], WS_CLOSE_PROTOCOL);
    CHECK(eof);
    finish();
}

int main(void)
{
    test_ping_between_fragments();
    test_binary_in_three_fragments();
    test_continuation_without_start();
    test_data_frame_inside_fragmented();
    test_control_frame_over_125();
    test_fragmented_control_frame();
    test_unmasked_client_frame();
    test_reserved_bits();
    test_reserved_opcodes();
    test_utf8_split_valid();
    test_utf8_split_invalid();
    test_utf8_ends_inside_character();
    test_close_one_byte();
    test_close_invalid_code();
    test_close_reason_not_utf8();
    test_close_code_echoed();
    test_empty_close_answered_empty();
    test_nothing_after_failing();
    test_after_our_close();
    test_our_close_within_125();
    test_message_over_limit();
    test_message_at_limit();
    test_limits_counted_in_the_loop();
    test_client_masks_its_frames();
    test_client_fails_masked_server_frame();
    return check_report("ws");
}
