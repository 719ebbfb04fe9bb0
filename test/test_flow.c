/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Integration: volume, backpressure and misbehaving clients. */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(flow, .timeout = 60);

#define LINE_LEN	1000

/* Line k of the test stream: distinct, LF-terminated, LINE_LEN bytes. */
static void
make_line(size_t k, char *line)
{
	size_t	 i;

	snprintf(line, LINE_LEN, "line %010zu:", k);
	for (i = 16; i < LINE_LEN - 1; i++)
		line[i] = 'A' + (k + i) % 58;
	line[LINE_LEN - 1] = '\n';
}

struct stream {
	size_t	 sent;		/* bytes of the input stream sent */
	size_t	 checked;	/* bytes of the echo stream verified */
};

/* Sends as much of `lines` lines as the socket takes right now. */
static void
stream_send(int fd, struct stream *s, size_t lines)
{
	char	 line[LINE_LEN];
	size_t	 k, off;
	ssize_t	 n;

	while (s->sent < lines * LINE_LEN) {
		k = s->sent / LINE_LEN;
		off = s->sent % LINE_LEN;
		make_line(k, line);
		n = send(fd, line + off, LINE_LEN - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		s->sent += n;
	}
}

/* Checks received bytes against "GOT:" + line, in order; 0 at EOF. */
static ssize_t
stream_check(int fd, struct stream *s)
{
	char	 buf[65536], want[4 + LINE_LEN];
	size_t	 i, k, off;
	ssize_t	 n;

	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -1;
	cr_assert_geq(n, 0, "recv: %s", strerror(errno));
	for (i = 0; i < (size_t)n; i++, s->checked++) {
		k = s->checked / (4 + LINE_LEN);
		off = s->checked % (4 + LINE_LEN);
		if (off == 0 || i == 0) {
			memcpy(want, "GOT:", 4);
			make_line(k, want + 4);
		}
		cr_assert_eq(buf[i], want[off],
		    "echo differs at byte %zu (line %zu)", s->checked, k);
	}
	return n;
}

Test(flow, fifty_megabytes_with_half_close)
{
	struct echod	 e;
	struct stream	 s = { 0, 0 };
	const size_t	 lines = 50 * 1000;	/* 50 MB */
	struct pollfd	 pfd;
	bool		 shut = false;
	int		 fd;

	echod_start(&e, NULL);
	fd = client_connect(e.port);
	pfd.fd = fd;
	for (;;) {
		pfd.events = POLLIN | (shut ? 0 : POLLOUT);
		cr_assert_gt(poll(&pfd, 1, WAIT_MS), 0, "stalled");
		if (pfd.revents & POLLOUT) {
			stream_send(fd, &s, lines);
			if (s.sent == lines * LINE_LEN) {
				shutdown(fd, SHUT_WR);
				shut = true;
			}
		}
		if ((pfd.revents & (POLLIN | POLLHUP)) &&
		    stream_check(fd, &s) == 0)
			break;
	}
	cr_assert(shut, "EOF before everything was sent");
	cr_assert_eq(s.checked, lines * (4 + LINE_LEN));
	close(fd);
	cr_assert(echod_wait_log(&e, "50000000 bytes in, 50200000 bytes out",
	    WAIT_MS), "%s", e.log);
	echod_finish(&e);
}

static void
asan_no_quarantine(void)
{
	const char	*old = getenv("ASAN_OPTIONS");
	char		 opts[512];

	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0:"
	    "thread_local_quarantine_size_kb=0", old ? old : "",
	    old && *old ? ":" : "");
	cr_assert_eq(setenv("ASAN_OPTIONS", opts, 1), 0);
}

/* Sends until the server has stopped reading and the kernel is full. */
static void
fill_until_blocked(struct echod *e, int fd, struct stream *s, size_t lines)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLOUT };

	long		 deadline = now_ms() + WAIT_MS;

	client_nonblock(fd);
	/*
	 * Kernel buffers on both sides can take one burst and its echo
	 * whole (autotuned, several MB): send until the server pauses.
	 */
	do {
		cr_assert_lt(now_ms(), deadline, "server never paused: %s",
		    e->log);
		stream_send(fd, s, lines);
		(void)poll(&pfd, 1, 50);
	} while (!echod_wait_log(e, "reading -> paused", 50));
	/* Blocked for good once the socket stays unwritable a while. */
	while (s->sent < lines * LINE_LEN && poll(&pfd, 1, 300) > 0)
		stream_send(fd, s, lines);
	cr_assert_lt(s->sent, lines * LINE_LEN,
	    "everything was taken; nothing pushed back");
}

