/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * echoload, the installed client: against echod in every transport,
 * against test/brokenserver.c (which breaks its replies on purpose), its
 * --rate latency against a server that stalls, its JSON and its exit
 * statuses; and its pure parts (histogram, payload checks) alone.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "hist.h"
#include "payload.h"

TestSuite(echoload, .timeout = 60);

#define RUN_MS	30000

/* ---- a small JSON reader: the whole text must parse ---- */

static const char *json_value(const char *);

static const char *
json_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *
json_string_end(const char *p)
{
	if (*p != '"')
		return NULL;
	for (p++; *p != '"'; p++) {
		if (*p == '\0' || (unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\' && *++p == '\0')
			return NULL;
	}
	return p + 1;
}

static const char *
json_value(const char *p)
{
	p = json_ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';

		p = json_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if ((p = json_string_end(json_ws(p))) == NULL)
					return NULL;
				p = json_ws(p);
				if (*p++ != ':')
					return NULL;
			}
			if ((p = json_value(p)) == NULL)
				return NULL;
			p = json_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return json_string_end(p);
	if (*p == '-' || isdigit((unsigned char)*p)) {
		char *end;

		(void)strtod(p, &end);
		return end;
	}
	return NULL;
}

/* The number at a path such as "latency_us.p99" in a valid document. */
static double
json_number(const char *doc, const char *path)
{
	char		 key[64];
	const char	*p = json_ws(doc), *dot;
	size_t		 klen;

	cr_assert_not_null(p = json_value(doc), "not JSON: %s", doc);
	cr_assert_eq(*json_ws(p), '\0', "trailing text after JSON: %s", doc);
	p = json_ws(doc);
	while (*path != '\0') {
		dot = strchr(path, '.');
		klen = dot ? (size_t)(dot - path) : strlen(path);
		snprintf(key, sizeof(key), "\"%.*s\"", (int)klen, path);
		cr_assert_eq(*p, '{', "no object for %s in %s", path, doc);
		for (p = json_ws(p + 1); strncmp(p, key, klen + 2) != 0;) {
			p = json_ws(json_string_end(p));
			p = json_ws(json_value(p + 1));
			cr_assert_eq(*p, ',', "no key %s in %s", key, doc);
			p = json_ws(p + 1);
		}
		p = json_ws(json_ws(p + klen + 2) + 1);
		path += klen + (dot != NULL);
	}
	cr_assert(*p == '-' || isdigit((unsigned char)*p), "not a number at "
	    "%s", p);
	return strtod(p, NULL);
}

/* ---- running things ---- */

static int
echoload(char **out, char **err, const char *const *args)
{
	const char	*argv[40] = { getenv("ECHOLOAD") };
	size_t		 i;

	cr_assert_not_null(argv[0], "set ECHOLOAD to the echoload binary");
	for (i = 0; args[i] != NULL && i < 38; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	return run_split(argv, out, err, RUN_MS);
}

static void
broken_start(struct echod *b, const char *fault, const char *n,
    const char *ms)
{
	const char	*args[] = { fault, n, ms, NULL };

	program_spawn(b, "BROKENSERVER", args);
	cr_assert(echod_wait_log(b, "port ", WAIT_MS), "brokenserver did not "
	    "start: %s", b->log ? b->log : "");
	b->port = port_after(b->log, "port ");
}

static void
broken_stop(struct echod *b)
{
	kill(b->pid, SIGTERM);
	echod_wait_exit(b, WAIT_MS);
	echod_free(b);
}

static const char *
target(char *buf, size_t len, const char *scheme, int port)
{
	snprintf(buf, len, "%s127.0.0.1:%d", scheme, port);
	return buf;
}

/* A clean run: exit 0, the JSON says every request was answered. */
static void
expect_clean(const char *out, const char *err, int rc, double requests)
{
	cr_assert_eq(rc, 0, "exit %d; stdout: %s stderr: %s", rc, out, err);
	cr_assert_eq(json_number(out, "errors.total"), 0, "%s", out);
	cr_assert_eq(json_number(out, "requests_sent"), requests, "%s", out);
	cr_assert_eq(json_number(out, "replies"), requests, "%s", out);
	cr_assert_eq(json_number(out, "measured"), requests, "%s", out);
	cr_assert_eq(err[0], '\0', "stderr: %s", err);
}

Test(echoload, tcp_pipelined_count_over_threads)
{
	struct echod	 e;
	char		*out, *err, t[64];
	int		 rc;

	echod_start(&e, NULL);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "20",
	    "-T", "2", "-D", "4", "-n", "20000", target(t, sizeof(t), "",
	    e.port), NULL });
	expect_clean(out, err, rc, 20000);
	cr_assert_eq(json_number(out, "connections_opened"), 20);
	cr_assert_eq(json_number(out, "bytes_sent"), 20000 * 64);
	cr_assert_eq(json_number(out, "bytes_received"), 20000 * 68);
	cr_assert_gt(json_number(out, "latency_us.max"), 0);
	cr_assert_leq(json_number(out, "latency_us.p50"),
	    json_number(out, "latency_us.p99"));
	free(out);
	free(err);
	echod_finish(&e);
}

Test(echoload, tls_verified_insecure_and_refused)
{
	struct echod	 e;
	char		*out, *err, dir[64], cert[96], key[96], t[64];
	const char	*req[] = { "openssl", "req", "-x509", "-newkey", "ec",
			    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			    "-keyout", key, "-out", cert, "-days", "2",
			    "-subj", "/CN=localhost", "-addext",
			    "subjectAltName=IP:127.0.0.1", NULL };
	int		 rc;

	test_tmpdir(dir, sizeof(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	cr_assert_eq(run_tool(req, NULL, 0, &out), 0, "openssl: %s", out);
	free(out);
	echod_start(&e, "-l", "tls:127.0.0.1:0", "--tls-cert", cert,
	    "--tls-key", key, NULL);
	target(t, sizeof(t), "tls:", echod_port_of(&e, "tls:127.0.0.1:"));
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "4",
	    "-D", "2", "-n", "2000", "--ca", cert, t, NULL });
	expect_clean(out, err, rc, 2000);
	free(out);
	free(err);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-n", "100", "--insecure", t, NULL });
	expect_clean(out, err, rc, 100);
	free(out);
	free(err);
	/* Self-signed and not trusted: every handshake is an error. */
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-n", "100", t, NULL });
	cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
	cr_assert_eq(json_number(out, "errors.tls"), 2, "%s", out);
	cr_assert_not_null(strstr(err, "tls: connection 0 from 127.0.0.1:"),
	    "%s", err);
	cr_assert_not_null(strstr(err, "certificate: self-signed "
	    "certificate"), "%s", err);
	free(out);
	free(err);
	echod_finish(&e);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

Test(echoload, unix_and_udp)
{
	struct echod	 e;
	char		*out, *err, dir[64], path[128], t[160];
	int		 rc;

	test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/echo.sock", dir);
	snprintf(t, sizeof(t), "unix:%s", path);
	echod_start(&e, "-l", t, "-U", NULL);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "3",
	    "-n", "3000", "-D", "3", t, NULL });
	expect_clean(out, err, rc, 3000);
	free(out);
	free(err);
	/* echod's per-address limit (10000/s) is far above this. */
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-D", "4", "-r", "2000", "-n", "2000", target(t, sizeof(t), "udp:",
	    e.port), NULL });
	expect_clean(out, err, rc, 2000);
	cr_assert_eq(json_number(out, "bytes_received"), 2000 * 68);
	free(out);
	free(err);
	echod_finish(&e);
	rmdir(dir);
}

