/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Integration: start-up, limits, timeouts, signals and exit statuses. */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(lifecycle, .timeout = 30);

#define SPAWN(e, ...) echod_spawn((e), (const char *const[]){ __VA_ARGS__, NULL })

/* Leaves output waiting in the server: it has paused reading. */
static size_t
make_backlog(struct echod *e, int fd)
{
	/* Skewed, so what the server has read ends mid-line. */
	size_t	 sent = client_stuff_skewed(fd, 'z', 1000);

	cr_assert(echod_wait_log(e, "reading -> paused", WAIT_MS),
	    "never paused: %s", e->log);
	return sent;
}

static bool
connect_refused(int port)
{
	struct sockaddr_in	 sin;
	int			 fd, rc, err;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	err = errno;
	close(fd);
	return rc == -1 && err == ECONNREFUSED;
}

Test(lifecycle, default_listens_on_ipv4_and_ipv6_same_port)
{
	struct echod	 e;
	char		 want[64];
	int		 port, fd;

	SPAWN(&e, "-p", "0");
	cr_assert(echod_wait_log(&e, "listening on 0.0.0.0:", WAIT_MS), "%s",
	    e.log);
	port = port_after(e.log, "listening on 0.0.0.0:");
	snprintf(want, sizeof(want), "listening on 0.0.0.0:%d, [::]:%d\n",
	    port, port);
	cr_assert_not_null(strstr(e.log, want), "%s", e.log);
	fd = client_connect(port);
	client_echo(fd, "v4");
	close(fd);
	echod_finish(&e);
}

Test(lifecycle, ipv4_only_on_a_kernel_without_ipv6)
{
	struct echod	 e;
	int		 port, fd;

	echod_set_no_ipv6(true);
	SPAWN(&e, "-v", "-p", "0");
	echod_set_no_ipv6(false);
	cr_assert(echod_wait_log(&e, "listening on ", WAIT_MS), "%s", e.log);
	cr_assert(echod_log_has(&e, "no IPv6 here (Address family not "
	    "supported by protocol), IPv4 only"), "%s", e.log);
	port = echod_port_of(&e, "0.0.0.0:");
	cr_assert_eq(echod_log_count(&e, "[::]"), 0, "%s", e.log);
	fd = client_connect(port);
	client_echo(fd, "v4");
	close(fd);
	cr_assert_eq(echod_stop(&e), 0, "%s", e.log);
	echod_free(&e);
}

Test(lifecycle, sigterm_delivers_pending_output)
{
	struct echod	 e;
	char		 buf[65536], want[64], want_byte;
	size_t		 received = 0, n, sent, i, off, in;
	const char	*in_text;
	int		 fd;

	/*
	 * A read fills the room a line may take: were that a line's length,
	 * every read would end at a line's end, and none be left to flush.
	 */
	echod_start(&e, "-v", "--output-limit", "16K", "--max-line", "100000",
	    NULL);
	fd = client_connect(e.port);
	sent = make_backlog(&e, fd);
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert(echod_wait_log(&e, "shutting down, draining 1 connection",
	    WAIT_MS), "%s", e.log);
	cr_assert(connect_refused(e.port), "still accepting after SIGTERM");
	/* The client reads at last: everything the server took comes back. */
	while ((n = client_recv(fd, buf, sizeof(buf), WAIT_MS)) > 0) {
		/* "GOT:" + 65535 z + LF per line, a last partial one too. */
		for (i = 0; i < n; i++, received++) {
			off = received % (4 + 65536);
			want_byte = off < 4 ? "GOT:"[off] :
			    off == 4 + 65535 ? '\n' : 'z';
			cr_assert_eq(buf[i], want_byte, "byte %zu", received);
		}
	}
	close(fd);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0, "%s", e.log);
	snprintf(want, sizeof(want), "bytes in, %zu bytes out", received);
	cr_assert(echod_log_has(&e, want), "client got %zu of %zu sent: %s",
	    received, sent, e.log);
	/*
	 * Every byte taken came back, a prefix before each line, the last
	 * partial line too: the drain flushes it, where the echo would keep
	 * it waiting for its newline.
	 */
	/* "..., IN bytes in, OUT bytes out": IN is before the match. */
	for (in_text = strstr(e.log, want) - 1; isdigit((unsigned char)
	    in_text[-1]); in_text--)
		;
	in = strtoull(in_text, NULL, 10);
	cr_assert_eq(received, in + 4 * ((in + 65535) / 65536), "%zu bytes "
	    "in, %zu back: %s", in, received, e.log);
	cr_assert_neq(in % 65536, 0, "no partial line to check: %s", e.log);
	cr_assert_gt(received, 16384);
	echod_free(&e);
}

