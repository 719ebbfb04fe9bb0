/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * echoload over UDP: one connected socket per "connection", each with up
 * to --pipeline datagrams in flight.  A reply must be PREFIX + exactly
 * a datagram in flight on that socket; one not answered within
 * --timeout is lost (an error unless --allow-loss), and a reply that
 * comes after that is counted late.
 */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "load.h"
#include "load_thread.h"
#include "log.h"
#include "util.h"

#define LOSS_SLOT_NS	100000000ULL

struct udp_thread;

struct usock {
	struct udp_thread	*ut;
	uint32_t		 id;
	int			 fd;
	struct event		*ev;
	struct load_pace	 pace;
	bool			 done;
	uint64_t		 next_seq;
	uint64_t		 oldest;	/* first not answered nor lost */
	uint64_t		*due;		/* rings of --pipeline */
	uint64_t		*sent;
	uint8_t			*answered;
	char			 name[ADDR_STRLEN];
};

struct udp_thread {
	struct load_thread	*t;
	const struct load_opts	*o;
	struct event_base	*base;
	struct usock		*socks;
	unsigned int		 live;
	bool			 idle_final;
	char			*scratch;	/* a request, for checks */
	char			*dgram;		/* one received */
};

static void
usock_close(struct usock *s)
{
	if (s->done)
		return;
	s->done = true;
	event_del(s->pace.timer);
	load_pace_done(s->ut->t, &s->pace);
	if (s->fd != -1) {
		event_free(s->ev);
		close(s->fd);
		s->fd = -1;
		load_count(&s->ut->t->stats.open, (uint64_t)-1);
	}
	if (--s->ut->live == 0)
		event_base_loopbreak(s->ut->base);
}

static void
usock_error(struct usock *s, enum err_kind kind, const char *what)
{
	load_error(s->ut->t, kind, "socket %u%s%s: %s", s->id,
	    s->name[0] ? " from " : "", s->name, what);
}

static void
usock_finish_if_done(struct usock *s, uint64_t now)
{
	const struct udp_thread	*ut = s->ut;

	if (s->oldest != s->next_seq)
		return;
	if (ut->o->mode == MODE_IDLE ? ut->idle_final && s->pace.idle_quota == 0 :
	    load_sending_over(ut->t, &s->pace, now))
		usock_close(s);
}

static void
usock_send(struct usock *s)
{
	const struct load_opts	*o = s->ut->o;
	uint64_t		 now = load_now(), due, sent = 0;
	size_t			 i, len;
	char			 buf[PAYLOAD_MAX];

	while (!s->done && s->next_seq - s->oldest < o->pipeline &&
	    load_may_send(s->ut->t, &s->pace, now, &due)) {
		payload_request(&o->payload, s->id, s->next_seq, buf);
		len = payload_len(&o->payload, s->id, s->next_seq);
		if (send(s->fd, buf, len, 0) == -1) {
			if (errno == EAGAIN || errno == ENOBUFS) {
				if (o->count != 0)
					s->ut->t->budget++;
				break;
			}
			usock_error(s, errno == ECONNREFUSED ? ERR_CONNECT :
			    ERR_RESET, strerror(errno));
			usock_close(s);
			break;
		}
		i = s->next_seq % o->pipeline;
		s->due[i] = due;
		s->sent[i] = now;
		s->answered[i] = 0;
		s->next_seq++;
		sent++;
		load_count(&s->ut->t->stats.bytes_sent, len);
	}
	if (sent != 0)
		load_count(&s->ut->t->stats.sent, sent);
	if (!s->done)
		usock_finish_if_done(s, now);
}

static void
usock_advance(struct usock *s)
{
	unsigned int	 p = s->ut->o->pipeline;

	while (s->oldest < s->next_seq && s->answered[s->oldest % p])
		s->oldest++;
}

