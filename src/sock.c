/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Socket system calls: binding TCP, UDP and Unix sockets the way echod
 * wants them, replacing stale Unix socket files, and reading back the
 * address the kernel gave.  Nothing here knows about threads or events.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <errno.h>
#include <unistd.h>

#include <event2/util.h>

#include "log.h"
#include "sock.h"

#define LISTEN_BACKLOG		1024

/* With several threads, each has its own socket on every address. */
evutil_socket_t
sock_bind(const struct listen_addr *la, bool reuseport)
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
sock_unix_stale(const struct sockaddr_un *sun)
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

evutil_socket_t
sock_bind_unix(const struct listen_addr *la, mode_t mode)
{
	const struct sockaddr_un *sun = (const void *)&la->ss;
	evutil_socket_t		  fd;
	int			  saved;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (bind(fd, (const struct sockaddr *)sun, la->len) == -1) {
		if (errno != EADDRINUSE || !sock_unix_stale(sun))
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

/* The address as bound: port 0 becomes the port the kernel chose. */
void
sock_bound_addr(evutil_socket_t fd, struct listen_addr *la)
{
	if (la->ss.ss_family == AF_UNIX)
		return;
	la->len = sizeof(la->ss);
	if (getsockname(fd, (struct sockaddr *)&la->ss, &la->len) == -1)
		fatal("getsockname");
}

bool
sock_family_missing(int err)
{
	return err == EAFNOSUPPORT || err == EADDRNOTAVAIL ||
	    err == EPROTONOSUPPORT;
}
