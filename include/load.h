/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * echoload: the other end of the wire.  Options, the run's shared
 * state, and what each thread counts.  Each thread runs its own event
 * loop over its share of the connections (load_tcp.c for streams,
 * load_udp.c for datagrams); the main thread only reports.
 */
#ifndef ECHOD_LOAD_H
#define ECHOD_LOAD_H

#include <sys/socket.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "payload.h"

enum load_mode {
	MODE_PINGPONG,		/* requests, N in flight per connection */
	MODE_STREAM,		/* as many in flight as the sockets take */
	MODE_CHURN,		/* connect, one request, close, again */
	MODE_IDLE		/* one request, hold, one request at the end */
};

enum load_transport { LT_TCP, LT_TLS, LT_UNIX, LT_UDP };

enum err_kind {
	ERR_CONNECT,		/* could not connect */
	ERR_TLS,		/* the TLS handshake failed */
	ERR_MISMATCH,		/* a byte of a reply is not what was sent */
	ERR_CLOSED,		/* the server closed with replies due */
	ERR_RESET,		/* a reset or other socket error */
	ERR_TIMEOUT,		/* no reply within --timeout */
	ERR_LOST,		/* UDP: a datagram never answered */
	ERR_KINDS
};

/* -m stream: requests in flight on a connection, 1 MiB of them. */
#define STREAM_INFLIGHT_BYTES	(1u << 20)

struct load_opts {
	const char		*target;	/* as typed */
	enum load_transport	 transport;
	struct sockaddr_storage	 addrs[16];	/* tried in this order */
	socklen_t		 addrlens[16];
	int			 naddrs;
	char			 host[256];	/* for TLS names */
	struct sockaddr_storage	*sources;	/* --source; connection i: */
	unsigned int		 nsources;	/* sources[i % nsources] */
	enum load_mode		 mode;
	unsigned int		 conns;
	unsigned int		 threads;
	unsigned int		 pipeline;
	uint64_t		 count;		/* requests; 0: by duration */
	uint64_t		 duration_ns;
	uint64_t		 warmup_ns;
	uint64_t		 timeout_ns;
	uint64_t		 rate;		/* requests/s in all; 0: closed */
	uint64_t		 rate_end;	/* --rate A:B: B; 0: steady */
	uint64_t		 connect_rate;	/* connections/s in all; 0: any */
	struct payload		 payload;
	int			 proxy_version;	/* 0: no PROXY header */
	const char		*ca;
	bool			 insecure;
	bool			 quiet;
	bool			 json;
	bool			 latency_detail;	/* --latency */
	bool			 reconnect;	/* a failed connection reopens */
	uint64_t		 interval_ns;	/* -i; 0: no records */
	bool			 interval_given;
	const char		*timeline;	/* --timeline FILE */
	const char		*hdr_log;	/* --hdr-log FILE */
	double			 max_loss;	/* udp: lost %% that fails */
	bool			 timeout_given;
	int			 server_pid;
};

/* One thread's counts: written by it, read by the reporter. */
struct load_stats {
	uint64_t		 sent;		/* requests sent */
	uint64_t		 replies;	/* replies checked whole */
	uint64_t		 measured;	/* of them, after the warm-up */
	uint64_t		 bytes_sent;
	uint64_t		 bytes_received;
	uint64_t		 opened;	/* connections made */
	uint64_t		 open;		/* now open */
	uint64_t		 late;		/* UDP: after being counted lost */
	uint64_t		 loss_slots;	/* UDP: 100 ms slots with a loss */
	uint64_t		 last_loss_slot;	/* UDP: the latest, + 1 */
	uint64_t		 unsent;	/* --rate: due, never sent */
	uint64_t		 max_lag_ns;	/* --rate: sent after due, at most */
	uint64_t		 errors[ERR_KINDS];
	uint64_t		 last_reply_ns;
	struct hist		 latency;	/* after the warm-up, ns */
	struct hist		 service;	/* --rate: from sending, not due */
};

struct load_run;
struct event;

/* When a connection's next request is due, and what wakes it then. */
struct load_pace {
	uint64_t		 next_due;	/* --rate */
	uint64_t		 interval_ns;	/* --rate, per connection */
	struct event		*timer;
	unsigned int		 idle_quota;	/* -m idle: requests allowed */
};

struct load_thread {
	struct load_run		*run;
	pthread_t		 thread;
	unsigned int		 first_conn, nconns;
	uint64_t		 budget;	/* -n: requests left to send */
	struct load_stats	 stats;
	bool			 finished;
};

struct load_run {
	struct load_opts	*opts;
	struct load_thread	*threads;
	struct ssl_ctx_st	*tls;		/* SSL_CTX, for tls: */
	uint64_t		 start_ns;
	uint64_t		 window_ns;	/* the warm-up ends */
	uint64_t		 end_ns;	/* no new requests after */
	int			 stop;		/* SIGINT: end now */
	uint64_t		 stop_ns;
	uint64_t		 finish_ns;	/* every thread done */
	bool			 tty;		/* progress on a terminal */
	bool			 records_stderr;	/* -i: no progress line */
	uint64_t		 last_progress_ns;
	uint64_t		 last_replies, last_bytes;
	pthread_mutex_t		 report_lock;
	unsigned int		 reported;	/* errors shown in full */
};

#define ERRORS_SHOWN	5

extern const char *const err_kind_names[ERR_KINDS];

int	load_options(struct load_opts *, int, char **);
int	load_run(struct load_opts *);
void	*load_tcp_thread(void *);
void	*load_udp_thread(void *);

#endif
