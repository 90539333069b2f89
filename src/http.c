/* http.c -- HTTP/1.1 request heads (RFC 9112) read from the caller's bytes,
 * and response heads written into the caller's buffer.
 *
 * A head that arrives in pieces is scanned as it comes: each call looks only
 * at the new bytes, checking every line as it completes (scan_head), and
 * once the blank line is in, the head is parsed from its start, once, into
 * spans (as picohttpparser does with last_len). A head that arrives whole is
 * parsed at once. The answer for a prefix never
 * contradicts the answer for the whole (an error seen early is the same
 * error later). It only checks syntax: which methods, targets and headers
 * make sense is left to the callers (static.c, handshake.c). No I/O, no
 * allocation, no logging. */
#include "http.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* --- character classes (RFC 9110 §5.6.2, §5.5) ------------------------- */

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_blank(unsigned char c)         /* OWS: SP / HTAB */
{
    return c == ' ' || c == '\t';
}

static unsigned char to_lower(unsigned char c)   /* ASCII only, whatever the locale */
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static bool case_eq(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (to_lower((unsigned char)a[i]) != to_lower((unsigned char)b[i]))
            return false;
    return true;
}

/* --- lines ---------------------------------------------------------------- */

/* Find the line starting at *pos in buf[0..end), looking from *from on (the
 * bytes of the line before it are known to be clean); on success set *line
 * to it without its terminator, move *pos and *from past the terminator and
 * return 1. Returns HTTP_INCOMPLETE when no terminator has arrived yet, with
 * *from where to look next time.
 * RFC 9112 §2.2: a bare LF may end a line, but a bare CR MUST be rejected (or
 * replaced; we reject). No line of a head may carry control characters except
 * HTAB (field values: §5.5 of RFC 9110; the request line has no place for
 * them at all), so they are rejected while scanning: binary garbage fails at
 * once rather than after 8 KiB. */
static int next_line(const char *buf, size_t end, size_t *pos, size_t *from,
                     struct http_span *line)
{
    size_t i;
    for (i = *from; i < end; i++) {
        unsigned char c = (unsigned char)buf[i];
        size_t term = 0;

        if (c == '\n')
            term = 1;
        else if (c == '\r' && i + 1 == end)
            break;                              /* the LF may be next */
        else if (c == '\r' && buf[i + 1] == '\n')
            term = 2;
        else if (c == '\r' || (c < 0x20 && c != '\t') || c == 0x7F)
            return HTTP_ERR_MALFORMED;
        if (term) {
            line->p = buf + *pos;
            line->len = i - *pos;
            *pos = *from = i + term;
            return 1;
        }
    }
    *from = i;
    return HTTP_INCOMPLETE;
}

/* --- request line (RFC 9112 §3) ------------------------------------------- */

/* "HTTP/1.x" (RFC 9112 §2.3: case-sensitive, one digit each). Another
 * well-formed major version gets 505, anything else 400. */
static int parse_version(const char *s, size_t len, int *minor)
{
    if (len != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' ||
        s[5] < '0' || s[5] > '9' || s[7] < '0' || s[7] > '9')
        return HTTP_ERR_MALFORMED;
    if (s[5] != '1')
        return HTTP_ERR_VERSION;
    *minor = s[7] - '0';
    return 1;
}

/* method SP request-target SP HTTP-version, single spaces (§3). The target
 * is any run of visible ASCII; its form is the router's business. */
static int parse_request_line(const struct http_span *line, struct http_request *req)
{
    const char *s = line->p, *end = line->p + line->len, *start;

    for (start = s; s < end && is_tchar((unsigned char)*s); s++)
        ;
    if (s == start || s == end || *s != ' ')
        return HTTP_ERR_MALFORMED;
    req->method = (struct http_span){ start, (size_t)(s - start) };
    for (start = ++s; s < end && (unsigned char)*s > ' ' && (unsigned char)*s < 0x7F; s++)
        ;
    if (s == start || s == end || *s != ' ')
        return HTTP_ERR_MALFORMED;
    req->target = (struct http_span){ start, (size_t)(s - start) };
    s++;
    return parse_version(s, (size_t)(end - s), &req->minor_version);
}

