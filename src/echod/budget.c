/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The memory budget (--memory-limit), one thread's share of it, read as
 * one piece.  Every byte in a connection's buffers is that connection's
 * (conn->held) and is counted in the thread's total as it changes.  No
 * connection is ever parked to wait for room: a parked client that
 * leaves is noticed by nothing, and the ones parked hold the memory that
 * would release them.  Instead, over the limit the thread sheds: it
 * closes the connections holding the most bytes that are not moving
 * (an unfinished line, input waiting behind a full output, output a
 * client does not read), largest first and oldest among equals, until
 * the total is an eighth under the limit.  A client whose lines are
 * complete and who reads its replies holds nothing that is not moving,
 * and is never shed.
 */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "budget.h"
#include "conn.h"
#include "log.h"
#include "server.h"

/* Shed down to this fraction under the limit, so that a flood of
 * partial lines costs one sort per eighth of the limit, not per read. */
#define BUDGET_HYSTERESIS	8

static void	budget_shed_cb(evutil_socket_t, short, void *);
static void	budget_trim_cb(evutil_socket_t, short, void *);

int
budget_init(struct budget *b, struct server *srv, size_t limit)
{
	b->limit = limit;
	b->held = 0;
	b->deferred = false;
	b->shed_ev = event_new(srv->base, -1, 0, budget_shed_cb, srv);
	b->trim_ev = event_new(srv->base, -1, 0, budget_trim_cb, srv);
	return b->shed_ev == NULL || b->trim_ev == NULL ? -1 : 0;
}

void
budget_free(struct budget *b)
{
	if (b->shed_ev != NULL)
		event_free(b->shed_ev);
	if (b->trim_ev != NULL)
		event_free(b->trim_ev);
	b->shed_ev = b->trim_ev = NULL;
}

void
budget_charge(struct conn *c)
{
	struct budget	*b = &c->srv->budget;
	size_t		 now = evbuffer_get_length(bufferevent_get_input(c->bev)) +
			    evbuffer_get_length(bufferevent_get_output(c->bev));

	b->held += now - c->held;
	c->held = now;
}

void
budget_discharge(struct conn *c)
{
	c->srv->budget.held -= c->held;
	c->held = 0;
}

/*
 * The bytes of a connection that are not moving: its unechoed input
 * (an unfinished line, or lines waiting behind a full output) and, if
 * it is not reading its replies, its output.
 */
static size_t
budget_stuck(const struct conn *c)
{
	size_t	 n = c->input_held;

	if (c->bev == NULL || c->state == CONN_CLOSING)
		return 0;
	if (c->state == CONN_PAUSED || c->state == CONN_DRAINING)
		n += evbuffer_get_length(bufferevent_get_output(c->bev));
	return n;
}

/* Largest first, and the oldest of equals. */
static int
budget_rank(const void *a, const void *b)
{
	const struct conn	*x = *(struct conn *const *)a;
	const struct conn	*y = *(struct conn *const *)b;
	size_t			 sx = budget_stuck(x), sy = budget_stuck(y);

	if (sx != sy)
		return sx > sy ? -1 : 1;
	if (x->started.tv_sec != y->started.tv_sec)
		return x->started.tv_sec < y->started.tv_sec ? -1 : 1;
	if (x->started.tv_nsec != y->started.tv_nsec)
		return x->started.tv_nsec < y->started.tv_nsec ? -1 : 1;
	return 0;
}

static void
budget_close(struct server *srv, struct conn *c)
{
	char	 reason[96];

	stat_add(&srv->stats.shed, 1);
	snprintf(reason, sizeof(reason), "shed over --memory-limit, "
	    "holding %zu bytes", budget_stuck(c));
	conn_close(c, reason);
}

/* Without memory for the ranking: the worst, one scan at a time. */
static struct conn *
budget_worst(struct server *srv)
{
	struct conn	*c, *worst = NULL;

	TAILQ_FOREACH(c, &srv->conns, entry)
		if (budget_stuck(c) != 0 &&
		    (worst == NULL || budget_rank(&c, &worst) < 0))
			worst = c;
	return worst;
}

/* Sheds down to the target; true if `self` was among those closed. */
static bool
budget_shed(struct server *srv, struct conn *self)
{
	struct budget	*b = &srv->budget;
	size_t		 target = b->limit - b->limit / BUDGET_HYSTERESIS;
	size_t		 n = 0, i;
	struct conn	**v, *c;
	bool		 gone = false;
	const struct timeval soon = { 0, 0 };

	if (log_repeat_due(&srv->group->budget_logged))
		log_warnx("--memory-limit (%zu) reached: shedding the "
		    "connections holding the most unechoed or unread bytes "
		    "(logged once a minute)", srv->opts->memory_limit);
	if ((v = calloc(srv->nconns + 1, sizeof(*v))) == NULL) {
		while (b->held > target && (c = budget_worst(srv)) != NULL) {
			gone = gone || c == self;
			budget_close(srv, c);
		}
		return gone;
	}
	TAILQ_FOREACH(c, &srv->conns, entry)
		if (n < srv->nconns && budget_stuck(c) != 0)
			v[n++] = c;
	qsort(v, n, sizeof(*v), budget_rank);
	for (i = 0; i < n && b->held > target; i++) {
		gone = gone || v[i] == self;
		budget_close(srv, v[i]);
	}
	free(v);
	/*
	 * glibc would keep what the shed held, in holes the next lines do
	 * not fit, and the limit is on the process: it goes back, at most
	 * once per eighth of the limit taken.  On the loop's next turn,
	 * once the bufferevents' finalizers have really freed it.
	 */
	evtimer_add(b->trim_ev, &soon);
	return gone;
}

int
budget_enforce(struct server *srv, struct conn *self)
{
	struct budget	*b = &srv->budget;

	if (b->limit == 0 || b->held <= b->limit)
		return 0;
	/* Inside a walk of the connections: the loop sheds right after. */
	if (b->deferred) {
		event_active(b->shed_ev, 0, 0);
		return 0;
	}
	return budget_shed(srv, self) ? -1 : 0;
}

static void
budget_shed_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	budget_enforce(arg, NULL);
}

static void
budget_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}
