/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/types.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

/*
 * Becomes `user`: supplementary groups, then group, then user, each
 * checked, and then proven irreversible.  Logs the reason on failure.
 */
int
priv_drop(const char *user)
{
	struct passwd	*pw;
	gid_t		 gid;
	uid_t		 uid;

	if (geteuid() != 0) {
		log_warnx("cannot switch to user %s: not started as root",
		    user);
		return -1;
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		if (errno != 0)
			log_warn("cannot look up user %s", user);
		else
			log_warnx("cannot switch to user %s: no such user",
			    user);
		return -1;
	}
	gid = pw->pw_gid;
	uid = pw->pw_uid;
	if (setgroups(1, &gid) == -1) {
		log_warn("cannot switch to user %s: setgroups", user);
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		log_warn("cannot switch to user %s: setresgid", user);
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		log_warn("cannot switch to user %s: setresuid", user);
		return -1;
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		log_warnx("cannot switch to user %s: root could be regained",
		    user);
		return -1;
	}
	log_info("running as user %s (uid %u, gid %u)", user,
	    (unsigned int)uid, (unsigned int)gid);
	return 0;
}
