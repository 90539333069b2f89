/* net.c -- see net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static int resolve(const char *host, uint16_t port, bool passive, struct addrinfo **res)
{
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
    };
    return getaddrinfo(host, service, &hints, res);
}

/* One listening socket. An IPv6 one sharing the port with IPv4 ones must
 * leave IPv4 to them (IPV6_V6ONLY), or its bind collides with theirs.
 * SO_REUSEPORT lets other processes bind the same address and port (each
 * with the option set): the kernel spreads new connections among them. */
static int listen_on(const struct addrinfo *ai, int backlog, bool v6only, bool reuse_port)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (v6only && ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Port 0 asks for a free port: every address gets the first one's. */
static void set_port(struct addrinfo *list, uint16_t port)
{
    for (; list; list = list->ai_next) {
        if (list->ai_family == AF_INET)
            ((struct sockaddr_in *)list->ai_addr)->sin_port = htons(port);
        else if (list->ai_family == AF_INET6)
            ((struct sockaddr_in6 *)list->ai_addr)->sin6_port = htons(port);
    }
}

/* An address given twice (/etc/hosts may say so) is bound once. */
static bool listed_before(const struct addrinfo *list, const struct addrinfo *ai)
{
    for (; list != ai; list = list->ai_next)
        if (list->ai_addrlen == ai->ai_addrlen
            && memcmp(list->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0)
            return true;
    return false;
}

static bool has_family(const struct addrinfo *list, int family)
{
    for (; list; list = list->ai_next)
        if (list->ai_family == family)
            return true;
    return false;
}

/* Bind each address of res; an address family this machine lacks (no
 * IPv6) is skipped, any other failure fails the whole. */
static int listen_all(struct addrinfo *res, int backlog, bool reuse_port, int *fds, int max)
{
    bool v6only = has_family(res, AF_INET) && has_family(res, AF_INET6);
    int n = 0;
    errno = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
        if (listed_before(res, ai))
            continue;
        int fd = listen_on(ai, backlog, v6only, reuse_port);
        if (fd < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
            continue;
        if (fd < 0)
            goto fail;
        if (n++ == 0)
            set_port(res, net_local_port(fd));
        fds[n - 1] = fd;
    }
    if (n > 0)
        return n;
fail:;
    int saved = errno;
    while (n > 0)
        close(fds[--n]);
    errno = saved;
    return -1;
}

int net_listen(const char *host, uint16_t port, int backlog, bool reuse_port, int *fds,
               int max, const char **err)
{
    struct addrinfo *res;
    if (resolve(host, port, true, &res) != 0) {
        *err = "cannot resolve host";
        return -1;
    }
    int n = listen_all(res, backlog, reuse_port, fds, max);
    if (n < 0)
        *err = errno == EADDRINUSE ? "address already in use" : strerror(errno);
    freeaddrinfo(res);
    return n;
}

uint16_t net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    struct net_addr a;
    net_addr_from_sockaddr(&a, (struct sockaddr *)&ss);
    return a.port;
}

static int bind_local(int fd, int family, const char *bind_ip)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        len = sizeof *sin;
        if (inet_pton(AF_INET, bind_ip, &sin->sin_addr) != 1)
            return -1;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        len = sizeof *sin6;
        if (inet_pton(AF_INET6, bind_ip, &sin6->sin6_addr) != 1)
            return -1;
    }
    return bind(fd, (struct sockaddr *)&ss, len);
}

struct addrinfo *net_resolve(const char *host, uint16_t port, const char **err)
{
    struct addrinfo *res;
    if (resolve(host, port, false, &res) != 0) {
        *err = "cannot resolve host";
        return NULL;
    }
    return res;
}

void net_addrs_free(struct addrinfo *list)
{
    if (list)
        freeaddrinfo(list);
}

int net_connect_next(const struct addrinfo **next, const char *bind_ip, const char **err)
{
    while (*next) {
        const struct addrinfo *ai = *next;
        *next = ai->ai_next;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            *err = strerror(errno);
            continue;
        }
        if ((bind_ip && bind_local(fd, ai->ai_family, bind_ip) < 0)
            || (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)) {
            *err = strerror(errno);
            close(fd);
            continue;
        }
        return fd;
    }
    return -1;
}

/* SO_ERROR is 0 both while connecting and once connected: getpeername()
 * tells the two apart. */
int net_connect_result(int fd)
{
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
        return errno;
    if (error)
        return error;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0)
        return 0;
    return errno == ENOTCONN ? -1 : errno;
}

void net_addr_from_sockaddr(struct net_addr *a, const struct sockaddr *sa)
{
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        memcpy(a->ip, v4_mapped_prefix, 12);
        memcpy(a->ip + 12, &sin->sin_addr, 4);
        a->port = ntohs(sin->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        memcpy(a->ip, &sin6->sin6_addr, 16);
        a->port = ntohs(sin6->sin6_port);
    }
}

void net_addr_format_ip(const struct net_addr *a, char *out)
{
    if (memcmp(a->ip, v4_mapped_prefix, 12) == 0)
        inet_ntop(AF_INET, a->ip + 12, out, NET_ADDR_STRLEN);
    else
        inet_ntop(AF_INET6, a->ip, out, NET_ADDR_STRLEN);
}

void net_addr_format(const struct net_addr *a, char *out)
{
    char ip[NET_ADDR_STRLEN];
    net_addr_format_ip(a, ip);
    bool v4 = memcmp(a->ip, v4_mapped_prefix, 12) == 0;
    snprintf(out, NET_ADDR_STRLEN, v4 ? "%s:%u" : "[%s]:%u", ip, a->port);
}

bool net_addr_same_ip(const struct net_addr *a, const struct net_addr *b)
{
    return memcmp(a->ip, b->ip, 16) == 0;
}

void net_set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Jitter needs no cryptographic quality, only to differ between processes. */
static uint32_t jitter_random(void)
{
    uint32_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
        v = (uint32_t)(clock_mono_ns() * 2654435761u);
    return v;
}

uint32_t net_backoff_ms(unsigned attempt, uint32_t base_ms, uint32_t cap_ms)
{
    uint32_t ceiling = cap_ms;
    if (attempt < 16 && (base_ms << attempt) < cap_ms)
        ceiling = base_ms << attempt;
    uint32_t half = ceiling / 2;
    return half + jitter_random() % (half + 1);
}
