#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "udp.h"

/* Largest payload of one datagram; RFC 862 allows no more. */
#define UDP_MAX_V4		65507
#define UDP_MAX_V6		65527
#define UDP_RECV_MAX		65536
/* Datagrams per wakeup: UDP floods must not starve TCP clients. */
#define UDP_BATCH		64

static void	udp_read_cb(evutil_socket_t, short, void *);

/*
 * As OpenBSD's inetd does, no reply to privileged source ports: that is
 * where other echo, chargen and daytime services live, and two of them
 * answering each other would loop forever.  Spoofed sources are the
 * operator's to filter.
 */
static bool
udp_sender_ok(const struct sockaddr *sa)
{
	return addr_port(sa) >= 1024;
}

static size_t
udp_reply_max(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *sin6 = (const void *)sa;

	if (sa->sa_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return UDP_MAX_V6;
	return UDP_MAX_V4;
}

/* Echoes one datagram; never waits for the socket. */
static void
udp_echo(struct udp_socket *u, const struct sockaddr *from, socklen_t fromlen,
    size_t len)
{
	struct server	*srv = u->srv;
	const struct options *opts = srv->opts;
	struct iovec	 iov[2];
	struct msghdr	 msg;
	size_t		 room = udp_reply_max(from) - opts->prefix_len;
	char		 name[ADDR_STRLEN];

	stat_add(&srv->stats.udp_in, 1);
	stat_add(&srv->stats.bytes_in, len);
	addr_format(from, name, sizeof(name));
	if (!udp_sender_ok(from)) {
		log_debug("udp %s: privileged source port, not answered",
		    name);
		stat_add(&srv->stats.udp_dropped, 1);
		return;
	}
	if (len > room) {
		log_debug("udp %s: reply cut from %zu to %zu bytes", name,
		    opts->prefix_len + len, opts->prefix_len + room);
		stat_add(&srv->stats.udp_truncated, 1);
		len = room;
	}
	iov[0].iov_base = opts->prefix;
	iov[0].iov_len = opts->prefix_len;
	iov[1].iov_base = srv->dgram;
	iov[1].iov_len = len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = (void *)from;
	msg.msg_namelen = fromlen;
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	if (sendmsg(event_get_fd(u->ev), &msg, MSG_DONTWAIT) == -1) {
		/* A full socket buffer drops the reply, as UDP does. */
		log_debug("udp %s: reply dropped: %s", name, strerror(errno));
		stat_add(&srv->stats.udp_dropped, 1);
		return;
	}
	log_debug("udp %s: %zu bytes echoed", name, len);
	stat_add(&srv->stats.udp_out, 1);
	stat_add(&srv->stats.bytes_out, opts->prefix_len + len);
}

static void
udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_socket	*u = arg;
	struct sockaddr_storage	 from;
	socklen_t		 fromlen;
	ssize_t			 n;
	int			 i;

	(void)what;
	for (i = 0; i < UDP_BATCH; i++) {
		fromlen = sizeof(from);
		n = recvfrom(fd, u->srv->dgram, UDP_RECV_MAX, MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fromlen);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				log_warn("udp: recvfrom");
			return;
		}
		udp_echo(u, (struct sockaddr *)&from, fromlen, n);
	}
}

int
udp_open(struct server *srv, evutil_socket_t fd, const struct listen_addr *la)
{
	struct udp_socket	*u, **grown;

	if (srv->dgram == NULL && (srv->dgram = malloc(UDP_RECV_MAX)) == NULL)
		fatal("malloc");
	grown = reallocarray(srv->udp, srv->nudp + 1, sizeof(*grown));
	if (grown == NULL || (u = calloc(1, sizeof(*u))) == NULL)
		fatal("udp_open");
	srv->udp = grown;
	u->srv = srv;
	u->addr = *la;
	u->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, udp_read_cb, u);
	if (u->ev == NULL || event_add(u->ev, NULL) == -1) {
		if (u->ev != NULL)
			event_free(u->ev);
		free(u);
		close(fd);
		return -1;
	}
	srv->udp[srv->nudp++] = u;
	return 0;
}

void
udp_close_all(struct server *srv)
{
	size_t	 i;

	for (i = 0; i < srv->nudp; i++) {
		evutil_socket_t fd = event_get_fd(srv->udp[i]->ev);

		event_free(srv->udp[i]->ev);
		close(fd);
		free(srv->udp[i]);
	}
	free(srv->udp);
	srv->udp = NULL;
	srv->nudp = 0;
	free(srv->dgram);
	srv->dgram = NULL;
}
