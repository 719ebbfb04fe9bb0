/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * UDP's rate limits: token buckets per source address (an IPv6 /64) in
 * a fixed table, and one for all sources.  Pure, as udpguard.c is.
 */
#include "config.h"

#include <string.h>

#include "udprate.h"

void
udp_rate_init(struct udp_rate *rl, const struct udp_limits *limits,
    const struct siphash_key *key)
{
	memset(rl, 0, sizeof(*rl));
	rl->limits = *limits;
	rl->key = *key;
}

/* Adds what elapsed, capped at one second's worth (the burst). */
static void
bucket_refill(struct udp_bucket *b, const struct udp_limits *rate, bool source,
    uint64_t elapsed_ms)
{
	uint64_t dgrams = source ? rate->source_dgrams : rate->total_dgrams;
	uint64_t bytes = source ? rate->source_bytes : rate->total_bytes;

	if (elapsed_ms > 1000)
		elapsed_ms = 1000;
	b->dgrams += elapsed_ms * dgrams;
	if (b->dgrams > dgrams * 1000)
		b->dgrams = dgrams * 1000;
	b->bytes += elapsed_ms * bytes;
	if (b->bytes > bytes * 1000)
		b->bytes = bytes * 1000;
}

/* Takes one datagram of len bytes, or says no and takes nothing. */
static bool
bucket_take(struct udp_bucket *b, uint64_t dgrams_limit, uint64_t bytes_limit,
    size_t len)
{
	uint64_t	 cost = (uint64_t)len * 1000;

	if ((dgrams_limit != 0 && b->dgrams < 1000) ||
	    (bytes_limit != 0 && b->bytes < cost))
		return false;
	if (dgrams_limit != 0)
		b->dgrams -= 1000;
	if (bytes_limit != 0)
		b->bytes -= cost;
	return true;
}

/*
 * The source's slot: found, else a free one, else the least recently
 * seen of its set, which starts again with a full bucket.  A flood of
 * forged sources can so refill one victim's bucket; the global limit
 * is what bounds that.
 */
static struct udp_source *
rate_source(struct udp_rate *rl, const uint64_t key[2], uint64_t now)
{
	struct udp_source	*set, *victim;
	uint64_t	 h = siphash(&rl->key, key, 2 * sizeof(key[0]));
	size_t		 i;

	set = rl->sources[h & (UDP_GUARD_SETS - 1)];
	victim = &set[0];
	for (i = 0; i < UDP_GUARD_WAYS; i++) {
		if (set[i].last_ms != 0 && set[i].key[0] == key[0] &&
		    set[i].key[1] == key[1])
			return &set[i];
		if (set[i].last_ms < victim->last_ms)
			victim = &set[i];
	}
	victim->key[0] = key[0];
	victim->key[1] = key[1];
	victim->last_ms = now;
	victim->tokens.dgrams = rl->limits.source_dgrams * 1000;
	victim->tokens.bytes = rl->limits.source_bytes * 1000;
	return victim;
}

enum udp_verdict
udp_rate_take(struct udp_rate *rl, const uint64_t key[2], size_t reply_len,
    uint64_t now)
{
	const struct udp_limits	*l = &rl->limits;
	struct udp_source		*s;

	/* now is never 0, so that last_ms marks a slot in use. */
	now++;
	if (l->source_dgrams != 0 || l->source_bytes != 0) {
		s = rate_source(rl, key, now);
		bucket_refill(&s->tokens, l, true, now - s->last_ms);
		s->last_ms = now;
		if (!bucket_take(&s->tokens, l->source_dgrams,
		    l->source_bytes, reply_len))
			return UDP_SOURCE_LIMIT;
	}
	if (l->total_dgrams != 0 || l->total_bytes != 0) {
		if (rl->total_ms == 0)
			bucket_refill(&rl->total, l, false, 1000);
		else
			bucket_refill(&rl->total, l, false, now - rl->total_ms);
		rl->total_ms = now;
		if (!bucket_take(&rl->total, l->total_dgrams, l->total_bytes,
		    reply_len))
			return UDP_TOTAL_LIMIT;
	}
	return UDP_ANSWER;
}

size_t
udp_rate_sources(const struct udp_rate *rl)
{
	size_t	 i, j, n = 0;

	for (i = 0; i < UDP_GUARD_SETS; i++)
		for (j = 0; j < UDP_GUARD_WAYS; j++)
			n += rl->sources[i][j].last_ms != 0;
	return n;
}
