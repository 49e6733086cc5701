#include "job/werf.h"

#include "base/array.h"
#include "base/log.h"
#include "conf/lock_key.h"
#include "conf/reference.h"
#include "job/job.h"
#include "job/workspace.h"
#include "lock/lock.h"

#include <ctype.h>
#include <errno.h>
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

/*
 * The value werf's `ci-env` finds already set, which it keeps: the job's variable (its script
 * exports it last), else `env`'s. An empty value counts as unset, as in werf.
 */
static const char *current(const struct strvec *env, const struct vars *v, const char *name)
{
	const char *value = vars_get(v, name);

	if (!value)
		value = strvec_getenv(env, name);
	return value && *value ? value : NULL;
}

/* werf's writeEnv(name, value, false): `value` unless something is set already. */
static int set_default(struct strvec *env, const struct vars *v, const char *name,
		       const char *value)
{
	if (!value || current(env, v, name))
		return 0;
	return strvec_setenv(env, name, value);
}

/*
 * werf's writeEnv(name, PREFIX=$VAR, true) for its annotations: set whenever the job's VAR is,
 * over a value the job set itself. (In the stage's environment the job's own value still wins,
 * as the script exports it later; berth's `werf` wrapper is what overwrites it.)
 */
static int annotate(struct strvec *env, const struct vars *v, const char *name, const char *prefix,
		    const char *var)
{
	const char *value = vars_get(v, var);
	char *buf = NULL;
	int ret;

	if (!value)
		return 0;
	if (asprintf(&buf, "%s=%s", prefix, value) < 0)
		return error("out of memory");
	ret = strvec_setenv(env, name, buf);
	free(buf);
	return ret;
}

