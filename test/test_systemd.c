/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Integration: socket activation (sockets passed as systemd passes
 * them) and readiness notification over NOTIFY_SOCKET.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
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

static void
pass_nothing(void)
{
	echod_pass(NULL, 0, NULL, NULL);
}

TestSuite(systemd, .timeout = 30, .fini = pass_nothing);

/* A socket on 127.0.0.1, any port; listening if it is a stream one. */
static int
bound_socket(int type, int *port)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	int			 fd;

	cr_assert_neq(fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	if (type == SOCK_STREAM)
		cr_assert_eq(listen(fd, 16), 0);
	*port = client_local_port(fd);
	return fd;
}

Test(systemd, passed_sockets_are_served_and_replace_the_default)
{
	struct echod	 e;
	const char	*args[] = { "-q", NULL };
	char		 want[128], got[16];
	int		 fds[2], tcp_port, udp_port, fd, u;
	struct sockaddr_in sin = { .sin_family = AF_INET };

	fds[0] = bound_socket(SOCK_STREAM, &tcp_port);
	fds[1] = bound_socket(SOCK_DGRAM, &udp_port);
	echod_pass(fds, 2, "echo:echo-udp", NULL);
	echod_spawn(&e, args);
	snprintf(want, sizeof(want), "listening on 127.0.0.1:%d, "
	    "udp:127.0.0.1:%d\n", tcp_port, udp_port);
	cr_assert(echod_wait_log(&e, want, WAIT_MS), "want '%s' in: %s",
	    want, e.log);
	fd = client_connect(tcp_port);
	client_echo(fd, "Hello");
	close(fd);

	cr_assert_neq(u = socket(AF_INET, SOCK_DGRAM, 0), -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(udp_port);
	cr_assert_eq(connect(u, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(send(u, "dgram", 5, 0), 5);
	{
		struct pollfd pfd = { .fd = u, .events = POLLIN };

		cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1);
	}
	cr_assert_eq(recv(u, got, sizeof(got), 0), 9);
	cr_assert_arr_eq(got, "GOT:dgram", 9);
	close(u);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "UDP: 1 datagrams in, 1 echoed"), "%s",
	    e.log);
	echod_free(&e);
	close(fds[0]);
	close(fds[1]);
}

/* The name says how: a "proxy" socket reads a PROXY header first. */
Test(systemd, socket_names_choose_proxy)
{
	struct echod	 e;
	const char	*args[] = { "-l", "127.0.0.1:0", NULL };
	const char	*hdr = "PROXY TCP4 192.0.2.5 127.0.0.1 4242 7\r\nhi\n";
	int		 lfd, port, fd;

	lfd = bound_socket(SOCK_STREAM, &port);
	echod_pass(&lfd, 1, "echo-proxy", NULL);
	echod_spawn(&e, args);
	cr_assert(echod_wait_log(&e, "listening on 127.0.0.1:", WAIT_MS));
	cr_assert(echod_log_has(&e, ", proxy:127.0.0.1:"), "%s", e.log);
	fd = client_connect(port);
	client_send(fd, hdr, strlen(hdr));
	client_expect_str(fd, "GOT:hi\n");
	cr_assert(echod_wait_log(&e, "Connection from 192.0.2.5:4242 via",
	    WAIT_MS), "%s", e.log);
	close(fd);
	echod_finish(&e);
	close(lfd);
}

Test(systemd, unusable_passed_socket_is_a_start_failure)
{
	struct echod	 e;
	const char	*args[] = { NULL };
	int		 fd, port;

	/* Bound but not listening. */
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	echod_pass(&fd, 1, "echo", NULL);
	echod_spawn(&e, args);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1);
	cr_assert(echod_log_has(&e, "inherited descriptor 3 (echo) is not a "
	    "listening TCP or Unix socket, nor a UDP one"), "%s", e.log);
	echod_free(&e);
	close(fd);

	fd = bound_socket(SOCK_STREAM, &port);
	echod_pass(&fd, 1, "tls", NULL);
	echod_spawn(&e, args);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1);
	cr_assert(echod_log_has(&e, "inherited descriptor 3 is for TLS, but "
	    "--tls-cert and --tls-key are not given"), "%s", e.log);
	echod_free(&e);
	close(fd);
}

/*
 * A Unix datagram sender that never bound has no address to answer:
 * such a socket is refused at start, not read with an empty address.
 */
Test(systemd, unix_datagram_socket_is_refused_at_start)
{
	struct echod		 e;
	const char		*args[] = { NULL };
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	char			 dir[256];
	int			 fd;

	test_tmpdir(dir, sizeof(dir));
	cr_assert_lt(strlen(dir) + 7, sizeof(sun.sun_path));
	memcpy(sun.sun_path, dir, strlen(dir));
	memcpy(sun.sun_path + strlen(dir), "/dgram", 7);
	cr_assert_neq(fd = socket(AF_UNIX, SOCK_DGRAM, 0), -1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	echod_pass(&fd, 1, "echo-dgram", NULL);
	echod_spawn(&e, args);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1);
	cr_assert(echod_log_has(&e, "inherited descriptor 3 (echo-dgram) is "
	    "a Unix datagram socket, which echod does not serve\n"), "%s",
	    e.log);
	echod_free(&e);
	close(fd);
	unlink(sun.sun_path);
	rmdir(dir);
}

/* Waits for one notification datagram; returns it NUL-terminated. */
static void
notify_recv(int fd, char *buf, size_t len)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	ssize_t		 n;

	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "no notification");
	cr_assert_gt(n = recv(fd, buf, len - 1, 0), 0);
	buf[n] = '\0';
}

Test(systemd, readiness_and_stopping_are_notified)
{
	struct echod		 e;
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	char			 dir[64], msg[512];
	const char		*args[] = { "-l", "127.0.0.1:0", NULL };
	int			 fd, cfd;

	test_tmpdir(dir, sizeof(dir));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify", dir);
	cr_assert_neq(fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), -1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	echod_pass(NULL, 0, NULL, sun.sun_path);
	echod_spawn(&e, args);
	notify_recv(fd, msg, sizeof(msg));
	cr_assert_not_null(strstr(msg, "READY=1\n"), "%s", msg);
	cr_assert_not_null(strstr(msg, "STATUS=listening on 127.0.0.1:"),
	    "%s", msg);
	/* Ready means ready: a client is served at once. */
	cfd = client_connect(port_after(msg, "127.0.0.1:"));
	client_echo(cfd, "ready?");
	close(cfd);
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	notify_recv(fd, msg, sizeof(msg));
	cr_assert_not_null(strstr(msg, "STOPPING=1"), "%s", msg);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0);
	echod_free(&e);
	close(fd);
	unlink(sun.sun_path);
	rmdir(dir);
}
