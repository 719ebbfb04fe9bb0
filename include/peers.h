/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Open connections per client address, for --max-per-ip.  IPv4-mapped
 * IPv6 addresses count as the IPv4 address they are; IPv6 addresses
 * count per prefix (a /64 by default: whoever has one has all of it).
 * The buckets are chosen by a keyed hash, so that nobody can aim many
 * addresses at one chain.
 */
#ifndef ECHOD_PEERS_H
#define ECHOD_PEERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "siphash.h"

struct peer {
	struct peer	*next;		/* in its hash bucket */
	unsigned int	 count;
	uint8_t		 family;
	uint8_t		 addr[16];
};

struct peer_table {
	struct peer		**buckets;
	size_t			  mask;	/* bucket count - 1, a power of 2 */
	unsigned int		  v6_prefix;	/* bits of an IPv6 address */
	struct siphash_key	  key;
};

int		 peers_init(struct peer_table *, size_t, unsigned int);
struct peer	*peers_get(struct peer_table *, const struct sockaddr *);
void		 peers_put(struct peer_table *, struct peer *);
void		 peers_free(struct peer_table *);

#endif
