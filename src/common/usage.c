/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <string.h>

#include "usage.h"
#include "util.h"

int
usage_error(FILE *err, const char *fmt, ...)
{
	const char	*name = log_get_name();
	va_list		 ap;

	fprintf(err, "%s: ", name);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fprintf(err, " (see %s --help)\n", name);
	return -1;
}

/* The value of option `name`, from min to max, with K/M/G if a size. */
int
usage_number(FILE *err, const char *name, const char *text, uint64_t min,
    uint64_t max, bool size_suffix, uint64_t *result)
{
	if (parse_number(text, min, max, size_suffix, result) == -1)
		return usage_error(err, "invalid %s '%s': must be %s from "
		    "%llu to %llu", name, text,
		    size_suffix ? "a size" : "a whole number",
		    (unsigned long long)min, (unsigned long long)max);
	return 0;
}

/* What getopt_long(3) returned '?' or ':' for (opterr = 0, ":" first). */
int
usage_bad_option(FILE *err, char **argv, int ch)
{
	const char	*arg = argv[optind - 1];
	const char	*eq;

	if (ch == ':')
		return usage_error(err, "option '%s' needs a value", arg);
	if (strncmp(arg, "--", 2) != 0)
		return usage_error(err, "unknown option '-%c'", optopt);
	/* A known long option that takes no value leaves its own in optopt. */
	if (optopt != 0 && (eq = strchr(arg, '=')) != NULL)
		return usage_error(err, "option '%.*s' takes no value",
		    (int)(eq - arg), arg);
	return usage_error(err, "unknown option '%s'", arg);
}