Test(flow, client_that_never_reads)
{
	struct echod	 e;
	struct stream	 s = { 0, 0 };
	const size_t	 lines = 50 * 1000;	/* 50 MB offered */
	long		 rss_before, rss_after;
	struct pollfd	 pfd;
	int		 fd, other;

	/*
	 * In a sanitizer build, ASan's quarantine keeps every freed buffer
	 * chain resident, which would read as growth; it must not count.
	 */
	asan_no_quarantine();
	echod_start(&e, "-v", "--output-limit", "16K", NULL);
	fd = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "Connection from", WAIT_MS));
	rss_before = echod_rss_kb(&e);
	fill_until_blocked(&e, fd, &s, lines);
	rss_after = echod_rss_kb(&e);
	cr_log_info("sent %zu bytes before blocking; server RSS %ld -> %ld kB",
	    s.sent, rss_before, rss_after);
	/* The cap plus one read and a line, not what the client pushed. */
	cr_assert_lt(rss_after - rss_before, 1024,
	    "RSS grew by %ld kB", rss_after - rss_before);

	/* Meanwhile, everyone else is served. */
	other = client_connect(e.port);
	client_echo(other, "still here");
	close(other);

	/* Now it reads: every byte arrives, in order. */
	pfd.fd = fd;
	for (;;) {
		pfd.events = POLLIN | (s.sent < lines * LINE_LEN ? POLLOUT : 0);
		cr_assert_gt(poll(&pfd, 1, WAIT_MS), 0, "stalled");
		if (pfd.revents & POLLOUT) {
			stream_send(fd, &s, lines);
			if (s.sent == lines * LINE_LEN)
				shutdown(fd, SHUT_WR);
		}
		if ((pfd.revents & (POLLIN | POLLHUP)) &&
		    stream_check(fd, &s) == 0)
			break;
	}
	cr_assert_eq(s.checked, lines * (4 + LINE_LEN));
	close(fd);
	echod_finish(&e);
}

Test(flow, resets_do_not_disturb_others)
{
	struct echod	 e;
	struct stream	 s = { 0, 0 };
	int		 bystander, fd;

	echod_start(&e, "-v", "--output-limit", "4K", NULL);
	bystander = client_connect(e.port);
	client_echo(bystander, "before");

	/* Reset with output pending (the server is paused on it). */
	fd = client_connect(e.port);
	fill_until_blocked(&e, fd, &s, 100 * 1000);
	client_reset(fd);
	cr_assert(echod_wait_log(&e, "Connection closed", WAIT_MS));
	cr_assert(echod_log_has(&e, "Connection reset by peer") ||
	    echod_log_has(&e, "Broken pipe"), "%s", e.log);

	/* Reset right after connecting, and in the middle of a line. */
	fd = client_connect(e.port);
	client_reset(fd);
	fd = client_connect(e.port);
	client_send(fd, "half a li", 9);
	client_reset(fd);

	client_echo(bystander, "after");
	close(bystander);
	cr_assert_eq(echod_stop(&e), 0);
	/* Every connection accepted was closed and logged once. */
	cr_assert_eq(echod_log_count(&e, "Connection closed"),
	    echod_log_count(&e, "Connection from"), "%s", e.log);
	cr_assert_geq(echod_log_count(&e, "Connection closed"), 2);
	echod_free(&e);
}

/*
 * 300 clients each send 65535 bytes and no newline: without a global
 * bound that is 20 MB held for them.  --memory-limit sheds those holding
 * the most, RSS stays near the limit, and a new client is still served.
 */
Test(flow, memory_limit_bounds_many_partial_lines)
{
	static char	 partial[65535];
	struct echod	 e;
	long		 rss_before, rss_after;
	int		 fds[300], i, probe;

	memset(partial, 'p', sizeof(partial));
	echod_start(&e, "-v", "--memory-limit", "4M", NULL);
	probe = client_connect(e.port);
	client_echo(probe, "before");
	rss_before = echod_rss_kb(&e);
	for (i = 0; i < 300; i++) {
		fds[i] = client_connect(e.port);
		client_nonblock(fds[i]);
		/* Whatever the socket takes: shed ones take less. */
		cr_assert_gt(send(fds[i], partial, sizeof(partial),
		    MSG_NOSIGNAL), 0);
	}
	cr_assert(echod_wait_log(&e, "--memory-limit (4194304) reached: "
	    "shedding the connections whose bytes have stood still the "
	    "longest (logged once a minute)", WAIT_MS), "%s", e.log);
	/* A round trip after all of it: the loop has read what it would. */
	client_echo(probe, "after");
	rss_after = echod_rss_kb(&e);
	cr_assert(!rss_bounds_hold() || rss_after - rss_before < 10 * 1024,
	    "RSS %ld -> %ld kB", rss_before, rss_after);
	for (i = 0; i < 300; i++)
		close(fds[i]);
	close(probe);
	echod_finish(&e);
}

