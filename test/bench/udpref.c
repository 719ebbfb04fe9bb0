/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The UDP reference for `make bench`: the naive echo loop, one blocking
 * recvfrom() and one sendto() per datagram, PREFIX + the datagram.  It
 * prints "listening on 127.0.0.1:PORT" as echod does.  Not installed.
 *
 * usage: udpref [-p port] [-P prefix]
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	static char		 buf[65536 + 1024];
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	struct sockaddr_storage	 from;
	socklen_t		 len = sizeof(sin), fromlen;
	const char		*prefix = "GOT:";
	size_t			 plen;
	ssize_t			 n;
	int			 fd, ch, port = 0;

	while ((ch = getopt(argc, argv, "p:P:")) != -1) {
		if (ch == 'p')
			port = atoi(optarg);
		else if (ch == 'P')
			prefix = optarg;
		else
			return 64;
	}
	plen = strlen(prefix);
	if (plen > 1024)
		return 64;
	memcpy(buf, prefix, plen);
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		return 1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		return 1;
	fprintf(stderr, "listening on 127.0.0.1:%d\n", ntohs(sin.sin_port));
	for (;;) {
		fromlen = sizeof(from);
		n = recvfrom(fd, buf + plen, 65536, 0,
		    (struct sockaddr *)&from, &fromlen);
		if (n >= 0)
			(void)sendto(fd, buf, plen + n, 0,
			    (struct sockaddr *)&from, fromlen);
	}
}
