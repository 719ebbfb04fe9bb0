/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The --metrics endpoint: libevent's evhttp on listeners echod makes and
 * watches itself.  evhttp 2.1 has no connection limit, no accept-error
 * handler and only an inactivity timeout, and it tells nobody when a
 * connection ends; so echod makes each connection's bufferevent (the
 * bevcb hook), keeps a reference to it, and looks every quarter second
 * at which ones evhttp has let go (their callbacks cleared by
 * bufferevent_free) and which are past their deadline.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "log.h"
#include "metrics.h"
#include "sock.h"
#include "util.h"

#define METRICS_MAX_HEADERS	8192
/*
 * What is read of a connection before its requests are parsed: room for
 * the longest request line, or the longest headers, evhttp takes.
 */
#define METRICS_MAX_INPUT	(2 * METRICS_MAX_HEADERS)
#define METRICS_SWEEP_MSEC	250
#define METRICS_RETRY_MSEC	500

struct metrics_conn {
	TAILQ_ENTRY(metrics_conn)	 entry;
	struct bufferevent		*bev;	/* a reference of ours */
	struct timespec			 started;
	bool				 cut;	/* past its deadline */
};

struct metrics {
	struct evhttp			*http;
	const struct metrics_view	*view;
	struct event_base		*base;
	struct evconnlistener		**lev;
	size_t				 nlev;
	TAILQ_HEAD(, metrics_conn)	 conns;
	unsigned int			 nconns;
	unsigned int			 max_conns;
	unsigned int			 timeout_sec;
	struct event			*sweep_ev;
};

static void
metrics_accepting(struct metrics *mt, bool on)
{
	size_t	 i;

	for (i = 0; i < mt->nlev; i++)
		if (on)
			evconnlistener_enable(mt->lev[i]);
		else
			evconnlistener_disable(mt->lev[i]);
}


static void
metrics_sweep_later(struct metrics *mt)
{
	struct timeval	 tv = { 0, METRICS_SWEEP_MSEC * 1000 };

	if (!evtimer_pending(mt->sweep_ev, NULL))
		evtimer_add(mt->sweep_ev, &tv);
}

/* evhttp's new connection: counted, and at the cap, no more accepted. */
static struct bufferevent *
metrics_bev_cb(struct event_base *base, void *arg)
{
	struct metrics		*mt = arg;
	struct metrics_conn	*mc;

	if ((mc = calloc(1, sizeof(*mc))) == NULL)
		return NULL;
	if ((mc->bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(mc);
		return NULL;
	}
	/*
	 * evhttp 2.1 goes on reading while a reply waits for the client,
	 * without limit: pipelined requests piled up at the speed of
	 * loopback.  A high watermark stops the reading whatever evhttp
	 * enables, until it has parsed what it has.
	 */
	bufferevent_setwatermark(mc->bev, EV_READ, 0, METRICS_MAX_INPUT);
	bufferevent_incref(mc->bev);
	clock_gettime(CLOCK_MONOTONIC, &mc->started);
	TAILQ_INSERT_TAIL(&mt->conns, mc, entry);
	if (++mt->nconns >= mt->max_conns)
		metrics_accepting(mt, false);
	metrics_sweep_later(mt);
	return mc->bev;
}

static bool
metrics_conn_gone(struct metrics_conn *mc)
{
	bufferevent_event_cb	 eventcb;

	bufferevent_getcb(mc->bev, NULL, NULL, &eventcb, NULL);
	return eventcb == NULL;
}

static void
metrics_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics		*mt = arg;
	struct metrics_conn	*mc, *next;
	struct timespec		 now;

	(void)fd;
	(void)what;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (mc = TAILQ_FIRST(&mt->conns); mc != NULL; mc = next) {
		next = TAILQ_NEXT(mc, entry);
		if (metrics_conn_gone(mc)) {
			TAILQ_REMOVE(&mt->conns, mc, entry);
			bufferevent_decref(mc->bev);	/* closes it */
			free(mc);
			mt->nconns--;
		} else if (!mc->cut && (now.tv_sec - mc->started.tv_sec) *
		    1000 + (now.tv_nsec - mc->started.tv_nsec) / 1000000 >=
		    (long)mt->timeout_sec * 1000) {
			/* Absolute: evhttp's own timeout restarts at each byte. */
			mc->cut = true;
			shutdown(bufferevent_getfd(mc->bev), SHUT_RDWR);
		}
	}
	if (mt->nconns < mt->max_conns)
		metrics_accepting(mt, true);
	if (mt->nconns > 0)
		metrics_sweep_later(mt);
}

