#include "pipeline/local.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_SIZE 1024

/* Secrets a job commonly needs, taken from the developer's environment when set (masked). */
static const char *const secret_env[] = {"WERF_KUBE_CONFIG_BASE64", "WERF_KUBECONFIG_BASE64",
					 "KUBECONFIG_BASE64", NULL};

static const char *const sources[] = {
	"push", "web", "schedule", "api", "merge_request_event", "trigger", "pipeline", NULL};

static int known_source(const char *s)
{
	const char *const *p;

	for (p = sources; *p; p++)
		if (!strcmp(*p, s))
			return 1;
	return 0;
}

/* 0; 1 when `kv` is no NAME=VALUE (the caller says so, with the usage); -1 after an error. */
static enum berth_result add_var(struct local *l, const struct args *a, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char name[256];

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(name))
		return args_error(a, "--var takes NAME=VALUE, not '%s'", kv);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - kv), kv);
	/* On the command line it is in argv for anyone to see already: not masked. */
	if (civars_set(&l->in.developer, name, eq + 1, 0) < 0) {
		error("out of memory");
		return BERTH_SYSTEM_FAILURE;
	}
	return BERTH_OK;
}

static int add_env(struct local *l, const char *name)
{
	const char *v = getenv(name);

	if (!v)
		return 0;
	return civars_set(&l->in.developer, name, v, 1) < 0 ? error("out of memory") : 0;
}

/* One option with its value; --var is applied last, by take_options, whatever the order. */
static int option(struct local *l, const char *name, const char *v)
{
	char err[ERR_SIZE];

	if (!strcmp(name, "-C"))
		l->dir = v;
	else if (!strcmp(name, "--file"))
		l->file = v;
	else if (!strcmp(name, "--source"))
		l->in.source = v;
	else if (!strcmp(name, "--preview"))
		l->preview = v;
	else if (!strcmp(name, "--json"))
		l->json = 1;
	else if (!strcmp(name, "--env"))
		return add_env(l, v);
	else if (!strcmp(name, "--vars-file") &&
		 civars_read_dotenv(&l->in.developer, v, err, sizeof(err)) < 0)
		return error("%s", err);
	return 0;
}

/*
 * The environment's secrets and --vars-file first, --var on top: the precedence
 * docs/pipeline.md promises, whatever the order on the command line. BERTH_OK, or a failure
 * reported.
 */
static enum berth_result take_options(struct local *l, const struct args *a)
{
	const char *v;
	size_t i, pos = 0;
	enum berth_result r = BERTH_OK;

	for (i = 0; secret_env[i]; i++)
		if (add_env(l, secret_env[i]) < 0)
			return BERTH_SYSTEM_FAILURE;
	for (i = 0; i < a->nr_opt; i++)
		if (option(l, a->opt[i].opt->name, a->opt[i].value) < 0)
			return BERTH_BUILD_FAILURE;
	while (r == BERTH_OK && (v = args_next(a, "--var", &pos)))
		r = add_var(l, a, v);
	if (r != BERTH_OK)
		return r;
	if (!known_source(l->in.source))
		return args_error(a,
				  "--source '%s' is not one of push, web, schedule, api, "
				  "merge_request_event, trigger, pipeline",
				  l->in.source);
	l->job = a->nr_operand ? a->operand[0] : NULL;
	return BERTH_OK;
}

/*
 * What an include's rules see: the pipeline's variables before its file is read, so the
 * predefined ones and the developer's but not the file's `variables:` (GitLab's "Use variables
 * with include": "Includes are evaluated before jobs").
 */
static int include_vars(struct local *l, struct civars *out, char *err, size_t size)
{
	struct pipeline unread = {.dir = l->repo.dir};

	return civars_pipeline(out, &unread, &l->repo, &l->in, err, size);
}

enum berth_result local_open(struct local *l, const struct args *a)
{
	char err[ERR_SIZE] = "";
	struct civars vars;
	enum berth_result r;
	int ret;

	memset(l, 0, sizeof(*l));
	l->dir = ".";
	l->file = ".gitlab-ci.yml";
	l->in.source = "push";
	r = take_options(l, a);
	if (r != BERTH_OK)
		return r;
	if (repo_open(&l->repo, l->dir, err, sizeof(err)) < 0) {
		error("%s", err);
		return BERTH_BUILD_FAILURE;
	}
	l->repo_open = 1;
	l->rules.p = &l->pipeline;
	l->rules.repo = &l->repo;
	l->rules.source = l->in.source;
	if (include_vars(l, &vars, err, sizeof(err)) < 0) {
		error("%s", err);
		return BERTH_BUILD_FAILURE;
	}
	ret = pipeline_load(&l->pipeline, l->repo.dir, l->file, &l->rules, &vars, err, sizeof(err));
	civars_release(&vars);
	if (ret < 0) {
		error("%s", err);
		return BERTH_BUILD_FAILURE;
	}
	l->pipeline_open = 1;
	if (needs_load(&l->pipeline, &l->needs, err, sizeof(err)) < 0) {
		error("%s", err);
		return BERTH_BUILD_FAILURE;
	}
	return BERTH_OK;
}

