/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Framing: how received bytes become echoed bytes.  Pure functions on
 * evbuffers, so they are tested without sockets.
 */
#ifndef ECHOD_FRAMING_H
#define ECHOD_FRAMING_H

#include <sys/uio.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>


enum framing_kind {
	FRAMING_RAW,	/* empty prefix: RFC 862, bytes go back as they came */
	FRAMING_LINE,	/* PREFIX + each LF-terminated line */
	FRAMING_CHUNK	/* PREFIX + whatever one read returned */
};

struct framing {
	enum framing_kind	 kind;
	const char		*prefix;
	size_t			 prefix_len;
	size_t			 max_line;
};

/*
 * What framing_gather(), framing_echo() and framing_flush() return when
 * memory ran out: that connection cannot be echoed and must be closed.
 */
#define FRAMING_NOMEM	SIZE_MAX

/* Input extents looked at, and iovecs filled, per gather. */
#define FRAMING_EXTENTS	8
#define FRAMING_IOV	256
/*
 * Shorter input is copied to the output, not moved: a moved chain keeps
 * its whole allocation (a kilobyte or more) for what may be one byte,
 * and a client that sends a byte at a time without reading would hold
 * a thousand times what --output-limit counts.
 */
#define FRAMING_MOVE_MIN	4096

void	framing_init(struct framing *, enum framing_kind, const char *, size_t,
	    size_t);
size_t	framing_echo(const struct framing *, struct evbuffer *,
	    struct evbuffer *, size_t, size_t *);
size_t	framing_gather(const struct framing *, struct evbuffer *, size_t,
	    struct iovec *, int, int *, size_t *, size_t *);
size_t	framing_flush(const struct framing *, struct evbuffer *,
	    struct evbuffer *);

#endif
