/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * echoload over streams (TCP, TLS, Unix): one event loop per thread, a
 * struct lconn per connection.  Requests go out as fast as the pipeline
 * allows (closed loop) or when due (--rate); every byte that comes back
 * goes through verify_feed() before anything is counted.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "load.h"
#include "load_thread.h"
#include "load_tcp.h"
#include "log.h"
#include "proxy.h"
#include "tls_client.h"
#include "util.h"

#define OBUF_SIZE	65536
#define RECV_SIZE	262144
#define CHURN_RETRY_NS	100000000ULL	/* after a failed connect */

static uint64_t
in_flight(const struct lconn *c)
{
	return c->next_seq - c->v.seq;
}

void
lconn_writing(struct lconn *c, bool on)
{
	if (on == c->writing)
		return;
	if (on)
		event_add(c->wev, NULL);
	else
		event_del(c->wev);
	c->writing = on;
}

/* Closes the socket; the connection is done unless churn makes another. */
void
lconn_close(struct lconn *c, bool orderly)
{
	struct tcp_thread	*tt = c->tt;

	if (c->ssl != NULL) {
		if (orderly && c->state == CS_RUNNING)
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	if (c->rev != NULL) {
		event_free(c->rev);
		event_free(c->wev);
		c->rev = c->wev = NULL;
		c->writing = false;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->counted) {
		load_count(&tt->t->stats.open, (uint64_t)-1);
		c->counted = false;
	}
	free(c->obuf);
	c->obuf = NULL;
	c->olen = c->ooff = 0;
	c->state = CS_WAIT;
	if (tt->o->mode == MODE_CHURN && !load_ending(tt->t, load_now()))
		return;
	/* --reconnect: a connection that failed opens again (lconn_fail). */
	if (!orderly && tt->o->reconnect &&
	    !load_sending_over(tt->t, &c->pace, load_now()))
		return;
	event_del(c->pace.timer);
	load_pace_done(tt->t, &c->pace);
	c->state = CS_DONE;
	if (--tt->live == 0)
		event_base_loopbreak(tt->base);
}

void
lconn_fail(struct lconn *c, enum err_kind kind, const char *what)
{
	struct sockaddr_storage	 local;
	socklen_t		 len = sizeof(local);
	char			 name[ADDR_STRLEN] = "";

	/* Its local address, found only now: errors are rare, churn not. */
	if (c->counted && getsockname(c->fd, (struct sockaddr *)&local,
	    &len) == 0 && local.ss_family != AF_UNIX)
		addr_format((struct sockaddr *)&local, name, sizeof(name));
	load_error(c->tt->t, kind, "connection %u%s%s: %s", c->id,
	    name[0] ? " from " : "", name, what);
	lconn_close(c, false);
	if (c->state == CS_WAIT) {
		/* Churn goes on, after a pause if connecting failed. */
		if (kind == ERR_CONNECT)
			load_timer_in(c->pace.timer, CHURN_RETRY_NS);
		else
			lconn_connect(c);
	}
}

void
lconn_fail_errno(struct lconn *c, enum err_kind kind, const char *doing)
{
	char	 what[256];

	snprintf(what, sizeof(what), "%s: %s", doing, strerror(errno));
	lconn_fail(c, kind, what);
}

/* Bytes sent or -1 with errno (EAGAIN: wait). */
static ssize_t
lconn_send(struct lconn *c, const char *buf, size_t len)
{
	int	 n;

	if (c->ssl == NULL)
		return send(c->fd, buf, len, MSG_NOSIGNAL);
	if ((n = SSL_write(c->ssl, buf, len)) > 0)
		return n;
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		break;
	default:
		ERR_clear_error();
		if (errno == 0 || errno == EAGAIN)
			errno = ECONNRESET;
		break;
	}
	return -1;
}

/* As recv(2): 0 at the end of the stream. */
static ssize_t
lconn_recv(struct lconn *c, char *buf, size_t len)
{
	int	 n;

	if (c->ssl == NULL)
		return recv(c->fd, buf, len, 0);
	if ((n = SSL_read(c->ssl, buf, len)) > 0)
		return n;
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno == 0)
			return 0;
		return -1;
	default:
		/* OpenSSL 3 reports an EOF without close_notify here. */
		ERR_clear_error();
		return 0;
	}
}

