/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * One thread's listeners: opening every address (binding its own
 * socket, or sharing thread 0's), UDP beside TCP with -U, naming them
 * for the log, and closing them at shutdown.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "server.h"
#include "sock.h"
#include "util.h"

/*
 * SO_REUSEPORT: each thread binds its own socket on an address; and with
 * --reuse-port another echod may bind it too, for a restart that refuses
 * no one.  The kernel allows it only to the same user.
 */
static bool
listen_reuse_port(const struct server *srv)
{
	return srv->group->nthreads > 1 || srv->opts->reuse_port;
}

/* Thread 0 opens the sockets; the others bind their own or share. */
static evutil_socket_t
listen_socket(struct server *srv, const struct listen_addr *la, int *lock)
{
	*lock = -1;
	if (la->fd != -1)
		return srv->index == 0 ? la->fd :
		    fcntl(la->fd, F_DUPFD_CLOEXEC, 0);
	if (la->ss.ss_family == AF_UNIX)
		return sock_bind_unix(la, srv->opts->unix_mode, lock);
	return sock_bind(la, listen_reuse_port(srv));
}

static int
listen_add_stream(struct server *srv, evutil_socket_t fd,
    const struct listen_addr *la, const char *name,
    const struct listen_cbs *cbs)
{
	struct listener	*l = &srv->listeners[srv->nlisteners];

	l->srv = srv;
	l->addr = *la;
	l->lock_fd = -1;
	l->owns_path = srv->index == 0 && la->ss.ss_family == AF_UNIX &&
	    la->fd == -1;
	/* Backlog 0: the socket listens already. */
	l->lev = evconnlistener_new(srv->base, cbs->accept, l,
	    LEV_OPT_CLOSE_ON_FREE, 0, fd);
	if (l->lev == NULL) {
		evutil_closesocket(fd);
		log_warnx("cannot listen on %s: libevent failed", name);
		return -1;
	}
	evconnlistener_set_error_cb(l->lev, cbs->error);
	srv->nlisteners++;
	return 0;
}

/* The limits are the group's; each thread enforces its share. */
static struct udp_set *
listen_udp_set(struct server *srv)
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
	cfg.repeats = opts->udp_repeats;
	cfg.key = srv->group->udp_key;
	cfg.refusal_logged = &srv->group->udp_refusal_logged;
	cfg.error_logged = &srv->group->udp_error_logged;
	if ((srv->udp = udp_set_new(srv->base, &cfg, &srv->stats)) == NULL)
		fatalx("out of memory: UDP buffers");
	return srv->udp;
}

static int
listen_add_udp(struct server *srv, evutil_socket_t fd,
    const struct listen_addr *la, const char *name)
{
	if (udp_set_add(listen_udp_set(srv), fd, la) == -1) {
		evutil_closesocket(fd);
		log_warnx("cannot listen on %s: libevent failed", name);
		return -1;
	}
	return 0;
}

static void
listen_name_append(char *names, size_t size, const char *name)
{
	size_t	 used = strlen(names);

	snprintf(names + used, size - used, "%s%s", used ? ", " : "", name);
}

/* -U: UDP beside plain TCP only: no DTLS, no PROXY over UDP. */
static bool
listen_wants_udp(const struct server *srv, const struct listen_addr *la)
{
	return srv->opts->udp && la->socktype == SOCK_STREAM && la->fd == -1 &&
	    la->ss.ss_family != AF_UNIX && !la->tls && !la->proxy;
}

/* A UDP socket on the address and port the TCP listener tcp has. */
static evutil_socket_t
listen_udp_bind(struct server *srv, const struct listen_addr *tcp,
    struct listen_addr *la, char *name, size_t namesize)
{
	*la = *tcp;
	la->socktype = SOCK_DGRAM;
	la->tls = la->proxy = false;
	addr_listen_name(la, name, namesize);
	return sock_bind(la, listen_reuse_port(srv));
}

/*
 * The listening socket for la, and with -U its UDP one (*udp, else -1);
 * -1 if the first fails (errno says why), -2 if the second (logged).
 * Port 0 asks for a port free for both: one the kernel found free for
 * TCP may be in use for UDP, so a few more are tried.
 */
#define LISTEN_PORT_TRIES	8

