/* test_base64.c -- RFC 4648 §10 vectors both ways, each kind of rejected
 * input as its own named case, buffer limits, and WebSocket keys. */
#include "base64.h"

#include "check.h"

/* RFC 4648 §10. */
static const struct { const char *plain, *encoded; } rfc4648[] = {
    { "", "" },
    { "f", "Zg==" },
    { "fo", "Zm8=" },
    { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" },
    { "fooba", "Zm9vYmE=" },
    { "foobar", "Zm9vYmFy" },
};
#define N_RFC4648 (sizeof rfc4648 / sizeof rfc4648[0])

static void test_rfc4648_encode(void)
{
    for (size_t i = 0; i < N_RFC4648; i++) {
        const char *plain = rfc4648[i].plain;
        char out[16];
        size_t n = base64_encode((const uint8_t *)plain, strlen(plain), out);
        CHECK_STR(out, rfc4648[i].encoded);
        CHECK_EQ(n, strlen(rfc4648[i].encoded));
        CHECK_EQ(BASE64_ENCODED_LEN(strlen(plain)), n);
    }
}

static void test_rfc4648_decode(void)
{
    for (size_t i = 0; i < N_RFC4648; i++) {
        const char *enc = rfc4648[i].encoded;
        uint8_t out[16];
        ssize_t n = base64_decode(enc, strlen(enc), out, sizeof out);
        CHECK_EQ(n, strlen(rfc4648[i].plain));
        if (n >= 0)
            CHECK_MEM(out, (size_t)n, rfc4648[i].plain, strlen(rfc4648[i].plain));
    }
}

/* Decode `in` (len bytes, which may include a NUL) into a roomy buffer and
 * expect rejection; name the case on failure since CHECK prints no data. */
static void expect_reject(const char *name, const char *in, size_t len)
{
    uint8_t out[32];
    ssize_t n = base64_decode(in, len, out, sizeof out);
    CHECK_EQ(n, -1);
    if (n != -1)
        fprintf(stderr, "    case: %s\n", name);
}
#define REJECT(name, lit) expect_reject(name, lit, sizeof lit - 1)

static void test_reject_bad_length(void)
{
    REJECT("one char", "Z");
    REJECT("three chars", "Zm9");
    REJECT("five chars", "Zm9vY");
    REJECT("padding missing", "Zg");
    REJECT("one pad of two", "Zg=");
}

static void test_reject_bad_char(void)
{
    REJECT("'!' in data", "Zm9v!A==");
    REJECT("url-safe '-'", "Zm-v");
    REJECT("url-safe '_'", "Zm_v");
    REJECT("non-ASCII byte", "Zm\xc3\xa9");
    REJECT("NUL inside", "Zm\0v");
    REJECT("'.' at end", "Zm9.");
}

static void test_reject_pad_in_middle(void)
{
    REJECT("'=' second char", "Z=9v");
    REJECT("'=' third char", "Zm=v");
    REJECT("two padded groups", "Zg==Zg==");
    REJECT("padded group then data", "Zm8=Zm9v");
    REJECT("'=' first of last group", "Zm9v=m9v");
}

static void test_reject_too_much_padding(void)
{
    REJECT("three pads", "Z===");
    REJECT("four pads", "====");
    REJECT("three pads after data", "Zm9vZ===");
    REJECT("extra pad group", "Zg======");
}

/* §3.5: the bits below the last byte must be zero, or "Zh==" and "Zg=="
 * would both decode to "f". */
static void test_reject_unused_bits(void)
{
    REJECT("Zh== (f with low bits)", "Zh==");
    REJECT("Zv== (f, all low bits)", "Zv==");
    REJECT("Zm9= (fo with low bits)", "Zm9=");
    REJECT("Zm9vYh== (foob with low bits)", "Zm9vYh==");
}

/* §3.3: no line breaks or other whitespace, anywhere. */
static void test_reject_whitespace(void)
{
    REJECT("leading space", " Zm9");
    REJECT("trailing newline", "Zm9\n");
    REJECT("space inside", "Zm 9");
    REJECT("tab inside", "Zm\t9");
    REJECT("CRLF between groups", "Zm9vYm\r\n");
    REJECT("MIME line break", "Zm9v\r\nYmFy");
}

/* The length check comes before any write, and a buffer of exactly the
 * decoded length is enough; the byte after it stays untouched. */
static void test_output_cap(void)
{
    uint8_t out[8];
    memset(out, 0xee, sizeof out);
    CHECK_EQ(base64_decode("Zm9vYmFy", 8, out, 5), -1);
    CHECK_EQ(base64_decode("Zm8=", 4, out, 1), -1);
    CHECK_EQ(base64_decode("Zg==", 4, out, 0), -1);
    CHECK_EQ(base64_decode("Zm9vYmFy", 8, out, 6), 6);
    CHECK_MEM(out, 6, "foobar", 6);
    CHECK_EQ(out[6], 0xee);
    CHECK_EQ(base64_decode("Zm8=", 4, out, 2), 2);
    CHECK_EQ(base64_decode("", 0, NULL, 0), 0);
}

/* Encoding writes exactly BASE64_ENCODED_LEN(n) + 1 bytes, and every byte
 * value at every length round-trips. */
static void test_round_trip_all_lengths(void)
{
    uint8_t in[64], back[64];
    char enc[BASE64_ENCODED_LEN(sizeof in) + 2];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(255 - i * 4);
    int bad = 0;
    for (size_t len = 0; len <= sizeof in; len++) {
        memset(enc, 0x7f, sizeof enc);
        size_t n = base64_encode(in + sizeof in - len, len, enc);
        bad += n != BASE64_ENCODED_LEN(len) || enc[n] != '\0' || enc[n + 1] != 0x7f;
        ssize_t m = base64_decode(enc, n, back, len);
        bad += m != (ssize_t)len || memcmp(back, in + sizeof in - len, len) != 0;
    }
    CHECK_EQ(bad, 0);
}

/* Every 4-character string over a small set: decode must accept exactly the
 * canonical ones. Of the 10 alphabet characters below, A E Q g w have the low
 * 2 bits clear and A Q g w the low 4: 10^4 + 10*10*5 + 10*4 = 10540. */
static void test_only_canonical_accepted(void)
{
    static const char set[] = "AEQgwBz9+/= -_";
    const size_t k = sizeof set - 1;
    int accepted = 0, not_canonical = 0;
    for (size_t a = 0; a < k * k * k * k; a++) {
        char in[4] = { set[a % k], set[a / k % k], set[a / k / k % k], set[a / k / k / k] };
        char again[5];
        uint8_t out[3];
        ssize_t n = base64_decode(in, 4, out, sizeof out);
        if (n < 0)
            continue;
        accepted++;
        base64_encode(out, (size_t)n, again);
        not_canonical += memcmp(again, in, 4) != 0;
    }
    CHECK_EQ(accepted, 10540);
    CHECK_EQ(not_canonical, 0);
}

/* RFC 6455 §4.1: a client key is 16 random bytes, 24 characters encoded.
 * §1.3's sample key is the nonce "the sample nonce"; its accept value
 * exercises '+'. */
static void test_websocket_keys(void)
{
    uint8_t key[16], back[16];
    char enc[BASE64_ENCODED_LEN(16) + 1];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 73 + 200);
    CHECK_EQ(base64_encode(key, sizeof key, enc), 24);
    CHECK_EQ(base64_decode(enc, 24, back, sizeof back), 16);
    CHECK_MEM(back, sizeof back, key, sizeof key);

    CHECK_EQ(base64_decode("dGhlIHNhbXBsZSBub25jZQ==", 24, back, sizeof back), 16);
    CHECK_MEM(back, sizeof back, "the sample nonce", 16);

    static const uint8_t accept[20] = {
        0xb3, 0x7a, 0x4f, 0x2c, 0xc0, 0x62, 0x4f, 0x16, 0x90, 0xf6,
        0x46, 0x06, 0xcf, 0x38, 0x59, 0x45, 0xb2, 0xbe, 0xc4, 0xea,
    };
    char acc[BASE64_ENCODED_LEN(20) + 1];
    base64_encode(accept, sizeof accept, acc);
    CHECK_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

int main(void)
{
    test_rfc4648_encode();
    test_rfc4648_decode();
    test_reject_bad_length();
    test_reject_bad_char();
    test_reject_pad_in_middle();
    test_reject_too_much_padding();
    test_reject_unused_bits();
    test_reject_whitespace();
    test_output_cap();
    test_round_trip_all_lengths();
    test_only_canonical_accepted();
    test_websocket_keys();
    return check_report("base64");
}
