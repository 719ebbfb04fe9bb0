/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "udpguard.h"
#include "udprate.h"
#include "udprecent.h"
#include "udpsketch.h"

/*
 * Ports of UDP services that answer anything: an echo reply forged to
 * come from one of them starts a loop, or makes echod reflect at it.
 * Those below 1024 are refused anyway; these are the ones above.
 */
static const uint16_t service_ports[] = {
	1434,	/* Microsoft SQL Server resolution */
	1900,	/* SSDP */
	3283,	/* Apple Remote Desktop */
	3478,	/* STUN */
	3702,	/* WS-Discovery */
	5060,	/* SIP */
	5353,	/* mDNS */
	5683,	/* CoAP */
	10001,	/* Ubiquiti discovery */
	11211,	/* memcached */
	27015,	/* Source engine queries */
};

/* One reply sent: its payload's digest. */
struct reply {
	uint64_t	 digest;
	uint64_t	 ms;		/* when; 0: none */
	uint32_t	 len;		/* of the payload, after the prefix */
	uint16_t	 returns;	/* come back in a row */
	uint16_t	 at;		/* where the reply before was inside */
	uint8_t		 head_len;
	uint8_t		 head[UDP_RECENT_END];	/* its first bytes */
	uint8_t		 tail[UDP_RECENT_END];	/* and last, if as many */
};

/* The reply a datagram continues, and where it was inside (0: not). */
struct cont {
	struct reply	*r;
	uint16_t	 at;
};

/*
 * The replies last sent to one address and port, several: loops forged
 * side by side would otherwise each find the other's reply the last.
 */
struct sent {
	uint64_t	 key[3];	/* address, family and port */
	uint64_t	 last_ms;	/* 0: free slot */
	uint64_t	 cut_ms;	/* last reply cut to fit; 0: none */
	struct reply	 r[UDP_RETURN_REPLIES];
};

struct udp_guard {
	const char		*prefix;
	size_t			 prefix_len;
	struct siphash_key	 key;
	uint16_t		 client_min, client_max;
	unsigned int		 client_repeats;	/* UDP_RETURNS_CLIENT */
	uint8_t			 refused[65536 / 8];	/* one bit a port */
	struct udp_rate		 rate;
	struct sent		 sent[UDP_GUARD_SETS][UDP_GUARD_WAYS];
	struct udp_recent	 recent;
	struct udp_sketch	 sketch;	/* what recent outruns */
};

/*
 * The datagram judged, and its digest: made once, for the rules and for
 * the record of the reply.  Only the rules without a prefix want it
 * before the verdict; with one, only an answer's record does.
 */
struct dgram {
	const uint8_t	*data;
	size_t		 len;
	uint64_t	 digest;	/* of all of it; with a prefix, 0 */
	uint64_t	 now;		/* ms, never 0 */
	const uint8_t	*after[2];	/* with a prefix: see guard_prefixed() */
	size_t		 nafter;
};

static void
port_refuse(struct udp_guard *g, uint16_t port)
{
	g->refused[port >> 3] |= 1 << (port & 7);
}

bool
udp_port_is_service(uint16_t port)
{
	size_t	 i;

	for (i = 0; i < sizeof(service_ports) / sizeof(service_ports[0]); i++)
		if (service_ports[i] == port)
			return true;
	return false;
}

struct udp_guard *
udp_guard_new(const char *prefix, size_t prefix_len,
    const struct udp_limits *limits, const struct siphash_key *key)
{
	struct udp_guard	*g;
	size_t			 i;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->prefix = prefix;
	g->prefix_len = prefix_len;
	udp_rate_init(&g->rate, limits, key);
	udp_recent_init(&g->recent, key, prefix, prefix_len);
	udp_sketch_init(&g->sketch, 1);
	g->key = *key;
	g->client_min = UDP_CLIENT_PORT_MIN;
	g->client_max = UDP_CLIENT_PORT_MAX;
	g->client_repeats = UDP_RETURNS_CLIENT;
	for (i = 0; i < sizeof(service_ports) / sizeof(service_ports[0]); i++)
		port_refuse(g, service_ports[i]);
	return g;
}

