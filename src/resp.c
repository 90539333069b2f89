/* resp.c -- see resp.h. The parser reads a reply as a sequence of headers
 * and scalars in pre-order; the only state across them is a stack of the
 * aggregates still open (where each one was recorded, how many elements it
 * still waits for). Every check is made on the bytes at hand, so a prefix of
 * a stream gives 0 or the same answer as the whole: redis.c can simply parse
 * again from the start of a reply when more bytes arrive. */
#include "resp.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

/* Longest line a number may take (":", sign, 19 digits, CRLF, with room):
 * without a bound, a server sending digits forever would only be stopped by
 * the caller's buffer limit. A double's text is longer ("-1.7976931348623157e+308"). */
#define NUMBER_LINE_MAX 32
#define DOUBLE_LINE_MAX 64

/* --- lines --------------------------------------------------------------- */

/* The length of the line starting at buf[1] (after the type byte), without
 * its CRLF: 0.. on success, -2 (incomplete) while no CR has come within max
 * bytes, or RESP_ERR_PROTOCOL for a lone CR or LF. *used gets the bytes of
 * the type byte, the line and its CRLF. */
static ssize_t line_at(const uint8_t *buf, size_t len, size_t max, size_t *used)
{
    size_t avail = len - 1;
    const uint8_t *p = buf + 1;
    const uint8_t *cr = memchr(p, '\r', avail < max ? avail : max);
    size_t upto = cr ? (size_t)(cr - p) : (avail < max ? avail : max);
    if (memchr(p, '\n', upto))
        return RESP_ERR_PROTOCOL;                 /* a bare LF ends no RESP line */
    if (!cr)
        return avail < max ? -2 : RESP_ERR_PROTOCOL;
    if ((size_t)(cr - p) + 1 >= avail)
        return -2;                                /* the LF has not come yet */
    if (cr[1] != '\n')
        return RESP_ERR_PROTOCOL;
    *used = 1 + (size_t)(cr - p) + 2;
    return cr - p;
}

/* A signed decimal integer filling s[0..n): optional sign, 1..19 digits, no
 * overflow. 0 or -1. */
static int parse_int(const uint8_t *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    size_t i = n > 0 && (s[0] == '-' || s[0] == '+');
    if (i == n)
        return -1;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = s[i] - '0';
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* 10^e for 0 <= e <= 22: exact in a double. */
static double exact_power_of_ten(int e)
{
    double p = 1.0;
    while (e-- > 0)
        p *= 10.0;
    return p;
}

/* digits * 10^e in the wider long double, rounded once at the end. */
static long double scale_slowly(uint64_t digits, int e)
{
    long double v = (long double)digits;
    for (; e >= 22; e -= 22)
        v *= 1e22L;
    for (; e <= -22; e += 22)
        v /= 1e22L;
    return e >= 0 ? v * (long double)exact_power_of_ten(e)
                  : v / (long double)exact_power_of_ten(-e);
}

/* [+-]digits[.digits][(e|E)[+-]digits]: its significant digits (the first
 * 19) and the power of ten they are scaled by; -1 if s[0..n) is not that. */
static int decimal_parts(const uint8_t *s, size_t n, uint64_t *digits, int *exp10)
{
    size_t i = s[0] == '-' || s[0] == '+';
    int count = 0, scale = 0, exp = 0, exp_sign = 1;
    bool any = false, point = false;
    for (*digits = 0; i < n && ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && !point)); i++) {
        if (s[i] == '.') {
            point = true;
            continue;
        }
        any = true;
        if (*digits == 0 && s[i] == '0') {
            scale -= point;              /* a leading zero: only its place counts */
        } else if (count < 19) {
            *digits = *digits * 10 + (uint64_t)(s[i] - '0');
            count++;
            scale -= point;
        } else {
            scale += !point;             /* a digit past the 19th, before the point */
        }
    }
    if (!any)
        return -1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            exp_sign = s[i++] == '-' ? -1 : 1;
        if (i == n)
            return -1;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            exp = exp < 10000 ? exp * 10 + (s[i] - '0') : exp;
    }
    *exp10 = scale + exp_sign * exp;
    return i == n ? 0 : -1;
}

/* RESP3 doubles: a decimal as above, or inf, -inf, nan. No strtod(): it
 * would also take hex and "infinity", which no server sends, and its tables
 * cost the static binary 3 KiB. Exact (correctly rounded) for up to 15
 * significant digits and powers of ten up to 22, as Redis's usual replies
 * are; otherwise computed in long double, within a unit in the last place. */
