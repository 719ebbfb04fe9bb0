/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"

int
peers_init(struct peer_table *pt, size_t expected, unsigned int v6_prefix)
{
	size_t	 n = 64;

	pt->v6_prefix = v6_prefix > 128 ? 128 : v6_prefix;
	siphash_random_key(&pt->key);
	while (n < expected && n < (1 << 20))
		n <<= 1;
	if ((pt->buckets = calloc(n, sizeof(*pt->buckets))) == NULL)
		return -1;
	pt->mask = n - 1;
	return 0;
}

static void
peers_key(const struct peer_table *pt, const struct sockaddr *sa,
    uint8_t *family, uint8_t addr[16])
{
	unsigned int			 bits;
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	const struct sockaddr_in	*sin = (const void *)sa;

	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		*family = AF_INET6;
		memcpy(addr, &sin6->sin6_addr, 16);
		/* Only the prefix counts: the rest is the client's to pick. */
		bits = pt->v6_prefix;
		if (bits % 8 != 0)
			addr[bits / 8] &= 0xff << (8 - bits % 8);
		memset(addr + (bits + 7) / 8, 0, 16 - (bits + 7) / 8);
	} else {
		*family = AF_INET;
		if (sa->sa_family == AF_INET6)
			memcpy(addr, &sin6->sin6_addr.s6_addr[12], 4);
		else
			memcpy(addr, &sin->sin_addr, 4);
	}
}

/* SipHash with a key drawn at start: no client can choose collisions. */
static size_t
peers_hash(const struct peer_table *pt, uint8_t family, const uint8_t *addr)
{
	uint8_t		 key[17];

	key[0] = family;
	memcpy(key + 1, addr, 16);
	return siphash(&pt->key, key, sizeof(key)) & pt->mask;
}

/* The entry for sa's address, created with count 0 if new; NULL if OOM. */
struct peer *
peers_get(struct peer_table *pt, const struct sockaddr *sa)
{
	struct peer	*p;
	uint8_t		 family, addr[16];
	size_t		 b;

	peers_key(pt, sa, &family, addr);
	b = peers_hash(pt, family, addr);
	for (p = pt->buckets[b]; p != NULL; p = p->next)
		if (p->family == family && memcmp(p->addr, addr, 16) == 0)
			return p;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->family = family;
	memcpy(p->addr, addr, 16);
	p->next = pt->buckets[b];
	pt->buckets[b] = p;
	return p;
}

/* Frees the entry once no connection counts on it. */
void
peers_put(struct peer_table *pt, struct peer *p)
{
	struct peer	**pp;

	if (p->count > 0)
		return;
	for (pp = &pt->buckets[peers_hash(pt, p->family, p->addr)];
	    *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			free(p);
			return;
		}
}

void
peers_free(struct peer_table *pt)
{
	struct peer	*p, *next;
	size_t		 b;

	if (pt->buckets == NULL)
		return;
	for (b = 0; b <= pt->mask; b++)
		for (p = pt->buckets[b]; p != NULL; p = next) {
			next = p->next;
			free(p);
		}
	free(pt->buckets);
	pt->buckets = NULL;
}
