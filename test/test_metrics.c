/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Integration: --metrics (Prometheus over evhttp, read with curl), SIGUSR1. */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(metrics, .timeout = 30);

static int
metrics_port(struct echod *e)
{
	return port_after(e->log, "metrics on http://127.0.0.1:");
}

/* GET with curl; returns the body, which the caller frees. */
static char *
scrape(struct echod *e, const char *path)
{
	char		 url[128], *body;
	const char	*argv[] = { "curl", "-sS", "--fail", "--max-time", "5",
			    url, NULL };

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", metrics_port(e),
	    path);
	cr_assert_eq(run_tool(argv, NULL, 0, &body), 0, "curl %s: %s", url,
	    body);
	return body;
}

static void
expect_metric(struct echod *e, const char *line)
{
	char	*body = scrape(e, "/metrics");

	cr_assert_not_null(strstr(body, line), "no '%s' in:\n%s", line, body);
	free(body);
}

/* The value of a series, named with its labels, in a scrape; -1: none. */
static double
series_value(const char *body, const char *series)
{
	char		 want[256];
	const char	*at;

	snprintf(want, sizeof(want), "\n%s ", series);
	if ((at = strstr(body, want)) == NULL)
		return -1;
	return strtod(at + strlen(want), NULL);
}

static void
session(int port, const char *line, const char *reply)
{
	int	 fd = client_connect(port);

	client_send(fd, line, strlen(line));
	client_expect_str(fd, reply);
	shutdown(fd, SHUT_WR);
	client_expect_eof(fd);
	close(fd);
}

Test(metrics, counts_what_clients_did)
{
	struct echod	 e;
	char		*body;
	const char	*argv[] = { "curl", "-s", "-o", "/dev/null", "-w",
			    "%{http_code}", NULL, NULL };
	char		 url[128], *code;
	int		 fd;

	echod_start(&e, "--metrics", "127.0.0.1:0", NULL);
	body = scrape(&e, "/metrics");
	cr_assert_not_null(strstr(body, "# TYPE echod_connections_total "
	    "counter\necho"), "%s", body);
	cr_assert_not_null(strstr(body, "echod_connections_total{thread=\"0\"} "
	    "0\n"));
	cr_assert_null(strstr(body, "udp"), "UDP shown without -U");
	free(body);
	session(e.port, "Hello\n", "GOT:Hello\n");
	cr_assert(echod_wait_log(&e, "Connection closed", WAIT_MS));
	expect_metric(&e, "\nechod_connections_total{thread=\"0\"} 1\n");
	expect_metric(&e, "\nechod_received_bytes_total{thread=\"0\"} 6\n");
	expect_metric(&e, "\nechod_sent_bytes_total{thread=\"0\"} 10\n");
	expect_metric(&e, "\nechod_connections_open{thread=\"0\"} 0\n");
	fd = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "Connection from", WAIT_MS));
	expect_metric(&e, "\nechod_connections_open{thread=\"0\"} 1\n");
	/* An unfinished line is held, in the budget, until it is echoed. */
	client_send(fd, "partial", 7);
	expect_metric(&e, "\nechod_buffered_bytes{thread=\"0\"} 7\n");
	client_send(fd, "\n", 1);
	client_expect_str(fd, "GOT:partial\n");
	expect_metric(&e, "\nechod_buffered_bytes{thread=\"0\"} 0\n");
	close(fd);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", metrics_port(&e));
	argv[6] = url;
	cr_assert_eq(run_tool(argv, NULL, 0, &code), 0);
	cr_assert_str_eq(code, "404");
	free(code);
	echod_finish(&e);
}

