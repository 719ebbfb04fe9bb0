/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Unit: the last replies to each address and port, alone (udpsent.h):
 * where a reply come back is found, and which place a new one takes.
 * The loop rules built on it are udpguard's.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "udprecent.h"	/* udp_digest */
#include "udpsent.h"

TestSuite(udpsent, .timeout = 10);

static const struct siphash_key	 key = { 5, 8 };
static const uint64_t		 to[3] = { 0xc0000201, 0, 4 << 16 | 40000 };
static const uint64_t		 other[3] = { 0xc0000201, 0, 4 << 16 | 40001 };

static struct udp_dgram
dgram(const char *s, uint64_t now)
{
	struct udp_dgram	 d = { (const uint8_t *)s, strlen(s), 0, now,
				    { NULL, NULL }, 0 };

	d.digest = udp_digest(&key, s, d.len);
	return d;
}

/* The reply s goes to key (no loop continued, no hops). */
static void
sent(struct udp_sent_table *t, const uint64_t k[3], const char *s,
    uint64_t now)
{
	struct udp_dgram	 d = dgram(s, now);
	struct udp_cont		 none = { NULL, 0, NULL };

	udp_sent_note(t, k, &d, d.len, d.digest, 0, &none);
}

/* The reply the datagram s from key continues; NULL if none. */
static struct udp_reply *
continued(struct udp_sent_table *t, const uint64_t k[3], const char *s,
    uint64_t now, uint16_t *at)
{
	struct udp_dgram	 d = dgram(s, now);
	struct udp_cont		 cont;

	udp_sent_continued(t, k, &d, &cont);
	if (at != NULL)
		*at = cont.at;
	return cont.r;
}

Test(udpsent, without_a_prefix_a_reply_is_found_whole_at_the_start_or_inside)
{
	struct udp_sent_table	*t = udp_sent_new(&key, "", 0);
	uint16_t		 at;

	cr_assert_not_null(t);
	sent(t, to, "a reply long enough", 100);
	cr_assert_not_null(continued(t, to, "a reply long enough", 200, &at));
	cr_assert_eq(at, 0);
	/* An echo that adds after it. */
	cr_assert_not_null(continued(t, to, "a reply long enough\n", 200,
	    NULL));
	/* One that adds before and after: found, and where. */
	cr_assert_not_null(continued(t, to, "<a reply long enough>\n", 200,
	    &at));
	cr_assert_eq(at, 1);
	/* And one that puts its prefix before it. */
	cr_assert_not_null(continued(t, to, "> a reply long enough", 200,
	    &at));
	cr_assert_eq(at, 0);
	/* Changed, from elsewhere, or too late: not it. */
	cr_assert_null(continued(t, to, "a reply long enougH", 200, NULL));
	cr_assert_null(continued(t, other, "a reply long enough", 200, NULL));
	cr_assert_null(continued(t, to, "a reply long enough",
	    100 + UDP_RETURN_MSEC + 1, NULL));
	cr_assert_not_null(continued(t, to, "a reply long enough",
	    100 + UDP_RETURN_MSEC, NULL));
	udp_sent_free(t);
}

Test(udpsent, with_a_prefix_a_reply_is_found_after_it)
{
	struct udp_sent_table	*t = udp_sent_new(&key, "GOT:", 4);
	struct udp_dgram	 d;
	struct udp_cont		 cont;

	cr_assert_not_null(t);
	sent(t, to, "a reply long enough", 100);
	/* Behind another echo's prefix, at the end of the datagram. */
	cr_assert_not_null(continued(t, to, "ECHO: GOT:a reply long enough",
	    200, NULL));
	/* Without ours before it, a client's own words. */
	cr_assert_null(continued(t, to, "a reply long enough", 200, NULL));
	/* Inside and cut short: where the guard found our prefix. */
	d = dgram("[GOT:a reply long enough]", 200);
	d.after[d.nafter++] = d.data + 5;
	udp_sent_continued(t, to, &d, &cont);
	cr_assert_not_null(cont.r);
	d = dgram("ECHO: GOT:a reply", 200);
	d.after[d.nafter++] = d.data + 10;
	udp_sent_continued(t, to, &d, &cont);
	cr_assert_not_null(cont.r);
	d = dgram("ECHO: GOT:a replY", 200);
	d.after[d.nafter++] = d.data + 10;
	udp_sent_continued(t, to, &d, &cont);
	cr_assert_null(cont.r);
	udp_sent_free(t);
}

/*
 * Four replies to one address and port: a fifth takes the oldest's
 * place, unless it continues one, whose place it takes.
 */
Test(udpsent, a_new_reply_takes_the_place_it_continues_else_the_oldest)
{
	struct udp_sent_table	*t = udp_sent_new(&key, "", 0);
	struct udp_dgram	 d;
	struct udp_cont		 cont;
	char			 r[32];
	int			 i;

	cr_assert_not_null(t);
	for (i = 0; i < UDP_RETURN_REPLIES; i++) {
		snprintf(r, sizeof(r), "reply number %d", i);
		sent(t, to, r, 100 + i);
	}
	sent(t, to, "reply number 4", 200);
	cr_assert_null(continued(t, to, "reply number 0", 300, NULL));
	cr_assert_not_null(continued(t, to, "reply number 1", 300, NULL));
	/*
	 * reply 2 come back, wrapped: its next turn takes its place, not
	 * that of reply 1, now the oldest.
	 */
	d = dgram("<reply number 2>", 300);
	udp_sent_continued(t, to, &d, &cont);
	cr_assert_not_null(cont.r);
	udp_sent_note(t, to, &d, d.len, d.digest, 1, &cont);
	cr_assert_null(continued(t, to, "reply number 2", 400, NULL));
	cr_assert_not_null(continued(t, to, "reply number 1", 400, NULL));
	cr_assert_not_null(continued(t, to, "<reply number 2>", 400, NULL));
	udp_sent_free(t);
}

