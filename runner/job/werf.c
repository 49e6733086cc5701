#include "job/werf.h"

#include "base/array.h"
#include "base/log.h"
#include "conf/lock_key.h"
#include "conf/reference.h"
#include "job/job.h"
#include "job/workspace.h"
#include "lock/lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Other ways to name a cluster's credentials: werf must only see berth's checked file. */
static const char *const other_kube[] = {
	"WERF_KUBECONFIG",
	"WERF_KUBE_CONFIG_BASE64",
	"WERF_KUBECONFIG_BASE64",
	"KUBECONFIG_BASE64",
};

static int set_default(struct strvec *env, const char *name, const char *value)
{
	if (!value || strvec_getenv(env, name))
		return 0;
	return strvec_setenv(env, name, value);
}

/* "PREFIX=$VAR" when the job's variable VAR is set, for werf's annotations. */
static int annotate(struct strvec *env, const struct vars *v, const char *name, const char *prefix,
		    const char *var)
{
	const char *value = vars_get(v, var);
	char *buf = NULL;
	int ret;

	if (!value || strvec_getenv(env, name))
		return 0;
	if (asprintf(&buf, "%s=%s", prefix, value) < 0)
		return error("out of memory");
	ret = strvec_setenv(env, name, buf);
	free(buf);
	return ret;
}

/* WERF_REPO as werf will see it: what `env` or the job sets, else CI_REGISTRY_IMAGE. */
static const char *werf_repo(const struct strvec *env, const struct vars *v)
{
	const char *repo = strvec_getenv(env, "WERF_REPO");

	if (!repo || !*repo)
		repo = vars_get(v, "WERF_REPO");
	return repo ? repo : vars_get(v, "CI_REGISTRY_IMAGE");
}

static void repo_host(const char *repo, char *host, size_t size, char *registry, size_t rsize)
{
	char why[128];
	struct reference ref;

	host[0] = registry[0] = '\0';
	if (repo && reference_parse(repo, &ref, why, sizeof(why)) == 0) {
		snprintf(host, size, "%s", ref.host);
		snprintf(registry, rsize, "%.*s", (int)strcspn(ref.path, "/"), ref.path);
	}
}

/* werf's `ci-env gitlab` mapping (cmd/werf/ci_env/ci_env.go, generateGitlabEnvs). */
static int ci_env_mapping(struct strvec *env, const struct vars *v)
{
	if (set_default(env, "WERF_REPO",
			vars_get(v, "WERF_REPO") ? NULL : vars_get(v, "CI_REGISTRY_IMAGE")) < 0 ||
	    set_default(env, "WERF_ENV",
			vars_get(v, "WERF_ENV") ? NULL : vars_get(v, "CI_ENVIRONMENT_SLUG")) < 0 ||
	    annotate(env, v, "WERF_ADD_ANNOTATION_PROJECT_GIT", "project.werf.io/git",
		     "CI_PROJECT_URL") < 0 ||
	    annotate(env, v, "WERF_ADD_ANNOTATION_CI_COMMIT", "ci.werf.io/commit",
		     "CI_COMMIT_SHA") < 0 ||
	    annotate(env, v, "WERF_ADD_ANNOTATION_CI_GIT_TAG", "ci.werf.io/tag", "CI_COMMIT_TAG") <
		    0 ||
	    annotate(env, v, "WERF_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL",
		     "gitlab.ci.werf.io/pipeline-url", "CI_PIPELINE_URL") < 0 ||
	    annotate(env, v, "WERF_ADD_ANNOTATION_GITLAB_CI_JOB_URL", "gitlab.ci.werf.io/job-url",
		     "CI_JOB_URL") < 0 ||
	    set_default(env, "WERF_LOG_COLOR_MODE", "on") < 0 ||
	    set_default(env, "WERF_LOG_PROJECT_DIR", "1") < 0 ||
	    set_default(env, "WERF_LOG_TERMINAL_WIDTH", "130") < 0 ||
	    set_default(env, "WERF_ENABLE_PROCESS_EXTERMINATOR", "1") < 0)
		return -1;
	return 0;
}

/* Where werf's files and credentials are: berth's, whatever the job set. */
static int pin_places(struct strvec *env, const struct werf_places *p)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(other_kube); i++)
		strvec_unsetenv(env, other_kube[i]);
	if (strvec_setenv(env, "DOCKER_CONFIG", p->docker) < 0 ||
	    strvec_setenv(env, "WERF_DOCKER_CONFIG", p->docker) < 0 ||
	    strvec_setenv(env, "KUBECONFIG", p->kubeconfig) < 0 ||
	    strvec_setenv(env, "WERF_KUBE_CONFIG", p->kubeconfig) < 0)
		return -1;
	if (p->tmp && strvec_setenv(env, "WERF_TMP_DIR", p->tmp) < 0)
		return -1;
	if (p->home && strvec_setenv(env, "WERF_HOME", p->home) < 0)
		return -1;
	return 0;
}

