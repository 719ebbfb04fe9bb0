/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "udp.h"

/* A datagram buffer holds the largest IPv6 payload, with room to spare. */
#define UDP_RECV_MAX		65536
/* Datagrams per system call, and per wakeup: a UDP flood must not
 * starve the TCP clients of the same loop. */
#define UDP_BATCH		32
#define UDP_WAKEUP_MAX		64
/* After a failed read, the socket waits this long: an error that leaves
 * the datagram queued would otherwise wake the loop again at once. */
#define UDP_RETRY_MSEC		10

struct udp_socket {
	struct udp_set		*set;
	struct event		*ev;
	struct event		*retry_ev;	/* re-adds ev after a failure */
	struct listen_addr	 addr;
};

struct udp_set {
	struct event_base	 *base;
	struct stats		 *stats;
	const char		 *prefix;
	size_t			  prefix_len;
	struct udp_guard	 *guard;
	struct udp_socket	**socks;
	size_t			  nsocks;
	uint8_t			 *bufs;		/* UDP_BATCH datagrams */
	struct mmsghdr		  in[UDP_BATCH];
	struct iovec		  in_iov[UDP_BATCH];
	struct sockaddr_storage	  from[UDP_BATCH];
	struct mmsghdr		  out[UDP_BATCH];
	struct iovec		  out_iov[UDP_BATCH][2];
	_Atomic time_t		 *refusal_logged;	/* the group's clocks */
	_Atomic time_t		 *error_logged;
};

static void	udp_read_cb(evutil_socket_t, short, void *);
static void	udp_retry_cb(evutil_socket_t, short, void *);

/*
 * The ports the kernel hands clients that pick none: the guard lets a
 * client repeat itself more than an echo server's port (udpguard.h).
 * Linux's default if the file cannot be read.
 */
