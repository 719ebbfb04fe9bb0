/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * echoload over streams, shared by its two files: load_tcp.c (the
 * requests and replies, the sweep, the thread) and load_connect.c (the
 * connection's set-up: connect, TLS handshake, PROXY header, churn).
 */
#ifndef ECHOD_LOAD_TCP_H
#define ECHOD_LOAD_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "load.h"

enum lconn_state {
	CS_WAIT,		/* churn: between connections */
	CS_CONNECTING,
	CS_HANDSHAKE,
	CS_RUNNING,
	CS_DONE
};

struct tcp_thread;

struct lconn {
	struct tcp_thread	*tt;
	uint32_t		 id;
	enum lconn_state	 state;
	int			 fd;
	SSL			*ssl;
	struct event		*rev, *wev;
	struct load_pace	 pace;		/* its timer: churn's retry too */
	bool			 writing;	/* wev is added */
	bool			 counted;	/* in stats.open */
	bool			 reserved;	/* churn -n: holds a request */
	uint64_t		 next_seq;	/* the next request to send */
	uint64_t		 conn_first;	/* first request on this socket */
	uint64_t		*due;		/* ring: when each was due */
	uint64_t		*sent;		/* --rate: when each went */
	uint64_t		 state_ns;	/* entered the state */
	uint64_t		 connect_ns;	/* churn: the latency's start */
	uint64_t		 next_connect_ns;	/* --connect-rate */
	uint64_t		 activity_ns;	/* last progress, for --timeout */
	char			*obuf;		/* a send's rest; else NULL */
	size_t			 olen, ooff;
	struct verify		 v;
};

struct tcp_thread {
	struct load_thread	*t;
	const struct load_opts	*o;
	struct event_base	*base;
	struct event		*sweep;
	struct lconn		*conns;
	char			*obuf;		/* requests made, for any one */
	unsigned int		 live;		/* not CS_DONE */
	bool			 idle_final;	/* -m idle: the end came */
	/* Counted here, added to the shared counters once per wakeup. */
	uint64_t		 replies_pending;
	uint64_t		 bytes_pending;
};

/* load_tcp.c */
void	lconn_writing(struct lconn *, bool);
void	lconn_close(struct lconn *, bool);
void	lconn_fail(struct lconn *, enum err_kind, const char *);
void	lconn_fail_errno(struct lconn *, enum err_kind, const char *);
void	lconn_pump_out(struct lconn *);
void	lconn_pump_in(struct lconn *);

/* load_connect.c */
void	lconn_connect(struct lconn *);

#endif
