/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

/* syslog(3) priorities, as sd-daemon(3) prefixes them for the journal. */
#define PRIO_ERR	3
#define PRIO_WARNING	4
#define PRIO_NOTICE	5
#define PRIO_INFO	6
#define PRIO_DEBUG	7

static int log_level = LOG_LEVEL_INFO;
/* The program the lines come from: echod, or echoload. */
static const char *log_name = "echod";
/* Standard error is the journal's stream: "<N>" instead of "echod: ". */
static bool log_journal;

/*
 * Each message is formatted into one buffer and written with a single
 * write(2), so lines never interleave with anything else on stderr.
 */
static void
log_emit(int prio, const char *fmt, va_list ap, const char *suffix)
{
	char	 line[2048];
	int	 len;

	if (log_journal)
		len = snprintf(line, sizeof(line), "<%d>", prio);
	else
		len = snprintf(line, sizeof(line), "%s: ", log_name);
	len += vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (len >= (int)sizeof(line) - 1)
		len = sizeof(line) - 2;
	if (suffix != NULL) {
		len += snprintf(line + len, sizeof(line) - len, ": %s", suffix);
		if (len >= (int)sizeof(line) - 1)
			len = sizeof(line) - 2;
	}
	line[len++] = '\n';
	(void)write(STDERR_FILENO, line, len);
}

static void
log_libevent_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

static void
log_libevent_fatal_cb(int err)
{
	fatalx("libevent: fatal error %d", err);
}

/*
 * Whether standard error is connected to the journal: systemd says so
 * with JOURNAL_STREAM=DEVICE:INODE of that stream (sd-daemon(3)); a
 * variable inherited by a process whose stderr went elsewhere does not
 * match.
 */
static bool
log_to_journal(void)
{
	const char		*env = getenv("JOURNAL_STREAM");
	struct stat		 st;
	unsigned long long	 dev, ino;
	char			 end;

	if (env == NULL || sscanf(env, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	return fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(int level)
{
	log_level = level;
	log_journal = log_to_journal();
	event_set_log_callback(log_libevent_cb);
	event_set_fatal_callback(log_libevent_fatal_cb);
}

void
log_set_name(const char *name)
{
	log_name = name;
}

const char *
log_get_name(void)
{
	return log_name;
}

int
log_get_level(void)
{
	return log_level;
}

/*
 * Whether a warning that clients can make repeat is due: at most once a
 * LOG_REPEAT_INTERVAL for all who share *last (every thread of a server,
 * so N threads do not each say it); in between it is a debug line.
 */
bool
log_repeat_due(_Atomic time_t *last)
{
	time_t	 now = time(NULL), seen = atomic_load(last);

	if (seen != 0 && now - seen < LOG_REPEAT_INTERVAL)
		return false;
	return atomic_compare_exchange_strong(last, &seen, now);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved_errno = errno;

	va_start(ap, fmt);
	log_emit(PRIO_WARNING, fmt, ap, strerror(saved_errno));
	va_end(ap);
	errno = saved_errno;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(PRIO_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(PRIO_NOTICE, fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	if (log_level < LOG_LEVEL_INFO)
		return;
	va_start(ap, fmt);
	log_emit(PRIO_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_level < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	log_emit(PRIO_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved_errno = errno;

	va_start(ap, fmt);
	log_emit(PRIO_ERR, fmt, ap, strerror(saved_errno));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(PRIO_ERR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