void
udp_guard_free(struct udp_guard *g)
{
	free(g);
}

void
udp_guard_own_port(struct udp_guard *g, uint16_t port)
{
	port_refuse(g, port);
}

/* The ports the kernel gives clients that do not choose theirs. */
void
udp_guard_client_ports(struct udp_guard *g, uint16_t min, uint16_t max)
{
	g->client_min = min;
	g->client_max = max;
}

/*
 * How many repeats from a client's port are answered before one is not:
 * where an operator puts the line between a monitor that repeats itself
 * and a loop with an echo on such a port, which look the same.
 */
void
udp_guard_client_repeats(struct udp_guard *g, unsigned int n)
{
	g->client_repeats = n < UDP_RETURNS_CLIENT_MAX ? n :
	    UDP_RETURNS_CLIENT_MAX;
}

/* The sender's port and rate-limit key; false if it has none. */
static bool
guard_sender(const struct sockaddr *sa, socklen_t len, uint16_t *port,
    uint64_t key[2], size_t *headers)
{
	const struct sockaddr_in	*sin = (const void *)sa;
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	uint32_t			 v4;

	if (sa->sa_family == AF_INET && len >= sizeof(*sin)) {
		memcpy(&v4, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
		*headers = 28;
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(*sin6)) {
		*port = ntohs(sin6->sin6_port);
		*headers = 28;		/* v4-mapped: it travels as IPv4 */
		if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			*headers = 48;
			/* One /64 is one site: limited as one source. */
			memcpy(&key[0], &sin6->sin6_addr, 8);
			key[1] = 6;
			return true;
		}
		memcpy(&v4, &sin6->sin6_addr.s6_addr[12], 4);
	} else
		return false;
	key[0] = v4;
	key[1] = 4;
	return true;
}


/* The sender's address and port, whole, as a key of the sent table. */
static void
guard_sent_key(const struct sockaddr *sa, uint64_t key[3])
{
	const struct sockaddr_in	*sin = (const void *)sa;
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	uint32_t			 v4;

	/* guard_sender() has checked the family and length. */
	if (sa->sa_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memcpy(key, &sin6->sin6_addr, 16);
		key[2] = 6 << 16 | ntohs(sin6->sin6_port);
		return;
	}
	if (sa->sa_family == AF_INET) {
		memcpy(&v4, &sin->sin_addr, 4);
		key[2] = 4 << 16 | ntohs(sin->sin_port);
	} else {
		memcpy(&v4, &sin6->sin6_addr.s6_addr[12], 4);
		key[2] = 4 << 16 | ntohs(sin6->sin6_port);
	}
	key[0] = v4;
	key[1] = 0;
}

/*
 * How readily a slot makes room: a free or expired one first, then one
 * of a client's port, then a server's (as in udprecent.c: busy clients
 * do not push out the turn of a slow loop).
 */
static int
sent_spare(const struct udp_guard *g, const struct sent *s, uint64_t now)
{
	uint16_t	 port = (uint16_t)s->key[2];

	if (s->last_ms == 0 || now - s->last_ms > UDP_RETURN_MSEC)
		return 2;
	return port >= g->client_min && port <= g->client_max;
}

/*
 * The sender's slot in the sent table, or NULL; with now (not 0), a new
 * one if none, in the place of the sparest, seen longest ago.
 */
