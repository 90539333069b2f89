/* fuzz_http.c -- libFuzzer harness for src/http.c, linked with it alone.
 *
 * The server calls http_parse_request on its whole input buffer each time
 * more bytes arrive, with a struct http_scan that carries how far the last
 * call got, so the parser's answer for a prefix must never contradict its
 * answer for the whole: a head found in a prefix is the same head later, an
 * error found in a prefix is the same error later. And with the scan, fed
 * the prefixes one after another as the server feeds them, every answer
 * must be the answer of a parse from the start. This harness checks both at
 * many split points of every input, for the request and the response parser
 * alike, and that everything a successful parse returns (spans, header
 * names and values, token lookups) is what http.h promises. Last, a response
 * head written by http_write_head with values taken from the input must
 * parse back, and fail cleanly for any smaller buffer. A broken invariant
 * calls abort(), which libFuzzer reports as a crash. */
#include "http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    abort();
}

#define REQUIRE(cond) \
    do { if (!(cond)) fail(__FILE__, __LINE__, #cond); } while (0)

/* --- independent character classes (RFC 9110 §5.6.2) ------------------- */

static bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && memchr(extra, c, sizeof extra - 1) != NULL;
}

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* --- spans and heads ---------------------------------------------------- */

/* Compared as integers: the span must lie within buf[0..n). */
static void check_span(const struct http_span *s, const char *buf, size_t n)
{
    uintptr_t lo = (uintptr_t)buf, p = (uintptr_t)s->p;
    REQUIRE(p >= lo && p <= lo + n);
    REQUIRE(s->len <= lo + n - p);
}

static void check_tchars(const struct http_span *s)
{
    REQUIRE(s->len > 0);
    for (size_t i = 0; i < s->len; i++)
        REQUIRE(is_tchar((unsigned char)s->p[i]));
}

/* No CR, LF or control character but HTAB: next_line() refuses them. */
static void check_text(const struct http_span *v)
{
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->p[i];
        REQUIRE(c == '\t' || (c >= 0x20 && c != 0x7F));
    }
}

/* A field value is clean text whose surrounding blanks have been dropped
 * (http.h); a reason phrase may keep its blanks (RFC 9112 §4). */
static void check_value(const struct http_span *v)
{
    check_text(v);
    if (v->len > 0) {
        REQUIRE(!is_blank((unsigned char)v->p[0]));
        REQUIRE(!is_blank((unsigned char)v->p[v->len - 1]));
    }
}

/* The same question as http_has_token, answered another way: cut at each
 * comma with memchr, trim blanks, compare ignoring ASCII case. */
static bool ref_has_token(const struct http_span *v, const char *token)
{
    size_t tlen = strlen(token);
    const char *s = v->p, *end = v->p + v->len;

    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *a = s, *b = comma ? comma : end;
        while (a < b && is_blank((unsigned char)*a))
            a++;
        while (b > a && is_blank((unsigned char)b[-1]))
            b--;
        if (tlen > 0 && (size_t)(b - a) == tlen) {
            size_t i = 0;
            while (i < tlen && lower((unsigned char)a[i]) == lower((unsigned char)token[i]))
                i++;
            if (i == tlen)
                return true;
        }
        if (!comma)
            return false;
        s = comma + 1;
    }
}

static const char *const tokens[] = {
    "upgrade", "websocket", "keep-alive", "close", "Upgrade", "13", "chat", "a", "",
};

/* Fields of one head: names are tokens ending at a colon, values are clean,
 * everything lies inside the head, and lookups agree with a plain scan. */
static void check_headers(const struct http_header *h, size_t num, const char *buf, size_t n)
{
    char name[HTTP_MAX_HEADER_BYTES + 1];

    REQUIRE(num <= HTTP_MAX_HEADERS);
    for (size_t i = 0; i < num; i++) {
        check_span(&h[i].name, buf, n);
        check_span(&h[i].value, buf, n);
        check_tchars(&h[i].name);
        REQUIRE(h[i].name.p[h[i].name.len] == ':');
        check_value(&h[i].value);
        for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++)
            REQUIRE(http_has_token(&h[i].value, tokens[t]) ==
                    ref_has_token(&h[i].value, tokens[t]));

        memcpy(name, h[i].name.p, h[i].name.len);
        name[h[i].name.len] = '\0';
        for (size_t j = 0; j < num; j++)        /* a header's name as a token */
            REQUIRE(http_has_token(&h[j].value, name) == ref_has_token(&h[j].value, name));
        const struct http_span *found = http_find_header(h, num, name);
        size_t j = 0;                     /* the first header of that name */
        while (j < i && !http_span_case_eq(&h[j].name, name))
            j++;
        REQUIRE(found == &h[j].value);
    }
}

