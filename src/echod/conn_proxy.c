/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * A connection's first state behind a load balancer: waiting for its
 * PROXY header (v1 or v2), which names the client, within a deadline
 * counted from the accept.  Then it is an ordinary connection (conn.c).
 */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "proxy.h"
#include "server.h"

static void	conn_proxy_cb(evutil_socket_t, short, void *);

/* Not all of it yet: wait for more, until what is left of the deadline. */
static void
conn_proxy_wait(struct conn *c)
{
	struct timeval	 left;

	/* A persistent timeout restarts at every wakeup: set it anew. */
	conn_handshake_left(c, &left);
	event_add(c->proxy_ev, &left);
}

/*
 * --max-per-ip: the client the header names; or, for a header that
 * names nobody (a health check, UNKNOWN), the real peer, so that such
 * headers are no way around the limit.  Unix peers are not counted.
 */
static int
conn_proxy_count(struct conn *c, evutil_socket_t fd,
    const struct proxy_header *h)
{
	struct sockaddr_storage	 real;
	socklen_t		 len = sizeof(real);
	const struct sockaddr	*who = (const struct sockaddr *)&h->client;

	if (h->local) {
		if (getpeername(fd, (struct sockaddr *)&real, &len) == -1 ||
		    (real.ss_family != AF_INET && real.ss_family != AF_INET6))
			return 0;
		who = (const struct sockaddr *)&real;
	}
	return (c->peer_count = server_peer_get(c->srv, who)) == NULL ? -1 :
	    0;
}

/* The header is in: the client it names becomes this connection's. */
static void
conn_proxy_done(struct conn *c, evutil_socket_t fd,
    const struct proxy_header *h)
{
	struct server	*srv = c->srv;
	char		 via[ADDR_STRLEN];

	memcpy(via, c->peer, sizeof(via));
	if (!h->local)
		addr_format((const struct sockaddr *)&h->client, c->peer,
		    sizeof(c->peer));
	if (srv->opts->max_per_ip != 0 && conn_proxy_count(c, fd, h) == -1) {
		conn_close(c, "--max-per-ip reached");
		return;
	}
	event_free(c->proxy_ev);
	c->proxy_ev = NULL;
	conn_log_open(c, h->local ? NULL : via, h->version);
	/* conn_start() has closed the socket if it failed. */
	if (conn_start(c, fd) == -1)
		conn_close(c, "out of memory");
}

/*
 * Peeks at what has arrived, so nothing past the header is taken from
 * the socket; the header alone is then read.  Edge-triggered and
 * persistent, so bytes peeked at but left in the socket do not wake us
 * again until more arrive.
 */
static void
conn_proxy_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn		*c = arg;
	uint8_t			*buf = server_proxy_buf(c->srv);
	struct proxy_header	 h;
	const char		*why;
	char			 reason[96];
	struct timeval		 left;
	ssize_t			 n;

	if ((what & EV_TIMEOUT) || !conn_handshake_left(c, &left)) {
		conn_reject(c, "no PROXY header in time");
		return;
	}
	n = recv(fd, buf, PROXY_MAX_HEADER, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		conn_proxy_wait(c);
		return;
	}
	if (n <= 0) {
		conn_reject(c, n == 0 ? "closed before its PROXY header" :
		    strerror(errno));
		return;
	}
	switch (proxy_parse(buf, n, &h, &why)) {
	case PROXY_MORE:
		if (what & EV_CLOSED)
			conn_reject(c, "closed before its PROXY header");
		else
			conn_proxy_wait(c);
		return;
	case PROXY_BAD:
		snprintf(reason, sizeof(reason), "bad PROXY header: %s", why);
		conn_reject(c, reason);
		return;
	case PROXY_DONE:
		break;
	}
	if (recv(fd, buf, h.len, 0) != (ssize_t)h.len) {
		conn_close(c, strerror(errno));
		return;
	}
	conn_proxy_done(c, fd, &h);
}

/* Waits for the header, peeking with one edge-triggered event. */
int
conn_proxy_start(struct conn *c, evutil_socket_t fd)
{
	struct timeval	 timeout;
	struct server	*srv = c->srv;

	conn_handshake_left(c, &timeout);
	if (server_proxy_buf(srv) == NULL ||
	    (c->proxy_ev = event_new(srv->base, fd, EV_READ | EV_ET |
	    EV_CLOSED | EV_PERSIST, conn_proxy_cb, c)) == NULL)
		return -1;
	if (event_add(c->proxy_ev, &timeout) == -1) {
		event_free(c->proxy_ev);
		c->proxy_ev = NULL;
		return -1;
	}
	return 0;
}
