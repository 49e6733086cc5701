/*
 * Whether a job runs, and how (docs/pipeline.md): `workflow:rules`, a job's `rules` (`if`,
 * `changes`, `exists`, `when`, `allow_failure`, `variables`), or its `only`/`except`, for one
 * pipeline source. A job that would not run says which rule or keyword excluded it.
 */
#ifndef RULES_H
#define RULES_H

#include "pipeline/civars.h"
#include "pipeline/model.h"
#include "pipeline/git.h"

struct rules_context {
	const struct pipeline *p;
	const struct repo_facts *repo;
	const char *source; /* push, web, schedule, api, merge_request_event, trigger, pipeline */
	struct strvec changed; /* HEAD's own changes, read on first use */
	int changed_read;
};

struct verdict {
	char when[16]; /* on_success, manual, always, delayed, never */
	int allow_failure;
	char start_in[32];	      /* for delayed */
	const struct node *variables; /* the matching rule's, or NULL */
	char why[512];		      /* the rule that decided, or what excluded the job */
};

/*
 * Decides job J with its variables VARS (civars_job). 0 with *v filled (v->when "never" when
 * the job is not in the pipeline), or -1 with err (a bad expression, an unknown revision...).
 */
int rules_job(struct rules_context *c, const struct ci_job *j, const struct civars *vars,
	      struct verdict *v, char *err, size_t err_size);
/* workflow:rules: v->when "never" when no pipeline would be created. */
int rules_workflow(struct rules_context *c, const struct civars *vars, struct verdict *v, char *err,
		   size_t err_size);
/*
 * An include's `rules` (`if`, `exists`, `changes`; `when: never` or `always`), with the variables
 * there are before the file is read: *keep is 1 when the included file is in the pipeline, 0
 * when no rule matched or the matching one says `when: never`. 0, or -1 with err (FILE:LINE).
 */
int rules_include(struct rules_context *c, const struct node *rules, const struct civars *vars,
		  int *keep, char *err, size_t err_size);
void rules_context_release(struct rules_context *c);

#endif
