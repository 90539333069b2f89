/* random.h -- bytes from the kernel's random source (getrandom(2)), for
 * what must be unpredictable (RFC 6455 §5.3 masking keys, §4.1 the
 * handshake key, §10.3) and for seeds. */
#ifndef RANDOM_H
#define RANDOM_H

#include <stddef.h>

/* Fill p[0..n) with random bytes. Returns 0, or -1 with errno when the
 * kernel cannot give them (no getrandom, a seccomp filter): an error that
 * would not go away by asking again, so the caller decides what to do
 * without them. A signal that interrupts the call is retried. */
int random_bytes(void *p, size_t n);

#endif
