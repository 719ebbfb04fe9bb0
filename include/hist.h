/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * A latency histogram with logarithmic buckets, in the manner of
 * HdrHistogram: exact below 128 ns, then 64 buckets per power of two,
 * so any value is known to within 1/64 (1.6 %) from 1 ns to centuries,
 * in a fixed 30 KB.  Recording is an increment; histograms of threads
 * are added together at the end.
 */
#ifndef ECHOD_HIST_H
#define ECHOD_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS	6
#define HIST_BUCKETS	((64 - HIST_SUB_BITS) * (1 << HIST_SUB_BITS) + \
			    (1 << HIST_SUB_BITS))

struct hist {
	uint64_t	 count;
	uint64_t	 sum;		/* for the mean */
	uint64_t	 min, max;	/* exact */
	uint64_t	 buckets[HIST_BUCKETS];
};

void		 hist_init(struct hist *);
void		 hist_record(struct hist *, uint64_t);
void		 hist_add(struct hist *, const struct hist *);
void		 hist_snapshot(struct hist *, const struct hist *);
void		 hist_sub(struct hist *, const struct hist *, const struct hist *);
double		 hist_mean(const struct hist *);
double		 hist_stddev(const struct hist *);
uint64_t	 hist_percentile(const struct hist *, double);
unsigned int	 hist_bucket(uint64_t);
uint64_t	 hist_bucket_high(unsigned int);

#endif
