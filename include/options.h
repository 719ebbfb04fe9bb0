/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The command line: every setting, its default and its range.
 */
#ifndef ECHOD_OPTIONS_H
#define ECHOD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "addr.h"
#include "cidr.h"
#include "framing.h"
#include "udpguard.h"

/* sysexits(3) EX_USAGE: the command line was wrong. */
#define EXIT_USAGE		64

#define DEFAULT_PORT		25000
#define DEFAULT_PREFIX		"GOT:"
#define DEFAULT_READ_SIZE	1000		/* the tutorial's recv(1000) */
#define DEFAULT_MAX_LINE	65536
#define DEFAULT_OUTPUT_LIMIT	16384
#define DEFAULT_DRAIN_TIMEOUT	5
#define DEFAULT_HANDSHAKE_TIMEOUT	10
#define DEFAULT_TLS_TICKET_LIFETIME	3600
#define MAX_TLS_TICKET_LIFETIME	604800		/* RFC 8446's most */
#define DEFAULT_IPV6_PREFIX	64
#define DEFAULT_MEMORY_LIMIT	(64UL << 20)
#define MAX_MEMORY_LIMIT	(1UL << 40)
#define DEFAULT_METRICS_MAX_CONNECTIONS	16
#define MAX_METRICS_CONNECTIONS	1024
#define DEFAULT_UNIX_MODE	0666
/* UDP, per second: one ordinary test client never meets them. */
#define DEFAULT_UDP_SOURCE_RATE		10000
#define DEFAULT_UDP_SOURCE_BYTES	(1UL << 20)
#define DEFAULT_UDP_TOTAL_RATE		100000
#define DEFAULT_UDP_TOTAL_BYTES		(32UL << 20)
#define MAX_UDP_RATE			100000000
#define MAX_UDP_BYTES			(1UL << 30)
#define MAX_PREFIX_LEN		1024
#define MAX_READ_SIZE		(16UL << 20)
#define MAX_LINE_LIMIT		(64UL << 20)
#define MAX_OUTPUT_LIMIT	(1UL << 30)
#define MAX_CONNECTIONS_LIMIT	10000000
#define MAX_THREADS		256
#define MAX_TIMEOUT		31536000	/* one year, in seconds */

struct options {
	struct listen_list	 listen;	/* empty: the defaults */
	bool			 listen_default; /* no -l: every address */
	uint16_t		 port;
	char			*prefix;
	size_t			 prefix_len;
	enum framing_kind	 framing;	/* LINE or CHUNK */
	size_t			 read_size;
	size_t			 max_line;
	size_t			 output_limit;
	size_t			 memory_limit;	/* all buffers, 0: none */
	unsigned int		 max_connections;	/* 0: from RLIMIT_NOFILE */
	unsigned int		 max_per_ip;		/* 0: no limit */
	unsigned int		 ipv6_prefix;		/* bits counted as one client */
	struct cidr_list	 proxy_from;	/* who may send PROXY headers */
	unsigned int		 idle_timeout;		/* seconds, 0: never */
	unsigned int		 drain_timeout;		/* seconds */
	unsigned int		 handshake_timeout;	/* PROXY and TLS, from accept */
	int			 log_level;
	char			*user;		/* -u: drop to this user */
	unsigned int		 threads;	/* event loops, one per thread */
	unsigned int		 unix_mode;	/* of Unix socket files */
	bool			 udp;		/* -U: UDP on every address */
	bool			 reuse_port;	/* another echod may bind ours */
	struct udp_limits	 udp_limits;	/* per second, 0: none */
	unsigned int		 udp_repeats;	/* from clients' ports, no prefix */
	struct listen_list	 metrics;	/* --metrics: HTTP endpoint */
	unsigned int		 metrics_max_connections;
	char			*tls_cert;	/* PEM chain, for tls: */
	char			*tls_key;
	unsigned int		 tls_ticket_lifetime;	/* seconds, 0: none */
};

enum options_result {
	OPTIONS_RUN,		/* start the server */
	OPTIONS_EXIT_OK,	/* --help or --version was printed */
	OPTIONS_EXIT_USAGE	/* a usage error was printed */
};

enum options_result options_parse(struct options *, int, char **, FILE *,
	    FILE *);
void	options_free(struct options *);

#endif
