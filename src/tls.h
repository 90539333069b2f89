/* tls.h -- the optional TLS transport (make TLS=1, OpenSSL): https:// and
 * wss:// on the same reactor, non-blocking, behind read/writev-like calls so
 * conn.c treats a TLS connection like any other. A plain build keeps zero
 * dependencies: these calls then exist only as stubs that refuse. */
#ifndef TLS_H
#define TLS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct tls_conn;

#ifdef WSPULSE_TLS

/* Load the server's certificate chain and key (PEM). Returns 0, or -1 with
 * *err set (OpenSSL's reason). */
int tls_setup(const char *cert_file, const char *key_file, const char **err);
/* A server-side session for an accepted socket; NULL if out of memory. */
struct tls_conn *tls_new_server(int fd);
/* Like read(): bytes (as many as are ready, up to n), 0 at the end, or -1
 * with errno EAGAIN (wait for the socket) or another error. */
ssize_t tls_read(struct tls_conn *t, void *buf, size_t n);
/* Like writev(): bytes taken, or -1 with errno EAGAIN or another error. */
ssize_t tls_writev(struct tls_conn *t, const struct iovec *iov, int count);
/* The last call stopped because TLS must write first (a handshake message):
 * wait for the socket to be writable, then read again. */
bool tls_wants_write(const struct tls_conn *t);
/* Bytes OpenSSL has decrypted and not handed over yet (epoll cannot see them). */
size_t tls_pending(const struct tls_conn *t);
/* Send close_notify, best effort. */
void tls_close_notify(struct tls_conn *t);
void tls_free(struct tls_conn *t);

#else

static inline int tls_setup(const char *cert_file, const char *key_file, const char **err)
{
    (void)cert_file, (void)key_file;
    *err = "this build has no TLS; rebuild with make TLS=1";
    return -1;
}
static inline struct tls_conn *tls_new_server(int fd) { (void)fd; return NULL; }
static inline ssize_t tls_read(struct tls_conn *t, void *buf, size_t n)
{
    (void)t, (void)buf, (void)n;
    errno = ENOSYS;
    return -1;
}
static inline ssize_t tls_writev(struct tls_conn *t, const struct iovec *iov, int count)
{
    (void)t, (void)iov, (void)count;
    errno = ENOSYS;
    return -1;
}
static inline bool tls_wants_write(const struct tls_conn *t) { (void)t; return false; }
static inline size_t tls_pending(const struct tls_conn *t) { (void)t; return 0; }
static inline void tls_close_notify(struct tls_conn *t) { (void)t; }
static inline void tls_free(struct tls_conn *t) { (void)t; }

#endif
#endif
