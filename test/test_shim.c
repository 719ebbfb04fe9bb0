/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Failures a healthy machine never shows, made by test/failshim.so
 * preloaded into echod: every allocation on a connection's path failing
 * in turn, a failed UDP read, an open-file limit that cannot be raised.
 * Each must give the manual's line and harm no other client.
 */
#include "config.h"

#include <sys/resource.h>
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

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <criterion/criterion.h>

#include "harness.h"

static bool	echod_has_asan(void);

static void
shim_init(void)
{
	if (echod_has_asan())
		cr_skip_test("echod is built with ASan, whose allocator the "
		    "shim cannot wrap");
}

TestSuite(shim, .init = shim_init, .timeout = 120);

/* Whether echod is built with ASan, whose allocator the shim cannot wrap. */
static bool
echod_has_asan(void)
{
	const char	*bin = getenv("ECHOD");
	static char	 buf[1 << 16];
	const char	 sym[] = "__asan_init";
	size_t		 n, keep = 0;
	bool		 found = false;
	FILE		*f;

	cr_assert_not_null(bin);
	cr_assert_not_null(f = fopen(bin, "rb"), "%s", bin);
	while (!found && (n = fread(buf + keep, 1, sizeof(buf) - keep, f)) > 0) {
		n += keep;
		found = memmem(buf, n, sym, sizeof(sym) - 1) != NULL;
		keep = sizeof(sym) - 1;
		memmove(buf, buf + n - keep, keep);
	}
	fclose(f);
	return found;
}

/* The next echod runs with the shim preloaded and FAILSHIM=spec. */
static void
shim_arm(const char *spec)
{
	const char	*so = getenv("FAILSHIM_SO");

	cr_assert_not_null(so, "set FAILSHIM_SO to test/failshim.so");
	cr_assert_eq(access(so, R_OK), 0, "%s: %s", so, strerror(errno));
	setenv("LD_PRELOAD", so, 1);
	setenv("FAILSHIM", spec, 1);
}

static void
shim_disarm(void)
{
	unsetenv("LD_PRELOAD");
	unsetenv("FAILSHIM");
}

/*
 * The lines a failed allocation may give, by the manual, besides a
 * "Connection closed" with its reason.
 */
static const char *const oom_lines[] = {
	"echod: cannot allocate a connection\n",
	"echod: cannot allocate a bufferevent\n",
	"echod: cannot add a connection to the event loop\n",
	"echod: out of memory counting connections\n",
};
#define NOOM	(sizeof(oom_lines) / sizeof(oom_lines[0]))

/*
 * One client's whole path with its Nth allocation failing: the client is
 * echoed, or turned away with one of the manual's lines.  Returns whether
 * the shim failed one (false: N is past the path's last allocation);
 * seen[] marks the lines.
 */
static bool
one_failed_allocation(const char *framing, int n, bool seen[NOOM])
{
	struct echod	 e;
	char		 spec[32], got[64];
	size_t		 i, len;
	bool		 fired, any = false;
	int		 fd, other;

	snprintf(spec, sizeof(spec), "alloc=%d", n);
	shim_arm(spec);
	echod_start(&e, "--max-per-ip", "8", "-f", framing, NULL);
	shim_disarm();
	fd = client_connect(e.port);
	client_send(fd, "hello\n", 6);
	len = client_recv(fd, got, 10, WAIT_MS);
	close(fd);
	fired = echod_wait_log(&e, "failshim: failed an allocation", 200);
	for (i = 0; i < NOOM; i++)
		if (echod_log_has(&e, oom_lines[i]))
			seen[i] = any = true;
	/* Else whatever failed was retried or not needed. */
	if (len != 10 || memcmp(got, "GOT:hello\n", 10) != 0)
		cr_assert(any || echod_wait_log(&e, "Connection closed", 2000),
		    "alloc=%d: no echo (%zu bytes) and no line saying why: %s",
		    n, len, e.log);
	/* Whatever happened to that client, the next one is served. */
	other = client_connect(e.port);
	client_echo(other, "next");
	close(other);
	echod_finish(&e);
	return fired;
}

/* Both framings, since their paths allocate differently. */
Test(shim, every_failed_allocation_on_a_connection_is_survived)
{
	static const char *const framings[] = { "line", "chunk" };
	bool	 seen[NOOM] = { false };
	size_t	 f;
	int	 n;

	for (f = 0; f < 2; f++) {
		for (n = 1; n < 400 && one_failed_allocation(framings[f], n,
		    seen); n++)
			;
		cr_assert_lt(n, 400, "the shim kept failing allocations");
		cr_assert_gt(n, 3, "the shim failed too few allocations: %d",
		    n);
	}
	cr_assert(seen[0] && seen[1] && seen[2] && seen[3],
	    "not every line was produced: connection %d, bufferevent %d, "
	    "event loop %d, counting %d", seen[0], seen[1], seen[2], seen[3]);
}

