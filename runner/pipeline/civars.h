/*
 * A job's CI/CD variables as GitLab would give them (docs/pipeline.md): predefined ones from the
 * repository, the file's global and job `variables:`, the matching rule's, then the developer's
 * own (`--var`, `--vars-file`, the environment), later sources overriding earlier ones. Values
 * from files and the environment are masked wherever berth shows them.
 */
#ifndef CIVARS_H
#define CIVARS_H

#include "pipeline/model.h"
#include "pipeline/git.h"

#include <stdio.h>

struct civar {
	char *name;
	char *value;
	int masked;    /* shown as [MASKED] */
	int raw;       /* `expand: false`: $ references stay as written */
	char *written; /* the value before its $ references were expanded; NULL when unchanged */
};

struct civars {
	struct civar *v;
	size_t nr, alloc;
};

/* Where the developer's variables come from, highest last. */
struct civars_input {
	const char *source;	 /* CI_PIPELINE_SOURCE: push, web, schedule, api, ... */
	struct civars developer; /* --vars-file, environment (masked) and --var, merged */
	/* The matching workflow rule's `variables:` (over the global ones), or NULL. */
	const struct node *workflow;
};

/* Sets (replacing) NAME. 0, or -1 when memory runs out. */
int civars_set(struct civars *c, const char *name, const char *value, int masked);
const char *civars_get(const struct civars *c, const char *name);
/* An expr_lookup over a struct civars. */
const char *civars_lookup(const char *name, void *data);
/* The same, giving each value as written, before expansion: expr_eval_patterns's PATTERN. */
const char *civars_lookup_written(const char *name, void *data);
void civars_release(struct civars *c);

/*
 * Reads a dotenv file (NAME=value lines; '#' comments, blank lines, optional `export `, values
 * optionally in single or double quotes) into `out`, masked. 0, or -1 with err naming the line.
 */
int civars_read_dotenv(struct civars *out, const char *path, char *err, size_t err_size);

/*
 * The pipeline-level variables (predefined, global `variables:`, the developer's): what
 * `workflow:rules` see. 0, or -1 with err.
 */
int civars_pipeline(struct civars *out, const struct pipeline *p, const struct repo_facts *r,
		    const struct civars_input *in, char *err, size_t err_size);
/*
 * A job's variables before its rules: the pipeline's (the global ones, then the workflow
 * rule's over them), the job's CI_JOB_* and environment variables, and its own `variables:`,
 * with `$VAR` references expanded. 0, or -1 with err.
 */
int civars_job(struct civars *out, const struct pipeline *p, const struct ci_job *j,
	       const struct repo_facts *r, const struct civars_input *in, char *err,
	       size_t err_size);
/* Whether job J takes the file's global (and workflow) variable NAME: `inherit:variables`. */
int civars_inherits(const struct ci_job *j, const char *name);
/* Adds a matching rule's `variables:` (expanded), under the developer's. */
int civars_add_rule(struct civars *out, const struct node *vars, const struct civars_input *in,
		    char *err, size_t err_size);

/*
 * Prints `text` with every value of a masked variable in it replaced by [MASKED]: a secret copied
 * into another variable or a script line stays hidden too.
 */
void civars_print_masked(const struct civars *c, const char *text, FILE *out);
/* Prints NAME=value lines, sorted by name, secrets masked (civars_print_masked). */
void civars_print(const struct civars *c, FILE *out, const char *indent);

#endif
