/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * systemd: sockets passed by socket activation (sd_listen_fds(3)) and
 * the readiness protocol (sd_notify(3)), through libsystemd.
 */
#ifndef ECHOD_SYSTEMD_H
#define ECHOD_SYSTEMD_H

#include "addr.h"

int	systemd_listen_fds(struct listen_list *);
void	systemd_notify(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));

#endif
