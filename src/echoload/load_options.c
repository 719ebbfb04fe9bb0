/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* echoload's command line. */
#include "config.h"

#include <sys/un.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "load.h"
#include "load_parse.h"
#include "usage.h"
#include "util.h"

#define DEFAULT_CONNS		10
#define DEFAULT_DURATION_S	10
#define DEFAULT_TIMEOUT_S	5
#define DEFAULT_UDP_TIMEOUT_S	1	/* a datagram is lost, not slow */
#define DEFAULT_MAX_LOSS	1.0	/* percent */
#define DEFAULT_LENGTH		64
#define MAX_CONNS		1000000
#define MAX_THREADS		256
#define MAX_PIPELINE		65536

enum {
	OPT_TIMEOUT = 256, OPT_PROXY, OPT_CA, OPT_INSECURE, OPT_JSON,
	OPT_ALLOW_LOSS, OPT_MAX_LOSS, OPT_SERVER_PID, OPT_LATENCY,
	OPT_TIMELINE, OPT_HDR_LOG, OPT_RECONNECT, OPT_CONNECT_RATE, OPT_SOURCE
};

static const struct option long_options[] = {
	{ "connections",	required_argument,	NULL, 'c' },
	{ "threads",		required_argument,	NULL, 'T' },
	{ "duration",		required_argument,	NULL, 'd' },
	{ "requests",		required_argument,	NULL, 'n' },
	{ "mode",		required_argument,	NULL, 'm' },
	{ "pipeline",		required_argument,	NULL, 'D' },
	{ "size",		required_argument,	NULL, 's' },
	{ "length",		required_argument,	NULL, 's' },
	{ "prefix",		required_argument,	NULL, 'P' },
	{ "framing",		required_argument,	NULL, 'f' },
	{ "rate",		required_argument,	NULL, 'r' },
	{ "warmup",		required_argument,	NULL, 'w' },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "proxy",		required_argument,	NULL, OPT_PROXY },
	{ "ca",			required_argument,	NULL, OPT_CA },
	{ "insecure",		no_argument,		NULL, OPT_INSECURE },
	{ "json",		no_argument,		NULL, OPT_JSON },
	{ "latency",		no_argument,		NULL, OPT_LATENCY },
	{ "interval",		required_argument,	NULL, 'i' },
	{ "timeline",		required_argument,	NULL, OPT_TIMELINE },
	{ "reconnect",		no_argument,		NULL, OPT_RECONNECT },
	{ "connect-rate",	required_argument,	NULL, OPT_CONNECT_RATE },
	{ "source",		required_argument,	NULL, OPT_SOURCE },
	{ "hdr-log",		required_argument,	NULL, OPT_HDR_LOG },
	{ "allow-loss",		no_argument,		NULL, OPT_ALLOW_LOSS },
	{ "max-loss",		required_argument,	NULL, OPT_MAX_LOSS },
	{ "server-pid",		required_argument,	NULL, OPT_SERVER_PID },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 }
};

