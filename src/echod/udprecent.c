/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <string.h>

#include "udprecent.h"

/*
 * A reply's digest, in four lanes of multiply and shift: every answered
 * datagram is hashed, and SipHash cost 3 us an 8 KB one.  No collision
 * resistance is needed: whoever could make a datagram collide with the
 * last reply to an address could as well send that reply.
 */
#define DIGEST_MUL	0x9e3779b97f4a7c15ULL

static uint64_t
digest_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

uint64_t
udp_digest(const struct siphash_key *key, const void *data, size_t len)
{
	const uint8_t	*p = data;
	uint64_t	 h[4] = { key->k0, key->k1, ~key->k0, ~key->k1 };
	uint64_t	 w, r = len * DIGEST_MUL;
	size_t		 i, lane = 0;

	for (i = 0; i + 32 <= len; i += 32)
		for (lane = 0; lane < 4; lane++) {
			memcpy(&w, p + i + 8 * lane, 8);
			h[lane] = (h[lane] ^ w) * DIGEST_MUL;
			h[lane] ^= h[lane] >> 29;
		}
	for (lane = 0; i < len; i += 8, lane++) {
		w = 0;
		memcpy(&w, p + i, len - i < 8 ? len - i : 8);
		h[lane] = (h[lane] ^ w) * DIGEST_MUL;
		h[lane] ^= h[lane] >> 29;
	}
	for (lane = 0; lane < 4; lane++)
		r = (r ^ digest_mix(h[lane])) * DIGEST_MUL;
	return digest_mix(r);
}

void
udp_recent_init(struct udp_recent *rt, const struct siphash_key *key,
    bool by_tail)
{
	memset(rt->table, 0, sizeof(rt->table));
	rt->key = *key;
	rt->by_tail = by_tail;
}

/*
 * The tag of a reply, never 0, and its set in the table: by its length
 * and digest; by_tail, a reply of UDP_RECENT_TAIL bytes or more is also
 * there by the digest of its last UDP_RECENT_TAIL (length RECENT_BY_TAIL),
 * which a datagram that ends with the reply, whatever another echo put
 * before it, ends with too.
 */
#define RECENT_BY_TAIL	UINT64_MAX

static uint64_t
recent_tag(struct udp_recent *rt, const uint64_t key[3], uint64_t len,
    uint64_t digest, struct udp_recent_entry **set)
{
	uint64_t	 in[5] = { key[0], key[1], key[2], len, digest };
	uint64_t	 tag = siphash(&rt->key, in, sizeof(in)) | 1;

	*set = rt->table[(tag >> 1) & (UDP_RECENT_SETS - 1)];
	return tag;
}

static uint64_t
recent_tail_digest(struct udp_recent *rt, const uint8_t *data, size_t len)
{
	return udp_digest(&rt->key, data + len - UDP_RECENT_TAIL,
	    UDP_RECENT_TAIL);
}

static bool
recent_is(const struct udp_recent_entry *r, uint64_t tag, size_t len,
    uint64_t digest, uint64_t now)
{
	return r->tag == tag && r->len == len && r->check == (uint32_t)digest &&
	    (uint32_t)now - r->ms <= UDP_RETURN_MSEC;
}

struct udp_recent_entry *
udp_recent_find(struct udp_recent *rt, const uint64_t key[3], size_t len,
    uint64_t digest, uint64_t now)
{
	struct udp_recent_entry	*set;
	uint64_t		 tag = recent_tag(rt, key, len, digest, &set);
	size_t			 i;

	for (i = 0; i < UDP_RECENT_WAYS; i++)
		if (recent_is(&set[i], tag, len, digest, now))
			return &set[i];
	return NULL;
}

/* One entry of a reply: in the place of the oldest of its set. */
static void
recent_put(struct udp_recent_entry *set, uint64_t tag, size_t len,
    uint64_t digest, uint64_t now, unsigned int hops)
{
	struct udp_recent_entry	*r, *oldest = set;

	for (r = set; r < set + UDP_RECENT_WAYS; r++) {
		if (r->tag == tag && r->len == len &&
		    r->check == (uint32_t)digest)
			break;
		if ((uint32_t)now - r->ms > (uint32_t)now - oldest->ms)
			oldest = r;
	}
	if (r == set + UDP_RECENT_WAYS) {
		r = oldest;
		r->tag = tag;
		r->len = (uint32_t)len;
		r->check = (uint32_t)digest;
		r->returns = 0;
	} else if ((uint32_t)now - r->ms > UDP_RETURN_MSEC)
		r->returns = 0;	/* it did not come back in time */
	if (r->returns < hops)
		r->returns = hops;
	r->ms = (uint32_t)now;
}

void
udp_recent_note(struct udp_recent *rt, const uint64_t key[3],
    const uint8_t *reply, size_t len, uint64_t digest, uint64_t now,
    unsigned int hops)
{
	struct udp_recent_entry	*set;
	uint64_t		 tag;

	tag = recent_tag(rt, key, len, digest, &set);
	recent_put(set, tag, len, digest, now, hops);
	if (!rt->by_tail || len < UDP_RECENT_TAIL)
		return;
	tag = recent_tag(rt, key, RECENT_BY_TAIL,
	    recent_tail_digest(rt, reply, len), &set);
	recent_put(set, tag, len, digest, now, hops);
}

/*
 * The datagram (len bytes, of this digest) is a reply sent to key
 * lately, or ends with one: the one come back most often if several (a
 * loop whose replies grow: each ends with the one before).  Each
 * candidate found by the datagram's last bytes costs the digest of its
 * length.
 */
struct udp_recent_entry *
udp_recent_ending(struct udp_recent *rt, const uint64_t key[3],
    const uint8_t *data, size_t len, uint64_t digest, uint64_t now)
{
	struct udp_recent_entry	*set, *r, *best;
	uint64_t		 tag;

	best = udp_recent_find(rt, key, len, digest, now);
	if (len < UDP_RECENT_TAIL)
		return best;
	tag = recent_tag(rt, key, RECENT_BY_TAIL,
	    recent_tail_digest(rt, data, len), &set);
	for (r = set; r < set + UDP_RECENT_WAYS; r++) {
		if (r->tag != tag || r->len >= len ||
		    (best != NULL && r->returns <= best->returns))
			continue;
		if (recent_is(r, tag, r->len, udp_digest(&rt->key,
		    data + len - r->len, r->len), now))
			best = r;
	}
	return best;
}
