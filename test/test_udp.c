/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Integration: -U, UDP echo (RFC 862) beside TCP. */
#include "config.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <arpa/inet.h>
#include <linux/net_tstamp.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(udp, .timeout = 30);

/* A UDP client on 127.0.0.1, from source_port (0: any). */
static int
udp_client(int port, int source_port)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	int			 fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(fd, -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(source_port);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
	    "bind: %s", strerror(errno));
	sin.sin_port = htons(port);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Receives one datagram, waiting at most WAIT_MS. */
static ssize_t
udp_recv(int fd, void *buf, size_t len)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };

	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "no reply");
	return recv(fd, buf, len, 0);
}

static void
udp_expect(int fd, const void *send_buf, size_t send_len, const char *want,
    size_t want_len)
{
	char	 got[256];

	cr_assert_eq(send(fd, send_buf, send_len, 0), (ssize_t)send_len);
	cr_assert_eq(udp_recv(fd, got, sizeof(got)), (ssize_t)want_len);
	cr_assert_arr_eq(got, want, want_len);
}

Test(udp, every_datagram_comes_back_whole)
{
	struct echod	 e;
	int		 fd, port, tcp;

	echod_start(&e, "-U", "--proxy-protocol", "127.0.0.1:0", NULL);
	port = echod_port_of(&e, "udp:127.0.0.1:");
	cr_assert_eq(port, e.port, "UDP and TCP on the same port");
	/* Beside the plain listener only, not the PROXY one. */
	cr_assert_eq(echod_log_count(&e, "udp:"), 1, "%s", e.log);
	fd = udp_client(port, 0);
	udp_expect(fd, "Hello", 5, "GOT:Hello", 9);
	/* Datagrams are not lines: no framing, newlines and NULs kept. */
	udp_expect(fd, "a\nb\0c", 5, "GOT:a\nb\0c", 9);
	udp_expect(fd, "", 0, "GOT:", 4);
	/* TCP beside it, unchanged. */
	tcp = client_connect(e.port);
	client_echo(tcp, "tcp");
	close(tcp);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "UDP: 3 datagrams in, 3 echoed, "
	    "0 truncated, 0 not answered (0 could loop or amplify, 0 over a "
	    "rate limit)\n"), "%s", e.log);
	echod_free(&e);
}

Test(udp, reply_too_big_for_a_datagram_is_cut_and_counted)
{
	struct echod	 e;
	static char	 big[65507], got[65536];
	char		 want[96];
	int		 fd;

	echod_start(&e, "-U", "-v", NULL);
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	memset(big, 'x', sizeof(big));
	cr_assert_eq(send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	cr_assert_eq(udp_recv(fd, got, sizeof(got)), 65507);
	cr_assert_arr_eq(got, "GOT:", 4);
	cr_assert_arr_eq(got + 4, big, 65503);
	cr_assert(echod_wait_log(&e, "reply cut from 65511 to 65507 bytes",
	    WAIT_MS), "%s", e.log);
	/* An ordinary one, as -v logs it. */
	cr_assert_eq(send(fd, "small", 5, 0), 5);
	cr_assert_eq(udp_recv(fd, got, sizeof(got)), 9);
	snprintf(want, sizeof(want), "echod: udp 127.0.0.1:%d: 5 bytes "
	    "echoed\n", client_local_port(fd));
	cr_assert(echod_wait_log(&e, want, WAIT_MS), "%s", e.log);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "UDP: 2 datagrams in, 2 echoed, "
	    "1 truncated, 0 not answered"), "%s", e.log);
	echod_free(&e);
}

/* As inetd does: no reply to ports below 1024, where loops would start. */
Test(udp, privileged_source_port_is_not_answered)
{
	struct echod	 e;
	int		 low, fd, port;

	if (geteuid() != 0)
		cr_skip_test("binding port 1023 needs root");
	echod_start(&e, "-U", "-v", "-P", "", NULL);
	port = echod_port_of(&e, "udp:127.0.0.1:");
	low = udp_client(port, 1023);
	cr_assert_eq(send(low, "loop?", 5, 0), 5);
	cr_assert(echod_wait_log(&e, "udp 127.0.0.1:1023: privileged source "
	    "port, not answered", WAIT_MS), "%s", e.log);
	cr_assert(client_quiet_for(low, 100));
	fd = udp_client(port, 0);
	udp_expect(fd, "ok", 2, "ok", 2);
	close(fd);
	close(low);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "UDP: 2 datagrams in, 1 echoed, "
	    "0 truncated, 1 not answered (1 could loop or amplify, 0 over a "
	    "rate limit)\n"), "%s", e.log);
	echod_free(&e);
}

/*
 * A client that floods datagrams and never reads: echod never waits for
 * it, and a TCP client is served meanwhile (the exit line counts every
 * datagram, answered or cut).
 */
Test(udp, a_flood_never_blocks_tcp)
{
	struct echod	 e;
	char		 dgram[1024];
	const char	*line;
	unsigned long long in, echoed;
	int		 fd, tcp, i, rcvbuf = 4096;

	echod_start(&e, "-U", "--threads", "2", "--udp-source-rate", "0",
	    "--udp-source-bytes", "0", "--udp-total-rate", "0",
	    "--udp-total-bytes", "0", NULL);
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(dgram, 'u', sizeof(dgram));
	tcp = client_connect(e.port);
	for (i = 0; i < 2000; i++) {
		cr_assert_eq(send(fd, dgram, sizeof(dgram), 0),
		    (ssize_t)sizeof(dgram));
		if (i % 500 == 0)
			client_echo(tcp, "still here");
	}
	client_echo(tcp, "after");
	close(tcp);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0);
	/* What the kernel let in was answered, every one of it. */
	cr_assert_not_null(line = strstr(e.log, "UDP: "), "%s", e.log);
	cr_assert_eq(sscanf(line, "UDP: %llu datagrams in, %llu echoed, 0 "
	    "truncated, 0 not answered", &in, &echoed), 2, "%s", e.log);
	cr_assert_eq(in, echoed, "%s", e.log);
	cr_assert_gt(in, 0, "%s", e.log);
	echod_free(&e);
}

