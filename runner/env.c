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
	for (; *in; in++)
		if (!is_internal(*in) && strchr(*in, '=') && strvec_push(out, *in) < 0)
			return -1;
	if (strvec_setenv(out, JOB_MARKER, ws->dir) < 0 ||
	    strvec_setenv(out, "TMPDIR", ws->tmp) < 0 ||
	    strvec_setenv(out, "DOCKER_CONFIG", ws->docker) < 0 ||
	    strvec_setenv(out, "WERF_DOCKER_CONFIG", ws->docker) < 0)
		return -1;
	/* The runner's own KUBECONFIG would be another cluster's credentials: never pass it on. */
	if (settings_file && strvec_setenv(out, "BERTH_CONFIG", settings_file) < 0)
		return -1;
	strvec_unsetenv(out, "KUBECONFIG");
	strvec_unsetenv(out, "WERF_KUBE_CONFIG");
	if (access(ws->kubeconfig, F_OK) == 0 &&
	    (strvec_setenv(out, "KUBECONFIG", ws->kubeconfig) < 0 ||
	     strvec_setenv(out, "WERF_KUBE_CONFIG", ws->kubeconfig) < 0))
		return -1;
	return 0;
}
