/* test_wsframe.c -- the frame parser, header writer and masking against the
 * RFC 6455 §5.7 examples, every length boundary, every split of the input,
 * and the length encodings §5.2 forbids. */
#include "check.h"
#include "wsframe.h"

#include <stdlib.h>

/* What one frame looked like after feeding it through the parser. */
struct parsed {
    ssize_t err;                 /* 0, or the first negative return */
    size_t used;                 /* bytes consumed in all */
    uint8_t payload[300];        /* the first sizeof payload bytes of it */
    size_t payload_len;
    struct wsframe_parser p;
};

/* Feed in[0..len) in pieces of at most `step` bytes (the first piece `first`
 * bytes) until the frame is done, an error, or the input runs out. The input
 * is copied, since the parser unmasks in place. */
static void feed_in_steps(const uint8_t *in, size_t len, size_t first, size_t step,
                          struct parsed *r)
{
    uint8_t *buf = malloc(len ? len : 1);
    size_t piece = first;

    memcpy(buf, in, len);
    memset(r, 0, sizeof *r);
    while (r->used < len && !wsframe_done(&r->p)) {
        const uint8_t *data;
        size_t data_len, avail = len - r->used;
        ssize_t n = wsframe_feed(&r->p, buf + r->used, piece < avail ? piece : avail,
                                 &data, &data_len);
        if (n < 0) {
            r->err = n;
            break;
        }
        for (size_t i = 0; i < data_len && r->payload_len < sizeof r->payload; i++)
            r->payload[r->payload_len++] = data[i];
        r->used += (size_t)n;
        piece = step;
    }
    free(buf);
}

static void feed_all(const uint8_t *in, size_t len, struct parsed *r)
{
    feed_in_steps(in, len, len, len, r);
}

/* --- RFC 6455 §5.7 examples ------------------------------------------- */

static const uint8_t hello_unmasked[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
static const uint8_t hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,   /* RFC 6455 */
                                 0x7f, 0x9f, 0x4d, 0x51, 0x58 };       /* §5.7 */

static void test_rfc_unmasked_hello(void)
{
    struct parsed r;
    feed_all(hello_unmasked, sizeof hello_unmasked, &r);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.used, sizeof hello_unmasked);
    CHECK(wsframe_done(&r.p));
    CHECK(r.p.fin);
    CHECK(!r.p.masked);
    CHECK_EQ(r.p.opcode, WS_OP_TEXT);
    CHECK_EQ(r.p.rsv, 0);
    CHECK_MEM(r.payload, r.payload_len, "Hello", 5);
}

static void test_rfc_masked_hello(void)
{
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    struct parsed r;
    feed_all(hello, sizeof hello, &r);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.used, sizeof hello);
    CHECK(wsframe_done(&r.p));
    CHECK(r.p.masked);
    CHECK_MEM(r.p.mask, 4, key, 4);
    CHECK_EQ(r.p.payload_len, 5);
    CHECK_MEM(r.payload, r.payload_len, "Hello", 5);
}

static void test_rfc_fragmented(void)
{
    static const uint8_t hel[] = { 0x01, 0x03, 0x48, 0x65, 0x6c };
    static const uint8_t lo[] = { 0x80, 0x02, 0x6c, 0x6f };
    struct parsed r;

    feed_all(hel, sizeof hel, &r);
    CHECK_EQ(r.used, sizeof hel);
    CHECK(!r.p.fin);
    CHECK_EQ(r.p.opcode, WS_OP_TEXT);
    CHECK_MEM(r.payload, r.payload_len, "Hel", 3);
    feed_all(lo, sizeof lo, &r);
    CHECK_EQ(r.used, sizeof lo);
    CHECK(r.p.fin);
    CHECK_EQ(r.p.opcode, WS_OP_CONT);
    CHECK_MEM(r.payload, r.payload_len, "lo", 2);
}

