/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * What echoload tells the user: the totals of every thread's counters,
 * the progress line, the summary and the JSON.  What the threads share
 * while they run is load_thread.c.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "load.h"
#include "load_latency.h"
#include "load_report.h"
#include "load_thread.h"

const char *const err_kind_names[ERR_KINDS] = {
	"connect", "tls", "mismatch", "closed", "reset", "timeout", "lost"
};

static const char *const mode_names[] = {
	"pingpong", "stream", "churn", "idle"
};

static const char *const transport_names[] = {
	"tcp", "tls", "unix", "udp"
};

/* Every thread's live counters added up. */
void
load_totals(const struct load_run *run, struct load_stats *sum, bool final)
{
	const struct load_stats	*s;
	unsigned int		 i, k;

	memset(sum, 0, sizeof(*sum));
	hist_init(&sum->latency);
	hist_init(&sum->service);
	for (i = 0; i < run->opts->threads; i++) {
		s = &run->threads[i].stats;
		sum->sent += load_get(&s->sent);
		sum->replies += load_get(&s->replies);
		sum->bytes_sent += load_get(&s->bytes_sent);
		sum->bytes_received += load_get(&s->bytes_received);
		sum->opened += load_get(&s->opened);
		sum->open += load_get(&s->open);
		sum->late += load_get(&s->late);
		sum->unsent += load_get(&s->unsent);
		for (k = 0; k < ERR_KINDS; k++)
			sum->errors[k] += load_get(&s->errors[k]);
		if (!final)
			continue;
		sum->measured += s->measured;
		sum->loss_slots += s->loss_slots;
		if (s->max_lag_ns > sum->max_lag_ns)
			sum->max_lag_ns = s->max_lag_ns;
		if (s->last_reply_ns > sum->last_reply_ns)
			sum->last_reply_ns = s->last_reply_ns;
		hist_add(&sum->latency, &s->latency);
		hist_add(&sum->service, &s->service);
	}
}

/* Lost datagrams as a percentage of those sent. */
static double
loss_percent(const struct load_stats *sum)
{
	return sum->sent != 0 ? 100.0 * sum->errors[ERR_LOST] / sum->sent : 0;
}

/* Lost datagrams fail the run only above --max-loss. */
static bool
loss_fails(const struct load_run *run, const struct load_stats *sum)
{
	return sum->errors[ERR_LOST] != 0 &&
	    loss_percent(sum) > run->opts->max_loss;
}

/* Errors that fail the run: all, less lost datagrams within --max-loss. */
uint64_t
load_failures(const struct load_run *run, const struct load_stats *sum)
{
	uint64_t	 n = 0;
	int		 k;

	for (k = 0; k < ERR_KINDS; k++)
		if (k != ERR_LOST || loss_fails(run, sum))
			n += sum->errors[k];
	return n;
}

/*
 * The exit status: 2 when nothing was ever answered and the target
 * would not take a connection (or, for udp:, answered with ICMP port
 * unreachable), whatever the name resolved to; 1 for errors or requests
 * due and never sent; else 0.
 */
int
load_status(const struct load_run *run, const struct load_stats *sum)
{
	if (sum->replies == 0 && sum->errors[ERR_CONNECT] != 0)
		return 2;
	if (load_failures(run, sum) != 0 || sum->unsent != 0)
		return 1;
	return 0;
}

void
load_progress(struct load_run *run, uint64_t now)
{
	struct load_stats	 sum;
	double			 secs = (now - run->last_progress_ns) / 1e9;
	uint64_t		 errors;
	int			 k;

	load_totals(run, &sum, false);
	for (errors = 0, k = 0; k < ERR_KINDS; k++)
		errors += sum.errors[k];
	pthread_mutex_lock(&run->report_lock);
	fprintf(stderr, "%sechoload: %.0f s: %.0f replies/s, %.2f MB/s in, "
	    "%llu open, %llu error%s%s", run->tty ? "\r\033[K" : "",
	    (now - run->start_ns) / 1e9,
	    secs > 0 ? (sum.replies - run->last_replies) / secs : 0,
	    secs > 0 ? (sum.bytes_received - run->last_bytes) / secs / 1e6 : 0,
	    (unsigned long long)sum.open, (unsigned long long)errors,
	    errors == 1 ? "" : "s", run->tty ? "" : "\n");
	pthread_mutex_unlock(&run->report_lock);
	run->last_replies = sum.replies;
	run->last_bytes = sum.bytes_received;
	run->last_progress_ns = now;
}

