#include "job/env.h"
#include "conf/vars.h"

#include "base/array.h"
#include "base/job_user.h"
#include "base/log.h"
#include "job/workspace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const internal[] = {
	"JOB_RESPONSE_FILE",
	"BUILD_FAILURE_EXIT_CODE",
	"SYSTEM_FAILURE_EXIT_CODE",
	"BUILD_EXIT_CODE_FILE",
	"BERTH_CONFIG",
};

/* Other ways to name a cluster's credentials: a job or werf must only see berth's file. */
static const char *const other_kube[] = {
	"WERF_KUBECONFIG",
	"WERF_KUBE_CONFIG_BASE64",
	"WERF_KUBECONFIG_BASE64",
	"KUBECONFIG_BASE64",
};

static int is_internal(const char *entry)
{
	size_t i, n;

	if (!strncmp(entry, "CUSTOM_ENV_", 11))
		return 1;
	for (i = 0; i < ARRAY_SIZE(internal); i++) {
		n = strlen(internal[i]);
		if (!strncmp(entry, internal[i], n) && entry[n] == '=')
			return 1;
	}
	return 0;
}

/* PATH in `env` becomes "DIR:PATH" (with no PATH, "DIR:/usr/bin:/bin"); nothing for no DIR. */
static int prepend_path(struct strvec *env, const char *dir)
{
	const char *path = strvec_getenv(env, "PATH");
	char *joined = NULL;
	int ret;

	if (!dir || !*dir)
		return 0;
	if (asprintf(&joined, "%s:%s", dir, path ? path : "/usr/bin:/bin") < 0)
		return error("out of memory");
	ret = strvec_setenv(env, "PATH", joined);
	free(joined);
	return ret;
}

int stage_env(struct strvec *out, char *const *in, const struct workspace *ws,
	      const char *settings_file, const char *tools_bin, const struct job_user *u)
{
	for (; *in; in++)
		if (!is_internal(*in) && strchr(*in, '=') && strvec_push(out, *in) < 0)
			return -1;
	if (strvec_setenv(out, JOB_MARKER, ws->dir) < 0 ||
	    strvec_setenv(out, "TMPDIR", ws->tmp) < 0)
		return -1;
	if (settings_file && strvec_setenv(out, "BERTH_CONFIG", settings_file) < 0)
		return -1;
	if (u &&
	    (strvec_setenv(out, "HOME", u->home) < 0 || strvec_setenv(out, "USER", u->name) < 0 ||
	     strvec_setenv(out, "LOGNAME", u->name) < 0))
		return -1;
	/*
	 * `berth` is the binary running this stage, wherever it is installed, and the tool
	 * bundle's werf comes before any other: the version the runner's admin installed.
	 */
	if (prepend_path(out, ws->bin) < 0 || prepend_path(out, tools_bin) < 0)
		return -1;
	return env_pin_credentials(out, ws->docker, ws->kubeconfig);
}

int env_pin_credentials(struct strvec *env, const char *docker_dir, const char *kubeconfig)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(other_kube); i++)
		strvec_unsetenv(env, other_kube[i]);
	/* KUBECONFIG even when the job has none: kubectl and werf must not fall back to the
	 * runner's own ~/.kube/config and its cluster. */
	if (strvec_setenv(env, "DOCKER_CONFIG", docker_dir) < 0 ||
	    strvec_setenv(env, "WERF_DOCKER_CONFIG", docker_dir) < 0 ||
	    strvec_setenv(env, "KUBECONFIG", kubeconfig) < 0 ||
	    strvec_setenv(env, "WERF_KUBE_CONFIG", kubeconfig) < 0)
		return -1;
	return 0;
}
