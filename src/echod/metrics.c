/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The counters: their names and meanings, Prometheus text for the
 * endpoint (metrics_http.c), and the SIGUSR1 line.  Names follow
 * Prometheus's conventions: the unit last before _total, one metric
 * with a label where counts are parts of one whole, the same labels
 * whatever the options, and the process_* series of its client
 * libraries.
 */
#include "config.h"

#include <sys/resource.h>
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "log.h"
#include "metrics.h"
#include "udpguard.h"

_Static_assert(UDP_TOTAL_LIMIT < STAT_UDP_REASONS,
    "a UDP verdict has no counter: raise STAT_UDP_REASONS");

/* A label's value for index i of a counter array; NULL: none. */
typedef const char *(*metric_label_fn)(unsigned int);

struct metric {
	const char	*name;		/* Prometheus name */
	const char	*type;
	const char	*help;
	size_t		 offset;	/* in struct stats */
	const char	*label;		/* over an array of counters, or NULL */
	metric_label_fn	 label_value;
	unsigned int	 count;		/* of the array */
	bool		 udp;		/* only with -U */
};

static const char *
metric_tls_result(unsigned int i)
{
	switch ((enum stat_tls)i) {
	case STAT_TLS_OK:
		return "ok";
	case STAT_TLS_FAILED:
		return "failed";
	case STAT_TLS_TIMEOUT:
		return "timeout";
	case STAT_TLS_RESULTS:
		break;
	}
	return NULL;
}

/*
 * The reason label: one value per verdict, so that a new verdict
 * without a name here is a compiler warning (-Wswitch), not a count
 * that goes missing.
 */
static const char *
metric_udp_reason(unsigned int i)
{
	switch ((enum udp_verdict)i) {
	case UDP_ANSWER:
		return "send_failed";
	case UDP_NO_ADDRESS:
		return "no_address";
	case UDP_PRIVILEGED_PORT:
		return "privileged_port";
	case UDP_SERVICE_PORT:
		return "service_port";
	case UDP_OWN_PORT:
		return "own_port";
	case UDP_OWN_PREFIX:
		return "own_prefix";
	case UDP_AMPLIFY:
		return "amplify";
	case UDP_RETURNED:
		return "returned";
	case UDP_CUT_AGAIN:
		return "cut_again";
	case UDP_SOURCE_LIMIT:
		return "source_rate_limit";
	case UDP_TOTAL_LIMIT:
		return "total_rate_limit";
	}
	return NULL;
}

#define STAT(field)	offsetof(struct stats, field)

static const struct metric metrics[] = {
	{ .name = "echod_connections_open", .type = "gauge",
	    .help = "TCP and Unix connections open now.",
	    .offset = STAT(open) },
	{ .name = "echod_connections_total", .type = "counter",
	    .help = "Connections accepted, those then refused included.",
	    .offset = STAT(accepted) },
	{ .name = "echod_connections_rejected_total", .type = "counter",
	    .help = "Connections closed at once: --max-per-ip, --proxy-from, "
	    "or a bad PROXY header.", .offset = STAT(rejected) },
	{ .name = "echod_connections_timed_out_total", .type = "counter",
	    .help = "Connections closed by the idle or write timeout.",
	    .offset = STAT(timed_out) },
	{ .name = "echod_connections_shed_total", .type = "counter",
	    .help = "Connections closed to bring buffers back under "
	    "--memory-limit.", .offset = STAT(shed) },
	{ .name = "echod_buffered_bytes", .type = "gauge",
	    .help = "Bytes in connections' buffers: what --memory-limit "
	    "counts.",
	    .offset = STAT(buffered) },
	{ .name = "echod_tls_handshakes_total", .type = "counter",
	    .help = "TLS handshakes, by how they ended.",
	    .offset = STAT(tls_handshakes), .label = "result",
	    .label_value = metric_tls_result, .count = STAT_TLS_RESULTS },
	{ .name = "echod_received_bytes_total", .type = "counter",
	    .help = "Bytes received from clients, TCP, Unix and UDP.",
	    .offset = STAT(bytes_in) },
	{ .name = "echod_sent_bytes_total", .type = "counter",
	    .help = "Bytes sent to clients, TCP, Unix and UDP.",
	    .offset = STAT(bytes_out) },
	{ .name = "echod_udp_received_datagrams_total", .type = "counter",
	    .help = "UDP datagrams received.", .offset = STAT(udp_in),
	    .udp = true },
	{ .name = "echod_udp_sent_datagrams_total", .type = "counter",
	    .help = "UDP replies sent.", .offset = STAT(udp_out),
	    .udp = true },
	{ .name = "echod_udp_truncated_datagrams_total", .type = "counter",
	    .help = "UDP replies cut to fit one datagram.",
	    .offset = STAT(udp_truncated), .udp = true },
	{ .name = "echod_udp_unanswered_datagrams_total", .type = "counter",
	    .help = "UDP datagrams not answered, by reason: see echod(1).",
	    .offset = STAT(udp_unanswered), .label = "reason",
	    .label_value = metric_udp_reason, .count = STAT_UDP_REASONS,
	    .udp = true },
};

