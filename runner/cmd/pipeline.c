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

/* The jobs of one pipeline, decided, and what each waits for. */
struct listing {
	struct local *l;
	struct local_job *jobs; /* jobs[i] is l->pipeline.jobs[i] decided */
	int *in;		/* in[i]: the job is in the pipeline (its when is not never) */
	int *waits;		/* scratch: what one job waits for (needs_waits_for) */
	size_t *order;		/* the listing order (needs_order) */
	size_t nr;		/* how many jobs are decided */
};

/* Needs of other projects' or pipelines' jobs: listed, as nothing here can check them. */
static void print_other_pipelines(const struct job_needs *jn)
{
	const char *sep = "; other pipelines (not checked here): ";
	size_t k;

	for (k = 0; k < jn->nr; k++) {
		const struct ci_need *n = &jn->v[k];

		if (!n->project && !n->pipeline)
			continue;
		if (n->job)
			printf("%s%s of %s %s", sep, n->job, n->project ? "project" : "pipeline",
			       n->project ? n->project : n->pipeline);
		else
			printf("%sthe status of %s", sep, n->pipeline);
		sep = ", ";
	}
}

static void print_waits(const struct listing *ls, size_t i)
{
	const struct pipeline *p = &ls->l->pipeline;
	const struct job_needs *jn = &ls->l->needs[i];
	const char *sep = "";
	size_t k;

	printf("  %-32s   waits for ", "");
	if (!jn->has_key) {
		printf("the jobs of earlier stages\n");
		return;
	}
	needs_waits_for(p, ls->l->needs, ls->in, i, ls->waits);
	for (k = 0; k < p->nr_jobs; k++)
		if (ls->waits[k]) {
			printf("%s%s", sep, p->jobs[k].name);
			sep = ", ";
		}
	if (!*sep)
		printf("nothing: it starts at once");
	print_other_pipelines(jn);
	putchar('\n');
}

static void print_job(const struct listing *ls, size_t i, const char **stage)
{
	const struct local_job *lj = &ls->jobs[i];
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
	if (ls->in[i])
		print_waits(ls, i);
}

/* A job's `needs:` as written: null without the key, else one object per need. */
static json_t *needs_json(const struct job_needs *jn)
{
	json_t *list;
	size_t a, k;

	if (!jn->has_key)
		return json_null();
	list = json_array();
	for (a = 0; a < jn->nr; a++) {
		const struct ci_need *n = &jn->v[a];
		json_t *o = json_pack("{s:s?, s:b, s:b, s:s*, s:s*}", "job", n->job, "optional",
				      n->optional, "artifacts", n->artifacts, "project", n->project,
				      "pipeline", n->pipeline);

		if (o && n->instances) {
			json_t *inst = json_array();

			for (k = 0; k < n->instances->nr; k++)
				json_array_append_new(inst, json_string(n->instances->v[k]));
			json_object_set_new(o, "instances", inst);
		}
		json_array_append_new(list, o);
	}
	return list;
}

static json_t *job_json(const struct listing *ls, size_t i)
{
	const struct local_job *lj = &ls->jobs[i];
	const struct verdict *v = &lj->verdict;
	/* Without needs: every job of the earlier stages, which a reader knows: null, not a list
	 * that grows with the square of the pipeline. */
	json_t *waits = ls->l->needs[i].has_key ? json_array() : json_null();
	size_t k;

	if (ls->in[i] && ls->l->needs[i].has_key) {
		needs_waits_for(&ls->l->pipeline, ls->l->needs, ls->in, i, ls->waits);
		for (k = 0; k < ls->nr; k++)
			if (ls->waits[k])
				json_array_append_new(waits, json_string(ls->jobs[k].job->name));
	}
	return json_pack("{s:s, s:s, s:s, s:b, s:s?, s:o, s:o}", "name", lj->job->name, "stage",
			 lj->job->stage, "when", v->when, "allow_failure", v->allow_failure, "why",
			 strcmp(v->when, "never") ? NULL : v->why, "needs",
			 needs_json(&ls->l->needs[i]), "waits_for", waits);
}

static void listing_release(struct listing *ls)
{
	size_t i;

	for (i = 0; ls->jobs && i < ls->nr; i++)
		local_job_release(&ls->jobs[i]);
	free(ls->jobs);
	free(ls->in);
	free(ls->waits);
	free(ls->order);
}

/*
 * Every job decided, then the needs checked as GitLab checks them when it creates the pipeline
 * (a need left out by rules is an error), before anything is printed.
 */
static enum berth_result decide_all(struct listing *ls)
{
	const struct pipeline *p = &ls->l->pipeline;
	char why[1024];
	size_t n = p->nr_jobs + 1;
	enum berth_result r = BERTH_OK;

	ls->jobs = calloc(n, sizeof(*ls->jobs));
	ls->in = calloc(n, sizeof(*ls->in));
	ls->waits = calloc(n, sizeof(*ls->waits));
	ls->order = calloc(n, sizeof(*ls->order));
	if (!ls->jobs || !ls->in || !ls->waits || !ls->order) {
		error("out of memory");
		return BERTH_SYSTEM_FAILURE;
	}
	for (; r == BERTH_OK && ls->nr < p->nr_jobs; ls->nr++) {
		r = local_job(ls->l, &p->jobs[ls->nr], &ls->jobs[ls->nr]);
		if (r != BERTH_OK)
			return r;
		ls->in[ls->nr] = strcmp(ls->jobs[ls->nr].verdict.when, "never") != 0;
	}
	if (needs_check_present(p, ls->l->needs, ls->in, why, sizeof(why)) < 0) {
		error("%s", why);
		return BERTH_BUILD_FAILURE;
	}
	needs_order(p, ls->l->needs, ls->order);
	return BERTH_OK;
}

static enum berth_result list(struct local *l)
{
	struct listing ls = {.l = l};
	json_t *jobs = json_array();
	const char *stage = NULL;
	char no_pipeline[512] = "";
	enum berth_result r = local_workflow(l, no_pipeline, sizeof(no_pipeline));
	size_t i;

	if (r == BERTH_OK && !no_pipeline[0])
		r = decide_all(&ls);
	if (!l->json && r == BERTH_OK)
		printf("# %s pipeline for %s '%s' at %s%s%s\n", l->in.source,
		       l->repo.is_tag ? "tag" : "branch", l->repo.ref_name, l->repo.short_sha,
		       no_pipeline[0] ? ": no pipeline, " : "", no_pipeline);
	for (i = 0; r == BERTH_OK && !no_pipeline[0] && i < ls.nr; i++) {
		if (l->json)
			json_array_append_new(jobs, job_json(&ls, ls.order[i]));
		else
			print_job(&ls, ls.order[i], &stage);
	}
	if (r == BERTH_OK && l->json) {
		json_t *out = json_pack("{s:s, s:s, s:b, s:s?, s:o}", "source", l->in.source, "ref",
					l->repo.ref_name, "tag", l->repo.is_tag, "workflow",
					no_pipeline[0] ? no_pipeline : NULL, "jobs", jobs);

		json_dumpf(out, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(out);
	} else {
		json_decref(jobs);
	}
	listing_release(&ls);
	return r;
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
	struct node *def, *top, *flag, *vars;
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
	vars = local_job_variables(l, &lj);
	if (vars && vars->n)
		node_set(def, "variables", vars);
	else
		node_free(vars);
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
