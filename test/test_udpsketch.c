/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Unit: the sketch of replies to servers' ports, alone. */
#include "config.h"

#include <stdlib.h>

#include <criterion/criterion.h>

#include "siphash.h"
#include "udpguard.h"
#include "udpsketch.h"

TestSuite(udpsketch, .timeout = 10);

static const struct siphash_key key = { 3, 5 };

/* The nth of a stream of tags, as a keyed hash makes them. */
static uint64_t
tag(uint64_t n)
{
	return siphash(&key, &n, sizeof(n));
}

static struct udp_sketch *
sketch_new(uint64_t now)
{
	struct udp_sketch	*s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	udp_sketch_init(s, now);
	return s;
}

Test(udpsketch, a_count_put_is_got_the_highest_kept)
{
	struct udp_sketch	*s = sketch_new(1);

	cr_assert_eq(udp_sketch_get(s, tag(1), 1), 0);
	udp_sketch_put(s, tag(1), 2, 1);
	udp_sketch_put(s, tag(1), 1, 2);
	cr_assert_eq(udp_sketch_get(s, tag(1), 3), 2);
	udp_sketch_put(s, tag(1), 300, 4);
	cr_assert_eq(udp_sketch_get(s, tag(1), 5), 255);
	cr_assert_eq(udp_sketch_get(s, tag(2), 5), 0);
	free(s);
}

/*
 * A tag is seen for at least half of UDP_RETURN_MSEC after it was put,
 * and never for UDP_RETURN_MSEC, however the lookups fall: put at the
 * start of a generation or at its end, looked up often or once.
 */
Test(udpsketch, a_tag_is_seen_for_five_to_ten_seconds)
{
	static const uint64_t	 puts[] = { 1, 2, 4999, 5001, 7500 };
	struct udp_sketch	*s;
	uint64_t		 t, at;
	size_t			 i;

	for (i = 0; i < sizeof(puts) / sizeof(puts[0]); i++) {
		s = sketch_new(1);
		at = puts[i];
		udp_sketch_put(s, tag(i), 1, at);
		for (t = at; t < at + UDP_RETURN_MSEC / 2; t += 250)
			cr_assert_eq(udp_sketch_get(s, tag(i), t), 1,
			    "put at %llu, gone at %llu",
			    (unsigned long long)at, (unsigned long long)t);
		for (t = at + UDP_RETURN_MSEC; t < at + 3 * UDP_RETURN_MSEC;
		    t += 250)
			cr_assert_eq(udp_sketch_get(s, tag(i), t), 0,
			    "put at %llu, seen at %llu",
			    (unsigned long long)at, (unsigned long long)t);
		free(s);
		/* Looked up once, late. */
		s = sketch_new(1);
		udp_sketch_put(s, tag(i), 1, at);
		cr_assert_eq(udp_sketch_get(s, tag(i), at + UDP_RETURN_MSEC),
		    0);
		free(s);
	}
}

/* Past two generations' share of other tags, a tag is gone. */
Test(udpsketch, a_tag_is_pushed_out_by_two_generations_of_others)
{
	struct udp_sketch	*s = sketch_new(1);
	uint64_t		 n;

	udp_sketch_put(s, tag(0), 1, 1);
	for (n = 1; n < UDP_SKETCH_PUTS; n++)
		udp_sketch_put(s, tag(n), 1, 1);
	cr_assert_eq(udp_sketch_get(s, tag(0), 1), 1, "one generation");
	for (; n < 3 * UDP_SKETCH_PUTS; n++)
		udp_sketch_put(s, tag(n), 1, 1);
	cr_assert_eq(udp_sketch_get(s, tag(0), 1), 0);
	free(s);
}

/*
 * With both generations full, a tag never put finds a count in about
 * one case in a hundred, and never one of 3 when those put had 1 or 2:
 * the sketch alone refuses no client by chance.
 */
Test(udpsketch, tags_never_put_rarely_find_a_count)
{
	struct udp_sketch	*s = sketch_new(1);
	unsigned int		 c, found = 0, most = 0;
	uint64_t		 n;

	for (n = 0; n < 2 * UDP_SKETCH_PUTS - 1; n++)
		udp_sketch_put(s, tag(n), 1 + n % 2, 1);
	for (n = 0; n < 100000; n++) {
		c = udp_sketch_get(s, tag(n + 10000000), 1);
		found += c != 0;
		most = c > most ? c : most;
	}
	cr_log_info("%u of 100000 tags never put found a count", found);
	cr_assert_lt(found, 2000);
	cr_assert_lt(most, 3);
	free(s);
}
