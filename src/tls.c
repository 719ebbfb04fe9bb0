/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/bufferevent_ssl.h>

#include "log.h"
#include "tls.h"
#include "util.h"

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
 * TLS 1.2 only with forward secrecy and AEAD (Mozilla's "intermediate"
 * profile, less its DHE suites); TLS 1.3's suites are all such.
 */
#define TLS12_CIPHERS	"ECDHE-ECDSA-AES128-GCM-SHA256:" \
			"ECDHE-RSA-AES128-GCM-SHA256:" \
			"ECDHE-ECDSA-AES256-GCM-SHA384:" \
			"ECDHE-RSA-AES256-GCM-SHA384:" \
			"ECDHE-ECDSA-CHACHA20-POLY1305:" \
			"ECDHE-RSA-CHACHA20-POLY1305"

struct tls_server {
	pthread_mutex_t	 lock;		/* ctx, as SIGHUP may replace it */
	SSL_CTX		*ctx;
	char		*cert;
	char		*key;
};

/* A key others may read is a key others may have. */
static void
tls_check_key_mode(const char *key)
{
	struct stat	 st;

	if (stat(key, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH)))
		log_warnx("TLS key %s can be read by other users (mode %04o)",
		    key, (unsigned int)(st.st_mode & 07777));
}

/*
 * A context with the certificate chain and key, checked against each
 * other, so a wrong file is an exit 1 at start (or, on SIGHUP, a warning
 * and the old pair kept), not a failing client.
 */
static SSL_CTX *
tls_load(const char *cert, const char *key)
{
	SSL_CTX		*ctx;
	char		 why[256];

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		log_warnx("cannot set up TLS: %s",
		    tls_queue_error(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		log_warnx("cannot set up TLS: %s",
		    tls_queue_error(why, sizeof(why)));
		goto fail;
	}
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
	/* A client-started renegotiation costs the server a handshake. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
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
		log_warnx("cannot load TLS key %s: %s", key,
		    tls_queue_error(why, sizeof(why)));
		goto fail;
	}
	tls_check_key_mode(key);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* The pair for every thread's tls: listeners; NULL (logged) if bad. */
struct tls_server *
tls_server_new(const char *cert, const char *key)
{
	struct tls_server	*ts;

	ts = xcalloc(1, sizeof(*ts), "TLS");
	ts->cert = xstrdup(cert, "TLS");
	ts->key = xstrdup(key, "TLS");
	pthread_mutex_init(&ts->lock, NULL);
	if ((ts->ctx = tls_load(cert, key)) == NULL) {
		tls_server_free(ts);
		return NULL;
	}
	return ts;
}

/*
 * SIGHUP: the files again.  New connections get the new pair; open ones
 * keep theirs (each SSL holds a reference to its context).  A bad pair
 * is logged and the old one kept.
 */
int
tls_server_reload(struct tls_server *ts)
{
	SSL_CTX	*ctx, *old;

	if ((ctx = tls_load(ts->cert, ts->key)) == NULL)
		return -1;
	pthread_mutex_lock(&ts->lock);
	old = ts->ctx;
	ts->ctx = ctx;
	pthread_mutex_unlock(&ts->lock);
	SSL_CTX_free(old);
	return 0;
}

void
tls_server_free(struct tls_server *ts)
{
	if (ts == NULL)
		return;
	SSL_CTX_free(ts->ctx);
	pthread_mutex_destroy(&ts->lock);
	free(ts->cert);
	free(ts->key);
	free(ts);
}

/* A server-side TLS bufferevent on an accepted socket. */
struct bufferevent *
tls_bufferevent(struct event_base *base, struct tls_server *ts,
    evutil_socket_t fd)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	/* The SSL takes its own reference: a reload cannot free it under us. */
	pthread_mutex_lock(&ts->lock);
	ssl = SSL_new(ts->ctx);
	pthread_mutex_unlock(&ts->lock);
	if (ssl == NULL)
		return NULL;
	/* On failure libevent 2.1.12 frees ssl itself (BEV_OPT_CLOSE_ON_FREE). */
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
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