/*
 * Shutdown stops reading: a client still owed 32 MB at SIGTERM gets all of
 * it, and nothing it sends afterwards is read or echoed.
 */
Test(lifecycle, shutdown_reads_nothing_new)
{
	struct echod	 e;
	static char	 line[65536], buf[65536];
	size_t		 received = 0, n, i, off;
	int		 fd, k;

	echod_start(&e, "-v", "--output-limit", "64M", "--memory-limit",
	    "256M", NULL);
	fd = client_connect(e.port);
	memset(line, 'y', sizeof(line));
	line[sizeof(line) - 1] = '\n';
	/* Echoed into buffers the client does not read: still "reading". */
	for (k = 0; k < 512; k++)
		client_send(fd, line, sizeof(line));
	/* All of it read before the signal (sent is not yet read). */
	echod_usr1_until(&e, ", bytes in 33554432,");
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert(echod_wait_log(&e, "shutting down, draining 1 connection",
	    WAIT_MS), "%s", e.log);
	client_send(fd, "late\n", 5);
	while ((n = client_recv(fd, buf, sizeof(buf), WAIT_MS)) > 0)
		for (i = 0; i < n; i++, received++) {
			off = received % (4 + 65536);
			cr_assert_eq(buf[i], off < 4 ? "GOT:"[off] :
			    off == 4 + 65535 ? '\n' : 'y', "byte %zu", received);
		}
	cr_assert_eq(received, 512 * (size_t)(4 + 65536));
	close(fd);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0, "%s", e.log);
	cr_assert(echod_log_has(&e, ": shutdown, 33554432 bytes in, "), "%s",
	    e.log);
	echod_free(&e);
}

/*
 * A client that reads nothing, then SIGTERM with --drain-timeout secs:
 * cut after at least min_ms, well before max_ms, with the one line.
 */
static void
drain_cut(const char *secs, long min_ms, long max_ms)
{
	struct echod	 e;
	char		 want[64];
	long		 took;
	int		 fd;

	echod_start(&e, "-v", "--drain-timeout", secs, NULL);
	fd = client_connect(e.port);
	make_backlog(&e, fd);
	took = now_ms();
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0, "%s", e.log);
	took = now_ms() - took;
	cr_assert_geq(took, min_ms, "cut before the deadline: %ld ms", took);
	cr_assert_lt(took, max_ms, "cut long after the deadline: %ld ms", took);
	snprintf(want, sizeof(want), "drain timeout after %s s: cutting 1 "
	    "connection", secs);
	cr_assert(echod_log_has(&e, want), "%s", e.log);
	close(fd);
	echod_free(&e);
}

Test(lifecycle, drain_timeout_cuts_clients_that_do_not_read)
{
	drain_cut("1", 900, 3000);
}

/* --drain-timeout 0: what a client does not take at once is cut. */
Test(lifecycle, drain_timeout_zero_cuts_at_once)
{
	drain_cut("0", 0, 900);
}

Test(lifecycle, second_signal_exits_at_once)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, "-v", "--drain-timeout", "600", NULL);
	fd = client_connect(e.port);
	make_backlog(&e, fd);
	cr_assert_eq(kill(e.pid, SIGINT), 0);
	cr_assert(echod_wait_log(&e, "shutting down", WAIT_MS));
	cr_assert_eq(kill(e.pid, SIGINT), 0);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0, "%s", e.log);
	cr_assert(echod_log_has(&e, "again: exiting now, cutting 1 "
	    "connection"), "%s", e.log);
	cr_assert(echod_log_has(&e, ": shutdown forced, "), "%s", e.log);
	close(fd);
	echod_free(&e);
}

