/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * libFuzzer target: the PROXY header parser on arbitrary bytes.  Beyond
 * not crashing or reading past the input (ASan), a header it accepts
 * must be self-contained: accepted the same when cut to its length, and
 * every shorter prefix must only ask for more; and the client it names
 * must be the one an independent reading of the header names.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "check.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The spec read again, plainly: the client address and port, or none
 * (local).  Only for headers proxy_parse() took; -1 if this reading
 * disagrees that it is one.
 */
static int
decode(const uint8_t *buf, size_t len, struct sockaddr_storage *ss,
    bool *local)
{
	struct sockaddr_in	*sin = (void *)ss;
	struct sockaddr_in6	*sin6 = (void *)ss;
	char			 line[PROXY_V1_MAX + 1], src[64], dst[64];
	unsigned int		 sport, dport;

	memset(ss, 0, sizeof(*ss));
	*local = false;
	if (buf[0] == 'P') {
		memcpy(line, buf, len < PROXY_V1_MAX ? len : PROXY_V1_MAX);
		line[len < PROXY_V1_MAX ? len : PROXY_V1_MAX] = '\0';
		if (strncmp(line, "PROXY UNKNOWN", 13) == 0) {
			*local = true;
			return 0;
		}
		if (sscanf(line, "PROXY TCP4 %63s %63s %u %u", src, dst,
		    &sport, &dport) == 4 &&
		    inet_pton(AF_INET, src, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons(sport);
			return 0;
		}
		if (sscanf(line, "PROXY TCP6 %63s %63s %u %u", src, dst,
		    &sport, &dport) == 4 &&
		    inet_pton(AF_INET6, src, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(sport);
			return 0;
		}
		return -1;
	}
	if ((buf[12] & 0x0f) == 0) {
		*local = true;	/* LOCAL: whatever the family byte says */
		return 0;
	}
	/* The spec's seven bytes (2.2); no other is a header. */
	if (buf[13] != 0x00 && buf[13] != 0x11 && buf[13] != 0x12 &&
	    buf[13] != 0x21 && buf[13] != 0x22 && buf[13] != 0x31 &&
	    buf[13] != 0x32)
		return -1;
	if (buf[13] != 0x11 && buf[13] != 0x21) {
		*local = true;	/* UNSPEC, datagrams, Unix: no TCP client */
		return 0;
	}
	if (buf[13] >> 4 == 1) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, buf + 16, 4);
		sin->sin_port = htons(buf[24] << 8 | buf[25]);
		return 0;
	}
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, buf + 16, 16);
	sin6->sin6_port = htons(buf[48] << 8 | buf[49]);
	return 0;
}

static bool
same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in	*a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6	*a6 = (const void *)a, *b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return a6->sin6_port == b6->sin6_port &&
	    memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_header	 h, again;
	struct sockaddr_storage	 mine;
	bool			 local;
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
	check(decode(copy, h.len, &mine, &local) == 0);
	check(local == h.local);
	check(h.local || same_client(&mine, &h.client));
	free(copy);
	return 0;
}
