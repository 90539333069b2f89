/* test_http.c -- the request-head parser (RFC 9112) on whole, split,
 * pipelined and broken input, also fed a byte at a time as the server feeds
 * it (struct http_scan); token lists; response heads byte for byte. */
#include "check.h"
#include "http.h"

#include <stdlib.h>

/* Parse a copy of in[0..len) in a heap block of exactly len bytes, so ASan
 * sees a read one byte past the end (a string literal's NUL would hide it).
 * Spans in *req point into freed memory afterwards: compare only results. */
static ssize_t parse_exact(const char *in, size_t len, struct http_request *req)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, in, len);
    ssize_t r = http_parse_request(copy, len, req, NULL);
    free(copy);
    return r;
}

/* The server's way: the head one byte longer at each call, the progress
 * kept in a struct http_scan. Every answer must be the one a parse from the
 * start gives for the same bytes. Returns the last: at len bytes, or the
 * first that is not HTTP_INCOMPLETE. */
static ssize_t parse_byte_by_byte(const char *in, size_t len, struct http_request *req)
{
    struct http_scan scan = {0};
    struct http_request whole;
    ssize_t r = HTTP_INCOMPLETE;
    int differ = 0;
    for (size_t k = 1; k <= len && r == HTTP_INCOMPLETE; k++) {
        r = http_parse_request(in, k, req, &scan);
        differ += r != http_parse_request(in, k, &whole, NULL);
    }
    CHECK_EQ(differ, 0);
    return r;
}

/* Parsed whole, and byte by byte with the same answer. */
static ssize_t parse(const char *s, struct http_request *req)
{
    ssize_t r = parse_byte_by_byte(s, strlen(s), req);
    CHECK_EQ(http_parse_request(s, strlen(s), req, NULL), r);
    return r;
}

static bool span_is(const struct http_span *span, const char *s)
{
    return span && http_span_eq(span, s);
}

/* --- accepted requests ------------------------------------------------------ */

static void test_minimal_get(void)
{
    struct http_request req;
    const char *in = "GET / HTTP/1.1\r\n\r\n";
    CHECK_EQ(parse(in, &req), strlen(in));
    CHECK(span_is(&req.method, "GET"));
    CHECK(span_is(&req.target, "/"));
    CHECK_EQ(req.minor_version, 1);
    CHECK_EQ(req.num_headers, 0);
}

static const char upgrade[] =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://localhost:8080\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

