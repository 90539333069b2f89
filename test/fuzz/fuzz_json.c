/* fuzz_json.c -- libFuzzer harness for src/json.c (with src/utf8.c, used
 * only to judge UTF-8 validity).
 *
 * The input is a client message. It is parsed as the endpoints parse it
 * (ep_chat.c, ep_sensor.c, cli_connect.c, cli_monitor.c): into a small array
 * of members, then json_find and json_string_eq over the count returned.
 * Each array is exactly that many members of heap, so a search past it is an
 * ASan report (issue 14: 17 members in an array of 16). The count must be
 * every member or JSON_ERR_TOO_MANY, agreeing with a parse that has room for
 * all, also with blanks around the text; every member recorded must point at
 * well-formed pieces of the input. Each string member must decode with as
 * much room as its raw text, to valid UTF-8 when the raw text was valid
 * UTF-8, never write past a smaller room, and equal (json_string_eq) its
 * decoded bytes only when they hold no NUL. The decoded bytes (and, for every
 * input, the raw input itself) then make a round trip: json_escape, wrap as
 * {"k":"..."}, parse, decode, and the bytes must be back unchanged. A message
 * built with the writer around them must parse back to the same values, and
 * for each cap tried the writer must either fit exactly or report overflow,
 * never writing past cap. A broken invariant calls abort(). */
#include "json.h"
#include "utf8.h"

#include <math.h>
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

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    REQUIRE(p != NULL);
    return p;
}

/* Caps to try below and around a length that fits: all of them when the
 * text is short, else the ends, the given boundaries and eight between (a
 * cap loop is quadratic, and the fuzzer should spend its time on new
 * inputs). */
static bool worth_trying(size_t cap, size_t full, const size_t *edges, size_t nedges)
{
    if (full <= 64 || cap < 4 || cap + 4 > full || cap % (full / 8 + 1) == 0)
        return true;
    for (size_t i = 0; i < nedges; i++)
        if (cap + 1 >= edges[i] && cap <= edges[i] + 1)
            return true;
    return false;
}

/* --- strings --------------------------------------------------------------- */

/* json_string_value with exactly cap bytes of heap, so ASan sees any write
 * past cap; it must fail below the decoded length and repeat it above. */
static void check_decode_caps(const struct json_member *m, const char *dec, size_t len)
{
    for (size_t cap = 0; cap <= len + 1; cap++) {
        if (!worth_trying(cap, len, NULL, 0))
            continue;
        char *out = xmalloc(cap);
        ssize_t r = json_string_value(m, out, cap);
        if (cap < len)
            REQUIRE(r == -1);
        else
            REQUIRE(r == (ssize_t)len && memcmp(out, dec, len) == 0);
        free(out);
    }
}

/* json_escape likewise; what it writes is a valid string body: no raw
 * control character, quote or lone backslash. */
static size_t check_escape(const char *s, size_t len, char *esc)
{
    ssize_t e = json_escape(s, len, esc, 6 * len);    /* \u00XX: at most 6 per byte */
    REQUIRE(e >= 0 && (size_t)e >= len && (size_t)e <= 6 * len);
    for (size_t i = 0; i < (size_t)e; i++) {
        unsigned char c = (unsigned char)esc[i];
        REQUIRE(c >= 0x20 && c != '"');
        if (c == '\\')
            i++;                         /* the escaped character */
    }
    for (size_t cap = 0; cap <= (size_t)e + 1; cap++) {
        if (!worth_trying(cap, (size_t)e, NULL, 0))
            continue;
        char *out = xmalloc(cap);
        ssize_t r = json_escape(s, len, out, cap);
        if (cap < (size_t)e)
            REQUIRE(r == -1);
        else
            REQUIRE(r == e && memcmp(out, esc, (size_t)e) == 0);
        free(out);
    }
    return (size_t)e;
}

/* s[0..len) escaped, wrapped as {"k":"..."}, parsed and decoded: the same
 * bytes, whatever they are. */
