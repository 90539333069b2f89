/* xalloc.h -- the one allocator the server and clients use where running
 * out of memory leaves nothing sensible to do: it says so on stderr and
 * aborts (a core dump shows where), so callers never check for NULL.
 * Where a failure can be answered (a connection refused, a TLS session not
 * started) the code calls malloc() itself and handles NULL. */
#ifndef XALLOC_H
#define XALLOC_H

#include <stddef.h>

/* malloc(n), calloc(count, size), realloc(p, n): never NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);

#endif
