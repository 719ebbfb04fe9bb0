/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Integration: the resource model.  Over --memory-limit echod sheds the
 * connections holding the most that is not moving, every state notices
 * a client that leaves, a partial line costs time linear in its bytes,
 * and the drain keeps --output-limit.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(budget, .timeout = 90);

/* Sends all of buf on a non-blocking socket, or what it takes in 10 s. */
static size_t
send_what_fits(int fd, const char *buf, size_t len, int wait_ms)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLOUT };
	size_t		 sent = 0;
	ssize_t		 n;

	while (sent < len) {
		if ((n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL)) > 0) {
			sent += n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		if (poll(&pfd, 1, wait_ms) != 1)
			break;
	}
	return sent;
}

/* A client whose receive buffer is small: its replies wait in echod. */
static int
connect_small_rcvbuf(int port)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	int			 fd, rcvbuf = 4096;

	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -1);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
	    sizeof(rcvbuf)), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Polls a condition: echod's descriptors back at `want`, within ms. */
static long
fds_back_within(struct echod *e, int want, long ms)
{
	long	 start = now_ms();

	while (echod_fd_count(e) > want && now_ms() - start < ms)
		poll(NULL, 0, 20);
	return now_ms() - start;
}

/*
 * 400 clients each leave an unfinished line of 65 KB, then reset.  Over
 * the 8M limit the old model stopped reading the largest and waited for
 * room: their resets were never seen and their descriptors held forever.
 * Now every one is gone within moments, and a newcomer is served.
 */
Test(budget, clients_that_leave_over_the_limit_are_gone)
{
	static char	 part[30000], more[35000];
	struct echod	 e;
	int		 fds[400], i, base, probe, late;
	long		 took;

	client_raise_nofile();
	memset(part, 'a', sizeof(part));
	memset(more, 'b', sizeof(more));
	echod_start(&e, "-t", "3", "-c", "1500", "--memory-limit", "8M",
	    NULL);
	probe = client_connect(e.port);
	client_echo(probe, "before");
	base = echod_fd_count(&e);
	for (i = 0; i < 400; i++) {
		fds[i] = client_connect(e.port);
		client_nonblock(fds[i]);
		send_what_fits(fds[i], part, sizeof(part), 50);
	}
	for (i = 0; i < 400; i++)
		send_what_fits(fds[i], more, sizeof(more), 50);
	client_echo(probe, "during");
	for (i = 0; i < 400; i++)
		client_reset(fds[i]);
	/* Well within -t: the resets themselves must be noticed. */
	took = fds_back_within(&e, base, 2500);
	cr_assert_leq(echod_fd_count(&e), base, "%d descriptors, %d before, "
	    "%ld ms after the resets", echod_fd_count(&e), base, took);
	late = client_connect(e.port);
	client_echo(late, "newcomer");
	client_echo(probe, "after");
	close(late);
	close(probe);
	cr_assert(echod_log_has(&e, "shed over --memory-limit"), "%s", e.log);
	echod_finish(&e);
}

/*
 * Echoes `lines` lines of 64 KiB on one connection, sending and reading
 * at once; fails if it takes more than 30 s.  Returns echod's CPU time
 * for it, in ms.
 */
