/*
 * `parallel:` as GitLab expands it (docs/pipeline.md): `parallel: N` is N jobs named `job 1/N`
 * ... `job N/N`; `parallel: matrix:` is one job per combination of its values, named
 * `job: [a, b]`. Each copy gets CI_NODE_INDEX and CI_NODE_TOTAL, and a matrix's copies their
 * combination's variables. Pure: no files, no printing.
 */
#ifndef PARALLEL_H
#define PARALLEL_H

#include "pipeline/node.h"

#define PARALLEL_MAX 200 /* GitLab's PARALLEL_LIMIT: jobs from one `parallel:` */

struct parallel_copy {
	char *name;		/* "job 2/3" or "job: [a, b]" */
	struct node *variables; /* a mapping: the combination's values, CI_NODE_INDEX, _TOTAL */
};

struct parallel {
	struct parallel_copy *v;
	size_t nr, alloc;
};

/*
 * The copies of the job `job` whose `parallel:` value is `value` (NULL or null: no copies,
 * nr 0). 0, or -1 with "FILE:LINE: GitLab's message" in err for a value GitLab refuses.
 */
int parallel_expand(struct parallel *out, const char *job, const struct node *value, char *err,
		    size_t err_size);
void parallel_release(struct parallel *p);

#endif
