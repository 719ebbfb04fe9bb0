/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Unit: the UDP guard's rules and rate limits, without sockets. */
#include "config.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "udpguard.h"
#include "udprecent.h"

TestSuite(udpguard, .timeout = 10);

static const struct siphash_key key = { 1, 2 };
static const struct udp_limits none = { 0, 0, 0, 0 };

static struct sockaddr_in
v4(const char *ip, int port)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };

	cr_assert_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	sin.sin_port = htons(port);
	return sin;
}

static struct sockaddr_in6
v6(const char *ip, int port)
{
	struct sockaddr_in6	 sin6 = { .sin6_family = AF_INET6 };

	cr_assert_eq(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	sin6.sin6_port = htons(port);
	return sin6;
}

static enum udp_verdict
judge(struct udp_guard *g, const void *sa, size_t salen, const char *data,
    size_t len, uint64_t now, size_t *reply)
{
	return udp_guard_judge(g, sa, salen, data, len, now, reply);
}

Test(udpguard, loop_rules)
{
	struct udp_guard	*g = udp_guard_new("GOT:", 4, &none, &key);
	struct sockaddr_in	 sin;
	size_t			 reply;

	udp_guard_own_port(g, 25000);
	sin = v4("192.0.2.1", 40000);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "hi", 2, 1, &reply),
	    UDP_ANSWER);
	cr_assert_eq(reply, 2);
	sin = v4("192.0.2.1", 7);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "hi", 2, 1, &reply),
	    UDP_PRIVILEGED_PORT);
	sin = v4("192.0.2.1", 1023);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "hi", 2, 1, &reply),
	    UDP_PRIVILEGED_PORT);
	sin = v4("192.0.2.1", 1024);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "hi", 2, 1, &reply),
	    UDP_ANSWER);
	/* Another echod on its default port, on another host. */
	sin = v4("192.0.2.1", 25000);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "hi", 2, 1, &reply),
	    UDP_OWN_PORT);
	sin = v4("192.0.2.1", 5353);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "hi", 2, 1, &reply),
	    UDP_SERVICE_PORT);
	sin = v4("192.0.2.1", 11211);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "hi", 2, 1, &reply),
	    UDP_SERVICE_PORT);
	sin = v4("192.0.2.1", 40000);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "GOT:hi", 6, 1, &reply),
	    UDP_OWN_PREFIX);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "GOT", 3, 1, &reply),
	    UDP_ANSWER, "shorter than the prefix is not its echo");
	cr_assert_eq(judge(g, &sin, sizeof(sin), "xGOT:", 5, 1, &reply),
	    UDP_ANSWER);
	udp_guard_free(g);
}

Test(udpguard, no_address_no_answer)
{
	struct udp_guard	*g = udp_guard_new("GOT:", 4, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 40000);
	struct sockaddr		 un = { .sa_family = AF_UNIX };
	size_t			 reply;

	cr_assert_eq(judge(g, &un, sizeof(un), "hi", 2, 1, &reply),
	    UDP_NO_ADDRESS);
	cr_assert_eq(judge(g, &sin, 4, "hi", 2, 1, &reply), UDP_NO_ADDRESS,
	    "a short address is no address");
	udp_guard_free(g);
}

Test(udpguard, empty_prefix_answers_anything_from_a_free_port)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 40000);
	size_t			 reply = 99;

	cr_assert_eq(judge(g, &sin, sizeof(sin), "", 0, 1, &reply),
	    UDP_ANSWER);
	cr_assert_eq(reply, 0);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "GOT:x", 5, 1, &reply),
	    UDP_ANSWER);
	udp_guard_free(g);
}

/* The reply is at most twice the request on the wire. */
Test(udpguard, long_prefix_does_not_amplify)
{
	static char		 prefix[100], data[100];
	struct udp_guard	*g;
	struct sockaddr_in	 sin = v4("192.0.2.1", 40000);
	struct sockaddr_in6	 sin6 = v6("2001:db8::1", 40000);
	size_t			 reply;

	memset(prefix, 'p', sizeof(prefix));
	memset(data, 'd', sizeof(data));
	g = udp_guard_new(prefix, sizeof(prefix), &none, &key);
	cr_assert_eq(judge(g, &sin, sizeof(sin), data, 0, 1, &reply),
	    UDP_AMPLIFY);
	/* 28 bytes of IPv4 and UDP headers: 72 + 28 = 100. */
	cr_assert_eq(judge(g, &sin, sizeof(sin), data, 71, 1, &reply),
	    UDP_AMPLIFY);
	cr_assert_eq(judge(g, &sin, sizeof(sin), data, 72, 1, &reply),
	    UDP_ANSWER);
	/* 48 over IPv6. */
	cr_assert_eq(judge(g, &sin6, sizeof(sin6), data, 51, 1, &reply),
	    UDP_AMPLIFY);
	cr_assert_eq(judge(g, &sin6, sizeof(sin6), data, 52, 1, &reply),
	    UDP_ANSWER);
	udp_guard_free(g);
}

Test(udpguard, reply_cut_to_one_datagram)
{
	static char		 data[65527];
	struct udp_guard	*g = udp_guard_new("GOT:", 4, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 40000);
	struct sockaddr_in6	 sin6 = v6("2001:db8::1", 40000);
	struct sockaddr_in6	 mapped = v6("::ffff:192.0.2.1", 40001);
	size_t			 reply;

	cr_assert_eq(judge(g, &sin, sizeof(sin), data, 65507, 1, &reply),
	    UDP_ANSWER);
	cr_assert_eq(reply, 65503);
	cr_assert_eq(judge(g, &sin6, sizeof(sin6), data, 65527, 1, &reply),
	    UDP_ANSWER);
	cr_assert_eq(reply, 65523);
	cr_assert_eq(judge(g, &mapped, sizeof(mapped), data, 65527, 1,
	    &reply), UDP_ANSWER);
	cr_assert_eq(reply, 65503, "a v4-mapped sender gets IPv4's limit");
	udp_guard_free(g);
}

Test(udpguard, per_source_datagram_rate)
{
	struct udp_limits	 l = { 10, 0, 0, 0 };
	struct udp_guard	*g = udp_guard_new("GOT:", 4, &l, &key);
	struct sockaddr_in	 a = v4("192.0.2.1", 40000);
	struct sockaddr_in	 a2 = v4("192.0.2.1", 40001);
	struct sockaddr_in	 b = v4("192.0.2.2", 40000);
	size_t			 reply;
	int			 i;

	/* A second's worth at once, then one every 100 ms. */
	for (i = 0; i < 10; i++)
		cr_assert_eq(judge(g, i % 2 ? &a : &a2, sizeof(a), "x", 1,
		    1000, &reply), UDP_ANSWER, "datagram %d", i);
	cr_assert_eq(judge(g, &a, sizeof(a), "x", 1, 1000, &reply),
	    UDP_SOURCE_LIMIT, "every port of an address is one source");
	cr_assert_eq(judge(g, &b, sizeof(b), "x", 1, 1000, &reply),
	    UDP_ANSWER, "another address has its own bucket");
	cr_assert_eq(judge(g, &a, sizeof(a), "x", 1, 1099, &reply),
	    UDP_SOURCE_LIMIT);
	cr_assert_eq(judge(g, &a, sizeof(a), "x", 1, 1100, &reply),
	    UDP_ANSWER);
	cr_assert_eq(judge(g, &a, sizeof(a), "x", 1, 1100, &reply),
	    UDP_SOURCE_LIMIT);
	/* Idle for long: the bucket is full again, but no fuller. */
	for (i = 0; i < 10; i++)
		cr_assert_eq(judge(g, &a, sizeof(a), "x", 1, 60000, &reply),
		    UDP_ANSWER);
	cr_assert_eq(judge(g, &a, sizeof(a), "x", 1, 60000, &reply),
	    UDP_SOURCE_LIMIT);
	udp_guard_free(g);
}

