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

/* How a TLS handshake ended: a label value each in metrics.c. */
enum stat_tls {
	STAT_TLS_OK,
	STAT_TLS_FAILED,
	STAT_TLS_TIMEOUT,
	STAT_TLS_RESULTS
};

/*
 * Why a UDP datagram was not answered: its enum udp_verdict, and
 * UDP_ANSWER for a reply the socket would not take.  Room for reasons
 * not yet written; metrics.c names each one.
 */
#define STAT_UDP_REASONS	16

struct stats {
	stat_t	 open;		/* connections open now */
	stat_t	 accepted;	/* connections, ever */
	stat_t	 rejected;	/* closed at once: --max-per-ip, PROXY */
	stat_t	 timed_out;	/* closed by -t */
	stat_t	 shed;		/* closed over --memory-limit */
	stat_t	 buffered;	/* what --memory-limit counts, now */
	stat_t	 bytes_in;
	stat_t	 bytes_out;
	stat_t	 udp_in;	/* datagrams received */
	stat_t	 udp_out;	/* replies sent */
	stat_t	 udp_truncated;	/* replies cut to fit one datagram */
	stat_t	 udp_unanswered[STAT_UDP_REASONS];
	stat_t	 tls_handshakes[STAT_TLS_RESULTS];
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