/*
 * The measured time: from the end of the warm-up to the end of sending
 * (-d, SIGINT, or when the last connection gave up, if sooner), or to
 * the last measured reply if that came later; with -n, to the last
 * reply.  Never time that was not spent.
 */
static double
load_span(const struct load_run *run, const struct load_stats *sum)
{
	uint64_t	 end = run->finish_ns;

	if (run->opts->count != 0)
		end = sum->last_reply_ns != 0 ? sum->last_reply_ns : end;
	else {
		if (run->end_ns < end)
			end = run->end_ns;
		if (run->stop_ns != 0 && run->stop_ns < end)
			end = run->stop_ns;
		if (sum->last_reply_ns > end)
			end = sum->last_reply_ns;
	}
	return end > run->window_ns ? (end - run->window_ns) / 1e9 : 0;
}

static size_t
reply_len(const struct load_opts *o)
{
	/* With -s MIN-MAX, the mean length: near enough over many. */
	return (o->payload.len + o->payload.len_max) / 2 +
	    (o->payload.framing == REPLY_LINE ?
	    o->payload.prefix_len : 0);
}

/*
 * --rate: whether every request went out when due.  Behind: some were
 * never sent, or one went out over a millisecond late (its latency
 * counts the wait, from when it was due).
 */
static bool
schedule_behind(const struct load_stats *sum)
{
	return sum->unsent != 0 || sum->max_lag_ns > 1000000;
}

static void
print_schedule(FILE *out, const struct load_run *run,
    const struct load_stats *sum)
{
	if (run->opts->rate == 0)
		return;
	fprintf(out, "schedule     %s: sent %llu of %llu due",
	    schedule_behind(sum) ? "behind" : "on time",
	    (unsigned long long)sum->sent,
	    (unsigned long long)(sum->sent + sum->unsent));
	if (sum->unsent != 0)
		fprintf(out, " (%llu due, never sent)",
		    (unsigned long long)sum->unsent);
	fprintf(out, ", max lag %.3f ms\n", sum->max_lag_ns / 1e6);
}

static void
print_loss(FILE *out, const struct load_run *run, const struct load_stats *sum)
{
	const struct load_opts	*o = run->opts;

	if (o->transport != LT_UDP)
		return;
	fprintf(out, "lost         %llu of %llu datagrams (%.3f %%), %s "
	    "--max-loss %g %%\n", (unsigned long long)sum->errors[ERR_LOST],
	    (unsigned long long)sum->sent, loss_percent(sum),
	    loss_fails(run, sum) ? "over" : "within", o->max_loss);
}

/*
 * Losses crowded into few moments (100 ms slots with more than one loss
 * each, in at most half the run's slots), from a server that answers
 * otherwise: the mark of a rate limit, not of a lossy path, whose losses
 * come one at a time or all the time.
 */
static void
loss_hint(const struct load_run *run, const struct load_stats *sum)
{
	double	 slots = (run->finish_ns - run->start_ns) / 1e8;

	if (run->opts->transport != LT_UDP || run->opts->max_loss >= 100 ||
	    sum->replies == 0 || sum->errors[ERR_LOST] < 2 ||
	    sum->errors[ERR_LOST] <= sum->loss_slots ||
	    sum->loss_slots * 2 > slots)
		return;
	fprintf(stderr, "echoload: %llu datagrams were lost in bursts: a "
	    "server's rate limit is the likely cause (echod answers at most "
	    "10000 a second from one address: see its --udp-source-rate)\n",
	    (unsigned long long)sum->errors[ERR_LOST]);
}

