/* test_resp.c -- resp.c alone: every RESP2 and RESP3 type, a stream of all
 * of them cut at every byte (each prefix in a heap block of exactly its
 * length, so ASan sees a read past it), each malformed input its own case,
 * the depth and count limits, the command encoder, and redis:// URLs. */
#include "resp.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>

#define MAXV 64

static struct resp_value vals[MAXV];

/* Parse text (a C string) from a heap copy of exactly its length, kept
 * until the next call so that the strings in vals[] can be checked. */
static ssize_t parse_cap(const char *text, struct resp_reply *out, uint32_t cap)
{
    static uint8_t *copy;
    size_t len = strlen(text);
    free(copy);
    copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    out->values = vals;
    out->cap = cap;
    return resp_parse(copy, len, out);
}

static ssize_t parse(const char *text, struct resp_reply *out)
{
    return parse_cap(text, out, MAXV);
}

/* --- every type ---------------------------------------------------------- */

static void test_scalars(void)
{
    struct resp_reply r;
    static const uint8_t ok[] = "+OK\r\n";
    r = (struct resp_reply){ vals, MAXV, 0, false };
    CHECK_EQ(resp_parse(ok, 5, &r), 5);
    CHECK_EQ(r.count, 1);
    CHECK(vals[0].type == RESP_SIMPLE && vals[0].str == (const char *)ok + 1);
    CHECK_MEM(vals[0].str, vals[0].len, "OK", 2);
    CHECK(resp_str_eq(&vals[0], "OK") && !resp_str_eq(&vals[0], "O"));

    CHECK_EQ(parse("-ERR unknown command 'x'\r\n", &r), 26);
    CHECK(vals[0].type == RESP_ERROR && vals[0].len == 23);
    CHECK_EQ(parse(":0\r\n", &r), 4);
    CHECK(vals[0].type == RESP_INTEGER && vals[0].integer == 0);
    CHECK_EQ(parse(":-9223372036854775808\r\n", &r), 23);
    CHECK(vals[0].integer == INT64_MIN);
    CHECK_EQ(parse(":9223372036854775807\r\n", &r), 22);
    CHECK(vals[0].integer == INT64_MAX);
    CHECK_EQ(parse(":+7\r\n", &r), 5);
    CHECK(vals[0].integer == 7);
    CHECK_EQ(parse("_\r\n", &r), 3);
    CHECK(vals[0].type == RESP_NULL);
    CHECK_EQ(parse("#t\r\n", &r), 4);
    CHECK(vals[0].type == RESP_BOOL && vals[0].integer == 1);
    CHECK_EQ(parse("#f\r\n", &r), 4);
    CHECK(vals[0].type == RESP_BOOL && vals[0].integer == 0);
    CHECK_EQ(parse(",1.5\r\n", &r), 6);
    CHECK(vals[0].type == RESP_DOUBLE && vals[0].dbl == 1.5 && vals[0].len == 3);
    CHECK_EQ(parse(",-2e3\r\n", &r), 7);
    CHECK(vals[0].dbl == -2000.0);
    CHECK_EQ(parse(",10\r\n", &r), 5);
    CHECK(vals[0].dbl == 10.0);
    CHECK_EQ(parse(",inf\r\n", &r), 6);
    CHECK(isinf(vals[0].dbl) && vals[0].dbl > 0);
    CHECK_EQ(parse(",-inf\r\n", &r), 7);
    CHECK(isinf(vals[0].dbl) && vals[0].dbl < 0);
    CHECK_EQ(parse(",nan\r\n", &r), 6);
    CHECK(isnan(vals[0].dbl));
    CHECK_EQ(parse("(3492890328409238509324850943850943825024385\r\n", &r), 46);
    CHECK(vals[0].type == RESP_BIGNUM && vals[0].len == 43);
    CHECK_EQ(parse("(-12\r\n", &r), 6);
    CHECK(vals[0].type == RESP_BIGNUM && vals[0].len == 3);
    static const uint8_t big[] = "(-12\r\n";
    r = (struct resp_reply){ vals, MAXV, 0, false };
    CHECK_EQ(resp_parse(big, 6, &r), 6);
    CHECK_MEM(vals[0].str, vals[0].len, "-12", 3);
}

