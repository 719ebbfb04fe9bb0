/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * One server context per event loop, and one loop per thread
 * (--threads): server.c runs it; the group (group.c) is the process,
 * and holds what the threads share.
 */
#ifndef ECHOD_SERVER_H
#define ECHOD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "budget.h"
#include "conn.h"
#include "framing.h"
#include "metrics.h"
#include "options.h"
#include "peers.h"
#include "stats.h"
#include "siphash.h"
#include "udp.h"

struct group;
struct server;

/* One listening socket of one thread. */
struct listener {
	struct server		*srv;
	struct evconnlistener	*lev;
	struct listen_addr	 addr;		/* as bound, with its flags */
	bool			 owns_path;	/* a Unix socket we created */
	int			 lock_fd;	/* its PATH.lock, held, or -1 */
};

struct server {
	struct group		 *group;
	unsigned int		  index;	/* 0 runs in the main thread */
	pthread_t		  thread;
	struct event_base	 *base;
	const struct options	 *opts;
	struct framing		  framing;
	size_t			  read_max;	/* input watermark */
	struct timeval		  idle_timeout;
	struct listener		 *listeners;
	size_t			  nlisteners;
	struct udp_set		 *udp;		/* this thread's UDP sockets */
	uint8_t			 *proxy_buf;	/* a PROXY header, peeked at */
	struct event		 *sigint_ev;
	struct event		 *sigterm_ev;
	struct event		 *sigusr1_ev;	/* counters to the log */
	struct event		 *sighup_ev;	/* reload the TLS pair */
	struct event		 *drain_ev;	/* shutdown deadline */
	struct event		 *retry_ev;	/* re-try accept after EMFILE */
	struct event		 *trim_ev;	/* return memory when idle */
	struct event		 *calm_ev;	/* ends an EMFILE episode */
	struct event		 *ctl_ev;	/* commands from other threads */
	evutil_socket_t		  ctl[2];	/* their pipe: read, write */
	atomic_uint		  pending;	/* messages not yet acted on */
	struct conn_list	  conns;
	unsigned int		  nconns;	/* this thread's */
	struct budget		  budget;	/* its share of --memory-limit */
	atomic_bool		  accept_paused;
	bool			  fd_exhausted;	/* paused by EMFILE/ENFILE */
	bool			  shutting_down;
	struct stats		  stats;
};

/* What the threads share; the counters are per thread until the end. */
struct group {
	const struct options	*opts;
	struct server		*servers;
	unsigned int		 nthreads;
	atomic_uint		 nconns;	/* open, in all threads */
	/* The last of each once-a-minute line: one for all threads. */
	_Atomic time_t		 limit_logged;	/* --max-connections */
	_Atomic time_t		 budget_logged;	/* --memory-limit */
	_Atomic time_t		 accept_error_logged;	/* "accept: ..." */
	_Atomic time_t		 udp_refusal_logged;	/* "not answered" */
	_Atomic time_t		 udp_error_logged;	/* "udp: recvmmsg" */
	atomic_uint		 running;	/* threads other than 0 */
	unsigned int		 max_conns;
	pthread_mutex_t		 peers_lock;
	struct peer_table	 peers;		/* with --max-per-ip */
	struct listen_list	 wanted;	/* what thread 0 opens */
	struct listen_list	 bound;		/* thread 0's real addresses */
	struct tls_server	*tls;		/* for tls: listeners */
	bool			 udp;		/* -U, or a UDP socket passed */
	struct siphash_key	 udp_key;	/* of every thread's UDP guard */
	char			*listening;	/* "ADDR, ADDR...", for status */
	struct metrics_view	 view;		/* every thread's counters */
	struct metrics		*metrics;	/* --metrics, in thread 0 */
};

/*
 * What one thread tells another through its pipe, one byte each.
 */
enum msgtype {
	MSG_PAUSE = 'P',		/* at the connection limit: stop accepting */
	MSG_RESUME = 'R',		/* below it again: accept */
	MSG_SHUTDOWN = 'S',		/* a signal came: drain */
	MSG_DRAIN_TIMEOUT = 'T',	/* the drain's time is up: cut */
	MSG_FORCE_EXIT = 'F',		/* a second signal: exit now */
	MSG_DONE = 'D'			/* to thread 0: one thread has left its loop */
};

/* group.c: the process */
int	group_init(struct group *, const struct options *);
int	group_run(struct group *);
void	group_free(struct group *);

/* server.c: one thread's loop */
int	server_init(struct server *, struct group *, unsigned int, char *,
	    size_t);
void	server_free(struct server *);
void	server_send(struct server *, enum msgtype);
void	server_broadcast(struct server *, enum msgtype);
void	server_conn_gone(struct server *, struct conn *);
struct peer *server_peer_get(struct server *, const struct sockaddr *);
uint8_t	*server_proxy_buf(struct server *);

#endif
