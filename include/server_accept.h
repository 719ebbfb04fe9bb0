/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* A thread's accepting, its limits and its back-off (server_accept.c). */
#ifndef ECHOD_SERVER_ACCEPT_H
#define ECHOD_SERVER_ACCEPT_H

#include <stdbool.h>

#include <event2/event.h>

#include "listen.h"
#include "server.h"

extern const struct listen_cbs server_accept_cbs;

bool	server_full(const struct server *);
void	server_pause_accept(struct server *);
void	server_resume_accept(struct server *);
void	server_peer_put(struct server *, struct peer *, bool);
void	server_retry_cb(evutil_socket_t, short, void *);
void	server_calm_cb(evutil_socket_t, short, void *);

#endif
