/* resp.h -- the Redis protocol's pure parts (RESP2 and RESP3, as in Redis's
 * "Redis serialization protocol specification"): a reply parser, a command
 * encoder and the redis:// URL. No I/O, no allocation, no logging; redis.c
 * does the talking.
 *
 * The parser knows every type a Redis server sends, RESP3's included, so a
 * client may say HELLO 3. What Redis itself never sends is refused as
 * RESP_ERR_UNSUPPORTED rather than half-handled: attributes (|, only after
 * DEBUG PROTOCOL attrib) and streamed strings and aggregates ($?, *?). */
#ifndef RESP_H
#define RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* --- replies ------------------------------------------------------------- */

enum resp_type {
    RESP_SIMPLE,                 /* +OK                 str, len */
    RESP_ERROR,                  /* -ERR x, or RESP3 !N blob error: str, len */
    RESP_INTEGER,                /* :42                 integer */
    RESP_BULK,                   /* $N bulk string      str, len (binary) */
    RESP_NULL,                   /* $-1, *-1, and RESP3 _ */
    RESP_ARRAY,                  /* *N                  count elements follow */
    RESP_BOOL,                   /* #t / #f             integer 1 / 0 */
    RESP_DOUBLE,                 /* ,1.5 ,inf ,nan      dbl; str, len its text */
    RESP_BIGNUM,                 /* (3492890328409238509324850943850943825024385
                                                        str, len: sign and digits */
    RESP_VERBATIM,               /* =N txt:...          format, then str, len */
    RESP_MAP,                    /* %N                  count = 2N: key, value, ... */
    RESP_SET,                    /* ~N                  count elements */
    RESP_PUSH,                   /* >N out-of-band      count elements */
};

/* One value of a reply. A reply is a tree laid out flat, in pre-order: an
 * aggregate (ARRAY, MAP, SET, PUSH) is followed by its count elements, each
 * with everything inside it, so an aggregate's first element is v + 1 and
 * the value after v (its next sibling) is v + v->span. */
struct resp_value {
    uint8_t  type;               /* enum resp_type */
    uint8_t  depth;              /* 0 for the reply itself */
    uint32_t count;              /* aggregates: direct elements (a map: 2 per entry) */
    uint32_t span;               /* values in v's subtree, v included (1 for scalars) */
    union {
        int64_t integer;         /* INTEGER, BOOL */
        double  dbl;             /* DOUBLE */
        char    format[4];       /* VERBATIM: "txt" or "mkd", NUL-terminated */
    };
    const char *str;             /* string types: the bytes, inside the caller's buf */
    size_t      len;
};

/* Where one reply goes: values[0..cap) belong to the caller. The caller
 * sets values and cap; resp_parse sets the rest. */
struct resp_reply {
    struct resp_value *values;
    uint32_t cap;
    uint32_t count;              /* values recorded: all of the reply's, or 0 */
    bool     too_many;           /* the reply had more than cap values: only its
                                    top value's type and count are kept, in
                                    values[0] (if cap > 0), and count is 0 */
};

enum resp_err {
    RESP_ERR_PROTOCOL    = -1,   /* not RESP: the stream cannot be followed */
    RESP_ERR_DEPTH       = -2,   /* aggregates nested deeper than RESP_MAX_DEPTH */
    RESP_ERR_UNSUPPORTED = -3,   /* attribute or streamed type (see above) */
};

#define RESP_MAX_DEPTH     32                /* open aggregates at once */
#define RESP_MAX_BULK      (512u << 20)      /* Redis's own proto-max-bulk-len */
#define RESP_MAX_COUNT     (1u << 30)        /* elements one aggregate may declare */

/* Parse one reply at the start of buf[0..len). Returns the bytes it takes
 * (> 0), 0 if buf holds only part of it (call again, from the same start,
 * once more bytes have arrived), or a negative enum resp_err, after which
 * the stream cannot be followed. A complete reply always gives a positive
 * count, even when it has more values than out->cap: then out->too_many is
 * set, no tree is recorded (never a partial one that a search would take
 * for the whole), and the caller can skip the reply and stay in step. Strings point
 * into buf: they live as long as the caller keeps those bytes. Nesting is
 * walked with a fixed stack of RESP_MAX_DEPTH, never by recursion; the work
 * is linear in len. */
ssize_t resp_parse(const uint8_t *buf, size_t len, struct resp_reply *out);

/* The i-th direct element of aggregate a (i < a->count), by walking spans. */
const struct resp_value *resp_element(const struct resp_value *a, uint32_t i);

/* True if v is a string type (SIMPLE, ERROR, BULK, VERBATIM) holding exactly
 * the bytes of literal. */
bool resp_str_eq(const struct resp_value *v, const char *literal);

/* --- commands ------------------------------------------------------------ */

/* Bytes of the command argv[0..argc) as RESP: *argc, then $len and the bytes
 * of each argument (binary-safe: argv[i] holds lens[i] bytes). */
size_t resp_command_len(int argc, const size_t *lens);
/* Write that command into out[0..cap). Returns its length, or 0 if it does
 * not fit (nothing useful is written then) or argc < 1. */
size_t resp_command_write(uint8_t *out, size_t cap, int argc, const char *const *argv,
                          const size_t *lens);

/* --- redis:// URLs -------------------------------------------------------- */

#define RESP_URL_DEFAULT_PORT 6379

struct resp_url {
    char     host[256];          /* without brackets for IPv6 */
    uint16_t port;               /* RESP_URL_DEFAULT_PORT if none given */
    char     user[128];          /* "" if none: AUTH with the password alone */
    char     password[256];      /* "" if none: no AUTH */
    bool     has_password;       /* redis://:@host gives an empty one */
    uint32_t db;                 /* SELECT this unless 0 */
};

/* Parse "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]". HOST is a name, an
 * IPv4 address or an IPv6 one in brackets; USER and PASSWORD may hold
 * %XX escapes (a password may also hold '@', ':' and '/' unescaped: the
 * last '@' ends it). Returns 0, or -1 with *why saying what is wrong, in a
 * few words that fit after "--redis: " ("bad port", "rediss:// (TLS) is not
 * supported"...). */
int resp_url_parse(const char *text, struct resp_url *url, const char **why);
/* The URL back as text for logs and /stats, the password shown as "***".
 * out gets at most cap bytes, NUL-terminated (cap >= 512 is always enough). */
void resp_url_format(const struct resp_url *url, char *out, size_t cap);

#endif
