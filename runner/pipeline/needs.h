/*
 * `needs:` (docs/pipeline.md): which jobs a job waits for, checked as GitLab checks them, and
 * an order in which every job comes after what it waits for. A library that never prints:
 * failures come back in a `why` buffer as "FILE:LINE: GitLab's own message".
 */
#ifndef NEEDS_H
#define NEEDS_H

#include "pipeline/model.h"

/* GitLab's default ci_needs_size_limit: how many needs one job may list. */
#define NEEDS_MAX 50

/* One entry of a job's `needs:`. */
struct ci_need {
	const char *job;	  /* `job:` or the string; NULL for `needs: {pipeline: P}` */
	const char *pipeline;	  /* `pipeline:` of a cross-pipeline need, else NULL */
	const char *project;	  /* `project:` of a cross-project need, else NULL */
	int optional, artifacts;  /* `optional:` (default false), `artifacts:` (default true) */
	const struct node *where; /* the entry, for FILE:LINE */
	/*
	 * The instances `parallel: matrix:` selects ("build: [a, b]"), NULL when the need
	 * names the whole job (every instance of a parallel job).
	 */
	struct strvec *instances;
};

/* A job's `needs:` as written, after its form is checked. */
struct job_needs {
	int has_key; /* the job has `needs:` (an empty list is a key: the job starts at once) */
	struct ci_need *v;
	size_t nr, alloc;
};

/*
 * The needs of every job of `p`, parsed, in p->jobs' order (out[i] is p->jobs[i]'s), and
 * checked as GitLab checks a pipeline's configuration: each need a job of this file (unless
 * `optional: true`), of the same or an earlier stage, named once; no cycle. 0, or -1 with
 * "FILE:LINE: message" in why (*out released).
 */
int needs_load(const struct pipeline *p, struct job_needs **out, char *why, size_t why_size);
void needs_release(struct job_needs *all, size_t nr);

/* 1 when need `n` names pipeline job `j` (itself, or an instance of it when it is parallel). */
int need_matches(const struct ci_need *n, const struct ci_job *j);

/*
 * Checks the needs of the jobs that are in this pipeline (in[i] nonzero: rules, only and
 * except keep p->jobs[i]) as GitLab does when it creates the pipeline: at most NEEDS_MAX, and
 * every need that is not optional in the pipeline too. 0, or -1 with why.
 */
int needs_check_present(const struct pipeline *p, const struct job_needs *all, const int *in,
			char *why, size_t why_size);

/*
 * What job i waits for among the jobs in the pipeline: its needs when it has the key, else
 * every job of an earlier stage. Sets waits[k] to 1 for each such job k (waits has p->nr_jobs
 * entries, cleared first).
 */
void needs_waits_for(const struct pipeline *p, const struct job_needs *all, const int *in, size_t i,
		     int *waits);

/*
 * The jobs in an order that respects what each waits for: by stage, and inside a stage every
 * job after the jobs it needs, else in file order. order gets p->nr_jobs indexes into p->jobs.
 * Needs were checked by needs_load (no cycle), so this cannot fail.
 */
void needs_order(const struct pipeline *p, const struct job_needs *all, size_t *order);

/*
 * The jobs `berth exec --with-needs` runs before job `target`: its needs, theirs, and so on
 * (needs of other projects and pipelines left out), each after what it needs; `target` last.
 * run gets the indexes into p->jobs, *nr how many. 0, or -1 when memory runs out.
 */
int needs_closure(const struct pipeline *p, const struct job_needs *all, size_t target,
		  size_t **run, size_t *nr);

#endif