static void
udp_client_ports(struct udp_guard *guard)
{
	FILE		*f;
	unsigned int	 min, max;

	if ((f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re")) ==
	    NULL)
		return;
	if (fscanf(f, "%u %u", &min, &max) == 2 && min <= max && max < 65536)
		udp_guard_client_ports(guard, min, max);
	fclose(f);
}

struct udp_set *
udp_set_new(struct event_base *base, const struct udp_config *cfg,
    struct stats *stats)
{
	struct udp_set	*set;
	size_t		 i;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	set->base = base;
	set->stats = stats;
	set->prefix = cfg->prefix;
	set->prefix_len = cfg->prefix_len;
	set->refusal_logged = cfg->refusal_logged;
	set->error_logged = cfg->error_logged;
	/* Pages are touched only as large datagrams arrive. */
	set->bufs = malloc((size_t)UDP_BATCH * UDP_RECV_MAX);
	set->guard = udp_guard_new(cfg->prefix, cfg->prefix_len, &cfg->limits,
	    &cfg->key);
	if (set->bufs == NULL || set->guard == NULL) {
		udp_set_free(set);
		return NULL;
	}
	udp_client_ports(set->guard);
	udp_guard_client_repeats(set->guard, cfg->repeats);
	for (i = 0; i < UDP_BATCH; i++) {
		set->in_iov[i].iov_base = set->bufs + i * UDP_RECV_MAX;
		set->in_iov[i].iov_len = UDP_RECV_MAX;
		set->in[i].msg_hdr.msg_iov = &set->in_iov[i];
		set->in[i].msg_hdr.msg_iovlen = 1;
		set->in[i].msg_hdr.msg_name = &set->from[i];
		set->out_iov[i][0].iov_base = (void *)cfg->prefix;
		set->out_iov[i][0].iov_len = cfg->prefix_len;
		set->out[i].msg_hdr.msg_iov = set->out_iov[i];
		set->out[i].msg_hdr.msg_iovlen = 2;
	}
	return set;
}

int
udp_set_add(struct udp_set *set, evutil_socket_t fd,
    const struct listen_addr *la)
{
	struct udp_socket	*u, **grown;

	grown = reallocarray(set->socks, set->nsocks + 1, sizeof(*grown));
	if (grown == NULL)
		return -1;
	set->socks = grown;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -1;
	u->set = set;
	u->addr = *la;
	u->ev = event_new(set->base, fd, EV_READ | EV_PERSIST, udp_read_cb, u);
	u->retry_ev = evtimer_new(set->base, udp_retry_cb, u);
	if (u->ev == NULL || u->retry_ev == NULL ||
	    event_add(u->ev, NULL) == -1) {
		if (u->ev != NULL)
			event_free(u->ev);
		if (u->retry_ev != NULL)
			event_free(u->retry_ev);
		free(u);
		return -1;
	}
	udp_guard_own_port(set->guard, addr_port((struct sockaddr *)&la->ss));
	set->socks[set->nsocks++] = u;
	return 0;
}

/* Closes every socket of the set and frees it. */
void
udp_set_free(struct udp_set *set)
{
	size_t	 i;

	if (set == NULL)
		return;
	for (i = 0; i < set->nsocks; i++) {
		evutil_socket_t fd = event_get_fd(set->socks[i]->ev);

		event_free(set->socks[i]->ev);
		event_free(set->socks[i]->retry_ev);
		close(fd);
		free(set->socks[i]);
	}
	free(set->socks);
	udp_guard_free(set->guard);
	free(set->bufs);
	free(set);
}

static uint64_t
udp_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A datagram not answered.  Each is a debug line; the first of a minute
 * is a warning too, since clients (or forgers) decide how many there are.
 */
static void
udp_refused(struct udp_set *set, const struct sockaddr *from,
    enum udp_verdict v)
{
	char	 name[ADDR_STRLEN];

	stat_add(&set->stats->udp_unanswered[v], 1);
	if (log_get_level() >= LOG_LEVEL_DEBUG)
		log_debug("udp %s: %s, not answered",
		    addr_format(from, name, sizeof(name)),
		    udp_verdict_reason(v));
	if (!log_repeat_due(set->refusal_logged))
		return;
	log_warnx("udp %s: %s, not answered (such lines are logged once a "
	    "minute; the counters have them all)",
	    addr_format(from, name, sizeof(name)), udp_verdict_reason(v));
}

/* Judges datagram i of the batch; queues its reply as reply k. */
static bool
udp_judge(struct udp_set *set, unsigned int i, unsigned int k, uint64_t now)
{
	struct msghdr		*in = &set->in[i].msg_hdr;
	const struct sockaddr	*from = in->msg_name;
	size_t			 len = set->in[i].msg_len, reply_len;
	enum udp_verdict	 v;
	char			 name[ADDR_STRLEN];

	stat_add(&set->stats->udp_in, 1);
	stat_add(&set->stats->bytes_in, len);
	if (in->msg_namelen == 0)
		v = UDP_NO_ADDRESS;
	else
		v = udp_guard_judge(set->guard, from, in->msg_namelen,
		    in->msg_iov->iov_base, len, now, &reply_len);
	if (v != UDP_ANSWER) {
		udp_refused(set, from, v);
		return false;
	}
	if (reply_len < len) {
		if (log_get_level() >= LOG_LEVEL_DEBUG)
			log_debug("udp %s: reply cut from %zu to %zu bytes",
			    addr_format(from, name, sizeof(name)),
			    set->prefix_len + len,
			    set->prefix_len + reply_len);
		stat_add(&set->stats->udp_truncated, 1);
	}
	set->out_iov[k][1].iov_base = in->msg_iov->iov_base;
	set->out_iov[k][1].iov_len = reply_len;
	set->out[k].msg_hdr.msg_name = in->msg_name;
	set->out[k].msg_hdr.msg_namelen = in->msg_namelen;
	return true;
}

/* Sends the n replies queued; never waits: a full socket drops one. */
static void
udp_send(struct udp_set *set, evutil_socket_t fd, unsigned int n)
{
	unsigned int	 i = 0, j;
	int		 sent;
	char		 name[ADDR_STRLEN];

	while (i < n) {
		sent = sendmmsg(fd, set->out + i, n - i, MSG_DONTWAIT);
		if (sent <= 0) {
			log_debug("udp %s: reply dropped: %s",
			    addr_format(set->out[i].msg_hdr.msg_name, name,
			    sizeof(name)), strerror(errno));
			stat_add(&set->stats->udp_unanswered[UDP_ANSWER], 1);
			i++;
			continue;
		}
		for (j = i; j < i + (unsigned int)sent; j++) {
			stat_add(&set->stats->udp_out, 1);
			stat_add(&set->stats->bytes_out, set->prefix_len +
			    set->out_iov[j][1].iov_len);
			if (log_get_level() >= LOG_LEVEL_DEBUG)
				log_debug("udp %s: %zu bytes echoed",
				    addr_format(set->out[j].msg_hdr.msg_name,
				    name, sizeof(name)),
				    set->out_iov[j][1].iov_len);
		}
		i += sent;
	}
}

/*
 * A read that failed: said once a minute (the repeats with -v), and the
 * socket rests UDP_RETRY_MSEC, so that an error that stays (a security
 * module's refusal) costs neither a core nor a flood of lines.
 */
static void
udp_read_failed(struct udp_socket *u)
{
	struct timeval	 tv = { 0, UDP_RETRY_MSEC * 1000 };

	if (log_repeat_due(u->set->error_logged))
		log_warn("udp: recvmmsg");
	else
		log_debug("udp: recvmmsg: %s", strerror(errno));
	if (event_del(u->ev) == 0 && evtimer_add(u->retry_ev, &tv) == 0)
		return;
	(void)event_add(u->ev, NULL);	/* cannot rest: keep reading */
}

static void
udp_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_socket	*u = arg;

	(void)fd;
	(void)what;
	if (event_add(u->ev, NULL) == -1)
		log_warnx("udp: cannot watch a socket again");
}

static void
udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_socket	*u = arg;
	struct udp_set		*set = u->set;
	unsigned int		 done = 0, i, k;
	int			 n;
	uint64_t		 now = udp_now_ms();

	(void)what;
	while (done < UDP_WAKEUP_MAX) {
		for (i = 0; i < UDP_BATCH; i++)
			set->in[i].msg_hdr.msg_namelen = sizeof(set->from[i]);
		n = recvmmsg(fd, set->in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n == -1 && errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR)
				udp_read_failed(u);
			return;
		}
		for (i = k = 0; i < (unsigned int)n; i++)
			if (udp_judge(set, i, k, now))
				k++;
		udp_send(set, fd, k);
		done += n;
		/* Fewer than asked for: the socket is empty, no need to ask. */
		if (n < UDP_BATCH)
			return;
	}
}
