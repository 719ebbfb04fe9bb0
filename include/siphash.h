/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * SipHash-2-4 (Aumasson and Bernstein): a keyed hash for tables whose
 * keys an attacker chooses (client addresses), so that nobody who does
 * not know the key can aim many keys at one bucket.
 */
#ifndef ECHOD_SIPHASH_H
#define ECHOD_SIPHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct siphash_key {
	uint64_t	 k0, k1;
};

uint64_t siphash(const struct siphash_key *, const void *, size_t);
/* A key from getrandom(2); falls back to the clock only if it fails. */
void	siphash_random_key(struct siphash_key *);

/*
 * The SipHash of three words, kept for the next ask of the same: a table
 * asks for one datagram's sender's several times.
 */
struct siphash_memo {
	uint64_t	 in[3];
	uint64_t	 hash;
	bool		 valid;
};

uint64_t siphash_memo(const struct siphash_key *, struct siphash_memo *,
	    const uint64_t [3]);

#endif
