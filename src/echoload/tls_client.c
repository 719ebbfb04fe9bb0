/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls_client.h"

/*
 * TLS 1.2 or later; the server's certificate is checked against the
 * system's CAs or --ca, and its name against the target's host, unless
 * --insecure.  NULL with why filled if the CAs cannot be loaded.
 */
SSL_CTX *
tls_client_new(const char *ca, bool insecure, char *why, size_t whylen)
{
	SSL_CTX		*ctx;
	unsigned long	 err;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
	    NULL);
	if (ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
			goto fail;
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		goto fail;
	return ctx;
fail:
	err = ERR_get_error();
	snprintf(why, whylen, "%s", err ? ERR_reason_error_string(err) :
	    "out of memory");
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* A connection on fd to host: SNI and the name to check, unless an IP. */
SSL *
tls_client_ssl(SSL_CTX *ctx, int fd, const char *host)
{
	unsigned char	 ip[16];
	bool		 is_ip;
	SSL		*ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	is_ip = inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1;
	if (SSL_set_fd(ssl, fd) != 1 ||
	    (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1) ||
	    (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
	    host) != 1 : SSL_set1_host(ssl, host) != 1)) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* Why the last call on ssl, which returned rc, failed. */
const char *
tls_client_error(SSL *ssl, int rc, char *buf, size_t len)
{
	unsigned long	 err = ERR_peek_error();
	long		 verify = SSL_get_verify_result(ssl);

	if (verify != X509_V_OK)
		snprintf(buf, len, "certificate: %s",
		    X509_verify_cert_error_string(verify));
	else if (err != 0)
		ERR_error_string_n(err, buf, len);
	else if (SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL && errno != 0)
		snprintf(buf, len, "%s", strerror(errno));
	else
		snprintf(buf, len, "the server closed the connection");
	ERR_clear_error();
	return buf;
}
