/* check.h -- the whole unit-test framework: a failed CHECK prints where and
 * what, and the program's exit status is the number of failures (capped).
 *
 *     int main(void) { test_a(); test_b(); return check_report("sha1"); }
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <stddef.h>

static int check_failures;
static int check_passes;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (cond) {                                                          \
            check_passes++;                                                  \
        } else {                                                             \
            check_failures++;                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

/* Compare two integers and print both values when they differ. */
#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);       \
        if (check_a_ == check_b_) {                                           \
            check_passes++;                                                   \
        } else {                                                              \
            check_failures++;                                                 \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n", \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);          \
        }                                                                     \
    } while (0)

static inline void check_dump(const char *label, const void *p, size_t n)
{
    const uint8_t *b = p;
    fprintf(stderr, "    %s (%zu bytes):", label, n);
    for (size_t i = 0; i < n && i < 64; i++)
        fprintf(stderr, " %02x", b[i]);
    fprintf(stderr, n > 64 ? " ...\n" : "\n");
}

/* Compare byte ranges; on failure show both in hex. */
#define CHECK_MEM(got, got_len, want, want_len)                               \
    do {                                                                      \
        size_t check_gl_ = (got_len), check_wl_ = (want_len);                 \
        if (check_gl_ == check_wl_ && memcmp((got), (want), check_gl_) == 0) { \
            check_passes++;                                                   \
        } else {                                                              \
            check_failures++;                                                 \
            fprintf(stderr, "%s:%d: CHECK_MEM failed: %s vs %s\n", __FILE__,  \
                    __LINE__, #got, #want);                                   \
            check_dump("got ", (got), check_gl_);                             \
            check_dump("want", (want), check_wl_);                            \
        }                                                                     \
    } while (0)

#define CHECK_STR(got, want) CHECK_MEM((got), strlen(got), (want), strlen(want))

/* Print the tally; return the exit status (0 when everything passed). */
static inline int check_report(const char *suite)
{
    printf("%-10s %d checks, %d failed\n", suite, check_passes + check_failures,
           check_failures);
    return check_failures > 100 ? 100 : check_failures;
}

#endif
