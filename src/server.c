#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "server.h"
#include "systemd.h"
#include "tls.h"

/* Descriptors kept back from --max-connections: stdio, listeners, libevent. */
#define FD_RESERVE		16
#define LISTEN_BACKLOG		1024
#define ACCEPT_RETRY_MSEC	500
/* Seconds without EMFILE that end an episode of descriptor shortage. */
#define FD_CALM_SEC		1
/* Seconds without connections before freed memory goes back. */
#define TRIM_IDLE_SEC		1
/* A server that sits at its limit says so at most this often. */
#define LIMIT_LOG_INTERVAL	60

static void	server_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	server_accept_error_cb(struct evconnlistener *, void *);

/* Raise the soft open-file limit to the hard one; returns the new limit. */
static rlim_t
server_raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the open-file limit to %llu",
			    (unsigned long long)rl.rlim_max);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

/*
 * The default limit is what the open-file limit allows.  A larger one
 * given on the command line is kept, as nginx does, with a warning:
 * accept() then fails with EMFILE first, which pauses accepting too.
 */
static void
server_set_max_conns(struct group *g)
{
	rlim_t		 nofile = server_raise_nofile();
	/* Per thread: a listener and a UDP socket per address, a pipe. */
	rlim_t		 reserve = FD_RESERVE + (2 * g->wanted.count + 2) *
			    g->nthreads;
	unsigned int	 fit;

	if (nofile <= reserve)
		fit = 1;
	else if (nofile - reserve > MAX_CONNECTIONS_LIMIT)
		fit = MAX_CONNECTIONS_LIMIT;
	else
		fit = nofile - reserve;
	g->max_conns = g->opts->max_connections;
	if (g->max_conns == 0)
		g->max_conns = fit;
	else if (g->max_conns > fit)
		log_warnx("--max-connections %u exceeds what the open-file "
		    "limit (%llu) allows, about %u", g->max_conns,
		    (unsigned long long)nofile, fit);
}

/* Tells the other threads something; see server_ctl_cb(). */
static void
server_tell_others(struct server *srv, char command)
{
	struct group	*g = srv->group;
	unsigned int	 i;

	for (i = 0; i < g->nthreads; i++)
		if (i != srv->index &&
		    write(g->servers[i].ctl[1], &command, 1) == -1 &&
		    errno != EAGAIN)
			log_warn("cannot signal thread %u", i);
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
	if (srv->nconns == 0)
		malloc_trim(0);
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
	if (srv->index != 0 || atomic_load(&srv->group->running) == 0)
		event_base_loopexit(srv->base, NULL);
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
		server_tell_others(srv, 'R');
	server_resume_accept(srv);
	if (srv->nconns == 0 && !evtimer_pending(srv->trim_ev, NULL)) {
		struct timeval	 idle = { TRIM_IDLE_SEC, 0 };

		evtimer_add(srv->trim_ev, &idle);
	}
}

/*
 * Whether a warning that clients can make repeat is due, at most once a
 * LIMIT_LOG_INTERVAL; in between it is only a debug line.
 */
static bool
server_warning_due(time_t *last)
{
	time_t	 now = time(NULL);

	if (*last != 0 && now - *last < LIMIT_LOG_INTERVAL)
		return false;
	*last = now;
	return true;
}