#define NMETRICS	(sizeof(metrics) / sizeof(metrics[0]))

static uint64_t
stat_at(const struct metrics_view *v, unsigned int thread, size_t offset)
{
	return stat_get((stat_t *)((char *)v->stats[thread] + offset));
}

static void
metric_render(const struct metric *m, const struct metrics_view *v,
    struct evbuffer *out)
{
	const char	*value;
	unsigned int	 t, i;
	size_t		 offset;

	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name,
	    m->help, m->name, m->type);
	for (t = 0; t < v->nthreads; t++) {
		if (m->label == NULL) {
			evbuffer_add_printf(out, "%s{thread=\"%u\"} %llu\n",
			    m->name, t, (unsigned long long)stat_at(v, t,
			    m->offset));
			continue;
		}
		for (i = 0; i < m->count; i++) {
			if ((value = m->label_value(i)) == NULL)
				continue;
			offset = m->offset + i * sizeof(stat_t);
			evbuffer_add_printf(out, "%s{thread=\"%u\",%s=\"%s\"} "
			    "%llu\n", m->name, t, m->label, value,
			    (unsigned long long)stat_at(v, t, offset));
		}
	}
}

/* What the process is, as every exporter says it: value 1. */
static void
metrics_render_build(struct evbuffer *out)
{
	evbuffer_add_printf(out, "# HELP echod_build_info The version of "
	    "echod and of the libevent it runs on.\n"
	    "# TYPE echod_build_info gauge\n"
	    "echod_build_info{version=\"%s\",libevent=\"%s\"} 1\n",
	    PACKAGE_VERSION, event_get_version());
}

static void
metrics_process_one(struct evbuffer *out, const char *name,
    const char *type, const char *help, const char *value)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name,
	    help, name, type, name, value);
}

/* /proc/stat's btime: the boot, in seconds since the epoch. */
static long long
metrics_boot_time(void)
{
	char		 line[256];
	long long	 btime = -1;
	FILE		*f;

	if ((f = fopen("/proc/stat", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "btime %lld", &btime) == 1)
			break;
	fclose(f);
	return btime;
}

/* Entries of /proc/self/fd, the one reading them among them. */
static long
metrics_open_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	long		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * The process_* series, as Prometheus's Go and Python client libraries
 * read them from /proc/self; a file that cannot be read leaves its
 * series out.
 */
static void
metrics_render_process(struct evbuffer *out)
{
	char			 buf[1024], value[64], *p;
	unsigned long long	 utime, stime, start, vsize;
	long long		 rss, btime;
	long			 ticks = sysconf(_SC_CLK_TCK);
	long			 page = sysconf(_SC_PAGESIZE), fds;
	struct rlimit		 rl;
	FILE			*f;
	int			 n = 0;

	if ((f = fopen("/proc/self/stat", "r")) != NULL) {
		/* After the command name, which may hold spaces and ')'. */
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL)
			n = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
			    "%*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu "
			    "%llu %lld", &utime, &stime, &start, &vsize, &rss);
		fclose(f);
	}
	if (n == 5 && ticks > 0) {
		snprintf(value, sizeof(value), "%.2f",
		    (double)(utime + stime) / ticks);
		metrics_process_one(out, "process_cpu_seconds_total",
		    "counter", "Total user and system CPU time spent in "
		    "seconds.", value);
		snprintf(value, sizeof(value), "%lld", rss * page);
		metrics_process_one(out, "process_resident_memory_bytes",
		    "gauge", "Resident memory size in bytes.", value);
		snprintf(value, sizeof(value), "%llu", vsize);
		metrics_process_one(out, "process_virtual_memory_bytes",
		    "gauge", "Virtual memory size in bytes.", value);
		if ((btime = metrics_boot_time()) != -1) {
			snprintf(value, sizeof(value), "%.2f", btime +
			    (double)start / ticks);
			metrics_process_one(out, "process_start_time_seconds",
			    "gauge", "Start time of the process since unix "
			    "epoch in seconds.", value);
		}
	}
	if ((fds = metrics_open_fds()) != -1) {
		snprintf(value, sizeof(value), "%ld", fds);
		metrics_process_one(out, "process_open_fds", "gauge",
		    "Number of open file descriptors.", value);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur !=
	    RLIM_INFINITY) {
		snprintf(value, sizeof(value), "%llu",
		    (unsigned long long)rl.rlim_cur);
		metrics_process_one(out, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.", value);
	}
}

