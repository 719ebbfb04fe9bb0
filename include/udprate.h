/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * UDP's rate limits, per source and in all (udp_guard_judge() asks them
 * last).  Pure: no sockets, no clock of its own.
 */
#ifndef ECHOD_UDPRATE_H
#define ECHOD_UDPRATE_H

#include <stddef.h>
#include <stdint.h>

#include "siphash.h"
#include "udpguard.h"

/* A token bucket, in thousandths, so that a millisecond refills. */
struct udp_bucket {
	uint64_t	 dgrams;
	uint64_t	 bytes;
};

struct udp_source {
	uint64_t	 key[2];	/* IPv4 address, or an IPv6 /64 */
	uint64_t	 last_ms;	/* 0: free slot */
	struct udp_bucket tokens;
};

struct udp_rate {
	struct udp_limits	 limits;
	struct siphash_key	 key;
	struct udp_source	 sources[UDP_GUARD_SETS][UDP_GUARD_WAYS];
	struct udp_bucket	 total;
	uint64_t		 total_ms;
};

void	udp_rate_init(struct udp_rate *, const struct udp_limits *,
	    const struct siphash_key *);
/* One reply of len bytes to the source key at now (ms): the verdict. */
enum udp_verdict udp_rate_take(struct udp_rate *, const uint64_t [2], size_t,
	    uint64_t);
size_t	udp_rate_sources(const struct udp_rate *);

#endif
