/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "options.h"
#include "usage.h"
#include "util.h"

enum {
	OPT_READ_SIZE = 256,
	OPT_MAX_LINE,
	OPT_OUTPUT_LIMIT,
	OPT_DRAIN_TIMEOUT,
	OPT_MAX_PER_IP,
	OPT_THREADS,
	OPT_UNIX_MODE,
	OPT_METRICS,
	OPT_PROXY_PROTOCOL,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_TICKET_LIFETIME,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_IPV6_PREFIX,
	OPT_PROXY_FROM,
	OPT_MEMORY_LIMIT,
	OPT_REUSE_PORT,
	OPT_METRICS_MAX_CONNECTIONS,
	OPT_UDP_SOURCE_RATE,
	OPT_UDP_SOURCE_BYTES,
	OPT_UDP_TOTAL_RATE,
	OPT_UDP_TOTAL_BYTES,
	OPT_UDP_REPEATS
};

static const char short_options[] = ":l:p:P:f:c:t:u:UqvhV";

static const struct option long_options[] = {
	{ "listen",		required_argument,	NULL, 'l' },
	{ "port",		required_argument,	NULL, 'p' },
	{ "prefix",		required_argument,	NULL, 'P' },
	{ "framing",		required_argument,	NULL, 'f' },
	{ "read-size",		required_argument,	NULL, OPT_READ_SIZE },
	{ "max-line",		required_argument,	NULL, OPT_MAX_LINE },
	{ "output-limit",	required_argument,	NULL, OPT_OUTPUT_LIMIT },
	{ "memory-limit",	required_argument,	NULL, OPT_MEMORY_LIMIT },
	{ "max-connections",	required_argument,	NULL, 'c' },
	{ "max-per-ip",		required_argument,	NULL, OPT_MAX_PER_IP },
	{ "ipv6-prefix",	required_argument,	NULL, OPT_IPV6_PREFIX },
	{ "idle-timeout",	required_argument,	NULL, 't' },
	{ "drain-timeout",	required_argument,	NULL, OPT_DRAIN_TIMEOUT },
	{ "handshake-timeout",	required_argument,	NULL, OPT_HANDSHAKE_TIMEOUT },
	{ "threads",		required_argument,	NULL, OPT_THREADS },
	{ "unix-mode",		required_argument,	NULL, OPT_UNIX_MODE },
	{ "metrics",		required_argument,	NULL, OPT_METRICS },
	{ "metrics-max-connections", required_argument, NULL,
	    OPT_METRICS_MAX_CONNECTIONS },
	{ "proxy-protocol",	required_argument,	NULL, OPT_PROXY_PROTOCOL },
	{ "proxy-from",		required_argument,	NULL, OPT_PROXY_FROM },
	{ "tls-cert",		required_argument,	NULL, OPT_TLS_CERT },
	{ "tls-key",		required_argument,	NULL, OPT_TLS_KEY },
	{ "tls-ticket-lifetime", required_argument,	NULL,
	    OPT_TLS_TICKET_LIFETIME },
	{ "user",		required_argument,	NULL, 'u' },
	{ "udp",		no_argument,		NULL, 'U' },
	{ "reuse-port",		no_argument,		NULL, OPT_REUSE_PORT },
	{ "udp-source-rate",	required_argument,	NULL, OPT_UDP_SOURCE_RATE },
	{ "udp-source-bytes",	required_argument,	NULL, OPT_UDP_SOURCE_BYTES },
	{ "udp-total-rate",	required_argument,	NULL, OPT_UDP_TOTAL_RATE },
	{ "udp-total-bytes",	required_argument,	NULL, OPT_UDP_TOTAL_BYTES },
	{ "udp-repeats",	required_argument,	NULL, OPT_UDP_REPEATS },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 }
};