/* Repeated lines of one field form one list (RFC 9110 §5.3): the
 * request-wide lookups against a plain scan of every line. */
static void check_request_lookups(const struct http_request *req)
{
    char name[HTTP_MAX_HEADER_BYTES + 1];

    for (size_t i = 0; i < req->num_headers; i++) {
        const struct http_span *ni = &req->headers[i].name;
        memcpy(name, ni->p, ni->len);
        name[ni->len] = '\0';
        size_t count = 0;
        bool has[sizeof tokens / sizeof tokens[0]] = { false };
        for (size_t j = 0; j < req->num_headers; j++) {
            if (!http_span_case_eq(&req->headers[j].name, name))
                continue;
            count++;
            for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++)
                has[t] = has[t] || ref_has_token(&req->headers[j].value, tokens[t]);
        }
        REQUIRE(count >= 1 && http_header_count(req, name) == count);
        for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++)
            REQUIRE(http_header_has_token(req, name, tokens[t]) == has[t]);
    }
}

/* http_content_length against a plain reading of RFC 9110 §8.6: no line,
 * or exactly one line of 1*DIGIT whose value fits in 64 bits (counted in
 * 128 bits here); anything else fails and leaves *len alone. */
static void check_content_length(const struct http_request *req)
{
    const struct http_span *v = http_header_get(req, "Content-Length");
    uint64_t got = 7;
    int r = http_content_length(req, &got);

    if (!v) {
        REQUIRE(r == 0 && got == 7);
        return;
    }
    bool ok = http_header_count(req, "Content-Length") == 1 && v->len > 0;
    unsigned __int128 n = 0;
    for (size_t i = 0; ok && i < v->len; i++) {
        ok = v->p[i] >= '0' && v->p[i] <= '9';
        n = n * 10 + (unsigned)(v->p[i] - '0');
        ok = ok && n <= UINT64_MAX;
    }
    REQUIRE(ok ? r == 1 && got == (uint64_t)n : r == HTTP_ERR_MALFORMED && got == 7);
}

static void check_request(const struct http_request *req, const char *buf, size_t n)
{
    REQUIRE(n >= 14 && n <= HTTP_MAX_HEADER_BYTES);     /* "M T HTTP/1.1\n\n" */
    REQUIRE(buf[n - 1] == '\n');
    check_span(&req->method, buf, n);
    check_span(&req->target, buf, n);
    check_tchars(&req->method);
    REQUIRE(req->target.len > 0);
    for (size_t i = 0; i < req->target.len; i++)
        REQUIRE((unsigned char)req->target.p[i] > ' ' && (unsigned char)req->target.p[i] < 0x7F);
    REQUIRE(req->minor_version >= 0 && req->minor_version <= 9);
    check_headers(req->headers, req->num_headers, buf, n);
    REQUIRE(http_header_get(req, "") == NULL);       /* names are never empty */
    check_request_lookups(req);
    check_content_length(req);
}

static void check_response(const struct http_response *res, const char *buf, size_t n)
{
    REQUIRE(n >= 14 && n <= HTTP_MAX_HEADER_BYTES);     /* "HTTP/1.1 200\n\n" */
    REQUIRE(buf[n - 1] == '\n');
    REQUIRE(res->minor_version >= 0 && res->minor_version <= 9);
    REQUIRE(res->status >= 0 && res->status <= 999);
    check_span(&res->reason, buf, n);
    check_text(&res->reason);
    check_headers(res->headers, res->num_headers, buf, n);
}

/* --- prefixes -------------------------------------------------------------- */

static struct http_request req_scratch;
static struct http_response res_scratch;

/* scan: NULL, or the progress of the calls before on the same head. */
static ssize_t parse_req(const char *buf, size_t len, struct http_scan *scan)
{
    return http_parse_request(buf, len, &req_scratch, scan);
}

static ssize_t parse_res(const char *buf, size_t len, struct http_scan *scan)
{
    return http_parse_response(buf, len, &res_scratch, scan);
}

typedef ssize_t (*parse_fn)(const char *buf, size_t len, struct http_scan *scan);

/* Parse a copy of buf[0..len) that ends exactly where a heap block does:
 * libFuzzer's buffer ends where the whole input does, so only a copy lets
 * ASan see a prefix parse read past its end. One block serves every call
 * (a malloc per prefix made the run mostly allocator work). */
#define TAIL_CAP 16384           /* above -max_len and the long heads */