Test(metrics, timeouts_rejections_and_udp)
{
	struct echod	 e;
	int		 a, b;

	echod_start(&e, "--metrics", "127.0.0.1:0", "-t", "1",
	    "--max-per-ip", "1", "-U", NULL);
	a = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "Connection from", WAIT_MS));
	b = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "refused: --max-per-ip", WAIT_MS));
	cr_assert(echod_wait_log(&e, "idle timeout", WAIT_MS));
	expect_metric(&e, "\nechod_connections_rejected_total{thread=\"0\"} "
	    "1\n");
	expect_metric(&e, "\nechod_connections_timed_out_total{thread=\"0\"} "
	    "1\n");
	expect_metric(&e, "\nechod_udp_received_datagrams_total{thread=\"0\"} "
	    "0\n");
	expect_metric(&e, "\nechod_tls_handshakes_total{thread=\"0\","
	    "result=\"failed\"} 0\n");
	close(a);
	close(b);
	echod_finish(&e);
}

Test(metrics, per_thread_with_threads)
{
	struct echod	 e;
	char		*body, want[128];
	int		 on, t;

	echod_start(&e, "--metrics", "127.0.0.1:0", "--threads", "2", NULL);
	session(e.port, "x\n", "GOT:x\n");
	cr_assert(echod_wait_log(&e, "Connection closed", WAIT_MS));
	/* The one connection counted on the thread that had it, 0 on the other. */
	body = scrape(&e, "/metrics");
	on = strstr(body, "\nechod_connections_total{thread=\"1\"} 1\n") ?
	    1 : 0;
	for (t = 0; t < 2; t++) {
		snprintf(want, sizeof(want), "\nechod_connections_total{thread="
		    "\"%d\"} %d\n", t, t == on);
		cr_assert_not_null(strstr(body, want), "no '%s' in:\n%s", want,
		    body);
		snprintf(want, sizeof(want), "\nechod_received_bytes_total{"
		    "thread=\"%d\"} %d\n", t, t == on ? 2 : 0);
		cr_assert_not_null(strstr(body, want), "no '%s' in:\n%s", want,
		    body);
		snprintf(want, sizeof(want), "\nechod_sent_bytes_total{"
		    "thread=\"%d\"} %d\n", t, t == on ? 6 : 0);
		cr_assert_not_null(strstr(body, want), "no '%s' in:\n%s", want,
		    body);
	}
	free(body);
	echod_usr1_until(&e, "thread 1 counters: open 0");
	cr_assert(echod_wait_log(&e, "counters: open 0, accepted 1, "
	    "rejected 0, timed out 0, shed 0, TLS handshakes failed 0, "
	    "bytes in 2, "
	    "bytes out 6", WAIT_MS), "%s", e.log);
	echod_finish(&e);
}

Test(metrics, sigusr1_without_metrics_endpoint)
{
	struct echod	 e;

	echod_start(&e, NULL);
	session(e.port, "abc\n", "GOT:abc\n");
	cr_assert(echod_wait_log(&e, "Connection closed", WAIT_MS));
	echod_usr1_until(&e, "counters: open 0, accepted 1, rejected 0, timed out "
	    "0, shed 0, TLS handshakes failed 0, bytes in 4, bytes out 8");
	cr_assert_not(echod_log_has(&e, "thread 0 counters"));
	echod_finish(&e);
}

Test(metrics, address_in_use_is_a_start_failure)
{
	struct echod	 first, second;
	char		 addr[64];
	const char	*args[] = { "-l", "127.0.0.1:0", "--metrics", addr,
			    NULL };

	echod_start(&first, "--metrics", "127.0.0.1:0", NULL);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", metrics_port(&first));
	echod_spawn(&second, args);
	cr_assert_eq(echod_wait_exit(&second, WAIT_MS), 1);
	cr_assert(echod_log_has(&second, "cannot serve metrics on "),
	    "%s", second.log);
	cr_assert(echod_log_has(&second, "Address already in use"));
	echod_free(&second);
	echod_finish(&first);
}

static void
unlimit_nofile(void)
{
	echod_set_nofile(0);
}

/*
 * Out of descriptors, the metrics listener pauses as the echo ones do:
 * libevent 2.1's evhttp alone would call accept() again at once, at
 * full CPU, logging a line each time.
 */
