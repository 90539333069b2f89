/* json.c -- the small part of JSON (RFC 8259) that wspulse speaks: a writer
 * that appends to a caller's fixed buffer, and a reader that checks a client
 * message is one well-formed object and points at its top-level members.
 * Neither allocates, logs or does I/O.
 *
 * Left to others: UTF-8 validity. Text messages arrive already checked by
 * the WebSocket layer (RFC 6455 §8.1), so both directions copy bytes >= 0x80
 * as they are; the writer escapes only what RFC 8259 §7 requires. The
 * reader accepts nothing outside the grammar of §2 (values, blanks), §4
 * (objects), §5 (arrays), §6 (numbers) and §7 (strings): no comments, NaN or
 * single quotes. It recurses once per open container and stops at
 * JSON_MAX_DEPTH, so a hostile message cannot exhaust the stack. */
#include "json.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* --- writer ------------------------------------------------------------ */

void json_init(struct json_writer *w, char *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = false;
    w->need_comma = false;
}

/* Append all n bytes or none. Overflow is sticky: once a piece is missing
 * the text is useless, so every later piece is dropped too and buf is never
 * written past cap. */
static void put(struct json_writer *w, const char *s, size_t n)
{
    if (w->overflow || n == 0)
        return;
    if (n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void put_char(struct json_writer *w, char c)
{
    put(w, &c, 1);
}

/* Every member starts here. The comma rule is the whole of the writer's
 * state: '{' clears need_comma, a key sets it, so the next key in the same
 * object is preceded by a comma; json_object_end sets it again because the
 * closed object was the value of a member of the enclosing one. */
static void put_key(struct json_writer *w, const char *key)
{
    if (w->need_comma)
        put_char(w, ',');
    put_char(w, '"');
    put(w, key, strlen(key));
    put(w, "\":", 2);
    w->need_comma = true;
}

void json_object_begin(struct json_writer *w)
{
    put_char(w, '{');
    w->need_comma = false;
}

void json_object_end(struct json_writer *w)
{
    put_char(w, '}');
    w->need_comma = true;
}

/* A string value: escaped straight into the buffer, no intermediate copy. */
static void put_string(struct json_writer *w, const char *s, size_t len)
{
    put_char(w, '"');
    if (!w->overflow) {
        ssize_t n = json_escape(s, len, w->buf + w->len, w->cap - w->len);
        if (n < 0)
            w->overflow = true;
        else
            w->len += (size_t)n;
    }
    put_char(w, '"');
}

void json_member_str(struct json_writer *w, const char *key, const char *s, size_t len)
{
    put_key(w, key);
    put_string(w, s, len);
}

void json_member_cstr(struct json_writer *w, const char *key, const char *s)
{
    json_member_str(w, key, s, strlen(s));
}

/* Digits come out backwards from the end of the buffer, so no reversal and
 * no printf; 21 bytes hold '-' and the 20 digits of UINT64_MAX. */
static void put_number(struct json_writer *w, bool negative, uint64_t magnitude)
{
    char d[21];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (negative)
        d[--i] = '-';
    put(w, d + i, sizeof d - i);
}

void json_member_int(struct json_writer *w, const char *key, int64_t v)
{
    /* Unsigned negation: -INT64_MIN overflows int64_t, 0 - (uint64_t)v does not. */
    uint64_t magnitude = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    put_key(w, key);
    put_number(w, v < 0, magnitude);
}

void json_member_uint(struct json_writer *w, const char *key, uint64_t v)
{
    put_key(w, key);
    put_number(w, false, v);
}

void json_member_bool(struct json_writer *w, const char *key, bool v)
{
    put_key(w, key);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

/* JSON has no NaN or Infinity (§6), so those become null. "%.*f" writes the
 * locale's decimal point; wspulse never calls setlocale(), so under the C
 * locale that is always '.'. */
void json_member_fixed(struct json_writer *w, const char *key, double v, int decimals)
{
    char text[352];              /* DBL_MAX has 309 digits; sign, point, 9 decimals */
    put_key(w, key);
    if (!isfinite(v)) {
        put(w, "null", 4);
        return;
    }
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    int n = snprintf(text, sizeof text, "%.*f", decimals, v);
    if (n < 0 || (size_t)n >= sizeof text)
        w->overflow = true;      /* cannot happen for a finite double */
    else
        put(w, text, (size_t)n);
}

void json_member_object(struct json_writer *w, const char *key)
{
    put_key(w, key);
    json_object_begin(w);
}

ssize_t json_finish(const struct json_writer *w)
{
    return w->overflow ? -1 : (ssize_t)w->len;
}

/* §7: quotation mark, reverse solidus and U+0000..U+001F MUST be escaped;
 * nothing else needs to be, so all other bytes (UTF-8 included) pass. */
static bool needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* The escape for one byte that needs_escape(): the two-character form where
 * §7 has one, else \u00XX. Returns its length, 2 or 6. */
static size_t escape_byte(unsigned char c, char esc[6])
{
    static const char hex[] = "0123456789abcdef";
    char letter = 0;
    switch (c) {
    case '"':  letter = '"';  break;
    case '\\': letter = '\\'; break;
    case '\b': letter = 'b';  break;
    case '\f': letter = 'f';  break;
    case '\n': letter = 'n';  break;
    case '\r': letter = 'r';  break;
    case '\t': letter = 't';  break;
    }
    esc[0] = '\\';
    if (letter) {
        esc[1] = letter;
        return 2;
    }
    memcpy(esc + 1, "u00", 3);
    esc[4] = hex[c >> 4];
    esc[5] = hex[c & 0xf];
    return 6;
}

/* Runs of plain bytes are copied whole: chat text is mostly plain. */
ssize_t json_escape(const char *s, size_t len, char *out, size_t cap)
{
    size_t i = 0, o = 0;
    while (i < len) {
        size_t run = 0;
        while (i + run < len && !needs_escape((unsigned char)s[i + run]))
            run++;
        if (run > cap - o)
            return -1;
        if (run > 0)
            memcpy(out + o, s + i, run);
        o += run;
        i += run;
        if (i == len)
            break;
        char esc[6];
        size_t n = escape_byte((unsigned char)s[i++], esc);
        if (n > cap - o)
            return -1;
        memcpy(out + o, esc, n);
        o += n;
    }
    return (ssize_t)o;
}

/* --- reader ------------------------------------------------------------ */

/* Position in the text being read. Every scan_* function starts at its
 * token's first byte and, on success, leaves pos just past the token. */
struct cursor {
    const char *s;
    size_t len, pos;
};

/* The next byte, or -1 at the end: callers compare without a bounds check. */
static int peek(const struct cursor *c)
{
    return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

static bool eat(struct cursor *c, char ch)
{
    if (peek(c) != (unsigned char)ch)
        return false;
    c->pos++;
    return true;
}

/* §2: the only blanks are space, tab, line feed and carriage return. */
static void skip_blank(struct cursor *c)
{
    for (int ch = peek(c); ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
         ch = peek(c))
        c->pos++;
}

static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Exactly four hex digits, as \u requires (§7). */
static bool read_hex4(struct cursor *c, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_value(peek(c));
        if (d < 0)
            return false;
        *v = *v << 4 | (uint32_t)d;
        c->pos++;
    }
    return true;
}

/* After a backslash: one of the eight escapes of §7. */
static bool scan_escape(struct cursor *c)
{
    uint32_t unused;
    switch (peek(c)) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        c->pos++;
        return true;
    case 'u':
        c->pos++;
        return read_hex4(c, &unused);
    default:
        return false;
    }
}

/* §7: raw control characters are not allowed inside a string. Surrogates
 * are left to json_string_value: a lone one is still grammatical. */
static bool scan_string(struct cursor *c)
{
    if (!eat(c, '"'))
        return false;
    for (;;) {
        int ch = peek(c);
        if (ch < 0x20)           /* a control character, or -1: unterminated */
            return false;
        c->pos++;
        if (ch == '"')
            return true;
        if (ch == '\\' && !scan_escape(c))
            return false;
    }
}

/* One or more digits. */
static bool scan_digits(struct cursor *c)
{
    size_t start = c->pos;
    while (peek(c) >= '0' && peek(c) <= '9')
        c->pos++;
    return c->pos > start;
}

/* §6: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? -- so no "+1",
 * ".5" or "1.". "01" stops after the "0" and the caller rejects the "1"
 * because a value must be followed by a blank, ',', '}' or ']'. */
static bool scan_number(struct cursor *c)
{
    eat(c, '-');
    if (!eat(c, '0') && !scan_digits(c))
        return false;
    if (eat(c, '.') && !scan_digits(c))
        return false;
    if (eat(c, 'e') || eat(c, 'E')) {
        if (!eat(c, '+'))
            eat(c, '-');
        if (!scan_digits(c))
            return false;
    }
    return true;
}

static bool scan_word(struct cursor *c, const char *word)
{
    size_t n = strlen(word);
    if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n) != 0)
        return false;
    c->pos += n;
    return true;
}

