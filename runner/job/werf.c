#include "job/werf.h"

#include "job/env.h"
#include "conf/vars.h"
#include "job/job.h"
#include "lock/lock.h"
#include "base/log.h"
#include "conf/reference.h"
#include "job/workspace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static void set_default(struct strvec *env, const char *name, const char *value)
{
	if (value && !strvec_getenv(env, name))
		strvec_setenv(env, name, value);
}

/* "PREFIX=$VAR" when VAR is set, for werf's annotations. */
static void annotate(struct strvec *env, const char *name, const char *prefix, const char *var)
{
	const char *v = getenv(var);
	char buf[4096];

	if (v && *v) {
		snprintf(buf, sizeof(buf), "%s=%s", prefix, v);
		set_default(env, name, buf);
	}
}

static void repo_host(const struct strvec *env, char *host, size_t size, char *registry,
		      size_t rsize)
{
	const char *repo = strvec_getenv(env, "WERF_REPO");
	char why[128];
	struct reference ref;

	host[0] = registry[0] = '\0';
	if (repo && reference_parse(repo, &ref, why, sizeof(why)) == 0) {
		snprintf(host, size, "%s", ref.host);
		snprintf(registry, rsize, "%.*s", (int)strcspn(ref.path, "/"), ref.path);
	}
}

/* werf's `ci-env gitlab` mapping: what the job set itself wins, but credential paths. */
int werf_env(struct strvec *env, const struct settings *s, const char *docker,
	     const char *kubeconfig)
{
	char host[256], registry[256];

	for (char **e = environ; *e; e++)
		if (strvec_push(env, *e) < 0)
			return -1;
	set_default(env, "WERF_REPO", getenv("CI_REGISTRY_IMAGE"));
	set_default(env, "WERF_ENV", getenv("CI_ENVIRONMENT_SLUG"));
	annotate(env, "WERF_ADD_ANNOTATION_PROJECT_GIT", "project.werf.io/git", "CI_PROJECT_URL");
	annotate(env, "WERF_ADD_ANNOTATION_CI_COMMIT", "ci.werf.io/commit", "CI_COMMIT_SHA");
	annotate(env, "WERF_ADD_ANNOTATION_CI_GIT_TAG", "ci.werf.io/tag", "CI_COMMIT_TAG");
	annotate(env, "WERF_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL",
		 "gitlab.ci.werf.io/pipeline-url", "CI_PIPELINE_URL");
	annotate(env, "WERF_ADD_ANNOTATION_GITLAB_CI_JOB_URL", "gitlab.ci.werf.io/job-url",
		 "CI_JOB_URL");
	set_default(env, "WERF_LOG_COLOR_MODE", "on");
	set_default(env, "WERF_LOG_PROJECT_DIR", "1");
	set_default(env, "WERF_LOG_TERMINAL_WIDTH", "130");
	set_default(env, "WERF_ENABLE_PROCESS_EXTERMINATOR", "1");
	set_default(env, "WERF_SYNCHRONIZATION", s->werf_synchronization);
	repo_host(env, host, sizeof(host), registry, sizeof(registry));
	if (*host && settings_is_rate_limited(s, host))
		set_default(env, "WERF_PARALLEL", "0");
	/* Credentials are the job's own, checked by berth: never a path the job chose. */
	return env_pin_credentials(env, docker, kubeconfig);
}

/* The workspace's record (prepare, from the response file), else CI_PROJECT_ID, else local. */
static void project_id(char *out, size_t size)
{
	const char *ws = getenv(JOB_MARKER), *v = getenv("CI_PROJECT_ID");

	if (ws && *ws && workspace_recorded(ws, "project_id", out, size) == 0 &&
	    job_valid_id(out) == 0)
		return;
	snprintf(out, size, "%s", v && job_valid_id(v) == 0 ? v : "local");
}

/* The lock a subcommand takes, in `key`; "" for none. 0, or -1 (a build failure) after saying why.
 */
int werf_lock_key(const char *sub, const struct settings *s, const struct strvec *env, char *key,
		  size_t size)
{
	const char *slug = getenv("CI_ENVIRONMENT_SLUG");
	char why[128] = "too long";
	char project[32], host[256], registry[256];
	int n = 0;

	key[0] = '\0';
	if (!strcmp(sub, "converge") || !strcmp(sub, "dismiss")) {
		if (slug && *slug &&
		    strspn(slug, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(slug))
			return error("CI_ENVIRONMENT_SLUG '%s' is not an environment slug "
				     "([a-z0-9-])",
				     slug);
		project_id(project, sizeof(project));
		n = snprintf(key, size, "deploy/%s/%.63s", project,
			     slug && *slug ? slug : "default");
	} else if (!strcmp(sub, "cleanup")) {
		repo_host(env, host, sizeof(host), registry, sizeof(registry));
		if (s->cleanup_lock)
			n = snprintf(key, size, "%s", s->cleanup_lock);
		else if (*host)
			n = snprintf(key, size, "cleanup/%.100s/%.80s", host,
				     *registry ? registry : "-");
		else
			return error("werf cleanup needs WERF_REPO (or CI_REGISTRY_IMAGE) to know "
				     "which registry's lock to take");
	}
	if (key[0] && ((size_t)n >= size || lock_valid_key(key, why, sizeof(why)) < 0))
		return error("cannot make a lock key of '%s': %s", key, why);
	return 0;
}