Test(lifecycle, idle_client_does_not_hold_up_shutdown)
{
	struct echod	 e;
	int		 fd;

	/* Like nc at a prompt: connected, idle, never closes by itself. */
	echod_start(&e, "--drain-timeout", "600", NULL);
	fd = client_connect(e.port);
	client_echo(fd, "x");
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0);
	client_expect_eof(fd);
	close(fd);
	cr_assert(echod_log_has(&e, "Connection closed 127.0.0.1:"), "%s",
	    e.log);
	cr_assert(echod_log_has(&e, ": shutdown, 2 bytes in, 6 bytes out"),
	    "%s", e.log);
	cr_assert(echod_log_has(&e, "exiting: 1 connection served"), "%s",
	    e.log);
	echod_free(&e);
}

Test(lifecycle, address_in_use_exits_1)
{
	struct echod	 first, second;
	char		 addr[64], want[128];

	echod_start(&first, NULL);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", first.port);
	SPAWN(&second, "-l", addr);
	cr_assert_eq(echod_wait_exit(&second, WAIT_MS), 1);
	snprintf(want, sizeof(want),
	    "echod: cannot listen on %s: Address already in use\n", addr);
	cr_assert_str_eq(second.log, want);
	echod_finish(&first);
	echod_free(&second);
}

Test(lifecycle, bad_arguments_exit_64)
{
	static const char *const cases[][3] = {
		{ "--no-such-option", NULL },
		{ "-p", "99999" },
		{ "--idle-timeout", "-3" },
		{ "--framing", "bytes" },
		{ "-l", "300.0.0.1:5" },
		{ "stray", NULL },
	};
	struct echod	 e;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		echod_spawn(&e, cases[i]);
		cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 64, "%s",
		    cases[i][0]);
		cr_assert_not_null(strstr(e.log, "(see echod --help)\n"),
		    "%s", e.log);
		cr_assert_eq(strchr(e.log, '\n'), e.log + strlen(e.log) - 1,
		    "more than one line: %s", e.log);
		echod_free(&e);
	}
}

Test(lifecycle, help_and_version_exit_0)
{
	struct echod	 e;

	SPAWN(&e, "--help");
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0);
	cr_assert(strncmp(e.log, "usage: echod", 12) == 0, "%s", e.log);
	echod_free(&e);
	SPAWN(&e, "-V");
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0);
	cr_assert(strncmp(e.log, "echod " PACKAGE_VERSION " (libevent ", 16)
	    == 0, "%s", e.log);
	echod_free(&e);
}

Test(lifecycle, max_connections_holds_new_clients_back)
{
	struct echod	 e;
	int		 a, b, c;

	echod_start(&e, "-c", "2", NULL);
	a = client_connect(e.port);
	b = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "Connection from", WAIT_MS));
	cr_assert(echod_wait_log(&e, "Connection from", WAIT_MS));
	/* The third waits in the kernel's backlog, unserved. */
	c = client_connect(e.port);
	client_send(c, "third\n", 6);
	cr_assert(client_quiet_for(c, 300), "served beyond the limit");
	cr_assert_eq(echod_log_count(&e, "Connection from"), 2);
	cr_assert(echod_log_has(&e, "--max-connections (2) reached"), "%s",
	    e.log);
	client_echo(b, "b");
	/* One leaves; the third is served at once. */
	close(a);
	client_expect_str(c, "GOT:third\n");
	close(b);
	close(c);
	echod_finish(&e);
}

Test(lifecycle, idle_timeout_closes_silent_clients)
{
	struct echod	 e;
	long		 start;
	int		 fd;

	echod_start(&e, "--idle-timeout", "1", NULL);
	fd = client_connect(e.port);
	client_echo(fd, "x");
	start = now_ms();
	client_expect_eof(fd);
	cr_assert_geq(now_ms() - start, 900, "closed before the timeout");
	cr_assert(echod_wait_log(&e, "idle timeout", WAIT_MS), "%s", e.log);
	close(fd);
	echod_finish(&e);
}

/* Idle means since the last input: a client that keeps talking stays. */
Test(lifecycle, idle_timeout_counts_from_the_last_input)
{
	struct echod	 e;
	long		 start, last, took;
	int		 fd, i;

	echod_start(&e, "--idle-timeout", "1", NULL);
	fd = client_connect(e.port);
	start = now_ms();
	for (i = 0; i < 4; i++) {
		client_echo(fd, "still talking");
		/* Paces the client, 600 ms apart: never idle for a second. */
		cr_assert(client_quiet_for(fd, 600), "closed while talking");
	}
	last = now_ms();
	client_echo(fd, "last");
	client_expect_eof(fd);
	took = now_ms() - last;
	cr_assert_gt(last - start, 2000, "the talk outlasted the timeout");
	cr_assert(took >= 900 && took < 3000, "closed %ld ms after the last "
	    "input", took);
	cr_assert(echod_wait_log(&e, "idle timeout", WAIT_MS), "%s", e.log);
	close(fd);
	echod_finish(&e);
}

