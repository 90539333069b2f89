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
#include <unistd.h>

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

static int listen_on(const struct addrinfo *ai, int backlog)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int net_listen(const char *host, uint16_t port, int backlog, const char **err)
{
    struct addrinfo *res;
    if (resolve(host, port, true, &res) != 0) {
        *err = "cannot resolve host";
        return -1;
    }
    int fd = -1;
    errno = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = listen_on(ai, backlog);
    freeaddrinfo(res);
    if (fd < 0)
        *err = errno == EADDRINUSE ? "address already in use" : strerror(errno);
    return fd;
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

int net_connect(const char *host, uint16_t port, const char *bind_ip, const char **err)
{
    struct addrinfo *res;
    if (resolve(host, port, false, &res) != 0) {
        *err = "cannot resolve host";
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if ((bind_ip && bind_local(fd, ai->ai_family, bind_ip) < 0)
            || (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)) {
            *err = strerror(errno);
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
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