Test(udpguard, per_source_byte_rate_counts_the_reply)
{
	struct udp_limits	 l = { 0, 100, 0, 0 };
	struct udp_guard	*g = udp_guard_new("GOT:", 4, &l, &key);
	struct sockaddr_in	 a = v4("192.0.2.1", 40000);
	size_t			 reply;

	/* 4 + 46 = 50 bytes each: two fit in 100. */
	cr_assert_eq(judge(g, &a, sizeof(a), "0123456789012345678901234567890"
	    "123456789012345", 46, 5, &reply), UDP_ANSWER);
	cr_assert_eq(judge(g, &a, sizeof(a), "0123456789012345678901234567890"
	    "123456789012345", 46, 5, &reply), UDP_ANSWER);
	cr_assert_eq(judge(g, &a, sizeof(a), "x", 1, 5, &reply),
	    UDP_SOURCE_LIMIT);
	cr_assert_eq(judge(g, &a, sizeof(a), "x", 1, 55, &reply),
	    UDP_ANSWER, "5 bytes back after 50 ms");
	udp_guard_free(g);
}

/* A /64 is one source: its owner has 2^64 addresses. */
Test(udpguard, ipv6_sources_are_counted_per_64)
{
	struct udp_limits	 l = { 2, 0, 0, 0 };
	struct udp_guard	*g = udp_guard_new("GOT:", 4, &l, &key);
	struct sockaddr_in6	 a = v6("2001:db8:1:2::1", 40000);
	struct sockaddr_in6	 b = v6("2001:db8:1:2:ffff::9", 40000);
	struct sockaddr_in6	 c = v6("2001:db8:1:3::1", 40000);
	size_t			 reply;

	cr_assert_eq(judge(g, &a, sizeof(a), "x", 1, 7, &reply), UDP_ANSWER);
	cr_assert_eq(judge(g, &b, sizeof(b), "x", 1, 7, &reply), UDP_ANSWER);
	cr_assert_eq(judge(g, &a, sizeof(a), "x", 1, 7, &reply),
	    UDP_SOURCE_LIMIT);
	cr_assert_eq(judge(g, &b, sizeof(b), "x", 1, 7, &reply),
	    UDP_SOURCE_LIMIT);
	cr_assert_eq(judge(g, &c, sizeof(c), "x", 1, 7, &reply), UDP_ANSWER);
	udp_guard_free(g);
}

Test(udpguard, total_rate_over_all_sources)
{
	struct udp_limits	 l = { 0, 0, 3, 0 };
	struct udp_guard	*g = udp_guard_new("GOT:", 4, &l, &key);
	struct sockaddr_in	 sin;
	char			 ip[32];
	size_t			 reply;
	int			 i;

	for (i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		sin = v4(ip, 40000);
		cr_assert_eq(judge(g, &sin, sizeof(sin), "x", 1, 3, &reply),
		    i < 3 ? UDP_ANSWER : UDP_TOTAL_LIMIT, "source %d", i);
	}
	udp_guard_free(g);
}

/*
 * Forged sources: the table stays its size, the oldest go.  10,000 fill
 * it; 50,000 make sure every set has turned over.
 */
Test(udpguard, forged_sources_are_bounded_and_evicted)
{
	struct udp_limits	 l = { 1, 0, 0, 0 };
	struct udp_guard	*g = udp_guard_new("GOT:", 4, &l, &key);
	struct sockaddr_in	 first = v4("198.18.0.1", 40000), sin;
	size_t			 reply;
	uint32_t		 i;

	cr_assert_eq(judge(g, &first, sizeof(first), "x", 1, 10, &reply),
	    UDP_ANSWER);
	cr_assert_eq(judge(g, &first, sizeof(first), "x", 1, 10, &reply),
	    UDP_SOURCE_LIMIT);
	for (i = 0; i < 50000; i++) {
		sin = v4("198.18.0.0", 40000);
		sin.sin_addr.s_addr = htonl(0xc6120000 + 2 + i);
		cr_assert_eq(judge(g, &sin, sizeof(sin), "x", 1, 20, &reply),
		    UDP_ANSWER);
		if (i == 9999)
			cr_assert_gt(udp_guard_sources(g),
			    UDP_GUARD_SETS * UDP_GUARD_WAYS * 9 / 10);
	}
	cr_assert_eq(udp_guard_sources(g), UDP_GUARD_SETS * UDP_GUARD_WAYS);
	/* Evicted, so it starts again with a full bucket within the second. */
	cr_assert_eq(judge(g, &first, sizeof(first), "x", 1, 21, &reply),
	    UDP_ANSWER);
	udp_guard_free(g);
}

Test(udpguard, service_ports_are_listed)
{
	cr_assert(udp_port_is_service(1900));
	cr_assert(udp_port_is_service(5353));
	cr_assert(udp_port_is_service(11211));
	cr_assert_not(udp_port_is_service(25000));
	cr_assert_not(udp_port_is_service(40000));
}

/*
 * The reply come back: with a prefix, at once; without, the third in a
 * row from an echo server's port, the thousandth and first from a
 * client's; never after UDP_RETURN_MSEC, nor from another port.
 */
Test(udpguard, a_reply_come_back_is_refused)
{
	struct udp_guard	*g = udp_guard_new("A:", 2, &none, &key);
	struct sockaddr_in	 peer = v4("192.0.2.1", 20000);
	struct sockaddr_in	 other = v4("192.0.2.1", 20001);
	struct sockaddr_in6	 peer6 = v6("2001:db8::1", 20000);
	size_t			 reply;

	cr_assert_eq(judge(g, &peer, sizeof(peer), "x", 1, 10, &reply),
	    UDP_ANSWER);
	cr_assert_eq(judge(g, &peer, sizeof(peer), "B:A:x", 5, 11, &reply),
	    UDP_RETURNED);
	cr_assert_str_eq(udp_verdict_reason(UDP_RETURNED),
	    "holds the reply just sent there, an echo loop");
	cr_assert_eq(judge(g, &other, sizeof(other), "B:A:x", 5, 12, &reply),
	    UDP_ANSWER, "another port: not the reply sent there");
	cr_assert_eq(judge(g, &peer, sizeof(peer), "B:A:y", 5, 13, &reply),
	    UDP_ANSWER, "not the reply");
	cr_assert_eq(judge(g, &peer, sizeof(peer), "B:A:B:A:y", 9,
	    13 + UDP_RETURN_MSEC + 1, &reply), UDP_ANSWER, "too late");
	/* A datagram that repeats itself never ends with prefix + itself. */
	cr_assert_eq(judge(g, &peer6, sizeof(peer6), "x", 1, 20, &reply),
	    UDP_ANSWER);
	cr_assert_eq(judge(g, &peer6, sizeof(peer6), "x", 1, 21, &reply),
	    UDP_ANSWER);
	cr_assert_eq(judge(g, &peer6, sizeof(peer6), "B:A:x", 5, 22, &reply),
	    UDP_RETURNED);
	udp_guard_free(g);
}

static unsigned int
answered_in_a_row(struct udp_guard *g, int port, const char *d,
    unsigned int most)
{
	struct sockaddr_in	 sin = v4("192.0.2.1", port);
	size_t			 reply;
	unsigned int		 n;

	for (n = 0; n < most; n++)
		if (judge(g, &sin, sizeof(sin), d, strlen(d), 100 + n,
		    &reply) != UDP_ANSWER)
			break;
	return n;
}

