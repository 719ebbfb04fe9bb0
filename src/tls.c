/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/bufferevent_ssl.h>

#include "log.h"
#include "tls.h"

/* The oldest OpenSSL error, as one line; empties the queue. */
static const char *
tls_queue_error(char *buf, size_t len)
{
	unsigned long	 err = ERR_get_error();

	if (err == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(err, buf, len);
	ERR_clear_error();
	return buf;
}

/*
 * The certificate chain and key are loaded and checked against each
 * other at start, so a wrong file is an exit 1, not a failing client.
 */
SSL_CTX *
tls_init(const char *cert, const char *key)
{
	SSL_CTX		*ctx;
	char		 why[256];

	if (cert == NULL)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		log_warnx("cannot set up TLS: %s",
		    tls_queue_error(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/*
	 * No server-side session cache: it would keep every client's session
	 * after it left.  Resumption still works with stateless tickets.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/*
	 * OpenSSL 3 makes a TCP close without close_notify an error, which
	 * libevent 2.1's allow_dirty_shutdown predates; see tls_bufferevent.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	/* The bufferevent may hand SSL_write() a moved buffer on retry. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		log_warnx("cannot load TLS certificate %s: %s", cert,
		    tls_queue_error(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key,
	    SSL_FILETYPE_PEM) != 1) {
		log_warnx("cannot load TLS key %s: %s", key,
		    tls_queue_error(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_warnx("TLS key %s does not match certificate %s: %s",
		    key, cert,
		    tls_queue_error(why, sizeof(why)));
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

/* A server-side TLS bufferevent on an accepted socket. */
struct bufferevent *
tls_bufferevent(struct event_base *base, SSL_CTX *ctx, evutil_socket_t fd)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/*
	 * A client that closes TCP without close_notify has still sent all
	 * it meant to: for an echo that is an end of input, not an error.
	 */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Why a TLS bufferevent failed, for the log. */
const char *
tls_error(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long	 err = bufferevent_get_openssl_error(bev);
	int		 sock = EVUTIL_SOCKET_ERROR();

	if (err != 0)
		ERR_error_string_n(err, buf, len);
	else if (sock != 0)
		snprintf(buf, len, "%s", evutil_socket_error_to_string(sock));
	else
		snprintf(buf, len, "connection closed");
	ERR_clear_error();
	return buf;
}

/* "TLSv1.3 TLS_AES_256_GCM_SHA384", for -v. */
const char *
tls_describe(struct bufferevent *bev, char *buf, size_t len)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);

	snprintf(buf, len, "%s %s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl));
	return buf;
}

/*
 * Our end of the TLS session, sent before our FIN so the client can
 * tell a complete reply from a cut one.  It goes straight to the
 * socket: nothing is left in the bufferevent's output by then.
 */
void
tls_close_notify(struct bufferevent *bev)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);

	if (SSL_shutdown(ssl) < 0)
		ERR_clear_error();
}
