/* ipcount.c -- see ipcount.h. Linear probing with backward-shift deletion:
 * no tombstones, so lookups stay short however addresses come and go. */
#include "ipcount.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* FNV-1a: the addresses are not secret and the table is small; a peer that
 * picks colliding addresses can only slow its own lookups a little, since it
 * needs one connection per address. */
static size_t hash(const uint8_t ip[16])
{
    uint64_t h = 14695981039346656037ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ ip[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 32));
}

static size_t find(const struct ipcount *t, const uint8_t ip[16])
{
    size_t mask = t->cap - 1, i = hash(ip) & mask;
    while (t->slots[i].count && memcmp(t->slots[i].ip, ip, 16) != 0)
        i = (i + 1) & mask;
    return i;                    /* the address's slot, or the free slot for it */
}

static void grow(struct ipcount *t)
{
    struct ipcount old = *t;
    t->cap = old.cap ? old.cap * 2 : 64;
    t->slots = xcalloc(t->cap, sizeof *t->slots);
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].count)
            t->slots[find(t, old.slots[i].ip)] = old.slots[i];
    free(old.slots);
}

uint32_t ipcount_add(struct ipcount *t, const uint8_t ip[16])
{
    if ((t->used + 1) * 2 > t->cap)
        grow(t);
    struct ipcount_slot *s = &t->slots[find(t, ip)];
    if (s->count == 0) {
        memcpy(s->ip, ip, 16);
        t->used++;
    }
    return ++s->count;
}

uint32_t ipcount_get(const struct ipcount *t, const uint8_t ip[16])
{
    return t->cap ? t->slots[find(t, ip)].count : 0;
}

/* Empty slot i, then move back any later entry of the run that its hash
 * would place at or before i, so every entry stays reachable. */
static void delete_at(struct ipcount *t, size_t i)
{
    size_t mask = t->cap - 1;
    for (size_t j = (i + 1) & mask; t->slots[j].count; j = (j + 1) & mask) {
        size_t home = hash(t->slots[j].ip) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].count = 0;
    t->used--;
}

void ipcount_remove(struct ipcount *t, const uint8_t ip[16])
{
    size_t i = find(t, ip);
    assert(t->slots[i].count > 0);
    if (--t->slots[i].count == 0) {
        t->slots[i].count = 1;   /* delete_at expects a live entry */
        delete_at(t, i);
    }
}

/* --- the rate of new connections -------------------------------------- */

static size_t rate_find(const struct ipcount_rate_slot *slots, size_t cap, const uint8_t ip[16])
{
    size_t mask = cap - 1, i = hash(ip) & mask;
    while (slots[i].tat_us && memcmp(slots[i].ip, ip, 16) != 0)
        i = (i + 1) & mask;
    return i;
}

/* Rebuild without the addresses whose bucket is full again (no deletions
 * otherwise, so no tombstones), doubling until the live ones fill at most a
 * quarter: the next rebuild is then as far off as this one's cost. */
static void rate_rebuild(struct ipcount *t, uint64_t now_us)
{
    size_t live = 0;
    for (size_t i = 0; i < t->rate_cap; i++)
        live += t->rate[i].tat_us > now_us;
    size_t cap = t->rate_cap ? t->rate_cap : 64;
    while ((live + 1) * 4 > cap)
        cap *= 2;
    struct ipcount_rate_slot *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < t->rate_cap; i++)
        if (t->rate[i].tat_us > now_us)
            slots[rate_find(slots, cap, t->rate[i].ip)] = t->rate[i];
    free(t->rate);
    t->rate = slots;
    t->rate_cap = cap;
    t->rate_used = live;
}

/* GCRA: each connection moves the address's time on by 1/per_s second;
 * one is allowed while that time is at most a second (the burst) ahead. */
bool ipcount_rate_allow(struct ipcount *t, const uint8_t ip[16], uint64_t now_us, uint32_t per_s,
                        uint32_t *retry_s)
{
    assert(now_us > 0 && per_s > 0);
    if ((t->rate_used + 1) * 2 > t->rate_cap)
        rate_rebuild(t, now_us);
    struct ipcount_rate_slot *s = &t->rate[rate_find(t->rate, t->rate_cap, ip)];
    uint64_t interval_us = 1000000 / per_s ? 1000000 / per_s : 1;
    uint64_t tat = s->tat_us > now_us ? s->tat_us : now_us;
    if (tat + interval_us > now_us + 1000000) {
        *retry_s = (uint32_t)((tat + interval_us - now_us - 1000000 + 999999) / 1000000);
        return false;
    }
    if (s->tat_us == 0) {
        memcpy(s->ip, ip, 16);
        t->rate_used++;
    }
    s->tat_us = tat + interval_us;
    return true;
}

void ipcount_free(struct ipcount *t)
{
    free(t->slots);
    free(t->rate);
    *t = (struct ipcount){0};
}
