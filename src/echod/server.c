/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * One thread's event loop: the registry of its connections, the shutdown
 * drain, messages from the other threads, and on thread 0 the signals.
 * Accepting and its limits are server_accept.c.
 */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "server.h"
#include "server_accept.h"
#include "systemd.h"
#include "tls.h"

/* Seconds without connections before freed memory goes back. */
#define TRIM_IDLE_SEC		1

static unsigned int
msg_bit(enum msgtype msg)
{
	switch (msg) {
	case MSG_PAUSE:		return 1 << 0;
	case MSG_RESUME:	return 1 << 1;
	case MSG_SHUTDOWN:	return 1 << 2;
	case MSG_DRAIN_TIMEOUT:	return 1 << 3;
	case MSG_FORCE_EXIT:	return 1 << 4;
	case MSG_DONE:		return 1 << 5;
	}
	return 0;
}

/*
 * Tells one thread something; see server_ctl_cb().  Each message is a
 * bit in that thread's pending set, and a byte on its pipe wakes it only
 * when the bit was not already set: so a pipe holds at most one byte per
 * kind of message, never fills, and no message is ever lost to EAGAIN.
 */
void
server_send(struct server *to, enum msgtype msg)
{
	unsigned int	 bit = msg_bit(msg);
	char		 byte = (char)msg;

	if (atomic_fetch_or(&to->pending, bit) & bit)
		return;
	if (write(to->ctl[1], &byte, 1) == -1)
		log_warn("cannot signal thread %u", to->index);
}

/* Tells every other thread. */
void
server_broadcast(struct server *srv, enum msgtype msg)
{
	struct group	*g = srv->group;
	unsigned int	 i;

	for (i = 0; i < g->nthreads; i++)
		if (i != srv->index)
			server_send(&g->servers[i], msg);
}

/*
 * glibc keeps freed buffer memory; once nobody has been connected for a
 * while it is all garbage, so it goes back and RSS falls to its baseline.
 * Not done on every last close: a client that reconnects at once would
 * pay for it.
 */
static void
server_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	if (srv->nconns == 0) {
		malloc_trim(0);
		log_debug("no clients for %d s: freed memory returned",
		    TRIM_IDLE_SEC);
	}
}

/*
 * A thread done draining leaves its loop; thread 0 only once the others
 * have, since it alone hears signals and a second one must still work.
 */
static void
server_maybe_exit(struct server *srv)
{
	if (srv->nconns != 0)
		return;
	/* loopexit allocates; out of memory, stop after this callback. */
	if ((srv->index != 0 || atomic_load(&srv->group->running) == 0) &&
	    event_base_loopexit(srv->base, NULL) == -1)
		event_base_loopbreak(srv->base);
}

/* A connection is gone: it may make room for the next one, anywhere. */
void
server_conn_gone(struct server *srv, struct conn *c)
{
	struct group	*g = srv->group;
	unsigned int	 left;

	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->nconns--;
	stat_sub(&srv->stats.open, 1);
	left = atomic_fetch_sub(&g->nconns, 1) - 1;
	if (c->peer_count != NULL)
		server_peer_put(srv, c->peer_count, true);
	if (srv->shutting_down) {
		server_maybe_exit(srv);
		return;
	}
	if (left + 1 == g->max_conns)
		server_broadcast(srv, MSG_RESUME);
	server_resume_accept(srv);
	if (srv->nconns == 0 && !evtimer_pending(srv->trim_ev, NULL)) {
		struct timeval	 idle = { TRIM_IDLE_SEC, 0 };

		evtimer_add(srv->trim_ev, &idle);
	}
}

/*
 * A buffer for peeking at PROXY headers, one per thread since a header
 * is read whole in one callback; allocated when first needed.
 */
uint8_t *
server_proxy_buf(struct server *srv)
{
	if (srv->proxy_buf == NULL)
		srv->proxy_buf = malloc(PROXY_MAX_HEADER);
	return srv->proxy_buf;
}

static void
server_close_all(struct server *srv, const char *reason)
{
	while (!TAILQ_EMPTY(&srv->conns))
		conn_close(TAILQ_FIRST(&srv->conns), reason);
}

/* The drain deadline has passed: whatever is still open is cut. */
static void
server_cut(struct server *srv)
{
	server_close_all(srv, "drain timeout");
	server_maybe_exit(srv);
}