/* Software receive timestamps on a socket, the kernel's clock. */
static void
stamp_on(int fd)
{
	int	 flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;

	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags,
	    sizeof(flags)), 0, "SO_TIMESTAMPING: %s", strerror(errno));
}

/* Receives into buf; *ns: when the kernel received the (last) packet. */
static ssize_t
recv_stamped(int fd, void *buf, size_t len, uint64_t *ns)
{
	char		 control[256];
	struct iovec	 iov = { buf, len };
	struct msghdr	 msg = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = control,
			    .msg_controllen = sizeof(control) };
	struct cmsghdr	*cm;
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	ssize_t		 n;

	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "no reply");
	cr_assert_gt(n = recvmsg(fd, &msg, 0), 0);
	*ns = 0;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_TIMESTAMPING) {
			struct timespec ts[3];

			memcpy(ts, CMSG_DATA(cm), sizeof(ts));
			*ns = ts[0].tv_sec * 1000000000ULL + ts[0].tv_nsec;
		}
	cr_assert_neq(*ns, 0, "no timestamp");
	return n;
}

/*
 * The per-wakeup cap: with the server stopped, 150 datagrams and then a
 * TCP line wait for it; once it runs, it answers at most a batch or two
 * of datagrams before the line.  Without the cap it would answer all 150
 * first, as each read empties the socket.
 */
Test(udp, a_backlog_of_datagrams_waits_its_turn)
{
	struct echod	 e;
	char		 buf[256];
	uint64_t	 tcp_ns, ns;
	int		 fd, tcp, i, before, most = 0, round, status;
	int		 rcvbuf = 1 << 20;

	echod_start(&e, "-U", "--udp-source-rate", "0", "--udp-source-bytes",
	    "0", "--udp-total-rate", "0", "--udp-total-bytes", "0", NULL);
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	stamp_on(fd);
	tcp = client_connect(e.port);
	client_echo(tcp, "first");
	stamp_on(tcp);
	/*
	 * Three rounds: the loop may find the line ready first (then no
	 * datagram comes before it, cap or not); the most answered before
	 * it in any round is what tells.
	 */
	for (round = 0; round < 3; round++) {
		cr_assert_eq(kill(e.pid, SIGSTOP), 0);
		cr_assert_eq(waitpid(e.pid, &status, WUNTRACED), e.pid);
		cr_assert(WIFSTOPPED(status));
		for (i = 0; i < 150; i++) {
			snprintf(buf, sizeof(buf), "datagram %03d", i);
			cr_assert_eq(send(fd, buf, strlen(buf), 0),
			    (ssize_t)strlen(buf));
		}
		client_send(tcp, "line\n", 5);
		cr_assert_eq(kill(e.pid, SIGCONT), 0);
		cr_assert_eq(recv_stamped(tcp, buf, sizeof(buf), &tcp_ns), 9);
		cr_assert_arr_eq(buf, "GOT:line\n", 9);
		for (before = 0, i = 0; i < 150; i++) {
			char	 want[32];

			cr_assert_eq(recv_stamped(fd, buf, sizeof(buf), &ns),
			    16);
			snprintf(want, sizeof(want), "GOT:datagram %03d", i);
			cr_assert_arr_eq(buf, want, 16);
			before += ns < tcp_ns;
		}
		most = before > most ? before : most;
	}
	cr_assert_leq(most, 2 * 64, "%d datagrams answered before the line",
	    most);
	close(fd);
	close(tcp);
	echod_finish(&e);
}

/* The UDP exit line's figures: in, echoed, refused, limited. */
struct udp_totals {
	unsigned long long	 in, echoed, cut, unanswered, refused, limited;
};

static struct udp_totals
udp_totals(struct echod *e)
{
	struct udp_totals	 t;
	const char		*line;

	cr_assert_not_null(line = strstr(e->log, "UDP: "), "%s", e->log);
	cr_assert_eq(sscanf(line, "UDP: %llu datagrams in, %llu echoed, %llu "
	    "truncated, %llu not answered (%llu could loop or amplify, %llu "
	    "over a rate limit)", &t.in, &t.echoed, &t.cut, &t.unanswered,
	    &t.refused, &t.limited), 6, "%s", line);
	return t;
}

/*
 * One datagram with any source, as an attacker forges it (raw socket,
 * root only).  Only loopback addresses, so that no reply leaves here.
 */
static void
udp_forge(const char *src, int sport, const char *dst, int dport,
    const void *data, size_t len)
{
	struct {
		struct iphdr	 ip;
		struct udphdr	 udp;
		char		 data[512];
	} __attribute__((packed)) pkt;
	struct sockaddr_in	 to = { .sin_family = AF_INET };
	size_t			 total = sizeof(pkt.ip) + sizeof(pkt.udp) + len;
	int			 fd;

	cr_assert_leq(len, sizeof(pkt.data));
	memset(&pkt, 0, sizeof(pkt));
	pkt.ip.version = 4;
	pkt.ip.ihl = 5;
	pkt.ip.ttl = 64;
	pkt.ip.protocol = IPPROTO_UDP;
	pkt.ip.tot_len = htons(total);
	cr_assert_eq(inet_pton(AF_INET, src, &pkt.ip.saddr), 1);
	cr_assert_eq(inet_pton(AF_INET, dst, &pkt.ip.daddr), 1);
	cr_assert_eq(ntohl(pkt.ip.saddr) >> 24, 127, "loopback only");
	cr_assert_eq(ntohl(pkt.ip.daddr) >> 24, 127, "loopback only");
	pkt.udp.source = htons(sport);
	pkt.udp.dest = htons(dport);
	pkt.udp.len = htons(sizeof(pkt.udp) + len);
	memcpy(pkt.data, data, len);
	to.sin_addr.s_addr = pkt.ip.daddr;
	cr_assert_neq(fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW), -1,
	    "raw socket: %s", strerror(errno));
	cr_assert_eq(sendto(fd, &pkt, total, 0, (struct sockaddr *)&to,
	    sizeof(to)), (ssize_t)total, "sendto: %s", strerror(errno));
	close(fd);
}

