/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Command-line mistakes, said alike by echod and echoload: one line,
 * "PROGRAM: what (see PROGRAM --help)", PROGRAM being log.h's name.
 * Each returns -1; the caller exits 64.
 */
#ifndef ECHOD_USAGE_H
#define ECHOD_USAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

int	usage_error(FILE *, const char *, ...) LOG_PRINTF(2, 3);
int	usage_number(FILE *, const char *, const char *, uint64_t, uint64_t,
	    bool, uint64_t *);
int	usage_bad_option(FILE *, char **, int);

#endif