static void test_rfc_ping_pong(void)
{
    static const uint8_t ping[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
    static const uint8_t pong[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    struct parsed r;

    feed_all(ping, sizeof ping, &r);
    CHECK_EQ(r.p.opcode, WS_OP_PING);
    CHECK(!r.p.masked);
    CHECK(wsframe_done(&r.p));
    CHECK_MEM(r.payload, r.payload_len, "Hello", 5);
    feed_all(pong, sizeof pong, &r);
    CHECK_EQ(r.p.opcode, WS_OP_PONG);
    CHECK(r.p.masked);
    CHECK(wsframe_done(&r.p));
    CHECK_MEM(r.payload, r.payload_len, "Hello", 5);
}

/* The header alone: feed stops at its last byte, before any payload. */
static void test_rfc_binary_headers(void)
{
    static const uint8_t b256[] = { 0x82, 0x7E, 0x01, 0x00, 0xAA, 0xBB };
    static const uint8_t b64k[] = { 0x82, 0x7F, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x01, 0x00, 0x00, 0xAA };
    struct wsframe_parser p = {0};
    uint8_t buf[sizeof b64k];
    const uint8_t *data;
    size_t data_len;

    memcpy(buf, b256, sizeof b256);
    CHECK_EQ(wsframe_feed(&p, buf, sizeof b256, &data, &data_len), 4);
    CHECK_EQ(data_len, 0);
    CHECK(wsframe_header_done(&p));
    CHECK(!wsframe_done(&p));
    CHECK_EQ(p.opcode, WS_OP_BINARY);
    CHECK_EQ(p.payload_len, 256);

    wsframe_reset(&p);
    memcpy(buf, b64k, sizeof b64k);
    CHECK_EQ(wsframe_feed(&p, buf, sizeof b64k, &data, &data_len), 10);
    CHECK_EQ(data_len, 0);
    CHECK(wsframe_header_done(&p));
    CHECK_EQ(p.payload_len, 65536);
    CHECK_EQ(wsframe_feed(&p, buf + 10, 1, &data, &data_len), 1);
    CHECK_EQ(data_len, 1);
    CHECK_EQ(data[0], 0xAA);
    CHECK_EQ(p.payload_seen, 1);
}

/* --- splits ------------------------------------------------------------ */

/* Bytes arrive in two reads split at `cut`; like ws.c, the caller feeds each
 * read until it is used up. The header is returned on its own, so the first
 * read stops at min(cut, 6) and a header cut short takes one more call. */
static void test_split_anywhere(void)
{
    for (size_t cut = 1; cut < sizeof hello; cut++) {
        struct wsframe_parser p = {0};
        uint8_t in[sizeof hello], out[sizeof hello];
        const uint8_t *data;
        size_t n, got = 0, at = 0, calls = 0;
        memcpy(in, hello, sizeof hello);
        CHECK(wsframe_feed(&p, in, cut, &data, &n) == (ssize_t)(cut < 6 ? cut : 6));
        CHECK_EQ(wsframe_header_done(&p), cut >= 6);
        CHECK_EQ(n, 0);
        at = cut < 6 ? cut : 6;
        while (at < sizeof hello && calls++ < 3) {
            size_t end = at < cut ? cut : sizeof hello;
            ssize_t used = wsframe_feed(&p, in + at, end - at, &data, &n);
            CHECK(used > 0);
            if (used <= 0)
                break;
            memcpy(out + got, data, n);
            got += n;
            at += (size_t)used;
        }
        CHECK_EQ(at, sizeof hello);
        CHECK_MEM(out, got, "Hello", 5);
        CHECK(wsframe_done(&p));
    }
}

static void test_byte_by_byte(void)
{
    struct parsed r;
    feed_in_steps(hello, sizeof hello, 1, 1, &r);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.used, sizeof hello);
    CHECK(wsframe_done(&r.p));
    CHECK_MEM(r.payload, r.payload_len, "Hello", 5);
}

/* Feed must stop at the first frame's end: the second is the next frame's. */
static void test_back_to_back(void)
{
    uint8_t buf[sizeof hello + sizeof hello_unmasked];
    struct wsframe_parser p = {0};
    const uint8_t *data;
    size_t data_len, at = 0;

    memcpy(buf, hello, sizeof hello);
    memcpy(buf + sizeof hello, hello_unmasked, sizeof hello_unmasked);
    CHECK_EQ(wsframe_feed(&p, buf, sizeof buf, &data, &data_len), 6);
    at += 6;
    CHECK_EQ(wsframe_feed(&p, buf + at, sizeof buf - at, &data, &data_len), 5);
    at += 5;
    CHECK(wsframe_done(&p));
    CHECK_MEM(data, data_len, "Hello", 5);
    CHECK_EQ(wsframe_feed(&p, buf + at, sizeof buf - at, &data, &data_len), 0);

    wsframe_reset(&p);
    CHECK_EQ(wsframe_feed(&p, buf + at, sizeof buf - at, &data, &data_len), 2);
    at += 2;
    CHECK(!p.masked);
    CHECK_EQ(wsframe_feed(&p, buf + at, sizeof buf - at, &data, &data_len), 5);
    CHECK(wsframe_done(&p));
    CHECK_MEM(data, data_len, "Hello", 5);
}

/* A zero-length frame is done as soon as its header is. */
static void test_empty_frame(void)
{
    static const uint8_t close_frame[] = { 0x88, 0x80, 1, 2, 3, 4, 0x81 };
    struct wsframe_parser p = {0};
    uint8_t buf[sizeof close_frame];
    const uint8_t *data;
    size_t data_len;

    memcpy(buf, close_frame, sizeof buf);
    CHECK_EQ(wsframe_feed(&p, buf, sizeof buf, &data, &data_len), 6);
    CHECK(wsframe_done(&p));
    CHECK_EQ(p.opcode, WS_OP_CLOSE);
    CHECK_EQ(data_len, 0);
}

/* The parser records RSV bits and reserved opcodes; judging them is ws.c's. */
static void test_records_reserved_bits(void)
{
    static const uint8_t odd[] = { 0x7B, 0x00 };   /* RSV 111, opcode 0xB, !fin */
    struct parsed r;
    feed_all(odd, sizeof odd, &r);
    CHECK_EQ(r.err, 0);
    CHECK(wsframe_done(&r.p));
    CHECK(!r.p.fin);
    CHECK_EQ(r.p.rsv, 7);
    CHECK_EQ(r.p.opcode, 0xB);
}

/* --- length boundaries, written and read back ---------------------------- */

static const uint64_t boundaries[] = {
    0, 1, 125, 126, 127, 65535, 65536, 65537, 0x7FFFFFFFFFFFFFFFull, 1ull << 40,
};

static size_t expected_header_len(uint64_t len, bool masked)
{
    size_t n = len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;
    return n + (masked ? 4 : 0);
}

static void check_header_roundtrip(uint64_t len, const uint8_t *mask)
{
    uint8_t hdr[WSFRAME_MAX_HEADER];
    size_t n = wsframe_write_header(hdr, true, WS_OP_BINARY, len, mask);
    CHECK_EQ(n, expected_header_len(len, mask != NULL));

    /* Whole, then split at every position: the same header each time. */
    for (size_t cut = 0; cut <= n; cut++) {
        struct wsframe_parser p = {0};
        const uint8_t *data;
        size_t data_len;
        CHECK_EQ(wsframe_feed(&p, hdr, cut, &data, &data_len), cut);
        CHECK_EQ(wsframe_header_done(&p), cut == n);
        CHECK_EQ(wsframe_feed(&p, hdr + cut, n - cut, &data, &data_len), n - cut);
        CHECK(wsframe_header_done(&p));
        CHECK_EQ(data_len, 0);
        CHECK_EQ(p.payload_len, len);
        CHECK_EQ(p.masked, mask != NULL);
        CHECK(p.fin);
        CHECK_EQ(p.opcode, WS_OP_BINARY);
        if (mask)
            CHECK_MEM(p.mask, 4, mask, 4);
        CHECK_EQ(wsframe_done(&p), len == 0);
    }
}

static void test_length_boundaries(void)
{
    static const uint8_t mask[4] = { 0xde, 0xad, 0xbe, 0xef };
    for (size_t i = 0; i < sizeof boundaries / sizeof boundaries[0]; i++) {
        check_header_roundtrip(boundaries[i], NULL);
        check_header_roundtrip(boundaries[i], mask);
    }
}

/* Whole frames at the boundaries that fit in memory, every split point. */
static void test_boundary_frames_split(void)
{
    static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536 };
    static const uint8_t mask[4] = { 0x01, 0x80, 0x7f, 0xfe };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t len = lens[i], hlen, total;
        uint8_t *frame = malloc(WSFRAME_MAX_HEADER + len);
        hlen = wsframe_write_header(frame, true, WS_OP_BINARY, len, mask);
        total = hlen + len;
        for (size_t j = 0; j < len; j++)
            frame[hlen + j] = (uint8_t)(j * 7) ^ mask[j & 3];
        /* Splitting a 64 KiB frame at every byte is slow: sample the middle. */
        size_t stride = len > 1000 ? 997 : 1;
        for (size_t cut = 0; cut <= total; cut += (cut < 20 || cut + 20 > total) ? 1 : stride) {
            struct parsed r;
            feed_in_steps(frame, total, cut ? cut : 1, total, &r);
            CHECK_EQ(r.err, 0);
            CHECK_EQ(r.used, total);
            CHECK(wsframe_done(&r.p));
            size_t check = len < sizeof r.payload ? len : sizeof r.payload;
            CHECK_EQ(r.payload_len, check);
            for (size_t j = 0; j < check; j++)
                if (r.payload[j] != (uint8_t)(j * 7)) {
                    CHECK_EQ(r.payload[j], (uint8_t)(j * 7));
                    break;
                }
        }
        free(frame);
    }
}

