/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * echoload's per-interval records: every -i, what the threads counted
 * since the last one (their live counters and a snapshot of their
 * histograms, less the previous), as a timeline (JSON lines or CSV, to
 * standard error or --timeline FILE) and as an HdrHistogram interval
 * log (--hdr-log FILE).  Run by the reporter thread only.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hist.h"
#include "load.h"
#include "load_hdrlog.h"
#include "load_interval.h"
#include "load_report.h"
#include "util.h"

struct load_interval {
	uint64_t		 every_ns;
	uint64_t		 last_ns;	/* the previous record's end */
	FILE			*timeline;	/* NULL: none */
	bool			 csv;
	FILE			*hdr;
	struct load_stats	 prev;		/* counters at last_ns */
	struct hist		 prev_hist;	/* latency at last_ns */
	struct hist		 now_hist, one;
};

static FILE *
interval_open_file(const char *path, const char *what)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		fprintf(stderr, "echoload: cannot write the %s %s: %s\n", what,
		    path, strerror(errno));
	return f;
}

static bool
ends_with(const char *s, const char *tail)
{
	size_t	 n = strlen(s), m = strlen(tail);

	return n >= m && strcmp(s + n - m, tail) == 0;
}

static const char *const timeline_names[] = {
	"t_s", "interval_s", "sent", "replies", "replies_per_s",
	"mb_in_per_s", "open", "errors", "lost", "unsent", "mean_us",
	"p50_us", "p90_us", "p99_us", "p99_9_us", "max_us"
};
#define TIMELINE_FIELDS	(sizeof(timeline_names) / sizeof(timeline_names[0]))

/* NULL with no -i, --timeline nor --hdr-log; *failed if a file failed. */
struct load_interval *
interval_new(const struct load_run *run, bool *failed)
{
	const struct load_opts	*o = run->opts;
	struct load_interval	*iv;
	struct timespec		 ts;
	unsigned int		 i;

	*failed = false;
	if (o->interval_ns == 0)
		return NULL;
	iv = xcalloc(1, sizeof(*iv), "the intervals");
	iv->every_ns = o->interval_ns;
	iv->last_ns = run->start_ns;
	hist_init(&iv->prev_hist);
	if (o->timeline != NULL) {
		iv->timeline = interval_open_file(o->timeline, "timeline");
		iv->csv = ends_with(o->timeline, ".csv");
	} else if (o->hdr_log == NULL || o->interval_given)
		iv->timeline = stderr;
	if (o->hdr_log != NULL && (iv->hdr = interval_open_file(o->hdr_log,
	    "HdrHistogram log")) == NULL)
		*failed = true;
	if (o->timeline != NULL && iv->timeline == NULL)
		*failed = true;
	if (*failed) {
		interval_free(iv);
		return NULL;
	}
	for (i = 0; iv->csv && i < TIMELINE_FIELDS; i++)
		fprintf(iv->timeline, "%s%s", timeline_names[i],
		    i + 1 < TIMELINE_FIELDS ? "," : "\n");
	if (iv->hdr != NULL) {
		clock_gettime(CLOCK_REALTIME, &ts);
		hdrlog_header(iv->hdr, ts.tv_sec + ts.tv_nsec / 1e9);
	}
	return iv;
}

static uint64_t
errors_of(const struct load_stats *s)
{
	uint64_t	 n = 0;
	int		 k;

	for (k = 0; k < ERR_KINDS; k++)
		n += s->errors[k];
	return n;
}

static void
interval_timeline(struct load_interval *iv, const struct load_run *run,
    const struct load_stats *now, uint64_t end)
{
	const struct load_stats	*p = &iv->prev;
	const struct hist	*h = &iv->one;
	double			 len = (end - iv->last_ns) / 1e9;
	double			 v[TIMELINE_FIELDS];
	unsigned int		 i;

	v[0] = (end - run->start_ns) / 1e9;
	v[1] = len;
	v[2] = now->sent - p->sent;
	v[3] = now->replies - p->replies;
	v[4] = len > 0 ? v[3] / len : 0;
	v[5] = len > 0 ? (now->bytes_received - p->bytes_received) / len /
	    1e6 : 0;
	v[6] = now->open;
	v[7] = errors_of(now) - errors_of(p);
	v[8] = now->errors[ERR_LOST] - p->errors[ERR_LOST];
	v[9] = now->unsent - p->unsent;
	v[10] = hist_mean(h) / 1e3;
	v[11] = hist_percentile(h, 50) / 1e3;
	v[12] = hist_percentile(h, 90) / 1e3;
	v[13] = hist_percentile(h, 99) / 1e3;
	v[14] = hist_percentile(h, 99.9) / 1e3;
	v[15] = h->max / 1e3;
	if (!iv->csv)
		fputc('{', iv->timeline);
	for (i = 0; i < TIMELINE_FIELDS; i++) {
		if (i != 0)
			fputc(',', iv->timeline);
		if (!iv->csv)
			fprintf(iv->timeline, "\"%s\":", timeline_names[i]);
		/* Times to the millisecond, counts whole, the rest to 0.1. */
		fprintf(iv->timeline, "%.*f", i < 2 || i == 5 ? 3 :
		    (i >= 2 && i <= 9 && i != 4) ? 0 : 1, v[i]);
	}
	fputs(iv->csv ? "\n" : "}\n", iv->timeline);
	fflush(iv->timeline);
}

/*
 * The record of the interval that ends at end; the last, shorter one
 * only if something happened in it.
 */
static void
interval_emit(struct load_interval *iv, const struct load_run *run,
    uint64_t end, bool last)
{
	struct load_stats	 now;
	unsigned int		 i;

	load_totals(run, &now, false);
	hist_init(&iv->now_hist);
	for (i = 0; i < run->opts->threads; i++) {
		hist_snapshot(&iv->one, &run->threads[i].stats.latency);
		hist_add(&iv->now_hist, &iv->one);
	}
	hist_sub(&iv->one, &iv->now_hist, &iv->prev_hist);
	if (last && now.sent == iv->prev.sent && now.replies ==
	    iv->prev.replies && errors_of(&now) == errors_of(&iv->prev) &&
	    now.unsent == iv->prev.unsent)
		return;
	if (iv->timeline != NULL)
		interval_timeline(iv, run, &now, end);
	if (iv->hdr != NULL) {
		hdrlog_interval(iv->hdr, (iv->last_ns - run->start_ns) / 1e9,
		    (end - iv->last_ns) / 1e9, &iv->one);
		fflush(iv->hdr);
	}
	iv->prev = now;
	iv->prev_hist = iv->now_hist;
	iv->last_ns = end;
}

/* From the reporter's tick: a record for each whole interval passed. */
void
interval_tick(struct load_interval *iv, const struct load_run *run,
    uint64_t now)
{
	if (iv != NULL && now - iv->last_ns >= iv->every_ns)
		interval_emit(iv, run, iv->last_ns + iv->every_ns, false);
}

/* At the end: the last, shorter interval, if any time is left in it. */
void
interval_finish(struct load_interval *iv, const struct load_run *run,
    uint64_t now)
{
	if (iv != NULL && now > iv->last_ns)
		interval_emit(iv, run, now, true);
}

void
interval_free(struct load_interval *iv)
{
	if (iv == NULL)
		return;
	if (iv->timeline != NULL && iv->timeline != stderr)
		fclose(iv->timeline);
	if (iv->hdr != NULL)
		fclose(iv->hdr);
	free(iv);
}
