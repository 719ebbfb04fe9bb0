/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <string.h>

#include "udpguard.h"
#include "udpsketch.h"

/* The cells picked by a tag: 20 bits each of a keyed hash's output. */
#define SKETCH_BITS	20
_Static_assert(UDP_SKETCH_CELLS == 1 << SKETCH_BITS &&
    UDP_SKETCH_HASHES * SKETCH_BITS <= 64, "a tag picks every cell");

/* A generation's time: what is put is seen for 5 to 10 s. */
#define SKETCH_MSEC	(UDP_RETURN_MSEC / 2)

void
udp_sketch_init(struct udp_sketch *s, uint64_t now)
{
	s->cur = 0;
	s->since = now;
	s->old_since = now - 2 * SKETCH_MSEC;
	s->puts = 0;
}

/*
 * A new generation, if the current one began SKETCH_MSEC ago or has
 * taken its share of tags: what is put goes into one begun less than
 * SKETCH_MSEC before, and is seen until that one is 2 * SKETCH_MSEC old
 * (or two generations' share of tags later), so for at least SKETCH_MSEC
 * and less than UDP_RETURN_MSEC.
 */
static void
sketch_age(struct udp_sketch *s, uint64_t now)
{
	if (now - s->since < SKETCH_MSEC && s->puts < UDP_SKETCH_PUTS)
		return;
	s->old_since = s->since;
	s->cur ^= 1;
	memset(s->cells[s->cur], 0, sizeof(s->cells[s->cur]));
	s->since = now;
	s->puts = 0;
}

static unsigned int
sketch_least(const uint8_t *cells, uint64_t tag)
{
	unsigned int	 i, c, least = 255;

	for (i = 0; i < UDP_SKETCH_HASHES; i++, tag >>= SKETCH_BITS) {
		c = cells[tag & (UDP_SKETCH_CELLS - 1)];
		if (c < least)
			least = c;
	}
	return least;
}

unsigned int
udp_sketch_get(struct udp_sketch *s, uint64_t tag, uint64_t now)
{
	unsigned int	 cur, old;

	sketch_age(s, now);
	cur = sketch_least(s->cells[s->cur], tag);
	if (now - s->old_since >= 2 * SKETCH_MSEC)
		return cur;
	old = sketch_least(s->cells[s->cur ^ 1], tag);
	return cur > old ? cur : old;
}

void
udp_sketch_put(struct udp_sketch *s, uint64_t tag, unsigned int count,
    uint64_t now)
{
	uint8_t		*cells, *c;
	unsigned int	 i;

	sketch_age(s, now);
	cells = s->cells[s->cur];
	if (count > 255)
		count = 255;
	for (i = 0; i < UDP_SKETCH_HASHES; i++, tag >>= SKETCH_BITS) {
		c = &cells[tag & (UDP_SKETCH_CELLS - 1)];
		if (*c < count)
			*c = (uint8_t)count;
	}
	s->puts++;
}