static void
usage(FILE *out)
{
	fprintf(out,
"usage: echod [options]\n"
"Echo every line (or chunk) a client sends back to it, with a prefix, over\n"
"TCP, TLS, Unix sockets or UDP.\n"
"\n"
"  -l, --listen ADDR         listen on ADDR: PORT, HOST:PORT, [V6ADDR]:PORT,\n"
"                            HOST or unix:PATH, each optionally after tls:\n"
"                            or proxy: (a PROXY header first), or both;\n"
"                            repeatable; replaces the default of every IPv4\n"
"                            and IPv6 address\n"
"      --proxy-protocol ADDR listen on ADDR as -l does, reading a PROXY\n"
"                            header (v1 or v2) from each client first\n"
"      --proxy-from CIDR     only peers in CIDR may send PROXY headers;\n"
"                            repeatable (default: any peer)\n"
"  -p, --port PORT           port of the default addresses and of a --listen\n"
"                            without one; 0 = any free port (default %d)\n"
"  -P, --prefix STR          prefix of every echoed line or chunk; '' echoes\n"
"                            bytes as they arrive, RFC 862 (default \"%s\")\n"
"  -f, --framing MODE        line: echo each LF-terminated line;\n"
"                            chunk: echo each read (default line)\n"
"      --read-size N         largest read echoed as one chunk (default %d)\n"
"      --max-line N          lines longer than N bytes are echoed in pieces\n"
"                            of N (default %d)\n"
"      --output-limit BYTES  stop reading a client while this much output\n"
"                            waits for it (default %d)\n"
"      --memory-limit BYTES  bytes all connections may hold in buffers;\n"
"                            past it, the costliest to keep are closed;\n"
"                            0 = no limit (default %luM)\n"
"  -c, --max-connections N   stop accepting at N open connections\n"
"                            (default: open-file limit less a reserve)\n"
"      --max-per-ip N        close at once a client address's connection\n"
"                            beyond N open ones (default 0 = no limit)\n"
"      --ipv6-prefix LEN     for --max-per-ip, IPv6 clients in one /LEN\n"
"                            count as one address (default %d)\n"
"  -t, --idle-timeout SECS   close connections idle this long; 0 = never\n"
"                            (default 0)\n"
"      --drain-timeout SECS  on SIGINT/SIGTERM, wait at most this long for\n"
"                            output to drain (default %d)\n"
"      --handshake-timeout SECS  from accept, how long a client has to send\n"
"                            its PROXY header and finish its TLS handshake\n"
"                            (default %d)\n"
"      --threads N|auto      event loops, one per thread, each with its\n"
"                            own listener on every address; auto = one\n"
"                            per CPU (default 1)\n"
"      --unix-mode MODE      permissions of unix: sockets, in octal\n"
"                            (default %04o)\n"
"  -U, --udp                 also echo UDP datagrams on every plain TCP\n"
"                            address, RFC 862 (default: TCP only)\n"
"      --udp-source-rate N   UDP datagrams answered per second to one\n"
"                            address (IPv6: one /64); 0 = no limit\n"
"                            (default %d)\n"
"      --udp-source-bytes BYTES  UDP reply bytes per second to one\n"
"                            address (default %luK)\n"
"      --udp-total-rate N    UDP datagrams answered per second in all\n"
"                            (default %d)\n"
"      --udp-total-bytes BYTES  UDP reply bytes per second in all\n"
"                            (default %luM)\n"
"      --udp-repeats N       with an empty prefix, how often a client's\n"
"                            port may send back the reply it just got\n"
"                            before one goes unanswered, which ends an\n"
"                            echo loop (default %d)\n"
"      --reuse-port          let a new echod bind these addresses too, for a\n"
"                            restart that refuses no connection\n"
"  -u, --user NAME           after binding, switch to this user (when\n"
"                            started as root; default: stay as started)\n"
"      --metrics ADDR        serve Prometheus metrics at http://ADDR/metrics;\n"
"                            ADDR as for --listen, TCP only (default: off)\n"
"      --metrics-max-connections N  metrics clients at once (default %d)\n"
"      --tls-cert FILE       certificate chain (PEM) for tls: listeners\n"
"      --tls-key FILE        its private key (PEM); both needed for tls:\n"
"      --tls-ticket-lifetime SECS  TLS session tickets last this long; a new\n"
"                            ticket key every SECS; 0 = no tickets\n"
"                            (default %d)\n"
"  -q, --quiet               no per-connection log lines\n"
"  -v, --verbose             more detail in the log\n"
"  -h, --help                show this help and exit\n"
"  -V, --version             show the version and exit\n"
"\n"
"Sizes take a K, M or G suffix (powers of 1024).  See echod(1).\n",
	    DEFAULT_PORT, DEFAULT_PREFIX, DEFAULT_READ_SIZE, DEFAULT_MAX_LINE,
	    DEFAULT_OUTPUT_LIMIT, DEFAULT_MEMORY_LIMIT >> 20,
	    DEFAULT_IPV6_PREFIX, DEFAULT_DRAIN_TIMEOUT,
	    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_UNIX_MODE,
	    DEFAULT_UDP_SOURCE_RATE, DEFAULT_UDP_SOURCE_BYTES >> 10,
	    DEFAULT_UDP_TOTAL_RATE, DEFAULT_UDP_TOTAL_BYTES >> 20,
	    UDP_RETURNS_CLIENT,
	    DEFAULT_METRICS_MAX_CONNECTIONS, DEFAULT_TLS_TICKET_LIFETIME);
}

