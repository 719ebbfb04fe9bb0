/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <stdlib.h>
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

struct udp_recent *
udp_recent_new(const struct siphash_key *key, const char *prefix,
    size_t prefix_len)
{
	struct udp_recent	*rt;

	if ((rt = calloc(1, sizeof(*rt))) == NULL)
		return NULL;
	rt->key = *key;
	rt->prefix = (const uint8_t *)prefix;
	rt->prefix_len = prefix_len;
	return rt;
}

void
udp_recent_free(struct udp_recent *rt)
{
	free(rt);
}

/*
 * The tag of a reply, never 0, and its set in the table.  A reply
 * shorter than UDP_RECENT_END is there by its length and digest; a
 * longer one by the digest of its last UDP_RECENT_END (length
 * RECENT_BY_TAIL), which the reply itself, and a datagram that ends with
 * it whatever another echo put before it, end with too, and by its first
 * (RECENT_BY_HEAD): without a prefix, for an echo that adds something
 * after it; with one, for an echo that cuts it short (reads into a
 * buffer smaller than the datagram).  One entry or two a reply: the
 * fewer, the longer each stays.
 */
#define RECENT_BY_TAIL	UINT64_MAX
#define RECENT_BY_HEAD	(UINT64_MAX - 1)

static uint64_t
recent_tag(struct udp_recent *rt, const uint64_t key[3], uint64_t len,
    uint64_t digest, struct udp_recent_entry **set)
{
	uint64_t	 h = siphash_memo(&rt->key, &rt->memo, key);
	uint64_t	 tag;

	/*
	 * The address's SipHash, secret, mixed with the length and the
	 * keyed digest: nobody without the key can aim replies at one set,
	 * at a quarter of the cost of SipHash over all five.
	 */
	tag = digest_mix(((h ^ len) * DIGEST_MUL) ^ digest) | 1;

	*set = rt->table[(tag >> 1) & (UDP_RECENT_SETS - 1)];
	return tag;
}

/* The tag of the end of a reply or datagram: its head or its tail. */
static uint64_t
recent_end_tag(struct udp_recent *rt, const uint64_t key[3],
    const uint8_t *data, size_t len, uint64_t end,
    struct udp_recent_entry **set)
{
	const uint8_t	*p = end == RECENT_BY_HEAD ? data :
			    data + len - UDP_RECENT_END;

	return recent_tag(rt, key, end, udp_digest(&rt->key, p,
	    UDP_RECENT_END), set);
}

static bool
recent_is(const struct udp_recent_entry *r, uint64_t tag, size_t len,
    uint64_t digest, uint64_t now)
{
	return r->tag == tag && r->len == len && r->check == (uint32_t)digest &&
	    (uint32_t)now - r->ms <= UDP_RETURN_MSEC;
}

struct udp_recent_entry *
udp_recent_find(struct udp_recent *rt, const uint64_t key[3],
    const uint8_t *data, size_t len, uint64_t digest, uint64_t now)
{
	struct udp_recent_entry	*set;
	uint64_t		 tag;
	size_t			 i;

	if (len < UDP_RECENT_END)
		tag = recent_tag(rt, key, len, digest, &set);
	else
		tag = recent_end_tag(rt, key, data, len, RECENT_BY_TAIL, &set);
	for (i = 0; i < UDP_RECENT_WAYS; i++)
		if (recent_is(&set[i], tag, len, digest, now))
			return &set[i];
	return NULL;
}

/*
 * How readily an entry makes room: a free or expired one first, then
 * one that went to a client's port, then a server's.  Honest traffic,
 * however busy, comes from clients' ports, and so does not push out
 * the turn of a slow loop with a server.
 */
static int
recent_spare(const struct udp_recent_entry *r, uint64_t now)
{
	if (r->tag == 0 || (uint32_t)now - r->ms > UDP_RETURN_MSEC)
		return 2;
	return !r->server;
}

