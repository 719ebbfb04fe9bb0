/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The least a client can do: one blocking connection, N requests of 64
 * bytes, each reply ("GOT:" and the request) read whole before the next
 * goes out, nothing checked but its length.  What it spends per request
 * is the floor to hold echoload's own CPU per request against.
 *
 * usage: bareclient PORT N
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	struct rusage		 ru;
	char			 req[64], reply[68];
	long			 i, n;
	ssize_t			 got, r;
	int			 fd, one = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: bareclient PORT N\n");
		return 64;
	}
	sin.sin_port = htons(atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	n = atol(argv[2]);
	memset(req, 'x', sizeof(req) - 1);
	req[63] = '\n';
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		perror("bareclient");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < n; i++) {
		if (send(fd, req, sizeof(req), 0) != sizeof(req))
			return 1;
		for (got = 0; got < (ssize_t)sizeof(reply); got += r)
			if ((r = recv(fd, reply + got, sizeof(reply) - got,
			    0)) <= 0)
				return 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("%.3f us CPU per request\n", (ru.ru_utime.tv_sec * 1e6 +
	    ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 +
	    ru.ru_stime.tv_usec) / n);
	return 0;
}