static void
usage(FILE *out)
{
	fprintf(out,
"usage: echoload [options] TARGET\n"
"\n"
"Drives an echo server and checks every byte of every reply.\n"
"TARGET: HOST:PORT, PORT (on localhost), tls:HOST:PORT, udp:HOST:PORT or\n"
"unix:PATH; HOST may be [IPV6ADDR].  PORT defaults to 25000.\n"
"\n"
"  -c, --connections N     connections (sockets for udp:) (default %d)\n"
"  -T, --threads N         threads (default: CPUs, at most N connections)\n"
"  -d, --duration TIME     how long to send (default %ds); TIME is a number\n"
"                          with ms, s, m or h (plain: seconds)\n"
"  -n, --requests N        send N requests in all instead of for a time\n"
"  -m, --mode MODE         pingpong, stream, churn or idle (default pingpong)\n"
"  -D, --pipeline N        requests in flight per connection, the depth\n"
"                          (default 1)\n"
"  -s, --size BYTES[-MAX]  bytes per request, LF included, %d-%d\n"
"                          (default %d; k: 1024; --length is the same);\n"
"                          MIN-MAX: each drawn from the range\n"
"  -P, --prefix TEXT       what the server puts before each reply\n"
"                          (default \"GOT:\"; '' for RFC 862 servers)\n"
"  -f, --framing KIND      line: the prefix before each request's echo;\n"
"                          chunk: before whatever the server read\n"
"                          (default line)\n"
"  -r, --rate N[:M]        N requests/s in all, open loop, latency from\n"
"                          when each was due (default: closed loop);\n"
"                          N:M goes from N to M over -d\n"
"      --connect-rate N    open at most N connections a second\n"
"      --source LIST       local addresses, in turn for each connection:\n"
"                          ADDR[,ADDR...], IPv4 ranges as A-B\n"
"Counts and rates take k (1000) and M (1000000): -r 10k.\n"
"  -w, --warmup TIME       run this long first, not measured (default 0)\n"
"  -i, --interval TIME     a record of each interval: rate, latency, errors\n"
"                          (to standard error unless --timeline)\n"
"      --timeline FILE     the records to FILE: JSON lines, or CSV if FILE\n"
"                          ends in .csv (every -i, default 1s)\n"
"      --hdr-log FILE      an HdrHistogram interval log of the latency\n"
"                          (every -i, default 1s)\n"
"      --timeout TIME      a reply, connect or handshake longer than this\n"
"                          is an error (default %ds; udp: 1s)\n"
"      --proxy v1|v2       send a PROXY protocol header first\n"
"      --reconnect         open a connection again when it fails\n"
"      --ca FILE           trust these CA certificates for tls:\n"
"      --insecure          do not verify the server's certificate\n"
"      --max-loss PCT      udp: lost datagrams fail the run above PCT %%\n"
"                          of those sent (default 1)\n"
"      --allow-loss        udp: --max-loss 100\n"
"      --server-pid PID    also report that process's CPU time and memory\n"
"      --json              print the summary as JSON\n"
"      --latency           the full latency distribution and spectrum\n"
"  -q, --quiet             no progress lines\n"
"  -h, --help              show this help and exit\n"
"  -V, --version           show the version and exit\n"
"\n"
"Exit status: 0 every reply right, 1 errors (counted by kind in the\n"
"summary), 2 the target cannot be used, 64 usage error.  See echoload(1).\n",
	    DEFAULT_CONNS, DEFAULT_DURATION_S, PAYLOAD_MIN, PAYLOAD_MAX,
	    DEFAULT_LENGTH, DEFAULT_TIMEOUT_S);
}

/*
 * echod's short options that echoload once gave another meaning: a
 * clear no, not a silent other option (echoload -p 13000 once ran
 * 13000 requests in flight where the port was meant).
 */
