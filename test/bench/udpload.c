/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * UDP load generator for `make bench`: C sockets, each with D datagrams
 * in flight, against an echo server on 127.0.0.1.  Every reply is
 * checked byte for byte against PREFIX + the datagram sent; a mismatch
 * is an error (exit 1).  A datagram not answered within 200 ms counts as
 * lost and is sent again as a new one (the server may drop or limit).
 * Prints one line of key=value figures, with the server's CPU time per
 * datagram read from /proc/PID/stat.
 *
 * usage: udpload -p port -s server-pid [-c sockets] [-d in-flight]
 *        [-l bytes] [-t seconds] [-P prefix]
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_DEPTH	64
#define LOST_MS		200

struct sock {
	int		 fd;
	uint32_t	 id;
	uint64_t	 next;		/* sequence number of the next datagram */
	uint64_t	 oldest;	/* oldest still expected */
	uint64_t	 last_reply_ms;
};

static const char	*prefix = "GOT:";
static size_t		 prefix_len = 4, dgram_len = 64;
static int		 depth = 8;

/* Datagram seq of socket id: its numbers, then a pattern to the length. */
static size_t
dgram_fill(char *buf, uint32_t id, uint64_t seq)
{
	size_t	 n, i;

	n = snprintf(buf, dgram_len + 1, "%u:%llu:", id,
	    (unsigned long long)seq);
	for (i = n; i < dgram_len; i++)
		buf[i] = 'a' + (id + seq + i) % 26;
	return dgram_len;
}

static void
sock_send(struct sock *s)
{
	char	 buf[65536];
	size_t	 n = dgram_fill(buf, s->id, s->next);

	if (send(s->fd, buf, n, 0) != (ssize_t)n && errno != EAGAIN &&
	    errno != ENOBUFS)
		die("send");
	s->next++;
}

/*
 * A reply: exactly PREFIX + the datagram its numbers name, one in
 * flight, or one given up as lost that came late; else an error.
 */
static int
sock_reply(struct sock *s, const char *got, size_t len, uint64_t *lost,
    uint64_t *late)
{
	char			 want[65536];
	unsigned int		 id;
	unsigned long long	 seq;
	size_t			 n;

	if (len > prefix_len && len < sizeof(want) - 1) {
		memcpy(want, got + prefix_len, len - prefix_len);
		want[len - prefix_len] = '\0';
	} else
		want[0] = '\0';
	if (sscanf(want, "%u:%llu:", &id, &seq) != 2 || id != s->id ||
	    seq >= s->next) {
		fprintf(stderr, "udpload: socket %u: a reply of %zu bytes "
		    "for no datagram sent\n", s->id, len);
		return -1;
	}
	memcpy(want, prefix, prefix_len);
	n = prefix_len + dgram_fill(want + prefix_len, s->id, seq);
	if (n != len || memcmp(want, got, len) != 0) {
		fprintf(stderr, "udpload: socket %u: the reply to datagram "
		    "%llu differs from it (%zu bytes, want %zu)\n", s->id,
		    seq, len, n);
		return -1;
	}
	if (seq < s->oldest) {
		(*late)++;
		return 0;
	}
	*lost += seq - s->oldest;
	s->oldest = seq + 1;
	return 0;
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	struct epoll_event	 ev, evs[64];
	struct sock		*socks;
	char			 buf[65536];
	double			 seconds = 3, warmup = 0.5, span;
	uint64_t		 start, end, t, replies = 0, lost = 0;
	uint64_t		 in_window = 0, late = 0;
	long			 cpu0 = 0, cpu1;
	int			 ch, port = 0, pid = 0, nsocks = 16, ep, i, n;
	int			 errors = 0, measuring = 0;
	ssize_t			 got;

	while ((ch = getopt(argc, argv, "p:s:c:d:l:t:P:")) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 's': pid = atoi(optarg); break;
		case 'c': nsocks = atoi(optarg); break;
		case 'd': depth = atoi(optarg); break;
		case 'l': dgram_len = strtoul(optarg, NULL, 10); break;
		case 't': seconds = atof(optarg); break;
		case 'P': prefix = optarg; prefix_len = strlen(prefix); break;
		default: return 64;
		}
	}
	if (port == 0 || pid == 0 || nsocks < 1 || depth < 1 ||
	    depth > MAX_DEPTH || dgram_len < 24 || dgram_len > 60000) {
		fprintf(stderr, "usage: udpload -p port -s pid [-c sockets] "
		    "[-d in-flight] [-l bytes] [-t seconds] [-P prefix]\n");
		return 64;
	}
	if ((socks = calloc(nsocks, sizeof(*socks))) == NULL)
		die("calloc");
	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	for (i = 0; i < nsocks; i++) {
		socks[i].id = i;
		socks[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (socks[i].fd == -1 || connect(socks[i].fd,
		    (struct sockaddr *)&sin, sizeof(sin)) == -1)
			die("socket");
		ev.events = EPOLLIN;
		ev.data.ptr = &socks[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, socks[i].fd, &ev) == -1)
			die("epoll_ctl");
	}
	start = now_ns();
	end = start + (uint64_t)((warmup + seconds) * 1e9);
	for (i = 0; i < nsocks; i++) {
		socks[i].last_reply_ms = start / 1000000;
		while (socks[i].next < (uint64_t)depth)
			sock_send(&socks[i]);
	}
	while ((t = now_ns()) < end && errors == 0) {
		if (!measuring && t >= start + (uint64_t)(warmup * 1e9)) {
			measuring = 1;
			cpu0 = server_cpu_ticks(pid);
			start = t;
		}
		if ((n = epoll_wait(ep, evs, 64, 50)) == -1 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			struct sock *s = evs[i].data.ptr;

			while ((got = recv(s->fd, buf, sizeof(buf), 0)) >= 0) {
				if (sock_reply(s, buf, got, &lost, &late) == -1) {
					errors++;
					break;
				}
				replies++;
				in_window += measuring;
				s->last_reply_ms = t / 1000000;
				sock_send(s);
			}
		}
		/* Whatever waited too long is lost; start that socket over. */
		for (i = 0; i < nsocks; i++) {
			struct sock *s = &socks[i];

			if (t / 1000000 - s->last_reply_ms < LOST_MS)
				continue;
			lost += s->next - s->oldest;
			s->oldest = s->next;
			s->last_reply_ms = t / 1000000;
			while (s->next - s->oldest < (uint64_t)depth)
				sock_send(s);
		}
	}
	cpu1 = server_cpu_ticks(pid);
	span = (now_ns() - start) / 1e9;
	printf("mode=udp sockets=%d depth=%d bytes=%zu dgram_s=%.0f "
	    "cpu_us_per_dgram=%.2f lost=%llu late=%llu errors=%d "
	    "replies=%llu\n",
	    nsocks, depth, dgram_len, in_window / span,
	    in_window ? (cpu1 - cpu0) * 1e6 / sysconf(_SC_CLK_TCK) /
	    in_window : 0, (unsigned long long)lost,
	    (unsigned long long)late, errors,
	    (unsigned long long)replies);
	return errors ? 1 : 0;
}
