/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

#define MAX_ARGS	64

/* RLIMIT_NOFILE for the servers this test starts; 0 leaves it alone. */
static rlim_t spawn_nofile;
static bool spawn_no_ipv6;
static bool spawn_no_chmod;
static bool spawn_no_accept;
static int spawn_denied[8];		/* more calls that fail EPERM */
static size_t spawn_ndenied;
static bool spawn_journal;
static unsigned kept_logs;	/* this test process's logs kept so far */

void
echod_set_nofile(unsigned long nofile)
{
	spawn_nofile = nofile;
}

void
echod_set_no_ipv6(bool on)
{
	spawn_no_ipv6 = on;
}

void
echod_set_no_chmod(bool on)
{
	spawn_no_chmod = on;
}

void
echod_set_journal(bool on)
{
	spawn_journal = on;
}

/* In the child: JOURNAL_STREAM names its stderr, as systemd's does. */
static void
spawn_as_journal(void)
{
	struct stat	 st;
	char		 value[64];

	if (fstat(STDERR_FILENO, &st) == -1)
		_exit(124);
	snprintf(value, sizeof(value), "%llu:%llu",
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", value, 1);
}

/* In the child: a seccomp filter from here on, exec included. */
static int
spawn_seccomp(struct sock_filter *filter, unsigned short len)
{
	struct sock_fprog	 prog = { .len = len, .filter = filter };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/*
 * In the child: socket(AF_INET6, ...) fails with EAFNOSUPPORT, as on a
 * kernel without IPv6 (disable_ipv6 does not do that: it still lets a
 * socket bind to ::).
 */
static int
spawn_deny_ipv6(void)
{
	struct sock_filter	 filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
		    SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
	};

	return spawn_seccomp(filter, sizeof(filter) / sizeof(filter[0]));
}

#ifndef __NR_fchmodat2
#define __NR_fchmodat2	452
#endif

/* In the child: these system calls fail with EPERM, all else runs. */
static int
spawn_deny(const int *nrs, size_t n)
{
	struct sock_filter	 filter[16];
	size_t			 i, len = 0;

	filter[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr));
	for (i = 0; i < n; i++)
		filter[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
		    BPF_K, nrs[i], n - i, 0);
	filter[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ALLOW);
	filter[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	return spawn_seccomp(filter, len);
}

/* chmod(2) by path, in any of its forms. */
static int
spawn_deny_chmod(void)
{
	static const int nrs[] = { __NR_chmod, __NR_fchmodat, __NR_fchmodat2 };

	return spawn_deny(nrs, 3);
}

/* accept(2) and accept4(2), as an LSM's denial would fail them. */
static int
spawn_deny_accept(void)
{
	static const int nrs[] = { __NR_accept, __NR_accept4 };

	return spawn_deny(nrs, 2);
}

void
echod_set_no_accept(bool on)
{
	spawn_no_accept = on;
}

/* Later spawns get EPERM from these system calls; none ends it. */
void
echod_set_deny(const int *nrs, size_t n)
{
	cr_assert_leq(n, sizeof(spawn_denied) / sizeof(spawn_denied[0]));
	if (n != 0)
		memcpy(spawn_denied, nrs, n * sizeof(nrs[0]));
	spawn_ndenied = n;
}

/*
 * In the child: no signal blocked or ignored, whatever the test runner
 * left, so that echod gets its signals exactly as from a shell.
 */
static void
spawn_clean_signals(void)
{
	const int	 sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPIPE,
			    SIGCHLD };
	sigset_t	 none;
	size_t		 i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads what the server has logged; waits up to timeout_ms for more. */
static bool
echod_read_log(struct echod *e, int timeout_ms)
{
	struct pollfd	 pfd = { .fd = e->log_fd, .events = POLLIN };
	ssize_t		 n;

	if (e->log_fd == -1 || poll(&pfd, 1, timeout_ms) <= 0)
		return false;
	if (e->log_len + 4096 + 1 > e->log_cap) {
		e->log_cap = (e->log_cap + 4096) * 2;
		e->log = realloc(e->log, e->log_cap);
		cr_assert_not_null(e->log);
	}
	n = read(e->log_fd, e->log + e->log_len, 4096);
	if (n <= 0) {
		close(e->log_fd);
		e->log_fd = -1;
		return false;
	}
	e->log_len += n;
	e->log[e->log_len] = '\0';
	return true;
}

static void
echod_read_available(struct echod *e)
{
	while (echod_read_log(e, 0))
		;
}

/* Waits for a log line containing needle, after the last one found. */
bool
echod_wait_log(struct echod *e, const char *needle, int timeout_ms)
{
	long	 deadline = now_ms() + timeout_ms;
	char	*hit, *eol;

	for (;;) {
		if (e->log != NULL &&
		    (hit = strstr(e->log + e->log_seen, needle)) != NULL) {
			eol = strchr(hit, '\n');
			e->log_seen = eol != NULL ? (size_t)(eol + 1 - e->log) :
			    e->log_len;
			return true;
		}
		if (now_ms() >= deadline || e->log_fd == -1)
			return false;
		echod_read_log(e, (int)(deadline - now_ms()));
	}
}

/*
 * SIGUSR1 until a report says `want` (a connection's close is logged just
 * before its thread's open count drops; bytes sent are counted when echod
 * reads them): each report is waited for, then another asked for after
 * 20 ms, up to WAIT_MS.
 */
void
echod_usr1_until(struct echod *e, const char *want)
{
	long	 deadline = now_ms() + WAIT_MS;
	size_t	 reports;

	while (!echod_log_has(e, want)) {
		cr_assert_lt(now_ms(), deadline, "never '%s': ...%s", want,
		    e->log + (e->log_len > 4096 ? e->log_len - 4096 : 0));
		reports = echod_log_count(e, "counters: open");
		cr_assert_eq(kill(e->pid, SIGUSR1), 0);
		while (echod_log_count(e, "counters: open") == reports)
			cr_assert(echod_wait_log(e, "counters: open", WAIT_MS),
			    "no report: %s", e->log);
		if (!echod_log_has(e, want))
			poll(NULL, 0, 20);
	}
}

bool
echod_log_has(struct echod *e, const char *needle)
{
	echod_read_available(e);
	return e->log != NULL && strstr(e->log, needle) != NULL;
}

size_t
echod_log_count(struct echod *e, const char *needle)
{
	size_t		 count = 0;
	const char	*p;

	echod_read_available(e);
	for (p = e->log; p != NULL && (p = strstr(p, needle)) != NULL; p++)
		count++;
	return count;
}

/* Sockets passed as systemd does: fds 3.., LISTEN_FDS, LISTEN_PID. */
static const int	*pass_fds;
static size_t		 pass_nfds;
static const char	*pass_names;
static const char	*pass_notify;

void
echod_pass(const int *fds, size_t nfds, const char *names,
    const char *notify_socket)
{
	pass_fds = fds;
	pass_nfds = nfds;
	pass_names = names;
	pass_notify = notify_socket;
}

/* In the child: the sockets at 3 and up, and the environment for them. */
static void
echod_pass_in_child(void)
{
	char	 number[32];
	int	 moved[16];
	size_t	 i;

	if (pass_notify != NULL)
		setenv("NOTIFY_SOCKET", pass_notify, 1);
	if (pass_nfds == 0)
		return;
	/* Out of the way first: a socket may already sit at 3 or 4. */
	for (i = 0; i < pass_nfds && i < 16; i++)
		moved[i] = fcntl(pass_fds[i], F_DUPFD, 100);
	for (i = 0; i < pass_nfds && i < 16; i++)
		dup2(moved[i], 3 + i);
	snprintf(number, sizeof(number), "%zu", pass_nfds);
	setenv("LISTEN_FDS", number, 1);
	snprintf(number, sizeof(number), "%d", (int)getpid());
	setenv("LISTEN_PID", number, 1);
	if (pass_names != NULL)
		setenv("LISTEN_FDNAMES", pass_names, 1);
}

void
echod_spawn(struct echod *e, const char *const *args)
{
	program_spawn(e, "ECHOD", args);
}

/*
 * The program named by environment variable `var`, as echod_spawn()
 * runs echod; ECHOD_WRAPPER applies to echod only.
 */
void
program_spawn(struct echod *e, const char *var, const char *const *args)
{
	const char	*bin = getenv(var);
	const char	*wrapper = strcmp(var, "ECHOD") == 0 ?
			    getenv("ECHOD_WRAPPER") : NULL;
	const char	*argv[2 * MAX_ARGS + 2];
	char		 words[1024], *word, *save;
	int		 pipefd[2];
	size_t		 i, n = 0;

	cr_assert_not_null(bin, "set %s to the program to test", var);
	memset(e, 0, sizeof(*e));
	e->status = -1;
	/* The programs whose manuals have a DIAGNOSTICS section. */
	e->program = strcmp(var, "ECHOD") == 0 ? "echod" :
	    strcmp(var, "ECHOLOAD") == 0 ? "echoload" : NULL;
	/* ECHOD_WRAPPER, e.g. "valgrind -q", runs the server under a tool. */
	if (wrapper != NULL) {
		snprintf(words, sizeof(words), "%s", wrapper);
		for (word = strtok_r(words, " ", &save); word != NULL &&
		    n < MAX_ARGS; word = strtok_r(NULL, " ", &save))
			argv[n++] = word;
	}
	argv[n++] = bin;
	for (i = 0; args[i] != NULL && i < MAX_ARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
	/* Room for a busy log while the test is not reading it. */
	(void)fcntl(pipefd[0], F_SETPIPE_SZ, 1 << 20);
	e->pid = fork();
	cr_assert_neq(e->pid, -1);
	if (e->pid == 0) {
		/* Never outlive the test, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		spawn_clean_signals();
		if (spawn_nofile != 0) {
			struct rlimit rl = { spawn_nofile, spawn_nofile };

			if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
				_exit(126);
		}
		if (spawn_no_ipv6 && spawn_deny_ipv6() == -1)
			_exit(125);
		if (spawn_no_chmod && spawn_deny_chmod() == -1)
			_exit(125);
		if (spawn_no_accept && spawn_deny_accept() == -1)
			_exit(125);
		if (spawn_ndenied != 0 &&
		    spawn_deny(spawn_denied, spawn_ndenied) == -1)
			_exit(125);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		if (spawn_journal)
			spawn_as_journal();
		echod_pass_in_child();
		/* Nothing of the test runner's leaks into the server. */
		close_range(3 + pass_nfds, ~0U, 0);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	e->log_fd = pipefd[0];
}

void
echod_start(struct echod *e, ...)
{
	const char	*args[MAX_ARGS + 1] = { "-l", "127.0.0.1:0" };
	size_t		 n = 2;
	va_list		 ap;

	va_start(ap, e);
	while (n < MAX_ARGS && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	echod_spawn(e, args);
	cr_assert(echod_wait_log(e, "listening on 127.0.0.1:", WAIT_MS),
	    "echod did not start; it said: %s", e->log ? e->log : "");
	e->port = port_after(e->log, "listening on 127.0.0.1:");
}

/*
 * With ECHOD_LOG_DIR set (make check sets it), every echod and echoload
 * log is kept there whole, so that test/diagnostics.sh can check each
 * manual's DIAGNOSTICS against what the tests made the program say.
 * Unit tests keep what echod's own code printed in the test process the
 * same way.
 */
void
echod_keep_log(const char *text)
{
	program_keep_log("echod", text);
}

void
program_keep_log(const char *program, const char *text)
{
	const char	*dir = getenv("ECHOD_LOG_DIR");
	char		 path[4096];
	size_t		 len = strlen(text);
	int		 fd;

	if (dir == NULL || len == 0)
		return;
	snprintf(path, sizeof(path), "%s/%s.%d.%u", dir, program,
	    (int)getpid(), kept_logs++);
	cr_assert_neq(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644), -1, "cannot keep the log in %s", path);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* Waits for exit; returns the exit status, or 128 + signal. */
int
echod_wait_exit(struct echod *e, int timeout_ms)
{
	long	 deadline = now_ms() + timeout_ms;
	int	 status;

	/* The log reaches EOF when the process exits. */
	while (e->log_fd != -1 && now_ms() < deadline)
		echod_read_log(e, (int)(deadline - now_ms()));
	/* What it said last tells where it was stuck. */
	cr_assert_eq(e->log_fd, -1, "echod did not exit in %d ms; it said: %s",
	    timeout_ms, e->log != NULL ? e->log : "");
	cr_assert_eq(waitpid(e->pid, &status, 0), e->pid);
	e->status = WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
	if (e->log == NULL)
		e->log = calloc(1, 1);
	if (e->program != NULL)
		program_keep_log(e->program, e->log);
	cr_assert_null(strstr(e->log, "Sanitizer"), "sanitizer report: %s",
	    e->log);
	cr_assert_null(strstr(e->log, "runtime error"), "UBSan report: %s",
	    e->log);
	return e->status;
}

int
echod_stop(struct echod *e)
{
	cr_assert_eq(kill(e->pid, SIGTERM), 0);
	return echod_wait_exit(e, WAIT_MS);
}

void
echod_finish(struct echod *e)
{
	int	 status = echod_stop(e);

	cr_assert_eq(status, 0, "echod exited %d: %s", status, e->log);
	echod_free(e);
}

bool
rss_bounds_hold(void)
{
	const char	*wrapper = getenv("ECHOD_WRAPPER");

#if defined(__SANITIZE_ADDRESS__)
	return false;
#endif
	return wrapper == NULL || *wrapper == '\0';
}

long
echod_rss_kb(const struct echod *e)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)e->pid);
	cr_assert_not_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int
port_after(const char *text, const char *prefix)
{
	const char	*hit = strstr(text, prefix);
	char		*end;
	long		 port;

	cr_assert_not_null(hit, "no '%s' in: %s", prefix, text);
	port = strtol(hit + strlen(prefix), &end, 10);
	cr_assert(end != hit + strlen(prefix) && port > 0 && port <= 65535,
	    "no port after '%s' in: %s", prefix, text);
	return (int)port;
}

/*
 * The port of the listener whose name in the "listening on" line starts
 * with prefix, e.g. "udp:127.0.0.1:" or "tls:127.0.0.1:".
 */
int
echod_port_of(struct echod *e, const char *prefix)
{
	const char	*line, *hit, *eol;

	cr_assert_not_null(line = strstr(e->log, "listening on "));
	eol = strchr(line, '\n');
	for (hit = line + strlen("listening on "); hit != NULL;
	    hit = strstr(hit, ", ")) {
		hit += hit[0] == ',' ? 2 : 0;
		if (eol != NULL && hit > eol)
			break;
		if (strncmp(hit, prefix, strlen(prefix)) == 0)
			return port_after(hit, prefix);
	}
	cr_assert_fail("no %s listener in: %s", prefix, e->log);
	return -1;
}

/*
 * Runs a tool (curl, openssl) with input on its stdin; its stdout and
 * stderr together, NUL-terminated, go to *output.  Killed after WAIT_MS.
 * Returns its exit status, or 128 + signal.
 */
int
run_tool(const char *const *argv, const void *input, size_t inlen,
    char **output)
{
	int		 in[2], out[2], status;
	pid_t		 pid;
	size_t		 len = 0, cap = 4096;
	long		 deadline = now_ms() + WAIT_MS;
	struct pollfd	 pfd;
	ssize_t		 n;

	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	cr_assert_neq(pid = fork(), -1);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	/* Small inputs only: they fit in the pipe, so this cannot block. */
	cr_assert_lt(inlen, 4096);
	if (inlen > 0)
		cr_assert_eq(write(in[1], input, inlen), (ssize_t)inlen);
	close(in[1]);
	cr_assert_not_null(*output = malloc(cap));
	for (;;) {
		pfd.fd = out[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (len + 1 == cap)
			cr_assert_not_null(*output = realloc(*output,
			    cap *= 2));
		if ((n = read(out[0], *output + len, cap - len - 1)) <= 0)
			break;
		len += n;
	}
	(*output)[len] = '\0';
	close(out[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
}

/* A private directory for socket files; remove it with rmdir. */
void
test_tmpdir(char *dir, size_t len)
{
	cr_assert_lt((size_t)snprintf(dir, len, "/tmp/echod-test.XXXXXX"),
	    len);
	cr_assert_not_null(mkdtemp(dir));
}

int
client_local_port(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);

	cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	cr_assert(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	return ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
}

int
client_connect_unix(const char *path)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { WAIT_MS / 1000, 0 };
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	cr_assert_lt(strlen(path), sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(fd, -1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0,
	    "connect to %s: %s", path, strerror(errno));
	return fd;
}

int
client_connect(int port)
{
	return client_connect_from(NULL, port);
}

/* Connects to 127.0.0.1:port from source address src (NULL: any). */
int
client_connect_from(const char *src, int port)
{
	struct sockaddr_in	 sin;
	struct timeval		 tv = { WAIT_MS / 1000, 0 };
	int			 fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (src != NULL) {
		cr_assert_eq(inet_pton(AF_INET, src, &sin.sin_addr), 1);
		cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
		    "bind %s: %s", src, strerror(errno));
	}
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* No blocking call may outlast the test's own deadline. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
	    "connect to port %d: %s", port, strerror(errno));
	return fd;
}

void
client_send(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		p += n;
		len -= n;
	}
}

/* Receives up to len bytes, stopping at EOF or after timeout_ms. */
size_t
client_recv(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	long		 deadline = now_ms() + timeout_ms;
	size_t		 got = 0;
	ssize_t		 n;

	while (got < len) {
		if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
			break;
		n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n == -1 && errno == EAGAIN)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

void
client_expect(int fd, const void *want, size_t len)
{
	char	*got = malloc(len + 1);
	size_t	 n;

	cr_assert_not_null(got);
	n = client_recv(fd, got, len, WAIT_MS);
	cr_assert_eq(n, len, "expected %zu bytes, got %zu", len, n);
	cr_assert_arr_eq(got, want, len, "echoed bytes differ");
	free(got);
}

void
client_echo(int fd, const char *line)
{
	char	 sent[1024], want[1028];
	int	 n;

	n = snprintf(sent, sizeof(sent), "%s\n", line);
	cr_assert(n > 0 && (size_t)n < sizeof(sent));
	snprintf(want, sizeof(want), "GOT:%s", sent);
	client_send(fd, sent, n);
	client_expect_str(fd, want);
}

void
client_expect_str(int fd, const char *want)
{
	client_expect(fd, want, strlen(want));
}

void
client_expect_eof(int fd)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	ssize_t		 n;
	char		 c;

	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "no EOF in time");
	n = recv(fd, &c, 1, MSG_DONTWAIT);
	/* A reset is not the orderly close the server promises. */
	cr_assert_neq(n, -1, "expected EOF, got %s", strerror(errno));
	cr_assert_eq(n, 0, "expected EOF, got more data");
}

/* True if nothing arrives on fd for ms milliseconds. */
bool
client_quiet_for(int fd, int ms)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 0;
}

