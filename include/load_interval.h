/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* echoload's per-interval records: the timeline and the HdrHistogram log. */
#ifndef ECHOD_LOAD_INTERVAL_H
#define ECHOD_LOAD_INTERVAL_H

#include <stdbool.h>
#include <stdint.h>

struct load_run;
struct load_interval;

struct load_interval *interval_new(const struct load_run *, bool *);
void	interval_tick(struct load_interval *, const struct load_run *,
	    uint64_t);
void	interval_finish(struct load_interval *, const struct load_run *,
	    uint64_t);
void	interval_free(struct load_interval *);

#endif