static ssize_t parse_exact(parse_fn parse, const char *buf, size_t len, struct http_scan *scan)
{
    static char *block;
    if (block == NULL)
        block = malloc(TAIL_CAP);
    REQUIRE(block != NULL);
    if (len > TAIL_CAP) {                /* a long input run by hand */
        char *copy = malloc(len);
        REQUIRE(copy != NULL);
        memcpy(copy, buf, len);
        ssize_t r = parse(copy, len, scan);
        free(copy);
        return r;
    }
    char *copy = block + TAIL_CAP - len;
    memmove(copy, buf, len);
    return parse(copy, len, scan);
}

/* The prefix buf[0..k) said `part`, the whole said `whole`. A complete head
 * or an error in the prefix is final; if the prefix was incomplete, a head
 * found in the whole must end beyond k. */
static void check_prefix(ssize_t part, size_t k, ssize_t whole)
{
    REQUIRE(part >= HTTP_ERR_VERSION);
    if (part != HTTP_INCOMPLETE)
        REQUIRE(whole == part);
    else if (whole > 0)
        REQUIRE((size_t)whole > k);
}

/* All split points of a short input (the check is quadratic); of a long
 * one, the first 64, an even spread, those around the size limit and those
 * around every byte where the parser's answer can change: line ends, and
 * control characters, which fail a line before it is complete. */
static bool worth_splitting(const char *buf, size_t len, size_t k)
{
    if (len <= 256 || k < 64 || k + 2 >= len || k % 61 == 0)
        return true;
    if (k + 2 >= HTTP_MAX_HEADER_BYTES && k <= HTTP_MAX_HEADER_BYTES + 1)
        return true;
    for (size_t i = k - 2; i <= k + 1; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7F)
            return true;
    return false;
}

/* The server's way: prefix after prefix of the same head (its bytes moved
 * each time, as a growing buffer moves them), the progress kept in *scan
 * until an answer other than HTTP_INCOMPLETE; each answer must be part, the
 * answer of a parse from the start. */
static void check_scanned(parse_fn parse, const char *buf, size_t k, ssize_t part,
                          struct http_scan *scan, bool *scanning)
{
    if (!*scanning)
        return;
    REQUIRE(parse_exact(parse, buf, k, scan) == part);
    *scanning = part == HTTP_INCOMPLETE;
}

static void check_all_prefixes(parse_fn parse, const char *buf, size_t len, ssize_t whole)
{
    struct http_scan scan = { 0 };
    bool scanning = true;
    for (size_t k = 0; k < len; k++) {
        if (!worth_splitting(buf, len, k))
            continue;
        ssize_t part = parse_exact(parse, buf, k, NULL);
        check_prefix(part, k, whole);
        check_scanned(parse, buf, k, part, &scan, &scanning);
    }
    check_scanned(parse, buf, len, whole, &scan, &scanning);
}

/* --- long heads ------------------------------------------------------------ */

/* An input that is a head still missing its end is grown with header lines
 * to about HTTP_MAX_HEADER_BYTES, then closed by a blank line, so the size
 * and count limits are reached from every input rather than only from the
 * rare long one; the head's exact length moves around the limit with the
 * input's last byte. */
static void check_long_head(parse_fn parse, const char *buf, size_t len)
{
    static char big[HTTP_MAX_HEADER_BYTES + 600];
    size_t line = 40 + (unsigned char)buf[len - 1] % 200;   /* count or size */
    size_t target = HTTP_MAX_HEADER_BYTES - 4 + (unsigned char)buf[len - 1] % 9;
    size_t n = len;

    memcpy(big, buf, len);
    while (n + line + 2 <= target) {
        memcpy(big + n, "X-Fill: ", 8);
        memset(big + n + 8, 'f', line - 8);
        memcpy(big + n + line, "\r\n", 2);
        n += line + 2;
    }
    while (n + 2 < target)
        big[n++] = 'x';                  /* pad the last line */
    memcpy(big + n, "\r\n\r\n", 4);
    n += 4;
    ssize_t whole = parse_exact(parse, big, n, NULL);
    if (whole > 0 && parse == parse_req && parse_req(big, n, NULL) == whole)
        check_request(&req_scratch, big, (size_t)whole);
    if (whole > 0 && parse == parse_res && parse_res(big, n, NULL) == whole)
        check_response(&res_scratch, big, (size_t)whole);
    struct http_scan scan = { 0 };       /* the same prefixes, in order, scanned */
    bool scanning = true;
    for (size_t k = len; k < HTTP_MAX_HEADER_BYTES - 4; k += 257) {
        ssize_t part = parse(big, k, NULL);
        check_prefix(part, k, whole);
        check_scanned(parse, big, k, part, &scan, &scanning);
    }
    for (size_t k = HTTP_MAX_HEADER_BYTES - 4; k < n; k++) {
        ssize_t part = parse_exact(parse, big, k, NULL);
        check_prefix(part, k, whole);
        check_scanned(parse, big, k, part, &scan, &scanning);
    }
    check_scanned(parse, big, n, whole, &scan, &scanning);
}

