/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * How often each recent reply to a server's port has come back, for
 * far more replies than the tables that hold them exactly: a counting
 * Bloom filter, each reply's count the least of UDP_SKETCH_HASHES
 * one-byte cells that its tag picks, raised to the highest count put
 * there.  Two generations: the current one takes what is put, a lookup
 * sees both; the older is cleared and takes over every UDP_RETURN_MSEC
 * / 2, or sooner once UDP_SKETCH_PUTS tags are in the current one, so
 * that a tag is seen for 5 to 10 s (or 65,536 others), and few cells are
 * set by chance (a tag not put finds a count in about one case in a
 * hundred, and that count is most often 1).  Pure: no clock of its own.
 */
#ifndef ECHOD_UDPSKETCH_H
#define ECHOD_UDPSKETCH_H

#include <stddef.h>
#include <stdint.h>

#define UDP_SKETCH_CELLS	(1 << 20)
#define UDP_SKETCH_HASHES	3
/* Tags a generation takes: one cell in six set, at most. */
#define UDP_SKETCH_PUTS		(UDP_SKETCH_CELLS / 16)

struct udp_sketch {
	uint8_t		 cells[2][UDP_SKETCH_CELLS];
	unsigned int	 cur;		/* the generation put into */
	uint64_t	 since;		/* ms it began */
	uint64_t	 old_since;	/* ms the other began */
	size_t		 puts;		/* tags put into it */
};

/* Zeroed memory is an empty sketch; now: the first generation's start. */
void		 udp_sketch_init(struct udp_sketch *, uint64_t);
/* The count put for tag in the last one or two generations, or 0. */
unsigned int	 udp_sketch_get(struct udp_sketch *, uint64_t, uint64_t);
/* Put tag with this count (at least 1; at most 255 is kept). */
void		 udp_sketch_put(struct udp_sketch *, uint64_t, unsigned int,
		    uint64_t);

#endif