/*
 * Out of memory for one connection's large buffer: that client is closed
 * with the reason, and the next one is served.  The shim fails only
 * allocations of min to max bytes, which only the buffer meant has.
 */
static void
large_buffer_fails(const char *window, const char *max_line, size_t len,
    const char *reason, bool read_all)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	struct timeval		 tv = { WAIT_MS / 1000, 0 };
	struct echod		 e;
	char			 spec[64], want[96], *line, got[4096];
	const char		*said;
	size_t			 sent = 0, received = 0, i;
	unsigned long long	 in, out;
	ssize_t			 n;
	int			 fd, other, rcvbuf = 4096;

	snprintf(spec, sizeof(spec), "alloc_size=%s", window);
	shim_arm(spec);
	echod_start(&e, "--max-line", max_line, "--memory-limit", "0", NULL);
	shim_disarm();
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -1);
	/* Small, so that a long reply cannot all fit in the socket. */
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
	    sizeof(rcvbuf)), 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv)), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(e.port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_not_null(line = malloc(len));
	memset(line, 'x', len - 1);
	line[len - 1] = '\n';
	/* Closed by echod midway, or after: a reset ends the sending. */
	while (sent < len && (n = send(fd, line + sent, len - sent,
	    MSG_NOSIGNAL)) > 0)
		sent += n;
	free(line);
	snprintf(want, sizeof(want), ": %s, ", reason);
	cr_assert(echod_wait_log(&e, want, WAIT_MS), "%s", e.log);
	cr_assert(echod_log_has(&e, "failshim: failed an allocation"));
	/* The log says how much of the reply the client got: the start. */
	while ((n = recv(fd, got, sizeof(got), 0)) > 0)
		for (i = 0; i < (size_t)n; i++, received++)
			cr_assert_eq(got[i], received < 4 ? "GOT:"[received] :
			    'x', "byte %zu", received);
	/* Input left unread makes close() send a reset, as it should. */
	cr_assert(n == 0 || (!read_all && errno == ECONNRESET), "recv: %s",
	    strerror(errno));
	close(fd);
	said = strstr(e.log, want) + strlen(want);
	cr_assert_eq(sscanf(said, "%llu bytes in, %llu bytes out", &in, &out),
	    2, "%s", said);
	cr_assert_eq(received, out, "%s", e.log);
	cr_assert(read_all ? in == sent : in < sent, "%llu of %zu: %s", in,
	    sent, e.log);
	other = client_connect(e.port);
	client_echo(other, "next");
	close(other);
	cr_assert_eq(echod_stop(&e), 0, "%s", e.log);
	echod_free(&e);
}

/* Reads of a long line reserve max-line bytes: 4M here, the window 1M+. */
Test(shim, out_of_memory_reading_closes_only_that_client)
{
	large_buffer_fails("1048576-1073741824", "4M", 65536,
	    "out of memory while reading", false);
}

/*
 * A 16M line, then its reply left over by the socket: 12M or more, where
 * the reads reserve 48M or more (max-line 64M less what is in).
 */
Test(shim, out_of_memory_echoing_closes_only_that_client)
{
	large_buffer_fails("1048576-41943040", "64M", 16 << 20,
	    "out of memory while echoing", true);
}

/* A UDP read that fails is said, and the socket goes on answering. */
Test(shim, a_failed_udp_read_is_logged_and_survived)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	struct echod		 e;
	char			 got[64];
	ssize_t			 n;
	int			 fd;
	struct pollfd		 pfd;

	shim_arm("recvmmsg");
	echod_start(&e, "-U", NULL);
	shim_disarm();
	cr_assert_neq(fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(echod_port_of(&e, "udp:127.0.0.1:"));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(send(fd, "ping", 4, 0), 4);
	cr_assert(echod_wait_log(&e, "echod: udp: recvmmsg: Cannot allocate "
	    "memory\n", WAIT_MS), "%s", e.log);
	/* The datagram stayed queued; the next read answers it. */
	pfd.fd = fd;
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "no reply: %s", e.log);
	n = recv(fd, got, sizeof(got), 0);
	cr_assert_eq(n, 8);
	cr_assert_arr_eq(got, "GOT:ping", 8);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0, "%s", e.log);
	cr_assert_eq(echod_log_count(&e, "echod: udp: recvmmsg"), 1, "%s",
	    e.log);
	echod_free(&e);
}

/*
 * A soft open-file limit below the hard one is raised at start; when that
 * fails, one line says so and the default -c follows the limit in force.
 */
