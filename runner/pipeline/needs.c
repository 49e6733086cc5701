/*
 * `needs:` checked and ordered as GitLab does it (docs/pipeline.md). The messages are GitLab's
 * own (lib/gitlab/ci/yaml_processor.rb for the configuration, pipeline/seed/build.rb for the
 * pipeline being created), prefixed with the FILE:LINE of the need.
 */
#include "pipeline/needs.h"
#include "base/array.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failf(char *why, size_t size, const struct node *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int failf(char *why, size_t size, const struct node *at, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(why, size, "%s:%zu: ", at->file, at->line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < size)
		vsnprintf(why + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int is_string(const struct node *n)
{
	return n && n->kind == NODE_SCALAR && !node_is_null(n);
}

/* Appends "JOB: [v1, v2]" for every combination of one matrix entry's values, in key order. */
static int add_combinations(struct strvec *out, const char *job, const struct node *entry)
{
	size_t *at = calloc(entry->n + 1, sizeof(*at)), k;
	int ret = at ? 0 : -1;

	for (k = 0; k < entry->n; k++)
		if (entry->items[k]->kind == NODE_SEQ && entry->items[k]->n == 0)
			goto out; /* an empty list of values: no combination */
	while (ret == 0) {
		char name[2048]; /* longer than any job name GitLab takes (255) */
		size_t len = (size_t)snprintf(name, sizeof(name), "%s: [", job);

		for (k = 0; k < entry->n && len < sizeof(name); k++) {
			const struct node *v = entry->items[k];
			const struct node *one = v->kind == NODE_SEQ ? v->items[at[k]] : v;

			len += (size_t)snprintf(name + len, sizeof(name) - len, "%s%s",
						k ? ", " : "", one->str ? one->str : "");
		}
		if (len < sizeof(name))
			snprintf(name + len, sizeof(name) - len, "]");
		ret = strvec_push(out, name);
		/* the next combination: the last key's value varies fastest */
		for (k = entry->n; k-- > 0;) {
			const struct node *v = entry->items[k];

			if (v->kind == NODE_SEQ && ++at[k] < v->n)
				break;
			at[k] = 0;
		}
		if (k == (size_t)-1)
			break;
	}
out:
	free(at);
	return ret;
}

/* `parallel: {matrix: [...]}` of a need: the instances it selects. */
static int parse_matrix(struct ci_need *n, const char *name, const struct node *par, char *why,
			size_t size)
{
	const struct node *matrix = par->kind == NODE_MAP ? node_get(par, "matrix") : NULL;
	size_t i, k;

	if (!matrix || matrix->kind != NODE_SEQ)
		return failf(why, size, par, "jobs:%s:needs:need:parallel should be a matrix",
			     name);
	n->instances = calloc(1, sizeof(*n->instances));
	if (!n->instances)
		return failf(why, size, par, "out of memory");
	for (i = 0; i < matrix->n; i++) {
		const struct node *entry = matrix->items[i];

		if (entry->kind != NODE_MAP)
			return failf(why, size, entry,
				     "jobs:%s:needs:need:parallel:matrix config should be an array "
				     "of hashes",
				     name);
		for (k = 0; k < entry->n; k++)
			if (entry->items[k]->kind == NODE_MAP)
				return failf(why, size, entry->items[k],
					     "jobs:%s:needs:need:parallel:matrix variables "
					     "should be strings or arrays of strings",
					     name);
		if (add_combinations(n->instances, n->job, entry) < 0)
			return failf(why, size, entry, "out of memory");
	}
	return 0;
}

static const char *const need_keys[] = {"job",	    "artifacts", "optional", "parallel",
					"pipeline", "project",	 "ref",	     NULL};

static int parse_flag(int *flag, const struct node *map, const char *key, const char *name,
		      char *why, size_t size)
{
	const struct node *v = node_get(map, key);

	if (!v)
		return 0;
	*flag = node_bool(v);
	if (*flag < 0)
		return failf(why, size, v, "jobs:%s:needs:need %s should be a boolean value", name,
			     key);
	return 0;
}

/* One entry: `name`, or {job:, artifacts:, optional:, parallel:}, or another pipeline's job. */
static int parse_need(struct ci_need *n, const char *name, const struct node *item, char *why,
		      size_t size)
{
	const struct node *job, *v;
	size_t k;

	memset(n, 0, sizeof(*n));
	n->where = item;
	n->artifacts = 1;
	if (is_string(item)) {
		n->job = item->str;
		return 0;
	}
	if (item->kind != NODE_MAP)
		return failf(why, size, item, "jobs:%s:needs:need has an unsupported type", name);
	for (k = 0; k < item->n; k++)
		if (!str_listed(need_keys, item->keys[k]))
			return failf(why, size, item,
				     "jobs:%s:needs:need config contains unknown keys: %s", name,
				     item->keys[k]);
	job = node_get(item, "job");
	v = node_get(item, "project");
	n->project = is_string(v) ? v->str : NULL;
	v = node_get(item, "pipeline");
	n->pipeline = is_string(v) ? v->str : NULL;
	/* `pipeline:` alone mirrors another pipeline's status: the one need without a job */
	if (!is_string(job) && !(n->pipeline && !job))
		return failf(why, size, item, "jobs:%s:needs:need job should be a string", name);
	n->job = job ? job->str : NULL;
	if (parse_flag(&n->optional, item, "optional", name, why, size) < 0 ||
	    parse_flag(&n->artifacts, item, "artifacts", name, why, size) < 0)
		return -1;
	v = node_get(item, "parallel");
	return v ? parse_matrix(n, name, v, why, size) : 0;
}

static int parse_job(struct job_needs *jn, const struct ci_job *j, char *why, size_t size)
{
	const struct node *needs = node_get(j->def, "needs");
	size_t i;

	if (!needs || node_is_null(needs))
		return 0;
	jn->has_key = 1;
	if (needs->kind == NODE_MAP) /* one need written as a mapping */
		needs = NULL;
	else if (needs->kind != NODE_SEQ)
		return failf(why, size, needs,
			     "jobs:%s:needs config can only be a hash or an array", j->name);
	if (ALLOC_GROW(jn->v, needs ? needs->n : 1, jn->alloc) < 0)
		return failf(why, size, node_get(j->def, "needs"), "out of memory");
	if (!needs) {
		jn->nr = 1;
		return parse_need(&jn->v[0], j->name, node_get(j->def, "needs"), why, size);
	}
	for (i = 0; i < needs->n; i++, jn->nr++)
		if (parse_need(&jn->v[i], j->name, needs->items[i], why, size) < 0)
			return -1;
	return 0;
}

int need_matches(const struct ci_need *n, const struct ci_job *j)
{
	size_t i;

	if (!n->job || n->project || n->pipeline)
		return 0;
	if (!n->instances)
		return !strcmp(j->name, n->job) ||
		       (j->parallel_of && !strcmp(j->parallel_of, n->job));
	if (!j->parallel_of || strcmp(j->parallel_of, n->job) != 0)
		return 0;
	for (i = 0; i < n->instances->nr; i++)
		if (!strcmp(n->instances->v[i], j->name))
			return 1;
	return 0;
}

/* The name GitLab puts in its message: the need's job, or the first instance not defined. */
static int need_defined(const struct pipeline *p, const struct ci_need *n, const char **missing)
{
	size_t i, k;

	*missing = n->job;
	if (!n->instances) {
		for (i = 0; i < p->nr_jobs; i++)
			if (need_matches(n, &p->jobs[i]))
				return 1;
		return 0;
	}
	for (k = 0; k < n->instances->nr; k++) {
		for (i = 0; i < p->nr_jobs; i++)
			if (!strcmp(p->jobs[i].name, n->instances->v[k]))
				break;
		if (i == p->nr_jobs) {
			*missing = n->instances->v[k];
			return 0;
		}
	}
	return 1;
}

/* yaml_processor.rb's checks of one job's needs: defined, not in a later stage, not twice. */
static int check_job(const struct pipeline *p, const struct ci_job *j, const struct job_needs *jn,
		     char *why, size_t size)
{
	size_t a, b, i;

	for (a = 0; a < jn->nr; a++) {
		const struct ci_need *n = &jn->v[a];
		const char *missing;

		if (n->project || n->pipeline)
			continue; /* another project's or pipeline's job: not known here */
		if (!need_defined(p, n, &missing)) {
			if (n->optional)
				continue;
			return failf(why, size, n->where, "%s job: undefined need: %s", j->name,
				     missing);
		}
		for (i = 0; i < p->nr_jobs; i++)
			if (need_matches(n, &p->jobs[i]) && p->jobs[i].stage_index > j->stage_index)
				return failf(why, size, n->where,
					     "%s job: need %s is not defined in current or prior "
					     "stages",
					     j->name, n->job);
		for (b = 0; b < a; b++)
			if (jn->v[b].job && !jn->v[b].project && !jn->v[b].pipeline &&
			    !jn->v[b].instances && !n->instances && !strcmp(jn->v[b].job, n->job))
				return failf(why, size, n->where,
					     "%s has the following needs duplicated: %s.", j->name,
					     n->job);
	}
	return 0;
}

/* Depth-first search for a cycle through needs: 0 unvisited, 1 on the path, 2 done. */
static int find_cycle(const struct pipeline *p, const struct job_needs *all, size_t i, char *mark,
		      size_t *path, size_t depth, size_t *cycle_start)
{
	size_t a, k;

	mark[i] = 1;
	path[depth] = i;
	for (a = 0; a < all[i].nr; a++)
		for (k = 0; k < p->nr_jobs; k++) {
			if (!need_matches(&all[i].v[a], &p->jobs[k]))
				continue;
			if (mark[k] == 1) {
				for (*cycle_start = 0; path[*cycle_start] != k; (*cycle_start)++)
					;
				return (int)depth + 1;
			}
			if (mark[k] == 0) {
				int found =
					find_cycle(p, all, k, mark, path, depth + 1, cycle_start);

				if (found)
					return found;
			}
		}
	mark[i] = 2;
	return 0;
}

static int check_cycles(const struct pipeline *p, const struct job_needs *all, char *why,
			size_t size)
{
	char *mark = calloc(p->nr_jobs + 1, 1);
	size_t *path = calloc(p->nr_jobs + 1, sizeof(*path)), i, start = 0, k;
	int len = 0, ret = 0;

	if (!mark || !path) {
		free(mark);
		free(path);
		return failf(why, size, p->root, "out of memory");
	}
	for (i = 0; !len && i < p->nr_jobs; i++)
		if (!mark[i])
			len = find_cycle(p, all, i, mark, path, 0, &start);
	if (len) {
		const struct ci_job *first = &p->jobs[path[start]];
		size_t used;

		ret = failf(why, size, node_get(first->def, "needs"),
			    "The pipeline has circular dependencies: ");
		used = strlen(why);

		for (k = start; k < (size_t)len && used < size; k++)
			used += (size_t)snprintf(why + used, size - used, "%s -> ",
						 p->jobs[path[k]].name);
		if (used < size)
			snprintf(why + used, size - used, "%s", first->name);
	}
	free(mark);
	free(path);
	return ret;
}

void needs_release(struct job_needs *all, size_t nr)
{
	size_t i, a;

	for (i = 0; all && i < nr; i++) {
		for (a = 0; a < all[i].nr; a++) {
			if (all[i].v[a].instances)
				strvec_clear(all[i].v[a].instances);
			free(all[i].v[a].instances);
		}
		free(all[i].v);
	}
	free(all);
}

int needs_load(const struct pipeline *p, struct job_needs **out, char *why, size_t why_size)
{
	struct job_needs *all = calloc(p->nr_jobs + 1, sizeof(*all));
	size_t *by_file = calloc(p->nr_jobs + 1, sizeof(*by_file)), i;
	int ret = 0;

	*out = NULL;
	if (!all || !by_file) {
		free(all);
		free(by_file);
		return failf(why, why_size, p->root, "out of memory");
	}
	for (i = 0; ret == 0 && i < p->nr_jobs; i++) {
		by_file[p->jobs[i].order] = i;
		ret = parse_job(&all[i], &p->jobs[i], why, why_size);
	}
	/* GitLab checks the jobs in the order of the file, and reports the first problem. */
	for (i = 0; ret == 0 && i < p->nr_jobs; i++)
		ret = check_job(p, &p->jobs[by_file[i]], &all[by_file[i]], why, why_size);
	if (ret == 0)
		ret = check_cycles(p, all, why, why_size);
	free(by_file);
	if (ret < 0) {
		needs_release(all, p->nr_jobs);
		all = NULL;
	}
	*out = all;
	return ret;
}

/* Whether any job in the pipeline is need `n`. */
static int need_present(const struct pipeline *p, const struct ci_need *n, const int *in)
{
	size_t k;

	for (k = 0; k < p->nr_jobs; k++)
		if (in[k] && need_matches(n, &p->jobs[k]))
			return 1;
	return 0;
}

/*
 * How many needs GitLab counts against its limit: the jobs of this pipeline's configuration
 * each names (a parallel job's instances each count), other pipelines' jobs not counted.
 */
static size_t needs_count(const struct pipeline *p, const struct job_needs *jn)
{
	size_t a, k, count = 0;

	for (a = 0; a < jn->nr; a++) {
		size_t matched = 0;

		if (jn->v[a].project || jn->v[a].pipeline)
			continue;
		for (k = 0; k < p->nr_jobs; k++)
			matched += need_matches(&jn->v[a], &p->jobs[k]);
		count += matched ? matched : 1;
	}
	return count;
}

int needs_check_present(const struct pipeline *p, const struct job_needs *all, const int *in,
			char *why, size_t why_size)
{
	size_t i, a, count;

	for (i = 0; i < p->nr_jobs; i++) {
		const struct ci_job *j = &p->jobs[i];

		if (!in[i] || !all[i].has_key)
			continue;
		count = needs_count(p, &all[i]);
		if (count > NEEDS_MAX)
			return failf(why, why_size, node_get(j->def, "needs"),
				     "%s: one job can only need %d others, but you have listed "
				     "%zu. See needs keyword documentation for more details",
				     j->name, NEEDS_MAX, count);
		for (a = 0; a < all[i].nr; a++) {
			const struct ci_need *n = &all[i].v[a];

			if (n->optional || n->project || n->pipeline || need_present(p, n, in))
				continue;
			return failf(
				why, why_size, n->where,
				"'%s' job needs '%s' job, but '%s' does not exist in the "
				"pipeline. This might be because of the only, except, or rules "
				"keywords. To need a job that sometimes does not exist in the "
				"pipeline, use needs:optional.",
				j->name, n->job, n->job);
		}
	}
	return 0;
}

void needs_waits_for(const struct pipeline *p, const struct job_needs *all, const int *in, size_t i,
		     int *waits)
{
	size_t k, a;

	for (k = 0; k < p->nr_jobs; k++) {
		waits[k] = 0;
		if (!in[k] || k == i)
			continue;
		if (!all[i].has_key) {
			waits[k] = p->jobs[k].stage_index < p->jobs[i].stage_index;
			continue;
		}
		for (a = 0; a < all[i].nr && !waits[k]; a++)
			waits[k] = need_matches(&all[i].v[a], &p->jobs[k]);
	}
}

/* 1 when job i needs job k. */
static int needs_job(const struct pipeline *p, const struct job_needs *all, size_t i, size_t k)
{
	size_t a;

	for (a = 0; a < all[i].nr; a++)
		if (need_matches(&all[i].v[a], &p->jobs[k]))
			return 1;
	return 0;
}

/*
 * Kahn's order over the jobs `pick` marks among p->jobs[from..to): repeatedly the first one
 * whose needs among the picked are all placed. No cycle (needs_load), so every job gets placed.
 */
static void place_in_order(const struct pipeline *p, const struct job_needs *all, const char *pick,
			   size_t from, size_t to, char *placed, size_t *order, size_t *nr)
{
	size_t i, k, want = 0;

	for (i = from; i < to; i++)
		want += pick[i] != 0;
	for (; want; want--) {
		for (i = from; i < to; i++) {
			if (!pick[i] || placed[i])
				continue;
			for (k = from; k < to; k++)
				if (pick[k] && !placed[k] && k != i && needs_job(p, all, i, k))
					break;
			if (k == to)
				break;
		}
		if (i == to)
			return; /* cannot happen after needs_load; never loop forever */
		placed[i] = 1;
		order[(*nr)++] = i;
	}
}

void needs_order(const struct pipeline *p, const struct job_needs *all, size_t *order)
{
	char *pick = calloc(p->nr_jobs + 1, 1), *placed = calloc(p->nr_jobs + 1, 1);
	size_t i, k, nr = 0;

	for (i = 0; i < p->nr_jobs; i++)
		order[i] = i; /* p->jobs' own order: by stage, then file */
	/* A job's needs are in its stage or an earlier one: sort inside each stage. */
	for (i = 0; pick && placed && i < p->nr_jobs; i = k) {
		int any = 0;

		for (k = i; k < p->nr_jobs && p->jobs[k].stage_index == p->jobs[i].stage_index; k++)
			any |= all[k].nr > 0;
		if (!any) {
			nr = k;
			continue;
		}
		memset(pick + i, 1, k - i);
		place_in_order(p, all, pick, i, k, placed, order, &nr);
	}
	free(pick);
	free(placed);
}

int needs_closure(const struct pipeline *p, const struct job_needs *all, size_t target,
		  size_t **run, size_t *nr)
{
	char *pick = calloc(p->nr_jobs + 1, 1), *placed = calloc(p->nr_jobs + 1, 1);
	size_t *order = calloc(p->nr_jobs + 1, sizeof(*order)), i, k;
	int grew = 1;

	*run = NULL;
	*nr = 0;
	if (!pick || !placed || !order) {
		free(pick);
		free(placed);
		free(order);
		return -1;
	}
	pick[target] = 1;
	while (grew) /* what the picked jobs need, until nothing new */
		for (grew = 0, i = 0; i < p->nr_jobs; i++)
			for (k = 0; pick[i] && k < p->nr_jobs; k++)
				if (!pick[k] && needs_job(p, all, i, k)) {
					pick[k] = 1;
					grew = 1;
				}
	place_in_order(p, all, pick, 0, p->nr_jobs, placed, order, nr);
	free(pick);
	free(placed);
	*run = order;
	return 0;
}
