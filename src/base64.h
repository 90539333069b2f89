/* base64.h -- base64 with the standard alphabet and '=' padding (RFC 4648 §4).
 * Pure: no I/O, no allocation; the caller owns every buffer. */
#ifndef BASE64_H
#define BASE64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Characters base64_encode() writes for n input bytes (without the NUL). */
#define BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Encode in[0..len) into out, which must hold BASE64_ENCODED_LEN(len) + 1
 * bytes; out is NUL-terminated. Returns the number of characters written. */
size_t base64_encode(const uint8_t *in, size_t len, char *out);

/* Strictly decode in[0..len): length a multiple of 4, padding only at the end,
 * no whitespace, unused bits of the last symbol zero (RFC 4648 §3.5).
 * Returns the decoded byte count, or -1 if the input is not canonical base64
 * or does not fit in out_cap bytes. */
ssize_t base64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap);

#endif