static bool scan_object(struct cursor *c, int depth, struct json_member *members,
                        int max, int *count);
static bool scan_array(struct cursor *c, int depth);

/* Any value; depth counts the containers already open around it. */
static bool scan_value(struct cursor *c, int depth, enum json_type *type)
{
    int unused;
    switch (peek(c)) {
    case '{':
        *type = JSON_OBJECT;
        return scan_object(c, depth + 1, NULL, 0, &unused);
    case '[':
        *type = JSON_ARRAY;
        return scan_array(c, depth + 1);
    case '"':
        *type = JSON_STRING;
        return scan_string(c);
    case 't':
        *type = JSON_TRUE;
        return scan_word(c, "true");
    case 'f':
        *type = JSON_FALSE;
        return scan_word(c, "false");
    case 'n':
        *type = JSON_NULL;
        return scan_word(c, "null");
    default:
        *type = JSON_NUMBER;
        return scan_number(c);
    }
}

/* §5, blanks allowed around every element. */
static bool scan_array(struct cursor *c, int depth)
{
    enum json_type type;
    if (depth > JSON_MAX_DEPTH || !eat(c, '['))
        return false;
    skip_blank(c);
    if (eat(c, ']'))
        return true;
    do {
        skip_blank(c);
        if (!scan_value(c, depth, &type))
            return false;
        skip_blank(c);
    } while (eat(c, ','));
    return eat(c, ']');
}

