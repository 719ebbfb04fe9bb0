/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * libFuzzer target: random bytes, split into random reads and drained
 * through random output limits, must come out framed exactly as the
 * reference (line), as sent (raw) or chunk by chunk (chunk).
 *
 * Input layout: byte 0 picks the framing and max_line, byte 1 seeds the
 * split points and limits, the rest is what the client sends.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "framing.h"
#include "framing_ref.h"

#define MAX_INPUT	65536

static unsigned char	 expected[MAX_INPUT * 5];
static unsigned char	 actual[MAX_INPUT * 5];

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
    size_t *actual_len)
{
	struct iovec	 iov[FRAMING_IOV];
	size_t		 added, used, sum = 0;
	int		 i, niov;

	added = framing_gather(fr, in, limit, iov, FRAMING_IOV, &niov, &used);
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
	size_t		 len, pos, step, expected_len = 0, actual_len = 0;
	uint32_t	 state;

	if (size < 2 || size - 2 > MAX_INPUT)
		return 0;
	fr.kind = data[0] % 3;
	fr.max_line = 1 + (data[0] >> 2) * 3;
	fr.prefix = fr.kind == FRAMING_RAW ? "" : "GOT:";
	fr.prefix_len = strlen(fr.prefix);
	state = data[1];
	body = data + 2;
	len = size - 2;

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
			memcpy(expected + expected_len, "GOT:", 4);
			memcpy(expected + expected_len + 4, body + pos, step);
			expected_len += 4 + step;
		}
		/*
		 * As the connection does: echo, drain, resume until stuck;
		 * straight from the input when nothing is queued, else
		 * through the output buffer.
		 */
		while ((next_random(&state) & 1 ?
		    gather(&fr, in, 1 + next_random(&state) % 100,
		    &actual_len) :
		    framing_echo(&fr, in, out,
		    1 + next_random(&state) % 100)) != 0)
			drain(out, &actual_len);
		if (fr.kind == FRAMING_LINE &&
		    evbuffer_get_length(in) >= fr.max_line)
			__builtin_trap();	/* input must stay bounded */
	}
	framing_flush(&fr, in, out);
	drain(out, &actual_len);

	if (fr.kind == FRAMING_LINE)
		expected_len = reference_frame(body, len, "GOT:", 4,
		    fr.max_line, expected);
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
