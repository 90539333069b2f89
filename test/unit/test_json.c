/* test_json.c -- json.c alone: the writer's exact bytes for the messages of
 * README "Messages", its overflow behaviour at every capacity, escaping both ways, and
 * the reader against valid text and each kind of invalid text (RFC 8259). */
#include "json.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>

#define CANARY 0x5a

/* The writer's output so far must be exactly want. A macro, so a failure
 * names the test's line rather than a helper's. */
#define CHECK_JSON(w, want)                                                  \
    do {                                                                     \
        CHECK_EQ(json_finish(w), (ssize_t)strlen(want));                     \
        CHECK_MEM((w)->buf, (w)->len, (want), strlen(want));                 \
    } while (0)

/* --- writer ------------------------------------------------------------ */

static void test_chat_messages(void)
{
    char buf[512];
    struct json_writer w;

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "message");
    json_member_cstr(&w, "message", "Hi");
    json_member_cstr(&w, "sender", "Alice");
    json_member_cstr(&w, "timestamp", "2025-08-30T10:30:40.123456");
    json_object_end(&w);
    CHECK_JSON(&w, "{\"type\":\"message\",\"message\":\"Hi\",\"sender\":\"Alice\","
                   "\"timestamp\":\"2025-08-30T10:30:40.123456\"}");

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "system");
    json_member_cstr(&w, "message", "Welcome! You are now connected to the broadcast "
                                    "server. 3 client(s) online.");
    json_member_cstr(&w, "timestamp", "2025-08-30T10:30:40.123456");
    json_object_end(&w);
    CHECK_JSON(&w, "{\"type\":\"system\",\"message\":\"Welcome! You are now connected to "
                   "the broadcast server. 3 client(s) online.\","
                   "\"timestamp\":\"2025-08-30T10:30:40.123456\"}");

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "error");
    json_member_cstr(&w, "message", "unknown type");
    json_object_end(&w);
    CHECK_JSON(&w, "{\"type\":\"error\",\"message\":\"unknown type\"}");
}

static void test_other_messages(void)
{
    char buf[256];
    struct json_writer w;

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "timestamp");
    json_member_cstr(&w, "timestamp_iso", "2025-07-31 10:30:45");
    json_member_int(&w, "timestamp_ms", 1722445845123);
    json_member_uint(&w, "message_count", 42);
    json_object_end(&w);
    CHECK_JSON(&w, "{\"type\":\"timestamp\",\"timestamp_iso\":\"2025-07-31 10:30:45\","
                   "\"timestamp_ms\":1722445845123,\"message_count\":42}");

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "state");
    json_member_bool(&w, "running", true);
    json_member_bool(&w, "draining", false);
    json_object_end(&w);
    CHECK_JSON(&w, "{\"type\":\"state\",\"running\":true,\"draining\":false}");

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "sample");
    json_member_cstr(&w, "sensor", "accel");
    json_member_int(&w, "t_ms", 1250);
    json_member_fixed(&w, "x", 0.0123, 4);
    json_member_fixed(&w, "y", -0.98125, 3);
    json_member_fixed(&w, "z", 9.80665, 3);
    json_object_end(&w);
    CHECK_JSON(&w, "{\"type\":\"sample\",\"sensor\":\"accel\",\"t_ms\":1250,"
                   "\"x\":0.0123,\"y\":-0.981,\"z\":9.807}");

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_object_end(&w);
    CHECK_JSON(&w, "{}");
}

static void test_nested(void)
{
    char buf[256];
    struct json_writer w;

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_cstr(&w, "type", "stats");
    json_member_object(&w, "clients");
    json_member_uint(&w, "chat", 3);
    json_member_uint(&w, "echo", 0);
    json_object_end(&w);
    json_member_object(&w, "closes");
    json_member_object(&w, "by_code");
    json_member_uint(&w, "1000", 5);
    json_object_end(&w);
    json_object_end(&w);
    json_member_object(&w, "empty");
    json_object_end(&w);
    json_member_int(&w, "uptime_s", 12);
    json_object_end(&w);
    CHECK_JSON(&w, "{\"type\":\"stats\",\"clients\":{\"chat\":3,\"echo\":0},"
                   "\"closes\":{\"by_code\":{\"1000\":5}},\"empty\":{},\"uptime_s\":12}");

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_object(&w, "first");
    json_object_end(&w);
    json_object_end(&w);
    CHECK_JSON(&w, "{\"first\":{}}");
}

