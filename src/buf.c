/* buf.c -- growable buffers and refcounted messages; see buf.h.
 * Messages are refcounted without atomics: the server is one thread, and the
 * load generator's threads never share a message. */
#include "buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

uint8_t *buf_reserve(struct buf *b, size_t n)
{
    size_t need = (size_t)b->len + n;
    assert(need <= UINT32_MAX);
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap = cap * 2 > UINT32_MAX ? UINT32_MAX : cap * 2;
        b->data = xrealloc(b->data, cap);
        b->cap = (uint32_t)cap;
    }
    return b->data + b->len;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(buf_reserve(b, n), p, n);
    b->len += (uint32_t)n;
}

void buf_consume(struct buf *b, size_t n)
{
    assert(n <= b->len);
    memmove(b->data, b->data + n, b->len - n);
    b->len -= (uint32_t)n;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

struct msg *msg_new(size_t cap)
{
    assert(cap <= UINT32_MAX);
    struct msg *m = xmalloc(sizeof *m + cap);
    m->refs = 1;
    m->len = 0;
    m->cap = (uint32_t)cap;
    return m;
}

struct msg *msg_from(const void *p, size_t n)
{
    struct msg *m = msg_new(n);
    memcpy(m->data, p, n);
    m->len = (uint32_t)n;
    return m;
}

void msg_unref(struct msg *m)
{
    assert(m->refs > 0);
    if (--m->refs == 0)
        free(m);
}
