/* test_utf8.c -- the incremental validator: valid samples, every invalid
 * class of Markus Kuhn's UTF-8 decoder stress test (sections named below),
 * the exact byte where each input fails, every split of valid text, the
 * 8-byte ASCII path, and an exhaustive sweep against a slow reference. */
#include "utf8.h"

#include "check.h"

/* Index of the first byte on which utf8_feed() fails when fed one byte per
 * call, or len if none does. RFC 6455 §8.1 fail-fast is exactly this. */
static size_t first_failure(const uint8_t *s, size_t len)
{
    struct utf8_validator v;
    utf8_reset(&v);
    for (size_t i = 0; i < len; i++)
        if (!utf8_feed(&v, s + i, 1))
            return i;
    return len;
}

/* Valid text, checked whole, one byte per call, and as a fresh zeroed
 * validator (the header allows either start). */
static void expect_valid(const char *name, const char *text, size_t len)
{
    const uint8_t *s = (const uint8_t *)text;
    struct utf8_validator zeroed = {0};
    bool whole = utf8_valid(s, len);
    size_t fail = first_failure(s, len);
    bool streamed = utf8_feed(&zeroed, s, len) && utf8_complete(&zeroed);
    CHECK(whole);
    CHECK_EQ(fail, len);
    CHECK(streamed);
    if (!whole || fail != len || !streamed)
        fprintf(stderr, "    case: %s\n", name);
}
#define VALID(name, lit) expect_valid(name, lit, sizeof lit - 1)

/* Invalid text: utf8_valid() says no, and byte by byte the first failure is
 * at fail_at. fail_at == len means a truncated sequence: no byte is wrong
 * but the input does not end on a character boundary. */
static void expect_invalid(const char *name, const char *text, size_t len, size_t fail_at)
{
    const uint8_t *s = (const uint8_t *)text;
    struct utf8_validator v;
    utf8_reset(&v);
    bool fed = utf8_feed(&v, s, len);
    size_t fail = first_failure(s, len);
    CHECK(!utf8_valid(s, len));
    CHECK_EQ(fail, fail_at);
    CHECK(fed == (fail_at == len));
    CHECK(!utf8_complete(&v));
    if (utf8_valid(s, len) || fail != fail_at || fed != (fail_at == len))
        fprintf(stderr, "    case: %s\n", name);
}
#define INVALID(name, lit, at) expect_invalid(name, lit, sizeof lit - 1, at)

