/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* echoload: drives an echo server and checks every byte it returns. */
#include "config.h"

#include <stdlib.h>

#include "load.h"
#include "log.h"

int
main(int argc, char *argv[])
{
	struct load_opts	 opts;
	int			 rc;

	log_set_name("echoload");
	log_init(LOG_LEVEL_QUIET);
	switch (load_options(&opts, argc, argv)) {
	case 0:
		rc = load_run(&opts);
		break;
	case 1:
		rc = 0;
		break;
	case -2:
		rc = 2;
		break;
	default:
		rc = 64;
		break;
	}
	/* load_options() cleared opts first, whatever it returned. */
	free(opts.sources);
	return rc;
}
