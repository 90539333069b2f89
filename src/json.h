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

/* What json_parse_object returns instead of a count. */
enum json_err { JSON_ERR_SYNTAX = -1, JSON_ERR_TOO_MANY = -2 };

/* Validate that s[0..len) is exactly one JSON object (blanks around it are
 * allowed) and record its top-level members, in order, in members[0..max)
 * (NULL if max is 0). Returns their number n (0..max), every one recorded;
 * JSON_ERR_SYNTAX if the text is not valid JSON or not an object; or
 * JSON_ERR_TOO_MANY if it is valid but has more than max members. Never a
 * partial list: a search of its first max members would miss a key after
 * them. After an error members[] holds nothing to use. */
int json_parse_object(const char *s, size_t len, struct json_member *members, int max);

/* The first of members[0..n) whose raw key equals key, or NULL. n is what
 * json_parse_object returned. Keys are compared raw, so a key written with
 * an escape (\u0000 included) never matches. */
const struct json_member *json_find(const struct json_member *members, int n,
                                    const char *key);

/* Decode a string member's value (with its quotes) into UTF-8 in
 * out[0..cap). Lone surrogates become U+FFFD; \u0000 becomes a NUL byte, so
 * compare the result by its length, never as a C string. Returns the length
 * or -1 if it does not fit or m is not a string. */
ssize_t json_string_value(const struct json_member *m, char *out, size_t cap);

/* True if m is a string member whose decoded value is exactly the bytes of
 * literal, length included: "ping\u0000" is not "ping". False if m is NULL
 * (json_find found nothing) or not a string. */
bool json_string_eq(const struct json_member *m, const char *literal);

#endif
