/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* The PROXY protocol: the parser (unit) and a server behind it. */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "addr.h"
#include "harness.h"
#include "proxy.h"

TestSuite(proxy_parse, .timeout = 10);

static const uint8_t sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A v2 header, PROXY command over TCP4, with extra TLV bytes. */
static size_t
v2_tcp4(uint8_t *buf, const char *src, uint16_t sport, size_t tlv)
{
	struct in_addr	 a;
	uint16_t	 port = htons(sport), body = 12 + tlv;

	memcpy(buf, sig, 12);
	buf[12] = 0x21;
	buf[13] = 0x11;
	buf[14] = body >> 8;
	buf[15] = body & 0xff;
	inet_pton(AF_INET, src, &a);
	memcpy(buf + 16, &a, 4);
	inet_pton(AF_INET, "192.0.2.1", &a);
	memcpy(buf + 20, &a, 4);
	memcpy(buf + 24, &port, 2);
	port = htons(25000);		/* the destination's: not the client's */
	memcpy(buf + 26, &port, 2);
	memset(buf + 28, 0xee, tlv);
	return 16 + body;
}

static const char *
client_of(const struct proxy_header *h, char *buf)
{
	return addr_format((const struct sockaddr *)&h->client, buf,
	    ADDR_STRLEN);
}

static void
expect_bad(const char *text, const char *want_why)
{
	struct proxy_header	 h;
	const char		*why;

	cr_assert_eq(proxy_parse((const uint8_t *)text, strlen(text), &h,
	    &why), PROXY_BAD, "%s", text);
	cr_assert_str_eq(why, want_why, "%s", text);
}

Test(proxy_parse, v1_tcp4_tcp6_and_unknown)
{
	struct proxy_header	 h;
	const char		*why, *text;
	char			 name[ADDR_STRLEN];

	text = "PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\nHello\n";
	cr_assert_eq(proxy_parse((const uint8_t *)text, strlen(text), &h,
	    &why), PROXY_DONE);
	cr_assert_eq(h.len, strlen(text) - 6);
	cr_assert_eq(h.version, 1);
	cr_assert_str_eq(client_of(&h, name), "203.0.113.7:56324");

	text = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n";
	cr_assert_eq(proxy_parse((const uint8_t *)text, strlen(text), &h,
	    &why), PROXY_DONE);
	cr_assert_str_eq(client_of(&h, name), "[2001:db8::7]:65535");

	text = "PROXY UNKNOWN whatever\r\n";
	cr_assert_eq(proxy_parse((const uint8_t *)text, strlen(text), &h,
	    &why), PROXY_DONE);
	cr_assert(h.local);
}

Test(proxy_parse, every_prefix_asks_for_more)
{
	const char		*text = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
	uint8_t			 v2[64];
	size_t			 i, len = v2_tcp4(v2, "1.2.3.4", 5, 3);
	struct proxy_header	 h;
	const char		*why;

	for (i = 0; i < strlen(text); i++)
		cr_assert_eq(proxy_parse((const uint8_t *)text, i, &h, &why),
		    PROXY_MORE, "v1 prefix of %zu bytes", i);
	for (i = 0; i < len; i++)
		cr_assert_eq(proxy_parse(v2, i, &h, &why), PROXY_MORE,
		    "v2 prefix of %zu bytes", i);
	cr_assert_eq(proxy_parse(v2, len, &h, &why), PROXY_DONE);
	cr_assert_eq(h.len, len);
}

Test(proxy_parse, v1_malformed)
{
	char	 longer[200];

	expect_bad("GET / HTTP/1.0\r\n", "not a PROXY header");
	expect_bad("Hello\n", "not a PROXY header");
	expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "malformed v1 header");
	expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
	    "malformed v1 header");
	expect_bad("PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
	    "malformed v1 header");
	expect_bad("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "malformed v1 header");
	expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
	    "malformed v1 header");
	expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
	    "malformed v1 header");
	expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n",
	    "malformed v1 header");
	expect_bad("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
	    "unknown v1 protocol");
	/* One space between fields, as the spec has it (a fuzz finding). */
	expect_bad("PROXY  UNKNOWN\r\n", "malformed v1 header");
	expect_bad("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
	    "malformed v1 header");
	expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
	    "malformed v1 header");
	memset(longer, 'x', sizeof(longer));
	memcpy(longer, "PROXY ", 6);
	longer[sizeof(longer) - 1] = '\0';
	expect_bad(longer, "v1 header longer than 107 bytes");
}

