/* tls.h -- the optional TLS transport (make TLS=1, OpenSSL): https:// and
 * wss:// on the same reactor, non-blocking, behind read/writev-like calls so
 * conn.c treats a TLS connection like any other. The server side serves
 * --tls-cert; the client side (wsclient.c: connect, monitor, bench) checks
 * the server's certificate against the system's CAs or --cacert, and its
 * name (RFC 6125) against the URL's host, which also goes out as SNI
 * (RFC 6066 §3) unless it is an IP address. A plain build keeps zero
 * dependencies: these calls then exist only as stubs that refuse. */
#ifndef TLS_H
#define TLS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>

struct tls_conn;

/* The outcome of one step of a client handshake (tls_handshake). */
enum tls_handshake_result {
    TLS_HANDSHAKE_DONE = 1,
    TLS_HANDSHAKE_AGAIN = 0,         /* wait for the socket: writable if
                                        tls_wants_write(), else readable */
    TLS_HANDSHAKE_FAILED = -1,       /* a protocol or socket error */
    TLS_HANDSHAKE_UNTRUSTED = -2,    /* the certificate or its name is not
                                        trusted: retrying will not help */
};

#ifdef WSPULSE_TLS

/* Whether this build has TLS at all (make TLS=1). */
static inline bool tls_available(void) { return true; }

/* Load the server's certificate chain and key (PEM). Returns 0, or -1 with
 * *err set (OpenSSL's reason). */
int tls_setup(const char *cert_file, const char *key_file, const char **err);
/* A server-side session for an accepted socket; NULL if out of memory. */
struct tls_conn *tls_new_server(int fd);
/* Set up the client side, once, before any tls_new_client() (bench's
 * threads then share it: OpenSSL 3 allows SSL_new() from many threads on one
 * context). Trust ca_file (PEM, NULL: the system's store); insecure: check
 * nothing. Returns 0, or -1 with *err set (OpenSSL's reason). */
int tls_setup_client(const char *ca_file, bool insecure, const char **err);
/* A client-side session on a connected socket, for host (a name or an IP
 * literal, without brackets): SNI and the name the certificate must carry.
 * NULL if out of memory. */
struct tls_conn *tls_new_client(int fd, const char *host);
/* Drive the client handshake one step. On failure why (cap bytes) says
 * what went wrong ("certificate verify failed: REASON" when the result is
 * TLS_HANDSHAKE_UNTRUSTED). */
enum tls_handshake_result tls_handshake(struct tls_conn *t, char *why, size_t cap);
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

static inline bool tls_available(void) { return false; }
static inline int tls_setup(const char *cert_file, const char *key_file, const char **err)
{
    (void)cert_file, (void)key_file;
    *err = "this build has no TLS; rebuild with make TLS=1";
    return -1;
}
static inline struct tls_conn *tls_new_server(int fd) { (void)fd; return NULL; }
static inline int tls_setup_client(const char *ca_file, bool insecure, const char **err)
{
    (void)ca_file, (void)insecure;
    *err = "this binary was built without TLS; rebuild with make TLS=1";
    return -1;
}
static inline struct tls_conn *tls_new_client(int fd, const char *host)
{
    (void)fd, (void)host;
    return NULL;
}
static inline enum tls_handshake_result tls_handshake(struct tls_conn *t, char *why, size_t cap)
{
    (void)t;
    snprintf(why, cap, "this binary was built without TLS");
    return TLS_HANDSHAKE_FAILED;
}
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
