/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/*
 * A whole decimal number within [min, max], optionally with a binary
 * size suffix.  Signs, spaces, empty strings and trailing junk are
 * refused: strtoull alone would quietly accept "-1" and " 5".
 */
int
parse_number(const char *text, uint64_t min, uint64_t max, bool size_suffix,
    uint64_t *result)
{
	unsigned long long	 value;
	char			*end;
	unsigned int		 shift = 0;

	if (!isdigit((unsigned char)*text))
		return -1;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0)
		return -1;
	if (size_suffix && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: return -1;
		}
		end++;
	}
	if (*end != '\0')
		return -1;
	if (shift != 0 && value > (UINT64_MAX >> shift))
		return -1;
	value <<= shift;
	if (value < min || value > max)
		return -1;
	*result = value;
	return 0;
}

void *
xcalloc(size_t n, size_t size, const char *what)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		fatalx("out of memory: %s", what);
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t size, const char *what)
{
	void	*p;

	if ((p = reallocarray(old, n, size)) == NULL)
		fatalx("out of memory: %s", what);
	return p;
}

char *
xstrdup(const char *s, const char *what)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatalx("out of memory: %s", what);
	return p;
}