/* --- header fields (RFC 9112 §5) ------------------------------------------ */

/* field-name ":" OWS field-value OWS. A line starting with a blank is
 * obs-fold, and a blank before the colon MUST be answered with 400 (§5.1);
 * both fail the token scan. next_line() has already refused control
 * characters, so every byte left is allowed in a value (VCHAR, SP, HTAB,
 * obs-text). */
static int parse_header(const struct http_span *line, struct http_header *h)
{
    const char *s = line->p, *end = line->p + line->len, *start;

    for (start = s; s < end && is_tchar((unsigned char)*s); s++)
        ;
    if (s == start || s == end || *s != ':')
        return HTTP_ERR_MALFORMED;
    h->name = (struct http_span){ start, (size_t)(s - start) };
    for (s++; s < end && is_blank((unsigned char)*s); s++)
        ;
    while (end > s && is_blank((unsigned char)end[-1]))
        end--;
    h->value = (struct http_span){ s, (size_t)(end - s) };
    return 1;
}

/* Header lines up to the blank line; returns the head's length, or 0 / an
 * error like http_parse_request(). */
static ssize_t parse_headers(const char *buf, size_t end, size_t pos,
                             struct http_header *headers, size_t *num_headers)
{
    struct http_span line;
    size_t from = pos;
    int r;

    while ((r = next_line(buf, end, &pos, &from, &line)) == 1) {
        if (line.len == 0)
            return (ssize_t)pos;
        if (*num_headers == HTTP_MAX_HEADERS)
            return HTTP_ERR_TOO_LARGE;
        r = parse_header(&line, &headers[*num_headers]);
        if (r < 0)
            return r;
        (*num_headers)++;
    }
    return r;
}

/* --- status line (RFC 9112 §4), for the client side ------------------------ */

/* HTTP-version SP 3DIGIT SP [ reason-phrase ] */
static int parse_status_line(const struct http_span *line, struct http_response *res)
{
    const char *s = line->p;
    if (line->len < 12 || s[8] != ' ' || (line->len > 12 && s[12] != ' '))
        return HTTP_ERR_MALFORMED;
    int r = parse_version(s, 8, &res->minor_version);
    if (r < 0)
        return r;
    res->status = 0;
    for (int i = 9; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9')
            return HTTP_ERR_MALFORMED;
        res->status = res->status * 10 + (s[i] - '0');
    }
    size_t skip = line->len > 12 ? 13 : 12;
    res->reason = (struct http_span){ s + skip, line->len - skip };
    return 1;
}

/* --- a head arriving in pieces -------------------------------------------- */

/* Line number index of a head (0: the request or status line), checked as
 * the parse from the start will check it; what it fills in is overwritten
 * by that parse. */
static int check_line(const struct http_span *line, size_t index, struct http_request *req,
                      struct http_response *res)
{
    struct http_header h;
    if (index > HTTP_MAX_HEADERS)
        return HTTP_ERR_TOO_LARGE;
    if (index > 0)
        return parse_header(line, &h);
    return req ? parse_request_line(line, req) : parse_status_line(line, res);
}

/* Look only at what arrived since the last call (scan says from where),
 * checking each line as it completes, so an error is found as early as a
 * parse from the start would find it. Returns 1 once the blank line that
 * ends the head is in (then the head is parsed from its start, once),
 * HTTP_INCOMPLETE, or an error. req or res says which head this is. */
static int scan_head(const char *buf, size_t end, struct http_scan *scan,
                     struct http_request *req, struct http_response *res)
{
    size_t pos = scan->line, from = scan->scanned;
    struct http_span line;
    int r;

    while ((r = next_line(buf, end, &pos, &from, &line)) == 1) {
        if (line.len == 0 && scan->lines > 0)
            return 1;
        bool before_request = line.len == 0 && req;     /* RFC 9112 §2.2: skipped */
        if (!before_request && (r = check_line(&line, scan->lines++, req, res)) < 0)
            return r;
        scan->line = (uint16_t)pos;
    }
    scan->scanned = (uint16_t)from;
    return r;
}