/* TCP6 by hand, every field distinct, the spec's byte order. */
Test(proxy_parse, v2_tcp6_fields_in_place)
{
	uint8_t			 buf[16 + 36];
	struct proxy_header	 h;
	const char		*why;
	char			 name[ADDR_STRLEN];

	memcpy(buf, sig, 12);
	buf[12] = 0x21;
	buf[13] = 0x21;
	buf[14] = 0;
	buf[15] = 36;
	inet_pton(AF_INET6, "2001:db8::5", buf + 16);
	inet_pton(AF_INET6, "2001:db8::99", buf + 32);
	buf[48] = 0x9c;			/* 40000 */
	buf[49] = 0x40;
	buf[50] = 0x61;			/* 25000 */
	buf[51] = 0xa8;
	cr_assert_eq(proxy_parse(buf, sizeof(buf), &h, &why), PROXY_DONE);
	cr_assert_eq(h.len, sizeof(buf));
	cr_assert_str_eq(client_of(&h, name), "[2001:db8::5]:40000");
}

/* What proxy_write() makes, proxy_parse() reads back: the source. */
Test(proxy_parse, written_headers_read_back)
{
	struct sockaddr_in	 s4 = { .sin_family = AF_INET }, d4 = s4;
	struct sockaddr_in6	 s6 = { .sin6_family = AF_INET6 }, d6 = s6;
	struct proxy_header	 h;
	uint8_t			 buf[PROXY_WRITE_MAX];
	const char		*why;
	char			 name[ADDR_STRLEN];
	size_t			 len;
	int			 v;

	inet_pton(AF_INET, "198.51.100.7", &s4.sin_addr);
	inet_pton(AF_INET, "192.0.2.1", &d4.sin_addr);
	s4.sin_port = htons(40001);
	d4.sin_port = htons(25000);
	inet_pton(AF_INET6, "2001:db8::7", &s6.sin6_addr);
	inet_pton(AF_INET6, "2001:db8::1", &d6.sin6_addr);
	s6.sin6_port = htons(40002);
	d6.sin6_port = htons(25000);
	for (v = 1; v <= 2; v++) {
		len = proxy_write(v, (struct sockaddr *)&s4,
		    (struct sockaddr *)&d4, buf);
		cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_DONE);
		cr_assert_eq(h.len, len);
		cr_assert_eq(h.version, v);
		cr_assert_str_eq(client_of(&h, name), "198.51.100.7:40001");
		len = proxy_write(v, (struct sockaddr *)&s6,
		    (struct sockaddr *)&d6, buf);
		cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_DONE);
		cr_assert_str_eq(client_of(&h, name), "[2001:db8::7]:40002");
	}
	len = proxy_write(1, (struct sockaddr *)&s4, (struct sockaddr *)&d4,
	    buf);
	cr_assert_eq(len, strlen("PROXY TCP4 198.51.100.7 192.0.2.1 40001 "
	    "25000\r\n"));
	cr_assert_arr_eq(buf, "PROXY TCP4 198.51.100.7 192.0.2.1 40001 "
	    "25000\r\n", len);
}

