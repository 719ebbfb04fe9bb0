/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * The reference for `make bench`: the smallest correct single-thread
 * epoll echo server doing what echod does by default -- PREFIX + each
 * LF-terminated line (pieces of at most --max-line), partial lines
 * flushed at EOF, and reading stopped while a client has --output-limit
 * bytes of output waiting.  No libevent.  Not installed.
 *
 * usage: refserver [-p port] [-P prefix] [-l output-limit] [-m max-line]
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK	65536

struct client {
	int	 fd;
	char	*in;		/* partial line, at most max_line bytes */
	size_t	 in_len;
	char	*out;		/* output not yet written */
	size_t	 out_len, out_cap;
	int	 eof;
	unsigned events;
};

static const char	*prefix = "GOT:";
static size_t		 prefix_len = 4, max_line = 65536, out_limit = 16384;
static int		 ep;

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static void
out_add(struct client *c, const char *p, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		c->out_cap = (c->out_len + n) * 2;
		if ((c->out = realloc(c->out, c->out_cap)) == NULL)
			die("realloc");
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static void
emit(struct client *c, const char *p, size_t n)
{
	out_add(c, prefix, prefix_len);
	out_add(c, p, n);
}

/* Frames c->in; leaves an incomplete short line there. */
static void
frame(struct client *c, int flush)
{
	size_t	 start = 0, n;
	char	*nl;

	while (start < c->in_len) {
		n = c->in_len - start;
		if (n > max_line)
			n = max_line;
		if ((nl = memchr(c->in + start, '\n', n)) != NULL)
			n = nl - (c->in + start) + 1;
		else if (n < max_line && !flush)
			break;
		emit(c, c->in + start, n);
		start += n;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
}

static void
set_events(struct client *c, unsigned events)
{
	struct epoll_event	 ev = { .events = events, .data.ptr = c };

	if (events != c->events && epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = events;
}

static void
drop(struct client *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Writes what it can; returns -1 when the client is gone. */
static int
flush_out(struct client *c)
{
	ssize_t	 n;

	while (c->out_len > 0) {
		n = write(c->fd, c->out, c->out_len);
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		memmove(c->out, c->out + n, c->out_len - n);
		c->out_len -= n;
	}
	if (c->eof && c->out_len == 0)
		return -1;
	set_events(c, (c->eof || c->out_len >= out_limit ? 0 : EPOLLIN) |
	    (c->out_len > 0 ? EPOLLOUT : 0));
	return 0;
}

static int
on_readable(struct client *c)
{
	char	 buf[READ_CHUNK];
	ssize_t	 n;
	size_t	 take;

	n = read(c->fd, buf, sizeof(buf));
	if (n == -1 && errno == EAGAIN)
		return 0;
	if (n == -1)
		return -1;
	if (n == 0) {
		c->eof = 1;
		frame(c, 1);
		return flush_out(c);
	}
	/* Add to the partial line in steps that never exceed max_line. */
	for (size_t off = 0; off < (size_t)n; off += take) {
		take = max_line - c->in_len;
		if (take > (size_t)n - off)
			take = n - off;
		memcpy(c->in + c->in_len, buf + off, take);
		c->in_len += take;
		frame(c, 0);
	}
	return flush_out(c);
}

static void
accept_all(int lfd)
{
	struct epoll_event	 ev;
	struct client		*c;
	int			 fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) != -1) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->in = malloc(max_line)) == NULL)
			die("malloc");
		c->fd = fd;
		c->events = EPOLLIN;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
			die("epoll_ctl");
	}
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin;
	struct epoll_event	 events[256], ev;
	socklen_t		 len = sizeof(sin);
	int			 lfd, ch, i, n, one = 1, port = 0;
	static char		 listen_tag;

	while ((ch = getopt(argc, argv, "p:P:l:m:")) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 'P': prefix = optarg; prefix_len = strlen(optarg); break;
		case 'l': out_limit = strtoul(optarg, NULL, 10); break;
		case 'm': max_line = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: refserver [-p port] [-P prefix] "
			    "[-l output-limit] [-m max-line]\n");
			return 64;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 1024) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1)
		die("listen");
	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.ptr = &listen_tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
		die("epoll_ctl");
	fprintf(stderr, "refserver: listening on 127.0.0.1:%d\n",
	    ntohs(sin.sin_port));
	for (;;) {
		n = epoll_wait(ep, events, 256, -1);
		for (i = 0; i < n; i++) {
			struct client *c = events[i].data.ptr;

			if (events[i].data.ptr == &listen_tag) {
				accept_all(lfd);
				continue;
			}
			if (((events[i].events & (EPOLLIN | EPOLLHUP |
			    EPOLLERR)) && !c->eof && (c->events & EPOLLIN) &&
			    on_readable(c) == -1) ||
			    ((events[i].events & EPOLLOUT) &&
			    flush_out(c) == -1))
				drop(c);
		}
	}
}
