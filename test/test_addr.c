/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Unit tests: listen addresses. */
#include "config.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>

#include <criterion/criterion.h>

#include "addr.h"

TestSuite(addr, .timeout = 10);

static const char *
first(const char *spec, uint16_t default_port, char *buf)
{
	struct listen_list	 list = { NULL, 0 };
	char			 why[256];

	cr_assert_eq(addr_parse_listen(&list, spec, default_port, why,
	    sizeof(why)), 0, "%s: %s", spec, why);
	cr_assert_geq(list.count, 1);
	addr_format((struct sockaddr *)&list.addrs[0].ss, buf, ADDR_STRLEN);
	addr_list_free(&list);
	return buf;
}

Test(addr, forms)
{
	char	 buf[ADDR_STRLEN];

	cr_assert_str_eq(first("127.0.0.1:80", 1, buf), "127.0.0.1:80");
	cr_assert_str_eq(first("127.0.0.1:0", 1, buf), "127.0.0.1:0");
	cr_assert_str_eq(first("127.0.0.1", 25000, buf), "127.0.0.1:25000");
	cr_assert_str_eq(first("[::1]:8080", 1, buf), "[::1]:8080");
	cr_assert_str_eq(first("[::1]", 7, buf), "[::1]:7");
	cr_assert_str_eq(first("::1", 7, buf), "[::1]:7");
	cr_assert_str_eq(first("[fe80::1:2]:0", 7, buf), "[fe80::1:2]:0");
}

/*
 * A host name gives every address the resolver has for it, in its order
 * (stock Debian's /etc/hosts names both 127.0.0.1 and ::1 localhost):
 * each is a loopback address with the port, whatever the order.
 */
Test(addr, host_name_gives_each_of_its_addresses)
{
	struct listen_list	 list = { NULL, 0 };
	char			 why[256], buf[ADDR_STRLEN];
	size_t			 i;

	cr_assert_eq(addr_parse_listen(&list, "localhost:99", 7, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_geq(list.count, 1);
	for (i = 0; i < list.count; i++) {
		addr_format((struct sockaddr *)&list.addrs[i].ss, buf,
		    sizeof(buf));
		cr_assert(strcmp(buf, "127.0.0.1:99") == 0 ||
		    strcmp(buf, "[::1]:99") == 0, "address %zu: %s", i, buf);
	}
	addr_list_free(&list);
}

Test(addr, port_alone_means_every_address)
{
	struct listen_list	 list = { NULL, 0 };
	char			 why[256], buf[ADDR_STRLEN];
	size_t			 i;
	const char		*specs[] = { "8000", "*:8000", "*" };

	for (i = 0; i < 3; i++) {
		cr_assert_eq(addr_parse_listen(&list, specs[i], 8000, why,
		    sizeof(why)), 0);
		cr_assert_eq(list.count, 2);
		cr_assert_str_eq(addr_format((struct sockaddr *)
		    &list.addrs[0].ss, buf, sizeof(buf)), "0.0.0.0:8000");
		cr_assert_str_eq(addr_format((struct sockaddr *)
		    &list.addrs[1].ss, buf, sizeof(buf)), "[::]:8000");
		cr_assert(list.addrs[1].share_port && list.addrs[1].optional);
		addr_list_free(&list);
	}
}

Test(addr, mapped_ipv4_is_shown_as_ipv4)
{
	struct sockaddr_in6	 sin6;
	char			 buf[ADDR_STRLEN];

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(54321);
	cr_assert_eq(inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr),
	    1);
	cr_assert_str_eq(addr_format((struct sockaddr *)&sin6, buf,
	    sizeof(buf)), "10.1.2.3:54321");
}

Test(addr, rejects)
{
	struct listen_list	 list = { NULL, 0 };
	char			 why[256];
	const char		*bad[] = { "", "1.2.3.4:", "1.2.3.4:65536",
	    "1.2.3.4:-5", "1.2.3.4:5x", "[::1]x", "[::1]:", "[::g]:5",
	    "1.2.3.4.5", "no.such.host.invalid:5", NULL };
	size_t			 i;

	for (i = 0; bad[i] != NULL; i++) {
		cr_assert_eq(addr_parse_listen(&list, bad[i], 1, why,
		    sizeof(why)), -1, "'%s' accepted", bad[i]);
		cr_assert_str_not_empty(why);
	}
	cr_assert_eq(list.count, 0);
}

Test(addr, prefixes_set_flags_and_names)
{
	struct listen_list	 list = { NULL, 0 };
	char			 why[256], name[LISTEN_NAMELEN];

	cr_assert_eq(addr_parse_listen(&list, "unix:/run/echod.sock", 1, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(list.addrs[0].ss.ss_family, AF_UNIX);
	cr_assert_eq(list.addrs[0].fd, -1);
	cr_assert_str_eq(addr_listen_name(&list.addrs[0], name, sizeof(name)),
	    "unix:/run/echod.sock");
	cr_assert_eq(addr_port((struct sockaddr *)&list.addrs[0].ss), 0);
	addr_list_free(&list);

	cr_assert_eq(addr_parse_listen(&list, "proxy:tls:127.0.0.1:9", 1, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert(list.addrs[0].tls);
	cr_assert(list.addrs[0].proxy);
	cr_assert_str_eq(addr_listen_name(&list.addrs[0], name, sizeof(name)),
	    "proxy:tls:127.0.0.1:9");
	addr_list_free(&list);

	cr_assert_eq(addr_parse_listen(&list, "tls:8443", 1, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(list.count, 2);
	cr_assert(list.addrs[0].tls && list.addrs[1].tls);
	cr_assert(!list.addrs[0].proxy);
	addr_list_free(&list);
}
