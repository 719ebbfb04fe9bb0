/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The PROXY protocol, versions 1 and 2 (HAProxy's proxy-protocol.txt):
 * the header a load balancer sends first, naming the original client.
 */
#ifndef ECHOD_PROXY_H
#define ECHOD_PROXY_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The longest header taken: v2's length field allows 64 KiB, but a
 * balancer's addresses and TLVs take a few hundred bytes, and a header
 * is peeked at whole on every wakeup until it is complete, so a longer
 * one, trickled, would cost its square.
 */
#define PROXY_MAX_HEADER	4096
#define PROXY_V1_MAX		107

enum proxy_result {
	PROXY_MORE,		/* a header so far: read more */
	PROXY_DONE,		/* whole and valid */
	PROXY_BAD		/* not a valid header: *why says how */
};

struct proxy_header {
	size_t			 len;		/* bytes the header took */
	int			 version;
	bool			 local;		/* no client named: keep ours */
	struct sockaddr_storage	 client;
	socklen_t		 client_len;
};

/* Room for any header proxy_write() makes. */
#define PROXY_WRITE_MAX		(PROXY_V1_MAX + 1)

size_t		 proxy_write(int, const struct sockaddr *,
		    const struct sockaddr *, uint8_t *);
enum proxy_result proxy_parse(const uint8_t *, size_t, struct proxy_header *,
		    const char **);

#endif