static void
need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("forging datagrams and switching users need root");
}

/*
 * Asks for the counters (SIGUSR1) until the one named has reached n:
 * datagrams are counted as the loop reads them, after the send here.
 */
static void
udp_wait_stat(struct echod *e, const char *name, unsigned int n)
{
	char	 want[96];
	long	 deadline = now_ms() + WAIT_MS;

	snprintf(want, sizeof(want), "%s %u,", name, n);
	while (!echod_log_has(e, want)) {
		/* The log's end only: a flood can make it megabytes. */
		cr_assert_lt(now_ms(), deadline, "want '%s' in: ...%s", want,
		    e->log + (e->log_len > 4096 ? e->log_len - 4096 : 0));
		cr_assert_eq(kill(e->pid, SIGUSR1), 0);
		cr_assert(echod_wait_log(e, "counters:", WAIT_MS), "...%s",
		    e->log + (e->log_len > 4096 ? e->log_len - 4096 : 0));
	}
}

static void
udp_wait_refused(struct echod *e, unsigned int n)
{
	udp_wait_stat(e, "UDP could loop or amplify", n);
}

/*
 * The "Loop DoS": one forged datagram from one echo server's port to
 * another's.  Without the rules they answer each other forever.
 */
Test(udp, a_forged_loop_between_two_servers_stops_at_once)
{
	struct echod		 a, b;
	struct udp_totals	 ta, tb;

	need_root();
	echod_start(&a, "-U", NULL);
	echod_start(&b, "-U", NULL);
	udp_forge("127.0.0.1", a.port, "127.0.0.1", b.port, "hello\n", 6);
	/* b answers a's "request"; a sees its prefix and stops there. */
	udp_wait_refused(&a, 1);
	cr_assert_eq(echod_stop(&a), 0);
	cr_assert_eq(echod_stop(&b), 0);
	ta = udp_totals(&a);
	tb = udp_totals(&b);
	cr_assert_eq(tb.in, 1, "%s", b.log);
	cr_assert_eq(tb.echoed, 1, "%s", b.log);
	cr_assert_eq(ta.in, 1, "%s", a.log);
	cr_assert_eq(ta.echoed, 0, "%s", a.log);
	cr_assert_eq(ta.refused, 1, "%s", a.log);
	cr_assert(echod_log_has(&a, "begins with the prefix, an echo's "
	    "answer, not answered"), "%s", a.log);
	echod_free(&a);
	echod_free(&b);
}

/*
 * A free port below the kernel's range for clients, as an administrator
 * gives a server: 20000 to 29999, which that range does not reach here.
 */
static int
server_port(void)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	int			 port, u, t, tries;
	bool			 free_port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (tries = 0; tries < 100; tries++) {
		port = 20000 + (getpid() * 7919 + tries * 104729) % 10000;
		sin.sin_port = htons(port);
		u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		free_port = bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(u);
		close(t);
		if (free_port)
			return port;
	}
	cr_assert_fail("no free port between 20000 and 29999");
	return -1;
}

/* echod -U with the prefix, its UDP on that port of 127.0.0.1. */
static void
udp_server_at(struct echod *e, int port, const char *prefix)
{
	char		 listen[32];
	const char	*args[] = { "-U", "-P", prefix, "-l", listen, NULL };

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	echod_spawn(e, args);
	cr_assert(echod_wait_log(e, "listening on", WAIT_MS), "%s", e->log);
	e->port = port;
}

/*
 * Two echod whose prefixes are no help (both empty: each answers the
 * other's answer as a request), on ports an administrator would give
 * them.  A datagram forged from one to the other: each answers the
 * other's copy of its own reply twice more, then b's third is refused.
 */
Test(udp, a_forged_loop_between_two_servers_without_prefix_stops)
{
	struct echod		 a, b;
	struct udp_totals	 ta, tb;

	need_root();
	udp_server_at(&a, server_port(), "");
	udp_server_at(&b, server_port(), "");
	udp_forge("127.0.0.1", b.port, "127.0.0.1", a.port, "hello", 5);
	udp_wait_refused(&a, 1);
	cr_assert_eq(echod_stop(&a), 0);
	cr_assert_eq(echod_stop(&b), 0);
	ta = udp_totals(&a);
	tb = udp_totals(&b);
	cr_assert_eq(ta.echoed, 3, "%s", a.log);
	cr_assert_eq(ta.in, 4, "%s", a.log);
	cr_assert_eq(ta.refused, 1, "%s", a.log);
	cr_assert_eq(tb.in, 3, "%s", b.log);
	cr_assert_eq(tb.echoed, 3, "%s", b.log);
	cr_assert(echod_log_has(&a, "holds the reply just sent there, an "
	    "echo loop, not answered (such lines"), "%s", a.log);
	echod_free(&a);
	echod_free(&b);
}

/*
 * Two prefixes, each the other's stranger: b's answer is b's prefix
 * before a's reply, which a refuses at once.  Ports from the kernel's
 * client range this time: with a prefix, the port is no matter.
 */