/*
 * -t in the draining state: at shutdown a client that reads none of
 * its output is cut by the write timeout, long before the drain's.
 */
Test(lifecycle, idle_timeout_cuts_a_draining_client_that_never_reads)
{
	struct echod	 e;
	long		 start, took;
	int		 fd;

	echod_start(&e, "-v", "--idle-timeout", "2", "--output-limit", "4K",
	    "--drain-timeout", "30", NULL);
	fd = client_connect(e.port);
	make_backlog(&e, fd);
	start = now_ms();
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert(echod_wait_log(&e, "paused -> draining", WAIT_MS), "%s",
	    e.log);
	cr_assert(echod_wait_log(&e, "write timeout, client not reading",
	    WAIT_MS), "%s", e.log);
	took = now_ms() - start;
	cr_assert(took < 4000, "cut after %ld ms", took);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0);
	cr_assert_not(echod_log_has(&e, "drain timeout"), "%s", e.log);
	close(fd);
	echod_free(&e);
}

Test(lifecycle, idle_timeout_closes_stalled_readers)
{
	struct echod	 e;
	int		 fd, other;

	echod_start(&e, "-v", "--idle-timeout", "1", "--output-limit", "4K",
	    NULL);
	fd = client_connect(e.port);
	make_backlog(&e, fd);
	/* Output waits and the client takes none of it: cut. */
	cr_assert(echod_wait_log(&e, "write timeout, client not reading",
	    WAIT_MS), "%s", e.log);
	other = client_connect(e.port);
	client_echo(other, "ok");
	close(other);
	close(fd);
	echod_finish(&e);
}

/*
 * A client that takes none of its replies, all of them in the kernel's
 * buffer (none in echod's, which the write timeout watches), and sends
 * a byte now and then, so that the read timeout never fires: before,
 * it stayed as long as it kept sending (25 s with -t 3 in a review).
 */
Test(lifecycle, idle_timeout_closes_a_trickler_that_takes_no_reply)
{
	struct echod	 e;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char		 lines[100000];
	long		 start, took = -1;
	int		 fd, rcvbuf = 4096, i;

	memset(lines, 'l', sizeof(lines));
	for (i = 99; i < (int)sizeof(lines); i += 100)
		lines[i] = '\n';
	echod_start(&e, "--idle-timeout", "1", NULL);
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
	    sizeof(rcvbuf)), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(e.port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	client_send(fd, lines, sizeof(lines));
	start = now_ms();
	for (i = 0; i < 40; i++) {
		/* The attack's pace, not a synchronisation. */
		(void)poll(NULL, 0, 200);
		if (send(fd, "y", 1, MSG_NOSIGNAL) != 1 ||
		    echod_log_has(&e, "write timeout, client not reading")) {
			took = now_ms() - start;
			break;
		}
	}
	cr_assert(took >= 900 && took < 5000, "closed after %ld ms: %s", took,
	    e.log);
	cr_assert(echod_wait_log(&e, "write timeout, client not reading",
	    WAIT_MS), "%s", e.log);
	close(fd);
	echod_finish(&e);
}

Test(lifecycle, quiet_drops_connection_lines_only)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, "-q", NULL);
	fd = client_connect(e.port);
	client_echo(fd, "q");
	close(fd);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(!echod_log_has(&e, "Connection"), "%s", e.log);
	cr_assert(echod_log_has(&e, "exiting: 1 connection served, 2 bytes "
	    "in, 6 bytes out"), "%s", e.log);
	echod_free(&e);
}

#define FD_CLIENTS	60

