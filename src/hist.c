/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <string.h>

#include "hist.h"

#define SUB		(1u << HIST_SUB_BITS)

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/*
 * Values below 2 * SUB have a bucket each; above, the top HIST_SUB_BITS
 * bits after the leading one choose among SUB buckets of that power of
 * two.
 */
unsigned int
hist_bucket(uint64_t v)
{
	unsigned int	 shift;

	if (v < 2 * SUB)
		return v;
	shift = 63 - __builtin_clzll(v) - HIST_SUB_BITS;
	return (shift + 1) * SUB + ((v >> shift) - SUB);
}

/* The largest value that falls in bucket i. */
uint64_t
hist_bucket_high(unsigned int i)
{
	unsigned int	 shift;

	if (i < 2 * SUB)
		return i;
	shift = i / SUB - 1;
	/* The next bucket's start, less one (wrapping at the very top). */
	return (((uint64_t)SUB + i % SUB + 1) << shift) - 1;
}

void
hist_record(struct hist *h, uint64_t v)
{
	h->buckets[hist_bucket(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
hist_add(struct hist *to, const struct hist *from)
{
	unsigned int	 i;

	if (from->count == 0)
		return;
	for (i = 0; i < HIST_BUCKETS; i++)
		to->buckets[i] += from->buckets[i];
	to->count += from->count;
	to->sum += from->sum;
	if (from->min < to->min)
		to->min = from->min;
	if (from->max > to->max)
		to->max = from->max;
}

/*
 * The value at or below which pct percent of the values lie, as the top
 * of its bucket, but never above the largest value recorded; 0 when
 * empty.
 */
uint64_t
hist_percentile(const struct hist *h, double pct)
{
	uint64_t	 rank, seen = 0, v;
	unsigned int	 i;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)(pct / 100.0 * h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			break;
	}
	v = hist_bucket_high(i);
	return v > h->max ? h->max : v;
}
