/* xalloc.c -- see xalloc.h. */
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>

static void *checked(void *p, size_t n)
{
    if (!p && n > 0) {
        fprintf(stderr, "wspulse: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

void *xmalloc(size_t n)
{
    return checked(malloc(n), n);
}

void *xcalloc(size_t count, size_t size)
{
    return checked(calloc(count, size), count * size);
}

void *xrealloc(void *p, size_t n)
{
    return checked(realloc(p, n), n);
}