/* Closes with an RST instead of a FIN. */
void
client_reset(int fd)
{
	struct linger	 lg = { 1, 0 };

	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
	    0);
	close(fd);
}

void
client_nonblock(int fd)
{
	cr_assert_neq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), -1);
}

/* Releases what the harness holds; the process must have been reaped. */
void
echod_free(struct echod *e)
{
	if (e->log_fd != -1)
		close(e->log_fd);
	free(e->log);
	memset(e, 0, sizeof(*e));
	e->log_fd = -1;
}

/* User plus system CPU time the server has used, in milliseconds. */
long
echod_cpu_ms(const struct echod *e)
{
	char		 path[64], buf[1024], *p;
	unsigned long	 utime, stime;
	FILE		*f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)e->pid);
	cr_assert_not_null(f = fopen(path, "r"));
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	/* Fields 14 and 15, counted after the ")" that ends the name. */
	cr_assert_not_null(p = strrchr(buf, ')'));
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
	    "%*u %lu %lu", &utime, &stime), 2);
	return (long)((utime + stime) * 1000 / sysconf(_SC_CLK_TCK));
}

/*
 * The server has baseline descriptors again.  libevent 2.1 closes a freed
 * bufferevent's socket in a finalizer that runs on a later turn of the
 * loop, so the count is taken after a round trip on a fresh connection
 * to the first listener, which takes several turns.
 */