Test(proxy_parse, v2_proxy_local_and_malformed)
{
	uint8_t			 buf[128];
	size_t			 len;
	struct proxy_header	 h;
	const char		*why;
	char			 name[ADDR_STRLEN];

	len = v2_tcp4(buf, "198.51.100.9", 40000, 20);
	memcpy(buf + len, "tail", 4);
	cr_assert_eq(proxy_parse(buf, len + 4, &h, &why), PROXY_DONE);
	cr_assert_eq(h.len, len, "TLVs are skipped, the payload kept");
	cr_assert_eq(h.version, 2);
	cr_assert_str_eq(client_of(&h, name), "198.51.100.9:40000");

	buf[12] = 0x20;				/* LOCAL: health checks */
	cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_DONE);
	cr_assert(h.local);

	buf[12] = 0x22;
	cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_BAD);
	cr_assert_str_eq(why, "unknown v2 command");
	buf[12] = 0x11;
	cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_BAD);
	cr_assert_str_eq(why, "unknown v2 version");

	/* Undefined family or transport: the spec says drop. */
	len = v2_tcp4(buf, "198.51.100.9", 40000, 0);
	buf[13] = 0xf1;
	cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_BAD);
	cr_assert_str_eq(why, "unknown v2 address family or transport");
	buf[13] = 0x13;
	cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_BAD);
	cr_assert_str_eq(why, "unknown v2 address family or transport");
	buf[13] = 0x00;				/* UNSPEC: the real peer */
	cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_DONE);
	cr_assert(h.local);
	buf[12] = 0x20;				/* LOCAL ignores the family */
	buf[13] = 0xf1;
	cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_DONE);
	cr_assert(h.local);

	len = v2_tcp4(buf, "198.51.100.9", 1, 0);
	buf[15] = 4;				/* too short for TCP4 */
	cr_assert_eq(proxy_parse(buf, 20, &h, &why), PROXY_BAD);
	cr_assert_str_eq(why, "v2 addresses cut short");

	/* A length past 4096 is refused before the bytes are in. */
	len = v2_tcp4(buf, "198.51.100.9", 1, 0);
	buf[14] = 0x0f;
	buf[15] = 0xf0;				/* 16 + 4080: the most */
	cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_MORE);
	buf[15] = 0xf1;
	cr_assert_eq(proxy_parse(buf, 16, &h, &why), PROXY_BAD);
	cr_assert_str_eq(why, "v2 header longer than 4096 bytes");
}

/*
 * The spec (2.2) defines seven family and transport bytes; every other
 * one is dropped, those with a family and no transport (0x10, 0x20)
 * too.  Of the seven only TCP4 and TCP6 name a client: a UDP or Unix
 * client cannot have made this TCP connection, so those name nobody.
 */
Test(proxy_parse, v2_only_defined_family_and_transport_bytes)
{
	uint8_t			 buf[64];
	size_t			 len;
	struct proxy_header	 h;
	const char		*why;
	char			 name[ADDR_STRLEN];
	unsigned int		 b;

	for (b = 0; b < 256; b++) {
		len = v2_tcp4(buf, "198.51.100.9", 40000, 24);
		buf[13] = b;
		switch (b) {
		case 0x11:
		case 0x21:
			cr_assert_eq(proxy_parse(buf, len, &h, &why),
			    PROXY_DONE, "0x%02x", b);
			cr_assert_not(h.local, "0x%02x", b);
			break;
		case 0x00:
		case 0x12:
		case 0x22:
		case 0x31:
		case 0x32:
			cr_assert_eq(proxy_parse(buf, len, &h, &why),
			    PROXY_DONE, "0x%02x", b);
			cr_assert(h.local, "0x%02x names a client", b);
			break;
		default:
			cr_assert_eq(proxy_parse(buf, len, &h, &why),
			    PROXY_BAD, "0x%02x accepted", b);
			cr_assert_str_eq(why,
			    "unknown v2 address family or transport");
		}
	}
	len = v2_tcp4(buf, "198.51.100.9", 40000, 0);
	cr_assert_eq(proxy_parse(buf, len, &h, &why), PROXY_DONE);
	cr_assert_str_eq(client_of(&h, name), "198.51.100.9:40000");
}

TestSuite(proxy, .timeout = 30);

static int
proxy_port(struct echod *e)
{
	return echod_port_of(e, "proxy:127.0.0.1:");
}

