/*
 * The server: listeners, accepting, connection limits, signals and the
 * shutdown drain.  One server context per event loop; it is the only
 * state shared between connections.
 */
#ifndef ECHOD_SERVER_H
#define ECHOD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "conn.h"
#include "framing.h"
#include "options.h"
#include "peers.h"

struct server {
	struct event_base	 *base;
	const struct options	 *opts;
	struct framing		  framing;
	size_t			  read_max;	/* input watermark */
	struct evbuffer		 *scratch;	/* replies written at once */
	struct timeval		  idle_timeout;
	struct evconnlistener	**listeners;
	size_t			  nlisteners;
	struct event		 *sigint_ev;
	struct event		 *sigterm_ev;
	struct event		 *drain_ev;	/* shutdown deadline */
	struct event		 *retry_ev;	/* re-try accept after EMFILE */
	struct event		 *trim_ev;	/* return memory when idle */
	struct event		 *calm_ev;	/* ends an EMFILE episode */
	struct conn_list	  conns;
	struct peer_table	  peers;	/* with --max-per-ip */
	unsigned int		  nconns;
	unsigned int		  max_conns;
	bool			  accept_paused;
	bool			  fd_exhausted;	/* paused by EMFILE/ENFILE */
	bool			  shutting_down;
	time_t			  limit_logged;	/* last "limit reached" line */
	/* Totals, for the line printed at exit. */
	uint64_t		  accepted;
	uint64_t		  bytes_in;
	uint64_t		  bytes_out;
};

int	server_init(struct server *, const struct options *);
int	server_run(struct server *);
void	server_free(struct server *);
void	server_conn_gone(struct server *, struct conn *);

#endif