static int
option_gone(int ch)
{
	static const struct { int ch; const char *why; } gone[] = {
		{ 'p', "-p is echod's port: the pipeline is -D (--pipeline), "
		    "and the port goes in the target" },
		{ 'l', "-l is echod's listen: the request size is -s "
		    "(--size)" },
		{ 't', "-t is echod's idle timeout: the threads are -T "
		    "(--threads)" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		if (gone[i].ch == ch)
			return usage_error(stderr, "%s", gone[i].why);
	return 0;
}

static void
load_defaults(struct load_opts *o)
{
	long	 cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(o, 0, sizeof(*o));
	o->mode = MODE_PINGPONG;
	o->conns = DEFAULT_CONNS;
	o->threads = cpus > 0 ? (unsigned int)cpus : 1;
	o->pipeline = 1;
	o->duration_ns = DEFAULT_DURATION_S * 1000000000ULL;
	o->timeout_ns = DEFAULT_TIMEOUT_S * 1000000000ULL;
	o->max_loss = -1;	/* not given */
}

static int
option_mode(struct load_opts *o, const char *text)
{
	static const char *const names[] = { "pingpong", "stream", "churn",
	    "idle" };
	size_t	 i;

	for (i = 0; i < 4; i++)
		if (strcmp(text, names[i]) == 0) {
			o->mode = (enum load_mode)i;
			return 0;
		}
	return usage_error(stderr, "invalid --mode '%s': must be pingpong, "
	    "stream, churn or idle", text);
}

/* Unix: one address; else through echod's own address parser. */
static int
load_target(struct load_opts *o, const char *spec)
{
	struct listen_list	 list = { NULL, 0 };
	struct sockaddr_un	*sun;
	char			 why[512], with_host[300];
	const char		*rest = spec;
	size_t			 i;

	o->target = spec;
	if (strncmp(rest, "tls:", 4) == 0) {
		o->transport = LT_TLS;
		rest += 4;
	} else if (strncmp(rest, "udp:", 4) == 0) {
		o->transport = LT_UDP;
		rest += 4;
	} else if (strncmp(rest, "unix:", 5) == 0) {
		o->transport = LT_UNIX;
		rest += 5;
		sun = (struct sockaddr_un *)&o->addrs[0];
		if (*rest == '\0' || strlen(rest) >= sizeof(sun->sun_path))
			return usage_error(stderr,
			    "invalid target '%s': a Unix socket "
			    "path of 1 to %zu bytes", spec,
			    sizeof(sun->sun_path) - 1);
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, rest, strlen(rest) + 1);
		o->addrlens[0] = sizeof(*sun);
		o->naddrs = 1;
		return 0;
	}
	if (*rest == '\0' || *rest == '*' ||
	    strspn(rest, "0123456789") == strlen(rest)) {
		/* A bare port is on this machine, not every address. */
		snprintf(with_host, sizeof(with_host), "localhost:%s", rest);
		rest = *rest == '*' ? rest : with_host;
	}
	if (*rest == '*' || addr_parse_listen(&list, rest, 25000, why,
	    sizeof(why)) == -1) {
		if (*rest == '*')
			snprintf(why, sizeof(why), "a client needs a host");
		addr_list_free(&list);
		fprintf(stderr, "echoload: invalid target '%s': %s\n", spec,
		    why);
		return -2;
	}
	for (i = 0; i < list.count && o->naddrs < 16; i++) {
		if (addr_port((struct sockaddr *)&list.addrs[i].ss) == 0) {
			addr_list_free(&list);
			return usage_error(stderr,
			    "invalid target '%s': port 0", spec);
		}
		memcpy(&o->addrs[o->naddrs], &list.addrs[i].ss,
		    list.addrs[i].len);
		o->addrlens[o->naddrs++] = list.addrs[i].len;
	}
	addr_list_free(&list);
	i = rest[0] == '[' ? strcspn(rest + 1, "]") : strcspn(rest, ":");
	if (i >= sizeof(o->host))
		i = sizeof(o->host) - 1;
	memcpy(o->host, rest + (rest[0] == '['), i);
	o->host[i] = '\0';
	return 0;
}

static int
load_check(struct load_opts *o, size_t length, const char *prefix,
    enum reply_framing framing, bool threads_given)
{
	const char	*why;

	if (o->transport != LT_TLS && (o->ca != NULL || o->insecure))
		return usage_error(stderr,
		    "--ca and --insecure need a tls: target");
	if (o->transport == LT_UDP && o->reconnect)
		return usage_error(stderr, "--reconnect needs a stream target: "
		    "udp: sockets stay open");
	if (o->transport == LT_UDP && (o->proxy_version != 0 ||
	    o->mode == MODE_STREAM || o->mode == MODE_CHURN))
		return usage_error(stderr,
		    "udp: takes -m pingpong or idle, and no --proxy");
	if (o->transport != LT_UDP && o->max_loss >= 0)
		return usage_error(stderr,
		    "--allow-loss and --max-loss need a udp: target");
	if (o->max_loss < 0)
		o->max_loss = DEFAULT_MAX_LOSS;
	if (o->transport == LT_UDP && !o->timeout_given)
		o->timeout_ns = DEFAULT_UDP_TIMEOUT_S * 1000000000ULL;
	if (o->interval_ns == 0 && (o->timeline != NULL || o->hdr_log != NULL))
		o->interval_ns = 1000000000ULL;
	if (o->mode == MODE_IDLE && (o->rate != 0 || o->count != 0))
		return usage_error(stderr,
		    "-m idle takes neither --rate nor -n");
	if (o->rate != 0 && o->rate < o->conns && o->mode != MODE_CHURN)
		return usage_error(stderr,
		    "--rate %llu is below one request per "
		    "second for each of the %u connections",
		    (unsigned long long)o->rate, o->conns);
	if (o->rate_end != 0 && o->rate_end < o->conns)
		return usage_error(stderr,
		    "--rate ...:%llu is below one request per "
		    "second for each of the %u connections",
		    (unsigned long long)o->rate_end, o->conns);
	if (o->rate_end != 0 && (o->count != 0 || o->mode == MODE_CHURN))
		return usage_error(stderr, "--rate N:M ramps over -d: not "
		    "with -n or -m churn");
	if (o->nsources != 0 && (o->transport == LT_UNIX ||
	    o->sources[0].ss_family != o->addrs[0].ss_family))
		return usage_error(stderr, "--source addresses must be of the "
		    "target's family (IPv4 or IPv6)");
	if (o->connect_rate != 0 && o->transport == LT_UDP)
		return usage_error(stderr, "--connect-rate needs a stream "
		    "target");
	if (payload_init(&o->payload, prefix, length, framing,
	    o->transport == LT_UDP, &why) == -1)
		return usage_error(stderr,
		    "invalid %s: %s", length < PAYLOAD_MIN ||
		    length > PAYLOAD_MAX ? "--size" : "--prefix", why);
	if (o->threads > o->conns) {
		if (threads_given)
			return usage_error(stderr,
			    "-T %u is more threads than the %u "
			    "connections", o->threads, o->conns);
		o->threads = o->conns;
	}
	if (o->mode == MODE_STREAM)
		o->pipeline = STREAM_INFLIGHT_BYTES / length < 64 ? 64 :
		    STREAM_INFLIGHT_BYTES / length;
	if (o->mode == MODE_CHURN || o->mode == MODE_IDLE)
		o->pipeline = 1;
	return 0;
}

/* 0: run; 1: done (help, version); -1: usage error; -2: bad target. */
int
load_options(struct load_opts *o, int argc, char **argv)
{
	const char		*prefix = "GOT:";
	enum reply_framing	 framing = REPLY_LINE;
	uint64_t		 length = DEFAULT_LENGTH, v;
	uint64_t		 length_max = 0;
	bool			 threads_given = false;
	int			 ch, rc;

	load_defaults(o);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:T:d:n:m:D:s:P:f:r:w:i:qhVp:l:t:",
	    long_options, NULL)) != -1) {
		rc = 0;
		switch (ch) {
		case 'c':
			rc = option_uint("--connections", optarg, 1,
			    MAX_CONNS, &o->conns);
			break;
		case 'p':
		case 'l':
		case 't':
			return option_gone(ch);
		case 'T':
			rc = option_uint("--threads", optarg, 1, MAX_THREADS,
			    &o->threads);
			threads_given = true;
			break;
		case 'd':
			rc = option_time("--duration", optarg, 1,
			    &o->duration_ns);
			break;
		case 'n':
			rc = option_count("--requests", optarg, 1,
			    UINT64_MAX / 2, &o->count);
			break;
		case 'm':
			rc = option_mode(o, optarg);
			break;
		case 'D':
			rc = option_uint("--pipeline", optarg, 1, MAX_PIPELINE,
			    &o->pipeline);
			break;
		case 's':
			rc = option_size(optarg, &length, &length_max);
			break;
		case 'P':
			prefix = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "line") == 0)
				framing = REPLY_LINE;
			else if (strcmp(optarg, "chunk") == 0)
				framing = REPLY_CHUNK;
			else
				rc = usage_error(stderr,
				    "invalid --framing '%s': must "
				    "be line or chunk", optarg);
			break;
		case 'r':
			rc = option_rate(o, optarg);
			break;
		case 'w':
			rc = option_time("--warmup", optarg, 0, &o->warmup_ns);
			break;
		case OPT_TIMEOUT:
			o->timeout_given = true;
			rc = option_time("--timeout", optarg, 1,
			    &o->timeout_ns);
			break;
		case OPT_PROXY:
			if (strcmp(optarg, "v1") == 0)
				o->proxy_version = 1;
			else if (strcmp(optarg, "v2") == 0)
				o->proxy_version = 2;
			else
				rc = usage_error(stderr,
				    "invalid --proxy '%s': must "
				    "be v1 or v2", optarg);
			break;
		case OPT_CA:
			o->ca = optarg;
			break;
		case OPT_INSECURE:
			o->insecure = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_LATENCY:
			o->latency_detail = true;
			break;
		case 'i':
			o->interval_given = true;
			rc = option_time("--interval", optarg, 10,
			    &o->interval_ns);
			break;
		case OPT_SOURCE:
			rc = option_source(o, optarg);
			break;
		case OPT_CONNECT_RATE:
			rc = option_count("--connect-rate", optarg, 1,
			    100000000, &o->connect_rate);
			break;
		case OPT_RECONNECT:
			o->reconnect = true;
			break;
		case OPT_TIMELINE:
			o->timeline = optarg;
			break;
		case OPT_HDR_LOG:
			o->hdr_log = optarg;
			break;
		case OPT_ALLOW_LOSS:
			o->max_loss = 100;
			break;
		case OPT_MAX_LOSS:
			rc = option_percent("--max-loss", optarg, &o->max_loss);
			break;
		case OPT_SERVER_PID:
			rc = usage_number(stderr, "--server-pid", optarg, 1,
			    4194304, false, &v);
			o->server_pid = v;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("echoload %s (libevent %s)\n", PACKAGE_VERSION,
			    event_get_version());
			return 1;
		default:
			return usage_bad_option(stderr, argv, ch);
		}
		if (rc != 0)
			return rc;
	}
	if (optind == argc)
		return usage_error(stderr, "no target given");
	if (optind + 1 < argc)
		return usage_error(stderr, "unexpected argument '%s'",
		    argv[optind + 1]);
	if ((rc = load_target(o, argv[optind])) != 0)
		return rc;
	if ((rc = load_check(o, length, prefix, framing, threads_given)) != 0)
		return rc;
	payload_set_range(&o->payload, length_max != 0 ? length_max : length);
	return 0;
}