static void test_ints(void)
{
    char buf[256];
    struct json_writer w;

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_int(&w, "zero", 0);
    json_member_int(&w, "neg", -1);
    json_member_int(&w, "min", INT64_MIN);
    json_member_int(&w, "max", INT64_MAX);
    json_member_uint(&w, "u0", 0);
    json_member_uint(&w, "u9", 9);
    json_member_uint(&w, "u10", 10);
    json_member_uint(&w, "umax", UINT64_MAX);
    json_object_end(&w);
    CHECK_JSON(&w, "{\"zero\":0,\"neg\":-1,\"min\":-9223372036854775808,"
                   "\"max\":9223372036854775807,\"u0\":0,\"u9\":9,\"u10\":10,"
                   "\"umax\":18446744073709551615}");
}

/* One member written with json_member_fixed, compared as a whole object. */
static void check_fixed(int line, double v, int decimals, const char *want_value)
{
    char buf[512], want[512];
    struct json_writer w;
    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_fixed(&w, "v", v, decimals);
    json_object_end(&w);
    snprintf(want, sizeof want, "{\"v\":%s}", want_value);
    ssize_t n = json_finish(&w);
    if (n != (ssize_t)strlen(want) || memcmp(buf, want, strlen(want)) != 0)
        fprintf(stderr, "fixed case at line %d:\n", line);
    CHECK_MEM(buf, w.len, want, strlen(want));
}

static void test_fixed(void)
{
    check_fixed(__LINE__, 3.14159, 2, "3.14");
    check_fixed(__LINE__, 2.7, 0, "3");
    check_fixed(__LINE__, 0.0, 3, "0.000");
    check_fixed(__LINE__, -0.5, 3, "-0.500");
    check_fixed(__LINE__, 0.123456789, 9, "0.123456789");
    check_fixed(__LINE__, 1.5, 12, "1.500000000");       /* clamped to 9 */
    check_fixed(__LINE__, 1.6, -1, "2");                 /* clamped to 0 */
    check_fixed(__LINE__, 1e20, 1, "100000000000000000000.0");
    check_fixed(__LINE__, -123456.75, 1, "-123456.8");
    check_fixed(__LINE__, NAN, 2, "null");
    check_fixed(__LINE__, INFINITY, 2, "null");
    check_fixed(__LINE__, -INFINITY, 2, "null");
}

static void test_escape_specials(void)
{
    char buf[256];
    struct json_writer w;
    static const char in[] = "say \"hi\" \\ back/slash";

    json_init(&w, buf, sizeof buf);
    json_object_begin(&w);
    json_member_str(&w, "m", in, strlen(in));
    json_object_end(&w);
    CHECK_JSON(&w, "{\"m\":\"say \\\"hi\\\" \\\\ back/slash\"}");

    /* Unicode and DEL are copied as they are; only §7's set is escaped. */
    static const char utf8[] = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 "
                               "\xe6\x97\xa5\xe6\x9c\xac \x7f";
    char out[64];
    ssize_t n = json_escape(utf8, strlen(utf8), out, sizeof out);
    CHECK_MEM(out, n < 0 ? 0 : (size_t)n, utf8, strlen(utf8));

    CHECK_EQ(json_escape("", 0, out, 0), 0);
    CHECK_EQ(json_escape("", 0, NULL, 0), 0);
}

/* Every byte 0x00..0x1F: the short form where RFC 8259 §7 has one, else
 * \u00xx in lower case. */
static void test_escape_controls(void)
{
    static const char *const want[32] = {
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006",
        "\\u0007", "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f",
        "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016",
        "\\u0017", "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d",
        "\\u001e", "\\u001f",
    };
    for (int c = 0; c < 32; c++) {
        char in[3] = { 'a', (char)c, 'z' }, out[16], expect[16];
        ssize_t n = json_escape(in, 3, out, sizeof out);
        snprintf(expect, sizeof expect, "a%sz", want[c]);
        CHECK_MEM(out, n < 0 ? 0 : (size_t)n, expect, strlen(expect));
    }
}

/* json_escape at every capacity: -1 below the exact length, and out is never
 * written at or past cap. */
