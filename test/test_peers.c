/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Unit: the per-address connection counts behind --max-per-ip. */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>

#include <criterion/criterion.h>

#include "peers.h"
#include "siphash.h"

TestSuite(peers, .timeout = 10);

Test(peers, mapped_ipv4_counts_as_ipv4)
{
	struct peer_table	 pt;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	struct peer		*p4, *p6;

	cr_assert_eq(peers_init(&pt, 10, 64), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(1);
	inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(2);
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr);
	p4 = peers_get(&pt, (struct sockaddr *)&sin);
	p4->count++;
	p6 = peers_get(&pt, (struct sockaddr *)&sin6);
	cr_assert_eq(p4, p6, "ports or mapping split one address");
	inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
	cr_assert_neq(peers_get(&pt, (struct sockaddr *)&sin6), p4);
	p4->count--;
	peers_put(&pt, p4);
	p6 = peers_get(&pt, (struct sockaddr *)&sin);
	cr_assert_eq(p6->count, 0, "a fresh entry after the last one left");
	peers_free(&pt);
}

static struct sockaddr_in6
v6(const char *ip)
{
	struct sockaddr_in6	 sin6 = { .sin6_family = AF_INET6 };

	cr_assert_eq(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	return sin6;
}

/* Whoever has a /64 has 2^64 addresses: by default they are one client. */
Test(peers, ipv6_counts_per_prefix)
{
	struct peer_table	 pt;
	struct sockaddr_in6	 a = v6("2001:db8:1:2::1");
	struct sockaddr_in6	 b = v6("2001:db8:1:2:ffff:eeee:dddd:cccc");
	struct sockaddr_in6	 other = v6("2001:db8:1:3::1");
	struct sockaddr_in6	 half = v6("2001:db8:1:2:8000::1");
	struct sockaddr_in6	 low7 = v6("2001:db8:1:2:7fff::1");
	struct peer		*p;

	cr_assert_eq(peers_init(&pt, 10, 64), 0);
	p = peers_get(&pt, (struct sockaddr *)&a);
	cr_assert_eq(peers_get(&pt, (struct sockaddr *)&b), p);
	cr_assert_neq(peers_get(&pt, (struct sockaddr *)&other), p);
	peers_free(&pt);

	cr_assert_eq(peers_init(&pt, 10, 65), 0);
	p = peers_get(&pt, (struct sockaddr *)&a);
	cr_assert_eq(peers_get(&pt, (struct sockaddr *)&b) == p, false,
	    "b differs from a in bit 65");
	cr_assert_neq(peers_get(&pt, (struct sockaddr *)&half), p);
	/* Same first bit of the ninth byte: the rest of it is masked. */
	cr_assert_eq(peers_get(&pt, (struct sockaddr *)&low7), p);
	peers_free(&pt);

	cr_assert_eq(peers_init(&pt, 10, 128), 0);
	p = peers_get(&pt, (struct sockaddr *)&a);
	cr_assert_neq(peers_get(&pt, (struct sockaddr *)&b), p);
	cr_assert_eq(peers_get(&pt, (struct sockaddr *)&a), p);
	peers_free(&pt);
}

/* SipHash-2-4's reference vector (Aumasson and Bernstein, appendix A). */
Test(peers, siphash_matches_the_reference)
{
	struct siphash_key	 key;
	uint8_t			 k[16], msg[15];
	int			 i;

	for (i = 0; i < 16; i++)
		k[i] = i;
	for (i = 0; i < 15; i++)
		msg[i] = i;
	memcpy(&key.k0, k, 8);
	memcpy(&key.k1, k + 8, 8);
	cr_assert_eq(siphash(&key, msg, sizeof(msg)), 0xa129ca6149be45e5ULL);
}

/* A kept hash is the hash of what is asked now, not of what was before. */
Test(peers, siphash_memo_is_siphash_of_each_key)
{
	const struct siphash_key	 key = { 3, 5 };
	struct siphash_memo		 memo = { .valid = false };
	const uint64_t			 a[3] = { 1, 2, 3 }, b[3] = { 1, 2, 4 };

	cr_assert_eq(siphash_memo(&key, &memo, a), siphash(&key, a,
	    sizeof(a)));
	cr_assert_eq(siphash_memo(&key, &memo, a), siphash(&key, a,
	    sizeof(a)));
	cr_assert_eq(siphash_memo(&key, &memo, b), siphash(&key, b,
	    sizeof(b)));
	cr_assert_eq(siphash_memo(&key, &memo, a), siphash(&key, a,
	    sizeof(a)));
	cr_assert_neq(siphash(&key, a, sizeof(a)), siphash(&key, b,
	    sizeof(b)));
}