Test(udp, a_forged_loop_between_two_prefixes_stops_at_once)
{
	struct echod		 a, b;
	struct udp_totals	 ta, tb;

	need_root();
	echod_start(&a, "-U", "-P", "A:", NULL);
	echod_start(&b, "-U", "-P", "B:", NULL);
	udp_forge("127.0.0.1", b.port, "127.0.0.1", a.port, "hello", 5);
	udp_wait_refused(&a, 1);
	cr_assert_eq(echod_stop(&a), 0);
	cr_assert_eq(echod_stop(&b), 0);
	ta = udp_totals(&a);
	tb = udp_totals(&b);
	cr_assert_eq(ta.in, 2, "%s", a.log);
	cr_assert_eq(ta.echoed, 1, "%s", a.log);
	cr_assert_eq(tb.in, 1, "%s", b.log);
	cr_assert_eq(tb.echoed, 1, "%s", b.log);
	cr_assert(echod_log_has(&a, "holds the reply just sent there, an "
	    "echo loop, not answered"), "%s", a.log);
	echod_free(&a);
	echod_free(&b);
}

/*
 * Loops forged side by side: each finds the other's reply the last one
 * sent, so a guard that remembered one reply let them run until a rate
 * limit dropped a datagram (2 loops between '' and '': 12,409 echoes;
 * with the source limits off, without end).  Each ends as one alone.
 */
Test(udp, loops_forged_side_by_side_stop_as_one_does)
{
	struct echod		 a, b;
	struct udp_totals	 ta, tb;

	need_root();
	udp_server_at(&a, server_port(), "");
	udp_server_at(&b, server_port(), "");
	udp_forge("127.0.0.1", b.port, "127.0.0.1", a.port, "hello", 5);
	udp_forge("127.0.0.1", b.port, "127.0.0.1", a.port, "world", 5);
	udp_forge("127.0.0.1", b.port, "127.0.0.1", a.port, "again", 5);
	udp_wait_refused(&a, 3);
	cr_assert_eq(echod_stop(&a), 0);
	cr_assert_eq(echod_stop(&b), 0);
	ta = udp_totals(&a);
	tb = udp_totals(&b);
	cr_assert_eq(ta.echoed, 9, "%s", a.log);
	cr_assert_eq(ta.refused, 3, "%s", a.log);
	cr_assert_eq(tb.echoed, 9, "%s", b.log);
	echod_free(&a);
	echod_free(&b);
}

/*
 * More loops side by side than the replies kept for one address and
 * port (before: all of them ran until a rate limit dropped a datagram).
 */
Test(udp, eight_loops_forged_side_by_side_stop_as_one_does)
{
	struct echod		 a, b;
	struct udp_totals	 ta, tb;
	char			 d[16];
	int			 i;

	need_root();
	udp_server_at(&a, server_port(), "");
	udp_server_at(&b, server_port(), "");
	for (i = 0; i < 8; i++) {
		snprintf(d, sizeof(d), "loop %d", i);
		udp_forge("127.0.0.1", b.port, "127.0.0.1", a.port, d,
		    strlen(d));
	}
	udp_wait_refused(&a, 8);
	cr_assert_eq(echod_stop(&a), 0);
	cr_assert_eq(echod_stop(&b), 0);
	ta = udp_totals(&a);
	tb = udp_totals(&b);
	cr_assert_eq(ta.echoed, 8 * 3, "%s", a.log);
	cr_assert_eq(ta.refused, 8, "%s", a.log);
	cr_assert_eq(tb.echoed, 8 * 3, "%s", b.log);
	echod_free(&a);
	echod_free(&b);
}

/* The same with two prefixes: each loop is refused at its first return. */
Test(udp, loops_forged_side_by_side_between_prefixes_stop_at_once)
{
	struct echod		 a, b;
	struct udp_totals	 ta, tb;

	need_root();
	echod_start(&a, "-U", "-P", "A:", NULL);
	echod_start(&b, "-U", "-P", "B:", NULL);
	udp_forge("127.0.0.1", b.port, "127.0.0.1", a.port, "hello", 5);
	udp_forge("127.0.0.1", b.port, "127.0.0.1", a.port, "world", 5);
	udp_forge("127.0.0.1", b.port, "127.0.0.1", a.port, "again", 5);
	udp_wait_refused(&a, 3);
	cr_assert_eq(echod_stop(&a), 0);
	cr_assert_eq(echod_stop(&b), 0);
	ta = udp_totals(&a);
	tb = udp_totals(&b);
	cr_assert_eq(ta.in, 6, "%s", a.log);
	cr_assert_eq(ta.echoed, 3, "%s", a.log);
	cr_assert_eq(tb.echoed, 3, "%s", b.log);
	echod_free(&a);
	echod_free(&b);
}

/*
 * Another echo: every datagram back, unchanged as RFC 862 has it, or
 * with a prefix or a suffix of its own, after a delay if asked (the
 * round trip of a slow path), counted.
 */
struct plain_echo {
	int		 fd;
	pthread_t	 thread;
	atomic_bool	 stop;
	atomic_int	 echoed;
	const char	*prefix;	/* NULL: none */
	const char	*suffix;
	int		 delay_ms;
	size_t		 buffer;	/* what it reads of each; 0: all */
};

