/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* What every fuzz target asserts with: a finding is an abort. */
#ifndef ECHOD_FUZZ_CHECK_H
#define ECHOD_FUZZ_CHECK_H

#include <stdlib.h>

static inline void
check(int condition)
{
	if (!condition)
		abort();
}

#endif
