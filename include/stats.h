/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Counters of one thread.  Only that thread writes them; the metrics
 * endpoint and the exit line read them from thread 0, so they are atomic
 * but never need a locked instruction.
 */
#ifndef ECHOD_STATS_H
#define ECHOD_STATS_H

#include <stdatomic.h>
#include <stdint.h>

typedef atomic_uint_least64_t	stat_t;

struct stats {
	stat_t	 open;		/* connections open now */
	stat_t	 accepted;	/* connections, ever */
	stat_t	 rejected;	/* closed at once: --max-per-ip, PROXY */
	stat_t	 timed_out;	/* closed by -t */
	stat_t	 shed;		/* closed over --memory-limit */
	stat_t	 bytes_in;
	stat_t	 bytes_out;
	stat_t	 udp_in;	/* datagrams received */
	stat_t	 udp_out;	/* replies sent */
	stat_t	 udp_truncated;	/* replies cut to fit one datagram */
	stat_t	 udp_dropped;	/* not answered, for any reason */
	stat_t	 udp_refused;	/* of those: could loop or amplify */
	stat_t	 udp_limited;	/* of those: over a rate limit */
	stat_t	 tls_failed;	/* TLS handshakes that failed */
};

static inline uint64_t
stat_get(stat_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

/* Single writer: a plain add, published atomically. */
static inline void
stat_add(stat_t *counter, uint64_t n)
{
	atomic_store_explicit(counter, stat_get(counter) + n,
	    memory_order_relaxed);
}

static inline void
stat_sub(stat_t *counter, uint64_t n)
{
	atomic_store_explicit(counter, stat_get(counter) - n,
	    memory_order_relaxed);
}

#endif
