/* bench_hist.c -- see bench_hist.h. Bucket layout: values below 128 have a
 * bucket each; a value v with its highest bit at m >= 7 keeps its top seven
 * bits s = v >> (m - 6), in 64..127, and lands in bucket (m - 6) * 64 + s.
 * The buckets of consecutive powers of two therefore follow each other with
 * no hole: 0..127 exact, 128..191 for 128..255 in steps of 2, and so on. */
#include "bench_hist.h"

#include <stddef.h>

#define HALF (1u << (BENCH_HIST_SUB_BITS - 1))      /* 64 steps per power of two */
#define MAX_VALUE ((1ull << BENCH_HIST_MAX_BITS) - 1)

static unsigned bucket_of(uint64_t v)
{
    if (v > MAX_VALUE)
        v = MAX_VALUE;
    if (v < 2 * HALF)
        return (unsigned)v;
    unsigned m = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = m - (BENCH_HIST_SUB_BITS - 1);
    return shift * HALF + (unsigned)(v >> shift);
}

/* The highest value that falls into bucket i. */
static uint64_t bucket_high(unsigned i)
{
    if (i < 2 * HALF)
        return i;
    unsigned shift = i / HALF - 1;
    uint64_t s = i % HALF + HALF;
    return ((s + 1) << shift) - 1;
}

static uint64_t get(const struct bench_hist *h, unsigned i)
{
    return atomic_load_explicit(&h->count[i], memory_order_relaxed);
}

static void set(struct bench_hist *h, unsigned i, uint64_t n)
{
    atomic_store_explicit(&h->count[i], n, memory_order_relaxed);
}

void bench_hist_record(struct bench_hist *h, uint64_t value)
{
    unsigned i = bucket_of(value);
    set(h, i, get(h, i) + 1);    /* one writer: no read-modify-write needed */
}

void bench_hist_copy(struct bench_hist *dst, const struct bench_hist *src)
{
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
        set(dst, i, get(src, i));
}

void bench_hist_add(struct bench_hist *dst, const struct bench_hist *src)
{
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
        set(dst, i, get(dst, i) + get(src, i));
}

void bench_hist_sub(struct bench_hist *dst, const struct bench_hist *earlier)
{
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        uint64_t a = get(dst, i), b = get(earlier, i);
        set(dst, i, a > b ? a - b : 0);
    }
}

uint64_t bench_hist_total(const struct bench_hist *h)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
        n += get(h, i);
    return n;
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double pct)
{
    uint64_t total = bench_hist_total(h);
    if (total == 0)
        return 0;
    /* The rank of the value wanted, from 1: p50 of 3 values is the 2nd. */
    double want = pct / 100.0 * (double)total;
    uint64_t rank = (uint64_t)want + ((double)(uint64_t)want < want);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += get(h, i);
        if (seen >= rank)
            return bucket_high(i);
    }
    return bucket_high(BENCH_HIST_BUCKETS - 1);
}

uint64_t bench_hist_max(const struct bench_hist *h)
{
    for (unsigned i = BENCH_HIST_BUCKETS; i-- > 0;)
        if (get(h, i))
            return bucket_high(i);
    return 0;
}