Test(lifecycle, out_of_descriptors_pauses_accepting)
{
	struct echod	 e;
	int		 fds[FD_CLIENTS];
	long		 cpu;
	int		 i;

	/* 24 descriptors, but told to take 100 connections. */
	echod_set_nofile(24);
	echod_start(&e, "-c", "100", NULL);
	/* The limit it reports is 24 less what a tool like valgrind takes. */
	cr_assert(echod_log_has(&e, "--max-connections 100 exceeds what the "
	    "open-file limit ("), "%s", e.log);
	for (i = 0; i < FD_CLIENTS; i++)
		fds[i] = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "accept: Too many open files; pausing "
	    "until a connection closes", WAIT_MS), "%s", e.log);
	/* Paused, not spinning: a second of waiting costs almost no CPU. */
	cpu = echod_cpu_ms(&e);
	cr_assert(client_quiet_for(fds[FD_CLIENTS - 1], 1000));
	cr_assert_lt(echod_cpu_ms(&e) - cpu, 200, "server spins at EMFILE");
	cr_assert_eq(echod_log_count(&e, "Too many open files"), 1,
	    "logged more than once per episode: %s", e.log);
	/* Everyone is served in the end, the last one too. */
	for (i = 0; i < FD_CLIENTS; i++) {
		client_send(fds[i], "x\n", 2);
		client_expect_str(fds[i], "GOT:x\n");
		close(fds[i]);
	}
	/* Served one by one under pressure: still one episode, then calm. */
	cr_assert(echod_wait_log(&e, "descriptors available again", WAIT_MS),
	    "%s", e.log);
	cr_assert_eq(echod_log_count(&e, "Too many open files"), 1,
	    "logged more than once per episode: %s", e.log);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert_eq(echod_log_count(&e, "Connection closed"), FD_CLIENTS);
	echod_free(&e);
}

/*
 * An echod that changed its user lost the parent-death signal the
 * harness set, so a failed assertion would leave it running.
 */
static pid_t	 unprivileged_pid;

static void
kill_unprivileged(void)
{
	if (unprivileged_pid > 0)
		(void)kill(unprivileged_pid, SIGKILL);
}

Test(lifecycle, user_drops_root_after_binding, .fini = kill_unprivileged)
{
	struct echod	 e;
	char		 path[64], line[256], groups[256] = "", want[64];
	FILE		*f;
	unsigned int	 ruid = 0, euid = 0, suid = 0, fsuid = 0, gid[4] = {
			    0, 0, 0, 0 };
	struct passwd	*pw;
	int		 fd, i;

	if (geteuid() != 0)
		cr_skip_test("needs root (CI runs as root)");
	/* Groups to lose (this test runs in a process of its own). */
	cr_assert_eq(setgroups(3, (gid_t[]){ 0, 4, 27 }), 0);
	echod_start(&e, "-u", "nobody", NULL);
	unprivileged_pid = e.pid;
	cr_assert(echod_wait_log(&e, "running as user nobody", WAIT_MS), "%s",
	    e.log);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)e.pid);
	cr_assert_not_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		(void)sscanf(line, "Uid: %u %u %u %u", &ruid, &euid, &suid,
		    &fsuid);
		(void)sscanf(line, "Gid: %u %u %u %u", &gid[0], &gid[1],
		    &gid[2], &gid[3]);
		if (strncmp(line, "Groups:", 7) == 0)
			snprintf(groups, sizeof(groups), "%s", line);
	}
	fclose(f);
	cr_assert(ruid != 0 && euid != 0 && suid != 0 && fsuid != 0,
	    "still root: %u %u %u %u", ruid, euid, suid, fsuid);
	/* nobody's group, and only it: root's supplementary groups gone. */
	cr_assert_not_null(pw = getpwnam("nobody"));
	for (i = 0; i < 4; i++)
		cr_assert_eq(gid[i], pw->pw_gid, "gid %u", gid[i]);
	snprintf(want, sizeof(want), "Groups:\t%u \n", (unsigned)pw->pw_gid);
	cr_assert_str_eq(groups, want);
	fd = client_connect(e.port);
	client_echo(fd, "hi");
	close(fd);
	/* Reaped below: the number may be reused after. */
	unprivileged_pid = 0;
	echod_finish(&e);
}

Test(lifecycle, user_failures_are_fatal)
{
	struct echod	 e;

	SPAWN(&e, "-l", "127.0.0.1:0", "-u", "no-such-user-here");
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1);
	cr_assert_not_null(strstr(e.log, geteuid() == 0 ?
	    "echod: cannot switch to user no-such-user-here: no such user\n" :
	    "echod: cannot switch to user no-such-user-here: not started as "
	    "root\n"), "%s", e.log);
	echod_free(&e);
}

