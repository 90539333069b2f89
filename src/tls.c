/* tls.c -- see tls.h. Built only with make TLS=1.
 * Reads drain everything OpenSSL can decrypt before returning, because data
 * it has buffered is invisible to epoll: returning early would leave it
 * waiting for the next packet. Writes go through a 16 KiB staging buffer
 * (one TLS record) filled from the front of the iovecs, so a write OpenSSL
 * asked us to repeat is always repeated with the same leading bytes, as it
 * requires. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#define TLS_RECORD 16384

struct tls_conn {
    SSL *ssl;
    bool want_write;
};

static SSL_CTX *server_ctx;

static const char *last_error(void)
{
    static char text[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, text, sizeof text);
    return e ? text : "unknown TLS error";
}

int tls_setup(const char *cert_file, const char *key_file, const char **err)
{
    server_ctx = SSL_CTX_new(TLS_server_method());
    if (!server_ctx) {
        *err = last_error();
        return -1;
    }
    SSL_CTX_set_min_proto_version(server_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(server_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                                 | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                                 | SSL_MODE_RELEASE_BUFFERS);   /* idle: no buffers */
    if (SSL_CTX_use_certificate_chain_file(server_ctx, cert_file) != 1
        || SSL_CTX_use_PrivateKey_file(server_ctx, key_file, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(server_ctx) != 1) {
        *err = last_error();
        return -1;
    }
    return 0;
}

struct tls_conn *tls_new_server(int fd)
{
    struct tls_conn *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(server_ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    SSL_set_accept_state(t->ssl);
    return t;
}

/* Translate an SSL_get_error() outcome into errno; returns -1 or 0 (EOF). */
static ssize_t fail(struct tls_conn *t, int ret)
{
    switch (SSL_get_error(t->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        t->want_write = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:           /* close_notify */
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == 0)
            return 0;                     /* EOF without close_notify */
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;                   /* a handshake or record error */
        return -1;
    }
}

ssize_t tls_read(struct tls_conn *t, void *buf, size_t n)
{
    size_t got = 0;
    t->want_write = false;
    while (got < n) {
        size_t k;
        errno = 0;
        int ret = SSL_read_ex(t->ssl, (char *)buf + got, n - got, &k);
        if (ret == 1) {
            got += k;
            continue;
        }
        ssize_t r = fail(t, ret);
        if (got > 0 && (r == 0 || errno == EAGAIN))
            return (ssize_t)got;          /* report the end on the next call */
        return r;
    }
    return (ssize_t)got;
}

/* Copy the first TLS_RECORD bytes of the iovecs into stage; returns how many. */
static size_t stage_front(const struct iovec *iov, int count, uint8_t *stage)
{
    size_t len = 0;
    for (int i = 0; i < count && len < TLS_RECORD; i++) {
        size_t take = iov[i].iov_len < TLS_RECORD - len ? iov[i].iov_len : TLS_RECORD - len;
        memcpy(stage + len, iov[i].iov_base, take);
        len += take;
    }
    return len;
}

/* Skip n bytes of the iovecs (a local copy is advanced). */
static int advance(struct iovec *iov, int count, size_t n)
{
    int i = 0;
    while (i < count && n >= iov[i].iov_len)
        n -= iov[i++].iov_len;
    if (i < count) {
        iov[i].iov_base = (char *)iov[i].iov_base + n;
        iov[i].iov_len -= n;
    }
    memmove(iov, iov + i, (size_t)(count - i) * sizeof *iov);
    return count - i;
}

ssize_t tls_writev(struct tls_conn *t, const struct iovec *iov_in, int count)
{
    static _Thread_local uint8_t stage[TLS_RECORD];
    struct iovec iov[64];
    if (count > 64)
        count = 64;
    memcpy(iov, iov_in, (size_t)count * sizeof *iov);
    size_t done = 0;
    t->want_write = false;
    while (count > 0) {
        size_t len = stage_front(iov, count, stage), k;
        if (len == 0)
            break;
        errno = 0;
        int ret = SSL_write_ex(t->ssl, stage, len, &k);
        if (ret != 1) {
            ssize_t r = fail(t, ret);
            if (done > 0 && errno == EAGAIN)
                return (ssize_t)done;
            return r == 0 ? (errno = EPIPE, -1) : r;
        }
        done += k;
        count = advance(iov, count, k);
    }
    return (ssize_t)done;
}

size_t tls_pending(const struct tls_conn *t)
{
    int n = SSL_pending(t->ssl);
    return n > 0 ? (size_t)n : 0;
}

bool tls_wants_write(const struct tls_conn *t)
{
    return t->want_write;
}

void tls_close_notify(struct tls_conn *t)
{
    if (SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl);
    ERR_clear_error();
}

void tls_free(struct tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t);
}
