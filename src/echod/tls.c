/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "log.h"
#include "tls.h"
#include "util.h"

static void	*tls_mm_malloc(size_t);
static void	*tls_mm_realloc(void *, size_t);
static void	 tls_mm_free(void *);

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

/* A session ticket key: its name (in each ticket), AES and HMAC keys. */
struct tls_ticket_key {
	bool		 valid;
	unsigned char	 name[16];
	unsigned char	 aes[32];
	unsigned char	 hmac[32];
};

struct tls_server {
	pthread_mutex_t	 lock;		/* ctx (SIGHUP) and tickets (timer) */
	SSL_CTX		*ctx;
	char		*cert;
	char		*key;
	unsigned int	 ticket_lifetime;	/* seconds, 0: no tickets */
	struct tls_ticket_key tickets[2];	/* the one in use, the one before */
	struct event	 rotate_ev;	/* thread 0's; its base frees it */
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

/* Both ends step in turn until neither wants to; whether both got there. */
static bool
tls_warm_handshake(SSL *client, SSL *server)
{
	int	 i, c = 0, s = 0;

	for (i = 0; i < 16 && (c != 1 || s != 1); i++) {
		if (c != 1 && (c = SSL_do_handshake(client)) != 1 &&
		    SSL_get_error(client, c) != SSL_ERROR_WANT_READ)
			return false;
		if (s != 1 && (s = SSL_do_handshake(server)) != 1 &&
		    SSL_get_error(server, s) != SSL_ERROR_WANT_READ)
			return false;
	}
	return c == 1 && s == 1;
}

/*
 * One handshake of each version with the context, in memory, before any
 * client: OpenSSL fills some caches (of the context, of its providers)
 * on first use, and an allocation that fails then can leave every later
 * handshake failing.  Made now, at start, such a failure is an exit 1,
 * and on a client's path only per-connection allocations are left.
 */
static bool
tls_warm(SSL_CTX *ctx)
{
	SSL_CTX	*cctx;
	SSL	*client = NULL, *server = NULL;
	BIO	*c2s, *s2c;
	int	 version;
	bool	 ok = false;

	if ((cctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return false;
	for (version = TLS1_2_VERSION; version <= TLS1_3_VERSION; version++) {
		/* Not a version the configuration (OPENSSL_CONF) allows. */
		if (SSL_CTX_get_min_proto_version(ctx) > version ||
		    (SSL_CTX_get_max_proto_version(ctx) != 0 &&
		    SSL_CTX_get_max_proto_version(ctx) < version))
			continue;
		ok = false;
		SSL_CTX_set_min_proto_version(cctx, version);
		SSL_CTX_set_max_proto_version(cctx, version);
		if ((client = SSL_new(cctx)) == NULL ||
		    (server = SSL_new(ctx)) == NULL ||
		    (c2s = BIO_new(BIO_s_mem())) == NULL)
			break;
		if ((s2c = BIO_new(BIO_s_mem())) == NULL) {
			BIO_free(c2s);
			break;
		}
		BIO_up_ref(c2s);
		BIO_up_ref(s2c);
		SSL_set_bio(client, s2c, c2s);
		SSL_set_bio(server, c2s, s2c);
		SSL_set_connect_state(client);
		SSL_set_accept_state(server);
		if (!(ok = tls_warm_handshake(client, server)))
			break;
		SSL_free(client);
		SSL_free(server);
		client = server = NULL;
	}
	SSL_free(client);
	SSL_free(server);
	SSL_CTX_free(cctx);
	return ok;
}

/*
 * A new ticket key; the one before still decrypts, and the one before
 * that is erased.  So each key makes tickets for one lifetime and is gone
 * a lifetime later: a ticket is honoured for all of its lifetime, and no
 * key read from memory opens a session older than two.
 */
static void
tls_ticket_rotate(struct tls_server *ts)
{
	struct tls_ticket_key	 fresh;
	char			 why[256];

	fresh.valid = RAND_bytes(fresh.name, sizeof(fresh.name)) == 1 &&
	    RAND_priv_bytes(fresh.aes, sizeof(fresh.aes)) == 1 &&
	    RAND_priv_bytes(fresh.hmac, sizeof(fresh.hmac)) == 1;
	if (!fresh.valid)
		log_warnx("cannot make a TLS ticket key, no tickets until the "
		    "next: %s", tls_queue_error(why, sizeof(why)));
	pthread_mutex_lock(&ts->lock);
	OPENSSL_cleanse(&ts->tickets[1], sizeof(ts->tickets[1]));
	ts->tickets[1] = ts->tickets[0];
	ts->tickets[0] = fresh;
	pthread_mutex_unlock(&ts->lock);
	OPENSSL_cleanse(&fresh, sizeof(fresh));
}

static void
tls_ticket_rotate_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tls_ticket_rotate(arg);
	log_debug("TLS session ticket key rotated");
}

/*
 * OpenSSL's ticket callback, in any thread's handshake: the key in use
 * to make a ticket; to open one, the key its name names (1), the one
 * before (2: open it and make a new ticket), or none (0: a full
 * handshake).  AES-256-CBC and HMAC-SHA256, as OpenSSL's own tickets.
 */
static int
tls_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_server	*ts = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	struct tls_ticket_key	 k = { .valid = false };
	OSSL_PARAM		 params[3];
	int			 i, rv = 0;

	pthread_mutex_lock(&ts->lock);
	for (i = 0; i < 2; i++)
		if (ts->tickets[i].valid && (enc ? i == 0 :
		    memcmp(name, ts->tickets[i].name, 16) == 0)) {
			k = ts->tickets[i];
			rv = i + 1;
			break;
		}
	pthread_mutex_unlock(&ts->lock);
	if (!k.valid)
		return 0;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    k.hmac, sizeof(k.hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    "SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (enc) {
		memcpy(name, k.name, 16);
		if (RAND_bytes(iv, 16) != 1 || EVP_EncryptInit_ex(cctx,
		    EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			rv = -1;
	} else if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes,
	    iv) != 1)
		rv = -1;
	if (rv != -1 && EVP_MAC_CTX_set_params(hctx, params) != 1)
		rv = -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return rv;
}

/* The monotonic clock in milliseconds: a ticket's age, in this process. */
static uint64_t
tls_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Each ticket carries, inside its encryption, when its session began:
 * OpenSSL counts a TLS 1.2 session's age in whole seconds, and took a
 * ticket up to a second past its lifetime.  A TLS 1.2 session keeps its
 * first time through renewals (its secret lives no longer than the
 * lifetime, whatever the client does); TLS 1.3 makes a new one, with
 * new keys, for each ticket.
 */
static int
tls_ticket_made_cb(SSL *ssl, void *arg)
{
	SSL_SESSION	*sess = SSL_get0_session(ssl);
	void		*had;
	size_t		 len;
	uint64_t	 began = tls_now_ms();

	(void)arg;
	if (SSL_version(ssl) < TLS1_3_VERSION &&
	    SSL_SESSION_get0_ticket_appdata(sess, &had, &len) == 1 &&
	    len == sizeof(began))
		return 1;
	return SSL_SESSION_set1_ticket_appdata(sess, &began, sizeof(began));
}

/* A ticket opened: used if its lifetime is not over, to the millisecond. */
static SSL_TICKET_RETURN
tls_ticket_opened_cb(SSL *ssl, SSL_SESSION *sess,
    const unsigned char *name, size_t name_len, SSL_TICKET_STATUS status,
    void *arg)
{
	const struct tls_server	*ts = arg;
	void			*data;
	size_t			 len;
	uint64_t		 began;

	(void)ssl;
	(void)name;
	(void)name_len;
	switch (status) {
	case SSL_TICKET_EMPTY:
	case SSL_TICKET_NO_DECRYPT:
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		break;
	default:
		return SSL_TICKET_RETURN_ABORT;
	}
	if (SSL_SESSION_get0_ticket_appdata(sess, &data, &len) != 1 ||
	    len != sizeof(began))
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	memcpy(&began, data, sizeof(began));
	if (tls_now_ms() - began >= (uint64_t)ts->ticket_lifetime * 1000)
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE :
	    SSL_TICKET_RETURN_USE_RENEW;
}

/* Session tickets with our keys and lifetime, or none at all. */
static void
tls_tickets(SSL_CTX *ctx, struct tls_server *ts)
{
	if (ts->ticket_lifetime == 0) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
		return;
	}
	SSL_CTX_set_app_data(ctx, ts);
	SSL_CTX_set_timeout(ctx, ts->ticket_lifetime);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
	SSL_CTX_set_session_ticket_cb(ctx, tls_ticket_made_cb,
	    tls_ticket_opened_cb, ts);
}

