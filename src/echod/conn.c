/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "budget.h"
#include "conn.h"
#include "datapath.h"
#include "log.h"
#include "proxy.h"
#include "server.h"
#include "tls.h"

/* A connection this new and silent at shutdown may still speak. */
#define SHUTDOWN_GRACE_SEC	1.0

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_drain(struct conn *);

static const char *const conn_state_names[] = {
	[CONN_PROXY] = "awaiting PROXY header",
	[CONN_READING] = "reading",
	[CONN_PAUSED] = "paused",
	[CONN_DRAINING] = "draining",
	[CONN_CLOSING] = "closing"
};

static double
conn_elapsed(const struct conn *c)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - c->started.tv_sec) +
	    (now.tv_nsec - c->started.tv_nsec) / 1e9;
}

static void
conn_set_state(struct conn *c, enum conn_state state)
{
	log_debug("%s: %s -> %s", c->peer, conn_state_names[c->state],
	    conn_state_names[state]);
	c->state = state;
}

/* -t as bufferevent timeouts: NULL for none. */
static const struct timeval *
conn_idle_timeout(const struct server *srv)
{
	return srv->opts->idle_timeout != 0 ? &srv->idle_timeout : NULL;
}

/*
 * What is left of --handshake-timeout, counted from the accept, for the
 * PROXY header and the TLS handshake together: an absolute deadline, so
 * that a client sending a byte at a time cannot stretch it.  False once
 * it has passed.
 */
bool
conn_handshake_left(const struct conn *c, struct timeval *left)
{
	struct timespec	 now;
	long		 ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (c->started.tv_sec + (long)c->srv->opts->handshake_timeout -
	    now.tv_sec) * 1000L + (c->started.tv_nsec - now.tv_nsec) / 1000000L;
	if (ms <= 0) {
		left->tv_sec = left->tv_usec = 0;
		return false;
	}
	left->tv_sec = ms / 1000;
	left->tv_usec = ms % 1000 * 1000;
	return true;
}

static void
conn_handshake_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	(void)what;
	stat_add(&c->srv->stats.tls_handshakes[STAT_TLS_TIMEOUT], 1);
	conn_close(c, "TLS handshake failed: timed out");
}

/*
 * Undoes a conn_start() that failed: what it made is freed and the
 * socket closed (by the bufferevent, if there is one), so no caller can
 * close a descriptor number another thread has been given since.
 */
static int
conn_start_failed(struct conn *c, evutil_socket_t fd, const char *why)
{
	log_warnx("%s", why);
	if (c->handshake_ev != NULL) {
		event_free(c->handshake_ev);
		c->handshake_ev = NULL;
	}
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	} else
		evutil_closesocket(fd);
	return -1;
}

/*
 * The connection proper: a bufferevent on the socket, reading.  On
 * failure the socket is closed.
 */
int
conn_start(struct conn *c, evutil_socket_t fd)
{
	struct server	*srv = c->srv;
	struct timeval	 left;
	int		 one = 1;

	if (c->tls) {
		conn_handshake_left(c, &left);
		if ((c->handshake_ev = evtimer_new(srv->base,
		    conn_handshake_timeout_cb, c)) == NULL ||
		    evtimer_add(c->handshake_ev, &left) == -1)
			return conn_start_failed(c, fd,
			    "cannot allocate a TLS deadline");
		c->bev = tls_bufferevent(srv->base, srv->group->tls, fd);
	} else
		c->bev = bufferevent_socket_new(srv->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		return conn_start_failed(c, fd, "cannot allocate a bufferevent");
	/* Replies are written whole; Nagle would only delay them. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	datapath_read_room(c);
	/*
	 * libevent 2.1 writes at most 16 KiB a write event: a reader a
	 * little slower than its sender then cost a writev() per 16 KiB.
	 * The socket takes what it has room for; one call offers it all.
	 */
	bufferevent_set_max_single_write(c->bev, EV_SSIZE_MAX);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	/* A TLS handshake has its deadline; -t counts once it is done. */
	if (!c->tls)
		bufferevent_set_timeouts(c->bev, conn_idle_timeout(srv),
		    conn_idle_timeout(srv));
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) == -1)
		return conn_start_failed(c, fd,
		    "cannot add a connection to the event loop");
	if (c->state != CONN_READING)
		conn_set_state(c, CONN_READING);
	if (c->tls)
		budget_handshake_start(c);
	return 0;
}