Test(proxy, v1_header_names_the_client)
{
	struct echod	 e;
	const char	*hdr = "PROXY TCP4 203.0.113.7 127.0.0.1 56324 25000\r\n"
			    "Hello\n";
	int		 fd, plain;

	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", NULL);
	fd = client_connect(proxy_port(&e));
	client_send(fd, hdr, strlen(hdr));
	client_expect_str(fd, "GOT:Hello\n");
	cr_assert(echod_wait_log(&e, "Connection from 203.0.113.7:56324 via "
	    "127.0.0.1:", WAIT_MS), "%s", e.log);
	cr_assert(echod_log_has(&e, "(PROXY v1)"));
	shutdown(fd, SHUT_WR);
	client_expect_eof(fd);
	close(fd);
	cr_assert(echod_wait_log(&e, "Connection closed 203.0.113.7:56324: "
	    "client closed, 6 bytes in, 10 bytes out", WAIT_MS), "%s", e.log);
	/* The plain listener beside it wants no header. */
	plain = client_connect(e.port);
	client_echo(plain, "PROXY is just text here");
	close(plain);
	echod_finish(&e);
}

/* Byte by byte: the header may arrive in any number of pieces. */
Test(proxy, v2_header_in_pieces_then_data)
{
	struct echod	 e;
	uint8_t		 hdr[64];
	size_t		 len = v2_tcp4(hdr, "198.51.100.9", 40000, 7), i;
	int		 fd;

	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", NULL);
	fd = client_connect(proxy_port(&e));
	for (i = 0; i < len; i++) {
		client_send(fd, hdr + i, 1);
		cr_assert(client_quiet_for(fd, 5));
	}
	client_send(fd, "one\ntwo\n", 8);
	client_expect_str(fd, "GOT:one\nGOT:two\n");
	cr_assert(echod_wait_log(&e, "Connection from 198.51.100.9:40000 via "
	    "127.0.0.1:", WAIT_MS), "%s", e.log);
	cr_assert(echod_log_has(&e, "(PROXY v2)"));
	close(fd);
	echod_finish(&e);
}

Test(proxy, v2_local_keeps_the_real_peer)
{
	struct echod	 e;
	uint8_t		 hdr[64];
	size_t		 len = v2_tcp4(hdr, "198.51.100.9", 40000, 0);
	int		 fd;

	hdr[12] = 0x20;
	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", NULL);
	fd = client_connect(proxy_port(&e));
	client_send(fd, hdr, len);
	client_echo(fd, "hc");
	cr_assert(echod_wait_log(&e, "Connection from 127.0.0.1:", WAIT_MS));
	cr_assert(echod_log_has(&e, "(PROXY v2, no client named)"), "%s",
	    e.log);
	cr_assert_not(echod_log_has(&e, "198.51.100.9"));
	close(fd);
	echod_finish(&e);
}

/* v1's UNKNOWN, as a balancer's health check sends it: the peer stays. */
Test(proxy, v1_unknown_keeps_the_real_peer)
{
	struct echod	 e;
	char		 want[96];
	int		 fd;

	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", NULL);
	fd = client_connect(proxy_port(&e));
	client_send(fd, "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 35);
	client_echo(fd, "hc");
	snprintf(want, sizeof(want), "echod: Connection from 127.0.0.1:%d "
	    "(PROXY v1, no client named)\n", client_local_port(fd));
	cr_assert(echod_wait_log(&e, want, WAIT_MS), "%s", e.log);
	close(fd);
	echod_finish(&e);
}

Test(proxy, missing_or_malformed_header_closes_with_a_reason)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", NULL);
	fd = client_connect(proxy_port(&e));
	client_send(fd, "Hello\n", 6);
	client_expect_eof(fd);
	close(fd);
	cr_assert(echod_wait_log(&e, "Connection closed 127.0.0.1:", WAIT_MS));
	cr_assert(echod_log_has(&e, ": bad PROXY header: not a PROXY header, "
	    "0 bytes in, 0 bytes out"), "%s", e.log);

	fd = client_connect(proxy_port(&e));
	client_send(fd, "PROXY TCP4 1.2.3.4", 18);
	shutdown(fd, SHUT_WR);
	client_expect_eof(fd);
	close(fd);
	cr_assert(echod_wait_log(&e, "closed before its PROXY header",
	    WAIT_MS), "%s", e.log);

	cr_assert_eq(kill(e.pid, SIGUSR1), 0);
	cr_assert(echod_wait_log(&e, "counters: open 0, accepted 2, "
	    "rejected 2,", WAIT_MS), "%s", e.log);
	echod_finish(&e);
}