/*
 * A set full of replies to servers' ports, none expired: the oldest that
 * shares its tag with another there, else v.  Replies that end (or
 * begin) alike keep only a few of their many in a set anyway, and each
 * is found by its other end as well; one alone of its tag may be the
 * last entry of its loop (4,000 loops forged at once, whose tails 100
 * shared 40 times, filled sets and pushed out the turn of a loop).
 */
static struct udp_recent_entry *
recent_crowded(struct udp_recent_entry *set, struct udp_recent_entry *v,
    uint64_t now)
{
	struct udp_recent_entry	*r, *o, *shared = NULL;

	for (r = set; r < set + UDP_RECENT_WAYS; r++) {
		for (o = set; o < set + UDP_RECENT_WAYS; o++)
			if (o != r && o->tag == r->tag)
				break;
		if (o < set + UDP_RECENT_WAYS && (shared == NULL ||
		    (uint32_t)now - r->ms > (uint32_t)now - shared->ms))
			shared = r;
	}
	return shared != NULL ? shared : v;
}

/*
 * The entry of a set that makes room for one of this tag: the sparest,
 * oldest; but of the same tag, if UDP_RECENT_ALIKE are already there.
 * Replies that end (or begin) alike share a tag and so a set: many of
 * them (a client whose datagrams all begin with the same 16 bytes)
 * would otherwise flush the other replies that happen to be there.
 */
static struct udp_recent_entry *
recent_victim(struct udp_recent_entry *set, uint64_t tag, uint64_t now)
{
	struct udp_recent_entry	*r, *v = NULL, *alike = NULL;
	int			 spare, most = 0;
	unsigned int		 n = 0;

	for (r = set; r < set + UDP_RECENT_WAYS; r++) {
		spare = recent_spare(r, now);
		if (r->tag == tag && spare < 2) {
			n++;
			if (alike == NULL || (uint32_t)now - r->ms >
			    (uint32_t)now - alike->ms)
				alike = r;
		}
		if (v == NULL || spare > most || (spare == most &&
		    (uint32_t)now - r->ms > (uint32_t)now - v->ms)) {
			v = r;
			most = spare;
		}
	}
	if (n >= UDP_RECENT_ALIKE)
		return alike;
	return most == 0 ? recent_crowded(set, v, now) : v;
}

/*
 * One entry of a reply: in the place of the one it is the next turn of
 * (its end's set holds all of that loop's replies, which would push out
 * other loops' turns), else of recent_victim().
 */
static void
recent_put(struct udp_recent_entry *set, uint64_t tag, size_t len,
    uint64_t digest, uint64_t now, const struct udp_turn *turn)
{
	struct udp_recent_entry	*r;

	for (r = set; r < set + UDP_RECENT_WAYS; r++)
		if (r->tag == tag && r->len == len &&
		    r->check == (uint32_t)digest)
			break;
	if (r == set + UDP_RECENT_WAYS) {
		if (turn->was >= set && turn->was < set + UDP_RECENT_WAYS &&
		    turn->was->tag == tag)
			r = turn->was;
		else
			r = recent_victim(set, tag, now);
		r->tag = tag;
		r->len = (uint32_t)len;
		r->check = (uint32_t)digest;
		r->returns = 0;
	} else if ((uint32_t)now - r->ms > UDP_RETURN_MSEC)
		r->returns = 0;	/* it did not come back in time */
	if (r->returns < turn->hops)
		r->returns = (uint16_t)turn->hops;
	r->server = turn->server;
	r->ms = (uint32_t)now;
}

void
udp_recent_note(struct udp_recent *rt, const uint64_t key[3],
    const uint8_t *reply, size_t len, uint64_t digest, uint64_t now,
    const struct udp_turn *turn)
{
	struct udp_recent_entry	*set;
	uint64_t		 tag;

	if (len < UDP_RECENT_END) {
		tag = recent_tag(rt, key, len, digest, &set);
		recent_put(set, tag, len, digest, now, turn);
		return;
	}
	tag = recent_end_tag(rt, key, reply, len, RECENT_BY_TAIL, &set);
	recent_put(set, tag, len, digest, now, turn);
	tag = recent_end_tag(rt, key, reply, len, RECENT_BY_HEAD, &set);
	recent_put(set, tag, len, digest, now, turn);
}

