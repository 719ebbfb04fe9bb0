/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * A thread's accepting: each new connection let in or turned away
 * (--max-connections, --max-per-ip, --proxy-from), and the pause and
 * back-off when accept(2) fails or the limit is reached.  The loop, its
 * messages and shutdown are server.c.
 */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "server.h"
#include "server_accept.h"

#define ACCEPT_RETRY_MSEC	500
#define ACCEPT_AGAIN_MSEC	10	/* after any other accept error */
/* Seconds without EMFILE that end an episode of descriptor shortage. */
#define FD_CALM_SEC		1

static void	server_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	server_accept_error_cb(struct evconnlistener *, void *);

bool
server_full(const struct server *srv)
{
	return atomic_load(&srv->group->nconns) >= srv->group->max_conns;
}

void
server_pause_accept(struct server *srv)
{
	size_t	 i;

	if (atomic_load(&srv->accept_paused))
		return;
	for (i = 0; i < srv->nlisteners; i++)
		evconnlistener_disable(srv->listeners[i].lev);
	atomic_store(&srv->accept_paused, true);
}

void
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

void
server_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_resume_accept(arg);
}

void
server_peer_put(struct server *srv, struct peer *peer, bool counted)
{
	struct group	*g = srv->group;

	pthread_mutex_lock(&g->peers_lock);
	if (counted)
		peer->count--;
	peers_put(&g->peers, peer);
	pthread_mutex_unlock(&g->peers_lock);
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

const struct listen_cbs server_accept_cbs = {
	server_accept_cb, server_accept_error_cb
};

/*
 * Under descriptor pressure every close lets one accept through and the
 * next fails again; that is still one episode.  It ends, and says so,
 * once accept() has gone a while without failing.
 */
void
server_calm_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	srv->fd_exhausted = false;
	log_warnx("descriptors available again, accepting normally");
}
