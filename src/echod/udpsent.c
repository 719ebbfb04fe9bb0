/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "udprecent.h"	/* udp_digest */
#include "udpsent.h"

/*
 * Without a prefix, a reply shorter than SENT_INSIDE_MIN is too likely
 * inside an honest request to be looked for there, and padding puts a
 * reply's first bytes in many places, of which SENT_INSIDE_PLACES are
 * looked at.
 */
#define SENT_INSIDE_MIN		8
#define SENT_INSIDE_PLACES	64

struct udp_sent_table *
udp_sent_new(const struct siphash_key *key, const char *prefix,
    size_t prefix_len)
{
	struct udp_sent_table	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->key = *key;
	t->prefix = (const uint8_t *)prefix;
	t->prefix_len = prefix_len;
	t->client_min = UDP_CLIENT_PORT_MIN;
	t->client_max = UDP_CLIENT_PORT_MAX;
	return t;
}

void
udp_sent_free(struct udp_sent_table *t)
{
	free(t);
}

void
udp_sent_client_ports(struct udp_sent_table *t, uint16_t min, uint16_t max)
{
	t->client_min = min;
	t->client_max = max;
}

/* Outside the kernel's range for clients: where servers, and echoes, are. */
bool
udp_sent_server_port(const struct udp_sent_table *t, uint16_t port)
{
	return port < t->client_min || port > t->client_max;
}

/*
 * How readily a slot makes room: a free or expired one first, then one
 * of a client's port, then a server's (as in udprecent.c: busy clients
 * do not push out the turn of a slow loop).
 */
static int
sent_spare(const struct udp_sent_table *t, const struct udp_sent *s,
    uint64_t now)
{
	if (s->last_ms == 0 || now - s->last_ms > UDP_RETURN_MSEC)
		return 2;
	return !udp_sent_server_port(t, (uint16_t)s->key[2]);
}

/*
 * The slot of key (address, port), or NULL; with now (not 0), a new one
 * if none, in the place of the sparest, seen longest ago.
 */
static struct udp_sent *
sent_slot(struct udp_sent_table *t, const uint64_t key[3], uint64_t now)
{
	struct udp_sent	*set, *victim;
	uint64_t	 h = siphash_memo(&t->key, &t->memo, key);
	size_t		 i;
	int		 spare, most;

	set = t->sets[h & (UDP_GUARD_SETS - 1)];
	for (i = 0; i < UDP_GUARD_WAYS; i++)
		if (set[i].last_ms != 0 && memcmp(set[i].key, key,
		    sizeof(set[i].key)) == 0)
			return &set[i];
	if (now == 0)
		return NULL;
	victim = &set[0];
	most = sent_spare(t, victim, now);
	for (i = 1; i < UDP_GUARD_WAYS; i++) {
		spare = sent_spare(t, &set[i], now);
		if (spare > most || (spare == most &&
		    set[i].last_ms < victim->last_ms)) {
			victim = &set[i];
			most = spare;
		}
	}
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->key, key, sizeof(victim->key));
	return victim;
}

/* Whether the reply r is in the datagram at p. */
static bool
sent_holds_at(const struct udp_sent_table *t, const struct udp_reply *r,
    const struct udp_dgram *d, const uint8_t *p)
{
	return memcmp(p, r->head, r->head_len) == 0 && (r->len == d->len ?
	    d->digest : udp_digest(&t->key, p, r->len)) == r->digest;
}

/*
 * With a prefix: whether the reply r follows it at q, whole with more
 * after it (an echo that adds before and after), or cut short (an echo
 * that read it into too short a buffer), only its first bytes then
 * compared: after our prefix, that is evidence enough (no client sends
 * it back).
 */
static bool
sent_holds_after(const struct udp_sent_table *t, const struct udp_reply *r,
    const struct udp_dgram *d, const uint8_t *q)
{
	size_t	 rest = d->len - (size_t)(q - d->data);

	if (rest > r->len)
		return sent_holds_at(t, r, d, q);
	return rest < r->len && rest > 0 && memcmp(q, r->head,
	    rest < r->head_len ? rest : r->head_len) == 0;
}