/* Undefined family bytes close the connection, whichever one it is. */
Test(proxy, v2_undefined_family_closes_with_a_reason)
{
	static const uint8_t	 undefined[] = { 0x01, 0x02, 0x10, 0x20, 0x30 };
	struct echod		 e;
	uint8_t			 hdr[64];
	size_t			 len, i;
	int			 fd;

	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", NULL);
	for (i = 0; i < sizeof(undefined); i++) {
		len = v2_tcp4(hdr, "198.51.100.9", 40000, 0);
		hdr[13] = undefined[i];
		memcpy(hdr + len, "hi\n", 3);
		fd = client_connect(proxy_port(&e));
		client_send(fd, hdr, len + 3);
		client_expect_eof(fd);
		close(fd);
	}
	cr_assert_eq(kill(e.pid, SIGUSR1), 0);
	cr_assert(echod_wait_log(&e, "counters: open 0, accepted 5, "
	    "rejected 5,", WAIT_MS), "%s", e.log);
	cr_assert_eq(echod_log_count(&e, ": bad PROXY header: unknown v2 "
	    "address family or transport, 0 bytes in, 0 bytes out"), 5, "%s",
	    e.log);
	cr_assert_not(echod_log_has(&e, "198.51.100.9"), "%s", e.log);
	echod_finish(&e);
}

/*
 * The deadline counts from the accept: a client trickling a byte every
 * 3 s is cut at 10 s, not 10 s after its last byte (19 s).
 */
Test(proxy, header_must_come_in_time)
{
	struct echod	 e;
	long		 start;
	char		 ch;
	int		 fd, i;

	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", NULL);
	start = now_ms();
	fd = client_connect(proxy_port(&e));
	for (i = 0; i < 4; i++) {
		client_send(fd, "PROX" + i, 1);
		if (i < 3)
			cr_assert(client_quiet_for(fd, 3000), "closed early");
	}
	/* Wait past the deadline, even under valgrind. */
	cr_assert_eq(client_recv(fd, &ch, 1, 2 * WAIT_MS), 0);
	cr_assert_eq(recv(fd, &ch, 1, MSG_DONTWAIT), 0, "expected EOF");
	cr_assert_geq(now_ms() - start, 9000, "closed before the deadline");
	cr_assert_lt(now_ms() - start, 17000, "deadline ran from the last "
	    "byte");
	cr_assert(echod_wait_log(&e, "no PROXY header in time", WAIT_MS));
	close(fd);
	echod_finish(&e);
}

/* --max-per-ip counts the client the header names, not the balancer. */
Test(proxy, per_address_limit_sees_the_original_client)
{
	struct echod	 e;
	const char	*a = "PROXY TCP4 203.0.113.7 127.0.0.1 1111 25000\r\n";
	const char	*b = "PROXY TCP4 203.0.113.8 127.0.0.1 2222 25000\r\n";
	int		 first, second, other;

	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", "--max-per-ip",
	    "1", NULL);
	first = client_connect(proxy_port(&e));
	client_send(first, a, strlen(a));
	client_echo(first, "1");
	second = client_connect(proxy_port(&e));
	client_send(second, a, strlen(a));
	client_expect_eof(second);
	cr_assert(echod_wait_log(&e, "Connection from 203.0.113.7:1111 "
	    "refused: --max-per-ip (1) reached", WAIT_MS), "%s", e.log);
	cr_assert(echod_wait_log(&e, "Connection closed 203.0.113.7:1111: "
	    "--max-per-ip reached, 0 bytes in, 0 bytes out", WAIT_MS), "%s",
	    e.log);
	other = client_connect(proxy_port(&e));
	client_send(other, b, strlen(b));
	client_echo(other, "2");
	close(first);
	close(second);
	close(other);
	echod_finish(&e);
}

/*
 * Headers that name nobody (v2 LOCAL, v1 UNKNOWN) count against the
 * real peer: otherwise they would be a way around --max-per-ip.
 */
