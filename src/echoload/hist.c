/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <math.h>
#include <stdbool.h>
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

/*
 * One thread records, the reporter reads while it does (for each
 * interval): relaxed atomic loads and stores, which cost what plain ones
 * do, since no other thread writes.
 */
#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)

void
hist_record(struct hist *h, uint64_t v)
{
	uint64_t	*b = &h->buckets[hist_bucket(v)];

	STORE(b, LOAD(b) + 1);
	STORE(&h->count, LOAD(&h->count) + 1);
	STORE(&h->sum, LOAD(&h->sum) + v);
	if (v < LOAD(&h->min))
		STORE(&h->min, v);
	if (v > LOAD(&h->max))
		STORE(&h->max, v);
}

/* A copy of a histogram another thread is recording into. */
void
hist_snapshot(struct hist *to, const struct hist *from)
{
	unsigned int	 i;

	to->count = LOAD(&from->count);
	to->sum = LOAD(&from->sum);
	to->min = LOAD(&from->min);
	to->max = LOAD(&from->max);
	for (i = 0; i < HIST_BUCKETS; i++)
		to->buckets[i] = LOAD(&from->buckets[i]);
}

/*
 * What was recorded between two snapshots (now, then): min and max to
 * within a bucket, never beyond the whole's.
 */
void
hist_sub(struct hist *to, const struct hist *now, const struct hist *then)
{
	unsigned int	 i;
	bool		 first = true;

	hist_init(to);
	for (i = 0; i < HIST_BUCKETS; i++) {
		to->buckets[i] = now->buckets[i] - then->buckets[i];
		if (to->buckets[i] == 0)
			continue;
		if (first)
			to->min = i < 2 * SUB ? i : hist_bucket_high(i - 1) + 1;
		first = false;
		to->max = hist_bucket_high(i);
	}
	to->count = now->count - then->count;
	to->sum = now->sum - then->sum;
	if (to->count == 0)
		return;
	if (to->min < now->min)
		to->min = now->min;
	if (to->max > now->max)
		to->max = now->max;
}

double
hist_mean(const struct hist *h)
{
	return h->count != 0 ? (double)h->sum / h->count : 0;
}

/* The standard deviation, each value taken as its bucket's middle. */
double
hist_stddev(const struct hist *h)
{
	double		 mean = hist_mean(h), d, sq = 0, lo;
	unsigned int	 i;

	if (h->count == 0)
		return 0;
	for (i = 0; i < HIST_BUCKETS; i++) {
		if (h->buckets[i] == 0)
			continue;
		lo = i < 2 * SUB ? i : hist_bucket_high(i - 1) + 1;
		d = (lo + hist_bucket_high(i)) / 2.0 - mean;
		sq += d * d * h->buckets[i];
	}
	return sqrt(sq / h->count);
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
