/*
 * A job's cgroup (docs/cgroups.md): where it lives, creating it with its limits, a child
 * joining it before exec, what it used, which limit it hit, and ending it. The job's
 * processes are tracked in cgroup v2, in a subtree below berth's own cgroup; on hybrid hosts
 * the limits the v2 tree cannot take (no controllers there) go to the v1 controllers, in a
 * directory of the job's own in each. Knows nothing of jobs: it takes a name and plain values.
 */
#ifndef CGROUP_H
#define CGROUP_H

#include <limits.h>
#include <stddef.h>

/* The v1 controllers a job may get a directory in: pids, memory, cpu. */
#define CGROUP_V1_MAX 3
/* The directory below berth's own cgroup that holds the jobs' cgroups. */
#define CGROUP_JOBS "berth"
/* The leaf berth moves the processes of its own cgroup to, so that v2 controllers can be
 * enabled below it (no process may sit in a cgroup that hands controllers down): the name
 * systemd's DelegateSubgroup= gives it in the runner's unit (docs/operations.md). */
#define CGROUP_LEAF "runner"

struct cgroup_limits {
	long pids_max;		  /* most processes; 0: none */
	unsigned long memory_max; /* bytes; 0: none */
	long cpu_max;		  /* percent of one CPU (200: two CPUs); 0: none */
};

struct cgroup {
	char v2[PATH_MAX];		  /* the job's v2 directory, or "": none */
	char v1[CGROUP_V1_MAX][PATH_MAX]; /* its v1 controller directories */
	size_t nr_v1;
};

/* What the cgroup used, and what it hit; -1 (or 0 for a count) where the host cannot tell. */
struct cgroup_usage {
	long long cpu_usec;  /* CPU time of every process that ran in it */
	long long mem_peak;  /* bytes, the most it held at once */
	long long pids_hits; /* forks refused by pids.max */
	long long oom_kills; /* processes killed for memory.max */
};

/*
 * Creates the cgroup `name` (a job's) below berth's own, with the limits `l` where a
 * controller takes them. 1 when the job has a v2 cgroup (cg->v2 set), 0 when the host has no
 * usable v2 hierarchy (`why` says why; v1 limit directories may still be set), -1 after
 * reporting. `summary` gets a line for the job log: where it is and which limits hold.
 */
int cgroup_create(struct cgroup *cg, const char *name, const struct cgroup_limits *l, char *summary,
		  size_t summary_size);
/*
 * The calling process joins every directory of `cg`. Async-signal-safe: for the child
 * between fork and exec (base/proc.c). 0, or -1 with errno set.
 */
int cgroup_join(const struct cgroup *cg);
/* Adds `dir`, a directory cgroup_create made and the workspace recorded: v2 or v1 by its fs. */
int cgroup_add(struct cgroup *cg, const char *dir);
/* 1 while a process of `cg`'s v2 directory lives, 0 when none, -1 when it cannot tell. */
int cgroup_populated(const struct cgroup *cg);
/* How many processes `cg`'s v2 directory holds (0 when it is gone), or -1 when there is none or
 * it cannot be read. */
int cgroup_count(const struct cgroup *cg);
/* 1 when `cg` has any directory. */
int cgroup_any(const struct cgroup *cg);
/* What `cg` used so far (struct cgroup_usage). Never fails: what cannot be read is -1. */
void cgroup_usage(const struct cgroup *cg, struct cgroup_usage *u);
/* `bytes` for people: "512 MiB", "4.0 GiB". */
void cgroup_format_bytes(unsigned long long bytes, char *out, size_t size);
/*
 * Kills every process in `cg` (cgroup.kill, else freeze and SIGKILL each), waits until none is
 * left and removes its directories. The number of processes found, or -1 after reporting (one
 * stuck in the kernel keeps its directory: cleanup and gc try again).
 */
int cgroup_end(const struct cgroup *cg);

#endif