static void *
plain_echo_run(void *arg)
{
	struct plain_echo	*pe = arg;
	struct pollfd		 pfd = { .fd = pe->fd, .events = POLLIN };
	struct sockaddr_storage	 from;
	socklen_t		 fromlen;
	char			 buf[2048];
	const char		*prefix = pe->prefix ? pe->prefix : "";
	const char		*suffix = pe->suffix ? pe->suffix : "";
	size_t			 plen = strlen(prefix), slen = strlen(suffix);
	size_t			 room = sizeof(buf) - plen - slen;
	ssize_t			 n;

	memcpy(buf, prefix, plen);
	while (!pe->stop) {
		if (poll(&pfd, 1, 50) != 1)
			continue;
		fromlen = sizeof(from);
		n = recvfrom(pe->fd, buf + plen, pe->buffer != 0 &&
		    pe->buffer < room ? pe->buffer : room, MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			continue;
		memcpy(buf + plen + n, suffix, slen);
		n += plen + slen;
		if (pe->delay_ms > 0)
			(void)poll(NULL, 0, pe->delay_ms);
		if (sendto(pe->fd, buf, n, 0, (struct sockaddr *)&from,
		    fromlen) == n)
			pe->echoed++;
	}
	return NULL;
}

/*
 * port 0: one the kernel picks, from its range for clients.  What the
 * echo adds, and its delay, are set in *pe before.
 */
static void
plain_echo_start(struct plain_echo *pe, int port)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };

	pe->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(pe->fd, -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	cr_assert_eq(bind(pe->fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
	    "bind: %s", strerror(errno));
	pe->stop = false;
	pe->echoed = 0;
	cr_assert_eq(pthread_create(&pe->thread, NULL, plain_echo_run, pe),
	    0);
}

static int
plain_echo_stop(struct plain_echo *pe)
{
	pe->stop = true;
	pthread_join(pe->thread, NULL);
	close(pe->fd);
	return pe->echoed;
}

/*
 * echod without a prefix (and with --udp-repeats, unless NULL) and an
 * echo that is not echod (set up in *pe), started by one datagram
 * "from" that echo (sent from its socket: no forging needed).
 */
static void
loop_with_echo_repeats(struct plain_echo *pe, int echo_port,
    const char *seed, const char *repeats, unsigned int answers)
{
	struct echod		 e;
	struct udp_totals	 t;
	struct sockaddr_in	 to = { .sin_family = AF_INET };

	if (repeats != NULL)
		echod_start(&e, "-U", "-P", "", "--udp-repeats", repeats,
		    NULL);
	else
		echod_start(&e, "-U", "-P", "", NULL);
	plain_echo_start(pe, echo_port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons(e.port);
	cr_assert_eq(sendto(pe->fd, seed, strlen(seed), 0,
	    (struct sockaddr *)&to, sizeof(to)), (ssize_t)strlen(seed));
	udp_wait_refused(&e, 1);
	cr_assert_eq(echod_stop(&e), 0);
	t = udp_totals(&e);
	cr_assert_eq(plain_echo_stop(pe), (int)answers);
	cr_assert_eq(t.echoed, answers, "%s", e.log);
	cr_assert_eq(t.in, answers + 1, "%s", e.log);
	cr_assert_eq(t.refused, 1, "%s", e.log);
	echod_free(&e);
}

static void
loop_with_echo(struct plain_echo *pe, int echo_port, const char *seed,
    unsigned int answers)
{
	loop_with_echo_repeats(pe, echo_port, seed, NULL, answers);
}

Test(udp, a_loop_with_another_echo_on_a_server_port_stops)
{
	struct plain_echo	 pe = { .delay_ms = 0 };

	loop_with_echo(&pe, server_port(), "hello", 1 + 2);
}

/*
 * The same over a path whose round trip takes over a second (before: a
 * reply was looked for a second only, and such a loop never ended).
 */
Test(udp, a_loop_slower_than_a_second_stops)
{
	struct plain_echo	 pe = { .delay_ms = 1200 };

	loop_with_echo(&pe, server_port(), "hello", 1 + 2);
}

/*
 * On a port from the kernel's client range, that echo cannot be told
 * from a client repeating itself back to back: 1,000 turns, then cut.
 */
Test(udp, a_loop_with_another_echo_on_a_client_port_is_cut)
{
	struct plain_echo	 pe = { .delay_ms = 0 };

	loop_with_echo(&pe, 0, "hello", 1 + 1000);
}

/*
 * --udp-repeats moves that line: a loop on a client's port ends after
 * n + 1 answers; 0 ends it at its first return.  A server's port keeps
 * its count of two, whatever n.
 */
Test(udp, udp_repeats_sets_where_a_loop_on_a_client_port_is_cut)
{
	struct plain_echo	 pe = { .delay_ms = 0 };

	loop_with_echo_repeats(&pe, 0, "hello", "5", 1 + 5);
	loop_with_echo_repeats(&pe, 0, "hello", "0", 1);
	loop_with_echo_repeats(&pe, server_port(), "hello", "5000", 1 + 2);
}

/*
 * An echo that puts something of its own before and after each reply:
 * the loop ends after two returns (before: it was not recognised, and
 * ran until the rate limits).
 */
Test(udp, a_loop_with_an_echo_that_wraps_stops)
{
	struct plain_echo	 pe = { .prefix = "<", .suffix = ">\n" };

	loop_with_echo(&pe, server_port(), "hello, wrapped", 1 + 2);
}

/*
 * Loops side by side with another echo, on a server port, that adds
 * something of its own to each reply, so that each is longer than the
 * last: each ends as one alone does, after two returns.
 */
static void
loops_side_by_side(struct plain_echo *pe, int loops, const char *end)
{
	struct echod		 e;
	struct udp_totals	 t;
	struct sockaddr_in	 to = { .sin_family = AF_INET };
	char			 d[64];
	int			 i;

	echod_start(&e, "-U", "-P", "", NULL);
	plain_echo_start(pe, server_port());
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons(e.port);
	for (i = 0; i < loops; i++) {
		snprintf(d, sizeof(d), "loop %d, %s", i, end);
		cr_assert_eq(sendto(pe->fd, d, strlen(d), 0,
		    (struct sockaddr *)&to, sizeof(to)), (ssize_t)strlen(d));
	}
	udp_wait_refused(&e, loops);
	cr_assert_eq(echod_stop(&e), 0);
	t = udp_totals(&e);
	i = plain_echo_stop(pe);
	cr_assert_eq(t.echoed, loops * 3, "%s", e.log);
	cr_assert_eq(t.refused, loops, "%s", e.log);
	cr_assert_eq(i, loops * 3, "the other echo answered %d", i);
	echod_free(&e);
}

/*
 * echod with its default prefix and an echo that puts its own before
 * what it reads into a 1024-byte buffer, started by one datagram longer
 * than that: the echo cuts each reply short, and echod finds the start
 * of its reply after its prefix, so refuses the first return (before:
 * the loop never ended, not even at the rate limits).
 */
Test(udp, a_loop_with_an_echo_that_cuts_short_stops)
{
	struct echod		 e;
	struct udp_totals	 t;
	struct plain_echo	 pe = { .prefix = "ECHO: ", .buffer = 1024 };
	struct sockaddr_in	 to = { .sin_family = AF_INET };
	static char		 seed[1500];

	memset(seed, 's', sizeof(seed));
	echod_start(&e, "-U", NULL);
	plain_echo_start(&pe, server_port());
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons(e.port);
	cr_assert_eq(sendto(pe.fd, seed, sizeof(seed), 0,
	    (struct sockaddr *)&to, sizeof(to)), (ssize_t)sizeof(seed));
	udp_wait_refused(&e, 1);
	cr_assert_eq(echod_stop(&e), 0);
	t = udp_totals(&e);
	cr_assert_eq(plain_echo_stop(&pe), 1);
	cr_assert_eq(t.echoed, 1, "%s", e.log);
	cr_assert_eq(t.refused, 1, "%s", e.log);
	echod_free(&e);
}

/*
 * An echo that puts a prefix before each reply (before: the replies kept
 * for its address and port were pushed out by the others', and the
 * loops ran on until a rate limit dropped them).
 */
Test(udp, loops_side_by_side_with_a_prefixing_echo_stop_as_one_does)
{
	struct plain_echo	 pe = { .prefix = "B:" };

	loops_side_by_side(&pe, 8, "side by side");
}

/*
 * Three such, all ending alike, so that their replies share one set of
 * the thread's table: each turn takes its last's place (before: each
 * pushed out another loop's, and they ran on).
 */
Test(udp, three_loops_ending_alike_with_a_prefixing_echo_stop)
{
	struct plain_echo	 pe = { .prefix = "B:" };

	loops_side_by_side(&pe, 3, "and the same 24 bytes at the end");
}

/* An echo that ends each reply with a newline (before: one loop ran on). */
Test(udp, loops_with_an_echo_that_adds_a_newline_stop_as_one_does)
{
	struct plain_echo	 pe = { .suffix = "\n" };

	loops_side_by_side(&pe, 8, "side by side");
}

/*
 * What the loop rule must not refuse: a monitor sending one datagram
 * every 50 ms, and one sending it again as soon as it has its answer,
 * without a prefix, so that each datagram is the reply just sent.
 */
Test(udp, a_client_repeating_one_datagram_is_always_answered)
{
	struct echod		 e;
	struct udp_totals	 t;
	int			 fd, i;
	long			 next;

	echod_start(&e, "-U", "-P", "", NULL);
	fd = udp_client(e.port, 0);
	next = now_ms();
	for (i = 0; i < 40; i++) {
		/* The tick, not a synchronisation: a monitor's period. */
		(void)poll(NULL, 0, next - now_ms() > 0 ? next - now_ms() : 0);
		udp_expect(fd, "ping", 4, "ping", 4);
		next += 50;
	}
	for (i = 0; i < 200; i++)
		udp_expect(fd, "ping", 4, "ping", 4);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0);
	t = udp_totals(&e);
	cr_assert_eq(t.in, 240);
	cr_assert_eq(t.echoed, 240);
	cr_assert_eq(t.unanswered, 0);
	echod_free(&e);
}

/* Two echod on their one default port on two hosts; here 127.0.0.1/2. */
Test(udp, a_forged_loop_between_two_hosts_on_one_port_is_refused)
{
	struct echod		 a, b;
	struct udp_totals	 ta, tb;
	char			 listen_b[32];
	const char		*args_b[] = { "-U", "-P", "", "-l", listen_b,
				    NULL };

	need_root();
	/* No prefix, so that only the port rule can stop it. */
	echod_start(&a, "-U", "-P", "", NULL);
	snprintf(listen_b, sizeof(listen_b), "127.0.0.2:%d", a.port);
	echod_spawn(&b, args_b);
	cr_assert(echod_wait_log(&b, "listening on", WAIT_MS), "%s", b.log);
	udp_forge("127.0.0.1", a.port, "127.0.0.2", a.port, "hello\n", 6);
	udp_wait_refused(&b, 1);
	cr_assert_eq(echod_stop(&a), 0);
	cr_assert_eq(echod_stop(&b), 0);
	ta = udp_totals(&a);
	tb = udp_totals(&b);
	cr_assert_eq(ta.in, 0, "%s", a.log);
	cr_assert_eq(tb.in, 1, "%s", b.log);
	cr_assert_eq(tb.echoed, 0, "%s", b.log);
	cr_assert(echod_log_has(&b, "source port is one echod serves, not "
	    "answered"), "%s", b.log);
	echod_free(&a);
	echod_free(&b);
}

/* Source = destination: a server that would answer itself forever. */
Test(udp, a_datagram_forged_from_the_server_itself_is_refused)
{
	struct echod		 e;
	struct udp_totals	 t;

	need_root();
	echod_start(&e, "-U", "-P", "", NULL);
	udp_forge("127.0.0.1", e.port, "127.0.0.1", e.port, "hello\n", 6);
	udp_wait_refused(&e, 1);
	cr_assert_eq(echod_stop(&e), 0);
	t = udp_totals(&e);
	cr_assert_eq(t.in, 1, "%s", e.log);
	cr_assert_eq(t.echoed, 0, "%s", e.log);
	echod_free(&e);
}

/* mDNS, memcached, SSDP: services that answer, so would loop. */
Test(udp, reflecting_service_ports_are_refused)
{
	struct echod		 e;
	struct udp_totals	 t;
	const int		 ports[] = { 1900, 5353, 11211 };
	size_t			 i;

	need_root();
	echod_start(&e, "-U", "-v", NULL);
	for (i = 0; i < 3; i++)
		udp_forge("127.0.0.1", ports[i], "127.0.0.1", e.port, "q", 1);
	udp_wait_refused(&e, 3);
	cr_assert(echod_log_has(&e, "udp 127.0.0.1:5353: source port of a "
	    "reflecting service, not answered"), "%s", e.log);
	cr_assert_eq(echod_stop(&e), 0);
	t = udp_totals(&e);
	cr_assert_eq(t.in, 3);
	cr_assert_eq(t.echoed, 0);
	cr_assert_eq(t.refused, 3);
	echod_free(&e);
}

/* What begins with the prefix is another echo's answer, never a request. */
Test(udp, a_datagram_that_begins_with_the_prefix_is_not_answered)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, "-U", NULL);
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	cr_assert_eq(send(fd, "GOT:Hello", 9, 0), 9);
	udp_wait_refused(&e, 1);
	cr_assert(echod_log_has(&e, "begins with the prefix, an echo's "
	    "answer, not answered (such lines are logged once a minute"),
	    "%s", e.log);
	cr_assert(client_quiet_for(fd, 200));
	udp_expect(fd, "GOT", 3, "GOT:GOT", 7);
	close(fd);
	echod_finish(&e);
}