static void test_escape_caps(void)
{
    static const char in[] = "a\"b\\c\nd\x01" "e\xc3\xa9";
    static const char want[] = "a\\\"b\\\\c\\nd\\u0001e\xc3\xa9";
    size_t full = strlen(want);
    for (size_t cap = 0; cap <= full; cap++) {
        char out[64];
        memset(out, CANARY, sizeof out);
        ssize_t n = json_escape(in, strlen(in), out, cap);
        CHECK_EQ(n, cap == full ? (ssize_t)full : -1);
        size_t untouched = 0;
        for (size_t i = cap; i < sizeof out; i++)
            untouched += (unsigned char)out[i] == CANARY;
        CHECK_EQ(untouched, sizeof out - cap);
    }
}

/* A message with every kind of member, for the overflow test. */
static void write_everything(struct json_writer *w)
{
    json_object_begin(w);
    json_member_cstr(w, "type", "message");
    json_member_str(w, "message", "q\"b\\n\n\x01\xf0\x9f\x98\x80", 11);
    json_member_int(w, "i", INT64_MIN);
    json_member_uint(w, "u", UINT64_MAX);
    json_member_bool(w, "b", false);
    json_member_fixed(w, "f", -1.25, 2);
    json_member_fixed(w, "nan", NAN, 2);
    json_member_object(w, "o");
    json_member_bool(w, "t", true);
    json_object_end(w);
    json_member_cstr(w, "end", "");
    json_object_end(w);
}

/* Below the full length every capacity overflows, json_finish says -1, and
 * nothing lands at or past cap; at the full length it is complete. */
static void test_writer_overflow(void)
{
    char full[512];
    struct json_writer w;
    json_init(&w, full, sizeof full);
    write_everything(&w);
    ssize_t len = json_finish(&w);
    CHECK(len > 0);
    if (len <= 0)
        return;
    for (size_t cap = 0; cap <= (size_t)len; cap++) {
        char buf[512];
        memset(buf, CANARY, sizeof buf);
        json_init(&w, buf, cap);
        write_everything(&w);
        CHECK_EQ(json_finish(&w), cap == (size_t)len ? len : -1);
        CHECK_EQ(w.overflow, cap != (size_t)len);
        CHECK(w.len <= cap);
        size_t untouched = 0;
        for (size_t i = cap; i < sizeof buf; i++)
            untouched += (unsigned char)buf[i] == CANARY;
        CHECK_EQ(untouched, sizeof buf - cap);
        if (cap == (size_t)len)
            CHECK_MEM(buf, w.len, full, (size_t)len);
    }

    json_init(&w, NULL, 0);               /* no buffer at all */
    write_everything(&w);
    CHECK_EQ(json_finish(&w), -1);
}

/* --- reader ------------------------------------------------------------ */

static int parse(const char *text, struct json_member *m, int max)
{
    return json_parse_object(text, strlen(text), m, max);
}

/* m's raw value text equals want. */
#define CHECK_VALUE(m, want) CHECK_MEM((m)->value.p, (m)->value.len, (want), strlen(want))
#define CHECK_KEY(m, want) CHECK_MEM((m)->key.p, (m)->key.len, (want), strlen(want))

static void test_parse_all_types(void)
{
    static const char text[] =
        "{\"s\":\"x\\\"y\",\"n\":-12.5e+3,\"t\":true,\"f\":false,\"z\":null,"
        "\"a\":[1,\"two\",[],{},[[null]]],\"o\":{\"k\":[null],\"e\":{}},\"\":0}";
    struct json_member m[10];
    CHECK_EQ(parse(text, m, 10), 8);
    CHECK_KEY(&m[0], "s");
    CHECK_EQ(m[0].type, JSON_STRING);
    CHECK_VALUE(&m[0], "\"x\\\"y\"");
    CHECK_EQ(m[1].type, JSON_NUMBER);
    CHECK_VALUE(&m[1], "-12.5e+3");
    CHECK_EQ(m[2].type, JSON_TRUE);
    CHECK_VALUE(&m[2], "true");
    CHECK_EQ(m[3].type, JSON_FALSE);
    CHECK_VALUE(&m[3], "false");
    CHECK_EQ(m[4].type, JSON_NULL);
    CHECK_VALUE(&m[4], "null");
    CHECK_EQ(m[5].type, JSON_ARRAY);
    CHECK_VALUE(&m[5], "[1,\"two\",[],{},[[null]]]");
    CHECK_EQ(m[6].type, JSON_OBJECT);
    CHECK_VALUE(&m[6], "{\"k\":[null],\"e\":{}}");
    CHECK_KEY(&m[7], "");
    CHECK_EQ(m[7].type, JSON_NUMBER);
    CHECK_VALUE(&m[7], "0");
}