Test(udpguard, without_a_prefix_a_few_repeats_are_answered)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 20000);
	size_t			 reply;

	udp_guard_client_ports(g, 40000, 50000);
	/* The first, then UDP_RETURNS_SERVER of its copies. */
	cr_assert_eq(answered_in_a_row(g, 20000, "ping", 5000),
	    1 + UDP_RETURNS_SERVER);
	cr_assert_eq(answered_in_a_row(g, 45000, "ping", 5000),
	    1 + UDP_RETURNS_CLIENT);
	/* One refused ends a loop; the count then starts again. */
	cr_assert_eq(answered_in_a_row(g, 45000, "ping", 5000),
	    UDP_RETURNS_CLIENT + 1);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "ping", 4,
	    100 + UDP_RETURN_MSEC, &reply), UDP_ANSWER);
	/* --udp-repeats moves the line for clients' ports only. */
	udp_guard_client_repeats(g, 7);
	cr_assert_eq(answered_in_a_row(g, 45001, "ping", 5000), 1 + 7);
	cr_assert_eq(answered_in_a_row(g, 45001, "ping", 5000), 7 + 1);
	cr_assert_eq(answered_in_a_row(g, 20001, "ping", 5000),
	    1 + UDP_RETURNS_SERVER);
	udp_guard_client_repeats(g, 0);
	cr_assert_eq(answered_in_a_row(g, 45002, "ping", 5000), 1);
	udp_guard_client_repeats(g, UDP_RETURNS_CLIENT_MAX + 1);
	cr_assert_eq(answered_in_a_row(g, 45003, "ping", 70000),
	    1 + UDP_RETURNS_CLIENT_MAX);
	udp_guard_client_repeats(g, UDP_RETURNS_CLIENT);
	/* Something else between two repeats starts the count again. */
	cr_assert_eq(answered_in_a_row(g, 30000, "a", 2), 2);
	cr_assert_eq(answered_in_a_row(g, 30000, "b", 1), 1);
	cr_assert_eq(answered_in_a_row(g, 30000, "b", 5000),
	    UDP_RETURNS_SERVER);
	/* Longer, ending with the reply: a prefixed echo's answer. */
	cr_assert_eq(answered_in_a_row(g, 30001, "x", 1), 1);
	sin = v4("192.0.2.1", 30001);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "B:x", 3, 200, &reply),
	    UDP_ANSWER);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "C:B:x", 5, 201, &reply),
	    UDP_ANSWER);
	cr_assert_eq(judge(g, &sin, sizeof(sin), "D:C:B:x", 7, 202, &reply),
	    UDP_RETURNED);
	udp_guard_free(g);
}

/*
 * Loops forged side by side, more than the replies kept for one address
 * and port: each finds its reply pushed out of that record by the others
 * before it returns.  Each still ends as one alone would.
 */
Test(udpguard, loops_side_by_side_outrun_no_record)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct udp_guard	*a = udp_guard_new("A:", 2, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 20000);
	char			 d[64][12];
	unsigned int		 answered[64] = { 0 }, turn, i;
	bool			 ended[64] = { false };
	size_t			 reply;
	uint64_t		 now = 100;

	for (i = 0; i < 64; i++)
		snprintf(d[i], sizeof(d[i]), "loop %u", i);
	for (turn = 0; turn < 10; turn++)
		for (i = 0; i < 64; i++) {
			if (ended[i])
				continue;
			if (judge(g, &sin, sizeof(sin), d[i], strlen(d[i]),
			    now++, &reply) == UDP_ANSWER)
				answered[i]++;
			else
				ended[i] = true;
		}
	for (i = 0; i < 64; i++)
		cr_assert_eq(answered[i], 1 + UDP_RETURNS_SERVER,
		    "loop %u answered %u times", i, answered[i]);
	/* With a prefix against another's: refused at the first return. */
	for (i = 0; i < 64; i++)
		cr_assert_eq(judge(a, &sin, sizeof(sin), d[i], strlen(d[i]),
		    now++, &reply), UDP_ANSWER);
	for (i = 0; i < 64; i++) {
		char	 back[24];

		snprintf(back, sizeof(back), "B:A:%.11s", d[i]);
		cr_assert_eq(judge(a, &sin, sizeof(sin), back, strlen(back),
		    now++, &reply), UDP_RETURNED, "loop %u", i);
	}
	udp_guard_free(g);
	udp_guard_free(a);
}

/*
 * 20,000 loops forged at once with a server, on one address and port:
 * far more than the thread's table holds (each reply of 16 bytes or
 * more makes three of its 16,384 entries), each ends as one alone
 * would, found in the sketch (before: they ran on until the rate
 * limits).  Meanwhile, 20,000 other servers' ports each sending new
 * datagrams lose none of them.
 */
#define MANY_LOOPS	20000

static void
many_loops(const char *prefix, const char *other, unsigned int answers)
{
	struct udp_guard	*g = udp_guard_new(prefix, strlen(prefix),
				    &none, &key);
	struct sockaddr_in	 peer = v4("192.0.2.1", 20000), server;
	static char		 d[MANY_LOOPS][64];
	static unsigned char	 answered[MANY_LOOPS];
	static bool		 ended[MANY_LOOPS];
	char			 ip[32], req[32];
	unsigned int		 turn, k, sooner = 0, refused = 0, requests = 0;
	size_t			 reply, len;
	uint64_t		 now = 100;

	memset(answered, 0, sizeof(answered));
	memset(ended, 0, sizeof(ended));
	for (k = 0; k < MANY_LOOPS; k++)
		snprintf(d[k], sizeof(d[k]), "loop %u of many, long", k);
	for (turn = 0; turn < 6; turn++, now += 1000)
		for (k = 0; k < MANY_LOOPS; k++) {
			if (ended[k])
				continue;
			len = strlen(d[k]);
			if (judge(g, &peer, sizeof(peer), d[k], len,
			    now + k / 100, &reply) != UDP_ANSWER) {
				ended[k] = true;
				continue;
			}
			answered[k]++;
			memmove(d[k] + strlen(other), d[k], len + 1);
			memcpy(d[k], other, strlen(other));
			/* A server's new datagram between turns. */
			snprintf(ip, sizeof(ip), "10.%u.%u.%u", k >> 16,
			    (k >> 8) & 255, k & 255);
			server = v4(ip, 61000 + k % 4500);
			snprintf(req, sizeof(req), "request %u.%u", turn, k);
			refused += judge(g, &server, sizeof(server), req,
			    strlen(req), now + k / 100, &reply) != UDP_ANSWER;
			requests++;
		}
	for (k = 0; k < MANY_LOOPS; k++) {
		cr_assert(answered[k] == answers || (answered[k] > 0 &&
		    answered[k] < answers), "prefix '%s': loop %u answered "
		    "%u times", prefix, k, answered[k]);
		sooner += answered[k] < answers;
	}
	cr_log_info("prefix '%s': %u of %u loops ended sooner, %u of %u "
	    "servers' requests refused", prefix, sooner, MANY_LOOPS,
	    refused, requests);
	/* The sketch's cells are shared: a few, by chance. */
	cr_assert_leq(sooner, MANY_LOOPS / 1000);
	cr_assert_leq(refused, requests / 10000);
	udp_guard_free(g);
}

Test(udpguard, thousands_of_loops_at_once_end)
{
	many_loops("", "", 1 + UDP_RETURNS_SERVER);
	many_loops("A:", "B:A:", 1);
}

/*
 * A client on a server's port repeating one datagram, whom the exact
 * tables lose between its repeats (60,000 other servers' datagrams each
 * time): found in the sketch, it is refused at its fourth as before;
 * once the flood is over, it loses one in three again, not every repeat
 * while the sketch holds its count.
 */
