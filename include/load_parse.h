/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* echoload's option values (load_parse.c); each reports its own error. */
#ifndef ECHOD_LOAD_PARSE_H
#define ECHOD_LOAD_PARSE_H

#include <stdint.h>

#include "load.h"

int	option_count(const char *, const char *, uint64_t, uint64_t,
	    uint64_t *);
int	option_uint(const char *, const char *, uint64_t, uint64_t,
	    unsigned int *);
int	option_time(const char *, const char *, uint64_t, uint64_t *);
int	option_size(const char *, uint64_t *, uint64_t *);
int	option_source(struct load_opts *, const char *);
int	option_rate(struct load_opts *, const char *);
int	option_percent(const char *, const char *, double *);

#endif
