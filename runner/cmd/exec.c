/*
 * `berth exec JOB` (docs/pipeline.md): runs a job of the local `.gitlab-ci.yml` through berth's
 * own prepare, run and cleanup (pipeline/exec.c); berth exits with the script's exit code.
 */
#include "cmd/commands.h"
#include "pipeline/exec.h"

enum berth_result cmd_exec(const struct args *a, const char *settings_file, int *exit_status)
{
	static const struct exec_stages stages = {cmd_prepare, cmd_run, cmd_cleanup};
	int code;
	enum berth_result r = exec_job(a, settings_file, &stages, &code);

	/* The job failing is the user's news, not berth's: exit with the script's code. */
	if (r == BERTH_BUILD_FAILURE && code > 0) {
		*exit_status = code;
		return BERTH_OK;
	}
	if (r == BERTH_OK)
		*exit_status = 0;
	return r;
}