/*
 * Without a prefix, where the reply r is inside the datagram past its
 * start, with more after it (an echo that adds before and after), or 0:
 * where the other echo put the reply before, as most add the same each
 * turn, else where r's first bytes are, and its last bytes as far on,
 * in the first UDP_RECENT_SEARCH bytes, two digests at most.  The start
 * of a reply is no evidence (requests alike begin alike), so cut short
 * is not looked for; a short reply's loop is known once it has grown.
 */
static size_t
sent_inside_plain(const struct udp_sent_table *t, const struct udp_reply *r,
    const struct udp_dgram *d)
{
	const uint8_t	*p, *q, *end;
	size_t		 last, places = 0, digests = 0;

	if (r->len < SENT_INSIDE_MIN || d->len < r->len + 2)
		return 0;
	last = d->len - r->len - 1;	/* the last place with more after */
	if (r->at != 0 && r->at <= last &&
	    sent_holds_at(t, r, d, d->data + r->at))
		return r->at;
	if (last > UDP_RECENT_SEARCH)
		last = UDP_RECENT_SEARCH;
	end = d->data + last + r->head_len;
	for (p = d->data + 1; places < SENT_INSIDE_PLACES && p < end;
	    places++, p = q + 1) {
		if ((q = memmem(p, (size_t)(end - p), r->head,
		    r->head_len)) == NULL)
			return 0;
		if (r->len >= UDP_RECENT_END && memcmp(q + r->len -
		    UDP_RECENT_END, r->tail, UDP_RECENT_END) != 0)
			continue;
		if (++digests > 2)
			return 0;
		if (sent_holds_at(t, r, d, q))
			return (size_t)(q - d->data);
	}
	return 0;
}

/*
 * Whether the datagram ends with our prefix and the reply r, or without
 * a prefix begins with r (an echo that adds after it), or holds it
 * inside (*at: where, if so, without a prefix).  An empty reply is in
 * every datagram: only itself is it come back.
 */
static bool
sent_matches(const struct udp_sent_table *t, const struct udp_reply *r,
    const struct udp_dgram *d, size_t *at)
{
	size_t		 tail = t->prefix_len + r->len, n;
	const uint8_t	*end = d->data + d->len;

	*at = 0;
	if (r->ms == 0 || d->now - r->ms > UDP_RETURN_MSEC)
		return false;
	if (tail == 0)
		return d->len == 0;
	if (d->len >= tail && memcmp(end - tail, t->prefix,
	    t->prefix_len) == 0 && sent_holds_at(t, r, d, end - r->len))
		return true;
	if (t->prefix_len == 0 && r->len < d->len &&
	    sent_holds_at(t, r, d, d->data))
		return true;
	if (t->prefix_len == 0)
		return (*at = sent_inside_plain(t, r, d)) != 0;
	/* With one, inside is after our prefix where another echo put it. */
	for (n = 0; n < d->nafter; n++)
		if (sent_holds_after(t, r, d, d->after[n]))
			return true;
	return false;
}

/* Of those it continues, the reply come back most often in a row. */
void
udp_sent_continued(struct udp_sent_table *t, const uint64_t key[3],
    const struct udp_dgram *d, struct udp_cont *cont)
{
	struct udp_sent		*s = sent_slot(t, key, 0);
	struct udp_reply	*r;
	size_t			 at;

	cont->r = NULL;
	cont->at = 0;
	if ((cont->s = s) == NULL)
		return;
	for (r = s->r; r < s->r + UDP_RETURN_REPLIES; r++)
		if ((cont->r == NULL || r->returns > cont->r->returns) &&
		    sent_matches(t, r, d, &at)) {
			cont->r = r;
			cont->at = (uint16_t)at;
		}
}

/*
 * The reply about to go to key, len bytes of the datagram with this
 * digest, the hops of the loop it would continue.  The same reply again
 * keeps its count of returns, unless it has not come back for
 * UDP_RETURN_MSEC; another takes the place of the one it continues, else
 * of the oldest: loops side by side, answered within one millisecond,
 * would otherwise each push out another's last turn.
 */
