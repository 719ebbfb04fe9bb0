/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* echoload: drives an echo server and checks every byte it returns. */
#include "config.h"

#include "load.h"
#include "log.h"

int
main(int argc, char *argv[])
{
	struct load_opts	 opts;

	log_set_name("echoload");
	log_init(LOG_LEVEL_QUIET);
	switch (load_options(&opts, argc, argv)) {
	case 0:
		return load_run(&opts);
	case 1:
		return 0;
	case -2:
		return 2;
	default:
		return 64;
	}
}