/* Doubles against the C library's strtod: the same value for what Redis
 * sends (exact), within a few units in the last place otherwise. */
static void test_doubles_match_strtod(void)
{
    static const char *const texts[] = {
        "0", "-0", "1.5", "0.05", "123.456e-2", "3.14", "-2e3", "1E10", "0.1", "0.3",
        "99999999999999.9", "1e22", "1e-22", "5e-324", "1.7976931348623157e308", "1e400",
        "1e-400", "0.000001234", "12345678901234567890123", "3.0000000000000004",
        "0.1000000000000000055511151231257827",
    };
    struct resp_value vals[4];
    struct resp_reply r = { vals, 4, 0, false };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char line[96];
        int n = snprintf(line, sizeof line, ",%s\r\n", texts[i]);
        CHECK_EQ(resp_parse((const uint8_t *)line, (size_t)n, &r), n);
        double want = strtod(texts[i], NULL), got = vals[0].dbl;
        bool close = got == want || fabs(got - want) <= fabs(want) * 4e-16;
        if (strlen(texts[i]) <= 17 && fabs(want) > 1e-300 && fabs(want) < 1e300)
            close = got == want;         /* short ones: exact */
        CHECK(vals[0].type == RESP_DOUBLE && close);
        if (!close)
            fprintf(stderr, "    %s: %.17g, strtod %.17g\n", texts[i], got, want);
    }
    const char *bad[] = { ",\r\n", ",.\r\n", ",1e\r\n", ",1e+\r\n", ",0x10\r\n",
                          ",1.2.3\r\n", ",infinity\r\n", ",--1\r\n", ",1 \r\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(resp_parse((const uint8_t *)bad[i], strlen(bad[i]), &r) < 0);
}

static void test_strings(void)
{
    struct resp_reply r;
    CHECK_EQ(parse("$5\r\nhello\r\n", &r), 11);
    CHECK(vals[0].type == RESP_BULK && vals[0].len == 5);
    CHECK(resp_str_eq(&vals[0], "hello"));
    CHECK_EQ(parse("$0\r\n\r\n", &r), 6);
    CHECK(vals[0].type == RESP_BULK && vals[0].len == 0);
    static const uint8_t bin[] = "$4\r\n\r\n\0\n\r\n";      /* binary-safe */
    r = (struct resp_reply){ vals, MAXV, 0, false };
    CHECK_EQ(resp_parse(bin, 10, &r), 10);
    CHECK_MEM(vals[0].str, vals[0].len, "\r\n\0\n", 4);
    CHECK_EQ(parse("$-1\r\n", &r), 5);
    CHECK(vals[0].type == RESP_NULL && r.count == 1);
    CHECK_EQ(parse("!21\r\nSYNTAX invalid syntax\r\n", &r), 28);
    CHECK(vals[0].type == RESP_ERROR && resp_str_eq(&vals[0], "SYNTAX invalid syntax"));
    CHECK_EQ(parse("=15\r\ntxt:Some string\r\n", &r), 22);
    CHECK(vals[0].type == RESP_VERBATIM && strcmp(vals[0].format, "txt") == 0);
    CHECK(resp_str_eq(&vals[0], "Some string"));
    CHECK_EQ(parse("=4\r\nmkd:\r\n", &r), 10);
    CHECK(vals[0].len == 0 && strcmp(vals[0].format, "mkd") == 0);
}

