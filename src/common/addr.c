/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/util.h>

#include "addr.h"
#include "util.h"

static int
addr_push(struct listen_list *list, const struct sockaddr *sa,
    socklen_t len, bool share_port, bool optional)
{
	struct listen_addr	*grown, *la;

	grown = reallocarray(list->addrs, list->count + 1, sizeof(*grown));
	if (grown == NULL)
		return -1;
	list->addrs = grown;
	la = &list->addrs[list->count++];
	memset(la, 0, sizeof(*la));
	memcpy(&la->ss, sa, len);
	la->len = len;
	la->share_port = share_port;
	la->optional = optional;
	la->socktype = SOCK_STREAM;
	la->fd = -1;
	return 0;
}

/* Adds a copy of a whole entry, flags and all. */
int
addr_list_push(struct listen_list *list, const struct listen_addr *la)
{
	if (addr_push(list, (const struct sockaddr *)&la->ss, la->len,
	    la->share_port, la->optional) == -1)
		return -1;
	list->addrs[list->count - 1] = *la;
	return 0;
}

int
addr_parse_port(const char *text, uint16_t *port)
{
	uint64_t	 value;

	if (parse_number(text, 0, 65535, false, &value) == -1)
		return -1;
	*port = (uint16_t)value;
	return 0;
}

/* Every IPv4 address and every IPv6 address, on one port. */
int
addr_add_wildcard(struct listen_list *list, uint16_t port)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	sin.sin_port = htons(port);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_any;
	sin6.sin6_port = htons(port);
	if (addr_push(list, (struct sockaddr *)&sin, sizeof(sin), false,
	    false) == -1 ||
	    addr_push(list, (struct sockaddr *)&sin6, sizeof(sin6), true,
	    true) == -1)
		return -1;
	return 0;
}

static int
addr_resolve(struct listen_list *list, const char *host, uint16_t port,
    char *why, size_t whylen)
{
	struct evutil_addrinfo	 hints, *res, *ai;
	int			 error;
	bool			 first = true;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	error = evutil_getaddrinfo(host, NULL, &hints, &res);
	if (error != 0) {
		snprintf(why, whylen, "cannot resolve '%s': %s", host,
		    evutil_gai_strerror(error));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		addr_set_port(ai->ai_addr, port);
		if (addr_push(list, ai->ai_addr, ai->ai_addrlen, !first,
		    false) == -1) {
			evutil_freeaddrinfo(res);
			snprintf(why, whylen, "%s", strerror(errno));
			return -1;
		}
		first = false;
	}
	evutil_freeaddrinfo(res);
	if (first) {
		snprintf(why, whylen, "'%s' has no IPv4 or IPv6 address", host);
		return -1;
	}
	return 0;
}

/*
 * Accepted forms: PORT, *:PORT, HOST, HOST:PORT, [V6ADDR], [V6ADDR]:PORT.
 * A bare PORT or * means every IPv4 and IPv6 address.  Numeric hosts go
 * through evutil_parse_sockaddr_port(); its port check rejects 0 and
 * accepts trailing junk, so the port is split off and checked here.
 */
