/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * One echoload run: the target checked, the threads started with their
 * shares, the progress reported once a second, SIGINT taken as "stop
 * now and report", the threads joined, the summary printed.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "load.h"
#include "load_thread.h"
#include "load_interval.h"
#include "load_report.h"
#include "log.h"
#include "tls_client.h"
#include "util.h"

#define FD_SPARE	32

struct reporter {
	struct load_run		*run;
	struct event_base	*base;
	struct server_usage	 usage;
	struct load_interval	*iv;		/* -i, --timeline, --hdr-log */
	long			 cpu_start;	/* ticks at the window's start */
	bool			 sampled;	/* cpu_start taken */
	bool			 ended;		/* the end sample taken */
	int			 signals;
};

/* Ticks of user and system time of pid; -1 if it cannot be read. */
static long
proc_cpu_ticks(int pid)
{
	char		 path[64], buf[1024], *p;
	unsigned long	 ut, st;
	FILE		*f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu "
	    "%lu", &ut, &st) != 2)
		return -1;
	return ut + st;
}

static long
proc_rss_kb(int pid)
{
	char	 path[64], line[256];
	long	 kb = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The server's CPU from the window's start to the end, its RSS now. */
static void
reporter_sample_end(struct reporter *r)
{
	long	 ticks;

	if (r->ended || r->run->opts->server_pid == 0 || !r->sampled)
		return;
	r->ended = true;
	ticks = proc_cpu_ticks(r->run->opts->server_pid);
	r->usage.rss_after_kb = proc_rss_kb(r->run->opts->server_pid);
	r->usage.valid = ticks >= 0 && r->usage.rss_after_kb >= 0 &&
	    r->usage.rss_before_kb >= 0;
	r->usage.cpu_s = (double)(ticks - r->cpu_start) /
	    sysconf(_SC_CLK_TCK);
}

static bool
threads_finished(const struct load_run *run)
{
	unsigned int	 i;

	for (i = 0; i < run->opts->threads; i++)
		if (!__atomic_load_n(&run->threads[i].finished,
		    __ATOMIC_ACQUIRE))
			return false;
	return true;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reporter	*r = arg;
	struct load_run	*run = r->run;
	uint64_t	 now = load_now();

	(void)fd;
	(void)what;
	if (!r->sampled && now >= run->window_ns && run->opts->server_pid) {
		r->cpu_start = proc_cpu_ticks(run->opts->server_pid);
		r->sampled = true;
	}
	if (now >= run->end_ns)
		reporter_sample_end(r);
	interval_tick(r->iv, run, now);
	if (threads_finished(run)) {
		event_base_loopbreak(r->base);
		return;
	}
	/* After -d only replies are awaited: no more rates to show.  The
	 * records of -i on standard error take the progress line's place. */
	if (!run->opts->quiet && now < run->end_ns && !run->records_stderr &&
	    now - run->last_progress_ns >= 1000000000ULL)
		load_progress(run, now);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct reporter	*r = arg;

	(void)what;
	if (++r->signals > 1) {
		fprintf(stderr, "\nechoload: stopped by signal %d\n", (int)sig);
		_exit(130);
	}
	r->run->stop_ns = load_now();
	__atomic_store_n(&r->run->stop, 1, __ATOMIC_RELEASE);
}

/*
 * Several addresses (localhost: ::1 and 127.0.0.1): the first that takes
 * a connection is the one used.  0, or -1 with errno of the last.
 */
static int
pick_address(struct load_opts *o)
{
	struct pollfd	 pfd;
	socklen_t	 len = sizeof(int);
	int		 i, fd, err = 0;

	if (o->naddrs < 2 || o->transport == LT_UDP)
		return 0;
	for (i = 0; i < o->naddrs; i++) {
		if ((fd = socket(o->addrs[i].ss_family, SOCK_STREAM |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		err = 0;
		if (connect(fd, (struct sockaddr *)&o->addrs[i],
		    o->addrlens[i]) == -1) {
			err = errno;
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (err == EINPROGRESS) {
				err = poll(&pfd, 1, o->timeout_ns / 1000000) ==
				    1 ? 0 : ETIMEDOUT;
				if (err == 0)
					getsockopt(fd, SOL_SOCKET, SO_ERROR,
					    &err, &len);
			}
		}
		close(fd);
		if (err == 0) {
			o->addrs[0] = o->addrs[i];
			o->addrlens[0] = o->addrlens[i];
			return 0;
		}
	}
	errno = err;
	return -1;
}

/* Enough descriptors for every connection, or a clear no. */
static int
raise_fd_limit(const struct load_opts *o)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)o->conns + FD_SPARE > rl.rlim_cur) {
		fprintf(stderr, "echoload: -c %u needs more descriptors than "
		    "the open-file limit of %llu allows (see ulimit -n)\n",
		    o->conns, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

static void
threads_plan(struct load_run *run)
{
	const struct load_opts	*o = run->opts;
	unsigned int		 i, first = 0;
	uint64_t		 given = 0;

	run->threads = xcalloc(o->threads, sizeof(*run->threads), "threads");
	for (i = 0; i < o->threads; i++) {
		struct load_thread *t = &run->threads[i];

		t->run = run;
		t->first_conn = first;
		t->nconns = o->conns / o->threads + (i < o->conns % o->threads);
		first += t->nconns;
		hist_init(&t->stats.latency);
		hist_init(&t->stats.service);
		/* -n shared as the connections are. */
		t->budget = o->count * first / o->conns - given;
		given += t->budget;
	}
}

/* With every signal blocked: they are the reporter's. */
static void
threads_start(struct load_run *run)
{
	sigset_t	 all, old;
	unsigned int	 i;
	int		 rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < run->opts->threads; i++)
		if ((rc = pthread_create(&run->threads[i].thread, NULL,
		    run->opts->transport == LT_UDP ? load_udp_thread :
		    load_tcp_thread, &run->threads[i])) != 0)
			fatalx("cannot start a thread: %s", strerror(rc));
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void
reporter_loop(struct reporter *r)
{
	struct event	*tick, *sigint, *sigterm;
	struct timeval	 tv = { 0, 50000 };

	if ((r->base = event_base_new()) == NULL ||
	    (tick = event_new(r->base, -1, EV_PERSIST, tick_cb, r)) == NULL ||
	    (sigint = evsignal_new(r->base, SIGINT, signal_cb, r)) == NULL ||
	    (sigterm = evsignal_new(r->base, SIGTERM, signal_cb, r)) == NULL)
		fatalx("cannot make the reporter's event loop");
	event_add(tick, &tv);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	event_base_dispatch(r->base);
	event_free(tick);
	event_free(sigint);
	event_free(sigterm);
	event_base_free(r->base);
}

/* The exit status: 0 all right, 1 errors, 2 the target is unusable. */
int
load_run(struct load_opts *o)
{
	struct load_run		 run;
	struct reporter		 r;
	struct load_stats	 sum;
	char			 why[256];
	unsigned int		 i;
	bool			 failed;

	memset(&run, 0, sizeof(run));
	memset(&r, 0, sizeof(r));
	run.opts = o;
	r.run = &run;
	pthread_mutex_init(&run.report_lock, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (raise_fd_limit(o) == -1)
		return 2;
	if (o->transport == LT_TLS && (run.tls = tls_client_new(o->ca,
	    o->insecure, why, sizeof(why))) == NULL) {
		fprintf(stderr, "echoload: cannot load the CA certificates "
		    "%s: %s\n", o->ca ? o->ca : "of the system", why);
		return 2;
	}
	if (pick_address(o) == -1) {
		fprintf(stderr, "echoload: cannot connect to %s: %s\n",
		    o->target, strerror(errno));
		SSL_CTX_free(run.tls);
		return 2;
	}
	run.tty = !o->quiet && isatty(STDERR_FILENO);
	if (o->server_pid != 0)
		r.usage.rss_before_kb = proc_rss_kb(o->server_pid);
	run.start_ns = run.last_progress_ns = load_now();
	if ((r.iv = interval_new(&run, &failed)) == NULL && failed) {
		SSL_CTX_free(run.tls);
		return 2;
	}
	run.records_stderr = o->interval_ns != 0 && o->timeline == NULL &&
	    (o->hdr_log == NULL || o->interval_given);
	run.window_ns = run.start_ns + o->warmup_ns;
	run.end_ns = o->count != 0 ? UINT64_MAX : run.window_ns +
	    o->duration_ns;
	if (o->server_pid != 0 && o->warmup_ns == 0) {
		r.cpu_start = proc_cpu_ticks(o->server_pid);
		r.sampled = true;
	}
	threads_plan(&run);
	threads_start(&run);
	reporter_loop(&r);
	for (i = 0; i < o->threads; i++)
		pthread_join(run.threads[i].thread, NULL);
	run.finish_ns = load_now();
	interval_finish(r.iv, &run, run.finish_ns);
	interval_free(r.iv);
	reporter_sample_end(&r);
	if (run.tty)
		fprintf(stderr, "\r\033[K");
	load_totals(&run, &sum, true);
	load_report(&run, &sum, o->server_pid ? &r.usage : NULL);
	free(run.threads);
	SSL_CTX_free(run.tls);
	pthread_mutex_destroy(&run.report_lock);
	return load_status(&run, &sum);
}