/*
 * bash runs an exported function before any file on PATH: `werf` stays berth's wrapper after
 * `. $(trdl use werf ...)` puts trdl's werf first on PATH.
 */
static int export_wrapper(struct strvec *env, const char *wrapper)
{
	char *fn = NULL;
	int ret;

	if (!wrapper)
		return 0;
	/* Single quotes: bash reads the path as it is; the one character they cannot hold. */
	if (strchr(wrapper, '\''))
		return error("the workspace path '%s' holds a single quote: choose a state_dir "
			     "without one",
			     wrapper);
	if (asprintf(&fn, "() { '%s' \"$@\"; }", wrapper) < 0)
		return error("out of memory");
	ret = strvec_setenv(env, "BASH_FUNC_werf%%", fn);
	free(fn);
	return ret;
}

/*
 * Marks a WERF_PARALLEL that berth set, not the job: the stage's was for the job's WERF_REPO,
 * and `werf` in its script may run for another registry.
 */
#define PARALLEL_MARK "BERTH_WERF_PARALLEL"

/* WERF_PARALLEL=0 when werf's registry is in settings rate_limited_hosts and the job set none. */
static int rate_limit(struct strvec *env, const struct settings *s, const struct vars *v)
{
	const char *mark = strvec_getenv(env, PARALLEL_MARK), *job = vars_get(v, "WERF_PARALLEL");
	char host[256], registry[256];

	if (mark && job && !strcmp(job, mark))
		job = NULL;
	if (mark && !job)
		strvec_unsetenv(env, "WERF_PARALLEL");
	strvec_unsetenv(env, PARALLEL_MARK);
	if (job || strvec_getenv(env, "WERF_PARALLEL"))
		return 0;
	repo_host(werf_repo(env, v), host, sizeof(host), registry, sizeof(registry));
	if (!*host || !settings_is_rate_limited(s, host))
		return 0;
	if (strvec_setenv(env, "WERF_PARALLEL", "0") < 0 ||
	    strvec_setenv(env, PARALLEL_MARK, "0") < 0)
		return -1;
	return 0;
}

int werf_env(struct strvec *env, const struct settings *s, const struct vars *v,
	     const struct werf_places *p)
{
	if (ci_env_mapping(env, v) < 0 ||
	    set_default(env, "WERF_SYNCHRONIZATION", s->werf_synchronization) < 0 ||
	    set_default(env, "WERF_TELEMETRY", "0") < 0 || rate_limit(env, s, v) < 0 ||
	    pin_places(env, p) < 0)
		return -1;
	return export_wrapper(env, p->wrapper);
}

/* 1 when `path` is an executable file other than berth's own binary `self`. */
static int is_other_werf(const char *path, const struct stat *self)
{
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return 0;
	return st.st_dev != self->st_dev || st.st_ino != self->st_ino;
}

int werf_locate(const char *werf_path, const char *path, char *out, size_t size)
{
	const char *dir = path && *path ? path : "/usr/bin:/bin", *end;
	struct stat self;
	int n;

	if (stat("/proc/self/exe", &self) < 0)
		return error_errno("cannot find berth's own binary in /proc/self/exe");
	if (strchr(werf_path, '/')) {
		if (!is_other_werf(werf_path, &self))
			return error(
				"settings 'werf_path' is '%s': not an executable werf other than "
				"berth (install werf there, or name the path werf is at)",
				werf_path);
		n = snprintf(out, size, "%s", werf_path);
		return (size_t)n < size ? 0 : error("werf_path '%s' is too long", werf_path);
	}
	for (; *dir; dir = *end ? end + 1 : end) {
		end = dir + strcspn(dir, ":");
		n = snprintf(out, size, "%.*s/%s", (int)(end - dir), end > dir ? dir : ".",
			     werf_path);
		if ((size_t)n < size && is_other_werf(out, &self))
			return 0;
	}
	return error("werf is needed here, and no '%s' on PATH but berth's own wrapper: install "
		     "werf on the runner (trdl, or the tool bundle: docs/tools.md), or point "
		     "settings 'werf_path' at it",
		     werf_path);
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

int werf_lock_key(const char *sub, const struct settings *s, const struct strvec *env, char *key,
		  size_t size)
{
	const char *slug = getenv("CI_ENVIRONMENT_SLUG");
	char why[128] = "too long";
	char project[32], host[256], registry[256];
	int n = 0;

	key[0] = '\0';
	if (!sub)
		return 0;
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
		repo_host(strvec_getenv(env, "WERF_REPO"), host, sizeof(host), registry,
			  sizeof(registry));
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
