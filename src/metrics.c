/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The counters: their names and meanings, Prometheus text for the
 * endpoint (metrics_http.c), and the SIGUSR1 line.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "log.h"
#include "metrics.h"


struct metric {
	const char	*name;		/* Prometheus name */
	const char	*label;		/* in the SIGUSR1 line */
	const char	*type;
	const char	*help;
	size_t		 offset;	/* in struct stats */
	bool		 udp;		/* only with -U */
};

static const struct metric metrics[] = {
	{ "echod_connections_open", "open", "gauge",
	    "TCP and Unix connections open now.",
	    offsetof(struct stats, open), false },
	{ "echod_connections_total", "accepted", "counter",
	    "Connections accepted.",
	    offsetof(struct stats, accepted), false },
	{ "echod_connections_rejected_total", "rejected", "counter",
	    "Connections closed at once: --max-per-ip, or a bad PROXY header.",
	    offsetof(struct stats, rejected), false },
	{ "echod_connections_timed_out_total", "timed out", "counter",
	    "Connections closed by the idle or write timeout.",
	    offsetof(struct stats, timed_out), false },
	{ "echod_connections_shed_total", "shed", "counter",
	    "Connections closed to bring buffers back under --memory-limit.",
	    offsetof(struct stats, shed), false },
	{ "echod_tls_handshakes_failed_total", "TLS handshakes failed",
	    "counter", "TLS handshakes that failed.",
	    offsetof(struct stats, tls_failed), false },
	{ "echod_bytes_received_total", "bytes in", "counter",
	    "Bytes received from clients, TCP, Unix and UDP.",
	    offsetof(struct stats, bytes_in), false },
	{ "echod_bytes_sent_total", "bytes out", "counter",
	    "Bytes sent to clients, TCP, Unix and UDP.",
	    offsetof(struct stats, bytes_out), false },
	{ "echod_udp_datagrams_received_total", "UDP in", "counter",
	    "UDP datagrams received.",
	    offsetof(struct stats, udp_in), true },
	{ "echod_udp_datagrams_sent_total", "UDP echoed", "counter",
	    "UDP replies sent.",
	    offsetof(struct stats, udp_out), true },
	{ "echod_udp_datagrams_truncated_total", "UDP truncated", "counter",
	    "UDP replies cut to fit one datagram.",
	    offsetof(struct stats, udp_truncated), true },
	{ "echod_udp_datagrams_unanswered_total", "UDP not answered",
	    "counter", "UDP datagrams not answered, for any reason.",
	    offsetof(struct stats, udp_dropped), true },
	{ "echod_udp_datagrams_refused_total", "UDP could loop or amplify",
	    "counter", "UDP datagrams not answered because the reply could "
	    "start a loop or amplify: see echod(1).",
	    offsetof(struct stats, udp_refused), true },
	{ "echod_udp_datagrams_limited_total", "UDP over a rate limit",
	    "counter", "UDP datagrams not answered because of a rate limit.",
	    offsetof(struct stats, udp_limited), true },
};

#define NMETRICS	(sizeof(metrics) / sizeof(metrics[0]))

static uint64_t
metric_value(const struct metric *m, const struct metrics_view *v,
    unsigned int thread)
{
	return stat_get((stat_t *)((char *)v->stats[thread] + m->offset));
}

static bool
metric_shown(const struct metric *m, const struct metrics_view *v)
{
	return !m->udp || v->udp;
}

/* Prometheus text format 0.0.4; per thread with --threads. */
void
metrics_render(const struct metrics_view *v, struct evbuffer *out)
{
	const struct metric	*m;
	unsigned int		 i;

	for (m = metrics; m < metrics + NMETRICS; m++) {
		if (!metric_shown(m, v))
			continue;
		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
		    m->name, m->help, m->name, m->type);
		if (v->nthreads == 1) {
			evbuffer_add_printf(out, "%s %llu\n", m->name,
			    (unsigned long long)metric_value(m, v, 0));
			continue;
		}
		for (i = 0; i < v->nthreads; i++)
			evbuffer_add_printf(out, "%s{thread=\"%u\"} %llu\n",
			    m->name, i, (unsigned long long)metric_value(m, v,
			    i));
	}
}

static void
metrics_log_range(const struct metrics_view *v, unsigned int first,
    unsigned int end, const char *who)
{
	const struct metric	*m;
	char			 line[1024];
	size_t			 used;
	unsigned int		 i;
	uint64_t		 sum;

	used = snprintf(line, sizeof(line), "%s:", who);
	for (m = metrics; m < metrics + NMETRICS; m++) {
		if (!metric_shown(m, v) || used >= sizeof(line))
			continue;
		for (sum = 0, i = first; i < end; i++)
			sum += metric_value(m, v, i);
		used += snprintf(line + used, sizeof(line) - used, "%s %s %llu",
		    m == metrics ? "" : ",", m->label, (unsigned long long)sum);
	}
	log_notice("%s", line);
}

/* SIGUSR1: the totals, after one line per thread with --threads. */
void
metrics_log(const struct metrics_view *v)
{
	char		 who[32];
	unsigned int	 t;

	for (t = 0; v->nthreads > 1 && t < v->nthreads; t++) {
		snprintf(who, sizeof(who), "thread %u counters", t);
		metrics_log_range(v, t, t + 1, who);
	}
	metrics_log_range(v, 0, v->nthreads, "counters");
}