/*
 * The once-a-minute warning is the process's, not each thread's: refusals
 * from 32 source ports reach both threads' sockets (all on one: 2^-31).
 */
Test(udp, refusals_on_every_thread_make_one_warning)
{
	struct echod	 e;
	int		 fds[32], port, i;

	echod_start(&e, "-U", "--threads", "2", NULL);
	port = echod_port_of(&e, "udp:127.0.0.1:");
	for (i = 0; i < 32; i++) {
		fds[i] = udp_client(port, 0);
		cr_assert_eq(send(fds[i], "GOT:x", 5, 0), 5);
	}
	udp_wait_refused(&e, 32);
	cr_assert_eq(echod_log_count(&e, "not answered (such lines are "
	    "logged once a minute"), 1, "%s", e.log);
	for (i = 0; i < 32; i++)
		close(fds[i]);
	echod_finish(&e);
}

/* A long prefix cannot make echod send more than twice what it got. */
Test(udp, a_long_prefix_does_not_answer_short_datagrams)
{
	struct echod	 e;
	char		 prefix[101], dgram[72], got[256];
	int		 fd;

	memset(prefix, 'p', 100);
	prefix[100] = '\0';
	memset(dgram, 'd', sizeof(dgram));
	echod_start(&e, "-U", "-P", prefix, NULL);
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	cr_assert_eq(send(fd, "", 0, 0), 0);
	cr_assert_eq(send(fd, dgram, 71, 0), 71);
	udp_wait_refused(&e, 2);
	cr_assert(client_quiet_for(fd, 200));
	cr_assert_eq(send(fd, dgram, 72, 0), 72);
	cr_assert_eq(udp_recv(fd, got, sizeof(got)), 172);
	cr_assert_arr_eq(got, prefix, 100);
	cr_assert_arr_eq(got + 100, dgram, 72);
	close(fd);
	echod_finish(&e);
}

