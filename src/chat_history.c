/* chat_history.c -- see chat_history.h. */
#include "chat_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One part of an id: 1 to 20 digits that fit in 64 bits. */
static int parse_part(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int chat_id_parse(const char *s, size_t len, struct chat_id *id)
{
    const char *dash = s ? memchr(s, '-', len) : NULL;
    if (!dash)
        return -1;
    size_t ms_len = (size_t)(dash - s);
    struct chat_id v;
    if (parse_part(s, ms_len, &v.ms) < 0 || parse_part(dash + 1, len - ms_len - 1, &v.seq) < 0)
        return -1;
    *id = v;
    return 0;
}

size_t chat_id_format(const struct chat_id *id, char *out)
{
    int n = snprintf(out, CHAT_ID_MAX_LEN + 1, "%llu-%llu", (unsigned long long)id->ms,
                     (unsigned long long)id->seq);
    return n < 0 ? 0 : (size_t)n;
}

int chat_id_cmp(const struct chat_id *a, const struct chat_id *b)
{
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

struct chat_id chat_id_next(const struct chat_id *last, uint64_t now_ms)
{
    if (now_ms > last->ms)
        return (struct chat_id){ now_ms, 0 };
    if (last->seq == UINT64_MAX)
        return (struct chat_id){ last->ms + 1, 0 };
    return (struct chat_id){ last->ms, last->seq + 1 };
}

/* --- the ring ------------------------------------------------------------- */

int chat_history_init(struct chat_history *h, uint32_t cap, size_t max_bytes,
                      const struct chat_id *start)
{
    *h = (struct chat_history){ .cap = cap, .max_bytes = max_bytes, .gap = *start,
                                .last = *start };
    h->ring = calloc(cap, sizeof *h->ring);
    return h->ring ? 0 : -1;
}

static struct chat_entry *slot(const struct chat_history *h, uint32_t i)
{
    return &h->ring[(h->head + i) % h->cap];
}

/* Drop the oldest message; its id becomes the gap. */
static void drop_oldest(struct chat_history *h)
{
    struct chat_entry *e = slot(h, 0);
    h->gap = e->id;
    h->bytes -= e->frame->len;
    msg_unref(e->frame);
    e->frame = NULL;
    h->head = (h->head + 1) % h->cap;
    h->count--;
}

void chat_history_restart(struct chat_history *h, const struct chat_id *gap)
{
    while (h->count > 0)
        drop_oldest(h);
    h->gap = *gap;
    h->last = *gap;
}

void chat_history_push(struct chat_history *h, const struct chat_id *id, struct msg *frame,
                       size_t payload_len)
{
    while (h->count > 0 && (h->count == h->cap || h->bytes + frame->len > h->max_bytes))
        drop_oldest(h);
    *slot(h, h->count) = (struct chat_entry){ *id, msg_ref(frame), payload_len };
    h->count++;
    h->bytes += frame->len;
    h->last = *id;
}

enum chat_since chat_history_find(const struct chat_history *h, const struct chat_id *since,
                                  uint32_t *first)
{
    if (chat_id_cmp(since, &h->gap) < 0)
        return CHAT_SINCE_TOO_OLD;
    if (chat_id_cmp(since, &h->gap) == 0) {
        *first = 0;
        return CHAT_SINCE_HELD;
    }
    uint32_t lo = 0, hi = h->count;      /* binary search: ids only grow */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int cmp = chat_id_cmp(&slot(h, mid)->id, since);
        if (cmp == 0) {
            *first = mid + 1;
            return CHAT_SINCE_HELD;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return CHAT_SINCE_UNKNOWN;
}

const struct chat_entry *chat_history_at(const struct chat_history *h, uint32_t i)
{
    return slot(h, i);
}
