/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Integration: tls: listeners, with a certificate the test makes, real
 * OpenSSL clients (openssl s_client, and one written here with libssl).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(tls, .timeout = 60);

struct certs {
	char	dir[64];
	char	cert[96];
	char	key[96];
};

static void
make_cert(struct certs *c, const char *dir_or_null)
{
	char		*out;
	const char	*argv[] = { "openssl", "req", "-x509", "-newkey", "ec",
			    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			    "-keyout", c->key, "-out", c->cert, "-days", "2",
			    "-subj", "/CN=localhost", NULL };

	if (dir_or_null == NULL)
		test_tmpdir(c->dir, sizeof(c->dir));
	else
		snprintf(c->dir, sizeof(c->dir), "%s", dir_or_null);
	snprintf(c->cert, sizeof(c->cert), "%s/cert%d.pem", c->dir,
	    (int)getpid());
	snprintf(c->key, sizeof(c->key), "%s/key%d.pem", c->dir,
	    (int)getpid());
	if (dir_or_null != NULL) {
		/* A second pair in the same directory. */
		strcat(c->cert, ".2");
		strcat(c->key, ".2");
	}
	cr_assert_eq(run_tool(argv, NULL, 0, &out), 0, "openssl req: %s", out);
	free(out);
}

static void
certs_free(struct certs *c)
{
	unlink(c->cert);
	unlink(c->key);
	rmdir(c->dir);
}

static void
start_tls(struct echod *e, struct certs *c, const char *extra)
{
	make_cert(c, NULL);
	echod_start(e, "-l", "tls:127.0.0.1:0", "--tls-cert", c->cert,
	    "--tls-key", c->key, "-v", extra, NULL);
}

struct tls_client {
	SSL_CTX	*ctx;
	SSL	*ssl;
	int	 fd;
};

