/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * One thread's listeners and their names.
 */
#ifndef ECHOD_LISTEN_H
#define ECHOD_LISTEN_H

#include <stddef.h>

#include <event2/listener.h>

struct server;

/* What a listener calls: the server's accept and accept-error handlers. */
struct listen_cbs {
	evconnlistener_cb	 accept;
	evconnlistener_errorcb	 error;
};

int	listen_open_all(struct server *, const struct listen_cbs *, char *,
	    size_t);
void	listen_close_all(struct server *);

#endif