Test(echoload, proxy_headers_framings_and_prefixes)
{
	struct echod	 e, chunk, raw;
	char		*out, *err, t[64];
	int		 rc;

	echod_start(&e, "-l", "proxy:127.0.0.1:0", "-v", NULL);
	target(t, sizeof(t), "", echod_port_of(&e, "proxy:127.0.0.1:"));
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-n", "200", "--proxy", "v1", t, NULL });
	expect_clean(out, err, rc, 200);
	free(out);
	free(err);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-n", "200", "--proxy", "v2", t, NULL });
	expect_clean(out, err, rc, 200);
	free(out);
	free(err);
	cr_assert_eq(echod_log_count(&e, " (PROXY v1)\n"), 2, "%s", e.log);
	cr_assert_eq(echod_log_count(&e, " (PROXY v2)\n"), 2, "%s", e.log);
	/* The header names the client as the source, not the server. */
	snprintf(t, sizeof(t), "Connection from 127.0.0.1:%d ",
	    echod_port_of(&e, "proxy:127.0.0.1:"));
	cr_assert(!echod_log_has(&e, t), "%s", e.log);
	echod_finish(&e);

	echod_start(&chunk, "-f", "chunk", "-P", "[echo] ", NULL);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-D", "8", "-n", "4000", "-f", "chunk", "-P", "[echo] ",
	    target(t, sizeof(t), "", chunk.port), NULL });
	expect_clean(out, err, rc, 4000);
	free(out);
	free(err);
	echod_finish(&chunk);

	/* RFC 862: nothing added.  The default prefix is then wrong. */
	echod_start(&raw, "-P", "", NULL);
	target(t, sizeof(t), "", raw.port);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-n", "500", "-P", "", t, NULL });
	expect_clean(out, err, rc, 500);
	free(out);
	free(err);
	rc = echoload(&out, &err, (const char *[]){ "-q", "-c", "1", "-n",
	    "10", t, NULL });
	cr_assert_eq(rc, 1);
	cr_assert_not_null(strstr(err, "echoload: mismatch: connection 0 from "
	    "127.0.0.1:"), "%s", err);
	cr_assert_not_null(strstr(err, ": wrong byte at offset 0 of the "
	    "replies (reply to request 0): expected 'G' (0x47), got '0' "
	    "(0x30)\n"), "%s", err);
	free(out);
	free(err);
	echod_finish(&raw);
}

Test(echoload, churn_and_idle)
{
	struct echod	 e, timeout;
	char		*out, *err, t[64];
	int		 rc;

	echod_start(&e, NULL);
	target(t, sizeof(t), "", e.port);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-m",
	    "churn", "-c", "4", "-n", "300", t, NULL });
	expect_clean(out, err, rc, 300);
	cr_assert_eq(json_number(out, "connections_opened"), 300);
	free(out);
	free(err);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-m",
	    "idle", "-c", "50", "-d", "1s", t, NULL });
	expect_clean(out, err, rc, 100);
	cr_assert_eq(json_number(out, "connections_opened"), 50);
	free(out);
	free(err);
	echod_finish(&e);

	/* A server that closes idle connections fails the idle check. */
	echod_start(&timeout, "-t", "1", NULL);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-m",
	    "idle", "-c", "3", "-T", "1", "-d", "3s",
	    target(t, sizeof(t), "", timeout.port), NULL });
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
	cr_assert_eq(json_number(out, "errors.closed"), 3, "%s", out);
	cr_assert_not_null(strstr(err, "closed by the server at offset 68 of "
	    "the replies, 0 replies due"), "%s", err);
	free(out);
	free(err);
	echod_finish(&timeout);
}

/* Each fault of the broken server, the kind echoload names, exit 1. */
static void
expect_fault(const char *fault, const char *n, const char *kind,
    const char *detail)
{
	struct echod	 b;
	char		*out, *err, t[64], key[64];
	int		 rc;

	broken_start(&b, fault, n, NULL);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "1",
	    "-D", "4", "-n", "5000", target(t, sizeof(t), "", b.port), NULL });
	cr_assert_eq(rc, 1, "%s: exit %d: %s", fault, rc, err);
	snprintf(key, sizeof(key), "errors.%s", kind);
	cr_assert_eq(json_number(out, key), 1, "%s: %s", fault, out);
	cr_assert_eq(json_number(out, "errors.total"), 1, "%s: %s", fault, out);
	cr_assert_not_null(strstr(err, detail), "%s: %s", fault, err);
	free(out);
	free(err);
	broken_stop(&b);
}

Test(echoload, broken_server_each_fault_named)
{
	/* Replies are 68 bytes: "GOT:" and 64. */
	expect_fault("corrupt", "100000", "mismatch",
	    "wrong byte at offset 100000 of the replies (reply to request "
	    "1470)");
	expect_fault("drop", "6800", "mismatch", "(reply to request 100)");
	expect_fault("reorder", "50", "mismatch", "wrong byte at offset 3407 "
	    "of the replies (reply to request 50)");
	expect_fault("close", "5000", "closed", "closed by the server at "
	    "offset 5000 of the replies");
	expect_fault("reset", "5000", "reset", "Connection reset by peer");
}

/* The same run against the same server, not broken: all right. */
Test(echoload, broken_server_without_fault_passes)
{
	struct echod	 b;
	char		*out, *err, t[64];
	int		 rc;

	broken_start(&b, "ok", NULL, NULL);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "1",
	    "-D", "4", "-n", "5000", target(t, sizeof(t), "", b.port), NULL });
	expect_clean(out, err, rc, 5000);
	free(out);
	free(err);
	broken_stop(&b);
}

Test(echoload, timeout_bounded)
{
	struct echod	 b;
	char		*out, *err, t[64];
	long		 start, took;
	int		 rc;

	/* Stalls on the first line, for longer than the test. */
	broken_start(&b, "stall", "0", "60000");
	start = now_ms();
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "1",
	    "-n", "1", "--timeout", "1s", target(t, sizeof(t), "", b.port),
	    NULL });
	took = now_ms() - start;
	cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
	cr_assert_eq(json_number(out, "errors.timeout"), 1, "%s", out);
	cr_assert_geq(took, 900);
	cr_assert_lt(took, 3000);
	cr_assert_not_null(strstr(err, "no reply for 1."), "%s", err);
	free(out);
	free(err);
	kill(b.pid, SIGKILL);
	echod_wait_exit(&b, WAIT_MS);
	echod_free(&b);
}

/*
 * A server that stalls for a second: open loop, the requests due in that
 * second each count their wait, so the stall shows in p90 and up; closed
 * loop, one request waits and the rest were never sent (coordinated
 * omission), so p99 stays small.
 */
Test(echoload, rate_sees_the_stall)
{
	struct echod	 b;
	char		*out, *err, t[64];
	int		 rc;

	broken_start(&b, "stall", "200", "1000");
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "1",
	    "-r", "200", "-d", "3s", target(t, sizeof(t), "", b.port), NULL });
	expect_clean(out, err, rc, json_number(out, "requests_sent"));
	cr_assert_geq(json_number(out, "requests_sent"), 590);
	cr_assert_leq(json_number(out, "requests_sent"), 610);
	/* About 200 of 600 waited 0-1000 ms: p90 near 700 ms. */
	cr_assert_geq(json_number(out, "latency_us.p90"), 400000, "%s", out);
	cr_assert_geq(json_number(out, "latency_us.max"), 900000, "%s", out);
	cr_assert_lt(json_number(out, "latency_us.max"), 3000000, "%s", out);
	free(out);
	free(err);
	broken_stop(&b);

	broken_start(&b, "stall", "200", "1000");
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "1",
	    "-d", "3s", target(t, sizeof(t), "", b.port), NULL });
	expect_clean(out, err, rc, json_number(out, "requests_sent"));
	cr_assert_geq(json_number(out, "latency_us.max"), 900000, "%s", out);
	cr_assert_lt(json_number(out, "latency_us.p99"), 500000, "%s", out);
	free(out);
	free(err);
	broken_stop(&b);
}

Test(echoload, progress_lines_and_quiet)
{
	struct echod	 e;
	char		*out, *err, t[64];
	int		 rc;

	echod_start(&e, NULL);
	target(t, sizeof(t), "", e.port);
	rc = echoload(&out, &err, (const char *[]){ "-c", "2", "-d", "2500ms",
	    t, NULL });
	cr_assert_eq(rc, 0, "%s", err);
	/* Not a terminal: whole lines, one a second. */
	cr_assert_not_null(strstr(err, "echoload: 1 s: "), "%s", err);
	cr_assert_not_null(strstr(err, "echoload: 2 s: "), "%s", err);
	cr_assert_not_null(strstr(err, " replies/s, "), "%s", err);
	cr_assert_null(strchr(err, '\r'), "%s", err);
	cr_assert_not_null(strstr(out, "\nerrors       0\n"), "%s", out);
	cr_assert_not_null(strstr(out, "\nlatency      min "), "%s", out);
	free(out);
	free(err);
	echod_finish(&e);
}

