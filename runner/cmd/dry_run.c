/*
 * `berth dry-run JOB` (docs/pipeline.md): what a berth runner would do with a job of the local
 * `.gitlab-ci.yml`, stage by stage, without doing it: the workspace, the environment berth adds,
 * the kubeconfig (really decoded and validated), the registry logins, the lock, every script line
 * and the werf command lines with werf's environment. Secrets are masked. Exits 0 when the job
 * would start, with a build failure and the reason when it would not.
 */
#include "cmd/commands.h"
#include "kube/kubeconfig.h"
#include "pipeline/local.h"
#include "lock/lock.h"
#include "base/log.h"
#include "registry/login.h"
#include "conf/settings.h"
#include "job/werf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#define WORKSPACE "$STATE/jobs/<job id>" /* as prepare would name it, symbolically */

/* Names of werf's environment that berth sets, in the order docs/werf.md lists them. */
static const char *const werf_names[] = {"WERF_REPO",
					 "WERF_REPO_CONTAINER_REGISTRY",
					 "WERF_ENV",
					 "WERF_SYNCHRONIZATION",
					 "WERF_PARALLEL",
					 "WERF_ADD_ANNOTATION_WERF_RELEASE_CHANNEL",
					 "WERF_ADD_ANNOTATION_PROJECT_GIT",
					 "WERF_ADD_ANNOTATION_CI_COMMIT",
					 "WERF_ADD_ANNOTATION_CI_GIT_TAG",
					 "WERF_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL",
					 "WERF_ADD_ANNOTATION_GITLAB_CI_JOB_URL",
					 "WERF_LOG_COLOR_MODE",
					 "WERF_LOG_PROJECT_DIR",
					 "WERF_LOG_TERMINAL_WIDTH",
					 "WERF_ENABLE_PROCESS_EXTERMINATOR",
					 "DOCKER_CONFIG",
					 "WERF_DOCKER_CONFIG",
					 "KUBECONFIG",
					 "WERF_TMP_DIR",
					 "WERF_HOME",
					 "WERF_TELEMETRY",
					 NULL};

static void print_masked(const struct civars *vars, const char *text)
{
	civars_print_masked(vars, text, stdout);
}

/* The job's variables become this process's environment: berth's own code reads them there. */
static int export_vars(const struct civars *vars)
{
	size_t i;

	for (i = 0; i < vars->nr; i++)
		if (setenv(vars->v[i].name, vars->v[i].value, 1) < 0)
			return error_errno("cannot set %s", vars->v[i].name);
	if (!getenv("CI_PROJECT_ID"))
		setenv("CI_PROJECT_ID", "local", 1);
	return 0;
}

static enum berth_result plan_kubeconfig(const struct settings *s)
{
	struct kubeconfig k;
	enum berth_result r = kubeconfig_load(&k, &vars_script, s);

	if (r != BERTH_OK)
		return r;
	if (!k.variable)
		printf("  kubeconfig: none (the job sets no WERF_KUBECONFIG_BASE64)\n");
	else
		printf("  kubeconfig: from %s, valid: context '%s', cluster '%s' at %s; written 0600 "
		       "to " WORKSPACE "/kube/config%s\n",
		       k.variable, k.context, k.cluster, k.server,
		       s->kube_preflight ? "; the runner checks GET /version (not done here)" : "");
	kubeconfig_release(&k);
	return BERTH_OK;
}

static enum berth_result plan_logins(const struct settings *s, const struct civars *vars)
{
	struct login_targets t;
	enum berth_result r = login_targets(&t, s, &vars_script);
	size_t i;

	if (r != BERTH_OK)
		return r;
	if (!t.nr)
		printf("  registry login: none (no WERF_REPO with WERF_USERNAME/WERF_PASSWORD, no "
		       "CI_REGISTRY credentials, no declared registry)\n");
	for (i = 0; i < t.nr; i++) {
		printf("  registry login: %s as '", t.t[i].host);
		print_masked(vars, t.t[i].user);
		printf("' with %s (for %s); not performed in a dry run\n", t.t[i].source,
		       t.t[i].origin);
	}
	return BERTH_OK;
}

static enum berth_result plan_lock(const struct settings *s, const struct local_job *lj)
{
	const char *slug = civars_get(&lj->vars, "CI_ENVIRONMENT_SLUG");
	char key[LOCK_KEY_MAX + 1];

	if (!s->lock_deploys || !slug) {
		printf("  lock: none (%s)\n", slug ? "lock_deploys is off" : "no environment");
		return BERTH_OK;
	}
	if (lock_deploy_key(getenv("CI_PROJECT_ID"), slug, key, sizeof(key)) < 0)
		return BERTH_BUILD_FAILURE;
	printf("  lock: '%s' around before_script and script (%s backend)\n", key, s->lock_backend);
	return BERTH_OK;
}

/* `werf SUB ...` or `berth werf SUB ...` starting a line: what berth werf would do with it. */
static enum berth_result plan_werf_line(const struct settings *s, const struct strvec *env,
					const char *line)
{
	char sub[64] = "", key[LOCK_KEY_MAX + 1];

	while (*line == ' ' || *line == '\t')
		line++;
	if (!strncmp(line, "berth werf ", 11))
		line += 6; /* the same, spelled out */
	if (strncmp(line, "werf ", 5) != 0 || sscanf(line + 5, "%63s", sub) != 1)
		return BERTH_OK;
	if (werf_lock_key(sub, s, env, key, sizeof(key)) < 0)
		return BERTH_BUILD_FAILURE;
	printf("      berth werf %s: %s%s%s\n", sub, key[0] ? "holds lock '" : "no lock",
	       key[0] ? key : "", key[0] ? "'" : "");
	return BERTH_OK;
}