Test(metrics, a_flood_out_of_descriptors_pauses_instead_of_spinning,
    .fini = unlimit_nofile)
{
	struct echod	 e;
	int		 fds[60], i, port;
	long		 cpu;

	echod_set_nofile(40);
	echod_start(&e, "-q", "--metrics", "127.0.0.1:0",
	    "--metrics-max-connections", "1024", NULL);
	port = metrics_port(&e);
	for (i = 0; i < 60; i++)
		fds[i] = client_connect(port);
	cr_assert(echod_wait_log(&e, "metrics: accept: Too many open files; "
	    "pausing", WAIT_MS), "%s", e.log);
	cpu = echod_cpu_ms(&e);
	/* Two seconds of a full backlog, timed by the client's poll. */
	cr_assert(client_quiet_for(fds[59], 2000));
	cpu = echod_cpu_ms(&e) - cpu;
	cr_assert_lt(cpu, 500, "%ld ms of CPU in 2 s", cpu);
	cr_assert_eq(echod_log_count(&e, "accept"), 1, "%s", e.log);
	for (i = 0; i < 60; i++)
		close(fds[i]);
	echod_finish(&e);
}

/* Sends a GET and says whether a reply starts within ms. */
static bool
metrics_answers(int fd, int ms)
{
	const char	*get = "GET /metrics HTTP/1.0\r\n\r\n";
	char		 buf[16];

	client_send(fd, get, strlen(get));
	if (client_quiet_for(fd, ms))
		return false;
	return recv(fd, buf, sizeof(buf), 0) > 0 &&
	    memcmp(buf, "HTTP/1.", 7) == 0;
}

/* At the cap, the next client waits in the backlog until one leaves. */
Test(metrics, connections_are_capped)
{
	struct echod	 e;
	int		 a, b, c, fds;
	long		 deadline = now_ms() + WAIT_MS;

	echod_start(&e, "--metrics", "127.0.0.1:0",
	    "--metrics-max-connections", "2", NULL);
	fds = echod_fd_count(&e);
	a = client_connect(metrics_port(&e));
	b = client_connect(metrics_port(&e));
	/* Both accepted: two more descriptors in the server. */
	while (echod_fd_count(&e) < fds + 2)
		cr_assert(now_ms() < deadline && client_quiet_for(a, 10),
		    "not accepted");
	c = client_connect(metrics_port(&e));
	cr_assert_not(metrics_answers(c, 1000), "served beyond the cap");
	close(a);
	cr_assert(!client_quiet_for(c, WAIT_MS), "never served");
	close(b);
	close(c);
	echod_finish(&e);
}

/* The request deadline is absolute: a byte every 300 ms does not hold it. */
Test(metrics, a_trickled_request_is_cut_at_the_deadline)
{
	struct echod	 e;
	const char	*get = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	long		 start, took;
	size_t		 i;
	int		 fd;
	char		 byte;

	echod_start(&e, "--metrics", "127.0.0.1:0", "--handshake-timeout",
	    "2", NULL);
	fd = client_connect(metrics_port(&e));
	start = now_ms();
	for (i = 0; i < strlen(get); i++) {
		if (send(fd, get + i, 1, MSG_NOSIGNAL) != 1)
			break;
		/* Paces the client; the server's close ends the loop. */
		if (!client_quiet_for(fd, 300))
			break;
	}
	cr_assert_lt(i, strlen(get), "never cut");
	cr_assert_leq(recv(fd, &byte, 1, 0), 0);
	took = now_ms() - start;
	cr_assert(took >= 1800 && took < 4000, "cut after %ld ms", took);
	close(fd);
	echod_finish(&e);
}

/*
 * A connection refused at once counts in echod_connections_total, as on
 * any path: --max-per-ip here, a bad PROXY header in the proxy tests.
 */
