/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * libFuzzer target: --proxy-from's address blocks.  The input is a
 * block's text, a NUL, then an address to match.  Beyond ASan: an
 * accepted block has no host bits set, its length fits its family, and
 * it matches its own network address.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "check.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			 text[128];
	const uint8_t		*nul = memchr(data, 0, size);
	size_t			 len = nul ? (size_t)(nul - data) : size;
	struct cidr		 c;
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	struct sockaddr_in6	 sin6 = { .sin6_family = AF_INET6 };
	const char		*why;
	size_t			 rest;

	if (len >= sizeof(text))
		return 0;
	memcpy(text, data, len);
	text[len] = '\0';
	if (cidr_parse(text, &c, &why) == -1) {
		check(why != NULL && *why != '\0');
		return 0;
	}
	check(c.family == AF_INET ? c.bits <= 32 : c.bits <= 128);
	if (c.family == AF_INET) {
		memcpy(&sin.sin_addr, c.addr, 4);
		check(cidr_match(&c, (struct sockaddr *)&sin));
	} else {
		check(c.family == AF_INET6);
		memcpy(&sin6.sin6_addr, c.addr, 16);
		check(cidr_match(&c, (struct sockaddr *)&sin6));
	}
	/* Whatever follows is an address to match: no crash, no read past. */
	rest = nul ? size - len - 1 : 0;
	if (rest >= 16) {
		memcpy(&sin6.sin6_addr, nul + 1, 16);
		(void)cidr_match(&c, (struct sockaddr *)&sin6);
	}
	if (rest >= 4) {
		memcpy(&sin.sin_addr, nul + 1, 4);
		(void)cidr_match(&c, (struct sockaddr *)&sin);
	}
	return 0;
}