/*
 * Prometheus text format 0.0.4.  Every per-thread series has its thread
 * label, one thread or many: a series keeps its labels whatever the
 * options, so queries and dashboards need not change with --threads.
 */
void
metrics_render(const struct metrics_view *v, struct evbuffer *out)
{
	const struct metric	*m;

	for (m = metrics; m < metrics + NMETRICS; m++)
		if (!m->udp || v->udp)
			metric_render(m, v, out);
	metrics_render_build(out);
	metrics_render_process(out);
}

/* Sums over threads [first, end) of the counters that pick allows. */
static uint64_t
metrics_sum(const struct metrics_view *v, unsigned int first,
    unsigned int end, size_t offset, unsigned int count,
    bool (*pick)(unsigned int))
{
	uint64_t	 sum = 0;
	unsigned int	 t, i;

	for (t = first; t < end; t++)
		for (i = 0; i < count; i++)
			if (pick == NULL || pick(i))
				sum += stat_at(v, t, offset + i *
				    sizeof(stat_t));
	return sum;
}

static bool
metrics_tls_failed(unsigned int i)
{
	return i != STAT_TLS_OK;
}

static bool
metrics_udp_refused(unsigned int i)
{
	return i != UDP_ANSWER && !udp_verdict_is_limit(i);
}

static bool
metrics_udp_limited(unsigned int i)
{
	return udp_verdict_is_limit(i);
}

/* The UDP datagrams not answered, for the exit line. */
void
metrics_udp_sums(const struct metrics_view *v, uint64_t *unanswered,
    uint64_t *refused, uint64_t *limited)
{
	*unanswered = metrics_sum(v, 0, v->nthreads, STAT(udp_unanswered),
	    STAT_UDP_REASONS, NULL);
	*refused = metrics_sum(v, 0, v->nthreads, STAT(udp_unanswered),
	    STAT_UDP_REASONS, metrics_udp_refused);
	*limited = metrics_sum(v, 0, v->nthreads, STAT(udp_unanswered),
	    STAT_UDP_REASONS, metrics_udp_limited);
}

/* The SIGUSR1 line's words, and which counters each sums. */
struct metrics_word {
	const char	*text;
	size_t		 offset;
	unsigned int	 count;
	bool		(*pick)(unsigned int);
	bool		 udp;
};

#define WORD(t, field)	{ .text = (t), .offset = STAT(field), .count = 1 }
#define UDP_WORD(t, field) \
	{ .text = (t), .offset = STAT(field), .count = 1, .udp = true }
#define UDP_REASONS(t, fn) \
	{ .text = (t), .offset = STAT(udp_unanswered), \
	    .count = STAT_UDP_REASONS, .pick = (fn), .udp = true }

static const struct metrics_word words[] = {
	WORD("open", open),
	WORD("accepted", accepted),
	WORD("rejected", rejected),
	WORD("timed out", timed_out),
	WORD("shed", shed),
	{ .text = "TLS handshakes failed", .offset = STAT(tls_handshakes),
	    .count = STAT_TLS_RESULTS, .pick = metrics_tls_failed },
	WORD("bytes in", bytes_in),
	WORD("bytes out", bytes_out),
	UDP_WORD("UDP in", udp_in),
	UDP_WORD("UDP echoed", udp_out),
	UDP_WORD("UDP truncated", udp_truncated),
	UDP_REASONS("UDP not answered", NULL),
	UDP_REASONS("UDP could loop or amplify", metrics_udp_refused),
	UDP_REASONS("UDP over a rate limit", metrics_udp_limited),
};

#define NWORDS	(sizeof(words) / sizeof(words[0]))

static void
metrics_log_range(const struct metrics_view *v, unsigned int first,
    unsigned int end, const char *who)
{
	const struct metrics_word	*w;
	char				 line[1024];
	size_t				 used;

	used = snprintf(line, sizeof(line), "%s:", who);
	for (w = words; w < words + NWORDS; w++) {
		if ((w->udp && !v->udp) || used >= sizeof(line))
			continue;
		used += snprintf(line + used, sizeof(line) - used, "%s %s %llu",
		    w == words ? "" : ",", w->text, (unsigned long long)
		    metrics_sum(v, first, end, w->offset, w->count, w->pick));
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