/* With a PROXY header that names nobody (a health check), say so. */
void
conn_log_open(struct conn *c, const char *via, int proxy_version)
{
	if (via != NULL)
		log_info("Connection from %s via %s (PROXY v%d)", c->peer, via,
		    proxy_version);
	else if (proxy_version != 0)
		log_info("Connection from %s (PROXY v%d, no client named)",
		    c->peer, proxy_version);
	else
		log_info("Connection from %s", c->peer);
	if (c->srv->group->nthreads > 1)
		log_debug("%s: on thread %u", c->peer, c->srv->index);
}

/*
 * Reads and drops what the client sent that echod will never answer,
 * as far as is there now and at most a PROXY buffer's worth: closing a
 * socket with unread bytes sends a reset, and a refused client should
 * see an orderly end instead.
 */
static void
conn_discard_unread(evutil_socket_t fd)
{
	char	 sink[512];
	size_t	 total = 0;
	ssize_t	 n;

	while (total < PROXY_MAX_HEADER &&
	    (n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		total += n;
}

void
conn_reject(struct conn *c, const char *reason)
{
	stat_add(&c->srv->stats.rejected, 1);
	if (c->state == CONN_PROXY && c->proxy_ev != NULL)
		conn_discard_unread(event_get_fd(c->proxy_ev));
	conn_close(c, reason);
}

struct conn *
conn_new(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
    const struct listen_addr *la)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("cannot allocate a connection");
		evutil_closesocket(fd);
		return NULL;
	}
	c->srv = srv;
	c->tls = la->tls;
	clock_gettime(CLOCK_MONOTONIC, &c->started);
	budget_track(c);
	addr_format(sa, c->peer, sizeof(c->peer));
	if (la->proxy) {
		c->state = CONN_PROXY;
		if (conn_proxy_start(c, fd) == -1) {
			log_warnx("cannot allocate a connection");
			evutil_closesocket(fd);
			free(c);
			return NULL;
		}
		log_debug("%s: awaiting its PROXY header", c->peer);
		return c;
	}
	c->state = CONN_READING;
	if (conn_start(c, fd) == -1) {
		free(c);
		return NULL;
	}
	conn_log_open(c, NULL, 0);
	return c;
}

/*
 * The one way out for a connection, from every path.  It counts the
 * last bytes sent, logs why and frees it; the caller must not touch the
 * connection afterwards.
 */
void
conn_close(struct conn *c, const char *reason)
{
	struct server	*srv = c->srv;
	uint64_t	 bytes_out;

	bytes_out = datapath_count_out(c);
	budget_discharge(c);
	budget_handshake_done(c);
	if (c->tls_up)
		tls_close_notify(c->bev);
	/*
	 * libevent frees a bufferevent from the loop, after every callback
	 * already due: a shed that closes hundreds in one turn would hold
	 * their buffers until then, over the limit it keeps.  Plain
	 * connections give them back now (TLS's belong to the filter).
	 */
	if (c->bev != NULL && !c->tls) {
		evbuffer_drain(bufferevent_get_input(c->bev), SIZE_MAX);
		evbuffer_drain(bufferevent_get_output(c->bev), SIZE_MAX);
	}
	/* Descriptor first: once the line is logged, the socket is gone. */
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->state == CONN_PROXY && c->proxy_ev != NULL) {
		/* The event first: its epoll entry goes with a live descriptor. */
		evutil_socket_t	 fd = event_get_fd(c->proxy_ev);

		event_free(c->proxy_ev);
		if (fd != -1)
			evutil_closesocket(fd);
	} else if (c->handshake_ev != NULL)
		event_free(c->handshake_ev);
	log_info("Connection closed %s: %s, %llu bytes in, %llu bytes out, "
	    "%.3f s", c->peer, reason, (unsigned long long)c->bytes_in,
	    (unsigned long long)bytes_out, conn_elapsed(c));
	server_conn_gone(srv, c);
	free(c);
}

/* The tutorial's `yield 'send'`: the client must read before we go on. */
void
conn_pause(struct conn *c)
{
	size_t	 limit = c->srv->opts->output_limit;

	bufferevent_disable(c->bev, EV_READ);
	/*
	 * Called back at every write, which the budget counts as the client
	 * reading (a slow reader is moving); resumed at half the limit.
	 */
	bufferevent_setwatermark(c->bev, EV_WRITE, limit, 0);
	budget_paused(c);
	conn_set_state(c, CONN_PAUSED);
}

