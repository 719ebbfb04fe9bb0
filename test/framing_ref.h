/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Line framing as the specification states it, written as plainly as
 * possible so that it can judge src/echod/framing.c: a piece ends at an LF or
 * when it reaches max_line bytes; each piece gets the prefix.
 */
#ifndef ECHOD_TEST_FRAMING_REF_H
#define ECHOD_TEST_FRAMING_REF_H

#include <stddef.h>
#include <string.h>

/* out needs room for len * (1 + prefix_len) bytes. */
static inline size_t
reference_frame(const unsigned char *in, size_t len, const char *prefix,
    size_t prefix_len, size_t max_line, unsigned char *out)
{
	size_t	 i, piece = 0, outlen = 0;

	for (i = 0; i < len; i++) {
		if (piece == 0) {
			memcpy(out + outlen, prefix, prefix_len);
			outlen += prefix_len;
		}
		out[outlen++] = in[i];
		piece++;
		if (in[i] == '\n' || piece == max_line)
			piece = 0;
	}
	return outlen;
}

#endif