Test(metrics, refused_connections_count_as_accepted_and_rejected)
{
	struct echod	 e;
	int		 first, second;

	echod_start(&e, "--metrics", "127.0.0.1:0", "--max-per-ip", "1",
	    NULL);
	first = client_connect(e.port);
	client_echo(first, "1");
	second = client_connect(e.port);
	client_expect_eof(second);
	expect_metric(&e, "echod_connections_total{thread=\"0\"} 2\n");
	expect_metric(&e, "echod_connections_rejected_total{thread=\"0\"} 1\n");
	close(first);
	close(second);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "exiting: 2 connections served"), "%s",
	    e.log);
	echod_free(&e);
}

/* HEAD answers as GET without the body; other methods get 501. */
Test(metrics, head_and_other_methods)
{
	struct echod	 e;
	char		 url[128], *out;
	const char	*head[] = { "curl", "-sS", "-I", "--max-time", "5", url,
			    NULL };
	const char	*post[] = { "curl", "-s", "-o", "/dev/null", "-w",
			    "%{http_code}", "-X", "POST", "--max-time", "5", url,
			    NULL };

	echod_start(&e, "--metrics", "127.0.0.1:0", NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics",
	    metrics_port(&e));
	cr_assert_eq(run_tool(head, NULL, 0, &out), 0, "%s", out);
	cr_assert_eq(strncmp(out, "HTTP/1.1 200 OK\r\n", 17), 0, "%s", out);
	cr_assert_null(strstr(out, "# TYPE"), "a body for HEAD: %s", out);
	free(out);
	(void)run_tool(post, NULL, 0, &out);
	cr_assert_str_eq(out, "501");
	free(out);
	echod_finish(&e);
}

/* The byte counters count every protocol: TCP, a Unix socket, UDP. */
Test(metrics, bytes_over_every_transport)
{
	struct echod	 e;
	char		 dir[64], path[96], spec[104], got[16];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct pollfd	 pfd;
	int		 fd;

	test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/m.sock", dir);
	snprintf(spec, sizeof(spec), "unix:%s", path);
	echod_start(&e, "--metrics", "127.0.0.1:0", "-U", "-l", spec, NULL);
	session(e.port, "ab\n", "GOT:ab\n");
	fd = client_connect_unix(path);
	client_echo(fd, "unix");
	close(fd);
	cr_assert_neq(fd = socket(AF_INET, SOCK_DGRAM, 0), -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(echod_port_of(&e, "udp:127.0.0.1:"));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(send(fd, "udp", 3, 0), 3);
	pfd.fd = fd;
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1);
	cr_assert_eq(recv(fd, got, sizeof(got), 0), 7);
	close(fd);
	cr_assert(echod_wait_log(&e, "Connection closed unix:", WAIT_MS), "%s",
	    e.log);
	/* 3 + 5 + 3 in; each with its 4-byte prefix out. */
	expect_metric(&e, "\nechod_received_bytes_total{thread=\"0\"} 11\n");
	expect_metric(&e, "\nechod_sent_bytes_total{thread=\"0\"} 23\n");
	expect_metric(&e, "\nechod_udp_received_datagrams_total{thread=\"0\"} "
	    "1\n");
	expect_metric(&e, "\nechod_udp_sent_datagrams_total{thread=\"0\"} 1\n");
	echod_finish(&e);
	rmdir(dir);
}

/* Sends as many pipelined GETs as the socket takes within ms. */
static size_t
pipeline_gets(int fd, int ms)
{
	static const char	 get[] = "GET /metrics HTTP/1.1\r\nHost: "
				    "x\r\n\r\n";
	char			 buf[64 * (sizeof(get) - 1)];
	struct pollfd		 pfd = { .fd = fd, .events = POLLOUT };
	long			 end = now_ms() + ms;
	size_t			 i, sent = 0;
	ssize_t			 n;

	for (i = 0; i < 64; i++)
		memcpy(buf + i * (sizeof(get) - 1), get, sizeof(get) - 1);
	while (now_ms() < end) {
		n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (n > 0) {
			sent += n;
			continue;
		}
		cr_assert(n == -1 && errno == EAGAIN, "send: %s",
		    strerror(errno));
		/* Full: the server stopped reading (or is slow); wait a bit. */
		(void)poll(&pfd, 1, 20);
	}
	return sent;
}