static void
options_defaults(struct options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->port = DEFAULT_PORT;
	opts->framing = FRAMING_LINE;
	opts->read_size = DEFAULT_READ_SIZE;
	opts->max_line = DEFAULT_MAX_LINE;
	opts->output_limit = DEFAULT_OUTPUT_LIMIT;
	opts->drain_timeout = DEFAULT_DRAIN_TIMEOUT;
	opts->handshake_timeout = DEFAULT_HANDSHAKE_TIMEOUT;
	opts->tls_ticket_lifetime = DEFAULT_TLS_TICKET_LIFETIME;
	opts->ipv6_prefix = DEFAULT_IPV6_PREFIX;
	opts->memory_limit = DEFAULT_MEMORY_LIMIT;
	opts->metrics_max_connections = DEFAULT_METRICS_MAX_CONNECTIONS;
	opts->log_level = LOG_LEVEL_INFO;
	opts->threads = 1;
	opts->unix_mode = DEFAULT_UNIX_MODE;
	opts->udp_limits.source_dgrams = DEFAULT_UDP_SOURCE_RATE;
	opts->udp_limits.source_bytes = DEFAULT_UDP_SOURCE_BYTES;
	opts->udp_limits.total_dgrams = DEFAULT_UDP_TOTAL_RATE;
	opts->udp_limits.total_bytes = DEFAULT_UDP_TOTAL_BYTES;
	opts->udp_repeats = UDP_RETURNS_CLIENT;
}

/* An octal file mode such as 660 or 0660, nothing else. */
static int
option_mode(struct options *opts, FILE *err, const char *text)
{
	unsigned int	 mode = 0;
	const char	*p;

	for (p = text; *p >= '0' && *p <= '7' && mode <= 07777; p++)
		mode = mode * 8 + (*p - '0');
	if (p == text || *p != '\0' || mode > 0777)
		return usage_error(err, "invalid --unix-mode '%s': must be an "
		    "octal mode from 0 to 0777", text);
	opts->unix_mode = mode;
	return 0;
}

static int
option_set_prefix(struct options *opts, FILE *err, const char *text)
{
	size_t	 len = strlen(text);

	if (len > MAX_PREFIX_LEN)
		return usage_error(err, "invalid --prefix: %zu bytes long, "
		    "at most %d allowed", len, MAX_PREFIX_LEN);
	free(opts->prefix);
	opts->prefix = xstrdup(text, "the prefix");
	opts->prefix_len = len;
	return 0;
}

static int
option_string(char **field, const char *arg)
{
	free(*field);
	*field = xstrdup(arg, "an option");
	return 0;
}

/* HTTP on a TCP address: the forms of --listen without the prefixes. */
static int
option_metrics(struct options *opts, FILE *err, const char *text)
{
	char	 why[512];

	if (strncmp(text, "unix:", 5) == 0 || strncmp(text, "tls:", 4) == 0 ||
	    strncmp(text, "proxy:", 6) == 0)
		return usage_error(err, "invalid --metrics '%s': a TCP "
		    "address is needed", text);
	addr_list_free(&opts->metrics);
	if (addr_parse_listen(&opts->metrics, text, opts->port, why,
	    sizeof(why)) == -1)
		return usage_error(err, "invalid --metrics '%s': %s", text,
		    why);
	return 0;
}

static int
option_proxy_from(struct options *opts, FILE *err, const char *text)
{
	struct cidr	 block;
	const char	*why;

	if (cidr_parse(text, &block, &why) == -1)
		return usage_error(err, "invalid --proxy-from '%s': %s", text,
		    why);
	if (cidr_list_add(&opts->proxy_from, &block) == -1)
		fatalx("out of memory: --proxy-from");
	return 0;
}

