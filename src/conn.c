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

#include "conn.h"
#include "log.h"
#include "proxy.h"
#include "server.h"
#include "tls.h"

/* A connection this new and silent at shutdown may still speak. */
#define SHUTDOWN_GRACE_SEC	1.0
/* libevent 2.1's EVBUFFER_MAX_READ: the most one read event takes. */
#define LIBEVENT_READ_CAP	4096
/* The most one connection's read callback takes before the loop turns. */
#ifndef CONN_READ_TURN
#define CONN_READ_TURN		(1024 * 1024)
#endif
/*
 * The close reason when an output buffer cannot grow: the system is out
 * of memory, and a reply cannot be half kept, so that client is closed
 * and every other goes on.
 */
#define CONN_NOMEM_ECHO		"out of memory while echoing"

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static int	conn_echo(struct conn *);
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
 * What bounds the input buffer: in chunk mode each read is at most
 * --read-size bytes; in line mode a partial line never grows past
 * --max-line before it is echoed.  A read high watermark would do the
 * same, but libevent 2.1 implements it as a callback on the input that
 * runs, and re-adds the read event, on every read and every drain.
 * Reading is disabled while the input is full (PAUSED), so there is
 * always room here when it matters; 0 would mean libevent's default.
 */
static void
conn_set_read_room(struct conn *c)
{
	struct server	*srv = c->srv;
	size_t		 max = srv->read_max, fair, room;

	room = c->input_held < max ? max - c->input_held : 1;
	/*
	 * Past half of --memory-limit, no read takes a connection past its
	 * fair share, so the limit holds however many connections grow.
	 */
	if (srv->budget != 0 && srv->buffered > srv->budget / 2) {
		fair = srv->budget / (srv->nconns ? srv->nconns : 1);
		if (c->held >= fair)
			room = 1;
		else if (fair - c->held < room)
			room = fair - c->held;
	}
	bufferevent_set_max_single_read(c->bev, room);
}

/* What this connection's buffers hold, kept in its thread's total. */
static void
conn_account(struct conn *c)
{
	size_t	 now = evbuffer_get_length(bufferevent_get_input(c->bev)) +
		    evbuffer_get_length(bufferevent_get_output(c->bev));

	c->srv->buffered += now - c->held;
	c->held = now;
}

/*
 * Over --memory-limit, a connection holding more than its share is not
 * read until the thread's total has room again (server_budget_cb).
 */
static void
conn_check_budget(struct conn *c)
{
	struct server	*srv = c->srv;

	if (srv->budget == 0 || srv->buffered <= srv->budget ||
	    c->held_back || c->state != CONN_READING ||
	    c->held <= srv->budget / srv->nconns)
		return;
	bufferevent_disable(c->bev, EV_READ);
	c->held_back = true;
	server_hold_back(srv, c);
}

