/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Socket system calls: bind, Unix sockets, the bound address.
 */
#ifndef ECHOD_SOCK_H
#define ECHOD_SOCK_H

#include <sys/types.h>
#include <stdbool.h>

#include <event2/util.h>

#include "addr.h"

evutil_socket_t	sock_bind(const struct listen_addr *, bool);
evutil_socket_t	sock_bind_unix(const struct listen_addr *, mode_t, int *);
void		sock_unlock_unix(const char *, int);
void		sock_bound_addr(evutil_socket_t, struct listen_addr *);
bool		sock_family_missing(int);

#endif
