/* tcp_echo.c -- the floor under every WebSocket echo server, for
 * bench/compare.sh ("TCP echo" in bench/RESULTS.md).
 *
 * A WebSocket load generator cannot talk to a plain byte echo: a client MUST
 * mask its frames and MUST fail a connection whose server masks (RFC 6455
 * §5.1), so the bytes a client sends are never valid bytes back. This peer
 * does the least any echo server must do on top of TCP and nothing else:
 * per read, one pass over the complete frames in the buffer writing each one
 * back unmasked (a 2-14 byte header and the payload XORed with the key), and
 * one send of the lot. No UTF-8 check, no limits beyond the buffer, no
 * control-frame rules, no handshake validation beyond finding the key: what
 * it measures is the kernel's cost of the same traffic, the figure a real
 * server's throughput is compared with ("at least 0.9x raw TCP echo").
 *
 * It is also the floor under /ws's ticks: a client whose request is for
 * /ws gets, every 100 ms, the bytes wspulse would send it (the tick's JSON
 * formatted once, only the count per client) in one send() each, and
 * nothing else: no queue for a client that does not keep up (its tick is
 * skipped, which the bench sees as a gap), no per-client schedule.
 *
 * One thread, one level-triggered epoll loop, 127.0.0.1 only, built by
 * bench/compare.sh with wspulse's own SHA-1 and base64 for the
 * Sec-WebSocket-Accept of the handshake (§4.2.2). Run: tcp_echo PORT */
#define _GNU_SOURCE                /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "sha1.h"

/* A whole frame must fit: the largest echo workload sends 64 KiB messages,
 * four in flight. Untouched pages of these buffers cost no memory. */
#define BUF_CAP (1024 * 1024)

#define TICK_NS     100000000ull    /* wspulse's default --tick-ms 100 */
#define MAX_TICKERS 65536

struct conn {
    int fd;
    bool upgraded;
    bool closing;                 /* a close frame was echoed: close once sent */
    bool ticker;                  /* upgraded on /ws: sent ticks */
    size_t ticker_at;             /* its place in tickers[] */
    uint64_t ticks_sent;          /* its message_count */
    size_t in_len;
    size_t out_len, out_sent;
    uint8_t in[BUF_CAP];
    uint8_t out[BUF_CAP + 256];    /* the 101 response, then never more than in */
};

static int epfd;
static struct conn *tickers[MAX_TICKERS];
static size_t ticker_count;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void conn_close(struct conn *c)
{
    if (c->ticker) {             /* the last ticker takes its place */
        tickers[c->ticker_at] = tickers[--ticker_count];
        tickers[c->ticker_at]->ticker_at = c->ticker_at;
    }
    close(c->fd);
    free(c);
}

static void want(struct conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
}

/* The head's Sec-WebSocket-Key value, or NULL. */
static const char *find_key(char *head, size_t *len)
{
    static const char name[] = "\r\nSec-WebSocket-Key:";
    for (char *p = head; (p = strchr(p, '\r')) != NULL; p++) {
        if (strncasecmp(p, name, sizeof name - 1) != 0)
            continue;
        char *v = p + sizeof name - 1;
        while (*v == ' ')
            v++;
        *len = strcspn(v, " \r");
        return v;
    }
    return NULL;
}

/* The 101 response for a complete head in c->in; false if it has no key. */
static bool answer_upgrade(struct conn *c, size_t head_len)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    c->in[head_len - 1] = '\0';
    size_t key_len;
    const char *key = find_key((char *)c->in, &key_len);
    if (key == NULL || key_len > 64)
        return false;
    struct sha1_ctx sha;
    uint8_t digest[SHA1_DIGEST_LEN];
    char accept[BASE64_ENCODED_LEN(SHA1_DIGEST_LEN) + 1];
    sha1_init(&sha);
    sha1_update(&sha, key, key_len);
    sha1_update(&sha, guid, sizeof guid - 1);
    sha1_final(&sha, digest);
    base64_encode(digest, sizeof digest, accept);
    c->out_len = (size_t)snprintf((char *)c->out, BUF_CAP,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    c->upgraded = true;
    if (strncmp((char *)c->in, "GET /ws ", 8) == 0 && ticker_count < MAX_TICKERS) {
        c->ticker = true;
        c->ticker_at = ticker_count;
        tickers[ticker_count++] = c;
    }
    return true;
}

/* dst = src XOR the 4-byte mask, 8 bytes at a time (the key repeated
 * twice in memory order is the same key for any byte order). */
static void unmask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4])
{
    uint8_t key8[8];
    memcpy(key8, mask, 4);
    memcpy(key8 + 4, mask, 4);
    uint64_t k;
    memcpy(&k, key8, 8);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k;
        memcpy(dst + i, &v, 8);
    }
    for (; i < len; i++)
        dst[i] = src[i] ^ mask[i & 3];
}

/* The 4 bytes of a client frame's masking key: what its echo is shorter by. */
#define MASK_KEY_LEN 4

/* One complete masked frame at in[0..avail) written unmasked at out (the
 * bytes consumed less MASK_KEY_LEN); returns the bytes consumed, 0 if the
 * frame is not complete yet. */