static void
server_drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	unsigned int	 open = atomic_load(&srv->group->nconns);

	(void)fd;
	(void)what;
	log_warnx("drain timeout after %u s: cutting %u connection%s",
	    srv->opts->drain_timeout, open, open == 1 ? "" : "s");
	server_broadcast(srv, MSG_DRAIN_TIMEOUT);
	server_cut(srv);
}

/* Stops accepting, drains every connection, exits when they are gone. */
static void
server_shutdown(struct server *srv)
{
	struct timeval	 deadline = { srv->opts->drain_timeout, 0 };
	struct conn	*c, *next;

	srv->shutting_down = true;
	listen_close_all(srv);
	evtimer_del(srv->retry_ev);
	evtimer_del(srv->trim_ev);
	evtimer_del(srv->calm_ev);
	/*
	 * conn_shutdown() may close c, but never another connection: the
	 * budget sheds once the walk is over.
	 */
	srv->budget.deferred = true;
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_shutdown(c);
	}
	srv->budget.deferred = false;
	/*
	 * One deadline for all threads, kept by thread 0 (even with none of
	 * its own left), so that the cut is one line, as with one thread.
	 */
	if (srv->index == 0)
		evtimer_add(srv->drain_ev, &deadline);
	server_maybe_exit(srv);
}

static void
server_force_exit(struct server *srv)
{
	server_close_all(srv, "shutdown forced");
	event_base_loopbreak(srv->base);
}

/*
 * Signals go to thread 0's loop (libevent delivers them to one base);
 * it tells the others through their pipes.
 */
/* SIGHUP: the TLS certificate and key again; never a reason to exit. */
static void
server_reload(struct server *srv)
{
	const struct options	*opts = srv->opts;

	if (srv->group->tls == NULL)
		log_notice("SIGHUP: no TLS certificate to reload");
	else if (tls_server_reload(srv->group->tls) == 0)
		log_notice("SIGHUP: reloaded TLS certificate %s and key %s",
		    opts->tls_cert, opts->tls_key);
	else
		log_warnx("SIGHUP: keeping the TLS certificate in use");
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;
	unsigned int	 open = atomic_load(&srv->group->nconns);

	(void)what;
	if (sig == SIGUSR1) {
		metrics_log(&srv->group->view);
		return;
	}
	if (sig == SIGHUP) {
		server_reload(srv);
		return;
	}
	if (!srv->shutting_down) {
		/* Listeners closed first: the line promises refused connects. */
		server_broadcast(srv, MSG_SHUTDOWN);
		server_shutdown(srv);
		systemd_notify("STOPPING=1\nSTATUS=draining %u connection%s",
		    open, open == 1 ? "" : "s");
		log_notice("%s: shutting down, draining %u connection%s",
		    strsignal(sig), open, open == 1 ? "" : "s");
		return;
	}
	log_warnx("%s again: exiting now, cutting %u connection%s",
	    strsignal(sig), open, open == 1 ? "" : "s");
	server_broadcast(srv, MSG_FORCE_EXIT);
	server_force_exit(srv);
}

/* Messages from other threads (enum msgtype). */
static void
server_ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	char		 bytes[64];
	unsigned int	 pending;

	(void)what;
	while (read(fd, bytes, sizeof(bytes)) > 0)
		continue;
	pending = atomic_exchange(&srv->pending, 0);
	if (pending & msg_bit(MSG_FORCE_EXIT)) {
		server_force_exit(srv);
		return;
	}
	if ((pending & msg_bit(MSG_SHUTDOWN)) && !srv->shutting_down)
		server_shutdown(srv);
	if (pending & msg_bit(MSG_DRAIN_TIMEOUT))
		server_cut(srv);
	/* Both pause and resume ask the same: is the group full now? */
	if (pending & (msg_bit(MSG_PAUSE) | msg_bit(MSG_RESUME))) {
		if (server_full(srv))
			server_pause_accept(srv);
		else
			server_resume_accept(srv);
	}
	if ((pending & msg_bit(MSG_DONE)) && srv->shutting_down)
		server_maybe_exit(srv);
}

/*
 * One thread per loop, so no locks.  Not EPOLL_USE_CHANGELIST: libevent
 * documents it as unsafe with dup()ed descriptors, which Unix and
 * systemd-passed sockets are with --threads; and since a connection's
 * deferred epoll change outlived its close, another thread's accept
 * could reuse the number before the change was made.  It bought little
 * since replies are written directly: the write event is only added
 * when a client stops reading.
 */
