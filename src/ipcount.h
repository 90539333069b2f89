/* ipcount.h -- how many connections each peer IP address holds, for the
 * per-IP limit (--max-conns-per-ip). An open-addressing hash table that grows
 * as needed and forgets an address when its count drops to zero, so its size
 * follows the number of distinct clients connected now. Beside it, how fast
 * each address opens new ones (--max-conn-rate-per-ip). No I/O. */
#ifndef IPCOUNT_H
#define IPCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipcount_slot {
    uint8_t  ip[16];
    uint32_t count;              /* 0: the slot is free */
};

struct ipcount_rate_slot {
    uint8_t  ip[16];
    uint64_t tat_us;             /* when the bucket is full again; 0: free */
};

struct ipcount {
    struct ipcount_slot *slots;  /* NULL until the first address */
    size_t cap, used;            /* cap is a power of two */
    struct ipcount_rate_slot *rate;   /* the same, for the rate limit */
    size_t rate_cap, rate_used;
};

/* Add one connection for ip; returns the new count for that address. */
uint32_t ipcount_add(struct ipcount *t, const uint8_t ip[16]);
/* Remove one connection for ip (which must have been added). */
void ipcount_remove(struct ipcount *t, const uint8_t ip[16]);
/* The count for ip (0 if none). */
uint32_t ipcount_get(const struct ipcount *t, const uint8_t ip[16]);

/* May ip open one more connection at now_us (monotonic, > 0), at most per_s
 * a second with bursts of per_s? If so it is counted and true returned;
 * if not, *retry_s (>= 1) says in how many seconds one is allowed. A token
 * bucket kept as one time per address (GCRA): addresses whose bucket is
 * full again are forgotten when the table would grow, so its size follows
 * the addresses that connected in the last second. */
bool ipcount_rate_allow(struct ipcount *t, const uint8_t ip[16], uint64_t now_us, uint32_t per_s,
                        uint32_t *retry_s);
/* Free both tables. */
void ipcount_free(struct ipcount *t);

#endif
