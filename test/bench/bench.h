/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * What the benchmark's load generators share: dying on a system error,
 * a monotonic clock, and the server's CPU time from /proc.
 */
#ifndef ECHOD_BENCH_H
#define ECHOD_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline void
die(const char *what)
{
	perror(what);
	exit(2);
}

static inline uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* User and system time of process pid so far, in clock ticks. */
static inline long
server_cpu_ticks(int pid)
{
	char		 path[64], buf[1024], *p;
	unsigned long	 ut, st;
	FILE		*f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL || fgets(buf, sizeof(buf), f) == NULL)
		die(path);
	fclose(f);
	p = strrchr(buf, ')');
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		die("stat");
	return ut + st;
}

#endif