static void round_trip(const char *s, size_t len)
{
    char *text = xmalloc(6 * len + 8), *back = xmalloc(len);
    struct json_member m[2];

    memcpy(text, "{\"k\":\"", 6);
    size_t n = 6 + check_escape(s, len, text + 6);
    memcpy(text + n, "\"}", 2);
    n += 2;
    REQUIRE(json_parse_object(text, n, m, 2) == 1);
    REQUIRE(m[0].type == JSON_STRING && m[0].key.len == 1 && m[0].key.p[0] == 'k');
    REQUIRE(json_find(m, 1, "k") == &m[0]);
    REQUIRE(json_string_value(&m[0], back, len) == (ssize_t)len);
    REQUIRE(memcmp(back, s, len) == 0);
    free(text);
    free(back);
}

/* json_string_value checks bounds itself rather than trusting that the
 * member came from json_parse_object (json.c): a hand-made one holding any
 * bytes at all must not make it read or write out of bounds. The bytes are
 * libFuzzer's, which end where the input does, so ASan sees an overread. */
static void check_hand_made(const char *s, size_t len)
{
    struct json_member m = { .type = JSON_STRING };
    char *out = xmalloc(len);

    m.value.p = s;
    m.value.len = len;
    ssize_t r = json_string_value(&m, out, len);
    REQUIRE(r == -1 || (len >= 2 && (size_t)r <= len - 2));
    json_string_eq(&m, "message");      /* no overread either */
    m.type = JSON_NUMBER;
    REQUIRE(json_string_value(&m, out, len) == -1);
    REQUIRE(!json_string_eq(&m, ""));
    free(out);
}

/* --- members ---------------------------------------------------------------- */

static bool all_of(const char *p, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\0' || !strchr(set, p[i]))
            return false;
    return true;
}

/* The raw spans lie in the input, the key between quotes, and the value's
 * text is what its type says. */
static void check_spans(const struct json_member *m, const char *s, size_t len)
{
    REQUIRE(m->key.p > s && m->key.p + m->key.len < s + len);
    REQUIRE(m->key.p[-1] == '"' && m->key.p[m->key.len] == '"');
    REQUIRE(m->value.p >= s && m->value.len > 0 && m->value.p + m->value.len <= s + len);
    const char *v = m->value.p;
    size_t n = m->value.len;
    char last = v[n - 1];
    switch (m->type) {
    case JSON_NULL:   REQUIRE(n == 4 && memcmp(v, "null", 4) == 0);  break;
    case JSON_TRUE:   REQUIRE(n == 4 && memcmp(v, "true", 4) == 0);  break;
    case JSON_FALSE:  REQUIRE(n == 5 && memcmp(v, "false", 5) == 0); break;
    case JSON_NUMBER: REQUIRE(all_of(v, n, "0123456789+-.eE"));      break;
    case JSON_STRING: REQUIRE(n >= 2 && v[0] == '"' && last == '"'); break;
    case JSON_ARRAY:  REQUIRE(v[0] == '[' && last == ']');           break;
    case JSON_OBJECT: REQUIRE(v[0] == '{' && last == '}');           break;
    default:          REQUIRE(!"unknown type");
    }
}

/* json_string_eq compares by length: the decoded bytes as a C string match
 * unless a NUL cuts them short, and one byte less never matches. */
static void check_string_eq(const struct json_member *m, const char *dec, size_t len)
{
    char *z = xmalloc(len + 1);
    memcpy(z, dec, len);
    z[len] = '\0';
    REQUIRE(json_string_eq(m, z) == (memchr(dec, '\0', len) == NULL));
    if (len > 0) {
        z[len - 1] = '\0';
        REQUIRE(!json_string_eq(m, z));
    }
    free(z);
}

/* A string member decodes in as much room as its raw body, never grows,
 * and keeps valid UTF-8 valid; the result goes round. */
static void check_string_member(const struct json_member *m)
{
    size_t raw = m->value.len - 2;
    char *dec = xmalloc(raw);
    ssize_t d = json_string_value(m, dec, raw);
    REQUIRE(d >= 0 && (size_t)d <= raw);
    if (utf8_valid((const uint8_t *)m->value.p + 1, raw))
        REQUIRE(utf8_valid((const uint8_t *)dec, (size_t)d));
    check_decode_caps(m, dec, (size_t)d);
    check_string_eq(m, dec, (size_t)d);
    round_trip(dec, (size_t)d);
    free(dec);
}

