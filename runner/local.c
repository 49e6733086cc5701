#include "local.h"

#include "log.h"

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

static int add_var(struct local *l, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char name[256];

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(name))
		return error("--var takes NAME=VALUE, not '%s'", kv);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - kv), kv);
	/* On the command line it is in argv for anyone to see already: not masked. */
	return civars_set(&l->in.developer, name, eq + 1, 0) < 0 ? error("out of memory") : 0;
}

static int add_env(struct local *l, const char *name)
{
	const char *v = getenv(name);

	if (!v)
		return 0;
	return civars_set(&l->in.developer, name, v, 1) < 0 ? error("out of memory") : 0;
}

/* One option with its value; --var is applied last, by parse, whatever the order. */
static int option(struct local *l, const char *a, const char *v, const char *usage)
{
	char err[ERR_SIZE];

	if (!strcmp(a, "-C"))
		l->dir = v;
	else if (!strcmp(a, "--file"))
		l->file = v;
	else if (!strcmp(a, "--source"))
		l->in.source = v;
	else if (!strcmp(a, "--preview"))
		l->preview = v;
	else if (!strcmp(a, "--env"))
		return add_env(l, v);
	else if (!strcmp(a, "--vars-file")) {
		if (civars_read_dotenv(&l->in.developer, v, err, sizeof(err)) < 0)
			return error("%s", err);
	} else if (strcmp(a, "--var") != 0)
		return error("unknown option '%s'; usage: %s", a, usage);
	return 0;
}

/*
 * The environment's secrets and --vars-file first, --var on top: the precedence
 * docs/pipeline.md promises, whatever the order on the command line.
 */
static int parse(struct local *l, int argc, char **argv, int takes_job, const char *usage)
{
	int i;

	for (i = 0; secret_env[i]; i++)
		if (add_env(l, secret_env[i]) < 0)
			return -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--json")) {
			l->json = 1;
		} else if (a[0] != '-') {
			if (!takes_job || l->job)
				return error("unexpected '%s'; usage: %s", a, usage);
			l->job = a;
		} else if (i + 1 >= argc) {
			return error("%s needs a value; usage: %s", a, usage);
		} else if (option(l, a, argv[++i], usage) < 0) {
			return -1;
		}
	}
	for (i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--var") && add_var(l, argv[++i]) < 0)
			return -1;
	if (takes_job && !l->job)
		return error("which job? usage: %s", usage);
	if (!known_source(l->in.source))
		return error("--source '%s' is not one of push, web, schedule, api, "
			     "merge_request_event, trigger, pipeline",
			     l->in.source);
	return 0;
}

enum berth_result local_open(struct local *l, int argc, char **argv, int takes_job,
			     const char *usage)
{
	char err[ERR_SIZE] = "";

	memset(l, 0, sizeof(*l));
	l->dir = ".";
	l->file = ".gitlab-ci.yml";
	l->in.source = "push";
	if (parse(l, argc, argv, takes_job, usage) < 0)
		return BERTH_BUILD_FAILURE;
	if (repo_open(&l->repo, l->dir, err, sizeof(err)) < 0) {
		error("%s", err);
		return BERTH_BUILD_FAILURE;
	}
	l->repo_open = 1;
	if (pipeline_load(&l->pipeline, l->repo.dir, l->file, err, sizeof(err)) < 0) {
		error("%s", err);
		return BERTH_BUILD_FAILURE;
	}
	l->pipeline_open = 1;
	l->rules.p = &l->pipeline;
	l->rules.repo = &l->repo;
	l->rules.source = l->in.source;
	return BERTH_OK;
}

void local_close(struct local *l)
{
	rules_context_release(&l->rules);
	if (l->pipeline_open)
		pipeline_release(&l->pipeline);
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
	if (civars_pipeline(&vars, &l->pipeline, &l->repo, &l->in, err, sizeof(err)) < 0)
		return error("%s", err), BERTH_BUILD_FAILURE;
	ret = rules_workflow(&l->rules, &vars, &v, err, sizeof(err));
	civars_release(&vars);
	if (ret < 0)
		return error("%s", err), BERTH_BUILD_FAILURE;
	if (!strcmp(v.when, "never"))
		snprintf(why, size, "%s", v.why);
	return BERTH_OK;
}

enum berth_result local_job(struct local *l, const struct ci_job *j, struct local_job *out)
{
	char err[ERR_SIZE] = "";

	memset(out, 0, sizeof(*out));
	out->job = j;
	if (civars_job(&out->vars, &l->pipeline, j, &l->repo, &l->in, err, sizeof(err)) < 0 ||
	    rules_job(&l->rules, j, &out->vars, &out->verdict, err, sizeof(err)) < 0 ||
	    civars_add_rule(&out->vars, out->verdict.variables, &l->in, err, sizeof(err)) < 0) {
		error("%s", err);
		local_job_release(out);
		return BERTH_BUILD_FAILURE;
	}
	return BERTH_OK;
}

void local_job_release(struct local_job *lj)
{
	civars_release(&lj->vars);
}
