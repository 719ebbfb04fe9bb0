/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * TLS for tls: listeners: one OpenSSL context for every thread, and
 * connections through libevent's bufferevent_openssl.
 */
#ifndef ECHOD_TLS_H
#define ECHOD_TLS_H

#include <stddef.h>

#include <event2/bufferevent.h>

struct ssl_ctx_st;

struct ssl_ctx_st *tls_init(const char *, const char *);
void		 tls_free(struct ssl_ctx_st *);
struct bufferevent *tls_bufferevent(struct event_base *, struct ssl_ctx_st *,
		    evutil_socket_t);
const char	*tls_error(struct bufferevent *, char *, size_t);
const char	*tls_describe(struct bufferevent *, char *, size_t);
void		 tls_close_notify(struct bufferevent *);

#endif
