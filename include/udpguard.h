/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * What UDP echo answers, decided per datagram without a system call:
 * the rules that keep echod out of echo loops and reflection attacks,
 * the amplification bound, and the rate limits.  Pure: no sockets, no
 * events, no logging, so it fuzzes and tests alone.
 */
#ifndef ECHOD_UDPGUARD_H
#define ECHOD_UDPGUARD_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

/* Per second; 0 is no limit. */
struct udp_limits {
	uint64_t	 source_dgrams;	/* from one address (IPv6: a /64) */
	uint64_t	 source_bytes;	/* replies' bytes to one address */
	uint64_t	 total_dgrams;	/* all sources together */
	uint64_t	 total_bytes;
};

enum udp_verdict {
	UDP_ANSWER,		/* answer reply_len bytes of the datagram */
	UDP_NO_ADDRESS,		/* no IPv4 or IPv6 sender to answer */
	UDP_PRIVILEGED_PORT,	/* source port below 1024 */
	UDP_SERVICE_PORT,	/* a reflecting service's port */
	UDP_OWN_PORT,		/* a port echod serves UDP on */
	UDP_OWN_PREFIX,		/* begins with the prefix: an echo's answer */
	UDP_AMPLIFY,		/* reply would be over twice the request */
	UDP_RETURNED,		/* ends with the reply just sent there */
	UDP_CUT_AGAIN,		/* its reply cut, as the last one there */
	UDP_SOURCE_LIMIT,	/* over the per-source rate */
	UDP_TOTAL_LIMIT		/* over the global rate */
};

struct udp_guard;

struct udp_guard *udp_guard_new(const char *, size_t, const struct udp_limits *,
	    const struct siphash_key *);
void	udp_guard_free(struct udp_guard *);
void	udp_guard_own_port(struct udp_guard *, uint16_t);
void	udp_guard_client_ports(struct udp_guard *, uint16_t, uint16_t);
void	udp_guard_client_repeats(struct udp_guard *, unsigned int);
enum udp_verdict udp_guard_judge(struct udp_guard *, const struct sockaddr *,
	    socklen_t, const void *, size_t, uint64_t, size_t *);
const char *udp_verdict_reason(enum udp_verdict);
bool	udp_verdict_is_limit(enum udp_verdict);
size_t	udp_guard_sources(const struct udp_guard *);
bool	udp_port_is_service(uint16_t);

/* Largest payload of one datagram; RFC 862 allows no more. */
#define UDP_MAX_V4		65507
#define UDP_MAX_V6		65527
/* Sources tracked per thread: a fixed table, the oldest evicted. */
#define UDP_GUARD_SETS		1024
#define UDP_GUARD_WAYS		4
/*
 * A datagram that ends with the reply echod sent its sender (address and
 * port) at most UDP_RETURN_MSEC before is that reply come back.  With a
 * prefix it is refused at once; without, it is also what a client that
 * repeats itself sends, so only the one after UDP_RETURNS_SERVER such in
 * a row is refused from a port outside the kernel's range for clients
 * (an echo server's port), the one after UDP_RETURNS_CLIENT (by default:
 * --udp-repeats) from within; the count then starts again.
 */
#define UDP_RETURN_MSEC		10000
/* Replies remembered for each address and port. */
#define UDP_RETURN_REPLIES	4
/*
 * Replies remembered by what they are, whoever they went to, and how
 * far into a datagram another echo's prefix may push ours.
 */
#define UDP_RECENT_SETS		1024
#define UDP_RECENT_WAYS		16
#define UDP_RECENT_SEARCH	512
#define UDP_RECENT_END		16
#define UDP_RECENT_ALIKE	4	/* of one set, ending (beginning) alike */
#define UDP_RETURNS_SERVER	2
#define UDP_RETURNS_CLIENT	1000
#define UDP_RETURNS_CLIENT_MAX	65535	/* a reply's count is 16 bits */
/* Linux's default net.ipv4.ip_local_port_range. */
#define UDP_CLIENT_PORT_MIN	32768
#define UDP_CLIENT_PORT_MAX	60999

#endif