/* Whether this connection may send a request now; *due: when it was due. */
static bool
lconn_may_issue(struct lconn *c, uint64_t now, uint64_t *due)
{
	struct tcp_thread	*tt = c->tt;
	const struct load_opts	*o = tt->o;

	if (o->mode != MODE_CHURN)
		return load_may_send(tt->t, &c->pace, now, due);
	/* One per connection; with -n, the one it reserved. */
	if (c->next_seq != c->conn_first || (o->count != 0 ? !c->reserved :
	    load_ending(tt->t, now)))
		return false;
	c->reserved = false;
	*due = c->connect_ns;
	if (o->rate != 0) {
		*due = c->pace.next_due;
		c->pace.next_due += c->pace.interval_ns;
	}
	return true;
}

/* Fills the output with every request allowed now; false if none. */
static bool
lconn_fill(struct lconn *c)
{
	const struct load_opts	*o = c->tt->o;
	size_t			 len;
	uint64_t		 now = load_now(), due, sent = 0;

	c->olen = c->ooff = 0;
	while (in_flight(c) < o->pipeline && c->olen + (len = payload_len(
	    &o->payload, c->id, c->next_seq)) <= OBUF_SIZE &&
	    lconn_may_issue(c, now, &due)) {
		if (in_flight(c) == 0)
			c->activity_ns = now;
		c->due[c->next_seq % o->pipeline] = due;
		if (c->sent != NULL)
			c->sent[c->next_seq % o->pipeline] = now;
		payload_request(&o->payload, c->id, c->next_seq++,
		    c->tt->obuf + c->olen);
		c->olen += len;
		sent++;
	}
	if (sent != 0)
		load_count(&c->tt->t->stats.sent, sent);
	return c->olen != 0;
}

/* Done sending and every reply in: the orderly end. */
static bool
lconn_finished(struct lconn *c)
{
	const struct tcp_thread	*tt = c->tt;

	if (c->state != CS_RUNNING || in_flight(c) != 0 || c->ooff != c->olen)
		return false;
	if (tt->o->mode == MODE_IDLE)
		return tt->idle_final && c->pace.idle_quota == 0;
	return load_sending_over(tt->t, &c->pace, load_now());
}

/*
 * What the socket did not take stays with the connection; the rest of
 * the time requests are made in the thread's buffer, and an idle
 * connection holds no buffer at all.
 */
static void
lconn_keep_rest(struct lconn *c)
{
	if (c->obuf != NULL)
		return;
	c->olen -= c->ooff;
	c->obuf = xcalloc(1, c->olen, "a buffer");
	memcpy(c->obuf, c->tt->obuf + c->ooff, c->olen);
	c->ooff = 0;
}

void
lconn_pump_out(struct lconn *c)
{
	ssize_t	 n;

	for (;;) {
		if (c->ooff == c->olen) {
			free(c->obuf);
			c->obuf = NULL;
			if (!lconn_fill(c)) {
				lconn_writing(c, false);
				if (lconn_finished(c))
					lconn_close(c, true);
				return;
			}
		}
		n = lconn_send(c, (c->obuf != NULL ? c->obuf : c->tt->obuf) +
		    c->ooff, c->olen - c->ooff);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			lconn_keep_rest(c);
			lconn_writing(c, true);
			return;
		}
		if (n <= 0) {
			lconn_fail_errno(c, ERR_RESET, "send");
			return;
		}
		c->ooff += n;
		load_count(&c->tt->t->stats.bytes_sent, n);
	}
}

static void
lconn_reply(struct lconn *c, uint64_t seq, uint64_t now)
{
	struct load_thread	*t = c->tt->t;
	uint64_t		 due = c->due[seq % c->tt->o->pipeline];

	c->tt->replies_pending++;
	/* The next reply's deadline runs from here: a trickle of bytes
	 * does not hold a reply open past --timeout. */
	c->activity_ns = now;
	if (due >= t->run->window_ns) {
		t->stats.measured++;
		hist_record(&t->stats.latency, now > due ? now - due : 0);
		if (c->sent != NULL)
			hist_record(&t->stats.service, now -
			    c->sent[seq % c->tt->o->pipeline]);
		t->stats.last_reply_ns = now;
	}
}