static evutil_socket_t
listen_pair(struct server *srv, struct listen_addr *la, int *lock,
    evutil_socket_t *udp, struct listen_addr *udp_la, char *udp_name)
{
	bool		 any = addr_port((struct sockaddr *)&la->ss) == 0;
	evutil_socket_t	 fd;
	int		 tries = 0;

	for (;;) {
		*udp = -1;
		if ((fd = listen_socket(srv, la, lock)) == -1)
			return -1;
		sock_bound_addr(fd, la);
		if (!listen_wants_udp(srv, la) || (*udp = listen_udp_bind(srv,
		    la, udp_la, udp_name, LISTEN_NAMELEN)) != -1)
			return fd;
		if (!any || errno != EADDRINUSE || ++tries == LISTEN_PORT_TRIES) {
			log_warn("cannot listen on %s", udp_name);
			evutil_closesocket(fd);
			return -2;
		}
		evutil_closesocket(fd);
		addr_set_port((struct sockaddr *)&la->ss, 0);
	}
}

/*
 * Opens one address; logs the address and reason on failure.  Thread 0
 * notes the real address (the port 0 asked for, found) for the others.
 */
static int
listen_one(struct server *srv, struct listen_addr la,
    const struct listen_cbs *cbs, uint16_t *prev_port, char *names,
    size_t namesize)
{
	struct group	*g = srv->group;
	char		 name[LISTEN_NAMELEN], udp_name[LISTEN_NAMELEN];
	evutil_socket_t	 fd, udp;
	int		 lock;
	struct listen_addr bound, udp_la;

	if (la.share_port && addr_port((struct sockaddr *)&la.ss) == 0)
		addr_set_port((struct sockaddr *)&la.ss, *prev_port);
	addr_listen_name(&la, name, sizeof(name));
	if ((fd = listen_pair(srv, &la, &lock, &udp, &udp_la,
	    udp_name)) == -2)
		return -1;
	if (fd == -1) {
		if (la.optional && sock_family_missing(errno)) {
			log_debug("no IPv6 here (%s), IPv4 only",
			    strerror(errno));
			return 0;
		}
		log_warn("cannot listen on %s", name);
		return -1;
	}
	addr_listen_name(&la, name, sizeof(name));
	if (!la.share_port)
		*prev_port = addr_port((struct sockaddr *)&la.ss);
	if (srv->index == 0) {
		bound = la;
		bound.share_port = false;
		if (la.ss.ss_family == AF_UNIX)
			bound.fd = fd;
		if (addr_list_push(&g->bound, &bound) == -1)
			fatalx("out of memory: listen addresses");
	}
	if ((la.socktype == SOCK_DGRAM ? listen_add_udp(srv, fd, &la, name) :
	    listen_add_stream(srv, fd, &la, name, cbs)) == -1) {
		if (lock != -1)
			close(lock);
		if (udp != -1)
			evutil_closesocket(udp);
		return -1;
	}
	if (lock != -1)
		srv->listeners[srv->nlisteners - 1].lock_fd = lock;
	listen_name_append(names, namesize, name);
	if (udp == -1)
		return 0;
	if (listen_add_udp(srv, udp, &udp_la, udp_name) == -1)
		return -1;
	listen_name_append(names, namesize, udp_name);
	return 0;
}

/*
 * Opens every address of this thread; names them, comma-separated, for
 * the "listening on" line.
 */
int
listen_open_all(struct server *srv, const struct listen_cbs *cbs,
    char *names, size_t namesize)
{
	struct group		 *g = srv->group;
	const struct listen_list *list = srv->index == 0 ? &g->wanted :
				    &g->bound;
	uint16_t		  prev_port = 0;
	size_t			  i;

	srv->listeners = xcalloc(list->count, sizeof(*srv->listeners),
	    "listeners");
	names[0] = '\0';
	for (i = 0; i < list->count; i++)
		if (listen_one(srv, list->addrs[i], cbs, &prev_port, names,
		    namesize) == -1)
			return -1;
	return 0;
}

/* Closes this thread's listeners and UDP sockets; removes its files. */
void
listen_close_all(struct server *srv)
{
	size_t	 i;

	for (i = 0; i < srv->nlisteners; i++) {
		struct listener *l = &srv->listeners[i];

		evconnlistener_free(l->lev);
		if (l->owns_path && unlink(((struct sockaddr_un *)
		    &l->addr.ss)->sun_path) == -1)
			log_warn("cannot remove %s", ((struct sockaddr_un *)
			    &l->addr.ss)->sun_path);
		/* The socket file gone, another echod may take the path. */
		if (l->lock_fd != -1)
			sock_unlock_unix(((struct sockaddr_un *)
			    &l->addr.ss)->sun_path, l->lock_fd);
	}
	srv->nlisteners = 0;
	udp_set_free(srv->udp);
	srv->udp = NULL;
}
