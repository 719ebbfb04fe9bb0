/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Unit tests: framing on evbuffers, no sockets. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <event2/buffer.h>

#include "framing.h"
#include "framing_ref.h"

TestSuite(framing, .timeout = 10);

struct fixture {
	struct framing	 fr;
	struct evbuffer	*in;
	struct evbuffer	*out;
};

static void
setup(struct fixture *f, enum framing_kind kind, const char *prefix,
    size_t max_line)
{
	f->fr.kind = kind;
	f->fr.prefix = prefix;
	f->fr.prefix_len = strlen(prefix);
	f->fr.max_line = max_line;
	f->in = evbuffer_new();
	f->out = evbuffer_new();
	cr_assert(f->in != NULL && f->out != NULL);
}

static void
teardown(struct fixture *f)
{
	evbuffer_free(f->in);
	evbuffer_free(f->out);
}

static void
feed(struct fixture *f, const void *data, size_t len)
{
	cr_assert_eq(evbuffer_add(f->in, data, len), 0);
}

static void
expect_out(struct fixture *f, const void *want, size_t len)
{
	size_t	 got = evbuffer_get_length(f->out);
	char	*buf = malloc(got + 1);

	evbuffer_remove(f->out, buf, got);
	cr_assert_eq(got, len, "output is %zu bytes, expected %zu", got, len);
	cr_assert_arr_eq(buf, want, len);
	free(buf);
}

#define EXPECT(f, lit) expect_out((f), (lit), sizeof(lit) - 1)

Test(framing, lines_keep_their_ending)
{
	struct fixture	 f;

	setup(&f, FRAMING_LINE, "GOT:", 100);
	feed(&f, "a\nb\r\n\nc", 7);
	cr_assert_eq(framing_echo(&f.fr, f.in, f.out, SIZE_MAX, NULL), 18);
	EXPECT(&f, "GOT:a\nGOT:b\r\nGOT:\n");
	/* "c" waits for its newline. */
	cr_assert_eq(evbuffer_get_length(f.in), 1);
	feed(&f, "d\n", 2);
	framing_echo(&f.fr, f.in, f.out, SIZE_MAX, NULL);
	EXPECT(&f, "GOT:cd\n");
	teardown(&f);
}

Test(framing, partial_line_is_flushed_at_end)
{
	struct fixture	 f;

	setup(&f, FRAMING_LINE, "GOT:", 100);
	feed(&f, "x\ntail", 6);
	cr_assert_eq(framing_flush(&f.fr, f.in, f.out), 14);
	EXPECT(&f, "GOT:x\nGOT:tail");
	cr_assert_eq(evbuffer_get_length(f.in), 0);
	teardown(&f);
}

Test(framing, long_line_in_pieces)
{
	struct fixture	 f;

	setup(&f, FRAMING_LINE, "P", 4);
	feed(&f, "abcdefghij", 10);
	framing_echo(&f.fr, f.in, f.out, SIZE_MAX, NULL);
	EXPECT(&f, "PabcdPefgh");
	cr_assert_eq(evbuffer_get_length(f.in), 2);
	/* A line of exactly max_line bytes, LF included, is one piece. */
	feed(&f, "k\nwxyz\n", 7);
	framing_echo(&f.fr, f.in, f.out, SIZE_MAX, NULL);
	EXPECT(&f, "Pijk\nPwxyzP\n");
	teardown(&f);
}

Test(framing, binary_bytes_pass_untouched)
{
	struct fixture	 f;
	unsigned char	 all[256], want[4 + 256 + 1];
	int		 i;

	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)((i + 11) % 256);	/* LF not last */
	setup(&f, FRAMING_CHUNK, "GOT:", 100);
	feed(&f, all, sizeof(all));
	framing_echo(&f.fr, f.in, f.out, SIZE_MAX, NULL);
	memcpy(want, "GOT:", 4);
	memcpy(want + 4, all, 256);
	expect_out(&f, want, 260);
	teardown(&f);

	setup(&f, FRAMING_LINE, "", 1000);
	f.fr.kind = FRAMING_RAW;
	feed(&f, "a\0b", 3);
	framing_echo(&f.fr, f.in, f.out, SIZE_MAX, NULL);
	expect_out(&f, "a\0b", 3);
	teardown(&f);

	setup(&f, FRAMING_LINE, ">", 1000);
	feed(&f, "\0\n\0", 3);
	framing_flush(&f.fr, f.in, f.out);
	expect_out(&f, ">\0\n>\0", 5);
	teardown(&f);
}

