/* json.h -- the tiny JSON (RFC 8259) this server needs: a writer into a
 * caller's buffer, and a reader that validates one object and points at its
 * top-level members. Strings are UTF-8 both ways: the writer escapes quotes,
 * backslashes and control characters, the reader undoes every escape,
 * including \uXXXX surrogate pairs. No I/O, no allocation. */
#ifndef JSON_H
#define JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* --- writer ------------------------------------------------------------ */

struct json_writer {
    char  *buf;
    size_t cap, len;
    bool   overflow;             /* set once anything did not fit */
    bool   need_comma;           /* a member was written in this object */
};

/* Start writing into buf[0..cap); nothing is NUL-terminated. */
void json_init(struct json_writer *w, char *buf, size_t cap);
void json_object_begin(struct json_writer *w);          /* { */
void json_object_end(struct json_writer *w);            /* } */
/* Members of the innermost open object ("key": value). key is written as is:
 * callers pass literal names that need no escaping. s[0..len) must be UTF-8. */
void json_member_str(struct json_writer *w, const char *key, const char *s, size_t len);
void json_member_cstr(struct json_writer *w, const char *key, const char *s);
void json_member_int(struct json_writer *w, const char *key, int64_t v);
void json_member_uint(struct json_writer *w, const char *key, uint64_t v);
void json_member_bool(struct json_writer *w, const char *key, bool v);
/* A number with `decimals` digits after the point (0..9). */
void json_member_fixed(struct json_writer *w, const char *key, double v, int decimals);
/* Open a nested object as the value of key; close it with json_object_end. */
void json_member_object(struct json_writer *w, const char *key);
/* Length written so far, or -1 if anything overflowed. */
ssize_t json_finish(const struct json_writer *w);

/* Escape s[0..len) as a JSON string body (no quotes) into out[0..cap).
 * Returns the length, or -1 if it does not fit. */
ssize_t json_escape(const char *s, size_t len, char *out, size_t cap);

/* --- reader ------------------------------------------------------------ */

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING,
                 JSON_ARRAY, JSON_OBJECT };

#define JSON_MAX_DEPTH 32        /* deeper nesting is rejected */

struct json_member {
    struct { const char *p; size_t len; } key;     /* raw, between the quotes */
    enum json_type type;
    struct { const char *p; size_t len; } value;   /* raw text of the value;
                                                      a string's includes quotes */
};

/* Validate that s[0..len) is exactly one JSON object (blanks around it are
 * allowed) and record up to max top-level members in order. Returns the
 * number of members (members past max are validated but not recorded), or
 * -1 if the text is not valid JSON or not an object. */
int json_parse_object(const char *s, size_t len, struct json_member *members, int max);

/* The first member whose raw key equals key (keys with escapes never match),
 * or NULL. */
const struct json_member *json_find(const struct json_member *members, int n,
                                    const char *key);

/* Decode a string member's value (with its quotes) into UTF-8 in
 * out[0..cap). Lone surrogates become U+FFFD. Returns the length or -1 if it
 * does not fit or m is not a string. */
ssize_t json_string_value(const struct json_member *m, char *out, size_t cap);

#endif