/*
 * A client that pipelines GETs and never reads the replies: libevent
 * 2.1's evhttp alone goes on reading its requests while a reply waits,
 * to hundreds of MB a second.  The endpoint stops reading it instead,
 * and serves others meanwhile.
 */
Test(metrics, a_pipelining_client_that_never_reads_is_bounded)
{
	struct echod	 e;
	char		*body;
	long		 rss0, rss;
	size_t		 sent = 0;
	int		 fd, echo, i;

	echod_start(&e, "--metrics", "127.0.0.1:0", NULL);
	free(scrape(&e, "/metrics"));
	echo = client_connect(e.port);
	client_echo(echo, "before");
	rss0 = echod_rss_kb(&e);
	fd = client_connect(metrics_port(&e));
	client_nonblock(fd);
	for (i = 0; i < 6; i++) {
		sent += pipeline_gets(fd, 500);
		/* Meanwhile: another metrics client, and an echo client. */
		body = scrape(&e, "/metrics");
		cr_assert_not_null(strstr(body, "# TYPE "), "%s", body);
		free(body);
		client_echo(echo, "meanwhile");
	}
	rss = echod_rss_kb(&e);
	cr_assert(!rss_bounds_hold() || rss - rss0 < 16 * 1024, "RSS %ld kB -> "
	    "%ld kB after %zu bytes of GETs", rss0, rss, sent);
	close(fd);
	close(echo);
	echod_finish(&e);
}

/* Counts "HTTP/1.1 200 " status lines across reads; *at: a partial match. */
static int
count_replies(const char *buf, size_t len, size_t *at)
{
	static const char	 status[] = "HTTP/1.1 200 ";
	size_t			 i;
	int			 n = 0;

	for (i = 0; i < len; i++) {
		if (buf[i] != status[*at])
			*at = 0;
		if (buf[i] == status[*at] && ++*at == sizeof(status) - 1) {
			n++;
			*at = 0;
		}
	}
	return n;
}

/* The bound holds back a client that reads: every pipelined GET answered. */
Test(metrics, pipelined_gets_beyond_the_bound_are_all_answered)
{
	static const char	 get[] = "GET /metrics HTTP/1.1\r\nHost: "
				    "x\r\n\r\n";
	struct echod		 e;
	char			*out, buf[65536];
	size_t			 len = 1000 * (sizeof(get) - 1);
	size_t			 off = 0, at = 0;
	long			 deadline;
	ssize_t			 n;
	int			 fd, got = 0, i;

	out = malloc(len);
	cr_assert_not_null(out);
	for (i = 0; i < 1000; i++)
		memcpy(out + i * (sizeof(get) - 1), get, sizeof(get) - 1);
	echod_start(&e, "--metrics", "127.0.0.1:0", NULL);
	fd = client_connect(metrics_port(&e));
	client_nonblock(fd);
	deadline = now_ms() + WAIT_MS;
	while (got < 1000) {
		cr_assert_lt(now_ms(), deadline, "%d replies", got);
		if (off < len && (n = send(fd, out + off, len - off,
		    MSG_NOSIGNAL)) > 0)
			off += n;
		if ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
			got += count_replies(buf, n, &at);
		else
			cr_assert(n == -1 && errno == EAGAIN, "recv: %zd", n);
		if (n <= 0)
			(void)client_quiet_for(fd, 10);
	}
	cr_assert_eq(got, 1000);
	close(fd);
	free(out);
	echod_finish(&e);
}

/*
 * Every series has its HELP and TYPE before it, and the per-thread ones
 * their thread label even with one thread.
 */
