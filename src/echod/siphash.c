/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/random.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "siphash.h"

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
load_le64(const uint8_t *p)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t
siphash(const struct siphash_key *key, const void *data, size_t len)
{
	const uint8_t	*in = data, *end = in + (len & ~(size_t)7);
	uint64_t	 v0 = 0x736f6d6570736575ULL ^ key->k0;
	uint64_t	 v1 = 0x646f72616e646f6dULL ^ key->k1;
	uint64_t	 v2 = 0x6c7967656e657261ULL ^ key->k0;
	uint64_t	 v3 = 0x7465646279746573ULL ^ key->k1;
	uint64_t	 m, b = (uint64_t)len << 56;
	size_t		 left = len & 7;

	for (; in != end; in += 8) {
		m = load_le64(in);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	while (left-- > 0)
		b |= (uint64_t)in[left] << (8 * left);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t
siphash_memo(const struct siphash_key *key, struct siphash_memo *m,
    const uint64_t in[3])
{
	if (!m->valid || memcmp(m->in, in, sizeof(m->in)) != 0) {
		memcpy(m->in, in, sizeof(m->in));
		m->hash = siphash(key, in, sizeof(m->in));
		m->valid = true;
	}
	return m->hash;
}

void
siphash_random_key(struct siphash_key *key)
{
	struct timespec	 ts;

	if (getrandom(key, sizeof(*key), 0) == (ssize_t)sizeof(*key))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	key->k0 = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ getpid();
	key->k1 = (uint64_t)ts.tv_sec ^ (uintptr_t)key;
}
