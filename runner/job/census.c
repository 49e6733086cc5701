#include "job/census.h"

#include "base/array.h"
#include "base/fs.h"
#include "base/job_user.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/procscan.h"
#include "conf/vars.h"
#include "job/workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STAGE_FILE "stage"

/* Written whole to a temporary name and renamed: a reader sees the old record or the new. */
static void write_record(const struct stage_record *r)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 16];
	FILE *f = NULL;
	int fd = -1;

	if (path_join(path, sizeof(path), "%s/" STAGE_FILE, r->dir) < 0 ||
	    path_join(tmp, sizeof(tmp), "%s/" STAGE_FILE ".tmp", r->dir) < 0)
		return;
	/* Nothing secret: names, times, a lock key. Readable, as the state record is. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0 && (f = fdopen(fd, "w")))
		fprintf(f,
			"stage %s\nsince %lld\npid %d\nstart %llu\nlock %s\nholding %d\n"
			"queued %lld\ntaken %lld\n",
			r->stage, r->since, (int)r->pid, r->start, r->lock[0] ? r->lock : "-",
			r->holding, r->queued, r->taken);
	if (fd < 0 || !f || fclose(f) != 0 || rename(tmp, path) < 0) {
		if (fd >= 0 && !f)
			close(fd);
		warning("cannot record the running stage in '%s' (%s): berth status will not "
			"show it",
			path, strerror(errno));
	}
}

void stage_record_begin(struct stage_record *r, const char *dir, const char *stage)
{
	char *c;

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	snprintf(r->stage, sizeof(r->stage), "%s", stage);
	for (c = r->stage; *c; c++)
		if (*c <= ' ' || *c == 0x7f)
			*c = '_'; /* one word on its line */
	r->since = (long long)time(NULL);
	r->pid = getpid();
	procscan_start_time(r->pid, &r->start);
	write_record(r);
}

void stage_record_lock(struct stage_record *r, const char *key, int holding)
{
	snprintf(r->lock, sizeof(r->lock), "%s", key);
	r->holding = holding;
	if (holding)
		r->taken = (long long)time(NULL);
	else
		r->queued = (long long)time(NULL);
	write_record(r);
}

void stage_record_end(struct stage_record *r)
{
	char path[PATH_MAX + 16];

	if (path_join(path, sizeof(path), "%s/" STAGE_FILE, r->dir) == 0 && unlink(path) < 0 &&
	    errno != ENOENT)
		warning("cannot remove the stage record '%s': %s", path, strerror(errno));
}

/* The stage record of workspace `dir`: 1 when it names a live `berth run`, else 0. */
static int read_record(const char *dir, struct stage_record *r)
{
	char path[PATH_MAX + 16], line[LOCK_KEY_MAX + 64];
	unsigned long long start = 0;
	FILE *f;

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	if (path_join(path, sizeof(path), "%s/" STAGE_FILE, dir) < 0 || !(f = fopen(path, "re")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ' ');

		line[strcspn(line, "\n")] = '\0';
		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(line, "stage"))
			snprintf(r->stage, sizeof(r->stage), "%s", v);
		else if (!strcmp(line, "since"))
			r->since = strtoll(v, NULL, 10);
		else if (!strcmp(line, "pid"))
			r->pid = (pid_t)strtol(v, NULL, 10);
		else if (!strcmp(line, "start"))
			r->start = strtoull(v, NULL, 10);
		else if (!strcmp(line, "lock") && strcmp(v, "-") != 0)
			snprintf(r->lock, sizeof(r->lock), "%s", v);
		else if (!strcmp(line, "holding"))
			r->holding = !strcmp(v, "1");
		else if (!strcmp(line, "queued"))
			r->queued = strtoll(v, NULL, 10);
		else if (!strcmp(line, "taken"))
			r->taken = strtoll(v, NULL, 10);
	}
	fclose(f);
	/* A berth killed mid-stage leaves its record: only a live one counts. */
	return r->stage[0] && r->pid > 0 && procscan_start_time(r->pid, &start) == 0 &&
	       start == r->start;
}

