/*
 * `berth prepare`: the job's workspace (and its job user), a check that its executor can run
 * here, and its credentials: the kubeconfig written and checked, registry logins proven. A failure
 * leaves what was made for cleanup, which the runner always calls.
 */
#include "cmd/commands.h"
#include "job/context.h"
#include "job/credentials.h"
#include "executors/executor.h"
#include "base/job_user.h"
#include "base/log.h"
#include "tools/tools.h"

#include <unistd.h>

/* The executor can run here, as the job user when there is one. */
static int check_executor(const struct executor *ex, const struct context *ctx)
{
	struct job_user u;
	int ret;

	if (!ctx->ws.user)
		return ex->check(&ctx->settings, NULL);
	if (job_user_lookup(&u, ctx->ws.user, &ctx->settings.job_groups) < 0)
		return -1;
	ret = ex->check(&ctx->settings, &u);
	job_user_release(&u);
	return ret;
}

/*
 * Scripts never run as root unless the admin said so: with berth as root and no job_users,
 * the job is refused; with allow_root_scripts, the job log says what the job runs as.
 */
static enum berth_result check_root_scripts(const struct settings *s)
{
	if (geteuid() != 0 || s->job_users.nr)
		return BERTH_OK;
	if (s->allow_root_scripts) {
		warning("this job's scripts run as root: the runner's settings%s%s set "
			"allow_root_scripts, not job_users (docs/job-users.md)",
			s->file ? " in " : "", s->file ? s->file : "");
		return BERTH_OK;
	}
	error("refusing to run this job's scripts as root: the runner's berth settings%s%s list "
	      "no job_users. The runner's admin creates one user per concurrent job (useradd "
	      "--system --create-home berth-job-1 ...) and lists them in job_users, or sets "
	      "allow_root_scripts: true to accept root (docs/job-users.md)",
	      s->file ? " in " : "", s->file ? s->file : "");
	return BERTH_BUILD_FAILURE;
}

enum berth_result cmd_prepare(const struct args *a, const char *settings_file, int *exit_status)
{
	const struct executor *ex;
	struct context ctx;
	enum berth_result r;
	char tools[4096]; /* a configured tool bundle must be installed before jobs rely on it */

	(void)a;
	(void)exit_status;
	r = context_load(&ctx, settings_file);
	if (r != BERTH_OK)
		return r;
	r = check_root_scripts(&ctx.settings);
	if (r != BERTH_OK) {
		context_release(&ctx);
		return r;
	}
	ex = executor_find(ctx.settings.executor);
	if (!ex || workspace_create(&ctx.ws, &ctx.settings, &ctx.job) < 0 ||
	    check_executor(ex, &ctx) < 0 ||
	    tools_bin_dir(&ctx.settings, tools, sizeof(tools)) < 0 ||
	    settings_write_for_job(&ctx.settings, ctx.ws.settings, ctx.ws.user != NULL) < 0)
		r = BERTH_SYSTEM_FAILURE;
	else
		r = credentials_prepare(&ctx.settings, &ctx.ws);
	if (r == BERTH_OK && workspace_hand_over(&ctx.ws, &ctx.settings) < 0)
		r = BERTH_SYSTEM_FAILURE;
	if (ctx.ws.cgroup_note)
		info("job %s: %s", ctx.job.id, ctx.ws.cgroup_note);
	if (r == BERTH_OK)
		info("job %s ready in %s (berth %s, executor %s%s%s)", ctx.job.id, ctx.ws.dir,
		     BERTH_VERSION, ex->name, ctx.ws.user ? ", user " : "",
		     ctx.ws.user ? ctx.ws.user : "");
	context_release(&ctx);
	return r;
}