static struct sent *
guard_sent(struct udp_guard *g, const uint64_t key[3], uint64_t now)
{
	struct sent	*set, *victim;
	uint64_t	 h = siphash(&g->key, key, 3 * sizeof(key[0]));
	size_t		 i;
	int		 spare, most;

	set = g->sent[h & (UDP_GUARD_SETS - 1)];
	for (i = 0; i < UDP_GUARD_WAYS; i++)
		if (set[i].last_ms != 0 && memcmp(set[i].key, key,
		    sizeof(set[i].key)) == 0)
			return &set[i];
	if (now == 0)
		return NULL;
	victim = &set[0];
	most = sent_spare(g, victim, now);
	for (i = 1; i < UDP_GUARD_WAYS; i++) {
		spare = sent_spare(g, &set[i], now);
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


/* A reply's tag in the sketch: its address, port, length and digest. */
static uint64_t
guard_sketch_tag(const struct udp_guard *g, const uint64_t key[3],
    size_t len, uint64_t digest)
{
	uint64_t	 in[5] = { key[0], key[1], key[2], len, ~digest };

	return siphash(&g->key, in, sizeof(in));
}

/*
 * With a prefix: where another echo has put ours, in the datagram's
 * first UDP_RECENT_SEARCH bytes past its start (its start is refused
 * before), what follows, where a reply come back is looked for.  Each
 * place costs digests, so two at most.
 */
static void
guard_prefixed(const struct udp_guard *g, struct dgram *d)
{
	const uint8_t	*p, *end;

	end = d->data + (d->len < UDP_RECENT_SEARCH ? d->len :
	    UDP_RECENT_SEARCH);
	for (p = d->data + 1; d->nafter < 2 && p < end; p++) {
		if ((p = memmem(p, (size_t)(end - p), g->prefix,
		    g->prefix_len)) == NULL)
			break;
		d->after[d->nafter++] = p + g->prefix_len;
	}
}

/*
 * With a prefix, a reply come back that the sent table no longer holds:
 * what follows our prefix where another echo's prefix put it, in the
 * thread's table or, from a server's port, in the sketch; or the start
 * of one, from an echo that cut it short.
 */
static bool
guard_recent_returned(struct udp_guard *g, const uint64_t key[3],
    const struct dgram *d, bool server)
{
	const uint8_t		*q;
	uint64_t		 digest;
	size_t			 tail, i;

	for (i = 0; i < d->nafter; i++) {
		q = d->after[i];
		tail = d->len - (size_t)(q - d->data);
		digest = udp_digest(&g->key, q, tail);
		if (udp_recent_find(&g->recent, key, q, tail, digest,
		    d->now) != NULL || (server && udp_sketch_get(&g->sketch,
		    guard_sketch_tag(g, key, tail, digest), d->now) != 0))
			return true;
		/* An echo that reads into a buffer cuts our reply short. */
		if (tail >= UDP_RECENT_END && udp_recent_begun(&g->recent,
		    key, q, d->now) != NULL)
			return true;
	}
	return false;
}

/*
 * Without a prefix, from a server's port, when neither table holds the
 * datagram: how often it has come back by the sketch (stored one more
 * than a reply's returns, 0 if not there).  If that makes it refused,
 * it goes into the thread's table with no returns, where a client that
 * goes on repeating it is found first, refused again only as often as
 * the table has it refused.
 */
static unsigned int
guard_sketched(struct udp_guard *g, const uint64_t key[3],
    const struct dgram *d)
{
	static const struct udp_turn	 fresh = { NULL, 0, true };
	unsigned int			 n;

	n = udp_sketch_get(&g->sketch, guard_sketch_tag(g, key, d->len,
	    d->digest), d->now);
	if (n > UDP_RETURNS_SERVER)
		udp_recent_note(&g->recent, key, d->data, d->len, d->digest,
		    d->now, &fresh);
	return n;
}

/* Whether the reply r is in the datagram at p. */
static bool
guard_holds_at(struct udp_guard *g, const struct reply *r,
    const struct dgram *d, const uint8_t *p)
{
	return memcmp(p, r->head, r->head_len) == 0 && (r->len == d->len ?
	    d->digest : udp_digest(&g->key, p, r->len)) == r->digest;
}

/*
 * With a prefix: whether the reply r follows it at q, whole with more
 * after it (an echo that adds before and after), or cut short (an echo
 * that read it into too short a buffer), only its first bytes then
 * compared: after our prefix, that is evidence enough (no client sends
 * it back).
 */
static bool
guard_holds_after(struct udp_guard *g, const struct reply *r,
    const struct dgram *d, const uint8_t *q)
{
	size_t	 rest = d->len - (size_t)(q - d->data);

	if (rest > r->len)
		return guard_holds_at(g, r, d, q);
	return rest < r->len && rest > 0 && memcmp(q, r->head,
	    rest < r->head_len ? rest : r->head_len) == 0;
}

/*
 * Without a prefix, whether the reply r is inside the datagram past its
 * start, with more after it (an echo that adds before and after): where
 * the other echo put the reply before, as most add the same each turn,
 * else where r's first bytes are, and its last bytes as far on, in the
 * first UDP_RECENT_SEARCH bytes.  Padding (zeros, spaces) puts r's first
 * bytes in many places: 64 looked at, two digests at most.  The start
 * of a reply is no evidence (requests alike begin alike), so cut short
 * is not looked for, and a reply shorter than GUARD_INSIDE_MIN is too
 * likely inside an honest request: its loop is known once it has grown.
 */
#define GUARD_INSIDE_MIN	8
#define GUARD_INSIDE_PLACES	64

static size_t
guard_inside_plain(struct udp_guard *g, const struct reply *r,
    const struct dgram *d)
{
	const uint8_t	*p, *q, *end;
	size_t		 last, places = 0, digests = 0;

	if (r->len < GUARD_INSIDE_MIN || d->len < r->len + 2)
		return 0;
	last = d->len - r->len - 1;	/* the last place with more after */
	if (r->at != 0 && r->at <= last &&
	    guard_holds_at(g, r, d, d->data + r->at))
		return r->at;
	if (last > UDP_RECENT_SEARCH)
		last = UDP_RECENT_SEARCH;
	end = d->data + last + r->head_len;
	for (p = d->data + 1; places < GUARD_INSIDE_PLACES && p < end;
	    places++, p = q + 1) {
		if ((q = memmem(p, (size_t)(end - p), r->head,
		    r->head_len)) == NULL)
			return 0;
		if (r->len >= UDP_RECENT_END && memcmp(q + r->len -
		    UDP_RECENT_END, r->tail, UDP_RECENT_END) != 0)
			continue;
		if (++digests > 2)
			return 0;
		if (guard_holds_at(g, r, d, q))
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
guard_matches(struct udp_guard *g, const struct reply *r,
    const struct dgram *d, size_t *at)
{
	size_t		 tail = g->prefix_len + r->len, n;
	const uint8_t	*end = d->data + d->len;

	*at = 0;
	if (r->ms == 0 || d->now - r->ms > UDP_RETURN_MSEC)
		return false;
	if (tail == 0)
		return d->len == 0;
	if (d->len >= tail && memcmp(end - tail, g->prefix,
	    g->prefix_len) == 0 && guard_holds_at(g, r, d, end - r->len))
		return true;
	if (g->prefix_len == 0 && r->len < d->len &&
	    guard_holds_at(g, r, d, d->data))
		return true;
	if (g->prefix_len == 0)
		return (*at = guard_inside_plain(g, r, d)) != 0;
	/* With one, inside is after our prefix where another echo put it. */
	for (n = 0; n < d->nafter; n++)
		if (guard_holds_after(g, r, d, d->after[n]))
			return true;
	return false;
}

/*
 * Whether the datagram is a reply echod recently sent its sender, come
 * back (with whatever the other end put before or after it): the next
 * turn of an echo loop, which is refused.  Without a prefix a client
 * repeating one datagram sends the same, so a few such in a row are let
 * through first, turn->hops counting them; the reply to this one carries
 * the count on, so that a loop whose replies grow (what the other end
 * adds) ends within as many turns as one whose replies do not.  *was
 * is the reply of the sent table it continues, if any.
 */
static bool
guard_returned(struct udp_guard *g, const uint64_t key[3], uint16_t port,
    const struct dgram *d, struct udp_turn *turn, struct cont *was)
{
	struct sent		*s = guard_sent(g, key, 0);
	struct reply		*r, *best = NULL;
	struct udp_recent_entry	*o;
	unsigned int		 most, sketched;
	size_t			 at;

	turn->was = NULL;
	turn->hops = 0;
	turn->server = port < g->client_min || port > g->client_max;
	if (s != NULL)
		for (r = s->r; r < s->r + UDP_RETURN_REPLIES; r++)
			if ((best == NULL || r->returns > best->returns) &&
			    guard_matches(g, r, d, &at)) {
				best = r;
				was->at = (uint16_t)at;
			}
	was->r = best;
	if (g->prefix_len != 0)	/* no client sends our prefix back */
		return best != NULL || udp_recent_holding(&g->recent, key,
		    d->data, d->len, 0, d->now) != NULL ||
		    guard_recent_returned(g, key, d, turn->server);
	o = udp_recent_holding(&g->recent, key, d->data, d->len, d->digest,
	    d->now);
	if (o == NULL && best == NULL) {
		sketched = turn->server ? guard_sketched(g, key, d) : 0;
		if (sketched == 0)
			return false;
		turn->hops = sketched - 1;
	}
	turn->was = o;
	if (best != NULL)
		turn->hops = best->returns;
	if (o != NULL && o->returns > turn->hops)
		turn->hops = o->returns;
	most = turn->server ? UDP_RETURNS_SERVER : g->client_repeats;
	if (++turn->hops <= most)
		return false;
	/*
	 * One refused ends a loop: nothing is left going round.  The count
	 * starts again, so a client that was repeating itself loses that
	 * one datagram, not a second's worth.
	 */
	if (best != NULL)
		best->returns = 0;
	if (o != NULL)
		o->returns = 0;
	return true;
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
static bool
guard_cut_again(struct udp_guard *g, const uint64_t key[3], uint64_t now)
{
	struct sent	*s = guard_sent(g, key, 0);

	return s != NULL && s->cut_ms != 0 &&
	    now - s->cut_ms <= UDP_RETURN_MSEC;
}

/*
 * The reply about to go to key: what guard_returned() looks for, with
 * the hops of the loop it would continue.  The same reply again keeps
 * its count of returns, unless it has not come back for UDP_RETURN_MSEC;
 * another takes the place of the one it continues (was), else of the
 * oldest: loops side by side, answered within one millisecond, would
 * otherwise each push out another's last turn.
 */
static void
guard_sending(struct udp_guard *g, const uint64_t key[3],
    const struct dgram *d, size_t len, const struct udp_turn *turn,
    const struct cont *was)
{
	struct sent	*s = guard_sent(g, key, d->now);
	struct reply	*r, *oldest = s->r;
	const uint8_t	*data = d->data;
	uint64_t	 digest, now = d->now;
	bool		 cut = len < d->len;

	digest = cut || g->prefix_len != 0 ? udp_digest(&g->key, data, len) :
	    d->digest;

	udp_recent_note(&g->recent, key, data, len, digest, now, turn);
	if (turn->server)
		udp_sketch_put(&g->sketch, guard_sketch_tag(g, key, len,
		    digest), turn->hops + 1, now);
	s->last_ms = now;
	if (cut)
		s->cut_ms = now;
	for (r = s->r; r < s->r + UDP_RETURN_REPLIES; r++) {
		if (r->ms != 0 && r->digest == digest && r->len == len)
			break;
		if (r->ms < oldest->ms)
			oldest = r;
	}
	if (r == s->r + UDP_RETURN_REPLIES) {
		r = was->r != NULL ? was->r : oldest;
		memset(r, 0, sizeof(*r));
		r->digest = digest;
		r->len = len;
		r->head_len = len < sizeof(r->head) ? len : sizeof(r->head);
		memcpy(r->head, data, r->head_len);
		if (len >= sizeof(r->tail))
			memcpy(r->tail, data + len - sizeof(r->tail),
			    sizeof(r->tail));
		r->at = was->at;
	} else if (now - r->ms > UDP_RETURN_MSEC)
		r->returns = 0;	/* it did not come back in time */
	if (r->returns < turn->hops)
		r->returns = (uint16_t)turn->hops;
	r->ms = now;
}

/*
 * One datagram of len bytes from sa, at now_ms (monotonic): whether to
 * answer it, and with how many of its bytes after the prefix.
 */
enum udp_verdict
udp_guard_judge(struct udp_guard *g, const struct sockaddr *sa,
    socklen_t salen, const void *data, size_t len, uint64_t now_ms,
    size_t *reply_len)
{
	uint64_t	 key[2], sent_key[3];
	struct dgram	 d = { data, len, 0, now_ms + 1, { NULL, NULL }, 0 };
	struct udp_turn	 turn;
	struct cont	 was = { NULL, 0 };
	uint16_t	 port;
	size_t		 headers, room;
	enum udp_verdict v;

	*reply_len = 0;
	if (!guard_sender(sa, salen, &port, key, &headers))
		return UDP_NO_ADDRESS;
	if (port < 1024)
		return UDP_PRIVILEGED_PORT;
	if (g->refused[port >> 3] & (1 << (port & 7)))
		return udp_port_is_service(port) ? UDP_SERVICE_PORT :
		    UDP_OWN_PORT;
	if (g->prefix_len != 0 && len >= g->prefix_len &&
	    memcmp(data, g->prefix, g->prefix_len) == 0)
		return UDP_OWN_PREFIX;
	/* Twice the request on the wire at most, headers counted. */
	if (g->prefix_len > headers + len)
		return UDP_AMPLIFY;
	/* d.now is never 0, so that last_ms marks a slot in use. */
	if (g->prefix_len == 0)
		d.digest = udp_digest(&g->key, d.data, len);
	else
		guard_prefixed(g, &d);
	guard_sent_key(sa, sent_key);
	if (guard_returned(g, sent_key, port, &d, &turn, &was))
		return UDP_RETURNED;
	room = (headers == 28 ? UDP_MAX_V4 : UDP_MAX_V6) - g->prefix_len;
	*reply_len = len < room ? len : room;
	if (*reply_len < len && guard_cut_again(g, sent_key, d.now)) {
		*reply_len = 0;
		return UDP_CUT_AGAIN;
	}
	v = udp_rate_take(&g->rate, key, g->prefix_len + *reply_len, now_ms);
	if (v == UDP_ANSWER)
		guard_sending(g, sent_key, &d, *reply_len, &turn, &was);
	return v;
}

const char *
udp_verdict_reason(enum udp_verdict v)
{
	switch (v) {
	case UDP_ANSWER:
		return "answered";
	case UDP_NO_ADDRESS:
		return "no IPv4 or IPv6 sender";
	case UDP_PRIVILEGED_PORT:
		return "privileged source port";
	case UDP_SERVICE_PORT:
		return "source port of a reflecting service";
	case UDP_OWN_PORT:
		return "source port is one echod serves";
	case UDP_OWN_PREFIX:
		return "begins with the prefix, an echo's answer";
	case UDP_AMPLIFY:
		return "too short for the prefix, reply would amplify";
	case UDP_RETURNED:
		return "holds the reply just sent there, an echo loop";
	case UDP_CUT_AGAIN:
		return "its reply would be cut to fit again within 10 s, "
		    "an echo loop";
	case UDP_SOURCE_LIMIT:
		return "over the per-source rate limit";
	case UDP_TOTAL_LIMIT:
		return "over the total rate limit";
	}
	return "unknown";
}

bool
udp_verdict_is_limit(enum udp_verdict v)
{
	return v == UDP_SOURCE_LIMIT || v == UDP_TOTAL_LIMIT;
}

size_t
udp_guard_sources(const struct udp_guard *g)
{
	return udp_rate_sources(&g->rate);
}