static void test_parse_blanks(void)
{
    static const char text[] = " \t\r\n{ \"a\" :\t1 ,\n\"b\"\r:[ 1 , { } ,\"x\" ] , "
                               "\"c\" : { \"d\" : \"e\" } }\n\t ";
    struct json_member m[4];
    CHECK_EQ(parse(text, m, 4), 3);
    CHECK_KEY(&m[0], "a");
    CHECK_VALUE(&m[0], "1");
    CHECK_KEY(&m[1], "b");
    CHECK_VALUE(&m[1], "[ 1 , { } ,\"x\" ]");
    CHECK_KEY(&m[2], "c");
    CHECK_VALUE(&m[2], "{ \"d\" : \"e\" }");

    CHECK_EQ(parse("{}", m, 4), 0);
    CHECK_EQ(parse(" { \n } ", m, 4), 0);
}

static void test_parse_numbers(void)
{
    static const char *const good[] = {
        "0", "-0", "7", "-7", "1234567890", "0.5", "-0.0", "1.25", "1e5", "1E5",
        "1e+5", "1e-5", "0e0", "-0.0e-0", "10.01E+10",
        "123456789012345678901234567890.123456789",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[128];
        struct json_member m[1];
        snprintf(text, sizeof text, "{\"n\":%s}", good[i]);
        int n = parse(text, m, 1);
        if (n != 1)
            fprintf(stderr, "rejected valid number %s\n", good[i]);
        CHECK_EQ(n, 1);
        if (n == 1) {
            CHECK_EQ(m[0].type, JSON_NUMBER);
            CHECK_VALUE(&m[0], good[i]);
        }
    }
}

/* More members than max is an error, never a partial list; members past max
 * are still validated (a syntax error wins) and never written. */
static void test_parse_max(void)
{
    struct json_member m[3];
    memset(m, CANARY, sizeof m);
    CHECK_EQ(parse("{\"a\":1,\"b\":2,\"c\":3}", m, 1), JSON_ERR_TOO_MANY);
    const unsigned char *rest = (const unsigned char *)&m[1];
    size_t untouched = 0;
    for (size_t i = 0; i < 2 * sizeof m[0]; i++)
        untouched += rest[i] == CANARY;
    CHECK_EQ(untouched, 2 * sizeof m[0]);

    CHECK_EQ(parse("{\"a\":1,\"b\":2,\"c\":3}", m, 3), 3);
    CHECK_EQ(parse("{\"a\":1,\"b\":2}", m, 3), 2);
    CHECK_EQ(parse("{}", NULL, 0), 0);
    CHECK_EQ(parse(" {} ", NULL, -5), 0);
    CHECK_EQ(parse("{\"a\":1,\"b\":2}", NULL, 0), JSON_ERR_TOO_MANY);
    CHECK_EQ(parse("{\"a\":1,\"b\":2}", NULL, -5), JSON_ERR_TOO_MANY);
    CHECK_EQ(parse("{\"a\":1,\"b\":}", NULL, 0), JSON_ERR_SYNTAX);   /* still validated */
    CHECK_EQ(parse("{\"a\":1,\"b\":2,\"c\":3} x", m, 1), JSON_ERR_SYNTAX);
    /* Nested members do not count against max. */
    CHECK_EQ(parse("{\"o\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4}}", m, 1), 1);
}

/* An object of total members "kN":N, with "type":"message" in place of
 * member at (0-based); heap-allocated to the byte, for ASan. */
static char *many_members(int total, int at, size_t *len)
{
    size_t cap = (size_t)total * 20 + 32, n = 0;
    char *text = malloc(cap);
    text[n++] = '{';
    for (int i = 0; i < total; i++) {
        if (i == at)
            n += (size_t)snprintf(text + n, cap - n, "\"type\":\"message\"");
        else
            n += (size_t)snprintf(text + n, cap - n, "\"k%d\":%d", i, i);
        text[n++] = i + 1 < total ? ',' : '}';
    }
    *len = n;
    return text;
}

/* Parse text into an array of exactly max members on the heap (a search
 * past it is an ASan report) and look for "type" as an endpoint does:
 * returns 1 found and equal to "message", 0 not found, or the parse error. */
static int find_type(const char *text, size_t len, int max)
{
    struct json_member *m = malloc(sizeof *m * (size_t)(max > 0 ? max : 1));
    int n = json_parse_object(text, len, m, max);
    int found = n < 0 ? n : json_string_eq(json_find(m, n, "type"), "message");
    free(m);
    return found;
}