Test(udpguard, a_repeating_client_the_tables_lost_loses_one_in_three)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct sockaddr_in	 client = v4("192.0.2.9", 20000), server;
	static const char	 ping[] = "ping, long enough to be known";
	char			 ip[32], req[32];
	unsigned int		 r, i, refused = 0;
	size_t			 reply;
	uint64_t		 now = 100;

	for (r = 0; r < 10; r++, now++) {
		if (judge(g, &client, sizeof(client), ping, sizeof(ping) - 1,
		    now, &reply) != UDP_ANSWER) {
			cr_assert_geq(r, 3, "repeat %u refused", r);
			refused += r > 3;
			continue;
		}
		cr_assert(r < 3 || r % 3 != 0, "repeat %u answered", r);
		for (i = 0; r < 3 && i < 3 * MANY_LOOPS; i++) {
			snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16,
			    (i >> 8) & 255, i & 255);
			server = v4(ip, 61000 + i % 4500);
			snprintf(req, sizeof(req), "request %u.%u", r, i);
			cr_assert_eq(judge(g, &server, sizeof(server), req,
			    strlen(req), now, &reply), UDP_ANSWER);
		}
	}
	cr_assert_eq(refused, 2, "after the flood, refused %u of 6", refused);
	udp_guard_free(g);
}

/*
 * 100 loops in turn, each with an echo that adds before (or after) each
 * reply, while the same address and port gets 3,000 other datagrams
 * answered between its turns: each ends after as many answers as alone
 * (before: one reply took three entries of 4,096 sets of four, and one
 * loop in nine outran them at 3,000).
 */
static void
loops_beside_others(const char *before, const char *after)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 61900);
	char			 d[1024], f[64];
	unsigned int		 loop, turn, k, n, fill = 0, sooner = 0;
	size_t			 reply, len;
	uint64_t		 now = 100;

	for (loop = 0; loop < 100; loop++) {
		snprintf(d, sizeof(d), "loop %03u, a datagram forged to "
		    "start it %03u", loop, loop);
		for (n = turn = 0; turn < 12; turn++, n++, now += 400) {
			if (judge(g, &sin, sizeof(sin), d, strlen(d), now,
			    &reply) != UDP_ANSWER)
				break;
			for (k = 0; k < 3000; k++, fill++) {
				snprintf(f, sizeof(f), "another datagram, "
				    "number %08u", fill);
				cr_assert_eq(judge(g, &sin, sizeof(sin), f,
				    strlen(f), now + 1 + k / 10, &reply),
				    UDP_ANSWER);
			}
			len = strlen(d);
			memmove(d + strlen(before), d, len + 1);
			memcpy(d, before, strlen(before));
			strcat(d, after);
		}
		/* The sketch may have counted a first datagram by chance. */
		cr_assert(n == 1 + UDP_RETURNS_SERVER ||
		    n == UDP_RETURNS_SERVER, "the other echo adds '%s' '%s': "
		    "loop %u answered %u times", before, after, loop, n);
		sooner += n == UDP_RETURNS_SERVER;
	}
	cr_assert_leq(sooner, 5);
	udp_guard_free(g);
}

Test(udpguard, loops_beside_thousands_of_other_replies_end)
{
	loops_beside_others("B:", "");
	loops_beside_others("", "\n");
}

/*
 * With a prefix, 4,000 loops forged at once with an echo that wraps each
 * reply ('<' before, '>' and a newline after), their replies ending with
 * 100 tails shared 40 times each (what adversary.py forges): each is
 * refused at its first return.  Before, a set holding two or three such
 * tails' four entries each filled, and pushed out the one entry by which
 * a loop's wrapped reply is found: one run in ten let a loop run a turn.
 * Several keys, since which sets crowd is the key's to say.
 */
Test(udpguard, wrapped_loops_forged_at_once_each_end_at_their_first_return)
{
	struct sockaddr_in	 sin = v4("192.0.2.1", 61900);
	struct siphash_key	 k;
	struct udp_guard	*g;
	char			 d[64];
	unsigned int		 i, answered = 0;
	size_t			 reply;

	for (k.k0 = 1; k.k0 <= 16; k.k0++) {
		k.k1 = k.k0 * 0x9e3779b97f4a7c15ULL;
		g = udp_guard_new("A:", 2, &none, &k);
		cr_assert_not_null(g);
		for (i = 0; i < 4000; i++) {
			snprintf(d, sizeof(d), "loop %u of many, long", i);
			cr_assert_eq(judge(g, &sin, sizeof(sin), d, strlen(d),
			    100 + i / 4, &reply), UDP_ANSWER);
		}
		for (i = 0; i < 4000; i++) {
			snprintf(d, sizeof(d), "<A:loop %u of many, long>\n",
			    i);
			answered += judge(g, &sin, sizeof(sin), d, strlen(d),
			    1100 + i / 4, &reply) == UDP_ANSWER;
		}
		udp_guard_free(g);
	}
	cr_assert_eq(answered, 0, "%u of 64,000 wrapped returns answered",
	    answered);
}

/*
 * Without a prefix, 4,000 loops forged at once with an echo that wraps
 * each reply ('<' before, '>' and a newline after), turn by turn: each
 * ends as one alone does, after three answers, but for the few whose
 * first return came before the place of the wrapped reply was tried,
 * which get one more (before: those loops ran on until their replies
 * were cut to fit, the four last replies to the echo's address and port
 * long gone when each came back).
 */
static unsigned int
wrapped_loops(unsigned int ports, unsigned int *worst)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 61000);
	static char		 d[4000][96];
	unsigned int		 n[4000] = { 0 }, i, turn, more = 0;
	size_t			 reply, len;
	uint64_t		 now = 100;

	cr_assert_not_null(g);
	for (i = 0; i < 4000; i++)
		snprintf(d[i], sizeof(d[i]), "loop %u of many, long", i);
	for (turn = 0; turn < 8; turn++, now += 500)
		for (i = 0; i < 4000; i++) {
			if (n[i] < turn)
				continue;	/* ended */
			sin.sin_port = htons(61000 + i % ports);
			if (judge(g, &sin, sizeof(sin), d[i], strlen(d[i]),
			    now + i / 8, &reply) != UDP_ANSWER)
				continue;
			n[i]++;
			len = strlen(d[i]);
			memmove(d[i] + 1, d[i], len + 1);
			d[i][0] = '<';
			strcat(d[i], ">\n");
		}
	for (*worst = 0, i = 0; i < 4000; i++) {
		cr_assert_geq(n[i], 1 + UDP_RETURNS_SERVER, "loop %u answered "
		    "%u times", i, n[i]);
		more += n[i] > 1 + UDP_RETURNS_SERVER;
		*worst = n[i] > *worst ? n[i] : *worst;
	}
	udp_guard_free(g);
	return more;
}

/*
 * Without a prefix, 4,000 loops forged at once with an echo that wraps
 * each reply ('<' before, '>' and a newline after), turn by turn: each
 * ends as one alone does, after three answers, but for the few whose
 * first return came before the place of the wrapped reply was tried,
 * which get one more (before: those loops ran on until their replies
 * were cut to fit, the four last replies to the echo's address and port
 * long gone when each came back).  The same with an echo on each of
 * 4,000 ports, more than the table of the last replies to each has room
 * for: the place found for one is tried for all.
 */
Test(udpguard, wrapped_loops_without_a_prefix_by_the_thousand_end)
{
	unsigned int	 more, worst;

	more = wrapped_loops(1, &worst);
	cr_assert_leq(more, 16, "%u loops ran a turn more", more);
	cr_assert_leq(worst, 2 + UDP_RETURNS_SERVER);
	more = wrapped_loops(4000, &worst);
	cr_assert_leq(more, 40, "%u loops ran more turns, one %u", more,
	    worst);
	cr_assert_leq(worst, 6);
}

