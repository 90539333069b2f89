/* ipcount.h -- how many connections each peer IP address holds, for the
 * per-IP limit (--max-conns-per-ip). An open-addressing hash table that grows
 * as needed and forgets an address when its count drops to zero, so its size
 * follows the number of distinct clients connected now. No I/O. */
#ifndef IPCOUNT_H
#define IPCOUNT_H

#include <stddef.h>
#include <stdint.h>

struct ipcount_slot {
    uint8_t  ip[16];
    uint32_t count;              /* 0: the slot is free */
};

struct ipcount {
    struct ipcount_slot *slots;  /* NULL until the first address */
    size_t cap, used;            /* cap is a power of two */
};

/* Add one connection for ip; returns the new count for that address. */
uint32_t ipcount_add(struct ipcount *t, const uint8_t ip[16]);
/* Remove one connection for ip (which must have been added). */
void ipcount_remove(struct ipcount *t, const uint8_t ip[16]);
/* The count for ip (0 if none). */
uint32_t ipcount_get(const struct ipcount *t, const uint8_t ip[16]);
void ipcount_free(struct ipcount *t);

#endif
