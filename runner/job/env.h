/* The environment a stage script runs in. */
#ifndef ENV_H
#define ENV_H

#include "base/strvec.h"

struct job_user;
struct settings;
struct workspace;

/*
 * The runner's environment `in` minus what is berth's alone (the response file with the job
 * token, the exit-code protocol, CUSTOM_ENV_*: the script exports the job's variables itself),
 * plus the job's workspace: BERTH_JOB_DIR, TMPDIR, and werf's environment (job/werf.h: the
 * credential paths, werf's tmp and home, synchronization) with `s`. BERTH_CONFIG names
 * `settings_file`, the job's copy of the settings, so berth inside the job (login, logout,
 * lock, werf) works with the same settings as the driver. With a job user `u`, HOME, USER and
 * LOGNAME are its own. PATH starts with ws->bin (`berth` and berth's `werf` wrapper), then
 * `tools_bin` (the tool bundle).
 */
int stage_env(struct strvec *out, char *const *in, const struct workspace *ws,
	      const struct settings *s, const char *settings_file, const char *tools_bin,
	      const struct job_user *u);

#endif
