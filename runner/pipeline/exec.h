/*
 * `berth exec JOB` (docs/pipeline.md): a job of the local `.gitlab-ci.yml` run on this machine
 * as a GitLab Runner with the shell executor would run it, through berth's own stages.
 */
#ifndef PIPELINE_EXEC_H
#define PIPELINE_EXEC_H

#include "base/args.h"
#include "base/berth.h"

/*
 * The stages a job goes through: berth's commands prepare, run and cleanup (cmd/), which sit
 * above this folder and so are handed in by `berth exec` itself.
 */
struct exec_stages {
	command_fn prepare, run, cleanup;
};

/*
 * Runs the job `a` names (the options of local_open) with the settings `settings_file` (NULL:
 * berth's usual lookup): prepare, before_script + script, after_script, cleanup. The job's
 * result, every failure reported; *exit_code is the script's exit code, -1 when it did not run.
 */
enum berth_result exec_job(const struct args *a, const char *settings_file,
			   const struct exec_stages *stages, int *exit_code);

#endif