/*
 * 100 replies to one address and port that all begin with the same 16
 * bytes share their first end's tag, and so a set: at most
 * UDP_RECENT_ALIKE of them stay there, not all its ways (before: such a
 * client flushed whatever else was in that set, a loop's turn too).
 */
Test(udpguard, replies_beginning_alike_keep_to_four_of_a_set)
{
	struct udp_recent		*rt = udp_recent_new(&key, "", 0);
	static const struct udp_turn	 fresh = { NULL, 0, true };
	const uint64_t			 to[3] = { 1, 0, 4 << 16 | 20000 };
	char				 r[64];
	unsigned int			 i, s, w, v, alike, most = 0;

	cr_assert_not_null(rt);
	for (i = 0; i < 100; i++) {
		snprintf(r, sizeof(r), "the same 16 bytes, then %05u", i);
		udp_recent_note(rt, to, (const uint8_t *)r, strlen(r),
		    udp_digest(&key, r, strlen(r)), 100 + i, &fresh);
	}
	for (s = 0; s < UDP_RECENT_SETS; s++)
		for (w = 0; w < UDP_RECENT_WAYS; w++) {
			for (alike = 0, v = 0; v < UDP_RECENT_WAYS; v++)
				alike += rt->table[s][w].tag != 0 &&
				    rt->table[s][v].tag == rt->table[s][w].tag;
			most = alike > most ? alike : most;
		}
	cr_assert_eq(most, UDP_RECENT_ALIKE);
	udp_recent_free(rt);
}

/*
 * With a prefix, against an echo that puts its own before what it reads
 * into a buffer smaller than the datagram ('ECHO: ' + recvfrom(1024)),
 * and so cuts our reply short: refused at the first return (before: it
 * never ended, each reply neither ending with the last nor beginning
 * with our prefix).  A client that sends our prefix, then the start of
 * an earlier request, is the same to echod.
 */
static unsigned int
cutting_loop(const char *prefix, const char *other, size_t buffer,
    size_t seed)
{
	struct udp_guard	*g = udp_guard_new(prefix, strlen(prefix),
				    &none, &key);
	struct sockaddr_in	 peer = v4("192.0.2.1", 20000);
	static char		 d[4096], r[4096];
	unsigned int		 n;
	size_t			 len = seed, reply, rlen;
	uint64_t		 now = 100;

	for (n = 0; n < sizeof(d); n++)
		d[n] = 'a' + n % 23;
	for (n = 0; n < 40; n++, now += 10) {
		if (judge(g, &peer, sizeof(peer), d, len, now, &reply) !=
		    UDP_ANSWER)
			break;
		rlen = strlen(prefix) + reply;
		memcpy(r, prefix, strlen(prefix));
		memcpy(r + strlen(prefix), d, reply);
		if (rlen > buffer)
			rlen = buffer;	/* what recvfrom() reads */
		len = strlen(other) + rlen;
		memcpy(d, other, strlen(other));
		memcpy(d + strlen(other), r, rlen);
	}
	udp_guard_free(g);
	return n;
}

Test(udpguard, loops_with_an_echo_that_cuts_short_end)
{
	cr_assert_eq(cutting_loop("GOT:", "ECHO: ", 1024, 1500), 1);
	cr_assert_eq(cutting_loop("GOT:", "ECHO: ", 1024, 1024), 1);
	cr_assert_eq(cutting_loop("A:", "GOT:", 1000, 999), 1);
	cr_assert_eq(cutting_loop("A:", "GOT:", 1000, 1500), 1);
	cr_assert_eq(cutting_loop("A:", "GOT:", 1000, 500), 1,
	    "uncut, as before");
}

/*
 * Cut shorter than UDP_RECENT_END bytes of the reply: with a prefix,
 * what is left after it is compared (before: never recognised).  An
 * echo that sends back nothing of the reply but our prefix gives
 * nothing to tell it from a client; without a prefix, the start of a
 * reply is no evidence, so an echo that cuts short is known only once
 * what it sends back stops changing.
 */
Test(udpguard, loops_with_an_echo_that_cuts_shorter_end)
{
	cr_assert_eq(cutting_loop("GOT:", "ECHO: ", 12, 100), 1);
	cr_assert_eq(cutting_loop("GOT:", "ECHO: ", 5, 100), 1);
	cr_assert_eq(cutting_loop("GOT:", "ECHO: ", 4, 100), 40,
	    "nothing of the reply");
	cr_assert_eq(cutting_loop("", "", 1024, 1500),
	    2 + UDP_RETURNS_SERVER, "known once it repeats");
}

/*
 * With a prefix, eight loops side by side from one address and port,
 * more than the replies kept for it, with an echo that cuts each reply
 * short: each is refused at its first return, found in the thread's
 * table by the first 16 bytes after the prefix.
 */
Test(udpguard, loops_side_by_side_with_an_echo_that_cuts_short_end)
{
	struct udp_guard	*g = udp_guard_new("GOT:", 4, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 20000);
	static char		 d[8][256], r[256];
	unsigned int		 answered[8] = { 0 }, turn, i;
	bool			 ended[8] = { false };
	size_t			 len[8], reply;
	uint64_t		 now = 100;

	for (i = 0; i < 8; i++) {
		memset(d[i], 'a' + i, 200);
		len[i] = 200;
	}
	for (turn = 0; turn < 10; turn++)
		for (i = 0; i < 8; i++) {
			if (ended[i])
				continue;
			if (judge(g, &sin, sizeof(sin), d[i], len[i], now++,
			    &reply) != UDP_ANSWER) {
				ended[i] = true;
				continue;
			}
			answered[i]++;
			/* "ECHO: " and the first 64 bytes it read. */
			memcpy(r, "GOT:", 4);
			memcpy(r + 4, d[i], 60);
			memcpy(d[i], "ECHO: ", 6);
			memcpy(d[i] + 6, r, 64);
			len[i] = 70;
		}
	for (i = 0; i < 8; i++)
		cr_assert_eq(answered[i], 1, "loop %u answered %u times", i,
		    answered[i]);
	udp_guard_free(g);
}

/*
 * Loops side by side from one address and port, each started by one of
 * the n datagrams of at most 512 bytes at d, in turn, for `turns`
 * rounds: the other echo sends back `before` and what it got.  The
 * answers each loop got, in answered[], and whether it was refused, in
 * ended[].
 */
static void
loops_in_turn(struct udp_guard *g, char (*d)[1024], unsigned int n,
    unsigned int turns, const char *before, unsigned int *answered,
    bool *ended)
{
	struct sockaddr_in	 sin = v4("192.0.2.1", 20000);
	size_t			 blen = strlen(before), reply, len;
	unsigned int		 turn, i;
	uint64_t		 now = 100;

	for (turn = 0; turn < turns; turn++)
		for (i = 0; i < n; i++) {
			if (ended[i])
				continue;
			len = strlen(d[i]);
			if (judge(g, &sin, sizeof(sin), d[i], len, now++,
			    &reply) != UDP_ANSWER) {
				ended[i] = true;
				continue;
			}
			answered[i]++;
			cr_assert_lt(len + blen, 1024, "loop %u", i);
			memmove(d[i] + blen, d[i], len + 1);
			memcpy(d[i], before, blen);
		}
}

/*
 * With a prefix, against another echo that puts more than 510 bytes
 * before what it sends back: eight loops side by side, more than the
 * replies kept for one address and port, are each refused at their
 * first return, found by their replies' last 16 bytes after the prefix
 * (before: only the prefix's place in the first bytes was looked at,
 * and each ran five turns).  A client whose datagram ends with its last
 * reply without the prefix before it is answered.
 */
