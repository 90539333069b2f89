/* base64.c -- RFC 4648 §4 base64: the standard alphabet, '=' padding.
 * Decoding is strict (§3.3, §3.5): the only input accepted is the one string
 * base64_encode() would write, so Sec-WebSocket-Key checks (RFC 6455 §4.2.1)
 * can rely on it. Pure: no I/O, no allocation; callers own every buffer. */
#include "base64.h"

static const char alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Write the 4 characters for one group of 1 to 3 bytes; §4 pads with '='
 * where a group has fewer than 3 bytes. */
static void encode_group(const uint8_t *in, size_t n, char *out)
{
    uint32_t v = (uint32_t)in[0] << 16;
    if (n > 1)
        v |= (uint32_t)in[1] << 8;
    if (n > 2)
        v |= in[2];
    out[0] = alphabet[v >> 18 & 63];
    out[1] = alphabet[v >> 12 & 63];
    out[2] = n > 1 ? alphabet[v >> 6 & 63] : '=';
    out[3] = n > 2 ? alphabet[v & 63] : '=';
}

size_t base64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3, o += 4)
        encode_group(in + i, len - i < 3 ? len - i : 3, out + o);
    out[o] = '\0';
    return o;
}

/* The 6-bit value of an alphabet character, or -1 for anything else,
 * including '=', whitespace and line breaks (§3.3: reject them). */
static int symbol_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode one 4-character group holding n (1..3) bytes: the last 4 - n - 1
 * characters are '=' and already checked by the caller. Returns -1 on a
 * character outside the alphabet or on non-zero unused bits (§3.5), which
 * would let two different strings decode to the same bytes. */
static int decode_group(const char *in, size_t n, uint8_t *out)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        int s = i <= n ? symbol_value(in[i]) : 0;
        if (s < 0)
            return -1;
        v = v << 6 | (uint32_t)s;
    }
    if (n < 3 && (v & (0xffffffu >> (8 * n))) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (16 - 8 * i));
    return 0;
}

/* Padding is legal only as the last one or two characters (§3.2, §4);
 * decode_group() rejects a '=' anywhere else as an unknown character. */
ssize_t base64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap)
{
    if (len % 4 != 0)
        return -1;
    if (len == 0)
        return 0;
    size_t pad = 0;
    if (in[len - 1] == '=')
        pad = in[len - 2] == '=' ? 2 : 1;
    size_t out_len = len / 4 * 3 - pad;
    if (out_len > out_cap)
        return -1;
    for (size_t i = 0, o = 0; i < len; i += 4, o += 3) {
        size_t n = i + 4 < len ? 3 : 3 - pad;
        if (decode_group(in + i, n, out + o) < 0)
            return -1;
    }
    return (ssize_t)out_len;
}
