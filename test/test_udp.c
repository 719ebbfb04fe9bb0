/* Integration: -U, UDP echo (RFC 862) beside TCP. */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
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
	client_send(tcp, "tcp\n", 4);
	client_expect_str(tcp, "GOT:tcp\n");
	close(tcp);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "UDP: 3 datagrams in, 3 echoed, "
	    "0 truncated, 0 not answered"), "%s", e.log);
	echod_free(&e);
}

Test(udp, reply_too_big_for_a_datagram_is_cut_and_counted)
{
	struct echod	 e;
	static char	 big[65507], got[65536];
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
	close(fd);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "UDP: 1 datagrams in, 1 echoed, "
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
	cr_assert(client_quiet_for(low, 0));
	fd = udp_client(port, 0);
	udp_expect(fd, "ok", 2, "ok", 2);
	close(fd);
	close(low);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "UDP: 2 datagrams in, 1 echoed, "
	    "0 truncated, 1 not answered"), "%s", e.log);
	echod_free(&e);
}

/*
 * A client that floods datagrams and never reads: echod never waits for
 * it, and a TCP client is served meanwhile.
 */
Test(udp, a_flood_never_blocks_tcp)
{
	struct echod	 e;
	char		 dgram[1024];
	int		 fd, tcp, i, rcvbuf = 4096;

	echod_start(&e, "-U", "--threads", "2", NULL);
	fd = udp_client(echod_port_of(&e, "udp:127.0.0.1:"), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(dgram, 'u', sizeof(dgram));
	tcp = client_connect(e.port);
	for (i = 0; i < 2000; i++) {
		(void)send(fd, dgram, sizeof(dgram), 0);
		if (i % 500 == 0) {
			client_send(tcp, "still here\n", 11);
			client_expect_str(tcp, "GOT:still here\n");
		}
	}
	client_send(tcp, "after\n", 6);
	client_expect_str(tcp, "GOT:after\n");
	close(tcp);
	close(fd);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "UDP: "), "%s", e.log);
	echod_free(&e);
}
