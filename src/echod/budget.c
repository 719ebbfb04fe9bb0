/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The memory budget (--memory-limit), one thread's share of it, read as
 * one piece.  Every byte in a connection's buffers is that connection's
 * (conn->held) and is counted in the thread's total as it changes.  No
 * connection is ever parked to wait for room: a parked client that
 * leaves is noticed by nothing, and the ones parked hold the memory that
 * would release them.  Instead, over the limit the thread sheds: it
 * closes the connections whose bytes cost the most to keep, the bytes
 * not moving (an unfinished line, input waiting behind a full output,
 * output a client does not read) times how long since any of its bytes
 * moved, until the total is an eighth under the limit.  A client whose
 * lines keep completing and who keeps reading ranks below every client
 * that has stood still longer.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <linux/sockios.h>

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
	TAILQ_INIT(&b->handshakes);
	b->nhandshakes = 0;
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
	atomic_store_explicit(&c->srv->stats.buffered, b->held,
	    memory_order_relaxed);
}

void
budget_discharge(struct conn *c)
{
	c->srv->budget.held -= c->held;
	c->held = 0;
	atomic_store_explicit(&c->srv->stats.buffered, c->srv->budget.held,
	    memory_order_relaxed);
}

/*
 * The bytes of a connection that may not be moving: its unechoed input
 * (an unfinished line, or lines waiting behind a full output) and its
 * output; budget_cost() tells whether they move.
 */
static size_t
budget_stuck(const struct conn *c)
{
	if (c->bev == NULL || c->state == CONN_CLOSING)
		return 0;
	/* Output waits in any state: short of the output limit, a client
	 * that does not read keeps reading on, and holds it all the same. */
	return c->input_held +
	    evbuffer_get_length(bufferevent_get_output(c->bev));
}

uint32_t
budget_now(struct server *srv)
{
	struct timeval	 tv;

	event_base_gettimeofday_cached(srv->base, &tv);
	return (uint32_t)((uint64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000);
}

void
budget_moved(struct conn *c)
{
	c->moved = budget_now(c->srv);
}

/* A new connection: nothing of it has moved yet. */
void
budget_track(struct conn *c)
{
	c->moved = budget_now(c->srv) - BUDGET_MOVING_MS;
	c->stall_since = c->stall_checked = budget_now(c->srv);
}

/*
 * What keeping it costs, and in which tier.  Connections whose bytes
 * moved within the last BUDGET_MOVING_MS (a line echoed, output taken)
 * are shed after those that stood still, the most bytes first: a stream
 * with a megabyte in flight holds much, all of it moving.  The others
 * cost the bytes that stand still times how long since any moved, but
 * one that stands still on less than an eighth of its fair share (the
 * limit over the connections), or than BUDGET_SMALL_MIN, goes last of
 * all: shedding such frees next to nothing, and a client that keeps a
 * big line moving once a second would otherwise have every idle client
 * with a few bytes typed closed before it.
 */
enum budget_tier {
	BUDGET_STILL,		/* standing still on its share or more */
	BUDGET_MOVING,
	BUDGET_SMALL		/* standing still on a few bytes */
};

struct budget_cand {
	struct conn	*c;
	enum budget_tier tier;
	uint64_t	 cost;
};

/*
 * What the client has acknowledged of all we gave the kernel for it.  It
 * grows only as the client reads; the kernel wakes our writes only when
 * a third of its buffer is free, so a slow but steady reader may go
 * seconds between them.
 */
static bool
budget_kernel_acked(struct conn *c, uint64_t *acked)
{
	int	 unacked;

	if (c->tls || c->bev == NULL || ioctl(bufferevent_getfd(c->bev),
	    SIOCOUTQ, &unacked) == -1 || unacked < 0 ||
	    (uint64_t)unacked > c->bytes_counted)
		return false;
	*acked = c->bytes_counted - (uint64_t)unacked;
	return true;
}

static uint64_t
budget_acked(struct conn *c)
{
	uint64_t	 acked;

	return budget_kernel_acked(c, &acked) ? acked : 0;
}

/*
 * Looked at on reads, at most every BUDGET_STALL_CHECK_MS: four ioctl()s
 * a second are nothing to a client that reads its replies.  So it is
 * closed at most -t plus twice that and twice the time between two of
 * its reads after it last took anything.
 */
bool
budget_stalled(struct conn *c, unsigned int timeout)
{
	uint32_t	 now = budget_now(c->srv);
	uint64_t	 acked;

	if (timeout == 0 || c->tls || c->bev == NULL ||
	    now - c->stall_checked < BUDGET_STALL_CHECK_MS)
		return false;
	c->stall_checked = now;
	if (!budget_kernel_acked(c, &acked) || acked == c->bytes_counted) {
		c->stall_since = now;	/* it has all it was sent */
		return false;
	}
	if (acked != c->stall_acked) {
		c->stall_acked = acked;
		c->stall_since = now;
		return false;
	}
	return now - c->stall_since >= (uint64_t)timeout * 1000;
}

void
budget_paused(struct conn *c)
{
	c->acked = budget_acked(c);
}

static bool
budget_cost(struct budget_cand *r, struct conn *c, uint32_t now, size_t small)
{
	uint32_t	 age = now - c->moved;
	uint64_t	 acked;

	/* Not reading it, but the client reads what the kernel holds. */
	if (age >= BUDGET_MOVING_MS && c->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) != 0 &&
	    (acked = budget_acked(c)) > c->acked) {
		c->acked = acked;
		c->moved = now;
		age = 0;
	}
	r->c = c;
	r->cost = budget_stuck(c);
	if (age < BUDGET_MOVING_MS)
		r->tier = BUDGET_MOVING;
	else
		r->tier = r->cost < small ? BUDGET_SMALL : BUDGET_STILL;
	if (r->tier != BUDGET_MOVING)
		r->cost *= age;
	return r->cost != 0;
}