/* Issue 14: 17 members crashed json_find, which searched the whole count
 * in an array of 16; 300 or 3,000 missed a "type" past the array. */
static void test_member_counts(void)
{
    static const int totals[] = { 1, 15, 16, 17, 300, 3000 };
    for (size_t t = 0; t < sizeof totals / sizeof totals[0]; t++) {
        int total = totals[t];
        int places[] = { 0, total < 16 ? total - 1 : 15, total - 1 };  /* before/after 16 */
        for (size_t p = 0; p < 3; p++) {
            size_t len;
            char *text = many_members(total, places[p], &len);
            int want = total <= 16 ? 1 : JSON_ERR_TOO_MANY;
            if (find_type(text, len, 16) != want)
                fprintf(stderr, "%d members, type at %d\n", total, places[p]);
            CHECK_EQ(find_type(text, len, 16), want);
            CHECK_EQ(find_type(text, len, total), 1);        /* room for all: found */
            CHECK_EQ(find_type(text, len, total - 1), JSON_ERR_TOO_MANY);
            text[len - 1] = ',';                             /* invalid beats too many */
            CHECK_EQ(find_type(text, len, 16), JSON_ERR_SYNTAX);
            free(text);
        }
    }
}

/* A decoded string equals a literal by its bytes and length: a NUL
 * (\u0000) in it matches nothing, and escapes are undone first. */
static void test_string_eq(void)
{
    struct json_member m[4];
    CHECK_EQ(parse("{\"a\":\"message\",\"b\":\"message\\u0000junk\",\"c\":\"ping\\u0000\","
                   "\"d\":\"\\u0000\"}", m, 4), 4);
    CHECK(json_string_eq(&m[0], "message"));
    CHECK(!json_string_eq(&m[0], "messag"));
    CHECK(!json_string_eq(&m[0], "messages"));
    CHECK(!json_string_eq(&m[0], ""));
    CHECK(!json_string_eq(&m[1], "message"));
    CHECK(!json_string_eq(&m[2], "ping"));
    CHECK(!json_string_eq(&m[3], ""));
    CHECK(json_string_eq(NULL, "ping") == false);

    CHECK_EQ(parse("{\"a\":\"\",\"b\":\"\\u0070i\\u006eg\",\"c\":\"\\ud83d\\ude00\\n\","
                   "\"d\":1}", m, 4), 4);
    CHECK(json_string_eq(&m[0], ""));
    CHECK(!json_string_eq(&m[0], "x"));
    CHECK(json_string_eq(&m[1], "ping"));
    CHECK(json_string_eq(&m[2], "\xf0\x9f\x98\x80\n"));
    CHECK(!json_string_eq(&m[2], "\xf0\x9f\x98"));
    CHECK(!json_string_eq(&m[3], "1"));                      /* not a string */

    /* A hand-made member ending in a lone backslash: false, no overrun. */
    struct json_member bad = { .type = JSON_STRING, .value = { "\"\\\"", 3 } };
    CHECK(!json_string_eq(&bad, "\\"));
    CHECK_EQ(json_string_value(&bad, (char[4]){0}, 4), -1);
}

/* A key written with \u0000 (or any escape) is not the key without it. */
static void test_find_nul_key(void)
{
    struct json_member m[2];
    CHECK_EQ(parse("{\"type\\u0000\":\"ping\",\"typ\\u0065\":\"ping\"}", m, 2), 2);
    CHECK(json_find(m, 2, "type") == NULL);
    CHECK(json_find(m, 2, "typ") == NULL);
}

static void test_find(void)
{
    struct json_member m[8];
    int n = parse("{\"type\":\"message\",\"message\":\"Hi\",\"type\":\"chat\","
                  "\"a\\u0062\":1,\"typ\":2}", m, 8);
    CHECK_EQ(n, 5);
    const struct json_member *t = json_find(m, n, "type");
    CHECK(t == &m[0]);                     /* duplicates: the first wins */
    CHECK(json_find(m, n, "message") == &m[1]);
    CHECK(json_find(m, n, "typ") == &m[4]);
    CHECK(json_find(m, n, "ty") == NULL);
    CHECK(json_find(m, n, "types") == NULL);
    CHECK(json_find(m, n, "ab") == NULL);  /* keys with escapes never match */
    CHECK(json_find(m, 0, "type") == NULL);
}

/* Each invalid text on its own line, named so a failure says which. */
static void reject_len(const char *name, const char *text, size_t len)
{
    struct json_member m[4];
    int n = json_parse_object(text, len, m, 4);
    if (n != -1)
        fprintf(stderr, "accepted invalid input: %s\n", name);
    CHECK_EQ(n, -1);
}

