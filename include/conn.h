/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * One client connection.  The tutorial's generator task becomes an
 * explicit state: its `yield 'recv'` is READING, its `yield 'send'` on a
 * client that does not read is PAUSED.
 */
#ifndef ECHOD_CONN_H
#define ECHOD_CONN_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/util.h>

#include "addr.h"

struct peer;
struct server;

enum conn_state {
	CONN_PROXY,	/* waiting for the load balancer's PROXY header */
	CONN_READING,	/* echoing what arrives */
	CONN_PAUSED,	/* output limit reached: not reading until it drains */
	CONN_DRAINING,	/* no more input: flushing output, then closing */
	CONN_CLOSING	/* output flushed and FIN sent: waiting for the peer's */
};

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	TAILQ_ENTRY(conn)	 handshake_entry;	/* budget: under way */
	struct server		*srv;
	struct bufferevent	*bev;		/* once the PROXY header is in */
	/* Never both at once: the header comes before the handshake. */
	union {
		struct event	*proxy_ev;	/* waiting for the header */
		struct event	*handshake_ev;	/* TLS: its absolute deadline */
	};
	struct peer		*peer_count;	/* with --max-per-ip */
	uint8_t			 state;		/* enum conn_state */
	bool			 peer_eof;	/* the client half-closed */
	bool			 tls;		/* from a tls: listener */
	bool			 tls_up;	/* its handshake is done */
	bool			 handshaking;	/* TLS: in the budget's list */
	bool			 grace;		/* new at shutdown: may still speak */
	/* Both below --max-line plus --output-limit, so 32 bits: an idle
	 * connection's size is what echod's memory is mostly made of. */
	uint32_t		 input_held;	/* unechoed bytes in input */
	uint32_t		 held;		/* in its buffers, in the budget */
	uint32_t		 scanned;	/* of input_held: searched, no LF */
	uint32_t		 moved;		/* budget_now(): bytes last moved */
	uint32_t		 fresh;		/* read since the last echo */
	uint32_t		 drained;	/* echoed from the input's chain */
	uint64_t		 bytes_in;
	uint64_t		 bytes_queued;	/* added to output, ever */
	uint64_t		 bytes_counted;	/* of those, in the stats */
	uint64_t		 acked;		/* of those, the client took */
	uint64_t		 stall_acked;	/* acked at stall_since */
	uint32_t		 stall_since;	/* budget_now(): took nothing */
	uint32_t		 stall_checked;	/* budget_now(): last looked */
	struct timespec		 started;
	char			 peer[ADDR_STRLEN];
};

TAILQ_HEAD(conn_list, conn);

/* Takes the socket; NULL (the socket closed) when out of memory. */
struct conn	*conn_new(struct server *, evutil_socket_t,
		    const struct sockaddr *, const struct listen_addr *);
void		 conn_close(struct conn *, const char *);
void		 conn_shutdown(struct conn *);

/* Within the connection's own files (conn.c, conn_proxy.c, datapath.c). */
int		 conn_start(struct conn *, evutil_socket_t);	/* closes on -1 */
void		 conn_log_open(struct conn *, const char *, int);
void		 conn_reject(struct conn *, const char *);
int		 conn_proxy_start(struct conn *, evutil_socket_t);
bool		 conn_handshake_left(const struct conn *, struct timeval *);
void		 conn_pause(struct conn *);
void		 conn_input_ended(struct conn *);

#endif