/*
 * A context with the certificate chain and key, checked against each
 * other, so a wrong file is an exit 1 at start (or, on SIGHUP, a warning
 * and the old pair kept), not a failing client.
 */
static SSL_CTX *
tls_load(struct tls_server *ts)
{
	const char	*cert = ts->cert, *key = ts->key;
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
	tls_tickets(ctx, ts);
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
	if (!tls_warm(ctx)) {
		log_warnx("cannot set up TLS: a handshake with %s and %s "
		    "fails: %s", cert, key, tls_queue_error(why, sizeof(why)));
		goto fail;
	}
	tls_check_key_mode(key);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * The pair for every thread's tls: listeners; NULL (logged) if bad.
 * Called before any thread starts, so libevent's allocator can change.
 */
struct tls_server *
tls_server_new(const char *cert, const char *key, unsigned int lifetime)
{
	struct tls_server	*ts;

	/* The system allocator's blocks both ways: no matter what was
	 * allocated before. */
	event_set_mem_functions(tls_mm_malloc, tls_mm_realloc, tls_mm_free);

	ts = xcalloc(1, sizeof(*ts), "TLS");
	ts->cert = xstrdup(cert, "TLS");
	ts->key = xstrdup(key, "TLS");
	pthread_mutex_init(&ts->lock, NULL);
	ts->ticket_lifetime = lifetime;
	if (lifetime != 0)
		tls_ticket_rotate(ts);
	if ((ts->ctx = tls_load(ts)) == NULL) {
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

	if ((ctx = tls_load(ts)) == NULL)
		return -1;
	pthread_mutex_lock(&ts->lock);
	old = ts->ctx;
	ts->ctx = ctx;
	pthread_mutex_unlock(&ts->lock);
	SSL_CTX_free(old);
	return 0;
}

/*
 * The ticket keys' rotation, a timer in base (thread 0's), which must
 * not run when the timer is freed: event_base_free() deletes it.
 */
int
tls_server_schedule(struct tls_server *ts, struct event_base *base)
{
	struct timeval	 tv = { ts->ticket_lifetime, 0 };

	if (ts->ticket_lifetime == 0)
		return 0;
	if (event_assign(&ts->rotate_ev, base, -1, EV_PERSIST,
	    tls_ticket_rotate_cb, ts) == -1 ||
	    event_add(&ts->rotate_ev, &tv) == -1) {
		log_warnx("cannot set up TLS: out of memory for the ticket "
		    "key timer");
		return -1;
	}
	return 0;
}

void
tls_server_free(struct tls_server *ts)
{
	if (ts == NULL)
		return;
	OPENSSL_cleanse(ts->tickets, sizeof(ts->tickets));
	SSL_CTX_free(ts->ctx);
	pthread_mutex_destroy(&ts->lock);
	free(ts->cert);
	free(ts->key);
	free(ts);
}

/*
 * libevent 2.1.12's bufferevent_openssl_new_impl(), when either evbuffer
 * of the bufferevent it has just allocated cannot be, frees that
 * half-built bufferevent through operations not yet set: a crash (the
 * same goes for bufferevent_openssl_filter_new()).  So while it runs,
 * libevent's allocations (event_set_mem_functions()) may fall back on a
 * few blocks set aside just before, whose own failure is an ordinary
 * one.  It allocates four times: the bufferevent (whose failure libevent
 * survives, so it may be bigger than a block), two evbuffers and an
 * evbuffer callback.
 */
#define TLS_RESERVE_BLOCKS	3
#define TLS_RESERVE_SIZE	512

struct tls_reserve {
	void	*block[TLS_RESERVE_BLOCKS];
	size_t	 left;
};

/* The reserve of the bufferevent this thread is making, if any. */
static _Thread_local struct tls_reserve *tls_reserve_now;

static void *
tls_mm_malloc(size_t size)
{
	struct tls_reserve	*r = tls_reserve_now;
	void			*p;

	if ((p = malloc(size)) != NULL || r == NULL || r->left == 0 ||
	    size > TLS_RESERVE_SIZE)
		return p;
	p = r->block[--r->left];
	r->block[r->left] = NULL;
	return p;
}

static void *
tls_mm_realloc(void *p, size_t size)
{
	return realloc(p, size);
}

static void
tls_mm_free(void *p)
{
	free(p);
}

/* Blocks of the system allocator's: libevent frees those it took. */
static bool
tls_reserve_fill(struct tls_reserve *r)
{
	for (r->left = 0; r->left < TLS_RESERVE_BLOCKS; r->left++)
		if ((r->block[r->left] = malloc(TLS_RESERVE_SIZE)) == NULL)
			return false;
	return true;
}

static void
tls_reserve_free(struct tls_reserve *r)
{
	while (r->left > 0)
		free(r->block[--r->left]);
}

/* The SSL for an accepted socket, its BIO made and checked here. */
static SSL *
tls_ssl_new(struct tls_server *ts, evutil_socket_t fd)
{
	SSL	*ssl;
	BIO	*bio;

	/* The SSL takes its own reference: a reload cannot free it under us. */
	pthread_mutex_lock(&ts->lock);
	ssl = SSL_new(ts->ctx);
	pthread_mutex_unlock(&ts->lock);
	if (ssl == NULL)
		return NULL;
	/* libevent would make this BIO without checking it. */
	if ((bio = BIO_new_socket(fd, BIO_NOCLOSE)) == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_bio(ssl, bio, bio);
	return ssl;
}

/*
 * A server-side TLS bufferevent on an accepted socket; NULL, with the
 * socket still open and nothing else left, if out of memory.
 */
struct bufferevent *
tls_bufferevent(struct event_base *base, struct tls_server *ts,
    evutil_socket_t fd)
{
	struct bufferevent	*bev;
	struct tls_reserve	 reserve;
	SSL			*ssl;

	if (!tls_reserve_fill(&reserve)) {
		tls_reserve_free(&reserve);
		return NULL;
	}
	if ((ssl = tls_ssl_new(ts, fd)) == NULL) {
		tls_reserve_free(&reserve);
		ERR_clear_error();
		return NULL;
	}
	/* On failure libevent 2.1.12 frees ssl itself (BEV_OPT_CLOSE_ON_FREE). */
	tls_reserve_now = &reserve;
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	tls_reserve_now = NULL;
	tls_reserve_free(&reserve);
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