Test(shim, an_open_file_limit_that_cannot_be_raised_is_said)
{
	struct rlimit	 rl;
	struct echod	 e;
	char		 line[128];

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_gt(rl.rlim_max, 256, "the hard limit is too low to test");
	rl.rlim_cur = 256;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	shim_arm("setrlimit");
	echod_start(&e, NULL);
	shim_disarm();
	snprintf(line, sizeof(line), "echod: cannot raise the open-file limit "
	    "to %llu: Operation not permitted\n",
	    (unsigned long long)rl.rlim_max);
	cr_assert(echod_log_has(&e, line), "%s", e.log);
	echod_finish(&e);
}

/*
 * The first allocations of a connection that waits for a TLS handshake or
 * a PROXY header, failing in turn: that client is closed with the line
 * for what failed, and echod serves on.  Returns the log of alloc=n.
 */
static char *
failed_allocation_before_echo(const char *const *args, const char *send,
    int n)
{
	struct echod	 e;
	char		 spec[32], got[64], *log;
	int		 fd;

	snprintf(spec, sizeof(spec), "alloc=%d", n);
	shim_arm(spec);
	echod_spawn(&e, args);
	shim_disarm();
	cr_assert(echod_wait_log(&e, "listening on ", WAIT_MS), "%s", e.log);
	fd = client_connect(port_after(e.log, "127.0.0.1:"));
	client_send(fd, send, strlen(send));
	/* Closed at once when something failed; else waiting, or echoed. */
	(void)client_recv(fd, got, sizeof(got), 300);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0, "alloc=%d: %s", n, e.log);
	log = strdup(e.log);
	echod_free(&e);
	return log;
}

Test(shim, a_failed_allocation_before_the_handshake_or_header_is_said)
{
	char	 cert[] = "/tmp/echod-shim-cert.XXXXXX", key[] =
		    "/tmp/echod-shim-key.XXXXXX", *out, *log;
	const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec",
		    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
		    key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
		    NULL };
	const char *tls[] = { "-l", "tls:127.0.0.1:0", "--tls-cert", cert,
		    "--tls-key", key, NULL };
	const char *proxied[] = { "-l", "proxy:127.0.0.1:0", NULL };
	bool	 deadline = false, proxy = false;
	int	 n;

	close(mkstemp(cert));
	close(mkstemp(key));
	cr_assert_eq(run_tool(argv, NULL, 0, &out), 0, "openssl: %s", out);
	free(out);
	for (n = 1; n <= 4 && !deadline; n++) {
		log = failed_allocation_before_echo(tls, "", n);
		deadline = strstr(log, "echod: cannot allocate a TLS deadline\n");
		free(log);
	}
	unlink(cert);
	unlink(key);
	cr_assert(deadline, "no alloc=1..4 failed the TLS deadline");
	for (n = 1; n <= 30 && !proxy; n++) {
		log = failed_allocation_before_echo(proxied,
		    "PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\nhi\n", n);
		proxy = strstr(log, ": out of memory, 0 bytes in, ") != NULL;
		free(log);
	}
	cr_assert(proxy, "no alloc=1..30 failed a PROXY client's start");
}

/*
 * A TLS client that gives up after 3 s; "hello\n" echoed or not.
 * Returns whether the echo came back whole.
 */
static bool
tls_hello(int port)
{
	struct timeval	 tv = { 3, 0 };
	SSL_CTX		*ctx;
	SSL		*ssl;
	char		 got[16];
	size_t		 have = 0;
	int		 fd, n;
	bool		 ok = false;

	cr_assert_not_null(ctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	cr_assert_not_null(ssl = SSL_new(ctx));
	fd = client_connect(port);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) == 1 && SSL_write(ssl, "hello\n", 6) == 6) {
		while (have < 10 && (n = SSL_read(ssl, got + have,
		    10 - have)) > 0)
			have += n;
		ok = have == 10 && memcmp(got, "GOT:hello\n", 10) == 0;
	}
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return ok;
}

/*
 * A TLS client's Nth allocation after its accept failing: that client
 * is echoed or closed with a line saying why, and echod, alive, serves
 * the next one.  Returns whether the shim failed one.
 */
static bool
tls_failed_allocation(const char *const *args, int n)
{
	struct echod	 e;
	char		 spec[32];
	bool		 echoed, fired;
	int		 port;

	snprintf(spec, sizeof(spec), "alloc=%d", n);
	shim_arm(spec);
	echod_spawn(&e, args);
	shim_disarm();
	cr_assert(echod_wait_log(&e, "listening on ", WAIT_MS), "%s", e.log);
	port = port_after(e.log, "127.0.0.1:");
	echoed = tls_hello(port);
	fired = echod_wait_log(&e, "failshim: failed an allocation", 200);
	cr_assert(echoed || echod_wait_log(&e, "echod: cannot allocate a ",
	    50) || echod_wait_log(&e, "Connection closed", 2000),
	    "alloc=%d: no echo and no line saying why: %s", n, e.log);
	cr_assert(tls_hello(port), "alloc=%d: the next client is not served: "
	    "%s", n, e.log);
	cr_assert_eq(echod_stop(&e), 0, "alloc=%d: %s", n, e.log);
	echod_free(&e);
	return fired;
}

