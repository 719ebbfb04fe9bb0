/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The memory budget: one thread's share of --memory-limit.  Every byte
 * its connections' buffers hold belongs to one connection (conn->held)
 * and is counted here.  Over the limit, echod does not wait for clients
 * to give memory back: it sheds the connections holding the most that
 * cannot be echoed yet.
 */
#ifndef ECHOD_BUDGET_H
#define ECHOD_BUDGET_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct event;
struct server;

struct budget {
	size_t		 limit;		/* this thread's share; 0: none */
	size_t		 held;		/* what its connections hold */
	TAILQ_HEAD(, conn) handshakes;	/* TLS ones under way, oldest first */
	size_t		 nhandshakes;
	struct event	*shed_ev;	/* a shedding put off to the loop */
	struct event	*trim_ev;	/* returns what the shed held */
	bool		 deferred;	/* connections cannot be closed now */
};

int	budget_init(struct budget *, struct server *, size_t);
void	budget_free(struct budget *);
/* The connection's buffers changed: count them again. */
void	budget_charge(struct conn *);
/* The connection is going: what it held is no one's. */
void	budget_discharge(struct conn *);
/* The loop's clock in milliseconds, wrapping: for ages, not dates. */
uint32_t budget_now(struct server *);
/*
 * What a connection standing still may hold and still be shed last of
 * all, whatever its fair share: idle connections opened by the hundred
 * would otherwise make "a few bytes typed" mean none.
 */
#define BUDGET_SMALL_MIN	1024
/* How often, on reads, budget_stalled() asks the kernel. */
#define BUDGET_STALL_CHECK_MS	250
/* Within this much of its bytes moving, a connection is shed last. */
#define BUDGET_MOVING_MS	1000
/*
 * What OpenSSL holds for a TLS handshake under way, outside the
 * connection's buffers (measured: 42 to 44.5 KB once a ClientHello is
 * in, against some 14 KB once the handshake is done).  Handshakes have
 * a share of their own beside the limit, a BUDGET_HANDSHAKE_SHARE'th of
 * it at that much each, over which the oldest is shed: in the limit,
 * a flood of connections that never say a word would have every client
 * sitting on a line shed for them.
 */
#define BUDGET_TLS_HANDSHAKE	(44 * 1024)
#define BUDGET_HANDSHAKE_SHARE	4
/* A new connection: nothing of it has moved yet. */
void	budget_track(struct conn *);
/* A TLS handshake begins, or ends (done, or the connection closed). */
void	budget_handshake_start(struct conn *);
void	budget_handshake_done(struct conn *);
/* It stopped reading its client: what the client has taken so far. */
void	budget_paused(struct conn *);
/* Its bytes moved: a line echoed, or output taken by the client. */
void	budget_moved(struct conn *);
/*
 * Whether the client has taken none of what the kernel holds for it for
 * `timeout` seconds (0: never): its own buffers' write timeout cannot
 * see that, and what it keeps sending restarts the read timeout.
 */
bool	budget_stalled(struct conn *, unsigned int);
/* Over the limit: shed.  -1 if `self` (may be NULL) was closed. */
int	budget_enforce(struct server *, struct conn *);

#endif