static struct event_base *
server_new_base(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static int
server_init_events(struct server *srv)
{
	srv->ctl[0] = srv->ctl[1] = -1;
	if ((srv->base = server_new_base()) == NULL ||
	    pipe2(srv->ctl, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	srv->ctl_ev = event_new(srv->base, srv->ctl[0], EV_READ | EV_PERSIST,
	    server_ctl_cb, srv);
	srv->drain_ev = evtimer_new(srv->base, server_drain_timeout_cb, srv);
	srv->retry_ev = evtimer_new(srv->base, server_retry_cb, srv);
	srv->trim_ev = evtimer_new(srv->base, server_trim_cb, srv);
	srv->calm_ev = evtimer_new(srv->base, server_calm_cb, srv);
	if (srv->ctl_ev == NULL || srv->drain_ev == NULL ||
	    srv->retry_ev == NULL || srv->trim_ev == NULL ||
	    srv->calm_ev == NULL ||
	    budget_init(&srv->budget, srv, srv->budget.limit) == -1 ||
	    event_add(srv->ctl_ev, NULL) == -1)
		return -1;
	if (srv->index != 0)
		return 0;
	srv->sigint_ev = evsignal_new(srv->base, SIGINT, server_signal_cb, srv);
	srv->sigterm_ev = evsignal_new(srv->base, SIGTERM, server_signal_cb,
	    srv);
	srv->sigusr1_ev = evsignal_new(srv->base, SIGUSR1, server_signal_cb,
	    srv);
	srv->sighup_ev = evsignal_new(srv->base, SIGHUP, server_signal_cb,
	    srv);
	if (srv->sigint_ev == NULL || srv->sigterm_ev == NULL ||
	    srv->sigusr1_ev == NULL || srv->sighup_ev == NULL ||
	    evsignal_add(srv->sigint_ev, NULL) == -1 ||
	    evsignal_add(srv->sigterm_ev, NULL) == -1 ||
	    evsignal_add(srv->sigusr1_ev, NULL) == -1 ||
	    evsignal_add(srv->sighup_ev, NULL) == -1)
		return -1;
	return 0;
}

/* One thread's loop, its events and its listeners; in the main thread. */
int
server_init(struct server *srv, struct group *g, unsigned int index,
    char *bound, size_t boundlen)
{
	const struct options	*opts = g->opts;

	srv->group = g;
	srv->index = index;
	srv->opts = opts;
	TAILQ_INIT(&srv->conns);
	atomic_init(&srv->accept_paused, false);
	atomic_init(&srv->pending, 0);
	framing_init(&srv->framing, opts->framing, opts->prefix,
	    opts->prefix_len, opts->max_line);
	srv->idle_timeout.tv_sec = opts->idle_timeout;
	/* Each thread keeps its share: no shared counter on the data path. */
	srv->budget.limit = opts->memory_limit == 0 ? 0 :
	    (opts->memory_limit + g->nthreads - 1) / g->nthreads;
	srv->read_max = srv->framing.kind == FRAMING_CHUNK ? opts->read_size :
	    opts->max_line;
	if (server_init_events(srv) == -1) {
		log_warn("cannot set up the event loop");
		return -1;
	}
	return listen_open_all(srv, &server_accept_cbs, bound, boundlen);
}

/* Frees everything, connections first, then events, then the base. */
void
server_free(struct server *srv)
{
	struct event	*events[] = { srv->ctl_ev, srv->sigint_ev,
	    srv->sigterm_ev, srv->sigusr1_ev, srv->sighup_ev, srv->drain_ev,
	    srv->retry_ev, srv->trim_ev, srv->calm_ev };
	size_t		 i;

	srv->shutting_down = true;	/* no accept resumes, no loopexit */
	server_close_all(srv, "server exiting");
	listen_close_all(srv);
	free(srv->listeners);
	for (i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (events[i] != NULL)
			event_free(events[i]);
	budget_free(&srv->budget);
	free(srv->proxy_buf);
	if (srv->base != NULL)
		event_base_free(srv->base);
	if (srv->ctl[0] != -1) {
		close(srv->ctl[0]);
		close(srv->ctl[1]);
	}
}