Test(udpguard, loops_with_an_echo_that_puts_much_before_end)
{
	struct udp_guard	*a = udp_guard_new("A:", 2, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 20000);
	static char		 d[8][1024], other[603];
	unsigned int		 answered[8] = { 0 }, i;
	bool			 ended[8] = { false };
	size_t			 reply;
	uint64_t		 now = 1000;

	/* 599 bytes of its own, then ours: "BBB...B:A:". */
	memset(other, 'B', 599);
	memcpy(other + 599, ":A:", 4);
	for (i = 0; i < 8; i++)
		snprintf(d[i], sizeof(d[i]), "loop %u, long enough", i);
	loops_in_turn(a, d, 8, 10, other, answered, ended);
	for (i = 0; i < 8; i++)
		cr_assert_eq(answered[i], 1, "loop %u answered %u times", i,
		    answered[i]);
	for (i = 0; i < 3; i++) {
		snprintf(d[0], sizeof(d[0]), "%.*sa client's request, "
		    "long enough", 3 * (int)i, "xxxxxx");
		cr_assert_eq(judge(a, &sin, sizeof(sin), d[0], strlen(d[0]),
		    now++, &reply), UDP_ANSWER, "request %u", i);
	}
	udp_guard_free(a);
}

/*
 * Without a prefix, against another echo that puts its own before what
 * it sends back, so that each reply is longer than the last: 64 loops
 * side by side each end as one alone would, after UDP_RETURNS_SERVER
 * returns, whether they start short or long.
 */
Test(udpguard, loops_side_by_side_with_a_prefixing_echo_end)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	static char		 d[64][1024];
	unsigned int		 answered[64] = { 0 }, i, most;
	bool			 ended[64] = { false };

	for (i = 0; i < 64; i++)
		/* No loop's datagram begins with another's ("2", "20"). */
		snprintf(d[i], sizeof(d[i]), i % 2 ? "loop %02u" :
		    "long enough to be known by its end: loop %02u", i);
	loops_in_turn(g, d, 64, 40, "B:", answered, ended);
	for (i = 0; i < 64; i++) {
		/* A short one is known once it has grown to the tail. */
		most = 1 + UDP_RETURNS_SERVER + (i % 2 ? UDP_RECENT_END / 2 :
		    0);
		cr_assert(ended[i], "loop %u did not end", i);
		cr_assert_leq(answered[i], most, "loop %u answered %u times",
		    i, answered[i]);
		if (i % 2 == 0)
			cr_assert_eq(answered[i], most, "loop %u", i);
	}
	udp_guard_free(g);
}

/*
 * One loop, its replies changed as another echo changes them, each
 * turn coming back after turn_ms: the answers echod gives it (at most
 * 40, fewer if the datagram outgrows its buffer first).
 */
static unsigned int
loop_answers(struct udp_guard *g, const char *start, const char *before,
    const char *after, uint64_t turn_ms)
{
	struct sockaddr_in	 sin = v4("192.0.2.1", 20000);
	char			 d[512];
	unsigned int		 n;
	size_t			 reply;
	uint64_t		 now = 100;

	snprintf(d, sizeof(d), "%s", start);
	for (n = 0; n < 40; n++, now += turn_ms) {
		if (judge(g, &sin, sizeof(sin), d, strlen(d), now,
		    &reply) != UDP_ANSWER)
			break;
		if (strlen(before) + strlen(d) + strlen(after) >= sizeof(d))
			return 40;
		memmove(d + strlen(before), d, strlen(d) + 1);
		memcpy(d, before, strlen(before));
		strcat(d, after);
	}
	return n;
}

/*
 * A loop over a path whose round trip takes seconds (before: a reply
 * was looked for a second only, and such a loop never ended).
 */
Test(udpguard, a_slow_loop_ends_as_a_fast_one)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct udp_guard	*a = udp_guard_new("A:", 2, &none, &key);

	cr_assert_eq(loop_answers(g, "hello", "", "", 5000),
	    1 + UDP_RETURNS_SERVER);
	cr_assert_eq(loop_answers(a, "hello", "B:A:", "", 5000), 1);
	cr_assert_eq(loop_answers(g, "again", "", "", UDP_RETURN_MSEC + 1),
	    40, "longer than a reply is looked for");
	udp_guard_free(g);
	udp_guard_free(a);
}

/* Loops forged side by side, the other echo adding before and after. */
struct loops {
	const char	*prefix;	/* ours */
	const char	*start;		/* the forged datagram, each loop's */
	const char	*before, *after;	/* what the other echo adds */
	unsigned int	 n;		/* side by side */
	unsigned int	 answers;	/* each, before it is refused */
};

/* The clients answered between a loop's turns: 30,000, distinct. */
static void
busy_clients(struct udp_guard *g, unsigned int turn, uint64_t now)
{
	struct sockaddr_in	 client;
	char			 ip[32], req[32];
	unsigned int		 i;
	size_t			 reply;

	for (i = 0; i < 30000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 255, i & 255);
		client = v4(ip, 40000 + i % 20000);
		snprintf(req, sizeof(req), "request %u.%u", turn, i);
		cr_assert_eq(judge(g, &client, sizeof(client), req,
		    strlen(req), now + i / 10, &reply), UDP_ANSWER);
	}
}

/*
 * Each loop's turn, then busy clients, every 5 s: whether each loop
 * was answered as often as it should be.
 */
static void
loops_beside_clients(const struct loops *l)
{
	struct udp_guard	*g = udp_guard_new(l->prefix,
				    strlen(l->prefix), &none, &key);
	struct sockaddr_in	 peer = v4("192.0.2.1", 20000);
	static char		 d[8][512];
	unsigned int		 answered[8] = { 0 }, turn, k;
	bool			 ended[8] = { false };
	size_t			 reply, len;
	uint64_t		 now = 100;

	cr_assert_leq(l->n, 8);
	for (k = 0; k < l->n; k++)
		snprintf(d[k], sizeof(d[k]), "%s %u", l->start, k);
	for (turn = 0; turn < 40; turn++, now += 5000) {
		for (k = 0; k < l->n; k++) {
			if (ended[k])
				continue;
			len = strlen(d[k]);
			if (judge(g, &peer, sizeof(peer), d[k], len, now,
			    &reply) != UDP_ANSWER) {
				ended[k] = true;
				continue;
			}
			answered[k]++;
			memmove(d[k] + strlen(l->before), d[k], len + 1);
			memcpy(d[k], l->before, strlen(l->before));
			strcat(d[k], l->after);
		}
		busy_clients(g, turn, now + 1);
	}
	for (k = 0; k < l->n; k++)
		cr_assert_eq(answered[k], l->answers, "prefix '%s', the "
		    "other echo's '%s' '%s', loop %u of %u answered %u times",
		    l->prefix, l->before, l->after, k, l->n, answered[k]);
	udp_guard_free(g);
}

/*
 * Slow loops with a server, beside a thread busy answering clients:
 * their replies make room before the loops' turns do, in both tables
 * (before: 30,000 others within a round trip outran both and the loops
 * ran on).  Six side by side outrun the last four replies to the
 * address and port (and those whose replies grow are not in the
 * sketch); a short one is found there only.
 */
