/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * echoload's latency figures from a histogram: the summary's lines, the
 * full distribution and its spectrum (as wrk2 --latency prints them),
 * and the same as JSON.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include "hist.h"
#include "load_latency.h"

/* The distribution's fixed points, as wrk2 --latency gives them. */
static const double dist_pcts[] = {
	50, 75, 90, 99, 99.9, 99.99, 99.999, 100
};
#define NDIST	(sizeof(dist_pcts) / sizeof(dist_pcts[0]))

/*
 * The spectrum's percentiles, as HdrHistogram's percentile iterator
 * makes them with five ticks to each halving of what is left above:
 * 0, 10, ... 50, 55, ... 75, 77.5, ... until a step is finer than one
 * value.
 */
static double
spectrum_next(double pct)
{
	return pct + 100 / (5 * exp2(floor(log2(100 / (100 - pct))) + 1));
}

void
latency_line(FILE *out, const char *label, const struct hist *h)
{
	static const double	 pcts[] = { 50, 90, 99, 99.9 };
	static const char *const names[] = { "p50", "p90", "p99", "p99.9" };
	unsigned int		 i;

	fprintf(out, "%-12s min %.3f ms", label, h->count ? h->min / 1e6 : 0);
	for (i = 0; i < 4; i++)
		fprintf(out, ", %s %.3f ms", names[i],
		    hist_percentile(h, pcts[i]) / 1e6);
	fprintf(out, ", max %.3f ms\n", h->max / 1e6);
	fprintf(out, "%-12s mean %.3f ms, stdev %.3f ms\n", "",
	    hist_mean(h) / 1e6, hist_stddev(h) / 1e6);
}

void
latency_distribution(FILE *out, const struct hist *h)
{
	double		 pct, value;
	uint64_t	 below;
	unsigned int	 i;

	fprintf(out, "distribution\n");
	for (i = 0; i < NDIST; i++)
		fprintf(out, "  %8.3f%%  %10.3f ms\n", dist_pcts[i],
		    hist_percentile(h, dist_pcts[i]) / 1e6);
	fprintf(out, "spectrum\n  %12s  %14s  %12s  %10s\n", "value (ms)",
	    "percentile", "count", "1/(1-p)");
	if (h->count == 0)
		return;
	for (pct = 0;; pct = spectrum_next(pct)) {
		value = hist_percentile(h, pct);
		below = (uint64_t)(pct / 100 * h->count + 0.5);
		if (pct >= 100 || below >= h->count ||
		    100 / (100 - pct) > h->count) {
			fprintf(out, "  %12.3f  %14.12f  %12llu  %10s\n",
			    h->max / 1e6, 1.0, (unsigned long long)h->count,
			    "inf");
			break;
		}
		fprintf(out, "  %12.3f  %14.12f  %12llu  %10.2f\n", value / 1e6,
		    pct / 100, (unsigned long long)below, 100 / (100 - pct));
	}
}

void
latency_json(FILE *out, const char *key, const struct hist *h, bool spectrum)
{
	static const char *const names[] = { "p50", "p75", "p90", "p99",
	    "p99_9", "p99_99", "p99_999", "p100" };
	double		 pct;
	unsigned int	 i;
	const char	*sep = "";

	fprintf(out, "\"%s\":{\"min\":%.1f,\"mean\":%.1f,\"stdev\":%.1f", key,
	    h->count ? h->min / 1e3 : 0, hist_mean(h) / 1e3,
	    hist_stddev(h) / 1e3);
	for (i = 0; i < NDIST; i++)
		fprintf(out, ",\"%s\":%.1f", names[i],
		    hist_percentile(h, dist_pcts[i]) / 1e3);
	fprintf(out, ",\"max\":%.1f", h->max / 1e3);
	if (spectrum) {
		fprintf(out, ",\"spectrum\":[");
		for (pct = 0; h->count != 0 && pct < 100 &&
		    100 / (100 - pct) <= h->count; pct = spectrum_next(pct)) {
			fprintf(out, "%s[%.12f,%.1f]", sep, pct / 100,
			    hist_percentile(h, pct) / 1e3);
			sep = ",";
		}
		if (h->count != 0)
			fprintf(out, "%s[1.0,%.1f]", sep, h->max / 1e3);
		fprintf(out, "]");
	}
	fprintf(out, "}");
}