/* The pause is over: accept again on the listener that failed. */
static void
metrics_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/*
 * accept(2) failed: out of descriptors, libevent would call again at
 * once for as long as the backlog is not empty.  Pause that listener,
 * as the echo listeners pause.  evhttp owns the listener's callback
 * argument, so this callback cannot reach struct metrics: the pause is
 * a one-shot timer, and the warning's once-a-minute clock is the one
 * piece of file state here.
 */
static void
metrics_accept_error_cb(struct evconnlistener *lev, void *http)
{
	static _Atomic time_t	 warned;
	struct timeval		 retry = { 0, METRICS_RETRY_MSEC * 1000 };
	int			 err = EVUTIL_SOCKET_ERROR();

	(void)http;
	if (log_repeat_due(&warned))
		log_warnx("metrics: accept: %s; pausing (logged once a "
		    "minute)", evutil_socket_error_to_string(err));
	else
		log_debug("metrics: accept: %s",
		    evutil_socket_error_to_string(err));
	evconnlistener_disable(lev);
	if (event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT,
	    metrics_retry_cb, lev, &retry) == -1)
		evconnlistener_enable(lev);
}

static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics		*mt = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer		*body = evhttp_request_get_output_buffer(req);

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "try /metrics");
		return;
	}
	metrics_render(mt->view, body);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/* One address: our listener, handed to evhttp. */
static int
metrics_listen(struct metrics *mt, struct listen_addr la)
{
	char			 name[LISTEN_NAMELEN];
	struct evconnlistener	*lev;
	evutil_socket_t		 fd;

	if ((fd = sock_bind(&la, false)) == -1) {
		log_warn("cannot serve metrics on %s",
		    addr_listen_name(&la, name, sizeof(name)));
		return -1;
	}
	sock_bound_addr(fd, &la);
	mt->lev = xreallocarray(mt->lev, mt->nlev + 1, sizeof(*mt->lev),
	    "the metrics server");
	if ((lev = evconnlistener_new(mt->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE, 0, fd)) == NULL) {
		evutil_closesocket(fd);
		goto fail;
	}
	if (evhttp_bind_listener(mt->http, lev) == NULL) {
		evconnlistener_free(lev);
		goto fail;
	}
	/* Set after binding: evhttp sets only the accept callback. */
	evconnlistener_set_error_cb(lev, metrics_accept_error_cb);
	mt->lev[mt->nlev++] = lev;
	log_notice("metrics on http://%s/metrics",
	    addr_listen_name(&la, name, sizeof(name)));
	return 0;
fail:
	log_warnx("cannot serve metrics on %s: libevent failed",
	    addr_listen_name(&la, name, sizeof(name)));
	return -1;
}

/*
 * --metrics: served in the loop of base (thread 0's), reading every
 * thread's counters through view; at most max_conns clients at once,
 * each for at most timeout_sec.  *out stays NULL without addresses.
 */
int
metrics_start(struct metrics **out, struct event_base *base,
    const struct listen_list *list, const struct metrics_view *view,
    unsigned int max_conns, unsigned int timeout_sec)
{
	struct metrics	*mt;
	size_t		 i;

	*out = NULL;
	if (list->count == 0)
		return 0;
	mt = *out = xcalloc(1, sizeof(*mt), "the metrics server");
	TAILQ_INIT(&mt->conns);
	mt->view = view;
	mt->base = base;
	mt->max_conns = max_conns;
	mt->timeout_sec = timeout_sec;
	mt->sweep_ev = evtimer_new(base, metrics_sweep_cb, mt);
	if (mt->sweep_ev == NULL ||
	    (mt->http = evhttp_new(base)) == NULL) {
		log_warnx("cannot start the metrics server");
		return -1;
	}
	evhttp_set_timeout(mt->http, timeout_sec);
	evhttp_set_max_headers_size(mt->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(mt->http, 0);
	evhttp_set_allowed_methods(mt->http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD);
	evhttp_set_gencb(mt->http, metrics_request_cb, mt);
	evhttp_set_bevcb(mt->http, metrics_bev_cb, mt);
	for (i = 0; i < list->count; i++)
		if (metrics_listen(mt, list->addrs[i]) == -1)
			return -1;
	return 0;
}

void
metrics_free(struct metrics *mt)
{
	struct metrics_conn	*mc;

	if (mt == NULL)
		return;
	/* evhttp frees its connections and listeners; then our references. */
	if (mt->http != NULL)
		evhttp_free(mt->http);
	while ((mc = TAILQ_FIRST(&mt->conns)) != NULL) {
		TAILQ_REMOVE(&mt->conns, mc, entry);
		bufferevent_decref(mc->bev);
		free(mc);
	}
	if (mt->sweep_ev != NULL)
		event_free(mt->sweep_ev);
	free(mt->lev);
	free(mt);
}
