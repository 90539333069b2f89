/* buf.h -- the two kinds of memory that carry bytes through the server:
 *   struct buf  a growable byte buffer owned by one connection (a request
 *               head or a message that arrived in pieces);
 *   struct msg  a refcounted block of bytes, usually whole encoded frames,
 *               which output queues share: a broadcast is encoded once and
 *               every recipient holds a reference instead of a copy.
 * Out of memory aborts: a server that cannot allocate has nothing better to do.
 * No I/O. */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;               /* NULL until the first append */
    uint32_t len, cap;
};

/* Append n bytes, growing geometrically. */
void buf_append(struct buf *b, const void *p, size_t n);
/* Make room for n more bytes and return where they go (len is unchanged). */
uint8_t *buf_reserve(struct buf *b, size_t n);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Release the memory; the buffer is empty and owns nothing afterwards. */
void buf_free(struct buf *b);

struct msg {
    uint32_t refs;
    uint32_t len, cap;           /* bytes used / allocated in data[] */
    uint8_t  data[];
};

/* A message with room for cap bytes, len 0 and one reference (the caller's). */
struct msg *msg_new(size_t cap);
/* A message holding a copy of p[0..n), with one reference. */
struct msg *msg_from(const void *p, size_t n);

static inline struct msg *msg_ref(struct msg *m)
{
    m->refs++;
    return m;
}

/* Drop one reference; the last one frees the message. */
void msg_unref(struct msg *m);

#endif