/* --- rejected lengths (§5.2) ------------------------------------------- */

static void check_rejected(const uint8_t *in, size_t len)
{
    struct parsed r;
    feed_all(in, len, &r);
    CHECK_EQ(r.err, WSFRAME_ERR_LENGTH);
    feed_in_steps(in, len, 1, 1, &r);
    CHECK_EQ(r.err, WSFRAME_ERR_LENGTH);
}

static void test_reject_16bit_not_minimal(void)
{
    static const uint8_t zero[] = { 0x82, 0x7E, 0x00, 0x00 };
    static const uint8_t len125[] = { 0x82, 0x7E, 0x00, 0x7D };
    static const uint8_t len125_masked[] = { 0x82, 0xFE, 0x00, 0x7D, 1, 2, 3, 4 };
    static const uint8_t len126[] = { 0x82, 0x7E, 0x00, 0x7E };
    check_rejected(zero, sizeof zero);
    check_rejected(len125, sizeof len125);
    check_rejected(len125_masked, sizeof len125_masked);
    struct parsed r;
    feed_all(len126, sizeof len126, &r);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.p.payload_len, 126);
}

static void test_reject_64bit_not_minimal(void)
{
    static const uint8_t len5[] = { 0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 5 };
    static const uint8_t len65535[] = { 0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
    static const uint8_t len65536[] = { 0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0 };
    check_rejected(len5, sizeof len5);
    check_rejected(len65535, sizeof len65535);
    struct parsed r;
    feed_all(len65536, sizeof len65536, &r);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.p.payload_len, 65536);
}