void local_close(struct local *l)
{
	rules_context_release(&l->rules);
	if (l->pipeline_open) {
		needs_release(l->needs, l->pipeline.nr_jobs);
		pipeline_release(&l->pipeline);
	}
	if (l->repo_open)
		repo_release(&l->repo);
	civars_release(&l->in.developer);
}

enum berth_result local_workflow(struct local *l, char *why, size_t size)
{
	char err[ERR_SIZE] = "";
	struct civars vars;
	struct verdict v;
	int ret;

	why[0] = '\0';
	if (civars_pipeline(&vars, &l->pipeline, &l->repo, &l->in, err, sizeof(err)) < 0) {
		error("%s", err);
		return BERTH_BUILD_FAILURE;
	}
	ret = rules_workflow(&l->rules, &vars, &v, err, sizeof(err));
	civars_release(&vars);
	if (ret < 0) {
		error("%s", err);
		return BERTH_BUILD_FAILURE;
	}
	if (v.variables && v.variables->kind != NODE_MAP) {
		error("%s:%zu: workflow:rules:variables is a mapping of NAME: value",
		      v.variables->file, v.variables->line);
		return BERTH_BUILD_FAILURE;
	}
	l->in.workflow = v.variables;
	l->workflow_done = 1;
	if (!strcmp(v.when, "never"))
		snprintf(why, size, "%s", v.why);
	return BERTH_OK;
}

void local_no_such_job(const struct local *l, const char *name)
{
	const struct ci_job *copy = pipeline_parallel_copy(&l->pipeline, name);

	if (copy)
		error("no job '%s' in %s: its parallel: made jobs named like '%s' (berth pipeline "
		      "lists them all): name one of them",
		      name, l->file, copy->name);
	else
		error("no job '%s' in %s (hidden jobs, whose names start with '.', never run)",
		      name, l->file);
}

enum berth_result local_job(struct local *l, const struct ci_job *j, struct local_job *out)
{
	char err[ERR_SIZE] = "";

	char no_pipeline[512];
	enum berth_result r;

	memset(out, 0, sizeof(*out));
	out->job = j;
	/* The workflow rule's variables are the job's too, whether or not a caller asked first. */
	if (!l->workflow_done &&
	    (r = local_workflow(l, no_pipeline, sizeof(no_pipeline))) != BERTH_OK)
		return r;
	if (civars_job(&out->vars, &l->pipeline, j, &l->repo, &l->in, err, sizeof(err)) < 0 ||
	    rules_job(&l->rules, j, &out->vars, &out->verdict, err, sizeof(err)) < 0 ||
	    civars_add_rule(&out->vars, out->verdict.variables, &l->in, err, sizeof(err)) < 0) {
		error("%s", err);
		local_job_release(out);
		return BERTH_BUILD_FAILURE;
	}
	return BERTH_OK;
}

/* `over`'s entries onto the mapping *vars (replacing it): those job J inherits, or all. */
static int merge_variables(struct node **vars, const struct node *over, const struct ci_job *j)
{
	struct node *filtered = NULL, *merged;
	size_t i;

	if (!over || over->kind != NODE_MAP)
		return 0;
	if (j) {
		if (!(filtered = node_new(NODE_MAP, over->file, over->line)))
			return -1;
		for (i = 0; i < over->n; i++)
			if (civars_inherits(j, over->keys[i]) &&
			    node_set(filtered, over->keys[i], node_copy(over->items[i])) < 0) {
				node_free(filtered);
				return -1;
			}
	}
	merged = node_merge(*vars, filtered ? filtered : over);
	node_free(filtered);
	if (!merged)
		return -1;
	node_free(*vars);
	*vars = merged;
	return 0;
}

struct node *local_job_variables(const struct local *l, const struct local_job *lj)
{
	struct node *vars = node_new(NODE_MAP, l->file, 0);

	if (!vars || merge_variables(&vars, l->in.workflow, lj->job) < 0 ||
	    merge_variables(&vars, node_get(lj->job->def, "variables"), NULL) < 0 ||
	    merge_variables(&vars, lj->verdict.variables, NULL) < 0) {
		node_free(vars);
		return NULL;
	}
	return vars;
}

void local_job_release(struct local_job *lj)
{
	civars_release(&lj->vars);
}

enum berth_result local_stage_lines(const struct local_job *lj, const char *const *keys,
				    struct strvec *lines)
{
	char err[512];
	size_t i;

	for (i = 0; keys[i]; i++)
		if (job_script(lj->job, keys[i], lines, err, sizeof(err)) < 0) {
			strvec_clear(lines);
			error("%s", err);
			return BERTH_BUILD_FAILURE;
		}
	return BERTH_OK;
}