static void check_upgrade(const struct http_request *req)
{
    CHECK(span_is(&req->method, "GET"));
    CHECK(span_is(&req->target, "/chat?room=1"));
    CHECK_EQ(req->minor_version, 1);
    CHECK_EQ(req->num_headers, 12);
    CHECK(span_is(&req->headers[0].name, "Host"));
    CHECK(span_is(&req->headers[0].value, "localhost:8080"));
    CHECK(span_is(http_header_get(req, "sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ=="));
    CHECK(span_is(http_header_get(req, "SEC-WEBSOCKET-VERSION"), "13"));
    CHECK(span_is(http_header_get(req, "Upgrade"), "websocket"));
    CHECK(http_has_token(http_header_get(req, "connection"), "upgrade"));
    CHECK(span_is(http_header_get(req, "Sec-WebSocket-Extensions"),
                  "permessage-deflate; client_max_window_bits"));
}

static void test_browser_upgrade(void)
{
    struct http_request req;
    CHECK_EQ(parse(upgrade, &req), sizeof upgrade - 1);
    check_upgrade(&req);
}

/* Each prefix is incomplete; the whole gives the same answer as in one read. */
static void test_split_anywhere(void)
{
    size_t len = sizeof upgrade - 1;
    int early = 0;
    for (size_t cut = 0; cut < len; cut++) {
        struct http_request req;
        early += parse_exact(upgrade, cut, &req) != HTTP_INCOMPLETE;
    }
    CHECK_EQ(early, 0);
    char *copy = malloc(len);
    struct http_request req;
    memcpy(copy, upgrade, len);
    CHECK_EQ(http_parse_request(copy, len, &req, NULL), len);
    check_upgrade(&req);
    free(copy);
}

/* A head that arrives a byte at a time, as a slow client sends it: each call
 * looks only at the new byte (scan.scanned follows the bytes, held back one
 * at a CR whose LF may come next), and the last gives the whole head. */
static void test_head_byte_by_byte(void)
{
    struct http_scan scan = {0};
    struct http_request req;
    size_t len = sizeof upgrade - 1;
    int wrong = 0;
    for (size_t k = 1; k < len; k++) {
        wrong += http_parse_request(upgrade, k, &req, &scan) != HTTP_INCOMPLETE;
        wrong += scan.scanned != k - (upgrade[k - 1] == '\r');
    }
    CHECK_EQ(wrong, 0);
    CHECK_EQ(scan.lines, 13);                /* the request line and 12 headers */
    CHECK_EQ(http_parse_request(upgrade, len, &req, &scan), len);
    check_upgrade(&req);
}

/* The bytes before scan.line are not read again until the head is complete:
 * spoiled after they were scanned, they go unnoticed (a parse from the start
 * would refuse them), while a bad byte that arrives is refused at once. */
static void test_scan_reads_only_new_bytes(void)
{
    char buf[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: bbb";
    struct http_scan scan = {0};
    struct http_request req;
    size_t n = strlen("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: b");
    CHECK_EQ(http_parse_request(buf, n, &req, &scan), HTTP_INCOMPLETE);
    CHECK_EQ(scan.line, strlen("GET / HTTP/1.1\r\nHost: a\r\n"));
    CHECK_EQ(scan.scanned, n);
    buf[0] = '\x01';                         /* already looked at */
    CHECK_EQ(http_parse_request(buf, n + 2, &req, NULL), HTTP_ERR_MALFORMED);
    CHECK_EQ(http_parse_request(buf, n + 2, &req, &scan), HTTP_INCOMPLETE);
    buf[n + 2] = '\x01';                     /* new */
    CHECK_EQ(http_parse_request(buf, n + 3, &req, &scan), HTTP_ERR_MALFORMED);
}

/* The response parser (the client's) keeps its progress the same way. */
static void test_response_byte_by_byte(void)
{
    static const char in[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\n\r\n\x81\x00";
    struct http_scan scan = {0};
    struct http_response res, whole;
    size_t head = sizeof in - 3;
    int differ = 0;
    for (size_t k = 1; k < head; k++)
        differ += http_parse_response(in, k, &res, &scan) != http_parse_response(in, k, &whole,
                                                                                   NULL);
    CHECK_EQ(differ, 0);
    CHECK_EQ(http_parse_response(in, sizeof in - 1, &res, &scan), head);
    CHECK_EQ(res.status, 101);
    CHECK_EQ(res.num_headers, 2);
    static const char bad[] = "HTTP/1.1 1x1 \r\n";   /* refused at its line's end */
    struct http_scan fresh = {0};
    for (size_t k = 1; k < sizeof bad - 1; k++)
        CHECK_EQ(http_parse_response(bad, k, &res, &fresh), HTTP_INCOMPLETE);
    CHECK_EQ(http_parse_response(bad, sizeof bad - 1, &res, &fresh), HTTP_ERR_MALFORMED);
}

/* The first WebSocket frame may arrive with the head: it stays with the caller. */
static void test_bytes_after_head(void)
{
    char buf[sizeof upgrade + 11];
    struct http_request req;
    memcpy(buf, upgrade, sizeof upgrade - 1);
    memcpy(buf + sizeof upgrade - 1, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
    CHECK_EQ(http_parse_request(buf, sizeof upgrade - 1 + 11, &req, NULL), sizeof upgrade - 1);
    check_upgrade(&req);
}

static void test_pipelined(void)
{
    const char *in = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                     "HEAD /b HTTP/1.0\r\nHost: y\r\n\r\n";
    struct http_request req;
    ssize_t n = parse(in, &req);
    CHECK_EQ(n, 28);
    CHECK(span_is(&req.target, "/a"));
    CHECK(span_is(http_header_get(&req, "host"), "x"));
    CHECK_EQ(parse(in + n, &req), strlen(in) - 28);
    CHECK(span_is(&req.method, "HEAD"));
    CHECK(span_is(&req.target, "/b"));
    CHECK_EQ(req.minor_version, 0);
    CHECK(span_is(http_header_get(&req, "host"), "y"));
}

static void test_lf_only(void)
{
    const char *in = "GET /x HTTP/1.1\nHost: a\nAccept: */*\n\nrest";
    struct http_request req;
    CHECK_EQ(parse(in, &req), strlen(in) - 4);
    CHECK(span_is(&req.target, "/x"));
    CHECK_EQ(req.num_headers, 2);
    CHECK(span_is(http_header_get(&req, "accept"), "*/*"));
    /* Mixed endings are lines all the same. */
    in = "GET / HTTP/1.1\nHost: a\r\n\n";
    CHECK_EQ(parse(in, &req), strlen(in));
    CHECK(span_is(http_header_get(&req, "Host"), "a"));
}

/* RFC 9112 §2.2: empty lines before the request line are skipped. */
static void test_leading_empty_lines(void)
{
    const char *in = "\r\n\nGET / HTTP/1.1\r\n\r\n";
    struct http_request req;
    CHECK_EQ(parse(in, &req), strlen(in));
    CHECK(span_is(&req.method, "GET"));
    CHECK_EQ(parse("\r\n\r\n", &req), HTTP_INCOMPLETE);
}

static void test_values_trimmed(void)
{
    const char *in = "GET / HTTP/1.1\r\n"
                     "A:   spaced out \t \r\n"
                     "B:\r\n"
                     "C: \t \r\n"
                     "D:tight\r\n"
                     "E: caf\xc3\xa9 \x80\xff\r\n"
                     "F: in\tside\r\n\r\n";
    struct http_request req;
    CHECK_EQ(parse(in, &req), strlen(in));
    CHECK_EQ(req.num_headers, 6);
    CHECK(span_is(http_header_get(&req, "a"), "spaced out"));
    CHECK(span_is(http_header_get(&req, "b"), ""));
    CHECK(span_is(http_header_get(&req, "c"), ""));
    CHECK(span_is(http_header_get(&req, "d"), "tight"));
    CHECK(span_is(http_header_get(&req, "e"), "caf\xc3\xa9 \x80\xff"));
    CHECK(span_is(http_header_get(&req, "f"), "in\tside"));
}

static void test_odd_but_valid_request_lines(void)
{
    struct http_request req;
    CHECK_EQ(parse("OPTIONS * HTTP/1.1\r\n\r\n", &req), 22);
    CHECK(span_is(&req.target, "*"));
    CHECK_EQ(parse("M-SEARCH! http://a/b?c=%20 HTTP/1.9\r\n\r\n", &req), 39);
    CHECK(span_is(&req.method, "M-SEARCH!"));
    CHECK_EQ(req.minor_version, 9);
}

static void test_header_limits(void)
{
    /* 64 headers fit; the head may be 8192 bytes exactly. */
    char buf[HTTP_MAX_HEADER_BYTES + 64];
    struct http_request req;
    size_t n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS; i++)
        n += (size_t)sprintf(buf + n, "X-%d: v\r\n", i);
    n += (size_t)sprintf(buf + n, "\r\n");
    CHECK_EQ(http_parse_request(buf, n, &req, NULL), n);
    CHECK_EQ(req.num_headers, HTTP_MAX_HEADERS);
    CHECK(span_is(&req.headers[63].name, "X-63"));

    const char *head = "GET / HTTP/1.1\r\nX: ";
    n = strlen(head);
    memcpy(buf, head, n);
    memset(buf + n, 'a', HTTP_MAX_HEADER_BYTES - n - 4);
    memcpy(buf + HTTP_MAX_HEADER_BYTES - 4, "\r\n\r\n", 4);
    CHECK_EQ(http_parse_request(buf, HTTP_MAX_HEADER_BYTES, &req, NULL), HTTP_MAX_HEADER_BYTES);
    CHECK_EQ(http_parse_request(buf, HTTP_MAX_HEADER_BYTES - 1, &req, NULL), HTTP_INCOMPLETE);
}

/* --- rejected requests: each its own case -------------------------------------- */

/* The whole input gives `want`; no prefix gives a different error. */
static void check_rejected(const char *in, size_t len, ssize_t want)
{
    struct http_request req;
    int bad_prefix = 0;
    CHECK_EQ(parse_exact(in, len, &req), want);
    CHECK_EQ(parse_byte_by_byte(in, len, &req), want);
    for (size_t cut = 0; cut < len; cut++) {
        ssize_t r = parse_exact(in, cut, &req);
        bad_prefix += r != HTTP_INCOMPLETE && r != want;
    }
    CHECK_EQ(bad_prefix, 0);
}

static void reject(const char *in, ssize_t want)
{
    check_rejected(in, strlen(in), want);
}

static void test_reject_bare_cr(void)
{
    reject("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.1\rHost: a\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", HTTP_ERR_MALFORMED);
}

static void test_reject_space_before_colon(void)
{
    reject("GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", HTTP_ERR_MALFORMED);
}

static void test_reject_obs_fold(void)
{
    reject("GET / HTTP/1.1\r\nX-Long: a\r\n b\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.1\r\nX-Long: a\r\n\tb\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.1\r\n Host: a\r\n\r\n", HTTP_ERR_MALFORMED);
}

static void test_reject_control_in_value(void)
{
    reject("GET / HTTP/1.1\r\nX: a\x01" "b\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.1\r\nX: a\x1b[0m\r\n\r\n", HTTP_ERR_MALFORMED);
}

static void test_reject_nul(void)
{
    static const char in[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    check_rejected(in, sizeof in - 1, HTTP_ERR_MALFORMED);
    static const char in2[] = "GET /\0 HTTP/1.1\r\n\r\n";
    check_rejected(in2, sizeof in2 - 1, HTTP_ERR_MALFORMED);
}

static void test_reject_bad_method(void)
{
    reject("G@T / HTTP/1.1\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GE(T / HTTP/1.1\r\n\r\n", HTTP_ERR_MALFORMED);
    reject(" / HTTP/1.1\r\n\r\n", HTTP_ERR_MALFORMED);
}

static void test_reject_missing_version(void)
{
    reject("GET /\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / \r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET\r\n\r\n", HTTP_ERR_MALFORMED);
}

static void test_reject_other_versions(void)
{
    reject("GET / HTTP/2.0\r\n\r\n", HTTP_ERR_VERSION);
    reject("GET / HTTP/0.9\r\n\r\n", HTTP_ERR_VERSION);
    reject("GET / http/1.1\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.10\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.1 \r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/2\r\n\r\n", HTTP_ERR_MALFORMED);
}

static void test_reject_double_space(void)
{
    reject("GET  / HTTP/1.1\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET /  HTTP/1.1\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET\t/ HTTP/1.1\r\n\r\n", HTTP_ERR_MALFORMED);
}

static void test_reject_bad_target(void)
{
    reject("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET /a\tb HTTP/1.1\r\n\r\n", HTTP_ERR_MALFORMED);
}

static void test_reject_empty_header_name(void)
{
    reject("GET / HTTP/1.1\r\n: value\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.1\r\nNoColon\r\n\r\n", HTTP_ERR_MALFORMED);
    reject("GET / HTTP/1.1\r\nBad/Name: v\r\n\r\n", HTTP_ERR_MALFORMED);
}

static void test_reject_too_many_bytes(void)
{
    char *buf = malloc(HTTP_MAX_HEADER_BYTES + 1);
    struct http_request req;
    const char *head = "GET / HTTP/1.1\r\nX: ";
    memcpy(buf, head, strlen(head));
    memset(buf + strlen(head), 'a', HTTP_MAX_HEADER_BYTES + 1 - strlen(head));
    CHECK_EQ(http_parse_request(buf, HTTP_MAX_HEADER_BYTES - 1, &req, NULL), HTTP_INCOMPLETE);
    CHECK_EQ(http_parse_request(buf, HTTP_MAX_HEADER_BYTES, &req, NULL), HTTP_ERR_TOO_LARGE);
    CHECK_EQ(http_parse_request(buf, HTTP_MAX_HEADER_BYTES + 1, &req, NULL), HTTP_ERR_TOO_LARGE);
    /* A head one byte too long is refused even when it arrives complete. */
    memcpy(buf + HTTP_MAX_HEADER_BYTES - 3, "\r\n\r\n", 4);
    CHECK_EQ(http_parse_request(buf, HTTP_MAX_HEADER_BYTES + 1, &req, NULL), HTTP_ERR_TOO_LARGE);
    /* Only empty lines, forever. */
    for (size_t i = 0; i + 1 < HTTP_MAX_HEADER_BYTES; i += 2)
        memcpy(buf + i, "\r\n", 2);
    CHECK_EQ(http_parse_request(buf, HTTP_MAX_HEADER_BYTES, &req, NULL), HTTP_ERR_TOO_LARGE);
    free(buf);
}

static void test_reject_too_many_headers(void)
{
    char buf[2048];
    size_t n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
        n += (size_t)sprintf(buf + n, "X-%d: v\r\n", i);
    n += (size_t)sprintf(buf + n, "\r\n");
    check_rejected(buf, n, HTTP_ERR_TOO_LARGE);
}

/* --- lookups ---------------------------------------------------------------- */

static bool has(const char *value, const char *token)
{
    struct http_span span = { value, strlen(value) };
    return http_has_token(&span, token);
}

static void test_tokens(void)
{
    CHECK(has("Upgrade", "upgrade"));
    CHECK(has("keep-alive, Upgrade", "Upgrade"));
    CHECK(has("keep-alive,Upgrade", "upgrade"));
    CHECK(has("  UPGRADE  ", "upgrade"));
    CHECK(has(" , ,upgrade,, ", "upgrade"));
    CHECK(has("keep-alive\t,\tupgrade", "upgrade"));
    CHECK(has("upgrade, keep-alive", "keep-alive"));
    CHECK(!has("upgrades", "upgrade"));
    CHECK(!has("up", "upgrade"));
    CHECK(!has("keep-alive", "upgrade"));
    CHECK(!has("xupgrade, upgradex", "upgrade"));
    CHECK(!has("up grade", "upgrade"));
    CHECK(!has("", "upgrade"));
    CHECK(!has(" , ", "upgrade"));
    struct http_span empty = { NULL, 0 };
    CHECK(!http_has_token(&empty, "upgrade"));
}

static void test_span_compare(void)
{
    struct http_span s = { "WebSocket", 9 };
    CHECK(http_span_eq(&s, "WebSocket"));
    CHECK(!http_span_eq(&s, "websocket"));
    CHECK(!http_span_eq(&s, "WebSock"));
    CHECK(!http_span_eq(&s, "WebSockets"));
    CHECK(http_span_case_eq(&s, "websocket"));
    CHECK(http_span_case_eq(&s, "WEBSOCKET"));
    CHECK(!http_span_case_eq(&s, "websockets"));
    CHECK(!http_span_case_eq(&s, "websocke"));
    struct http_span empty = { NULL, 0 };
    CHECK(http_span_eq(&empty, ""));
    CHECK(http_span_case_eq(&empty, ""));
}

static void test_header_get(void)
{
    const char *in = "GET / HTTP/1.1\r\nHOST: one\r\nhost: two\r\nX-A: b\r\n\r\n";
    struct http_request req;
    CHECK_EQ(parse(in, &req), strlen(in));
    CHECK(span_is(http_header_get(&req, "Host"), "one"));
    CHECK(span_is(http_header_get(&req, "x-a"), "b"));
    CHECK(http_header_get(&req, "X-B") == NULL);
    CHECK(http_header_get(&req, "X") == NULL);
    CHECK(http_header_get(&req, "x-a-longer") == NULL);
}

/* RFC 9112 §6.3 / RFC 9110 §8.6: one line of 1*DIGIT, or an error. */
static int content_length(const char *head, uint64_t *len)
{
    struct http_request req;
    CHECK_EQ(parse(head, &req), strlen(head));
    return http_content_length(&req, len);
}

static void test_content_length(void)
{
    uint64_t len = 7;
    CHECK_EQ(content_length("GET / HTTP/1.1\r\n\r\n", &len), 0);
    CHECK_EQ(len, 7);
    CHECK_EQ(content_length("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &len), 1);
    CHECK_EQ(len, 0);
    CHECK_EQ(content_length("GET / HTTP/1.1\r\ncontent-length:  42 \r\n\r\n", &len), 1);
    CHECK_EQ(len, 42);
    CHECK_EQ(content_length("GET / HTTP/1.1\r\nContent-Length: 007\r\n\r\n", &len), 1);
    CHECK_EQ(len, 7);
    CHECK_EQ(content_length("GET / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n",
                            &len), 1);
    CHECK(len == UINT64_MAX);
}

static void test_content_length_rejected(void)
{
    static const char *const bad[] = {
        "Content-Length: 0\r\nContent-Length: 5",     /* two values: two framings */
        "Content-Length: 5\r\nContent-Length: 5",     /* even the same one twice */
        "Content-Length: 5, 5", "Content-Length: 0,5", "Content-Length: ",
        "Content-Length: +5", "Content-Length: -1", "Content-Length: 5 5",
        "Content-Length: 0x10", "Content-Length: 5a", "Content-Length: \t",
        "Content-Length: 18446744073709551616", "Content-Length: 99999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char head[256];
        uint64_t len = 7;
        snprintf(head, sizeof head, "GET / HTTP/1.1\r\n%s\r\n\r\n", bad[i]);
        int r = content_length(head, &len);
        if (r != HTTP_ERR_MALFORMED)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_EQ(r, HTTP_ERR_MALFORMED);
        CHECK_EQ(len, 7);
    }
}

static void test_reasons(void)
{
    static const int codes[] = { 101, 200, 204, 301, 304, 400, 401, 403, 404, 405, 408,
                                 413, 426, 429, 431, 500, 501, 503, 505 };
    int unknown = 0;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        unknown += strcmp(http_reason(codes[i]), "Unknown") == 0;
    CHECK_EQ(unknown, 0);
    CHECK_STR(http_reason(101), "Switching Protocols");
    CHECK_STR(http_reason(404), "Not Found");
    CHECK_STR(http_reason(431), "Request Header Fields Too Large");
    CHECK_STR(http_reason(505), "HTTP Version Not Supported");
    CHECK_STR(http_reason(299), "Unknown");
    CHECK_STR(http_reason(-1), "Unknown");
}

/* --- response heads -------------------------------------------------------- */

static void check_head(int status, const char *type, size_t length, bool keep_alive,
                       const char *extra, const char *want)
{
    char out[512];
    size_t n = http_write_head(out, sizeof out, status, type, length, keep_alive, extra);
    CHECK_MEM(out, n, want, strlen(want));
}

static void test_write_head(void)
{
    check_head(200, "text/html; charset=utf-8", 1234, true, NULL,
               "HTTP/1.1 200 OK\r\n"
               "Content-Type: text/html; charset=utf-8\r\n"
               "Content-Length: 1234\r\n"
               "Connection: keep-alive\r\n\r\n");
    check_head(404, NULL, 0, false, NULL,
               "HTTP/1.1 404 Not Found\r\n"
               "Content-Length: 0\r\n"
               "Connection: close\r\n\r\n");
    check_head(101, NULL, 0, true,
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
               "HTTP/1.1 101 Switching Protocols\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    check_head(204, NULL, 0, true, NULL,
               "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
    check_head(304, NULL, 99, false, "ETag: \"x\"\r\n",
               "HTTP/1.1 304 Not Modified\r\nConnection: close\r\nETag: \"x\"\r\n\r\n");
    check_head(426, "text/plain", 18446744073709551615ull, false, "Upgrade: websocket\r\n",
               "HTTP/1.1 426 Upgrade Required\r\n"
               "Content-Type: text/plain\r\n"
               "Content-Length: 18446744073709551615\r\n"
               "Connection: close\r\n"
               "Upgrade: websocket\r\n\r\n");
}

/* Exactly the head's length fits (no NUL is written); one byte less does not,
 * and nothing is written past cap. */
static void test_write_head_overflow(void)
{
    const char *want = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                       "Content-Length: 5\r\nConnection: keep-alive\r\n\r\n";
    size_t len = strlen(want);
    int wrong = 0;
    for (size_t cap = 0; cap < len; cap++) {
        char *out = malloc(cap ? cap : 1);
        wrong += http_write_head(out, cap, 200, "text/plain", 5, true, NULL) != 0;
        free(out);
    }
    CHECK_EQ(wrong, 0);
    char *out = malloc(len);
    CHECK_EQ(http_write_head(out, len, 200, "text/plain", 5, true, NULL), len);
    CHECK_MEM(out, len, want, len);
    free(out);
}

/* Query parameters as ?token= and /chat?since= read them: by exact name,
 * the first one, the value as written. */
static void test_query_param(void)
{
    static const char q[] = "sincex=1&since=12-3&token=a%20b&since=9&empty=&flag";
    struct http_span v;
    CHECK(http_query_param(q, strlen(q), "since", &v) && v.len == 4 && memcmp(v.p, "12-3", 4) == 0);
    CHECK(http_query_param(q, strlen(q), "token", &v) && v.len == 5 && memcmp(v.p, "a%20b", 5) == 0);
    CHECK(http_query_param(q, strlen(q), "empty", &v) && v.len == 0);
    CHECK(!http_query_param(q, strlen(q), "flag", &v));      /* no '=': no value */
    CHECK(!http_query_param(q, strlen(q), "sinc", &v));
    CHECK(!http_query_param(q, 8, "since", &v));             /* only len bytes count */
    CHECK(!http_query_param("", 0, "since", &v));
}

int main(void)
{
    test_query_param();
    test_minimal_get();
    test_browser_upgrade();
    test_split_anywhere();
    test_bytes_after_head();
    test_head_byte_by_byte();
    test_scan_reads_only_new_bytes();
    test_response_byte_by_byte();
    test_pipelined();
    test_lf_only();
    test_leading_empty_lines();
    test_values_trimmed();
    test_odd_but_valid_request_lines();
    test_header_limits();
    test_reject_bare_cr();
    test_reject_space_before_colon();
    test_reject_obs_fold();
    test_reject_control_in_value();
    test_reject_nul();
    test_reject_bad_method();
    test_reject_missing_version();
    test_reject_other_versions();
    test_reject_double_space();
    test_reject_bad_target();
    test_reject_empty_header_name();
    test_reject_too_many_bytes();
    test_reject_too_many_headers();
    test_tokens();
    test_span_compare();
    test_header_get();
    test_content_length();
    test_content_length_rejected();
    test_reasons();
    test_write_head();
    test_write_head_overflow();
    return check_report("http");
}