static void
describe_byte(char *buf, size_t len, int c)
{
	if (isprint(c))
		snprintf(buf, len, "'%c' (0x%02x)", c, c);
	else
		snprintf(buf, len, "0x%02x", c);
}

static void
lconn_mismatch(struct lconn *c, const struct mismatch *m)
{
	char	 what[256], want[16], got[16];

	if (m->expected == -1)
		snprintf(want, sizeof(want), "nothing");
	else
		describe_byte(want, sizeof(want), m->expected);
	describe_byte(got, sizeof(got), m->got);
	snprintf(what, sizeof(what), "wrong byte at offset %llu of the "
	    "replies (reply to request %llu): expected %s, got %s",
	    (unsigned long long)m->offset, (unsigned long long)m->seq, want,
	    got);
	lconn_fail(c, ERR_MISMATCH, what);
}

/* Checks n bytes; false if the connection failed on them. */
static bool
lconn_check(struct lconn *c, const char *buf, size_t n, uint64_t now)
{
	const struct payload	*p = &c->tt->o->payload;
	struct mismatch		 m;
	size_t			 off = 0;
	ssize_t			 used;
	bool			 done;

	while (off < n) {
		if (in_flight(c) == 0) {
			m.offset = c->v.offset;
			m.seq = c->v.seq;
			m.expected = -1;
			m.got = (unsigned char)buf[off];
			lconn_mismatch(c, &m);
			return false;
		}
		if ((used = verify_feed(&c->v, p, buf + off, n - off, &done,
		    &m)) == -1) {
			lconn_mismatch(c, &m);
			return false;
		}
		off += used;
		if (done)
			lconn_reply(c, c->v.seq - 1, now);
	}
	return true;
}

static void
lconn_eof(struct lconn *c)
{
	char	 what[256];

	snprintf(what, sizeof(what), "closed by the server at offset %llu "
	    "of the replies, %llu repl%s due", (unsigned long long)c->v.offset,
	    (unsigned long long)in_flight(c), in_flight(c) == 1 ? "y" : "ies");
	lconn_fail(c, ERR_CLOSED, what);
}

void
lconn_pump_in(struct lconn *c)
{
	static __thread char	 buf[RECV_SIZE];
	uint64_t		 before = c->v.seq, now;
	ssize_t			 n;

	while ((n = lconn_recv(c, buf, sizeof(buf))) > 0) {
		now = load_now();
		c->tt->bytes_pending += n;
		if (!lconn_check(c, buf, n, now))
			return;
	}
	if (n == 0) {
		lconn_eof(c);
		return;
	}
	if (errno != EAGAIN && errno != EINTR) {
		lconn_fail_errno(c, ERR_RESET, "receive");
		return;
	}
	if (c->tt->o->mode == MODE_CHURN && c->v.seq != before &&
	    in_flight(c) == 0) {
		lconn_close(c, true);
		if (c->state == CS_WAIT)
			lconn_connect(c);
		return;
	}
	lconn_pump_out(c);
}

/* --rate's wake-up, and churn's next connection. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lconn	*c = arg;

	(void)fd;
	(void)what;
	if (c->state == CS_WAIT) {
		if (load_ending(c->tt->t, load_now()))
			lconn_close(c, true);	/* the end: it is done */
		else
			lconn_connect(c);
	} else if (c->state == CS_RUNNING)
		lconn_pump_out(c);
}

