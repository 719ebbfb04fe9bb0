/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Unit: address blocks for --proxy-from. */
#include "config.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cidr.h"

TestSuite(cidr, .timeout = 10);

static bool
in(const char *block, const char *ip)
{
	struct cidr		 c;
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	struct sockaddr_in6	 sin6 = { .sin6_family = AF_INET6 };
	const char		*why;

	cr_assert_eq(cidr_parse(block, &c, &why), 0, "%s: %s", block, why);
	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1)
		return cidr_match(&c, (struct sockaddr *)&sin);
	cr_assert_eq(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1, "%s", ip);
	return cidr_match(&c, (struct sockaddr *)&sin6);
}

Test(cidr, blocks_match_their_addresses)
{
	cr_assert(in("192.0.2.0/24", "192.0.2.255"));
	cr_assert_not(in("192.0.2.0/24", "192.0.3.0"));
	cr_assert(in("192.0.2.77/24", "192.0.2.1"), "host bits cleared");
	cr_assert(in("10.0.0.0/8", "::ffff:10.1.2.3"), "v4-mapped is IPv4");
	cr_assert(in("0.0.0.0/0", "203.0.113.9"));
	cr_assert_not(in("0.0.0.0/0", "2001:db8::1"), "no family crossing");
	cr_assert(in("198.51.100.7", "198.51.100.7"));
	cr_assert_not(in("198.51.100.7", "198.51.100.8"));
	cr_assert(in("2001:db8::/32", "2001:db8:ffff::1"));
	cr_assert_not(in("2001:db8::/32", "2001:db9::1"));
	cr_assert(in("2001:db8:0:1::/63", "2001:db8:0:0::1"));
	cr_assert_not(in("2001:db8:0:1::/64", "2001:db8:0:0::1"));
	cr_assert(in("::/0", "::1"));
	cr_assert(in("2001:db8::1/127", "2001:db8::0"));
}

Test(cidr, bad_blocks_say_why)
{
	struct cidr	 c;
	const char	*why;
	const char	*bad[] = { "", "/8", "192.0.2.0/", "192.0.2.0/33",
			    "192.0.2.0/-1", "192.0.2.0/+8", "192.0.2.0/8x",
			    "2001:db8::/129", "example.org", "192.0.2.0/ 8",
			    "[::1]/128", "192.0.2.0/24/1", NULL };
	size_t		 i;

	for (i = 0; bad[i] != NULL; i++)
		cr_assert_eq(cidr_parse(bad[i], &c, &why), -1, "%s", bad[i]);
	cidr_parse("192.0.2.0/33", &c, &why);
	cr_assert_str_eq(why, "prefix length must be 0 to 32");
	cidr_parse("::/129", &c, &why);
	cr_assert_str_eq(why, "prefix length must be 0 to 128");
	cidr_parse("nowhere", &c, &why);
	cr_assert_str_eq(why, "not an IPv4 or IPv6 address");
}