static void
tls_connect(struct tls_client *t, int port)
{
	cr_assert_not_null(t->ctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	t->fd = client_connect(port);
	cr_assert_not_null(t->ssl = SSL_new(t->ctx));
	SSL_set_fd(t->ssl, t->fd);
	cr_assert_eq(SSL_connect(t->ssl), 1, "handshake: %s",
	    ERR_error_string(ERR_get_error(), NULL));
}

static void
tls_send(struct tls_client *t, const void *buf, size_t len)
{
	cr_assert_eq(SSL_write(t->ssl, buf, len), (int)len);
}

/* Reads until the server's close_notify (or EOF); returns the bytes. */
static size_t
tls_read_all(struct tls_client *t, char *buf, size_t cap, bool *clean)
{
	size_t	 got = 0;
	int	 n;

	while (got < cap && (n = SSL_read(t->ssl, buf + got,
	    cap - got)) > 0)
		got += n;
	*clean = (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
	return got;
}

static void
tls_expect(struct tls_client *t, const char *want)
{
	char	 got[256];
	size_t	 len = strlen(want), have = 0;
	int	 n;

	cr_assert_lt(len, sizeof(got));
	while (have < len && (n = SSL_read(t->ssl, got + have,
	    len - have)) > 0)
		have += n;
	cr_assert_eq(have, len, "expected %zu bytes, got %zu", len, have);
	cr_assert_arr_eq(got, want, len);
}

static void
tls_close(struct tls_client *t)
{
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	close(t->fd);
}

Test(tls, s_client_session)
{
	struct echod	 e;
	struct certs	 c;
	char		 connect_to[64], *out;
	const char	*argv[] = { "openssl", "s_client", "-connect",
			    connect_to, "-quiet", NULL };

	/* -quiet ignores stdin's EOF; -t 1 ends the session. */
	start_tls(&e, &c, "-t1");
	snprintf(connect_to, sizeof(connect_to), "127.0.0.1:%d",
	    echod_port_of(&e, "tls:127.0.0.1:"));
	cr_assert_eq(run_tool(argv, "Hello\n", 6, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "GOT:Hello\n"), "%s", out);
	free(out);
	cr_assert(echod_wait_log(&e, "TLS handshake done, TLSv1.3", WAIT_MS),
	    "%s", e.log);
	cr_assert(echod_wait_log(&e, "idle timeout, 6 bytes in, 10 bytes out",
	    WAIT_MS), "%s", e.log);
	echod_finish(&e);
	certs_free(&c);
}

/* close_notify from the client is a half-close: the rest still comes. */
Test(tls, half_close_gets_everything_then_close_notify)
{
	struct echod		 e;
	struct certs		 c;
	struct tls_client	 t;
	char			 buf[256];
	bool			 clean;
	size_t			 n;

	start_tls(&e, &c, NULL);
	tls_connect(&t, echod_port_of(&e, "tls:127.0.0.1:"));
	tls_send(&t, "one\ntw", 6);
	tls_expect(&t, "GOT:one\n");
	tls_send(&t, "o", 1);
	cr_assert_eq(SSL_shutdown(t.ssl), 0, "close_notify sent");
	n = tls_read_all(&t, buf, sizeof(buf), &clean);
	cr_assert_eq(n, 7);
	cr_assert_arr_eq(buf, "GOT:two", 7);
	cr_assert(clean, "no close_notify from the server");
	tls_close(&t);
	cr_assert(echod_wait_log(&e, "client closed, 7 bytes in, 15 bytes "
	    "out", WAIT_MS), "%s", e.log);
	echod_finish(&e);
	certs_free(&c);
}

/*
 * A ClientHello sent a byte every 300 ms: the handshake deadline counts
 * from the accept, so the trickle does not stretch it.
 */
Test(tls, a_trickled_handshake_is_cut_at_the_deadline)
{
	struct echod	 e;
	struct certs	 c;
	/* A TLS record header and the start of a ClientHello. */
	static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc"
			    "\x03\x03" "0123456789abcdef0123456789abcdef";
	long		 start, took;
	size_t		 i;
	int		 fd;
	char		 byte;

	make_cert(&c, NULL);
	echod_start(&e, "-l", "tls:127.0.0.1:0", "--tls-cert", c.cert,
	    "--tls-key", c.key, "--handshake-timeout", "2", NULL);
	fd = client_connect(echod_port_of(&e, "tls:127.0.0.1:"));
	start = now_ms();
	for (i = 0; i < sizeof(hello) - 1; i++) {
		if (send(fd, hello + i, 1, MSG_NOSIGNAL) != 1)
			break;
		/* Paces the client; the server's answer ends the loop. */
		if (!client_quiet_for(fd, 300))
			break;
	}
	cr_assert_lt(i, sizeof(hello) - 1, "never cut off");
	cr_assert_leq(recv(fd, &byte, 1, 0), 0, "no handshake reply");
	took = now_ms() - start;
	cr_assert(took >= 1800 && took < 4000, "cut after %ld ms", took);
	cr_assert(echod_wait_log(&e, "TLS handshake failed: timed out",
	    WAIT_MS), "%s", e.log);
	close(fd);
	echod_finish(&e);
	certs_free(&c);
}

/*
 * A client that leaves mid-line with no close_notify, by a plain TCP
 * close or a reset: echod cannot deliver the partial line's echo, and
 * frees the connection at once, not at shutdown.
 */
Test(tls, client_gone_mid_line_is_reaped_at_once)
{
	struct echod		 e;
	struct certs		 c;
	struct tls_client	 t;
	int			 i, fds;

	start_tls(&e, &c, NULL);
	fds = echod_fd_count(&e);
	for (i = 0; i < 2; i++) {
		tls_connect(&t, echod_port_of(&e, "tls:127.0.0.1:"));
		tls_send(&t, "Hello", 5);
		cr_assert(echod_wait_log(&e, "TLS handshake done", WAIT_MS),
		    "%s", e.log);
		if (i == 1)
			client_reset(t.fd);
		else
			close(t.fd);
		t.fd = -1;
		SSL_free(t.ssl);
		SSL_CTX_free(t.ctx);
	}
	while (echod_log_count(&e, "Connection closed") < 2)
		cr_assert(echod_wait_log(&e, "Connection closed", 3000), "%s",
		    e.log);
	/* Whether the partial echo left before the close is the kernel's race. */
	cr_assert_eq(echod_log_count(&e, ", 5 bytes in, "), 2, "%s", e.log);
	echod_expect_fds(&e, fds);
	echod_finish(&e);
	cr_assert_not(echod_log_has(&e, "drain timeout"), "%s", e.log);
	certs_free(&c);
}

/*
 * A client that sends without reading until echod stops reading it,
 * then SIGTERM: the drain delivers every reply over TLS, ends with
 * close_notify, and echod exits 0.
 */
Test(tls, backpressure_and_drain)
{
	struct echod		 e;
	struct certs		 c;
	struct tls_client	 t;
	static char		 line[1024], *all;
	struct pollfd		 pfd;
	size_t			 lines = 0, got, i, in, out;
	const char		*p;
	bool			 clean;
	int			 n;

	start_tls(&e, &c, NULL);
	tls_connect(&t, echod_port_of(&e, "tls:127.0.0.1:"));
	memset(line, 'q', sizeof(line));
	line[sizeof(line) - 1] = '\n';
	client_nonblock(t.fd);
	SSL_set_mode(t.ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	for (;;) {
		n = SSL_write(t.ssl, line, sizeof(line));
		if (n > 0) {
			cr_assert_eq(n, (int)sizeof(line));
			lines++;
			continue;
		}
		cr_assert_eq(SSL_get_error(t.ssl, n), SSL_ERROR_WANT_WRITE);
		pfd.fd = t.fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 300) == 0)
			break;		/* stuffed: echod stopped reading */
	}
	/*
	 * The write left pending is never finished: its record is cut, so
	 * echod has whole lines only, and echoes those it read in time.
	 */
	cr_assert(echod_wait_log(&e, "reading -> paused", WAIT_MS), "%s",
	    e.log);
	cr_assert_eq(kill(e.pid, SIGTERM), 0);
	cr_assert(echod_wait_log(&e, "shutting down", WAIT_MS));
	fcntl(t.fd, F_SETFL, fcntl(t.fd, F_GETFL) & ~O_NONBLOCK);
	cr_assert_not_null(all = malloc((lines + 2) * (sizeof(line) + 4)));
	got = tls_read_all(&t, all, (lines + 2) * (sizeof(line) + 4), &clean);
	cr_assert(clean, "no close_notify after the drain");
	cr_assert_eq(got % (sizeof(line) + 4), 0, "a reply was cut: %zu",
	    got);
	cr_assert_geq(got / (sizeof(line) + 4), 1);
	for (i = 0; i < got; i += sizeof(line) + 4) {
		cr_assert_arr_eq(all + i, "GOT:", 4);
		cr_assert_arr_eq(all + i + 4, line, sizeof(line));
	}
	free(all);
	tls_close(&t);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 0);
	/* All of them: every line echod read came back whole. */
	cr_assert_not_null(p = strstr(e.log, " bytes in, "), "%s", e.log);
	while (isdigit((unsigned char)p[-1]))
		p--;
	cr_assert_eq(sscanf(p, "%zu bytes in, %zu bytes out", &in, &out), 2);
	cr_assert_eq(in % sizeof(line), 0, "%s", e.log);
	cr_assert_eq(out, in / sizeof(line) * (sizeof(line) + 4), "%s", e.log);
	cr_assert_eq(got, out, "got %zu of %zu: %s", got, out, e.log);
	echod_free(&e);
	certs_free(&c);
}