static int parse_double(const uint8_t *s, size_t n, double *out)
{
    if (n == 0)
        return -1;
    bool neg = s[0] == '-';
    size_t sign = neg || s[0] == '+';
    if (n - sign == 3 && memcmp(s + sign, "inf", 3) == 0) {
        *out = neg ? -HUGE_VAL : HUGE_VAL;
        return 0;
    }
    if (n - sign == 3 && memcmp(s + sign, "nan", 3) == 0) {
        *out = NAN;
        return 0;
    }
    uint64_t digits;
    int e;
    if (decimal_parts(s, n, &digits, &e) < 0)
        return -1;
    double v = (double)digits;
    if (digits == 0 || e < -400)
        v = 0.0;
    else if (e > 400)
        v = HUGE_VAL;
    else if (e >= 0 && e <= 22)
        v *= exact_power_of_ten(e);
    else if (e < 0 && e >= -22)
        v /= exact_power_of_ten(-e);     /* both exact: one correctly rounded step */
    else
        v = (double)scale_slowly(digits, e);
    *out = neg ? -v : v;
    return 0;
}

/* --- one header or scalar -------------------------------------------------- */

/* An optional sign and at least one digit, nothing else: 0 or -1. */
static int all_digits(const uint8_t *s, size_t n)
{
    size_t i = n > 0 && (s[0] == '-' || s[0] == '+');
    if (i == n)
        return -1;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    return 0;
}

/* What a line-typed value (+ - : _ # , () holds. */
static int scalar_line(uint8_t type, const uint8_t *s, size_t n, struct resp_value *v)
{
    v->str = (const char *)s;
    v->len = n;
    switch (type) {
    case '+': v->type = RESP_SIMPLE;  return 0;
    case '-': v->type = RESP_ERROR;   return 0;
    case ':': v->type = RESP_INTEGER; return parse_int(s, n, &v->integer);
    case '_': v->type = RESP_NULL;    return n == 0 ? 0 : -1;
    case '#':
        v->type = RESP_BOOL;
        v->integer = n == 1 && s[0] == 't';
        return n == 1 && (s[0] == 't' || s[0] == 'f') ? 0 : -1;
    case ',': v->type = RESP_DOUBLE;  return parse_double(s, n, &v->dbl);
    default:                                       /* '(' */
        v->type = RESP_BIGNUM;
        return all_digits(s, n);
    }
}

/* Bytes after a $, ! or = header line: N bytes, then CRLF. */
static ssize_t string_body(uint8_t type, const uint8_t *buf, size_t len, size_t at,
                           int64_t n, struct resp_value *v)
{
    if (n < 0 || n > RESP_MAX_BULK || (type == '=' && n < 4))
        return RESP_ERR_PROTOCOL;
    size_t need = at + (size_t)n + 2;
    if (len < need)
        return 0;
    if (buf[need - 2] != '\r' || buf[need - 1] != '\n')
        return RESP_ERR_PROTOCOL;
    v->str = (const char *)buf + at;
    v->len = (size_t)n;
    v->type = type == '$' ? RESP_BULK : type == '!' ? RESP_ERROR : RESP_VERBATIM;
    if (type == '=') {
        if (v->str[3] != ':')
            return RESP_ERR_PROTOCOL;
        memcpy(v->format, v->str, 3);
        v->format[3] = '\0';
        v->str += 4;
        v->len -= 4;
    }
    return (ssize_t)need;
}

static int aggregate_type(uint8_t type)
{
    switch (type) {
    case '*': return RESP_ARRAY;
    case '%': return RESP_MAP;
    case '~': return RESP_SET;
    case '>': return RESP_PUSH;
    default:  return -1;
    }
}

/* A $ ! = * % ~ > header: a length, and -1 (null) where RESP2 allows it. */
static ssize_t counted(uint8_t type, const uint8_t *buf, size_t len, struct resp_value *v)
{
    size_t used;
    ssize_t n = line_at(buf, len, NUMBER_LINE_MAX, &used);
    if (n < 0)
        return n == -2 ? 0 : n;
    if (n == 1 && buf[1] == '?')
        return RESP_ERR_UNSUPPORTED;              /* streamed: Redis never sends it */
    int64_t count;
    if (parse_int(buf + 1, (size_t)n, &count) < 0)
        return RESP_ERR_PROTOCOL;
    if (count == -1 && (type == '$' || type == '*')) {
        v->type = RESP_NULL;
        return (ssize_t)used;
    }
    int agg = aggregate_type(type);
    if (agg < 0)
        return string_body(type, buf, len, used, count, v);
    if (count < 0 || count > RESP_MAX_COUNT)
        return RESP_ERR_PROTOCOL;
    v->type = (uint8_t)agg;
    v->count = (uint32_t)(agg == RESP_MAP ? 2 * count : count);
    return (ssize_t)used;
}

