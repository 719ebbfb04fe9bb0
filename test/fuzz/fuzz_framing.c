/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * libFuzzer target: random bytes, split into random reads and drained
 * through random output limits, must come out framed exactly as the
 * reference (line), as sent (raw) or chunk by chunk (chunk).
 *
 * Input layout: byte 0 picks the framing and the prefix (one of four,
 * the empty one among them), bytes 1 and 2 max_line (1 to 65536), byte 3
 * seeds the split points and limits; the rest is what the client sends.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "framing.h"
#include "framing_ref.h"

#define MAX_INPUT	65536

/* Room for a prefix before every byte. */
#define MAX_OUTPUT	(MAX_INPUT * (1 + 8))

static unsigned char	 expected[MAX_OUTPUT];
static unsigned char	 actual[MAX_OUTPUT];
static const char *const prefixes[] = { "GOT:", "", "x", "[echo] " };

static uint32_t
next_random(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* What the socket would take: all of out, appended to actual. */
static void
drain(struct evbuffer *out, size_t *actual_len)
{
	size_t	 n = evbuffer_get_length(out);

	if (*actual_len + n > sizeof(actual))
		__builtin_trap();
	evbuffer_remove(out, actual + *actual_len, n);
	*actual_len += n;
}

/* What the socket would take of a gather: all of it. */
static size_t
gather(const struct framing *fr, struct evbuffer *in, size_t limit,
    size_t *actual_len, size_t *scanned)
{
	struct iovec	 iov[FRAMING_IOV];
	size_t		 added, used, sum = 0;
	int		 i, niov;

	added = framing_gather(fr, in, limit, iov, FRAMING_IOV, &niov, &used,
	    scanned);
	for (i = 0; i < niov; i++) {
		if (*actual_len + iov[i].iov_len > sizeof(actual))
			__builtin_trap();
		memcpy(actual + *actual_len, iov[i].iov_base, iov[i].iov_len);
		*actual_len += iov[i].iov_len;
		sum += iov[i].iov_len;
	}
	if (sum != added || evbuffer_drain(in, used) == -1)
		__builtin_trap();
	return added;
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct framing	 fr;
	struct evbuffer	*in, *out, *chunk;
	const uint8_t	*body;
	const char	*prefix;
	size_t		 len, pos, step, expected_len = 0, actual_len = 0;
	size_t		 scanned = 0;	/* kept across reads, as by echod */
	uint32_t	 state;

	if (size < 4 || size - 4 > MAX_INPUT)
		return 0;
	prefix = prefixes[(data[0] >> 2) % 4];
	/* An empty prefix makes any framing the raw one, as in echod. */
	framing_init(&fr, data[0] % 3 == 0 ? FRAMING_LINE : data[0] % 3 == 1 ?
	    FRAMING_CHUNK : FRAMING_RAW, prefix, strlen(prefix),
	    1 + (data[1] | (size_t)data[2] << 8));
	if (fr.kind == FRAMING_RAW)
		framing_init(&fr, FRAMING_RAW, "", 0, fr.max_line);
	state = data[3];
	body = data + 4;
	len = size - 4;

	in = evbuffer_new();
	out = evbuffer_new();
	chunk = evbuffer_new();
	for (pos = 0; pos < len; pos += step) {
		step = 1 + next_random(&state) % 300;
		if (step > len - pos)
			step = len - pos;
		/* One chain per read, as many small reads leave it. */
		evbuffer_add(chunk, body + pos, step);
		evbuffer_add_buffer(in, chunk);
		if (fr.kind == FRAMING_CHUNK) {
			memcpy(expected + expected_len, fr.prefix,
			    fr.prefix_len);
			memcpy(expected + expected_len + fr.prefix_len,
			    body + pos, step);
			expected_len += fr.prefix_len + step;
		}
		/*
		 * As the connection does: echo, drain, resume until stuck;
		 * straight from the input when nothing is queued, else
		 * through the output buffer.
		 */
		while ((next_random(&state) & 1 ?
		    gather(&fr, in, 1 + next_random(&state) % 100,
		    &actual_len, &scanned) :
		    framing_echo(&fr, in, out,
		    1 + next_random(&state) % 100, &scanned)) != 0)
			drain(out, &actual_len);
		if (fr.kind == FRAMING_LINE &&
		    evbuffer_get_length(in) >= fr.max_line)
			__builtin_trap();	/* input must stay bounded */
	}
	framing_flush(&fr, in, out);
	drain(out, &actual_len);

	if (fr.kind == FRAMING_LINE)
		expected_len = reference_frame(body, len, fr.prefix,
		    fr.prefix_len, fr.max_line, expected);
	else if (fr.kind == FRAMING_RAW) {
		memcpy(expected, body, len);
		expected_len = len;
	}
	if (actual_len != expected_len ||
	    memcmp(actual, expected, actual_len) != 0)
		__builtin_trap();
	evbuffer_free(in);
	evbuffer_free(out);
	evbuffer_free(chunk);
	return 0;
}
