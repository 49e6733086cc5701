#include "base/job_user.h"

#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add_group(struct job_user *u, gid_t gid)
{
	size_t i;

	for (i = 0; i < u->nr_groups; i++)
		if (u->groups[i] == gid)
			return 0;
	if (u->nr_groups == JOB_USER_MAX_GROUPS)
		return error("job user '%s': more than %d groups", u->name, JOB_USER_MAX_GROUPS);
	u->groups[u->nr_groups++] = gid;
	return 0;
}

int job_user_lookup(struct job_user *u, const char *name, const struct strvec *groups)
{
	struct passwd *pw;
	size_t i;

	memset(u, 0, sizeof(*u));
	errno = 0;
	pw = getpwnam(name);
	if (!pw)
		return errno ? error_errno("cannot look up job user '%s'", name)
			     : error("no user '%s' on this machine: create it (useradd --system "
				     "--create-home %s) or take it out of job_users",
				     name, name);
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		return error("job user '%s' has uid or gid 0: scripts must not run as root", name);
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	u->name = strdup(name);
	u->home = strdup(pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
	if (!u->name || !u->home || add_group(u, u->gid) < 0)
		goto fail;
	for (i = 0; i < groups->nr; i++) {
		struct group *gr;

		errno = 0;
		gr = getgrnam(groups->v[i]);
		if (!gr) {
			error("no group '%s' on this machine for job_groups: create it or take it "
			      "out",
			      groups->v[i]);
			goto fail;
		}
		if (gr->gr_gid == 0) {
			error("job_groups: group '%s' is gid 0, root's", groups->v[i]);
			goto fail;
		}
		if (add_group(u, gr->gr_gid) < 0)
			goto fail;
	}
	return 0;
fail:
	job_user_release(u);
	return -1;
}

void job_user_release(struct job_user *u)
{
	free(u->name);
	free(u->home);
	memset(u, 0, sizeof(*u));
}

int job_user_become(const struct job_user *u)
{
	if (setgroups(u->nr_groups, u->groups) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
		return -1;
	/* setuid from root drops every capability; make sure nothing is left to take back. */
	if (setuid(0) == 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

uid_t job_user_uid(const char *name)
{
	struct passwd *pw = name ? getpwnam(name) : NULL;

	return pw ? pw->pw_uid : (uid_t)-1;
}

int job_user_give(const struct job_user *u, const char *path)
{
	if (fchownat(AT_FDCWD, path, u->uid, u->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return error_errno("cannot give '%s' to job user '%s'", path, u->name);
	return 0;
}
