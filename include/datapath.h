/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * A connection's data path: reading, framing into replies, writing
 * (straight from the input when nothing is queued), and counting the
 * bytes.  The connection's life (its states, handshake, drain, close)
 * is conn.c's; each function here returns -1 once the connection may
 * have been closed, and the caller must not touch it then.
 */
#ifndef ECHOD_DATAPATH_H
#define ECHOD_DATAPATH_H

#include <stddef.h>
#include <stdint.h>

struct conn;

/* libevent 2.1's EVBUFFER_MAX_READ: the most one read event takes. */
#define LIBEVENT_READ_CAP	4096
/* The most one connection's read callback takes before the loop turns. */
#ifndef CONN_READ_TURN
#define CONN_READ_TURN		(1024 * 1024)
#endif
/*
 * The most one read of our own takes: the budget is checked between
 * reads, so this is how far one read can take a thread past its limit.
 */
#define DATAPATH_READ_MAX	(256 * 1024)
/* An unfinished line this short is moved out of a burst's chain. */
#define DATAPATH_COMPACT_MAX	(16 * 1024)

void		 datapath_read_room(struct conn *);
void		 datapath_count_in(struct conn *, size_t);
uint64_t	 datapath_count_out(struct conn *);
int		 datapath_echo(struct conn *);
int		 datapath_read_more(struct conn *, size_t);
int		 datapath_drain(struct conn *);

#endif
