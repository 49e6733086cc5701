/* The environment a stage script runs in. */
#ifndef ENV_H
#define ENV_H

#include "base/strvec.h"

struct job_user;
struct workspace;

/*
 * The runner's environment `in` minus what is berth's alone (the response file with the job
 * token, the exit-code protocol, CUSTOM_ENV_*: the script exports the job's variables itself),
 * plus the job's workspace: BERTH_JOB_DIR, TMPDIR, and its credentials (env_pin_credentials).
 * BERTH_CONFIG names `settings_file`, the job's copy of the settings, so berth inside the job
 * (login, logout, lock, werf) works with the same settings as the driver. With a job user `u`,
 * HOME, USER and LOGNAME are its own. PATH starts with `tools_bin` (the tool bundle), then
 * ws->bin, which holds `berth` (workspace_link_berth).
 */
int stage_env(struct strvec *out, char *const *in, const struct workspace *ws,
	      const char *settings_file, const char *tools_bin, const struct job_user *u);

/*
 * Points every credential variable at berth's own: DOCKER_CONFIG and WERF_DOCKER_CONFIG at
 * `docker_dir`, KUBECONFIG and WERF_KUBE_CONFIG at `kubeconfig` (also when it does not exist),
 * and drops the other ways to name a cluster (WERF_KUBECONFIG, the *_BASE64 variables).
 */
int env_pin_credentials(struct strvec *env, const char *docker_dir, const char *kubeconfig);

#endif
