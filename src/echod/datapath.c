/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The data path of one connection: what it reads, how that becomes
 * replies (framing.c), how they are written, and the counting of both.
 * The tutorial's loop body, `data = client.recv(1000)` then
 * `client.send(b'GOT:' + data)`, with the limits that make it safe.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "budget.h"
#include "conn.h"
#include "datapath.h"
#include "server.h"

/*
 * The close reason when an output buffer cannot grow: the system is out
 * of memory, and a reply cannot be half kept, so that client is closed
 * and every other goes on.
 */
#define CONN_NOMEM_ECHO		"out of memory while echoing"

/*
 * What bounds the input buffer: in chunk mode each read is at most
 * --read-size bytes; in line mode a partial line never grows past
 * --max-line before it is echoed.  A read high watermark would do the
 * same, but libevent 2.1 implements it as a callback on the input that
 * runs, and re-adds the read event, on every read and every drain.
 * Reading is disabled while the input is full (PAUSED), so there is
 * always room here when it matters; 0 would mean libevent's default.
 */
void
datapath_read_room(struct conn *c)
{
	size_t	 max = c->srv->read_max;

	bufferevent_set_max_single_read(c->bev,
	    c->input_held < max ? max - c->input_held : 1);
}

void
datapath_count_in(struct conn *c, size_t n)
{
	c->bytes_in += n;
	c->fresh += n;
	stat_add(&c->srv->stats.bytes_in, n);
}

/* Bytes the client was sent: queued, less what still waits for it. */
uint64_t
datapath_count_out(struct conn *c)
{
	uint64_t	 sent = c->bytes_queued;

	if (c->bev != NULL)
		sent -= evbuffer_get_length(bufferevent_get_output(c->bev));

	if (sent != c->bytes_counted)
		budget_moved(c);
	stat_add(&c->srv->stats.bytes_out, sent - c->bytes_counted);
	c->bytes_counted = sent;
	return sent;
}

/*
 * The input's bytes moved to a chain of their own size, every chain they
 * were in freed: the chain reserved for a whole line, whose pages the
 * lines echoed from it touched, or one reserved for a read that found
 * nothing.  The budget counts bytes; the system counts pages.
 */
static void
datapath_repack(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev), *rest;
	struct evbuffer_iovec	 vec;
	size_t			 len = evbuffer_get_length(in);

	c->drained = 0;
	if (len == 0) {
		evbuffer_drain(in, 0);	/* frees even empty chains */
		return;
	}
	if ((rest = evbuffer_new()) == NULL)
		return;
	if (evbuffer_reserve_space(rest, len, &vec, 1) == 1 &&
	    evbuffer_copyout(in, vec.iov_base, len) == (ev_ssize_t)len) {
		vec.iov_len = len;
		if (evbuffer_commit_space(rest, &vec, 1) == 0) {
			evbuffer_unfreeze(in, 0);
			evbuffer_drain(in, len);
			evbuffer_add_buffer(in, rest);
			evbuffer_freeze(in, 0);
		}
	}
	evbuffer_free(rest);
}

/*
 * After lines were echoed, what is left (an unfinished line) is repacked
 * when it is short, or no longer than what was echoed before it in its
 * chain: a long line's rest costs a copy no longer than the line.
 */
static void
datapath_compact(struct conn *c, size_t len, size_t consumed)
{
	c->drained = len == 0 ? 0 : c->drained + consumed;
	if (len != 0 && consumed != 0 && !c->tls &&
	    (len <= DATAPATH_COMPACT_MAX || len <= c->drained))
		datapath_repack(c);
}

static void
datapath_queue(struct conn *c, size_t added)
{
	size_t	 len = evbuffer_get_length(bufferevent_get_input(c->bev));
	size_t	 had = (size_t)c->input_held + c->fresh;

	if (added != 0)
		budget_moved(c);
	datapath_compact(c, len, had > len ? had - len : 0);
	c->fresh = 0;
	c->bytes_queued += added;
	c->input_held = len;
	if (c->scanned > c->input_held)
		c->scanned = c->input_held;
	budget_charge(c);
	datapath_read_room(c);
}

/*
 * What the socket did not take of the reply it stopped in, past the
 * first `sent` bytes of iov: a reply is never half kept.  The replies
 * after that one stay in the input, so a short write leaves at most one
 * reply in the output, however much was offered.  In line framing a
 * reply ends with its line's LF; a chunk is one reply.  Returns the
 * input bytes sent or queued (to drain) and in *queued the bytes now
 * sent or in the output; FRAMING_NOMEM if the output could not grow.
 */
