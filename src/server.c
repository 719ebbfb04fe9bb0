/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * One thread's event loop: accepting and its limits (--max-connections,
 * --max-per-ip, the pause when descriptors run out), the registry of its
 * connections, the shutdown drain, messages from the other threads, and
 * on thread 0 the signals.
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
#include "systemd.h"
#include "tls.h"

#define ACCEPT_RETRY_MSEC	500
#define ACCEPT_AGAIN_MSEC	10	/* after any other accept error */
/* Seconds without EMFILE that end an episode of descriptor shortage. */
#define FD_CALM_SEC		1
/* Seconds without connections before freed memory goes back. */
#define TRIM_IDLE_SEC		1
/* How often a server over --memory-limit looks for room. */

static void	server_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	server_accept_error_cb(struct evconnlistener *, void *);

static const struct listen_cbs accept_cbs = {
	server_accept_cb, server_accept_error_cb
};

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

static bool
server_full(const struct server *srv)
{
	return atomic_load(&srv->group->nconns) >= srv->group->max_conns;
}

static void
server_pause_accept(struct server *srv)
{
	size_t	 i;

	if (atomic_load(&srv->accept_paused))
		return;
	for (i = 0; i < srv->nlisteners; i++)
		evconnlistener_disable(srv->listeners[i].lev);
	atomic_store(&srv->accept_paused, true);
}

static void
server_resume_accept(struct server *srv)
{
	size_t	 i;

	if (!atomic_load(&srv->accept_paused) || srv->shutting_down ||
	    server_full(srv))
		return;
	for (i = 0; i < srv->nlisteners; i++)
		evconnlistener_enable(srv->listeners[i].lev);
	atomic_store(&srv->accept_paused, false);
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

static void
server_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_resume_accept(arg);
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

static void
server_peer_put(struct server *srv, struct peer *peer, bool counted)
{
	struct group	*g = srv->group;

	pthread_mutex_lock(&g->peers_lock);
	if (counted)
		peer->count--;
	peers_put(&g->peers, peer);
	pthread_mutex_unlock(&g->peers_lock);
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

static void
server_log_limit(struct server *srv)
{
	if (!log_repeat_due(&srv->group->limit_logged)) {
		log_debug("--max-connections (%u) reached again",
		    srv->group->max_conns);
		return;
	}
	log_warnx("--max-connections (%u) reached: new clients wait until "
	    "a connection closes", srv->group->max_conns);
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

/* With --max-per-ip: the address's count, or NULL to turn it away. */
struct peer *
server_peer_get(struct server *srv, const struct sockaddr *sa)
{
	struct group	*g = srv->group;
	struct peer	*peer;
	char		 name[ADDR_STRLEN];

	pthread_mutex_lock(&g->peers_lock);
	if ((peer = peers_get(&g->peers, sa)) == NULL)
		log_warnx("out of memory counting connections");
	else if (peer->count >= g->opts->max_per_ip) {
		log_info("Connection from %s refused: --max-per-ip (%u) "
		    "reached", addr_format(sa, name, sizeof(name)),
		    g->opts->max_per_ip);
		stat_add(&srv->stats.rejected, 1);
		peer = NULL;
	} else
		peer->count++;
	pthread_mutex_unlock(&g->peers_lock);
	return peer;
}

/* --proxy-from: whether this peer may name another client. */
static bool
server_proxy_allowed(struct server *srv, const struct sockaddr *sa)
{
	const struct cidr_list	*from = &srv->opts->proxy_from;
	char			 name[ADDR_STRLEN];

	if (from->count == 0 || cidr_list_match(from, sa))
		return true;
	log_info("Connection from %s refused: not in --proxy-from",
	    addr_format(sa, name, sizeof(name)));
	stat_add(&srv->stats.rejected, 1);
	return false;
}

static void
server_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener	*listener = arg;
	struct server	*srv = listener->srv;
	struct group	*g = srv->group;
	struct conn	*c;
	struct peer	*peer = NULL;

	(void)lev;
	(void)salen;
	/* Every connection accepted counts, those refused at once too. */
	stat_add(&srv->stats.accepted, 1);
	/*
	 * Unix clients have no address of their own: name the socket.
	 * Behind a PROXY header the client is known only once it is read.
	 */
	if (sa->sa_family == AF_UNIX)
		sa = (struct sockaddr *)&listener->addr.ss;
	else if (listener->addr.proxy && !server_proxy_allowed(srv, sa)) {
		evutil_closesocket(fd);
		return;
	}
	if (sa->sa_family != AF_UNIX && !listener->addr.proxy &&
	    g->opts->max_per_ip != 0 &&
	    (peer = server_peer_get(srv, sa)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	/* On failure conn_new() has closed the socket. */
	if ((c = conn_new(srv, fd, sa, &listener->addr)) == NULL) {
		if (peer != NULL)
			server_peer_put(srv, peer, true);
		return;
	}
	c->peer_count = peer;
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
	stat_add(&srv->stats.open, 1);
	if (atomic_fetch_add(&g->nconns, 1) + 1 >= g->max_conns) {
		server_pause_accept(srv);
		server_broadcast(srv, MSG_PAUSE);
		server_log_limit(srv);
	}
}

/*
 * accept(2) failed.  Out of descriptors, libevent 2.1 would call us again
 * at once for as long as the backlog is not empty, so accepting pauses
 * until a connection closes or a short timer expires.
 */
static void
server_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener		*listener = arg;
	struct server		*srv = listener->srv;
	int			 err = EVUTIL_SOCKET_ERROR();
	struct timeval		 retry = { 0, ACCEPT_RETRY_MSEC * 1000 };
	struct timeval		 again = { 0, ACCEPT_AGAIN_MSEC * 1000 };
	struct timeval		 calm = { FD_CALM_SEC, 0 };

	(void)lev;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS &&
	    err != ENOMEM) {
		if (log_repeat_due(&srv->group->accept_error_logged))
			log_warnx("accept: %s (repeats are logged once a "
			    "minute)", evutil_socket_error_to_string(err));
		else
			log_debug("accept: %s",
			    evutil_socket_error_to_string(err));
		/*
		 * An error that leaves the connection queued (an LSM's EPERM)
		 * would have libevent call accept(2) again at once, forever:
		 * a pause turns the spin into a hundred tries a second.
		 */
		server_pause_accept(srv);
		evtimer_add(srv->retry_ev, &again);
		return;
	}
	if (!srv->fd_exhausted)
		log_warnx("accept: %s; pausing until a connection closes",
		    evutil_socket_error_to_string(err));
	srv->fd_exhausted = true;
	server_pause_accept(srv);
	evtimer_add(srv->retry_ev, &retry);
	evtimer_add(srv->calm_ev, &calm);
}

/*
 * Under descriptor pressure every close lets one accept through and the
 * next fails again; that is still one episode.  It ends, and says so,
 * once accept() has gone a while without failing.
 */
static void
server_calm_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	srv->fd_exhausted = false;
	log_warnx("descriptors available again, accepting normally");
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
	return listen_open_all(srv, &accept_cbs, bound, boundlen);
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
