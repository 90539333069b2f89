/* utf8.h -- incremental UTF-8 validation (RFC 3629) for text messages.
 * RFC 6455 §8.1: a text message must be valid UTF-8 as a whole, and an endpoint
 * should fail as soon as it sees an invalid byte, even in the middle of a
 * fragment, so the state survives any split of the input.
 * Pure: no I/O, no allocation. */
#ifndef UTF8_H
#define UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct utf8_validator {          /* zero it (or utf8_reset) before a message */
    uint8_t need;                /* continuation bytes still expected */
    uint8_t lo, hi;              /* allowed range of the next continuation byte */
};

static inline void utf8_reset(struct utf8_validator *v)
{
    v->need = 0;
    v->lo = 0x80;
    v->hi = 0xbf;
}

/* Feed s[0..len). Returns false as soon as the bytes seen so far cannot be the
 * start of valid UTF-8 (overlong forms, surrogates, code points past
 * U+10FFFF, stray or missing continuation bytes); the validator is then dead.
 * Returns true otherwise, including when a sequence is still incomplete. */
bool utf8_feed(struct utf8_validator *v, const uint8_t *s, size_t len);

/* True when the input fed so far ends on a character boundary. */
static inline bool utf8_complete(const struct utf8_validator *v)
{
    return v->need == 0;
}

/* Whole-buffer check: valid and complete UTF-8. */
bool utf8_valid(const uint8_t *s, size_t len);

/* utf8_valid() for a whole message as it arrives, the common case inline:
 * text that is all ASCII (no byte with the top bit set) is valid, checked a
 * word at a time with no state; anything else goes to utf8_valid(). */
static inline bool utf8_valid_message(const uint8_t *s, size_t len)
{
    uint64_t any = 0, word;
    size_t i = 0;
    for (; len - i >= 8; i += 8) {
        memcpy(&word, s + i, sizeof word);
        any |= word;
    }
    for (; i < len; i++)
        any |= s[i];
    return (any & 0x8080808080808080ull) == 0 || utf8_valid(s, len);
}

#endif
