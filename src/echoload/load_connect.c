/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * echoload over streams: a connection's set-up.  The socket, its source
 * address (--source) and --connect-rate's turn, the PROXY header, the TLS
 * handshake; then the connection runs (load_tcp.c).  Churn comes back
 * here for each new connection.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "load.h"
#include "load_thread.h"
#include "load_tcp.h"
#include "log.h"
#include "proxy.h"
#include "tls_client.h"
#include "util.h"

static void
lconn_running(struct lconn *c)
{
	c->state = CS_RUNNING;
	c->state_ns = load_now();
	c->conn_first = c->next_seq;
	verify_restart(&c->v, &c->tt->o->payload, c->next_seq);
	lconn_pump_out(c);
}

static void
lconn_handshake(struct lconn *c)
{
	char	 why[256], what[300];
	int	 rc;

	if ((rc = SSL_connect(c->ssl)) == 1) {
		lconn_running(c);
		return;
	}
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		lconn_writing(c, false);
		return;
	case SSL_ERROR_WANT_WRITE:
		lconn_writing(c, true);
		return;
	default:
		snprintf(what, sizeof(what), "TLS handshake: %s",
		    tls_client_error(c->ssl, rc, why, sizeof(why)));
		lconn_fail(c, ERR_TLS, what);
	}
}

static void
lconn_connected(struct lconn *c)
{
	const struct load_opts	*o = c->tt->o;
	struct sockaddr_storage	 local;
	socklen_t		 len = sizeof(local);
	uint8_t			 header[PROXY_WRITE_MAX];
	size_t			 hlen;

	load_count(&c->tt->t->stats.opened, 1);
	load_count(&c->tt->t->stats.open, 1);
	c->counted = true;
	if (o->proxy_version != 0) {
		if (getsockname(c->fd, (struct sockaddr *)&local, &len) == -1) {
			lconn_fail_errno(c, ERR_CONNECT, "getsockname");
			return;
		}
		/* A fresh socket takes a hundred bytes whole. */
		hlen = proxy_write(o->proxy_version, (struct sockaddr *)&local,
		    (const struct sockaddr *)&o->addrs[0], header);
		if (send(c->fd, header, hlen, MSG_NOSIGNAL) != (ssize_t)hlen) {
			lconn_fail_errno(c, ERR_RESET,
			    "sending the PROXY header");
			return;
		}
	}
	if (o->transport != LT_TLS) {
		lconn_running(c);
		return;
	}
	if ((c->ssl = tls_client_ssl(c->tt->t->run->tls, c->fd,
	    o->host)) == NULL) {
		lconn_fail(c, ERR_TLS, "cannot set up TLS");
		return;
	}
	c->state = CS_HANDSHAKE;
	c->state_ns = load_now();
	lconn_handshake(c);
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lconn	*c = arg;
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	(void)what;
	switch (c->state) {
	case CS_CONNECTING:
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		lconn_writing(c, false);
		if (err != 0) {
			errno = err;
			lconn_fail_errno(c, ERR_CONNECT, "connect");
		} else
			lconn_connected(c);
		break;
	case CS_HANDSHAKE:
		lconn_handshake(c);
		break;
	case CS_RUNNING:
		lconn_pump_out(c);
		break;
	default:
		break;
	}
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lconn		*c = arg;
	struct tcp_thread	*tt = c->tt;

	(void)fd;
	(void)what;

	if (c->state == CS_HANDSHAKE)
		lconn_handshake(c);
	else if (c->state == CS_RUNNING) {
		lconn_pump_in(c);
		load_count(&tt->t->stats.replies, tt->replies_pending);
		load_count(&tt->t->stats.bytes_received, tt->bytes_pending);
		tt->replies_pending = tt->bytes_pending = 0;
	}
}

void
lconn_connect(struct lconn *c)
{
	const struct load_opts	*o = c->tt->o;
	uint64_t		 now = load_now();
	int			 one = 1;

	if (o->mode == MODE_CHURN && o->rate != 0 && c->pace.next_due > now) {
		load_timer_in(c->pace.timer, c->pace.next_due - now);
		return;
	}
	/* --connect-rate: each connection its turn, the turns even. */
	if (o->connect_rate != 0) {
		if (c->next_connect_ns > now) {
			load_timer_in(c->pace.timer, c->next_connect_ns - now);
			return;
		}
		c->next_connect_ns = (c->next_connect_ns != 0 ?
		    c->next_connect_ns : now) + 1000000000ULL * o->conns /
		    o->connect_rate;
	}
	if (o->mode == MODE_CHURN && o->count != 0 && !c->reserved) {
		if (c->tt->t->budget == 0) {
			lconn_close(c, true);	/* the end: it is done */
			return;
		}
		c->tt->t->budget--;
		c->reserved = true;
	}
	c->state_ns = c->connect_ns = now;
	c->fd = socket(o->addrs[0].ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		lconn_fail_errno(c, ERR_CONNECT, "socket");
		return;
	}
	if (o->addrs[0].ss_family != AF_UNIX)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (load_bind_source(o, c->fd, c->id) == -1) {
		lconn_fail_errno(c, ERR_CONNECT, "bind");
		return;
	}
	c->rev = event_new(c->tt->base, c->fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c);
	c->wev = event_new(c->tt->base, c->fd, EV_WRITE | EV_PERSIST,
	    conn_write_cb, c);
	if (c->rev == NULL || c->wev == NULL)
		fatalx("out of memory: events");
	event_add(c->rev, NULL);
	c->state = CS_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&o->addrs[0],
	    o->addrlens[0]) == 0)
		lconn_connected(c);
	else if (errno == EINPROGRESS || errno == EAGAIN)
		lconn_writing(c, true);
	else
		lconn_fail_errno(c, ERR_CONNECT, "connect");
}