Test(udpguard, slow_loops_beside_busy_clients_end)
{
	static const struct loops loops[] = {
		{ "", "a loop's datagram, long enough", "", "", 6,
		    1 + UDP_RETURNS_SERVER },
		{ "", "0", "", "\n", 1, 1 + UDP_RETURNS_SERVER },
		{ "", "a loop's datagram, long enough", "B:", "", 6,
		    1 + UDP_RETURNS_SERVER },
		{ "A:", "a loop's datagram", "B:A:", "", 6, 1 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(loops) / sizeof(loops[0]); i++)
		loops_beside_clients(&loops[i]);
}

/*
 * Without a prefix, against an echo that adds something after each
 * reply, or before, long or short: each ends after UDP_RETURNS_SERVER
 * returns once its reply is UDP_RECENT_END bytes long (before: one that
 * added a newline ran on).
 */
Test(udpguard, a_loop_with_an_echo_that_adds_ends)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);

	cr_assert_eq(loop_answers(g, "long enough to be known: 1", "", "\n",
	    1), 1 + UDP_RETURNS_SERVER);
	cr_assert_eq(loop_answers(g, "long enough to be known: 2", "",
	    "\r\n", 1), 1 + UDP_RETURNS_SERVER);
	cr_assert_eq(loop_answers(g, "long enough to be known: 3", "B:", "",
	    1), 1 + UDP_RETURNS_SERVER);
	/* Short: found among the last replies to the address and port. */
	cr_assert_eq(loop_answers(g, "0", "", "\n", 1),
	    1 + UDP_RETURNS_SERVER);
	cr_assert_eq(loop_answers(g, "1", "", "\r\n", 1),
	    1 + UDP_RETURNS_SERVER);
	cr_assert_eq(loop_answers(g, "2", "B:", "", 1),
	    1 + UDP_RETURNS_SERVER);
	udp_guard_free(g);
}

/*
 * Another echo that adds before and after what it sends back: without a
 * prefix, its loop ends as one that adds at one end does, once its
 * reply is 8 bytes long; with one, at its first return (before: with
 * either, a short reply ran on until it had grown; without a prefix,
 * any ran until the largest datagram or the rate limits).
 */
Test(udpguard, a_loop_with_an_echo_that_wraps_ends)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct udp_guard	*a = udp_guard_new("A:", 2, &none, &key);

	cr_assert_eq(loop_answers(g, "long enough to be known: 4", "<",
	    ">\n", 1), 1 + UDP_RETURNS_SERVER);
	cr_assert_eq(loop_answers(g, "{\"n\": 1}", "{\"echo\": ", "}", 1),
	    1 + UDP_RETURNS_SERVER);
	/* The start of the reply in what the echo adds: looked past. */
	cr_assert_eq(loop_answers(g, "ab, then more: long enough",
	    "xab, then more: long, but not this: ", "\n", 1),
	    1 + UDP_RETURNS_SERVER);
	/* "hi", "<hi>\n", "<<hi>\n>\n": known from 8 bytes. */
	cr_assert_eq(loop_answers(g, "hi", "<", ">\n", 1),
	    3 + UDP_RETURNS_SERVER);
	cr_assert_eq(loop_answers(a, "hi", "B:A:", "\n", 1), 1);
	cr_assert_eq(loop_answers(a, "long enough to be known: 5", "B:A:",
	    "\n", 1), 1);
	udp_guard_free(g);
	udp_guard_free(a);
}

/*
 * An echo whose prefix is full of our prefix's first byte: ours is found
 * behind it all the same (the search gives memchr() up after a few false
 * starts, for memmem()), at the first return.
 */
Test(udpguard, our_prefix_behind_its_first_byte_again_and_again_is_found)
{
	struct udp_guard	*g = udp_guard_new("GOT:", 4, &none, &key);

	cr_assert_eq(loop_answers(g, "hello", "GGGGGGGGGGGGGGGGGGGG> GOT:",
	    "", 1), 1);
	cr_assert_eq(loop_answers(g, "hello", "GOGOGOGOGOGOGOGOGOGO> GOT:",
	    "\n", 1), 1);
	cr_assert_eq(loop_answers(g, "hello", "G> GOT:", "", 1), 1);
	udp_guard_free(g);
}

/*
 * One loop with another echo that puts `blen` bytes before and `alen`
 * after each reply, binary: the answers echod gives it (at most 40, or
 * most).  With a prefix, `before` ends with ours.
 */
static unsigned int
padded_loop_from(int port, unsigned int most, const char *prefix,
    const void *before, size_t blen, const void *after, size_t alen,
    const void *seed, size_t len)
{
	struct udp_guard	*g = udp_guard_new(prefix, strlen(prefix),
				    &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", port);
	static uint8_t		 d[UDP_MAX_V4];
	unsigned int		 n;
	size_t			 reply;

	udp_guard_client_ports(g, 40000, 50000);
	memcpy(d, seed, len);
	for (n = 0; n < most; n++) {
		if (judge(g, &sin, sizeof(sin), (const char *)d, len,
		    100 + n, &reply) != UDP_ANSWER)
			break;
		cr_assert_lt(blen + len + alen, sizeof(d));
		memmove(d + blen, d, len);
		memcpy(d, before, blen);
		memcpy(d + blen + len, after, alen);
		len += blen + alen;
	}
	udp_guard_free(g);
	return n;
}

static unsigned int
padded_loop(const char *prefix, const void *before, size_t blen,
    const void *after, size_t alen, const void *seed, size_t len)
{
	return padded_loop_from(20000, 40, prefix, before, blen, after, alen,
	    seed, len);
}

/*
 * Echoes that pad: the start of each reply is then in many places of
 * what comes back (before: only the first two were looked at, and a
 * loop with an echo adding eight zeros before and after ran to the
 * largest datagram).  Found where the reply before was, or by its end.
 * With a prefix, an echo that adds a header longer than 60 bytes before
 * and something after (before: not recognised at all).
 */
Test(udpguard, loops_with_an_echo_that_pads_end)
{
	static const uint8_t	 zeros[24];
	static char		 header[203];
	const char		*seed = "a loop of many turns, long";

	cr_assert_eq(padded_loop("", zeros, 8, zeros, 8, seed, strlen(seed)),
	    1 + UDP_RETURNS_SERVER);
	cr_assert_eq(padded_loop("", "        \n", 9, "        \n", 9, seed,
	    strlen(seed)), 1 + UDP_RETURNS_SERVER);
	cr_assert_eq(padded_loop("", "abababab", 8, "!", 1, seed,
	    strlen(seed)), 1 + UDP_RETURNS_SERVER);
	cr_assert_eq(padded_loop("", "xxxxxxxxxxxxxxxxxxxx", 20, "!", 1,
	    seed, strlen(seed)), 1 + UDP_RETURNS_SERVER);
	/* A seed that begins as the padding: found by its end. */
	cr_assert_eq(padded_loop("", zeros, 8, "!", 1, "\0\0\0\0\0\0\0\0"
	    "\0\0\0\0\0\0\0\0 and then a loop", 32),
	    1 + UDP_RETURNS_SERVER);
	memset(header, 'H', 200);
	memcpy(header + 200, "A:", 2);
	cr_assert_eq(padded_loop("A:", header, 202, "!", 1, seed,
	    strlen(seed)), 1);
	memset(header, 'H', 61);
	memcpy(header + 61, "GOT:", 4);
	cr_assert_eq(padded_loop("GOT:", header, 65, "!", 1, seed,
	    strlen(seed)), 1);
	/*
	 * From a client's port, 1000 turns: by then the padding is all
	 * that the reply's ends hold, and only where the reply before was
	 * finds it.
	 */
	cr_assert_eq(padded_loop_from(45000, 2000, "", zeros, 8, zeros, 8,
	    seed, strlen(seed)), 1 + UDP_RETURNS_CLIENT);
}

/*
 * Four such loops on one address and port, their turns answered within
 * one millisecond: each reply takes the place of the one it continues
 * (before: of the first of the oldest, another loop's last turn, and
 * all four ran on until the largest datagram).
 */
Test(udpguard, four_wrapping_loops_within_a_millisecond_end)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 20000);
	static char		 d[4][512];
	unsigned int		 answered[4] = { 0 }, turn, i;
	bool			 ended[4] = { false };
	size_t			 reply, len;

	for (i = 0; i < 4; i++)
		snprintf(d[i], sizeof(d[i]), "loop %u of many, long", i);
	for (turn = 0; turn < 40; turn++)
		for (i = 0; i < 4; i++) {
			if (ended[i])
				continue;
			len = strlen(d[i]);
			if (judge(g, &sin, sizeof(sin), d[i], len, 100,
			    &reply) != UDP_ANSWER) {
				ended[i] = true;
				continue;
			}
			answered[i]++;
			memmove(d[i] + 1, d[i], len + 1);
			d[i][0] = '<';
			strcat(d[i], ">\n");
		}
	for (i = 0; i < 4; i++)
		cr_assert_eq(answered[i], 1 + UDP_RETURNS_SERVER,
		    "loop %u answered %u times", i, answered[i]);
	udp_guard_free(g);
}

