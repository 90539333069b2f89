/* test_ipcount.c -- per-IP counts: add, remove, forget at zero, and entries
 * stay reachable whatever the order of deletions (backward shift). */
#include <stdlib.h>

#include "check.h"
#include "ipcount.h"

static void ip_of(uint32_t n, uint8_t ip[16])
{
    memset(ip, 0, 16);
    ip[10] = ip[11] = 0xff;
    ip[12] = 10;
    ip[13] = (uint8_t)(n >> 16);
    ip[14] = (uint8_t)(n >> 8);
    ip[15] = (uint8_t)n;
}

static void test_counts(void)
{
    struct ipcount t = {0};
    uint8_t a[16], b[16];
    ip_of(1, a);
    ip_of(2, b);
    CHECK_EQ(ipcount_get(&t, a), 0);
    CHECK_EQ(ipcount_add(&t, a), 1);
    CHECK_EQ(ipcount_add(&t, a), 2);
    CHECK_EQ(ipcount_add(&t, b), 1);
    ipcount_remove(&t, a);
    CHECK_EQ(ipcount_get(&t, a), 1);
    ipcount_remove(&t, a);
    CHECK_EQ(ipcount_get(&t, a), 0);
    CHECK_EQ(t.used, 1);
    CHECK_EQ(ipcount_get(&t, b), 1);
    ipcount_free(&t);
}

/* Many addresses, removed in a scrambled order: every remaining one keeps
 * its count at every step. */
static void test_churn(void)
{
    enum { N = 3000 };
    struct ipcount t = {0};
    uint8_t ip[16];
    for (uint32_t i = 0; i < N; i++) {
        ip_of(i, ip);
        for (uint32_t k = 0; k <= i % 3; k++)
            ipcount_add(&t, ip);
    }
    CHECK_EQ(t.used, N);
    int bad = 0;
    for (uint32_t step = 0; step < N; step++) {
        uint32_t victim = (step * 7919u) % N;          /* 7919 is prime: a permutation */
        ip_of(victim, ip);
        while (ipcount_get(&t, ip))
            ipcount_remove(&t, ip);
        if (step % 97 == 0)
            for (uint32_t i = 0; i < N; i++) {
                uint32_t gone = 0;
                for (uint32_t s = 0; s <= step; s++)
                    gone |= (s * 7919u) % N == i;
                ip_of(i, ip);
                bad += ipcount_get(&t, ip) != (gone ? 0 : i % 3 + 1);
            }
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(t.used, 0);
    ipcount_free(&t);
}

int main(void)
{
    test_counts();
    test_churn();
    return check_report("ipcount");
}