static void reject(const char *name, const char *text)
{
    reject_len(name, text, strlen(text));
}

static void test_reject_structure(void)
{
    reject("empty input", "");
    reject("only blanks", " \t\r\n");
    reject("array at top level", "[1,2]");
    reject("string at top level", "\"a\"");
    reject("number at top level", "1");
    reject("null at top level", "null");
    reject("two objects", "{}{}");
    reject("two objects with a blank", "{\"a\":1} {\"b\":2}");
    reject("trailing garbage", "{\"a\":1}x");
    reject_len("trailing NUL", "{\"a\":1}\0", 8);
    reject_len("NUL before object", "\0{}", 3);
    reject("trailing comma", "{\"a\":1,}");
    reject("trailing comma in array", "{\"a\":[1,]}");
    reject("leading comma", "{,\"a\":1}");
    reject("lone comma", "{,}");
    reject("double comma", "{\"a\":1,,\"b\":2}");
    reject("missing comma", "{\"a\":1 \"b\":2}");
    reject("missing comma in array", "{\"a\":[1 2]}");
    reject("missing colon", "{\"a\" 1}");
    reject("double colon", "{\"a\"::1}");
    reject("missing value", "{\"a\":}");
    reject("missing value in array", "{\"a\":[,1]}");
    reject("unquoted key", "{a:1}");
    reject("number as key", "{1:2}");
    reject("single quotes key", "{'a':1}");
    reject("single quotes value", "{\"a\":'b'}");
    reject("unterminated object", "{\"a\":1");
    reject("unterminated nested object", "{\"a\":{\"b\":1}");
    reject("unterminated array", "{\"a\":[1,2}");
    reject("mismatched brackets", "{\"a\":[1}]");
    reject("open brace only", "{");
    reject("close brace only", "}");
    reject("blank form feed", "{\f}");
    reject("blank vertical tab", "{\v\"a\":1}");
    reject("blank non-breaking space", "{\xc2\xa0\"a\":1}");
}

static void test_reject_strings(void)
{
    reject("unterminated string", "{\"a\":\"bc}");
    reject("unterminated key", "{\"a:1}");
    reject("raw newline in string", "{\"a\":\"b\nc\"}");
    reject("raw tab in string", "{\"a\":\"b\tc\"}");
    reject("raw 0x1f in string", "{\"a\":\"b\x1f\"}");
    reject_len("raw NUL in string", "{\"a\":\"b\0\"}", 10);
    reject("raw newline in key", "{\"a\nb\":1}");
    reject("bad escape \\x", "{\"a\":\"\\x41\"}");
    reject("bad escape \\U", "{\"a\":\"\\U0041\"}");
    reject("bad escape \\'", "{\"a\":\"\\'\"}");
    reject("bad escape \\0", "{\"a\":\"\\0\"}");
    reject_len("bad escape \\NUL", "{\"a\":\"\\\0\"}", 10);
    reject("backslash at end", "{\"a\":\"\\");
    reject("escaped closing quote", "{\"a\":\"\\\"}");
    reject("short \\u12", "{\"a\":\"\\u12\"}");
    reject("short \\u at end", "{\"a\":\"\\u12");
    reject("non-hex \\u12g4", "{\"a\":\"\\u12g4\"}");
    reject("\\u with sign", "{\"a\":\"\\u+123\"}");
    reject("bad escape in key", "{\"\\q\":1}");
}

static void test_reject_values(void)
{
    reject("leading zero number", "{\"a\":01}");
    reject("leading zero negative", "{\"a\":-01}");
    reject("double zero", "{\"a\":00}");
    reject("lone minus", "{\"a\":-}");
    reject("minus then blank", "{\"a\":- 1}");
    reject("double minus", "{\"a\":--1}");
    reject("trailing point 1.", "{\"a\":1.}");
    reject("trailing point in exponent", "{\"a\":1.e5}");
    reject("leading point .5", "{\"a\":.5}");
    reject("plus sign +1", "{\"a\":+1}");
    reject("bare exponent 1e", "{\"a\":1e}");
    reject("exponent sign only 1e+", "{\"a\":1e+}");
    reject("fractional exponent", "{\"a\":1e1.5}");
    reject("hex number", "{\"a\":0x10}");
    reject("NaN literal", "{\"a\":NaN}");
    reject("Infinity literal", "{\"a\":Infinity}");
    reject("negative Infinity", "{\"a\":-Infinity}");
    reject("capital True", "{\"a\":True}");
    reject("truncated true", "{\"a\":tru}");
    reject("truncated at end", "{\"a\":nul");
    reject("literal with tail", "{\"a\":nulll}");
    reject("literal glued to next", "{\"a\":truefalse}");
    reject("undefined literal", "{\"a\":undefined}");
    reject("comment", "{\"a\":1 /* no */}");
}

