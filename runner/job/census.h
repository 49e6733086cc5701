/*
 * What runs on this runner now, read from the state dir alone (no network): every workspace
 * with its job, user, cgroup and process count, whether it is stale (what `berth gc` would
 * remove), and the stage running in it. Each `berth run` keeps a stage record in its workspace
 * (<workspace>/stage: the stage's name, berth's pid, the lock it waits for or holds) while
 * the stage runs; this is also the only local record of a lock held through the kubernetes
 * backend. For `berth status`, and for gc's idea of stale.
 */
#ifndef CENSUS_H
#define CENSUS_H

#include "base/cgroup.h"
#include "conf/lock_key.h"
#include "conf/settings.h"

#include <sys/types.h>

/* A stage as `berth run` records it in its workspace. */
struct stage_record {
	char dir[PATH_MAX]; /* the workspace */
	char stage[64];
	long long since;	     /* Unix seconds */
	pid_t pid;		     /* the `berth run` of the stage */
	unsigned long long start;    /* its start time (procscan_start_time): pid reuse */
	char lock[LOCK_KEY_MAX + 1]; /* "" when the stage takes no lock */
	int holding;		     /* 1 holding `lock`, 0 waiting for it */
	long long queued;	     /* when it joined the lock's queue */
	long long taken;	     /* when it took the lock; 0 while waiting */
};

/*
 * run: the stage starts in workspace `dir` (written at once), takes or waits for a lock (the
 * record rewritten), ends (removed). Failures to record are warnings: a stage never fails for
 * want of its record, which only `berth status` reads.
 */
void stage_record_begin(struct stage_record *r, const char *dir, const char *stage);
void stage_record_lock(struct stage_record *r, const char *key, int holding);
void stage_record_end(struct stage_record *r);

struct census_job {
	char id[32];
	char dir[PATH_MAX];
	char project[256];     /* its path, "-" when unknown */
	char project_id[32];   /* "-" when unknown */
	char user[64];	       /* its job user, "" for none */
	long long prepared;    /* Unix seconds, 0 when unknown */
	long long idle;	       /* seconds since a stage last started, -1 when unknown */
	int processes;	       /* live processes of the job, -1 when unknown */
	char cgroup[PATH_MAX]; /* its v2 cgroup, "" for none */
	int stale;	       /* no stage for gc_age and no process: gc would remove it */
	int running;	       /* `stage` is a live stage record */
	struct stage_record stage;
};

/*
 * Every workspace of <state_dir>/jobs, in job id order, into a new array *jobs (free() it).
 * 0 (none: also when there is no jobs dir yet), or -1 after reporting what could not be read.
 */
int census_jobs(const struct settings *s, struct census_job **jobs, size_t *nr);

/* Seconds since workspace `dir` last saw a stage (its state record's time), or -1. */
long long census_idle_seconds(const char *dir);
/*
 * 1 when a process still works in workspace `dir` (its cgroup `cg`, else the processes marked
 * with it), or runs as its job user; also when that cannot be told. Else 0.
 */
int census_in_use(const char *dir, const struct cgroup *cg);

#endif