/* One value's own bytes: a scalar, or an aggregate's header (its elements
 * follow). Returns bytes, 0 if incomplete, or a negative enum resp_err. */
static ssize_t parse_one(const uint8_t *buf, size_t len, struct resp_value *v)
{
    memset(v, 0, sizeof *v);
    if (len < 1)
        return 0;
    uint8_t type = buf[0];
    if (type && strchr("$!=*%~>", type))
        return counted(type, buf, len, v);
    if (type == '|')
        return RESP_ERR_UNSUPPORTED;
    if (!type || !strchr("+-:_#,(", type))
        return RESP_ERR_PROTOCOL;
    bool number = type == ':' || type == '_' || type == '#';
    size_t max = number ? NUMBER_LINE_MAX : type == ',' ? DOUBLE_LINE_MAX : len;
    size_t used;
    ssize_t n = line_at(buf, len, max, &used);
    if (n < 0)
        return n == -2 ? 0 : n;
    if (scalar_line(type, buf + 1, (size_t)n, v) < 0)
        return RESP_ERR_PROTOCOL;
    return (ssize_t)used;
}

/* --- the tree -------------------------------------------------------------- */

static bool is_aggregate(const struct resp_value *v)
{
    return v->type == RESP_ARRAY || v->type == RESP_MAP || v->type == RESP_SET
        || v->type == RESP_PUSH;
}

struct open_agg {
    uint64_t index;              /* where it was recorded (if below cap) */
    uint32_t left;               /* elements still to come */
};

ssize_t resp_parse(const uint8_t *buf, size_t len, struct resp_reply *out)
{
    struct open_agg stack[RESP_MAX_DEPTH];
    int depth = 0;
    size_t pos = 0;
    uint64_t total = 0;

    out->count = 0;
    out->too_many = false;
    do {
        struct resp_value v;
        ssize_t n = parse_one(buf + pos, len - pos, &v);
        if (n <= 0)
            return n;
        pos += (size_t)n;
        uint64_t index = total++;
        v.depth = (uint8_t)depth;
        v.span = 1;
        if (index < out->cap)
            out->values[index] = v;
        if (is_aggregate(&v) && v.count > 0) {
            if (depth == RESP_MAX_DEPTH)
                return RESP_ERR_DEPTH;
            stack[depth++] = (struct open_agg){ index, v.count };
            continue;
        }
        /* v is complete: so is every aggregate it was the last element of. */
        while (depth > 0 && --stack[depth - 1].left == 0) {
            uint64_t at = stack[--depth].index;
            if (at < out->cap)
                out->values[at].span = (uint32_t)(total - at);
        }
    } while (depth > 0);
    if (total > out->cap)
        out->too_many = true;
    else
        out->count = (uint32_t)total;
    return (ssize_t)pos;
}

const struct resp_value *resp_element(const struct resp_value *a, uint32_t i)
{
    const struct resp_value *v = a + 1;
    while (i-- > 0)
        v += v->span;
    return v;
}

bool resp_str_eq(const struct resp_value *v, const char *literal)
{
    bool str = v->type == RESP_SIMPLE || v->type == RESP_ERROR || v->type == RESP_BULK
            || v->type == RESP_VERBATIM;
    size_t n = strlen(literal);
    return str && v->len == n && memcmp(v->str, literal, n) == 0;
}

/* --- commands ------------------------------------------------------------ */

static size_t digits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

size_t resp_command_len(int argc, const size_t *lens)
{
    size_t n = 1 + digits((size_t)argc) + 2;
    for (int i = 0; i < argc; i++)
        n += 1 + digits(lens[i]) + 2 + lens[i] + 2;
    return n;
}

/* "*3\r\n" or "$5\r\n" at out; returns its length. */
static size_t put_header(uint8_t *out, char type, size_t n)
{
    size_t d = digits(n);
    out[0] = (uint8_t)type;
    for (size_t i = d; i > 0; i--, n /= 10)
        out[i] = (uint8_t)('0' + n % 10);
    out[d + 1] = '\r';
    out[d + 2] = '\n';
    return d + 3;
}

