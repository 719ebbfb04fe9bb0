/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Leaf helpers that everything may use: checked number parsing and the
 * start-up allocators.
 *
 * Out of memory, echod does one of three things, by when it happens:
 * - at start-up (options, listeners, threads, tables), nothing is served
 *   yet and nothing can be, so it is fatal: the x*() allocators below
 *   log "out of memory: what" and exit 1;
 * - for one connection (its struct conn, bufferevent, TLS state, a
 *   --max-per-ip entry), only that client is refused: it is closed and
 *   logged, and every other client goes on;
 * - in the middle of an echo (an evbuffer that cannot grow), the bytes
 *   cannot be kept and must not be silently lost, so that connection is
 *   closed with the reason; libevent's own failures are logged by it.
 */
#ifndef ECHOD_UTIL_H
#define ECHOD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int	parse_number(const char *, uint64_t, uint64_t, bool, uint64_t *);

void	*xcalloc(size_t, size_t, const char *);
void	*xreallocarray(void *, size_t, size_t, const char *);
char	*xstrdup(const char *, const char *);

#endif