Test(udpsent, a_cut_reply_is_remembered_for_the_next)
{
	struct udp_sent_table	*t = udp_sent_new(&key, "", 0);
	struct udp_dgram	 d = dgram("a datagram too big", 100);
	struct udp_cont		 none = { NULL, 0, NULL };

	cr_assert_not_null(t);
	cr_assert_not(udp_sent_cut_again(t, to, 100));
	udp_sent_note(t, to, &d, d.len - 3, udp_digest(&key, d.data,
	    d.len - 3), 0, &none);
	cr_assert(udp_sent_cut_again(t, to, 100 + UDP_RETURN_MSEC));
	cr_assert_not(udp_sent_cut_again(t, to, 101 + UDP_RETURN_MSEC));
	cr_assert_not(udp_sent_cut_again(t, other, 100));
	udp_sent_free(t);
}

Test(udpsent, servers_ports_are_outside_the_clients_range)
{
	struct udp_sent_table	*t = udp_sent_new(&key, "", 0);

	cr_assert_not_null(t);
	cr_assert(udp_sent_server_port(t, UDP_CLIENT_PORT_MIN - 1));
	cr_assert_not(udp_sent_server_port(t, UDP_CLIENT_PORT_MIN));
	cr_assert_not(udp_sent_server_port(t, UDP_CLIENT_PORT_MAX));
	cr_assert(udp_sent_server_port(t, UDP_CLIENT_PORT_MAX + 1));
	udp_sent_client_ports(t, 40000, 50000);
	cr_assert(udp_sent_server_port(t, 39999));
	cr_assert_not(udp_sent_server_port(t, 45000));
	udp_sent_free(t);
}

/*
 * Where a reply of the thread's table is looked for inside a datagram:
 * each place of its first 512 bytes in turn, one a datagram (with a
 * reply's 16 bytes and one more after it), by the sender's turn if it
 * has a slot, else the thread's; and once one was found, there first,
 * from that sender and from any other.
 */
static void
every_place_in_turn(struct udp_sent_table *t, struct udp_cont *cont,
    size_t len, size_t last)
{
	size_t	 places[UDP_WRAP_PLACES], i;
	bool	 seen[UDP_RECENT_SEARCH + 1] = { false };

	for (i = 0; i < last; i++) {
		cr_assert_eq(udp_sent_wrap_places(t, cont, len, places), 1);
		cr_assert(places[0] >= 1 && places[0] <= last);
		seen[places[0]] = true;
	}
	for (i = 1; i <= last; i++)
		cr_assert(seen[i], "place %zu of %zu never looked at", i, last);
}

Test(udpsent, a_wrapped_reply_is_looked_for_in_turn_then_where_found)
{
	struct udp_sent_table	*t = udp_sent_new(&key, "", 0);
	struct udp_dgram	 d = dgram("a datagram of 30 bytes, padded", 100);
	struct udp_cont		 cont, stranger;
	size_t			 places[UDP_WRAP_PLACES], i;

	cr_assert_not_null(t);
	udp_sent_continued(t, to, &d, &stranger);
	cr_assert_null(stranger.s);
	every_place_in_turn(t, &stranger, 30, 13);
	sent(t, to, "the reply", 100);
	udp_sent_continued(t, to, &d, &cont);
	cr_assert_not_null(cont.s);
	cr_assert_eq(udp_sent_wrap_places(t, &cont, 17, places), 0,
	    "no place with 16 bytes and more after them");
	every_place_in_turn(t, &cont, 30, 13);
	every_place_in_turn(t, &cont, 9000, UDP_RECENT_SEARCH);
	udp_sent_wrap_found(t, &cont, 7);
	for (i = 0; i < 20; i++) {
		cr_assert_geq(udp_sent_wrap_places(t, &cont, 30, places), 1);
		cr_assert_eq(places[0], 7, "where one was found, first");
		cr_assert_geq(udp_sent_wrap_places(t, &stranger, 30, places),
		    1);
		cr_assert_eq(places[0], 7, "where one was found from another");
	}
	udp_sent_wrap_found(t, &stranger, 9);
	cr_assert_geq(udp_sent_wrap_places(t, &cont, 30, places), 2);
	cr_assert(places[0] == 7 && places[1] == 9, "its own place first, "
	    "then the thread's last");
	cr_assert_geq(udp_sent_wrap_places(t, &stranger, 30, places), 1);
	cr_assert_eq(places[0], 9);
	cr_assert_eq(udp_sent_wrap_places(t, &cont, 20, places), 1,
	    "a place past the datagram's is not looked at");
	cr_assert(places[0] != 7 && places[0] != 9);
	udp_sent_free(t);
}
