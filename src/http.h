/* http.h -- HTTP/1.1 request parsing (RFC 9112) and response heads.
 * The parser points into the caller's bytes, which the caller keeps, growing,
 * until the head is complete; a struct http_scan lets each call look only at
 * the bytes that are new. It reports how many bytes the head used, so bytes
 * that follow it (a pipelined request, the first WebSocket frames) stay with
 * the caller. No I/O, no allocation, no logging. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADER_BYTES 8192   /* beyond this: 431 */
#define HTTP_MAX_HEADERS      64     /* beyond this: 431 */

enum http_err {
    HTTP_INCOMPLETE   = 0,       /* need more bytes */
    HTTP_ERR_MALFORMED = -1,     /* 400 */
    HTTP_ERR_TOO_LARGE = -2,     /* 431: header section or header count */
    HTTP_ERR_VERSION   = -3,     /* 505: not HTTP/1.x */
};

struct http_span {
    const char *p;
    size_t      len;
};

struct http_header {
    struct http_span name, value;   /* value without surrounding blanks */
};

struct http_request {
    struct http_span method, target;
    int minor_version;              /* HTTP/1.<minor_version> */
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t num_headers;
};

/* How far the parser got through a head still arriving (like
 * picohttpparser's last_len): the complete lines before `line` are valid and
 * the bytes up to `scanned` clean, so a call with more bytes starts there
 * rather than at the beginning. Offsets, not pointers: the bytes may move
 * (realloc) as long as the head's first byte stays first. Zero it for each
 * new head, and keep it with the connection while the head is incomplete. */
struct http_scan {
    uint16_t line;               /* where the first incomplete line starts */
    uint16_t scanned;            /* bytes looked at */
    uint16_t lines;              /* complete lines before `line` (but empty
                                    ones before a request line) */
};

/* Parse a request head from buf[0..len). Returns the number of bytes up to
 * and including the blank line that ends the head, HTTP_INCOMPLETE, or a
 * negative enum http_err. Spans in *req point into buf. Obsolete line folding,
 * bare CR, control characters and whitespace before a colon are rejected.
 * scan (or NULL: parse from the start) carries the progress from one call to
 * the next while the answer is HTTP_INCOMPLETE; the answers are the same
 * either way, an error as early. */
ssize_t http_parse_request(const char *buf, size_t len, struct http_request *req,
                           struct http_scan *scan);

struct http_response {           /* for the client side */
    int minor_version;
    int status;
    struct http_span reason;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t num_headers;
};

/* Parse a response head (status line and headers) like a request head. */
ssize_t http_parse_response(const char *buf, size_t len, struct http_response *res,
                            struct http_scan *scan);

/* The value of the first header called name (case-insensitive), or NULL. */
const struct http_span *http_header_get(const struct http_request *req, const char *name);
const struct http_span *http_find_header(const struct http_header *headers, size_t n,
                                         const char *name);

/* True when the comma-separated header value has the token (case-insensitive),
 * e.g. "keep-alive, Upgrade" has "upgrade". */
bool http_has_token(const struct http_span *value, const char *token);
/* The same over every line of the header: repeated lines of one field form
 * one list (RFC 9110 §5.3). */
bool http_header_has_token(const struct http_request *req, const char *name, const char *token);
/* How many lines carry the header name. */
size_t http_header_count(const struct http_request *req, const char *name);

/* The request's body length from Content-Length (RFC 9112 §6.3): 0 when
 * there is no such line (*len untouched), 1 with *len set when there is
 * exactly one whose value is 1*DIGIT and fits in 64 bits, else
 * HTTP_ERR_MALFORMED: a second line, a list (even "5, 5"), a sign, blanks
 * inside, or an empty value. Transfer-Encoding is the caller's to check. */
int http_content_length(const struct http_request *req, uint64_t *len);

/* The value of name in a request target's query (query[0..len): what
 * follows the '?'), as it is written (still %-encoded): "since" in
 * "a=1&since=5" gives "5". The first one counts. False if it is absent. */
bool http_query_param(const char *query, size_t len, const char *name, struct http_span *value);

/* True when span equals the NUL-terminated string s exactly / ignoring case. */
bool http_span_eq(const struct http_span *span, const char *s);
bool http_span_case_eq(const struct http_span *span, const char *s);

/* The reason phrase of a status code ("Not Found"), or "Unknown". */
const char *http_reason(int status);

/* Write "HTTP/1.1 <status> <reason>\r\n" and the Content-Length,
 * Content-Type (when not NULL) and Connection headers, then the caller's
 * extra header lines (each ending in \r\n, or NULL) and the blank line.
 * Returns the length, or 0 when it does not fit in cap bytes. */
size_t http_write_head(char *out, size_t cap, int status, const char *content_type,
                       size_t content_length, bool keep_alive, const char *extra);

#endif