static void test_reject_64bit_msb(void)
{
    static const uint8_t msb[] = { 0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0 };
    static const uint8_t all[] = { 0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                   0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4 };
    static const uint8_t max[] = { 0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    check_rejected(msb, sizeof msb);
    check_rejected(all, sizeof all);
    struct parsed r;
    feed_all(max, sizeof max, &r);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.p.payload_len, 0x7FFFFFFFFFFFFFFFull);
}

/* --- masking ------------------------------------------------------------ */

static void mask_reference(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= mask[(offset + i) % 4];
}

/* Every length up to a few words, every key phase, every buffer alignment. */
static void test_mask_matches_reference(void)
{
    static const uint8_t mask[4] = { 0x12, 0x34, 0xAB, 0xCD };
    uint8_t fast[80], slow[80];
    int bad = 0;
    for (size_t align = 0; align < 8; align++)
        for (size_t len = 0; len + align <= sizeof fast; len++)
            for (uint64_t offset = 0; offset < 9; offset++) {
                for (size_t i = 0; i < sizeof fast; i++)
                    fast[i] = slow[i] = (uint8_t)(i * 31 + len);
                wsframe_mask(fast + align, len, mask, offset + (1ull << 33));
                mask_reference(slow + align, len, mask, offset);
                bad += memcmp(fast, slow, sizeof fast) != 0;
            }
    CHECK_EQ(bad, 0);
}

