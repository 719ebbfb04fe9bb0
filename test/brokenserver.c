/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * An echo server that breaks its promise on purpose, for echoload's
 * tests: line framing with the prefix "GOT:", and one fault.
 *
 * usage: brokenserver FAULT [N [MS]]
 *   ok           no fault
 *   corrupt N    the reply byte at offset N of each connection is changed
 *   drop N       the reply byte at offset N is left out
 *   reorder N    the replies to lines N and N+1 go out swapped
 *   close N      the connection is closed after N bytes of replies
 *   reset N      the connection is reset after N bytes of replies
 *   stall N MS   after N lines in all, nothing is answered for MS ms, once
 *   delay MS     each reply is held MS ms (one line at a time)
 *   trickle MS   each reply goes out a byte at a time, MS ms apart
 *
 * Listens on 127.0.0.1, port 0, and prints "port P" once it does.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum fault { OK, CORRUPT, DROP, REORDER, CLOSE, RESET, STALL, DELAY, TRICKLE };

static enum fault	 fault;
static unsigned long	 fault_n, stall_ms;
static unsigned long	 lines_total;	/* for stall, every connection */
static int		 stalled;
static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;

static int
send_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = send(fd, buf, len, MSG_NOSIGNAL)) <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

static void
sleep_ms(unsigned long ms)
{
	struct timespec	 ts = { ms / 1000, ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

static void
stall_maybe(void)
{
	struct timespec	 ts = { stall_ms / 1000, stall_ms % 1000 * 1000000 };
	int		 now;

	pthread_mutex_lock(&lock);
	now = ++lines_total > fault_n && !stalled;
	if (now)
		stalled = 1;
	pthread_mutex_unlock(&lock);
	if (now)
		nanosleep(&ts, NULL);
}

/*
 * One reply: offset is where it starts in the connection's replies.
 * Returns -1 once the connection is to end.
 */
static int
reply(int fd, char *out, size_t len, unsigned long *offset)
{
	unsigned long	 start = *offset, end = start + len;
	struct linger	 lg = { 1, 0 };

	*offset = end;
	if ((fault == CLOSE || fault == RESET) && end > fault_n) {
		send_all(fd, out, fault_n - start);
		if (fault == RESET)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		else {
			/* An orderly end: what the client sent is read first. */
			char	 junk[4096];

			shutdown(fd, SHUT_WR);
			while (recv(fd, junk, sizeof(junk), 0) > 0)
				;
		}
		return -1;
	}
	if (fault == DELAY)
		sleep_ms(fault_n);
	if (fault == TRICKLE) {
		for (; len > 0; out++, len--) {
			if (send_all(fd, out, 1) == -1)
				return -1;
			if (len > 1)
				sleep_ms(fault_n);
		}
		return 0;
	}
	if (fault == CORRUPT && start <= fault_n && fault_n < end)
		out[fault_n - start] ^= 0x01;
	if (fault == DROP && start <= fault_n && fault_n < end) {
		memmove(out + (fault_n - start), out + (fault_n - start) + 1,
		    end - fault_n - 1);
		len--;
	}
	return send_all(fd, out, len);
}

static void *
serve(void *arg)
{
	int		 fd = (int)(long)arg;
	char		 in[65536], line[70000], held[70000];
	size_t		 have = 0, held_len = 0, i, start;
	unsigned long	 offset = 0, lines = 0;
	ssize_t		 n;

	while ((n = recv(fd, in + have, sizeof(in) - have, 0)) > 0) {
		have += n;
		for (start = 0, i = 0; i < have; i++) {
			size_t	 len = i + 1 - start;

			if (in[i] != '\n')
				continue;
			memcpy(line, "GOT:", 4);
			memcpy(line + 4, in + start, len);
			start = i + 1;
			if (fault == STALL)
				stall_maybe();
			if (fault == REORDER && lines == fault_n) {
				memcpy(held, line, len + 4);
				held_len = len + 4;
				lines++;
				continue;
			}
			if (reply(fd, line, len + 4, &offset) == -1)
				goto done;
			if (held_len != 0 && reply(fd, held, held_len,
			    &offset) == -1)
				goto done;
			held_len = 0;
			lines++;
		}
		memmove(in, in + start, have - start);
		have -= start;
	}
done:
	close(fd);
	return NULL;
}

int
main(int argc, char *argv[])
{
	static const char *const names[] = { "ok", "corrupt", "drop",
	    "reorder", "close", "reset", "stall", "delay", "trickle" };
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 len = sizeof(sin);
	pthread_t		 t;
	int			 lfd, fd, i;

	for (i = 0; argc > 1 && i < 9; i++)
		if (strcmp(argv[1], names[i]) == 0)
			break;
	if (argc < 2 || i == 9 || (i != OK && argc < 3) ||
	    (i == STALL && argc < 4)) {
		fprintf(stderr, "usage: brokenserver FAULT [N [MS]]\n");
		return 64;
	}
	fault = (enum fault)i;
	fault_n = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
	stall_ms = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 128) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1) {
		perror("brokenserver");
		return 1;
	}
	printf("port %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	while ((fd = accept(lfd, NULL, NULL)) != -1) {
		if (pthread_create(&t, NULL, serve, (void *)(long)fd) != 0)
			return 1;
		pthread_detach(t);
	}
	return 1;
}