static long
stream_cpu_ms(struct echod *e, int fd, int lines)
{
	static char	 line[65536], got[65536];
	struct pollfd	 pfd = { .fd = fd };
	size_t		 sent = 0, received = 0, total, want;
	long		 cpu = echod_cpu_ms(e), deadline = now_ms() + 30000;
	ssize_t		 n;

	memset(line, 's', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	total = (size_t)lines * sizeof(line);
	want = (size_t)lines * (4 + sizeof(line));
	while (received < want) {
		cr_assert_lt(now_ms(), deadline, "%zu of %zu bytes echoed in "
		    "30 s", received, want);
		pfd.events = POLLIN | (sent < total ? POLLOUT : 0);
		cr_assert_geq(poll(&pfd, 1, 1000), 0);
		if ((pfd.revents & POLLOUT) && (n = send(fd, line +
		    sent % sizeof(line), sizeof(line) - sent % sizeof(line),
		    MSG_NOSIGNAL | MSG_DONTWAIT)) > 0)
			sent += n;
		if ((pfd.revents & POLLIN) &&
		    (n = recv(fd, got, sizeof(got), MSG_DONTWAIT)) > 0)
			received += n;
		else if (pfd.revents & (POLLHUP | POLLERR))
			cr_assert_fail("closed after %zu bytes: %s", received,
			    e->log);
	}
	return echod_cpu_ms(e) - cpu;
}

/*
 * 600 clients each hold 9 KB of an unfinished line, which took the old
 * model past half of its 8M limit, where reads shrank to one byte and
 * each searched the whole partial line again: an honest client's 64 KiB
 * lines then cost seconds of CPU.  Now their cost is what it is alone,
 * within a generous factor.
 */
Test(budget, partial_lines_cost_no_more_than_their_bytes)
{
	static char	 part[9000];
	struct echod	 e;
	int		 fds[600], i, honest;
	long		 alone, loaded;

	client_raise_nofile();
	memset(part, 'q', sizeof(part));
	echod_start(&e, "--memory-limit", "8M", NULL);
	honest = client_connect(e.port);
	alone = stream_cpu_ms(&e, honest, 64);
	for (i = 0; i < 600; i++) {
		fds[i] = client_connect(e.port);
		client_nonblock(fds[i]);
		cr_assert_eq(send_what_fits(fds[i], part, sizeof(part), 1000),
		    sizeof(part));
	}
	echod_usr1_until(&e, ", bytes in 9594304,");
	loaded = stream_cpu_ms(&e, honest, 64);
	cr_log_info("4 MiB of 64 KiB lines: %ld ms of CPU alone, %ld ms "
	    "beside 600 partial lines", alone, loaded);
	cr_assert_leq(loaded, 10 * alone + 500, "%ld ms alone, %ld loaded",
	    alone, loaded);
	for (i = 0; i < 600; i++)
		close(fds[i]);
	close(honest);
	cr_assert_not(echod_log_has(&e, "shed over"), "%s", e.log);
	echod_finish(&e);
}

/*
 * Over the limit, the largest unfinished line goes first: a client
 * holding 60,000 bytes among 95 clients holding 10,000 each, then one
 * more that takes the total over 1M.  A client whose lines are complete is
 * never shed, and RSS stays within the limit and the slack the manual
 * gives.
 */
Test(budget, the_largest_unfinished_line_is_shed_first)
{
	static char	 big[60000], small[10000], tip[60000];
	struct echod	 e;
	char		 want[64];
	int		 first, fds[95], i, honest, last;
	long		 rss_before, rss_after;

	memset(big, 'B', sizeof(big));
	memset(small, 's', sizeof(small));
	memset(tip, 't', sizeof(tip));
	echod_start(&e, "--memory-limit", "1M", NULL);
	honest = client_connect(e.port);
	client_echo(honest, "before");
	rss_before = echod_rss_kb(&e);
	first = client_connect(e.port);
	client_send(first, big, sizeof(big));
	for (i = 0; i < 95; i++) {
		fds[i] = client_connect(e.port);
		client_send(fds[i], small, sizeof(small));
	}
	/* 1,010,000 bytes held, under the limit: nothing shed yet. */
	echod_usr1_until(&e, ", bytes in 1010007,");
	cr_assert_not(echod_log_has(&e, "shed over"), "%s", e.log);
	client_echo(honest, "under");
	last = client_connect(e.port);
	client_send(last, tip, sizeof(tip));
	cr_assert(echod_wait_log(&e, "holding 60000 bytes, 60000 bytes in",
	    WAIT_MS), "%s", e.log);
	client_expect_eof(first);
	/* Down to 7/8 of 1M: the other 60,000 and a few of the oldest. */
	snprintf(want, sizeof(want), "--memory-limit (1048576) reached");
	cr_assert(echod_log_has(&e, want), "%s", e.log);
	client_echo(honest, "over");
	rss_after = echod_rss_kb(&e);
	cr_log_info("RSS %ld kB -> %ld kB with 1M held", rss_before,
	    rss_after);
	cr_assert(!rss_bounds_hold() || rss_after - rss_before < 1024 + 1024,
	    "RSS %ld -> %ld kB", rss_before, rss_after);
	close(first);
	close(last);
	for (i = 0; i < 95; i++)
		close(fds[i]);
	close(honest);
	/* Only the ones holding unfinished lines were shed. */
	cr_assert_not(echod_log_has(&e, "holding 0 bytes"), "%s", e.log);
	cr_assert_geq(echod_log_count(&e, "shed over --memory-limit"), 2);
	echod_finish(&e);
}

/*
 * Clients that keep a big line moving (a short line echoed, then 60,000
 * bytes of the next) beside idle ones that typed a few bytes: over the
 * limit, shedding the idle ones frees nothing, so the big lines go
 * first.  Before, every idle client was closed first, being still.
 */
Test(budget, a_few_bytes_typed_outlast_big_moving_lines)
{
	static char	 big[60000];
	struct echod	 e;
	int		 typists[10], movers[20], i;

	memset(big, 'm', sizeof(big));
	echod_start(&e, "--memory-limit", "1M", NULL);
	for (i = 0; i < 10; i++) {
		typists[i] = client_connect(e.port);
		client_send(typists[i], "abc", 3);
	}
	for (i = 0; i < 20; i++) {
		movers[i] = client_connect(e.port);
		client_echo(movers[i], "x");
		client_send(movers[i], big, sizeof(big));
	}
	cr_assert(echod_wait_log(&e, "shed over --memory-limit, holding "
	    "60000 bytes", WAIT_MS), "%s", e.log);
	client_expect_eof(movers[0]);
	for (i = 0; i < 10; i++) {
		client_send(typists[i], "d\n", 2);
		client_expect_str(typists[i], "GOT:abcd\n");
	}
	cr_assert_eq(echod_log_count(&e, "shed over --memory-limit"),
	    echod_log_count(&e, "shed over --memory-limit, holding 60000 "
	    "bytes"), "%s", e.log);
	for (i = 0; i < 10; i++)
		close(typists[i]);
	for (i = 0; i < 20; i++)
		close(movers[i]);
	echod_finish(&e);
}

/*
 * The same when idle connections by the hundred make an eighth of the
 * fair share less than what the typists typed (262,144 / 716 / 8 is 45
 * bytes): a few bytes stay a few bytes, under 1 KB whatever the count.
 */
Test(budget, idle_connections_do_not_make_a_few_bytes_many)
{
	static char	 big[60000], typed[101];
	struct echod	 e;
	int		 idle[700], typists[10], movers[5], i;

	memset(big, 'm', sizeof(big));
	memset(typed, 't', 100);
	client_raise_nofile();
	echod_start(&e, "--memory-limit", "256K", "-c", "2000", NULL);
	for (i = 0; i < 700; i++)
		idle[i] = client_connect(e.port);
	for (i = 0; i < 10; i++) {
		typists[i] = client_connect(e.port);
		client_send(typists[i], typed, 100);
	}
	for (i = 0; i < 5; i++) {
		movers[i] = client_connect(e.port);
		client_echo(movers[i], "x");
		client_send(movers[i], big, sizeof(big));
	}
	cr_assert(echod_wait_log(&e, "shed over --memory-limit, holding "
	    "60000 bytes", WAIT_MS), "%s", e.log);
	for (i = 0; i < 10; i++) {
		client_send(typists[i], "\n", 1);
		client_expect(typists[i], "GOT:", 4);
		client_expect(typists[i], typed, 100);
		client_expect(typists[i], "\n", 1);
	}
	cr_assert_not(echod_log_has(&e, "holding 100 bytes"), "%s", e.log);
	for (i = 0; i < 700; i++)
		close(idle[i]);
	for (i = 0; i < 10; i++)
		close(typists[i]);
	for (i = 0; i < 5; i++)
		close(movers[i]);
	echod_finish(&e);
}

/*
 * Without a prefix, clients that send and never read: short of the
 * output limit a connection goes on reading, its output waiting in
 * echod's buffer all the same.  Before, only a paused connection's
 * output counted as standing still, so over the limit nothing could be
 * shed (100 such clients held 15 times a 64K limit).
 */
Test(budget, output_waiting_for_clients_that_do_not_read_is_shed)
{
	static char	 chunk[4097];
	struct echod	 e;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int		 fds[20], i, rcvbuf = 4096;
	long		 deadline, sent[20] = { 0 };
	ssize_t		 n;
	bool		 busy;

	memset(chunk, 'n', sizeof(chunk));
	echod_start(&e, "-P", "", "--memory-limit", "64K", NULL);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(e.port);
	for (i = 0; i < 20; i++) {
		cr_assert_neq(fds[i] = socket(AF_INET, SOCK_STREAM, 0), -1);
		cr_assert_eq(setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF,
		    &rcvbuf, sizeof(rcvbuf)), 0);
		cr_assert_eq(connect(fds[i], (struct sockaddr *)&sin,
		    sizeof(sin)), 0);
		client_nonblock(fds[i]);
	}
	/* 3 MB each, a chunk at a time in turn, as fast as they go. */
	deadline = now_ms() + WAIT_MS;
	for (busy = true; busy && now_ms() < deadline; )
		for (i = 0, busy = false; i < 20; i++) {
			if (sent[i] >= 3000000)
				continue;
			busy = true;
			if ((n = send(fds[i], chunk, sizeof(chunk),
			    MSG_NOSIGNAL)) > 0)
				sent[i] += n;
			else if (n == -1 && errno != EAGAIN)
				sent[i] = 3000000;	/* shed */
		}
	for (i = 0; i < 10; i++)
		if (!echod_wait_log(&e, "shed over --memory-limit", WAIT_MS))
			break;
	cr_assert_geq(echod_log_count(&e, "shed over --memory-limit"), 10,
	    "%s", e.log);
	for (i = 0; i < 20; i++)
		close(fds[i]);
	i = client_connect(e.port);
	client_send(i, "still served\n", 13);
	client_expect_str(i, "still served\n");
	close(i);
	echod_finish(&e);
}