static void test_aggregates(void)
{
    struct resp_reply r;
    /* [1, [2, "x"], {k: [] }, ~{t}, nil] */
    const char *t = "*5\r\n:1\r\n*2\r\n:2\r\n$1\r\nx\r\n%1\r\n+k\r\n*0\r\n~1\r\n#t\r\n*-1\r\n";
    CHECK_EQ(parse(t, &r), (ssize_t)strlen(t));
    CHECK_EQ(r.count, 11);
    CHECK(vals[0].type == RESP_ARRAY && vals[0].count == 5 && vals[0].span == 11);
    CHECK(vals[2].type == RESP_ARRAY && vals[2].depth == 1 && vals[2].span == 3);
    CHECK(vals[4].depth == 2 && resp_str_eq(&vals[4], "x"));
    CHECK(vals[5].type == RESP_MAP && vals[5].count == 2 && vals[5].span == 3);
    CHECK(vals[7].type == RESP_ARRAY && vals[7].count == 0 && vals[7].span == 1);
    CHECK(vals[8].type == RESP_SET && vals[8].span == 2 && vals[9].depth == 2);
    CHECK(vals[10].type == RESP_NULL && vals[10].depth == 1);
    CHECK(resp_element(&vals[0], 0) == &vals[1]);
    CHECK(resp_element(&vals[0], 1) == &vals[2]);
    CHECK(resp_element(&vals[0], 2) == &vals[5]);
    CHECK(resp_element(&vals[0], 3) == &vals[8]);
    CHECK(resp_element(&vals[0], 4) == &vals[10]);
    CHECK(resp_element(&vals[5], 1) == &vals[7]);

    CHECK_EQ(parse("*0\r\n", &r), 4);
    CHECK(vals[0].type == RESP_ARRAY && vals[0].count == 0 && r.count == 1);
    CHECK_EQ(parse("*-1\r\n", &r), 5);
    CHECK(vals[0].type == RESP_NULL);
    CHECK_EQ(parse(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", &r), 33);
    CHECK(vals[0].type == RESP_PUSH && vals[0].count == 3 && r.count == 4);
    CHECK_EQ(parse("%0\r\n", &r), 4);
    CHECK(vals[0].type == RESP_MAP && vals[0].count == 0);
}

/* --- a stream cut anywhere ---------------------------------------------------- */

static const char stream[] =
    "+OK\r\n-ERR x\r\n:42\r\n$3\r\nfoo\r\n$-1\r\n*-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n"
    "_\r\n#t\r\n,3.25\r\n(123\r\n=7\r\ntxt:abc\r\n!3\r\nERR\r\n%1\r\n+a\r\n:1\r\n"
    "~2\r\n+x\r\n+y\r\n>2\r\n+p\r\n+q\r\n$0\r\n\r\n*0\r\n";

/* The replies of the whole stream end at these offsets. */
static size_t stream_ends(size_t *ends, size_t max)
{
    size_t n = 0, pos = 0, len = sizeof stream - 1;
    struct resp_reply r = { vals, MAXV, 0, false };
    while (pos < len && n < max) {
        ssize_t used = resp_parse((const uint8_t *)stream + pos, len - pos, &r);
        CHECK(used > 0);
        if (used <= 0)
            break;
        pos += (size_t)used;
        ends[n++] = pos;
    }
    CHECK_EQ(pos, len);
    return n;
}

static void test_every_split(void)
{
    size_t ends[32], len = sizeof stream - 1;
    size_t count = stream_ends(ends, 32);
    CHECK_EQ(count, 18);
    for (size_t cut = 0; cut <= len; cut++) {
        uint8_t *prefix = malloc(cut ? cut : 1);
        memcpy(prefix, stream, cut);
        size_t pos = 0, k = 0;
        struct resp_reply r = { vals, MAXV, 0, false };
        for (;;) {
            ssize_t used = resp_parse(prefix + pos, cut - pos, &r);
            if (used == 0)
                break;
            CHECK(used > 0 && k < count && pos + (size_t)used == ends[k]);
            if (used <= 0 || k >= count)
                break;
            pos += (size_t)used;
            k++;
        }
        /* Every reply that fits in the prefix came out, and no other. */
        CHECK(k == count ? pos == len : cut < ends[k]);
        free(prefix);
    }
}

/* --- errors ------------------------------------------------------------------ */

static void check_err(const char *text, ssize_t want)
{
    struct resp_reply r;
    ssize_t got = parse(text, &r);
    if (got != want)
        fprintf(stderr, "    input: %s\n", text);
    CHECK_EQ(got, want);
}

static void test_errors(void)
{
    check_err("?\r\n", RESP_ERR_PROTOCOL);                 /* unknown type */
    check_err("\r\n", RESP_ERR_PROTOCOL);
    check_err("+OK\n", RESP_ERR_PROTOCOL);                 /* bare LF */
    check_err("+OK\rX", RESP_ERR_PROTOCOL);                /* CR without LF */
    check_err(":12a\r\n", RESP_ERR_PROTOCOL);
    check_err(":\r\n", RESP_ERR_PROTOCOL);
    check_err(":-\r\n", RESP_ERR_PROTOCOL);
    check_err(":9223372036854775808\r\n", RESP_ERR_PROTOCOL);   /* overflow */
    check_err(":-9223372036854775809\r\n", RESP_ERR_PROTOCOL);
    check_err(":1111111111111111111111111111111111", RESP_ERR_PROTOCOL);  /* no end */
    check_err("$-2\r\n", RESP_ERR_PROTOCOL);
    check_err("$x\r\n", RESP_ERR_PROTOCOL);
    check_err("$3\r\nfooXY", RESP_ERR_PROTOCOL);           /* no CRLF after the body */
    check_err("$536870913\r\n", RESP_ERR_PROTOCOL);        /* over 512 MiB */
    check_err("*-2\r\n", RESP_ERR_PROTOCOL);
    check_err("*1073741825\r\n", RESP_ERR_PROTOCOL);       /* over RESP_MAX_COUNT */
    check_err("%-1\r\n", RESP_ERR_PROTOCOL);               /* no null map */
    check_err("!-1\r\n", RESP_ERR_PROTOCOL);
    check_err("=3\r\ntxt\r\n", RESP_ERR_PROTOCOL);         /* verbatim under 4 bytes */
    check_err("=5\r\ntxt-a\r\n", RESP_ERR_PROTOCOL);       /* no colon */
    check_err("_x\r\n", RESP_ERR_PROTOCOL);
    check_err("#x\r\n", RESP_ERR_PROTOCOL);
    check_err("#tt\r\n", RESP_ERR_PROTOCOL);
    check_err(",\r\n", RESP_ERR_PROTOCOL);
    check_err(",1.5x\r\n", RESP_ERR_PROTOCOL);
    check_err(",0x10\r\n", RESP_ERR_PROTOCOL);             /* strtod would take hex */
    check_err(",infinity\r\n", RESP_ERR_PROTOCOL);
    check_err("(\r\n", RESP_ERR_PROTOCOL);
    check_err("(12a\r\n", RESP_ERR_PROTOCOL);
    check_err("*2\r\n:1\r\n?\r\n", RESP_ERR_PROTOCOL);    /* inside an array */
    check_err("|1\r\n+a\r\n+b\r\n+OK\r\n", RESP_ERR_UNSUPPORTED);
    check_err("$?\r\n;4\r\nHell\r\n;0\r\n", RESP_ERR_UNSUPPORTED);
    check_err("*?\r\n:1\r\n.\r\n", RESP_ERR_UNSUPPORTED);
    check_err("", 0);
    check_err("+OK\r", 0);
    check_err("$5\r\nhel", 0);
    check_err("*2\r\n:1\r\n", 0);
    check_err(":123", 0);
}

/* --- limits ------------------------------------------------------------------ */

static void test_depth(void)
{
    char text[64 * 4 + 8] = "";
    struct resp_reply r;
    for (int i = 0; i < RESP_MAX_DEPTH; i++)
        strcat(text, "*1\r\n");
    strcat(text, ":7\r\n");
    CHECK_EQ(parse(text, &r), (ssize_t)strlen(text));
    CHECK_EQ(r.count, RESP_MAX_DEPTH + 1);
    CHECK(vals[RESP_MAX_DEPTH].depth == RESP_MAX_DEPTH && vals[RESP_MAX_DEPTH].integer == 7);
    CHECK(vals[0].span == RESP_MAX_DEPTH + 1);
    text[0] = '\0';
    for (int i = 0; i < RESP_MAX_DEPTH + 1; i++)
        strcat(text, "*1\r\n");
    CHECK_EQ(parse(text, &r), RESP_ERR_DEPTH);             /* known before the end */
    strcat(text, ":7\r\n");
    CHECK_EQ(parse(text, &r), RESP_ERR_DEPTH);
    /* Depth is nesting, not length: many siblings at depth 1 are fine. */
    text[0] = '\0';
    strcat(text, "*40\r\n");
    for (int i = 0; i < 40; i++)
        strcat(text, "*0\r\n");
    CHECK_EQ(parse(text, &r), (ssize_t)strlen(text));
}

static void test_too_many(void)
{
    struct resp_reply r;
    const char *t = "*3\r\n:1\r\n:2\r\n:3\r\n";
    CHECK_EQ(parse_cap(t, &r, 4), 16);
    CHECK(!r.too_many && r.count == 4);
    CHECK_EQ(parse_cap(t, &r, 3), 16);                     /* skipped whole: in step */
    CHECK(r.too_many && r.count == 0);
    CHECK(vals[0].type == RESP_ARRAY && vals[0].count == 3);   /* the top is kept */
    CHECK_EQ(parse_cap(t, &r, 0), 16);
    CHECK(r.too_many && r.count == 0);
    CHECK_EQ(parse_cap(":1\r\n", &r, 1), 4);
    CHECK(!r.too_many && r.count == 1);
    CHECK_EQ(parse_cap("*3\r\n:1\r\n:2\r\n", &r, 2), 0);   /* still waits for the end */
    /* A null counts as one value whatever it replaces. */
    CHECK_EQ(parse_cap("*-1\r\n", &r, 1), 5);
    CHECK(!r.too_many && r.count == 1);
}

/* --- commands ---------------------------------------------------------------- */

static void test_encoder(void)
{
    const char *argv[] = { "SET", "key", "", "v\r\n\0x" };
    size_t lens[] = { 3, 3, 0, 5 };
    static const char want[] = "*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n$5\r\nv\r\n\0x\r\n";
    size_t wlen = sizeof want - 1;
    CHECK_EQ(resp_command_len(4, lens), wlen);
    for (size_t cap = 0; cap <= wlen; cap++) {
        uint8_t *out = malloc(cap ? cap : 1);
        size_t n = resp_command_write(out, cap, 4, argv, lens);
        if (cap < wlen)
            CHECK_EQ(n, 0);
        else
            CHECK_MEM(out, n, want, wlen);
        free(out);
    }
    CHECK_EQ(resp_command_write((uint8_t *)vals, sizeof vals, 0, argv, lens), 0);

    /* What it writes parses back as an array of the same bulk strings. */
    uint8_t buf[256];
    size_t big = 1234567890;
    CHECK_EQ(resp_command_len(1, &big), 1 + 1 + 2 + 1 + 10 + 2 + big + 2);
    size_t n = resp_command_write(buf, sizeof buf, 4, argv, lens);
    struct resp_reply r = { vals, MAXV, 0, false };
    CHECK_EQ(resp_parse(buf, n, &r), (ssize_t)n);
    CHECK(r.count == 5 && vals[0].type == RESP_ARRAY && vals[0].count == 4);
    for (int i = 0; i < 4; i++)
        CHECK_MEM(vals[i + 1].str, vals[i + 1].len, argv[i], lens[i]);
    const char *many[12] = { "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L" };
    size_t ones[12] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    n = resp_command_write(buf, sizeof buf, 12, many, ones);
    CHECK_MEM(buf, 5, "*12\r\n", 5);
    CHECK_EQ(n, 5 + 12 * 7);
}

/* --- URLs ------------------------------------------------------------------- */

static void test_url_good(void)
{
    struct resp_url u;
    const char *why = NULL;
    char shown[512];

    CHECK_EQ(resp_url_parse("redis://localhost", &u, &why), 0);
    CHECK(strcmp(u.host, "localhost") == 0 && u.port == 6379 && u.db == 0);
    CHECK(!u.has_password && u.user[0] == '\0');
    CHECK_EQ(resp_url_parse("redis://:s3cret@10.0.0.5:6380/3", &u, &why), 0);
    CHECK(strcmp(u.host, "10.0.0.5") == 0 && u.port == 6380 && u.db == 3);
    CHECK(u.has_password && strcmp(u.password, "s3cret") == 0 && u.user[0] == '\0');
    resp_url_format(&u, shown, sizeof shown);
    CHECK_STR(shown, "redis://:***@10.0.0.5:6380/3");
    CHECK_EQ(resp_url_parse("REDIS://app:pw@[::1]:7000/", &u, &why), 0);
    CHECK(strcmp(u.host, "::1") == 0 && u.port == 7000 && u.db == 0);
    CHECK(strcmp(u.user, "app") == 0 && strcmp(u.password, "pw") == 0);
    resp_url_format(&u, shown, sizeof shown);
    CHECK_STR(shown, "redis://app:***@[::1]:7000/0");
    CHECK_EQ(resp_url_parse("redis://[::1]", &u, &why), 0);
    CHECK(strcmp(u.host, "::1") == 0 && u.port == 6379);
    CHECK_EQ(resp_url_parse("redis://:p@ss/w:rd@h/15", &u, &why), 0);   /* the last @ */
    CHECK(strcmp(u.password, "p@ss/w:rd") == 0 && strcmp(u.host, "h") == 0 && u.db == 15);
    CHECK_EQ(resp_url_parse("redis://u%3Ax:p%40%2f@h", &u, &why), 0);
    CHECK(strcmp(u.user, "u:x") == 0 && strcmp(u.password, "p@/") == 0);
    CHECK_EQ(resp_url_parse("redis://:@h:1/2147483647", &u, &why), 0);
    CHECK(u.has_password && u.password[0] == '\0' && u.port == 1 && u.db == 2147483647);
    resp_url_format(&u, shown, sizeof shown);
    CHECK_STR(shown, "redis://:***@h:1/2147483647");
    CHECK_EQ(resp_url_parse("redis://h:65535", &u, &why), 0);
    CHECK_EQ(u.port, 65535);
}

static void check_bad_url(const char *text, const char *want_why)
{
    struct resp_url u;
    const char *why = "";
    CHECK_EQ(resp_url_parse(text, &u, &why), -1);
    if (strcmp(why, want_why) != 0)
        fprintf(stderr, "    %s: got \"%s\", want \"%s\"\n", text, why, want_why);
    CHECK_STR(why, want_why);
}

static void test_url_bad(void)
{
    check_bad_url("localhost:6379", "the URL must start with redis://");
    check_bad_url("http://h", "the URL must start with redis://");
    check_bad_url("rediss://h", "rediss:// (TLS) is not supported");
    check_bad_url("redis://", "no host");
    check_bad_url("redis://:6379", "no host");
    check_bad_url("redis://:pw@", "no host");
    check_bad_url("redis://h:", "bad port (1 to 65535)");
    check_bad_url("redis://h:0", "bad port (1 to 65535)");
    check_bad_url("redis://h:65536", "bad port (1 to 65535)");
    check_bad_url("redis://h:12x", "bad port (1 to 65535)");
    check_bad_url("redis://h:1:2", "bad port (1 to 65535)");
    check_bad_url("redis://::1", "no host");
    check_bad_url("redis://[::1", "unclosed [ in the host");
    check_bad_url("redis://[::1]x", "bad port (1 to 65535)");
    check_bad_url("redis://[h]:1", "bad host");
    check_bad_url("redis://h/x", "bad database number (/0 to /2147483647)");
    check_bad_url("redis://h/2147483648", "bad database number (/0 to /2147483647)");
    check_bad_url("redis://h/1/2", "bad database number (/0 to /2147483647)");
    check_bad_url("redis://h/-1", "bad database number (/0 to /2147483647)");
    check_bad_url("redis://pw@h", "a password needs a colon before it (redis://:PASSWORD@HOST)");
    check_bad_url("redis://:p%4@h", "bad or overlong password (a % must start %XX)");
    check_bad_url("redis://:p%zz@h", "bad or overlong password (a % must start %XX)");
    check_bad_url("redis://:p%00@h", "bad or overlong password (a % must start %XX)");
    check_bad_url("redis://u%:p@h", "bad or overlong user name (a % must start %XX)");
    check_bad_url("redis://h?db=1", "options after ? or # are not supported");
    check_bad_url("redis://h with space", "bad host");

    char longhost[400] = "redis://";
    memset(longhost + 8, 'a', 300);
    check_bad_url(longhost, "host too long");
    char longpw[400] = "redis://:";
    memset(longpw + 9, 'p', 300);
    strcat(longpw, "@h");
    check_bad_url(longpw, "bad or overlong password (a % must start %XX)");
}

int main(void)
{
    test_scalars();
    test_doubles_match_strtod();
    test_strings();
    test_aggregates();
    test_every_split();
    test_errors();
    test_depth();
    test_too_many();
    test_encoder();
    test_url_good();
    test_url_bad();
    return check_report("resp");
}
