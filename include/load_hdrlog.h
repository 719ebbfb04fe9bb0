/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* echoload --hdr-log: an HdrHistogram interval log. */
#ifndef ECHOD_LOAD_HDRLOG_H
#define ECHOD_LOAD_HDRLOG_H

#include <stdio.h>

#include "hist.h"

void	hdrlog_header(FILE *, double);
void	hdrlog_interval(FILE *, double, double, const struct hist *);

#endif