Test(echoload, usage_errors_and_statuses)
{
	char	*out, *err;

	cr_assert_eq(echoload(&out, &err, (const char *[]){ "-c", "0", "x",
	    NULL }), 64);
	cr_assert_str_eq(err, "echoload: invalid --connections '0': must be a "
	    "whole number from 1 to 1000000 (see echoload --help)\n");
	free(out);
	free(err);
	cr_assert_eq(echoload(&out, &err, (const char *[]){ "-s", "10", "x",
	    NULL }), 64);
	cr_assert_str_eq(err, "echoload: invalid --size '10': must be a "
	    "size from 24 to 65536 (see echoload --help)\n");
	free(out);
	free(err);
	cr_assert_eq(echoload(&out, &err, (const char *[]){ "-d", "1x", "x",
	    NULL }), 64);
	free(out);
	free(err);
	cr_assert_eq(echoload(&out, &err, (const char *[]){ NULL }), 64);
	cr_assert_str_eq(err, "echoload: no target given (see echoload "
	    "--help)\n");
	free(out);
	free(err);
	cr_assert_eq(echoload(&out, &err, (const char *[]){ "-q",
	    "no-such-host.invalid:7", NULL }), 2);
	cr_assert_not_null(strstr(err, "echoload: invalid target "
	    "'no-such-host.invalid:7': cannot resolve"), "%s", err);
	free(out);
	free(err);
	cr_assert_eq(echoload(&out, &err, (const char *[]){ "--help", NULL }),
	    0);
	for (const char *const *o = (const char *[]){ "--connections",
	    "--threads", "--duration", "--requests", "--mode", "--pipeline",
	    "--size", "--length", "--prefix", "--max-loss", "--framing", "--rate", "--warmup",
	    "--timeout", "--proxy", "--ca", "--insecure", "--allow-loss",
	    "--server-pid", "--json", "--quiet", "--help", "--version",
	    NULL }; *o != NULL; o++)
		cr_assert_not_null(strstr(out, *o), "--help lacks %s", *o);
	free(out);
	free(err);
}

/* Every usage error: exit 64 and exactly its one line. */
Test(echoload, every_usage_error_is_one_line)
{
	static const struct {
		const char	*args[6];
		const char	*line;
	} cases[] = {
		{ { "--ca", "x.pem", "127.0.0.1:7" },
		    "--ca and --insecure need a tls: target" },
		{ { "--allow-loss", "127.0.0.1:7" },
		    "--allow-loss and --max-loss need a udp: target" },
		{ { "--max-loss", "0", "127.0.0.1:7" },
		    "--allow-loss and --max-loss need a udp: target" },
		{ { "--max-loss", "101", "udp:127.0.0.1:7" },
		    "invalid --max-loss '101': must be a percentage from 0 to "
		    "100" },
		{ { "-m", "stream", "udp:127.0.0.1:7" },
		    "udp: takes -m pingpong or idle, and no --proxy" },
		{ { "-m", "idle", "-n", "5", "127.0.0.1:7" },
		    "-m idle takes neither --rate nor -n" },
		{ { "-c", "10", "-r", "5", "127.0.0.1:7" }, "--rate 5 is below "
		    "one request per second for each of the 10 connections" },
		{ { "-c", "2", "-T", "4", "127.0.0.1:7" },
		    "-T 4 is more threads than the 2 connections" },
		{ { "-p", "13000", "127.0.0.1:13000" }, "-p is echod's port: "
		    "the pipeline is -D (--pipeline), and the port goes in the "
		    "target" },
		{ { "-l", "64", "127.0.0.1:7" }, "-l is echod's listen: the "
		    "request size is -s (--size)" },
		{ { "-t", "2", "127.0.0.1:7" }, "-t is echod's idle timeout: the "
		    "threads are -T (--threads)" },
		{ { "--reconnect", "udp:127.0.0.1:7" }, "--reconnect needs a "
		    "stream target: udp: sockets stay open" },
		{ { "-s", "100-50", "127.0.0.1:7" }, "invalid --size '100-50': "
		    "must be a size or a range MIN-MAX of sizes from 24 to "
		    "65536" },
		{ { "-n", "5", "-r", "10:20", "127.0.0.1:7" }, "--rate N:M ramps "
		    "over -d: not with -n or -m churn" },
		{ { "-r", "100:5", "127.0.0.1:7" }, "--rate ...:5 is below one "
		    "request per second for each of the 10 connections" },
		{ { "--connect-rate", "5", "udp:127.0.0.1:7" }, "--connect-rate "
		    "needs a stream target" },
		{ { "--source", "::1", "127.0.0.1:7" }, "--source addresses must "
		    "be of the target's family (IPv4 or IPv6)" },
		{ { "--source", "127.0.0.9-127.0.0.2", "127.0.0.1:7" }, "invalid "
		    "--source '127.0.0.9-127.0.0.2': must be addresses separated "
		    "by commas, IPv4 ranges as A-B, 65536 at most" },
		{ { "-r", "2k5", "127.0.0.1:7" }, "invalid --rate '2k5': must be "
		    "a whole number from 1 to 100000000" },
		{ { "-c", "2M", "127.0.0.1:7" }, "invalid --connections '2M': "
		    "must be a whole number from 1 to 1000000" },
		{ { "127.0.0.1:0" }, "invalid target '127.0.0.1:0': port 0" },
		{ { "unix:" }, "invalid target 'unix:': a Unix socket path of 1 "
		    "to 107 bytes" },
		{ { "--bogus", "127.0.0.1:7" }, "unknown option '--bogus'" },
		{ { "-Z", "127.0.0.1:7" }, "unknown option '-Z'" },
		{ { "127.0.0.1:7", "-c" }, "option '-c' needs a value" },
		{ { "--insecure=yes", "tls:127.0.0.1:7" },
		    "option '--insecure' takes no value" },
		{ { "127.0.0.1:7", "extra" }, "unexpected argument 'extra'" },
		{ { "-f", "chunk", "-P", "\nGOT:", "127.0.0.1:7" }, NULL },
	};
	char	*out, *err, want[160];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(echoload(&out, &err, cases[i].args), 64,
		    "%s: %s", cases[i].args[0], err);
		if (cases[i].line != NULL) {
			snprintf(want, sizeof(want), "echoload: %s (see "
			    "echoload --help)\n", cases[i].line);
			cr_assert_str_eq(err, want);
		} else
			cr_assert(strncmp(err, "echoload: invalid --prefix: ",
			    28) == 0 && strchr(err, '\n') == err + strlen(err)
			    - 1, "%s", err);
		free(out);
		free(err);
	}
}

/* What keeps a run from starting: exit 2 and one line saying why. */
Test(echoload, start_failures_exit_2)
{
	struct echod	 b;
	char		*out, *err;

	cr_assert_eq(echoload(&out, &err, (const char *[]){ "--ca",
	    "/nonexistent/ca.pem", "tls:127.0.0.1:7", NULL }), 2);
	cr_assert(strncmp(err, "echoload: cannot load the CA certificates "
	    "/nonexistent/ca.pem: ", 61) == 0, "%s", err);
	free(out);
	free(err);

	cr_assert_eq(echoload(&out, &err, (const char *[]){ "--timeline",
	    "/nonexistent/t.csv", "127.0.0.1:7", NULL }), 2);
	cr_assert_str_eq(err, "echoload: cannot write the timeline "
	    "/nonexistent/t.csv: No such file or directory\n");
	free(out);
	free(err);
	cr_assert_eq(echoload(&out, &err, (const char *[]){ "--hdr-log",
	    "/nonexistent/run.hlog", "127.0.0.1:7", NULL }), 2);
	cr_assert_str_eq(err, "echoload: cannot write the HdrHistogram log "
	    "/nonexistent/run.hlog: No such file or directory\n");
	free(out);
	free(err);

	echod_set_nofile(64);
	program_spawn(&b, "ECHOLOAD", (const char *[]){ "-c", "100",
	    "127.0.0.1:7", NULL });
	echod_set_nofile(0);
	cr_assert_eq(echod_wait_exit(&b, WAIT_MS), 2, "%s", b.log);
	cr_assert_str_eq(b.log, "echoload: -c 100 needs more descriptors than "
	    "the open-file limit of 64 allows (see ulimit -n)\n");
	echod_free(&b);
}