void
echod_expect_fds(struct echod *e, int baseline)
{
	int	 probe = client_connect(e->port);

	client_echo(probe, "probe");
	cr_assert_eq(echod_fd_count(e), baseline + 1,
	    "descriptors leaked: %d open, %d at start plus the probe",
	    echod_fd_count(e), baseline);
	close(probe);
}

/* Open descriptors of the server, from /proc. */
int
echod_fd_count(const struct echod *e)
{
	char		 path[64];
	DIR		*dir;
	struct dirent	*de;
	int		 count = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)e->pid);
	cr_assert_not_null(dir = opendir(path));
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			count++;
	closedir(dir);
	return count;
}

/* Lets this test process open as many sockets as the hard limit allows. */
void
client_raise_nofile(void)
{
	struct rlimit	 rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/*
 * Sends 64 KiB lines, without reading, until the socket stays full for
 * 300 ms: the server has stopped reading and the kernel's buffers on
 * both sides are full.  Resumes a partly sent line, so the stream is
 * always whole lines of 65535 'z' and an LF.  Returns the bytes sent.
 */
size_t
client_stuff(int fd)
{
	return client_stuff_skewed(fd, 'z', 0);
}

/* As client_stuff(), lines of c: clients side by side send apart. */
size_t
client_stuff_with(int fd, char c)
{
	return client_stuff_skewed(fd, c, 0);
}

/*
 * As client_stuff_with(), after sending the first skew bytes of a line
 * alone.  Every later send is a line's length and straddles a line end,
 * so a server whose reads end where sends did never holds whole lines
 * only by the alignment of the two.
 */
size_t
client_stuff_skewed(int fd, char c, size_t skew)
{
	static __thread char	 lines[2 * 65536];
	const size_t		 len = sizeof(lines) / 2;
	struct pollfd		 pfd = { .fd = fd, .events = POLLOUT };
	size_t			 sent = 0, want;
	ssize_t			 n;

	memset(lines, c, sizeof(lines));
	lines[len - 1] = lines[2 * len - 1] = '\n';
	client_nonblock(fd);
	do {
		do {
			want = sent == 0 && skew > 0 ? skew : len;
			if ((n = send(fd, lines + sent % len, want,
			    MSG_NOSIGNAL)) > 0)
				sent += n;
		} while (n > 0);
		cr_assert(n == -1 && errno == EAGAIN, "send: %s",
		    strerror(errno));
	} while (poll(&pfd, 1, 300) > 0);
	return sent;
}

/* Appends what fd has until EOF or the deadline; false at the deadline. */
static bool
drain_into(int fd, char **buf, size_t *len, size_t *cap, long deadline)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	ssize_t		 n;

	if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
		return false;
	if (*len + 4096 >= *cap) {
		*cap *= 2;
		cr_assert_not_null(*buf = realloc(*buf, *cap));
	}
	n = read(fd, *buf + *len, *cap - *len - 1);
	if (n <= 0)
		return n == 0 ? false : true;
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

/*
 * Runs argv with stdout and stderr apart, for at most timeout_ms (then
 * the test fails); returns its exit status.  Sanitizer reports fail it.
 */
int
run_split(const char *const *argv, char **out, char **err, int timeout_ms)
{
	int		 o[2], e[2], status;
	size_t		 olen = 0, elen = 0, ocap = 4096, ecap = 4096;
	long		 deadline = now_ms() + timeout_ms;
	bool		 oopen = true, eopen = true;
	pid_t		 pid;

	cr_assert_eq(pipe2(o, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(e, O_CLOEXEC), 0);
	cr_assert_neq(pid = fork(), -1);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		spawn_clean_signals();
		dup2(o[1], STDOUT_FILENO);
		dup2(e[1], STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	cr_assert_not_null(*out = calloc(1, ocap));
	cr_assert_not_null(*err = calloc(1, ecap));
	while ((oopen || eopen) && now_ms() < deadline) {
		struct pollfd	 pfd[2] = { { oopen ? o[0] : -1, POLLIN, 0 },
				    { eopen ? e[0] : -1, POLLIN, 0 } };

		if (poll(pfd, 2, (int)(deadline - now_ms())) <= 0)
			break;
		if (pfd[0].revents && !drain_into(o[0], out, &olen, &ocap,
		    deadline))
			oopen = false;
		if (pfd[1].revents && !drain_into(e[0], err, &elen, &ecap,
		    deadline))
			eopen = false;
	}
	close(o[0]);
	close(e[0]);
	if (oopen || eopen)
		kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	if (getenv("ECHOD") != NULL && strcmp(argv[0], getenv("ECHOD")) == 0)
		program_keep_log("echod", *err);
	if (getenv("ECHOLOAD") != NULL &&
	    strcmp(argv[0], getenv("ECHOLOAD")) == 0)
		program_keep_log("echoload", *err);
	cr_assert(!oopen && !eopen, "%s did not finish in %d ms; it said: "
	    "%s%s", argv[0], timeout_ms, *out, *err);
	cr_assert_null(strstr(*err, "Sanitizer"), "sanitizer report: %s",
	    *err);
	cr_assert_null(strstr(*err, "runtime error"), "UBSan report: %s",
	    *err);
	return WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
}
