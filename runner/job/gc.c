#include "job/gc.h"

#include "conf/vars.h"
#include "base/cgroup.h"
#include "base/fs.h"
#include "base/job_user.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/procscan.h"
#include "job/metrics.h"
#include "job/workspace.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

long long gc_idle_seconds(const char *dir)
{
	char state[4500];
	struct stat st;

	if (path_join(state, sizeof(state), "%s/state", dir) < 0 ||
	    (lstat(state, &st) < 0 && lstat(dir, &st) < 0))
		return -1;
	return (long long)time(NULL) - (long long)st.st_mtime;
}

int gc_in_use(const char *dir, const struct cgroup *cg)
{
	char marker[4600], user[64];
	uid_t uid;

	/* -1 (cannot tell) counts as in use, in each check */
	if (cg->v2[0] ? cgroup_populated(cg) != 0
		      : path_join(marker, sizeof(marker), "%s=%s", JOB_MARKER, dir) < 0 ||
				procscan_count_marked(marker) != 0)
		return 1;
	/* its user may also run outside the job (workspace_end_processes) */
	uid = workspace_recorded(dir, "user", user, sizeof(user)) == 0 ? job_user_uid(user)
								       : (uid_t)-1;
	return uid != (uid_t)-1 && proc_user_alive(uid) != 0;
}

static int consider(const struct settings *s, const char *jobs, const char *name, FILE *out,
		    int dry_run)
{
	char dir[4400], project[64] = "-", user[64];
	struct cgroup cg;
	long long idle;

	if (strspn(name, "0123456789") != strlen(name) || !*name)
		return 0; /* not a job's workspace */
	if (path_join(dir, sizeof(dir), "%s/%s", jobs, name) < 0)
		return -1;
	idle = gc_idle_seconds(dir);
	workspace_recorded_cgroup(dir, &cg);
	if (idle < 0 || idle < (long long)s->gc_age || gc_in_use(dir, &cg))
		return 0;
	workspace_recorded(dir, "project_id", project, sizeof(project));
	if (!dry_run && workspace_recorded(dir, "user", user, sizeof(user)) == 0 &&
	    workspace_scrub_user(user, s) < 0)
		return error("cannot reset the job user of the stale workspace '%s'", dir);
	/* Empty (not in use): only its directories go. */
	if (!dry_run && cgroup_end(&cg) < 0)
		return error("cannot remove the cgroup of the stale workspace '%s'", dir);
	if (!dry_run && remove_tree(dir, 1) < 0)
		return error("cannot remove the stale workspace '%s'", dir);
	fprintf(out, "%s %s (job %s, project %s, no stage for %lld h %02lld min)\n",
		dry_run ? "would remove" : "removed", dir, name, project, idle / 3600,
		idle % 3600 / 60);
	return 1;
}

/*
 * in_use() reads the environment of every process. As root, a process of another user shows it
 * only with CAP_SYS_PTRACE and CAP_DAC_OVERRIDE (or CAP_DAC_READ_SEARCH); without them gc could
 * not tell a busy workspace from a stale one, so it removes none.
 */
static int sees_every_environment(void)
{
	enum { DAC_OVERRIDE = 1, DAC_READ_SEARCH = 2, SYS_PTRACE = 19 };
	unsigned long long caps = 0;
	char line[256];
	FILE *f;

	if (geteuid() != 0)
		return 1; /* a job of an unprivileged berth runs as berth's own user */
	f = fopen("/proc/self/status", "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7)) {
			caps = strtoull(line + 7, NULL, 16);
			break;
		}
	if (f)
		fclose(f);
	return (caps >> SYS_PTRACE & 1) &&
	       (caps >> DAC_OVERRIDE & 1 || caps >> DAC_READ_SEARCH & 1);
}

#define LAST_SUCCESS "gc.last" /* in the state dir: the Unix time of the last good gc */

long long gc_last_success(const struct settings *s)
{
	char path[PATH_MAX], line[32] = "";
	FILE *f = path_join(path, sizeof(path), "%s/" LAST_SUCCESS, s->state_dir) < 0
			  ? NULL
			  : fopen(path, "re");

	if (f && !fgets(line, sizeof(line), f))
		line[0] = '\0';
	if (f)
		fclose(f);
	return strtoll(line, NULL, 10);
}

/* Written whole and renamed: a reader sees the old time or the new, never half of one. */
static void record_success(const struct settings *s)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;
	int ok;

	/* no state dir: no job ever ran here, and nothing to keep a time in */
	if (access(s->state_dir, F_OK) < 0 ||
	    path_join(path, sizeof(path), "%s/" LAST_SUCCESS, s->state_dir) < 0 ||
	    path_join(tmp, sizeof(tmp), "%s.tmp", path) < 0)
		return;
	f = fopen(tmp, "we");
	ok = f && fprintf(f, "%lld\n", (long long)time(NULL)) > 0;
	if (f && fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) < 0) {
		warning("cannot record gc's success in '%s': %s", path, strerror(errno));
		unlink(tmp);
	}
}

int gc_run(const struct settings *s, FILE *out, int dry_run)
{
	char jobs[4096];
	struct dirent *e;
	DIR *d;
	int removed = 0, failed = 0;

	if (!sees_every_environment())
		return error(
			"gc cannot read other users' processes (it needs CAP_SYS_PTRACE and "
			"CAP_DAC_OVERRIDE), so it cannot tell a workspace in use from a stale "
			"one: run it as root with those capabilities (the berth-gc service has them)");
	if (path_join(jobs, sizeof(jobs), "%s/jobs", s->state_dir) < 0)
		return -1;
	d = opendir(jobs);
	if (!d && errno != ENOENT)
		return error_errno("cannot read '%s'", jobs);
	while (d && (e = readdir(d))) {
		int r = consider(s, jobs, e->d_name, out, dry_run);

		removed += r > 0;
		failed |= r < 0;
	}
	if (d)
		closedir(d);
	if (failed)
		return -1;
	if (!dry_run) {
		record_success(s);
		metrics_write(s, NULL);
	}
	return removed;
}
