/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * TLS for tls: listeners: one OpenSSL context for every thread (a new
 * one on SIGHUP), and connections through libevent's bufferevent_openssl.
 */
#ifndef ECHOD_TLS_H
#define ECHOD_TLS_H

#include <stddef.h>

#include <event2/bufferevent.h>

struct tls_server;

struct tls_server *tls_server_new(const char *, const char *, unsigned int);
int		 tls_server_schedule(struct tls_server *, struct event_base *);
int		 tls_server_reload(struct tls_server *);
void		 tls_server_free(struct tls_server *);
struct bufferevent *tls_bufferevent(struct event_base *, struct tls_server *,
		    evutil_socket_t);
const char	*tls_error(struct bufferevent *, char *, size_t);
const char	*tls_describe(struct bufferevent *, char *, size_t);
void		 tls_close_notify(struct bufferevent *);

#endif
