/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Address blocks (192.0.2.0/24, 2001:db8::/32, or one address), for
 * --proxy-from: which peers may speak for others.  Pure: no sockets.
 */
#ifndef ECHOD_CIDR_H
#define ECHOD_CIDR_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cidr {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned int	 bits;
	uint8_t		 addr[16];	/* host bits cleared */
};

struct cidr_list {
	struct cidr	*blocks;
	size_t		 count;
};

int	cidr_parse(const char *, struct cidr *, const char **);
bool	cidr_match(const struct cidr *, const struct sockaddr *);
bool	cidr_list_match(const struct cidr_list *, const struct sockaddr *);
int	cidr_list_add(struct cidr_list *, const struct cidr *);
void	cidr_list_free(struct cidr_list *);

#endif
