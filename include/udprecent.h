/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Every UDP reply one thread sent in the last moments, whoever it went
 * to, found by what it is, whole or by its first or last bytes: the
 * loop rule's memory for loops forged side by side (udpguard.c keeps a
 * few replies per address and port, which they outrun).  A reply stays
 * for UDP_RETURN_MSEC unless its set fills first (UDP_RECENT_SETS of
 * UDP_RECENT_WAYS), replies to clients' ports making room first (then,
 * of servers', those sharing a tag), and no more than UDP_RECENT_ALIKE
 * of one tag in a set: thousands of loops within one round trip outrun
 * this too.  Pure: no clock of its own.
 */
#ifndef ECHOD_UDPRECENT_H
#define ECHOD_UDPRECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "siphash.h"
#include "udpguard.h"

struct udp_recent_entry {
	uint64_t	 tag;		/* address, port and the reply's key */
	uint32_t	 ms;		/* when, wrapping */
	uint16_t	 returns;	/* come back in a row */
	uint16_t	 server;	/* went to a server's port */
	uint32_t	 len;
	uint32_t	 check;		/* the digest's low half */
};

struct udp_recent {
	struct siphash_key	 key;
	const uint8_t		*prefix;	/* before each reply */
	size_t			 prefix_len;
	struct siphash_memo	 memo;		/* of the last address and port */
	struct udp_recent_entry	 table[UDP_RECENT_SETS][UDP_RECENT_WAYS];
};

/*
 * The turn of a loop a reply continues: the reply come back, its count,
 * and whether it goes to a port outside the kernel's range for clients,
 * where loops run (kept when room is made: replies to clients' ports,
 * however many, do not push a loop's turn out).
 */
struct udp_turn {
	struct udp_recent_entry	*was;		/* NULL: not in the table */
	unsigned int		 hops;
	bool			 server;
};

/* A reply's digest: fast, keyed, not collision resistant. */
uint64_t udp_digest(const struct siphash_key *, const void *, size_t);

/* Zeroed by calloc(): pages a thread's replies never reach stay unmapped. */
struct udp_recent *udp_recent_new(const struct siphash_key *, const char *,
	    size_t);
void	udp_recent_free(struct udp_recent *);
/* The reply of len bytes and this digest sent to key (address, port). */
struct udp_recent_entry *udp_recent_find(struct udp_recent *,
	    const uint64_t [3], const uint8_t *, size_t, uint64_t, uint64_t);
/* The reply is going to key, the turn of a loop it continues. */
void	udp_recent_note(struct udp_recent *, const uint64_t [3],
	    const uint8_t *, size_t, uint64_t, uint64_t,
	    const struct udp_turn *);
/* With a prefix: a reply to key that begins with those 16 bytes. */
struct udp_recent_entry *udp_recent_begun(struct udp_recent *,
	    const uint64_t [3], const uint8_t *, uint64_t);
/* The reply to key the datagram is, begins or ends with (see .c). */
struct udp_recent_entry *udp_recent_holding(struct udp_recent *,
	    const uint64_t [3], const uint8_t *, size_t, uint64_t, uint64_t);
/*
 * Without a prefix, a reply to key of UDP_RECENT_END bytes or more that
 * the datagram holds at, with more after it.
 */
struct udp_recent_entry *udp_recent_inside(struct udp_recent *,
	    const uint64_t [3], const uint8_t *, size_t, size_t, uint64_t);

#endif
