/* wsframe.h -- RFC 6455 §5.2 frames, parsed incrementally whatever the split,
 * and the frame-header writer both sides use (masking is a parameter).
 * Mechanism only: whether an opcode, a reserved bit or a missing mask is
 * acceptable is decided by ws.c, which turns every error into close 1002.
 * No I/O, no allocation, no logging. */
#ifndef WSFRAME_H
#define WSFRAME_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

enum ws_opcode {                 /* §5.2; 3-7 and 0xB-0xF are reserved */
    WS_OP_CONT   = 0x0,
    WS_OP_TEXT   = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE  = 0x8,
    WS_OP_PING   = 0x9,
    WS_OP_PONG   = 0xA,
};

enum wsframe_err {
    WSFRAME_ERR_LENGTH = -1,     /* 64-bit length with the top bit set, or a
                                    length not in its minimal encoding (§5.2) */
};

#define WSFRAME_MAX_HEADER 14    /* 2 + 8 extended length + 4 mask */

struct wsframe_parser {          /* zero it before the first frame */
    bool     fin, masked;
    uint8_t  rsv;                /* the three RSV bits, as (b0 >> 4) & 7 */
    uint8_t  opcode;
    uint8_t  mask[4];            /* valid once the header is complete */
    uint8_t  hdr[WSFRAME_MAX_HEADER], hdr_len, hdr_need;   /* a split header */
    bool     header_done;
    uint64_t payload_len, payload_seen;
};

/* Consume bytes of buf[0..len): first only the header, up to its last byte
 * (so the caller can check it before any payload), then payload up to the
 * end of the frame. Returns how many bytes were consumed (0..len) or a
 * negative enum wsframe_err. Masked payload is unmasked in place; *data and
 * *data_len (always set) give this call's payload bytes, inside buf. */
ssize_t wsframe_feed(struct wsframe_parser *p, uint8_t *buf, size_t len,
                     const uint8_t **data, size_t *data_len);

static inline bool wsframe_header_done(const struct wsframe_parser *p)
{
    return p->header_done;
}

/* The whole frame, header and payload, has been consumed. */
static inline bool wsframe_done(const struct wsframe_parser *p)
{
    return p->header_done && p->payload_seen == p->payload_len;
}

/* Get ready for the next frame. */
void wsframe_reset(struct wsframe_parser *p);

/* The length of the header of a frame of payload_len bytes (§5.2: the
 * minimal length encoding), with or without a masking key. */
static inline size_t wsframe_header_len(uint64_t payload_len, bool masked)
{
    size_t n = payload_len < 126 ? 2 : payload_len <= 0xFFFF ? 4 : 10;
    return masked ? n + 4 : n;
}

/* Write a frame header for a payload of payload_len bytes into out, which
 * has room for wsframe_header_len() bytes; mask is NULL for an unmasked
 * (server) frame, else the 4-byte key a client chose. Returns the header
 * length (2..14). Inline: every message sent writes one. */
static inline size_t wsframe_write_header(uint8_t *out, bool fin, enum ws_opcode opcode,
                                          uint64_t payload_len, const uint8_t *mask)
{
    size_t n = 2;

    assert(payload_len >> 63 == 0);      /* §5.2: the top bit MUST be 0 */
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    out[1] = mask ? 0x80 : 0;
    if (payload_len < 126) {             /* §5.2: the minimal encoding */
        out[1] |= (uint8_t)payload_len;
    } else if (payload_len <= 0xFFFF) {
        out[1] |= 126;
        out[n++] = (uint8_t)(payload_len >> 8);
        out[n++] = (uint8_t)payload_len;
    } else {
        out[1] |= 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            out[n++] = (uint8_t)(payload_len >> shift);
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

/* XOR data[0..len) with the key, as if data started at byte `offset` of the
 * payload (§5.3); masking and unmasking are the same operation.
 *
 * Every payload byte goes through here, so long runs are XORed 8 bytes at a
 * time. The 8-byte key is the 4-byte key repeated, in memory order, starting
 * at the key's phase for `offset` (a window into three copies of the key);
 * as 8 is a multiple of 4 the phase is the same for every word. Loading
 * words with memcpy keeps this free of alignment and aliasing trouble on any
 * byte order. Inline: most echoed frames are a few words, where a call and
 * a byte loop would cost more than the XORs. */
static inline void wsframe_mask(uint8_t *data, size_t len, const uint8_t mask[4],
                                uint64_t offset)
{
    uint8_t keys[12];
    uint64_t key, word;
    size_t i = 0;

    memcpy(keys, mask, 4);
    memcpy(keys + 4, mask, 4);
    memcpy(keys + 8, mask, 4);
    const uint8_t *key_bytes = keys + (offset & 3);
    memcpy(&key, key_bytes, sizeof key);
    for (; len - i >= 8; i += 8) {
        memcpy(&word, data + i, sizeof word);
        word ^= key;
        memcpy(data + i, &word, sizeof word);
    }
    if (len - i >= 4) {
        uint32_t half, key4;
        memcpy(&key4, key_bytes, sizeof key4);
        memcpy(&half, data + i, sizeof half);
        half ^= key4;
        memcpy(data + i, &half, sizeof half);
        i += 4;
    }
    for (; i < len; i++)
        data[i] ^= key_bytes[i & 7];
}

#endif
