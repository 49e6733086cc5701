/* The plain backend: `bash SCRIPT` as the job user (or berth's), in its own process group. */
#include "executors/executor.h"

#include "base/log.h"

#include <stdlib.h>

/* Finds bash on PATH the way execvp will, so prepare fails before any script does. */
static int shell_check(const struct settings *s, const struct job_user *u)
{
	const char *path = getenv("PATH");

	(void)s;
	(void)u;
	if (!executor_on_path("bash"))
		return error("executor 'shell' needs bash, and none is on PATH '%s': install bash "
			     "(apt-get install bash)",
			     path && *path ? path : "/usr/bin:/bin");
	return 0;
}

static int shell_command(struct strvec *argv, const char *script, const struct workspace *ws,
			 const struct settings *s, const struct job_user *u)
{
	(void)ws;
	(void)s;
	(void)u;
	if (strvec_push(argv, "bash") < 0 || strvec_push(argv, script) < 0)
		return -1;
	return 0;
}

const struct executor executor_shell = {
	.name = "shell",
	.check = shell_check,
	.command = shell_command,
};
