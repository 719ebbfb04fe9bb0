/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Integration: socket activation (sockets passed as systemd passes
 * them) and readiness notification over NOTIFY_SOCKET.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "addr.h"
#include "systemd.h"

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

/* fd passed under name: echod exits 1 with the line msg. */
static void
expect_refused(int fd, const char *name, const char *msg)
{
	struct echod	 e;
	const char	*args[] = { NULL };

	echod_pass(&fd, 1, name, NULL);
	echod_spawn(&e, args);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1);
	cr_assert(echod_log_has(&e, msg), "%s", e.log);
	echod_free(&e);
	close(fd);
}

Test(systemd, unusable_passed_socket_is_a_start_failure)
{
	int	 fd, port;

	/* Bound but not listening. */
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	expect_refused(fd, "echo", "inherited descriptor 3 (echo) is not a "
	    "listening TCP or Unix socket, nor a UDP one");
	expect_refused(bound_socket(SOCK_STREAM, &port), "tls", "inherited "
	    "descriptor 3 is for TLS, but --tls-cert and --tls-key are not "
	    "given");
	expect_refused(bound_socket(SOCK_DGRAM, &port), "tls", "inherited "
	    "descriptor 3 (tls): UDP takes neither TLS nor PROXY\n");
}

/* A notification that cannot be sent is a warning; serving goes on. */
Test(systemd, notify_failure_is_a_warning)
{
	struct echod	 e;
	const char	*args[] = { NULL };
	int		 fd, port, c;

	fd = bound_socket(SOCK_STREAM, &port);
	cr_assert_eq(listen(fd, 16), 0);
	echod_pass(&fd, 1, "echo", "/nonexistent/notify");
	echod_spawn(&e, args);
	cr_assert(echod_wait_log(&e, "echod: cannot notify systemd: No such "
	    "file or directory\n", WAIT_MS), "%s", e.log);
	c = client_connect(port);
	client_echo(c, "still served");
	close(c);
	echod_finish(&e);
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

/* Runs systemd_listen_fds() with these variables; stderr into out. */
static int
listen_with(const char *fds, const char *names, char *out, size_t len)
{
	struct listen_list	 list = { NULL, 0 };
	char			 pid[16];
	int			 p[2], saved, rc;
	ssize_t			 n;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", fds, 1);
	if (names != NULL)
		setenv("LISTEN_FDNAMES", names, 1);
	cr_assert_eq(pipe(p), 0);
	saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	rc = systemd_listen_fds(&list);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	n = read(p[0], out, len - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
	echod_keep_log(out);
	addr_list_free(&list);
	return rc;
}

/*
 * Once read, the variables are gone, so that nothing started later sees
 * them; a count that is not one is an error, said in one line.
 */
Test(systemd, listen_variables_are_removed_once_read)
{
	char	 out[256];

	cr_assert_eq(listen_with("many", "echo", out, sizeof(out)), -1);
	cr_assert_str_eq(out, "echod: cannot take the sockets systemd passed: "
	    "Invalid argument\n");
	cr_assert_null(getenv("LISTEN_PID"));
	cr_assert_null(getenv("LISTEN_FDS"));
	cr_assert_null(getenv("LISTEN_FDNAMES"));
}

/* How many of pid's epoll instances watch the socket fd is (ours). */
static int
epolls_watching(pid_t pid, int fd)
{
	struct stat	 st;
	struct dirent	*de;
	char		 path[320], target[64], line[256], ino[32];
	DIR		*d;
	FILE		*f;
	ssize_t		 n;
	int		 count = 0;

	cr_assert_eq(fstat(fd, &st), 0);
	snprintf(ino, sizeof(ino), " ino:%lx", (unsigned long)st.st_ino);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	cr_assert_not_null(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
		    de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:[eventpoll]") != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid,
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "tfd:", 4) == 0 &&
			    strstr(line, ino) != NULL) {
				count++;
				break;
			}
		fclose(f);
	}
	closedir(d);
	return count;
}

/*
 * --threads with a passed socket: every thread accepts from it (it has
 * no SO_REUSEPORT twin), and a socket named "tls" is served over TLS.
 */
Test(systemd, threads_share_a_passed_socket_and_tls_by_name)
{
	struct echod	 e;
	char		 dir[64], cert[96], key[96], connect[32], *out;
	const char	*req[] = { "openssl", "req", "-x509", "-newkey", "ec",
			    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			    "-keyout", key, "-out", cert, "-days", "2", "-subj",
			    "/CN=localhost", NULL };
	const char	*args[] = { "-v", "--threads", "2", "--tls-cert", cert,
			    "--tls-key", key, NULL };
	const char	*s_client[] = { "openssl", "s_client", "-quiet",
			    "-connect", connect, NULL };
	int		 fds[2], port, tls_port, c;

	test_tmpdir(dir, sizeof(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	cr_assert_eq(run_tool(req, NULL, 0, &out), 0, "openssl: %s", out);
	free(out);
	fds[0] = bound_socket(SOCK_STREAM, &port);
	fds[1] = bound_socket(SOCK_STREAM, &tls_port);
	echod_pass(fds, 2, "echo:tls", NULL);
	echod_spawn(&e, args);
	cr_assert(echod_wait_log(&e, "listening on ", WAIT_MS), "%s", e.log);
	/* Which thread accepts is the kernel's choice; both wait on it. */
	cr_assert_eq(epolls_watching(e.pid, fds[0]), 2);
	cr_assert_eq(epolls_watching(e.pid, fds[1]), 2);
	c = client_connect(port);
	client_echo(c, "shared");
	close(c);
	snprintf(connect, sizeof(connect), "127.0.0.1:%d", tls_port);
	(void)run_tool(s_client, "over tls\n", 9, &out);
	cr_assert_not_null(strstr(out, "GOT:over tls\n"), "%s", out);
	free(out);
	cr_assert(echod_wait_log(&e, "TLS handshake done", WAIT_MS), "%s",
	    e.log);
	echod_finish(&e);
	close(fds[0]);
	close(fds[1]);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}