size_t resp_command_write(uint8_t *out, size_t cap, int argc, const char *const *argv,
                          const size_t *lens)
{
    if (argc < 1 || resp_command_len(argc, lens) > cap)
        return 0;
    size_t pos = put_header(out, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        pos += put_header(out + pos, '$', lens[i]);
        if (lens[i])                     /* argv[i] may be NULL when empty */
            memcpy(out + pos, argv[i], lens[i]);
        memcpy(out + pos + lens[i], "\r\n", 2);
        pos += lens[i] + 2;
    }
    return pos;
}

/* --- redis:// URLs -------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* s[0..n) with %XX decoded into out[0..cap), NUL-terminated; -1 if a % is
 * not followed by two hex digits, the result holds a NUL (it could not be
 * told from the end), or it does not fit. */
static int percent_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= cap)
            return -1;
        char c = s[i];
        if (c == '%') {
            int hi = i + 1 < n ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* [[USER]:PASSWORD] from s[0..n), the part before the last '@'. */
static int parse_userinfo(const char *s, size_t n, struct resp_url *url, const char **why)
{
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return *why = "a password needs a colon before it (redis://:PASSWORD@HOST)", -1;
    if (percent_decode(s, (size_t)(colon - s), url->user, sizeof url->user) < 0)
        return *why = "bad or overlong user name (a % must start %XX)", -1;
    const char *pw = colon + 1;
    if (percent_decode(pw, (size_t)(s + n - pw), url->password, sizeof url->password) < 0)
        return *why = "bad or overlong password (a % must start %XX)", -1;
    url->has_password = true;
    return 0;
}

/* ":PORT" filling s[0..n): 1..65535. */
static int parse_port(const char *s, size_t n, uint16_t *port)
{
    unsigned long v = 0;
    if (n < 2 || n > 6 || s[0] != ':')
        return -1;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* HOST[:PORT] or [V6]:PORT filling s[0..n). */
static int parse_hostport(const char *s, size_t n, struct resp_url *url, const char **why)
{
    const char *host = s, *host_end, *rest;
    if (n > 0 && s[0] == '[') {
        host = s + 1;
        host_end = memchr(host, ']', n - 1);
        if (!host_end)
            return *why = "unclosed [ in the host", -1;
        rest = host_end + 1;
    } else {
        host_end = memchr(s, ':', n);
        host_end = host_end ? host_end : s + n;
        rest = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0)
        return *why = "no host", -1;
    if (hlen >= sizeof url->host)
        return *why = "host too long", -1;
    bool v6 = host != s;
    if (memchr(host, '%', hlen) || memchr(host, ' ', hlen) || v6 != !!memchr(host, ':', hlen))
        return *why = "bad host", -1;
    memcpy(url->host, host, hlen);
    url->host[hlen] = '\0';
    if (rest < s + n && parse_port(rest, (size_t)(s + n - rest), &url->port) < 0)
        return *why = "bad port (1 to 65535)", -1;
    return 0;
}

/* "/DB" or "/" or "" filling s[0..n). */
static int parse_db(const char *s, size_t n, uint32_t *db)
{
    uint64_t v = 0;
    if (n == 0 || (n == 1 && s[0] == '/'))
        return 0;
    if (n > 11)
        return -1;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > INT32_MAX)
        return -1;
    *db = (uint32_t)v;
    return 0;
}

int resp_url_parse(const char *text, struct resp_url *url, const char **why)
{
    memset(url, 0, sizeof *url);
    url->port = RESP_URL_DEFAULT_PORT;
    if (strncasecmp(text, "rediss://", 9) == 0)
        return *why = "rediss:// (TLS) is not supported", -1;
    if (strncasecmp(text, "redis://", 8) != 0)
        return *why = "the URL must start with redis://", -1;
    const char *s = text + 8, *at = strrchr(s, '@');
    if (at && parse_userinfo(s, (size_t)(at - s), url, why) < 0)
        return -1;
    s = at ? at + 1 : s;
    if (strpbrk(s, "?#"))
        return *why = "options after ? or # are not supported", -1;
    size_t auth = strcspn(s, "/");
    if (parse_hostport(s, auth, url, why) < 0)
        return -1;
    if (parse_db(s + auth, strlen(s + auth), &url->db) < 0)
        return *why = "bad database number (/0 to /2147483647)", -1;
    return 0;
}

void resp_url_format(const struct resp_url *url, char *out, size_t cap)
{
    bool v6 = strchr(url->host, ':') != NULL;
    snprintf(out, cap, "redis://%s%s%s%s%s:%u/%u", url->has_password ? url->user : "",
             url->has_password ? ":***@" : "", v6 ? "[" : "", url->host, v6 ? "]" : "",
             url->port, url->db);
}