Test(tls, failed_handshake_is_logged_counted_and_harmless)
{
	struct echod		 e;
	struct certs		 c;
	struct tls_client	 t;
	int			 plain;

	start_tls(&e, &c, NULL);
	plain = client_connect(echod_port_of(&e, "tls:127.0.0.1:"));
	client_send(plain, "Hello, not TLS\n", 15);
	client_expect_eof(plain);
	close(plain);
	cr_assert(echod_wait_log(&e, "TLS handshake failed: ", WAIT_MS),
	    "%s", e.log);
	tls_connect(&t, echod_port_of(&e, "tls:127.0.0.1:"));
	tls_send(&t, "fine\n", 5);
	tls_expect(&t, "GOT:fine\n");
	tls_close(&t);
	/* Connected and gone before a handshake: counted too. */
	close(client_connect(echod_port_of(&e, "tls:127.0.0.1:")));
	cr_assert(echod_wait_log(&e, "TLS handshake failed: client closed",
	    WAIT_MS), "%s", e.log);
	cr_assert_eq(kill(e.pid, SIGUSR1), 0);
	cr_assert(echod_wait_log(&e, "TLS handshakes failed 2,", WAIT_MS),
	    "%s", e.log);
	/* The plain listener beside it is untouched. */
	plain = client_connect(e.port);
	client_echo(plain, "plain");
	close(plain);
	echod_finish(&e);
	certs_free(&c);
}

Test(tls, bad_certificate_or_key_is_a_start_failure)
{
	struct echod	 e;
	struct certs	 c, other;
	const char	*args[] = { "-l", "tls:127.0.0.1:0", "--tls-cert", NULL,
			    "--tls-key", NULL, NULL };

	make_cert(&c, NULL);
	make_cert(&other, c.dir);
	args[3] = "/nonexistent/cert.pem";
	args[5] = c.key;
	echod_spawn(&e, args);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1);
	cr_assert(echod_log_has(&e, "cannot load TLS certificate "
	    "/nonexistent/cert.pem: "), "%s", e.log);
	echod_free(&e);

	args[3] = c.cert;
	args[5] = other.key;
	echod_spawn(&e, args);
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1);
	cr_assert(echod_log_has(&e, "cannot load TLS key "), "%s", e.log);
	cr_assert(echod_log_has(&e, "key values mismatch"), "%s", e.log);
	echod_free(&e);
	unlink(other.cert);
	unlink(other.key);
	certs_free(&c);
}

/*
 * An OpenSSL configuration that loads only the null provider leaves no
 * ciphers: echod cannot set up TLS, says OpenSSL's reason, and exits 1.
 */
/*
 * A system that allows only TLS 1.3 (OPENSSL_CONF): the handshake echod
 * makes with itself at start is of that version only, and it serves.
 */
