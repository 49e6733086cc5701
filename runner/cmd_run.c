/*
 * `berth run SCRIPT STAGE`: one stage script through the executor backend. Any stage name is
 * accepted: the runner adds new ones (step_*) and berth treats them all as scripts.
 */
#include "commands.h"
#include "context.h"
#include "env.h"
#include "executor.h"
#include "log.h"
#include "proc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* The runner reads the script's real exit code from the first line of this file. */
static int write_exit_code(int code)
{
	const char *file = getenv("BUILD_EXIT_CODE_FILE");
	char line[16];
	int fd, n;

	if (!file || !*file)
		return 0;
	n = snprintf(line, sizeof(line), "%d\n", code);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return error_errno("cannot write BUILD_EXIT_CODE_FILE '%s'", file);
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return error_errno("cannot write BUILD_EXIT_CODE_FILE '%s'", file);
	}
	return close(fd);
}

static enum berth_result run_stage(const struct context *ctx, const char *script, const char *stage)
{
	const struct executor *ex = executor_find(ctx->settings.executor);
	struct strvec argv = STRVEC_INIT, env = STRVEC_INIT;
	enum berth_result r = BERTH_SYSTEM_FAILURE;
	struct proc p;
	int status = 0, stopped = 0, code;

	if (!ex || ex->command(&argv, script, &ctx->ws) < 0 ||
	    stage_env(&env, environ, &ctx->ws, ctx->settings.file) < 0)
		goto out;
	p.argv = argv.v;
	p.env = env.v;
	if (proc_start(&p) < 0 ||
	    proc_supervise(&p, ctx->settings.kill_grace, &status, &stopped) < 0)
		goto out;
	code = proc_exit_code(status);
	if (stopped)
		info("stage '%s' stopped on request (exit code %d)", stage, code);
	if (code == 0) {
		r = BERTH_OK;
	} else if (write_exit_code(code) == 0) {
		r = BERTH_BUILD_FAILURE;
	}
out:
	strvec_clear(&argv);
	strvec_clear(&env);
	return r;
}

enum berth_result cmd_run(int argc, char **argv, const char *settings_file)
{
	struct context ctx;
	enum berth_result r;
	int exists;

	if (argc != 3) {
		error("usage: berth run SCRIPT STAGE");
		return BERTH_SYSTEM_FAILURE;
	}
	r = context_load(&ctx, settings_file);
	if (r != BERTH_OK)
		return r;
	exists = workspace_exists(&ctx.ws);
	if (exists == 0)
		error("no workspace '%s' for job %s: prepare did not run, or cleanup already did",
		      ctx.ws.dir, ctx.job.id);
	r = exists == 1 ? run_stage(&ctx, argv[1], argv[2]) : BERTH_SYSTEM_FAILURE;
	context_release(&ctx);
	return r;
}