long long census_idle_seconds(const char *dir)
{
	char state[PATH_MAX + 16];
	struct stat st;

	if (path_join(state, sizeof(state), "%s/state", dir) < 0 ||
	    (lstat(state, &st) < 0 && lstat(dir, &st) < 0))
		return -1;
	return (long long)time(NULL) - (long long)st.st_mtime;
}

int census_in_use(const char *dir, const struct cgroup *cg)
{
	char marker[PATH_MAX + 64], user[64];
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

/* The job's live processes: its cgroup's, else those carrying its marker; -1 when unknown. */
static int count_processes(const char *dir, const struct cgroup *cg)
{
	char marker[PATH_MAX + 64];

	if (cg->v2[0])
		return cgroup_count(cg);
	if (path_join(marker, sizeof(marker), "%s=%s", JOB_MARKER, dir) < 0)
		return -1;
	return procscan_count_marked(marker);
}

static void recorded(const char *dir, const char *key, char *out, size_t size)
{
	if (workspace_recorded(dir, key, out, size) < 0)
		snprintf(out, size, "%s", "-");
}

/* Workspace `name` of `jobs`, into `j`: 1, or 0 when the entry is no job's workspace. */
static int look_at(const struct settings *s, const char *jobs, const char *name,
		   struct census_job *j)
{
	char prepared[32];
	struct cgroup cg;

	if (!*name || strspn(name, "0123456789") != strlen(name) || strlen(name) >= sizeof(j->id))
		return 0;
	memset(j, 0, sizeof(*j));
	memcpy(j->id, name, strlen(name) + 1); /* fits: measured above */
	if (path_join(j->dir, sizeof(j->dir), "%s/%s", jobs, name) < 0)
		return 0;
	recorded(j->dir, "project_path", j->project, sizeof(j->project));
	recorded(j->dir, "project_id", j->project_id, sizeof(j->project_id));
	if (workspace_recorded(j->dir, "user", j->user, sizeof(j->user)) < 0)
		j->user[0] = '\0';
	if (workspace_recorded(j->dir, "prepared", prepared, sizeof(prepared)) == 0)
		j->prepared = strtoll(prepared, NULL, 10);
	workspace_recorded_cgroup(j->dir, &cg);
	snprintf(j->cgroup, sizeof(j->cgroup), "%s", cg.v2);
	j->idle = census_idle_seconds(j->dir);
	j->processes = count_processes(j->dir, &cg);
	j->running = read_record(j->dir, &j->stage);
	/* gc's rule (job/gc.h), asked only of the workspaces old enough to be stale */
	j->stale = !j->running && j->idle >= (long long)s->gc_age && !census_in_use(j->dir, &cg);
	return 1;
}

static int by_id(const void *a, const void *b)
{
	const struct census_job *x = a, *y = b;
	size_t lx = strlen(x->id), ly = strlen(y->id);

	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->id, y->id);
}

int census_jobs(const struct settings *s, struct census_job **jobs, size_t *nr)
{
	char dir[PATH_MAX];
	struct dirent *e;
	size_t alloc = 0;
	DIR *d;

	*jobs = NULL;
	*nr = 0;
	if (path_join(dir, sizeof(dir), "%s/jobs", s->state_dir) < 0)
		return -1;
	d = opendir(dir);
	if (!d && errno == ENOENT)
		return 0; /* no job was ever prepared here */
	if (!d)
		return error_errno("cannot list the workspaces in '%s'%s", dir,
				   errno == EACCES ? " (only root may): run it as root" : "");
	while ((e = readdir(d))) {
		if (ALLOC_GROW(*jobs, *nr + 1, alloc) < 0) {
			closedir(d);
			free(*jobs);
			*jobs = NULL;
			*nr = 0;
			return -1;
		}
		*nr += (size_t)look_at(s, dir, e->d_name, &(*jobs)[*nr]);
	}
	closedir(d);
	if (*nr)
		qsort(*jobs, *nr, sizeof(**jobs), by_id);
	return 0;
}