Test(lifecycle, max_per_ip_limits_one_address_only)
{
	struct echod	 e;
	int		 a, b, c, d, f;

	echod_start(&e, "--max-per-ip", "2", NULL);
	a = client_connect_from("127.0.0.1", e.port);
	b = client_connect_from("127.0.0.1", e.port);
	client_echo(b, "b");
	/* The third from the same address is closed at once. */
	c = client_connect_from("127.0.0.1", e.port);
	client_expect_eof(c);
	cr_assert(echod_wait_log(&e, "refused: --max-per-ip (2) reached",
	    WAIT_MS), "%s", e.log);
	/* Another address is not affected. */
	d = client_connect_from("127.0.0.2", e.port);
	client_echo(d, "d");
	/* One leaves: its address may connect again. */
	close(a);
	cr_assert(echod_wait_log(&e, "Connection closed 127.0.0.1:", WAIT_MS));
	f = client_connect_from("127.0.0.1", e.port);
	client_echo(f, "f");
	close(b);
	close(c);
	close(d);
	close(f);
	echod_finish(&e);
}

static void
not_journal(void)
{
	echod_set_journal(false);
}

/*
 * Under systemd, stderr is the journal's stream: each line starts with
 * its syslog priority and carries no program name, which the journal
 * adds itself.
 */
Test(lifecycle, journal_lines_carry_their_priority, .fini = not_journal)
{
	struct echod	 e;
	const char	*args[] = { "-l", "127.0.0.1:0", "--max-per-ip", "1",
			    "-v", NULL };
	int		 fd, second;

	echod_set_journal(true);
	echod_spawn(&e, args);
	cr_assert(echod_wait_log(&e, "<5>listening on 127.0.0.1:", WAIT_MS),
	    "%s", e.log);
	e.port = port_after(e.log, "listening on 127.0.0.1:");
	fd = client_connect(e.port);
	client_echo(fd, "hi");
	second = client_connect(e.port);
	client_expect_eof(second);
	cr_assert(echod_log_has(&e, "<6>Connection from 127.0.0.1:"), "%s",
	    e.log);
	close(fd);
	close(second);
	cr_assert(echod_wait_log(&e, "<6>Connection closed 127.0.0.1:",
	    WAIT_MS), "%s", e.log);
	cr_assert(echod_log_has(&e, ": reading -> draining"), "%s", e.log);
	cr_assert(echod_log_has(&e, "<7>127.0.0.1:"), "%s", e.log);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "<5>exiting: "), "%s", e.log);
	cr_assert_not(echod_log_has(&e, "echod: "), "%s", e.log);
	echod_free(&e);

	/* A JOURNAL_STREAM for another stream changes nothing. */
	echod_set_journal(false);
	setenv("JOURNAL_STREAM", "1:1", 1);
	echod_start(&e, NULL);
	unsetenv("JOURNAL_STREAM");
	cr_assert(echod_log_has(&e, "echod: listening on"), "%s", e.log);
	echod_finish(&e);
}

/*
 * A client that connected just before SIGTERM and speaks just after is
 * answered: in a restart it would otherwise be turned away unanswered.
 * One that stays silent is closed within the second.
 */
Test(lifecycle, a_client_new_at_shutdown_may_still_speak)
{
	struct echod	 e;
	int		 fd, silent;
	long		 start, took;

	echod_start(&e, "-v", NULL);
	fd = client_connect(e.port);
	silent = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "Connection from", WAIT_MS));
	cr_assert(echod_wait_log(&e, "Connection from", WAIT_MS));
	start = now_ms();
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert(echod_wait_log(&e, "shutting down", WAIT_MS), "%s", e.log);
	client_send(fd, "late\n", 5);
	client_expect_str(fd, "GOT:late\n");
	client_expect_eof(fd);
	client_expect_eof(silent);
	took = now_ms() - start;
	cr_assert_lt(took, 3000, "the silent one held on %ld ms", took);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0);
	cr_assert(echod_log_has(&e, ": new and silent at shutdown, waiting "),
	    "%s", e.log);
	close(fd);
	close(silent);
	echod_free(&e);
}