static void
expect_help_and_type(const char *body)
{
	char		 name[128], want[160];
	const char	*line, *end;
	size_t		 len;

	for (line = body; *line != '\0'; line = end + 1) {
		cr_assert_not_null(end = strchr(line, '\n'), "%s", body);
		if (*line == '#')
			continue;
		len = strcspn(line, "{ ");
		cr_assert_lt(len, sizeof(name));
		memcpy(name, line, len);
		name[len] = '\0';
		snprintf(want, sizeof(want), "# HELP %s ", name);
		cr_assert_not_null(strstr(body, want), "no HELP for %s", name);
		snprintf(want, sizeof(want), "# TYPE %s ", name);
		cr_assert_not_null(strstr(body, want), "no TYPE for %s", name);
		if (strncmp(name, "echod_", 6) == 0 &&
		    strcmp(name, "echod_build_info") != 0)
			cr_assert_eq(strncmp(line + len, "{thread=\"", 9), 0,
			    "no thread label: %.*s", (int)(end - line), line);
	}
}

/* echod_build_info and the process_* series every exporter has. */
Test(metrics, build_info_and_process_series)
{
	struct echod	 e;
	char		*body, want[128];
	double		 v;
	long		 now = (long)time(NULL);
	int		 fds;

	echod_start(&e, "--metrics", "127.0.0.1:0", NULL);
	body = scrape(&e, "/metrics");
	expect_help_and_type(body);
	snprintf(want, sizeof(want), "\nechod_build_info{version=\"%s\",",
	    PACKAGE_VERSION);
	cr_assert_not_null(strstr(body, want), "no '%s' in:\n%s", want, body);
	cr_assert_not_null(strstr(body, "\"} 1\n# HELP process_"), "%s", body);
	fds = echod_fd_count(&e);
	/* Counted while the scrape's own connection was open. */
	v = series_value(body, "process_open_fds");
	cr_assert(v >= fds - 2 && v <= fds + 2, "%g fds, %d now", v, fds);
	cr_assert_gt(series_value(body, "process_max_fds"), v);
	v = series_value(body, "process_resident_memory_bytes");
	cr_assert(v > 0 && v / 1024 < 2 * echod_rss_kb(&e) &&
	    v / 1024 > echod_rss_kb(&e) / 2, "rss %g, VmRSS %ld kB", v,
	    echod_rss_kb(&e));
	cr_assert_gt(series_value(body, "process_virtual_memory_bytes"), v);
	v = series_value(body, "process_start_time_seconds");
	cr_assert(v > now - 120 && v < now + 2, "started %g, now %ld", v, now);
	v = series_value(body, "process_cpu_seconds_total");
	cr_assert(v >= 0 && v < 60, "%g s of CPU", v);
	free(body);
	echod_finish(&e);
}