Test(framing, chunk_is_one_read)
{
	struct fixture	 f;

	setup(&f, FRAMING_CHUNK, "GOT:", 100);
	feed(&f, "Hello\nWor", 9);
	cr_assert_eq(framing_echo(&f.fr, f.in, f.out, SIZE_MAX, NULL), 13);
	EXPECT(&f, "GOT:Hello\nWor");
	teardown(&f);
}

Test(framing, raw_holds_nothing_back)
{
	struct fixture	 f;

	setup(&f, FRAMING_RAW, "", 100);
	feed(&f, "no newline", 10);
	cr_assert_eq(framing_echo(&f.fr, f.in, f.out, 1, NULL), 10);
	EXPECT(&f, "no newline");
	teardown(&f);
}

/*
 * A byte at a time into an output the client is not reading: each read
 * is a chain of its own in the input, of a kilobyte or more; moved, the
 * output would keep them all.  Copied, a few chains hold it.
 */
static void
byte_at_a_time(enum framing_kind kind, const char *prefix)
{
	struct fixture	 f;
	struct evbuffer	*read;
	int		 i, chains;

	setup(&f, kind, prefix, 100);
	feed(&f, "x", 1);
	cr_assert_eq(framing_echo(&f.fr, f.in, f.out, SIZE_MAX, NULL),
	    1 + f.fr.prefix_len);
	for (i = 0; i < 2000; i++) {
		/* As a read does: into an input with no chain left. */
		cr_assert_not_null(read = evbuffer_new());
		cr_assert_eq(evbuffer_add(read, "y", 1), 0);
		cr_assert_eq(evbuffer_add_buffer(f.in, read), 0);
		evbuffer_free(read);
		cr_assert_eq(framing_echo(&f.fr, f.in, f.out, SIZE_MAX, NULL),
		    1 + f.fr.prefix_len);
	}
	chains = evbuffer_peek(f.out, -1, NULL, NULL, 0);
	cr_assert_lt(chains, 20, "%d chains for %zu bytes", chains,
	    evbuffer_get_length(f.out));
	cr_assert_eq(evbuffer_get_length(f.out), 2001 * (1 + f.fr.prefix_len));
	teardown(&f);
}

Test(framing, a_byte_at_a_time_is_not_a_chain_at_a_time)
{
	byte_at_a_time(FRAMING_RAW, "");
	byte_at_a_time(FRAMING_CHUNK, "GOT:");
}

Test(framing, stops_at_the_output_limit)
{
	struct fixture	 f;

	setup(&f, FRAMING_LINE, "G", 100);
	feed(&f, "1\n2\n3\n4\n", 8);
	/* Stops as soon as out holds at least 5 bytes. */
	cr_assert_eq(framing_echo(&f.fr, f.in, f.out, 5, NULL), 6);
	cr_assert_eq(evbuffer_get_length(f.in), 4);
	EXPECT(&f, "G1\nG2\n");
	framing_echo(&f.fr, f.in, f.out, 5, NULL);
	EXPECT(&f, "G3\nG4\n");
	teardown(&f);
}

/*
 * Property: however the input is split into reads, line framing gives
 * what the reference gives, with or without the memory of how far a
 * partial line was searched (lines long and short, LFs dense and
 * sparse).  Fixed seed, so a failure is reproducible.
 */