void
udp_sent_note(struct udp_sent_table *t, const uint64_t key[3],
    const struct udp_dgram *d, size_t len, uint64_t digest,
    unsigned int hops, const struct udp_cont *cont)
{
	struct udp_sent		*s = sent_slot(t, key, d->now);
	struct udp_reply	*r, *oldest = s->r;
	uint64_t		 now = d->now;

	s->last_ms = now;
	if (len < d->len)
		s->cut_ms = now;
	for (r = s->r; r < s->r + UDP_RETURN_REPLIES; r++) {
		if (r->ms != 0 && r->digest == digest && r->len == len)
			break;
		if (r->ms < oldest->ms)
			oldest = r;
	}
	if (r == s->r + UDP_RETURN_REPLIES) {
		r = cont->r != NULL ? cont->r : oldest;
		memset(r, 0, sizeof(*r));
		r->digest = digest;
		r->len = len;
		r->head_len = len < sizeof(r->head) ? len : sizeof(r->head);
		memcpy(r->head, d->data, r->head_len);
		if (len >= sizeof(r->tail))
			memcpy(r->tail, d->data + len - sizeof(r->tail),
			    sizeof(r->tail));
		r->at = cont->at;
	} else if (now - r->ms > UDP_RETURN_MSEC)
		r->returns = 0;	/* it did not come back in time */
	if (r->returns < hops)
		r->returns = (uint16_t)hops;
	r->ms = now;
}

/*
 * Without a prefix, the places where a reply of the thread's table is
 * looked for inside a datagram from a server's port, of its first
 * UDP_RECENT_SEARCH bytes (a reply of UDP_RECENT_END bytes or more, with
 * more after it): where one was found last from that address and port,
 * and from any, and the next place in turn, one a datagram (the
 * sender's turn if echod answered it lately, else the thread's).  Loops
 * forged by the thousand with an echo that wraps each reply the same way
 * outrun the last few replies to each address and port, and their slots
 * too when each loop has its own echo; the thread's table finds a reply
 * by its ends only, and looking everywhere would cost a digest a byte.
 * The first loops run on until one is found at its place, a datagram for
 * each byte the echo puts before.
 */
size_t
udp_sent_wrap_places(struct udp_sent_table *t, struct udp_cont *cont,
    size_t len, size_t places[UDP_WRAP_PLACES])
{
	uint16_t	*probe = cont->s != NULL ? &cont->s->probe : &t->probe;
	size_t		 n = 0, i, last;

	if (len <= UDP_RECENT_END + 1)
		return 0;
	last = len - UDP_RECENT_END - 1;	/* the last place, more after */
	if (last > UDP_RECENT_SEARCH)
		last = UDP_RECENT_SEARCH;
	if (cont->s != NULL && cont->s->wrap_at != 0 &&
	    cont->s->wrap_at <= last)
		places[n++] = cont->s->wrap_at;
	if (t->wrap_at != 0 && t->wrap_at <= last &&
	    (n == 0 || places[0] != t->wrap_at))
		places[n++] = t->wrap_at;
	*probe = (uint16_t)(*probe % last + 1);
	for (i = 0; i < n && places[i] != *probe; i++)
		continue;
	if (i == n)
		places[n++] = *probe;
	return n;
}

void
udp_sent_wrap_found(struct udp_sent_table *t, struct udp_cont *cont,
    size_t at)
{
	if (cont->s != NULL)
		cont->s->wrap_at = (uint16_t)at;
	t->wrap_at = (uint16_t)at;
}

/*
 * A reply cut to fit one datagram, when the last reply to the same
 * address and port was cut too within UDP_RETURN_MSEC: a datagram that
 * big is what two echoes with prefixes send each other once a loop's
 * reply has grown to the limit, each cutting off what the other's
 * prefix added, so that what comes back no longer ends with what was
 * sent.  A client sending the largest datagrams gets one cut reply
 * every UDP_RETURN_MSEC.
 */
bool
udp_sent_cut_again(struct udp_sent_table *t, const uint64_t key[3],
    uint64_t now)
{
	struct udp_sent	*s = sent_slot(t, key, 0);

	return s != NULL && s->cut_ms != 0 &&
	    now - s->cut_ms <= UDP_RETURN_MSEC;
}