/* One "key": value pair and the blanks around it; recorded into m unless m
 * is NULL. Spans point into the caller's text. */
static bool scan_member(struct cursor *c, int depth, struct json_member *m)
{
    struct json_member seen;
    skip_blank(c);
    size_t key_at = c->pos;
    if (!scan_string(c))
        return false;
    seen.key.p = c->s + key_at + 1;
    seen.key.len = c->pos - key_at - 2;
    skip_blank(c);
    if (!eat(c, ':'))
        return false;
    skip_blank(c);
    size_t value_at = c->pos;
    if (!scan_value(c, depth, &seen.type))
        return false;
    seen.value.p = c->s + value_at;
    seen.value.len = c->pos - value_at;
    skip_blank(c);
    if (m != NULL)
        *m = seen;
    return true;
}

/* §4. Members past max are checked and counted but not kept (the caller
 * turns a count over max into an error). Duplicate names are
 * allowed (§4 says only SHOULD be unique); json_find takes the first. */
static bool scan_object(struct cursor *c, int depth, struct json_member *members,
                        int max, int *count)
{
    int n = 0;
    if (depth > JSON_MAX_DEPTH || !eat(c, '{'))
        return false;
    skip_blank(c);
    if (!eat(c, '}')) {
        do {
            if (n == INT_MAX || !scan_member(c, depth, n < max ? &members[n] : NULL))
                return false;
            n++;
        } while (eat(c, ','));
        if (!eat(c, '}'))
            return false;
    }
    *count = n;
    return true;
}

/* The whole text is validated before the count is judged, so invalid JSON
 * is reported as such however many members precede the mistake. */
int json_parse_object(const char *s, size_t len, struct json_member *members, int max)
{
    struct cursor c = { s, len, 0 };
    int n;
    if (max < 0)
        max = 0;
    skip_blank(&c);
    if (!scan_object(&c, 1, members, max, &n))
        return JSON_ERR_SYNTAX;
    skip_blank(&c);
    if (c.pos != c.len)
        return JSON_ERR_SYNTAX;
    return n > max ? JSON_ERR_TOO_MANY : n;
}

const struct json_member *json_find(const struct json_member *members, int n,
                                    const char *key)
{
    size_t len = strlen(key);
    for (int i = 0; i < n; i++)
        if (members[i].key.len == len && memcmp(members[i].key.p, key, len) == 0)
            return &members[i];
    return NULL;
}

