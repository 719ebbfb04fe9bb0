/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Integration: restarting with --reuse-port refuses no connection.  Each
 * test runs in a network namespace of its own (Criterion gives each its
 * own process), so the sysctl it sets touches nothing else.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(restart, .timeout = 60);

/* A network namespace with its loopback up; false if not allowed. */
static bool
private_network(void)
{
	struct ifreq	 ifr;
	int		 fd;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) == -1)
		return false;
	cr_assert_neq(fd = socket(AF_INET, SOCK_DGRAM, 0), -1);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	cr_assert_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
	return true;
}

static void
write_sysctl(const char *path, const char *value)
{
	int	 fd = open(path, O_WRONLY);

	cr_assert_neq(fd, -1, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, value, strlen(value)), (ssize_t)strlen(value));
	close(fd);
}

/*
 * The procedure of echod(1): start the new echod with --reuse-port on
 * the running one's addresses, then SIGTERM the old one.  Connections
 * waiting in the old one's accept queue (it is stopped, so all the ones
 * the kernel gave it wait there) move to the new one as the old closes
 * its listener (net.ipv4.tcp_migrate_req=1): none is reset or lost.
 */
Test(restart, reuse_port_hands_over_without_a_refused_connection)
{
	struct echod	 old, new;
	char		 listen[32], line[32];
	const char	*args[] = { "-v", "--reuse-port", "-l", listen, NULL };
	int		 fds[40], i;

	if (!private_network())
		cr_skip_test("needs root to make a network namespace");
	write_sysctl("/proc/sys/net/ipv4/tcp_migrate_req", "1");
	echod_start(&old, "--reuse-port", NULL);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", old.port);
	echod_spawn(&new, args);
	cr_assert(echod_wait_log(&new, "listening on 127.0.0.1:", WAIT_MS),
	    "%s", new.log);
	new.port = old.port;
	cr_assert_eq(kill(old.pid, SIGSTOP), 0);
	/* Clients that connect and send at once, as clients do. */
	for (i = 0; i < 40; i++) {
		fds[i] = client_connect(old.port);
		snprintf(line, sizeof(line), "connection %d\n", i);
		client_send(fds[i], line, strlen(line));
	}
	cr_assert_eq(kill(old.pid, SIGTERM), 0);
	cr_assert_eq(kill(old.pid, SIGCONT), 0);
	cr_assert_eq(echod_wait_exit(&old, WAIT_MS), 0, "%s", old.log);
	for (i = 0; i < 40; i++) {
		char	 got[32];
		size_t	 n;

		snprintf(line, sizeof(line), "GOT:connection %d\n", i);
		n = client_recv(fds[i], got, strlen(line), WAIT_MS);
		cr_assert(n == strlen(line) && memcmp(got, line, n) == 0,
		    "connection %d got %zu bytes\nold:\n%s\nnew:\n%s", i, n,
		    old.log, new.log);
		close(fds[i]);
	}
	/* Some went to the old one's queue, and came through the new one. */
	cr_assert_gt(echod_log_count(&new, "Connection from"), 0, "%s",
	    new.log);
	cr_assert_eq(echod_log_count(&new, "Connection from") +
	    echod_log_count(&old, "Connection from"), 40, "%s\n%s", old.log,
	    new.log);
	echod_free(&old);
	/* New connections go to the new one alone. */
	fds[0] = client_connect(new.port);
	client_echo(fds[0], "after");
	close(fds[0]);
	echod_finish(&new);
}