/* WERF_REPO as werf will see it: what the job or `env` sets, else CI_REGISTRY_IMAGE. */
static const char *werf_repo(const struct strvec *env, const struct vars *v)
{
	const char *repo = current(env, v, "WERF_REPO");

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

/*
 * Values berth works out from the job's WERF_REPO carry a mark, BERTH_<NAME>, holding the value
 * berth set: `werf` in the script may run for another repo (`WERF_REPO=... werf cleanup`), so
 * the wrapper drops berth's value and works it out again. The job's own value, or NULL.
 */
static const char *jobs_own(struct strvec *env, const struct vars *v, const char *name)
{
	char mark[64];
	const char *set, *job = vars_get(v, name);
	int berths;

	snprintf(mark, sizeof(mark), "BERTH_%s", name);
	set = strvec_getenv(env, mark);
	berths = set && (!job || !strcmp(job, set));
	if (berths)
		strvec_unsetenv(env, name);
	strvec_unsetenv(env, mark);
	return berths ? NULL : job;
}

/* Sets NAME=VALUE and its mark (jobs_own). */
static int set_marked(struct strvec *env, const char *name, const char *value)
{
	char mark[64];

	snprintf(mark, sizeof(mark), "BERTH_%s", name);
	if (strvec_setenv(env, name, value) < 0 || strvec_setenv(env, mark, value) < 0)
		return -1;
	return 0;
}

/*
 * WERF_REPO_CONTAINER_REGISTRY=gitlab where werf sets it: the job has a CI_REGISTRY_IMAGE and
 * its WERF_REPO is unset or starts with CI_REGISTRY (werf compares the strings as they are).
 */
static int gitlab_registry(struct strvec *env, const struct vars *v)
{
	const char *name = "WERF_REPO_CONTAINER_REGISTRY", *repo = current(env, v, "WERF_REPO");
	const char *ci = vars_get(v, "CI_REGISTRY"), *in_env;

	if (jobs_own(env, v, name))
		return 0;
	in_env = strvec_getenv(env, name);
	if ((in_env && *in_env) || !vars_get(v, "CI_REGISTRY_IMAGE"))
		return 0;
	if (!ci)
		ci = "";
	if (repo && strncmp(repo, ci, strlen(ci)) != 0)
		return 0;
	return set_marked(env, name, "gitlab");
}

/* A version's number at *p, then the separator `sep` (none: 0); *p moved past both. 0, or -1. */
static int version_part(const char **p, unsigned long *n, char sep)
{
	char *end;

	if (!isdigit((unsigned char)**p))
		return -1;
	errno = 0;
	*n = strtoul(*p, &end, 10);
	if (errno || (sep && *end != sep))
		return -1;
	*p = end + (sep != 0);
	return 0;
}

/*
 * werf's colours are off on GitLab after 12.1.3 and before 12.2.0 (CI_SERVER_VERSION, compared
 * as semantic versions: 12.2.0-rc1 is before 12.2.0), whose job logs garbled them.
 */
static const char *color_mode(const struct vars *v)
{
	const char *p = vars_get(v, "CI_SERVER_VERSION");
	unsigned long major, minor, patch;

	if (!p)
		return "on";
	if (*p == 'v')
		p++;
	if (version_part(&p, &major, '.') < 0 || version_part(&p, &minor, '.') < 0 ||
	    version_part(&p, &patch, 0) < 0 || major != 12)
		return "on";
	/* What is left: "", "-PRERELEASE" or "+BUILD". */
	if (*p && !((*p == '-' || *p == '+') && p[1]))
		return "on";
	if (minor == 1 && patch > 3)
		return "off";
	return minor == 2 && patch == 0 && *p == '-' ? "off" : "on";
}

/*
 * werf's `ci-env gitlab` mapping (docs/werf.md "The environment"): werf 1.2's
 * cmd/werf/ci_env/ci_env.go, generateGitlabEnvs, with werf 2's pipeline and job URLs.
 */
static int ci_env_mapping(struct strvec *env, const struct vars *v)
{
	/* Before WERF_REPO: werf decides on the repo the job set, not on its own default. */
	if (gitlab_registry(env, v) < 0 ||
	    set_default(env, v, "WERF_REPO", vars_get(v, "CI_REGISTRY_IMAGE")) < 0 ||
	    set_default(env, v, "WERF_ENV", vars_get(v, "CI_ENVIRONMENT_SLUG")) < 0 ||
	    annotate(env, v, "WERF_ADD_ANNOTATION_WERF_RELEASE_CHANNEL", "werf.io/release-channel",
		     "TRDL_USE_WERF_GROUP_CHANNEL") < 0 ||
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
	    set_default(env, v, "WERF_LOG_COLOR_MODE", color_mode(v)) < 0 ||
	    set_default(env, v, "WERF_LOG_PROJECT_DIR", "1") < 0 ||
	    set_default(env, v, "WERF_LOG_TERMINAL_WIDTH", "130") < 0 ||
	    set_default(env, v, "WERF_ENABLE_PROCESS_EXTERMINATOR", "1") < 0)
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

/* WERF_PARALLEL=0 when werf's registry is in settings rate_limited_hosts and the job set none. */
static int rate_limit(struct strvec *env, const struct settings *s, const struct vars *v)
{
	char host[256], registry[256];

	if (jobs_own(env, v, "WERF_PARALLEL") || strvec_getenv(env, "WERF_PARALLEL"))
		return 0;
	repo_host(werf_repo(env, v), host, sizeof(host), registry, sizeof(registry));
	if (!*host || !settings_is_rate_limited(s, host))
		return 0;
	return set_marked(env, "WERF_PARALLEL", "0");
}

int werf_env(struct strvec *env, const struct settings *s, const struct vars *v,
	     const struct werf_places *p)
{
	if (ci_env_mapping(env, v) < 0 ||
	    set_default(env, v, "WERF_SYNCHRONIZATION", s->werf_synchronization) < 0 ||
	    set_default(env, v, "WERF_TELEMETRY", "0") < 0 || rate_limit(env, s, v) < 0 ||
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