static void
server_log_limit(struct server *srv)
{
	if (!server_warning_due(&srv->limit_logged)) {
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
	/*
	 * Unix clients have no address of their own: name the socket.
	 * Behind a PROXY header the client is known only once it is read.
	 */
	if (sa->sa_family == AF_UNIX)
		sa = (struct sockaddr *)&listener->addr.ss;
	if (sa->sa_family != AF_UNIX && !listener->addr.proxy &&
	    g->opts->max_per_ip != 0 &&
	    (peer = server_peer_get(srv, sa)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if ((c = conn_new(srv, fd, sa, &listener->addr)) == NULL) {
		evutil_closesocket(fd);
		if (peer != NULL)
			server_peer_put(srv, peer, true);
		return;
	}
	c->peer_count = peer;
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
	stat_add(&srv->stats.open, 1);
	stat_add(&srv->stats.accepted, 1);
	if (atomic_fetch_add(&g->nconns, 1) + 1 >= g->max_conns) {
		server_pause_accept(srv);
		server_tell_others(srv, 'P');
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
	struct timeval		 calm = { FD_CALM_SEC, 0 };

	(void)lev;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS &&
	    err != ENOMEM) {
		if (server_warning_due(&srv->accept_error_logged))
			log_warnx("accept: %s (repeats are logged once a "
			    "minute)", evutil_socket_error_to_string(err));
		else
			log_debug("accept: %s",
			    evutil_socket_error_to_string(err));
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

/* With several threads, each has its own socket on every address. */
static evutil_socket_t
server_bind(const struct listen_addr *la, bool reuseport)
{
	evutil_socket_t	 fd;
	int		 one = 1, saved;

	fd = socket(la->ss.ss_family, la->socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/*
	 * Not on UDP: Linux lets any user bind a UDP port that has
	 * SO_REUSEADDR, and so steal its datagrams.  SO_REUSEPORT checks
	 * that the user is the same.
	 */
	if ((la->socktype == SOCK_STREAM &&
	    evutil_make_listen_socket_reuseable(fd) == -1) ||
	    (reuseport && evutil_make_listen_socket_reuseable_port(fd) == -1) ||
	    (la->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (const struct sockaddr *)&la->ss, la->len) == -1 ||
	    (la->socktype == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) == -1)) {
		saved = errno;
		evutil_closesocket(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * A socket file left behind by a server that is gone: connecting to it
 * is refused.  A live server's socket, or a file that is no socket at
 * all, is never replaced.
 */
static bool
server_unix_stale(const struct sockaddr_un *sun)
{
	struct stat	 st;
	int		 fd, rc, err;

	if (lstat(sun->sun_path, &st) == -1)
		return false;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return false;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return false;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	err = errno;
	close(fd);
	errno = EADDRINUSE;
	return rc == -1 && err == ECONNREFUSED;
}

static evutil_socket_t
server_bind_unix(const struct listen_addr *la, mode_t mode)
{
	const struct sockaddr_un *sun = (const void *)&la->ss;
	evutil_socket_t		  fd;
	int			  saved;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (bind(fd, (const struct sockaddr *)sun, la->len) == -1) {
		if (errno != EADDRINUSE || !server_unix_stale(sun))
			goto fail;
		log_info("replacing stale socket %s", sun->sun_path);
		if (unlink(sun->sun_path) == -1 ||
		    bind(fd, (const struct sockaddr *)sun, la->len) == -1)
			goto fail;
	}
	if (chmod(sun->sun_path, mode) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		saved = errno;
		unlink(sun->sun_path);
		errno = saved;
		goto fail;
	}
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Thread 0 opens the sockets; the others bind their own or share. */
static evutil_socket_t
server_open(struct server *srv, const struct listen_addr *la)
{
	if (la->fd != -1)
		return srv->index == 0 ? la->fd :
		    fcntl(la->fd, F_DUPFD_CLOEXEC, 0);
	if (la->ss.ss_family == AF_UNIX)
		return server_bind_unix(la, srv->opts->unix_mode);
	return server_bind(la, srv->group->nthreads > 1);
}

static bool
server_family_missing(int err)
{
	return err == EAFNOSUPPORT || err == EADDRNOTAVAIL ||
	    err == EPROTONOSUPPORT;
}

static int
server_add_listener(struct server *srv, evutil_socket_t fd,
    const struct listen_addr *la, const char *name)
{
	struct listener	*l = &srv->listeners[srv->nlisteners];

	l->srv = srv;
	l->addr = *la;
	l->owns_path = srv->index == 0 && la->ss.ss_family == AF_UNIX &&
	    la->fd == -1;
	/* Backlog 0: the socket listens already. */
	l->lev = evconnlistener_new(srv->base, server_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE, 0, fd);
	if (l->lev == NULL) {
		evutil_closesocket(fd);
		log_warnx("cannot listen on %s: libevent failed", name);
		return -1;
	}
	evconnlistener_set_error_cb(l->lev, server_accept_error_cb);
	srv->nlisteners++;
	return 0;
}

/* The address as bound: port 0 becomes the port the kernel chose. */
static void
server_bound_addr(evutil_socket_t fd, struct listen_addr *la)
{
	if (la->ss.ss_family == AF_UNIX)
		return;
	la->len = sizeof(la->ss);
	if (getsockname(fd, (struct sockaddr *)&la->ss, &la->len) == -1)
		fatal("getsockname");
}

/* The metrics endpoint's socket (thread 0, TCP), with its real port. */
evutil_socket_t
server_open_metrics(struct listen_addr *la)
{
	char		 name[LISTEN_NAMELEN];
	evutil_socket_t	 fd;

	if ((fd = server_bind(la, false)) == -1) {
		log_warn("cannot serve metrics on %s",
		    addr_listen_name(la, name, sizeof(name)));
		return -1;
	}
	server_bound_addr(fd, la);
	return fd;
}

/* The limits are the group's; each thread enforces its share. */
static struct udp_set *
server_udp_set(struct server *srv)
{
	const struct options	*opts = srv->opts;
	unsigned int		 n = srv->group->nthreads;
	struct udp_config	 cfg;

	if (srv->udp != NULL)
		return srv->udp;
	cfg.prefix = opts->prefix;
	cfg.prefix_len = opts->prefix_len;
	cfg.limits = opts->udp_limits;
	cfg.limits.total_dgrams = (cfg.limits.total_dgrams + n - 1) / n;
	cfg.limits.total_bytes = (cfg.limits.total_bytes + n - 1) / n;
	cfg.key = srv->group->udp_key;
	if ((srv->udp = udp_set_new(srv->base, &cfg, &srv->stats)) == NULL)
		fatal("udp_set_new");
	return srv->udp;
}

static int
server_add_udp(struct server *srv, evutil_socket_t fd,
    const struct listen_addr *la, const char *name)
{
	if (udp_set_add(server_udp_set(srv), fd, la) == -1) {
		evutil_closesocket(fd);
		log_warnx("cannot listen on %s: libevent failed", name);
		return -1;
	}
	return 0;
}

static void
server_name_append(char *names, size_t size, const char *name)
{
	size_t	 used = strlen(names);

	snprintf(names + used, size - used, "%s%s", used ? ", " : "", name);
}

/* -U: a UDP socket on the address and port a TCP listener has. */
static int
server_listen_udp(struct server *srv, const struct listen_addr *tcp,
    char *names, size_t namesize)
{
	struct listen_addr	 la = *tcp;
	char			 name[LISTEN_NAMELEN];
	evutil_socket_t		 fd;

	la.socktype = SOCK_DGRAM;
	la.tls = la.proxy = false;
	addr_listen_name(&la, name, sizeof(name));
	if ((fd = server_bind(&la, srv->group->nthreads > 1)) == -1) {
		log_warn("cannot listen on %s", name);
		return -1;
	}
	if (server_add_udp(srv, fd, &la, name) == -1)
		return -1;
	server_name_append(names, namesize, name);
	return 0;
}

/*
 * Opens one address; logs the address and reason on failure.  Thread 0
 * notes the real address (the port 0 asked for, found) for the others.
 */
static int
server_listen_one(struct server *srv, struct listen_addr la,
    uint16_t *prev_port, char *names, size_t namesize)
{
	struct group	*g = srv->group;
	char		 name[LISTEN_NAMELEN];
	evutil_socket_t	 fd;
	struct listen_addr bound;

	if (la.share_port && addr_port((struct sockaddr *)&la.ss) == 0)
		addr_set_port((struct sockaddr *)&la.ss, *prev_port);
	addr_listen_name(&la, name, sizeof(name));
	if ((fd = server_open(srv, &la)) == -1) {
		if (la.optional && server_family_missing(errno)) {
			log_debug("no IPv6 here (%s), IPv4 only",
			    strerror(errno));
			return 0;
		}
		log_warn("cannot listen on %s", name);
		return -1;
	}
	server_bound_addr(fd, &la);
	addr_listen_name(&la, name, sizeof(name));
	if (!la.share_port)
		*prev_port = addr_port((struct sockaddr *)&la.ss);
	if (srv->index == 0) {
		bound = la;
		bound.share_port = false;
		if (la.ss.ss_family == AF_UNIX)
			bound.fd = fd;
		if (addr_list_push(&g->bound, &bound) == -1)
			fatal("addr_list_push");
	}
	if ((la.socktype == SOCK_DGRAM ? server_add_udp(srv, fd, &la, name) :
	    server_add_listener(srv, fd, &la, name)) == -1)
		return -1;
	server_name_append(names, namesize, name);
	/* UDP beside plain TCP only: no DTLS, no PROXY over UDP. */
	if (srv->opts->udp && la.socktype == SOCK_STREAM && la.fd == -1 &&
	    la.ss.ss_family != AF_UNIX && !la.tls && !la.proxy)
		return server_listen_udp(srv, &la, names, namesize);
	return 0;
}

static int
server_listen(struct server *srv, char *names, size_t namesize)
{
	struct group		 *g = srv->group;
	const struct listen_list *list = srv->index == 0 ? &g->wanted :
				    &g->bound;
	uint16_t		  prev_port = 0;
	size_t			  i;

	srv->listeners = calloc(list->count, sizeof(*srv->listeners));
	if (srv->listeners == NULL)
		fatal("calloc");
	names[0] = '\0';
	for (i = 0; i < list->count; i++)
		if (server_listen_one(srv, list->addrs[i], &prev_port, names,
		    namesize) == -1)
			return -1;
	return 0;
}

static void
server_close_listeners(struct server *srv)
{
	size_t	 i;

	for (i = 0; i < srv->nlisteners; i++) {
		struct listener *l = &srv->listeners[i];

		evconnlistener_free(l->lev);
		if (l->owns_path && unlink(((struct sockaddr_un *)
		    &l->addr.ss)->sun_path) == -1)
			log_warn("cannot remove %s", ((struct sockaddr_un *)
			    &l->addr.ss)->sun_path);
	}
	srv->nlisteners = 0;
	udp_set_free(srv->udp);
	srv->udp = NULL;
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
	server_tell_others(srv, 'T');
	server_cut(srv);
}

/* Stops accepting, drains every connection, exits when they are gone. */
static void
server_shutdown(struct server *srv)
{
	struct timeval	 deadline = { srv->opts->drain_timeout, 0 };
	struct conn	*c, *next;

	srv->shutting_down = true;
	server_close_listeners(srv);
	evtimer_del(srv->retry_ev);
	evtimer_del(srv->trim_ev);
	evtimer_del(srv->calm_ev);
	/* conn_shutdown() may close c, but never another connection. */
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_shutdown(c);
	}
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
static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;
	unsigned int	 open = atomic_load(&srv->group->nconns);

	(void)what;
	if (sig == SIGUSR1) {
		metrics_log(srv->group);
		return;
	}
	if (!srv->shutting_down) {
		/* Listeners closed first: the line promises refused connects. */
		server_tell_others(srv, 'S');
		server_shutdown(srv);
		systemd_notify("STOPPING=1\nSTATUS=draining %u connection%s",
		    open, open == 1 ? "" : "s");
		log_notice("%s: shutting down, draining %u connection%s",
		    strsignal(sig), open, open == 1 ? "" : "s");
		return;
	}
	log_warnx("%s again: exiting now, cutting %u connection%s",
	    strsignal(sig), open, open == 1 ? "" : "s");
	server_tell_others(srv, 'F');
	server_force_exit(srv);
}

/*
 * A command from another thread: P(ause), R(esume), S(hut down),
 * T(ime is up for the drain), F(orce exit), D(one: that thread has left
 * its loop).
 */
static void
server_ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	char		 commands[64];
	ssize_t		 n, i;

	(void)what;
	if ((n = read(fd, commands, sizeof(commands))) <= 0)
		return;
	for (i = 0; i < n; i++) {
		switch (commands[i]) {
		case 'P':
			if (server_full(srv))
				server_pause_accept(srv);
			break;
		case 'R':
			server_resume_accept(srv);
			break;
		case 'S':
			if (!srv->shutting_down)
				server_shutdown(srv);
			break;
		case 'T':
			server_cut(srv);
			break;
		case 'F':
			server_force_exit(srv);
			return;
		case 'D':		/* another thread is done */
			if (srv->shutting_down)
				server_maybe_exit(srv);
			break;
		}
	}
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
	    srv->calm_ev == NULL || event_add(srv->ctl_ev, NULL) == -1)
		return -1;
	if (srv->index != 0)
		return 0;
	srv->sigint_ev = evsignal_new(srv->base, SIGINT, server_signal_cb, srv);
	srv->sigterm_ev = evsignal_new(srv->base, SIGTERM, server_signal_cb,
	    srv);
	srv->sigusr1_ev = evsignal_new(srv->base, SIGUSR1, server_signal_cb,
	    srv);
	if (srv->sigint_ev == NULL || srv->sigterm_ev == NULL ||
	    srv->sigusr1_ev == NULL ||
	    evsignal_add(srv->sigint_ev, NULL) == -1 ||
	    evsignal_add(srv->sigterm_ev, NULL) == -1 ||
	    evsignal_add(srv->sigusr1_ev, NULL) == -1)
		return -1;
	return 0;
}

static int
server_init(struct server *srv, struct group *g, unsigned int index,
    char *bound, size_t boundlen)
{
	const struct options	*opts = g->opts;

	srv->group = g;
	srv->index = index;
	srv->opts = opts;
	TAILQ_INIT(&srv->conns);
	atomic_init(&srv->accept_paused, false);
	framing_init(&srv->framing, opts->framing, opts->prefix,
	    opts->prefix_len, opts->max_line);
	srv->idle_timeout.tv_sec = opts->idle_timeout;
	srv->read_max = srv->framing.kind == FRAMING_CHUNK ? opts->read_size :
	    opts->max_line;
	if (server_init_events(srv) == -1) {
		log_warn("cannot set up the event loop");
		return -1;
	}
	return server_listen(srv, bound, boundlen);
}

/* Frees everything, connections first, then events, then the base. */
static void
server_free(struct server *srv)
{
	struct event	*events[] = { srv->ctl_ev, srv->sigint_ev,
	    srv->sigterm_ev, srv->sigusr1_ev, srv->drain_ev, srv->retry_ev, srv->trim_ev,
	    srv->calm_ev };
	size_t		 i;

	srv->shutting_down = true;	/* no accept resumes, no loopexit */
	server_close_all(srv, "server exiting");
	server_close_listeners(srv);
	metrics_stop(srv);
	free(srv->listeners);
	for (i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (events[i] != NULL)
			event_free(events[i]);
	free(srv->proxy_buf);
	if (srv->base != NULL)
		event_base_free(srv->base);
	if (srv->ctl[0] != -1) {
		close(srv->ctl[0]);
		close(srv->ctl[1]);
	}
}

/*
 * What thread 0 opens: the command line's addresses and the sockets
 * systemd passed; with sockets passed and no -l, only those.
 */
static int
group_addresses(struct group *g)
{
	const struct options	*opts = g->opts;
	struct listen_list	 passed = { NULL, 0 };
	size_t			 i;
	int			 n;

	if ((n = systemd_listen_fds(&passed)) == -1)
		return -1;
	for (i = 0; i < opts->listen.count && !(n > 0 &&
	    opts->listen_default); i++)
		if (addr_list_push(&g->wanted, &opts->listen.addrs[i]) == -1)
			fatal("addr_list_push");
	g->udp = opts->udp;
	for (i = 0; i < passed.count; i++) {
		const struct listen_addr *la = &passed.addrs[i];

		if (la->tls && opts->tls_cert == NULL) {
			log_warnx("inherited descriptor %d is for TLS, but "
			    "--tls-cert and --tls-key are not given", la->fd);
			addr_list_free(&passed);
			return -1;
		}
		if (la->socktype == SOCK_DGRAM)
			g->udp = true;
		if (addr_list_push(&g->wanted, la) == -1)
			fatal("addr_list_push");
	}
	addr_list_free(&passed);
	return 0;
}

/* Sets up every thread's loop and listeners, in the calling thread. */
int
group_init(struct group *g, const struct options *opts)
{
	char		 bound[4096];
	unsigned int	 i;

	memset(g, 0, sizeof(*g));
	g->opts = opts;
	g->nthreads = opts->threads;
	atomic_init(&g->nconns, 0);
	pthread_mutex_init(&g->peers_lock, NULL);
	siphash_random_key(&g->udp_key);
	if ((g->servers = calloc(g->nthreads, sizeof(*g->servers))) == NULL)
		fatal("calloc");
	for (i = 0; i < g->nthreads; i++)
		g->servers[i].ctl[0] = g->servers[i].ctl[1] = -1;
	if (group_addresses(g) == -1)
		return -1;
	server_set_max_conns(g);
	if (opts->tls_cert != NULL && (g->tls_ctx = tls_init(opts->tls_cert,
	    opts->tls_key)) == NULL)
		return -1;
	if (opts->max_per_ip != 0 &&
	    peers_init(&g->peers, g->max_conns) == -1) {
		log_warnx("cannot allocate the --max-per-ip table");
		return -1;
	}
	for (i = 0; i < g->nthreads; i++)
		if (server_init(&g->servers[i], g, i, bound,
		    sizeof(bound)) == -1)
			return -1;
	if (metrics_start(&g->servers[0]) == -1)
		return -1;
	if ((g->listening = strdup(bound)) == NULL)
		fatal("strdup");
	if (g->nthreads > 1)
		log_notice("listening on %s (%u threads)", bound, g->nthreads);
	else
		log_notice("listening on %s", bound);
	return 0;
}

static void *
server_thread_main(void *arg)
{
	struct server	*srv = arg;
	sigset_t	 mask;

	/* Signals are thread 0's; they must not interrupt this one. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (event_base_dispatch(srv->base) == -1)
		log_warnx("thread %u: event loop failed", srv->index);
	atomic_fetch_sub(&srv->group->running, 1);
	if (write(srv->group->servers[0].ctl[1], "D", 1) == -1)
		log_warn("thread %u: cannot tell thread 0", srv->index);
	return NULL;
}

static void
group_log_totals(struct group *g)
{
	uint64_t	 accepted = 0, bytes_in = 0, bytes_out = 0;
	uint64_t	 udp_in = 0, udp_out = 0, udp_cut = 0, udp_dropped = 0;
	uint64_t	 udp_refused = 0, udp_limited = 0;
	unsigned int	 i;

	for (i = 0; i < g->nthreads; i++) {
		struct stats *st = &g->servers[i].stats;
		uint64_t n = stat_get(&st->accepted);

		if (g->nthreads > 1)
			log_info("thread %u: %llu connection%s served", i,
			    (unsigned long long)n, n == 1 ? "" : "s");
		accepted += n;
		bytes_in += stat_get(&st->bytes_in);
		bytes_out += stat_get(&st->bytes_out);
		udp_in += stat_get(&st->udp_in);
		udp_out += stat_get(&st->udp_out);
		udp_cut += stat_get(&st->udp_truncated);
		udp_dropped += stat_get(&st->udp_dropped);
		udp_refused += stat_get(&st->udp_refused);
		udp_limited += stat_get(&st->udp_limited);
	}
	if (g->udp)
		log_notice("UDP: %llu datagrams in, %llu echoed, %llu "
		    "truncated, %llu not answered (%llu could loop or "
		    "amplify, %llu over a rate limit)",
		    (unsigned long long)udp_in, (unsigned long long)udp_out,
		    (unsigned long long)udp_cut,
		    (unsigned long long)udp_dropped,
		    (unsigned long long)udp_refused,
		    (unsigned long long)udp_limited);
	log_notice("exiting: %llu connection%s served, %llu bytes in, "
	    "%llu bytes out", (unsigned long long)accepted,
	    accepted == 1 ? "" : "s", (unsigned long long)bytes_in,
	    (unsigned long long)bytes_out);
}

/* Runs every loop until shutdown; prints the totals. */
int
group_run(struct group *g)
{
	unsigned int	 i, started;
	int		 status = 0;

	atomic_store(&g->running, g->nthreads - 1);
	systemd_notify("READY=1\nSTATUS=listening on %s", g->listening);
	for (started = 1; started < g->nthreads; started++)
		if (pthread_create(&g->servers[started].thread, NULL,
		    server_thread_main, &g->servers[started]) != 0) {
			log_warnx("cannot start thread %u", started);
			atomic_fetch_sub(&g->running, g->nthreads - started);
			server_tell_others(&g->servers[0], 'F');
			status = 1;
			break;
		}
	if (status == 0 && event_base_dispatch(g->servers[0].base) == -1) {
		log_warnx("event loop failed");
		server_tell_others(&g->servers[0], 'F');
		status = 1;
	}
	for (i = 1; i < started; i++)
		pthread_join(g->servers[i].thread, NULL);
	group_log_totals(g);
	return status;
}

void
group_free(struct group *g)
{
	unsigned int	 i;

	for (i = 0; g->servers != NULL && i < g->nthreads; i++)
		server_free(&g->servers[i]);
	free(g->servers);
	peers_free(&g->peers);
	addr_list_free(&g->wanted);
	addr_list_free(&g->bound);
	free(g->listening);
	tls_free(g->tls_ctx);
	pthread_mutex_destroy(&g->peers_lock);
	memset(g, 0, sizeof(*g));
}