static size_t
datapath_keep_unsent(const struct framing *fr, struct evbuffer *out,
    const struct iovec *iov, int niov, size_t sent, size_t *queued)
{
	const char	*base;
	size_t		 used = 0, len;
	bool		 keeping = false, from_input;
	int		 i;

	*queued = sent;
	for (i = 0; i < niov; i++) {
		base = iov[i].iov_base;
		len = iov[i].iov_len;
		from_input = base != fr->prefix;
		if (!keeping && sent >= len) {
			sent -= len;
		} else {
			keeping = true;
			if (evbuffer_add(out, base + sent, len - sent) == -1)
				return FRAMING_NOMEM;
			*queued += len - sent;
			sent = 0;
		}
		if (from_input)
			used += len;
		if (keeping && from_input && fr->kind == FRAMING_LINE &&
		    len != 0 && base[len - 1] == '\n')
			break;
	}
	return used;
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
datapath_write_direct(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	struct iovec	 iov[FRAMING_IOV];
	size_t		 added, used, scanned, kept;
	ssize_t		 n;
	int		 niov;

	scanned = c->scanned;
	while (evbuffer_get_length(out) == 0 &&
	    (scanned = c->scanned,
	    added = framing_gather(&c->srv->framing, in, SIZE_MAX, iov,
	    FRAMING_IOV, &niov, &used, &scanned)) != 0) {
		if (added == FRAMING_NOMEM) {
			conn_close(c, CONN_NOMEM_ECHO);
			return -1;
		}
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
		if ((size_t)n < added) {
			kept = datapath_keep_unsent(&c->srv->framing, out, iov,
			    niov, n, &added);
			if (kept == FRAMING_NOMEM) {
				/* The socket's part was sent: the log counts it. */
				evbuffer_drain(out, evbuffer_get_length(out));
				c->bytes_queued += n;
				conn_close(c, CONN_NOMEM_ECHO);
				return -1;
			}
			if (kept < used) {
				/* What is left was never searched past. */
				used = kept;
				scanned = 0;
			}
		}
		evbuffer_drain(in, used);
		c->bytes_queued += added;
		c->scanned = scanned;
	}
	c->scanned = scanned;
	return 0;
}

/*
 * Replies for what is complete, while the output holds less than
 * --output-limit; with `flush`, the unfinished rest too once there is
 * room (the input has ended).  Then the budget.  Returns -1 if the
 * connection was closed.
 */
static int
datapath_reply(struct conn *c, bool flush)
{
	const struct framing	*fr = &c->srv->framing;
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	size_t			 limit = c->srv->opts->output_limit;
	size_t			 added = 0, rest = 0, scanned;

	if (!c->tls && datapath_write_direct(c) == -1)
		return -1;
	scanned = c->scanned;
	if ((c->tls || evbuffer_get_length(out) != 0) &&
	    (added = framing_echo(fr, in, out, limit, &scanned)) ==
	    FRAMING_NOMEM) {
		conn_close(c, CONN_NOMEM_ECHO);
		return -1;
	}
	if (flush && evbuffer_get_length(out) < limit &&
	    evbuffer_get_length(in) != 0 &&
	    (rest = framing_flush(fr, in, out)) == FRAMING_NOMEM) {
		conn_close(c, CONN_NOMEM_ECHO);
		return -1;
	}
	c->scanned = rest != 0 ? 0 : scanned;
	datapath_queue(c, added + rest);
	datapath_count_out(c);
	return budget_enforce(c->srv, c);
}

/*
 * Echoes what can be echoed, pausing once the output limit is reached.
 * Returns -1 if the connection was closed.
 */
int
datapath_echo(struct conn *c)
{
	if (datapath_reply(c, false) == -1)
		return -1;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) >=
	    c->srv->opts->output_limit)
		conn_pause(c);
	return 0;
}

/*
 * The input has ended: echo the rest, the last unfinished line too,
 * but never past --output-limit, so a client that does not read gets
 * no more after the end than before it.  Returns -1 if the connection
 * was closed, 1 while input waits for the output to drain, 0 once all
 * of it is in the output.
 */
int
datapath_drain(struct conn *c)
{
	if (datapath_reply(c, true) == -1)
		return -1;
	return evbuffer_get_length(bufferevent_get_input(c->bev)) != 0;
}

/* A readv() of our own returned 0 or -1: as libevent would handle it. */
static int
datapath_read_failed(struct conn *c, ssize_t n)
{
	int	 err = errno;

	if (n == -1 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
		return 0;
	if (n == -1) {
		conn_close(c, evutil_socket_error_to_string(err));
		return -1;
	}
	conn_input_ended(c);
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
int
datapath_read_more(struct conn *c, size_t turn)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec	 vec[2];
	struct iovec		 iov[2];
	size_t			 room, left, taken = 0;
	ssize_t			 n;
	int			 i, nvec, err;

	while (taken < turn && c->state == CONN_READING &&
	    evbuffer_get_length(in) < c->srv->read_max) {
		room = c->srv->read_max - evbuffer_get_length(in);
		/* The bufferevent keeps its input's end frozen but in reads. */
		evbuffer_unfreeze(in, 0);
		/*
		 * Room for the whole line is reserved, so that a long one
		 * grows in one piece (its pages are only touched as it
		 * comes), but one read takes at most DATAPATH_READ_MAX.
		 */
		if ((nvec = evbuffer_reserve_space(in, room, vec, 2)) <= 0) {
			evbuffer_freeze(in, 0);
			conn_close(c, "out of memory while reading");
			return -1;
		}
		if (room > DATAPATH_READ_MAX)
			room = DATAPATH_READ_MAX;
		for (i = 0, left = room; i < nvec; i++) {
			iov[i].iov_base = vec[i].iov_base;
			iov[i].iov_len = vec[i].iov_len < left ?
			    vec[i].iov_len : left;
			left -= iov[i].iov_len;
		}
		n = readv(bufferevent_getfd(c->bev), iov, nvec);
		for (i = 0, left = n > 0 ? n : 0; i < nvec && left > 0; i++) {
			if (vec[i].iov_len > left)
				vec[i].iov_len = left;
			left -= vec[i].iov_len;
		}
		evbuffer_commit_space(in, vec, i);
		evbuffer_freeze(in, 0);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The chain reserved for it would stay, empty. */
			err = errno;
			datapath_repack(c);
			errno = err;
		}
		if (n <= 0)
			return datapath_read_failed(c, n);
		datapath_count_in(c, n);
		taken += n;
		if (datapath_echo(c) == -1)
			return -1;
		if ((size_t)n < room)
			break;		/* the socket is drained */
	}
	/* A short rest in a chain reserved for a whole line, which may be
	 * memory a burst touched: repacked, once a turn. */
	if (taken != 0 && c->state != CONN_CLOSING && !c->tls &&
	    evbuffer_get_length(in) <= DATAPATH_COMPACT_MAX)
		datapath_repack(c);
	return 0;
}