/* --- response heads ---------------------------------------------------------- */

static const char *const content_types[] = {
    NULL, "text/plain; charset=utf-8", "application/json", "text/html; charset=utf-8",
};
static const char *const extras[] = {
    NULL, "", "Upgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
    "Sec-WebSocket-Version: 13\r\n", "Retry-After: 1\r\n",
};

/* What http_write_head writes, read back with http_parse_response: the
 * status, and Content-Length and Connection exactly where RFC 9110 §8.6
 * allows them. A smaller cap gets 0, tried with exactly that much heap. */
static void check_write_head(const uint8_t *data, size_t size)
{
    uint8_t p[12] = { 0 };
    memcpy(p, data + (size > sizeof p ? size - sizeof p : 0), size < sizeof p ? size : sizeof p);
    int status = (int)((p[0] << 8 | p[1]) % 1100) - 50;     /* also < 100 and > 999 */
    const char *type = content_types[p[2] % 4], *extra = extras[p[3] % 5];
    bool keep_alive = p[4] & 1;
    size_t length;
    memcpy(&length, p + 4, sizeof length);
    char head[600];

    size_t n = http_write_head(head, sizeof head, status, type, length, keep_alive, extra);
    REQUIRE(n > 0 && n < sizeof head);
    ssize_t r = parse_res(head, n, NULL);
    if (status < 100 || status > 999) {
        REQUIRE(r == HTTP_ERR_MALFORMED);
    } else {
        bool informational = status < 200, bodiless = informational || status == 204 ||
                                                      status == 304;
        char digits[24];
        snprintf(digits, sizeof digits, "%zu", length);
        REQUIRE(r == (ssize_t)n && res_scratch.status == status);
        REQUIRE(http_span_eq(&res_scratch.reason, http_reason(status)));
        const struct http_span *v = http_find_header(res_scratch.headers,
                                                     res_scratch.num_headers, "Content-Length");
        REQUIRE(bodiless ? v == NULL : v != NULL && http_span_eq(v, digits));
        v = http_find_header(res_scratch.headers, res_scratch.num_headers, "Connection");
        if (!informational)
            REQUIRE(v != NULL && http_span_eq(v, keep_alive ? "keep-alive" : "close"));
        v = http_find_header(res_scratch.headers, res_scratch.num_headers, "Content-Type");
        REQUIRE(type ? v != NULL && http_span_eq(v, type) : v == NULL);
    }
    for (size_t cap = 0; cap <= n; cap++) {
        if (cap > 3 && cap + 3 < n && cap % 17 != p[5] % 17)
            continue;                    /* the ends, and a spread that moves */
        char *out = malloc(cap ? cap : 1);
        REQUIRE(out != NULL);
        size_t m = http_write_head(out, cap, status, type, length, keep_alive, extra);
        REQUIRE(cap < n ? m == 0 : m == n && memcmp(out, head, n) == 0);
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;

    ssize_t whole = parse_exact(parse_req, buf, size, NULL);
    REQUIRE(whole >= HTTP_ERR_VERSION && whole <= (ssize_t)size);
    if (whole > 0) {
        parse_req(buf, size, NULL);
        check_request(&req_scratch, buf, (size_t)whole);
    }
    check_all_prefixes(parse_req, buf, size, whole);
    if (whole == HTTP_INCOMPLETE && size > 0 && size < HTTP_MAX_HEADER_BYTES - 16)
        check_long_head(parse_req, buf, size);

    whole = parse_exact(parse_res, buf, size, NULL);
    REQUIRE(whole >= HTTP_ERR_VERSION && whole <= (ssize_t)size);
    if (whole > 0) {
        parse_res(buf, size, NULL);
        check_response(&res_scratch, buf, (size_t)whole);
    }
    check_all_prefixes(parse_res, buf, size, whole);
    if (whole == HTTP_INCOMPLETE && size > 0 && size < HTTP_MAX_HEADER_BYTES - 16)
        check_long_head(parse_res, buf, size);

    check_write_head(data, size);
    return 0;
}