static void
conn_resume(struct conn *c)
{
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	conn_set_state(c, CONN_READING);
	if (datapath_echo(c) == 0 && c->state == CONN_READING)
		bufferevent_enable(c->bev, EV_READ);
}

/*
 * Whether closing now is clean: nothing unread (else close() sends a
 * reset, which can destroy echoed data still on its way to the client)
 * and everything sent acknowledged by the client.
 */
static bool
conn_close_is_clean(struct conn *c)
{
	evutil_socket_t	 fd = bufferevent_getfd(c->bev);
	int		 unread = 0, unacked = 0;

	if (ioctl(fd, FIONREAD, &unread) == -1 ||
	    ioctl(fd, SIOCOUTQ, &unacked) == -1)
		return false;
	return unread == 0 && unacked == 0;
}

/*
 * After the last output is flushed: if the client has half-closed,
 * nothing more can come and the connection is closed.  Otherwise (the
 * server is shutting down) close at once if that is clean; else send our
 * FIN and wait for the client's, discarding its input, until the drain
 * deadline.
 */
static void
conn_finish(struct conn *c)
{
	if (c->peer_eof) {
		conn_close(c, "client closed");
		return;
	}
	if (conn_close_is_clean(c)) {
		conn_close(c, "shutdown");
		return;
	}
	conn_set_state(c, CONN_CLOSING);
	if (c->tls_up) {
		tls_close_notify(c->bev);
		c->tls_up = false;
	}
	if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) == -1) {
		conn_close(c, strerror(errno));
		return;
	}
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	/* Discarded as it comes: read in libevent's default amounts. */
	bufferevent_set_max_single_read(c->bev, 0);
	bufferevent_enable(c->bev, EV_READ);
}

/*
 * No more input will be read: echo everything received, within
 * --output-limit as before, then finish.  Called again by the write
 * callback while input is left.
 */
static void
conn_drain(struct conn *c)
{
	int	 left;

	bufferevent_disable(c->bev, EV_READ);
	if (c->state != CONN_DRAINING) {
		budget_paused(c);
		conn_set_state(c, CONN_DRAINING);
	}
	if ((left = datapath_drain(c)) == -1)
		return;
	/* Called back at half the limit while input waits, else at empty. */
	bufferevent_setwatermark(c->bev, EV_WRITE,
	    left ? c->srv->opts->output_limit / 2 : 0, 0);
	if (!left && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_finish(c);
}

/* The client's half of the connection has ended. */
void
conn_input_ended(struct conn *c)
{
	c->peer_eof = true;
	conn_drain(c);
}

/*
 * A client that connected just before the shutdown, and has not said
 * anything yet, is most likely about to: a restart should not turn it
 * away unanswered.  It gets the rest of SHUTDOWN_GRACE_SEC from its
 * connection to send; then it is echoed and drained as any other.
 */
static void
conn_grace(struct conn *c)
{
	double		 left = SHUTDOWN_GRACE_SEC - conn_elapsed(c);
	struct timeval	 tv = { 0, (suseconds_t)(left * 1e6) };

	c->grace = true;
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	log_debug("%s: new and silent at shutdown, waiting %.3f s for it",
	    c->peer, left);
}

/* The server is shutting down: stop reading, echo what we have, close. */
void
conn_shutdown(struct conn *c)
{
	if (c->state == CONN_PROXY) {
		conn_close(c, "shutdown");
		return;
	}
	/*
	 * What the client sent before the signal but is still in the socket
	 * is echoed too: in a restart, that client is answered by the old
	 * server.  datapath_read_more() reads it within the usual limits.
	 */
	if (c->state == CONN_READING && !c->tls &&
	    datapath_read_more(c, SIZE_MAX) == -1)
		return;
	if (c->state == CONN_READING && c->bytes_in == 0 &&
	    conn_elapsed(c) < SHUTDOWN_GRACE_SEC) {
		conn_grace(c);
		return;
	}
	if (c->state == CONN_READING || c->state == CONN_PAUSED)
		conn_drain(c);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 got;

	if (c->state == CONN_CLOSING) {
		evbuffer_drain(in, evbuffer_get_length(in));
		if (conn_close_is_clean(c))
			conn_close(c, "shutdown");
		return;
	}
	got = evbuffer_get_length(in) - c->input_held;
	datapath_count_in(c, got);
	if (budget_stalled(c, c->srv->opts->idle_timeout)) {
		stat_add(&c->srv->stats.timed_out, 1);
		conn_close(c, "write timeout, client not reading");
		return;
	}
	/*
	 * A read that came back full means more is waiting: read it first
	 * (datapath_read_more() echoes as it goes), so that libevent's
	 * 4 KiB does not cost a writev() of its own.
	 */
	if (got == LIBEVENT_READ_CAP && c->srv->framing.kind != FRAMING_CHUNK &&
	    !c->tls && datapath_read_more(c, CONN_READ_TURN) == -1)
		return;
	if (datapath_echo(c) == -1)
		return;
	if (c->grace) {
		/* It spoke after the shutdown began: echoed, now drained. */
		c->grace = false;
		if (c->state == CONN_READING || c->state == CONN_PAUSED)
			conn_drain(c);
		return;
	}
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	datapath_count_out(c);
	budget_charge(c);
	switch (c->state) {
	case CONN_PAUSED:
		if (evbuffer_get_length(bufferevent_get_output(bev)) <=
		    c->srv->opts->output_limit / 2)
			conn_resume(c);
		break;
	case CONN_DRAINING:
		if (evbuffer_get_length(bufferevent_get_input(bev)) != 0)
			conn_drain(c);
		else if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_finish(c);
		break;
	default:
		break;
	}
}

static void
conn_timeout(struct conn *c, short what)
{
	if (c->grace) {
		conn_close(c, "shutdown");
		return;
	}
	if (what & BEV_EVENT_WRITING) {
		stat_add(&c->srv->stats.timed_out, 1);
		conn_close(c, "write timeout, client not reading");
		return;
	}
	/*
	 * Nothing received for a while, but output is still flowing: that
	 * direction has its own (write) timeout, so keep waiting.
	 */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0) {
		bufferevent_enable(c->bev, EV_READ);
		return;
	}
	stat_add(&c->srv->stats.timed_out, 1);
	conn_close(c, "idle timeout");
}

