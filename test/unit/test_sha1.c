/* test_sha1.c -- SHA-1 against the RFC 3174 §7.3 test cases, padding
 * boundaries, every split of the input, and the RFC 6455 §1.3 handshake key. */
#include "sha1.h"

#include "check.h"

/* RFC 3174 §7.3, TEST1..TEST4 with their repeat counts. */
#define TEST1 "abc"
#define TEST2 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define TEST4 "01234567012345670123456701234567" "01234567012345670123456701234567"

/* Lowercase hex of a digest, so a failed check prints something readable. */
static const char *hex(const uint8_t d[SHA1_DIGEST_LEN])
{
    static char s[2 * SHA1_DIGEST_LEN + 1];
    for (int i = 0; i < SHA1_DIGEST_LEN; i++)
        snprintf(s + 2 * i, 3, "%02x", d[i]);
    return s;
}

/* Digest of text fed `repeat` times through one context, as RFC 3174 does. */
static const char *digest_repeated(const char *text, int repeat)
{
    struct sha1_ctx ctx;
    uint8_t d[SHA1_DIGEST_LEN];
    sha1_init(&ctx);
    for (int i = 0; i < repeat; i++)
        sha1_update(&ctx, text, strlen(text));
    sha1_final(&ctx, d);
    return hex(d);
}

static void test_rfc3174_vectors(void)
{
    CHECK_STR(digest_repeated(TEST1, 1), "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK_STR(digest_repeated(TEST2, 1), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    CHECK_STR(digest_repeated("a", 1000000), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    CHECK_STR(digest_repeated(TEST4, 10), "dea356a2cddd90c7a7ecedc5ebb563934f460452");
}

static void test_empty(void)
{
    uint8_t d[SHA1_DIGEST_LEN];
    sha1("", 0, d);
    CHECK_STR(hex(d), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK_STR(digest_repeated("", 3), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

/* Runs of 'a' whose length puts the padding on each side of a block edge:
 * 55 leaves room for the length, 56 does not, 64 needs a block of padding. */
static void test_padding_boundaries(void)
{
    static const struct { size_t len; const char *want; } cases[] = {
        {  55, "c1c8bbdc22796e28c0e15163d20899b65621d65a" },
        {  56, "c2db330f6083854c99d4b5bfb6e8f29f201be699" },
        {  63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5" },
        {  64, "0098ba824b5c16427bd7a1122a5a442a25ec644d" },
        {  65, "11655326c708d70319be2610e8a57d9a5b959d3b" },
        { 119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56" },
        { 120, "f34c1488385346a55709ba056ddd08280dd4c6d6" },
        { 128, "ad5b3fdbcb526778c2839d2f151ea753995e26a0" },
    };
    char a[128];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t d[SHA1_DIGEST_LEN];
        sha1(a, cases[i].len, d);
        CHECK_STR(hex(d), cases[i].want);
    }
}

/* A message over two blocks, with every byte value, hashed in two parts cut
 * at each position: the digest must not depend on where reads end. */
static void test_split_anywhere(void)
{
    uint8_t msg[150], want[SHA1_DIGEST_LEN];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 37 + 11);
    sha1(msg, sizeof msg, want);
    int mismatches = 0;
    for (size_t cut = 0; cut <= sizeof msg; cut++) {
        struct sha1_ctx ctx;
        uint8_t got[SHA1_DIGEST_LEN];
        sha1_init(&ctx);
        sha1_update(&ctx, msg, cut);
        sha1_update(&ctx, msg + cut, sizeof msg - cut);
        sha1_final(&ctx, got);
        mismatches += memcmp(got, want, sizeof got) != 0;
    }
    CHECK_EQ(mismatches, 0);
}

/* The same message fed in chunks of each size from 1 to 70 (odd sizes
 * included), so partial blocks are refilled from every offset. */
static void test_odd_chunks(void)
{
    uint8_t msg[300], want[SHA1_DIGEST_LEN];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i ^ (i >> 3));
    sha1(msg, sizeof msg, want);
    int mismatches = 0;
    for (size_t chunk = 1; chunk <= 70; chunk++) {
        struct sha1_ctx ctx;
        uint8_t got[SHA1_DIGEST_LEN];
        sha1_init(&ctx);
        for (size_t off = 0; off < sizeof msg; off += chunk) {
            size_t n = sizeof msg - off < chunk ? sizeof msg - off : chunk;
            sha1_update(&ctx, msg + off, n);
        }
        sha1_final(&ctx, got);
        mismatches += memcmp(got, want, sizeof got) != 0;
    }
    CHECK_EQ(mismatches, 0);
}

/* RFC 6455 §1.3: the sample key plus the GUID hashes to the bytes whose
 * base64 is "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (decoded here by hand, so this
 * test links sha1.c alone). */
static void test_rfc6455_accept(void)
{
    static const char input[] =
        "dGhlIHNhbXBsZSBub25jZQ==" "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    static const uint8_t want[SHA1_DIGEST_LEN] = {
        0xb3, 0x7a, 0x4f, 0x2c, 0xc0, 0x62, 0x4f, 0x16, 0x90, 0xf6,
        0x46, 0x06, 0xcf, 0x38, 0x59, 0x45, 0xb2, 0xbe, 0xc4, 0xea,
    };
    uint8_t d[SHA1_DIGEST_LEN];
    sha1(input, strlen(input), d);
    CHECK_MEM(d, sizeof d, want, sizeof want);
}

int main(void)
{
    test_rfc3174_vectors();
    test_empty();
    test_padding_boundaries();
    test_split_anywhere();
    test_odd_chunks();
    test_rfc6455_accept();
    return check_report("sha1");
}
