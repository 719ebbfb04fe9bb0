/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * What echoload sends and what it expects back.  Request `seq` of
 * connection `conn` is REQUEST_LEN bytes that name both ("conn:seq:"),
 * then a filler, then LF; its reply is PREFIX + the request.  Pure
 * functions, so the checks are tested and fuzzed without sockets.
 *
 * Requests are written in an alphabet without the prefix's first byte,
 * so that where a server puts a prefix before whatever one read
 * returned (chunk framing), each prefix can be found and taken out.
 */
#ifndef ECHOD_PAYLOAD_H
#define ECHOD_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAYLOAD_MIN	24		/* room for both numbers */
#define PAYLOAD_MAX	65536
#define PAYLOAD_PREFIX_MAX	256

enum reply_framing {
	REPLY_LINE,	/* PREFIX before each request */
	REPLY_CHUNK	/* PREFIX anywhere between bytes, any number */
};

struct payload {
	char			 digits[32];	/* base 32, no prefix[0] */
	char			 sep;
	bool			 datagram;	/* no LF at the end */
	enum reply_framing	 framing;
	char			 prefix[PAYLOAD_PREFIX_MAX];
	size_t			 prefix_len;
	size_t			 len;		/* of a request: the least */
	size_t			 len_max;	/* the most (-s MIN-MAX) */
};

/* Where one connection's reply stream stands. */
struct verify {
	uint32_t		 conn;
	uint64_t		 seq;		/* request being answered */
	size_t			 off;		/* into its expected reply */
	size_t			 prefix_seen;	/* chunk: into a prefix */
	uint64_t		 offset;	/* bytes received so far */
	char			*expect;	/* the reply expected */
	size_t			 expect_len;
};

/* The first byte that differs, for the report. */
struct mismatch {
	uint64_t		 offset;	/* in the connection's stream */
	uint64_t		 seq;		/* the request it answers */
	int			 expected;	/* -1: a prefix was expected */
	int			 got;
};

int	payload_init(struct payload *, const char *, size_t, enum reply_framing,
	    bool, const char **);
void	payload_set_range(struct payload *, size_t);
size_t	payload_len(const struct payload *, uint32_t, uint64_t);
void	payload_request(const struct payload *, uint32_t, uint64_t, char *);
int	payload_parse(const struct payload *, const char *, size_t, uint32_t *,
	    uint64_t *);
bool	payload_check_datagram(const struct payload *, const char *, size_t,
	    uint32_t, uint64_t *, char *);

int	verify_init(struct verify *, const struct payload *, uint32_t);
void	verify_free(struct verify *);
void	verify_restart(struct verify *, const struct payload *, uint64_t);
ssize_t	verify_feed(struct verify *, const struct payload *, const char *,
	    size_t, bool *, struct mismatch *);

#endif
