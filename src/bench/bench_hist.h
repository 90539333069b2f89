/* bench_hist.h -- the latency histogram of `wspulse bench`: log-linear
 * buckets in the manner of HdrHistogram (each power of two split into 64
 * linear steps, so any value is known to within 1/64, about 1.6%), fixed
 * memory, mergeable by adding counts. Values are nanoseconds (any unit
 * works); values up to 2^BENCH_HIST_MAX_BITS are kept, larger ones are
 * counted as that maximum.
 *
 * One thread records, any other may read at the same time: the counts are
 * relaxed atomics, so a reader sees each count whole (recording compiles to
 * a plain load and store on x86, no lock prefix). A reader that subtracts
 * an earlier copy from a later one gets the histogram of the interval in
 * between: that is how the progress line and --warmup work. No I/O. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define BENCH_HIST_SUB_BITS  7                      /* 128 exact values, then 64 steps */
#define BENCH_HIST_MAX_BITS  40                     /* 2^40 ns: over 18 minutes */
#define BENCH_HIST_BUCKETS   \
    ((BENCH_HIST_MAX_BITS - BENCH_HIST_SUB_BITS + 2) << (BENCH_HIST_SUB_BITS - 1))

struct bench_hist {
    _Atomic uint64_t count[BENCH_HIST_BUCKETS];
};

/* Count one value. Only one thread may record into a histogram. */
void bench_hist_record(struct bench_hist *h, uint64_t value);

/* dst = a copy of src (src may be recording meanwhile). */
void bench_hist_copy(struct bench_hist *dst, const struct bench_hist *src);
/* dst += src: merge threads. */
void bench_hist_add(struct bench_hist *dst, const struct bench_hist *src);
/* dst -= earlier, where earlier is an older copy of what dst now holds: the
 * interval between two copies. */
void bench_hist_sub(struct bench_hist *dst, const struct bench_hist *earlier);

/* Number of values recorded. */
uint64_t bench_hist_total(const struct bench_hist *h);
/* The value below which pct percent of the values lie, as the highest value
 * of its bucket (never an under-estimate); 0 when empty. */
uint64_t bench_hist_percentile(const struct bench_hist *h, double pct);
/* The highest value's bucket, as its highest value; 0 when empty. */
uint64_t bench_hist_max(const struct bench_hist *h);

#endif