/*
 * Too few descriptors to start: libevent's own warnings and its fatal
 * error, or echod's line when libevent gets its pipe but no epoll set,
 * and exit 1 either way.
 */
Test(lifecycle, out_of_descriptors_at_start_exits_1)
{
	static const struct {
		unsigned long	 nofile;
		const char	*lines[2];
	} cases[] = {
		{ 5, { "echod: libevent: evsig_init_: socketpair: Too many "
		    "open files\n", "echod: libevent: fatal error " } },
		{ 6, { "echod: cannot set up the event loop: Too many open "
		    "files\n", "echod: cannot set up the event loop: " } },
	};
	const char	*args[] = { "-l", "127.0.0.1:0", NULL };
	struct echod	 e;
	size_t		 i, j;

	for (i = 0; i < 2; i++) {
		echod_set_nofile(cases[i].nofile);
		echod_spawn(&e, args);
		echod_set_nofile(0);
		cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1, "%s", e.log);
		for (j = 0; j < 2; j++)
			cr_assert(echod_log_has(&e, cases[i].lines[j]), "%s",
			    e.log);
		echod_free(&e);
	}
}

/* -v says when a thread left without clients gives its memory back. */
Test(lifecycle, idle_memory_is_returned_after_a_second)
{
	struct echod	 e;
	long		 closed, took;
	int		 fd;

	echod_start(&e, "-v", NULL);
	fd = client_connect(e.port);
	client_echo(fd, "hello");
	close(fd);
	cr_assert(echod_wait_log(&e, "Connection closed", WAIT_MS), "%s",
	    e.log);
	closed = now_ms();
	cr_assert(echod_wait_log(&e, "echod: no clients for 1 s: freed memory "
	    "returned\n", WAIT_MS), "%s", e.log);
	took = now_ms() - closed;
	cr_assert(took >= 900 && took < 3000, "after %ld ms", took);
	echod_finish(&e);
}

/*
 * An accept(2) error that is not about descriptors (here EPERM, as an
 * LSM would give): one line a minute, the others at -v, and no busy loop
 * though the connection stays in the backlog.
 */
Test(lifecycle, accept_errors_are_rate_limited_and_calm)
{
	struct echod	 e;
	long		 cpu;
	int		 fds[5], i;

	echod_set_no_accept(true);
	echod_start(&e, NULL);
	echod_set_no_accept(false);
	for (i = 0; i < 5; i++)
		fds[i] = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "echod: accept: Operation not permitted "
	    "(repeats are logged once a minute)\n", WAIT_MS), "%s", e.log);
	cpu = echod_cpu_ms(&e);
	/* A window to measure CPU in, not a wait for an event. */
	usleep(1000000);
	cr_assert_lt(echod_cpu_ms(&e) - cpu, 300, "spinning on accept");
	cr_assert_eq(echod_log_count(&e, "accept: "), 1, "%s", e.log);
	for (i = 0; i < 5; i++)
		close(fds[i]);
	echod_finish(&e);
}

/* IPv6 end to end: a [::1] listener, its name and the client's. */
Test(lifecycle, ipv6_loopback_end_to_end)
{
	struct echod		 e;
	struct sockaddr_in6	 sin6 = { .sin6_family = AF_INET6 };
	socklen_t		 len = sizeof(sin6);
	char			 want[96];
	int			 fd, port;

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	sin6.sin6_addr = in6addr_loopback;
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == -1)
		cr_skip_test("no IPv6 loopback here");
	close(fd);
	echod_start(&e, "-l", "[::1]:0", NULL);
	port = echod_port_of(&e, "[::1]:");
	cr_assert_neq(fd = socket(AF_INET6, SOCK_STREAM, 0), -1);
	sin6.sin6_port = htons(port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	client_echo(fd, "over IPv6");
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin6, &len), 0);
	snprintf(want, sizeof(want), "echod: Connection from [::1]:%d\n",
	    ntohs(sin6.sin6_port));
	cr_assert(echod_wait_log(&e, want, WAIT_MS), "%s", e.log);
	close(fd);
	snprintf(want, sizeof(want), "Connection closed [::1]:%d: client "
	    "closed, 10 bytes in, 14 bytes out", ntohs(sin6.sin6_port));
	cr_assert(echod_wait_log(&e, want, WAIT_MS), "%s", e.log);
	echod_finish(&e);
}