static void
usock_reply(struct usock *s, size_t len, uint64_t now)
{
	struct udp_thread	*ut = s->ut;
	struct load_thread	*t = ut->t;
	unsigned int		 p = ut->o->pipeline;
	uint64_t		 seq, due;
	char			 what[160];

	if (!payload_check_datagram(&ut->o->payload, ut->dgram, len, s->id,
	    &seq, ut->scratch) || seq >= s->next_seq) {
		snprintf(what, sizeof(what), "a reply of %zu bytes that is "
		    "not PREFIX + a datagram sent", len);
		usock_error(s, ERR_MISMATCH, what);
		return;
	}
	/* Its slot of the ring still holds it until datagram seq + p. */
	if (seq + p >= s->next_seq && s->answered[seq % p]) {
		snprintf(what, sizeof(what), "a second reply to datagram "
		    "%llu", (unsigned long long)seq);
		usock_error(s, ERR_MISMATCH, what);
		return;
	}
	if (seq < s->oldest) {
		load_count(&t->stats.late, 1);
		return;
	}
	s->answered[seq % p] = 1;
	load_count(&t->stats.replies, 1);
	due = s->due[seq % p];
	if (due >= t->run->window_ns) {
		t->stats.measured++;
		hist_record(&t->stats.latency, now > due ? now - due : 0);
		if (ut->o->rate != 0)
			hist_record(&t->stats.service, now - s->sent[seq % p]);
		t->stats.last_reply_ns = now;
	}
	usock_advance(s);
}

static void
usock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct usock	*s = arg;
	ssize_t		 n;
	uint64_t	 now;

	(void)what;
	while ((n = recv(fd, s->ut->dgram, PAYLOAD_MAX + PAYLOAD_PREFIX_MAX,
	    MSG_TRUNC)) >= 0) {
		now = load_now();
		load_count(&s->ut->t->stats.bytes_received, n);
		if ((size_t)n > PAYLOAD_MAX + PAYLOAD_PREFIX_MAX)
			n = PAYLOAD_MAX + PAYLOAD_PREFIX_MAX + 1;
		usock_reply(s, n, now);
	}
	if (errno != EAGAIN && errno != EINTR) {
		usock_error(s, errno == ECONNREFUSED ? ERR_CONNECT : ERR_RESET,
		    errno == ECONNREFUSED ? "nothing listens there (ICMP port "
		    "unreachable)" : strerror(errno));
		usock_close(s);
		return;
	}
	usock_send(s);
}

static void
usock_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	usock_send(arg);
}

/*
 * The 100 ms slots of the run that saw a loss: losses crowded into few
 * of them point at a rate limit (the summary).  A slot seen again after
 * another is counted twice: that only makes the hint rarer.
 */
static void
usock_lost_near(struct usock *s, uint64_t sent)
{
	struct load_stats	*st = &s->ut->t->stats;
	uint64_t		 slot = sent / LOSS_SLOT_NS + 1;

	if (slot != st->last_loss_slot)
		st->loss_slots++;
	st->last_loss_slot = slot;
}

static void
usock_sweep(struct usock *s, uint64_t now)
{
	const struct load_opts	*o = s->ut->o;
	unsigned int		 p = o->pipeline;
	uint64_t		 lost = 0;
	char			 what[160];

	while (s->oldest < s->next_seq && !s->answered[s->oldest % p] &&
	    now - s->sent[s->oldest % p] > o->timeout_ns) {
		/* The first is told (unless --allow-loss); all are counted. */
		usock_lost_near(s, s->sent[s->oldest % p]);
		if (lost++ == 0) {
			snprintf(what, sizeof(what), "no reply to datagram "
			    "%llu within %.1f s", (unsigned long long)s->oldest,
			    o->timeout_ns / 1e9);
			usock_error(s, ERR_LOST, what);
		}
		s->oldest++;
		usock_advance(s);
	}
	if (lost > 1)
		load_count(&s->ut->t->stats.errors[ERR_LOST], lost - 1);
	usock_send(s);
}