/* One option; -l is only collected, since -p may come after it. */
static int
option_apply(struct options *opts, FILE *err, int ch, const char *arg)
{
	uint64_t	 n;

	switch (ch) {
	case 'p':
		if (usage_number(err, "--port", arg, 0, 65535, false,
		    &n) == -1)
			return -1;
		opts->port = (uint16_t)n;
		return 0;
	case 'P':
		return option_set_prefix(opts, err, arg);
	case 'f':
		if (strcmp(arg, "line") == 0)
			opts->framing = FRAMING_LINE;
		else if (strcmp(arg, "chunk") == 0)
			opts->framing = FRAMING_CHUNK;
		else
			return usage_error(err, "invalid --framing '%s': "
			    "must be line or chunk", arg);
		return 0;
	case OPT_READ_SIZE:
		if (usage_number(err, "--read-size", arg, 1, MAX_READ_SIZE,
		    true, &n) == -1)
			return -1;
		opts->read_size = n;
		return 0;
	case OPT_MAX_LINE:
		if (usage_number(err, "--max-line", arg, 1, MAX_LINE_LIMIT,
		    true, &n) == -1)
			return -1;
		opts->max_line = n;
		return 0;
	case OPT_OUTPUT_LIMIT:
		if (usage_number(err, "--output-limit", arg, 1,
		    MAX_OUTPUT_LIMIT, true, &n) == -1)
			return -1;
		opts->output_limit = n;
		return 0;
	case 'c':
		if (usage_number(err, "--max-connections", arg, 1,
		    MAX_CONNECTIONS_LIMIT, false, &n) == -1)
			return -1;
		opts->max_connections = n;
		return 0;
	case OPT_MAX_PER_IP:
		if (usage_number(err, "--max-per-ip", arg, 0,
		    MAX_CONNECTIONS_LIMIT, false, &n) == -1)
			return -1;
		opts->max_per_ip = n;
		return 0;
	case 't':
		if (usage_number(err, "--idle-timeout", arg, 0, MAX_TIMEOUT,
		    false, &n) == -1)
			return -1;
		opts->idle_timeout = n;
		return 0;
	case OPT_DRAIN_TIMEOUT:
		if (usage_number(err, "--drain-timeout", arg, 0, MAX_TIMEOUT,
		    false, &n) == -1)
			return -1;
		opts->drain_timeout = n;
		return 0;
	case OPT_METRICS_MAX_CONNECTIONS:
		if (usage_number(err, "--metrics-max-connections", arg, 1,
		    MAX_METRICS_CONNECTIONS, false, &n) == -1)
			return -1;
		opts->metrics_max_connections = n;
		return 0;
	case OPT_REUSE_PORT:
		opts->reuse_port = true;
		return 0;
	case OPT_MEMORY_LIMIT:
		if (usage_number(err, "--memory-limit", arg, 0,
		    MAX_MEMORY_LIMIT, true, &n) == -1)
			return -1;
		opts->memory_limit = n;
		return 0;
	case OPT_PROXY_FROM:
		return option_proxy_from(opts, err, arg);
	case OPT_IPV6_PREFIX:
		if (usage_number(err, "--ipv6-prefix", arg, 1, 128, false,
		    &n) == -1)
			return -1;
		opts->ipv6_prefix = n;
		return 0;
	case OPT_HANDSHAKE_TIMEOUT:
		if (usage_number(err, "--handshake-timeout", arg, 1,
		    MAX_TIMEOUT, false, &n) == -1)
			return -1;
		opts->handshake_timeout = n;
		return 0;
	case OPT_TLS_TICKET_LIFETIME:
		if (usage_number(err, "--tls-ticket-lifetime", arg, 0,
		    MAX_TLS_TICKET_LIFETIME, false, &n) == -1)
			return -1;
		opts->tls_ticket_lifetime = n;
		return 0;
	case OPT_THREADS:
		if (strcmp(arg, "auto") == 0) {
			long cpus = sysconf(_SC_NPROCESSORS_ONLN);

			opts->threads = cpus < 1 ? 1 : cpus > MAX_THREADS ?
			    MAX_THREADS : cpus;
			return 0;
		}
		if (usage_number(err, "--threads", arg, 1, MAX_THREADS,
		    false, &n) == -1)
			return -1;
		opts->threads = n;
		return 0;
	case OPT_UNIX_MODE:
		return option_mode(opts, err, arg);
	case OPT_METRICS:
		return option_metrics(opts, err, arg);
	case OPT_TLS_CERT:
		return option_string(&opts->tls_cert, arg);
	case OPT_TLS_KEY:
		return option_string(&opts->tls_key, arg);
	case 'u':
		return option_string(&opts->user, arg);
	case 'U':
		opts->udp = true;
		return 0;
	case OPT_UDP_SOURCE_RATE:
		return usage_number(err, "--udp-source-rate", arg, 0,
		    MAX_UDP_RATE, false, &opts->udp_limits.source_dgrams);
	case OPT_UDP_SOURCE_BYTES:
		return usage_number(err, "--udp-source-bytes", arg, 0,
		    MAX_UDP_BYTES, true, &opts->udp_limits.source_bytes);
	case OPT_UDP_TOTAL_RATE:
		return usage_number(err, "--udp-total-rate", arg, 0,
		    MAX_UDP_RATE, false, &opts->udp_limits.total_dgrams);
	case OPT_UDP_TOTAL_BYTES:
		return usage_number(err, "--udp-total-bytes", arg, 0,
		    MAX_UDP_BYTES, true, &opts->udp_limits.total_bytes);
	case OPT_UDP_REPEATS:
		if (usage_number(err, "--udp-repeats", arg, 0,
		    UDP_RETURNS_CLIENT_MAX, false, &n) == -1)
			return -1;
		opts->udp_repeats = (unsigned int)n;
		return 0;
	case 'q':
		opts->log_level = LOG_LEVEL_QUIET;
		return 0;
	case 'v':
		opts->log_level = LOG_LEVEL_DEBUG;
		return 0;
	}
	return usage_error(err, "unhandled option %d", ch);
}

