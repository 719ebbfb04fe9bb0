/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* echoload's reports: progress, summary, JSON. */
#ifndef ECHOD_LOAD_REPORT_H
#define ECHOD_LOAD_REPORT_H

#include <stdbool.h>

#include "load.h"

/* --server-pid: what the server spent while measured (Linux /proc). */
struct server_usage {
	bool		 valid;
	double		 cpu_s;
	long		 rss_before_kb;
	long		 rss_after_kb;
};

void	 load_totals(const struct load_run *, struct load_stats *, bool);
uint64_t load_failures(const struct load_run *, const struct load_stats *);
int	 load_status(const struct load_run *, const struct load_stats *);
void	 load_progress(struct load_run *, uint64_t);
void	 load_report(const struct load_run *, const struct load_stats *,
	    const struct server_usage *);

#endif
