/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Integration: --threads, several event loops behind SO_REUSEPORT. */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(threads, .timeout = 60);

#define NCLIENTS	40

/* Connections served by thread i, from the exit lines. */
static unsigned long
served_by(struct echod *e, unsigned int i)
{
	char		 needle[32];
	const char	*hit;

	snprintf(needle, sizeof(needle), "thread %u: ", i);
	cr_assert_not_null(hit = strstr(e->log, needle), "%s", e->log);
	return strtoul(hit + strlen(needle), NULL, 10);
}

Test(threads, every_thread_serves)
{
	struct echod	 e;
	int		 fds[NCLIENTS], i;
	char		 line[32], want[40];

	echod_start(&e, "--threads", "2", NULL);
	cr_assert(echod_log_has(&e, "(2 threads)"), "%s", e.log);
	for (i = 0; i < NCLIENTS; i++)
		fds[i] = client_connect(e.port);
	for (i = 0; i < NCLIENTS; i++) {
		snprintf(line, sizeof(line), "client %d\n", i);
		snprintf(want, sizeof(want), "GOT:client %d\n", i);
		client_send(fds[i], line, strlen(line));
		client_expect_str(fds[i], want);
	}
	for (i = 0; i < NCLIENTS; i++)
		close(fds[i]);
	cr_assert_eq(echod_stop(&e), 0);
	/* The kernel spreads 40 connections over both; all are counted. */
	cr_assert_gt(served_by(&e, 0), 0, "%s", e.log);
	cr_assert_gt(served_by(&e, 1), 0, "%s", e.log);
	cr_assert_eq(served_by(&e, 0) + served_by(&e, 1), NCLIENTS);
	cr_assert(echod_log_has(&e, "exiting: 40 connections served"), "%s",
	    e.log);
	echod_free(&e);
}

#define NSTUFFED	8

/* The thread that serves fd, from its -v line. */
static unsigned int
thread_of(struct echod *e, int fd)
{
	char		 needle[64];
	const char	*hit;

	snprintf(needle, sizeof(needle), "127.0.0.1:%d: on thread ",
	    client_local_port(fd));
	cr_assert(echod_wait_log(e, needle, WAIT_MS), "%s", e->log);
	hit = strstr(e->log, needle);
	return (unsigned int)strtoul(hit + strlen(needle), NULL, 10);
}

/*
 * Connects clients until each thread has half of NSTUFFED; the kernel's
 * SO_REUSEPORT hash decides where each goes, so extras are closed.
 */
static int
connect_to_both_threads(struct echod *e, int *fds)
{
	unsigned int	 per_thread[2] = { 0, 0 }, t;
	int		 fd, kept = 0, tries;
	char		 closed[64];

	for (tries = 0; kept < NSTUFFED && tries < 20 * NSTUFFED; tries++) {
		fd = client_connect(e->port);
		client_echo(fd, "x");
		t = thread_of(e, fd);
		cr_assert_lt(t, 2);
		if (per_thread[t] < NSTUFFED / 2) {
			per_thread[t]++;
			fds[kept++] = fd;
			continue;
		}
		snprintf(closed, sizeof(closed), "Connection closed "
		    "127.0.0.1:%d:", client_local_port(fd));
		close(fd);
		cr_assert(echod_wait_log(e, closed, WAIT_MS), "%s", e->log);
	}
	cr_assert_eq(kept, NSTUFFED, "threads got %u and %u connections",
	    per_thread[0], per_thread[1]);
	return tries;
}

Test(threads, sigterm_drains_every_thread)
{
	struct echod	 e;
	int		 fds[NSTUFFED], i;
	char		 buf[65536];
	size_t		 got[NSTUFFED], total = 0, n, k;
	char		 want[64];
	int		 made;

	echod_start(&e, "-v", "--threads", "2", "--output-limit", "16K",
	    NULL);
	made = connect_to_both_threads(&e, fds);
	for (i = 0; i < NSTUFFED; i++)
		client_stuff_with(fds[i], 'a' + i);
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert(echod_wait_log(&e, "shutting down, draining 8 connections",
	    WAIT_MS), "%s", e.log);
	/*
	 * Every client, whichever thread has it, gets its own echo (lines
	 * of its own letter; the partial last one flushed), then EOF.
	 */
	for (i = 0; i < NSTUFFED; i++) {
		got[i] = 0;
		while ((n = client_recv(fds[i], buf, sizeof(buf), WAIT_MS)) > 0)
			for (k = 0; k < n; k++, got[i]++) {
				size_t off = got[i] % (4 + 65536);
				char want_byte = off < 4 ? "GOT:"[off] :
				    off == 4 + 65535 ? '\n' : 'a' + i;

				cr_assert_eq(buf[k], want_byte, "client %d, byte "
				    "%zu", i, got[i]);
			}
		cr_assert_gt(got[i], 16384, "client %d got %zu", i, got[i]);
		total += got[i];
		close(fds[i]);
	}
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0, "%s", e.log);
	cr_assert_gt(served_by(&e, 0), 0, "%s", e.log);
	cr_assert_gt(served_by(&e, 1), 0, "%s", e.log);
	/* Each connection also had its "GOT:x\n" before the stuffing. */
	snprintf(want, sizeof(want), "bytes in, %zu bytes out\n",
	    total + 6 * (size_t)made);
	cr_assert(echod_log_has(&e, want), "want '%s': %s", want, e.log);
	echod_free(&e);
}