/* Each UDP datagram not answered counts once, under its reason. */
Test(metrics, udp_unanswered_by_reason)
{
	struct echod	 e;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char		*body, got[64];
	double		 in, out, sum, v;
	const char	*reasons[] = { "send_failed", "no_address",
			    "privileged_port", "service_port", "own_port",
			    "own_prefix", "amplify", "returned",
			    "cut_again", "source_rate_limit",
			    "total_rate_limit" }, *at;
	char		 series[128];
	size_t		 i;
	int		 fd;

	echod_start(&e, "--metrics", "127.0.0.1:0", "-U",
	    "--udp-source-rate", "1", NULL);
	cr_assert_neq(fd = socket(AF_INET, SOCK_DGRAM, 0), -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(echod_port_of(&e, "udp:127.0.0.1:"));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(send(fd, "GOT:loop", 8, 0), 8);
	cr_assert_eq(send(fd, "a", 1, 0), 1);
	cr_assert_eq(send(fd, "b", 1, 0), 1);
	cr_assert_eq(send(fd, "c", 1, 0), 1);
	cr_assert(!client_quiet_for(fd, WAIT_MS));
	cr_assert_gt(recv(fd, got, sizeof(got), 0), 0);
	echod_usr1_until(&e, "UDP in 4,");
	body = scrape(&e, "/metrics");
	expect_help_and_type(body);
	for (sum = 0, i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		snprintf(series, sizeof(series), "echod_udp_unanswered_"
		    "datagrams_total{thread=\"0\",reason=\"%s\"}", reasons[i]);
		v = series_value(body, series);
		cr_assert_geq(v, 0, "no %s in:\n%s", series, body);
		sum += v;
	}
	/* No other reason, and no series twice. */
	for (i = 0, at = body; (at = strstr(at, "\nechod_udp_unanswered_"))
	    != NULL; at++)
		i++;
	cr_assert_eq(i, sizeof(reasons) / sizeof(reasons[0]), "%s", body);
	cr_assert_eq(series_value(body, "echod_udp_unanswered_datagrams_total"
	    "{thread=\"0\",reason=\"own_prefix\"}"), 1, "%s", body);
	cr_assert_geq(series_value(body, "echod_udp_unanswered_datagrams_total"
	    "{thread=\"0\",reason=\"source_rate_limit\"}"), 1, "%s", body);
	in = series_value(body, "echod_udp_received_datagrams_total{thread="
	    "\"0\"}");
	out = series_value(body, "echod_udp_sent_datagrams_total{thread="
	    "\"0\"}");
	cr_assert_eq(in, 4);
	cr_assert_eq(sum, in - out, "%g not answered of %g, %g sent", sum, in,
	    out);
	free(body);
	close(fd);
	echod_finish(&e);
}

/* A self-signed pair in a fresh directory. */
static void
make_cert(char *dir, size_t len, char *cert, char *key)
{
	char		*out;
	const char	*argv[] = { "openssl", "req", "-x509", "-newkey", "ec",
			    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			    "-keyout", key, "-out", cert, "-days", "2",
			    "-subj", "/CN=localhost", NULL };

	test_tmpdir(dir, len);
	snprintf(cert, 96, "%s/cert.pem", dir);
	snprintf(key, 96, "%s/key.pem", dir);
	cr_assert_eq(run_tool(argv, NULL, 0, &out), 0, "openssl req: %s", out);
	free(out);
}

static void
tls_handshake(int port)
{
	SSL_CTX	*ctx;
	SSL	*ssl;
	int	 fd = client_connect(port);

	cr_assert_not_null(ctx = SSL_CTX_new(TLS_client_method()));
	cr_assert_not_null(ssl = SSL_new(ctx));
	SSL_set_fd(ssl, fd);
	cr_assert_eq(SSL_connect(ssl), 1, "handshake: %s",
	    ERR_error_string(ERR_get_error(), NULL));
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

/* Handshakes by how they ended: done, failed, out of time. */
Test(metrics, tls_handshakes_by_result)
{
	struct echod	 e;
	char		 dir[64], cert[96], key[96];
	int		 port, fd;

	make_cert(dir, sizeof(dir), cert, key);
	echod_start(&e, "--metrics", "127.0.0.1:0", "-l", "tls:127.0.0.1:0",
	    "--tls-cert", cert, "--tls-key", key, "--handshake-timeout", "1",
	    NULL);
	port = echod_port_of(&e, "tls:127.0.0.1:");
	tls_handshake(port);
	fd = client_connect(port);
	client_send(fd, "Hello, not TLS\n", 15);
	client_expect_eof(fd);
	close(fd);
	fd = client_connect(port);
	cr_assert(echod_wait_log(&e, "TLS handshake failed: timed out",
	    WAIT_MS), "%s", e.log);
	close(fd);
	expect_metric(&e, "\nechod_tls_handshakes_total{thread=\"0\","
	    "result=\"ok\"} 1\n");
	expect_metric(&e, "\nechod_tls_handshakes_total{thread=\"0\","
	    "result=\"failed\"} 1\n");
	expect_metric(&e, "\nechod_tls_handshakes_total{thread=\"0\","
	    "result=\"timeout\"} 1\n");
	echod_usr1_until(&e, "TLS handshakes failed 2,");
	echod_finish(&e);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}