/* The costliest first, and the oldest of equals. */
static int
budget_rank(const void *a, const void *b)
{
	const struct budget_cand	*x = a, *y = b;

	if (x->tier != y->tier)
		return x->tier < y->tier ? -1 : 1;
	if (x->cost != y->cost)
		return x->cost > y->cost ? -1 : 1;
	if (x->c->started.tv_sec != y->c->started.tv_sec)
		return x->c->started.tv_sec < y->c->started.tv_sec ? -1 : 1;
	if (x->c->started.tv_nsec != y->c->started.tv_nsec)
		return x->c->started.tv_nsec < y->c->started.tv_nsec ? -1 : 1;
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
budget_worst(struct server *srv, uint32_t now, size_t small)
{
	struct budget_cand	 r, worst = { NULL, BUDGET_STILL, 0 };
	struct conn		*c;

	TAILQ_FOREACH(c, &srv->conns, entry)
		if (budget_cost(&r, c, now, small) &&
		    (worst.c == NULL || budget_rank(&r, &worst) < 0))
			worst = r;
	return worst.c;
}

/* Sheds down to the target; true if `self` was among those closed. */
static bool
budget_shed(struct server *srv, struct conn *self)
{
	struct budget		*b = &srv->budget;
	size_t			 target = b->limit - b->limit / BUDGET_HYSTERESIS;
	size_t			 n = 0, i;
	struct budget_cand	*v;
	struct conn		*c;
	uint32_t		 now = budget_now(srv);
	size_t			 small = b->limit / (srv->nconns + 1) / 8;
	bool			 gone = false;
	const struct timeval	 soon = { 0, 0 };

	if (small < BUDGET_SMALL_MIN)
		small = BUDGET_SMALL_MIN;
	if (log_repeat_due(&srv->group->budget_logged))
		log_warnx("--memory-limit (%zu) reached: shedding the "
		    "connections whose bytes have stood still the longest "
		    "(logged once a minute)", srv->opts->memory_limit);
	if ((v = calloc(srv->nconns + 1, sizeof(*v))) == NULL) {
		while (b->held > target &&
		    (c = budget_worst(srv, now, small)) != NULL) {
			gone = gone || c == self;
			budget_close(srv, c);
		}
		return gone;
	}
	TAILQ_FOREACH(c, &srv->conns, entry)
		if (n < srv->nconns && budget_cost(&v[n], c, now, small))
			n++;
	qsort(v, n, sizeof(*v), budget_rank);
	for (i = 0; i < n && b->held > target; i++) {
		gone = gone || v[i].c == self;
		budget_close(srv, v[i].c);
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

/* How many TLS handshakes the thread's share of them holds. */
static size_t
budget_handshakes_max(const struct budget *b)
{
	size_t	 n = b->limit / BUDGET_HANDSHAKE_SHARE / BUDGET_TLS_HANDSHAKE;

	return n == 0 ? 1 : n;
}

static void	budget_shed_handshakes(struct server *);

/*
 * Over the share, the oldest goes at once, from inside the accept (this
 * one is the newest): on the loop's next turn, every ClientHello read
 * meanwhile would have had its 44 KB.
 */
void
budget_handshake_start(struct conn *c)
{
	struct budget	*b = &c->srv->budget;

	c->handshaking = true;
	TAILQ_INSERT_TAIL(&b->handshakes, c, handshake_entry);
	b->nhandshakes++;
	if (b->limit == 0 || b->nhandshakes <= budget_handshakes_max(b))
		return;
	if (b->deferred)
		event_active(b->shed_ev, 0, 0);
	else
		budget_shed_handshakes(c->srv);
}

void
budget_handshake_done(struct conn *c)
{
	struct budget	*b = &c->srv->budget;

	if (!c->handshaking)
		return;
	c->handshaking = false;
	TAILQ_REMOVE(&b->handshakes, c, handshake_entry);
	b->nhandshakes--;
}

/* The oldest handshakes, down to their share. */
static void
budget_shed_handshakes(struct server *srv)
{
	struct budget		*b = &srv->budget;
	const struct timeval	 soon = { 0, 0 };

	while (b->limit != 0 && b->nhandshakes > budget_handshakes_max(b)) {
		stat_add(&srv->stats.shed, 1);
		conn_close(TAILQ_FIRST(&b->handshakes),
		    "shed over --memory-limit, in its TLS handshake");
	}
	/* Once libevent's finalizers have freed them. */
	evtimer_add(b->trim_ev, &soon);
}

static void
budget_shed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	if (srv->budget.deferred) {
		event_active(srv->budget.shed_ev, 0, 0);
		return;
	}
	budget_shed_handshakes(srv);
	budget_enforce(srv, NULL);
}

static void
budget_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}
