/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Fault injection for the tests, preloaded into echod (LD_PRELOAD), so
 * that the messages for failures a healthy machine never shows can be
 * produced and checked.  FAILSHIM holds one of:
 *   alloc=N    the Nth malloc/calloc/realloc after the first connection
 *              is accepted, and before a second one is, returns NULL
 *              (once);
 *   alloc_size=MIN-MAX
 *              every allocation of MIN to MAX bytes after the first
 *              connection is accepted, and before a second one is,
 *              returns NULL: the large buffers of one path, chosen by
 *              their size;
 *   recvmmsg   the first recvmmsg(2) fails with ENOMEM (once);
 *   setrlimit  setrlimit(2) fails with EPERM;
 *   two-addresses
 *              the name two-addresses.test (RFC 2606) resolves to
 *              127.0.0.1 and 127.0.0.2, in that order, for the code
 *              that tries each address of a name.
 * Each failure it makes is announced on stderr as "failshim: ...", so a
 * test knows that it happened.
 */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/socket.h>
#include <dlfcn.h>
#include <netdb.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void	*(*real_malloc)(size_t);
static void	*(*real_calloc)(size_t, size_t);
static void	*(*real_realloc)(void *, size_t);

static atomic_long	 alloc_countdown;	/* 0: off */
static size_t		 alloc_min, alloc_max;	/* alloc_max 0: off */
static atomic_int	 accepted;	/* connections accepted so far */
static atomic_bool	 recvmmsg_pending;
static bool		 setrlimit_fails;
static bool		 two_addresses;

/* dlsym() may itself calloc; it gets zeroed static memory meanwhile. */
static char		 early[4096];
static size_t		 early_used;
static atomic_bool	 resolving;

static void
announce(const char *what)
{
	char	 line[128];
	int	 n = snprintf(line, sizeof(line), "failshim: %s\n", what);

	(void)write(STDERR_FILENO, line, n);
}

static void
shim_init(void)
{
	const char	*spec;

	if (real_malloc != NULL || atomic_exchange(&resolving, true))
		return;
	real_calloc = dlsym(RTLD_NEXT, "calloc");
	real_realloc = dlsym(RTLD_NEXT, "realloc");
	real_malloc = dlsym(RTLD_NEXT, "malloc");
	if ((spec = getenv("FAILSHIM")) == NULL)
		return;
	if (strncmp(spec, "alloc=", 6) == 0)
		alloc_countdown = strtol(spec + 6, NULL, 10);
	else if (strncmp(spec, "alloc_size=", 11) == 0) {
		if (sscanf(spec + 11, "%zu-%zu", &alloc_min, &alloc_max) != 2)
			alloc_max = 0;
	} else if (strcmp(spec, "recvmmsg") == 0)
		recvmmsg_pending = true;
	else if (strcmp(spec, "setrlimit") == 0)
		setrlimit_fails = true;
	else if (strcmp(spec, "two-addresses") == 0)
		two_addresses = true;
}

/* Whether this allocation, of size bytes, is one to fail. */
static bool
alloc_fails(size_t size)
{
	/* Only while the first connection is the newest. */
	if (accepted != 1)
		return false;
	if (alloc_max != 0 && size >= alloc_min && size <= alloc_max)
		goto fail;
	if (alloc_countdown <= 0)
		return false;
	if (atomic_fetch_sub(&alloc_countdown, 1) != 1)
		return false;
fail:
	announce("failed an allocation");
	errno = ENOMEM;
	return true;
}

static void *
early_alloc(size_t size)
{
	void	*p;

	size = (size + 15) & ~(size_t)15;
	if (early_used + size > sizeof(early))
		return NULL;
	p = early + early_used;
	early_used += size;
	return p;
}

static bool
is_early(const void *p)
{
	return (const char *)p >= early && (const char *)p < early + sizeof(early);
}

void *
malloc(size_t size)
{
	shim_init();
	if (real_malloc == NULL)
		return early_alloc(size);
	return alloc_fails(size) ? NULL : real_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
	shim_init();
	if (real_calloc == NULL)
		return n != 0 && size > sizeof(early) / n ? NULL :
		    early_alloc(n * size);
	return alloc_fails(n * size) ? NULL : real_calloc(n, size);
}

void *
realloc(void *old, size_t size)
{
	void	*p;

	shim_init();
	if (is_early(old)) {
		/* Never grown in practice; copy out to real memory if it is,
		 * no further than the static block goes. */
		size_t	 room = early + sizeof(early) - (const char *)old;

		if ((p = malloc(size)) != NULL)
			memcpy(p, old, size < room ? size : room);
		return p;
	}
	return alloc_fails(size) ? NULL : real_realloc(old, size);
}

void
free(void *p)
{
	static void	(*real_free)(void *);

	if (p == NULL || is_early(p))
		return;
	if (real_free == NULL)
		real_free = dlsym(RTLD_NEXT, "free");
	real_free(p);
}

int
accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	static int	(*real_accept4)(int, struct sockaddr *, socklen_t *,
			    int);
	int		 s;

	if (real_accept4 == NULL)
		real_accept4 = dlsym(RTLD_NEXT, "accept4");
	if ((s = real_accept4(fd, sa, len, flags)) != -1)
		accepted++;
	return s;
}

int
recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags,
    struct timespec *timeout)
{
	static int	(*real_recvmmsg)(int, struct mmsghdr *, unsigned int,
			    int, struct timespec *);

	if (real_recvmmsg == NULL)
		real_recvmmsg = dlsym(RTLD_NEXT, "recvmmsg");
	shim_init();
	if (atomic_exchange(&recvmmsg_pending, false)) {
		announce("failed recvmmsg");
		errno = ENOMEM;
		return -1;
	}
	return real_recvmmsg(fd, v, n, flags, timeout);
}

int
setrlimit(__rlimit_resource_t resource, const struct rlimit *rl)
{
	static int	(*real_setrlimit)(__rlimit_resource_t,
			    const struct rlimit *);

	if (real_setrlimit == NULL)
		real_setrlimit = dlsym(RTLD_NEXT, "setrlimit");
	shim_init();
	if (setrlimit_fails) {
		announce("failed setrlimit");
		errno = EPERM;
		return -1;
	}
	return real_setrlimit(resource, rl);
}

int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	static int	(*real_getaddrinfo)(const char *, const char *,
			    const struct addrinfo *, struct addrinfo **);
	struct addrinfo	*first, *second, *ai;
	int		 rc;

	if (real_getaddrinfo == NULL)
		real_getaddrinfo = dlsym(RTLD_NEXT, "getaddrinfo");
	shim_init();
	if (!two_addresses || node == NULL ||
	    strcmp(node, "two-addresses.test") != 0)
		return real_getaddrinfo(node, service, hints, res);
	if ((rc = real_getaddrinfo("127.0.0.1", service, hints, &first)) != 0)
		return rc;
	if ((rc = real_getaddrinfo("127.0.0.2", service, hints,
	    &second)) != 0) {
		freeaddrinfo(first);
		return rc;
	}
	/* glibc's freeaddrinfo() frees entry by entry: one list will do. */
	for (ai = first; ai->ai_next != NULL; ai = ai->ai_next)
		;
	ai->ai_next = second;
	*res = first;
	return 0;
}
