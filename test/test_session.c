/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Integration: what a client sees, against the real server. */
#include "config.h"

#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(session, .timeout = 30);

Test(session, the_tutorial)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, NULL);
	fd = client_connect(e.port);
	cr_assert(echod_wait_log(&e, "Connection from 127.0.0.1:", WAIT_MS));
	client_echo(fd, "Hello");
	client_echo(fd, "World");
	close(fd);
	cr_assert(echod_wait_log(&e, "Connection closed 127.0.0.1:", WAIT_MS));
	cr_assert(echod_log_has(&e, "12 bytes in, 20 bytes out"), "%s", e.log);
	echod_finish(&e);
}

Test(session, piped_lines_then_half_close)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, NULL);
	fd = client_connect(e.port);
	client_send(fd, "a\nb\r\n\n", 6);
	shutdown(fd, SHUT_WR);
	client_expect_str(fd, "GOT:a\nGOT:b\r\nGOT:\n");
	client_expect_eof(fd);
	close(fd);
	echod_finish(&e);
}

Test(session, partial_line_is_echoed_at_eof)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, NULL);
	fd = client_connect(e.port);
	client_send(fd, "one\ntwo", 7);
	client_expect_str(fd, "GOT:one\n");
	/* "two" is held until the line ends or the input does. */
	cr_assert(client_quiet_for(fd, 200));
	shutdown(fd, SHUT_WR);
	client_expect_str(fd, "GOT:two");
	client_expect_eof(fd);
	close(fd);
	echod_finish(&e);
}

Test(session, chunk_framing_echoes_each_read)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, "--framing", "chunk", "--read-size", "4", NULL);
	fd = client_connect(e.port);
	client_send(fd, "abc", 3);
	client_expect_str(fd, "GOT:abc");
	/* One 10-byte segment read at most 4 bytes at a time. */
	client_send(fd, "0123456789", 10);
	client_expect_str(fd, "GOT:0123GOT:4567GOT:89");
	close(fd);
	echod_finish(&e);
}

Test(session, chunk_default_read_size_is_1000)
{
	struct echod	 e;
	char		 data[2500], want[2512];
	int		 fd;

	memset(data, 'z', sizeof(data));
	echod_start(&e, "-f", "chunk", NULL);
	fd = client_connect(e.port);
	client_send(fd, data, sizeof(data));
	memcpy(want, "GOT:", 4);
	memset(want + 4, 'z', 1000);
	memcpy(want + 1004, "GOT:", 4);
	memset(want + 1008, 'z', 1000);
	memcpy(want + 2008, "GOT:", 4);
	memset(want + 2012, 'z', 500);
	client_expect(fd, want, sizeof(want));
	close(fd);
	echod_finish(&e);
}

Test(session, empty_prefix_is_plain_echo)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, "--prefix", "", NULL);
	fd = client_connect(e.port);
	/* No newline, no half-close: it must come back anyway. */
	client_send(fd, "no newline", 10);
	client_expect_str(fd, "no newline");
	client_send(fd, "x\ny", 3);
	client_expect_str(fd, "x\ny");
	close(fd);
	echod_finish(&e);
}

/* -f chunk with no prefix is the same plain echo: no prefix anywhere. */
Test(session, chunk_framing_with_empty_prefix_is_plain_echo)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, "-f", "chunk", "-P", "", NULL);
	fd = client_connect(e.port);
	client_send(fd, "raw bytes", 9);
	client_expect_str(fd, "raw bytes");
	client_send(fd, "\n\nGOT:", 6);
	client_expect_str(fd, "\n\nGOT:");
	shutdown(fd, SHUT_WR);
	client_expect_eof(fd);
	close(fd);
	echod_finish(&e);
}

Test(session, every_byte_value_passes)
{
	struct echod	 e;
	unsigned char	 data[512], want[512 + 8];
	int		 fd, i;

	/* Bytes 0..255 then 255..0: one line ends at each LF (10). */
	for (i = 0; i < 256; i++) {
		data[i] = i;
		data[511 - i] = i;
	}
	echod_start(&e, "-P", "G", NULL);
	fd = client_connect(e.port);
	client_send(fd, data, sizeof(data));
	shutdown(fd, SHUT_WR);
	want[0] = 'G';
	memcpy(want + 1, data, 11);			/* 0..10 */
	want[12] = 'G';
	memcpy(want + 13, data + 11, 491);		/* 11..255..10 */
	want[504] = 'G';
	memcpy(want + 505, data + 502, 10);		/* 9..0 */
	client_expect(fd, want, 515);
	client_expect_eof(fd);
	close(fd);
	echod_finish(&e);
}

Test(session, long_line_comes_back_in_pieces)
{
	struct echod	 e;
	char		 data[2500];
	int		 fd;
	size_t		 i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = 'a' + i % 26;
	echod_start(&e, "--max-line", "1000", NULL);
	fd = client_connect(e.port);
	client_send(fd, data, sizeof(data));
	/* The two full pieces arrive without waiting for a newline. */
	client_expect_str(fd, "GOT:");
	client_expect(fd, data, 1000);
	client_expect_str(fd, "GOT:");
	client_expect(fd, data + 1000, 1000);
	shutdown(fd, SHUT_WR);
	client_expect_str(fd, "GOT:");
	client_expect(fd, data + 2000, 500);
	client_expect_eof(fd);
	close(fd);
	echod_finish(&e);
}

#define NCLIENTS	150

Test(session, many_clients_at_once)
{
	struct echod	 e;
	int		 fds[NCLIENTS];
	char		 line[64], want[64];
	int		 i, round;

	echod_start(&e, "-q", NULL);
	for (i = 0; i < NCLIENTS; i++)
		fds[i] = client_connect(e.port);
	/* All connected at once; each is answered while all stay open. */
	for (round = 0; round < 3; round++) {
		for (i = 0; i < NCLIENTS; i++) {
			snprintf(line, sizeof(line), "client %d round %d\n", i,
			    round);
			client_send(fds[i], line, strlen(line));
		}
		for (i = NCLIENTS - 1; i >= 0; i--) {
			snprintf(want, sizeof(want), "GOT:client %d round %d\n",
			    i, round);
			client_expect_str(fds[i], want);
		}
	}
	for (i = 0; i < NCLIENTS; i++)
		close(fds[i]);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "150 connections served"), "%s", e.log);
	echod_free(&e);
}