/* A handshake or a connection that never completes is cut at --timeout. */
Test(echoload, a_hanging_handshake_or_connect_times_out)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 len = sizeof(sin);
	struct echod		 b;
	char			*out, *err, t[64];
	int			 lfd, queued;

	broken_start(&b, "stall", "0", "60000");
	cr_assert_eq(echoload(&out, &err, (const char *[]){ "-q", "--insecure",
	    "-c", "1", "-n", "1", "--timeout", "1s",
	    target(t, sizeof(t), "tls:", b.port), NULL }), 1, "%s", err);
	cr_assert_not_null(strstr(err, "echoload: tls: connection 0 from "
	    "127.0.0.1:"), "%s", err);
	cr_assert_not_null(strstr(err, ": TLS handshake: timed out\n"), "%s",
	    err);
	free(out);
	free(err);
	kill(b.pid, SIGKILL);
	echod_wait_exit(&b, WAIT_MS);
	echod_free(&b);

	/* A listener whose queue is full drops the next SYN. */
	cr_assert_neq(lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(lfd, 0), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	queued = client_connect(ntohs(sin.sin_port));
	cr_assert_eq(echoload(&out, &err, (const char *[]){ "-q", "-c", "1",
	    "-n", "1", "--timeout", "1s", target(t, sizeof(t), "",
	    ntohs(sin.sin_port)), NULL }), 2, "%s", err);
	cr_assert_str_eq(err, "echoload: connect: connection 0: connect: "
	    "timed out\n");
	free(out);
	free(err);
	close(queued);
	close(lfd);
}

/* Past five errors, one line says the rest are only counted. */
Test(echoload, after_five_errors_the_rest_are_counted)
{
	struct echod	 b;
	char		*out, *err, t[64];

	broken_start(&b, "corrupt", "10", NULL);
	cr_assert_eq(echoload(&out, &err, (const char *[]){ "-q", "--json",
	    "-c", "8", "-n", "80", target(t, sizeof(t), "", b.port), NULL }),
	    1, "%s", err);
	cr_assert_eq(json_number(out, "errors.mismatch"), 8, "%s", out);
	cr_assert_not_null(strstr(err, "\nechoload: further errors are "
	    "counted, not shown\n"), "%s", err);
	cr_assert_eq(strstr(strstr(err, "further errors"), "mismatch"), NULL,
	    "%s", err);
	free(out);
	free(err);
	broken_stop(&b);
}

/*
 * A UDP server that answers wrong: twice, with junk, or not at all
 * (mode 2, 1, 0), each datagram, until its socket is shut down.
 */
struct bad_udp {
	int		 fd;
	int		 mode;
	pthread_t	 thread;
};

static void *
bad_udp_serve(void *arg)
{
	struct bad_udp		*u = arg;
	struct sockaddr_storage	 from;
	socklen_t		 len;
	char			 buf[2048], reply[2048];
	ssize_t			 n;

	for (;;) {
		len = sizeof(from);
		if ((n = recvfrom(u->fd, buf, sizeof(buf) - 4, 0,
		    (struct sockaddr *)&from, &len)) <= 0)
			return NULL;
		memcpy(reply, "GOT:", 4);
		memcpy(reply + 4, buf, n);
		if (u->mode >= 1)
			sendto(u->fd, u->mode == 1 ? "junk" : reply,
			    u->mode == 1 ? 4 : n + 4, 0,
			    (struct sockaddr *)&from, len);
		if (u->mode == 2)
			sendto(u->fd, reply, n + 4, 0, (struct sockaddr *)&from,
			    len);
	}
}

static char *
bad_udp_run(int mode)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 len = sizeof(sin);
	struct bad_udp		 u = { .mode = mode };
	char			*out, *err, t[64];

	cr_assert_neq(u.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(u.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(u.fd, (struct sockaddr *)&sin, &len), 0);
	cr_assert_eq(pthread_create(&u.thread, NULL, bad_udp_serve, &u), 0);
	/* Four in flight and four in all: no slot of the ring is reused,
	 * so a duplicate is always known for one. */
	cr_assert_eq(echoload(&out, &err, (const char *[]){ "-q", "-c", "1",
	    "-D", "4", "-n", "4", "--timeout", "1s", target(t, sizeof(t), "udp:",
	    ntohs(sin.sin_port)), NULL }), 1, "%s", err);
	shutdown(u.fd, SHUT_RDWR);
	pthread_join(u.thread, NULL);
	close(u.fd);
	free(out);
	return err;
}

Test(echoload, udp_replies_that_are_wrong_or_missing)
{
	char	*err;

	err = bad_udp_run(2);
	cr_assert(strncmp(err, "echoload: mismatch: socket 0 from 127.0.0.1:",
	    44) == 0 && strstr(err, ": a second reply to datagram 0\n"),
	    "%s", err);
	free(err);
	err = bad_udp_run(1);
	cr_assert(strncmp(err, "echoload: mismatch: socket 0 from 127.0.0.1:",
	    44) == 0 && strstr(err, ": a reply of 4 bytes that is not PREFIX + "
	    "a datagram sent\n"), "%s", err);
	free(err);
	err = bad_udp_run(0);
	cr_assert(strncmp(err, "echoload: lost: socket 0 from 127.0.0.1:", 40)
	    == 0 && strstr(err, ": no reply to datagram 0 within 1.0 s\n"),
	    "%s", err);
	free(err);
}

Test(echoload, connection_refused_is_an_error)
{
	struct echod	 b;
	char		*out, *err, t[64];
	int		 port, rc;

	/* A port nothing listens on: the broken server's, once it is gone. */
	broken_start(&b, "ok", NULL, NULL);
	port = b.port;
	broken_stop(&b);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-n", "10", target(t, sizeof(t), "", port), NULL });
	/* Nothing answered, nothing connected: the target is unusable, as
	 * when no address of a name takes a connection. */
	cr_assert_eq(rc, 2);
	cr_assert_eq(json_number(out, "errors.connect"), 2, "%s", out);
	cr_assert_not_null(strstr(err, "connect: Connection refused"), "%s",
	    err);
	free(out);
	free(err);
}

/* ---- the pure parts ---- */

Test(echoload, histogram_percentiles)
{
	static struct hist	 h;
	uint64_t		 v;

	hist_init(&h);
	for (v = 1; v <= 100000; v++)
		hist_record(&h, v * 1000);
	cr_assert_eq(h.count, 100000);
	cr_assert_eq(h.min, 1000);
	cr_assert_eq(h.max, 100000000);
	/* Within the 1/64 of a bucket, and never below the truth. */
	cr_assert_geq(hist_percentile(&h, 50), 50000000);
	cr_assert_leq(hist_percentile(&h, 50), 50000000 + 50000000 / 64);
	cr_assert_geq(hist_percentile(&h, 99.9), 99900000);
	cr_assert_leq(hist_percentile(&h, 99.9), 100000000);
	cr_assert_eq(hist_percentile(&h, 100), 100000000);
	for (v = 0; v < 128; v++)
		cr_assert_eq(hist_bucket_high(hist_bucket(v)), v);
	for (v = 128; v < (1ULL << 40); v += v / 7)
		cr_assert(hist_bucket_high(hist_bucket(v)) >= v &&
		    hist_bucket_high(hist_bucket(v)) - v <= v / 64, "%llu",
		    (unsigned long long)v);
}