/* --- the two parsers ---------------------------------------------------------- */

/* A request head from its start: the request line, after any empty lines
 * (RFC 9112 §2.2: SHOULD ignore them), then the header lines. */
static ssize_t request_head(const char *buf, size_t end, struct http_request *req)
{
    size_t pos = 0, from = 0;
    struct http_span line;
    ssize_t r;

    req->num_headers = 0;
    do
        r = next_line(buf, end, &pos, &from, &line);
    while (r == 1 && line.len == 0);
    if (r == 1)
        r = parse_request_line(&line, req);
    if (r == 1)
        r = parse_headers(buf, end, pos, req->headers, &req->num_headers);
    return r;
}

static ssize_t response_head(const char *buf, size_t end, struct http_response *res)
{
    size_t pos = 0, from = 0;
    struct http_span line;

    res->num_headers = 0;
    ssize_t r = next_line(buf, end, &pos, &from, &line);
    if (r == 1)
        r = parse_status_line(&line, res);
    if (r == 1)
        r = parse_headers(buf, end, pos, res->headers, &res->num_headers);
    return r;
}

/* Most heads arrive whole: a fresh one is parsed at once, and scanned only
 * if it is incomplete, so that the next call knows where to start. One
 * already partly scanned is scanned from there, and parsed from its start
 * once complete. Only the first HTTP_MAX_HEADER_BYTES are ever looked at,
 * so a head longer than that is refused whether it arrives in one read or
 * many. */
ssize_t http_parse_request(const char *buf, size_t len, struct http_request *req,
                           struct http_scan *scan)
{
    size_t end = len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES;
    bool fresh = !scan || scan->scanned == 0;
    ssize_t r = fresh ? 1 : scan_head(buf, end, scan, req, NULL);
    if (r == 1)
        r = request_head(buf, end, req);
    if (r == HTTP_INCOMPLETE && scan && fresh)
        scan_head(buf, end, scan, req, NULL);
    return r == HTTP_INCOMPLETE && len >= HTTP_MAX_HEADER_BYTES ? HTTP_ERR_TOO_LARGE : r;
}

ssize_t http_parse_response(const char *buf, size_t len, struct http_response *res,
                            struct http_scan *scan)
{
    size_t end = len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES;
    bool fresh = !scan || scan->scanned == 0;
    ssize_t r = fresh ? 1 : scan_head(buf, end, scan, NULL, res);
    if (r == 1)
        r = response_head(buf, end, res);
    if (r == HTTP_INCOMPLETE && scan && fresh)
        scan_head(buf, end, scan, NULL, res);
    return r == HTTP_INCOMPLETE && len >= HTTP_MAX_HEADER_BYTES ? HTTP_ERR_TOO_LARGE : r;
}

/* --- lookups ----------------------------------------------------------------- */

bool http_query_param(const char *query, size_t len, const char *name, struct http_span *value)
{
    size_t n = strlen(name);
    for (const char *p = query, *end = query + len; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > n && memcmp(p, name, n) == 0 && p[n] == '=') {
            *value = (struct http_span){ p + n + 1, (size_t)(stop - p) - n - 1 };
            return true;
        }
        p = stop + 1;
    }
    return false;
}

bool http_span_eq(const struct http_span *span, const char *s)
{
    size_t n = strlen(s);
    return span->len == n && (n == 0 || memcmp(span->p, s, n) == 0);
}

bool http_span_case_eq(const struct http_span *span, const char *s)
{
    size_t n = strlen(s);
    return span->len == n && case_eq(span->p, s, n);
}

const struct http_span *http_find_header(const struct http_header *headers, size_t n,
                                         const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (http_span_case_eq(&headers[i].name, name))
            return &headers[i].value;
    return NULL;
}