/*
 * A client whose socket is never empty: one thread sends 1 MiB at a
 * time, another takes the echo as fast as it comes.
 */
struct firehose {
	int		 fd;
	atomic_size_t	 sent;
	atomic_size_t	 received;
};

static void *
firehose_send(void *arg)
{
	struct firehose	*f = arg;
	static char	 lines[1 << 20];
	size_t		 sent = 0;
	ssize_t		 n;

	memset(lines, 'f', sizeof(lines));
	for (size_t i = 1023; i < sizeof(lines); i += 1024)
		lines[i] = '\n';
	/* Until the test shuts the sending side; a part sent goes on. */
	while ((n = send(f->fd, lines + sent % sizeof(lines), sizeof(lines) -
	    sent % sizeof(lines), MSG_NOSIGNAL)) > 0)
		sent = atomic_fetch_add(&f->sent, n) + n;
	return NULL;
}

static void *
firehose_recv(void *arg)
{
	struct firehose	*f = arg;
	static char	 buf[1 << 20];
	ssize_t		 n;

	while ((n = recv(f->fd, buf, sizeof(buf), 0)) > 0)
		atomic_fetch_add(&f->received, n);
	return NULL;
}

/*
 * One connection's reads are bounded per turn of the loop: a client that
 * keeps its socket full cannot keep another one of the same thread
 * waiting.  Each ping is answered within a second (a few milliseconds,
 * typically) while the firehose runs; unbounded, one waited until the
 * firehose's socket happened to be empty, seconds.
 */
Test(flow, a_client_that_keeps_its_socket_full_holds_no_other)
{
	struct firehose	 f = { .fd = -1 };
	struct echod	 e;
	pthread_t	 tx, rx;
	long		 start, took, slowest = 0, deadline, end;
	size_t		 before;
	int		 ping, pings = 0;

	/* Small reads: echod is slower than the firehose, whose socket then
	 * stays full for as long as it runs. */
	echod_start(&e, "--max-line", "4096", NULL);
	f.fd = client_connect(e.port);
	/* Deep queues both ways: echod's side is never empty, never full. */
	(void)setsockopt(f.fd, SOL_SOCKET, SO_SNDBUF, &(int){ 16 << 20 },
	    sizeof(int));
	(void)setsockopt(f.fd, SOL_SOCKET, SO_RCVBUF, &(int){ 16 << 20 },
	    sizeof(int));
	ping = client_connect(e.port);
	client_echo(ping, "first");
	cr_assert_eq(pthread_create(&tx, NULL, firehose_send, &f), 0);
	cr_assert_eq(pthread_create(&rx, NULL, firehose_recv, &f), 0);
	/* At full speed first: 16 MiB echoed. */
	deadline = now_ms() + WAIT_MS;
	while (atomic_load(&f.received) < (16 << 20) && now_ms() < deadline)
		(void)poll(NULL, 0, 10);
	cr_assert_geq(atomic_load(&f.received), 16 << 20, "%s", e.log);
	before = atomic_load(&f.received);
	/* Three seconds of pings: a stall, if there is one, falls in them. */
	for (end = now_ms() + 3000; now_ms() < end; pings++) {
		start = now_ms();
		client_echo(ping, "ping");
		took = now_ms() - start;
		if (took > slowest)
			slowest = took;
	}
	/* The firehose was served meanwhile. */
	cr_assert_gt(atomic_load(&f.received), before);
	cr_assert_lt(slowest, 1000, "of %d pings, one waited %ld ms", pings,
	    slowest);
	cr_assert_eq(shutdown(f.fd, SHUT_WR), 0);
	cr_assert_eq(pthread_join(tx, NULL), 0);
	cr_assert_eq(pthread_join(rx, NULL), 0);
	close(f.fd);
	close(ping);
	/* Every byte sent came back, a prefix before each line begun. */
	cr_assert_eq(atomic_load(&f.received), atomic_load(&f.sent) + 4 *
	    ((atomic_load(&f.sent) + 1023) / 1024), "%zu sent, %zu received",
	    atomic_load(&f.sent), atomic_load(&f.received));
	echod_finish(&e);
}
