/* sha1.h -- SHA-1 (RFC 3174), used only for Sec-WebSocket-Accept (RFC 6455
 * §4.2.2). Pure: no I/O, no allocation. Not for anything security-relevant. */
#ifndef SHA1_H
#define SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_LEN 20

struct sha1_ctx {
    uint32_t h[5];
    uint64_t total_len;          /* bytes fed so far */
    uint8_t  block[64];          /* a partial block waiting for more input */
    size_t   block_len;
};

void sha1_init(struct sha1_ctx *ctx);
/* Feed len bytes; any split of the input gives the same digest. */
void sha1_update(struct sha1_ctx *ctx, const void *data, size_t len);
/* Pad, finish and write the 20-byte digest; ctx must be re-initialised after. */
void sha1_final(struct sha1_ctx *ctx, uint8_t digest[SHA1_DIGEST_LEN]);
/* One-shot convenience: digest of data[0..len). */
void sha1(const void *data, size_t len, uint8_t digest[SHA1_DIGEST_LEN]);

#endif
