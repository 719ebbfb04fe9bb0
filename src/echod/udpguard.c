/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "udpguard.h"
#include "udprate.h"
#include "udprecent.h"
#include "udpsent.h"
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

struct udp_guard {
	const char		*prefix;
	size_t			 prefix_len;
	struct siphash_key	 key;
	unsigned int		 client_repeats;	/* UDP_RETURNS_CLIENT */
	uint8_t			 refused[65536 / 8];	/* one bit a port */
	struct udp_rate		 rate;
	struct udp_sent_table	*sent;
	struct udp_recent	*recent;
	struct udp_sketch	 sketch;	/* what recent outruns */
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
	g->recent = udp_recent_new(key, prefix, prefix_len);
	g->sent = udp_sent_new(key, prefix, prefix_len);
	if (g->recent == NULL || g->sent == NULL) {
		udp_guard_free(g);
		return NULL;
	}
	udp_sketch_init(&g->sketch, 1);
	g->key = *key;
	g->client_repeats = UDP_RETURNS_CLIENT;
	for (i = 0; i < sizeof(service_ports) / sizeof(service_ports[0]); i++)
		port_refuse(g, service_ports[i]);
	return g;
}

void
udp_guard_free(struct udp_guard *g)
{
	if (g == NULL)
		return;
	udp_recent_free(g->recent);
	udp_sent_free(g->sent);
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
	udp_sent_client_ports(g->sent, min, max);
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

/* A reply's tag in the sketch: its address, port, length and digest. */
static uint64_t
guard_sketch_tag(const struct udp_guard *g, const uint64_t key[3],
    size_t len, uint64_t digest)
{
	uint64_t	 in[5] = { key[0], key[1], key[2], len, ~digest };

	return siphash(&g->key, in, sizeof(in));
}

/*
 * Where the prefix is in [p, end), or NULL.  Its first byte is looked for
 * with memchr(), which passes over a datagram without it at once, where
 * memmem() spends some four instructions a byte; a datagram full of that
 * byte gets memmem() after GUARD_FIRST_HITS false starts, so that none
 * costs more than memmem() alone would.
 */
#define GUARD_FIRST_HITS	8

static const uint8_t *
guard_find_prefix(const struct udp_guard *g, const uint8_t *p,
    const uint8_t *end)
{
	size_t	 n = g->prefix_len, hits;

	for (hits = 0; hits < GUARD_FIRST_HITS; hits++, p++) {
		if ((size_t)(end - p) < n || (p = memchr(p, g->prefix[0],
		    (size_t)(end - p) - n + 1)) == NULL)
			return NULL;
		if (memcmp(p + 1, g->prefix + 1, n - 1) == 0)
			return p;
	}
	return end - p < (ptrdiff_t)n ? NULL :
	    memmem(p, (size_t)(end - p), g->prefix, n);
}

/*
 * With a prefix: where another echo has put ours, in the datagram's
 * first UDP_RECENT_SEARCH bytes past its start (its start is refused
 * before), what follows, where a reply come back is looked for.  Each
 * place costs digests, so two at most.
 */
static void
guard_prefixed(const struct udp_guard *g, struct udp_dgram *d)
{
	const uint8_t	*p, *end;

	end = d->data + (d->len < UDP_RECENT_SEARCH ? d->len :
	    UDP_RECENT_SEARCH);
	for (p = d->data + 1; d->nafter < 2 && p < end; p++) {
		if ((p = guard_find_prefix(g, p, end)) == NULL)
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
    const struct udp_dgram *d, bool server)
{
	const uint8_t		*q;
	uint64_t		 digest;
	size_t			 tail, i;

	for (i = 0; i < d->nafter; i++) {
		q = d->after[i];
		tail = d->len - (size_t)(q - d->data);
		digest = udp_digest(&g->key, q, tail);
		if (udp_recent_find(g->recent, key, q, tail, digest,
		    d->now) != NULL || (server && udp_sketch_get(&g->sketch,
		    guard_sketch_tag(g, key, tail, digest), d->now) != 0))
			return true;
		/* An echo that reads into a buffer cuts our reply short. */
		if (tail >= UDP_RECENT_END && udp_recent_begun(g->recent,
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
    const struct udp_dgram *d)
{
	static const struct udp_turn	 fresh = { NULL, 0, true };
	unsigned int			 n;

	n = udp_sketch_get(&g->sketch, guard_sketch_tag(g, key, d->len,
	    d->digest), d->now);
	if (n > UDP_RETURNS_SERVER)
		udp_recent_note(g->recent, key, d->data, d->len, d->digest,
		    d->now, &fresh);
	return n;
}

/*
 * Without a prefix, from a server's port, a reply of the thread's table
 * inside the datagram at a place udp_sent_wrap_places() gives: of loops
 * forged side by side with an echo that wraps each reply, more than the
 * last few replies to that address and port hold.  Not from a client's
 * port, where a loop runs UDP_RETURNS_CLIENT turns anyway, and honest
 * datagrams would pay for it.
 */
static struct udp_recent_entry *
guard_wrapped(struct udp_guard *g, const uint64_t key[3],
    const struct udp_dgram *d, struct udp_cont *cont)
{
	struct udp_recent_entry	*o;
	size_t			 places[UDP_WRAP_PLACES], n, i;

	n = udp_sent_wrap_places(g->sent, cont, d->len, places);
	for (i = 0; i < n; i++)
		if ((o = udp_recent_inside(g->recent, key, d->data, d->len,
		    places[i], d->now)) != NULL) {
			udp_sent_wrap_found(g->sent, cont, places[i]);
			return o;
		}
	return NULL;
}

/*
 * Whether the datagram is a reply echod recently sent its sender, come
 * back (with whatever the other end put before or after it): the next
 * turn of an echo loop, which is refused.  Without a prefix a client
 * repeating one datagram sends the same, so a few such in a row are let
 * through first, turn->hops counting them; the reply to this one carries
 * the count on, so that a loop whose replies grow (what the other end
 * adds) ends within as many turns as one whose replies do not.  *cont
 * is the reply of the sent table it continues, if any.
 */
static bool
guard_returned(struct udp_guard *g, const uint64_t key[3], uint16_t port,
    const struct udp_dgram *d, struct udp_turn *turn,
    struct udp_cont *cont)
{
	struct udp_reply	*best;
	struct udp_recent_entry	*o;
	unsigned int		 most, sketched;

	turn->was = NULL;
	turn->hops = 0;
	turn->server = udp_sent_server_port(g->sent, port);
	udp_sent_continued(g->sent, key, d, cont);
	best = cont->r;
	if (g->prefix_len != 0)	/* no client sends our prefix back */
		return best != NULL || udp_recent_holding(g->recent, key,
		    d->data, d->len, 0, d->now) != NULL ||
		    guard_recent_returned(g, key, d, turn->server);
	o = udp_recent_holding(g->recent, key, d->data, d->len, d->digest,
	    d->now);
	if (o == NULL && best == NULL && turn->server)
		o = guard_wrapped(g, key, d, cont);
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
 * The reply about to go to key: what guard_returned() looks for, with
 * the hops of the loop it would continue, in each table.
 */
static void
guard_sending(struct udp_guard *g, const uint64_t key[3],
    const struct udp_dgram *d, size_t len, const struct udp_turn *turn,
    const struct udp_cont *cont)
{
	uint64_t	 digest;

	digest = len < d->len || g->prefix_len != 0 ?
	    udp_digest(&g->key, d->data, len) : d->digest;
	udp_recent_note(g->recent, key, d->data, len, digest, d->now, turn);
	if (turn->server)
		udp_sketch_put(&g->sketch, guard_sketch_tag(g, key, len,
		    digest), turn->hops + 1, d->now);
	udp_sent_note(g->sent, key, d, len, digest, turn->hops, cont);
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
	struct udp_dgram d = { data, len, 0, now_ms + 1, { NULL, NULL }, 0 };
	struct udp_turn	 turn;
	struct udp_cont	 cont = { NULL, 0, NULL };
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
	if (guard_returned(g, sent_key, port, &d, &turn, &cont))
		return UDP_RETURNED;
	room = (headers == 28 ? UDP_MAX_V4 : UDP_MAX_V6) - g->prefix_len;
	*reply_len = len < room ? len : room;
	if (*reply_len < len && udp_sent_cut_again(g->sent, sent_key, d.now)) {
		*reply_len = 0;
		return UDP_CUT_AGAIN;
	}
	v = udp_rate_take(&g->rate, key, g->prefix_len + *reply_len, now_ms);
	if (v == UDP_ANSWER)
		guard_sending(g, sent_key, &d, *reply_len, &turn, &cont);
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
