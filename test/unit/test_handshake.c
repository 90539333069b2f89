/* test_handshake.c -- the client's half of the opening handshake (RFC 6455
 * §4.1): its key, its request, and every check of the server's answer. The
 * server's half is tested against the running binary (test_handshake.py,
 * conformance section H). */
#include "check.h"
#include "base64.h"
#include "handshake.h"

/* §1.3's sample: this key's accept value. */
static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static long answer(const char *response, const char **why)
{
    char status[96];
    return handshake_client_response(response, strlen(response), key, why, status,
                                     sizeof status);
}

static void test_client_key_is_16_random_bytes(void)
{
    char a[HANDSHAKE_KEY_LEN + 1], b[HANDSHAKE_KEY_LEN + 1];
    uint8_t raw[18];
    CHECK_EQ(handshake_client_key(a), 0);
    CHECK_EQ(handshake_client_key(b), 0);
    CHECK_EQ(strlen(a), HANDSHAKE_KEY_LEN);
    CHECK_EQ(base64_decode(a, strlen(a), raw, sizeof raw), 16);
    CHECK(strcmp(a, b) != 0);                /* a fresh nonce each time */
}

static void test_client_request_has_every_field(void)
{
    char req[512];
    size_t n = handshake_client_request(req, sizeof req, "::1", 8970, "/ws?x=1", key, NULL);
    CHECK(n > 0);
    CHECK(strstr(req, "GET /ws?x=1 HTTP/1.1\r\n") == req);
    CHECK(strstr(req, "\r\nHost: [::1]:8970\r\n"));
    CHECK(strstr(req, "\r\nUpgrade: websocket\r\n"));
    CHECK(strstr(req, "\r\nConnection: Upgrade\r\n"));
    CHECK(strstr(req, "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    CHECK(strstr(req, "\r\nSec-WebSocket-Version: 13\r\n"));
    CHECK(strcmp(req + n - 4, "\r\n\r\n") == 0);
}

static void test_client_accepts_a_valid_answer(void)
{
    const char *why;
    const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n\r\n";
    CHECK_EQ(answer(ok, &why), strlen(ok));
    CHECK(why == NULL);
}

static void test_client_fails_a_bad_answer(void)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n",                         /* not 101 */
        "HTTP/1.1 101 x\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
        "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
        "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",       /* wrong value */
        "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Extensions: x\r\n\r\n",
        "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"  /* §4.1 item 6 */
        "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why;
        CHECK_EQ(answer(bad[i], &why), -1);
        CHECK(why != NULL);
    }
    const char *why;                         /* one that names a subprotocol, said so */
    answer(bad[sizeof bad / sizeof bad[0] - 1], &why);
    CHECK_STR(why, "server chose a subprotocol we did not ask for");
}

int main(void)
{
    test_client_key_is_16_random_bytes();
    test_client_request_has_every_field();
    test_client_accepts_a_valid_answer();
    test_client_fails_a_bad_answer();
    return check_report("handshake");
}
