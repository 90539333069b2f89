/* access.c -- see access.h. */
#include "access.h"

#include <string.h>

#define ACCESS_MAX_TOKEN 512

bool access_secret_equal(const char *given, size_t given_len, const char *secret)
{
    size_t secret_len = strlen(secret);
    unsigned diff = given_len != secret_len;
    for (size_t i = 0; i < secret_len; i++) {
        unsigned char g = given_len ? (unsigned char)given[i % given_len] : 0;
        diff |= g ^ (unsigned char)secret[i];
    }
    return diff == 0;
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
        return (ch | 0x20) - 'a' + 10;
    return -1;
}

/* Percent-decode (and '+' as space) into out; -1 if too long or broken. */
static int url_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++, n++) {
        if (n == cap)
            return -1;
        if (s[i] == '%') {
            int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
            int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
            if (lo < 0)
                return -1;
            out[n] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n] = s[i] == '+' ? ' ' : s[i];
        }
    }
    return (int)n;
}

/* The value of ?token= in the request target, decoded; -1 if absent. */
static int query_token(const struct http_request *req, char *out, size_t cap)
{
    const char *q = memchr(req->target.p, '?', req->target.len);
    struct http_span token;
    if (!q || !http_query_param(q + 1, (size_t)(req->target.p + req->target.len - q - 1),
                                "token", &token))
        return -1;
    return url_decode(token.p, token.len, out, cap);
}

/* "Bearer SECRET" (RFC 6750 §2.1; the scheme is case-insensitive). */
static int bearer_token(const struct http_request *req, const char **token)
{
    const struct http_span *auth = http_header_get(req, "Authorization");
    if (!auth || auth->len < 7)
        return -1;
    struct http_span scheme = { auth->p, 6 };
    if (!http_span_case_eq(&scheme, "Bearer") || auth->p[6] != ' ')
        return -1;
    size_t skip = 7;
    while (skip < auth->len && auth->p[skip] == ' ')
        skip++;
    *token = auth->p + skip;
    return (int)(auth->len - skip);
}

int access_check_token(const struct access_rules *rules, const struct http_request *req)
{
    if (!rules->token)
        return 0;
    char decoded[ACCESS_MAX_TOKEN];
    const char *given;
    int len = bearer_token(req, &given);
    if (len < 0) {
        len = query_token(req, decoded, sizeof decoded);
        given = decoded;
    }
    return len >= 0 && access_secret_equal(given, (size_t)len, rules->token) ? 0 : 401;
}

int access_check_origin(const struct access_rules *rules, const struct http_request *req)
{
    const struct http_span *origin = http_header_get(req, "Origin");
    if (!rules->allow_origin || !origin)
        return 0;
    const char *list = rules->allow_origin;
    while (*list) {
        size_t len = strcspn(list, ",");
        const char *item = list;
        list += len + (list[len] == ',');
        while (len > 0 && item[0] == ' ')
            item++, len--;
        while (len > 0 && item[len - 1] == ' ')
            len--;
        /* RFC 6454 §6.2: origins compare as ASCII-lowercased strings. */
        char one[256];
        if (len == 0 || len >= sizeof one)
            continue;
        memcpy(one, item, len);
        one[len] = '\0';
        if (http_span_case_eq(origin, one))
            return 0;
    }
    return 403;
}
