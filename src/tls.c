/* tls.c -- see tls.h. Built only with make TLS=1.
 * Two contexts: the server's (its certificate) and the client's (what it
 * trusts); a session is the same struct tls_conn on either side, so reads
 * and writes below serve both.
 * Reads drain everything OpenSSL can decrypt before returning, because data
 * it has buffered is invisible to epoll: returning early would leave it
 * waiting for the next packet. Writes go through a 16 KiB staging buffer
 * (one TLS record) filled from the front of the iovecs, so a write OpenSSL
 * asked us to repeat is always repeated with the same leading bytes, as it
 * requires. */
#include "tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define TLS_RECORD 16384

struct tls_conn {
    SSL *ssl;
    bool want_write;
};

static SSL_CTX *server_ctx;
static SSL_CTX *client_ctx;

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

/* --- the client side ---------------------------------------------------------- */

int tls_setup_client(const char *ca_file, bool insecure, const char **err)
{
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (!client_ctx) {
        *err = last_error();
        return -1;
    }
    SSL_CTX_set_min_proto_version(client_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(client_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                                 | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                                 | SSL_MODE_RELEASE_BUFFERS);
    /* Verification failure aborts the handshake, before a byte of ours is
     * sent; SSL_get_verify_result() then says why. */
    SSL_CTX_set_verify(client_ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (insecure)
        return 0;
    int ok = ca_file ? SSL_CTX_load_verify_locations(client_ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(client_ctx);
    if (ok != 1) {
        *err = last_error();
        return -1;
    }
    return 0;
}

static bool is_ip_literal(const char *host)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* RFC 6066 §3: SNI carries names only, never an address. The certificate
 * must then name the host: as a DNS name, or for an IP literal as an IP
 * address in its subjectAltName (RFC 6125 §6). Set whether or not we verify:
 * a TLS-terminating load balancer picks its certificate by SNI. */
static bool name_the_host(SSL *ssl, const char *host)
{
    if (is_ip_literal(host))
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
    return SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
}

struct tls_conn *tls_new_client(int fd, const char *host)
{
    struct tls_conn *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(client_ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1 || !name_the_host(t->ssl, host)) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_connect_state(t->ssl);
    return t;
}

/* Why the handshake failed, into why; the error queue is emptied. */
static enum tls_handshake_result handshake_failed(struct tls_conn *t, int err, char *why,
                                                  size_t cap)
{
    long verify = SSL_get_verify_result(t->ssl);
    unsigned long e = ERR_peek_error();
    int saved = errno;
    enum tls_handshake_result r = TLS_HANDSHAKE_FAILED;
    if (verify != X509_V_OK) {
        snprintf(why, cap, "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
        r = TLS_HANDSHAKE_UNTRUSTED;
    } else if (err == SSL_ERROR_SSL && e) {
        const char *reason = ERR_reason_error_string(e);
        snprintf(why, cap, "TLS handshake failed: %s", reason ? reason : "unknown error");
    } else if (err == SSL_ERROR_SYSCALL && saved != 0) {
        snprintf(why, cap, "TLS handshake failed: %s", strerror(saved));
    } else {
        snprintf(why, cap, "TLS handshake failed: the server closed the connection");
    }
    ERR_clear_error();
    return r;
}

enum tls_handshake_result tls_handshake(struct tls_conn *t, char *why, size_t cap)
{
    t->want_write = false;
    errno = 0;
    int ret = SSL_do_handshake(t->ssl);
    if (ret == 1)
        return TLS_HANDSHAKE_DONE;
    int err = SSL_get_error(t->ssl, ret);
    if (err == SSL_ERROR_WANT_READ)
        return TLS_HANDSHAKE_AGAIN;
    if (err == SSL_ERROR_WANT_WRITE) {
        t->want_write = true;
        return TLS_HANDSHAKE_AGAIN;
    }
    return handshake_failed(t, err, why, cap);
}

/* --- a session, either side ------------------------------------------------------ */

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