static void test_valid_samples(void)
{
    VALID("empty", "");
    VALID("ASCII", "Hello, world! ~");
    VALID("ASCII with NUL", "a\0b");
    VALID("U+0080 first 2-byte", "\xc2\x80");
    VALID("U+00E9", "\xc3\xa9");
    VALID("U+07FF last 2-byte", "\xdf\xbf");
    VALID("U+0800 first 3-byte", "\xe0\xa0\x80");
    VALID("U+20AC euro", "\xe2\x82\xac");
    VALID("U+D7FF before surrogates", "\xed\x9f\xbf");
    VALID("U+E000 after surrogates", "\xee\x80\x80");
    VALID("U+FFFD", "\xef\xbf\xbd");
    VALID("U+FFFE noncharacter", "\xef\xbf\xbe");
    VALID("U+FFFF last 3-byte", "\xef\xbf\xbf");
    VALID("U+10000 first 4-byte", "\xf0\x90\x80\x80");
    VALID("U+1F600", "\xf0\x9f\x98\x80");
    VALID("U+10FFFF last code point", "\xf4\x8f\xbf\xbf");
    VALID("kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
    VALID("mixed", "x\xce\xba\xe2\x82\xac\xf0\x9f\x98\x80yz0123456789\xc3\xa9");

    uint8_t ascii[128];
    for (size_t i = 0; i < sizeof ascii; i++)
        ascii[i] = (uint8_t)i;
    expect_valid("every ASCII byte", (const char *)ascii, sizeof ascii);
}

/* Kuhn 3.1: continuation bytes where a character should start. */
static void test_unexpected_continuation(void)
{
    INVALID("3.1 first continuation 0x80", "\x80", 0);
    INVALID("3.1 last continuation 0xbf", "\xbf", 0);
    INVALID("3.1 two continuations", "\x80\xbf", 0);
    INVALID("3.1 three continuations", "\x80\xbf\x80", 0);
    INVALID("3.1 after ASCII", "a\x80", 1);
    INVALID("3.1 one too many after 2-byte", "\xc2\xa9\x80", 2);
    INVALID("3.1 one too many after 3-byte", "\xe2\x82\xac\xbf", 3);
    INVALID("3.1 one too many after 4-byte", "\xf0\x9f\x98\x80\x80", 4);
    for (int b = 0x80; b <= 0xbf; b++) {
        char one[2] = { (char)b, 'a' };
        expect_invalid("3.1 each continuation byte alone", one, 2, 0);
    }
}

/* Kuhn 3.2: every lead byte followed by a space. C0, C1 and F5..FF fail at
 * once (RFC 3629 §4 never allows them); the others fail on the space. */
static void test_lonely_start_bytes(void)
{
    for (int b = 0xc0; b <= 0xff; b++) {
        char two[2] = { (char)b, ' ' };
        bool never = b <= 0xc1 || b >= 0xf5;
        expect_invalid("3.2 lonely start byte", two, 2, never ? 0 : 1);
    }
}

/* Kuhn 3.3 and 3.4: sequences with the last continuation byte missing.
 * With a valid lead the stream is only incomplete (fail_at == len) until
 * a non-continuation byte arrives. */
static void test_truncated(void)
{
    INVALID("3.3 2-byte U+0080 cut", "\xc2", 1);
    INVALID("3.3 2-byte U+07FF cut", "\xdf", 1);
    INVALID("3.3 3-byte U+0800 cut", "\xe0\xa0", 2);
    INVALID("3.3 3-byte U+FFFF cut", "\xef\xbf", 2);
    INVALID("3.3 4-byte U+10000 cut", "\xf0\x90\x80", 3);
    INVALID("3.3 4-byte U+10FFFF cut", "\xf4\x8f\xbf", 3);
    INVALID("3.3 4-byte cut after lead", "\xf1", 1);
    INVALID("3.3 overlong lead C0 cut", "\xc0", 0);
    INVALID("3.3 overlong 3-byte cut", "\xe0\x80", 1);
    INVALID("3.3 overlong 4-byte cut", "\xf0\x80\x80", 1);
    INVALID("3.3 5-byte cut", "\xf8\x80\x80\x80", 0);
    INVALID("3.3 6-byte cut", "\xfc\x80\x80\x80\x80", 0);
    INVALID("3.3 cut, then ASCII", "\xe1\x80" "a", 2);
    INVALID("3.4 cut sequences concatenated", "\xdf\xef\xbf\xf4\x8f\xbf", 1);
    INVALID("3.4 Kuhn's concatenation", "\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80"
            "\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf"
            "\xbf\xbf", 0);
}

/* Kuhn 3.5: bytes that never appear in UTF-8. */
static void test_impossible_bytes(void)
{
    INVALID("3.5 0xfe", "\xfe", 0);
    INVALID("3.5 0xff", "\xff", 0);
    INVALID("3.5 fe fe ff ff", "\xfe\xfe\xff\xff", 0);
    INVALID("3.5 0xff after ASCII", "abc\xff", 3);
    INVALID("3.5 0xfe inside a sequence", "\xe2\x82\xfe", 2);
}

/* Kuhn 4.1-4.3: overlong forms. RFC 3629 §3 requires the shortest form;
 * a decoder accepting "\xc0\xaf" as '/' once allowed path traversal. */
static void test_overlong(void)
{
    INVALID("4.1 '/' as 2 bytes", "\xc0\xaf", 0);
    INVALID("4.1 '/' as 3 bytes", "\xe0\x80\xaf", 1);
    INVALID("4.1 '/' as 4 bytes", "\xf0\x80\x80\xaf", 1);
    INVALID("4.1 '/' as 5 bytes", "\xf8\x80\x80\x80\xaf", 0);
    INVALID("4.1 '/' as 6 bytes", "\xfc\x80\x80\x80\x80\xaf", 0);
    INVALID("4.2 max overlong 2-byte U+007F", "\xc1\xbf", 0);
    INVALID("4.2 max overlong 3-byte U+07FF", "\xe0\x9f\xbf", 1);
    INVALID("4.2 max overlong 4-byte U+FFFF", "\xf0\x8f\xbf\xbf", 1);
    INVALID("4.2 max overlong 5-byte", "\xf8\x87\xbf\xbf\xbf", 0);
    INVALID("4.2 max overlong 6-byte", "\xfc\x83\xbf\xbf\xbf\xbf", 0);
    INVALID("4.3 NUL as 2 bytes", "\xc0\x80", 0);
    INVALID("4.3 NUL as 3 bytes", "\xe0\x80\x80", 1);
    INVALID("4.3 NUL as 4 bytes", "\xf0\x80\x80\x80", 1);
    INVALID("4.3 NUL as 5 bytes", "\xf8\x80\x80\x80\x80", 0);
    INVALID("4.3 NUL as 6 bytes", "\xfc\x80\x80\x80\x80\x80", 0);
}

/* Kuhn 5.1-5.2: UTF-16 surrogates are not characters (RFC 3629 §3). */
static void test_surrogates(void)
{
    INVALID("5.1 U+D800", "\xed\xa0\x80", 1);
    INVALID("5.1 U+DB7F", "\xed\xad\xbf", 1);
    INVALID("5.1 U+DB80", "\xed\xae\x80", 1);
    INVALID("5.1 U+DBFF", "\xed\xaf\xbf", 1);
    INVALID("5.1 U+DC00", "\xed\xb0\x80", 1);
    INVALID("5.1 U+DF80", "\xed\xbe\x80", 1);
    INVALID("5.1 U+DFFF", "\xed\xbf\xbf", 1);
    INVALID("5.2 U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80", 1);
    INVALID("5.2 U+DBFF U+DFFF", "\xed\xaf\xbf\xed\xbf\xbf", 1);
}

/* Kuhn 2.3 boundary: nothing past U+10FFFF (RFC 3629 §3). */
static void test_beyond_max(void)
{
    INVALID("U+110000 via F4 90", "\xf4\x90\x80\x80", 1);
    INVALID("U+13FFFF via F4 BF", "\xf4\xbf\xbf\xbf", 1);
    INVALID("U+140000 via F5", "\xf5\x80\x80\x80", 0);
    INVALID("U+1FFFFF via F7", "\xf7\xbf\xbf\xbf", 0);
}

/* The RFC 6455 Autobahn-style case: "κόσμε" then an encoded surrogate then
 * "edited"; §8.1 fail-fast means the \xa0 (byte 12) is the one refused. */
static void test_fail_fast_position(void)
{
    INVALID("kosme + U+D800 + edited",
            "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
            12);
}

/* Once dead, the validator stays dead: even valid or empty input is refused,
 * and utf8_reset() brings it back. */
static void test_dead_stays_dead(void)
{
    struct utf8_validator v;
    utf8_reset(&v);
    CHECK(!utf8_feed(&v, (const uint8_t *)"a\xff", 2));
    CHECK(!utf8_feed(&v, (const uint8_t *)"abc", 3));
    CHECK(!utf8_feed(&v, (const uint8_t *)"", 0));
    CHECK(!utf8_complete(&v));
    utf8_reset(&v);
    CHECK(utf8_feed(&v, (const uint8_t *)"abc", 3));
    CHECK(utf8_complete(&v));
}

/* utf8_complete() is false exactly while a sequence is open. */
static void test_complete_tracks_boundary(void)
{
    static const uint8_t s[] = "\xf0\x9f\x98\x80" "a" "\xe2\x82\xac";
    static const bool boundary_after[] = { 0, 0, 0, 1, 1, 0, 0, 1 };
    struct utf8_validator v;
    utf8_reset(&v);
    for (size_t i = 0; i < sizeof s - 1; i++) {
        CHECK(utf8_feed(&v, s + i, 1));
        CHECK(utf8_complete(&v) == boundary_after[i]);
    }
}

/* Valid text cut into two and into three feeds at every position: RFC 6455
 * §8.1 validates fragments as they come, so a cut may fall anywhere. */
static void test_split_anywhere(void)
{
    static const uint8_t s[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 "
                               "\xf4\x8f\xbf\xbf\xe2\x82\xac" "abcdefghij\xf0\x90\x80\x80";
    const size_t len = sizeof s - 1;
    int bad = 0;
    for (size_t i = 0; i <= len; i++) {
        for (size_t j = i; j <= len; j++) {
            struct utf8_validator v;
            utf8_reset(&v);
            bool ok = utf8_feed(&v, s, i) && utf8_feed(&v, s + i, j - i)
                      && utf8_feed(&v, s + j, len - j);
            bad += !ok || !utf8_complete(&v);
        }
    }
    CHECK_EQ(bad, 0);
}

/* The 8-byte ASCII path must not skip over a bad byte or lose the state
 * at a word edge: put one odd thing at every offset of a long ASCII run. */
static void test_ascii_fast_path(void)
{
    uint8_t buf[70];
    int bad = 0;
    for (size_t pos = 0; pos + 1 < sizeof buf; pos++) {
        memset(buf, 'x', sizeof buf);
        buf[pos] = 0xff;
        bad += utf8_valid(buf, sizeof buf) || first_failure(buf, sizeof buf) != pos;
        buf[pos] = 0xc3;                       /* U+00E9 straddling any edge */
        buf[pos + 1] = 0xa9;
        bad += !utf8_valid(buf, sizeof buf);
        buf[pos + 1] = 'x';                    /* lead then ASCII: fails there */
        bad += utf8_valid(buf, sizeof buf) || first_failure(buf, sizeof buf) != pos + 1;
    }
    CHECK_EQ(bad, 0);
    memset(buf, 'x', sizeof buf);
    buf[sizeof buf - 1] = 0xe2;                /* open sequence at the very end */
    struct utf8_validator v;
    utf8_reset(&v);
    CHECK(utf8_feed(&v, buf, sizeof buf));
    CHECK(!utf8_complete(&v));
    CHECK(utf8_feed(&v, (const uint8_t *)"\x82\xac", 2));
    CHECK(utf8_complete(&v));
}

/* A slow decoder written from RFC 3629 §3 rather than the §4 table: read
 * the bit pattern, collect the code point, then refuse overlong forms,
 * surrogates and anything past U+10FFFF. */
static bool ref_valid(const uint8_t *s, size_t len)
{
    static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    for (size_t i = 0; i < len;) {
        size_t n;
        uint32_t cp;
        if (s[i] < 0x80)               { n = 1; cp = s[i]; }
        else if ((s[i] & 0xe0) == 0xc0) { n = 2; cp = s[i] & 0x1f; }
        else if ((s[i] & 0xf0) == 0xe0) { n = 3; cp = s[i] & 0x0f; }
        else if ((s[i] & 0xf8) == 0xf0) { n = 4; cp = s[i] & 0x07; }
        else return false;
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n;
    }
    return true;
}

/* Every 1-, 2- and 3-byte input, and every 4-byte input whose last three
 * bytes come from a set of range edges, agrees with the reference. */
static void test_against_reference(void)
{
    static const uint8_t edges[] = { 0x00, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0,
                                     0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xff };
    const size_t ne = sizeof edges;
    long disagree = 0;
    for (uint32_t x = 0; x < 1u << 24; x++) {
        uint8_t s[3] = { (uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x };
        if (x < 256)
            disagree += utf8_valid(s + 2, 1) != ref_valid(s + 2, 1);
        if (x < 65536)
            disagree += utf8_valid(s + 1, 2) != ref_valid(s + 1, 2);
        disagree += utf8_valid(s, 3) != ref_valid(s, 3);
    }
    for (size_t x = 0; x < 256 * ne * ne * ne; x++) {
        uint8_t s[4] = { (uint8_t)(x / (ne * ne * ne)), edges[x / (ne * ne) % ne],
                         edges[x / ne % ne], edges[x % ne] };
        disagree += utf8_valid(s, 4) != ref_valid(s, 4);
    }
    CHECK_EQ(disagree, 0);
}

int main(void)
{
    test_valid_samples();
    test_unexpected_continuation();
    test_lonely_start_bytes();
    test_truncated();
    test_impossible_bytes();
    test_overlong();
    test_surrogates();
    test_beyond_max();
    test_fail_fast_position();
    test_dead_stays_dead();
    test_complete_tracks_boundary();
    test_split_anywhere();
    test_ascii_fast_path();
    test_against_reference();
    return check_report("utf8");
}