Test(shim, every_failed_allocation_of_a_tls_accept_is_survived,
    .timeout = 600)
{
	char	 cert[] = "/tmp/echod-shim-cert.XXXXXX", key[] =
		    "/tmp/echod-shim-key.XXXXXX", *out;
	const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec",
		    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
		    key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
		    NULL };
	const char *tls[] = { "-l", "tls:127.0.0.1:0", "--tls-cert", cert,
		    "--tls-key", key, "--handshake-timeout", "2", NULL };
	int	 n, last = 4000;

	if (getenv("SHIM_TLS_FROM") != NULL)
		last = atoi(getenv("SHIM_TLS_FROM"));
	close(mkstemp(cert));
	close(mkstemp(key));
	cr_assert_eq(run_tool(argv, NULL, 0, &out), 0, "openssl: %s", out);
	free(out);
	/* A client echod closed mid-handshake must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	for (n = 1; n < last && tls_failed_allocation(tls, n); n++)
		;
	unlink(cert);
	unlink(key);
	cr_assert_lt(n, last, "the shim kept failing allocations");
	cr_assert_gt(n, 20, "the shim failed too few allocations: %d", n);
}

/*
 * A failed allocation while shutting down, after a client has come and
 * gone: echod still exits 0 at once, not at the drain deadline.
 * Returns whether the shim failed one.
 */
static bool
shutdown_with_failed_allocation(int n)
{
	struct echod	 e;
	char		 spec[32], got[16];
	long		 start, took;
	bool		 echoed, fired;
	int		 fd;

	snprintf(spec, sizeof(spec), "alloc=%d", n);
	shim_arm(spec);
	echod_start(&e, NULL);
	shim_disarm();
	fd = client_connect(e.port);
	client_send(fd, "hello\n", 6);
	/* Not echoed: the failure was on the connection's path, and echod
	 * has already closed it; else wait until it has. */
	echoed = client_recv(fd, got, 10, WAIT_MS) == 10;
	close(fd);
	cr_assert(!echoed || echod_wait_log(&e, "Connection closed", WAIT_MS),
	    "%s", e.log);
	start = now_ms();
	cr_assert_eq(echod_stop(&e), 0, "alloc=%d: %s", n, e.log);
	took = now_ms() - start;
	cr_assert_lt(took, 2000, "alloc=%d: exit took %ld ms: %s", n, took,
	    e.log);
	fired = echod_log_has(&e, "failshim: failed an allocation");
	echod_free(&e);
	return fired;
}

Test(shim, a_failed_allocation_at_shutdown_does_not_hold_the_exit)
{
	int	 n;

	for (n = 1; n < 400 && shutdown_with_failed_allocation(n); n++)
		;
	cr_assert_lt(n, 400, "the shim kept failing allocations");
	cr_assert_gt(n, 3, "the shim failed too few allocations: %d", n);
}

/*
 * A target whose name has several addresses: echoload uses the first
 * that takes a connection, and when none does, says so naming the target.
 */
Test(shim, echoload_tries_each_address_of_a_name)
{
	struct echod	 e;
	char		 target[64], want[128], *out, *err;
	const char	*argv[] = { getenv("ECHOLOAD"), "-q", "-c", "1", "-n",
			    "10", target, NULL };
	int		 rc;

	cr_assert_not_null(argv[0], "set ECHOLOAD to the echoload binary");
	/* Only the second address listens. */
	echod_spawn(&e, (const char *const[]){ "-l", "127.0.0.2:0", NULL });
	cr_assert(echod_wait_log(&e, "listening on 127.0.0.2:", WAIT_MS), "%s",
	    e.log);
	snprintf(target, sizeof(target), "two-addresses.test:%d",
	    port_after(e.log, "127.0.0.2:"));
	shim_arm("two-addresses");
	rc = run_split(argv, &out, &err, WAIT_MS);
	cr_assert_eq(rc, 0, "%s%s", out, err);
	cr_assert_not_null(strstr(out, "10 sent, 10 answered"), "%s", out);
	free(out);
	free(err);
	cr_assert_eq(echod_stop(&e), 0, "%s", e.log);
	echod_free(&e);
	/* Now neither does. */
	rc = run_split(argv, &out, &err, WAIT_MS);
	shim_disarm();
	cr_assert_eq(rc, 2, "%s%s", out, err);
	snprintf(want, sizeof(want), "echoload: cannot connect to %s: "
	    "Connection refused\n", target);
	cr_assert_str_eq(err, want);
	free(out);
	free(err);
}
