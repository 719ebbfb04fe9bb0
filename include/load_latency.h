/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* echoload's latency figures: summary lines, distribution, JSON. */
#ifndef ECHOD_LOAD_LATENCY_H
#define ECHOD_LOAD_LATENCY_H

#include <stdbool.h>
#include <stdio.h>

#include "hist.h"

void	latency_line(FILE *, const char *, const struct hist *);
void	latency_distribution(FILE *, const struct hist *);
void	latency_json(FILE *, const char *, const struct hist *, bool);

#endif
