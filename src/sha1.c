/* sha1.c -- SHA-1 as specified in RFC 3174 §§4-6, written for clarity rather
 * than speed: the server hashes one 60-byte string per handshake (RFC 6455
 * §4.2.2), so a plain 80-word schedule is fast enough. Pure: no I/O, no
 * allocation. Encoding the digest (base64) is left to the caller. */
#include "sha1.h"

#include <string.h>

static uint32_t rol32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));   /* n is 1, 5 or 30: never 0 or 32 */
}

/* SHA-1 is defined on big-endian words (RFC 3174 §2); read bytes one at a
 * time so the host's byte order and the block's alignment never matter. */
static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store_be32(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)(x >> 24);
    p[1] = (uint8_t)(x >> 16);
    p[2] = (uint8_t)(x >> 8);
    p[3] = (uint8_t)x;
}

/* The round function f(t) and constant K(t) of RFC 3174 §5, in one place. */
static uint32_t round_mix(int t, uint32_t b, uint32_t c, uint32_t d)
{
    if (t < 20)
        return ((b & c) | (~b & d)) + 0x5a827999;
    if (t < 40)
        return (b ^ c ^ d) + 0x6ed9eba1;
    if (t < 60)
        return ((b & c) | (b & d) | (c & d)) + 0x8f1bbcdc;
    return (b ^ c ^ d) + 0xca62c1d6;
}

/* Process one 64-byte block: RFC 3174 §6.1, method 1, steps (a) to (e). */
static void sha1_block(uint32_t h[5], const uint8_t block[64])
{
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
        w[t] = load_be32(block + 4 * t);
    for (int t = 16; t < 80; t++)
        w[t] = rol32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t temp = rol32(a, 5) + round_mix(t, b, c, d) + e + w[t];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void sha1_init(struct sha1_ctx *ctx)
{
    /* Initial H0..H4, RFC 3174 §6.1. */
    ctx->h[0] = 0x67452301;
    ctx->h[1] = 0xefcdab89;
    ctx->h[2] = 0x98badcfe;
    ctx->h[3] = 0x10325476;
    ctx->h[4] = 0xc3d2e1f0;
    ctx->total_len = 0;
    ctx->block_len = 0;
}

/* Invariant between calls: block_len < 64, so a full block is never left
 * waiting. Whole blocks are hashed straight from the caller's bytes. */
void sha1_update(struct sha1_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    ctx->total_len += len;
    while (len > 0) {
        if (ctx->block_len == 0 && len >= 64) {
            sha1_block(ctx->h, p);
            p += 64;
            len -= 64;
            continue;
        }
        size_t take = 64 - ctx->block_len;
        if (take > len)
            take = len;
        memcpy(ctx->block + ctx->block_len, p, take);
        ctx->block_len += take;
        p += take;
        len -= take;
        if (ctx->block_len == 64) {
            sha1_block(ctx->h, ctx->block);
            ctx->block_len = 0;
        }
    }
}

/* Padding, RFC 3174 §4: a 1 bit, zeros up to 56 bytes mod 64, then the
 * message length in bits as a 64-bit big-endian number. The length is taken
 * modulo 2^64 bits; §1 limits messages to fewer than 2^64 bits anyway. */
void sha1_final(struct sha1_ctx *ctx, uint8_t digest[SHA1_DIGEST_LEN])
{
    uint64_t bits = ctx->total_len << 3;
    ctx->block[ctx->block_len++] = 0x80;
    if (ctx->block_len > 56) {            /* no room for the length here */
        memset(ctx->block + ctx->block_len, 0, 64 - ctx->block_len);
        sha1_block(ctx->h, ctx->block);
        ctx->block_len = 0;
    }
    memset(ctx->block + ctx->block_len, 0, 56 - ctx->block_len);
    store_be32(ctx->block + 56, (uint32_t)(bits >> 32));
    store_be32(ctx->block + 60, (uint32_t)bits);
    sha1_block(ctx->h, ctx->block);
    for (int i = 0; i < 5; i++)
        store_be32(digest + 4 * i, ctx->h[i]);
}

void sha1(const void *data, size_t len, uint8_t digest[SHA1_DIGEST_LEN])
{
    struct sha1_ctx ctx;
    sha1_init(&ctx);
    sha1_update(&ctx, data, len);
    sha1_final(&ctx, digest);
}