/* One deadline for the whole server: one line, every thread cut. */
Test(threads, drain_timeout_is_one_line_for_all_threads)
{
	struct echod	 e;
	long		 start;
	int		 fds[NSTUFFED], i;

	echod_start(&e, "-v", "--threads", "2", "--output-limit", "16K",
	    "--drain-timeout", "1", NULL);
	connect_to_both_threads(&e, fds);
	for (i = 0; i < NSTUFFED; i++)
		client_stuff(fds[i]);
	start = now_ms();
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0, "%s", e.log);
	cr_assert_geq(now_ms() - start, 900, "cut before the deadline");
	cr_assert_lt(now_ms() - start, 3000, "cut long after the deadline");
	cr_assert_eq(echod_log_count(&e, "drain timeout after"), 1, "%s",
	    e.log);
	cr_assert(echod_log_has(&e, "drain timeout after 1 s: cutting 8 "
	    "connections"), "%s", e.log);
	cr_assert_eq(echod_log_count(&e, ": drain timeout, "), NSTUFFED,
	    "%s", e.log);
	for (i = 0; i < NSTUFFED; i++)
		close(fds[i]);
	echod_free(&e);
}

Test(threads, second_signal_works_while_another_thread_drains)
{
	struct echod	 e;
	int		 fds[NCLIENTS], i, kept = -1;
	char		 needle[64];

	echod_start(&e, "-v", "--threads", "2", "--drain-timeout", "600",
	    "--output-limit", "4K", NULL);
	/* Find a client that thread 1 serves; stuff it, leave the rest idle. */
	for (i = 0; i < NCLIENTS && kept == -1; i++) {
		fds[i] = client_connect(e.port);
		client_send(fds[i], "x\n", 2);
		client_expect_str(fds[i], "GOT:x\n");
		snprintf(needle, sizeof(needle), "127.0.0.1:%d: on thread 1",
		    client_local_port(fds[i]));
		if (echod_log_has(&e, needle))
			kept = i;
	}
	cr_assert_neq(kept, -1, "no connection reached thread 1");
	client_stuff(fds[kept]);
	/* Thread 0 has only idle clients: it is done at once, thread 1 not. */
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert(echod_wait_log(&e, "shutting down", WAIT_MS), "%s", e.log);
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0, "%s", e.log);
	cr_assert(echod_log_has(&e, "again: exiting now, cutting 1 "
	    "connection"), "%s", e.log);
	for (i = 0; i <= kept; i++)
		close(fds[i]);
	echod_free(&e);
}

/*
 * -c 1 across two threads: each client waits until the one before it
 * leaves.  Chained until a hand-over crosses threads, which only works
 * if the closing thread tells the paused one.
 */
Test(threads, max_connections_is_one_limit_for_all)
{
	struct echod	 e;
	unsigned int	 cur_thread, next_thread;
	int		 cur, next, round;
	bool		 crossed = false;

	echod_start(&e, "-v", "--threads", "2", "-c", "1", NULL);
	cur = client_connect(e.port);
	client_echo(cur, "0");
	cur_thread = thread_of(&e, cur);
	for (round = 0; round < 30 && !crossed; round++) {
		next = client_connect(e.port);
		client_send(next, "n\n", 2);
		cr_assert(client_quiet_for(next, 200), "served beyond -c 1");
		close(cur);
		client_expect_str(next, "GOT:n\n");
		next_thread = thread_of(&e, next);
		crossed = next_thread != cur_thread;
		cur = next;
		cur_thread = next_thread;
	}
	cr_assert(crossed, "no hand-over crossed threads in 30 rounds");
	cr_assert(echod_log_has(&e, "echod: --max-connections (1) reached: "
	    "new clients wait until a connection closes\n"), "%s", e.log);
	cr_assert_eq(echod_log_count(&e, "reached: new clients wait"), 1,
	    "once a minute: %s", e.log);
	close(cur);
	echod_finish(&e);
}

/*
 * --max-per-ip counts an address across threads: with one connection
 * open, every further one from it is refused, whichever thread the
 * kernel hands it to (-v names the thread).
 */
Test(threads, max_per_ip_counts_across_threads)
{
	struct echod	 e;
	char		 needle[32];
	const char	*hit;
	unsigned int	 rejected[2];
	int		 first, more, i, t;

	echod_start(&e, "--threads", "2", "--max-per-ip", "1", NULL);
	first = client_connect(e.port);
	client_echo(first, "first");
	for (i = 0; i < 20; i++) {
		more = client_connect(e.port);
		client_expect_eof(more);
		close(more);
	}
	cr_assert_eq(echod_log_count(&e, "refused: --max-per-ip (1) reached"),
	    20, "%s", e.log);
	/* Both threads refused some: the count is one for the process. */
	cr_assert_eq(kill(e.pid, SIGUSR1), 0);
	cr_assert(echod_wait_log(&e, "thread 1 counters: ", WAIT_MS), "%s",
	    e.log);
	for (t = 0; t < 2; t++) {
		snprintf(needle, sizeof(needle), "thread %d counters: ", t);
		cr_assert_not_null(hit = strstr(e.log, needle), "%s", e.log);
		cr_assert_eq(sscanf(hit + strlen(needle), "open %*u, accepted "
		    "%*u, rejected %u", &rejected[t]), 1, "%s", hit);
	}
	cr_assert_eq(rejected[0] + rejected[1], 20, "%s", e.log);
	cr_assert(rejected[0] > 0 && rejected[1] > 0, "one thread took all "
	    "20: %s", e.log);
	close(first);
	echod_finish(&e);
}