Test(framing, any_split_gives_the_reference_output)
{
	struct fixture	 f;
	static unsigned char input[4096], want[4096 * 5];
	size_t		 pos, step, len, max_line, want_len, scanned;
	int		 round, sparse;
	unsigned int	 seed = 12345;

	for (round = 0; round < 600; round++) {
		sparse = round % 3 != 0;
		max_line = 1 + rand_r(&seed) % (sparse ? 2048 : 64);
		len = rand_r(&seed) % sizeof(input);
		for (pos = 0; pos < len; pos++)
			input[pos] = rand_r(&seed) % (sparse ? 400 : 8) == 0 ?
			    '\n' : (unsigned char)rand_r(&seed);
		want_len = reference_frame(input, len, "GOT:", 4, max_line, want);
		setup(&f, FRAMING_LINE, "GOT:", max_line);
		scanned = 0;
		for (pos = 0; pos < len; pos += step) {
			step = 1 + rand_r(&seed) % 200;
			if (step > len - pos)
				step = len - pos;
			evbuffer_add(f.in, input + pos, step);
			framing_echo(&f.fr, f.in, f.out, round % 2 ? SIZE_MAX :
			    1 + rand_r(&seed) % 300, round % 4 < 2 ? &scanned :
			    NULL);
			if (round % 2 == 0)
				while (framing_echo(&f.fr, f.in, f.out,
				    SIZE_MAX, round % 4 < 2 ? &scanned :
				    NULL) != 0)
					;
			cr_assert_lt(evbuffer_get_length(f.in), max_line);
			cr_assert_leq(scanned, evbuffer_get_length(f.in));
		}
		framing_flush(&f.fr, f.in, f.out);
		cr_assert_eq(evbuffer_get_length(f.out), want_len, "round %d",
		    round);
		if (want_len > 0)
			cr_assert_arr_eq(evbuffer_pullup(f.out, -1), want,
			    want_len, "round %d", round);
		teardown(&f);
	}
}

/* One chain per call, as many small reads leave the input. */
static void
feed_chain(struct fixture *f, const char *data)
{
	struct evbuffer	*chain = evbuffer_new();

	cr_assert_eq(evbuffer_add(chain, data, strlen(data)), 0);
	cr_assert_eq(evbuffer_add_buffer(f->in, chain), 0);
	evbuffer_free(chain);
}

static void
feed_chains(struct fixture *f, const char *data, int count)
{
	while (count-- > 0)
		feed_chain(f, data);
}

/* A gather as the direct write uses it, the socket taking everything. */
static size_t
gather_all(struct fixture *f, size_t limit)
{
	struct iovec	 iov[FRAMING_IOV];
	size_t		 added, used;
	int		 i, niov;

	added = framing_gather(&f->fr, f->in, limit, iov, FRAMING_IOV, &niov,
	    &used, NULL);
	for (i = 0; i < niov; i++)
		evbuffer_add(f->out, iov[i].iov_base, iov[i].iov_len);
	evbuffer_drain(f->in, used);
	return added;
}

Test(framing, gather_points_at_each_line_behind_the_prefix)
{
	struct fixture	 f;

	setup(&f, FRAMING_LINE, "GOT:", 64);
	feed_chain(&f, "He");
	feed_chain(&f, "llo\nwor");
	feed_chain(&f, "ld\npart");
	cr_assert_eq(gather_all(&f, 1000), 20);
	EXPECT(&f, "GOT:Hello\nGOT:world\n");
	cr_assert_eq(evbuffer_get_length(f.in), 4, "the partial line stays");
	cr_assert_eq(gather_all(&f, 1000), 0);
	teardown(&f);
}

/* More chains than one gather looks at: the line is still found whole. */
Test(framing, gather_finds_a_line_across_many_chains)
{
	struct fixture	 f;
	char		 want[4 + 6 * FRAMING_EXTENTS + 2] = "GOT:";
	int		 i;

	setup(&f, FRAMING_LINE, "GOT:", 64);
	feed_chains(&f, "ab", 3 * FRAMING_EXTENTS);
	feed_chain(&f, "\n");
	for (i = 0; i < 3 * FRAMING_EXTENTS; i++)
		strcat(want, "ab");
	strcat(want, "\n");
	cr_assert_eq(gather_all(&f, 1000), strlen(want));
	cr_assert_eq(evbuffer_get_length(f.in), 0);
	expect_out(&f, want, strlen(want));
	teardown(&f);
}

Test(framing, gather_chunk_is_one_piece_however_stored)
{
	struct fixture	 f;

	setup(&f, FRAMING_CHUNK, "GOT:", 64);
	feed_chains(&f, "x", 2 * FRAMING_EXTENTS);
	cr_assert_eq(gather_all(&f, 1), 4 + 2 * FRAMING_EXTENTS);
	EXPECT(&f, "GOT:xxxxxxxxxxxxxxxx");
	teardown(&f);
}