Test(echoload, payload_verify_names_the_byte)
{
	struct payload	 p;
	struct verify	 v;
	struct mismatch	 m;
	const char	*why;
	char		 req[64], reply[200];
	bool		 done;
	uint32_t	 conn;
	uint64_t	 seq;

	cr_assert_eq(payload_init(&p, "GOT:", 32, REPLY_LINE, false, &why), 0);
	payload_request(&p, 7, 1234, req);
	cr_assert_eq(req[31], '\n');
	cr_assert_eq(payload_parse(&p, req, 32, &conn, &seq), 0);
	cr_assert_eq(conn, 7);
	cr_assert_eq(seq, 1234);
	cr_assert_eq(verify_init(&v, &p, 7), 0);
	verify_restart(&v, &p, 1234);
	memcpy(reply, "GOT:", 4);
	memcpy(reply + 4, req, 32);
	/* In two pieces: the first ends no reply. */
	cr_assert_eq(verify_feed(&v, &p, reply, 10, &done, &m), 10);
	cr_assert(!done);
	cr_assert_eq(verify_feed(&v, &p, reply + 10, 26, &done, &m), 26);
	cr_assert(done);
	cr_assert_eq(v.seq, 1235);
	payload_request(&p, 7, 1235, req);
	memcpy(reply + 4, req, 32);
	reply[20] ^= 1;
	cr_assert_eq(verify_feed(&v, &p, reply, 36, &done, &m), -1);
	cr_assert_eq(m.offset, 36 + 20);
	cr_assert_eq(m.seq, 1235);
	cr_assert_eq(m.got, reply[20]);
	cr_assert_eq(m.expected, reply[20] ^ 1);
	/* A wrong first byte of a read is as wrong as any other. */
	verify_restart(&v, &p, 1235);
	reply[20] ^= 1;
	reply[0] = 'g';
	cr_assert_eq(verify_feed(&v, &p, reply, 36, &done, &m), -1);
	cr_assert_eq(m.expected, 'G');
	cr_assert_eq(m.got, 'g');
	verify_free(&v);

	/* Chunk framing: prefixes anywhere, taken out. */
	cr_assert_eq(payload_init(&p, "0x", 24, REPLY_CHUNK, false, &why), 0);
	cr_assert_null(memchr(p.digits, '0', sizeof(p.digits)));
	cr_assert_eq(verify_init(&v, &p, 1), 0);
	payload_request(&p, 1, 0, req);
	snprintf(reply, sizeof(reply), "0x%.5s0x0x%.19s", req, req + 5);
	cr_assert_eq(verify_feed(&v, &p, reply, strlen(reply), &done, &m),
	    (ssize_t)strlen(reply));
	cr_assert(done);
	verify_free(&v);
	cr_assert_eq(payload_init(&p, "\nX", 24, REPLY_CHUNK, false, &why), -1);
}

/* SIGINT ends the run early, the summary still printed, exit 0. */
Test(echoload, sigint_stops_and_reports)
{
	struct echod	 e, load;
	char		 t[64];
	long		 start;

	echod_start(&e, NULL);
	program_spawn(&load, "ECHOLOAD", (const char *[]){ "-c", "2", "-d",
	    "60s", target(t, sizeof(t), "", e.port), NULL });
	start = now_ms();
	cr_assert(echod_wait_log(&load, "echoload: 1 s: ", WAIT_MS), "%s",
	    load.log ? load.log : "");
	cr_assert_eq(kill(load.pid, SIGINT), 0);
	cr_assert_eq(echod_wait_exit(&load, WAIT_MS), 0, "%s", load.log);
	cr_assert_lt(now_ms() - start, 20000);
	cr_assert_not_null(strstr(load.log, "\nerrors       0\n"), "%s",
	    load.log);
	cr_assert_not_null(strstr(load.log, "\nrequests     "), "%s", load.log);
	echod_free(&load);
	echod_finish(&e);
}

/* Two signals: the second stops it at once, with exit 130. */
Test(echoload, a_second_signal_stops_at_once)
{
	struct echod	 e, load;
	char		 t[64];

	echod_start(&e, NULL);
	program_spawn(&load, "ECHOLOAD", (const char *[]){ "-c", "2", "-d",
	    "60s", target(t, sizeof(t), "", e.port), NULL });
	cr_assert(echod_wait_log(&load, "echoload: 1 s: ", WAIT_MS), "%s",
	    load.log ? load.log : "");
	/* Both pending at once, so both are delivered (one SIGINT twice
	 * might merge). */
	cr_assert_eq(kill(load.pid, SIGSTOP), 0);
	cr_assert_eq(kill(load.pid, SIGINT), 0);
	cr_assert_eq(kill(load.pid, SIGTERM), 0);
	cr_assert_eq(kill(load.pid, SIGCONT), 0);
	cr_assert_eq(echod_wait_exit(&load, WAIT_MS), 130, "%s", load.log);
	cr_assert(strstr(load.log, "\nechoload: stopped by signal 2\n") ||
	    strstr(load.log, "\nechoload: stopped by signal 15\n"), "%s",
	    load.log);
	echod_free(&load);
	echod_finish(&e);
}

/* ---- numbers true at the edges (issue 23) ---- */

static int
broken_load(const char *fault, const char *n, const char *ms, char **out,
    char **err, const char *const *args, long *took)
{
	const char	*argv[24];
	struct echod	 b;
	char		 t[64];
	long		 start;
	size_t		 i;
	int		 rc;

	broken_start(&b, fault, n, ms);
	for (i = 0; args[i] != NULL && i < 22; i++)
		argv[i] = args[i];
	argv[i++] = target(t, sizeof(t), "", b.port);
	argv[i] = NULL;
	start = now_ms();
	rc = echoload(out, err, argv);
	if (took != NULL)
		*took = now_ms() - start;
	kill(b.pid, SIGKILL);
	echod_wait_exit(&b, WAIT_MS);
	echod_free(&b);
	return rc;
}

/*
 * Open loop, a stall over the end of -d: the requests that fell due in
 * it are still sent once the server answers again, each measured from
 * when it was due, so the stall shows as one in the middle does.
 */
Test(echoload, open_loop_stall_at_the_end_is_counted)
{
	char	*out, *err;
	int	 rc;

	/* 200/s for 2 s; from 1.5 s the server holds its answers 1 s. */
	rc = broken_load("stall", "300", "1000", &out, &err, (const char *[]){
	    "-q", "--json", "-c", "1", "-r", "200", "-d", "2s", NULL }, NULL);
	expect_clean(out, err, rc, json_number(out, "requests_sent"));
	cr_assert_geq(json_number(out, "requests_sent"), 395, "%s", out);
	cr_assert_leq(json_number(out, "requests_sent"), 405, "%s", out);
	cr_assert_eq(json_number(out, "schedule.unsent"), 0, "%s", out);
	/* A quarter waited 0.5 to 1 s. */
	cr_assert_geq(json_number(out, "latency_us.p90"), 300000, "%s", out);
	free(out);
	free(err);
}

/* The measured time is the time spent, when connections die early. */
Test(echoload, duration_is_the_time_spent)
{
	struct echod	 b;
	char		*out, *err, t[64];
	long		 took;
	int		 rc, port;

	/* Closed after 100 replies. */
	rc = broken_load("close", "6800", NULL, &out, &err, (const char *[]){
	    "-q", "--json", "-c", "1", "-d", "5s", NULL }, &took);
	cr_assert_eq(rc, 1, "%s", err);
	cr_assert_eq(json_number(out, "measured"), 100, "%s", out);
	cr_assert_lt(json_number(out, "duration_s"), 2.0, "%s", out);
	cr_assert_lt(took, 3000);
	free(out);
	free(err);

	/* Refused: nothing to measure, and no time either. */
	broken_start(&b, "ok", NULL, NULL);
	port = b.port;
	broken_stop(&b);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "1",
	    "-d", "5s", target(t, sizeof(t), "", port), NULL });
	cr_assert_eq(rc, 2, "%s", err);
	cr_assert_lt(json_number(out, "duration_s"), 2.0, "%s", out);
	free(out);
	free(err);
}

/*
 * A rate the connections cannot carry: two connections, one request in
 * flight each, 20 ms a reply, cannot send 1000 a second.  It says so,
 * counts what was due and never sent, and fails the run.
 */
Test(echoload, a_schedule_that_falls_behind_says_so)
{
	char	*out, *err;
	int	 rc;

	rc = broken_load("delay", "20", NULL, &out, &err, (const char *[]){
	    "-q", "--json", "-c", "2", "-r", "1000", "-d", "1s",
	    "--timeout", "1s", NULL }, NULL);
	cr_assert_eq(rc, 1, "%s %s", out, err);
	cr_assert_eq(json_number(out, "errors.total"), 0, "%s", out);
	cr_assert_eq(json_number(out, "schedule.due"), 1000, "%s", out);
	cr_assert_geq(json_number(out, "schedule.unsent"), 500, "%s", out);
	cr_assert_eq(json_number(out, "schedule.unsent") +
	    json_number(out, "schedule.sent"), 1000, "%s", out);
	cr_assert_gt(json_number(out, "schedule.max_lag_ms"), 100, "%s", out);
	free(out);
	free(err);

	rc = broken_load("delay", "20", NULL, &out, &err, (const char *[]){
	    "-q", "-c", "2", "-r", "1000", "-d", "1s", "--timeout", "1s",
	    NULL }, NULL);
	cr_assert_eq(rc, 1, "%s %s", out, err);
	cr_assert_not_null(strstr(out, "\nschedule     behind: sent "), "%s",
	    out);
	cr_assert_not_null(strstr(out, " due, never sent), max lag "), "%s",
	    out);
	free(out);
	free(err);
}

