/*
 * The Unix user a job's scripts run as (settings `job_users`, `job_groups`). berth runs as root
 * for the runner and keeps root for what needs it: the workspace, the sandbox, the locks. A
 * job's own code runs as one of the listed users, which no other running job has at the same
 * time, so nothing of another job is readable to it, on either executor. docs/job-users.md.
 */
#ifndef JOB_USER_H
#define JOB_USER_H

#include "base/strvec.h"

#include <stddef.h>
#include <sys/types.h>

struct settings;

#define JOB_USER_MAX_GROUPS 32

struct job_user {
	char *name;
	uid_t uid;
	gid_t gid;			   /* primary group */
	char *home;			   /* from the password database: HOME for scripts */
	gid_t groups[JOB_USER_MAX_GROUPS]; /* supplementary: the primary group and job_groups */
	size_t nr_groups;
};

/*
 * Looks `name` up in the password database and `groups` in the group database. 0, or -1 after
 * saying which is missing. root is refused: scripts must not run as root.
 */
int job_user_lookup(struct job_user *u, const char *name, const struct strvec *groups);
void job_user_release(struct job_user *u);

/*
 * Becomes `u` for good (groups, then gid, then uid): for a child between fork and exec, so
 * async-signal-safe. 0, or -1 with errno set.
 */
int job_user_become(const struct job_user *u);

/*
 * The uid of job user `name`, (uid_t)-1 when `name` is NULL or unknown: every process of it
 * belongs to the job that holds the user (cleanup, gc).
 */
uid_t job_user_uid(const char *name);

/* chown of `path` (never through a symlink) to `u`; 0, or -1 after reporting. */
int job_user_give(const struct job_user *u, const char *path);

#endif
