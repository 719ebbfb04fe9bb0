/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * libFuzzer target: the PROXY header parser on arbitrary bytes.  Beyond
 * not crashing or reading past the input (ASan), a header it accepts
 * must be self-contained: accepted the same when cut to its length, and
 * every shorter prefix must only ask for more.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "proxy.h"
#include "check.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_header	 h, again;
	const char		*why;
	uint8_t			*copy;
	size_t			 k;

	if (size > PROXY_MAX_HEADER + 64)
		return 0;
	if (proxy_parse(data, size, &h, &why) != PROXY_DONE)
		return 0;
	check(h.len > 0 && h.len <= size && h.len <= PROXY_MAX_HEADER);
	check(h.version == 1 || h.version == 2);
	check(h.version == 2 || h.len <= PROXY_V1_MAX);
	check(h.local || h.client.ss_family == AF_INET ||
	    h.client.ss_family == AF_INET6);
	/* An exact-size copy, so ASan sees any read past the header. */
	copy = malloc(h.len);
	check(copy != NULL);
	memcpy(copy, data, h.len);
	check(proxy_parse(copy, h.len, &again, &why) == PROXY_DONE);
	check(again.len == h.len && again.local == h.local &&
	    memcmp(&again.client, &h.client, sizeof(h.client)) == 0);
	for (k = 0; k < h.len; k += 1 + k / 64)
		check(proxy_parse(copy, k, &again, &why) == PROXY_MORE);
	free(copy);
	return 0;
}