/* A reply that trickles in is cut at --timeout, whole. */
Test(echoload, a_trickled_reply_has_a_deadline)
{
	char	*out, *err;
	long	 took;
	int	 rc;

	/* A byte every 0.4 s: a 68-byte reply would take 27 s. */
	rc = broken_load("trickle", "400", NULL, &out, &err, (const char *[]){
	    "-q", "--json", "-c", "1", "-d", "1s", "--timeout", "1s", NULL },
	    &took);
	cr_assert_eq(rc, 1, "%s %s", out, err);
	cr_assert_eq(json_number(out, "errors.timeout"), 1, "%s", out);
	cr_assert_lt(took, 4000);
	cr_assert_not_null(strstr(err, "echoload: timeout: connection 0 from "
	    "127.0.0.1:"), "%s", err);
	free(out);
	free(err);
}

/*
 * UDP against echod's rate limit, with echoload's defaults: the losses
 * are counted, given as a percentage, blamed on the rate limit, and
 * within the default --max-loss; --max-loss 0 makes them fatal.
 */
Test(echoload, udp_loss_against_a_rate_limit)
{
	struct echod	 e;
	char		*out, *err, t[64];
	long		 start;
	int		 rc;

	/*
	 * 400 a second, over 3 s: under valgrind echod answers ~1,400 a
	 * second, three times what the limit lets through.  Each socket
	 * loses one datagram a --timeout, under 1 % of what passes; the
	 * hint needs two sockets a thread, whose losses come together.
	 */
	echod_start(&e, "-U", "--udp-source-rate", "400", NULL);
	target(t, sizeof(t), "udp:", e.port);
	start = now_ms();
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "4",
	    "-d", "3s", t, NULL });
	cr_assert_lt(now_ms() - start, 5500);
	cr_assert_eq(rc, 0, "%s %s", out, err);
	cr_assert_gt(json_number(out, "loss.lost"), 0, "%s", out);
	cr_assert_gt(json_number(out, "loss.percent"), 0, "%s", out);
	cr_assert_leq(json_number(out, "loss.percent"), 1, "%s", out);
	cr_assert_eq(json_number(out, "errors.total"), 0, "%s", out);
	cr_assert_not_null(strstr(err, " datagrams were lost in bursts: a "
	    "server's rate limit is the likely cause"), "%s", err);
	free(out);
	free(err);
	rc = echoload(&out, &err, (const char *[]){ "-q", "-c", "4", "-d",
	    "1s", "--max-loss", "0", t, NULL });
	cr_assert_eq(rc, 1, "%s %s", out, err);
	cr_assert_not_null(strstr(out, "\nlost         "), "%s", out);
	cr_assert_not_null(strstr(out, " %), over --max-loss 0 %\n"), "%s",
	    out);
	cr_assert_null(strstr(out, "framing"), "%s", out);
	free(out);
	free(err);
	echod_finish(&e);
}

/* What the summary says of each mode is true of it. */
Test(echoload, summary_lines_fit_the_mode)
{
	struct echod	 e;
	char		*out, *err, t[64];
	int		 rc;

	echod_start(&e, NULL);
	target(t, sizeof(t), "", e.port);
	rc = echoload(&out, &err, (const char *[]){ "-q", "-m", "stream",
	    "-c", "1", "-d", "200ms", t, NULL });
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_not_null(strstr(out, ", up to 1024 KiB in flight, "), "%s",
	    out);
	free(out);
	free(err);
	rc = echoload(&out, &err, (const char *[]){ "-q", "-m", "idle",
	    "-c", "2", "-d", "200ms", t, NULL });
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_not_null(strstr(out, "\nrequests     4 sent, 4 answered, "
	    "4 measured in "), "%s", out);
	cr_assert_null(strstr(out, "/s\n"), "%s", out);
	free(out);
	free(err);
	echod_finish(&e);
}

/* After -d, while replies are awaited, no progress line counts on. */
Test(echoload, progress_stops_at_the_end)
{
	char	*out, *err;
	int	 rc;

	/* From 1.2 s the server holds its answers 2 s. */
	rc = broken_load("stall", "240", "2000", &out, &err, (const char *[]){
	    "-c", "1", "-r", "200", "-d", "1500ms", NULL }, NULL);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_not_null(strstr(err, "echoload: 1 s: "), "%s", err);
	cr_assert_null(strstr(err, "echoload: 2 s: "), "%s", err);
	cr_assert_null(strstr(err, "echoload: 3 s: "), "%s", err);
	free(out);
	free(err);
}

/* Counts and rates take k and M (1000s); sizes take k (1024s). */
Test(echoload, suffixes_on_counts_rates_and_sizes)
{
	struct echod	 e;
	char		*out, *err, t[64];
	int		 rc;

	echod_start(&e, NULL);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-D", "4", "-n", "2k", "-s", "1k", "-r", "1K", target(t, sizeof(t),
	    "", e.port), NULL });
	expect_clean(out, err, rc, 2000);
	cr_assert_eq(json_number(out, "length"), 1024, "%s", out);
	cr_assert_eq(json_number(out, "rate"), 1000, "%s", out);
	cr_assert_eq(json_number(out, "bytes_sent"), 2000 * 1024, "%s", out);
	free(out);
	free(err);
	echod_finish(&e);
}

/*
 * The full distribution: the percentiles in order, mean and stdev, the
 * spectrum ending at 100 %; under -r the service time beside it, which
 * leaves out the queueing a stall causes (wrk2 -U).
 */
