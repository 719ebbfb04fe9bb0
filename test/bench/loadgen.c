/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Load generator for `make bench`: ping-pong with N lines in flight,
 * streaming, connection churn and idle-connection workloads against an
 * echo server doing line framing.  Every echoed byte is checked against
 * PREFIX + the line sent; a mismatch aborts the run.  Prints one line of
 * key=value figures, including the server's CPU time per request read
 * from /proc/PID/stat.
 *
 * usage: loadgen -p port -s server-pid -m pingpong|stream|churn|idle
 *        [-c conns] [-l line-bytes] [-d in-flight] [-t seconds]
 *        [-j threads] [-P prefix] [-C]
 *
 * -C: the server frames by chunk (each read gets the prefix).
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

enum mode { PINGPONG, STREAM, CHURN, IDLE };

#define OBUF_SIZE	65536

struct conn {
	int		 fd;
	uint32_t	 id;
	uint64_t	 sent;		/* lines fully sent */
	uint64_t	 received;	/* echoes fully received */
	char		*obuf;		/* lines queued for sending */
	size_t		 obuf_len, obuf_off;
	size_t		 recv_off;	/* into the echo being received */
	char		*echo;		/* echo of line `received`, expected */
	uint64_t	*started;	/* send time of lines in flight, ns */
	int		 want_out;
	size_t		 prefix_seen;	/* chunk framing: bytes of a prefix */
};

struct worker {
	pthread_t	 thread;
	uint32_t	 id;
	struct conn	*conns;
	int		 nconns;
	uint64_t	 requests;	/* completed inside the window */
	uint64_t	 bytes;		/* echoed bytes checked inside it */
	uint32_t	*lat_us;	/* latencies inside the window */
	size_t		 nlat, caplat;
};

static enum mode	 mode = PINGPONG;
static int		 port, nconns = 50, depth = 1, nthreads = 1;
static size_t		 line_len = 64;
static double		 seconds = 3, warmup = 0.5;
static const char	*prefix = "GOT:";
static size_t		 prefix_len = 4;
/*
 * Chunk framing puts the prefix before each read, wherever it ended, so
 * the check drops every prefix first (lines here never hold its first
 * byte) and compares what is left with the lines sent.
 */
static int		 chunked;
static size_t		 echo_prefix_len = 4;
static uint64_t		 window_start, window_end;	/* ns */

