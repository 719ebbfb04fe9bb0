/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Unit: the per-address connection counts behind --max-per-ip. */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>

#include <criterion/criterion.h>

#include "peers.h"

TestSuite(peers, .timeout = 10);

Test(peers, mapped_ipv4_counts_as_ipv4)
{
	struct peer_table	 pt;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	struct peer		*p4, *p6;

	cr_assert_eq(peers_init(&pt, 10), 0);
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
