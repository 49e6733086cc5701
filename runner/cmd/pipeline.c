/*
 * `berth pipeline [--source S] [--json] [--preview JOB]` (docs/pipeline.md): the jobs of the
 * local repository's `.gitlab-ci.yml` in stage order, each with its `when` and, for jobs that
 * would not run, why; or one job fully resolved, as YAML.
 */
#include "cmd/commands.h"
#include "pipeline/local.h"
#include "base/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_job(const struct local_job *lj, const char **stage)
{
	const struct verdict *v = &lj->verdict;

	if (!*stage || strcmp(*stage, lj->job->stage) != 0) {
		*stage = lj->job->stage;
		printf("%s:\n", *stage);
	}
	printf("  %-32s %s", lj->job->name, v->when);
	if (!strcmp(v->when, "never"))
		printf(": %s", v->why);
	else if (v->allow_failure)
		printf(" (allowed to fail)");
	if (!strcmp(v->when, "delayed") && v->start_in[0])
		printf(" in %s", v->start_in);
	putchar('\n');
}

static json_t *job_json(const struct local_job *lj)
{
	const struct verdict *v = &lj->verdict;

	return json_pack("{s:s, s:s, s:s, s:b, s:s?}", "name", lj->job->name, "stage",
			 lj->job->stage, "when", v->when, "allow_failure", v->allow_failure, "why",
			 strcmp(v->when, "never") ? NULL : v->why);
}

static void release_all(struct local_job *all, size_t nr)
{
	size_t i;

	for (i = 0; all && i < nr; i++)
		local_job_release(&all[i]);
	free(all);
}

/* Every job decided before anything is printed: on an error, stdout stays empty. */
static enum berth_result decide_all(struct local *l, struct local_job **out)
{
	struct local_job *all = calloc(l->pipeline.nr_jobs + 1, sizeof(*all));
	enum berth_result r = BERTH_OK;
	size_t i;

	if (!all) {
		error("out of memory");
		return BERTH_SYSTEM_FAILURE;
	}
	for (i = 0; r == BERTH_OK && i < l->pipeline.nr_jobs; i++)
		r = local_job(l, &l->pipeline.jobs[i], &all[i]);
	if (r != BERTH_OK) {
		release_all(all, i - 1); /* the one that failed released itself */
		return r;
	}
	*out = all;
	return BERTH_OK;
}

static void print_json(const struct local *l, const struct local_job *all, size_t nr,
		       const char *no_pipeline)
{
	json_t *jobs = json_array(), *out;
	size_t i;

	for (i = 0; i < nr; i++)
		json_array_append_new(jobs, job_json(&all[i]));
	out = json_pack("{s:s, s:s, s:b, s:s?, s:o}", "source", l->in.source, "ref",
			l->repo.ref_name, "tag", l->repo.is_tag, "workflow",
			no_pipeline[0] ? no_pipeline : NULL, "jobs", jobs);
	json_dumpf(out, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(out);
}

static enum berth_result list(struct local *l)
{
	struct local_job *all = NULL;
	const char *stage = NULL;
	char no_pipeline[512] = "";
	enum berth_result r = local_workflow(l, no_pipeline, sizeof(no_pipeline));
	size_t i, nr = no_pipeline[0] ? 0 : l->pipeline.nr_jobs;

	if (r == BERTH_OK && nr)
		r = decide_all(l, &all);
	if (r != BERTH_OK)
		return r;
	if (l->json) {
		print_json(l, all, nr, no_pipeline);
	} else {
		printf("# %s pipeline for %s '%s' at %s%s%s\n", l->in.source,
		       l->repo.is_tag ? "tag" : "branch", l->repo.ref_name, l->repo.short_sha,
		       no_pipeline[0] ? ": no pipeline, " : "", no_pipeline);
		for (i = 0; i < nr; i++)
			print_job(&all[i], &stage);
	}
	release_all(all, nr);
	return BERTH_OK;
}

/* `text` as berth shows it: a secret's value in it replaced by [MASKED]. NULL without memory. */
static char *masked(const struct civars *vars, const char *text)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	civars_print_masked(vars, text, f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/*
 * `environment:` resolved: the name expanded and its slug (CI_ENVIRONMENT_SLUG), other keys
 * (action, url, ...) as written. A name holding a secret is masked, and so is its slug, which
 * is made from it.
 */
static int resolve_environment(struct node *def, const struct civars *vars, const char *file)
{
	const struct node *env = node_get(def, "environment");
	const char *name = civars_get(vars, "CI_ENVIRONMENT_NAME");
	const char *slug = civars_get(vars, "CI_ENVIRONMENT_SLUG");
	struct node *out;
	char *shown;
	int secret;

	if (!env || !name || !slug)
		return 0;
	shown = masked(vars, name);
	if (!shown)
		return -1;
	secret = strcmp(shown, name) != 0;
	out = env->kind == NODE_MAP ? node_copy(env) : node_new(NODE_MAP, env->file, env->line);
	if (!out || node_set(out, "name", node_scalar(shown, file, 0)) < 0 ||
	    node_set(out, "slug", node_scalar(secret ? "[MASKED]" : slug, file, 0)) < 0) {
		node_free(out);
		free(shown);
		return -1;
	}
	free(shown);
	return node_set(def, "environment", out);
}

/* The job as it would run: its definition, and the verdict in place of rules/only/except. */
static enum berth_result preview(struct local *l)
{
	const struct ci_job *j = pipeline_job(&l->pipeline, l->preview);
	struct local_job lj;
	struct node *def, *top, *flag;
	enum berth_result r;

	if (!j) {
		local_no_such_job(l, l->preview);
		return BERTH_BUILD_FAILURE;
	}
	r = local_job(l, j, &lj);
	if (r != BERTH_OK)
		return r;
	def = node_copy(j->def);
	top = node_new(NODE_MAP, l->file, 0);
	if (!def || !top) {
		node_free(def);
		node_free(top);
		local_job_release(&lj);
		error("out of memory");
		return BERTH_SYSTEM_FAILURE;
	}
	node_del(def, "rules");
	node_del(def, "only");
	node_del(def, "except");
	node_set(def, "stage", node_scalar(j->stage, l->file, 0));
	node_set(def, "when", node_scalar(lj.verdict.when, l->file, 0));
	flag = node_scalar(lj.verdict.allow_failure ? "true" : "false", l->file, 0);
	if (flag)
		flag->plain = 1; /* a boolean, not the string "true" */
	node_set(def, "allow_failure", flag);
	if (lj.verdict.variables)
		node_set(def, "variables",
			 node_merge(node_get(j->def, "variables"), lj.verdict.variables));
	if (resolve_environment(def, &lj.vars, l->file) < 0) {
		node_free(def);
		node_free(top);
		local_job_release(&lj);
		error("out of memory");
		return BERTH_SYSTEM_FAILURE;
	}
	node_set(top, j->name, def);
	printf("# %s: %s\n", j->name, lj.verdict.why);
	node_print(top, stdout, 0);
	node_free(top);
	local_job_release(&lj);
	return BERTH_OK;
}

enum berth_result cmd_pipeline(const struct args *a, const char *settings_file, int *exit_status)
{
	struct local l;
	enum berth_result r;

	(void)settings_file;
	(void)exit_status;
	r = local_open(&l, a);
	if (r == BERTH_OK)
		r = l.preview ? preview(&l) : list(&l);
	local_close(&l);
	return r;
}