/* The handshake is done: from now on the usual timeouts. */
static void
conn_tls_up(struct conn *c)
{
	char		 how[128];

	c->tls_up = true;
	budget_handshake_done(c);
	stat_add(&c->srv->stats.tls_handshakes[STAT_TLS_OK], 1);
	event_free(c->handshake_ev);
	c->handshake_ev = NULL;
	bufferevent_set_timeouts(c->bev, conn_idle_timeout(c->srv),
	    conn_idle_timeout(c->srv));
	log_debug("%s: TLS handshake done, %s", c->peer,
	    tls_describe(c->bev, how, sizeof(how)));
}

static void
conn_tls_failed(struct conn *c, short what)
{
	char	 why[256], reason[300];

	stat_add(&c->srv->stats.tls_handshakes[what & BEV_EVENT_TIMEOUT ?
	    STAT_TLS_TIMEOUT : STAT_TLS_FAILED], 1);
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "timed out");
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "client closed");
	else
		tls_error(c->bev, why, sizeof(why));
	snprintf(reason, sizeof(reason), "TLS handshake failed: %s", why);
	conn_discard_unread(bufferevent_getfd(c->bev));
	conn_close(c, reason);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	int		 err = EVUTIL_SOCKET_ERROR();
	char		 why[256];

	if (what & BEV_EVENT_CONNECTED) {
		conn_tls_up(c);
		return;
	}
	if (c->tls && !c->tls_up && c->state != CONN_CLOSING &&
	    c->state != CONN_DRAINING) {
		conn_tls_failed(c, what);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		conn_timeout(c, what);
	} else if (what & BEV_EVENT_EOF) {
		if (c->state == CONN_CLOSING) {
			conn_close(c, "shutdown");
			return;
		}
		/*
		 * EOF again, or while writing: a TLS peer that is gone (libevent
		 * stops both directions then).  What is left cannot be sent,
		 * and waiting for it would hold the connection forever.
		 */
		if (c->state == CONN_DRAINING || (what & BEV_EVENT_WRITING)) {
			conn_close(c, "client gone before its last reply");
			return;
		}
		datapath_count_in(c,
		    evbuffer_get_length(bufferevent_get_input(bev)) -
		    c->input_held);
		conn_input_ended(c);
	} else if (what & BEV_EVENT_ERROR) {
		c->tls_up = false;	/* no close_notify after an error */
		if (c->tls)
			conn_close(c, tls_error(bev, why, sizeof(why)));
		else
			conn_close(c, err != 0 ?
			    evutil_socket_error_to_string(err) :
			    "socket error");
	}
}