/* Unmasking in odd-sized pieces keeps the key's phase (payload_seen). */
static void test_unmask_in_odd_pieces(void)
{
    static const uint8_t mask[4] = { 0x9c, 0x01, 0x55, 0xe3 };
    enum { LEN = 1000 };
    uint8_t frame[WSFRAME_MAX_HEADER + LEN], plain[LEN];
    size_t hlen = wsframe_write_header(frame, true, WS_OP_TEXT, LEN, mask);
    for (size_t i = 0; i < LEN; i++)
        plain[i] = (uint8_t)('a' + i % 26);
    memcpy(frame + hlen, plain, LEN);
    wsframe_mask(frame + hlen, LEN, mask, 0);

    for (size_t step = 1; step < 20; step += 2) {
        struct wsframe_parser p = {0};
        uint8_t buf[sizeof frame], out[LEN];
        size_t at = 0, got = 0;
        memcpy(buf, frame, sizeof frame);
        while (!wsframe_done(&p) && at < hlen + LEN) {
            const uint8_t *data;
            size_t data_len, piece = hlen + LEN - at < step ? hlen + LEN - at : step;
            ssize_t n = wsframe_feed(&p, buf + at, piece, &data, &data_len);
            if (n < 0)
                break;
            memcpy(out + got, data, data_len);
            got += data_len;
            at += (size_t)n;
        }
        CHECK_MEM(out, got, plain, LEN);
    }
}

static void test_write_header_bytes(void)
{
    static const uint8_t want_text[] = { 0x81, 0x05 };
    static const uint8_t want_close[] = { 0x08, 0x7E, 0x01, 0x00 };
    static const uint8_t want_masked[] = { 0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0,
                                           0x37, 0xfa, 0x21, 0x3d };
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    uint8_t hdr[WSFRAME_MAX_HEADER];
    size_t n;

    n = wsframe_write_header(hdr, true, WS_OP_TEXT, 5, NULL);
    CHECK_MEM(hdr, n, want_text, sizeof want_text);
    n = wsframe_write_header(hdr, false, WS_OP_CLOSE, 256, NULL);
    CHECK_MEM(hdr, n, want_close, sizeof want_close);
    n = wsframe_write_header(hdr, true, WS_OP_BINARY, 65536, key);
    CHECK_MEM(hdr, n, want_masked, sizeof want_masked);
}

int main(void)
{
    test_rfc_unmasked_hello();
    test_rfc_masked_hello();
    test_rfc_fragmented();
    test_rfc_ping_pong();
    test_rfc_binary_headers();
    test_split_anywhere();
    test_byte_by_byte();
    test_back_to_back();
    test_empty_frame();
    test_records_reserved_bits();
    test_length_boundaries();
    test_boundary_frames_split();
    test_reject_16bit_not_minimal();
    test_reject_64bit_not_minimal();
    test_reject_64bit_msb();
    test_mask_matches_reference();
    test_unmask_in_odd_pieces();
    test_write_header_bytes();
    return check_report("wsframe");
}