/* Deadlines, and the end of the run for connections with nothing due. */
static void
lconn_sweep(struct lconn *c, uint64_t now)
{
	const struct load_opts	*o = c->tt->o;
	char			 what[256];
	bool			 stuck;

	switch (c->state) {
	case CS_CONNECTING:
	case CS_HANDSHAKE:
		if (now - c->state_ns > o->timeout_ns)
			lconn_fail(c, c->state == CS_CONNECTING ? ERR_CONNECT :
			    ERR_TLS, c->state == CS_CONNECTING ?
			    "connect: timed out" : "TLS handshake: timed out");
		break;
	case CS_RUNNING:
		stuck = in_flight(c) != 0 || c->ooff != c->olen;
		if (stuck && now - c->activity_ns > o->timeout_ns) {
			snprintf(what, sizeof(what), "no reply for %.1f s to "
			    "request %llu (%llu in flight, offset %llu)",
			    (now - c->activity_ns) / 1e9,
			    (unsigned long long)c->v.seq,
			    (unsigned long long)in_flight(c),
			    (unsigned long long)c->v.offset);
			lconn_fail(c, ERR_TIMEOUT, what);
		} else if (c->tt->idle_final && c->pace.idle_quota == 1)
			lconn_pump_out(c);
		else if (!stuck && lconn_finished(c))
			lconn_close(c, true);
		break;
	case CS_WAIT:
		if (load_ending(c->tt->t, now))
			lconn_close(c, true);
		break;
	default:
		break;
	}
}

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_thread	*tt = arg;
	uint64_t		 now = load_now();
	unsigned int		 i;

	(void)fd;
	(void)what;
	if (load_idle_ends(tt->t, &tt->idle_final, now))
		for (i = 0; i < tt->t->nconns; i++)
			tt->conns[i].pace.idle_quota = 1;

	for (i = 0; i < tt->t->nconns && tt->live > 0; i++)
		lconn_sweep(&tt->conns[i], now);
}

static void
lconn_init(struct tcp_thread *tt, struct lconn *c, uint32_t id)
{
	const struct load_opts	*o = tt->o;
	struct event		*timer;

	memset(c, 0, sizeof(*c));
	c->tt = tt;
	c->id = id;
	c->fd = -1;
	c->due = xcalloc(o->pipeline, sizeof(*c->due), "the pipeline");
	if (o->rate != 0)
		c->sent = xcalloc(o->pipeline, sizeof(*c->sent),
		    "the pipeline");
	if (verify_init(&c->v, &o->payload, id) == -1)
		fatalx("out of memory: a reply buffer");
	if ((timer = evtimer_new(tt->base, conn_timer_cb, c)) == NULL)
		fatalx("out of memory: a timer");
	load_pace_init(&c->pace, tt->t, id, timer);
	if (o->connect_rate != 0)
		c->next_connect_ns = tt->t->run->start_ns + 1000000000ULL *
		    id / o->connect_rate;
}

static void
lconn_free(struct lconn *c)
{
	event_free(c->pace.timer);
	verify_free(&c->v);
	free(c->due);
	free(c->sent);
	free(c->obuf);
}

void *
load_tcp_thread(void *arg)
{
	struct load_thread	*t = arg;
	struct tcp_thread	 tt;
	struct timeval		 tick = { 0, 100000 };
	unsigned int		 i;

	memset(&tt, 0, sizeof(tt));
	tt.t = t;
	tt.o = t->run->opts;
	if ((tt.base = load_event_base(tt.o)) == NULL)
		fatalx("cannot make an event loop");
	if (tt.o->timeout_ns < 200000000ULL)
		tick.tv_usec = tt.o->timeout_ns / 2000;
	tt.conns = xcalloc(t->nconns, sizeof(*tt.conns), "connections");
	tt.obuf = xcalloc(1, OBUF_SIZE, "a buffer");
	tt.live = t->nconns;
	for (i = 0; i < t->nconns; i++)
		lconn_init(&tt, &tt.conns[i], t->first_conn + i);
	if ((tt.sweep = event_new(tt.base, -1, EV_PERSIST, sweep_cb,
	    &tt)) == NULL || event_add(tt.sweep, &tick) == -1)
		fatalx("cannot add a timer");
	for (i = 0; i < t->nconns; i++)
		lconn_connect(&tt.conns[i]);
	if (tt.live > 0)
		event_base_dispatch(tt.base);
	for (i = 0; i < t->nconns; i++)
		lconn_free(&tt.conns[i]);
	free(tt.conns);
	free(tt.obuf);
	event_free(tt.sweep);
	event_base_free(tt.base);
	__atomic_store_n(&t->finished, true, __ATOMIC_RELEASE);
	return NULL;
}
