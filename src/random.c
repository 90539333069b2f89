/* random.c -- see random.h. */
#include "random.h"

#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

int random_bytes(void *p, size_t n)
{
    uint8_t *out = p;
    while (n > 0) {              /* a large request may come back short */
        ssize_t got = getrandom(out, n, 0);
        if (got > 0) {
            out += got;
            n -= (size_t)got;
        } else if (got == 0 || errno != EINTR) {
            return -1;           /* will not change: asking again would spin */
        }
    }
    return 0;
}
