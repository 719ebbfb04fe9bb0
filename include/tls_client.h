/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* TLS for echoload: one client context, shared by every thread. */
#ifndef ECHOD_TLS_CLIENT_H
#define ECHOD_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

SSL_CTX	*tls_client_new(const char *, bool, char *, size_t);
SSL	*tls_client_ssl(SSL_CTX *, int, const char *);
const char *tls_client_error(SSL *, int, char *, size_t);

#endif
