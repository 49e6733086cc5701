#include "job/gc.h"

#include "job/census.h"
#include "base/cgroup.h"
#include "base/fs.h"
#include "base/log.h"
#include "job/workspace.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	idle = census_idle_seconds(dir);
	workspace_recorded_cgroup(dir, &cg);
	if (idle < 0 || idle < (long long)s->gc_age || census_in_use(dir, &cg))
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
 * census_in_use() reads the environment of every process. As root, a process of another user shows
 * it only with CAP_SYS_PTRACE and CAP_DAC_OVERRIDE (or CAP_DAC_READ_SEARCH); without them gc could
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
	if (!d)
		return errno == ENOENT ? 0 : error_errno("cannot read '%s'", jobs);
	while ((e = readdir(d))) {
		int r = consider(s, jobs, e->d_name, out, dry_run);

		removed += r > 0;
		failed |= r < 0;
	}
	closedir(d);
	return failed ? -1 : removed;
}