Test(echoload, latency_distribution_and_service_time)
{
	static const char *const keys[] = { "latency_us.p50",
	    "latency_us.p75", "latency_us.p90", "latency_us.p99",
	    "latency_us.p99_9", "latency_us.p99_99", "latency_us.p99_999",
	    "latency_us.p100" };
	char	*out, *err;
	size_t	 i;
	int	 rc;

	/* 200/s for 2 s; from 0.5 s the server holds its answers 1 s. */
	rc = broken_load("stall", "100", "1000", &out, &err, (const char *[]){
	    "-q", "--json", "--latency", "-c", "1", "-r", "200", "-d", "2s",
	    NULL }, NULL);
	expect_clean(out, err, rc, 400);
	for (i = 1; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_assert_leq(json_number(out, keys[i - 1]),
		    json_number(out, keys[i]), "%s", out);
	cr_assert_eq(json_number(out, "latency_us.p100"),
	    json_number(out, "latency_us.max"), "%s", out);
	/* Half the requests waited for the stall; one was in it. */
	cr_assert_gt(json_number(out, "latency_us.mean"), 100000, "%s", out);
	cr_assert_gt(json_number(out, "latency_us.stdev"), 100000, "%s", out);
	cr_assert_geq(json_number(out, "latency_us.p75"), 100000, "%s", out);
	cr_assert_lt(json_number(out, "service_us.p75"), 100000, "%s", out);
	cr_assert_geq(json_number(out, "service_us.max"), 900000, "%s", out);
	cr_assert_not_null(strstr(out, "\"spectrum\":[[0.0"), "%s", out);
	cr_assert_not_null(strstr(out, ",[1.0,"), "%s", out);
	free(out);
	free(err);

	rc = broken_load("ok", NULL, NULL, &out, &err, (const char *[]){
	    "-q", "--latency", "-c", "1", "-n", "1000", NULL }, NULL);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_not_null(strstr(out, "\n             mean "), "%s", out);
	cr_assert_not_null(strstr(out, "\ndistribution\n    50.000%  "), "%s",
	    out);
	cr_assert_not_null(strstr(out, "\n   100.000%  "), "%s", out);
	cr_assert_not_null(strstr(out, "\nspectrum\n"), "%s", out);
	cr_assert_not_null(strstr(out, "  1.000000000000          1000  "
	    "       inf\n"), "%s", out);
	cr_assert_null(strstr(out, "\nservice "), "%s", out);
	free(out);
	free(err);
}

/* ---- the timeline and the HdrHistogram log ---- */

static char *
read_file(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 n;

	cr_assert_not_null(f = fopen(path, "r"), "%s: %s", path,
	    strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, n + 1);
	cr_assert_eq(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* Per interval: the records add up to the summary's counts. */
#define TIMELINE_HEADER	"t_s,interval_s,sent,replies,replies_per_s," \
	    "mb_in_per_s,open,errors,lost,unsent,mean_us,p50_us,p90_us," \
	    "p99_us,p99_9_us,max_us\n"

Test(echoload, timeline_records_add_up)
{
	struct echod	 e;
	char		*out, *err, *csv, *line, *save, dir[64], path[128];
	char		 t[64];
	double		 replies = 0, rows = 0, t_s, interval_s;
	int		 rc;

	echod_start(&e, NULL);
	target(t, sizeof(t), "", e.port);
	rc = echoload(&out, &err, (const char *[]){ "--json", "-c", "2",
	    "-d", "1200ms", "-i", "250ms", t, NULL });
	cr_assert_eq(rc, 0, "%s", err);
	/* JSON lines on standard error, instead of the progress lines. */
	cr_assert_null(strstr(err, " replies/s, "), "%s", err);
	for (line = strtok_r(err, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		replies += json_number(line, "replies");
		cr_assert_leq(json_number(line, "p50_us"),
		    json_number(line, "max_us"), "%s", line);
		cr_assert_eq(json_number(line, "errors"), 0, "%s", line);
		rows++;
	}
	cr_assert_geq(rows, 4);
	cr_assert_leq(rows, 6);
	cr_assert_eq(replies, json_number(out, "replies"), "%s", out);
	free(out);
	free(err);

	test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/timeline.csv", dir);
	rc = echoload(&out, &err, (const char *[]){ "-q", "-c", "2", "-d",
	    "1s", "-r", "400", "--timeline", path, t, NULL });
	cr_assert_eq(rc, 0, "%s", err);
	csv = read_file(path);
	cr_assert(strncmp(csv, TIMELINE_HEADER, strlen(TIMELINE_HEADER)) == 0,
	    "%s", csv);
	/* One record for the whole run, of the time it really took. */
	line = csv + strlen(TIMELINE_HEADER);
	cr_assert_eq(sscanf(line, "%lf,%lf,", &t_s, &interval_s), 2, "%s",
	    csv);
	cr_assert(t_s >= 0.95 && t_s < 2 && interval_s == t_s, "%s", csv);
	cr_assert_null(strchr(strchr(line, '\n') + 1, '\n'), "%s", csv);
	free(csv);
	free(out);
	free(err);
	unlink(path);
	rmdir(dir);
	echod_finish(&e);
}

static size_t
base64_decode(const char *in, uint8_t *out)
{
	static const char	 digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t		 v = 0;
	size_t			 n = 0, bits = 0;
	const char		*d;

	for (; *in != '\0' && *in != '=' && *in != '\n'; in++) {
		cr_assert_not_null(d = strchr(digits, *in), "base64: %c", *in);
		v = v << 6 | (uint32_t)(d - digits);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = v >> bits;
		}
	}
	return n;
}

static uint64_t
get_be(const uint8_t *p, int bytes)
{
	uint64_t	 v = 0;

	while (bytes-- > 0)
		v = v << 8 | *p++;
	return v;
}

/*
 * One interval's histogram, decoded as HdrHistogram's spec has it: the
 * V2 compression cookie and length, a zlib stream (stored blocks: any
 * other block type would need an inflater, and fails here), the V2
 * encoding header, ZigZag LEB128 counts with zero runs.  Returns the
 * total count, *top the largest value with a count.
 */
static uint64_t
hdr_decode(const char *b64, uint64_t *top)
{
	static uint8_t	 raw[1 << 20], inner[1 << 20];
	size_t		 n = base64_decode(b64, raw), off, in = 0, len;
	uint64_t	 total = 0, z, idx = 0;
	int64_t		 count;
	uint32_t	 a = 1, b = 0;
	unsigned int	 shift, bucket, sub;
	bool		 last = false;

	cr_assert_eq(get_be(raw, 4), 0x1c849314, "compression cookie");
	cr_assert_eq(get_be(raw + 4, 4), n - 8, "compressed length");
	cr_assert_eq((raw[8] * 256 + raw[9]) % 31, 0, "zlib header");
	cr_assert_eq(raw[8] & 0x0f, 8, "deflate");
	for (off = 10; !last;) {
		last = raw[off] & 1;
		cr_assert_eq((raw[off] >> 1) & 3, 0, "a stored block");
		len = raw[off + 1] | raw[off + 2] << 8;
		cr_assert_eq(len ^ (raw[off + 3] | raw[off + 4] << 8), 0xffff);
		memcpy(inner + in, raw + off + 5, len);
		in += len;
		off += 5 + len;
	}
	for (z = 0; z < in; z++) {
		a = (a + inner[z]) % 65521;
		b = (b + a) % 65521;
	}
	cr_assert_eq(get_be(raw + off, 4), (uint64_t)b << 16 | a, "adler32");
	cr_assert_eq(off + 4, n);
	cr_assert_eq(get_be(inner, 4), 0x1c849313, "encoding cookie");
	cr_assert_eq(get_be(inner + 4, 4), in - 40, "payload length");
	cr_assert_eq(get_be(inner + 8, 4), 0, "normalizing offset");
	cr_assert_eq(get_be(inner + 12, 4), 2, "significant digits");
	cr_assert_eq(get_be(inner + 16, 8), 1, "lowest");
	cr_assert_eq(get_be(inner + 24, 8), 1ULL << 48, "highest");
	cr_assert_eq(get_be(inner + 32, 8), 0x3ff0000000000000ULL, "ratio");
	*top = 0;
	for (off = 40; off < in;) {
		for (z = 0, shift = 0; inner[off] & 0x80; shift += 7)
			z |= (uint64_t)(inner[off++] & 0x7f) << shift;
		z |= (uint64_t)inner[off++] << shift;
		count = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
		if (count < 0) {
			idx += -count;
			continue;
		}
		total += count;
		/* Index to value: 128 sub-buckets to each bucket above. */
		bucket = idx < 256 ? 0 : idx / 128 - 1;
		sub = idx < 256 ? idx : idx % 128 + 128;
		*top = (uint64_t)sub << bucket;
		idx++;
	}
	return total;
}

Test(echoload, hdr_log_decodes_to_the_counts)
{
	char		*out, *err, *log, *line, *save, *comma, dir[64];
	char		 path[128];
	double		 start = -1, prev_end = 0, max_ms;
	uint64_t	 total = 0, n, top;
	int		 rc, lines = 0;

	test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/run.hlog", dir);
	rc = broken_load("stall", "150", "300", &out, &err, (const char *[]){
	    "-q", "--json", "-c", "1", "-r", "200", "-d", "2s", "--hdr-log",
	    path, NULL }, NULL);
	expect_clean(out, err, rc, 400);
	log = read_file(path);
	cr_assert(strncmp(log, "#[Logged with echoload ", 23) == 0, "%s", log);
	cr_assert_not_null(strstr(log, "\n#[Histogram log format version "
	    "1.3]\n#[StartTime: "), "%s", log);
	cr_assert_not_null(strstr(log, " (seconds since epoch), "), "%s", log);
	cr_assert_not_null(strstr(log, "\n\"StartTimestamp\",\"Interval_Length"
	    "\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"), "%s",
	    log);
	for (line = strtok_r(log, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == '"')
			continue;
		start = strtod(line, &comma);
		cr_assert_eq(*comma, ',');
		cr_assert_lt(start - prev_end, 0.0005, "%s", line);
		prev_end = start + strtod(comma + 1, &comma);
		max_ms = strtod(comma + 1, &comma);
		cr_assert_eq(*comma, ',', "%s", line);
		n = hdr_decode(comma + 1, &top);
		total += n;
		if (n != 0) {
			/* Within the 1 % of two significant digits. */
			cr_assert_geq(top, max_ms * 1e6 * 0.99 - 1, "%s", line);
			cr_assert_leq(top, max_ms * 1e6 * 1.01 + 1, "%s", line);
		}
		lines++;
	}
	cr_assert_geq(lines, 2);
	cr_assert_eq(total, json_number(out, "measured"), "%s", out);
	free(log);
	free(out);
	free(err);
	unlink(path);
	rmdir(dir);
}

/*
 * --reconnect: each connection the server closes is counted and opened
 * again, so the run goes on and the errors are a rate over requests.
 */
Test(echoload, reconnect_keeps_the_run_going)
{
	char	*out, *err;
	double	 opened, closed, pct;
	int	 rc;

	/* Every connection closed after 100 replies. */
	rc = broken_load("close", "6800", NULL, &out, &err, (const char *[]){
	    "-q", "--json", "-c", "2", "-d", "1s", "--reconnect", NULL },
	    NULL);
	cr_assert_eq(rc, 1, "%s", err);
	opened = json_number(out, "connections_opened");
	closed = json_number(out, "errors.closed");
	cr_assert_geq(closed, 4, "%s", out);
	/* Each failure opened one more, but the last of each connection's. */
	cr_assert_geq(opened, closed, "%s", out);
	cr_assert_leq(opened, closed + 2, "%s", out);
	cr_assert_geq(json_number(out, "replies"), 100 * closed, "%s", out);
	cr_assert_gt(json_number(out, "duration_s"), 0.9, "%s", out);
	pct = 100 * closed / json_number(out, "requests_sent");
	cr_assert_geq(json_number(out, "errors.percent"), pct - 0.0001, "%s",
	    out);
	cr_assert_leq(json_number(out, "errors.percent"), pct + 0.0001, "%s",
	    out);
	free(out);
	free(err);
}

/* ---- load shapes ---- */

/* -s MIN-MAX: each request's length drawn from the range, all checked. */
Test(echoload, sizes_from_a_range)
{
	struct echod	 e;
	char		*out, *err, t[64];
	double		 sent;
	int		 rc;

	echod_start(&e, "-U", NULL);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-D", "4", "-n", "2000", "-s", "64-1k", target(t, sizeof(t), "",
	    e.port), NULL });
	expect_clean(out, err, rc, 2000);
	cr_assert_eq(json_number(out, "length"), 64, "%s", out);
	cr_assert_eq(json_number(out, "length_max"), 1024, "%s", out);
	sent = json_number(out, "bytes_sent");
	/* A mean near 544: far from either end. */
	cr_assert_gt(sent, 2000 * 400, "%s", out);
	cr_assert_lt(sent, 2000 * 700, "%s", out);
	cr_assert_eq(json_number(out, "bytes_received"), sent + 2000 * 4);
	free(out);
	free(err);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "2",
	    "-n", "500", "-r", "1000", "-s", "24-200", target(t, sizeof(t),
	    "udp:", e.port), NULL });
	expect_clean(out, err, rc, 500);
	cr_assert_eq(json_number(out, "bytes_received"),
	    json_number(out, "bytes_sent") + 500 * 4);
	free(out);
	free(err);
	echod_finish(&e);
}

