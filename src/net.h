/* net.h -- sockets: a listening socket, a non-blocking connect, and peer
 * addresses kept in a compact form (a struct sockaddr_storage is 128 bytes,
 * which is half of what an idle connection may cost). */
#ifndef NET_H
#define NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct addrinfo;

struct net_addr {                /* an IPv4 or IPv6 peer; v4 is stored mapped */
    uint8_t  ip[16];
    uint16_t port;
};

#define NET_ADDR_STRLEN 56       /* "[ffff:...:ffff]:65535" */

#define NET_LISTEN_MAX 8         /* addresses one host name may give */

/* Listen on every address host resolves to (host may be "0.0.0.0", "::", a
 * name or an address; "localhost" may give ::1 and 127.0.0.1), all on one
 * port (port 0: the free one the kernel picks for the first). Non-blocking,
 * close-on-exec, SO_REUSEADDR; reuse_port adds SO_REUSEPORT, so that several
 * processes that all ask for it share the port (the kernel spreads the
 * connections). Stores at most max fds in fds and returns how many, or -1
 * with *err set to a short description and nothing left open. */
int net_listen(const char *host, uint16_t port, int backlog, bool reuse_port, int *fds,
               int max, const char **err);
/* The port a socket is bound to. */
uint16_t net_local_port(int fd);

/* The addresses to connect to host:port, in getaddrinfo()'s order (which
 * follows RFC 6724 and /etc/hosts), or NULL with *err set. Blocks for the
 * name lookup: call it where that is acceptable. Free with net_addrs_free. */
struct addrinfo *net_resolve(const char *host, uint16_t port, const char **err);
void net_addrs_free(struct addrinfo *list);

/* Begin a non-blocking TCP connect to *next, optionally from a given local
 * address (NULL: any); an address refused at once is skipped for the one
 * after it. *next is left on the address after the one in progress, for a
 * retry when that one fails later (net_connect_result). Returns the fd, or -1
 * when no address is left, with *err set by the last one that failed (left
 * as it was if there was none to try). */
int net_connect_next(const struct addrinfo **next, const char *bind_ip, const char **err);
/* How a non-blocking connect on fd has ended: 0 connected, an errno value
 * (ECONNREFUSED...) failed, or -1 still in progress (a stale wake-up). */
int net_connect_result(int fd);

void net_addr_from_sockaddr(struct net_addr *a, const struct sockaddr *sa);
/* "1.2.3.4:80" or "[::1]:80"; out holds NET_ADDR_STRLEN bytes. */
void net_addr_format(const struct net_addr *a, char *out);
/* The IP alone, without the port. */
void net_addr_format_ip(const struct net_addr *a, char *out);
bool net_addr_same_ip(const struct net_addr *a, const struct net_addr *b);

/* Small socket options, best effort. */
void net_set_nodelay(int fd);

/* The wait before reconnect attempt number attempt (0: the first after a
 * failure): a ceiling of base_ms * 2^attempt, capped at cap_ms, and a random
 * point in its upper half ("equal jitter"), so that clients that lost their
 * server together do not come back in step. Shared by every reconnecting
 * client (wsclient.c, redis.c). */
uint32_t net_backoff_ms(unsigned attempt, uint32_t base_ms, uint32_t cap_ms);

#endif