static int
addr_parse_inet(struct listen_list *list, const char *spec,
    uint16_t default_port, char *why, size_t whylen)
{
	char			 host[256];
	const char		*colon, *port_text = NULL;
	size_t			 host_len;
	uint16_t		 port = default_port;
	struct sockaddr_storage	 ss;
	int			 sslen = sizeof(ss);

	if (*spec == '\0') {
		snprintf(why, whylen, "empty address");
		return -1;
	}
	if (strspn(spec, "0123456789") == strlen(spec)) {
		port_text = spec;
		host_len = 0;
	} else if (*spec == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			snprintf(why, whylen, "expected [IPV6ADDR]:PORT");
			return -1;
		}
		if (close[1] == ':')
			port_text = close + 2;
		host_len = close + 1 - spec;
	} else if ((colon = strrchr(spec, ':')) != NULL &&
	    memchr(spec, ':', colon - spec) == NULL) {
		port_text = colon + 1;
		host_len = colon - spec;
	} else
		host_len = strlen(spec);	/* bare IPv6 or host name */

	if (port_text != NULL && addr_parse_port(port_text, &port) == -1) {
		snprintf(why, whylen, "bad port '%s' (must be 0-65535)",
		    port_text);
		return -1;
	}
	if (host_len >= sizeof(host)) {
		snprintf(why, whylen, "host name too long");
		return -1;
	}
	memcpy(host, spec, host_len);
	host[host_len] = '\0';

	if (host_len == 0 || strcmp(host, "*") == 0)
		return addr_add_wildcard(list, port);
	if (evutil_parse_sockaddr_port(host, (struct sockaddr *)&ss,
	    &sslen) == 0) {
		addr_set_port((struct sockaddr *)&ss, port);
		if (addr_push(list, (struct sockaddr *)&ss, sslen, false,
		    false) == -1) {
			snprintf(why, whylen, "%s", strerror(errno));
			return -1;
		}
		return 0;
	}
	if (*host == '[' || strchr(host, ':') != NULL) {
		snprintf(why, whylen, "bad IPv6 address '%s'", host);
		return -1;
	}
	return addr_resolve(list, host, port, why, whylen);
}

static int
addr_parse_unix(struct listen_list *list, const char *path, char *why,
    size_t whylen)
{
	struct sockaddr_un	 sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (*path == '\0') {
		snprintf(why, whylen, "empty socket path");
		return -1;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(why, whylen, "socket path longer than %zu bytes",
		    sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (addr_push(list, (struct sockaddr *)&sun, sizeof(sun), false,
	    false) == -1) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

static bool
addr_strip(const char **spec, const char *word)
{
	size_t	 len = strlen(word);

	if (strncmp(*spec, word, len) != 0)
		return false;
	*spec += len;
	return true;
}

/*
 * [proxy:][tls:]ADDR or [proxy:][tls:]unix:PATH, where ADDR is one of
 * the forms addr_parse_inet() takes.  The flags go on every address the
 * spec names.
 */
int
addr_parse_listen(struct listen_list *list, const char *spec,
    uint16_t default_port, char *why, size_t whylen)
{
	size_t	 first = list->count, i;
	bool	 tls = false, proxy = false;
	int	 rc;

	for (;;) {
		if (addr_strip(&spec, "tls:"))
			tls = true;
		else if (addr_strip(&spec, "proxy:"))
			proxy = true;
		else
			break;
	}
	if (addr_strip(&spec, "unix:"))
		rc = addr_parse_unix(list, spec, why, whylen);
	else
		rc = addr_parse_inet(list, spec, default_port, why, whylen);
	for (i = first; rc == 0 && i < list->count; i++) {
		list->addrs[i].tls = tls;
		list->addrs[i].proxy = proxy;
	}
	return rc;
}

void
addr_list_free(struct listen_list *list)
{
	free(list->addrs);
	list->addrs = NULL;
	list->count = 0;
}

uint16_t
addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return 0;
}

void
addr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
	else if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
}

/* IPv4-mapped IPv6 peers are shown as the IPv4 address they are. */
const char *
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		evutil_inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			evutil_inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12],
			    host, sizeof(host));
			snprintf(buf, len, "%s:%u", host,
			    ntohs(sin6->sin6_port));
		} else {
			evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, host,
			    sizeof(host));
			snprintf(buf, len, "[%s]:%u", host,
			    ntohs(sin6->sin6_port));
		}
	} else if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const void *)sa;

		snprintf(buf, len, "unix:%.*s", (int)sizeof(sun->sun_path),
		    sun->sun_path);
	} else
		snprintf(buf, len, "<address family %d>", sa->sa_family);
	return buf;
}

/* As the user would write it on the command line, flags first. */
const char *
addr_listen_name(const struct listen_addr *la, char *buf, size_t len)
{
	char	 addr[LISTEN_NAMELEN];

	addr_format((const struct sockaddr *)&la->ss, addr, sizeof(addr));
	snprintf(buf, len, "%s%s%s%s", la->socktype == SOCK_DGRAM ? "udp:" :
	    "", la->proxy ? "proxy:" : "", la->tls ? "tls:" : "", addr);
	return buf;
}