/*
 * Of the replies the datagram's end (RECENT_BY_TAIL or _HEAD) finds, the
 * one it holds whole at that end (at the tail, after the prefix; the
 * datagram itself, of this digest, found by its tail) that came back
 * more often than best.
 */
static struct udp_recent_entry *
recent_best_at(struct udp_recent *rt, const uint64_t key[3],
    const uint8_t *data, size_t len, uint64_t digest, uint64_t end,
    uint64_t now, struct udp_recent_entry *best)
{
	struct udp_recent_entry	*set, *r;
	uint64_t		 tag;
	const uint8_t		*p;

	tag = recent_end_tag(rt, key, data, len, end, &set);
	for (r = set; r < set + UDP_RECENT_WAYS; r++) {
		if (r->tag != tag || r->len + rt->prefix_len > len ||
		    (end == RECENT_BY_HEAD && r->len == len) ||
		    (best != NULL && r->returns <= best->returns))
			continue;
		p = end == RECENT_BY_HEAD ? data : data + len - r->len;
		if (end == RECENT_BY_TAIL && memcmp(p - rt->prefix_len,
		    rt->prefix, rt->prefix_len) != 0)
			continue;
		if (recent_is(r, tag, r->len, r->len == len ? digest :
		    udp_digest(&rt->key, p, r->len), now))
			best = r;
	}
	return best;
}

/*
 * With a prefix, a reply of UDP_RECENT_END bytes or more sent to key
 * lately that begins with the UDP_RECENT_END bytes at data: what comes
 * back after our prefix from an echo that cuts what it reads short.
 * Only those bytes can be compared; no client sends our prefix back.
 */
struct udp_recent_entry *
udp_recent_begun(struct udp_recent *rt, const uint64_t key[3],
    const uint8_t *data, uint64_t now)
{
	struct udp_recent_entry	*set, *r;
	uint64_t		 tag;

	tag = recent_end_tag(rt, key, data, UDP_RECENT_END, RECENT_BY_HEAD,
	    &set);
	for (r = set; r < set + UDP_RECENT_WAYS; r++)
		if (r->tag == tag && (uint32_t)now - r->ms <= UDP_RETURN_MSEC)
			return r;
	return NULL;
}

/*
 * Without a prefix, the datagram (len bytes, of this digest) is a reply
 * sent to key lately, or begins or ends with one: the one come back most
 * often if several (a loop whose replies grow: each holds the one
 * before).  With one, the datagram ends with the prefix and a reply of
 * UDP_RECENT_END bytes or more (digest unused): what another echo sends
 * back whatever it puts before it.  Each candidate found by the
 * datagram's ends costs the digest of its length.
 */
struct udp_recent_entry *
udp_recent_holding(struct udp_recent *rt, const uint64_t key[3],
    const uint8_t *data, size_t len, uint64_t digest, uint64_t now)
{
	struct udp_recent_entry	*best;

	if (len < UDP_RECENT_END)
		return rt->prefix_len == 0 ? udp_recent_find(rt, key, data,
		    len, digest, now) : NULL;
	best = recent_best_at(rt, key, data, len, digest, RECENT_BY_TAIL,
	    now, NULL);
	if (rt->prefix_len != 0)
		return best;
	return recent_best_at(rt, key, data, len, digest, RECENT_BY_HEAD,
	    now, best);
}

struct udp_recent_entry *
udp_recent_inside(struct udp_recent *rt, const uint64_t key[3],
    const uint8_t *data, size_t len, size_t at, uint64_t now)
{
	if (len < at + UDP_RECENT_END + 1)
		return NULL;
	/*
	 * At the head, a reply as long as what is left is passed over: it
	 * ends the datagram, and udp_recent_holding() finds it by its tail.
	 */
	return recent_best_at(rt, key, data + at, len - at, 0,
	    RECENT_BY_HEAD, now, NULL);
}
