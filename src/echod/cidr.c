/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "util.h"

/* Longest text: an IPv6 address with an IPv4 tail, "/128", NUL. */
#define CIDR_TEXT_MAX	(INET6_ADDRSTRLEN + 4)

static void
cidr_mask(uint8_t *addr, unsigned int bits, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (bits >= 8)
			bits -= 8;
		else {
			addr[i] &= (uint8_t)(0xff << (8 - bits));
			bits = 0;
		}
	}
}

/*
 * "ADDR" or "ADDR/LEN", IPv4 or IPv6.  Host bits are cleared, as pf
 * does.  On error *why says what is wrong.
 */
int
cidr_parse(const char *text, struct cidr *c, const char **why)
{
	char		 host[CIDR_TEXT_MAX];
	const char	*slash = strchr(text, '/');
	size_t		 len = slash ? (size_t)(slash - text) : strlen(text);
	uint64_t	 bits;

	memset(c, 0, sizeof(*c));
	*why = "not an IPv4 or IPv6 address";
	if (len == 0 || len >= sizeof(host))
		return -1;
	memcpy(host, text, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		c->bits = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		c->bits = 128;
	} else
		return -1;
	if (slash != NULL) {
		if (parse_number(slash + 1, 0, c->bits, false, &bits) == -1) {
			*why = c->family == AF_INET ? "prefix length must be "
			    "0 to 32" : "prefix length must be 0 to 128";
			return -1;
		}
		c->bits = bits;
	}
	cidr_mask(c->addr, c->bits, c->family == AF_INET ? 4 : 16);
	return 0;
}

/* Whether sa is in the block; an IPv4-mapped address is IPv4. */
bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin = (const void *)sa;
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	uint8_t				 addr[16];
	size_t				 len;

	if (sa->sa_family == AF_INET && c->family == AF_INET) {
		memcpy(addr, &sin->sin_addr, 4);
		len = 4;
	} else if (sa->sa_family == AF_INET6 && c->family == AF_INET &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memcpy(addr, &sin6->sin6_addr.s6_addr[12], 4);
		len = 4;
	} else if (sa->sa_family == AF_INET6 && c->family == AF_INET6) {
		memcpy(addr, &sin6->sin6_addr, 16);
		len = 16;
	} else
		return false;
	cidr_mask(addr, c->bits, len);
	return memcmp(addr, c->addr, len) == 0;
}

bool
cidr_list_match(const struct cidr_list *list, const struct sockaddr *sa)
{
	size_t	 i;

	for (i = 0; i < list->count; i++)
		if (cidr_match(&list->blocks[i], sa))
			return true;
	return false;
}

int
cidr_list_add(struct cidr_list *list, const struct cidr *c)
{
	struct cidr	*grown;

	grown = reallocarray(list->blocks, list->count + 1, sizeof(*grown));
	if (grown == NULL)
		return -1;
	list->blocks = grown;
	list->blocks[list->count++] = *c;
	return 0;
}

void
cidr_list_free(struct cidr_list *list)
{
	free(list->blocks);
	list->blocks = NULL;
	list->count = 0;
}
