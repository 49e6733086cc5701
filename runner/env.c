#include "env.h"

#include "workspace.h"

#include <string.h>
#include <unistd.h>

static const char *const internal[] = {
	"JOB_RESPONSE_FILE",
	"BUILD_FAILURE_EXIT_CODE",
	"SYSTEM_FAILURE_EXIT_CODE",
	"BUILD_EXIT_CODE_FILE",
	"BERTH_CONFIG",
};

/*
 * The runner's own cluster credentials never reach a job: it gets its own kubeconfig or none
 * (its scripts export the job's own variables themselves).
 */
static const char *const runner_kube[] = {
	"KUBECONFIG",
	"WERF_KUBE_CONFIG",
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
	for (i = 0; i < sizeof(internal) / sizeof(internal[0]); i++) {
		n = strlen(internal[i]);
		if (!strncmp(entry, internal[i], n) && entry[n] == '=')
			return 1;
	}
	return 0;
}

int stage_env(struct strvec *out, char *const *in, const struct workspace *ws,
	      const char *settings_file)
{
	size_t i;

	for (; *in; in++)
		if (!is_internal(*in) && strchr(*in, '=') && strvec_push(out, *in) < 0)
			return -1;
	if (strvec_setenv(out, JOB_MARKER, ws->dir) < 0 ||
	    strvec_setenv(out, "TMPDIR", ws->tmp) < 0 ||
	    strvec_setenv(out, "DOCKER_CONFIG", ws->docker) < 0 ||
	    strvec_setenv(out, "WERF_DOCKER_CONFIG", ws->docker) < 0)
		return -1;
	if (settings_file && strvec_setenv(out, "BERTH_CONFIG", settings_file) < 0)
		return -1;
	for (i = 0; i < sizeof(runner_kube) / sizeof(runner_kube[0]); i++)
		strvec_unsetenv(out, runner_kube[i]);
	/* Even when the job has none: kubectl and werf must not fall back to the runner's own
	 * ~/.kube/config and its cluster. */
	if (strvec_setenv(out, "KUBECONFIG", ws->kubeconfig) < 0 ||
	    strvec_setenv(out, "WERF_KUBE_CONFIG", ws->kubeconfig) < 0)
		return -1;
	return 0;
}