Test(udp, the_per_source_rate_limit_holds_and_is_counted)
{
	struct echod		 e;
	struct udp_totals	 t;
	char			 got[64];
	int			 fd, i, answered = 0;

	echod_start(&e, "-U", "--udp-source-rate", "5", NULL);
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	for (i = 0; i < 20; i++)
		cr_assert_eq(send(fd, "x", 1, 0), 1);
	cr_assert(echod_wait_log(&e, "over the per-source rate limit, not "
	    "answered (such lines are logged once a minute", WAIT_MS),
	    "%s", e.log);
	while (!client_quiet_for(fd, 300)) {
		cr_assert_eq(recv(fd, got, sizeof(got), 0), 5);
		answered++;
	}
	cr_assert_eq(echod_stop(&e), 0);
	t = udp_totals(&e);
	/* A second's worth at once, and one more per 200 ms since. */
	cr_assert(answered >= 5 && answered <= 7, "%d answered", answered);
	cr_assert_eq(t.in, 20);
	cr_assert_eq(t.echoed, (unsigned long long)answered);
	cr_assert_eq(t.limited, 20ULL - answered, "%s", e.log);
	cr_assert_eq(echod_log_count(&e, "over the per-source rate limit, "
	    "not answered (such"), 1, "logged once: %s", e.log);
	echod_free(&e);
}

/*
 * An ordinary test client under the default limits: a few thousand
 * datagrams a second, 8 in flight, each answered exactly.
 */
static void
udp_exchange(int fd, int count)
{
	char	 want[64], got[64];
	int	 sent = 0, received = 0, n;

	while (received < count) {
		while (sent < count && sent - received < 8) {
			n = snprintf(want, sizeof(want), "datagram %d", sent);
			cr_assert_eq(send(fd, want, n, 0), n);
			sent++;
		}
		n = snprintf(want, sizeof(want), "GOT:datagram %d", received);
		cr_assert_eq(udp_recv(fd, got, sizeof(got)), n,
		    "reply %d", received);
		cr_assert_arr_eq(got, want, n);
		received++;
	}
}

Test(udp, an_ordinary_client_is_never_limited_by_default)
{
	struct echod		 e;
	struct udp_totals	 t;
	int			 fd;

	echod_start(&e, "-U", "-q", NULL);
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	udp_exchange(fd, 5000);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0);
	t = udp_totals(&e);
	cr_assert_eq(t.in, 5000);
	cr_assert_eq(t.echoed, 5000);
	cr_assert_eq(t.unanswered, 0);
	echod_free(&e);
}

/*
 * 10,000 forged sources, one datagram each: the tables of sources and
 * of the replies sent to them have a fixed size (4,096 entries each,
 * about 0.8 MB together), so memory stays put; and a real client still
 * gets all.
 */