/* There is room again: read this connection as its state says. */
void
conn_release(struct conn *c)
{
	c->held_back = false;
	conn_set_read_room(c);
	if (c->state == CONN_READING)
		bufferevent_enable(c->bev, EV_READ);
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

	conn_set_read_room(c);
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

static void
conn_count_in(struct conn *c, size_t n)
{
	c->bytes_in += n;
	stat_add(&c->srv->stats.bytes_in, n);
}

/* Bytes the client was sent: queued, less what still waits for it. */
static uint64_t
conn_count_out(struct conn *c)
{
	uint64_t	 sent = c->bytes_queued;

	if (c->bev != NULL)
		sent -= evbuffer_get_length(bufferevent_get_output(c->bev));

	stat_add(&c->srv->stats.bytes_out, sent - c->bytes_counted);
	c->bytes_counted = sent;
	return sent;
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

	bytes_out = conn_count_out(c);
	srv->buffered -= c->held;
	if (c->held_back)
		srv->nheld--;
	if (c->tls_up)
		tls_close_notify(c->bev);
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
static void
conn_pause(struct conn *c)
{
	size_t	 limit = c->srv->opts->output_limit;

	bufferevent_disable(c->bev, EV_READ);
	/* Resume at half the limit, not at every byte written. */
	bufferevent_setwatermark(c->bev, EV_WRITE, limit / 2, 0);
	conn_set_state(c, CONN_PAUSED);
}

static void
conn_resume(struct conn *c)
{
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	conn_set_state(c, CONN_READING);
	if (conn_echo(c) == 0 && c->state == CONN_READING && !c->held_back)
		bufferevent_enable(c->bev, EV_READ);
}

static void
conn_queue(struct conn *c, size_t added)
{
	c->bytes_queued += added;
	c->input_held = evbuffer_get_length(bufferevent_get_input(c->bev));
	conn_account(c);
	conn_set_read_room(c);
}

/*
 * What the socket did not take of iov, past its first `sent` bytes.
 * Returns -1 if the output could not grow to hold it.
 */
static int
conn_keep_unsent(struct evbuffer *out, const struct iovec *iov, int niov,
    size_t sent)
{
	int	 i;

	for (i = 0; i < niov; i++) {
		if (sent >= iov[i].iov_len) {
			sent -= iov[i].iov_len;
			continue;
		}
		if (evbuffer_add(out, (char *)iov[i].iov_base + sent,
		    iov[i].iov_len - sent) == -1)
			return -1;
		sent = 0;
	}
	return 0;
}

/*
 * While nothing is queued for the client, replies are written at once
 * and straight from the input buffer, the prefix and each line in one
 * writev(): through the bufferevent's output each would be copied, add
 * the write event, wait a loop turn and remove it again.  What the
 * socket does not take is queued as usual.  Returns -1 if the
 * connection was closed.
 */
static int
conn_write_direct(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	struct iovec	 iov[FRAMING_IOV];
	size_t		 added, used;
	ssize_t		 n;
	int		 niov;

	while (evbuffer_get_length(out) == 0 &&
	    (added = framing_gather(&c->srv->framing, in,
	    c->srv->opts->output_limit, iov, FRAMING_IOV, &niov, &used)) != 0) {
		if ((n = writev(bufferevent_getfd(c->bev), iov, niov)) == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				conn_close(c,
				    evutil_socket_error_to_string(errno));
				return -1;
			}
			n = 0;
		}
		/* Half a reply cannot be kept: the client must not get the
		 * rest as if nothing were missing. */
		if ((size_t)n < added &&
		    conn_keep_unsent(out, iov, niov, n) == -1) {
			/* The socket's part was sent: the log counts it. */
			evbuffer_drain(out, evbuffer_get_length(out));
			c->bytes_queued += n;
			conn_close(c, CONN_NOMEM_ECHO);
			return -1;
		}
		evbuffer_drain(in, used);
		c->bytes_queued += added;
	}
	return 0;
}

/*
 * Echoes what can be echoed, pausing once the output limit is reached.
 * Returns -1 if the connection was closed.
 */
static int
conn_echo(struct conn *c)
{
	const struct framing	*fr = &c->srv->framing;
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	size_t			 limit = c->srv->opts->output_limit;
	size_t			 added = 0;

	if (!c->tls && conn_write_direct(c) == -1)
		return -1;
	if ((c->tls || evbuffer_get_length(out) != 0) &&
	    (added = framing_echo(fr, in, out, limit)) == FRAMING_NOMEM) {
		conn_close(c, CONN_NOMEM_ECHO);
		return -1;
	}
	conn_queue(c, added);
	conn_count_out(c);
	if (evbuffer_get_length(out) >= limit)
		conn_pause(c);
	return 0;
}

/* A readv() of our own returned 0 or -1: as libevent would handle it. */
static int
conn_read_failed(struct conn *c, ssize_t n)
{
	int	 err = errno;

	if (n == -1 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
		return 0;
	if (n == -1) {
		conn_close(c, evutil_socket_error_to_string(err));
		return -1;
	}
	c->peer_eof = true;
	conn_drain(c);
	return -1;
}

/*
 * libevent 2.1 reads at most 4 KiB per read event, each after an
 * ioctl(FIONREAD).  When a read came back that full there is probably
 * more: read it here, in one readv() up to the input watermark, until
 * the socket is drained or `turn` bytes are read: a client that keeps
 * its socket full would otherwise hold the loop, and every other client
 * of the thread would wait (what is left fires the read event again on
 * the loop's next turn).  The shutdown also reads what is left in the
 * socket this way.  Returns -1 if the connection may be gone.
 */
static int
conn_read_more(struct conn *c, size_t turn)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec	 vec[2];
	struct iovec		 iov[2];
	size_t			 room, left, taken = 0;
	ssize_t			 n;
	int			 i, nvec;

	while (taken < turn && c->state == CONN_READING &&
	    evbuffer_get_length(in) < c->srv->read_max &&
	    (c->srv->budget == 0 || c->srv->buffered <= c->srv->budget / 2)) {
		room = c->srv->read_max - evbuffer_get_length(in);
		/* The bufferevent keeps its input's end frozen but in reads. */
		evbuffer_unfreeze(in, 0);
		if ((nvec = evbuffer_reserve_space(in, room, vec, 2)) <= 0) {
			conn_close(c, "out of memory while reading");
			return -1;
		}
		for (i = 0; i < nvec; i++) {
			iov[i].iov_base = vec[i].iov_base;
			iov[i].iov_len = vec[i].iov_len;
		}
		n = readv(bufferevent_getfd(c->bev), iov, nvec);
		for (i = 0, left = n > 0 ? n : 0; i < nvec && left > 0; i++) {
			if (vec[i].iov_len > left)
				vec[i].iov_len = left;
			left -= vec[i].iov_len;
		}
		evbuffer_commit_space(in, vec, i);
		evbuffer_freeze(in, 0);
		if (n <= 0)
			return conn_read_failed(c, n);
		conn_count_in(c, n);
		taken += n;
		if (conn_echo(c) == -1)
			return -1;
		if ((size_t)n < room)
			break;		/* the socket is drained */
	}
	return 0;
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

/* No more input will be echoed: flush everything received, then finish. */
static void
conn_drain(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	size_t		 added;

	bufferevent_disable(c->bev, EV_READ);
	if ((added = framing_flush(&c->srv->framing, in, out)) ==
	    FRAMING_NOMEM) {
		conn_close(c, CONN_NOMEM_ECHO);
		return;
	}
	conn_queue(c, added);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	conn_set_state(c, CONN_DRAINING);
	if (evbuffer_get_length(out) == 0)
		conn_finish(c);
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
	 * server.  conn_read_more() reads it within the usual limits.
	 */
	if (c->state == CONN_READING && !c->tls &&
	    conn_read_more(c, SIZE_MAX) == -1)
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
	conn_count_in(c, got);
	if (conn_echo(c) == -1)
		return;
	if (got == LIBEVENT_READ_CAP && c->srv->framing.kind != FRAMING_CHUNK &&
	    !c->tls && conn_read_more(c, CONN_READ_TURN) == -1)
		return;
	if (c->grace) {
		/* It spoke after the shutdown began: echoed, now drained. */
		c->grace = false;
		if (c->state == CONN_READING || c->state == CONN_PAUSED)
			conn_drain(c);
		return;
	}
	conn_check_budget(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	conn_count_out(c);
	conn_account(c);
	switch (c->state) {
	case CONN_PAUSED:
		conn_resume(c);
		break;
	case CONN_DRAINING:
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
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
		c->peer_eof = true;
		conn_count_in(c, evbuffer_get_length(bufferevent_get_input(bev)) -
		    c->input_held);
		conn_drain(c);
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
