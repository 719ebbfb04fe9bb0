/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "systemd.h"

/* FileDescriptorName= says how a socket is served: "tls", "proxy", both. */
static void
systemd_name_flags(struct listen_addr *la, const char *name)
{
	la->tls = name != NULL && strstr(name, "tls") != NULL;
	la->proxy = name != NULL && strstr(name, "proxy") != NULL;
}

static int
systemd_take(struct listen_list *list, int fd, const char *name)
{
	struct listen_addr	 la;
	int			 type = 0;
	socklen_t		 len = sizeof(type);

	memset(&la, 0, sizeof(la));
	la.fd = fd;
	la.len = sizeof(la.ss);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    getsockname(fd, (struct sockaddr *)&la.ss, &la.len) == -1 ||
	    (la.ss.ss_family != AF_INET && la.ss.ss_family != AF_INET6 &&
	    la.ss.ss_family != AF_UNIX) ||
	    (type == SOCK_STREAM && sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM,
	    1) <= 0) || (type != SOCK_STREAM && type != SOCK_DGRAM)) {
		log_warnx("inherited descriptor %d (%s) is not a listening "
		    "TCP or Unix socket, nor a UDP one", fd, name);
		return -1;
	}
	la.socktype = type;
	systemd_name_flags(&la, name);
	/* A Unix datagram sender may have no address to answer. */
	if (type == SOCK_DGRAM && la.ss.ss_family == AF_UNIX) {
		log_warnx("inherited descriptor %d (%s) is a Unix datagram "
		    "socket, which echod does not serve", fd, name);
		return -1;
	}
	if (type == SOCK_DGRAM && (la.tls || la.proxy)) {
		log_warnx("inherited descriptor %d (%s): UDP takes neither TLS "
		    "nor PROXY", fd, name);
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("fcntl on inherited descriptor %d", fd);
	if (addr_list_push(list, &la) == -1)
		fatal("addr_list_push");
	return 0;
}

/*
 * Adds the sockets systemd passed, if it passed any to this process;
 * returns how many, or -1 (logged) if one cannot be served.  The
 * environment variables are removed so nothing started later sees them.
 */
int
systemd_listen_fds(struct listen_list *list)
{
	char	**names = NULL;
	int	  n, i, rc = 0;

	if ((n = sd_listen_fds_with_names(1, &names)) < 0) {
		log_warnx("cannot take the sockets systemd passed: %s",
		    strerror(-n));
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++)
		if (systemd_take(list, SD_LISTEN_FDS_START + i,
		    names != NULL ? names[i] : "unknown") == -1)
			rc = -1;
	for (i = 0; names != NULL && names[i] != NULL; i++)
		free(names[i]);
	free(names);
	return rc == -1 ? -1 : n;
}

/* Tells systemd (when it asked, with NOTIFY_SOCKET) how we are. */
void
systemd_notify(const char *fmt, ...)
{
	char	 state[512];
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	vsnprintf(state, sizeof(state), fmt, ap);
	va_end(ap);
	if ((rc = sd_notify(0, state)) < 0)
		log_warnx("cannot notify systemd: %s", strerror(-rc));
}