static void
print_errors(FILE *out, const struct load_run *run,
    const struct load_stats *sum, uint64_t total)
{
	const char	*sep = " (";
	int		 k;

	fprintf(out, "errors       %llu", (unsigned long long)total);
	for (k = 0; k < ERR_KINDS; k++)
		if (sum->errors[k] != 0 && (k != ERR_LOST ||
		    loss_fails(run, sum))) {
			fprintf(out, "%s%s %llu", sep, err_kind_names[k],
			    (unsigned long long)sum->errors[k]);
			sep = ", ";
		}
	fprintf(out, "%s", sep[0] == ',' ? ")" : "");
	/* With --reconnect errors go on; as a rate they compare. */
	if (total != 0 && sum->sent != 0)
		fprintf(out, ", %.4f %% of %llu requests", 100.0 * total /
		    sum->sent, (unsigned long long)sum->sent);
	fprintf(out, "\n");
}

static void
print_summary(FILE *out, const struct load_run *run,
    const struct load_stats *sum, const struct server_usage *su)
{
	const struct load_opts	*o = run->opts;
	double			 span = load_span(run, sum);

	fprintf(out, "target       %s (%s), ", o->target,
	    transport_names[o->transport]);
	if (o->transport != LT_UDP)
		fprintf(out, "%s framing, ", o->payload.framing == REPLY_LINE ?
		    "line" : "chunk");
	fprintf(out, "prefix \"%s\"\n", o->payload.prefix);
	fprintf(out, "workload     %s, %u connection%s, %u thread%s, ",
	    mode_names[o->mode], o->conns, o->conns == 1 ? "" : "s",
	    o->threads, o->threads == 1 ? "" : "s");
	if (o->mode == MODE_STREAM)
		fprintf(out, "up to %u KiB in flight, ",
		    STREAM_INFLIGHT_BYTES / 1024);
	else
		fprintf(out, "%u in flight, ", o->pipeline);
	if (o->payload.len_max != o->payload.len)
		fprintf(out, "%zu-%zu-byte requests, ", o->payload.len,
		    o->payload.len_max);
	else
		fprintf(out, "%zu-byte requests, ", o->payload.len);
	if (o->rate_end != 0)
		fprintf(out, "%llu/s to %llu/s open loop\n",
		    (unsigned long long)o->rate,
		    (unsigned long long)o->rate_end);
	else if (o->rate != 0)
		fprintf(out, "%llu/s open loop\n", (unsigned long long)o->rate);
	else
		fprintf(out, "closed loop\n");
	fprintf(out, "requests     %llu sent, %llu answered, %llu measured in "
	    "%.2f s", (unsigned long long)sum->sent,
	    (unsigned long long)sum->replies,
	    (unsigned long long)sum->measured, span);
	/* -m idle's requests open and close the hold: no rate. */
	if (o->mode != MODE_IDLE)
		fprintf(out, ": %.1f/s", span > 0 ? sum->measured / span : 0);
	fprintf(out, "\n");
	print_schedule(out, run, sum);
	fprintf(out, "throughput   %.2f MB/s echoed; %.2f MB sent, %.2f MB "
	    "received\n", span > 0 ? sum->measured * reply_len(o) / span / 1e6 :
	    0, sum->bytes_sent / 1e6, sum->bytes_received / 1e6);
	fprintf(out, "connections  %llu opened\n",
	    (unsigned long long)sum->opened);
	latency_line(out, "latency", &sum->latency);
	/* Beside the corrected view, what the server took from sending:
	 * the figure wrk2 -U gives, low when requests queued behind. */
	if (o->rate != 0)
		latency_line(out, "service", &sum->service);
	if (o->latency_detail)
		latency_distribution(out, &sum->latency);
	print_loss(out, run, sum);
	if (sum->late != 0)
		fprintf(out, "late         %llu replies after their datagram "
		    "was counted lost\n", (unsigned long long)sum->late);
	if (su != NULL && su->valid)
		fprintf(out, "server       pid %d: %.2f s CPU, %.2f us per "
		    "request; memory %+.1f MB (%.0f bytes per connection)\n",
		    o->server_pid, su->cpu_s, sum->measured ? su->cpu_s * 1e6 /
		    sum->measured : 0, (su->rss_after_kb - su->rss_before_kb) /
		    1024.0, (su->rss_after_kb - su->rss_before_kb) * 1024.0 /
		    o->conns);
	print_errors(out, run, sum, load_failures(run, sum));
}

