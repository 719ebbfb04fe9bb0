/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Logging in the OpenBSD style: one line per event on stderr, prefixed
 * with the program name.  libevent's own messages are routed here too.
 */
#ifndef ECHOD_LOG_H
#define ECHOD_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

enum log_level {
	LOG_LEVEL_QUIET = 0,	/* warnings, start-up and shut-down only */
	LOG_LEVEL_INFO = 1,	/* plus one line per connection opened/closed */
	LOG_LEVEL_DEBUG = 2	/* plus flow control and internals */
};

#define LOG_PRINTF(f, a) __attribute__((format(printf, f, a)))

void	log_init(int level);
void	log_set_name(const char *);
const char *log_get_name(void);
int	log_get_level(void);
void	log_warn(const char *, ...) LOG_PRINTF(1, 2);
void	log_warnx(const char *, ...) LOG_PRINTF(1, 2);
void	log_notice(const char *, ...) LOG_PRINTF(1, 2);
void	log_info(const char *, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *, ...) LOG_PRINTF(1, 2);
/* A warning that clients can make repeat is said once a minute. */
#define LOG_REPEAT_INTERVAL	60
bool	log_repeat_due(_Atomic time_t *);
void	fatal(const char *, ...) LOG_PRINTF(1, 2)
	    __attribute__((noreturn));
void	fatalx(const char *, ...) LOG_PRINTF(1, 2)
	    __attribute__((noreturn));

#endif
