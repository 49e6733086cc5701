/*
 * A pipeline as GitLab builds it from `.gitlab-ci.yml` (docs/pipeline.md): local includes
 * merged, `!reference` tags resolved, `extends` chains deep-merged, `default:` applied, stages
 * checked. What is left are the jobs, each a resolved mapping with the file and line of every
 * value, in stage order.
 */
#ifndef MODEL_H
#define MODEL_H

#include "pipeline/node.h"
#include "base/strvec.h"

struct ci_job {
	char *name;
	struct node *def;  /* the resolved mapping: script, rules, environment, ... */
	const char *stage; /* points into pipeline.stages */
	size_t stage_index;
	size_t order;	   /* place in the file (qsort is not stable) */
	char *parallel_of; /* the job's name before parallel expansion, NULL if none */
};

struct pipeline {
	char *dir;		/* the repository's work tree: local includes are under it */
	struct strvec files;	/* every file read, in order: nodes point at these names */
	struct node *root;	/* the merged file, references resolved */
	struct strvec stages;	/* .pre, the declared (or default) stages, .post */
	struct node *variables; /* global `variables:` (a mapping, may be empty) */
	struct node *workflow;	/* `workflow:`, or NULL */
	struct ci_job *jobs;	/* visible jobs, in stage order, then file order */
	size_t nr_jobs, jobs_alloc;
};

struct rules_context;
struct civars;

/*
 * Reads FILE (relative to DIR, usually ".gitlab-ci.yml") and what it includes. An include with
 * `rules` is decided with RULES (its p must be P: `rules:exists` looks under P's dir) and VARS,
 * the variables there are before the file is read (GitLab's "Use variables with include");
 * with NULL for both, such an include is an error. 0, or -1 with "FILE:LINE: what is wrong" in
 * err: bad YAML, an unknown keyword, a cycle in extends, a missing !reference target, an
 * undefined stage, an include that cannot be read here, a bad include rule.
 */
int pipeline_load(struct pipeline *p, const char *dir, const char *file,
		  struct rules_context *rules, const struct civars *vars, char *err,
		  size_t err_size);

/*
 * GitLab's wildcard for `include:local` (Repository#search_files_by_wildcard_path): `**` is any
 * text, `/` too; `*` is any text but `/`; every other character is itself; the whole path must
 * match. 1 when PATH matches, 0 when not, -1 when the pattern would take too many steps.
 */
int pipeline_wildcard_match(const char *pattern, const char *path);
void pipeline_release(struct pipeline *p);

const struct ci_job *pipeline_job(const struct pipeline *p, const char *name);
/* The first copy `parallel:` made of the job `name` (e.g. "test 1/3"), NULL if none. */
const struct ci_job *pipeline_parallel_copy(const struct pipeline *p, const char *name);

/*
 * A script keyword (`before_script`, `script`, `after_script`) flattened into lines: a string is
 * one line, nested lists are flattened. 0, or -1 with err when an item is not a string.
 */
int job_script(const struct ci_job *j, const char *key, struct strvec *lines, char *err,
	       size_t err_size);

#endif
