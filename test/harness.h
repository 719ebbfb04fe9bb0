/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Integration test harness: runs the real echod binary (path in $ECHOD)
 * on 127.0.0.1 port 0 and talks to it over real sockets.
 */
#ifndef ECHOD_TEST_HARNESS_H
#define ECHOD_TEST_HARNESS_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>

/* Upper bound for any single wait in a test, in milliseconds. */
#define WAIT_MS		10000

struct echod {
	pid_t	 pid;
	int	 log_fd;	/* read end of the server's stderr */
	char	*log;		/* everything it has written so far */
	size_t	 log_len;
	size_t	 log_cap;
	size_t	 log_seen;	/* echod_wait_log() searches from here */
	int	 port;		/* of the first listening address */
	int	 status;	/* exit status once reaped, else -1 */
	const char *program;	/* whose log is kept (echod, echoload) */
};

/* Monotonic milliseconds, for deadlines. */
long	now_ms(void);

/* Starts echod with -l 127.0.0.1:0 and the given arguments (NULL-ended). */
void	echod_start(struct echod *, ...);
/* Starts echod with exactly these arguments; its stdout and stderr
 * both go to the log.  Does not wait for it. */
void	echod_spawn(struct echod *, const char *const *);
/* Another program, its path in the named environment variable. */
void	program_spawn(struct echod *, const char *, const char *const *);
/* Runs a program to its end; stdout and stderr apart; exit status. */
int	run_split(const char *const *, char **, char **, int);
/* For the next spawns: sockets to pass as systemd would, fd names,
 * NOTIFY_SOCKET; echod_pass(NULL, 0, NULL, NULL) stops it. */
void	echod_pass(const int *, size_t, const char *, const char *);
bool	echod_wait_log(struct echod *, const char *, int);
bool	echod_log_has(struct echod *, const char *);
/* SIGUSR1 until a report holds the text (a counter that lags its log line). */
void	echod_usr1_until(struct echod *, const char *);
size_t	echod_log_count(struct echod *, const char *);
int	echod_wait_exit(struct echod *, int);
/* Keeps messages for test/diagnostics.sh (see ECHOD_LOG_DIR). */
void	echod_keep_log(const char *);
void	program_keep_log(const char *, const char *);
int	echod_stop(struct echod *);
long	echod_rss_kb(const struct echod *);
/*
 * Whether an RSS bound can be asserted: not under AddressSanitizer, whose
 * quarantine keeps what was freed resident, nor when ECHOD_WRAPPER runs
 * echod under a tool such as valgrind, whose own heap is what the RSS
 * then measures (the plain make check, which CI runs too, asserts every
 * one).
 */
bool	rss_bounds_hold(void);
long	echod_cpu_ms(const struct echod *);
void	echod_set_nofile(unsigned long);
/* Later spawns run on what looks like a kernel without IPv6. */
void	echod_set_no_ipv6(bool);
/* Later spawns cannot chmod(2) a path. */
void	echod_set_no_chmod(bool);
/* Later spawns get EPERM from accept(2). */
void	echod_set_no_accept(bool);
/* Later spawns get EPERM from these system call numbers; n 0 ends it. */
void	echod_set_deny(const int *, size_t);
/* Later spawns see their stderr as the journal's stream. */
void	echod_set_journal(bool);
int	echod_fd_count(const struct echod *);
void	echod_expect_fds(struct echod *, int);
void	echod_free(struct echod *);
/* SIGTERM, a clean exit 0 asserted, then freed: how most tests end. */
void	echod_finish(struct echod *);

int	echod_port_of(struct echod *, const char *);
/* The port written right after the first `prefix` in text: the one way
 * tests learn a port from a log line or a notification. */
int	port_after(const char *, const char *);
void	test_tmpdir(char *, size_t);
int	run_tool(const char *const *, const void *, size_t, char **);

/* The local port of a socket (getsockname), IPv4 or IPv6. */
int	client_local_port(int);
int	client_connect(int);
int	client_connect_unix(const char *);
int	client_connect_from(const char *, int);
void	client_send(int, const void *, size_t);
size_t	client_recv(int, void *, size_t, int);
void	client_expect(int, const void *, size_t);
void	client_expect_str(int, const char *);
void	client_expect_eof(int);
/* Sends line (with its newline) and expects GOT:line back. */
void	client_echo(int, const char *);
bool	client_quiet_for(int, int);
void	client_reset(int);
void	client_nonblock(int);
size_t	client_stuff(int);
size_t	client_stuff_with(int, char);
size_t	client_stuff_skewed(int, char, size_t);
void	client_raise_nofile(void);

#endif
