/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "proxy.h"

static const uint8_t v2_signature[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define V2_CMD_LOCAL		0x0
#define V2_CMD_PROXY		0x1
#define V2_AF_UNSPEC		0x0
#define V2_AF_INET		0x1
#define V2_AF_INET6		0x2
#define V2_AF_UNIX		0x3
#define V2_TRANSPORT_STREAM	0x1
#define V2_TRANSPORT_DGRAM	0x2
#define V2_ADDRS_INET		12	/* two addresses, two ports */
#define V2_ADDRS_INET6		36

/* True while buf could still become the start of prefix. */
static bool
proxy_prefix_of(const uint8_t *buf, size_t len, const void *prefix,
    size_t prefix_len)
{
	return memcmp(buf, prefix, len < prefix_len ? len : prefix_len) == 0;
}

static int
proxy_v1_port(const char *text, uint16_t *port)
{
	uint64_t	 value;

	/* No leading zeros, as the spec writes them. */
	if (text[0] == '0' && text[1] != '\0')
		return -1;
	if (parse_number(text, 0, 65535, false, &value) == -1)
		return -1;
	*port = htons((uint16_t)value);
	return 0;
}

/* "PROXY TCP4 SRC DST SPORT DPORT" or "PROXY UNKNOWN ...", CRLF cut off. */
static enum proxy_result
proxy_v1_fields(char *line, struct proxy_header *h, const char **why)
{
	char			*field[7], *rest = line, *p;
	struct sockaddr_in	*sin = (void *)&h->client;
	struct sockaddr_in6	*sin6 = (void *)&h->client;
	struct in6_addr		 dst;
	uint16_t		 dport;
	int			 n = 0, family;

	/* Fields are apart by one space each, as the spec writes them. */
	while (n < 7 && (p = strsep(&rest, " ")) != NULL)
		field[n++] = p;
	if (n >= 2 && strcmp(field[0], "PROXY") == 0 &&
	    strcmp(field[1], "UNKNOWN") == 0) {
		h->local = true;
		return PROXY_DONE;
	}
	*why = "malformed v1 header";
	if (n != 6)
		return PROXY_BAD;
	if (strcmp(field[1], "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(field[1], "TCP6") == 0)
		family = AF_INET6;
	else {
		*why = "unknown v1 protocol";
		return PROXY_BAD;
	}
	memset(&h->client, 0, sizeof(h->client));
	h->client.ss_family = family;
	if (family == AF_INET) {
		h->client_len = sizeof(*sin);
		if (inet_pton(AF_INET, field[2], &sin->sin_addr) != 1 ||
		    inet_pton(AF_INET, field[3], &dst) != 1 ||
		    proxy_v1_port(field[4], &sin->sin_port) == -1)
			return PROXY_BAD;
	} else {
		h->client_len = sizeof(*sin6);
		if (inet_pton(AF_INET6, field[2], &sin6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, field[3], &dst) != 1 ||
		    proxy_v1_port(field[4], &sin6->sin6_port) == -1)
			return PROXY_BAD;
	}
	if (proxy_v1_port(field[5], &dport) == -1)
		return PROXY_BAD;
	return PROXY_DONE;
}

static enum proxy_result
proxy_v1(const uint8_t *buf, size_t len, struct proxy_header *h,
    const char **why)
{
	char		 line[PROXY_V1_MAX + 1];
	const uint8_t	*crlf;
	size_t		 scan = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	crlf = memmem(buf, scan, "\r\n", 2);
	if (crlf == NULL) {
		if (len >= PROXY_V1_MAX) {
			*why = "v1 header longer than 107 bytes";
			return PROXY_BAD;
		}
		return PROXY_MORE;
	}
	if (memchr(buf, '\0', crlf - buf) != NULL) {
		*why = "malformed v1 header";
		return PROXY_BAD;
	}
	memcpy(line, buf, crlf - buf);
	line[crlf - buf] = '\0';
	h->version = 1;
	h->len = crlf + 2 - buf;
	return proxy_v1_fields(line, h, why);
}

/* The family and transport byte is one the spec defines. */
static bool
proxy_v2_defined(uint8_t fam)
{
	unsigned int	 family = fam >> 4, transport = fam & 0x0f;

	if (fam == 0x00)
		return true;
	return family >= V2_AF_INET && family <= V2_AF_UNIX &&
	    (transport == V2_TRANSPORT_STREAM ||
	    transport == V2_TRANSPORT_DGRAM);
}

static enum proxy_result
proxy_v2(const uint8_t *buf, size_t len, struct proxy_header *h,
    const char **why)
{
	struct sockaddr_in	*sin = (void *)&h->client;
	struct sockaddr_in6	*sin6 = (void *)&h->client;
	size_t			 body;
	unsigned int		 command, family;

	if (len < 16)
		return PROXY_MORE;
	if ((buf[12] >> 4) != 2) {
		*why = "unknown v2 version";
		return PROXY_BAD;
	}
	command = buf[12] & 0x0f;
	family = buf[13] >> 4;
	body = (size_t)buf[14] << 8 | buf[15];
	if (16 + body > PROXY_MAX_HEADER) {
		*why = "v2 header longer than 4096 bytes";
		return PROXY_BAD;
	}
	if (len < 16 + body)
		return PROXY_MORE;
	h->version = 2;
	h->len = 16 + body;
	if (command == V2_CMD_LOCAL) {
		h->local = true;
		return PROXY_DONE;
	}
	if (command != V2_CMD_PROXY) {
		*why = "unknown v2 command";
		return PROXY_BAD;
	}
	/*
	 * The spec (2.2) defines UNSPEC (0x00) and each of INET, INET6 and
	 * UNIX with STREAM or DGRAM; any other byte, a family without a
	 * transport or the other way round, must be dropped.
	 */
	if (!proxy_v2_defined(buf[13])) {
		*why = "unknown v2 address family or transport";
		return PROXY_BAD;
	}
	memset(&h->client, 0, sizeof(h->client));
	/*
	 * A datagram or Unix client cannot have sent a TCP stream: like
	 * UNSPEC, the spec's fallback for combinations a receiver does not
	 * take, such a header names nobody and the balancer is the peer.
	 */
	if ((buf[13] & 0x0f) != V2_TRANSPORT_STREAM)
		family = V2_AF_UNSPEC;
	if (family == V2_AF_INET) {
		if (body < V2_ADDRS_INET)
			goto short_body;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, buf + 16, 4);
		memcpy(&sin->sin_port, buf + 24, 2);
		h->client_len = sizeof(*sin);
	} else if (family == V2_AF_INET6) {
		if (body < V2_ADDRS_INET6)
			goto short_body;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, buf + 16, 16);
		memcpy(&sin6->sin6_port, buf + 48, 2);
		h->client_len = sizeof(*sin6);
	} else
		h->local = true;	/* UNSPEC or a Unix client */
	return PROXY_DONE;
short_body:
	*why = "v2 addresses cut short";
	return PROXY_BAD;
}

enum proxy_result
proxy_parse(const uint8_t *buf, size_t len, struct proxy_header *h,
    const char **why)
{
	memset(h, 0, sizeof(*h));
	*why = "not a PROXY header";
	if (len == 0)
		return PROXY_MORE;
	if (proxy_prefix_of(buf, len, "PROXY ", 6))
		return len < 6 ? PROXY_MORE : proxy_v1(buf, len, h, why);
	if (proxy_prefix_of(buf, len, v2_signature, sizeof(v2_signature)))
		return len < sizeof(v2_signature) ? PROXY_MORE :
		    proxy_v2(buf, len, h, why);
	return PROXY_BAD;
}

/*
 * The header a balancer would send for a connection from src to dst:
 * TCP4 or TCP6 with both addresses, else (a Unix socket) v1's UNKNOWN or
 * v2's LOCAL.  Returns its length; out holds PROXY_V1_MAX + 1 bytes, or
 * 16 + V2_ADDRS_INET6 for v2.
 */
size_t
proxy_write(int version, const struct sockaddr *src, const struct sockaddr *dst,
    uint8_t *out)
{
	const struct sockaddr_in	*s4 = (const void *)src, *d4 = (const void *)dst;
	const struct sockaddr_in6	*s6 = (const void *)src, *d6 = (const void *)dst;
	char				 sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	bool				 inet = src->sa_family == AF_INET &&
					     dst->sa_family == AF_INET;
	bool				 inet6 = src->sa_family == AF_INET6 &&
					     dst->sa_family == AF_INET6;
	size_t				 len = 16;

	if (version == 1) {
		if (!inet && !inet6)
			return snprintf((char *)out, PROXY_V1_MAX + 1,
			    "PROXY UNKNOWN\r\n");
		inet_ntop(src->sa_family, inet ? (const void *)&s4->sin_addr :
		    (const void *)&s6->sin6_addr, sa, sizeof(sa));
		inet_ntop(dst->sa_family, inet ? (const void *)&d4->sin_addr :
		    (const void *)&d6->sin6_addr, da, sizeof(da));
		return snprintf((char *)out, PROXY_V1_MAX + 1,
		    "PROXY %s %s %s %u %u\r\n", inet ? "TCP4" : "TCP6", sa, da,
		    ntohs(inet ? s4->sin_port : s6->sin6_port),
		    ntohs(inet ? d4->sin_port : d6->sin6_port));
	}
	memcpy(out, v2_signature, sizeof(v2_signature));
	out[12] = 0x20 | (inet || inet6 ? V2_CMD_PROXY : V2_CMD_LOCAL);
	out[13] = inet ? (V2_AF_INET << 4 | 1) : inet6 ?
	    (V2_AF_INET6 << 4 | 1) : 0;
	if (inet) {
		memcpy(out + len, &s4->sin_addr, 4);
		memcpy(out + len + 4, &d4->sin_addr, 4);
		memcpy(out + len + 8, &s4->sin_port, 2);
		memcpy(out + len + 10, &d4->sin_port, 2);
		len += V2_ADDRS_INET;
	} else if (inet6) {
		memcpy(out + len, &s6->sin6_addr, 16);
		memcpy(out + len + 16, &d6->sin6_addr, 16);
		memcpy(out + len + 32, &s6->sin6_port, 2);
		memcpy(out + len + 34, &d6->sin6_port, 2);
		len += V2_ADDRS_INET6;
	}
	out[14] = (len - 16) >> 8;
	out[15] = (len - 16) & 0xff;
	return len;
}
