/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Privileges: after binding, a server started as root becomes an
 * unprivileged user for good.
 */
#ifndef ECHOD_PRIV_H
#define ECHOD_PRIV_H

int	priv_drop(const char *);

#endif