static size_t
put_hex(char *p, uint64_t v)
{
	char	 tmp[16];
	size_t	 n = 0, i;

	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/*
 * Line `seq` of connection `id`: distinct, line_len bytes, LF-ended.
 * Cheap to make, so the generator is not what limits the rate.
 */
static void
make_line(char *buf, uint32_t id, uint64_t seq)
{
	size_t	 i;

	i = put_hex(buf, id);
	buf[i++] = ':';
	i += put_hex(buf + i, seq);
	buf[i++] = ':';
	memset(buf + i, 'a' + seq % 26, line_len - 1 - i);
	buf[line_len - 1] = '\n';
}

static void
make_echo(struct conn *c)
{
	memcpy(c->echo, prefix, echo_prefix_len);
	make_line(c->echo + echo_prefix_len, c->id, c->received);
}

/* Removes the prefixes from buf in place; returns the new length. */
static size_t
strip_prefixes(struct conn *c, char *buf, size_t n)
{
	size_t	 i, out = 0;

	for (i = 0; i < n; i++) {
		if (c->prefix_seen < prefix_len &&
		    (c->prefix_seen > 0 || buf[i] == prefix[0])) {
			if (buf[i] != prefix[c->prefix_seen]) {
				fprintf(stderr, "loadgen: broken prefix on "
				    "connection %u\n", c->id);
				exit(3);
			}
			if (++c->prefix_seen == prefix_len)
				c->prefix_seen = 0;
			continue;
		}
		buf[out++] = buf[i];
	}
	return out;
}

static int
connect_one(int nonblock)
{
	struct sockaddr_in	 sin;
	int			 fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect");
	if (nonblock && fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		die("fcntl");
	return fd;
}

static void
conn_init(struct conn *c, uint32_t id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->fd = connect_one(1);
	if ((c->obuf = malloc(OBUF_SIZE)) == NULL ||
	    (c->echo = malloc(prefix_len + line_len)) == NULL ||
	    (c->started = calloc(depth, sizeof(uint64_t))) == NULL)
		die("malloc");
	make_echo(c);
}

static void
record(struct worker *w, uint64_t started, uint64_t now)
{
	if (now < window_start || now >= window_end)
		return;
	w->requests++;
	if (w->nlat == w->caplat) {
		w->caplat = w->caplat ? w->caplat * 2 : 1 << 16;
		if ((w->lat_us = realloc(w->lat_us, w->caplat * 4)) == NULL)
			die("realloc");
	}
	w->lat_us[w->nlat++] = (now - started) / 1000;
}

/*
 * Sends while the window allows, every line it allows in one send(), so
 * the generator costs less per line than the server it measures.
 * Returns 1 if the socket is full.
 */
static int
pump_out(struct conn *c)
{
	ssize_t	 n;

	for (;;) {
		if (c->obuf_off == c->obuf_len) {
			c->obuf_off = c->obuf_len = 0;
			while (c->sent - c->received < (uint64_t)depth &&
			    c->obuf_len + line_len <= OBUF_SIZE) {
				c->started[c->sent % depth] = now_ns();
				make_line(c->obuf + c->obuf_len, c->id,
				    c->sent++);
				c->obuf_len += line_len;
			}
			if (c->obuf_len == 0)
				return 0;
		}
		n = send(c->fd, c->obuf + c->obuf_off,
		    c->obuf_len - c->obuf_off, MSG_NOSIGNAL);
		if (n == -1 && errno == EAGAIN)
			return 1;
		if (n <= 0)
			die("send");
		c->obuf_off += n;
	}
}

static void
pump_in(struct worker *w, struct conn *c)
{
	static __thread char	 buf[262144];
	size_t			 echo_len = echo_prefix_len + line_len, take, off;
	ssize_t			 n;
	uint64_t		 now;

	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0) {
		now = now_ns();
		if (now >= window_start && now < window_end)
			w->bytes += n;
		if (chunked)
			n = strip_prefixes(c, buf, n);
		for (off = 0; off < (size_t)n; off += take) {
			take = echo_len - c->recv_off;
			if (take > (size_t)n - off)
				take = n - off;
			if (memcmp(buf + off, c->echo + c->recv_off, take) != 0) {
				fprintf(stderr, "loadgen: wrong echo on "
				    "connection %u, line %llu\n", c->id,
				    (unsigned long long)c->received);
				exit(3);
			}
			c->recv_off += take;
			if (c->recv_off == echo_len) {
				record(w, c->started[c->received % depth], now);
				c->recv_off = 0;
				c->received++;
				make_echo(c);
			}
		}
	}
	if (n == 0 || (n == -1 && errno != EAGAIN)) {
		fprintf(stderr, "loadgen: connection %u closed by the server\n",
		    c->id);
		exit(3);
	}
}

static void
set_out(int ep, struct conn *c, int want)
{
	struct epoll_event	 ev = { .events = EPOLLIN, .data.ptr = c };

	if (want == c->want_out)
		return;
	if (want)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		die("epoll_ctl");
	c->want_out = want;
}

static void *
run_flows(void *arg)
{
	struct worker		*w = arg;
	struct epoll_event	 events[256], ev;
	int			 ep, i, n;

	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	for (i = 0; i < w->nconns; i++) {
		ev.events = EPOLLIN;
		ev.data.ptr = &w->conns[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, w->conns[i].fd, &ev) == -1)
			die("epoll_ctl");
	}
	for (i = 0; i < w->nconns; i++)
		set_out(ep, &w->conns[i], pump_out(&w->conns[i]));
	while (now_ns() < window_end) {
		n = epoll_wait(ep, events, 256, 100);
		for (i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;

			if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				pump_in(w, c);
			set_out(ep, c, pump_out(c));
		}
	}
	close(ep);
	return NULL;
}

/* Connect, one line, its echo, close; as fast as it goes. */
static void *
run_churn(void *arg)
{
	struct worker	*w = arg;
	struct conn	 c;
	char		 buf[65536 + 64];
	size_t		 got, echo_len = prefix_len + line_len;
	ssize_t		 n;
	uint64_t	 start, seq = 0;

	memset(&c, 0, sizeof(c));
	c.id = w->id;
	if ((c.obuf = malloc(line_len)) == NULL ||
	    (c.echo = malloc(echo_len)) == NULL)
		die("malloc");
	while ((start = now_ns()) < window_end) {
		c.fd = connect_one(0);
		c.received = seq;
		make_line(c.obuf, c.id, seq);
		make_echo(&c);
		if (send(c.fd, c.obuf, line_len, MSG_NOSIGNAL) != (ssize_t)line_len)
			die("send");
		for (got = 0; got < echo_len; got += n)
			if ((n = recv(c.fd, buf + got, echo_len - got, 0)) <= 0)
				die("recv");
		if (memcmp(buf, c.echo, echo_len) != 0) {
			fprintf(stderr, "loadgen: wrong echo in churn\n");
			exit(3);
		}
		close(c.fd);
		record(w, start, now_ns());
		seq++;
	}
	free(c.obuf);
	free(c.echo);
	return NULL;
}

