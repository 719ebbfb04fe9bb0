/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The process: what every thread shares, and the threads themselves.
 * The addresses to open (the command line's and systemd's), the
 * open-file limit and the connection limit it allows, the TLS context,
 * the --max-per-ip table and its lock, the metrics endpoint; starting
 * one event loop per thread, joining them, and the totals at exit.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "server.h"
#include "systemd.h"
#include "tls.h"
#include "util.h"

/* Descriptors kept back from --max-connections: stdio, libevent, spares. */
#define FD_RESERVE		16

/* Raise the soft open-file limit to the hard one; returns the new limit. */
static rlim_t
group_raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the open-file limit to %llu",
			    (unsigned long long)rl.rlim_max);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

/*
 * The default limit is what the open-file limit allows.  A larger one
 * given on the command line is kept, as nginx does, with a warning:
 * accept() then fails with EMFILE first, which pauses accepting too.
 */
static void
group_set_max_conns(struct group *g)
{
	rlim_t		 nofile = group_raise_nofile();
	/*
	 * Per thread: a listener and a UDP socket per address, a pipe; and
	 * the metrics endpoint's listeners and clients.
	 */
	rlim_t		 reserve = FD_RESERVE + (2 * g->wanted.count + 2) *
			    g->nthreads + (g->opts->metrics.count == 0 ? 0 :
			    g->opts->metrics.count +
			    g->opts->metrics_max_connections);
	unsigned int	 fit;

	if (nofile <= reserve)
		fit = 1;
	else if (nofile - reserve > MAX_CONNECTIONS_LIMIT)
		fit = MAX_CONNECTIONS_LIMIT;
	else
		fit = nofile - reserve;
	g->max_conns = g->opts->max_connections;
	if (g->max_conns == 0)
		g->max_conns = fit;
	else if (g->max_conns > fit)
		log_warnx("--max-connections %u exceeds what the open-file "
		    "limit (%llu) allows, about %u", g->max_conns,
		    (unsigned long long)nofile, fit);
}

/*
 * What thread 0 opens: the command line's addresses and the sockets
 * systemd passed; with sockets passed and no -l, only those.
 */
static int
group_addresses(struct group *g)
{
	const struct options	*opts = g->opts;
	struct listen_list	 passed = { NULL, 0 };
	size_t			 i;
	int			 n;

	if ((n = systemd_listen_fds(&passed)) == -1)
		return -1;
	for (i = 0; i < opts->listen.count && !(n > 0 &&
	    opts->listen_default); i++)
		if (addr_list_push(&g->wanted, &opts->listen.addrs[i]) == -1)
			fatalx("out of memory: listen addresses");
	g->udp = opts->udp;
	for (i = 0; i < passed.count; i++) {
		const struct listen_addr *la = &passed.addrs[i];

		if (la->tls && opts->tls_cert == NULL) {
			log_warnx("inherited descriptor %d is for TLS, but "
			    "--tls-cert and --tls-key are not given", la->fd);
			addr_list_free(&passed);
			return -1;
		}
		if (la->socktype == SOCK_DGRAM)
			g->udp = true;
		if (addr_list_push(&g->wanted, la) == -1)
			fatalx("out of memory: listen addresses");
	}
	addr_list_free(&passed);
	return 0;
}

/* Sets up every thread's loop and listeners, in the calling thread. */
int
group_init(struct group *g, const struct options *opts)
{
	char		 bound[4096];
	unsigned int	 i;

	memset(g, 0, sizeof(*g));
	g->opts = opts;
	g->nthreads = opts->threads;
	atomic_init(&g->nconns, 0);
	pthread_mutex_init(&g->peers_lock, NULL);
	siphash_random_key(&g->udp_key);
	g->servers = xcalloc(g->nthreads, sizeof(*g->servers), "threads");
	g->view.stats = xcalloc(g->nthreads, sizeof(*g->view.stats),
	    "threads");
	g->view.nthreads = g->nthreads;
	for (i = 0; i < g->nthreads; i++) {
		g->servers[i].ctl[0] = g->servers[i].ctl[1] = -1;
		g->view.stats[i] = &g->servers[i].stats;
	}
	if (group_addresses(g) == -1)
		return -1;
	g->view.udp = g->udp;
	group_set_max_conns(g);
	if (opts->tls_cert != NULL && (g->tls = tls_server_new(opts->tls_cert,
	    opts->tls_key, opts->tls_ticket_lifetime)) == NULL)
		return -1;
	if (opts->max_per_ip != 0 &&
	    peers_init(&g->peers, g->max_conns, opts->ipv6_prefix) == -1) {
		log_warnx("cannot allocate the --max-per-ip table");
		return -1;
	}
	for (i = 0; i < g->nthreads; i++)
		if (server_init(&g->servers[i], g, i, bound,
		    sizeof(bound)) == -1)
			return -1;
	if (g->tls != NULL && tls_server_schedule(g->tls,
	    g->servers[0].base) == -1)
		return -1;
	if (metrics_start(&g->metrics, g->servers[0].base, &opts->metrics,
	    &g->view, opts->metrics_max_connections,
	    opts->handshake_timeout) == -1)
		return -1;
	g->listening = xstrdup(bound, "addresses");
	if (g->nthreads > 1)
		log_notice("listening on %s (%u threads)", bound, g->nthreads);
	else
		log_notice("listening on %s", bound);
	return 0;
}

