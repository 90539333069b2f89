/* outq.h -- a connection's queue of bytes the socket has not taken yet.
 * Items are references to messages, so a broadcast waiting in a thousand
 * queues exists once; bytes that belong to one connection are appended to
 * a private tail message, so a burst of small frames is one allocation, not
 * one per frame. Pings and pongs go ahead of everything not yet on the wire
 * (README, Architecture: never delayed behind queued data; a Close goes
 * behind it), but never split a frame already partly written. An empty
 * queue owns no memory once trimmed. No I/O: the caller writes what
 * outq_iov() describes and reports back. */
#ifndef OUTQ_H
#define OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "buf.h"

struct outq_item {
    struct msg *m;
    uint32_t    off;             /* bytes of m already written */
    bool        frame;           /* m is one whole frame of its own: it may be
                                    dropped unsent without breaking the stream */
};

struct outq {
    struct outq_item *items;     /* a ring; NULL while the queue is empty */
    uint32_t head, count, cap;
    uint32_t urgent_end;         /* items from head that must stay in front:
                                    a partly written head and queued control
                                    frames; new control frames go here */
    size_t   bytes;              /* bytes not yet written */
};

static inline bool outq_empty(const struct outq *q)
{
    return q->count == 0;
}

/* Queue m[off..len); takes over the caller's reference. */
void outq_push_msg(struct outq *q, struct msg *m, size_t off);
/* Queue m, one whole frame (a broadcast), so that outq_drop_frames() may
 * drop it while nothing of it is written; takes over the reference. */
void outq_push_frame(struct outq *q, struct msg *m);
/* Queue a copy of p[0..n) behind everything else. */
void outq_push_copy(struct outq *q, const void *p, size_t n);
/* Queue a copy of a whole control frame ahead of queued data (after any
 * frame that is partly written and after earlier control frames). */
void outq_push_urgent(struct outq *q, const void *p, size_t n);

/* Describe up to max pending chunks in iov; returns how many. */
int outq_iov(const struct outq *q, struct iovec *iov, int max);
/* n bytes were written from the front: release what is done. */
void outq_consume(struct outq *q, size_t n);
/* Free the ring of an empty queue (an idle connection keeps nothing). */
void outq_trim(struct outq *q);
/* Drop every whole frame not begun (a slow consumer's backlog), keeping
 * what is partly written and the pieces of frames that were queued apart
 * (headers, replies), so that what remains is still a valid stream. */
void outq_drop_frames(struct outq *q);
/* Drop everything and free the ring (the connection is going away). */
void outq_clear(struct outq *q);

#endif
