#include "job/env.h"
#include "conf/vars.h"

#include "base/array.h"
#include "base/job_user.h"
#include "base/log.h"
#include "job/werf.h"
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

/* werf's places in the workspace: its tmp dir is the job's, its home inside it. */
static int werf_stage_env(struct strvec *out, const struct workspace *ws, const struct settings *s)
{
	char *home = NULL, *wrapper = NULL;
	int ret = -1;

	if (asprintf(&home, "%s/" WERF_HOME_DIR, ws->tmp) < 0 ||
	    (ws->bin && asprintf(&wrapper, "%s/werf", ws->bin) < 0)) {
		error("out of memory");
	} else {
		struct werf_places p = {.docker = ws->docker,
					.kubeconfig = ws->kubeconfig,
					.tmp = ws->tmp,
					.home = home,
					.wrapper = wrapper};

		ret = werf_env(out, s, &vars_runner, &p);
	}
	free(home);
	free(wrapper);
	return ret;
}

int stage_env(struct strvec *out, char *const *in, const struct workspace *ws,
	      const struct settings *s, const char *settings_file, const char *tools_bin,
	      const struct job_user *u)
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
	 * ws->bin holds `berth`, the binary running this stage, and `werf`, berth's wrapper that
	 * runs the real werf: the tool bundle's, which comes next, unless the job chose another.
	 */
	if (prepend_path(out, tools_bin) < 0 || prepend_path(out, ws->bin) < 0)
		return -1;
	return werf_stage_env(out, ws, s);
}
