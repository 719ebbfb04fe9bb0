/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Integration: hostile and broken clients, and what they must not do. */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(faults, .timeout = 60);

/*
 * Waits until `count` connections have been closed.  Counting accepted
 * ones instead would race with a connection still in the backlog.
 */
static void
wait_closed(struct echod *e, size_t count)
{
	while (echod_log_count(e, "Connection closed") < count)
		cr_assert(echod_wait_log(e, "Connection closed", WAIT_MS),
		    "connections left open: %s", e->log);
}

Test(faults, resets_and_aborts_leak_nothing)
{
	struct echod	 e;
	int		 baseline, slot, fd, bystander;
	char		 buf[16];

	echod_start(&e, "-c", "2", "--output-limit", "4K", NULL);
	baseline = echod_fd_count(&e);
	bystander = client_connect(e.port);
	client_echo(bystander, "hi");

	/* Connect, then reset while still in the backlog (limit reached). */
	slot = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "reached", WAIT_MS), "%s", e.log);
	fd = client_connect(e.port);
	client_send(fd, "never seen\n", 11);
	client_reset(fd);
	close(slot);
	wait_closed(&e, 2);

	/* Reset with output pending: the server is mid-write. */
	fd = client_connect(e.port);
	client_stuff(fd);
	client_reset(fd);
	wait_closed(&e, 3);

	/* Close with unread echo waiting: the client's kernel resets. */
	fd = client_connect(e.port);
	client_send(fd, "unread\n", 7);
	cr_assert_eq(client_recv(fd, buf, 1, WAIT_MS), 1);
	close(fd);
	wait_closed(&e, 4);

	/* Reset in the middle of a line, and right after connecting. */
	fd = client_connect(e.port);
	client_send(fd, "half a li", 9);
	client_reset(fd);
	fd = client_connect(e.port);
	client_reset(fd);
	wait_closed(&e, 6);

	/* Still serving, nothing leaked, no SIGPIPE, one line per event. */
	client_echo(bystander, "still");
	close(bystander);
	wait_closed(&e, 7);
	echod_expect_fds(&e, baseline);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert_leq(echod_log_count(&e, "\n"),
	    2 * echod_log_count(&e, "Connection from") + 4,
	    "log flood: %s", e.log);
	echod_free(&e);
}

#define FLOOD	2000

Test(faults, idle_flood_is_cheap_and_goes_away_on_time)
{
	struct echod	 e;
	static int	 fds[FLOOD];
	long		 rss_before, rss_after, start;
	int		 i, baseline;

	client_raise_nofile();
	echod_start(&e, "-q", "--idle-timeout", "2", NULL);
	baseline = echod_fd_count(&e);
	rss_before = echod_rss_kb(&e);
	for (i = 0; i < FLOOD; i++)
		fds[i] = client_connect(e.port);
	start = now_ms();
	/* Synchronise on the last one: it is served, so all were accepted. */
	client_send(fds[FLOOD - 1], "last\n", 5);
	client_expect_str(fds[FLOOD - 1], "GOT:last\n");
	rss_after = echod_rss_kb(&e);
	cr_log_info("%d idle connections: RSS %ld -> %ld kB, %ld bytes each",
	    FLOOD, rss_before, rss_after,
	    (rss_after - rss_before) * 1024 / FLOOD);
	cr_assert_lt((rss_after - rss_before) * 1024 / FLOOD, 4096,
	    "idle connections cost too much");
	for (i = 0; i < FLOOD; i++)
		client_expect_eof(fds[i]);
	cr_assert_geq(now_ms() - start, 1900, "closed before the timeout");
	for (i = 0; i < FLOOD; i++)
		close(fds[i]);
	echod_expect_fds(&e, baseline);
	echod_finish(&e);
}
