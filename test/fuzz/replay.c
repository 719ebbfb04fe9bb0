/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * Runs a fuzz target's checks over every file of the corpora named, as
 * a plain program: `make check` replays the committed seeds and every
 * finding saved there, without libFuzzer.  In order of their names, so
 * that a target that keeps state (the UDP guard) sees a sequence.
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
	struct dirent	**de;
	char		 path[4096];
	size_t		 done = 0;
	int		 i, j, n;

	for (i = 1; i < argc; i++) {
		if ((n = scandir(argv[i], &de, NULL, alphasort)) == -1) {
			perror(argv[i]);
			return 2;
		}
		for (j = 0; j < n; j++) {
			if (de[j]->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", argv[i],
				    de[j]->d_name);
				done += replay_file(path);
			}
			free(de[j]);
		}
		free(de);
	}
	if (done == 0) {
		fprintf(stderr, "%s: no inputs\n", argv[0]);
		return 2;
	}
	printf("%s: %zu inputs replayed, every check held\n", argv[0], done);
	return 0;
}