static void *
group_thread_main(void *arg)
{
	struct server	*srv = arg;
	sigset_t	 mask;

	/* Signals are thread 0's; they must not interrupt this one. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (event_base_dispatch(srv->base) == -1)
		log_warnx("thread %u: event loop failed", srv->index);
	atomic_fetch_sub(&srv->group->running, 1);
	server_send(&srv->group->servers[0], MSG_DONE);
	return NULL;
}

static void
group_log_totals(struct group *g)
{
	uint64_t	 accepted = 0, bytes_in = 0, bytes_out = 0;
	uint64_t	 udp_in = 0, udp_out = 0, udp_cut = 0, udp_dropped;
	uint64_t	 udp_refused, udp_limited;
	unsigned int	 i;

	for (i = 0; i < g->nthreads; i++) {
		struct stats *st = &g->servers[i].stats;
		uint64_t n = stat_get(&st->accepted);

		if (g->nthreads > 1)
			log_info("thread %u: %llu connection%s served", i,
			    (unsigned long long)n, n == 1 ? "" : "s");
		accepted += n;
		bytes_in += stat_get(&st->bytes_in);
		bytes_out += stat_get(&st->bytes_out);
		udp_in += stat_get(&st->udp_in);
		udp_out += stat_get(&st->udp_out);
		udp_cut += stat_get(&st->udp_truncated);
	}
	metrics_udp_sums(&g->view, &udp_dropped, &udp_refused, &udp_limited);
	if (g->udp)
		log_notice("UDP: %llu datagrams in, %llu echoed, %llu "
		    "truncated, %llu not answered (%llu could loop or "
		    "amplify, %llu over a rate limit)",
		    (unsigned long long)udp_in, (unsigned long long)udp_out,
		    (unsigned long long)udp_cut,
		    (unsigned long long)udp_dropped,
		    (unsigned long long)udp_refused,
		    (unsigned long long)udp_limited);
	log_notice("exiting: %llu connection%s served, %llu bytes in, "
	    "%llu bytes out", (unsigned long long)accepted,
	    accepted == 1 ? "" : "s", (unsigned long long)bytes_in,
	    (unsigned long long)bytes_out);
}

/* Runs every loop until shutdown; prints the totals. */
int
group_run(struct group *g)
{
	unsigned int	 i, started;
	int		 status = 0;

	atomic_store(&g->running, g->nthreads - 1);
	systemd_notify("READY=1\nSTATUS=listening on %s", g->listening);
	for (started = 1; started < g->nthreads; started++)
		if (pthread_create(&g->servers[started].thread, NULL,
		    group_thread_main, &g->servers[started]) != 0) {
			log_warnx("cannot start thread %u", started);
			atomic_fetch_sub(&g->running, g->nthreads - started);
			server_broadcast(&g->servers[0], MSG_FORCE_EXIT);
			status = 1;
			break;
		}
	if (status == 0 && event_base_dispatch(g->servers[0].base) == -1) {
		log_warnx("event loop failed");
		server_broadcast(&g->servers[0], MSG_FORCE_EXIT);
		status = 1;
	}
	for (i = 1; i < started; i++)
		pthread_join(g->servers[i].thread, NULL);
	group_log_totals(g);
	return status;
}

void
group_free(struct group *g)
{
	unsigned int	 i;

	/* Before thread 0's loop, which it runs in. */
	metrics_free(g->metrics);
	for (i = 0; g->servers != NULL && i < g->nthreads; i++)
		server_free(&g->servers[i]);
	free(g->servers);
	free(g->view.stats);
	peers_free(&g->peers);
	addr_list_free(&g->wanted);
	addr_list_free(&g->bound);
	free(g->listening);
	tls_server_free(g->tls);
	pthread_mutex_destroy(&g->peers_lock);
	memset(g, 0, sizeof(*g));
}
