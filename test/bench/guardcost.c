/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * make bench-guard: what the UDP guard costs a datagram, alone, without
 * sockets: echoload's datagrams (its numbers, then one byte over and
 * over) from 16 clients' ports, each new, so that every rule looks and
 * none refuses.  Prints nanoseconds a datagram for each size and prefix,
 * the best of three runs: a floor to compare builds with, on one machine.
 */
#include "config.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "udpguard.h"

static double
run(const char *prefix, size_t size, long n)
{
	static const struct siphash_key	 key = { 1, 2 };
	static char			 buf[65536];
	const struct udp_limits		 none = { 0, 0, 0, 0 };
	struct udp_guard		*g;
	struct sockaddr_in		 sin = { .sin_family = AF_INET };
	struct timespec			 a, b;
	size_t				 reply;
	long				 i, seq;
	int				 k, conn;

	g = udp_guard_new(prefix, strlen(prefix), &none, &key);
	if (g == NULL)
		exit(1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		conn = (int)(i % 16);
		seq = i / 16;
		k = snprintf(buf, sizeof(buf), "%x:%lx:", conn, seq);
		memset(buf + k, "abcdefghijklmnopqrstuv"[(conn + seq) % 22],
		    size - (size_t)k);
		sin.sin_port = htons(40000 + conn);
		if (udp_guard_judge(g, (struct sockaddr *)&sin, sizeof(sin),
		    buf, size, 1000 + (uint64_t)i / 1000, &reply) !=
		    UDP_ANSWER) {
			fprintf(stderr, "guardcost: datagram %ld refused\n", i);
			exit(1);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	udp_guard_free(g);
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
}

int
main(void)
{
	static const size_t	 sizes[] = { 64, 1400, 8000 };
	static const char	*prefixes[] = { "GOT:", "" };
	double			 best, t;
	size_t			 s, p;
	int			 r;

	for (p = 0; p < 2; p++)
		for (s = 0; s < 3; s++) {
			for (best = 0, r = 0; r < 3; r++) {
				t = run(prefixes[p], sizes[s], 200000);
				if (best == 0 || t < best)
					best = t;
			}
			printf("guard  prefix %-6s %5zu bytes  %7.1f ns a "
			    "datagram\n", *prefixes[p] ? prefixes[p] : "''",
			    sizes[s], best);
		}
	return 0;
}