/*
 * After SIGTERM, a client that sent 4,096 empty lines behind a 1,000-byte
 * prefix and reads nothing: the old drain echoed all of it into memory
 * at once (4 MB a client); now no more than --output-limit waits, and
 * every byte still arrives once the client reads.
 */
Test(budget, the_drain_keeps_the_output_limit)
{
	static char	 prefix[1001], empty[4096], got[65536];
	struct echod	 e;
	int		 fds[8], i;
	size_t		 want = 4096 * 1001, received, n, k;
	long		 rss_before, rss_draining;

	memset(prefix, 'p', 1000);
	memset(empty, '\n', sizeof(empty));
	echod_start(&e, "-v", "-P", prefix, NULL);
	rss_before = echod_rss_kb(&e);
	for (i = 0; i < 8; i++) {
		fds[i] = connect_small_rcvbuf(e.port);
		client_send(fds[i], empty, sizeof(empty));
	}
	echod_usr1_until(&e, ", bytes in 32768,");
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert(echod_wait_log(&e, "shutting down, draining 8 connections",
	    WAIT_MS), "%s", e.log);
	rss_draining = echod_rss_kb(&e);
	cr_log_info("RSS %ld kB -> %ld kB draining", rss_before, rss_draining);
	cr_assert_lt(rss_draining - rss_before, 8 * 1024, "RSS %ld -> %ld kB",
	    rss_before, rss_draining);
	for (i = 0; i < 8; i++) {
		for (received = 0; (n = client_recv(fds[i], got, sizeof(got),
		    WAIT_MS)) > 0; received += n)
			for (k = 0; k < n; k++)
				cr_assert_eq(got[k], (received + k) % 1001 ==
				    1000 ? '\n' : 'p', "byte %zu",
				    received + k);
		cr_assert_eq(received, want, "client %d: %zu bytes", i,
		    received);
		close(fds[i]);
	}
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0, "%s", e.log);
	echod_free(&e);
}