static void
json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void
print_json(FILE *out, const struct load_run *run, const struct load_stats *sum,
    const struct server_usage *su)
{
	const struct load_opts	*o = run->opts;
	double			 span = load_span(run, sum);
	int			 k;

	fprintf(out, "{\"target\":");
	json_string(out, o->target);
	fprintf(out, ",\"transport\":\"%s\",\"framing\":\"%s\",\"prefix\":",
	    transport_names[o->transport],
	    o->payload.framing == REPLY_LINE ? "line" : "chunk");
	json_string(out, o->payload.prefix);
	fprintf(out, ",\"mode\":\"%s\",\"connections\":%u,\"threads\":%u,"
	    "\"pipeline\":%u,\"length\":%zu,\"length_max\":%zu,"
	    "\"rate\":%llu,\"rate_end\":%llu,"
	    "\"duration_s\":%.3f,\"requests_sent\":%llu,\"replies\":%llu,"
	    "\"measured\":%llu,\"requests_per_s\":%.1f,\"mb_per_s\":%.3f,"
	    "\"bytes_sent\":%llu,\"bytes_received\":%llu,"
	    "\"connections_opened\":%llu,\"late\":%llu,",
	    mode_names[o->mode], o->conns, o->threads, o->pipeline,
	    o->payload.len, o->payload.len_max, (unsigned long long)o->rate,
	    (unsigned long long)(o->rate_end ? o->rate_end : o->rate), span,
	    (unsigned long long)sum->sent, (unsigned long long)sum->replies,
	    (unsigned long long)sum->measured,
	    span > 0 ? sum->measured / span : 0,
	    span > 0 ? sum->measured * reply_len(o) / span / 1e6 : 0,
	    (unsigned long long)sum->bytes_sent,
	    (unsigned long long)sum->bytes_received,
	    (unsigned long long)sum->opened, (unsigned long long)sum->late);
	latency_json(out, "latency_us", &sum->latency, o->latency_detail);
	fprintf(out, ",");
	if (o->rate != 0) {
		latency_json(out, "service_us", &sum->service, false);
		fprintf(out, ",");
	}
	if (o->rate != 0)
		fprintf(out, "\"schedule\":{\"due\":%llu,\"sent\":%llu,"
		    "\"unsent\":%llu,\"max_lag_ms\":%.3f},",
		    (unsigned long long)(sum->sent + sum->unsent),
		    (unsigned long long)sum->sent,
		    (unsigned long long)sum->unsent, sum->max_lag_ns / 1e6);
	if (o->transport == LT_UDP)
		fprintf(out, "\"loss\":{\"lost\":%llu,\"percent\":%.3f,"
		    "\"max_percent\":%g,\"fails\":%d},",
		    (unsigned long long)sum->errors[ERR_LOST],
		    loss_percent(sum), o->max_loss, loss_fails(run, sum));
	fprintf(out, "\"errors\":{\"total\":%llu,\"percent\":%.4f",
	    (unsigned long long)load_failures(run, sum), sum->sent != 0 ?
	    100.0 * load_failures(run, sum) / sum->sent : 0);
	for (k = 0; k < ERR_KINDS; k++)
		fprintf(out, ",\"%s\":%llu", err_kind_names[k],
		    (unsigned long long)sum->errors[k]);
	fprintf(out, "}");
	if (su != NULL && su->valid)
		fprintf(out, ",\"server\":{\"pid\":%d,\"cpu_s\":%.3f,"
		    "\"cpu_us_per_request\":%.3f,\"rss_kb_before\":%ld,"
		    "\"rss_kb_after\":%ld,\"bytes_per_connection\":%.0f}",
		    o->server_pid, su->cpu_s, sum->measured ? su->cpu_s * 1e6 /
		    sum->measured : 0, su->rss_before_kb, su->rss_after_kb,
		    (su->rss_after_kb - su->rss_before_kb) * 1024.0 / o->conns);
	fprintf(out, "}\n");
}

void
load_report(const struct load_run *run, const struct load_stats *sum,
    const struct server_usage *su)
{
	loss_hint(run, sum);
	if (run->opts->json)
		print_json(stdout, run, sum, su);
	else
		print_summary(stdout, run, sum, su);
	fflush(stdout);
}
