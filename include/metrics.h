/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The counters, for operators: Prometheus text at GET /metrics over
 * libevent's evhttp (--metrics), and the same in the log on SIGUSR1.
 * Metrics reads the counters through a view, and owns its server.
 */
#ifndef ECHOD_METRICS_H
#define ECHOD_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "addr.h"
#include "stats.h"

struct metrics_view {
	struct stats	**stats;	/* one per thread */
	unsigned int	  nthreads;
	bool		  udp;		/* the UDP counters are shown */
};

struct metrics;

int	metrics_start(struct metrics **, struct event_base *,
	    const struct listen_list *, const struct metrics_view *,
	    unsigned int, unsigned int);
void	metrics_free(struct metrics *);
void	metrics_log(const struct metrics_view *);
void	metrics_render(const struct metrics_view *, struct evbuffer *);
void	metrics_udp_sums(const struct metrics_view *, uint64_t *, uint64_t *,
	    uint64_t *);

#endif
