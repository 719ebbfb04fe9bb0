/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Open connections per client address, for --max-per-ip.  IPv4-mapped
 * IPv6 addresses count as the IPv4 address they are.
 */
#ifndef ECHOD_PEERS_H
#define ECHOD_PEERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct peer {
	struct peer	*next;		/* in its hash bucket */
	unsigned int	 count;
	uint8_t		 family;
	uint8_t		 addr[16];
};

struct peer_table {
	struct peer	**buckets;
	size_t		  mask;		/* bucket count - 1, a power of 2 */
};

int		 peers_init(struct peer_table *, size_t);
struct peer	*peers_get(struct peer_table *, const struct sockaddr *);
void		 peers_put(struct peer_table *, struct peer *);
void		 peers_free(struct peer_table *);

#endif