static void
udp_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_thread	*ut = arg;
	uint64_t		 now = load_now();
	unsigned int		 i;

	(void)fd;
	(void)what;
	if (load_idle_ends(ut->t, &ut->idle_final, now))
		for (i = 0; i < ut->t->nconns; i++)
			ut->socks[i].pace.idle_quota = 1;

	for (i = 0; i < ut->t->nconns && ut->live > 0; i++)
		if (!ut->socks[i].done)
			usock_sweep(&ut->socks[i], now);
}

static void
usock_open(struct udp_thread *ut, struct usock *s, uint32_t id)
{
	const struct load_opts	*o = ut->o;
	struct sockaddr_storage	 local;
	socklen_t		 len = sizeof(local);
	struct event		*timer;

	s->ut = ut;
	s->id = id;
	if ((timer = evtimer_new(ut->base, usock_timer_cb, s)) == NULL)
		fatalx("out of memory: a timer");
	load_pace_init(&s->pace, ut->t, id, timer);
	s->due = xcalloc(o->pipeline, sizeof(*s->due), "the pipeline");
	s->sent = xcalloc(o->pipeline, sizeof(*s->sent), "the pipeline");
	s->answered = xcalloc(o->pipeline, 1, "the pipeline");
	s->fd = socket(o->addrs[0].ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (s->fd == -1 || load_bind_source(o, s->fd, id) == -1 ||
	    connect(s->fd, (struct sockaddr *)&o->addrs[0],
	    o->addrlens[0]) == -1) {
		usock_error(s, ERR_CONNECT, strerror(errno));
		if (s->fd != -1)
			close(s->fd);
		s->fd = -1;
		s->done = true;
		ut->live--;
		return;
	}
	if (getsockname(s->fd, (struct sockaddr *)&local, &len) == 0)
		addr_format((struct sockaddr *)&local, s->name,
		    sizeof(s->name));
	if ((s->ev = event_new(ut->base, s->fd, EV_READ | EV_PERSIST,
	    usock_read_cb, s)) == NULL || event_add(s->ev, NULL) == -1)
		fatalx("out of memory: events");
	load_count(&ut->t->stats.opened, 1);
	load_count(&ut->t->stats.open, 1);
}

void *
load_udp_thread(void *arg)
{
	struct load_thread	*t = arg;
	struct udp_thread	 ut;
	struct event		*sweep;
	struct timeval		 tick = { 0, 20000 };
	unsigned int		 i;

	memset(&ut, 0, sizeof(ut));
	ut.t = t;
	ut.o = t->run->opts;
	if ((ut.base = load_event_base(ut.o)) == NULL)
		fatalx("cannot make an event loop");
	ut.scratch = xcalloc(1, PAYLOAD_MAX, "a buffer");
	ut.dgram = xcalloc(1, PAYLOAD_MAX + PAYLOAD_PREFIX_MAX + 1, "a buffer");
	ut.socks = xcalloc(t->nconns, sizeof(*ut.socks), "sockets");
	ut.live = t->nconns;
	for (i = 0; i < t->nconns; i++)
		usock_open(&ut, &ut.socks[i], t->first_conn + i);
	if ((sweep = event_new(ut.base, -1, EV_PERSIST, udp_sweep_cb,
	    &ut)) == NULL || event_add(sweep, &tick) == -1)
		fatalx("cannot add a timer");
	for (i = 0; i < t->nconns; i++)
		if (!ut.socks[i].done)
			usock_send(&ut.socks[i]);
	if (ut.live > 0)
		event_base_dispatch(ut.base);
	for (i = 0; i < t->nconns; i++) {
		event_free(ut.socks[i].pace.timer);
		free(ut.socks[i].due);
		free(ut.socks[i].sent);
		free(ut.socks[i].answered);
	}
	event_free(sweep);
	free(ut.socks);
	free(ut.scratch);
	free(ut.dgram);
	event_base_free(ut.base);
	__atomic_store_n(&t->finished, true, __ATOMIC_RELEASE);
	return NULL;
}
