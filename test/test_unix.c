/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Integration: --listen unix:PATH and --unix-mode. */
#include "config.h"

#include <sys/syscall.h>

#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(unix_socket, .timeout = 30);

struct sock_path {
	char	dir[64];
	char	path[96];
	char	listen[104];
};

static void
sock_path_init(struct sock_path *sp)
{
	test_tmpdir(sp->dir, sizeof(sp->dir));
	snprintf(sp->path, sizeof(sp->path), "%s/echod.sock", sp->dir);
	snprintf(sp->listen, sizeof(sp->listen), "unix:%s", sp->path);
}

static void
sock_path_free(struct sock_path *sp)
{
	unlink(sp->path);
	cr_assert_eq(rmdir(sp->dir), 0, "rmdir %s: %s", sp->dir,
	    strerror(errno));
}

static void
expect_echo_unix(const char *path)
{
	int	 fd = client_connect_unix(path);

	client_echo(fd, "Hello");
	shutdown(fd, SHUT_WR);
	client_expect_eof(fd);
	close(fd);
}

Test(unix_socket, serves_with_its_mode_and_is_removed_at_exit)
{
	struct sock_path sp;
	struct echod	 e;
	struct stat	 st;
	char		 line[256];

	sock_path_init(&sp);
	echod_start(&e, "-l", sp.listen, "--unix-mode", "640", NULL);
	snprintf(line, sizeof(line), "listening on 127.0.0.1:%d, %s", e.port,
	    sp.listen);
	cr_assert(echod_log_has(&e, line), "%s", e.log);
	cr_assert_eq(stat(sp.path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0640);
	expect_echo_unix(sp.path);
	snprintf(line, sizeof(line), "Connection closed %s: client closed, "
	    "6 bytes in, 10 bytes out", sp.listen);
	cr_assert(echod_wait_log(&e, line, WAIT_MS), "%s", e.log);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert_eq(stat(sp.path, &st), -1, "socket file left behind");
	echod_free(&e);
	sock_path_free(&sp);
}

Test(unix_socket, stale_socket_is_replaced)
{
	struct sock_path    sp;
	struct sockaddr_un  sun = { .sun_family = AF_UNIX };
	struct echod	    e;
	int		    fd;

	sock_path_init(&sp);
	/* A server that died without removing its socket. */
	memcpy(sun.sun_path, sp.path, strlen(sp.path));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	cr_assert_eq(access(sp.path, F_OK), 0);
	echod_start(&e, "-l", sp.listen, NULL);
	cr_assert(echod_log_has(&e, "replacing stale socket"), "%s", e.log);
	expect_echo_unix(sp.path);
	echod_finish(&e);
	sock_path_free(&sp);
}

/* Another server's live socket, or a file that is no socket, is kept. */
Test(unix_socket, live_socket_or_plain_file_is_never_replaced)
{
	struct sock_path    sp;
	struct echod	    live, second;
	const char	   *args[] = { "-l", NULL, NULL };
	char		    want[160];
	int		    fd;

	sock_path_init(&sp);
	echod_start(&live, "-l", sp.listen, NULL);
	args[1] = sp.listen;
	echod_spawn(&second, args);
	cr_assert_eq(echod_wait_exit(&second, WAIT_MS), 1);
	snprintf(want, sizeof(want), "cannot listen on %s: Address already "
	    "in use", sp.listen);
	cr_assert(echod_log_has(&second, want), "%s", second.log);
	echod_free(&second);
	expect_echo_unix(sp.path);
	echod_finish(&live);

	cr_assert_neq(fd = open(sp.path, O_CREAT | O_WRONLY, 0600), -1);
	cr_assert_eq(write(fd, "data", 4), 4);
	close(fd);
	echod_spawn(&second, args);
	cr_assert_eq(echod_wait_exit(&second, WAIT_MS), 1);
	snprintf(want, sizeof(want), "cannot listen on %s: File exists",
	    sp.listen);
	cr_assert(echod_log_has(&second, want), "%s", second.log);
	cr_assert_eq(access(sp.path, F_OK), 0, "the file was removed");
	echod_free(&second);
	sock_path_free(&sp);
}

/*
 * With --threads the socket is shared (no SO_REUSEPORT for Unix
 * sockets): every connection is served and the file goes at exit.
 * Which thread accepts is the kernel's race, so it is not asserted.
 */
Test(unix_socket, with_threads)
{
	struct sock_path sp;
	struct echod	 e;
	int		 i;

	sock_path_init(&sp);
	echod_start(&e, "-l", sp.listen, "--threads", "2", NULL);
	for (i = 0; i < 8; i++)
		expect_echo_unix(sp.path);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert_eq(access(sp.path, F_OK), -1);
	echod_free(&e);
	sock_path_free(&sp);
}

/*
 * A chmod by path after bind() can be sent elsewhere through a symlink
 * swapped in by anyone who may write to the directory.  echod gives the
 * socket its mode as it is made: it still gets it with chmod(2) denied.
 */
static void
allow_chmod(void)
{
	echod_set_no_chmod(false);
}

Test(unix_socket, mode_is_set_without_chmod, .fini = allow_chmod)
{
	struct sock_path sp;
	struct echod	 e;
	struct stat	 st;

	sock_path_init(&sp);
	echod_set_no_chmod(true);
	echod_start(&e, "-l", sp.listen, "--unix-mode", "0640", NULL);
	cr_assert_eq(lstat(sp.path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0640, "mode %o", st.st_mode & 07777);
	expect_echo_unix(sp.path);
	echod_finish(&e);
	sock_path_free(&sp);
}

/*
 * Two instances started at once on one path: the second must not take
 * the first's socket, not yet listening, for stale and remove it.
 * PATH.lock, held by the first, keeps it out.
 */
Test(unix_socket, a_held_lock_keeps_a_second_instance_out)
{
	struct sock_path	 sp;
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct echod		 e;
	const char		*args[] = { "-l", NULL, NULL };
	char			 lock[128], want[256];
	int			 lfd, stale;

	sock_path_init(&sp);
	/* A socket file nobody listens on: stale, replaceable. */
	memcpy(sun.sun_path, sp.path, strlen(sp.path) + 1);
	cr_assert_neq(stale = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	cr_assert_eq(bind(stale, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(stale);
	snprintf(lock, sizeof(lock), "%s.lock", sp.path);
	cr_assert_neq(lfd = open(lock, O_RDWR | O_CREAT, 0600), -1);
	cr_assert_eq(flock(lfd, LOCK_EX), 0);
	args[1] = sp.listen;
	echod_spawn(&e, args);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1, "%s", e.log);
	snprintf(want, sizeof(want), "%s is held: another echod serves %s\n",
	    lock, sp.path);
	cr_assert(echod_log_has(&e, want), "%s", e.log);
	cr_assert_eq(access(sp.path, F_OK), 0, "the socket was removed");
	echod_free(&e);
	/* Let go, the stale socket is replaced and the lock taken. */
	close(lfd);
	unlink(lock);
	echod_start(&e, "-l", sp.listen, NULL);
	cr_assert(echod_log_has(&e, "replacing stale socket"), "%s", e.log);
	cr_assert_eq(access(lock, F_OK), 0);
	expect_echo_unix(sp.path);
	echod_finish(&e);
	cr_assert_neq(access(lock, F_OK), 0, "the lock file stays");
	sock_path_free(&sp);
}

/* --max-per-ip counts addresses; Unix clients have none and are not counted. */
Test(unix_socket, clients_are_not_counted_per_address)
{
	struct echod		 e;
	struct sock_path	 sp;
	int			 fds[3], i;

	sock_path_init(&sp);
	echod_start(&e, "-l", sp.listen, "--max-per-ip", "1", NULL);
	for (i = 0; i < 3; i++) {
		fds[i] = client_connect_unix(sp.path);
		client_echo(fds[i], "not counted");
	}
	cr_assert(!echod_log_has(&e, "max-per-ip"), "%s", e.log);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	echod_finish(&e);
	sock_path_free(&sp);
}

/*
 * What cannot be done to the socket's files is said, with the reason:
 * the lock not taken, or not even opened (a symlink in its place), keeps
 * echod from serving the path (exit 1); files it
 * cannot remove at exit are named, and the exit is still 0.
 */
Test(unix_socket, lock_and_removal_failures_are_said)
{
	static const int	 no_flock[] = { __NR_flock };
	static const int	 no_unlink[] = { __NR_unlink, __NR_unlinkat };
	struct echod		 e;
	struct sock_path	 sp;
	char			 want[256];
	const char		*args[] = { "-l", sp.listen, NULL };

	sock_path_init(&sp);
	echod_set_deny(no_flock, 1);
	echod_spawn(&e, args);
	echod_set_deny(NULL, 0);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1, "%s", e.log);
	snprintf(want, sizeof(want), "echod: cannot lock %s.lock: Operation "
	    "not permitted\n", sp.path);
	cr_assert(echod_log_has(&e, want), "%s", e.log);
	echod_free(&e);
	snprintf(want, sizeof(want), "%s.lock", sp.path);
	unlink(want);

	/* A symlink where the lock goes is not followed. */
	snprintf(want, sizeof(want), "%s.lock", sp.path);
	cr_assert_eq(symlink("/nonexistent/echod.lock", want), 0);
	echod_spawn(&e, args);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1, "%s", e.log);
	snprintf(want, sizeof(want), "echod: cannot open %s.lock: Too many "
	    "levels of symbolic links\n", sp.path);
	cr_assert(echod_log_has(&e, want), "%s", e.log);
	echod_free(&e);
	snprintf(want, sizeof(want), "%s.lock", sp.path);
	unlink(want);

	echod_set_deny(no_unlink, 2);
	echod_spawn(&e, args);
	echod_set_deny(NULL, 0);
	cr_assert(echod_wait_log(&e, "listening on ", WAIT_MS), "%s", e.log);
	cr_assert_eq(echod_stop(&e), 0, "%s", e.log);
	snprintf(want, sizeof(want), "echod: cannot remove %s: Operation not "
	    "permitted\n", sp.path);
	cr_assert(echod_log_has(&e, want), "%s", e.log);
	snprintf(want, sizeof(want), "echod: cannot remove %s.lock: "
	    "Operation not permitted\n", sp.path);
	cr_assert(echod_log_has(&e, want), "%s", e.log);
	echod_free(&e);
	snprintf(want, sizeof(want), "%s.lock", sp.path);
	unlink(want);
	sock_path_free(&sp);
}
