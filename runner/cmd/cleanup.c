/*
 * `berth cleanup`: ends the job's processes and removes its workspace. Idempotent: the runner
 * calls it after every failed prepare attempt and at the end, also when nothing was created,
 * and possibly while a canceled `run` is still dying. Its output reaches the runner's own log
 * unmasked: it names paths and counts, never variables.
 */
#include "cmd/commands.h"
#include "job/context.h"
#include "base/cgroup.h"
#include "base/log.h"
#include "job/report.h"

/* What the whole job used, for the report, before its cgroup goes. */
static void report_job_usage(const struct cgroup *cg)
{
	struct cgroup_usage u;

	if (!cgroup_any(cg))
		return;
	cgroup_usage(cg, &u);
	report_usage(u.cpu_usec, u.mem_peak);
}

enum berth_result cmd_cleanup(const struct args *a, const char *settings_file, int *exit_status)
{
	enum berth_result r;
	struct context ctx;
	int killed;

	(void)a;
	(void)exit_status;
	r = context_load(&ctx, settings_file);
	if (r == BERTH_BUILD_FAILURE) {
		/* config and prepare refused the same identity: nothing was ever created. */
		info("nothing to clean up: the job's identity was refused");
		return BERTH_OK;
	}
	if (r != BERTH_OK)
		return r;
	report_job_usage(&ctx.ws.cgroup);
	killed = workspace_end_processes(&ctx.ws, ctx.settings.kill_grace);
	if (killed > 0)
		info("job %s: ended %d leftover process(es)", ctx.job.id, killed);
	/* Before the workspace goes: then the user is free for the next job. */
	if (killed < 0 || workspace_scrub_user(ctx.ws.user, &ctx.settings) < 0 ||
	    workspace_remove(&ctx.ws) < 0)
		r = BERTH_SYSTEM_FAILURE;
	context_release(&ctx);
	return r;
}
