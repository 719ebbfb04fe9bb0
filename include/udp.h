/*
 * UDP echo (RFC 862): every datagram goes back to its sender, behind the
 * prefix, in one datagram.
 */
#ifndef ECHOD_UDP_H
#define ECHOD_UDP_H

#include <event2/event.h>

#include "addr.h"

struct server;

struct udp_socket {
	struct server		*srv;
	struct event		*ev;
	struct listen_addr	 addr;
};

int	udp_open(struct server *, evutil_socket_t, const struct listen_addr *);
void	udp_close_all(struct server *);

#endif
