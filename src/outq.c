/* outq.c -- see outq.h. The ring grows by doubling; it is kept while the
 * connection is busy (no allocation per broadcast) and freed by outq_trim()
 * once the connection has been idle a while. */
#include "outq.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define OUTQ_MIN_ITEMS   4       /* a power of two: see item_at() */
_Static_assert((OUTQ_MIN_ITEMS & (OUTQ_MIN_ITEMS - 1)) == 0, "the ring's size is a power of two");
#define OUTQ_CHUNK_BYTES 4096    /* smallest private tail message */

/* cap is a power of two (OUTQ_MIN_ITEMS, doubled), so the ring wraps with a
 * mask: a division per item was a visible share of a broadcast's cost. */
static struct outq_item *item_at(const struct outq *q, uint32_t i)
{
    return &q->items[(q->head + i) & (q->cap - 1)];
}

static void grow(struct outq *q)
{
    uint32_t cap = q->cap ? q->cap * 2 : OUTQ_MIN_ITEMS;
    struct outq_item *items = xmalloc(cap * sizeof *items);
    for (uint32_t i = 0; i < q->count; i++)
        items[i] = *item_at(q, i);
    free(q->items);
    q->items = items;
    q->cap = cap;
    q->head = 0;
}

/* Open a slot at position pos (0 = head), shifting later items back. */
static struct outq_item *insert_at(struct outq *q, uint32_t pos)
{
    assert(pos <= q->count);
    if (q->count == q->cap)
        grow(q);
    for (uint32_t i = q->count; i > pos; i--)
        *item_at(q, i) = *item_at(q, i - 1);
    q->count++;
    return item_at(q, pos);
}

void outq_push_msg(struct outq *q, struct msg *m, size_t off)
{
    assert(off <= m->len);
    if (q->count == q->cap)
        grow(q);
    struct outq_item *it = item_at(q, q->count++);    /* at the tail: nothing moves */
    *it = (struct outq_item){ m, (uint32_t)off, false };
    q->bytes += m->len - off;
}

void outq_push_frame(struct outq *q, struct msg *m)
{
    outq_push_msg(q, m, 0);
    item_at(q, q->count - 1)->frame = true;
}

/* The tail can take more private bytes when nothing of it is written yet,
 * only this queue holds it, it has room, it is not a whole frame that may be
 * dropped, and it is not a control frame that was put in front (data
 * appended there would jump the queue too). */
static bool tail_takes(const struct outq *q, size_t n)
{
    if (q->count == 0 || q->count <= q->urgent_end)
        return false;
    const struct outq_item *t = item_at(q, q->count - 1);
    return t->off == 0 && !t->frame && t->m->refs == 1 && t->m->cap - t->m->len >= n;
}

void outq_push_copy(struct outq *q, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (tail_takes(q, n)) {
        struct msg *t = item_at(q, q->count - 1)->m;
        memcpy(t->data + t->len, p, n);
        t->len += (uint32_t)n;
        q->bytes += n;
        return;
    }
    struct msg *m = msg_new(n < OUTQ_CHUNK_BYTES ? OUTQ_CHUNK_BYTES : n);
    memcpy(m->data, p, n);
    m->len = (uint32_t)n;
    outq_push_msg(q, m, 0);
}

void outq_push_urgent(struct outq *q, const void *p, size_t n)
{
    uint32_t pos = q->urgent_end;
    if (pos == 0 && q->count > 0 && item_at(q, 0)->off > 0)
        pos = 1;                 /* never cut into a frame on the wire */
    struct outq_item *it = insert_at(q, pos);
    *it = (struct outq_item){ msg_from(p, n), 0, false };
    q->bytes += n;
    q->urgent_end = pos + 1;
}

int outq_iov(const struct outq *q, struct iovec *iov, int max)
{
    int n = 0;
    for (uint32_t i = 0; i < q->count && n < max; i++, n++) {
        const struct outq_item *it = item_at(q, i);
        iov[n].iov_base = it->m->data + it->off;
        iov[n].iov_len = it->m->len - it->off;
    }
    return n;
}

static void pop_head(struct outq *q)
{
    msg_unref(item_at(q, 0)->m);
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    if (q->urgent_end > 0)
        q->urgent_end--;
}

void outq_consume(struct outq *q, size_t n)
{
    assert(n <= q->bytes);
    q->bytes -= n;
    while (n > 0) {
        struct outq_item *it = item_at(q, 0);
        size_t left = it->m->len - it->off;
        if (n < left) {
            it->off += (uint32_t)n;
            return;
        }
        n -= left;
        pop_head(q);
    }
}

void outq_trim(struct outq *q)
{
    if (q->count == 0 && q->items) {
        free(q->items);
        *q = (struct outq){0};
    }
}

/* Items are only ever queued whole frame after whole frame, so an item
 * marked frame sits between two frame boundaries and can go. */
void outq_drop_frames(struct outq *q)
{
    uint32_t kept = 0, urgent_end = q->urgent_end;
    for (uint32_t i = 0; i < q->count; i++) {
        struct outq_item it = *item_at(q, i);
        if (it.frame && it.off == 0) {
            q->bytes -= it.m->len;
            msg_unref(it.m);
            if (i < q->urgent_end)
                urgent_end--;
            continue;
        }
        *item_at(q, kept++) = it;
    }
    q->count = kept;
    q->urgent_end = urgent_end;
}

void outq_clear(struct outq *q)
{
    while (q->count > 0)
        pop_head(q);
    free(q->items);
    *q = (struct outq){0};
}
