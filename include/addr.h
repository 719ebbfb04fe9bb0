/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Listen addresses: parsing the command line's HOST:PORT forms and
 * printing socket addresses the way users type them.
 */
#ifndef ECHOD_ADDR_H
#define ECHOD_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "[ffff:...:ffff]:65535" plus NUL, with room to spare. */
#define ADDR_STRLEN	64
/* A listener's name: "proxy:tls:" and "unix:" with a whole path. */
#define LISTEN_NAMELEN	136

struct listen_addr {
	struct sockaddr_storage	ss;
	socklen_t		len;
	/*
	 * Set on the second and later addresses of one --listen (the IPv6
	 * half of a wildcard, or further addresses of a host name): when the
	 * port is 0 they take the port the first one was given.
	 */
	bool			share_port;
	/* The IPv6 wildcard may be missing on hosts without IPv6. */
	bool			optional;
	bool			tls;		/* tls: served over TLS */
	bool			proxy;		/* proxy: PROXY header first */
	int			socktype;	/* SOCK_STREAM or SOCK_DGRAM */
	/*
	 * A socket already open: inherited from systemd, or one that every
	 * thread shares (Unix sockets have no SO_REUSEPORT); else -1.
	 */
	int			fd;
};

struct listen_list {
	struct listen_addr	*addrs;
	size_t			 count;
};

int	addr_parse_port(const char *, uint16_t *);
int	addr_parse_listen(struct listen_list *, const char *, uint16_t,
	    char *, size_t);
int	addr_add_wildcard(struct listen_list *, uint16_t);
void	addr_list_free(struct listen_list *);
int	addr_list_push(struct listen_list *, const struct listen_addr *);
const char *addr_format(const struct sockaddr *, char *, size_t);
const char *addr_listen_name(const struct listen_addr *, char *, size_t);
uint16_t addr_port(const struct sockaddr *);
void	addr_set_port(struct sockaddr *, uint16_t);

#endif
