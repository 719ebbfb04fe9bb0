/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Integration: --metrics (Prometheus over evhttp, read with curl), SIGUSR1. */
#include "config.h"

#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	cr_assert_not_null(strstr(body, "echod_connections_total 0\n"));
	cr_assert_null(strstr(body, "udp"), "UDP shown without -U");
	free(body);
	session(e.port, "Hello\n", "GOT:Hello\n");
	cr_assert(echod_wait_log(&e, "Connection closed", WAIT_MS));
	expect_metric(&e, "\nechod_connections_total 1\n");
	expect_metric(&e, "\nechod_bytes_received_total 6\n");
	expect_metric(&e, "\nechod_bytes_sent_total 10\n");
	expect_metric(&e, "\nechod_connections_open 0\n");
	fd = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "Connection from", WAIT_MS));
	expect_metric(&e, "\nechod_connections_open 1\n");
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
	expect_metric(&e, "\nechod_connections_rejected_total 1\n");
	expect_metric(&e, "\nechod_connections_timed_out_total 1\n");
	expect_metric(&e, "\nechod_udp_datagrams_received_total 0\n");
	expect_metric(&e, "\nechod_tls_handshakes_failed_total 0\n");
	close(a);
	close(b);
	echod_finish(&e);
}

Test(metrics, per_thread_with_threads)
{
	struct echod	 e;

	echod_start(&e, "--metrics", "127.0.0.1:0", "--threads", "2", NULL);
	session(e.port, "x\n", "GOT:x\n");
	cr_assert(echod_wait_log(&e, "Connection closed", WAIT_MS));
	expect_metric(&e, "\nechod_connections_total{thread=\"0\"} ");
	expect_metric(&e, "\nechod_connections_total{thread=\"1\"} ");
	cr_assert_eq(kill(e.pid, SIGUSR1), 0);
	cr_assert(echod_wait_log(&e, "thread 1 counters: open 0", WAIT_MS),
	    "%s", e.log);
	cr_assert(echod_wait_log(&e, "counters: open 0, accepted 1, "
	    "rejected 0, timed out 0, TLS handshakes failed 0, bytes in 2, "
	    "bytes out 6", WAIT_MS), "%s", e.log);
	echod_finish(&e);
}

Test(metrics, sigusr1_without_metrics_endpoint)
{
	struct echod	 e;

	echod_start(&e, NULL);
	session(e.port, "abc\n", "GOT:abc\n");
	cr_assert(echod_wait_log(&e, "Connection closed", WAIT_MS));
	cr_assert_eq(kill(e.pid, SIGUSR1), 0);
	cr_assert(echod_wait_log(&e, "counters: open 0, accepted 1, "
	    "rejected 0, timed out 0, TLS handshakes failed 0, bytes in 4, "
	    "bytes out 8", WAIT_MS), "%s", e.log);
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
