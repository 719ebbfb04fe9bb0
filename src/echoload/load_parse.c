/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * echoload's option values: counts and rates with k and M, sizes and
 * ranges of sizes, times with their units, percentages, --rate's ramp and
 * --source's addresses.  The option table itself is load_options.c.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "load_parse.h"
#include "usage.h"
#include "util.h"

/* A count or a rate: a whole number, k for 1000 and M for 1000000. */
int
option_count(const char *name, const char *text, uint64_t min, uint64_t max,
    uint64_t *result)
{
	char		 digits[32];
	size_t		 n = strspn(text, "0123456789");
	uint64_t	 scale = 1, v;

	if (n > 0 && n < sizeof(digits) && text[n] != '\0' &&
	    text[n + 1] == '\0') {
		if (text[n] == 'k' || text[n] == 'K')
			scale = 1000;
		else if (text[n] == 'M')
			scale = 1000000;
	}
	if (scale == 1 || n >= sizeof(digits))
		return usage_number(stderr, name, text, min, max, false,
		    result);
	memcpy(digits, text, n);
	digits[n] = '\0';
	if (parse_number(digits, 0, max / scale, false, &v) == -1 ||
	    v * scale < min)
		return usage_error(stderr, "invalid %s '%s': must be a whole "
		    "number from %llu to %llu", name, text,
		    (unsigned long long)min, (unsigned long long)max);
	*result = v * scale;
	return 0;
}

int
option_uint(const char *name, const char *text, uint64_t min, uint64_t max,
    unsigned int *result)
{
	uint64_t	 v;

	if (option_count(name, text, min, max, &v) == -1)
		return -1;
	*result = v;
	return 0;
}

/* 250ms, 5s, 2m, 1h, or plain seconds; from min_ms up to a day. */
int
option_time(const char *name, const char *text, uint64_t min_ms,
    uint64_t *ns)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "", 1000 }
	};
	char		 digits[32];
	size_t		 n = strspn(text, "0123456789"), i;
	uint64_t	 v;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(text + n, units[i].unit) == 0)
			break;
	if (n == 0 || n >= sizeof(digits) ||
	    i == sizeof(units) / sizeof(units[0]))
		goto bad;
	memcpy(digits, text, n);
	digits[n] = '\0';
	if (parse_number(digits, 0, 86400000 / units[i].ms, false, &v) == -1 ||
	    v * units[i].ms < min_ms)
		goto bad;
	*ns = v * units[i].ms * 1000000;
	return 0;
bad:
	return usage_error(stderr,
	    "invalid %s '%s': must be a time from %llums to 24h "
	    "(such as 500ms, 10s, 2m)", name, text,
	    (unsigned long long)min_ms);
}

/* -s BYTES or -s MIN-MAX: sizes, k for 1024. */
int
option_size(const char *text, uint64_t *min, uint64_t *max)
{
	char		 first[32];
	const char	*dash = strchr(text, '-');

	if (dash == NULL) {
		*max = 0;
		return usage_number(stderr, "--size", text, PAYLOAD_MIN,
		    PAYLOAD_MAX, true, min);
	}
	if ((size_t)(dash - text) < sizeof(first)) {
		memcpy(first, text, dash - text);
		first[dash - text] = '\0';
	} else
		first[0] = '\0';
	if (parse_number(first, PAYLOAD_MIN, PAYLOAD_MAX, true, min) == -1 ||
	    parse_number(dash + 1, PAYLOAD_MIN, PAYLOAD_MAX, true, max) == -1 ||
	    *max < *min)
		return usage_error(stderr, "invalid --size '%s': must be a "
		    "size or a range MIN-MAX of sizes from %d to %d", text,
		    PAYLOAD_MIN, PAYLOAD_MAX);
	return 0;
}

#define MAX_SOURCES	65536

static int
source_add(struct load_opts *o, const struct sockaddr_storage *ss)
{
	if (o->nsources == MAX_SOURCES)
		return -1;
	o->sources = xreallocarray(o->sources, o->nsources + 1,
	    sizeof(*o->sources), "--source");
	o->sources[o->nsources++] = *ss;
	return 0;
}

/* One address, IPv4 or IPv6, into ss (port 0). */
static int
source_parse(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* --source A[,B...], where an IPv4 item may be a range A-B. */
int
option_source(struct load_opts *o, const char *text)
{
	struct sockaddr_storage	 lo, hi;
	char			 item[128], *dash;
	const char		*p = text;
	size_t			 n;
	uint32_t		 a, b;

	o->nsources = 0;
	while (*p != '\0') {
		n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(item))
			goto bad;
		memcpy(item, p, n);
		item[n] = '\0';
		p += n + (p[n] == ',');
		if ((dash = strchr(item, '-')) != NULL)
			*dash++ = '\0';
		if (source_parse(item, &lo) == -1)
			goto bad;
		if (dash == NULL) {
			if (source_add(o, &lo) == -1)
				goto bad;
			continue;
		}
		if (source_parse(dash, &hi) == -1 || lo.ss_family != AF_INET ||
		    hi.ss_family != AF_INET)
			goto bad;
		a = ntohl(((struct sockaddr_in *)&lo)->sin_addr.s_addr);
		b = ntohl(((struct sockaddr_in *)&hi)->sin_addr.s_addr);
		if (b < a || b - a >= MAX_SOURCES)
			goto bad;
		for (;; a++) {
			((struct sockaddr_in *)&lo)->sin_addr.s_addr = htonl(a);
			if (source_add(o, &lo) == -1)
				goto bad;
			if (a == b)
				break;
		}
	}
	if (o->nsources != 0)
		return 0;
bad:
	return usage_error(stderr, "invalid --source '%s': must be addresses "
	    "separated by commas, IPv4 ranges as A-B, %d at most", text,
	    MAX_SOURCES);
}

/* -r N, or -r N:M for a ramp. */
int
option_rate(struct load_opts *o, const char *text)
{
	char		 first[32];
	const char	*colon = strchr(text, ':');

	if (colon == NULL)
		return option_count("--rate", text, 1, 100000000, &o->rate);
	if ((size_t)(colon - text) >= sizeof(first))
		return usage_error(stderr, "invalid --rate '%s'", text);
	memcpy(first, text, colon - text);
	first[colon - text] = '\0';
	if (option_count("--rate", first, 1, 100000000, &o->rate) == -1 ||
	    option_count("--rate", colon + 1, 1, 100000000,
	    &o->rate_end) == -1)
		return -1;
	return 0;
}

/* A percentage from 0 to 100, decimals allowed. */
int
option_percent(const char *name, const char *text, double *pct)
{
	char	*end;

	*pct = strtod(text, &end);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || *pct > 100)
		return usage_error(stderr, "invalid %s '%s': must be a "
		    "percentage from 0 to 100", name, text);
	return 0;
}
