/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <signal.h>
#include <stdlib.h>

#include <event2/event.h>

#include "log.h"
#include "options.h"
#include "priv.h"
#include "server.h"

int
main(int argc, char *argv[])
{
	struct options	 opts;
	struct group	 group;
	int		 status;

	switch (options_parse(&opts, argc, argv, stdout, stderr)) {
	case OPTIONS_EXIT_OK:
		options_free(&opts);
		return 0;
	case OPTIONS_EXIT_USAGE:
		options_free(&opts);
		return EXIT_USAGE;
	case OPTIONS_RUN:
		break;
	}
	log_init(opts.log_level);
	/* A client that goes away mid-write must not kill the server. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");

	/* Bind first: ports below 1024 need root, serving does not. */
	if (group_init(&group, &opts) == -1 ||
	    (opts.user != NULL && priv_drop(opts.user) == -1))
		status = 1;
	else
		status = group_run(&group);
	group_free(&group);
	options_free(&opts);
	libevent_global_shutdown();
	return status;
}
