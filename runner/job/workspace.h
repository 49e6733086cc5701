/*
 * A job's workspace: <state_dir>/jobs/<job id>/ (0700), holding tmp/, a per-job builds/ when
 * the settings ask for one, and `state`, the record of what prepare created, which cleanup
 * and gc read. Later stages find it again from the same settings and job id.
 */
#ifndef WORKSPACE_H
#define WORKSPACE_H

#include "job/job.h"
#include "conf/settings.h"
#include "base/cgroup.h"

#include <sys/types.h>

struct workspace {
	char *dir;
	char *tmp;
	char *docker;	  /* DOCKER_CONFIG: config.json with the job's registry logins */
	char *kube;	  /* holds `kubeconfig` */
	char *kubeconfig; /* KUBECONFIG, when the job has one */
	char *builds;	  /* the builds_dir that config reports */
	char *cache;	  /* the cache_dir that config reports */
	char *settings;	  /* the settings the job's own berth commands read (BERTH_CONFIG) */
	char *bin;	  /* holds `berth` and `werf`, links to the binary running the stage */
	char *user;	  /* the job user prepare claimed (settings job_users), or NULL */
	int builds_shared;
	/* The job's cgroup (docs/cgroups.md): made by workspace_create, recorded in `state`,
	 * read back by workspace_init; no directory when the host has none usable. */
	struct cgroup cgroup;
	char *cgroup_note; /* after workspace_create: the job log's line on it */
};

/* Computes the paths and reads the job user a workspace records; changes nothing on disk. */
int workspace_init(struct workspace *ws, const struct settings *s, const struct job *job);
/*
 * Creates the workspace, or completes one an earlier attempt left. With job_users, claims one
 * no other workspace holds (ws->user, and the builds and cache dirs that follow from it) and
 * gives it the job's places: tmp, docker, kube, builds and cache.
 */
int workspace_create(struct workspace *ws, const struct settings *s, const struct job *job);
/*
 * Ends the job's processes: its cgroup killed and removed, or where it has none (v2), every
 * process that carries the workspace's marker (base/procscan.h); then every process of its
 * job user, in the cgroup or not (proc_end_user). How many there were (those outside the
 * cgroup count as one), or -1 after reporting.
 */
int workspace_end_processes(const struct workspace *ws, unsigned grace);
/* The cgroup directories workspace `dir`'s state records, into `cg` (none: left empty). */
void workspace_recorded_cgroup(const char *dir, struct cgroup *cg);

/*
 * What job user `name` can have left outside its builds and cache dirs goes: its home's
 * contents, what it owns at the top of /tmp, /var/tmp and /dev/shm, its crontab. For cleanup
 * and gc, after its processes are gone and before the user is free again. 0 (also for no
 * `name`), or -1 after reporting.
 */
int workspace_scrub_user(const char *name, const struct settings *s);
/*
 * Points <workspace>/bin/berth and <workspace>/bin/werf at `self`, the binary running this
 * stage, so that `berth` in the stage's scripts is that very binary whatever the runner's PATH,
 * and `werf` is berth's wrapper (docs/werf.md). The directory is berth's own (root's on a
 * runner) and holds nothing else: no job user can put a command there. 0, or -1 after
 * reporting.
 */
int workspace_link_berth(const struct workspace *ws, const char *self);
/* Gives the credential dirs and files prepare wrote to the job user; 0 when there is none. */
int workspace_hand_over(const struct workspace *ws, const struct settings *s);
/* 1 when the workspace directory exists, 0 when not, -1 on error. */
int workspace_exists(const struct workspace *ws);
/*
 * Removes the workspace and everything below it, overwriting the credential files first; 0 when
 * it is gone (or never was).
 */
int workspace_remove(const struct workspace *ws);
void workspace_release(struct workspace *ws);
/* Marks the workspace as used now (its state record's time), which `berth gc` reads. */
void workspace_touch(const struct workspace *ws);

/*
 * A value prepare recorded in workspace `dir`'s state ("project_id" from the runner's response
 * file, "user"), into `out`; 0, or -1 when there is none.
 */
int workspace_recorded(const char *dir, const char *key, char *out, size_t size);

#endif
