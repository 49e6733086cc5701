#include "job/gc.h"

#include "job/census.h"
#include "base/cgroup.h"
#include "base/fs.h"
#include "base/log.h"
#include "job/metrics.h"
#include "job/workspace.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Removes stale workspace `j` (job/census.h), first wiping its job user. 1, or -1. */
static int remove_stale(const struct settings *s, const struct census_job *j, FILE *out,
			int dry_run)
{
	struct cgroup cg;

	if (!dry_run && j->user[0] && workspace_scrub_user(j->user, s) < 0)
		return error("cannot reset the job user of the stale workspace '%s'", j->dir);
	/* Empty (not in use): only its directories go. */
	workspace_recorded_cgroup(j->dir, &cg);
	if (!dry_run && cgroup_end(&cg) < 0)
		return error("cannot remove the cgroup of the stale workspace '%s'", j->dir);
	if (!dry_run && remove_tree(j->dir, 1) < 0)
		return error("cannot remove the stale workspace '%s'", j->dir);
	fprintf(out, "%s %s (job %s, project %s, no stage for %lld h %02lld min)\n",
		dry_run ? "would remove" : "removed", j->dir, j->id, j->project_id, j->idle / 3600,
		j->idle % 3600 / 60);
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
	struct census_job *jobs;
	size_t nr, i;
	int removed = 0, failed = 0;

	if (!sees_every_environment())
		return error(
			"gc cannot read other users' processes (it needs CAP_SYS_PTRACE and "
			"CAP_DAC_OVERRIDE), so it cannot tell a workspace in use from a stale "
			"one: run it as root with those capabilities (the berth-gc service has them)");
	if (census_jobs(s, &jobs, &nr) < 0)
		return -1;
	for (i = 0; i < nr; i++) {
		int r = jobs[i].stale ? remove_stale(s, &jobs[i], out, dry_run) : 0;

		removed += r > 0;
		failed |= r < 0;
	}
	free(jobs);
	if (failed)
		return -1;
	if (!dry_run) {
		record_success(s);
		metrics_write(s, NULL);
	}
	return removed;
}
