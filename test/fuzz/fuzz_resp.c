/* fuzz_resp.c -- libFuzzer harness for resp.c: the input is a stream of
 * Redis replies, parsed as redis.c parses it (one reply after another from
 * the same buffer, into an array of values of a fixed cap), and also as a
 * redis:// URL and as the arguments of a command. Every broken invariant
 * calls abort(). See README.md for the list. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: broken: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define MAX_REPLIES 4096

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    REQUIRE(p != NULL);
    return p;
}

/* The outcome of parsing a stream: where each reply ended, and how the
 * parse stopped (0: incomplete or the end; < 0: the error). */
struct outcome {
    size_t ends[MAX_REPLIES];
    size_t count;
    ssize_t last;
};

static bool is_aggregate(const struct resp_value *v)
{
    return v->type == RESP_ARRAY || v->type == RESP_MAP || v->type == RESP_SET
        || v->type == RESP_PUSH;
}

static bool is_string(const struct resp_value *v)
{
    return v->type == RESP_SIMPLE || v->type == RESP_ERROR || v->type == RESP_BULK
        || v->type == RESP_VERBATIM || v->type == RESP_DOUBLE || v->type == RESP_BIGNUM;
}

/* The tree of one recorded reply is what its spans, counts and depths say,
 * and every string lies inside the reply's bytes. */
static void check_tree(const struct resp_reply *r, const uint8_t *buf, size_t used)
{
    REQUIRE(r->count >= 1 && r->values[0].depth == 0 && r->values[0].span == r->count);
    for (uint32_t i = 0; i < r->count; i++) {
        const struct resp_value *v = &r->values[i];
        REQUIRE(v->span >= 1 && i + v->span <= r->count && v->depth <= RESP_MAX_DEPTH);
        if (is_string(v))
            REQUIRE((const uint8_t *)v->str > buf && (const uint8_t *)v->str + v->len < buf + used);
        if (v->type == RESP_BOOL)
            REQUIRE(v->integer == 0 || v->integer == 1);
        if (v->type == RESP_MAP)
            REQUIRE(v->count % 2 == 0);
        if (!is_aggregate(v)) {
            REQUIRE(v->span == 1);
            continue;
        }
        uint32_t inside = 1;
        for (uint32_t k = 0; k < v->count; k++) {
            const struct resp_value *e = resp_element(v, k);
            REQUIRE(e - v == (ptrdiff_t)inside && e->depth == v->depth + 1);
            inside += e->span;
        }
        REQUIRE(inside == v->span);
    }
}

/* Parse buf[0..len) reply after reply, as redis.c does, into cap values. */
static void parse_stream(const uint8_t *buf, size_t len, uint32_t cap, struct outcome *o,
                         uint32_t *totals)
{
    struct resp_value *values = xmalloc(sizeof *values * cap);
    size_t pos = 0;
    o->count = 0;
    o->last = 0;
    while (o->count < MAX_REPLIES) {
        struct resp_reply r = { values, cap, 0, false };
        ssize_t n = resp_parse(buf + pos, len - pos, &r);
        if (n <= 0) {
            o->last = n;
            break;
        }
        REQUIRE((size_t)n <= len - pos);
        REQUIRE(r.too_many ? r.count == 0 : r.count >= 1 && r.count <= cap);
        if (!r.too_many)
            check_tree(&r, buf + pos, (size_t)n);
        if (totals && !r.too_many)
            totals[o->count] = r.count;
        if (totals && r.too_many)
            REQUIRE(cap < totals[o->count]);
        else if (totals)
            REQUIRE(r.count == totals[o->count]);
        pos += (size_t)n;
        o->ends[o->count++] = pos;
    }
    free(values);
}

/* A prefix never contradicts the whole: the replies that fit in it come
 * out the same, then 0 or the whole's own error. Each prefix sits in a heap
 * block of exactly its length, so ASan sees a read past it. */
static void check_prefix(const uint8_t *data, size_t k, const struct outcome *whole,
                         uint32_t room)
{
    static struct outcome o;
    uint8_t *copy = xmalloc(k);
    memcpy(copy, data, k);
    parse_stream(copy, k, room, &o, NULL);
    free(copy);
    size_t fit = 0;
    while (fit < whole->count && whole->ends[fit] <= k)
        fit++;
    REQUIRE(o.count == fit || (fit == MAX_REPLIES && o.count == MAX_REPLIES));
    for (size_t i = 0; i < o.count; i++)
        REQUIRE(o.ends[i] == whole->ends[i]);
    if (o.count < MAX_REPLIES)
        REQUIRE(o.last == 0 || (fit == whole->count && o.last == whole->last));
}

static bool worth_splitting(size_t k, size_t len)
{
    return len <= 1024 || k < 256 || len - k < 64 || k % (len / 128) == 0;
}

/* The first bytes pick the arguments: encode them, and it parses back as an
 * array of exactly those bulk strings. */
static void check_command(const uint8_t *data, size_t size)
{
    const char *argv[8];
    size_t lens[8];
    int argc = 0;
    size_t pos = 0;
    while (argc < 8 && pos < size) {
        size_t n = data[pos] % 16;
        pos++;
        n = n < size - pos ? n : size - pos;
        argv[argc] = (const char *)data + pos;
        lens[argc++] = n;
        pos += n;
    }
    if (argc == 0)
        return;
    size_t len = resp_command_len(argc, lens);
    uint8_t *out = xmalloc(len);
    REQUIRE(resp_command_write(out, len - 1, argc, argv, lens) == 0);
    REQUIRE(resp_command_write(out, len, argc, argv, lens) == len);
    struct resp_value values[9];
    struct resp_reply r = { values, 9, 0, false };
    REQUIRE(resp_parse(out, len, &r) == (ssize_t)len);
    REQUIRE(r.count == (uint32_t)argc + 1 && values[0].type == RESP_ARRAY);
    for (int i = 0; i < argc; i++) {
        REQUIRE(values[i + 1].type == RESP_BULK && values[i + 1].len == lens[i]);
        REQUIRE(lens[i] == 0 || memcmp(values[i + 1].str, argv[i], lens[i]) == 0);
    }
    free(out);
}

/* Any text as a URL: an answer, never a crash; a good one formats back
 * into a URL that parses to the same place. */
static void check_url(const uint8_t *data, size_t size)
{
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct resp_url u, back;
    const char *why = NULL;
    if (resp_url_parse(text, &u, &why) == 0) {
        char shown[600];
        resp_url_format(&u, shown, sizeof shown);
        REQUIRE(resp_url_parse(shown, &back, &why) == 0);
        REQUIRE(strcmp(back.host, u.host) == 0 && back.port == u.port && back.db == u.db);
        REQUIRE(u.port > 0 && u.host[0] != '\0');
    } else {
        REQUIRE(why != NULL && why[0] != '\0');
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct outcome whole, capped;
    static uint32_t totals[MAX_REPLIES];
    static const uint32_t caps[] = { 0, 1, 2, 5, 64 };
    uint32_t room = (uint32_t)(size / 3 + 1);   /* every value takes 3 bytes or more */

    parse_stream(data, size, room, &whole, totals);
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        parse_stream(data, size, caps[i], &capped, totals);   /* too_many, in step */
        REQUIRE(capped.count == whole.count && capped.last == whole.last);
        for (size_t j = 0; j < whole.count; j++)
            REQUIRE(capped.ends[j] == whole.ends[j]);
    }
    for (size_t k = 0; k < size; k++)
        if (worth_splitting(k, size))
            check_prefix(data, k, &whole, room);
    check_command(data, size);
    check_url(data, size);
    return 0;
}
