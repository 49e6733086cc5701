/*
 * Who the job is: its id and project, from the runner's JOB_RESPONSE_FILE (trusted), or from
 * CUSTOM_ENV_* (the user can set those) where the response file is absent or silent.
 */
#ifndef JOB_H
#define JOB_H

#include "base/berth.h"

struct job {
	char *id;	    /* decimal digits */
	char *project_id;   /* decimal digits, or NULL when unknown */
	char *project_path; /* "group/project", or NULL when unknown */
	/*
	 * The trust domain (docs/job-users.md): "<project id>/protected" or ".../unprotected",
	 * from the response file's job_info.project_id and git_info.protected; NULL when the
	 * runner did not say both (then the job shares nothing with any other).
	 */
	char *domain;
};

/*
 * Fills `job` from the environment. A bad value the user controls (CUSTOM_ENV_*) is a build
 * failure; a missing or broken response file, or a bad value in it, a system failure. Every
 * message names where the value came from.
 */
enum berth_result job_load(struct job *job);
void job_release(struct job *job);

/* Validators for values that become parts of paths and keys; 0 when valid. */
int job_valid_id(const char *s);
int job_valid_project_path(const char *s);

#endif
