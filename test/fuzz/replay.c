/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Runs a fuzz target's checks over every file of the corpora named, as
 * a plain program: `make check` replays the committed seeds and every
 * finding saved there, without libFuzzer.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static size_t
replay_file(const char *path)
{
	static uint8_t	 buf[1 << 20];
	FILE		*f;
	size_t		 n;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		exit(2);
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 1;
}

int
main(int argc, char *argv[])
{
	struct dirent	*de;
	DIR		*d;
	char		 path[4096];
	size_t		 done = 0;
	int		 i;

	for (i = 1; i < argc; i++) {
		if ((d = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			return 2;
		}
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    de->d_name);
			done += replay_file(path);
		}
		closedir(d);
	}
	if (done == 0) {
		fprintf(stderr, "%s: no inputs\n", argv[0]);
		return 2;
	}
	printf("%s: %zu inputs replayed, every check held\n", argv[0], done);
	return 0;
}