/* Bytes of a code point in UTF-8 (RFC 3629 §3). */
static size_t utf8_length(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Write cp as its n = utf8_length(cp) bytes: continuation bytes carry six
 * bits each from the end, the lead byte the rest under its length marker. */
static void put_utf8(uint32_t cp, size_t n, char *out)
{
    static const uint8_t lead[5] = { 0, 0, 0xc0, 0xe0, 0xf0 };
    if (n == 1) {
        out[0] = (char)cp;
        return;
    }
    for (size_t i = n - 1; i > 0; i--) {
        out[i] = (char)(0x80 | (cp & 0x3f));
        cp >>= 6;
    }
    out[0] = (char)(lead[n] | cp);
}

static bool is_high_surrogate(uint32_t u)
{
    return u >= 0xd800 && u <= 0xdbff;
}

static bool is_low_surrogate(uint32_t u)
{
    return u >= 0xdc00 && u <= 0xdfff;
}

/* After "\u": §7 writes a character outside the BMP as a surrogate pair.
 * Half a pair has no UTF-8 form (RFC 3629 §3), so it becomes U+FFFD and
 * whatever followed it is decoded on its own. */
static bool decode_u(struct cursor *c, uint32_t *cp)
{
    uint32_t hi, lo;
    if (!read_hex4(c, &hi))
        return false;
    *cp = hi;
    if (is_low_surrogate(hi)) {
        *cp = 0xfffd;
    } else if (is_high_surrogate(hi)) {
        struct cursor next = *c;
        if (eat(&next, '\\') && eat(&next, 'u') && read_hex4(&next, &lo)
            && is_low_surrogate(lo)) {
            *c = next;
            *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
        } else {
            *cp = 0xfffd;
        }
    }
    return true;
}

/* After a backslash: the code point the escape stands for. */
static bool decode_escape(struct cursor *c, uint32_t *cp)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    int ch = peek(c);
    if (ch == 'u') {
        c->pos++;
        return decode_u(c, cp);
    }
    const char *at = ch > 0 ? strchr(from, ch) : NULL;
    if (at == NULL)
        return false;
    c->pos++;
    *cp = (unsigned char)to[at - from];
    return true;
}

/* The next character of a string body, c at its first byte: its UTF-8
 * bytes into out, their count; 0 for a bad escape. Escapes are undone as
 * they come, so a \uXXXX pair is one character. */
static size_t decode_char(struct cursor *c, char out[4])
{
    char ch = c->s[c->pos++];
    uint32_t cp;
    if (ch != '\\') {
        out[0] = ch;
        return 1;
    }
    if (!decode_escape(c, &cp))
        return 0;
    size_t n = utf8_length(cp);
    put_utf8(cp, n, out);
    return n;
}

/* The body of a string member, between its quotes; false if m is none.
 * Checks bounds itself rather than trusting that m came from
 * json_parse_object, so a hand-made member cannot make a reader overrun. */
static bool string_body(const struct json_member *m, struct cursor *c)
{
    if (m == NULL || m->type != JSON_STRING || m->value.len < 2)
        return false;
    *c = (struct cursor){ m->value.p + 1, m->value.len - 2, 0 };
    return true;
}

ssize_t json_string_value(const struct json_member *m, char *out, size_t cap)
{
    struct cursor c;
    size_t o = 0;
    if (!string_body(m, &c))
        return -1;
    while (c.pos < c.len) {
        char ch[4];
        size_t n = decode_char(&c, ch);
        if (n == 0 || n > cap - o)
            return -1;
        memcpy(out + o, ch, n);
        o += n;
    }
    return (ssize_t)o;
}

/* Decoded bytes against literal's, by length: a decoded NUL meets no byte
 * of a C string, so "message\u0000junk" is not "message" (strcmp on the
 * decoded text would stop at the NUL and say it is). */
bool json_string_eq(const struct json_member *m, const char *literal)
{
    struct cursor c;
    size_t want = strlen(literal), o = 0;
    if (!string_body(m, &c))
        return false;
    while (c.pos < c.len) {
        char ch[4];
        size_t n = decode_char(&c, ch);
        if (n == 0 || n > want - o || memcmp(literal + o, ch, n) != 0)
            return false;
        o += n;
    }
    return o == want;
}
