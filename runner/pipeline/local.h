/*
 * A pipeline read from the developer's own repository, for `berth pipeline`, `berth dry-run` and
 * `berth exec` (docs/pipeline.md): the options they share, the repository's facts, the loaded
 * pipeline and the developer's variables. Messages go to stderr; the user's mistakes (a bad
 * file, an unknown job) are build failures.
 */
#ifndef LOCAL_H
#define LOCAL_H

#include "base/args.h"
#include "base/berth.h"
#include "pipeline/civars.h"
#include "pipeline/model.h"
#include "pipeline/needs.h"
#include "pipeline/git.h"
#include "pipeline/rules.h"

struct local {
	const char *dir;     /* -C DIR: where to look for the repository (default ".") */
	const char *file;    /* --file F: the pipeline file (default .gitlab-ci.yml) */
	int json;	     /* --json */
	const char *job;     /* the JOB argument, when the command takes one */
	const char *preview; /* --preview JOB (berth pipeline) */
	struct civars_input in;
	struct repo_facts repo;
	struct pipeline pipeline;
	struct rules_context rules;
	struct job_needs *needs; /* needs[i]: pipeline.jobs[i]'s, checked (pipeline/needs.h) */
	int repo_open, pipeline_open;
	int workflow_done; /* local_workflow ran: in.workflow holds its variables */
};

/* A job as the pipeline would have it: its variables and whether (and how) it runs. */
struct local_job {
	const struct ci_job *job;
	struct civars vars;
	struct verdict verdict;
};

/* The options the three commands share, for their entries in main.c's command table: one
 * option a line, which clang-format would not keep. */
/* clang-format off */
#define LOCAL_OPTIONS                                                                              \
	{"-C", NULL, "DIR", 0, "the repository (searched upwards like git; default .)"},           \
	{"--file", NULL, "F", 0, "the pipeline file (default .gitlab-ci.yml)"},                    \
	{"--source", NULL, "S", 0, "push (default), web, schedule, api, merge_request_event, "     \
				   "trigger or pipeline"},                                         \
	{"--var", NULL, "K=V", 1, "set variable K (over every other source)"},                     \
	{"--vars-file", NULL, "F", 1, "read variables (secrets) from a dotenv file"},              \
	{"--env", NULL, "NAME", 1, "take the secret NAME from this environment"}
/* clang-format on */

/*
 * Takes the shared options (LOCAL_OPTIONS, and --json and --preview of berth pipeline) and
 * the JOB operand, when the command has one, from `a`, then reads the repository and the
 * pipeline. BERTH_OK, or a failure reported.
 */
enum berth_result local_open(struct local *l, const struct args *a);
void local_close(struct local *l);

/*
 * workflow:rules for this pipeline: BERTH_OK, with *why set when no pipeline would run. The
 * matching rule's `variables:` become every job's, over the global ones.
 */
enum berth_result local_workflow(struct local *l, char *why, size_t size);
/*
 * Says there is no job `name` to run, and what to name instead: a parallel job's copies, or
 * that hidden jobs never run.
 */
void local_no_such_job(const struct local *l, const char *name);
/* Decides one job (its variables, rules, the rule's variables), after local_workflow. */
enum berth_result local_job(struct local *l, const struct ci_job *j, struct local_job *out);
/*
 * The `variables:` the file gives job LJ over its global ones, as --preview shows them: the
 * workflow rule's (those `inherit:variables` lets through), the job's own, the matching
 * rule's. A new mapping (empty when there are none), or NULL when memory runs out.
 */
struct node *local_job_variables(const struct local *l, const struct local_job *lj);
void local_job_release(struct local_job *lj);
/*
 * The lines of a stage: the job's script `keys` in order ("before_script", "script", NULL),
 * appended to `lines`. BERTH_OK, or BERTH_BUILD_FAILURE after saying which key is wrong
 * (`lines` cleared).
 */
enum berth_result local_stage_lines(const struct local_job *lj, const char *const *keys,
				    struct strvec *lines);

#endif