static void check_member(const struct json_member *m, const struct json_member *all, int n,
                         const char *s, size_t len)
{
    char key[64];

    check_spans(m, s, len);
    if (m->key.len < sizeof key) {       /* json_find takes the first raw match */
        memcpy(key, m->key.p, m->key.len);
        key[m->key.len] = '\0';
        const struct json_member *f = json_find(all, n, key);
        REQUIRE(f != NULL && f <= m && f->key.len == m->key.len);
        REQUIRE(memcmp(f->key.p, key, m->key.len) == 0);
        for (const struct json_member *e = all; e < f; e++)
            REQUIRE(e->key.len != m->key.len || memcmp(e->key.p, key, e->key.len) != 0);
    }
    if (m->type == JSON_STRING) {
        check_string_member(m);
    } else {
        REQUIRE(json_string_value(m, key, sizeof key) == -1);
        REQUIRE(!json_string_eq(m, ""));
    }
}

/* --- the writer ------------------------------------------------------------- */

struct values {
    const char *str;
    size_t str_len;
    int64_t i;
    uint64_t u;
    double f;
    int decimals;
};

/* A message shaped like the server's own, built in a buf of cap bytes.
 * edges[] (when not NULL) gets the length after each call. */
static ssize_t write_message(const struct values *v, char *buf, size_t cap, size_t *edges)
{
    struct json_writer w;
    size_t k = 0;

#define STEP(call) do { call; if (edges) edges[k++] = w.len; } while (0)
    json_init(&w, buf, cap);
    STEP(json_object_begin(&w));
    STEP(json_member_cstr(&w, "type", "message"));
    STEP(json_member_str(&w, "message", v->str, v->str_len));
    STEP(json_member_int(&w, "i", v->i));
    STEP(json_member_uint(&w, "u", v->u));
    STEP(json_member_bool(&w, "b", v->u & 1));
    STEP(json_member_fixed(&w, "f", v->f, v->decimals));
    STEP(json_member_object(&w, "o"));
    STEP(json_member_str(&w, "k", v->str, v->str_len));
    STEP(json_object_end(&w));
    STEP(json_object_end(&w));
#undef STEP
    REQUIRE(w.len <= cap);
    return json_finish(&w);
}

/* The full message parses back to its values; every smaller cap, tried with
 * exactly that much heap, fails cleanly. */
static void check_writer(const struct values *v)
{
    size_t room = 6 * v->str_len * 2 + 512, edges[16];
    char *full = xmalloc(room), *back = xmalloc(v->str_len);
    struct json_member m[8];

    ssize_t len = write_message(v, full, room, edges);
    REQUIRE(len > 0);
    REQUIRE(json_parse_object(full, (size_t)len, m, 8) == 7);
    REQUIRE(m[1].type == JSON_STRING && m[2].type == JSON_NUMBER && m[3].type == JSON_NUMBER);
    REQUIRE(m[4].type == (v->u & 1 ? JSON_TRUE : JSON_FALSE) && m[6].type == JSON_OBJECT);
    REQUIRE(m[5].type == (isfinite(v->f) ? JSON_NUMBER : JSON_NULL));
    REQUIRE(json_string_value(&m[1], back, v->str_len) == (ssize_t)v->str_len);
    REQUIRE(memcmp(back, v->str, v->str_len) == 0);
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v->i);
    REQUIRE(m[2].value.len == strlen(num) && memcmp(m[2].value.p, num, m[2].value.len) == 0);
    snprintf(num, sizeof num, "%llu", (unsigned long long)v->u);
    REQUIRE(m[3].value.len == strlen(num) && memcmp(m[3].value.p, num, m[3].value.len) == 0);

    for (size_t cap = 0; cap <= (size_t)len; cap++) {
        if (!worth_trying(cap, (size_t)len, edges, 11))
            continue;
        char *out = xmalloc(cap);
        ssize_t r = write_message(v, out, cap, NULL);
        if (cap < (size_t)len)
            REQUIRE(r == -1);
        else
            REQUIRE(r == len && memcmp(out, full, (size_t)len) == 0);
        free(out);
    }
    free(full);
    free(back);
}

/* --- the whole input ------------------------------------------------------ */

/* Parse with room for every member any text of len bytes can hold ({"":0}
 * is 6 bytes, each further member 5), so the answer is never "too many". */
static int parse_all(const char *s, size_t len, struct json_member **all)
{
    int room = (int)(len / 5) + 1;
    *all = xmalloc(sizeof **all * (size_t)room);
    int n = json_parse_object(s, len, *all, room);
    REQUIRE(n == JSON_ERR_SYNTAX || (n >= 0 && n < room));
    return n;
}

