/* net.h -- sockets: a listening socket, a non-blocking connect, and peer
 * addresses kept in a compact form (a struct sockaddr_storage is 128 bytes,
 * which is half of what an idle connection may cost). */
#ifndef NET_H
#define NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct net_addr {                /* an IPv4 or IPv6 peer; v4 is stored mapped */
    uint8_t  ip[16];
    uint16_t port;
};

#define NET_ADDR_STRLEN 56       /* "[ffff:...:ffff]:65535" */

/* Listen on host:port (host may be "0.0.0.0", "::", a name or an address;
 * port 0 picks a free one). Non-blocking, close-on-exec, SO_REUSEADDR.
 * Returns the fd, or -1 with *err set to a short description. */
int net_listen(const char *host, uint16_t port, int backlog, const char **err);
/* The port a socket is bound to. */
uint16_t net_local_port(int fd);

/* Begin a non-blocking TCP connect to host:port, optionally from a given
 * local address (NULL: any). Returns the fd (connect in progress or done),
 * or -1 with *err set. Resolves host with getaddrinfo(): call it where
 * blocking briefly is acceptable. */
int net_connect(const char *host, uint16_t port, const char *bind_ip, const char **err);

void net_addr_from_sockaddr(struct net_addr *a, const struct sockaddr *sa);
/* "1.2.3.4:80" or "[::1]:80"; out holds NET_ADDR_STRLEN bytes. */
void net_addr_format(const struct net_addr *a, char *out);
/* The IP alone, without the port. */
void net_addr_format_ip(const struct net_addr *a, char *out);
bool net_addr_same_ip(const struct net_addr *a, const struct net_addr *b);

/* Small socket options, best effort. */
void net_set_nodelay(int fd);

#endif