/*
 * Requests that hold the last one's start, but not inside: a header
 * common to all, a counter before the common part.  From a server's
 * port, without a prefix, where the loop rule is strictest: all
 * answered.
 */
Test(udpguard, requests_alike_are_not_taken_for_replies_inside)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 20000);
	char			 req[128];
	unsigned int		 i, refused = 0;
	size_t			 reply;

	for (i = 0; i < 300; i++) {
		snprintf(req, sizeof(req), i % 2 ? "HEADER: the same forty "
		    "bytes each time. seq %u" : "seq %u: and then the same "
		    "forty bytes each time", i / 2);
		refused += judge(g, &sin, sizeof(sin), req, strlen(req),
		    100 + i, &reply) != UDP_ANSWER;
	}
	cr_assert_eq(refused, 0);
	udp_guard_free(g);
}

/*
 * An empty datagram between requests (a keep-alive), from a server's
 * port, without a prefix: its empty reply begins and ends every
 * datagram, but only another empty one is it come back (before: one
 * request in three was refused).
 */
Test(udpguard, an_empty_reply_is_in_no_other_datagram)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 20000);
	char			 req[32];
	unsigned int		 i, refused = 0;
	size_t			 reply;

	for (i = 0; i < 300; i++) {
		(void)judge(g, &sin, sizeof(sin), "", 0, 100 + 2 * i, &reply);
		snprintf(req, sizeof(req), "request %u", i);
		refused += judge(g, &sin, sizeof(sin), req, strlen(req),
		    101 + 2 * i, &reply) != UDP_ANSWER;
	}
	cr_assert_eq(refused, 0);
	udp_guard_free(g);
}

/*
 * Four loops side by side, made to end alike, so that their replies
 * share one set of the table, one of them turning faster than the
 * others, with `others` other requests from the same address and port
 * after each turn: each loop must end as one alone does.
 */
static void
alike_loops_end(unsigned int others)
{
	static const unsigned int order[] = { 0, 1, 0, 2, 0, 3 };
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 20000);
	static char		 d[4][256];
	char			 other[32];
	unsigned int		 answered[4] = { 0 }, turn, i, j, n = 0;
	bool			 ended[4] = { false };
	size_t			 reply, len;
	uint64_t		 now = 100;

	for (i = 0; i < 4; i++)
		snprintf(d[i], sizeof(d[i]), "loop %u, and the same 24 bytes "
		    "at the end", i);
	for (turn = 0; turn < 40 * 6; turn++) {
		i = order[turn % 6];
		if (ended[i])
			continue;
		len = strlen(d[i]);
		if (judge(g, &sin, sizeof(sin), d[i], len, now++, &reply) !=
		    UDP_ANSWER) {
			ended[i] = true;
			continue;
		}
		answered[i]++;
		memmove(d[i] + 2, d[i], len + 1);
		memcpy(d[i], "B:", 2);
		for (j = 0; j < others; j++) {
			snprintf(other, sizeof(other), "request %u", n++);
			cr_assert_eq(judge(g, &sin, sizeof(sin), other,
			    strlen(other), now++, &reply), UDP_ANSWER);
		}
	}
	for (i = 0; i < 4; i++)
		cr_assert_eq(answered[i], 1 + UDP_RETURNS_SERVER,
		    "loop %u answered %u times", i, answered[i]);
	udp_guard_free(g);
}

/*
 * Each turn takes its last's place, so four at once each end as one
 * does (before: each turn pushed out another loop's last, and the
 * slower ones ran on).
 */
Test(udpguard, four_loops_ending_alike_end)
{
	alike_loops_end(0);
}

/*
 * With four other requests after each turn, the replies kept for the
 * address and port no longer hold the loops' last turns and only the
 * thread's table finds them: there too each turn takes its last's place.
 */
Test(udpguard, four_loops_ending_alike_beside_other_requests_end)
{
	alike_loops_end(UDP_RETURN_REPLIES);
}

/*
 * A monitor repeating one datagram every 50 ms from a client's port,
 * without a prefix: to the loop rule, a loop, so one in
 * UDP_RETURNS_CLIENT + 1 is refused, and only that one.
 */
Test(udpguard, a_monitor_repeating_itself_loses_one_in_a_thousand)
{
	struct udp_guard	*g = udp_guard_new("", 0, &none, &key);
	struct sockaddr_in	 sin = v4("192.0.2.1", 45000);
	unsigned int		 i, refused = 0;
	size_t			 reply;

	udp_guard_client_ports(g, 40000, 50000);
	for (i = 0; i < 3 * (UDP_RETURNS_CLIENT + 1); i++)
		refused += judge(g, &sin, sizeof(sin), "ping", 4, 100 + 50 * i,
		    &reply) != UDP_ANSWER;
	cr_assert_eq(refused, 2);
	udp_guard_free(g);
}

/*
 * Two echoes with prefixes, once a loop's reply has grown to the largest
 * datagram: each cuts off what the other's prefix added, so what comes
 * back no longer ends with what was sent.  A second reply cut to fit
 * within a second to the same address and port is refused.
 */
Test(udpguard, a_reply_cut_again_is_refused)
{
	struct udp_guard	*g = udp_guard_new("A:", 2, &none, &key);
	struct sockaddr_in	 peer = v4("192.0.2.1", 20000);
	struct sockaddr_in	 other = v4("192.0.2.1", 20001);
	static char		 big[UDP_MAX_V4];
	size_t			 reply;

	memset(big, '7', sizeof(big));
	cr_assert_eq(judge(g, &peer, sizeof(peer), big, sizeof(big), 10,
	    &reply), UDP_ANSWER);
	cr_assert_eq(reply, UDP_MAX_V4 - 2);
	/*
	 * What the other echo sends back: its prefix, ours, cut (bytes
	 * other than ours after it: an echo that cuts our reply short
	 * is found by its start, as a reply come back).
	 */
	memset(big, '8', sizeof(big));
	memcpy(big, "B:A:", 4);
	cr_assert_eq(judge(g, &peer, sizeof(peer), big, sizeof(big), 11,
	    &reply), UDP_CUT_AGAIN);
	cr_assert_eq(reply, 0);
	cr_assert_str_eq(udp_verdict_reason(UDP_CUT_AGAIN), "its reply would "
	    "be cut to fit again within 10 s, an echo loop");
	cr_assert_eq(judge(g, &other, sizeof(other), big, sizeof(big), 12,
	    &reply), UDP_ANSWER, "another port");
	/* What needs no cutting is answered as ever. */
	cr_assert_eq(judge(g, &peer, sizeof(peer), "x", 1, 13, &reply),
	    UDP_ANSWER);
	cr_assert_eq(judge(g, &peer, sizeof(peer), big, sizeof(big),
	    12 + UDP_RETURN_MSEC, &reply), UDP_ANSWER, "a second later");
	udp_guard_free(g);
}