static bool same_member(const struct json_member *a, const struct json_member *b)
{
    return a->key.p == b->key.p && a->key.len == b->key.len && a->type == b->type
        && a->value.p == b->value.p && a->value.len == b->value.len;
}

/* The endpoints' way: an array of max members, exactly that much heap, and
 * every search over the count returned. Every member or none: a text of
 * more than max gives JSON_ERR_TOO_MANY, and a found key is the first of
 * its name in the whole object, never one of a partial list. */
static void check_like_endpoints(const char *s, size_t len, const struct json_member *all,
                                 int total)
{
    static const int caps[] = { 0, 1, 2, 8, 16, 24 };
    static const char *const keys[] = { "type", "message", "sender", "username", "action",
                                        "command", "server", "message_count", "k" };
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        int max = caps[i];
        struct json_member *m = xmalloc(sizeof *m * (size_t)max);
        int n = json_parse_object(s, len, m, max);
        REQUIRE(n == (total > max ? JSON_ERR_TOO_MANY : total));
        for (int j = 0; j < n; j++)
            REQUIRE(same_member(&m[j], &all[j]));
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            const struct json_member *f = json_find(m, n, keys[k]);
            const struct json_member *want = json_find(all, total, keys[k]);
            REQUIRE(f == NULL ? n < 0 || want == NULL : f - m == want - all);
            json_string_eq(f, "message");            /* reads f's value: in bounds */
        }
        free(m);
    }
}

/* Blanks (§2) around the text change nothing; an object text cut before its
 * closing brace is never valid. */
static void check_context(const char *s, size_t len, int n)
{
    struct json_member *m;
    char *padded = xmalloc(len + 6);
    memcpy(padded, " \t\n", 3);
    memcpy(padded + 3, s, len);
    memcpy(padded + 3 + len, "\r\n ", 3);
    REQUIRE(parse_all(padded, len + 6, &m) == n);
    free(m);
    free(padded);
    if (n >= 0) {
        const char *brace = s + len;
        while (brace > s && brace[-1] != '}')
            brace--;
        REQUIRE(brace > s);
        REQUIRE(parse_all(s, (size_t)(brace - s) - 1, &m) == JSON_ERR_SYNTAX);
        free(m);
    }
}

static struct values values_from(const uint8_t *data, size_t size, const char *str,
                                 size_t str_len)
{
    /* json_escape's every cap is tried in round_trip(); here the string only
     * needs to sit among the other members, so a short one will do. */
    struct values v = { str, str_len < 64 ? str_len : 64, 0, 0, 0.0, 0 };
    uint8_t tail[24] = { 0 };
    memcpy(tail, data + (size > 24 ? size - 24 : 0), size < 24 ? size : 24);
    memcpy(&v.i, tail, 8);
    memcpy(&v.u, tail + 8, 8);
    memcpy(&v.f, tail + 16, 8);          /* any bits: NaN, infinities, 1e308 */
    if (tail[16] & 1)                    /* or a sensor-like value: 1e308 is */
        v.f = (double)(int32_t)v.u / 1000.0;   /* costly to print 40 times */
    v.decimals = size ? (int)(data[0] % 12) - 1 : 0;   /* -1..10: clamped */
    if (size && data[size - 1] == 'M')
        v.i = INT64_MIN;
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct json_member *all;

    int n = parse_all(s, size, &all);
    check_context(s, size, n);
    check_like_endpoints(s, size, all, n);
    for (int i = 0; i < n; i++)
        check_member(&all[i], all, n, s, size);

    REQUIRE(json_find(all, n, "\x01") == NULL);    /* a raw key never holds it */
    round_trip(s, size);                 /* any bytes at all go round */
    check_hand_made(s, size);
    const struct json_member *str = NULL;
    for (int i = 0; i < n && !str; i++)
        if (all[i].type == JSON_STRING)
            str = &all[i];
    if (str) {
        char *dec = xmalloc(str->value.len);
        ssize_t d = json_string_value(str, dec, str->value.len);
        struct values v = values_from(data, size, dec, (size_t)d);
        check_writer(&v);
        free(dec);
    } else {
        struct values v = values_from(data, size, s, size);
        check_writer(&v);
    }
    free(all);
    return 0;
}
