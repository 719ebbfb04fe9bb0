/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * UDP echo (RFC 862): every datagram goes back to its sender, behind the
 * prefix, in one datagram, unless the guard (udpguard.h) says otherwise.
 * One set per thread owns that thread's UDP sockets and their buffers.
 */
#ifndef ECHOD_UDP_H
#define ECHOD_UDP_H

#include <stdatomic.h>
#include <time.h>

#include <event2/event.h>

#include "addr.h"
#include "stats.h"
#include "udpguard.h"

struct udp_set;

struct udp_config {
	const char		*prefix;
	size_t			 prefix_len;
	struct udp_limits	 limits;	/* this thread's share */
	unsigned int		 repeats;	/* --udp-repeats */
	struct siphash_key	 key;
	/* When each once-a-minute line was last said, by any thread. */
	_Atomic time_t		*refusal_logged;
	_Atomic time_t		*error_logged;
};

struct udp_set *udp_set_new(struct event_base *, const struct udp_config *,
	    struct stats *);
int	udp_set_add(struct udp_set *, evutil_socket_t,
	    const struct listen_addr *);
void	udp_set_free(struct udp_set *);

#endif
