/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * What echoload's threads share while they run: the clock, the counters,
 * the end of the run, each connection's pace (--rate and its ramp, -n,
 * -m idle), the source address (--source) and errors shown as they come.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "load.h"
#include "load_thread.h"

uint64_t
load_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * A thread's loop.  With --rate, requests are due at exact times, and a
 * wake-up late by the millisecond epoll rounds to would be measured as
 * the server's latency.
 */
struct event_base *
load_event_base(const struct load_opts *o)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	if (o->rate != 0)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/* Counters are written by one thread and read live by the reporter. */
void
load_count(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

uint64_t
load_get(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* No new requests: the time is up, -n is spent, or SIGINT came. */
bool
load_ending(struct load_thread *t, uint64_t now)
{
	const struct load_run	*run = t->run;

	if (__atomic_load_n(&run->stop, __ATOMIC_RELAXED))
		return true;
	if (run->opts->count != 0)
		return t->budget == 0;
	return now >= run->end_ns;
}

void
load_timer_in(struct event *timer, uint64_t ns)
{
	struct timeval	 tv = { ns / 1000000000, ns % 1000000000 / 1000 };

	evtimer_add(timer, &tv);
}

/*
 * Connection id's pace: with --rate, the connections' first requests are
 * staggered so that the total rate is even from the start.
 */
void
load_pace_init(struct load_pace *p, struct load_thread *t, uint32_t id,
    struct event *timer)
{
	const struct load_opts	*o = t->run->opts;

	memset(p, 0, sizeof(*p));
	p->timer = timer;
	p->idle_quota = o->mode == MODE_IDLE ? 1 : 0;
	if (o->rate != 0) {
		p->interval_ns = 1000000000ULL * o->conns / o->rate;
		p->next_due = t->run->start_ns + id * (1000000000ULL /
		    o->rate);
	}
}

/*
 * The time from a connection's request due at t to its next: with
 * --rate A:B the rate goes from A to B in a straight line over -d (A in
 * the warm-up).
 */
static uint64_t
pace_interval(const struct load_run *run, const struct load_pace *p,
    uint64_t t)
{
	const struct load_opts	*o = run->opts;
	double			 r = o->rate;

	if (o->rate_end == 0)
		return p->interval_ns;
	if (t >= run->end_ns)
		r = o->rate_end;
	else if (t > run->window_ns)
		r += ((double)o->rate_end - o->rate) * (t - run->window_ns) /
		    o->duration_ns;
	return 1e9 * o->conns / r;
}

/*
 * Whether a connection may send a request now (all modes but churn);
 * *due: when it was due.  One not due yet, under --rate, arms the timer.
 */
bool
load_may_send(struct load_thread *t, struct load_pace *p, uint64_t now,
    uint64_t *due)
{
	const struct load_opts	*o = t->run->opts;

	*due = now;
	if (o->mode == MODE_IDLE) {
		if (p->idle_quota == 0)
			return false;
		p->idle_quota--;
		return true;
	}
	if (load_sending_over(t, p, now))
		return false;
	if (o->rate != 0 && p->next_due > now) {
		load_timer_in(p->timer, p->next_due - now);
		return false;
	}
	if (o->count != 0) {
		if (t->budget == 0)
			return false;
		t->budget--;
	}
	if (o->rate != 0) {
		*due = p->next_due;
		p->next_due += pace_interval(t->run, p, p->next_due);
		if (now - *due > t->stats.max_lag_ns)
			t->stats.max_lag_ns = now - *due;
	}
	return true;
}

/* The open loop's schedule: no -n, and a connection's own pace. */
static bool
load_scheduled(const struct load_opts *o)
{
	return o->rate != 0 && o->count == 0 && o->mode != MODE_CHURN &&
	    o->mode != MODE_IDLE;
}

/*
 * Whether a connection is done sending.  Under --rate a request that
 * fell due before the end is still sent after it, as soon as the
 * connection can carry it, for up to --timeout: a stall at the end
 * shows in the latency as one in the middle does.
 */
bool
load_sending_over(struct load_thread *t, const struct load_pace *p,
    uint64_t now)
{
	const struct load_run	*run = t->run;

	if (!load_scheduled(run->opts))
		return load_ending(t, now);
	if (__atomic_load_n(&run->stop, __ATOMIC_ACQUIRE))
		return true;
	return p->next_due >= run->end_ns ||
	    now >= run->end_ns + run->opts->timeout_ns;
}

/*
 * A connection is done: the requests of its schedule due before the end
 * (or SIGINT) that it never sent are counted, once.
 */
void
load_pace_done(struct load_thread *t, struct load_pace *p)
{
	const struct load_run	*run = t->run;
	uint64_t		 limit = run->end_ns, n;

	if (!load_scheduled(run->opts) || p->interval_ns == 0)
		return;
	if (__atomic_load_n(&run->stop, __ATOMIC_ACQUIRE) &&
	    run->stop_ns < limit)
		limit = run->stop_ns;
	if (p->next_due >= limit)
		return;
	if (run->opts->rate_end == 0) {
		n = (limit - p->next_due + p->interval_ns - 1) /
		    p->interval_ns;
		p->next_due += n * p->interval_ns;
	} else
		for (n = 0; p->next_due < limit; n++)
			p->next_due += pace_interval(run, p, p->next_due);
	load_count(&t->stats.unsent, n);
}

/*
 * -m idle: true once, when the hold is over and each connection is to
 * send its last request; *final remembers it for the thread.
 */
bool
load_idle_ends(struct load_thread *t, bool *final, uint64_t now)
{
	if (t->run->opts->mode != MODE_IDLE || *final || !load_ending(t, now))
		return false;
	*final = true;
	return true;
}

/*
 * --source: connection id's socket bound to its source address, the port
 * left to connect(2) (IP_BIND_ADDRESS_NO_PORT), so that each address has
 * the whole ephemeral range to each target.  0, or -1 with errno.
 */
int
load_bind_source(const struct load_opts *o, int fd, uint32_t id)
{
	const struct sockaddr_storage	*ss;
	int				 one = 1;

	if (o->nsources == 0)
		return 0;
	ss = &o->sources[id % o->nsources];
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
	return bind(fd, (const struct sockaddr *)ss, ss->ss_family ==
	    AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6));
}

/* Counts an error; the first few are shown whole, as they happen. */
void
load_error(struct load_thread *t, enum err_kind kind, const char *fmt, ...)
{
	struct load_run	*run = t->run;
	va_list		 ap;
	char		 line[512];

	load_count(&t->stats.errors[kind], 1);
	if (kind == ERR_LOST && run->opts->max_loss >= 100)
		return;
	pthread_mutex_lock(&run->report_lock);
	if (run->reported < ERRORS_SHOWN) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		fprintf(stderr, "%sechoload: %s: %s\n", run->tty ? "\r\033[K" :
		    "", err_kind_names[kind], line);
	} else if (run->reported == ERRORS_SHOWN)
		fprintf(stderr, "%sechoload: further errors are counted, not "
		    "shown\n", run->tty ? "\r\033[K" : "");
	run->reported++;
	pthread_mutex_unlock(&run->report_lock);
}
