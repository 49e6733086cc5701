/* The runner's job response file: job_load with JOB_RESPONSE_FILE holding the input. */
#include "fuzz.h"

#include "job/job.h"

static char file[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(file, sizeof(file), "%s/response.json", fuzz_dir());
	setenv("JOB_RESPONSE_FILE", file, 1);
	unsetenv("CUSTOM_ENV_CI_JOB_ID");
	unsetenv("CUSTOM_ENV_CI_PROJECT_ID");
	unsetenv("CUSTOM_ENV_CI_PROJECT_PATH");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job job;

	fuzz_write(file, data, size);
	memset(&job, 0, sizeof(job));
	if (job_load(&job) == BERTH_OK) {
		/* What it accepts is valid by its own rules. */
		if (!job.id || job_valid_id(job.id) != 0)
			abort();
		if (job.project_id && job_valid_id(job.project_id) != 0)
			abort();
		if (job.project_path && job_valid_project_path(job.project_path) != 0)
			abort();
	}
	job_release(&job);
	return 0;
}
