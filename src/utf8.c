/* utf8.c -- incremental UTF-8 validation by the table of RFC 3629 §4.
 * RFC 6455 §8.1 asks to fail as soon as an invalid byte arrives, even mid
 * fragment, so the state is just "continuation bytes still owed" plus the
 * range the next one must fall in; it survives any split of the input.
 * Text that is mostly ASCII is checked 8 bytes at a time. Pure: no I/O, no
 * allocation; what to do on failure (close 1007) is ws.c's business. */
#include "utf8.h"

#include <string.h>

/* need is 0..3 while alive; this marks a validator that has seen an invalid
 * byte. It is non-zero, so utf8_complete() reports false too. */
#define UTF8_DEAD 0xff

/* Bytes of s[0..len) before the first 8-byte word holding a non-ASCII byte.
 * memcpy keeps the load free of alignment and aliasing trouble; compilers
 * turn it into one plain load. */
static size_t ascii_run(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (len - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        if (w & 0x8080808080808080ull)
            break;
        i += 8;
    }
    return i;
}

/* A byte at a character boundary. RFC 3629 §4 allows only these leads; each
 * sets the range of the first continuation byte so that overlong forms
 * (E0, F0), surrogates D800..DFFF (ED) and code points past U+10FFFF (F4)
 * fail on the very byte that makes them so. */
static bool lead_byte(struct utf8_validator *v, uint8_t b)
{
    if (b < 0x80)
        return true;
    if (b < 0xc2 || b > 0xf4)    /* stray continuation, C0/C1 overlong, F5..FF */
        return false;
    v->lo = 0x80;
    v->hi = 0xbf;
    if (b < 0xe0) {
        v->need = 1;
    } else if (b < 0xf0) {
        v->need = 2;
        if (b == 0xe0)
            v->lo = 0xa0;        /* below: overlong, under U+0800 */
        else if (b == 0xed)
            v->hi = 0x9f;        /* above: surrogates U+D800..DFFF */
    } else {
        v->need = 3;
        if (b == 0xf0)
            v->lo = 0x90;        /* below: overlong, under U+10000 */
        else if (b == 0xf4)
            v->hi = 0x8f;        /* above: past U+10FFFF */
    }
    return true;
}

/* A byte inside a sequence: only the first continuation has a narrowed
 * range; the rest may be anything in 80..BF. */
static bool continuation_byte(struct utf8_validator *v, uint8_t b)
{
    if (b < v->lo || b > v->hi)
        return false;
    v->need--;
    v->lo = 0x80;
    v->hi = 0xbf;
    return true;
}

bool utf8_feed(struct utf8_validator *v, const uint8_t *s, size_t len)
{
    if (v->need == UTF8_DEAD)
        return false;
    size_t i = 0;
    while (i < len) {
        if (v->need == 0) {
            i += ascii_run(s + i, len - i);
            if (i == len)
                break;
        }
        bool ok = v->need == 0 ? lead_byte(v, s[i]) : continuation_byte(v, s[i]);
        if (!ok) {
            v->need = UTF8_DEAD;
            return false;
        }
        i++;
    }
    return true;
}

bool utf8_valid(const uint8_t *s, size_t len)
{
    struct utf8_validator v;
    utf8_reset(&v);
    return utf8_feed(&v, s, len) && utf8_complete(&v);
}