Test(udp, ten_thousand_forged_sources_take_bounded_memory)
{
	struct echod		 e;
	struct udp_totals	 t;
	char			 src[32];
	long			 rss_before, rss_after;
	int			 i, fd;

	need_root();
	echod_start(&e, "-U", "-q", "--udp-source-rate", "1", NULL);
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	udp_exchange(fd, 1);
	rss_before = echod_rss_kb(&e);
	/* In rounds the socket's buffer holds, so that none is lost. */
	for (i = 0; i < 10000; i++) {
		snprintf(src, sizeof(src), "127.1.%d.%d", i / 250, 1 + i % 250);
		udp_forge(src, 40000, "127.0.0.1", e.port, "x", 1);
		if (i % 200 == 199)
			udp_wait_stat(&e, "UDP in", i + 2);
	}
	rss_after = echod_rss_kb(&e);
	cr_assert_lt(rss_after - rss_before, 2048, "RSS %ld -> %ld kB",
	    rss_before, rss_after);
	cr_assert(client_quiet_for(fd, 1100));	/* its bucket refills */
	udp_exchange(fd, 1);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0);
	t = udp_totals(&e);
	cr_assert_eq(t.in, 10002);
	cr_assert_eq(t.echoed + t.unanswered, 10002);
	echod_free(&e);
}

/*
 * Port hijack: with SO_REUSEADDR on a UDP socket, Linux lets any user
 * bind the same port and take its datagrams.  Another user must fail,
 * with either option, with one thread or two (SO_REUSEPORT).
 */
static void
udp_hijack_fails(int port)
{
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == 0) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		int one = 1, fd, ok = 0;

		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(3);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons(port);
		for (int opt = 0; opt < 3; opt++) {
			fd = socket(AF_INET, SOCK_DGRAM, 0);
			if (opt != 1)
				setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				    sizeof(one));
			if (opt != 0)
				setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				    sizeof(one));
			if (bind(fd, (struct sockaddr *)&sin,
			    sizeof(sin)) == 0)
				_exit(10 + opt);
			ok += errno == EADDRINUSE;
			close(fd);
		}
		_exit(ok == 3 ? 0 : 4);
	}
	cr_assert_gt(pid, 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "another user bound the port "
	    "(exit %d: 10 REUSEADDR, 11 REUSEPORT, 12 both)",
	    WEXITSTATUS(status));
}

Test(udp, another_user_cannot_bind_the_udp_port)
{
	struct echod	 e, t;

	need_root();
	echod_start(&e, "-U", NULL);
	udp_hijack_fails(echod_port_of(&e, "udp:127.0.0.1:"));
	echod_finish(&e);
	echod_start(&t, "-U", "--threads", "2", NULL);
	udp_hijack_fails(echod_port_of(&t, "udp:127.0.0.1:"));
	echod_finish(&t);
}

/*
 * A reply the kernel will not send (here sendmmsg(2) denied, as a full
 * socket buffer or a firewall would refuse it) is dropped, said with -v,
 * and counted as not answered; echod goes on reading.
 */
Test(udp, a_reply_the_kernel_refuses_is_dropped_and_counted)
{
	static const int	 no_sendmmsg[] = { __NR_sendmmsg };
	const char		*args[] = { "-l", "127.0.0.1:0", "-U", "-v", NULL };
	struct udp_totals	 t;
	struct echod		 e;
	char			 want[128];
	int			 fd, i;

	echod_set_deny(no_sendmmsg, 1);
	echod_spawn(&e, args);
	echod_set_deny(NULL, 0);
	cr_assert(echod_wait_log(&e, "listening on ", WAIT_MS), "%s", e.log);
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	for (i = 0; i < 3; i++)
		cr_assert_eq(send(fd, "ping", 4, 0), 4);
	snprintf(want, sizeof(want), "echod: udp 127.0.0.1:%d: reply dropped: "
	    "Operation not permitted\n", client_local_port(fd));
	while (echod_log_count(&e, want) < 3)
		cr_assert(echod_wait_log(&e, want, WAIT_MS), "%s", e.log);
	cr_assert(client_quiet_for(fd, 100));
	close(fd);
	cr_assert_eq(echod_stop(&e), 0, "%s", e.log);
	t = udp_totals(&e);
	cr_assert(t.in == 3 && t.echoed == 0 && t.unanswered == 3 &&
	    t.refused == 0 && t.limited == 0, "%s", e.log);
	echod_free(&e);
}

/*
 * A read error that stays (here recvmmsg(2) denied, as a security module
 * could): one line, then the socket rests between tries instead of
 * spinning on the queued datagram; TCP is served meanwhile.
 */
Test(udp, a_read_error_that_stays_is_said_once_and_costs_no_core)
{
	static const int	 no_recvmmsg[] = { __NR_recvmmsg };
	const char		*args[] = { "-l", "127.0.0.1:0", "-U", NULL };
	struct echod		 e;
	long			 cpu;
	int			 fd, tcp;

	echod_set_deny(no_recvmmsg, 1);
	echod_spawn(&e, args);
	echod_set_deny(NULL, 0);
	cr_assert(echod_wait_log(&e, "listening on ", WAIT_MS), "%s", e.log);
	e.port = port_after(e.log, "listening on 127.0.0.1:");
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	cr_assert_eq(send(fd, "ping", 4, 0), 4);
	cr_assert(echod_wait_log(&e, "echod: udp: recvmmsg: Operation not "
	    "permitted\n", WAIT_MS), "%s", e.log);
	cpu = echod_cpu_ms(&e);
	tcp = client_connect(e.port);
	client_echo(tcp, "still here");
	cr_assert(client_quiet_for(fd, 1000));
	cpu = echod_cpu_ms(&e) - cpu;
	cr_assert_lt(cpu, 300, "%ld ms of CPU in a second", cpu);
	close(tcp);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0, "%s", e.log);
	cr_assert_eq(echod_log_count(&e, "udp: recvmmsg"), 1, "%s", e.log);
	echod_free(&e);
}