const struct http_span *http_header_get(const struct http_request *req, const char *name)
{
    return http_find_header(req->headers, req->num_headers, name);
}

bool http_header_has_token(const struct http_request *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->num_headers; i++)
        if (http_span_case_eq(&req->headers[i].name, name)
            && http_has_token(&req->headers[i].value, token))
            return true;
    return false;
}

size_t http_header_count(const struct http_request *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < req->num_headers; i++)
        n += http_span_case_eq(&req->headers[i].name, name);
    return n;
}

/* RFC 9110 §8.6: Content-Length = 1*DIGIT. A recipient MAY fold a list of
 * identical values into one; we refuse any list or repeat instead, so every
 * reader of the same bytes agrees on where the message ends or fails. */
int http_content_length(const struct http_request *req, uint64_t *len)
{
    const struct http_span *v = http_header_get(req, "Content-Length");
    uint64_t n = 0;

    if (!v)
        return 0;
    if (v->len == 0 || http_header_count(req, "Content-Length") != 1)
        return HTTP_ERR_MALFORMED;
    for (size_t i = 0; i < v->len; i++) {
        unsigned digit = (unsigned)((unsigned char)v->p[i] - '0');
        if (digit > 9 || n > (UINT64_MAX - digit) / 10)
            return HTTP_ERR_MALFORMED;
        n = n * 10 + digit;
    }
    *len = n;
    return 1;
}

/* #element lists (RFC 9110 §5.6.1): elements split at commas, blanks around
 * each dropped, empty elements skipped; the token must equal a whole one. */
bool http_has_token(const struct http_span *value, const char *token)
{
    size_t i = 0;

    while (i < value->len) {
        size_t start, stop;
        while (i < value->len && (is_blank((unsigned char)value->p[i]) || value->p[i] == ','))
            i++;
        start = i;
        while (i < value->len && value->p[i] != ',')
            i++;
        stop = i;
        while (stop > start && is_blank((unsigned char)value->p[stop - 1]))
            stop--;
        struct http_span element = { value->p + start, stop - start };
        if (stop > start && http_span_case_eq(&element, token))
            return true;
    }
    return false;
}

/* --- response heads ---------------------------------------------------------- */

const char *http_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default:  return "Unknown";
    }
}

/* An output cursor that stops writing, and remembers, once cap is reached. */
struct out {
    char *p;
    size_t cap, len;
    bool overflow;
};

static void put(struct out *o, const char *s)
{
    size_t n = strlen(s);
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_number(struct out *o, unsigned long long n)
{
    char digits[24];
    snprintf(digits, sizeof digits, "%llu", n);
    put(o, digits);
}

/* A 1xx response ends at its head: no body, no length, and a 101 hands the
 * connection to another protocol. */
static bool is_informational(int status)
{
    return status >= 100 && status < 200;
}

/* RFC 9110 §8.6: no Content-Length in a 1xx or 204 response (MUST NOT), and
 * none in a 304, whose length would be the 200's. A 101 gets no Connection:
 * keep-alive/close either; the caller's extra lines carry its Upgrade and
 * Connection headers. The output is not NUL-terminated: exactly the returned
 * length is written, and it fits when that length is at most cap. */
size_t http_write_head(char *out, size_t cap, int status, const char *content_type,
                       size_t content_length, bool keep_alive, const char *extra)
{
    struct out o = { out, cap, 0, false };

    put(&o, "HTTP/1.1 ");
    put_number(&o, (unsigned long long)(status < 0 ? 0 : status));
    put(&o, " ");
    put(&o, http_reason(status));
    put(&o, "\r\n");
    if (content_type) {
        put(&o, "Content-Type: ");
        put(&o, content_type);
        put(&o, "\r\n");
    }
    if (!is_informational(status) && status != 204 && status != 304) {
        put(&o, "Content-Length: ");
        put_number(&o, content_length);
        put(&o, "\r\n");
    }
    if (!is_informational(status))
        put(&o, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    if (extra)
        put(&o, extra);
    put(&o, "\r\n");
    return o.overflow ? 0 : o.len;
}