Test(tls, a_configuration_of_tls13_only_is_served)
{
	static const char conf[] = "openssl_conf = init\n[init]\n"
	    "ssl_conf = ssl\n[ssl]\nsystem_default = sys\n[sys]\n"
	    "MinProtocol = TLSv1.3\n";
	struct echod		 e;
	struct certs		 c;
	struct tls_client	 t;
	char			 path[128];
	const char		*args[] = { "-l", "tls:127.0.0.1:0",
				    "--tls-cert", c.cert, "--tls-key", c.key,
				    NULL };
	FILE			*f;

	make_cert(&c, NULL);
	snprintf(path, sizeof(path), "%s/openssl.cnf", c.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	cr_assert_eq(fputs(conf, f) >= 0 && fclose(f) == 0, true);
	setenv("OPENSSL_CONF", path, 1);
	echod_spawn(&e, args);
	unsetenv("OPENSSL_CONF");
	cr_assert(echod_wait_log(&e, "listening on ", WAIT_MS), "%s", e.log);
	tls_connect(&t, port_after(e.log, "tls:127.0.0.1:"));
	cr_assert_str_eq(SSL_get_version(t.ssl), "TLSv1.3");
	tls_send(&t, "hi\n", 3);
	tls_expect(&t, "GOT:hi\n");
	tls_close(&t);
	echod_finish(&e);
	unlink(path);
	certs_free(&c);
}

Test(tls, openssl_that_cannot_be_set_up_is_a_start_failure)
{
	static const char conf[] = "openssl_conf = init\n[init]\n"
	    "providers = prov\n[prov]\nnull = null_sect\n[null_sect]\n"
	    "activate = 1\n";
	struct echod	 e;
	struct certs	 c;
	char		 path[128];
	const char	*args[] = { "-l", "tls:127.0.0.1:0", "--tls-cert", c.cert,
			    "--tls-key", c.key, NULL };
	FILE		*f;

	make_cert(&c, NULL);
	snprintf(path, sizeof(path), "%s/openssl.cnf", c.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	cr_assert_eq(fputs(conf, f) >= 0 && fclose(f) == 0, true);
	setenv("OPENSSL_CONF", path, 1);
	echod_spawn(&e, args);
	unsetenv("OPENSSL_CONF");
	cr_assert_eq(echod_wait_exit(&e, WAIT_MS), 1, "%s", e.log);
	cr_assert(echod_log_has(&e, "echod: cannot set up TLS: error:"),
	    "%s", e.log);
	cr_assert(echod_log_has(&e, "no ciphers\n"), "%s", e.log);
	echod_free(&e);
	unlink(path);
	certs_free(&c);
}

/* proxy:tls: the PROXY header comes in plain text, then the handshake. */
Test(tls, proxy_header_before_the_handshake)
{
	struct echod		 e;
	struct certs		 c;
	struct tls_client	 t;
	const char		*hdr = "PROXY TCP6 2001:db8::5 ::1 4433 443\r\n";

	make_cert(&c, NULL);
	echod_start(&e, "-l", "proxy:tls:127.0.0.1:0", "--tls-cert", c.cert,
	    "--tls-key", c.key, NULL);
	cr_assert_not_null(t.ctx = SSL_CTX_new(TLS_client_method()));
	t.fd = client_connect(echod_port_of(&e, "proxy:tls:127.0.0.1:"));
	client_send(t.fd, hdr, strlen(hdr));
	cr_assert_not_null(t.ssl = SSL_new(t.ctx));
	SSL_set_fd(t.ssl, t.fd);
	cr_assert_eq(SSL_connect(t.ssl), 1);
	tls_send(&t, "both\n", 5);
	tls_expect(&t, "GOT:both\n");
	cr_assert(echod_wait_log(&e, "Connection from [2001:db8::5]:4433 via "
	    "127.0.0.1:", WAIT_MS), "%s", e.log);
	tls_close(&t);
	cr_assert(echod_wait_log(&e, "Connection closed [2001:db8::5]:4433: "
	    "client closed, 5 bytes in, 9 bytes out", WAIT_MS), "%s", e.log);
	echod_finish(&e);
	certs_free(&c);
}

/* One OpenSSL context shared by every thread (CI runs this under TSan). */
Test(tls, with_threads)
{
	struct echod		 e;
	struct certs		 c;
	struct tls_client	 t[16];
	char			 line[32], want[40];
	int			 i, port;

	make_cert(&c, NULL);
	echod_start(&e, "-l", "tls:127.0.0.1:0", "--tls-cert", c.cert,
	    "--tls-key", c.key, "--threads", "2", NULL);
	port = echod_port_of(&e, "tls:127.0.0.1:");
	for (i = 0; i < 16; i++)
		tls_connect(&t[i], port);
	for (i = 0; i < 16; i++) {
		snprintf(line, sizeof(line), "client %d\n", i);
		snprintf(want, sizeof(want), "GOT:client %d\n", i);
		tls_send(&t[i], line, strlen(line));
		tls_expect(&t[i], want);
	}
	for (i = 0; i < 16; i++)
		tls_close(&t[i]);
	cr_assert_eq(echod_stop(&e), 0);
	cr_assert(echod_log_has(&e, "exiting: 16 connections served"), "%s",
	    e.log);
	echod_free(&e);
	certs_free(&c);
}

/* openssl s_client with extra arguments; returns its exit status. */
static int
s_client(int port, const char *input, const char *const *extra, char **out)
{
	char		 connect_to[64];
	const char	*argv[16] = { "openssl", "s_client", "-connect",
			    connect_to };
	size_t		 n = 4;

	snprintf(connect_to, sizeof(connect_to), "127.0.0.1:%d", port);
	while (*extra != NULL && n < 15)
		argv[n++] = *extra++;
	argv[n] = NULL;
	return run_tool(argv, input, strlen(input), out);
}

/*
 * TLS 1.2 offers only ECDHE with AEAD: a CBC suite is refused, a GCM one
 * taken; TLS 1.1 is refused; and a client cannot renegotiate.
 */
Test(tls, cbc_suites_tls11_and_renegotiation_are_refused)
{
	struct echod	 e;
	struct certs	 c;
	const char	*cbc[] = { "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA",
			    NULL };
	const char	*gcm[] = { "-tls1_2", "-cipher",
			    "ECDHE-ECDSA-AES128-GCM-SHA256", NULL };
	const char	*reneg[] = { "-tls1_2", NULL };
	const char	*tls11[] = { "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0",
			    NULL };
	char		*out;
	int		 port;

	start_tls(&e, &c, NULL);
	port = echod_port_of(&e, "tls:127.0.0.1:");
	cr_assert_neq(s_client(port, "", cbc, &out), 0, "%s", out);
	cr_assert(echod_wait_log(&e, "TLS handshake failed: error:0A0000C1:"
	    "SSL routines::no shared cipher", WAIT_MS), "%s", e.log);
	free(out);
	cr_assert_eq(s_client(port, "", gcm, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"),
	    "%s", out);
	free(out);
	/* TLS 1.2 is served, 1.1 refused even to a client that allows it. */
	cr_assert_eq(s_client(port, "", gcm, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "Protocol  : TLSv1.2"), "%s", out);
	free(out);
	cr_assert_neq(s_client(port, "", tls11, &out), 0, "%s", out);
	cr_assert(echod_wait_log(&e, "TLS handshake failed: ", WAIT_MS), "%s",
	    e.log);
	free(out);
	/* "R" asks s_client to renegotiate. */
	(void)s_client(port, "R\n", reneg, &out);
	cr_assert_not_null(strstr(out, "RENEGOTIATING"), "%s", out);
	cr_assert_not_null(strstr(out, "no renegotiation"), "%s", out);
	free(out);
	echod_finish(&e);
	certs_free(&c);
}

Test(tls, a_key_others_can_read_is_warned_about)
{
	struct echod	 e;
	struct certs	 c;
	char		 want[256];
	int		 fd;

	make_cert(&c, NULL);
	cr_assert_eq(chmod(c.key, 0644), 0);
	echod_start(&e, "-l", "tls:127.0.0.1:0", "--tls-cert", c.cert,
	    "--tls-key", c.key, NULL);
	snprintf(want, sizeof(want), "TLS key %s can be read by other users "
	    "(mode 0644)\n", c.key);
	cr_assert(echod_log_has(&e, want), "%s", e.log);
	fd = client_connect(e.port);
	client_echo(fd, "serving");
	close(fd);
	echod_finish(&e);
	cr_assert_eq(chmod(c.key, 0600), 0);
	echod_start(&e, "-l", "tls:127.0.0.1:0", "--tls-cert", c.cert,
	    "--tls-key", c.key, NULL);
	cr_assert_not(echod_log_has(&e, "can be read by other users"), "%s",
	    e.log);
	echod_finish(&e);
	certs_free(&c);
}

/* The subject of the certificate a new connection is shown. */
static void
tls_subject(struct tls_client *t, char *buf, size_t len)
{
	X509	*cert = SSL_get1_peer_certificate(t->ssl);

	cr_assert_not_null(cert);
	X509_NAME_oneline(X509_get_subject_name(cert), buf, len);
	X509_free(cert);
}

static void
make_cert_named(const char *cert, const char *key, const char *cn)
{
	char		 subj[64], *out;
	const char	*argv[] = { "openssl", "req", "-x509", "-newkey", "ec",
			    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			    "-keyout", key, "-out", cert, "-days", "2",
			    "-subj", subj, NULL };

	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	cr_assert_eq(run_tool(argv, NULL, 0, &out), 0, "openssl req: %s", out);
	free(out);
}

/*
 * SIGHUP loads the certificate and key again: new connections get the
 * new pair, an open one keeps going; a broken pair is logged and the old
 * one kept; echod never exits on SIGHUP.
 */
Test(tls, sighup_reloads_the_certificate)
{
	struct echod		 e;
	struct certs		 c;
	struct tls_client	 before, after, third;
	char			 subject[256];

	make_cert(&c, NULL);
	make_cert_named(c.cert, c.key, "first.test");
	echod_start(&e, "-l", "tls:127.0.0.1:0", "--tls-cert", c.cert,
	    "--tls-key", c.key, NULL);
	tls_connect(&before, echod_port_of(&e, "tls:127.0.0.1:"));
	tls_subject(&before, subject, sizeof(subject));
	cr_assert_str_eq(subject, "/CN=first.test");

	make_cert_named(c.cert, c.key, "second.test");
	cr_assert_eq(kill(e.pid, SIGHUP), 0);
	cr_assert(echod_wait_log(&e, "SIGHUP: reloaded TLS certificate",
	    WAIT_MS), "%s", e.log);
	tls_connect(&after, echod_port_of(&e, "tls:127.0.0.1:"));
	tls_subject(&after, subject, sizeof(subject));
	cr_assert_str_eq(subject, "/CN=second.test");
	tls_send(&before, "old\n", 4);
	tls_expect(&before, "GOT:old\n");
	tls_send(&after, "new\n", 4);
	tls_expect(&after, "GOT:new\n");

	/* A broken pair: logged, and the one in use kept. */
	cr_assert_eq(truncate(c.cert, 10), 0);
	cr_assert_eq(kill(e.pid, SIGHUP), 0);
	cr_assert(echod_wait_log(&e, "SIGHUP: keeping the TLS certificate in "
	    "use", WAIT_MS), "%s", e.log);
	cr_assert(echod_log_has(&e, "cannot load TLS certificate"), "%s",
	    e.log);
	tls_connect(&third, echod_port_of(&e, "tls:127.0.0.1:"));
	tls_subject(&third, subject, sizeof(subject));
	cr_assert_str_eq(subject, "/CN=second.test");
	tls_send(&third, "kept\n", 5);
	tls_expect(&third, "GOT:kept\n");
	tls_close(&before);
	tls_close(&after);
	tls_close(&third);
	echod_finish(&e);
	certs_free(&c);
}

Test(tls, sighup_without_tls_is_a_logged_no_op)
{
	struct echod	 e;
	int		 fd;

	echod_start(&e, NULL);
	fd = client_connect(e.port);
	cr_assert_eq(kill(e.pid, SIGHUP), 0);
	cr_assert(echod_wait_log(&e, "SIGHUP: no TLS certificate to reload",
	    WAIT_MS), "%s", e.log);
	client_echo(fd, "still here");
	close(fd);
	echod_finish(&e);
}

/*
 * A client of the given version that offers sess (if any), echoes one
 * line, and returns the session it leaves with; *reused says whether
 * the server took the one offered.
 */
static SSL_SESSION *
tls_resume(int port, int version, SSL_SESSION *sess, bool *reused)
{
	struct tls_client	 t;
	SSL_SESSION		*got;

	cr_assert_not_null(t.ctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_verify(t.ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_min_proto_version(t.ctx, version);
	SSL_CTX_set_max_proto_version(t.ctx, version);
	t.fd = client_connect(port);
	cr_assert_not_null(t.ssl = SSL_new(t.ctx));
	SSL_set_fd(t.ssl, t.fd);
	if (sess != NULL)
		cr_assert_eq(SSL_set_session(t.ssl, sess), 1);
	cr_assert_eq(SSL_connect(t.ssl), 1, "handshake: %s",
	    ERR_error_string(ERR_get_error(), NULL));
	/* TLS 1.3's tickets come after the handshake: read past them. */
	tls_send(&t, "again\n", 6);
	tls_expect(&t, "GOT:again\n");
	*reused = SSL_session_reused(t.ssl) == 1;
	got = SSL_get1_session(t.ssl);
	SSL_shutdown(t.ssl);
	tls_close(&t);
	return got;
}

/* Resumption with a ticket, in both versions; none with lifetime 0. */
Test(tls, a_ticket_resumes_the_session_unless_tickets_are_off)
{
	static const int	 versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	struct echod		 e;
	struct certs		 c;
	SSL_SESSION		*s, *again;
	bool			 reused;
	size_t			 i;
	int			 port;

	start_tls(&e, &c, NULL);
	port = echod_port_of(&e, "tls:127.0.0.1:");
	for (i = 0; i < 2; i++) {
		s = tls_resume(port, versions[i], NULL, &reused);
		cr_assert_not(reused);
		cr_assert(SSL_SESSION_has_ticket(s));
		cr_assert_eq(SSL_SESSION_get_ticket_lifetime_hint(s), 3600);
		again = tls_resume(port, versions[i], s, &reused);
		cr_assert(reused, "version %x not resumed", versions[i]);
		SSL_SESSION_free(again);
		SSL_SESSION_free(s);
	}
	echod_finish(&e);
	echod_start(&e, "-l", "tls:127.0.0.1:0", "--tls-cert", c.cert,
	    "--tls-key", c.key, "--tls-ticket-lifetime", "0", NULL);
	port = echod_port_of(&e, "tls:127.0.0.1:");
	for (i = 0; i < 2; i++) {
		s = tls_resume(port, versions[i], NULL, &reused);
		cr_assert_not(SSL_SESSION_has_ticket(s));
		again = tls_resume(port, versions[i], s, &reused);
		cr_assert_not(reused, "version %x resumed", versions[i]);
		SSL_SESSION_free(again);
		SSL_SESSION_free(s);
	}
	echod_finish(&e);
	certs_free(&c);
}

/*
 * With a lifetime of 2 s, a TLS 1.2 ticket made halfway between two
 * rotations still resumes after the next one (the key before still
 * opens it), and no longer after the one after that (its key is gone).
 */
/* A ticket's key name: OpenSSL's format begins with it. */
static void
ticket_key_name(SSL_SESSION *s, unsigned char name[16])
{
	const unsigned char	*tick;
	size_t			 len;

	SSL_SESSION_get0_ticket(s, &tick, &len);
	cr_assert_geq(len, 16);
	memcpy(name, tick, 16);
}

Test(tls, ticket_keys_rotate_and_old_tickets_are_refused)
{
	const char	*rotated = "echod: TLS session ticket key rotated\n";
	struct echod	 e;
	struct certs	 c;
	SSL_SESSION	*s, *again;
	unsigned char	 first[16], next[16];
	bool		 reused;
	int		 port;

	start_tls(&e, &c, "--tls-ticket-lifetime=2");
	port = echod_port_of(&e, "tls:127.0.0.1:");
	/* Each wait finds the next such line: one rotation after another. */
	cr_assert(echod_wait_log(&e, rotated, 4000), "%s", e.log);
	/* Pacing, not a synchronisation: halfway to the next rotation. */
	(void)poll(NULL, 0, 1000);
	s = tls_resume(port, TLS1_2_VERSION, NULL, &reused);
	cr_assert_eq(SSL_SESSION_get_ticket_lifetime_hint(s), 2);
	ticket_key_name(s, first);
	again = tls_resume(port, TLS1_2_VERSION, s, &reused);
	cr_assert(reused, "not resumed at once: %s", e.log);
	SSL_SESSION_free(again);
	cr_assert(echod_wait_log(&e, rotated, 4000), "%s", e.log);
	again = tls_resume(port, TLS1_2_VERSION, s, &reused);
	cr_assert(reused, "not resumed with the key before: %s", e.log);
	/* Renewed, with the new key. */
	ticket_key_name(again, next);
	cr_assert(memcmp(first, next, 16) != 0, "the key has not changed");
	SSL_SESSION_free(again);
	cr_assert(echod_wait_log(&e, rotated, 4000), "%s", e.log);
	again = tls_resume(port, TLS1_2_VERSION, s, &reused);
	cr_assert_not(reused, "resumed two rotations later: %s", e.log);
	SSL_SESSION_free(again);
	SSL_SESSION_free(s);
	echod_finish(&e);
	certs_free(&c);
}

static void
wait_until_ms(long when)
{
	long	 now;

	while ((now = now_ms()) < when)
		(void)poll(NULL, 0, (int)(when - now));
}

/*
 * A ticket resumes within its lifetime and is refused once it is over,
 * to the millisecond (before: OpenSSL alone counts a TLS 1.2 session's
 * age in whole seconds, and took a ticket made early in a second up to a
 * second past its lifetime).  Each is made right after a key rotation,
 * so its key still opens it when it is refused: the lifetime refuses it.
 */
Test(tls, a_ticket_is_refused_once_its_lifetime_is_over)
{
	static const int	 versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	const char		*rotated = "echod: TLS session ticket key "
				    "rotated\n";
	struct echod		 e;
	struct certs		 c;
	struct timespec		 wall;
	SSL_SESSION		*s, *again;
	long			 made, done;
	bool			 reused;
	size_t			 i;
	int			 port;

	start_tls(&e, &c, "--tls-ticket-lifetime=2");
	port = echod_port_of(&e, "tls:127.0.0.1:");
	for (i = 0; i < 2; i++) {
		cr_assert(echod_wait_log(&e, rotated, 4000), "%s", e.log);
		/* Pacing: early in a wall-clock second, where OpenSSL's
		 * whole seconds overran the most. */
		while (clock_gettime(CLOCK_REALTIME, &wall) == 0 &&
		    wall.tv_nsec > 200000000)
			(void)poll(NULL, 0, 10);
		made = now_ms();
		s = tls_resume(port, versions[i], NULL, &reused);
		done = now_ms();
		cr_assert(SSL_SESSION_has_ticket(s));
		wait_until_ms(made + 1000);
		again = tls_resume(port, versions[i], s, &reused);
		cr_assert(reused, "version %x not resumed within its lifetime",
		    versions[i]);
		SSL_SESSION_free(again);
		wait_until_ms(done + 2300);
		again = tls_resume(port, versions[i], s, &reused);
		cr_assert_not(reused, "version %x resumed %lld ms after its "
		    "ticket was made, with a lifetime of 2 s", versions[i],
		    (long long)(now_ms() - made));
		SSL_SESSION_free(again);
		SSL_SESSION_free(s);
	}
	echod_finish(&e);
	certs_free(&c);
}

/*
 * TLS handshakes under way have a quarter of --memory-limit beside it,
 * 44 KB each: of 120 clients that each send a ClientHello and no more,
 * under 4M, the oldest are shed down to what that holds, a plain client
 * sitting on a partial line is not, and a newcomer is served (before:
 * all 120 were kept, and 5,000 such took echod from 9 to 226 MB of
 * memory under 8M; counted in the limit itself, they had the plain
 * client shed for them).
 */
Test(tls, handshakes_have_a_share_beside_the_memory_limit_oldest_shed)
{
	enum { N = 120, FIT = (4 << 20) / 4 / (44 * 1024) };
	struct echod		 e;
	struct certs		 c;
	struct tls_client	 t;
	struct pollfd		 pfd;
	SSL_CTX			*ctx;
	SSL			*ssl;
	BIO			*out;
	int			 fd[N], i, open = 0, hello, sitter;
	static char		 line[60001];
	char			 buf[4096];
	ssize_t			 n;
	bool			 gone[N];

	make_cert(&c, NULL);
	echod_start(&e, "-l", "tls:127.0.0.1:0", "--tls-cert", c.cert,
	    "--tls-key", c.key, "-v", "--memory-limit", "4M", NULL);
	/* Under the limit, standing still: shed first, were they in it. */
	memset(line, 'x', sizeof(line) - 1);
	sitter = client_connect(e.port);
	client_send(sitter, line, sizeof(line) - 1);
	cr_assert(echod_wait_log(&e, "Connection from", WAIT_MS));
	/* One ClientHello, sent on each: the client goes no further. */
	cr_assert_not_null(ctx = SSL_CTX_new(TLS_client_method()));
	cr_assert_not_null(ssl = SSL_new(ctx));
	cr_assert_not_null(out = BIO_new(BIO_s_mem()));
	SSL_set_bio(ssl, BIO_new(BIO_s_mem()), out);
	cr_assert_eq(SSL_get_error(ssl, SSL_connect(ssl)), SSL_ERROR_WANT_READ);
	cr_assert_gt(hello = BIO_read(out, buf, sizeof(buf)), 0);
	for (i = 0; i < N; i++) {
		fd[i] = client_connect(echod_port_of(&e, "tls:127.0.0.1:"));
		cr_assert_eq(send(fd[i], buf, hello, 0), hello);
		/* Its ServerHello: echod has taken it, and shed for it. */
		pfd = (struct pollfd){ .fd = fd[i], .events = POLLIN };
		cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "no ServerHello");
	}
	for (i = 0; i < N; i++) {
		while ((n = recv(fd[i], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			;
		gone[i] = n == 0 || errno != EAGAIN;
		open += !gone[i];
	}
	cr_assert_leq(open, FIT, "%d of %d handshakes kept: %s", open, N,
	    e.log);
	cr_assert_geq(open, FIT / 2, "%d of %d handshakes kept", open, N);
	cr_assert(gone[0], "the oldest was kept");
	cr_assert_not(gone[N - 1], "the newest was shed");
	cr_assert_geq(echod_log_count(&e, "shed over --memory-limit, in its "
	    "TLS handshake"), (size_t)(N - open));
	cr_assert_eq(echod_log_count(&e, "holding"), 0, "%s", e.log);
	client_send(sitter, "\n", 1);
	client_expect_str(sitter, "GOT:x");
	close(sitter);
	tls_connect(&t, echod_port_of(&e, "tls:127.0.0.1:"));
	tls_send(&t, "newcomer\n", 9);
	tls_expect(&t, "GOT:newcomer\n");
	tls_close(&t);
	for (i = 0; i < N; i++)
		close(fd[i]);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	echod_finish(&e);
	certs_free(&c);
}