/* {"a":[[...1...]]}: total open containers, the top-level object included. */
static size_t nest(char *out, int total, char open, char close)
{
    size_t n = 0;
    n += (size_t)sprintf(out, "{\"a\":");
    for (int i = 1; i < total; i++)
        out[n++] = open;
    out[n++] = '1';
    for (int i = 1; i < total; i++)
        out[n++] = close;
    out[n++] = '}';
    return n;
}

static void test_depth(void)
{
    static char text[4096];
    size_t n;

    struct json_member m[1];
    n = nest(text, JSON_MAX_DEPTH, '[', ']');
    CHECK_EQ(json_parse_object(text, n, m, 1), 1);
    n = nest(text, JSON_MAX_DEPTH + 1, '[', ']');
    reject_len("nested too deep (arrays)", text, n);

    /* Objects: {"a":{"a":{"a":1}}} */
    n = 0;
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        n += (size_t)sprintf(text + n, "{\"a\":");
    text[n++] = '1';
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        text[n++] = '}';
    CHECK_EQ(json_parse_object(text, n, m, 1), 1);
    memmove(text + 5, text, n);
    memcpy(text, "{\"a\":", 5);
    text[n + 5] = '}';
    reject_len("nested too deep (objects)", text, n + 6);

    /* Far past the limit: rejected without recursing that deep. */
    static char deep[1 << 20];
    memset(deep, '[', sizeof deep);
    memcpy(deep, "{\"a\":", 5);
    reject_len("a million open brackets", deep, sizeof deep);
}

/* Every proper prefix of a valid object is invalid. */
static void test_truncations(void)
{
    static const char text[] = "{\"s\":\"a\\u00e9\\n\",\"n\":-1.5e3,\"t\":true,"
                               "\"a\":[null,{}],\"o\":{\"f\":false}}";
    size_t len = strlen(text);
    struct json_member m[5];
    CHECK_EQ(json_parse_object(text, len, m, 5), 5);
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut++)
        accepted += json_parse_object(text, cut, m, 5) != JSON_ERR_SYNTAX;
    CHECK_EQ(accepted, 0);
}

/* --- decoding strings -------------------------------------------------- */

/* Parse {"v":<value>} and decode v; returns the decoded length or -1. */
static ssize_t decode(const char *value, char *out, size_t cap)
{
    char text[1024];
    struct json_member m[1];
    int len = snprintf(text, sizeof text, "{\"v\":%s}", value);
    if (json_parse_object(text, (size_t)len, m, 1) != 1)
        return -2;
    return json_string_value(&m[0], out, cap);
}

#define CHECK_DECODE(value, want)                                            \
    do {                                                                     \
        char out_[256];                                                      \
        ssize_t n_ = decode((value), out_, sizeof out_);                     \
        CHECK_MEM(out_, n_ < 0 ? 0 : (size_t)n_, (want), sizeof(want) - 1);  \
        CHECK(n_ >= 0);                                                      \
    } while (0)

