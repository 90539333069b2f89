/* wsframe.c -- RFC 6455 §5.2 frame headers, parsed incrementally whatever the
 * split of the input. The header writer both sides use and §5.3 masking are
 * inline in wsframe.h (every message sent or received goes through them).
 *
 * The parser only records what a header says: whether an opcode, an RSV bit
 * or a missing mask is acceptable is ws.c's decision. The one thing checked
 * here is the length encoding, because only the parser sees the raw bytes.
 * No I/O, no allocation, no logging. */
#include "wsframe.h"

#include <string.h>

/* Header bytes the first two announce: 2, plus 2 or 8 for an extended
 * length, plus 4 for a masking key (§5.2). */
static uint8_t header_need(const uint8_t hdr[2])
{
    uint8_t need = 2;
    uint8_t len7 = hdr[1] & 0x7F;

    if (len7 == 126)
        need += 2;
    else if (len7 == 127)
        need += 8;
    if (hdr[1] & 0x80)
        need += 4;
    return need;
}

/* Decode the payload length at hdr[2..), setting *at past it. §5.2: "the
 * minimal number of bytes MUST be used to encode the length", and a 64-bit
 * length has its most significant bit 0. */
static int decode_length(const uint8_t *hdr, uint64_t *len, size_t *at)
{
    uint8_t len7 = hdr[1] & 0x7F;

    if (len7 < 126) {
        *len = len7;
        *at = 2;
        return 0;
    }
    if (len7 == 126) {
        *len = (uint64_t)hdr[2] << 8 | hdr[3];
        *at = 4;
        return *len < 126 ? WSFRAME_ERR_LENGTH : 0;     /* §5.2: not minimal */
    }
    *len = 0;
    for (int i = 0; i < 8; i++)
        *len = *len << 8 | hdr[2 + i];
    *at = 10;
    if (*len >> 63 || *len <= 0xFFFF)    /* §5.2: top bit set, or not minimal */
        return WSFRAME_ERR_LENGTH;
    return 0;
}

/* The header in p->hdr is complete: record its fields. */
static int decode_header(struct wsframe_parser *p)
{
    size_t at;

    if (decode_length(p->hdr, &p->payload_len, &at) < 0)
        return WSFRAME_ERR_LENGTH;
    p->fin = p->hdr[0] & 0x80;
    p->rsv = (p->hdr[0] >> 4) & 7;
    p->opcode = p->hdr[0] & 0x0F;
    p->masked = p->hdr[1] & 0x80;
    if (p->masked)
        memcpy(p->mask, p->hdr + at, 4);
    p->payload_seen = 0;
    p->header_done = true;
    return 0;
}

/* Copy header bytes into p->hdr and stop at the header's last byte, so the
 * caller sees the header before any payload. At most 14 bytes are ever
 * copied, so one path serves both a split header and a whole one. */
static ssize_t feed_header(struct wsframe_parser *p, const uint8_t *buf, size_t len)
{
    size_t used = 0;

    if (p->hdr_need == 0)                /* a zeroed parser: length unknown yet */
        p->hdr_need = 2;
    while (used < len && p->hdr_len < p->hdr_need) {
        p->hdr[p->hdr_len++] = buf[used++];
        if (p->hdr_len == 2)
            p->hdr_need = header_need(p->hdr);
    }
    if (p->hdr_len == p->hdr_need && decode_header(p) < 0)
        return WSFRAME_ERR_LENGTH;
    return (ssize_t)used;
}

/* Take payload up to the end of the frame and never beyond: what follows
 * belongs to the next frame. payload_seen keeps the key's phase across calls. */
static ssize_t feed_payload(struct wsframe_parser *p, uint8_t *buf, size_t len,
                            const uint8_t **data, size_t *data_len)
{
    uint64_t left = p->payload_len - p->payload_seen;
    size_t n = left < len ? (size_t)left : len;

    if (p->masked)
        wsframe_mask(buf, n, p->mask, p->payload_seen);
    p->payload_seen += n;
    *data = buf;
    *data_len = n;
    return (ssize_t)n;
}

ssize_t wsframe_feed(struct wsframe_parser *p, uint8_t *buf, size_t len,
                     const uint8_t **data, size_t *data_len)
{
    *data = buf;
    *data_len = 0;
    if (!p->header_done)
        return feed_header(p, buf, len);
    return feed_payload(p, buf, len, data, data_len);
}

void wsframe_reset(struct wsframe_parser *p)
{
    memset(p, 0, sizeof *p);
}