/* -r N:M: the rate goes from N to M over -d. */
Test(echoload, rate_ramp)
{
	struct echod	 e;
	char		*out, *err, *line, *save, t[64];
	double		 first = 0, last = 0;
	int		 rc;

	echod_start(&e, NULL);
	rc = echoload(&out, &err, (const char *[]){ "--json", "-c", "2", "-r",
	    "200:1k", "-d", "2s", "-i", "500ms", target(t, sizeof(t), "",
	    e.port), NULL });
	cr_assert_eq(rc, 0, "%s", err);
	/* 200 to 1000 a second, in a line: 1200 in 2 s. */
	cr_assert_geq(json_number(out, "requests_sent"), 1140, "%s", out);
	cr_assert_leq(json_number(out, "requests_sent"), 1260, "%s", out);
	cr_assert_eq(json_number(out, "rate_end"), 1000, "%s", out);
	for (line = strtok_r(err, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (json_number(line, "interval_s") < 0.4)
			continue;
		if (first == 0)
			first = json_number(line, "sent");
		last = json_number(line, "sent");
	}
	/* The first half second near 300/s, the last near 900/s. */
	cr_assert_lt(first, 200, "%f", first);
	cr_assert_gt(last, 400, "%f", last);
	free(out);
	free(err);
	echod_finish(&e);
}

/* --connect-rate: connections opened no faster than asked. */
Test(echoload, connect_rate)
{
	struct echod	 e;
	char		*out, *err, t[64];
	int		 rc;

	echod_start(&e, NULL);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-m",
	    "churn", "-c", "2", "--connect-rate", "20", "-d", "1s",
	    target(t, sizeof(t), "", e.port), NULL });
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_geq(json_number(out, "connections_opened"), 15, "%s", out);
	cr_assert_leq(json_number(out, "connections_opened"), 23, "%s", out);
	free(out);
	free(err);
	echod_finish(&e);
}

/* echoload's RSS holding n idle connections, once all are open. */
static long
idle_rss_kb(int port, const char *n)
{
	struct echod	 load;
	char		 t[64];
	long		 kb;

	program_spawn(&load, "ECHOLOAD", (const char *[]){ "-m", "idle",
	    "-c", n, "-T", "1", "-d", "3s", target(t, sizeof(t), "", port),
	    NULL });
	cr_assert(echod_wait_log(&load, "echoload: 2 s: ", WAIT_MS), "%s",
	    load.log ? load.log : "");
	cr_assert_not_null(strstr(strstr(load.log, "echoload: 2 s: "),
	    strcmp(n, "1") == 0 ? " 1 open, 0 errors" : " 2000 open, 0 errors"),
	    "%s", load.log);
	kb = echod_rss_kb(&load);
	cr_assert_eq(echod_wait_exit(&load, WAIT_MS), 0, "%s", load.log);
	echod_free(&load);
	return kb;
}

/*
 * An idle connection costs echoload about what it costs echod (about a
 * kilobyte), not a 64 KiB output buffer of its own (9 KB resident).  The
 * bound leaves room for the sanitizer builds CI also runs this against:
 * 0.8 KB plain, 1.3 KB under ASan, 4.8 KB under TSan's shadow memory.
 */
Test(echoload, an_idle_connection_costs_little)
{
	struct echod	 e;
	long		 one, many;

	echod_start(&e, "-c", "5000", NULL);
	one = idle_rss_kb(e.port, "1");
	many = idle_rss_kb(e.port, "2000");
	cr_assert_lt((many - one) * 1024 / 1999, 6000, "%ld kB, %ld kB", one,
	    many);
	echod_finish(&e);
}

/* --source: connections spread over local addresses, in turn. */
Test(echoload, source_addresses_in_turn)
{
	struct echod	 e;
	char		*out, *err, t[64];
	int		 rc;

	echod_start(&e, "-v", NULL);
	rc = echoload(&out, &err, (const char *[]){ "-q", "--json", "-c", "6",
	    "-n", "600", "--source", "127.0.0.2-127.0.0.3,127.0.0.5",
	    target(t, sizeof(t), "", e.port), NULL });
	expect_clean(out, err, rc, 600);
	free(out);
	free(err);
	cr_assert_eq(echod_stop(&e), 0, "%s", e.log);
	cr_assert_eq(echod_log_count(&e, "Connection from 127.0.0.2:"), 2,
	    "%s", e.log);
	cr_assert_eq(echod_log_count(&e, "Connection from 127.0.0.3:"), 2);
	cr_assert_eq(echod_log_count(&e, "Connection from 127.0.0.5:"), 2);
	cr_assert_eq(echod_log_count(&e, "Connection from 127.0.0.1:"), 0);
	echod_free(&e);

	/* An address not on this machine: no socket can have it. */
	rc = echoload(&out, &err, (const char *[]){ "-q", "-c", "1", "-n",
	    "1", "--source", "192.0.2.1", "127.0.0.1:7", NULL });
	cr_assert_eq(rc, 2, "%s", err);
	cr_assert_str_eq(err, "echoload: connect: connection 0: bind: Cannot "
	    "assign requested address\n");
	free(out);
	free(err);
}