static long
server_rss_kb(int pid)
{
	char	 path[64], line[256];
	long	 kb = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		die(path);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Opens nconns, one exchange each, then reports the server's RSS growth. */
static void
run_idle(int pid)
{
	struct worker	 w;
	struct conn	*conns;
	long		 before, after;
	int		 i;

	memset(&w, 0, sizeof(w));
	window_start = 0;
	window_end = UINT64_MAX;
	before = server_rss_kb(pid);
	if ((conns = calloc(nconns, sizeof(*conns))) == NULL)
		die("calloc");
	for (i = 0; i < nconns; i++) {
		conn_init(&conns[i], i);
		while (pump_out(&conns[i]))
			;
	}
	for (i = 0; i < nconns; i++)
		while (conns[i].received == 0) {
			struct pollfd pfd = { conns[i].fd, POLLIN, 0 };

			poll(&pfd, 1, 1000);
			pump_in(&w, &conns[i]);
		}
	usleep(200000);
	after = server_rss_kb(pid);
	printf("mode=idle conns=%d rss_before_kb=%ld rss_after_kb=%ld "
	    "bytes_per_conn=%.0f\n", nconns, before, after,
	    (after - before) * 1024.0 / nconns);
	for (i = 0; i < nconns; i++)
		close(conns[i].fd);
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen -p port -s server-pid "
	    "-m pingpong|stream|churn|idle [-c conns] [-l line-bytes] "
	    "[-d in-flight] [-t seconds] [-j threads] [-P prefix] [-C]\n");
	exit(64);
}

int
main(int argc, char *argv[])
{
	struct worker	*workers;
	struct rlimit	 rl;
	uint32_t	*lat;
	uint64_t	 requests = 0, bytes = 0;
	size_t		 nlat = 0;
	long		 cpu0, cpu1;
	double		 span, cpu_us_per_req;
	int		 ch, pid = 0, i, next = 0;

	while ((ch = getopt(argc, argv, "p:s:m:c:l:d:t:j:P:C")) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 's': pid = atoi(optarg); break;
		case 'm':
			if (strcmp(optarg, "pingpong") == 0) mode = PINGPONG;
			else if (strcmp(optarg, "stream") == 0) mode = STREAM;
			else if (strcmp(optarg, "churn") == 0) mode = CHURN;
			else if (strcmp(optarg, "idle") == 0) mode = IDLE;
			else usage();
			break;
		case 'c': nconns = atoi(optarg); break;
		case 'l': line_len = strtoul(optarg, NULL, 10); break;
		case 'd': depth = atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'j': nthreads = atoi(optarg); break;
		case 'P': prefix = optarg; prefix_len = strlen(optarg); break;
		case 'C': chunked = 1; break;
		default: usage();
		}
	}
	if (port <= 0 || pid <= 0 || nconns < 1 || depth < 1 ||
	    line_len < 24 || line_len > 65536 || nthreads < 1)
		usage();
	echo_prefix_len = chunked ? 0 : prefix_len;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (mode == IDLE) {
		run_idle(pid);
		return 0;
	}
	if (mode == STREAM)
		depth = 1 << 20;	/* as much as the sockets take */
	if (mode == CHURN)
		nconns = nthreads;
	if ((workers = calloc(nthreads, sizeof(*workers))) == NULL)
		die("calloc");
	for (i = 0; i < nthreads; i++) {
		workers[i].id = i;
		workers[i].nconns = nconns / nthreads +
		    (i < nconns % nthreads);
		if (mode == CHURN)
			continue;
		if ((workers[i].conns = calloc(workers[i].nconns,
		    sizeof(struct conn))) == NULL)
			die("calloc");
		for (int k = 0; k < workers[i].nconns; k++)
			conn_init(&workers[i].conns[k], next++);
	}
	window_start = now_ns() + (uint64_t)(warmup * 1e9);
	window_end = window_start + (uint64_t)(seconds * 1e9);
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&workers[i].thread, NULL,
		    mode == CHURN ? run_churn : run_flows, &workers[i]) != 0)
			die("pthread_create");
	while (now_ns() < window_start)
		usleep(1000);
	cpu0 = server_cpu_ticks(pid);
	while (now_ns() < window_end)
		usleep(1000);
	cpu1 = server_cpu_ticks(pid);
	for (i = 0; i < nthreads; i++) {
		pthread_join(workers[i].thread, NULL);
		requests += workers[i].requests;
		bytes += workers[i].bytes;
		nlat += workers[i].nlat;
	}
	if ((lat = malloc((nlat + 1) * sizeof(*lat))) == NULL)
		die("malloc");
	for (nlat = 0, i = 0; i < nthreads; i++) {
		memcpy(lat + nlat, workers[i].lat_us, workers[i].nlat * 4);
		nlat += workers[i].nlat;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	span = seconds;
	cpu_us_per_req = requests ? (cpu1 - cpu0) * 1e6 /
	    sysconf(_SC_CLK_TCK) / requests : 0;
	printf("mode=%s conns=%d line=%zu depth=%d threads=%d req_s=%.0f "
	    "mb_s=%.1f p50_us=%u p99_us=%u p999_us=%u cpu_us_per_req=%.2f "
	    "server_cpu_pct=%.0f\n",
	    mode == PINGPONG ? "pingpong" : mode == STREAM ? "stream" : "churn",
	    nconns, line_len, mode == STREAM ? 0 : depth, nthreads,
	    requests / span, bytes / span / 1e6,
	    nlat ? lat[nlat / 2] : 0, nlat ? lat[nlat * 99 / 100] : 0,
	    nlat ? lat[nlat * 999 / 1000] : 0, cpu_us_per_req,
	    (cpu1 - cpu0) * 100.0 / sysconf(_SC_CLK_TCK) / span);
	return 0;
}