Test(proxy, headers_naming_nobody_count_against_the_real_peer)
{
	struct echod	 e;
	uint8_t		 hdr[64];
	size_t		 len = v2_tcp4(hdr, "198.51.100.9", 40000, 0);
	const char	*unknown = "PROXY UNKNOWN\r\n";
	int		 first, second, third;

	hdr[12] = 0x20;
	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", "--max-per-ip",
	    "1", NULL);
	first = client_connect(proxy_port(&e));
	client_send(first, hdr, len);
	client_echo(first, "hc");
	second = client_connect(proxy_port(&e));
	client_send(second, hdr, len);
	client_expect_eof(second);
	third = client_connect(proxy_port(&e));
	client_send(third, unknown, strlen(unknown));
	client_expect_eof(third);
	cr_assert_eq(echod_log_count(&e, "refused: --max-per-ip (1) reached"),
	    2, "%s", e.log);
	close(first);
	close(second);
	close(third);
	echod_finish(&e);
}

/* An IPv6 client is counted per /64, whatever else its address says. */
Test(proxy, ipv6_clients_of_one_64_are_one_address)
{
	struct echod	 e;
	const char	*a = "PROXY TCP6 2001:db8:1:2::1 ::1 1111 25000\r\n";
	const char	*b = "PROXY TCP6 2001:db8:1:2:aaaa::2 ::1 2222 25000\r\n";
	const char	*c = "PROXY TCP6 2001:db8:1:3::1 ::1 3333 25000\r\n";
	int		 first, second, other;

	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", "--max-per-ip",
	    "1", NULL);
	first = client_connect(proxy_port(&e));
	client_send(first, a, strlen(a));
	client_echo(first, "1");
	second = client_connect(proxy_port(&e));
	client_send(second, b, strlen(b));
	client_expect_eof(second);
	cr_assert(echod_wait_log(&e, "Connection from "
	    "[2001:db8:1:2:aaaa::2]:2222 refused: --max-per-ip (1) reached",
	    WAIT_MS), "%s", e.log);
	other = client_connect(proxy_port(&e));
	client_send(other, c, strlen(c));
	client_echo(other, "2");
	close(first);
	close(second);
	close(other);
	echod_finish(&e);
	/* With --ipv6-prefix 128, each address is its own. */
	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", "--max-per-ip",
	    "1", "--ipv6-prefix", "128", NULL);
	first = client_connect(proxy_port(&e));
	client_send(first, a, strlen(a));
	client_echo(first, "1");
	second = client_connect(proxy_port(&e));
	client_send(second, b, strlen(b));
	client_echo(second, "2");
	close(first);
	close(second);
	echod_finish(&e);
}

/* --proxy-from: a peer outside it cannot name anyone; it is closed. */
Test(proxy, only_peers_in_proxy_from_may_send_a_header)
{
	struct echod	 e;
	const char	*a = "PROXY TCP4 203.0.113.7 127.0.0.1 1111 25000\r\n";
	int		 fd;
	char		 byte;

	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", "--proxy-from",
	    "192.0.2.0/24", "--proxy-from", "2001:db8::/32", NULL);
	fd = client_connect(proxy_port(&e));
	client_send(fd, a, strlen(a));
	cr_assert_leq(recv(fd, &byte, 1, 0), 0, "not served");
	cr_assert(echod_wait_log(&e, "refused: not in --proxy-from", WAIT_MS),
	    "%s", e.log);
	cr_assert_not(echod_log_has(&e, "203.0.113.7"), "%s", e.log);
	close(fd);
	/* The plain listener beside it takes anyone. */
	fd = client_connect(e.port);
	client_echo(fd, "plain");
	close(fd);
	echod_finish(&e);

	echod_start(&e, "--proxy-protocol", "127.0.0.1:0", "--proxy-from",
	    "127.0.0.0/8", NULL);
	fd = client_connect(proxy_port(&e));
	client_send(fd, a, strlen(a));
	client_echo(fd, "allowed");
	cr_assert(echod_wait_log(&e, "Connection from 203.0.113.7:1111 via "
	    "127.0.0.1:", WAIT_MS), "%s", e.log);
	close(fd);
	echod_finish(&e);
}