static int
options_resolve_listen(struct options *opts, FILE *err, char **specs,
    const bool *proxy, size_t nspecs)
{
	char	 why[512];
	size_t	 i, first;

	if (nspecs == 0) {
		if (addr_add_wildcard(&opts->listen, opts->port) == -1)
			fatal("addr_add_wildcard");
		opts->listen_default = true;
		return 0;
	}
	for (i = 0; i < nspecs; i++) {
		first = opts->listen.count;
		if (addr_parse_listen(&opts->listen, specs[i], opts->port,
		    why, sizeof(why)) == -1)
			return usage_error(err, "invalid %s '%s': %s",
			    proxy[i] ? "--proxy-protocol" : "--listen",
			    specs[i], why);
		for (; proxy[i] && first < opts->listen.count; first++)
			opts->listen.addrs[first].proxy = true;
	}
	return 0;
}

/* A tls: listener needs a certificate and its key; each needs the other. */
static int
options_check_tls(struct options *opts, FILE *err)
{
	size_t	 i;

	if ((opts->tls_cert == NULL) != (opts->tls_key == NULL))
		return usage_error(err, "%s given without %s",
		    opts->tls_cert ? "--tls-cert" : "--tls-key",
		    opts->tls_cert ? "--tls-key" : "--tls-cert");
	for (i = 0; i < opts->listen.count; i++)
		if (opts->listen.addrs[i].tls && opts->tls_cert == NULL)
			return usage_error(err, "a tls: listener needs "
			    "--tls-cert and --tls-key");
	return 0;
}

enum options_result
options_parse(struct options *opts, int argc, char **argv, FILE *out,
    FILE *err)
{
	char		**specs;
	bool		 *proxy;
	size_t		  nspecs = 0;
	int		  ch, rc = 0;

	options_defaults(opts);
	if (option_set_prefix(opts, err, DEFAULT_PREFIX) == -1)
		return OPTIONS_EXIT_USAGE;
	specs = xcalloc(argc + 1, sizeof(*specs), "the command line");
	proxy = xcalloc(argc + 1, sizeof(*proxy), "the command line");

	opterr = 0;
	optind = 0;	/* GNU: restart scanning, so tests can parse twice */
	while (rc == 0 &&
	    (ch = getopt_long(argc, argv, short_options, long_options,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(out);
			free(specs);
			free(proxy);
			return OPTIONS_EXIT_OK;
		case 'V':
			fprintf(out, "echod %s (libevent %s)\n",
			    PACKAGE_VERSION, event_get_version());
			free(specs);
			free(proxy);
			return OPTIONS_EXIT_OK;
		case 'l':
		case OPT_PROXY_PROTOCOL:
			proxy[nspecs] = ch == OPT_PROXY_PROTOCOL;
			specs[nspecs++] = optarg;
			break;
		case '?':
		case ':':
			rc = usage_bad_option(err, argv, ch);
			break;
		default:
			rc = option_apply(opts, err, ch, optarg);
			break;
		}
	}
	if (rc == 0 && optind < argc)
		rc = usage_error(err, "unexpected argument '%s'", argv[optind]);
	if (rc == 0)
		rc = options_resolve_listen(opts, err, specs, proxy, nspecs);
	if (rc == 0)
		rc = options_check_tls(opts, err);
	free(specs);
	free(proxy);
	return rc == 0 ? OPTIONS_RUN : OPTIONS_EXIT_USAGE;
}

void
options_free(struct options *opts)
{
	addr_list_free(&opts->listen);
	addr_list_free(&opts->metrics);
	cidr_list_free(&opts->proxy_from);
	free(opts->prefix);
	opts->prefix = NULL;
	free(opts->user);
	opts->user = NULL;
	free(opts->tls_cert);
	opts->tls_cert = NULL;
	free(opts->tls_key);
	opts->tls_key = NULL;
}