static size_t echo_frame(const uint8_t *in, size_t avail, uint8_t *out)
{
    if (avail < 2)
        return 0;
    uint64_t len = in[1] & 0x7f;
    size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
    size_t head = 2 + ext + MASK_KEY_LEN;
    if (avail < head)
        return 0;
    if (ext != 0) {
        len = 0;
        for (size_t i = 0; i < ext; i++)
            len = len << 8 | in[2 + i];
    }
    if (len > avail - head)
        return 0;
    out[0] = in[0];
    out[1] = (uint8_t)(in[1] & 0x7f);              /* the same length, unmasked */
    memcpy(out + 2, in + 2, ext);
    unmask(out + 2 + ext, in + head, (size_t)len, in + 2 + ext);
    return head + len;
}

/* Every complete frame of c->in into c->out; the rest stays in c->in. */
static void echo_frames(struct conn *c)
{
    size_t at = 0, used;
    while ((used = echo_frame(c->in + at, c->in_len - at, c->out + c->out_len)) != 0) {
        if ((c->in[at] & 0x0f) == 0x8)
            c->closing = true;
        at += used;
        c->out_len += used - MASK_KEY_LEN;
    }
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
}

/* Send what c->out holds; false when the connection is done. */
static bool flush(struct conn *c)
{
    while (c->out_sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            want(c, EPOLLOUT);
            return true;
        }
        if (n <= 0)
            return false;
        c->out_sent += (size_t)n;
    }
    c->out_len = c->out_sent = 0;
    return !c->closing;
}

/* One read, everything it completes echoed, one send. */
static bool on_readable(struct conn *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, BUF_CAP - 1 - c->in_len, 0);
    if (n < 0 && errno == EAGAIN)
        return true;
    if (n <= 0)
        return false;
    c->in_len += (size_t)n;
    if (!c->upgraded) {
        c->in[c->in_len] = '\0';
        char *end = strstr((char *)c->in, "\r\n\r\n");
        if (end == NULL)
            return c->in_len < 8192;
        size_t head_len = (size_t)(end - (char *)c->in) + 4;
        if (!answer_upgrade(c, head_len))
            return false;
        memmove(c->in, c->in + head_len, c->in_len - head_len);
        c->in_len -= head_len;
    }
    echo_frames(c);
    return flush(c);
}

/* n in decimal and the closing brace at out; returns their length. */
static int put_count(char *out, uint64_t n)
{
    char digits[20];
    int len = 0;
    do
        digits[len++] = (char)('0' + n % 10);
    while ((n /= 10) > 0);
    for (int i = 0; i < len; i++)
        out[i] = digits[len - 1 - i];
    out[len] = '}';
    return len + 1;
}

/* One tick: the JSON up to the count formatted once, then per ticker its
 * count and one send() of the whole frame. */
static void send_ticks(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm local;
    localtime_r(&now.tv_sec, &local);
    char iso[32];
    strftime(iso, sizeof iso, "%Y-%m-%d %H:%M:%S", &local);
    uint8_t frame[256];
    int prefix = snprintf((char *)frame + 2, sizeof frame - 2,
                          "{\"type\":\"timestamp\",\"timestamp_iso\":\"%s\",\"timestamp_ms\":%lld,"
                          "\"message_count\":", iso,
                          (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    frame[0] = 0x81;                                /* FIN, text */
    for (size_t i = 0; i < ticker_count; i++) {
        struct conn *c = tickers[i];
        if (c->closing || c->out_len > c->out_sent)
            continue;            /* its echoed Close is going out, or it is cut */
        int len = prefix + put_count((char *)frame + 2 + prefix, c->ticks_sent + 1);
        frame[1] = (uint8_t)len;                    /* under 126: no extended length */
        ssize_t sent = send(c->fd, frame, (size_t)len + 2, MSG_NOSIGNAL);
        if (sent == len + 2) {
            c->ticks_sent++;
        } else if (sent > 0) {   /* half a frame: the stream is broken, end it */
            c->closing = true;
            shutdown(c->fd, SHUT_RDWR);
        }
    }
}

static int tick_timer(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = { .it_value = { 0, TICK_NS }, .it_interval = { 0, TICK_NS } };
    if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0)
        die("timerfd");
    return fd;
}

static void on_writable(struct conn *c)
{
    if (!flush(c)) {
        conn_close(c);
        return;
    }
    if (c->out_len == 0)
        want(c, EPOLLIN);
}

static void accept_all(int listener)
{
    int fd;
    while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* calloc: its zero pages are the kernel's, untouched until used
         * (assigning a compound literal would write all 2 MiB of buffers) */
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL)
            die("calloc");
        c->fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            die("epoll_ctl");
    }
}

static int listen_on(long port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0)
        die("listen");
    return fd;
}

int main(int argc, char **argv)
{
    char *rest = NULL;
    long port = argc == 2 ? strtol(argv[1], &rest, 10) : 0;
    if (argc != 2 || *rest || port <= 0 || port > 65535) {
        fprintf(stderr, "usage: tcp_echo PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int listener = listen_on(port);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    static int listener_tag, timer_tag;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listener_tag };
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev) < 0)
        die("epoll");
    int timer = tick_timer();
    ev.data.ptr = &timer_tag;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, timer, &ev) < 0)
        die("epoll");
    fprintf(stderr, "tcp echo floor listening on 127.0.0.1:%ld\n", port);
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == &listener_tag) {
                accept_all(listener);
                continue;
            }
            if (events[i].data.ptr == &timer_tag) {
                uint64_t expirations;
                if (read(timer, &expirations, sizeof expirations) == sizeof expirations)
                    send_ticks();    /* late ones are not made up, as in wspulse */
                continue;
            }
            struct conn *c = events[i].data.ptr;
            if (events[i].events & EPOLLOUT)
                on_writable(c);
            else if (!on_readable(c))
                conn_close(c);
        }
    }
}
