/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Socket system calls: binding TCP, UDP and Unix sockets the way echod
 * wants them, replacing stale Unix socket files, and reading back the
 * address the kernel gave.  Nothing here knows about threads or events.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <event2/util.h>

#include "log.h"
#include "sock.h"

#define LISTEN_BACKLOG		1024
#define SOCK_LOCK_PATHLEN	(sizeof(((struct sockaddr_un *)0)->sun_path) + 8)

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

/*
 * PATH.lock, held for as long as echod runs: two instances started at
 * once on one path would otherwise each find the other's socket not yet
 * listening, take it for stale and remove it.  Removed at exit (see
 * sock_unlock_unix), so a lock taken on a file that was removed
 * meanwhile is no lock: then it is taken again on the new one.
 */
static int
sock_lock_unix(const char *path)
{
	char		 lock[SOCK_LOCK_PATHLEN];
	struct stat	 held, now;
	int		 fd, tries;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	for (tries = 0; tries < 3; tries++) {
		if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0600)) == -1) {
			log_warn("cannot open %s", lock);
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			if (errno == EWOULDBLOCK) {
				log_warnx("%s is held: another echod serves "
				    "%s", lock, path);
				errno = EADDRINUSE;
			} else
				log_warn("cannot lock %s", lock);
			close(fd);
			return -1;
		}
		if (fstat(fd, &held) == 0 && stat(lock, &now) == 0 &&
		    held.st_dev == now.st_dev && held.st_ino == now.st_ino)
			return fd;
		close(fd);
	}
	log_warnx("cannot lock %s: it keeps being replaced", lock);
	errno = EAGAIN;
	return -1;
}

/* At exit, after the socket file: removed while still held. */
void
sock_unlock_unix(const char *path, int lock_fd)
{
	char	 lock[SOCK_LOCK_PATHLEN];

	snprintf(lock, sizeof(lock), "%s.lock", path);
	if (unlink(lock) == -1)
		log_warn("cannot remove %s", lock);
	close(lock_fd);
}

/*
 * Binds under a umask that gives the socket file its final mode at
 * once: a chmod by path afterwards could be sent, through a symlink
 * swapped in by anyone who may write to the directory, to another file.
 * Called while echod has one thread, since the umask is the process's.
 */
static int
sock_bind_mode(evutil_socket_t fd, const struct listen_addr *la, mode_t mode)
{
	mode_t	 old = umask(~mode & 0777);
	int	 rc, saved;

	rc = bind(fd, (const struct sockaddr *)&la->ss, la->len);
	saved = errno;
	umask(old);
	errno = saved;
	return rc;
}

/* A listening Unix socket with its mode; *lock keeps PATH.lock held. */
evutil_socket_t
sock_bind_unix(const struct listen_addr *la, mode_t mode, int *lock)
{
	const struct sockaddr_un *sun = (const void *)&la->ss;
	evutil_socket_t		  fd;
	int			  saved;

	if ((*lock = sock_lock_unix(sun->sun_path)) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		goto fail_lock;
	if (sock_bind_mode(fd, la, mode) == -1) {
		if (errno != EADDRINUSE || !sock_unix_stale(sun))
			goto fail;
		log_info("replacing stale socket %s", sun->sun_path);
		if (unlink(sun->sun_path) == -1 ||
		    sock_bind_mode(fd, la, mode) == -1)
			goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) == -1) {
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
fail_lock:
	saved = errno;
	sock_unlock_unix(sun->sun_path, *lock);
	*lock = -1;
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