static enum berth_result plan_stage(const struct settings *s, const struct local_job *lj,
				    const struct strvec *werf, const char *stage,
				    const char *const *keys)
{
	struct strvec lines = STRVEC_INIT;
	enum berth_result r = BERTH_OK;
	size_t i;

	if (local_stage_lines(lj, keys, &lines) != BERTH_OK)
		return BERTH_BUILD_FAILURE;
	printf("== run %s: %zu line(s)\n", stage, lines.nr);
	for (i = 0; r == BERTH_OK && i < lines.nr; i++) {
		printf("  $ ");
		print_masked(&lj->vars, lines.v[i]);
		putchar('\n');
		r = plan_werf_line(s, werf, lines.v[i]);
	}
	strvec_clear(&lines);
	return r;
}

/* werf's environment in the job's stages: the job's variables are this process's here. */
static int plan_werf_places(const struct settings *s, struct strvec *werf)
{
	const struct werf_places p = {.docker = WORKSPACE "/docker",
				      .kubeconfig = WORKSPACE "/kube/config",
				      .tmp = WORKSPACE "/tmp",
				      .home = WORKSPACE "/tmp/" WERF_HOME_DIR};

	for (char **e = environ; *e; e++)
		if (strvec_push(werf, *e) < 0)
			return -1;
	return werf_env(werf, s, &vars_script, &p);
}

static void plan_werf_env(const struct local_job *lj, const struct strvec *werf)
{
	size_t i;

	printf("== werf's environment in every stage (docs/werf.md)\n");
	for (i = 0; werf_names[i]; i++) {
		const char *v = strvec_getenv(werf, werf_names[i]);

		if (!v)
			continue;
		printf("  %s=", werf_names[i]);
		print_masked(&lj->vars, v);
		putchar('\n');
	}
}

static enum berth_result plan(struct local *l, const struct local_job *lj, const struct settings *s)
{
	static const char *const main_keys[] = {"before_script", "script", NULL};
	static const char *const after_keys[] = {"after_script", NULL};
	struct strvec werf = STRVEC_INIT;
	enum berth_result r;

	printf("# berth dry-run: job '%s' (stage %s) in a %s pipeline for %s '%s' at %s\n",
	       lj->job->name, lj->job->stage, l->in.source, l->repo.is_tag ? "tag" : "branch",
	       l->repo.ref_name, l->repo.short_sha);
	printf("when: %s%s (%s)\n", lj->verdict.when,
	       lj->verdict.allow_failure ? ", allowed to fail" : "", lj->verdict.why);
	printf("== prepare\n  workspace: " WORKSPACE " under state_dir %s, 0700; tmp/, docker/, "
	       "kube/ inside\n",
	       s->state_dir);
	r = plan_kubeconfig(s);
	if (r == BERTH_OK)
		r = plan_logins(s, &lj->vars);
	if (r == BERTH_OK)
		r = plan_lock(s, lj);
	if (r == BERTH_OK && plan_werf_places(s, &werf) < 0)
		r = BERTH_SYSTEM_FAILURE;
	if (r == BERTH_OK)
		r = plan_stage(s, lj, &werf, "step_script", main_keys);
	if (r == BERTH_OK)
		r = plan_stage(s, lj, &werf, "after_script", after_keys);
	if (r == BERTH_OK) {
		plan_werf_env(lj, &werf);
		printf("== cleanup\n  ends every process of the job, wipes the credentials and "
		       "removes " WORKSPACE "\n== variables (masked: from --vars-file or the "
		       "environment)\n");
		civars_print(&lj->vars, stdout, "  ");
	}
	strvec_clear(&werf);
	return r;
}

enum berth_result cmd_dry_run(const struct args *a, const char *settings_file, int *exit_status)
{
	struct settings s;
	struct local l;
	struct local_job lj;
	const struct ci_job *j;
	char no_pipeline[512];
	enum berth_result r = local_open(&l, a);

	(void)exit_status;
	memset(&s, 0, sizeof(s));
	if (r == BERTH_OK)
		r = local_workflow(&l, no_pipeline, sizeof(no_pipeline));
	if (r == BERTH_OK && no_pipeline[0]) {
		error("no pipeline would run: %s", no_pipeline);
		r = BERTH_BUILD_FAILURE;
	}
	j = r == BERTH_OK ? pipeline_job(&l.pipeline, l.job) : NULL;
	if (r == BERTH_OK && !j) {
		local_no_such_job(&l, l.job);
		r = BERTH_BUILD_FAILURE;
	}
	if (r == BERTH_OK && (r = local_job(&l, j, &lj)) == BERTH_OK) {
		if (!strcmp(lj.verdict.when, "never")) {
			error("job '%s' would not run in a %s pipeline: %s", j->name, l.in.source,
			      lj.verdict.why);
			r = BERTH_BUILD_FAILURE;
		} else if (export_vars(&lj.vars) < 0 || settings_load(&s, settings_file) < 0) {
			r = BERTH_SYSTEM_FAILURE;
		} else {
			r = plan(&l, &lj, &s);
			settings_release(&s);
		}
		local_job_release(&lj);
	}
	local_close(&l);
	return r;
}