static void test_decode(void)
{
    CHECK_DECODE("\"\"", "");
    CHECK_DECODE("\"plain\"", "plain");
    CHECK_DECODE("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
    CHECK_DECODE("\"\\u0041\\u00e9\\u20AC\\uffff\"", "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbf");
    CHECK_DECODE("\"\\u0000\"", "\0");
    CHECK_DECODE("\"a\\u0000b\"", "a\0b");
    CHECK_DECODE("\"\\u007f\\u0080\\u07ff\\u0800\"", "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80");
    CHECK_DECODE("\"h\xc3\xa9 \xf0\x9f\x98\x80\"", "h\xc3\xa9 \xf0\x9f\x98\x80");
}

static void test_surrogates(void)
{
    CHECK_DECODE("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
    CHECK_DECODE("\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80");
    CHECK_DECODE("\"\\ud800\\udc00\"", "\xf0\x90\x80\x80");        /* U+10000 */
    CHECK_DECODE("\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf");        /* U+10FFFF */
    CHECK_DECODE("\"\\ud83d\"", "\xef\xbf\xbd");                    /* lone high */
    CHECK_DECODE("\"\\ude00\"", "\xef\xbf\xbd");                    /* lone low */
    CHECK_DECODE("\"\\ud83dx\"", "\xef\xbf\xbdx");
    CHECK_DECODE("\"\\ud83d\\n\"", "\xef\xbf\xbd\n");
    CHECK_DECODE("\"\\ud83d\\u0041\"", "\xef\xbf\xbd" "A");
    CHECK_DECODE("\"\\ude00\\ud83d\"", "\xef\xbf\xbd\xef\xbf\xbd"); /* reversed */
    CHECK_DECODE("\"\\ud83d\\ud83d\\ude00\"", "\xef\xbf\xbd\xf0\x9f\x98\x80");
}

static void test_decode_caps(void)
{
    static const char value[] = "\"a\\n\\u00e9\\ud83d\\ude00\xe2\x82\xac\"";
    static const char want[] = "a\n\xc3\xa9\xf0\x9f\x98\x80\xe2\x82\xac";
    size_t full = sizeof want - 1;
    for (size_t cap = 0; cap <= full; cap++) {
        char out[32];
        memset(out, CANARY, sizeof out);
        ssize_t n = decode(value, out, cap);
        CHECK_EQ(n, cap == full ? (ssize_t)full : -1);
        size_t untouched = 0;
        for (size_t i = cap; i < sizeof out; i++)
            untouched += (unsigned char)out[i] == CANARY;
        CHECK_EQ(untouched, sizeof out - cap);
    }

    struct json_member m[1];
    char out[8];
    CHECK_EQ(parse("{\"n\":12}", m, 1), 1);
    CHECK_EQ(json_string_value(&m[0], out, sizeof out), -1);   /* not a string */
    CHECK_EQ(parse("{\"n\":\"\"}", m, 1), 1);
    CHECK_EQ(json_string_value(&m[0], NULL, 0), 0);
}

/* Escape then parse gives back the original bytes: every byte 0x00..0x7F
 * (0x00 travels as \u0000) and multibyte UTF-8, through both json_escape and
 * the writer. */
static void test_round_trip(void)
{
    char in[160];
    size_t len = 0;
    for (int c = 0; c < 0x80; c++)
        in[len++] = (char)c;
    static const char multi[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
    memcpy(in + len, multi, sizeof multi - 1);
    len += sizeof multi - 1;

    for (size_t skip_nul = 0; skip_nul < 2; skip_nul++) {
        const char *s = in + skip_nul;     /* 0x01.. as well as 0x00.. */
        size_t n = len - skip_nul;
        char text[1024], out[256];
        struct json_writer w;
        struct json_member m[2];

        json_init(&w, text, sizeof text);
        json_object_begin(&w);
        json_member_str(&w, "k", s, n);
        json_object_end(&w);
        ssize_t tlen = json_finish(&w);
        CHECK(tlen > 0);
        CHECK_EQ(json_parse_object(text, (size_t)(tlen > 0 ? tlen : 0), m, 2), 1);
        CHECK_EQ(m[0].type, JSON_STRING);
        ssize_t dlen = json_string_value(&m[0], out, sizeof out);
        CHECK_MEM(out, dlen < 0 ? 0 : (size_t)dlen, s, n);

        char body[512];
        ssize_t blen = json_escape(s, n, body, sizeof body);
        CHECK(blen > 0);
        int tl = snprintf(text, sizeof text, "{\"k\":\"%.*s\"}", (int)blen, body);
        CHECK_EQ(json_parse_object(text, (size_t)tl, m, 2), 1);
        dlen = json_string_value(&m[0], out, sizeof out);
        CHECK_MEM(out, dlen < 0 ? 0 : (size_t)dlen, s, n);
    }
}

int main(void)
{
    test_chat_messages();
    test_other_messages();
    test_nested();
    test_ints();
    test_fixed();
    test_escape_specials();
    test_escape_controls();
    test_escape_caps();
    test_writer_overflow();
    test_parse_all_types();
    test_parse_blanks();
    test_parse_numbers();
    test_parse_max();
    test_member_counts();
    test_string_eq();
    test_find();
    test_find_nul_key();
    test_reject_structure();
    test_reject_strings();
    test_reject_values();
    test_depth();
    test_truncations();
    test_decode();
    test_surrogates();
    test_decode_caps();
    test_round_trip();
    return check_report("json");
}
